//! Record batches (message format v2, Kafka protocol guide "Record Batch") as records:
//! encoding a producer's batch (any codec, with headers) and decoding fetched bytes, with a
//! guard: a batch header's record count is checked against the batch's (decompressed)
//! length before the decoder reserves memory for it, so a hostile count cannot exhaust
//! memory (see [`crate::batch`]).

use std::cell::RefCell;

use bytes::{Bytes, BytesMut};
use kafka_protocol::records::{Compression, Record, RecordBatchEncoder, RecordEncodeOptions};

#[cfg(test)]
use crate::batch::RECORD_COUNT_OFFSET;
use crate::batch::{decode_batch, split, split_batches, Batch, Crc, MIN_RECORD_BYTES};
use crate::memo::BatchMemo;

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
///
/// Each CRC is computed once, by the decoder: the batches are split without it, and only
/// if something fails are they split again with it, so that the error is the one a
/// CRC-checked split would give first (a bad CRC anywhere before any decoding error).
pub fn decode_records(bytes: &Bytes) -> Result<Vec<Record>, CorruptRecords> {
    let decoded = split(bytes, Crc::LeftToDecoder).and_then(|batches| {
        let claimed: usize = batches.iter().map(|b| b.header.record_count as usize).sum();
        // The claimed counts are a hint only (a compressed batch's are checked after
        // decompressing): never reserve more than the bytes could hold uncompressed.
        let mut records = Vec::with_capacity(claimed.min(bytes.len() / MIN_RECORD_BYTES));
        for batch in &batches {
            records.extend(decode_remembered(batch)?);
        }
        Ok(records)
    });
    match decoded {
        Ok(records) => Ok(records),
        Err(error) => split_batches(bytes).and(Err(error)),
    }
}

/// Slots in a thread's memo of decoded batches (a power of two).
const MEMO_SLOTS: usize = 16384;

/// What a thread's memo of decoded batches holds at most, in bytes.
const MEMO_BUDGET: usize = 32 << 20;

thread_local! {
    /// The records of batches this thread decoded (see [`crate::memo`]).
    static DECODED: RefCell<BatchMemo<Vec<Record>>> =
        RefCell::new(BatchMemo::new(MEMO_SLOTS, MEMO_BUDGET));
}

/// [`decode_batch`], answered from this thread's memo for bytes it decoded before. A batch
/// it keeps is decoded from the memo's own copy, so that what it holds never pins the
/// caller's frame; debug builds decode every recalled batch again and compare.
fn decode_remembered(batch: &Batch) -> Result<Vec<Record>, CorruptRecords> {
    if let Some(records) = DECODED.with(|memo| memo.borrow().recall(&batch.bytes)) {
        debug_assert_eq!(
            Ok(&records),
            decode_batch(batch).as_ref(),
            "a remembered decoding is the decoding"
        );
        return Ok(records);
    }
    let Some(copy) = DECODED.with(|memo| memo.borrow().admit(&batch.bytes)) else {
        return decode_batch(batch);
    };
    let records = decode_batch(&Batch {
        header: batch.header,
        bytes: copy.clone(),
    })?;
    let held = |part: &Option<Bytes>| part.as_ref().map_or(0, Bytes::len);
    let weight = copy.len()
        + records
            .iter()
            .map(|r| std::mem::size_of::<Record>() + held(&r.key) + held(&r.value))
            .sum::<usize>();
    DECODED.with(|memo| memo.borrow_mut().keep(copy, records.clone(), weight));
    Ok(records)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::batch::{ATTRIBUTES_OFFSET, CRC_OFFSET};
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

    /// A batch decoded again is answered from the thread's memo: the same records, their
    /// values sliced from the memo's own copy, not from the frame they came in (which the
    /// memo would otherwise keep alive); a one-byte change misses and fails its CRC.
    #[test]
    fn a_batch_decoded_again_is_recalled_without_pinning_its_frame() {
        let bytes = encode_records(&[record(0, 7, "memo-a"), record(1, 7, "memo-b")]);
        let first = decode_records(&bytes).unwrap();
        let frame = Bytes::from(bytes.to_vec());
        assert_eq!(decode_records(&frame).unwrap(), first);
        let value = first[0].value.as_ref().unwrap().as_ptr() as usize;
        for buffer in [&bytes, &frame] {
            let range = buffer.as_ptr() as usize..buffer.as_ptr() as usize + buffer.len();
            assert!(!range.contains(&value));
        }
        let mut changed = bytes.to_vec();
        let last = changed.len() - 1;
        changed[last] ^= 1;
        assert!(decode_records(&Bytes::from(changed)).is_err());
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

    /// What decoding every batch after a CRC-checked split gives (the decoding before
    /// CRCs were left to the decoder).
    fn checked_then_decoded(bytes: &Bytes) -> Result<Vec<Record>, CorruptRecords> {
        let mut records = Vec::new();
        for batch in split_batches(bytes)? {
            records.extend(decode_batch(&batch)?);
        }
        Ok(records)
    }

    /// Every one-byte corruption of three batches, with the corrupted batch's CRC left
    /// wrong or made right again: the same records or the same error as a CRC-checked
    /// split followed by decoding (a bad CRC anywhere is reported before a decoding error
    /// in an earlier batch).
    #[test]
    fn decoding_fails_as_a_checked_split_would() {
        let records = vec![record(0, 1, "ab"), record(1, 2, "cd"), record(2, 3, "ef")];
        let whole = encode_records(&records);
        let offsets: Vec<usize> = split_batches(&whole)
            .unwrap()
            .iter()
            .map(|b| b.bytes.as_ptr() as usize - whole.as_ptr() as usize)
            .collect();
        let bytes = whole.to_vec();
        for at in 0..bytes.len() {
            for flip in [1u8, 0x80] {
                for fix_crc in [false, true] {
                    let mut corrupt = bytes.clone();
                    corrupt[at] ^= flip;
                    if fix_crc {
                        let start = *offsets.iter().rev().find(|&&o| o <= at).unwrap();
                        let end = offsets
                            .iter()
                            .find(|&&o| o > at)
                            .copied()
                            .unwrap_or(bytes.len());
                        if at >= start + ATTRIBUTES_OFFSET {
                            let crc = crc32c::crc32c(&corrupt[start + ATTRIBUTES_OFFSET..end]);
                            corrupt[start + CRC_OFFSET..start + CRC_OFFSET + 4]
                                .copy_from_slice(&crc.to_be_bytes());
                        }
                    }
                    // A later batch with a bad CRC too, so a decoding error in this one
                    // must give way to it.
                    for spoil_last in [false, true] {
                        let mut corrupt = corrupt.clone();
                        if spoil_last {
                            let last = corrupt.len() - 1;
                            corrupt[last] ^= 0x40;
                        }
                        let corrupt = Bytes::from(corrupt);
                        assert_eq!(
                            decode_records(&corrupt),
                            checked_then_decoded(&corrupt),
                            "byte {at} ^ {flip:#x}, CRC fixed {fix_crc}, last spoiled {spoil_last}"
                        );
                    }
                }
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
