//! Committed offsets of one group and partition: LostCommit and CommittedOffsetRegression.
//!
//! A committed offset is a register (Kafka OffsetCommit writes it, OffsetFetch reads it),
//! so both checks are real-time register reasoning: a fetch invoked after an acknowledged
//! commit completed must see it, or a value some other commit may have written since; and
//! a fetch invoked after another fetch completed must not see an older value unless a
//! commit of that value may have happened in between (an explicit seek or reset).

use crate::history::{Key, Offset, Process};
use crate::{Anomaly, AnomalyKind};

/// A commit or a fetch of one partition's offset, with its real-time interval.
#[derive(Debug, Clone)]
pub(super) struct Event {
    /// History index of the completion (or invoke, if none).
    pub index: u64,
    /// Who.
    pub process: Process,
    /// Invoke time.
    pub invoke: u64,
    /// Completion time; `u64::MAX` if it crashed (it may take effect any time later).
    pub complete: u64,
    /// The offset committed or fetched.
    pub offset: Offset,
    /// A commit that was acknowledged (`ok`), else possibly applied (`info`).
    pub acknowledged: bool,
}

/// Whether some commit of `offset` may have taken effect after `after` began and before
/// `before` ended — the explicit move that makes a lower offset legal.
fn explained(commits: &[Event], offset: Offset, after: &Event, before: &Event) -> bool {
    commits
        .iter()
        .any(|k| k.offset == offset && k.complete > after.invoke && k.invoke < before.complete)
}

/// Both checks over one (group, partition).
pub(super) fn judge(group: &str, key: Key, commits: &[Event], fetches: &[Event]) -> Vec<Anomaly> {
    let mut anomalies = Vec::new();
    for fetch in fetches {
        let durable = commits
            .iter()
            .filter(|c| c.acknowledged && c.complete < fetch.invoke)
            .max_by_key(|c| (c.offset, c.index));
        if let Some(commit) = durable.filter(|c| c.offset > fetch.offset) {
            if !explained(commits, fetch.offset, commit, fetch) {
                anomalies.push(Anomaly {
                    kind: AnomalyKind::LostCommit,
                    key: Some(key),
                    ops: vec![commit.index, fetch.index],
                    description: format!(
                        "group {group}, key {key}: op {} committed offset {} and got ok, yet op {} \
                         ({:?}), invoked after it, fetched committed offset {}; no commit of {} \
                         could have overwritten it",
                        commit.index, commit.offset, fetch.index, fetch.process, fetch.offset,
                        fetch.offset
                    ),
                });
                continue;
            }
        }
        let earlier = fetches
            .iter()
            .filter(|p| p.complete < fetch.invoke && p.offset > fetch.offset)
            .max_by_key(|p| (p.offset, p.index));
        if let Some(previous) = earlier {
            if !explained(commits, fetch.offset, previous, fetch) {
                anomalies.push(Anomaly {
                    kind: AnomalyKind::CommittedOffsetRegression,
                    key: Some(key),
                    ops: vec![previous.index, fetch.index],
                    description: format!(
                        "group {group}, key {key}: op {} fetched committed offset {}, then op {}, \
                         invoked after it, fetched {}; no commit of {} could explain the move back",
                        previous.index, previous.offset, fetch.index, fetch.offset, fetch.offset
                    ),
                });
            }
        }
    }
    anomalies
}
