//! ListOffsets latest (-1): for a consumer, the high watermark (read_uncommitted) or the
//! last stable offset (read_committed) — Kafka protocol guide, ListOffsets; KIP-98. So:
//! - read_uncommitted, it is never below an offset acknowledged to an acks=all producer
//!   before the request began (acks=all acknowledges a record only once the high watermark
//!   passed it, protocol guide, Produce `acks`; and KIP-207 makes a leader whose high
//!   watermark still lags after an election answer OFFSET_NOT_AVAILABLE instead of a
//!   smaller offset);
//! - at either isolation, it is never above what a consumer could then read: every offset
//!   below it holds a committed record, which final reads return (Jepsen kafka.clj final
//!   polls), so it is at most one past the highest offset any poll returned.

use crate::history::Function;
use crate::{Anomaly, AnomalyKind};

use super::{anomaly, AdminOptions, Facts};

/// Every breach of the rules above.
pub(super) fn find(facts: &Facts, options: &AdminOptions) -> Vec<Anomaly> {
    let mut anomalies = Vec::new();
    for asked in &facts.asked {
        let (Function::ListOffsets, Some(-1), Some((latest, _))) =
            (asked.f, asked.op.timestamp, asked.op.answer)
        else {
            continue;
        };
        let key = asked.op.key;
        if options.acks_all && !asked.op.read_committed {
            let acked = facts
                .acked
                .iter()
                .filter(|a| a.key == key && a.done_index < asked.invoke_index)
                .max_by_key(|a| a.offset);
            if let Some(acked) = acked.filter(|a| a.offset >= latest) {
                anomalies.push(anomaly(
                    AnomalyKind::LatestOffsetOutOfBounds,
                    key,
                    vec![acked.done_index, asked.done_index],
                    format!(
                        "key {key}: ListOffsets latest (op {}) returned {latest}, but offset {} was acknowledged (acks=all) by op {} before it began",
                        asked.done_index, acked.offset, acked.done_index
                    ),
                ));
            }
        }
        if options.final_reads {
            let readable = facts.highest_read(key).map_or(0, |o| o + 1);
            if latest > readable {
                anomalies.push(anomaly(
                    AnomalyKind::LatestOffsetOutOfBounds,
                    key,
                    vec![asked.done_index],
                    format!(
                        "key {key}: ListOffsets latest{} (op {}) returned {latest}, but no poll, final reads included, ever read past offset {}",
                        if asked.op.read_committed { " read_committed" } else { "" },
                        asked.done_index,
                        readable - 1
                    ),
                ));
            }
        }
    }
    anomalies
}
