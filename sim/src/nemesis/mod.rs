//! The nemesis: fault windows, drawn from the seed or listed in the scenario, and applied
//! to the simulated world as time reaches them.
//!
//! Every window opens at `at`, closes `duration` later, and all close before the fault
//! phase ends, so the final phase runs on a healed cluster (Jepsen's final generator).
//!
//! - [`schedule`]: the seeded schedule.
//! - [`links`]: which links are cut, held or healthy when windows overlap.
//! - [`apply`]: strikes and heals windows in the turmoil world.
//! - [`trigger`]: windows opened by cluster events (an election, an ISR change, ...).

pub mod apply;
pub mod links;
pub mod schedule;
pub mod trigger;

use serde::{Deserialize, Serialize};

use crate::duration::HumanDuration;

pub use schedule::draw_schedule;

/// A kind of fault. Network faults follow Jepsen's nemesis vocabulary
/// (`jepsen.nemesis.combined`: partitions, one-way, bridge, majorities-ring); process,
/// disk and clock faults follow `jepsen.nemesis` kill/pause, LazyFS lost writes and
/// `jepsen.nemesis.time`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FaultKind {
    /// Cut the targets off from every other node and client (both directions).
    Isolate,
    /// Isolate the current leader of a partition (target `leader` or `leader:TOPIC-P`;
    /// default: partition 0 of the first topic), found from the controller at strike time.
    IsolateLeader,
    /// Isolate the controller.
    IsolateController,
    /// Cut the controller and all brokers into a minority (the targets) and a majority.
    Halves,
    /// Two halves that only the target (the bridge) joins (Jepsen's `bridge`).
    Bridge,
    /// The targets can hear but not speak: their outbound messages are dropped.
    OneWay,
    /// Message loss on every link of the targets: at each step, each such link with
    /// messages in flight loses all of them with probability 1/100 (from the `network`
    /// stream). turmoil cannot drop one message, and its TCP does not retransmit, so a
    /// lost segment stalls the connection until the peer's request timeout — as a real
    /// connection that keeps losing packets does before it is reset.
    Loss,
    /// Latency spike: the targets' links get a maximum latency of 500 ms.
    Latency,
    /// Kill the targets' processes (kill -9) and restart them when the window closes; the
    /// page cache survives, so unsynced writes do too.
    Crash,
    /// Pause the targets' processes (SIGSTOP) and hold their links, so that requests queue
    /// and arrive late; resume both when the window closes (SIGCONT).
    Pause,
    /// Correlated power loss: the targets (default: every node) crash at once and lose
    /// their unsynced writes, keeping a seeded torn part of each log's tail; all restart
    /// when the window closes.
    PowerLoss,
    /// The targets' disks (brokers only) fail every write with EIO.
    DiskError,
    /// The targets' clocks run at a seeded wrong rate (¼×, ½×, 2× or 4×).
    ClockSkew,
}

impl FaultKind {
    /// Every kind, for "all faults" schedules and tests.
    pub const ALL: [FaultKind; 13] = [
        FaultKind::Isolate,
        FaultKind::IsolateLeader,
        FaultKind::IsolateController,
        FaultKind::Halves,
        FaultKind::Bridge,
        FaultKind::OneWay,
        FaultKind::Loss,
        FaultKind::Latency,
        FaultKind::Crash,
        FaultKind::Pause,
        FaultKind::PowerLoss,
        FaultKind::DiskError,
        FaultKind::ClockSkew,
    ];

    /// The kebab-case name used in scenario files and reports.
    pub fn name(self) -> String {
        serde_json::to_value(self)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default()
    }

    /// Whether only brokers may be targets.
    pub fn brokers_only(self) -> bool {
        matches!(self, FaultKind::DiskError)
    }
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
    /// Which nodes it hits: node names, or `leader` / `leader:TOPIC-P` for the leader of a
    /// partition at strike time, `follower` / `follower:TOPIC-P` for one of its followers
    /// (for `halves`, the minority side). May be empty for
    /// `isolate-leader`, `isolate-controller` and `power-loss`, which have defaults.
    #[serde(default)]
    pub targets: Vec<String>,
}

/// Which replica of a partition a role target names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplicaRole {
    /// The partition's leader at strike time.
    Leader,
    /// One of its followers at strike time: the lowest-id in-sync follower, else the
    /// lowest-id assigned replica that is not the leader.
    Follower,
}

/// A target that names a partition's leader or follower (`leader`, `leader:TOPIC-P`,
/// `follower`, `follower:TOPIC-P`): the role, and `None` for the default partition or
/// `Some((topic, partition))` for a named one; `None` for a node name.
pub fn role_target(target: &str) -> Option<(ReplicaRole, Option<(String, i32)>)> {
    let (role, rest) = if let Some(rest) = target.strip_prefix("leader") {
        (ReplicaRole::Leader, rest)
    } else {
        (ReplicaRole::Follower, target.strip_prefix("follower")?)
    };
    if rest.is_empty() {
        return Some((role, None));
    }
    let named = rest.strip_prefix(':')?;
    let (topic, partition) = named.rsplit_once('-')?;
    Some((role, Some((topic.to_string(), partition.parse().ok()?))))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_targets_name_a_replica_of_a_partition_and_nothing_else() {
        assert_eq!(role_target("leader"), Some((ReplicaRole::Leader, None)));
        assert_eq!(role_target("follower"), Some((ReplicaRole::Follower, None)));
        assert_eq!(
            role_target("follower:my-topic-2"),
            Some((ReplicaRole::Follower, Some(("my-topic".to_string(), 2))))
        );
        assert_eq!(
            role_target("leader:events-0"),
            Some((ReplicaRole::Leader, Some(("events".to_string(), 0))))
        );
        assert_eq!(role_target("broker-1"), None);
        assert_eq!(role_target("followers"), None);
        assert_eq!(role_target("leader:events"), None);
    }
}
