//! Malformed Produce batches: a well-formed v2 batch from the wire encoder, tampered with
//! byte by byte (no records, the control bit, a wrong `lastOffsetDelta`, offset deltas
//! that are not `0..n`, a bad CRC), sent with acks=1. A broker must refuse each with
//! INVALID_RECORD or CORRUPT_MESSAGE and append nothing: the model of the partition does
//! not change, so the next Produce, Fetch or ListOffsets shows any record it let in.

use bytes::Bytes;

use faultline_wire::tamper;
use faultline_wire::{ResponseError, Transport};

use super::driver::Driver;
use super::ops::{Acks, Malformation};
use super::rules::{Violation, MALFORMED_REFUSED};

/// `batch` (one uncompressed v2 batch of `records` records) broken as `malformation` says.
pub fn broken(batch: &Bytes, records: usize, malformation: Malformation) -> Bytes {
    let count = records as i32;
    match malformation {
        Malformation::NoRecords => tamper::without_records(batch),
        Malformation::ControlBit => tamper::with_control_bit(batch),
        Malformation::LastOffsetDelta(off_by) => {
            let off_by = if off_by == 0 { 1 } else { i32::from(off_by) };
            tamper::with_last_offset_delta(batch, count - 1 + off_by)
        }
        Malformation::ShiftedOffsetDeltas { shift, base_offset } => {
            let shift = i64::from(shift.max(1));
            tamper::with_offset_deltas(batch, i64::from(base_offset), |i| i as i64 + shift)
                .expect("the wire encoder's records parse")
        }
        Malformation::RepeatedOffsetDelta => {
            let last = records.max(2) - 1;
            tamper::with_offset_deltas(batch, 0, |i| i.min(last - 1) as i64)
                .expect("the wire encoder's records parse")
        }
        Malformation::BadCrc => tamper::with_bad_crc(batch),
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
            "a batch broken as {malformation:?} answered {}, not INVALID_RECORD or CORRUPT_MESSAGE",
            answer.map_or("NONE (accepted)".to_string(), |e| format!("{e:?}"))
        ))),
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
        // A repeated offset delta needs two records.
        let least = 1 + u8::from(malformation == Malformation::RepeatedOffsetDelta);
        let records = records.clamp(least, 50);
        let values = self.values(index, records);
        let timestamp_ms = self.setup.timestamp_base_ms + index as i64;
        let batch = broken(
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
}
