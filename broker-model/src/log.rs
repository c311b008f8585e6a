//! A partition's log and its leader-epoch cache, as pure data.
//!
//! The log holds record batches exactly as the leader wrote them (Kafka protocol guide,
//! "Record Batch": the producer's bytes, compression and headers included, with the base
//! offset and partition leader epoch the leader assigned), plus a decoded view of each
//! record for the broker's own readers (producer state, timestamps, the group coordinator).
//! The epoch cache maps each leader epoch to the first offset written in it, exactly as
//! Kafka's `leader-epoch-checkpoint` (KIP-101). Followers truncate by it after a leader
//! change, never to the high watermark.

use bytes::Bytes;
use kafka_protocol::records::{Record, TimestampType};

use faultline_wire::batch::{decode_batch, split_batches, Batch};
use faultline_wire::records::{encode_records, CorruptRecords};

use crate::txn::index::{self, ControlType, TransactionIndex, TransactionalBatch};

/// Marks an unknown epoch or offset, as the protocol does (`UNDEFINED_EPOCH` = -1).
pub const UNDEFINED: i64 = -1;

/// One record as stored, decoded from its batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogEntry {
    /// Its offset in the partition.
    pub offset: i64,
    /// The leader epoch in which the leader appended it.
    pub leader_epoch: i32,
    /// Its timestamp: the producer's (CreateTime) or the leader's append time.
    pub timestamp: i64,
    /// Record key.
    pub key: Option<Bytes>,
    /// Record value.
    pub value: Option<Bytes>,
    /// Idempotent producer id, or -1.
    pub producer_id: i64,
    /// Idempotent producer epoch, or -1.
    pub producer_epoch: i16,
    /// Sequence number within the producer's partition stream, or -1.
    pub sequence: i32,
}

/// One record batch as stored: the bytes a fetch returns and replicas copy, and the header
/// fields the log indexes by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredBatch {
    /// Offset of its first record.
    pub base_offset: i64,
    /// Offset of its last record.
    pub last_offset: i64,
    /// The leader epoch it was appended in.
    pub leader_epoch: i32,
    /// Its largest record timestamp (the append time under LogAppendTime).
    pub max_timestamp: i64,
    /// The whole v2 batch, header included.
    pub bytes: Bytes,
}

impl StoredBatch {
    /// A batch as read from the wire (a leader's rewritten batch, or a follower's fetch).
    pub fn from_wire(batch: &Batch) -> Self {
        StoredBatch {
            base_offset: batch.header.base_offset,
            last_offset: batch.header.last_offset(),
            leader_epoch: batch.header.partition_leader_epoch,
            max_timestamp: batch.header.max_timestamp,
            bytes: batch.bytes.clone(),
        }
    }

    /// The broker's own records (metadata, committed offsets) as one uncompressed batch.
    /// They must be contiguous and of one leader epoch and producer.
    pub fn from_entries(entries: &[LogEntry]) -> Self {
        let first = entries.first().expect("a batch holds at least one record");
        for (i, entry) in entries.iter().enumerate() {
            assert_eq!(
                entry.offset,
                first.offset + i as i64,
                "batch offsets are contiguous"
            );
            assert_eq!(
                entry.leader_epoch, first.leader_epoch,
                "one epoch per batch"
            );
            assert_eq!(
                entry.producer_id, first.producer_id,
                "one producer per batch"
            );
        }
        let records: Vec<Record> = entries
            .iter()
            .enumerate()
            .map(|(i, entry)| Record {
                // The encoder keeps records in one batch while offset minus sequence is
                // constant; without a producer the base sequence is -1 (KIP-98).
                sequence: if entry.producer_id < 0 {
                    (i as i32) - 1
                } else {
                    entry.sequence
                },
                ..entry_to_record(entry)
            })
            .collect();
        let bytes = encode_records(&records);
        let batches = split_batches(&bytes).expect("our own encoding splits");
        assert_eq!(batches.len(), 1, "one epoch and producer make one batch");
        StoredBatch::from_wire(&batches[0])
    }

    /// Its records as log entries. Fails only on bytes that did not come from a leader
    /// (a corrupt disk or a broken peer).
    pub fn decode(&self) -> Result<Vec<LogEntry>, CorruptRecords> {
        let entries = match crate::decoded::recall(&self.bytes) {
            Some(entries) => {
                debug_assert_eq!(
                    Ok(&entries),
                    decode_bytes(&self.bytes).as_ref(),
                    "a remembered decoding is the decoding"
                );
                entries
            }
            None => {
                let entries = decode_bytes(&self.bytes)?;
                crate::decoded::remember(&self.bytes, &self.bytes, &entries);
                entries
            }
        };
        let contiguous = entries
            .iter()
            .enumerate()
            .all(|(i, e)| e.offset == self.base_offset + i as i64)
            && entries.last().map(|e| e.offset) == Some(self.last_offset);
        if !contiguous {
            return Err(CorruptRecords(
                "record offsets do not run from the base to the last offset".into(),
            ));
        }
        Ok(entries)
    }

    /// Records in it.
    pub fn record_count(&self) -> i64 {
        self.last_offset - self.base_offset + 1
    }
}

/// The records of the one batch `bytes` hold, as log entries.
fn decode_bytes(bytes: &Bytes) -> Result<Vec<LogEntry>, CorruptRecords> {
    let batches = split_batches(bytes)?;
    let [batch] = batches.as_slice() else {
        return Err(CorruptRecords(format!(
            "{} batches where one was stored",
            batches.len()
        )));
    };
    Ok(decode_batch(batch)?.iter().map(record_to_entry).collect())
}

/// Converts a stored entry to a wire record.
pub fn entry_to_record(entry: &LogEntry) -> Record {
    Record {
        transactional: false,
        control: false,
        delete_horizon: false,
        partition_leader_epoch: entry.leader_epoch,
        producer_id: entry.producer_id,
        producer_epoch: entry.producer_epoch,
        timestamp_type: TimestampType::Creation,
        offset: entry.offset,
        sequence: entry.sequence,
        timestamp: entry.timestamp,
        key: entry.key.clone(),
        value: entry.value.clone(),
        headers: Default::default(),
    }
}

/// Converts a wire record to a stored entry (offset and epoch as the record says). A record
/// without a producer has no sequence (the decoder numbers them on from the header's -1).
pub fn record_to_entry(record: &Record) -> LogEntry {
    let sequence = if record.producer_id < 0 {
        -1
    } else {
        record.sequence
    };
    LogEntry {
        offset: record.offset,
        leader_epoch: record.partition_leader_epoch,
        timestamp: record.timestamp,
        key: record.key.clone(),
        value: record.value.clone(),
        producer_id: record.producer_id,
        producer_epoch: record.producer_epoch,
        sequence,
    }
}

/// The transaction facts of a batch, if it is transactional (KIP-98): one header read for
/// every other batch.
fn transactional_batch(batch: &StoredBatch, entries: &[LogEntry]) -> Option<TransactionalBatch> {
    let attributes = index::attributes(&batch.bytes);
    if !index::is_transactional(attributes) {
        return None;
    }
    let first = entries.first()?;
    // A control record of a type we do not know is no transaction marker.
    let marker = if index::is_control(attributes) {
        Some(first.key.as_deref().and_then(ControlType::from_key)?)
    } else {
        None
    };
    Some(TransactionalBatch {
        base_offset: batch.base_offset,
        producer_id: first.producer_id,
        producer_epoch: first.producer_epoch,
        marker,
    })
}

/// What a read of the log returns: whole batches (KIP-74).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReadBatches {
    /// The batches, concatenated.
    pub bytes: Bytes,
    /// How many batches.
    pub batch_count: usize,
    /// How many records they hold (some may lie before the offset asked for).
    pub record_count: i64,
}

/// The log of one partition replica: batches from offset 0 (DeleteRecords only moves the
/// log start offset), their records decoded, and the epoch cache.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PartitionLog {
    /// Every record, `entries[i].offset == i`.
    entries: Vec<LogEntry>,
    /// The batches holding `entries`, in order, without gaps.
    batches: Vec<StoredBatch>,
    /// `(leader_epoch, start_offset)`, strictly increasing in both.
    epochs: Vec<(i32, i64)>,
    /// The first offset a consumer may read (Kafka's `logStartOffset`; DeleteRecords,
    /// KIP-107, moves it forward).
    log_start_offset: i64,
    /// Open and aborted transactions, derived from the batches (KIP-98).
    transactions: TransactionIndex,
}

impl PartitionLog {
    /// Rebuilds a log (and its epoch cache) from recovered entries, one batch per entry.
    pub fn from_entries(entries: Vec<LogEntry>) -> Self {
        let mut log = PartitionLog::default();
        for entry in entries {
            log.push(entry);
        }
        log
    }

    /// Rebuilds a log from recovered batches. Recovery stops at the first batch that does
    /// not decode or does not continue the log, as Kafka's log recovery cuts a segment at
    /// the first invalid batch (`LogSegment.recover`).
    pub fn from_batches(batches: Vec<StoredBatch>, log_start_offset: i64) -> Self {
        let mut log = PartitionLog::default();
        for batch in batches {
            if batch.base_offset != log.end_offset() {
                break;
            }
            let Ok(entries) = batch.decode() else {
                break;
            };
            log.push_batch(batch, entries);
        }
        log.advance_log_start(log_start_offset.min(log.end_offset()));
        log
    }

    /// The log end offset (LEO): the offset the next record will get.
    pub fn end_offset(&self) -> i64 {
        self.entries.len() as i64
    }

    /// The first offset a consumer may read.
    pub fn log_start_offset(&self) -> i64 {
        self.log_start_offset
    }

    /// The entries from `offset` on (empty past the end).
    pub fn read_from(&self, offset: i64, limit: usize) -> &[LogEntry] {
        let start = (offset.max(0) as usize).min(self.entries.len());
        let end = start.saturating_add(limit).min(self.entries.len());
        &self.entries[start..end]
    }

    /// All entries.
    pub fn entries(&self) -> &[LogEntry] {
        &self.entries
    }

    /// All batches.
    pub fn batches(&self) -> &[StoredBatch] {
        &self.batches
    }

    /// The batches from the one holding `offset` on, wholly below `upper_offset`: the first
    /// always (KIP-74: "if the first record batch in the first non-empty partition of the
    /// fetch is larger than this limit, the batch will still be returned") when
    /// `first_always`, then each next one while the total stays within `max_bytes` and
    /// fewer than `max_records` records were taken.
    pub fn read_batches(
        &self,
        offset: i64,
        upper_offset: i64,
        max_bytes: usize,
        first_always: bool,
        max_records: i64,
    ) -> ReadBatches {
        let first = self.batches.partition_point(|b| b.last_offset < offset);
        let mut taken: Vec<&StoredBatch> = Vec::new();
        let mut size = 0usize;
        let mut records = 0i64;
        for batch in &self.batches[first..] {
            // A batch is returned only once all of it is below the bound: a consumer never
            // sees a record past the high watermark inside a batch.
            if batch.last_offset >= upper_offset || records >= max_records {
                break;
            }
            let fits = size + batch.bytes.len() <= max_bytes;
            if !(fits || (first_always && taken.is_empty())) {
                break;
            }
            size += batch.bytes.len();
            records += batch.record_count();
            taken.push(batch);
        }
        let bytes = match taken.as_slice() {
            [] => Bytes::new(),
            [one] => one.bytes.clone(),
            many => {
                let mut joined = Vec::with_capacity(size);
                for batch in many {
                    joined.extend_from_slice(&batch.bytes);
                }
                Bytes::from(joined)
            }
        };
        ReadBatches {
            bytes,
            batch_count: taken.len(),
            record_count: records,
        }
    }

    /// The batches from `offset` on, for a disk write after an append.
    pub fn batches_from(&self, offset: i64) -> &[StoredBatch] {
        let first = self.batches.partition_point(|b| b.base_offset < offset);
        &self.batches[first..]
    }

    /// The batch holding `offset`, if any.
    pub fn batch_containing(&self, offset: i64) -> Option<&StoredBatch> {
        let index = self.batches.partition_point(|b| b.last_offset < offset);
        self.batches.get(index).filter(|b| b.base_offset <= offset)
    }

    /// Appends one entry at the end as a batch of its own; its offset must be the log end.
    pub fn push(&mut self, entry: LogEntry) {
        let batch = StoredBatch::from_entries(std::slice::from_ref(&entry));
        self.push_batch(batch, vec![entry]);
    }

    /// Appends a batch and its decoded records at the log end.
    pub fn push_batch(&mut self, batch: StoredBatch, entries: Vec<LogEntry>) {
        assert_eq!(
            batch.base_offset,
            self.end_offset(),
            "log appends are contiguous"
        );
        assert!(
            batch.last_offset >= batch.base_offset,
            "a batch holds records"
        );
        assert_eq!(
            entries.len() as i64,
            batch.record_count(),
            "a batch's records fill its offsets"
        );
        for (i, entry) in entries.iter().enumerate() {
            assert_eq!(
                entry.offset,
                batch.base_offset + i as i64,
                "offsets are contiguous"
            );
            assert_eq!(
                entry.leader_epoch, batch.leader_epoch,
                "one epoch per batch"
            );
        }
        self.note_epoch(batch.leader_epoch, batch.base_offset);
        if let Some(facts) = transactional_batch(&batch, &entries) {
            self.transactions.on_batch(facts);
        }
        self.entries.extend(entries);
        self.batches.push(batch);
    }

    /// Moves the log start offset forward to `offset` (DeleteRecords, KIP-107; a follower
    /// takes its leader's). Never backwards, never past the log end.
    pub fn advance_log_start(&mut self, offset: i64) {
        assert!(
            offset <= self.end_offset(),
            "log start {offset} past the log end {}",
            self.end_offset()
        );
        self.log_start_offset = self.log_start_offset.max(offset);
    }

    /// The first record below `upper_offset`, from the log start, whose timestamp is at
    /// least `target`: `(offset, timestamp)` (ListOffsets by timestamp, KIP-79).
    pub fn offset_for_timestamp(&self, target: i64, upper_offset: i64) -> Option<(i64, i64)> {
        self.visible(upper_offset)
            .iter()
            .find(|e| e.timestamp >= target)
            .map(|e| (e.offset, e.timestamp))
    }

    /// The record with the largest timestamp in the whole log, the earliest of equals —
    /// `(offset, timestamp)` — if it lies below `upper_offset` (ListOffsets `MAX_TIMESTAMP`,
    /// KIP-734). As Kafka's `Partition.fetchOffsetForTimestamp` does, the search covers the
    /// log to its end and the answer is then dropped when it is not yet fetchable (at or
    /// past the high watermark): an older record below the high watermark is *not* the
    /// record with the largest timestamp, so answering it would be wrong (found by the
    /// model-based suite, `model.list-offsets`).
    pub fn max_timestamp(&self, upper_offset: i64) -> Option<(i64, i64)> {
        let mut best: Option<&LogEntry> = None;
        for entry in self.visible(self.end_offset()) {
            if best.is_none_or(|b| entry.timestamp > b.timestamp) {
                best = Some(entry);
            }
        }
        best.filter(|e| e.offset < upper_offset)
            .map(|e| (e.offset, e.timestamp))
    }

    /// Entries from the log start to `upper_offset`.
    fn visible(&self, upper_offset: i64) -> &[LogEntry] {
        let start = self.log_start_offset.max(0) as usize;
        let end = (upper_offset.max(0) as usize).min(self.entries.len());
        &self.entries[start.min(end)..end]
    }

    /// Records that `leader_epoch` begins at `start_offset`, if it is newer than any known.
    /// A new leader does this on election even before it appends (Kafka's
    /// `LeaderEpochFileCache.assign`).
    pub fn note_epoch(&mut self, leader_epoch: i32, start_offset: i64) {
        match self.epochs.last() {
            Some(&(last, _)) if last >= leader_epoch => {}
            _ => self.epochs.push((leader_epoch, start_offset)),
        }
    }

    /// Drops every batch holding an offset at or after `offset`, and the epochs that begin
    /// there (`LeaderEpochFileCache.truncateFromEnd`). A batch is never split: a cut inside
    /// one drops it whole (Kafka's `LogSegment.truncateTo` cuts at the batch holding the
    /// offset), so the new end may lie below `offset`.
    pub fn truncate_to(&mut self, offset: i64) {
        let offset = offset.clamp(0, self.end_offset());
        let keep = self.batches.partition_point(|b| b.last_offset < offset);
        let end = self
            .batches
            .get(keep)
            .map_or(self.end_offset(), |b| b.base_offset);
        assert!(end <= offset, "truncation keeps nothing at or past the cut");
        self.batches.truncate(keep);
        self.entries.truncate(end as usize);
        self.epochs.retain(|&(_, start)| start < end);
        self.log_start_offset = self.log_start_offset.min(end);
        let entries = &self.entries;
        self.transactions = TransactionIndex::rebuild(
            self.batches
                .iter()
                .filter_map(|b| transactional_batch(b, &entries[b.base_offset as usize..])),
        );
    }

    /// Open and aborted transactions (KIP-98).
    pub fn transactions(&self) -> &TransactionIndex {
        &self.transactions
    }

    /// The newest leader epoch this log knows, or -1.
    pub fn latest_epoch(&self) -> i32 {
        self.epochs
            .last()
            .map(|&(epoch, _)| epoch)
            .unwrap_or(UNDEFINED as i32)
    }

    /// Answers OffsetForLeaderEpoch for `requested`: the largest known epoch ≤ `requested`
    /// and the end offset of that epoch (the start of the next epoch, or the log end for
    /// the latest). `(-1, -1)` if every known epoch is newer (KIP-101, KIP-279).
    pub fn end_offset_for_epoch(&self, requested: i32) -> (i32, i64) {
        let position = self
            .epochs
            .iter()
            .rposition(|&(epoch, _)| epoch <= requested);
        match position {
            None => (UNDEFINED as i32, UNDEFINED),
            Some(i) => {
                let end = match self.epochs.get(i + 1) {
                    Some(&(_, next_start)) => next_start,
                    None => self.end_offset(),
                };
                (self.epochs[i].0, end)
            }
        }
    }

    /// What a follower does with the leader's answer `(epoch, end_offset)` to its
    /// OffsetForLeaderEpoch request: cut at both sides' end of the largest common epoch,
    /// or ask again about an older epoch when it does not hold the one the leader named
    /// (KIP-279, which fixed KIP-101's divergence after fast successive failovers).
    pub fn divergence(&self, leader_epoch: i32, leader_end_offset: i64) -> Divergence {
        if leader_epoch < 0 || leader_end_offset < 0 {
            // The leader knows no epoch as old as ours: nothing we hold is shared.
            return Divergence::TruncateTo(0);
        }
        let (own_epoch, own_end) = self.end_offset_for_epoch(leader_epoch);
        if own_epoch < 0 {
            Divergence::TruncateTo(0)
        } else if own_epoch == leader_epoch {
            Divergence::TruncateTo(own_end.min(leader_end_offset))
        } else {
            Divergence::AskAgain(own_epoch)
        }
    }
}

/// A follower's next step in finding where its log diverges from the leader's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Divergence {
    /// Truncate to this offset, then fetch.
    TruncateTo(i64),
    /// Ask the leader about this (older) epoch.
    AskAgain(i32),
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(offset: i64, epoch: i32) -> LogEntry {
        LogEntry {
            offset,
            leader_epoch: epoch,
            timestamp: 0,
            key: None,
            value: None,
            producer_id: -1,
            producer_epoch: -1,
            sequence: -1,
        }
    }

    fn log_of(epochs: &[i32]) -> PartitionLog {
        PartitionLog::from_entries(
            epochs
                .iter()
                .enumerate()
                .map(|(o, &e)| entry(o as i64, e))
                .collect(),
        )
    }

    /// KIP-734 as Kafka answers it: the record with the largest timestamp in the whole
    /// log, or none while that record is not yet below the high watermark — never an older
    /// record that happens to be below it (the model-based suite's `model.list-offsets`
    /// caught the latter).
    #[test]
    fn max_timestamp_is_the_newest_record_or_none_until_it_is_committed() {
        let timestamps = [10, 30, 20, 50, 40];
        let log = PartitionLog::from_entries(
            timestamps
                .iter()
                .enumerate()
                .map(|(o, &t)| LogEntry {
                    timestamp: t,
                    ..entry(o as i64, 0)
                })
                .collect(),
        );
        assert_eq!(log.max_timestamp(5), Some((3, 50)));
        assert_eq!(log.max_timestamp(4), Some((3, 50)));
        assert_eq!(
            log.max_timestamp(3),
            None,
            "offset 3 is not below the HW yet"
        );
        assert_eq!(log.max_timestamp(0), None);
    }

    #[test]
    fn end_offset_for_epoch_follows_kip_101() {
        let log = log_of(&[0, 0, 2, 2, 2, 5]);
        assert_eq!(log.end_offset_for_epoch(0), (0, 2));
        assert_eq!(
            log.end_offset_for_epoch(1),
            (0, 2),
            "epoch 1 unknown: answer for epoch 0"
        );
        assert_eq!(log.end_offset_for_epoch(2), (2, 5));
        assert_eq!(log.end_offset_for_epoch(7), (5, 6));
        assert_eq!(log_of(&[3]).end_offset_for_epoch(1), (-1, -1));
    }

    /// KIP-279's scenario: two fast failovers leave a follower with a suffix from an epoch
    /// the new leader never saw; the follower must cut at the last common epoch's end.
    #[test]
    fn divergence_point_follows_kip_279() {
        let follower = log_of(&[0, 0, 1, 1]);
        let leader = log_of(&[0, 0, 0, 2]);
        let (epoch, end) = leader.end_offset_for_epoch(follower.latest_epoch());
        assert_eq!((epoch, end), (0, 3));
        assert_eq!(follower.divergence(epoch, end), Divergence::TruncateTo(2));
    }

    /// A follower that never saw the epoch the leader names asks again about its own
    /// older epoch rather than keeping records the leader overwrote.
    #[test]
    fn divergence_asks_again_about_an_epoch_it_lacks() {
        let follower = log_of(&[0, 0, 0, 3]);
        let leader = log_of(&[0, 2, 2]);
        let (epoch, end) = leader.end_offset_for_epoch(follower.latest_epoch());
        assert_eq!(follower.divergence(epoch, end), Divergence::AskAgain(0));
        let (epoch, end) = leader.end_offset_for_epoch(0);
        assert_eq!(follower.divergence(epoch, end), Divergence::TruncateTo(1));
    }

    #[test]
    fn truncation_drops_epochs_that_begin_past_the_cut() {
        let mut log = log_of(&[0, 1, 1, 2]);
        log.truncate_to(2);
        assert_eq!(log.latest_epoch(), 1);
        assert_eq!(log.end_offset(), 2);
        log.truncate_to(1);
        assert_eq!(log.latest_epoch(), 0);
    }
}
