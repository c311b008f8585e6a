//! Record batches (message format v2, Kafka protocol guide "Record Batch") as records:
//! encoding a producer's batch (any codec, with headers) and decoding fetched bytes, with a
//! guard: a batch header's record count is checked against the batch's (decompressed)
//! length before the decoder reserves memory for it, so a hostile count cannot exhaust
//! memory (see [`crate::batch`]).

use bytes::{Bytes, BytesMut};
use kafka_protocol::records::{Compression, Record, RecordBatchEncoder, RecordEncodeOptions};

#[cfg(test)]
use crate::batch::RECORD_COUNT_OFFSET;
use crate::batch::{decode_batch, split_batches};

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

/// One record as a producer hands it over: what goes into a batch besides the offsets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchRecord {
    /// Record key.
    pub key: Option<Bytes>,
    /// Record value.
    pub value: Option<Bytes>,
    /// CreateTime timestamp.
    pub timestamp: i64,
    /// Record headers, in order (KIP-82).
    pub headers: Vec<(String, Option<Bytes>)>,
}

/// One v2 batch as a producer sends it: offsets are deltas from the base offset the leader
/// assigns (KIP-98), and for an idempotent producer `(producer id, epoch, first sequence)`
/// numbers the records from its first sequence. `compression` wraps the records, never the
/// header (Kafka protocol guide, "Record Batch").
pub fn encode_batch(
    records: &[BatchRecord],
    producer: Option<(i64, i16, i32)>,
    compression: Compression,
) -> Bytes {
    let (producer_id, producer_epoch, first_sequence) = producer.unwrap_or((-1, -1, -1));
    let records: Vec<Record> = records
        .iter()
        .enumerate()
        .map(|(i, record)| Record {
            transactional: false,
            control: false,
            delete_horizon: false,
            partition_leader_epoch: -1,
            producer_id,
            producer_epoch,
            timestamp_type: kafka_protocol::records::TimestampType::Creation,
            offset: i as i64,
            // Without a producer the header's base sequence is -1; the encoder derives it
            // from the first record and keeps records together while offset minus
            // sequence stays constant, so number them on from -1.
            sequence: first_sequence.wrapping_add(i as i32),
            timestamp: record.timestamp,
            key: record.key.clone(),
            value: record.value.clone(),
            headers: record
                .headers
                .iter()
                .map(|(name, value)| (name.clone().into(), value.clone()))
                .collect(),
        })
        .collect();
    let mut out = BytesMut::new();
    if records.is_empty() {
        return out.freeze();
    }
    let options = RecordEncodeOptions {
        version: 2,
        compression,
    };
    RecordBatchEncoder::encode_with_custom_compression(
        &mut out,
        records.iter(),
        &options,
        Some(|plain: &mut BytesMut, out: &mut BytesMut, compression| {
            crate::decompress::compress(plain, out, compression)
        }),
    )
    .expect("encoding v2 batches of valid records cannot fail");
    out.freeze()
}

/// One uncompressed v2 batch of `values`, without keys or headers, all at `timestamp`.
pub fn producer_batch(
    values: &[Bytes],
    producer: Option<(i64, i16, i32)>,
    timestamp: i64,
) -> Bytes {
    let records: Vec<BatchRecord> = values
        .iter()
        .map(|value| BatchRecord {
            key: None,
            value: Some(value.clone()),
            timestamp,
            headers: Vec::new(),
        })
        .collect();
    encode_batch(&records, producer, Compression::None)
}

/// Decodes every batch in `bytes` (decompressing as needed), after checking each header's
/// lengths, CRC and record count.
pub fn decode_records(bytes: &Bytes) -> Result<Vec<Record>, CorruptRecords> {
    let mut records = Vec::new();
    for batch in split_batches(bytes)? {
        records.extend(decode_batch(&batch)?);
    }
    Ok(records)
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
        let whole = decode_records(&bytes).expect("whole batches");
        assert_eq!(whole.len(), 2);
        // A cut batch is an error or, as the partial batch a Fetch response may end with
        // (Kafka protocol guide, "Record Batch"), skipped: what is read is only the records
        // of the whole batches before the cut, never a record of the cut batch.
        for cut in 0..bytes.len() {
            if let Ok(records) = decode_records(&bytes.slice(0..cut)) {
                assert!(records.len() < whole.len(), "cut at {cut}: {records:?}");
                assert_eq!(records[..], whole[..records.len()], "cut at {cut}");
            }
        }
    }
}
