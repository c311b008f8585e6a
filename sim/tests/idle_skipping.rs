//! turmoil's idle-host skipping (vendor/turmoil/PATCH.md) keeps every wake on time: a
//! simulation with it on sees the same messages at the same simulated instants as one
//! with it off, while most host-steps are skipped; a timer that was not announced fires
//! late and is counted.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::time::Instant;
use turmoil::net::{TcpListener, TcpStream};

type Log = Arc<Mutex<Vec<(u128, String)>>>;

/// Sleeps `duration`, telling turmoil the deadline unless `announce` is false.
async fn sleep(duration: Duration, announce: bool) {
    let deadline = Instant::now() + duration;
    if announce {
        turmoil::wake_at(deadline);
    }
    #[allow(clippy::disallowed_methods)]
    tokio::time::sleep_until(deadline).await;
}

fn note(log: &Log, what: String) {
    let at = turmoil::sim_elapsed().unwrap_or_default().as_millis();
    log.lock().unwrap().push((at, what));
}

struct Outcome {
    log: Vec<(u128, String)>,
    skipped: u64,
    unregistered: u64,
}

/// An echo server, a host that only wakes on a timer, and a client that pings the server
/// at odd intervals; every event is logged with its simulated time.
///
/// Each echo is awaited under a 2 s timeout whose deadline is announced; with
/// `withdraw_timeouts` the client withdraws it once the echo is in, as
/// `faultline_wire::time` does when a timeout is dropped.
fn run(skip: bool, announce_ticker: bool, withdraw_timeouts: bool) -> Outcome {
    let log: Log = Arc::default();
    let mut sim = turmoil::Builder::new()
        .rng_seed(7)
        .tick_duration(Duration::from_millis(10))
        .min_message_latency(Duration::from_millis(1))
        .max_message_latency(Duration::from_millis(10))
        .simulation_duration(Duration::from_secs(60))
        .skip_idle_hosts(skip)
        .build();
    sim.host("server", || async {
        let listener = TcpListener::bind("0.0.0.0:9000").await?;
        loop {
            let (mut stream, _) = listener.accept().await?;
            tokio::task::spawn_local(async move {
                let mut byte = [0u8; 1];
                while stream.read_exact(&mut byte).await.is_ok() {
                    if stream.write_all(&byte).await.is_err() {
                        break;
                    }
                }
            });
        }
    });
    let ticker_log = log.clone();
    sim.host("ticker", move || {
        let log = ticker_log.clone();
        async move {
            for i in 0.. {
                sleep(Duration::from_millis(730), announce_ticker).await;
                note(&log, format!("tick {i}"));
            }
            Ok(())
        }
    });
    let client_log = log.clone();
    sim.client("client", async move {
        let mut stream = TcpStream::connect("server:9000").await?;
        for i in 0..30u8 {
            sleep(Duration::from_millis(137 + 41 * u64::from(i % 5)), true).await;
            stream.write_all(&[i]).await?;
            let mut byte = [0u8; 1];
            let deadline = Instant::now() + Duration::from_secs(2);
            let wake = turmoil::announce_wake(deadline);
            #[allow(clippy::disallowed_methods)]
            let echo = tokio::time::timeout_at(deadline, stream.read_exact(&mut byte)).await;
            if let Some(wake) = wake.filter(|_| withdraw_timeouts) {
                turmoil::withdraw_wake(wake);
            }
            echo??;
            note(&client_log, format!("echo {}", byte[0]));
        }
        Ok(())
    });
    sim.run().unwrap();
    let log = log.lock().unwrap().clone();
    Outcome {
        log,
        skipped: sim.skipped_ticks(),
        unregistered: sim.unregistered_wakes(),
    }
}

#[test]
fn skipping_idle_hosts_keeps_every_wake_and_message_on_time() {
    let upstream = run(false, true, false);
    let skipping = run(true, true, false);
    assert_eq!(upstream.skipped, 0);
    assert!(
        upstream.log.len() > 30,
        "the run did too little to compare: {:?}",
        upstream.log
    );
    assert_eq!(skipping.log, upstream.log);
    // Three hosts over ~6 s of 10 ms steps: the server and the ticker are idle most steps.
    assert!(
        skipping.skipped > 600,
        "only {} host-steps skipped",
        skipping.skipped
    );
    assert_eq!(skipping.unregistered, 0);
}

#[test]
fn a_timer_nobody_announced_fires_late_and_is_counted() {
    let upstream = run(false, false, false);
    let skipping = run(true, false, false);
    assert!(skipping.unregistered > 0);
    let ticks = |o: &Outcome| -> Vec<u128> {
        o.log
            .iter()
            .filter(|(_, what)| what.starts_with("tick"))
            .map(|&(at, _)| at)
            .collect()
    };
    assert_ne!(ticks(&skipping), ticks(&upstream));
}

#[test]
fn a_withdrawn_deadline_costs_no_tick_and_moves_no_wake() {
    let upstream = run(false, true, false);
    let kept = run(true, true, false);
    let withdrawn = run(true, true, true);
    assert_eq!(kept.log, upstream.log);
    assert_eq!(withdrawn.log, upstream.log);
    assert_eq!(withdrawn.unregistered, 0);
    // 30 echo timeouts, each announced and beaten by its echo: kept, each makes the
    // idle client run once at its deadline; withdrawn, those runs are skipped.
    assert!(
        withdrawn.skipped >= kept.skipped + 20,
        "withdrawing skipped {} host-steps, keeping {}",
        withdrawn.skipped,
        kept.skipped
    );
}
