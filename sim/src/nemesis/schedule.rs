//! The seeded schedule: one fault at a time (or overlapping, when asked), kinds drawn from the scenario's mix (a kind
//! listed twice is drawn twice as often), gaps and lengths jittered around the means.
//!
//! It draws only from the `nemesis` stream, so the workload's and the network's draws
//! never move when the fault mix changes.

use rand::Rng;
use rand_chacha::ChaCha8Rng;

use super::{FaultKind, FaultWindow};
use crate::duration::HumanDuration;

/// Draws a schedule over `nodes` (the controller first, then the brokers). With
/// `overlap`, the next window may start while the previous one is still open or its
/// cluster still recovering (Jepsen's composed nemeses); without, one fault at a time.
pub fn draw_schedule(
    rng: &mut ChaCha8Rng,
    kinds: &[FaultKind],
    nodes: &[String],
    phase_ms: u64,
    interval_ms: u64,
    fault_ms: u64,
    overlap: bool,
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
        let targets = draw_targets(rng, kind, nodes);
        windows.push(FaultWindow {
            at: HumanDuration::from_millis(at),
            duration: HumanDuration::from_millis(length),
            kind,
            targets,
        });
        at += if overlap {
            rng.random_range(length / 4..=length + interval_ms).max(1)
        } else {
            length
                + rng
                    .random_range(interval_ms / 2..=interval_ms + interval_ms / 2)
                    .max(1)
        };
    }
    windows
}

fn draw_targets(rng: &mut ChaCha8Rng, kind: FaultKind, nodes: &[String]) -> Vec<String> {
    let brokers: Vec<String> = nodes
        .iter()
        .filter(|n| n.starts_with("broker-"))
        .cloned()
        .collect();
    let one =
        |rng: &mut ChaCha8Rng, from: &[String]| vec![from[rng.random_range(0..from.len())].clone()];
    match kind {
        FaultKind::Isolate
        | FaultKind::Crash
        | FaultKind::Pause
        | FaultKind::Loss
        | FaultKind::Latency
        | FaultKind::OneWay
        | FaultKind::ClockSkew
        | FaultKind::Bridge => one(rng, nodes),
        FaultKind::DiskError if brokers.is_empty() => Vec::new(),
        FaultKind::DiskError => one(rng, &brokers),
        FaultKind::IsolateLeader => vec!["leader".into()],
        FaultKind::IsolateController => vec!["controller".into()],
        FaultKind::PowerLoss => nodes.to_vec(),
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
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::seed::stream;

    fn nodes() -> Vec<String> {
        ["controller", "broker-1", "broker-2", "broker-3"]
            .map(String::from)
            .to_vec()
    }

    #[test]
    fn every_kind_is_drawn_and_windows_never_overlap() {
        let windows = draw_schedule(
            &mut stream(1, "nemesis"),
            &FaultKind::ALL,
            &nodes(),
            600_000,
            2_000,
            1_000,
            false,
        );
        for kind in FaultKind::ALL {
            assert!(
                windows.iter().any(|w| w.kind == kind),
                "{kind:?} never drawn"
            );
        }
        for pair in windows.windows(2) {
            assert!(pair[0].at.0 + pair[0].duration.0 < pair[1].at.0);
        }
        for w in windows.iter().filter(|w| w.kind == FaultKind::DiskError) {
            assert!(w.targets.iter().all(|t| t.starts_with("broker-")));
        }
    }
}
