//! BUGGIFY points (FoundationDB's `BUGGIFY` macro; TigerBeetle's "swarm testing"): seeded
//! extra delays and rare-but-legal paths inside the broker, switched on per run, to widen
//! the search beyond what the network faults alone reach.
//!
//! The broker has no randomness of its own: the simulation hands in a draw function fed
//! by a named seed stream, so a run with BUGGIFY on is as reproducible as one without.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

/// A uniform draw in `0..n`.
pub type Draw = Arc<dyn Fn(u64) -> u64 + Send + Sync>;

/// Off by default; on when built with a draw function.
#[derive(Clone, Default)]
pub struct Buggify {
    /// The seeded draw, or `None` when BUGGIFY is off.
    draw: Option<Draw>,
}

impl fmt::Debug for Buggify {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Buggify")
            .field("enabled", &self.draw.is_some())
            .finish()
    }
}

impl Buggify {
    /// BUGGIFY on, drawing from `draw`.
    pub fn enabled(draw: Draw) -> Self {
        Buggify { draw: Some(draw) }
    }

    /// True once in `one_in` times on average; never when off.
    pub fn fires(&self, one_in: u64) -> bool {
        self.draw
            .as_ref()
            .is_some_and(|draw| draw(one_in.max(1)) == 0)
    }

    /// Once in `one_in` times, a delay of up to `max`.
    pub fn delay(&self, one_in: u64, max: Duration) -> Option<Duration> {
        if !self.fires(one_in) {
            return None;
        }
        let draw = self.draw.as_ref()?;
        Some(Duration::from_millis(draw(max.as_millis() as u64 + 1)))
    }

    /// Sleeps for a BUGGIFY delay, if one fires.
    pub async fn maybe_sleep(&self, one_in: u64, max: Duration) {
        if let Some(delay) = self.delay(one_in, max) {
            faultline_wire::time::sleep(delay).await;
        }
    }
}

/// What the simulation reaches into a node through: a pause gate, the clock's rate and the
/// BUGGIFY draw. All default to "no fault", which is what `faultline serve` uses.
#[derive(Debug, Clone, Default)]
pub struct NodeFaults {
    /// SIGSTOP / SIGCONT.
    pub pause: crate::pause::PauseGate,
    /// Clock drift.
    pub clock_rate: crate::clock::ClockRate,
    /// Seeded extra delays and rare paths.
    pub buggify: Buggify,
}
