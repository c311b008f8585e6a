//! Malformed Produce batches: a well-formed v2 batch from the wire encoder, tampered with
//! byte by byte (no records, the control bit, a wrong `lastOffsetDelta`, offset deltas
//! that are not `0..n`, a bad CRC), sent with acks=1. A broker must refuse each with
//! INVALID_RECORD or CORRUPT_MESSAGE and append nothing: the model of the partition does
//! not change, so the next Produce, Fetch or ListOffsets shows any record it let in.

use bytes::Bytes;

use faultline_wire::{ResponseError, Transport};

use super::driver::Driver;
use super::ops::{Acks, Malformation};
use super::rules::{Violation, MALFORMED_REFUSED};

/// Offset of the CRC in a v2 batch header (protocol guide, "Record Batch").
const CRC_OFFSET: usize = 17;
/// Offset of `attributes`, the first byte the CRC covers.
const ATTRIBUTES_OFFSET: usize = 21;
/// Offset of `lastOffsetDelta`.
const LAST_OFFSET_DELTA_OFFSET: usize = 23;
/// Offset of `recordsCount`.
const RECORD_COUNT_OFFSET: usize = 57;
/// Size of the v2 header; records follow it.
const HEADER_BYTES: usize = 61;
/// Bytes before `batchLength` counts: base offset and the length itself.
const LOG_OVERHEAD: usize = 12;
/// The attribute bit of control batches.
const CONTROL_BIT: u8 = 1 << 5;

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

/// The records of a batch, each with its offset delta replaced by `delta(i)`.
fn renumber(records: &[u8], delta: impl Fn(usize) -> i64) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(records.len() + 8);
    let mut at = 0;
    let mut index = 0;
    while at < records.len() {
        let (length, taken) = read_varint(records, at)?;
        let body = records.get(at + taken..at + taken + length as usize)?;
        // attributes (1 byte), timestampDelta (varint), offsetDelta (varint), rest.
        let (_, timestamp_bytes) = read_varint(body, 1)?;
        let delta_at = 1 + timestamp_bytes;
        let (_, delta_bytes) = read_varint(body, delta_at)?;
        let mut new_body = body[..delta_at].to_vec();
        write_varint(delta(index), &mut new_body);
        new_body.extend_from_slice(&body[delta_at + delta_bytes..]);
        write_varint(new_body.len() as i64, &mut out);
        out.extend_from_slice(&new_body);
        at += taken + length as usize;
        index += 1;
    }
    Some(out)
}

/// Recomputes `batchLength` and the CRC after an edit (so only the intended fault shows).
fn reseal(bytes: &mut [u8]) {
    let length = (bytes.len() - LOG_OVERHEAD) as i32;
    bytes[8..12].copy_from_slice(&length.to_be_bytes());
    let crc = crc32c::crc32c(&bytes[ATTRIBUTES_OFFSET..]);
    bytes[CRC_OFFSET..CRC_OFFSET + 4].copy_from_slice(&crc.to_be_bytes());
}

/// `batch` (one uncompressed v2 batch of `records` records) broken as `malformation` says.
pub fn tamper(batch: &Bytes, records: usize, malformation: Malformation) -> Bytes {
    let mut bytes = batch.to_vec();
    let count = records as i32;
    let set_i32 = |bytes: &mut Vec<u8>, at: usize, value: i32| {
        bytes[at..at + 4].copy_from_slice(&value.to_be_bytes());
    };
    match malformation {
        Malformation::NoRecords => {
            bytes.truncate(HEADER_BYTES);
            set_i32(&mut bytes, RECORD_COUNT_OFFSET, 0);
            set_i32(&mut bytes, LAST_OFFSET_DELTA_OFFSET, -1);
            reseal(&mut bytes);
        }
        Malformation::ControlBit => {
            bytes[ATTRIBUTES_OFFSET + 1] |= CONTROL_BIT;
            reseal(&mut bytes);
        }
        Malformation::LastOffsetDelta(off_by) => {
            let off_by = if off_by == 0 { 1 } else { i32::from(off_by) };
            set_i32(&mut bytes, LAST_OFFSET_DELTA_OFFSET, count - 1 + off_by);
            reseal(&mut bytes);
        }
        Malformation::ShiftedOffsetDeltas { shift, base_offset } => {
            let shift = i64::from(shift.max(1));
            let renumbered = renumber(&bytes[HEADER_BYTES..], |i| i as i64 + shift)
                .expect("the wire encoder's records parse");
            bytes.truncate(HEADER_BYTES);
            bytes.extend_from_slice(&renumbered);
            bytes[0..8].copy_from_slice(&i64::from(base_offset).to_be_bytes());
            reseal(&mut bytes);
        }
        Malformation::RepeatedOffsetDelta => {
            let last = records.max(2) - 1;
            let renumbered = renumber(&bytes[HEADER_BYTES..], |i| i.min(last - 1) as i64)
                .expect("the wire encoder's records parse");
            bytes.truncate(HEADER_BYTES);
            bytes.extend_from_slice(&renumbered);
            reseal(&mut bytes);
        }
        Malformation::BadCrc => bytes[CRC_OFFSET + 3] ^= 0x01,
    }
    Bytes::from(bytes)
}

/// The records a malformation needs at least (a repeated delta needs two records).
pub fn records_needed(malformation: Malformation, records: u8) -> u8 {
    match malformation {
        Malformation::RepeatedOffsetDelta => records.clamp(2, 50),
        _ => records.clamp(1, 50),
    }
}

/// The answer to a malformed batch: INVALID_RECORD or CORRUPT_MESSAGE (protocol guide,
/// Produce errors; which one differs between Kafka versions and faults), or a retriable
/// error; never NONE or another error. The batch is never in the log afterwards.
pub fn check_malformed(malformation: Malformation, error_code: i16) -> Result<(), Violation> {
    match ResponseError::try_from_code(error_code) {
        Some(ResponseError::InvalidRecord | ResponseError::CorruptMessage) => Ok(()),
        Some(error) if error.is_retriable() => Ok(()),
        answer => Err(MALFORMED_REFUSED.violated(format!(
            "a batch with {} answered {}, not INVALID_RECORD or CORRUPT_MESSAGE",
            describe(malformation),
            answer.map_or("NONE (accepted)".to_string(), |e| format!("{e:?}"))
        ))),
    }
}

fn describe(malformation: Malformation) -> String {
    match malformation {
        Malformation::NoRecords => "no records".into(),
        Malformation::ControlBit => "the control bit set".into(),
        Malformation::LastOffsetDelta(k) => format!("lastOffsetDelta off by {k}"),
        Malformation::ShiftedOffsetDeltas { shift, base_offset } => {
            format!("offset deltas starting at {shift} (base offset {base_offset})")
        }
        Malformation::RepeatedOffsetDelta => "the last offset delta repeated".into(),
        Malformation::BadCrc => "a bad CRC".into(),
    }
}

impl<T: Transport> Driver<'_, T> {
    /// One malformed Produce (acks=1) and its check; the partition's model is left as it
    /// was, so later ops see whether anything was appended.
    pub(super) async fn malformed_produce(
        &mut self,
        index: usize,
        client: u8,
        partition: u8,
        records: u8,
        malformation: Malformation,
    ) -> Result<(), Violation> {
        let slot = self.slot(partition);
        let records = records_needed(malformation, records);
        let values = self.values(index, records);
        let timestamp_ms = self.setup.timestamp_base_ms + index as i64;
        let batch = tamper(
            &self.batch(&values, timestamp_ms, None),
            values.len(),
            malformation,
        );
        let request = self.produce_request(slot, batch, Acks::Leader);
        let leader = self.setup.leaders[slot].clone();
        let version = self.setup.versions.produce;
        let id = self.setup.partitions[slot];
        let mut probe = self.client(client);
        let seen = Self::send_produce(&mut probe, &leader, version, &request, id).await;
        self.give_back(client, probe);
        check_malformed(malformation, seen?.error_code)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use faultline_wire::records::{decode_records, producer_batch};

    fn batch(n: usize) -> Bytes {
        let values: Vec<Bytes> = (0..n).map(|i| Bytes::from(format!("v{i}"))).collect();
        producer_batch(&values, None, 1_700_000_000_000)
    }

    #[test]
    fn every_malformation_is_refused_by_the_decoder_or_breaks_a_header_rule() {
        // The bad CRC fails decoding; the resealed ones decode, so only the broker's
        // validation (LogValidator) can refuse them.
        assert!(decode_records(&tamper(&batch(3), 3, Malformation::BadCrc)).is_err());
        let shifted = tamper(
            &batch(3),
            3,
            Malformation::ShiftedOffsetDeltas {
                shift: 2,
                base_offset: -1,
            },
        );
        let offsets: Vec<i64> = decode_records(&shifted)
            .unwrap()
            .iter()
            .map(|r| r.offset)
            .collect();
        assert_eq!(offsets, vec![1, 2, 3]);
        let repeated = tamper(&batch(3), 3, Malformation::RepeatedOffsetDelta);
        let offsets: Vec<i64> = decode_records(&repeated)
            .unwrap()
            .iter()
            .map(|r| r.offset)
            .collect();
        assert_eq!(offsets, vec![0, 1, 1]);
        let control = tamper(&batch(1), 1, Malformation::ControlBit);
        assert!(decode_records(&control).unwrap()[0].control);
        let empty = tamper(&batch(2), 2, Malformation::NoRecords);
        assert_eq!(empty.len(), HEADER_BYTES);
        assert!(decode_records(&empty).unwrap().is_empty());
        let delta = tamper(&batch(2), 2, Malformation::LastOffsetDelta(-1));
        assert_eq!(
            &delta[LAST_OFFSET_DELTA_OFFSET..LAST_OFFSET_DELTA_OFFSET + 4],
            &0i32.to_be_bytes()
        );
    }

    #[test]
    fn only_invalid_record_corrupt_message_or_a_retriable_error_is_allowed() {
        let m = Malformation::ControlBit;
        check_malformed(m, ResponseError::InvalidRecord.code()).unwrap();
        check_malformed(m, ResponseError::CorruptMessage.code()).unwrap();
        check_malformed(m, ResponseError::NotLeaderOrFollower.code()).unwrap();
        let v = check_malformed(m, 0).unwrap_err();
        assert_eq!(v.rule, MALFORMED_REFUSED.id);
        let v = check_malformed(m, ResponseError::UnknownServerError.code()).unwrap_err();
        assert_eq!(v.rule, MALFORMED_REFUSED.id);
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
