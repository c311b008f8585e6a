//! KIP-107 (DeleteRecords): "the low_watermark of the partition" is the log start offset
//! after the deletion, and Kafka answers only once it has reached the offset asked
//! (`DelayedDeleteRecords` completes when the low watermark ≥ the requested offset). From
//! then on the records below it are gone: ListOffsets earliest (-2) returns at least it
//! (protocol guide, ListOffsets: -2 is the log start offset), a Fetch begun later returns
//! no record below it (Fetch below the log start is OFFSET_OUT_OF_RANGE), and the log
//! start offset never moves backwards.

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

/// Every breach of the rules above.
pub(super) fn find(facts: &Facts) -> Vec<Anomaly> {
    let mut anomalies = Vec::new();
    for asked in &facts.asked {
        if let Some(found) = short_low_watermark(asked) {
            anomalies.push(found);
        }
        let key = asked.op.key;
        let shown = shown_before(facts, key, asked.invoke_index);
        if let (Some(shown), Function::ListOffsets, Some(-2), Some((earliest, _))) =
            (shown, asked.f, asked.op.timestamp, asked.op.answer)
        {
            if earliest < shown.log_start {
                anomalies.push(anomaly(
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
                ));
            }
        }
    }
    anomalies.extend(reads_below_log_start(facts));
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

/// The largest log start shown for `key` by ops completed before history index `before`.
fn shown_before(facts: &Facts, key: Key, before: u64) -> Option<Shown> {
    facts
        .asked
        .iter()
        .filter(|a| a.op.key == key && a.done_index < before)
        .filter_map(|a| match (a.f, a.op.timestamp) {
            (Function::DeleteRecords, _) => a.op.low_watermark.map(|l| Shown {
                log_start: l,
                op: a.done_index,
                by_delete: true,
            }),
            (Function::ListOffsets, Some(-2)) => a.op.answer.map(|(o, _)| Shown {
                log_start: o,
                op: a.done_index,
                by_delete: false,
            }),
            _ => None,
        })
        .max_by_key(|s| s.log_start)
}

/// Polls begun after a log start was shown that returned a record below it.
fn reads_below_log_start(facts: &Facts) -> Vec<Anomaly> {
    let mut anomalies = Vec::new();
    let mut reported = std::collections::BTreeSet::new();
    for read in &facts.reads {
        let Some(shown) = shown_before(facts, read.key, read.invoke_index) else {
            continue;
        };
        if read.offset < shown.log_start && reported.insert(read.done_index) {
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
