//! Record batches broken on purpose, byte by byte, for conformance tests of a broker's
//! validation (Kafka's `LogValidator`): each function takes one well-formed uncompressed v2
//! batch (as [`crate::records::producer_batch`] encodes it) and breaks exactly one thing,
//! resealing `batchLength` and the CRC afterwards so that only the intended fault shows
//! (protocol guide, "Record Batch": the CRC-32C covers the attributes to the end).

use bytes::Bytes;

use crate::batch::{
    ATTRIBUTES_OFFSET, CONTROL_BIT, CRC_OFFSET, HEADER_BYTES, LAST_OFFSET_DELTA_OFFSET,
    LOG_OVERHEAD, RECORD_COUNT_OFFSET,
};

/// Reads a zigzag varint (protocol guide, "Record": varints as in protobuf) at `at`;
/// returns the value and the bytes it took.
fn read_varint(bytes: &[u8], at: usize) -> Option<(i64, usize)> {
    let mut raw: u64 = 0;
    for (i, byte) in bytes.get(at..)?.iter().take(10).enumerate() {
        raw |= u64::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            return Some((((raw >> 1) as i64) ^ -((raw & 1) as i64), i + 1));
        }
    }
    None
}

fn write_varint(value: i64, out: &mut Vec<u8>) {
    let mut raw = ((value << 1) ^ (value >> 63)) as u64;
    while raw >= 0x80 {
        out.push((raw as u8 & 0x7f) | 0x80);
        raw >>= 7;
    }
    out.push(raw as u8);
}

/// Recomputes `batchLength` and the CRC after an edit.
fn reseal(mut bytes: Vec<u8>) -> Bytes {
    let length = (bytes.len() - LOG_OVERHEAD) as i32;
    bytes[8..12].copy_from_slice(&length.to_be_bytes());
    let crc = crc32c::crc32c(&bytes[ATTRIBUTES_OFFSET..]);
    bytes[CRC_OFFSET..CRC_OFFSET + 4].copy_from_slice(&crc.to_be_bytes());
    Bytes::from(bytes)
}

/// The batch with `base_offset` in its header and nothing else changed. It stays valid: the
/// base offset lies outside the CRC, and Kafka's `LogValidator` (`validateBatch` checks only
/// that `lastOffsetDelta` agrees with the record count; `assignOffsetsNonCompressed` then
/// calls `setLastOffset`) renumbers a client's batch from the log end whatever it says.
pub fn with_base_offset(batch: &Bytes, base_offset: i64) -> Bytes {
    let mut bytes = batch.to_vec();
    bytes[0..8].copy_from_slice(&base_offset.to_be_bytes());
    Bytes::from(bytes)
}

/// The batch with a record count of 0, no records and `lastOffsetDelta` -1.
pub fn without_records(batch: &Bytes) -> Bytes {
    let mut bytes = batch[..HEADER_BYTES].to_vec();
    bytes[RECORD_COUNT_OFFSET..RECORD_COUNT_OFFSET + 4].copy_from_slice(&0i32.to_be_bytes());
    bytes[LAST_OFFSET_DELTA_OFFSET..LAST_OFFSET_DELTA_OFFSET + 4]
        .copy_from_slice(&(-1i32).to_be_bytes());
    reseal(bytes)
}

/// The batch with the control bit (attributes bit 5) set.
pub fn with_control_bit(batch: &Bytes) -> Bytes {
    let mut bytes = batch.to_vec();
    bytes[ATTRIBUTES_OFFSET + 1] |= CONTROL_BIT as u8;
    reseal(bytes)
}

/// The batch with `lastOffsetDelta` set to `delta`.
pub fn with_last_offset_delta(batch: &Bytes, delta: i32) -> Bytes {
    let mut bytes = batch.to_vec();
    bytes[LAST_OFFSET_DELTA_OFFSET..LAST_OFFSET_DELTA_OFFSET + 4]
        .copy_from_slice(&delta.to_be_bytes());
    reseal(bytes)
}

/// The batch with record `i`'s offset delta set to `delta(i)` and the header's base offset
/// to `base_offset` (`lastOffsetDelta` unchanged); `None` if its records do not parse.
pub fn with_offset_deltas(
    batch: &Bytes,
    base_offset: i64,
    delta: impl Fn(usize) -> i64,
) -> Option<Bytes> {
    let records = &batch[HEADER_BYTES..];
    let mut bytes = batch[..HEADER_BYTES].to_vec();
    bytes[0..8].copy_from_slice(&base_offset.to_be_bytes());
    let (mut at, mut index) = (0, 0);
    while at < records.len() {
        let (length, taken) = read_varint(records, at)?;
        let body = records.get(at + taken..at + taken + length as usize)?;
        // attributes (1 byte), timestampDelta (varint), offsetDelta (varint), the rest.
        let (_, timestamp_bytes) = read_varint(body, 1)?;
        let delta_at = 1 + timestamp_bytes;
        let (_, delta_bytes) = read_varint(body, delta_at)?;
        let mut new_body = body[..delta_at].to_vec();
        write_varint(delta(index), &mut new_body);
        new_body.extend_from_slice(&body[delta_at + delta_bytes..]);
        write_varint(new_body.len() as i64, &mut bytes);
        bytes.extend_from_slice(&new_body);
        at += taken + length as usize;
        index += 1;
    }
    Some(reseal(bytes))
}

/// The batch with one bit of its CRC flipped.
pub fn with_bad_crc(batch: &Bytes) -> Bytes {
    let mut bytes = batch.to_vec();
    bytes[CRC_OFFSET + 3] ^= 0x01;
    Bytes::from(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::records::{decode_records, producer_batch};

    fn batch(n: usize) -> Bytes {
        let values: Vec<Bytes> = (0..n).map(|i| Bytes::from(format!("v{i}"))).collect();
        producer_batch(&values, None, 1_700_000_000_000)
    }

    fn offsets(bytes: &Bytes) -> Vec<i64> {
        decode_records(bytes)
            .unwrap()
            .iter()
            .map(|r| r.offset)
            .collect()
    }

    #[test]
    fn each_tampering_breaks_one_thing_and_reseals_the_rest() {
        // Only the flipped CRC fails decoding; the others decode, so only the broker's
        // validation can refuse them.
        assert!(decode_records(&with_bad_crc(&batch(3))).is_err());
        let shifted = with_offset_deltas(&batch(3), -1, |i| i as i64 + 2).unwrap();
        assert_eq!(offsets(&shifted), vec![1, 2, 3]);
        let repeated = with_offset_deltas(&batch(3), 0, |i| i.min(1) as i64).unwrap();
        assert_eq!(offsets(&repeated), vec![0, 1, 1]);
        assert!(decode_records(&with_control_bit(&batch(1))).unwrap()[0].control);
        let empty = without_records(&batch(2));
        assert_eq!(empty.len(), HEADER_BYTES);
        assert!(decode_records(&empty).unwrap().is_empty());
        let delta = with_last_offset_delta(&batch(2), 0);
        assert_eq!(&delta[23..27], &0i32.to_be_bytes());
        assert_eq!(offsets(&delta), vec![0, 1]);
    }

    #[test]
    fn varints_round_trip() {
        for value in [0i64, 1, -1, 63, 64, -65, 300, i64::from(i32::MAX)] {
            let mut out = Vec::new();
            write_varint(value, &mut out);
            assert_eq!(read_varint(&out, 0), Some((value, out.len())));
        }
    }
}
