//! ListOffsets by time: MAX_TIMESTAMP (-3, KIP-734) answers the offset and timestamp of
//! the record with the largest timestamp; a timestamp t ≥ 0 answers the first offset whose
//! timestamp is at least t (KIP-79; protocol guide, ListOffsets). Both look at committed
//! records from the log start on; none found is `[-1, -1]`, which is never judged (a
//! newer record above the high watermark, or one a lagging leader cannot serve yet, may
//! hide the answer: Kafka's `Partition.fetchOffsetForTimestamp`).
//!
//! What the history proves: a record acknowledged (acks=all) before the request began is
//! committed and, unless a DeleteRecords invoked before the answer may have removed it,
//! visible; its timestamp lies within its send's invoke and completion
//! ([`super::Acked`]).

use crate::history::Function;
use crate::{Anomaly, AnomalyKind};

use super::{anomaly, AdminOptions, Asked, Facts};

/// Every breach of the rules above.
pub(super) fn find(facts: &Facts, options: &AdminOptions) -> Vec<Anomaly> {
    if !options.acks_all {
        return Vec::new();
    }
    let mut anomalies = Vec::new();
    for asked in &facts.asked {
        let (Function::ListOffsets, Some(asked_timestamp), Some((offset, timestamp))) =
            (asked.f, asked.op.timestamp, asked.op.answer)
        else {
            continue;
        };
        if offset < 0 || !(asked_timestamp == -3 || asked_timestamp >= 0) {
            continue;
        }
        let found = answer_misnames_record(facts, asked, offset, timestamp).or_else(|| {
            if asked_timestamp == -3 {
                larger_timestamp(facts, asked, offset, timestamp)
            } else {
                earlier_match(facts, asked, asked_timestamp, offset, timestamp)
            }
        });
        anomalies.extend(found);
    }
    anomalies
}

/// The answer's timestamp is not the one of the acknowledged record at its offset.
fn answer_misnames_record(
    facts: &Facts,
    asked: &Asked,
    offset: i64,
    timestamp: i64,
) -> Option<Anomaly> {
    let key = asked.op.key;
    let record = facts.acked_at(key, offset)?;
    let fits = (record.timestamp_min..=record.timestamp_max).contains(&timestamp);
    (!fits).then(|| {
        anomaly(
            AnomalyKind::WrongTimestampOffset,
            key,
            vec![record.done_index, asked.done_index],
            format!(
                "key {key}: ListOffsets {} (op {}) answered offset {offset} with timestamp {timestamp}, but the record there (send op {}) has a timestamp within {}..={}",
                describe(asked), asked.done_index, record.done_index, record.timestamp_min, record.timestamp_max
            ),
        )
    })
}

/// MAX_TIMESTAMP answered a timestamp below one an acknowledged, visible record has.
fn larger_timestamp(facts: &Facts, asked: &Asked, offset: i64, timestamp: i64) -> Option<Anomaly> {
    let key = asked.op.key;
    let deleted_below = facts.deleted_below(key, asked.done_index);
    let newer = facts
        .acked_before(key, asked.invoke_index, deleted_below)
        .filter(|a| a.timestamp_min > timestamp)
        .max_by_key(|a| a.timestamp_min)?;
    Some(anomaly(
        AnomalyKind::WrongTimestampOffset,
        key,
        vec![newer.done_index, asked.done_index],
        format!(
            "key {key}: ListOffsets MAX_TIMESTAMP (op {}) answered offset {offset} with timestamp {timestamp}, but the record at offset {} (acknowledged by op {} before it began) has a timestamp of at least {}",
            asked.done_index, newer.offset, newer.done_index, newer.timestamp_min
        ),
    ))
}

/// By timestamp: the answer is below the time asked, or an earlier visible record already
/// reached it.
fn earlier_match(
    facts: &Facts,
    asked: &Asked,
    wanted: i64,
    offset: i64,
    timestamp: i64,
) -> Option<Anomaly> {
    let key = asked.op.key;
    if timestamp < wanted {
        return Some(anomaly(
            AnomalyKind::WrongTimestampOffset,
            key,
            vec![asked.done_index],
            format!(
                "key {key}: ListOffsets for timestamp {wanted} (op {}) answered offset {offset} with timestamp {timestamp}, below the timestamp asked",
                asked.done_index
            ),
        ));
    }
    let deleted_below = facts.deleted_below(key, asked.done_index);
    let earlier = facts
        .acked_before(key, asked.invoke_index, deleted_below)
        .filter(|a| a.offset < offset && a.timestamp_min >= wanted)
        .min_by_key(|a| a.offset)?;
    Some(anomaly(
        AnomalyKind::WrongTimestampOffset,
        key,
        vec![earlier.done_index, asked.done_index],
        format!(
            "key {key}: ListOffsets for timestamp {wanted} (op {}) answered offset {offset}, but the earlier record at offset {} (acknowledged by op {} before it began) already has a timestamp of at least {}",
            asked.done_index, earlier.offset, earlier.done_index, earlier.timestamp_min
        ),
    ))
}

fn describe(asked: &Asked) -> String {
    match asked.op.timestamp {
        Some(-3) => "MAX_TIMESTAMP".to_string(),
        Some(t) => format!("for timestamp {t}"),
        None => String::new(),
    }
}
