//! KIP-107 (DeleteRecords): "the low_watermark of the partition" is the log start offset
//! after the deletion, and Kafka answers only once it has reached the offset asked
//! (`DelayedDeleteRecords` completes when the low watermark ≥ the requested offset). From
//! then on the records below it are gone: ListOffsets earliest (-2) returns at least it
//! (protocol guide, ListOffsets: -2 is the log start offset), a Fetch begun later returns
//! no record below it (Fetch below the log start is OFFSET_OUT_OF_RANGE), and the log
//! start offset never moves backwards.
//!
//! Those rules bind leaders at the deletion's leader epoch or later. Kafka fences only a
//! client that knows a newer epoch (KIP-320: FENCED_LEADER_EPOCH answers a request whose
//! `current_leader_epoch` is older than the leader's); a deposed leader that has not yet
//! replayed its deposition keeps answering clients whose metadata still carries its old
//! epoch, from its own log, whose start may lag a deletion acknowledged by its successor.
//! So a read or earliest offset answered at an epoch older than the one a log start was
//! shown at is a stale answer Kafka permits: counted in the stats, not an anomaly. An
//! answer without a known epoch (older histories, a broker whose metadata names none) is
//! held to every log start shown, as before.

use std::collections::BTreeMap;

use crate::history::{Function, Key};
use crate::{Anomaly, AnomalyKind};

use super::{anomaly, Asked, Facts};

/// The log start a client has been shown for a key: the largest acknowledged low watermark
/// or earliest offset, with the op that showed it.
#[derive(Debug, Clone, Copy)]
struct Shown {
    log_start: i64,
    op: u64,
    by_delete: bool,
}

/// Stat counting answers below a log start that came from a leader at an older epoch.
const STALE: &str = "answers below a log start from an older leader epoch";

/// Every breach of the rules above; stale answers Kafka permits are counted in `stats`.
pub(super) fn find(facts: &Facts, stats: &mut BTreeMap<String, u64>) -> Vec<Anomaly> {
    let mut anomalies = Vec::new();
    let mut stale = 0;
    for asked in &facts.asked {
        if let Some(found) = short_low_watermark(asked) {
            anomalies.push(found);
        }
        let key = asked.op.key;
        let (Function::ListOffsets, Some(-2), Some((earliest, _))) =
            (asked.f, asked.op.timestamp, asked.op.answer)
        else {
            continue;
        };
        let below = |at| {
            shown_before(facts, key, asked.invoke_index, at).filter(|s| earliest < s.log_start)
        };
        match below(asked.op.leader_epoch) {
            Some(shown) => anomalies.push(anomaly(
                AnomalyKind::LogStartRegression,
                key,
                vec![shown.op, asked.done_index],
                format!(
                    "key {key}: ListOffsets earliest (op {}) returned {earliest}, below the log start {} that op {} had already shown{}",
                    asked.done_index,
                    shown.log_start,
                    shown.op,
                    if shown.by_delete { " (an acknowledged DeleteRecords)" } else { " (an earlier earliest)" },
                ),
            )),
            None if below(None).is_some() => stale += 1,
            None => {}
        }
    }
    anomalies.extend(reads_below_log_start(facts, &mut stale));
    if stale > 0 {
        stats.insert(STALE.to_string(), stale);
    }
    anomalies
}

/// A DeleteRecords acknowledged with a low watermark below the offset it asked for.
fn short_low_watermark(asked: &Asked) -> Option<Anomaly> {
    let (Function::DeleteRecords, Some(offset), Some(low_watermark)) =
        (asked.f, asked.op.offset, asked.op.low_watermark)
    else {
        return None;
    };
    (offset >= 0 && low_watermark < offset).then(|| {
        anomaly(
            AnomalyKind::LogStartRegression,
            asked.op.key,
            vec![asked.done_index],
            format!(
                "key {}: DeleteRecords below {offset} (op {}) was acknowledged with low watermark {low_watermark}, below the offset asked",
                asked.op.key, asked.done_index
            ),
        )
    })
}

/// The largest log start shown for `key` by ops completed before history index `before`
/// that binds an answer given at leader epoch `at` (every one, when `at` is unknown).
fn shown_before(facts: &Facts, key: Key, before: u64, at: Option<i32>) -> Option<Shown> {
    facts
        .asked
        .iter()
        .filter(|a| a.op.key == key && a.done_index < before)
        .filter(|a| binds(a.op.leader_epoch, at))
        .filter_map(shown_by)
        .max_by_key(|s| s.log_start)
}

/// The log start showings of every key, in completion order, with the largest log start
/// shown up to each: `reads_below_log_start` asks "the largest shown before this poll
/// began" for every record every poll returned, and a scan of all admin ops per record
/// made the check quadratic (6% of an `admin-and-seek-under-failover` run, issue #17).
struct ShownPrefix {
    /// Per key: the showing ops' completion indices, ascending, and the running maximum
    /// of the log starts they showed.
    by_key: BTreeMap<Key, (Vec<u64>, Vec<i64>)>,
}

impl ShownPrefix {
    fn of(facts: &Facts) -> ShownPrefix {
        let mut showings: Vec<(Key, u64, i64)> = facts
            .asked
            .iter()
            .filter_map(|a| Some((a.op.key, a.done_index, shown_by(a)?.log_start)))
            .collect();
        showings.sort_by_key(|&(key, done, _)| (key, done));
        let mut by_key: BTreeMap<Key, (Vec<u64>, Vec<i64>)> = BTreeMap::new();
        for (key, done, log_start) in showings {
            let (dones, largest) = by_key.entry(key).or_default();
            let running = largest.last().map_or(log_start, |&l| l.max(log_start));
            dones.push(done);
            largest.push(running);
        }
        ShownPrefix { by_key }
    }

    /// What `shown_before(facts, key, before, None)` finds, its log start only.
    fn largest_before(&self, key: Key, before: u64) -> Option<i64> {
        let (dones, largest) = self.by_key.get(&key)?;
        let count = dones.partition_point(|&done| done < before);
        count.checked_sub(1).map(|last| largest[last])
    }
}

/// The log start `asked` showed, if it showed one: an acknowledged DeleteRecords' low
/// watermark or a ListOffsets earliest answer.
fn shown_by(asked: &Asked) -> Option<Shown> {
    match (asked.f, asked.op.timestamp) {
        (Function::DeleteRecords, _) => asked.op.low_watermark.map(|l| Shown {
            log_start: l,
            op: asked.done_index,
            by_delete: true,
        }),
        (Function::ListOffsets, Some(-2)) => asked.op.answer.map(|(o, _)| Shown {
            log_start: o,
            op: asked.done_index,
            by_delete: false,
        }),
        _ => None,
    }
}

/// Whether a log start shown at leader epoch `shown` binds an answer given at `at`: unless
/// both are known and the answer's is older (see the module's documentation).
fn binds(shown: Option<i32>, at: Option<i32>) -> bool {
    !matches!((shown, at), (Some(shown), Some(at)) if at < shown)
}

/// Polls begun after a log start was shown that returned a record below it; `stale` counts
/// those that a leader at an older epoch answered.
fn reads_below_log_start(facts: &Facts, stale: &mut u64) -> Vec<Anomaly> {
    let mut anomalies = Vec::new();
    let mut reported = std::collections::BTreeSet::new();
    let mut stale_polls = std::collections::BTreeSet::new();
    let shown = ShownPrefix::of(facts);
    for read in &facts.reads {
        let Some(any) = shown.largest_before(read.key, read.invoke_index) else {
            continue;
        };
        if read.offset >= any {
            continue;
        }
        let binding = shown_before(facts, read.key, read.invoke_index, read.leader_epoch);
        let Some(shown) = binding.filter(|s| read.offset < s.log_start) else {
            if stale_polls.insert(read.done_index) {
                *stale += 1;
            }
            continue;
        };
        if reported.insert(read.done_index) {
            anomalies.push(anomaly(
                AnomalyKind::LogStartRegression,
                read.key,
                vec![shown.op, read.done_index],
                format!(
                    "key {}: poll op {} returned offset {}, below the log start {} shown by op {} before the poll began",
                    read.key, read.done_index, read.offset, shown.log_start, shown.op
                ),
            ));
        }
    }
    anomalies
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::admin::op::AdminOp;

    /// The prefix index answers as the scan it replaces: for every key and every history
    /// index, the largest log start shown before it, over deletions and earliest offsets
    /// interleaved with other admin ops, some without an answer.
    #[test]
    fn the_prefix_index_answers_as_the_scan() {
        let mut facts = Facts::default();
        let mut state = 0x9e37_79b9_u64;
        let mut next = |bound: u64| {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1);
            (state >> 33) % bound
        };
        for done in 0..300u64 {
            let key = next(3) as u32;
            let value = next(100) as i64;
            let (f, op) = match next(4) {
                0 => (Function::DeleteRecords, {
                    let mut op = AdminOp::delete_records(key, value);
                    op.low_watermark = (next(5) > 0).then_some(value);
                    op
                }),
                1 => (Function::ListOffsets, {
                    let mut op = AdminOp::list_offsets(key, -2, false);
                    op.answer = (next(5) > 0).then_some((value, -1));
                    op
                }),
                _ => (Function::ListOffsets, {
                    let mut op = AdminOp::list_offsets(key, -1, false);
                    op.answer = Some((value, -1));
                    op
                }),
            };
            facts.asked.push(Asked {
                op,
                f,
                invoke_index: done.saturating_sub(next(4)),
                done_index: done * 2 + 1,
            });
        }
        let prefix = ShownPrefix::of(&facts);
        for key in 0..4 {
            for before in 0..=602 {
                let scanned = shown_before(&facts, key, before, None).map(|s| s.log_start);
                assert_eq!(
                    prefix.largest_before(key, before),
                    scanned,
                    "key {key} before {before}"
                );
            }
        }
    }
}
