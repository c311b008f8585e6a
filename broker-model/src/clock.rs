//! The clock a node reads for timeouts that compare timestamps: broker session expiry on
//! the controller, replica lag (`replica.lag.time.max.ms`) on a leader.
//!
//! It runs at an adjustable rate so a simulation can skew one node's clock against the
//! others (a clock running fast expires sessions early; one running slow keeps dead
//! brokers alive). The rate never goes negative, so the clock is monotonic, as Kafka's
//! `Time.milliseconds` users assume of a sane host. Timers (`tokio::time::sleep`) are not
//! skewed: they measure intervals, which clock drift barely affects.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tokio::time::Instant;

/// Rate of a node's clock in thousandths of real (simulated) time: 1000 is accurate.
/// Clones share; it outlives process restarts (drift is a property of the host).
#[derive(Debug, Clone)]
pub struct ClockRate {
    /// Rate in permille.
    permille: Arc<AtomicU64>,
}

impl Default for ClockRate {
    fn default() -> Self {
        ClockRate {
            permille: Arc::new(AtomicU64::new(1000)),
        }
    }
}

impl ClockRate {
    /// Sets the rate: 2000 runs twice as fast, 500 at half speed.
    pub fn set_permille(&self, permille: u64) {
        self.permille.store(permille, Ordering::SeqCst);
    }

    /// The current rate.
    pub fn permille(&self) -> u64 {
        self.permille.load(Ordering::SeqCst)
    }
}

/// Milliseconds since this process started, on the (simulated) tokio clock, at the rate
/// of the node's [`ClockRate`].
#[derive(Debug)]
pub struct Clock {
    /// When the process started.
    start: Instant,
    /// The node's drift.
    rate: ClockRate,
    /// (real ns, skewed ns) at the last reading: a rate change applies from the last
    /// reading on, so time never jumps backwards.
    last: Mutex<(u64, u64)>,
}

impl Clock {
    /// A clock starting now.
    pub fn new(rate: ClockRate) -> Self {
        Clock {
            start: Instant::now(),
            rate,
            last: Mutex::new((0, 0)),
        }
    }

    /// Milliseconds on this node's clock.
    pub fn now_ms(&self) -> u64 {
        // One lock for the reading and its record: two threads of a real process reading
        // at once must not record an older reading over a newer one.
        let mut last = self.last.lock().expect("clock lock");
        let (real, skewed) = self.advance(*last);
        *last = (real.max(last.0), skewed);
        skewed / 1_000_000
    }

    /// The same reading as [`Clock::now_ms`], without recording it: an observer's look at
    /// the clock must not change the rounding of the node's own later readings.
    pub fn peek_ms(&self) -> u64 {
        let last = self.last.lock().expect("clock lock");
        self.advance(*last).1 / 1_000_000
    }

    /// (real ns, skewed ns) now, from the last recorded reading.
    fn advance(&self, (last_real, last_skewed): (u64, u64)) -> (u64, u64) {
        let real = self.start.elapsed().as_nanos() as u64;
        let elapsed = real.saturating_sub(last_real);
        let skewed = last_skewed
            + elapsed / 1000 * self.rate.permille()
            + elapsed % 1000 * self.rate.permille() / 1000;
        (real, skewed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test(start_paused = true)]
    async fn a_skewed_clock_runs_at_its_rate_and_never_goes_back() {
        let rate = ClockRate::default();
        let clock = Clock::new(rate.clone());
        faultline_wire::time::sleep(Duration::from_millis(100)).await;
        let accurate = clock.now_ms();
        rate.set_permille(4_000);
        faultline_wire::time::sleep(Duration::from_millis(100)).await;
        let fast = clock.now_ms();
        rate.set_permille(250);
        faultline_wire::time::sleep(Duration::from_millis(100)).await;
        let slow = clock.now_ms();
        assert_eq!(accurate, 100);
        assert_eq!(fast, 500, "100 ms at 4x");
        assert_eq!(slow, 525, "100 ms at 1/4x");
    }
}
