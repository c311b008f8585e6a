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
    let mut out = BytesMut::with_capacity(encoded_size_bound(records));
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
    if records.is_empty() {
        return Bytes::new();
    }
    let mut out = BytesMut::with_capacity(encoded_size_bound(&records));
    let options = RecordEncodeOptions {
        version: 2,
        compression,
    };
    let encoded = if compression == Compression::None {
        // Straight into `out`: the custom path encodes into a buffer of its own, grown
        // from empty, and copies that (the same bytes).
        RecordBatchEncoder::encode(&mut out, records.iter(), &options)
    } else {
        encode_through_compressor(&mut out, &records, &options)
    };
    encoded.expect("encoding v2 batches of valid records cannot fail");
    out.freeze()
}

/// Encodes `records` through kafka-protocol's custom-compressor path: the records into a
/// buffer of their own, which [`crate::decompress::compress`] writes into `out`.
fn encode_through_compressor(
    out: &mut BytesMut,
    records: &[Record],
    options: &RecordEncodeOptions,
) -> anyhow::Result<()> {
    RecordBatchEncoder::encode_with_custom_compression(
        out,
        records.iter(),
        options,
        Some(|plain: &mut BytesMut, out: &mut BytesMut, compression| {
            crate::decompress::compress(plain, out, compression)
        }),
    )
}

/// Bytes an uncompressed v2 batch of `records` takes at most: the 61-byte header, and per
/// record its varint length, attributes, timestamp and offset deltas, key, value and
/// header count, each header's name and value (protocol guide, "Record"; a varint is at
/// most 5 bytes, a varlong 10). The buffer is allocated once at this size instead of
/// growing by doubling (~3% of a simulated run's instructions went to those reallocations
/// and their copies, issue #17).
fn encoded_size_bound(records: &[Record]) -> usize {
    let bytes = |b: &Option<Bytes>| 5 + b.as_ref().map_or(0, Bytes::len);
    61 + records
        .iter()
        .map(|r| {
            let headers: usize = r.headers.iter().map(|(k, v)| 5 + k.len() + bytes(v)).sum();
            5 + 1 + 10 + 5 + bytes(&r.key) + bytes(&r.value) + 5 + headers
        })
        .sum::<usize>()
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

    /// The buffer bound holds every batch, whatever the varints' widths: keys, values and
    /// headers of every size class (1-byte to 3-byte lengths), timestamps far from the
    /// first; and the uncompressed batch is byte for byte what the encoder's compressor
    /// path writes.
    #[test]
    fn batches_fit_their_bound_and_encode_as_through_the_compressor() {
        let sizes = [0usize, 1, 63, 64, 127, 128, 300, 8191, 8192, 20_000];
        for (i, &size) in sizes.iter().enumerate() {
            let blob = |n: usize| Some(Bytes::from(vec![b'x'; n]));
            let records: Vec<BatchRecord> = (0..4)
                .map(|j| BatchRecord {
                    key: (j % 2 == 0).then(|| blob(size)).flatten(),
                    value: if j == 3 { None } else { blob(size + j) },
                    timestamp: i64::from(j as i32) << (8 * (i % 7)),
                    headers: (0..j)
                        .map(|h| ("h".repeat(size % 200 + h), blob(size)))
                        .collect(),
                })
                .collect();
            for compression in [Compression::None, Compression::Gzip, Compression::Lz4] {
                let batch = encode_batch(&records, Some((7, 1, 0)), compression);
                let back = decode_records(&batch).expect("decodes");
                assert_eq!(back.len(), records.len());
                assert_eq!(back[1].value, records[1].value);
                assert_eq!(back[2].headers.len(), 2);
            }
            let batch = encode_batch(&records, Some((7, 1, 0)), Compression::None);
            let wire: Vec<Record> = decode_records(&batch).unwrap();
            assert!(batch.len() <= encoded_size_bound(&wire), "size {size}");
            let mut through = BytesMut::new();
            let options = RecordEncodeOptions {
                version: 2,
                compression: Compression::None,
            };
            encode_through_compressor(&mut through, &wire, &options).unwrap();
            assert_eq!(batch, through.freeze(), "size {size}");
        }
    }
}
