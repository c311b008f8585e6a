use super::MAX_SAFE_MILLIS_DURATION;
use crate::time::{Clock, Duration, Instant};

/// A structure which handles conversion from Instants to `u64` timestamps.
#[derive(Debug)]
pub(crate) struct TimeSource {
    start_time: Instant,
    /// faultline: `start_time` as nanoseconds past the clock's origin, when the clock
    /// can be frozen: `now` then reads a frozen clock's tick without `Instant`
    /// arithmetic.
    #[cfg(feature = "test-util")]
    start_nanos: Option<u64>,
}

impl TimeSource {
    pub(crate) fn new(clock: &Clock) -> Self {
        let start_time = clock.now();
        Self {
            start_time,
            #[cfg(feature = "test-util")]
            start_nanos: clock.nanos_since_origin(start_time),
        }
    }

    pub(crate) fn deadline_to_tick(&self, t: Instant) -> u64 {
        // Round up to the end of a ms
        self.instant_to_tick(t + Duration::from_nanos(999_999))
    }

    pub(crate) fn instant_to_tick(&self, t: Instant) -> u64 {
        // round up
        let dur: Duration = t.saturating_duration_since(self.start_time);
        let ms = dur
            .as_millis()
            .try_into()
            .unwrap_or(MAX_SAFE_MILLIS_DURATION);
        ms.min(MAX_SAFE_MILLIS_DURATION)
    }

    pub(crate) fn tick_to_duration(&self, t: u64) -> Duration {
        Duration::from_millis(t)
    }

    pub(crate) fn now(&self, clock: &Clock) -> u64 {
        // faultline: a frozen clock's tick from nanoseconds, as `instant_to_tick` would
        // compute it (whole milliseconds since `start_time`, saturating at zero).
        #[cfg(feature = "test-util")]
        if let (Some(start), Some(now)) = (self.start_nanos, clock.frozen_nanos()) {
            let ms = (now.saturating_sub(start) / 1_000_000).min(MAX_SAFE_MILLIS_DURATION);
            debug_assert_eq!(ms, self.instant_to_tick(clock.now()));
            return ms;
        }
        self.instant_to_tick(clock.now())
    }

    #[cfg(test)]
    #[allow(dead_code)]
    pub(super) fn start_time(&self) -> Instant {
        self.start_time
    }
}
