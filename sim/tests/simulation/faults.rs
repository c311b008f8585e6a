//! Each fault kind, shown by its effect in the trace (cluster events and history), plus the
//! nemesis's determinism promises: every kind at once replays to the same trace hash, and
//! removing a fault from an explicit schedule does not change the workload's choices.

use std::path::Path;

use faultline_broker::events::FenceReason;
use faultline_checker::history::{Function, MicroOp, OpType, OpValue, Process};
use faultline_checker::{check_log, log::LogOptions, Verdict};
use faultline_sim::nemesis::FaultKind;
use faultline_sim::world::{ClusterEvent, ClusterEventKind};
use faultline_sim::{run, RunOutcome, Scenario};

const SECOND: u64 = 1_000_000_000;

/// A 3-broker, acks=all scenario with a short session timeout, plus `extra` TOML.
fn scenario(extra: &str) -> Scenario {
    let text = format!("name = \"fault-test\"\nduration = \"24s\"\nrecovery = \"5s\"\n{extra}\n");
    Scenario::parse(&text, Path::new("fault-test.toml")).unwrap()
}

fn window(at: &str, duration: &str, kind: &str, targets: &str) -> String {
    format!(
        "[[faults.schedule]]\nat = \"{at}\"\nduration = \"{duration}\"\nkind = \"{kind}\"\ntargets = [{targets}]\n"
    )
}

const FAST_SESSIONS: &str = "[cluster]\nsession_timeout = \"2s\"\nheartbeat_interval = \"500ms\"\n";

fn assert_log_valid(outcome: &RunOutcome) {
    let report = check_log(
        &outcome.history,
        &LogOptions {
            final_reads: true,
            ..Default::default()
        },
    );
    assert_eq!(report.verdict, Verdict::Valid, "{:#?}", report.anomalies);
}

fn events_between(outcome: &RunOutcome, from_ns: u64, to_ns: u64) -> Vec<&ClusterEvent> {
    outcome
        .events
        .iter()
        .filter(|e| e.time_ns >= from_ns && e.time_ns <= to_ns)
        .collect()
}

fn has_event(events: &[&ClusterEvent], node: &str, text: &str) -> bool {
    events
        .iter()
        .any(|e| e.node == node && e.description().contains(text))
}

/// Whether `event` is the controller electing a leader of partition 0 other than `broker`.
fn elected_other_than(event: &ClusterEvent, broker: &str) -> bool {
    matches!(
        &event.kind,
        ClusterEventKind::LeaderElected { partition, leader, .. }
            if partition.1 == 0 && leader.to_string() != broker
    )
}

/// The node id of a resolved `broker-N` target.
fn broker_id(target: &str) -> &str {
    target.trim_start_matches("broker-")
}

/// Jepsen's SIGSTOP nemesis: a paused leader is fenced by the controller, its partition gets
/// a new leader epoch, and on waking its stale appends are truncated by leader epoch
/// (KIP-101) — never acknowledged as committed.
#[test]
fn a_paused_leader_wakes_stale_and_is_fenced_by_leader_epoch() {
    let s = scenario(&format!(
        "{FAST_SESSIONS}{}",
        window("5s", "6s", "pause", "\"leader\"")
    ));
    let outcome = run(&s, 1).unwrap();
    let fault = &outcome.faults[0];
    let paused = broker_id(&fault.targets[0]).to_string();
    let during = events_between(&outcome, 5 * SECOND, 11 * SECOND);
    assert!(
        has_event(&during, "controller", &format!("broker {paused} fenced")),
        "the paused broker's session must expire"
    );
    assert!(
        during
            .iter()
            .any(|e| e.node == "controller" && elected_other_than(e, &paused)),
        "partition 0 must move to another leader while {paused} sleeps"
    );
    let after = events_between(&outcome, 11 * SECOND, 24 * SECOND);
    assert!(
        has_event(
            &after,
            &fault.targets[0],
            &format!("events-0: broker {paused} truncated")
        ),
        "the woken leader's stale appends must be truncated by epoch: {after:#?}"
    );
    assert_log_valid(&outcome);
}

#[test]
fn isolating_the_leader_moves_leadership() {
    let s = scenario(&format!(
        "{FAST_SESSIONS}{}",
        window("5s", "5s", "isolate-leader", "")
    ));
    let outcome = run(&s, 2).unwrap();
    let isolated = broker_id(&outcome.faults[0].targets[0]).to_string();
    let during = events_between(&outcome, 5 * SECOND, 10 * SECOND);
    assert!(during.iter().any(|e| elected_other_than(e, &isolated)));
    assert_log_valid(&outcome);
}

#[test]
fn isolating_the_controller_expires_every_session_it_cannot_hear() {
    let s = scenario(&format!(
        "{FAST_SESSIONS}{}",
        window("5s", "5s", "isolate-controller", "")
    ));
    let outcome = run(&s, 3).unwrap();
    assert_eq!(outcome.faults[0].targets, vec!["controller".to_string()]);
    let during = events_between(&outcome, 5 * SECOND, 10 * SECOND);
    for id in 1..=3 {
        assert!(has_event(
            &during,
            "controller",
            &format!("broker {id} fenced")
        ));
    }
    assert_log_valid(&outcome);
}

/// Jepsen's bridge: broker-1 joins [controller] and [broker-2, broker-3], so the controller
/// still hears broker-1 but loses the other two.
#[test]
fn a_bridge_splits_the_cluster_around_one_node() {
    let s = scenario(&format!(
        "{FAST_SESSIONS}{}",
        window("5s", "5s", "bridge", "\"broker-1\"")
    ));
    let outcome = run(&s, 4).unwrap();
    let during = events_between(&outcome, 5 * SECOND, 10 * SECOND);
    assert!(has_event(&during, "controller", "broker 2 fenced"));
    assert!(has_event(&during, "controller", "broker 3 fenced"));
    assert!(!has_event(&during, "controller", "broker 1 fenced"));
    assert_log_valid(&outcome);
}

#[test]
fn halves_cut_the_minority_off() {
    let s = scenario(&format!(
        "{FAST_SESSIONS}{}",
        window("5s", "5s", "halves", "\"broker-2\", \"broker-3\"")
    ));
    let outcome = run(&s, 5).unwrap();
    let during = events_between(&outcome, 5 * SECOND, 10 * SECOND);
    assert!(has_event(&during, "controller", "broker 2 fenced"));
    assert!(has_event(&during, "controller", "broker 3 fenced"));
    assert!(!has_event(&during, "controller", "broker 1 fenced"));
    assert_log_valid(&outcome);
}

/// One way: the leader still hears everyone but nobody hears it, so its heartbeats never
/// arrive and it is fenced.
#[test]
fn a_one_way_partition_silences_the_leader() {
    let s = scenario(&format!(
        "{FAST_SESSIONS}{}",
        window("5s", "5s", "one-way", "\"leader\"")
    ));
    let outcome = run(&s, 6).unwrap();
    let silenced = broker_id(&outcome.faults[0].targets[0]).to_string();
    let during = events_between(&outcome, 5 * SECOND, 10 * SECOND);
    assert!(has_event(
        &during,
        "controller",
        &format!("broker {silenced} fenced")
    ));
    assert_log_valid(&outcome);
}

#[test]
fn message_loss_drops_messages_in_flight_and_requests_time_out() {
    let s = scenario(&window("4s", "12s", "loss", "\"broker-1\", \"broker-2\""));
    let outcome = run(&s, 7).unwrap();
    let during = events_between(&outcome, 4 * SECOND, 16 * SECOND);
    let drops = during
        .iter()
        .filter(|e| {
            e.node == "nemesis" && matches!(e.kind, ClusterEventKind::MessagesDropped { .. })
        })
        .count();
    assert!(drops > 0, "no message was lost");
    let failed = outcome
        .history
        .ops
        .iter()
        .filter(|op| op.time >= 4 * SECOND && op.time <= 17 * SECOND)
        .filter(|op| matches!(op.kind, OpType::Info | OpType::Fail))
        .count();
    assert!(failed > 0, "lost messages must cost some requests");
    assert_log_valid(&outcome);
}

/// Slowest acknowledged send invoked in `[from, to)`, in ms.
fn slowest_send_ms(outcome: &RunOutcome, from_ns: u64, to_ns: u64) -> u64 {
    let mut invoked = std::collections::BTreeMap::new();
    let mut slowest = 0;
    for op in &outcome.history.ops {
        if op.f != Function::Send {
            continue;
        }
        match op.kind {
            OpType::Invoke => {
                invoked.insert(op.process, op.time);
            }
            OpType::Ok => {
                if let Some(start) = invoked.remove(&op.process) {
                    if start >= from_ns && start < to_ns {
                        slowest = slowest.max((op.time - start) / 1_000_000);
                    }
                }
            }
            _ => {
                invoked.remove(&op.process);
            }
        }
    }
    slowest
}

#[test]
fn a_latency_spike_slows_acknowledgements() {
    let all = "\"broker-1\", \"broker-2\", \"broker-3\"";
    let s = scenario(&window("8s", "8s", "latency", all));
    let outcome = run(&s, 8).unwrap();
    let before = slowest_send_ms(&outcome, 2 * SECOND, 8 * SECOND);
    let during = slowest_send_ms(&outcome, 8 * SECOND, 16 * SECOND);
    assert!(
        during > 2 * before && during > 100,
        "slowest send before the spike {before} ms, during {during} ms"
    );
    assert_log_valid(&outcome);
}

#[test]
fn a_crashed_broker_restarts_as_a_new_incarnation_and_is_fenced_first() {
    let s = scenario(&format!(
        "{FAST_SESSIONS}{}",
        window("5s", "3s", "crash", "\"leader\"")
    ));
    let outcome = run(&s, 9).unwrap();
    let crashed = broker_id(&outcome.faults[0].targets[0]).to_string();
    let during = events_between(&outcome, 5 * SECOND, 12 * SECOND);
    assert!(has_event(
        &during,
        "controller",
        &format!("broker {crashed} fenced")
    ));
    assert_log_valid(&outcome);
}

fn power_loss_detail(fsync: &str, seed: u64) -> (String, RunOutcome) {
    let s = scenario(&format!(
        "[cluster]\nfsync = \"{fsync}\"\n[workload]\nsend_interval = \"20ms\"\n{}",
        window("10s", "3s", "power-loss", "")
    ));
    let outcome = run(&s, seed).unwrap();
    assert_eq!(outcome.faults[0].targets.len(), 4, "every node loses power");
    (outcome.faults[0].detail.clone(), outcome)
}

/// LazyFS-style lost writes: with fsync=never a correlated power loss throws away the
/// unsynced tails (seeded torn tails keep some); with fsync=always there is nothing to lose.
#[test]
fn power_loss_loses_the_unsynced_tail_only_without_fsync() {
    let (never, outcome) = power_loss_detail("never", 10);
    let lost: usize = never
        .split("; ")
        .filter_map(|d| d.split(" lost ").nth(1))
        .filter_map(|d| d.split(' ').next()?.parse::<usize>().ok())
        .sum();
    assert!(lost > 0, "{never}");
    assert!(
        outcome
            .events
            .iter()
            .any(|e| e.node == "nemesis"
                && matches!(e.kind, ClusterEventKind::PowerLossDamage { .. }))
    );
    let (always, outcome) = power_loss_detail("always", 10);
    assert!(
        always
            .split("; ")
            .all(|d| d.ends_with(" lost 0 unsynced entries")),
        "{always}"
    );
    assert_log_valid(&outcome);
}

/// A disk that fails writes: the leader answers KAFKA_STORAGE_ERROR and acknowledges
/// nothing it could not write.
#[test]
fn disk_errors_fail_appends_with_kafka_storage_error() {
    let s = scenario(&window("5s", "4s", "disk-error", "\"leader\""));
    let outcome = run(&s, 11).unwrap();
    let storage_errors = outcome
        .history
        .ops
        .iter()
        .filter(|op| op.f == Function::Send && op.kind != OpType::Ok)
        .filter_map(|op| op.error.as_deref())
        .filter(|e| e.to_lowercase().contains("disk error") || e.contains("Storage"))
        .count();
    assert!(storage_errors > 0, "no append failed with a storage error");
    assert_log_valid(&outcome);
}

/// A controller clock running 4× fast sees 500 ms heartbeat gaps as 2 s and expires
/// healthy sessions (session timeout 1 s) with no network fault at all; at 1× it never does.
#[test]
fn a_fast_controller_clock_expires_healthy_sessions() {
    let text = "[cluster]\nsession_timeout = \"1s\"\nheartbeat_interval = \"500ms\"\n";
    let s = scenario(&format!(
        "{text}{}",
        window("5s", "12s", "clock-skew", "\"controller\"")
    ));
    let seed = (1..=50u64)
        .find(|&seed| {
            let outcome = run(&s, seed).unwrap();
            outcome.faults[0].detail.contains("4000‰")
        })
        .expect("some seed draws a 4× clock");
    let outcome = run(&s, seed).unwrap();
    let during = events_between(&outcome, 5 * SECOND, 17 * SECOND);
    assert!(
        during.iter().any(|e| e.node == "controller"
            && matches!(
                e.kind,
                ClusterEventKind::BrokerFenced {
                    reason: FenceReason::SessionTimedOut,
                    ..
                }
            )),
        "{during:#?}"
    );
    let before = events_between(&outcome, 2 * SECOND, 5 * SECOND);
    assert!(!before
        .iter()
        .any(|e| matches!(e.kind, ClusterEventKind::BrokerFenced { .. })));
    assert_log_valid(&outcome);
}

#[test]
fn buggify_changes_the_run_and_still_replays() {
    let plain =
        scenario("[faults]\nkinds = [\"crash\"]\ninterval = \"4s\"\nfault_duration = \"2s\"\n");
    let mut buggified = plain.clone();
    buggified.buggify = true;
    let a = run(&buggified, 12).unwrap();
    let b = run(&buggified, 12).unwrap();
    let c = run(&plain, 12).unwrap();
    assert_eq!(a.trace_hash, b.trace_hash);
    assert_ne!(a.trace_hash, c.trace_hash);
    assert_log_valid(&a);
}

fn all_faults() -> Scenario {
    Scenario::load(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios/all-faults-buggify.toml"),
    )
    .unwrap()
}

/// DESIGN.md "Determinism", with every fault kind and BUGGIFY on.
#[test]
fn every_fault_kind_at_once_replays_to_the_same_trace_hash() {
    let s = all_faults();
    let mut kinds = std::collections::BTreeSet::new();
    for seed in 1..=4u64 {
        let first = run(&s, seed).unwrap();
        let second = run(&s, seed).unwrap();
        assert_eq!(first.trace_hash, second.trace_hash, "seed {seed}");
        assert_eq!(first.history, second.history, "seed {seed}");
        kinds.extend(first.faults.iter().map(|f| f.window.kind));
    }
    for kind in FaultKind::ALL {
        assert!(kinds.contains(&kind), "{kind:?} never struck");
    }
}

/// The partitions the sends chose, in invoke order.
fn send_keys(outcome: &RunOutcome) -> Vec<faultline_checker::history::Key> {
    let mut keys = Vec::new();
    for op in &outcome.history.ops {
        if let (Process::Client(_), Function::Send, OpType::Invoke, OpValue::MicroOps(ops)) =
            (op.process, op.f, op.kind, &op.value)
        {
            for micro in ops {
                if let MicroOp::Send { key, .. } = micro {
                    keys.push(*key);
                }
            }
        }
    }
    keys
}

/// Named sub-streams: the workload draws from its own stream, so removing one window from
/// an explicit schedule leaves the producer's sequence of choices as it was (one run may
/// send more or fewer, but the choices they share are the same). One producer, so its
/// choices are every send in the history, whichever process ids it went through.
#[test]
fn removing_a_fault_does_not_change_the_workloads_choices() {
    let windows = [
        window("4s", "3s", "crash", "\"broker-1\""),
        window("10s", "3s", "isolate", "\"broker-2\""),
        window("16s", "3s", "pause", "\"broker-3\""),
    ];
    let one_producer = "[workload]\nproducers = 1\n";
    let full = scenario(&format!("{one_producer}{}", windows.concat()));
    let fewer = scenario(&format!("{one_producer}{}{}", windows[0], windows[2]));
    let a = run(&full, 13).unwrap();
    let b = run(&fewer, 13).unwrap();
    assert_ne!(a.trace_hash, b.trace_hash, "the removed fault mattered");
    let (a, b) = (send_keys(&a), send_keys(&b));
    let shared = a.len().min(b.len());
    assert!(shared > 100, "{shared} sends in common");
    assert_eq!(a[..shared], b[..shared]);
}

/// A trigger strikes at the moment the cluster names: isolating the leader forces an
/// election, and the trigger crashes exactly the broker elected, within its delay.
#[test]
fn a_trigger_crashes_the_new_leader_right_after_its_election() {
    let s = scenario(&format!(
        "{FAST_SESSIONS}{}[[faults.trigger]]\non = \"leader-elected\"\naction = \"crash\"\ntarget = \"new-leader\"\ndelay = \"0ms..200ms\"\nduration = \"1s\"\nafter = \"5s\"\npartition = \"events-0\"\n",
        window("5s", "5s", "isolate-leader", "")
    ));
    let outcome = run(&s, 3).unwrap();
    let election = outcome
        .events
        .iter()
        .find_map(|e| match &e.kind {
            ClusterEventKind::LeaderElected {
                partition, leader, ..
            } if partition.1 == 0 && e.time_ns >= 5 * SECOND => Some((e.time_ns, *leader)),
            _ => None,
        })
        .expect("isolating the leader elects another");
    let crash = outcome
        .faults
        .iter()
        .find(|f| f.window.kind == FaultKind::Crash)
        .expect("the trigger fired");
    assert_eq!(crash.targets, vec![format!("broker-{}", election.1)]);
    let delay_ms = (crash.start_ns - election.0) / 1_000_000;
    assert!(
        delay_ms <= 200 + 10,
        "struck {delay_ms} ms after the election"
    );
    assert_eq!(outcome.faults.len(), 2, "fires once: {:#?}", outcome.faults);
    assert_log_valid(&outcome);
}

/// Triggers, overlapping windows and random triggers replay bit for bit.
#[test]
fn triggered_and_overlapping_faults_replay_to_the_same_trace_hash() {
    let s = scenario(
        "[faults]\nkinds = [\"isolate\", \"crash\", \"pause\"]\ninterval = \"2s\"\nfault_duration = \"2s\"\noverlap = true\ntriggered = 3\n[[faults.trigger]]\non = \"isr-shrink\"\naction = \"restart\"\nduration = \"100ms\"\ntimes = 2\n",
    );
    for seed in [1, 2] {
        let a = run(&s, seed).unwrap();
        let b = run(&s, seed).unwrap();
        assert_eq!(a.trace_hash, b.trace_hash, "seed {seed}");
        assert_eq!(a.faults, b.faults);
    }
}

/// A swarm draw is a function of the seed: drawn twice, run twice, the same trace.
#[test]
fn a_swarm_seed_replays_to_the_same_trace_hash() {
    let base = scenario(
        "[faults]\nkinds = [\"isolate\", \"crash\", \"pause\", \"isolate-leader\"]\ninterval = \"3s\"\nfault_duration = \"2s\"\n",
    );
    for seed in [4, 5] {
        let a = faultline_sim::swarm::swarm(&base, seed);
        let b = faultline_sim::swarm::swarm(&base, seed);
        assert_eq!(a.scenario, b.scenario);
        let first = run(&a.scenario, seed).unwrap();
        let second = run(&b.scenario, seed).unwrap();
        assert_eq!(
            first.trace_hash, second.trace_hash,
            "seed {seed}: {}",
            a.summary
        );
        assert_eq!(first.coverage, second.coverage);
    }
}

/// Guided's event-directed mutation (`faultline_sim::aim`) is a function of the guided
/// stream and the run it mutates: aimed twice, run twice — or run from its TOML, as a
/// failure's folder replays it — the same trace; and its trigger strikes, since the run
/// is the same as the one it mutates until the event it waits for.
#[test]
fn a_guided_aimed_trigger_replays_to_the_same_trace_hash() {
    let base = scenario(&format!(
        "{FAST_SESSIONS}[faults]\nkinds = [\"isolate\", \"crash\"]\ninterval = \"3s\"\nfault_duration = \"2s\"\n"
    ));
    let seed = 6;
    let reached_run = run(&base, seed).unwrap();
    let reached = faultline_sim::coverage::trigger_events(&reached_run.coverage);
    assert!(!reached.is_empty(), "{:?}", reached_run.coverage);
    let aim = || {
        faultline_sim::aim::aim(
            &mut faultline_sim::seed::stream(seed, "guided"),
            &base,
            &reached,
        )
        .expect("crash and isolate are aimable")
    };
    let (a, b) = (aim(), aim());
    assert_eq!(a, b);
    assert_eq!(a.faults.trigger.len(), 1);
    let first = run(&a, seed).unwrap();
    let second = run(&b, seed).unwrap();
    assert_eq!(
        first.trace_hash, second.trace_hash,
        "{:?}",
        a.faults.trigger
    );
    assert_eq!(first.coverage, second.coverage);
    let folder =
        Scenario::parse(&toml::to_string(&a).unwrap(), Path::new("scenario.toml")).unwrap();
    assert_eq!(run(&folder, seed).unwrap().trace_hash, first.trace_hash);
    assert!(
        first.faults.len() > reached_run.faults.len(),
        "the aimed trigger {:?} struck nothing",
        a.faults.trigger
    );
}
