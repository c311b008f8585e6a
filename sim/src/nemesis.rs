//! The nemesis: fault windows, drawn from the seed or listed in the scenario.
//!
//! Every window opens at `at`, closes `duration` later, and all close before the fault
//! phase ends, so the final phase runs on a healed cluster (Jepsen's final generator).

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::duration::HumanDuration;

/// A kind of fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FaultKind {
    /// Cut one node off from every other node (both directions).
    Isolate,
    /// Kill one node's process (kill -9) and restart it when the window closes; the page
    /// cache survives, so unsynced writes do too.
    Crash,
    /// Cut the controller and all brokers into a minority and a majority.
    Halves,
}

/// One fault window.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultWindow {
    /// When it starts, from the beginning of the run.
    pub at: HumanDuration,
    /// How long it lasts.
    pub duration: HumanDuration,
    /// What it does.
    pub kind: FaultKind,
    /// Which nodes it hits (for `halves`, the minority side).
    pub targets: Vec<String>,
}

/// Draws a schedule: one fault at a time, gaps and lengths jittered around the means.
pub fn draw_schedule(
    rng: &mut ChaCha8Rng,
    kinds: &[FaultKind],
    nodes: &[String],
    phase_ms: u64,
    interval_ms: u64,
    fault_ms: u64,
) -> Vec<FaultWindow> {
    let mut windows = Vec::new();
    if kinds.is_empty() || nodes.is_empty() {
        return windows;
    }
    let mut at = rng.random_range(interval_ms / 2..=interval_ms);
    loop {
        let length = rng
            .random_range(fault_ms / 2..=fault_ms + fault_ms / 2)
            .max(1);
        if at + length >= phase_ms {
            break;
        }
        let kind = kinds[rng.random_range(0..kinds.len())];
        let targets = match kind {
            FaultKind::Isolate | FaultKind::Crash => {
                vec![nodes[rng.random_range(0..nodes.len())].clone()]
            }
            FaultKind::Halves => {
                let minority = nodes.len() / 2;
                let mut shuffled: Vec<String> = nodes.to_vec();
                for i in (1..shuffled.len()).rev() {
                    shuffled.swap(i, rng.random_range(0..=i));
                }
                shuffled.truncate(minority.max(1));
                shuffled.sort();
                shuffled
            }
        };
        windows.push(FaultWindow {
            at: HumanDuration::from_millis(at),
            duration: HumanDuration::from_millis(length),
            kind,
            targets,
        });
        at += length
            + rng
                .random_range(interval_ms / 2..=interval_ms + interval_ms / 2)
                .max(1);
    }
    windows
}
