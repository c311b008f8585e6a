//! The idempotent producer's rules (KIP-98), judged against the leader's log as it was just
//! before the Produce was handled: the log, not the broker's producer state, is the
//! reference, because Kafka derives that state from the log (`ProducerStateManager`
//! rebuilds it from segments) and the state is what a bug would corrupt.
//!
//! What the log decides, per producer id, from its newest batches: its newest
//! producer_epoch and its last five batches of that epoch (`NUM_BATCHES_TO_RETAIN`). Then:
//! - a batch from an older producer_epoch never succeeds (KIP-98 fencing,
//!   INVALID_PRODUCER_EPOCH; KIP-588's PRODUCER_FENCED);
//! - a batch whose sequence range equals a retained batch of the same epoch is a duplicate:
//!   answered with the original offset, never a sequence error (KIP-98, Kafka's
//!   `ProducerStateEntry.findDuplicateBatch`);
//! - a batch continuing the last sequence is never refused for its sequence;
//! - a batch past the last sequence + 1 is OUT_OF_ORDER_SEQUENCE_NUMBER, never accepted
//!   and never DUPLICATE_SEQUENCE_NUMBER (`ProducerAppendInfo.checkSequence`).
//!
//! A producer id absent from the log (new, or its records deleted or truncated) is not
//! judged: Kafka may legitimately remember more than the log shows.

use faultline_broker::log::PartitionLog;
use faultline_broker::txn::index;
use faultline_wire::ResponseError;

/// Batches Kafka retains per producer (`ProducerStateEntry.NUM_BATCHES_TO_RETAIN`).
pub const BATCHES_RETAINED: usize = 5;

/// The producer fields of a v2 record batch header (Kafka protocol guide, Record Batch).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchHeader {
    /// producerId.
    pub producer_id: i64,
    /// producerEpoch.
    pub producer_epoch: i16,
    /// baseSequence.
    pub first_sequence: i32,
    /// baseSequence + records count - 1.
    pub last_sequence: i32,
}

/// Reads the header of the only batch in `records`; `None` unless it is one whole v2 batch
/// of an idempotent producer. Layout (protocol guide, Record Batch): baseOffset int64,
/// batchLength int32, partitionLeaderEpoch int32, magic int8, crc int32, attributes int16,
/// lastOffsetDelta int32, baseTimestamp int64, maxTimestamp int64, producerId int64,
/// producerEpoch int16, baseSequence int32, records count int32.
pub fn batch_header(records: &[u8]) -> Option<BatchHeader> {
    const HEADER: usize = 61;
    if records.len() < HEADER || records[16] != 2 {
        return None;
    }
    let int = |at: usize, n: usize| -> i64 {
        records[at..at + n]
            .iter()
            .fold(0i64, |acc, &b| (acc << 8) | i64::from(b))
    };
    let batch_length = int(8, 4) as usize;
    if batch_length + 12 != records.len() {
        return None;
    }
    let producer_id = int(43, 8);
    let producer_epoch = int(51, 2) as u16 as i16;
    let first_sequence = int(53, 4) as u32 as i32;
    let count = int(57, 4) as u32 as i32;
    if producer_id < 0 || first_sequence < 0 || count < 1 {
        return None;
    }
    Some(BatchHeader {
        producer_id,
        producer_epoch,
        first_sequence,
        last_sequence: first_sequence.wrapping_add(count - 1),
    })
}

/// One retained batch as the log holds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoggedBatch {
    /// Sequence of its first record.
    pub first_sequence: i32,
    /// Sequence of its last record.
    pub last_sequence: i32,
    /// Offset of its first record.
    pub base_offset: i64,
}

/// What the log says of one producer id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProducerInLog {
    /// The producer_epoch of its newest batch (data or transaction marker).
    pub producer_epoch: i16,
    /// Its newest data batches of that epoch, newest first, at most [`BATCHES_RETAINED`]
    /// (none after a marker: KIP-98's epoch bump on abort restarts sequences).
    pub retained: Vec<LoggedBatch>,
}

/// Scans `log` from its end for `producer_id`'s newest batches.
pub fn producer_in_log(log: &PartitionLog, producer_id: i64) -> Option<ProducerInLog> {
    let mut found: Option<ProducerInLog> = None;
    for batch in log.batches().iter().rev() {
        let Some(first) = log.read_from(batch.base_offset, 1).first() else {
            continue;
        };
        if first.producer_id != producer_id || first.offset != batch.base_offset {
            continue;
        }
        let state = found.get_or_insert_with(|| ProducerInLog {
            producer_epoch: first.producer_epoch,
            retained: Vec::new(),
        });
        if first.producer_epoch != state.producer_epoch
            || index::is_control(index::attributes(&batch.bytes))
        {
            break;
        }
        let Some(last) = log.read_from(batch.last_offset, 1).first() else {
            break;
        };
        state.retained.push(LoggedBatch {
            first_sequence: first.sequence,
            last_sequence: last.sequence,
            base_offset: batch.base_offset,
        });
        if state.retained.len() == BATCHES_RETAINED {
            break;
        }
    }
    found
}

/// Judges one partition's answer to an idempotent batch against the log before it;
/// `Ok` names which case the batch was.
pub fn produce(
    batch: BatchHeader,
    logged: &ProducerInLog,
    error: i16,
    base_offset: i64,
) -> Result<&'static str, String> {
    let ok = error == 0;
    let duplicate_sequence = ResponseError::DuplicateSequenceNumber.code();
    let out_of_order = ResponseError::OutOfOrderSequenceNumber.code();
    let sequence_error = error == duplicate_sequence || error == out_of_order;
    let what = format!(
        "producer {} epoch {} sequences {}..={}",
        batch.producer_id, batch.producer_epoch, batch.first_sequence, batch.last_sequence
    );
    let error_name = ResponseError::try_from_code(error)
        .map(|e| format!("{e:?}"))
        .unwrap_or_else(|| format!("error {error}"));
    if batch.producer_epoch < logged.producer_epoch {
        return match ok {
            true => Err(format!(
                "{what} accepted though the log holds producer_epoch {} (KIP-98: an older epoch is fenced)",
                logged.producer_epoch
            )),
            false => Ok("older epoch"),
        };
    }
    if batch.producer_epoch > logged.producer_epoch {
        return Ok("newer epoch");
    }
    let retained = logged.retained.iter().find(|b| {
        b.first_sequence == batch.first_sequence && b.last_sequence == batch.last_sequence
    });
    if let Some(original) = retained {
        if sequence_error {
            return Err(format!(
                "{what}, a retry of the batch at offset {} (one of the last {BATCHES_RETAINED} retained), answered {error_name} instead of its original offset (KIP-98)",
                original.base_offset
            ));
        }
        if ok && base_offset != original.base_offset {
            return Err(format!(
                "{what}, a retry of the batch at offset {}, answered offset {base_offset} (KIP-98: a duplicate is answered with the original offset)",
                original.base_offset
            ));
        }
        return Ok("retained duplicate");
    }
    let Some(newest) = logged.retained.first() else {
        return Ok("after a marker");
    };
    let next = newest.last_sequence.wrapping_add(1);
    if batch.first_sequence == next && sequence_error {
        return Err(format!(
            "{what}, continuing the logged last sequence {}, answered {error_name} (KIP-98)",
            newest.last_sequence
        ));
    }
    if batch.first_sequence > next && (ok || error == duplicate_sequence) {
        return Err(format!(
            "{what}, past the logged last sequence {} + 1, answered {error_name} (KIP-98: OUT_OF_ORDER_SEQUENCE_NUMBER)",
            newest.last_sequence
        ));
    }
    Ok(match batch.first_sequence.cmp(&next) {
        std::cmp::Ordering::Equal => "next sequence",
        std::cmp::Ordering::Greater => "sequence gap",
        std::cmp::Ordering::Less => "old sequence",
    })
}
