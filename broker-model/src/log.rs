//! A partition's log and its leader-epoch cache, as pure data.
//!
//! The epoch cache maps each leader epoch to the first offset written in it, exactly as
//! Kafka's `leader-epoch-checkpoint` (KIP-101). Followers truncate by it after a leader
//! change, never to the high watermark.

use bytes::Bytes;

/// Marks an unknown epoch or offset, as the protocol does (`UNDEFINED_EPOCH` = -1).
pub const UNDEFINED: i64 = -1;

/// One record as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogEntry {
    /// Its offset in the partition.
    pub offset: i64,
    /// The leader epoch in which the leader appended it.
    pub leader_epoch: i32,
    /// Producer-supplied timestamp.
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

/// The log of one partition replica: entries from offset 0 (we never delete) and the
/// epoch cache.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PartitionLog {
    entries: Vec<LogEntry>,
    /// `(leader_epoch, start_offset)`, strictly increasing in both.
    epochs: Vec<(i32, i64)>,
}

impl PartitionLog {
    /// Rebuilds a log (and its epoch cache) from recovered entries.
    pub fn from_entries(entries: Vec<LogEntry>) -> Self {
        let mut log = PartitionLog::default();
        for entry in entries {
            log.push(entry);
        }
        log
    }

    /// The log end offset (LEO): the offset the next record will get.
    pub fn end_offset(&self) -> i64 {
        self.entries.len() as i64
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

    /// Appends one entry at the end; its offset must be the log end offset.
    pub fn push(&mut self, entry: LogEntry) {
        assert_eq!(
            entry.offset,
            self.end_offset(),
            "log appends are contiguous"
        );
        self.note_epoch(entry.leader_epoch, entry.offset);
        self.entries.push(entry);
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

    /// Drops every entry at or after `offset`, and the epochs that begin there
    /// (`LeaderEpochFileCache.truncateFromEnd`).
    pub fn truncate_to(&mut self, offset: i64) {
        let offset = offset.clamp(0, self.end_offset());
        self.entries.truncate(offset as usize);
        self.epochs.retain(|&(_, start)| start < offset);
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
