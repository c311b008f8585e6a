//! Record batches (message format v2, Kafka protocol guide "Record Batch"), with a guard:
//! a batch header's record count is checked against the batch's length before the
//! decoder reserves memory for it, so a hostile count cannot exhaust memory.

use bytes::{Buf, Bytes, BytesMut};
use kafka_protocol::records::{
    Compression, Record, RecordBatchDecoder, RecordBatchEncoder, RecordEncodeOptions,
};

/// Offset of the `records count` field in a v2 batch header.
const RECORD_COUNT_OFFSET: usize = 57;
/// Offset of the magic byte.
const MAGIC_OFFSET: usize = 16;
/// Every v2 record takes at least this many bytes (length, attributes, two deltas, key and
/// value lengths, header count — one varint byte each at least).
const MIN_RECORD_BYTES: usize = 7;

/// Why record bytes did not decode.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("corrupt record batch: {0}")]
pub struct CorruptRecords(pub String);

/// Encodes records into v2 batches, uncompressed. Records with different leader epochs
/// or producers land in separate batches.
pub fn encode_records(records: &[Record]) -> Bytes {
    let mut out = BytesMut::new();
    if records.is_empty() {
        return out.freeze();
    }
    let options = RecordEncodeOptions {
        version: 2,
        compression: Compression::None,
    };
    RecordBatchEncoder::encode(&mut out, records.iter(), &options)
        .expect("encoding uncompressed v2 batches of valid records cannot fail");
    out.freeze()
}

/// One uncompressed v2 batch of `values` as a producer sends it: offsets are deltas from
/// the base offset the leader assigns (KIP-98), and for an idempotent producer
/// `(producer id, epoch, first sequence)` numbers the records from its first sequence.
pub fn producer_batch(
    values: &[Bytes],
    producer: Option<(i64, i16, i32)>,
    timestamp: i64,
) -> Bytes {
    let (producer_id, producer_epoch, first_sequence) = producer.unwrap_or((-1, -1, -1));
    let records: Vec<Record> = values
        .iter()
        .enumerate()
        .map(|(i, value)| Record {
            transactional: false,
            control: false,
            delete_horizon: false,
            partition_leader_epoch: -1,
            producer_id,
            producer_epoch,
            timestamp_type: kafka_protocol::records::TimestampType::Creation,
            offset: i as i64,
            sequence: if first_sequence < 0 {
                -1
            } else {
                first_sequence.wrapping_add(i as i32)
            },
            timestamp,
            key: None,
            value: Some(value.clone()),
            headers: Default::default(),
        })
        .collect();
    encode_records(&records)
}

/// Decodes every batch in `bytes`, after checking each header's lengths.
pub fn decode_records(bytes: &Bytes) -> Result<Vec<Record>, CorruptRecords> {
    check_batches(bytes)?;
    let mut buf = bytes.clone();
    let sets =
        RecordBatchDecoder::decode_all(&mut buf).map_err(|e| CorruptRecords(e.to_string()))?;
    Ok(sets.into_iter().flat_map(|set| set.records).collect())
}

/// Walks batch headers: each batch must fit, be v2, and claim no more records than its
/// bytes could hold.
fn check_batches(bytes: &[u8]) -> Result<(), CorruptRecords> {
    let mut rest = bytes;
    while !rest.is_empty() {
        if rest.len() < RECORD_COUNT_OFFSET + 4 {
            return Err(CorruptRecords(format!(
                "{} trailing bytes are too short for a batch header",
                rest.len()
            )));
        }
        let batch_length = (&rest[8..12]).get_i32();
        let total = 12usize
            .checked_add(
                usize::try_from(batch_length)
                    .map_err(|_| CorruptRecords(format!("negative batch length {batch_length}")))?,
            )
            .ok_or_else(|| CorruptRecords("batch length overflows".into()))?;
        if total > rest.len() || total < RECORD_COUNT_OFFSET + 4 {
            return Err(CorruptRecords(format!(
                "batch length {batch_length} does not fit the {} bytes left",
                rest.len()
            )));
        }
        if rest[MAGIC_OFFSET] != 2 {
            return Err(CorruptRecords(format!(
                "unsupported magic byte {}",
                rest[MAGIC_OFFSET]
            )));
        }
        let count = (&rest[RECORD_COUNT_OFFSET..RECORD_COUNT_OFFSET + 4]).get_i32();
        let room = (total - RECORD_COUNT_OFFSET - 4) / MIN_RECORD_BYTES;
        let attributes = (&rest[21..23]).get_i16();
        let compressed = attributes & 0x7 != 0;
        if count < 0 || (!compressed && count as usize > room) {
            return Err(CorruptRecords(format!(
                "record count {count} cannot fit in a batch of {batch_length} bytes"
            )));
        }
        if compressed {
            return Err(CorruptRecords(
                "compressed batches are not supported by this build".into(),
            ));
        }
        rest = &rest[total..];
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_protocol::records::TimestampType;

    fn record(offset: i64, epoch: i32, value: &'static str) -> Record {
        Record {
            transactional: false,
            control: false,
            delete_horizon: false,
            partition_leader_epoch: epoch,
            producer_id: -1,
            producer_epoch: -1,
            timestamp_type: TimestampType::Creation,
            offset,
            sequence: -1,
            timestamp: 0,
            key: None,
            value: Some(Bytes::from_static(value.as_bytes())),
            headers: Default::default(),
        }
    }

    #[test]
    fn batches_round_trip_and_split_by_epoch() {
        let records = vec![record(0, 1, "a"), record(1, 1, "b"), record(2, 2, "c")];
        let bytes = encode_records(&records);
        let back = decode_records(&bytes).unwrap();
        assert_eq!(back.len(), 3);
        assert_eq!(back[2].partition_leader_epoch, 2);
        assert_eq!(back[1].value.as_deref(), Some(&b"b"[..]));
    }

    #[test]
    fn a_hostile_record_count_is_refused_before_allocation() {
        let mut bytes = encode_records(&[record(0, 0, "a")]).to_vec();
        bytes[RECORD_COUNT_OFFSET..RECORD_COUNT_OFFSET + 4]
            .copy_from_slice(&i32::MAX.to_be_bytes());
        assert!(decode_records(&Bytes::from(bytes)).is_err());
    }

    #[test]
    fn truncated_batches_are_refused() {
        let bytes = encode_records(&[record(0, 0, "a"), record(1, 0, "b")]);
        for cut in 0..bytes.len() {
            let _ = decode_records(&bytes.slice(0..cut));
        }
    }
}
