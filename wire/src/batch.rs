//! One record batch as bytes (message format v2, Kafka protocol guide "Record Batch"):
//! its header read without decoding the records, the records decoded (decompressed) with
//! guards, and the leader's rewrite of the fields it owns.
//!
//! A broker keeps the bytes a producer wrote (KIP-98: producer id, epoch and base sequence
//! live in the header; compression wraps the records, not the header) and only rewrites
//! the base offset, the partition leader epoch and, for `LogAppendTime`, the timestamp
//! type and max timestamp, recomputing the CRC (Kafka's `LogValidator`
//! "in-place assignment").

use bytes::{Buf, Bytes, BytesMut};
use kafka_protocol::records::{Compression, Record, RecordBatchDecoder};

use crate::decompress::{decompress, MAX_DECOMPRESSED_BYTES};
use crate::records::CorruptRecords;

/// Offset of the `batchLength` field.
const BATCH_LENGTH_OFFSET: usize = 8;
/// Bytes before `batchLength` counts: base offset and the length itself.
pub(crate) const LOG_OVERHEAD: usize = 12;
/// Offset of `partitionLeaderEpoch`.
const PARTITION_LEADER_EPOCH_OFFSET: usize = 12;
/// Offset of the magic byte.
const MAGIC_OFFSET: usize = 16;
/// Offset of the CRC, which covers everything from the attributes on.
pub(crate) const CRC_OFFSET: usize = 17;
/// Offset of `attributes`, the first byte the CRC covers.
pub(crate) const ATTRIBUTES_OFFSET: usize = 21;
/// Offset of `lastOffsetDelta`.
pub(crate) const LAST_OFFSET_DELTA_OFFSET: usize = 23;
/// Offset of `baseTimestamp`.
const BASE_TIMESTAMP_OFFSET: usize = 27;
/// Offset of `maxTimestamp`.
const MAX_TIMESTAMP_OFFSET: usize = 35;
/// Offset of `producerId`.
const PRODUCER_ID_OFFSET: usize = 43;
/// Offset of `producerEpoch`.
const PRODUCER_EPOCH_OFFSET: usize = 51;
/// Offset of `baseSequence`.
const BASE_SEQUENCE_OFFSET: usize = 53;
/// Offset of `recordsCount`.
pub const RECORD_COUNT_OFFSET: usize = 57;
/// Size of the v2 header; records follow it.
pub const HEADER_BYTES: usize = 61;
/// Every v2 record takes at least this many bytes (length, attributes, two deltas, key and
/// value lengths, header count — one varint byte each at least).
pub(crate) const MIN_RECORD_BYTES: usize = 7;
/// Attribute bits holding the compression codec.
const COMPRESSION_MASK: i16 = 0x7;
/// Attribute bit set when timestamps are `LogAppendTime`.
const LOG_APPEND_TIME_BIT: i16 = 1 << 3;
/// Attribute bit of transactional batches.
const TRANSACTIONAL_BIT: i16 = 1 << 4;
/// Attribute bit of control batches (transaction markers).
pub(crate) const CONTROL_BIT: i16 = 1 << 5;

/// The fields of a v2 batch header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchHeader {
    /// Offset of the first record (the producer sends 0; the leader assigns it).
    pub base_offset: i64,
    /// Bytes after the `batchLength` field.
    pub batch_length: i32,
    /// The leader epoch the leader appended it in (-1 from a producer).
    pub partition_leader_epoch: i32,
    /// Compression codec, timestamp type, transactional and control bits.
    pub attributes: i16,
    /// The last record's offset minus the base offset.
    pub last_offset_delta: i32,
    /// The first record's timestamp.
    pub base_timestamp: i64,
    /// The largest record timestamp (or the log append time).
    pub max_timestamp: i64,
    /// Idempotent producer id, or -1 (KIP-98).
    pub producer_id: i64,
    /// Idempotent producer epoch, or -1.
    pub producer_epoch: i16,
    /// Sequence of the first record, or -1.
    pub base_sequence: i32,
    /// Records in the batch.
    pub record_count: i32,
}

impl BatchHeader {
    /// The codec the records are compressed with (`attributes & 0x7`).
    pub fn compression(&self) -> Result<Compression, CorruptRecords> {
        match self.attributes & COMPRESSION_MASK {
            0 => Ok(Compression::None),
            1 => Ok(Compression::Gzip),
            2 => Ok(Compression::Snappy),
            3 => Ok(Compression::Lz4),
            4 => Ok(Compression::Zstd),
            other => Err(CorruptRecords(format!("unknown compression codec {other}"))),
        }
    }

    /// Whether the record timestamps are the broker's append time.
    pub fn log_append_time(&self) -> bool {
        self.attributes & LOG_APPEND_TIME_BIT != 0
    }

    /// Whether the batch belongs to a transaction.
    pub fn transactional(&self) -> bool {
        self.attributes & TRANSACTIONAL_BIT != 0
    }

    /// Whether the batch holds control records.
    pub fn control(&self) -> bool {
        self.attributes & CONTROL_BIT != 0
    }

    /// The last record's offset.
    pub fn last_offset(&self) -> i64 {
        self.base_offset + self.last_offset_delta as i64
    }
}

/// One whole batch: its parsed header and its bytes, header included.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Batch {
    /// The header, as in `bytes`.
    pub header: BatchHeader,
    /// The batch exactly as on the wire.
    pub bytes: Bytes,
}

/// Splits `bytes` into batches, checking each header: it fits, is v2, its CRC matches, and
/// an uncompressed batch claims no more records than its bytes could hold.
pub fn split_batches(bytes: &Bytes) -> Result<Vec<Batch>, CorruptRecords> {
    split(bytes, Crc::Check)
}

/// Whether [`split`] checks each batch's CRC.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Crc {
    Check,
    /// The caller decodes every batch with `kafka-protocol`'s decoder, which checks it.
    LeftToDecoder,
}

/// [`split_batches`], with or without the CRC checks.
pub(crate) fn split(bytes: &Bytes, crc: Crc) -> Result<Vec<Batch>, CorruptRecords> {
    let mut batches = Vec::with_capacity(count_batches(bytes));
    let mut position = 0;
    while position < bytes.len() {
        let rest = &bytes[position..];
        let total = batch_size(rest)?;
        let batch = bytes.slice(position..position + total);
        let header = parse_header(&batch, crc)?;
        batches.push(Batch {
            header,
            bytes: batch,
        });
        position += total;
    }
    Ok(batches)
}

/// How many whole batches `bytes` hold by their lengths alone, up to the first that does
/// not fit (the batches' `Vec` is allocated once; the checks, and their errors, are
/// [`split_batches`]'s).
fn count_batches(bytes: &[u8]) -> usize {
    let mut count = 0;
    let mut rest = bytes;
    while let Ok(total) = batch_extent(rest) {
        count += 1;
        rest = &rest[total..];
    }
    count
}

/// Why the bytes at the start of a buffer are not a whole batch (no message is built
/// until one is wanted: [`count_batches`] meets one at every buffer's end).
enum NotABatch {
    Short,
    Negative(i32),
    Overflow,
    DoesNotFit(i32),
}

/// The size of the batch at the start of `rest`, header included.
fn batch_extent(rest: &[u8]) -> Result<usize, NotABatch> {
    if rest.len() < HEADER_BYTES {
        return Err(NotABatch::Short);
    }
    let batch_length = (&rest[BATCH_LENGTH_OFFSET..]).get_i32();
    let total = usize::try_from(batch_length)
        .map_err(|_| NotABatch::Negative(batch_length))?
        .checked_add(LOG_OVERHEAD)
        .ok_or(NotABatch::Overflow)?;
    if total > rest.len() || total < HEADER_BYTES {
        return Err(NotABatch::DoesNotFit(batch_length));
    }
    Ok(total)
}

/// [`batch_extent`], with its error in words.
fn batch_size(rest: &[u8]) -> Result<usize, CorruptRecords> {
    batch_extent(rest).map_err(|why| {
        CorruptRecords(match why {
            NotABatch::Short => format!(
                "{} trailing bytes are too short for a batch header",
                rest.len()
            ),
            NotABatch::Negative(length) => format!("negative batch length {length}"),
            NotABatch::Overflow => "batch length overflows".into(),
            NotABatch::DoesNotFit(length) => format!(
                "batch length {length} does not fit the {} bytes left",
                rest.len()
            ),
        })
    })
}

/// Reads and checks the header of one whole batch.
fn parse_header(batch: &[u8], crc: Crc) -> Result<BatchHeader, CorruptRecords> {
    if batch[MAGIC_OFFSET] != 2 {
        return Err(CorruptRecords(format!(
            "unsupported magic byte {}",
            batch[MAGIC_OFFSET]
        )));
    }
    let supplied = (&batch[CRC_OFFSET..]).get_u32();
    let actual = match crc {
        Crc::Check => crc32c::crc32c(&batch[ATTRIBUTES_OFFSET..]),
        Crc::LeftToDecoder => supplied,
    };
    if supplied != actual {
        return Err(CorruptRecords(format!(
            "CRC mismatch: batch says {supplied:#x}, bytes give {actual:#x}"
        )));
    }
    let header = BatchHeader {
        base_offset: (&batch[0..]).get_i64(),
        batch_length: (&batch[BATCH_LENGTH_OFFSET..]).get_i32(),
        partition_leader_epoch: (&batch[PARTITION_LEADER_EPOCH_OFFSET..]).get_i32(),
        attributes: (&batch[ATTRIBUTES_OFFSET..]).get_i16(),
        last_offset_delta: (&batch[LAST_OFFSET_DELTA_OFFSET..]).get_i32(),
        base_timestamp: (&batch[BASE_TIMESTAMP_OFFSET..]).get_i64(),
        max_timestamp: (&batch[MAX_TIMESTAMP_OFFSET..]).get_i64(),
        producer_id: (&batch[PRODUCER_ID_OFFSET..]).get_i64(),
        producer_epoch: (&batch[PRODUCER_EPOCH_OFFSET..]).get_i16(),
        base_sequence: (&batch[BASE_SEQUENCE_OFFSET..]).get_i32(),
        record_count: (&batch[RECORD_COUNT_OFFSET..]).get_i32(),
    };
    let compressed = header.compression()? != Compression::None;
    let room = (batch.len() - HEADER_BYTES) / MIN_RECORD_BYTES;
    if header.record_count < 0 || (!compressed && header.record_count as usize > room) {
        return Err(CorruptRecords(format!(
            "record count {} cannot fit in a batch of {} bytes",
            header.record_count, header.batch_length
        )));
    }
    Ok(header)
}

/// Decodes a batch's records, decompressing them first (at most
/// [`MAX_DECOMPRESSED_BYTES`]). The record count is checked
/// against the decompressed size before the decoder reserves memory for it. For a
/// `LogAppendTime` batch every record's timestamp is the batch's max timestamp (Kafka's
/// `DefaultRecordBatch`: "the timestamp of every record is the log append time").
pub fn decode_batch(batch: &Batch) -> Result<Vec<Record>, CorruptRecords> {
    let count = batch.header.record_count as usize;
    let decompress = |records: &mut Bytes, compression: Compression| -> anyhow::Result<Bytes> {
        let plain = decompress(records, compression, MAX_DECOMPRESSED_BYTES)?;
        if count > plain.len() / MIN_RECORD_BYTES {
            anyhow::bail!(
                "record count {count} cannot fit in {} decompressed bytes",
                plain.len()
            );
        }
        Ok(plain)
    };
    let mut buf = batch.bytes.clone();
    let set = RecordBatchDecoder::decode_with_custom_compression(&mut buf, Some(decompress))
        .map_err(|e| CorruptRecords(e.to_string()))?;
    let mut records = set.records;
    if records.len() != count {
        return Err(CorruptRecords(format!(
            "batch claims {count} records but holds {}",
            records.len()
        )));
    }
    if batch.header.log_append_time() {
        for record in &mut records {
            record.timestamp = batch.header.max_timestamp;
        }
    }
    Ok(records)
}

/// The batch with the fields a leader owns rewritten: its base offset and partition leader
/// epoch (outside the CRC), and the attributes and max timestamp (inside it, so the CRC is
/// recomputed). Kafka protocol guide, "Record Batch"; Kafka's `LogValidator` sets
/// `maxTimestamp` to the append time for `LogAppendTime` topics (KIP-32).
pub fn rewrite_batch(
    batch: &Batch,
    base_offset: i64,
    partition_leader_epoch: i32,
    max_timestamp: i64,
    log_append_time: bool,
) -> Batch {
    let mut bytes = BytesMut::from(&batch.bytes[..]);
    bytes[0..8].copy_from_slice(&base_offset.to_be_bytes());
    bytes[PARTITION_LEADER_EPOCH_OFFSET..PARTITION_LEADER_EPOCH_OFFSET + 4]
        .copy_from_slice(&partition_leader_epoch.to_be_bytes());
    let mut attributes = batch.header.attributes;
    if log_append_time {
        attributes |= LOG_APPEND_TIME_BIT;
    } else {
        attributes &= !LOG_APPEND_TIME_BIT;
    }
    bytes[ATTRIBUTES_OFFSET..ATTRIBUTES_OFFSET + 2].copy_from_slice(&attributes.to_be_bytes());
    bytes[MAX_TIMESTAMP_OFFSET..MAX_TIMESTAMP_OFFSET + 8]
        .copy_from_slice(&max_timestamp.to_be_bytes());
    let crc = crc32c::crc32c(&bytes[ATTRIBUTES_OFFSET..]);
    bytes[CRC_OFFSET..CRC_OFFSET + 4].copy_from_slice(&crc.to_be_bytes());
    let bytes = bytes.freeze();
    let header = BatchHeader {
        base_offset,
        partition_leader_epoch,
        attributes,
        max_timestamp,
        ..batch.header
    };
    debug_assert_eq!(parse_header(&bytes, Crc::Check), Ok(header));
    Batch { header, bytes }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::records::{encode_batch, BatchRecord};

    fn batch(compression: Compression) -> Batch {
        let records: Vec<BatchRecord> = (0..3)
            .map(|i| BatchRecord {
                key: Some(Bytes::from(format!("k{i}"))),
                value: Some(Bytes::from(vec![b'v'; 100])),
                timestamp: 1_000 + i,
                headers: vec![("trace".into(), Some(Bytes::from(format!("h{i}"))))],
            })
            .collect();
        let bytes = encode_batch(&records, Some((7, 1, 10)), compression);
        let mut batches = split_batches(&bytes).unwrap();
        assert_eq!(batches.len(), 1);
        batches.remove(0)
    }

    /// Every codec the protocol guide lists decodes to the same records, headers intact.
    #[test]
    fn all_four_codecs_round_trip_with_headers() {
        for compression in [
            Compression::None,
            Compression::Gzip,
            Compression::Snappy,
            Compression::Lz4,
            Compression::Zstd,
        ] {
            let batch = batch(compression);
            assert_eq!(batch.header.compression().unwrap(), compression);
            assert_eq!(batch.header.record_count, 3);
            assert_eq!(batch.header.producer_id, 7);
            assert_eq!(batch.header.base_sequence, 10);
            assert_eq!(batch.header.max_timestamp, 1_002);
            let records = decode_batch(&batch).unwrap();
            assert_eq!(records.len(), 3);
            assert_eq!(records[2].offset, 2);
            assert_eq!(records[2].sequence, 12);
            assert_eq!(records[1].headers.len(), 1, "{compression:?}");
            assert_eq!(
                records[1]
                    .headers
                    .get(&b"trace"[..])
                    .cloned()
                    .flatten()
                    .as_deref(),
                Some(&b"h1"[..])
            );
        }
    }

    /// Rewriting the leader's fields keeps a valid CRC and leaves the records untouched;
    /// a LogAppendTime rewrite makes every record's timestamp the append time.
    #[test]
    fn rewrite_recomputes_the_crc_and_keeps_the_compressed_records() {
        let original = batch(Compression::Zstd);
        let rewritten = rewrite_batch(&original, 40, 3, 5_000, true);
        assert_eq!(
            original.bytes[HEADER_BYTES..],
            rewritten.bytes[HEADER_BYTES..]
        );
        let again = split_batches(&rewritten.bytes).unwrap();
        assert_eq!(again[0].header, rewritten.header);
        let records = decode_batch(&rewritten).unwrap();
        assert_eq!(records[0].offset, 40);
        assert_eq!(records[0].partition_leader_epoch, 3);
        assert!(records.iter().all(|r| r.timestamp == 5_000));
    }

    #[test]
    fn a_flipped_byte_fails_the_crc() {
        let original = batch(Compression::None);
        let mut bytes = original.bytes.to_vec();
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        assert!(split_batches(&Bytes::from(bytes)).is_err());
    }

    /// A compressed batch claiming more records than its decompressed bytes could hold is
    /// refused before the decoder reserves room for them.
    #[test]
    fn a_hostile_count_in_a_compressed_batch_is_refused() {
        let original = batch(Compression::Gzip);
        let mut bytes = original.bytes.to_vec();
        bytes[RECORD_COUNT_OFFSET..RECORD_COUNT_OFFSET + 4]
            .copy_from_slice(&i32::MAX.to_be_bytes());
        let crc = crc32c::crc32c(&bytes[ATTRIBUTES_OFFSET..]);
        bytes[CRC_OFFSET..CRC_OFFSET + 4].copy_from_slice(&crc.to_be_bytes());
        let batches = split_batches(&Bytes::from(bytes)).unwrap();
        assert!(decode_batch(&batches[0]).is_err());
    }
}
