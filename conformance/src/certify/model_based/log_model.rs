//! One partition as a client can know it: the batches this case appended (offsets,
//! values, timestamps), the log start, a floor under the high watermark, and the log end
//! once a response revealed it. Records older than the case (the topic may hold some) are
//! an opaque prefix: their offsets are below the case's first batch, their values unknown.
//!
//! Each `check_*` takes what the broker answered and returns the violation, if the answer
//! is outside the set the protocol allows; on success the model learns from it.

use faultline_wire::ResponseError;

use super::rules::{
    Violation, BASE_OFFSET, CONCURRENT_TILING, FETCH_BELOW_HIGH_WATERMARK, FETCH_CONTENTS,
    FETCH_PROGRESS, FETCH_RANGE, HIGH_WATERMARK, LIST_OFFSETS, PRODUCE_ACCEPTED,
};

/// An offset far past any log end a test topic reaches: a fetch there is out of range even
/// when the model does not know the log end yet.
pub const FAR_PAST_END: i64 = 1 << 40;

/// A batch the case wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Batch {
    /// Its first offset (`None` for an acks=0 batch before any response placed it).
    pub base_offset: Option<i64>,
    /// Its records' values, in order.
    pub values: Vec<String>,
    /// The batch's timestamp (every record carries it).
    pub timestamp_ms: i64,
}

impl Batch {
    fn end(&self) -> Option<i64> {
        self.base_offset.map(|b| b + self.values.len() as i64)
    }
}

/// A record as a fetch returned it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeenRecord {
    /// Its offset.
    pub offset: i64,
    /// Its value, as text.
    pub value: Option<String>,
}

/// A fetch answer for one partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchSeen {
    /// The partition's error code.
    pub error_code: i16,
    /// The high watermark reported.
    pub high_watermark: i64,
    /// The records, in the order returned.
    pub records: Vec<SeenRecord>,
}

/// An acknowledged (or refused) produce for one partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProduceSeen {
    /// The partition's error code.
    pub error_code: i16,
    /// The base offset given.
    pub base_offset: i64,
}

/// The model of one partition.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PartitionModel {
    /// The log start offset, once ListOffsets earliest reported it.
    pub log_start: Option<i64>,
    /// The case's batches in offset order (unplaced acks=0 batches first).
    pub batches: Vec<Batch>,
    /// The high watermark is at least this (observed, or implied by acks=all).
    pub high_watermark_floor: i64,
    /// An indeterminate produce (timeout, retriable error after the append) happened:
    /// offsets and contents are no longer known exactly, only the weaker rules apply.
    pub uncertain: bool,
    /// A DeleteRecords ended in a retriable error: the log start is no longer known, only
    /// that it lies at or below this offset (KIP-107: the leader moves it before followers).
    pub log_start_ceiling: Option<i64>,
}

/// Errors a produce may answer without the model counting it against the broker; after
/// them the batch may or may not be in the log.
fn indeterminate(error: ResponseError) -> bool {
    error.is_retriable()
}

impl PartitionModel {
    /// The log end, when a response revealed it.
    pub fn log_end(&self) -> Option<i64> {
        self.batches.last().and_then(Batch::end)
    }

    /// The first offset the case wrote, when known.
    fn case_start(&self) -> Option<i64> {
        self.batches.iter().find_map(|b| b.base_offset)
    }

    /// The batch holding `offset`, among the placed ones.
    fn batch_at(&self, offset: i64) -> Option<&Batch> {
        self.batches
            .iter()
            .find(|b| b.base_offset.is_some_and(|base| base <= offset) && b.end() > Some(offset))
    }

    /// An acks=0 batch the broker processed (a barrier behind it on the same connection was
    /// answered): it follows the log end, wherever that is.
    pub fn append_unacknowledged(&mut self, values: Vec<String>, timestamp_ms: i64) {
        let base_offset = if self.uncertain { None } else { self.log_end() };
        if base_offset.is_none() && self.log_end().is_some() {
            self.uncertain = true;
        }
        self.batches.push(Batch {
            base_offset,
            values,
            timestamp_ms,
        });
    }

    /// Places a batch acknowledged at `base_offset`, and any unplaced batches before it.
    fn place(&mut self, base_offset: i64, values: Vec<String>, timestamp_ms: i64) {
        let mut next = base_offset;
        for batch in self.batches.iter_mut().rev() {
            if batch.base_offset.is_some() {
                break;
            }
            next -= batch.values.len() as i64;
            batch.base_offset = Some(next);
        }
        self.batches.push(Batch {
            base_offset: Some(base_offset),
            values,
            timestamp_ms,
        });
    }

    /// One Produce with acks 1 or all, and its answer (`None`: no answer).
    pub fn check_produce(
        &mut self,
        values: Vec<String>,
        timestamp_ms: i64,
        acks_all: bool,
        seen: ProduceSeen,
    ) -> Result<(), Violation> {
        if let Some(error) = ResponseError::try_from_code(seen.error_code) {
            if indeterminate(error) {
                self.uncertain = true;
                return Ok(());
            }
            return Err(PRODUCE_ACCEPTED.violated(format!(
                "a valid batch of {} records answered {error:?}",
                values.len()
            )));
        }
        if !self.uncertain {
            if let Some(end) = self.log_end() {
                if seen.base_offset != end {
                    return Err(BASE_OFFSET.violated(format!(
                        "the batch was acknowledged at base offset {}, but the log ended at {end} (the previous batch ended there)",
                        seen.base_offset
                    )));
                }
            }
        }
        if seen.base_offset < self.high_watermark_floor {
            return Err(BASE_OFFSET.violated(format!(
                "the batch was acknowledged at base offset {}, below the high watermark {} already reported",
                seen.base_offset, self.high_watermark_floor
            )));
        }
        let count = values.len() as i64;
        self.place(seen.base_offset, values, timestamp_ms);
        if acks_all {
            self.high_watermark_floor = self.high_watermark_floor.max(seen.base_offset + count);
        }
        Ok(())
    }

    /// Produce requests in flight together, each `(values, timestamp, answer)`.
    pub fn check_concurrent(
        &mut self,
        batches: Vec<(Vec<String>, i64, ProduceSeen)>,
        acks_all: bool,
    ) -> Result<(), Violation> {
        let mut acknowledged = Vec::new();
        for (values, timestamp_ms, seen) in batches {
            match ResponseError::try_from_code(seen.error_code) {
                None => acknowledged.push((seen.base_offset, values, timestamp_ms)),
                Some(error) if indeterminate(error) => self.uncertain = true,
                Some(error) => {
                    return Err(PRODUCE_ACCEPTED.violated(format!(
                        "a valid batch of {} records sent concurrently answered {error:?}",
                        values.len()
                    )))
                }
            }
        }
        acknowledged.sort_by_key(|(base, _, _)| *base);
        for pair in acknowledged.windows(2) {
            let (first_base, first_values, _) = &pair[0];
            let first_end = first_base + first_values.len() as i64;
            if pair[1].0 < first_end {
                return Err(CONCURRENT_TILING.violated(format!(
                    "two concurrent batches were both acknowledged over offset {}: one at {first_base}..{first_end}, the other from {}",
                    pair[1].0, pair[1].0
                )));
            }
            if pair[1].0 > first_end && !self.uncertain {
                return Err(CONCURRENT_TILING.violated(format!(
                    "concurrent batches left a gap: one ends at {first_end}, the next was acknowledged at {}",
                    pair[1].0
                )));
            }
        }
        for (base, values, timestamp_ms) in acknowledged {
            let seen = ProduceSeen {
                error_code: 0,
                base_offset: base,
            };
            self.check_produce(values, timestamp_ms, acks_all, seen)
                .map_err(|v| CONCURRENT_TILING.violated(v.message))?;
        }
        Ok(())
    }

    /// The offset a [`super::ops::FetchAt`] means now.
    pub fn fetch_offset(&self, at: super::ops::FetchAt) -> i64 {
        use super::ops::FetchAt;
        let start = self
            .log_start
            .or_else(|| self.case_start())
            .unwrap_or(self.high_watermark_floor);
        let end = self.log_end().unwrap_or(self.high_watermark_floor);
        match at {
            FetchAt::LogStart => start,
            FetchAt::LogEnd => end,
            FetchAt::InsideBatch { batch, record } => {
                let placed: Vec<&Batch> = self
                    .batches
                    .iter()
                    .filter(|b| b.base_offset.is_some())
                    .collect();
                if placed.is_empty() {
                    return end;
                }
                let b = placed[batch as usize % placed.len()];
                b.base_offset.unwrap_or(end) + i64::from(record) % b.values.len() as i64
            }
            FetchAt::PastEnd { beyond } => match self.log_end() {
                Some(end) if !self.uncertain => end + i64::from(beyond.max(1)),
                _ => FAR_PAST_END + i64::from(beyond),
            },
            FetchAt::BelowLogStart => self.log_start.unwrap_or(0) - 1,
        }
    }

    /// A consumer Fetch from `offset` and its answer.
    pub fn check_fetch(&mut self, offset: i64, seen: &FetchSeen) -> Result<(), Violation> {
        self.check_fetch_with(offset, seen, true)
    }

    /// One partition of a Fetch; `progress` says whether KIP-74's progress guarantee
    /// covers it (no partition before it in the response returned records).
    pub fn check_fetch_with(
        &mut self,
        offset: i64,
        seen: &FetchSeen,
        progress: bool,
    ) -> Result<(), Violation> {
        let below_start = offset < 0 || self.log_start.is_some_and(|s| offset < s);
        let past_end = offset >= FAR_PAST_END
            || (!self.uncertain && self.log_end().is_some_and(|end| offset > end));
        let out_of_range = ResponseError::OffsetOutOfRange.code();
        let maybe_deleted = self.log_start.is_none()
            && self
                .log_start_ceiling
                .is_some_and(|ceiling| offset < ceiling);
        if maybe_deleted && seen.error_code == out_of_range {
            return Ok(());
        }
        if below_start || past_end {
            if seen.error_code == out_of_range {
                return Ok(());
            }
            return Err(FETCH_RANGE.violated(format!(
                "a fetch from offset {offset} ({}) answered error code {} with {} records, not OFFSET_OUT_OF_RANGE",
                if below_start { "below the log start" } else { "past the log end" },
                seen.error_code,
                seen.records.len()
            )));
        }
        match ResponseError::try_from_code(seen.error_code) {
            None => {}
            Some(error) if error.is_retriable() => return Ok(()),
            Some(error) => {
                let inside = self.log_end().is_none_or(|end| offset <= end);
                if inside && !self.uncertain {
                    return Err(FETCH_RANGE.violated(format!(
                        "a fetch from offset {offset}, inside the log, answered {error:?}"
                    )));
                }
                return Ok(());
            }
        }
        self.check_high_watermark(seen.high_watermark, "the fetch")?;
        self.check_records(offset, seen, progress)?;
        self.high_watermark_floor = self.high_watermark_floor.max(seen.high_watermark);
        Ok(())
    }

    /// A reported high watermark against the floor and the log end.
    fn check_high_watermark(&self, reported: i64, by: &str) -> Result<(), Violation> {
        if reported < self.high_watermark_floor {
            return Err(HIGH_WATERMARK.violated(format!(
                "{by} reported high watermark {reported}, below {} (reported before, or acknowledged with acks=all)",
                self.high_watermark_floor
            )));
        }
        if let Some(end) = self.log_end().filter(|_| !self.uncertain) {
            if reported > end {
                return Err(HIGH_WATERMARK.violated(format!(
                    "{by} reported high watermark {reported}, past the log end {end}"
                )));
            }
        }
        Ok(())
    }

    fn check_records(
        &self,
        offset: i64,
        seen: &FetchSeen,
        progress: bool,
    ) -> Result<(), Violation> {
        let hw = seen.high_watermark;
        if let Some(r) = seen.records.iter().find(|r| r.offset >= hw) {
            return Err(FETCH_BELOW_HIGH_WATERMARK.violated(format!(
                "a fetch from offset {offset} returned the record at offset {} although it reported high watermark {hw}",
                r.offset
            )));
        }
        for pair in seen.records.windows(2) {
            if pair[1].offset <= pair[0].offset {
                return Err(FETCH_CONTENTS.violated(format!(
                    "records out of order: offset {} after {}",
                    pair[1].offset, pair[0].offset
                )));
            }
        }
        let case_start = self.case_start().filter(|_| !self.uncertain);
        if let Some(start) = case_start {
            let lowest_allowed = self
                .batch_at(offset)
                .and_then(|b| b.base_offset)
                .unwrap_or(offset);
            for (i, record) in seen.records.iter().enumerate() {
                if record.offset < offset && record.offset < lowest_allowed {
                    return Err(FETCH_CONTENTS.violated(format!(
                        "a fetch from offset {offset} returned offset {}, before the batch holding {offset}",
                        record.offset
                    )));
                }
                if record.offset < start {
                    continue;
                }
                if i > 0
                    && seen.records[i - 1].offset >= start
                    && record.offset != seen.records[i - 1].offset + 1
                {
                    return Err(FETCH_CONTENTS.violated(format!(
                        "records skip from offset {} to {}, but the case wrote every offset in between",
                        seen.records[i - 1].offset, record.offset
                    )));
                }
                self.check_value(record)?;
            }
        }
        if progress
            && offset < hw
            && offset >= case_start.unwrap_or(i64::MAX)
            && !seen.records.iter().any(|r| r.offset == offset)
        {
            return Err(FETCH_PROGRESS.violated(format!(
                "a fetch from offset {offset}, below the high watermark {hw}, did not return the record at {offset} ({} records returned)",
                seen.records.len()
            )));
        }
        Ok(())
    }

    fn check_value(&self, record: &SeenRecord) -> Result<(), Violation> {
        let Some(batch) = self.batch_at(record.offset) else {
            return Err(FETCH_CONTENTS.violated(format!(
                "a fetch returned offset {}, which no acknowledged batch of the case holds (the log ends at {:?})",
                record.offset,
                self.log_end()
            )));
        };
        let index = (record.offset - batch.base_offset.unwrap_or(0)) as usize;
        let expected = &batch.values[index];
        if record.value.as_deref() != Some(expected.as_str()) {
            return Err(FETCH_CONTENTS.violated(format!(
                "offset {} holds {:?}, but the batch acknowledged there wrote {expected:?}",
                record.offset, record.value
            )));
        }
        Ok(())
    }

    /// ListOffsets earliest.
    pub fn check_earliest(&mut self, offset: i64) -> Result<(), Violation> {
        if let Some(start) = self.log_start {
            if offset != start {
                return Err(LIST_OFFSETS.violated(format!(
                    "earliest answered {offset}, but the log start is {start} (answered before by earliest, or as DeleteRecords' low watermark) and nothing was deleted since"
                )));
            }
            return Ok(());
        }
        if let Some(ceiling) = self.log_start_ceiling {
            if !(0..=ceiling).contains(&offset) {
                return Err(LIST_OFFSETS.violated(format!(
                    "earliest answered {offset}, but no DeleteRecords asked past {ceiling}"
                )));
            }
            self.log_start = Some(offset);
            self.log_start_ceiling = None;
            return Ok(());
        }
        if offset < 0
            || self
                .case_start()
                .is_some_and(|s| offset > s && !self.uncertain)
        {
            return Err(LIST_OFFSETS.violated(format!(
                "earliest answered {offset}, after records the case wrote from {:?}",
                self.case_start()
            )));
        }
        self.log_start = Some(offset);
        Ok(())
    }

    /// ListOffsets latest (read_uncommitted: the high watermark).
    pub fn check_latest(&mut self, offset: i64) -> Result<(), Violation> {
        self.check_high_watermark(offset, "ListOffsets latest")
            .map_err(|v| LIST_OFFSETS.violated(v.message))?;
        self.high_watermark_floor = self.high_watermark_floor.max(offset);
        Ok(())
    }

    /// ListOffsets by timestamp `timestamp_ms`, answered `offset` (-1: none). Records at or
    /// past the high watermark may not be found yet (read_uncommitted answers stop there).
    pub fn check_timestamp(&self, timestamp_ms: i64, offset: i64) -> Result<(), Violation> {
        if self.uncertain {
            return Ok(());
        }
        let first = self
            .batches
            .iter()
            .find(|b| b.timestamp_ms >= timestamp_ms && b.base_offset.is_some());
        let Some(batch) = first else {
            return if offset == -1 || self.log_end().is_none() {
                Ok(())
            } else {
                Err(LIST_OFFSETS.violated(format!(
                    "timestamp {timestamp_ms} is after every record, but ListOffsets answered offset {offset} instead of -1"
                )))
            };
        };
        let base = batch.base_offset.unwrap_or(0);
        if offset == base || (offset == -1 && base >= self.high_watermark_floor) {
            return Ok(());
        }
        Err(LIST_OFFSETS.violated(format!(
            "timestamp {timestamp_ms}: the first record at or after it is offset {base} (its batch's timestamp is {}), but ListOffsets answered {offset}",
            batch.timestamp_ms
        )))
    }

    /// ListOffsets max timestamp (KIP-734): a record of the newest batch.
    pub fn check_max_timestamp(&self, offset: i64) -> Result<(), Violation> {
        let Some(last) = self.batches.last().filter(|_| !self.uncertain) else {
            return Ok(());
        };
        let Some(base) = last.base_offset else {
            return Ok(());
        };
        let end = base + last.values.len() as i64;
        if (base..end).contains(&offset) || (offset == -1 && base >= self.high_watermark_floor) {
            return Ok(());
        }
        Err(LIST_OFFSETS.violated(format!(
            "max timestamp answered offset {offset}, but the records with the largest timestamp are {base}..{end}"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("v{i}")).collect()
    }

    fn ok(base_offset: i64) -> ProduceSeen {
        ProduceSeen {
            error_code: 0,
            base_offset,
        }
    }

    fn fetched(high_watermark: i64, offsets: std::ops::Range<i64>, start: i64) -> FetchSeen {
        FetchSeen {
            error_code: 0,
            high_watermark,
            records: offsets
                .map(|o| SeenRecord {
                    offset: o,
                    value: Some(format!("v{}", o - start)),
                })
                .collect(),
        }
    }

    #[test]
    fn a_batch_must_start_at_the_log_end_and_the_next_one_right_after() {
        let mut model = PartitionModel::default();
        model.check_produce(values(3), 1, true, ok(10)).unwrap();
        assert_eq!(model.log_end(), Some(13));
        model.check_produce(values(2), 2, true, ok(13)).unwrap();
        let mut racy = model.clone();
        let v = racy.check_produce(values(2), 3, true, ok(16)).unwrap_err();
        assert_eq!(v.rule, BASE_OFFSET.id);
    }

    #[test]
    fn concurrent_batches_must_tile_the_log() {
        let mut model = PartitionModel::default();
        model.check_produce(values(1), 1, true, ok(0)).unwrap();
        let tiled = vec![(values(2), 2, ok(3)), (values(2), 2, ok(1))];
        model.clone().check_concurrent(tiled, true).unwrap();
        let overlapping = vec![(values(2), 2, ok(1)), (values(2), 2, ok(2))];
        let v = model.check_concurrent(overlapping, true).unwrap_err();
        assert_eq!(v.rule, CONCURRENT_TILING.id);
    }

    #[test]
    fn a_fetch_sees_what_was_written_below_the_high_watermark_only() {
        let mut model = PartitionModel::default();
        model.check_produce(values(4), 1, false, ok(20)).unwrap();
        // Whole batch from before the fetch offset, below the high watermark: allowed.
        model
            .clone()
            .check_fetch(22, &fetched(24, 20..24, 20))
            .unwrap();
        // An empty answer below the high watermark breaks KIP-74's progress.
        let v = model
            .clone()
            .check_fetch(22, &fetched(24, 0..0, 20))
            .unwrap_err();
        assert_eq!(v.rule, FETCH_PROGRESS.id);
        // A record at the high watermark reported.
        let v = model
            .clone()
            .check_fetch(20, &fetched(22, 20..24, 20))
            .unwrap_err();
        assert_eq!(v.rule, FETCH_BELOW_HIGH_WATERMARK.id);
        // A different value at an acknowledged offset.
        let mut wrong = fetched(24, 20..24, 20);
        wrong.records[1].value = Some("other".into());
        let v = model.check_fetch(20, &wrong).unwrap_err();
        assert_eq!(v.rule, FETCH_CONTENTS.id);
    }

    #[test]
    fn past_the_end_is_out_of_range_and_the_end_itself_is_not() {
        let mut model = PartitionModel::default();
        model.check_produce(values(2), 1, true, ok(5)).unwrap();
        let out_of_range = FetchSeen {
            error_code: ResponseError::OffsetOutOfRange.code(),
            high_watermark: -1,
            records: Vec::new(),
        };
        model.clone().check_fetch(8, &out_of_range).unwrap();
        let v = model
            .clone()
            .check_fetch(8, &fetched(7, 0..0, 0))
            .unwrap_err();
        assert_eq!(v.rule, FETCH_RANGE.id);
        model.check_fetch(7, &fetched(7, 0..0, 0)).unwrap();
    }

    #[test]
    fn the_high_watermark_covers_acks_all_and_never_goes_back() {
        let mut model = PartitionModel::default();
        model.check_produce(values(2), 1, true, ok(0)).unwrap();
        let v = model.clone().check_latest(1).unwrap_err();
        assert_eq!(v.rule, LIST_OFFSETS.id);
        model.check_latest(2).unwrap();
        let v = model.check_fetch(0, &fetched(1, 0..1, 0)).unwrap_err();
        assert_eq!(v.rule, HIGH_WATERMARK.id);
    }
}
