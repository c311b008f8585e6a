//! One transactional id's state, and the record that persists it in `__transaction_state`.
//!
//! KIP-98's coordinator state machine (Kafka's `TransactionState`, `TransactionMetadata`):
//!
//! ```text
//! Empty ──AddPartitions──> Ongoing ──EndTxn(commit)──> PrepareCommit ──markers──> CompleteCommit
//!   ^                        │    └──EndTxn(abort) / timeout / fencing──> PrepareAbort ──markers──> CompleteAbort
//!   └──InitProducerId────────┴── (from Empty or Complete*; from Ongoing it aborts first)
//! ```
//!
//! Every transition is first written to the transactional id's `__transaction_state`
//! partition and takes effect only once that record is replicated (Kafka's
//! `TransactionStateManager.appendTransactionToLog` with acks=-1), so a new coordinator
//! loading the partition after a failover finds every acknowledged state, and completes
//! the Prepare* ones by writing their markers.

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use crate::log::LogEntry;
use crate::storage::TopicPartition;

/// Where a transaction stands (Kafka's `TransactionState`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum TransactionState {
    /// A producer id and epoch, no transaction open.
    Empty,
    /// Partitions added: a transaction is open.
    Ongoing,
    /// EndTxn(commit) accepted: COMMIT markers being written.
    PrepareCommit,
    /// Aborting (EndTxn(abort), a timeout, or a fencing InitProducerId): ABORT markers
    /// being written.
    PrepareAbort,
    /// Every COMMIT marker written.
    CompleteCommit,
    /// Every ABORT marker written.
    CompleteAbort,
}

impl TransactionState {
    /// Kafka's name of the state (DescribeTransactions, ListTransactions).
    pub fn name(self) -> &'static str {
        match self {
            TransactionState::Empty => "Empty",
            TransactionState::Ongoing => "Ongoing",
            TransactionState::PrepareCommit => "PrepareCommit",
            TransactionState::PrepareAbort => "PrepareAbort",
            TransactionState::CompleteCommit => "CompleteCommit",
            TransactionState::CompleteAbort => "CompleteAbort",
        }
    }

    /// Whether markers are being written (the client must wait: CONCURRENT_TRANSACTIONS).
    pub fn is_preparing(self) -> bool {
        matches!(
            self,
            TransactionState::PrepareCommit | TransactionState::PrepareAbort
        )
    }
}

/// One transactional id's metadata, as persisted (a JSON record value; Kafka's is a
/// versioned binary `TransactionLogValue`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransactionMetadata {
    /// The transactional id.
    pub transactional_id: String,
    /// Its producer id.
    pub producer_id: i64,
    /// Its current producer epoch; older epochs are fenced.
    pub producer_epoch: i16,
    /// `transaction.timeout.ms` the producer asked for at InitProducerId.
    pub timeout_ms: i32,
    /// The state.
    pub state: TransactionState,
    /// The partitions of the open (or ending) transaction, in the order added.
    pub partitions: Vec<TopicPartition>,
    /// When the open transaction began, on the coordinator's clock; not persisted (a new
    /// coordinator restarts the timeout from its load: clocks differ between brokers).
    #[serde(skip)]
    pub started_ms: u64,
}

impl TransactionMetadata {
    /// As a `__transaction_state` log entry keyed by the transactional id (offset and
    /// epoch are the leader's to fill in).
    pub fn to_entry(&self) -> LogEntry {
        LogEntry {
            offset: 0,
            leader_epoch: -1,
            timestamp: 0,
            key: Some(Bytes::from(self.transactional_id.clone())),
            value: Some(Bytes::from(
                serde_json::to_vec(self).expect("transaction metadata serializes"),
            )),
            producer_id: -1,
            producer_epoch: -1,
            sequence: -1,
        }
    }

    /// Reads one back; anything else in the log is skipped.
    pub fn from_entry(entry: &LogEntry) -> Option<TransactionMetadata> {
        serde_json::from_slice(entry.value.as_deref()?).ok()
    }

    /// The epoch after a bump, or `None` when the epoch is exhausted and the producer needs
    /// a new producer id (KIP-360: epochs below `i16::MAX`).
    pub fn bumped_epoch(&self) -> Option<i16> {
        (self.producer_epoch < i16::MAX - 1).then(|| self.producer_epoch + 1)
    }

    /// The same transaction ending: commit or abort, with `epoch` (bumped when the
    /// coordinator fences the producer, KIP-98/KIP-588).
    pub fn preparing(&self, commit: bool, epoch: i16) -> TransactionMetadata {
        TransactionMetadata {
            producer_epoch: epoch,
            state: if commit {
                TransactionState::PrepareCommit
            } else {
                TransactionState::PrepareAbort
            },
            ..self.clone()
        }
    }

    /// The transaction ended: every marker written.
    pub fn completed(&self) -> TransactionMetadata {
        let state = match self.state {
            TransactionState::PrepareCommit => TransactionState::CompleteCommit,
            TransactionState::PrepareAbort => TransactionState::CompleteAbort,
            other => panic!("completing a transaction in state {other:?}"),
        };
        TransactionMetadata {
            state,
            partitions: Vec::new(),
            ..self.clone()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ongoing() -> TransactionMetadata {
        TransactionMetadata {
            transactional_id: "t".into(),
            producer_id: 4,
            producer_epoch: 2,
            timeout_ms: 60_000,
            state: TransactionState::Ongoing,
            partitions: vec![("events".into(), 0), ("events".into(), 1)],
            started_ms: 10,
        }
    }

    /// The persisted record round-trips (the clock-relative start does not travel).
    #[test]
    fn metadata_round_trips_through_its_record() {
        let read = TransactionMetadata::from_entry(&ongoing().to_entry()).unwrap();
        assert_eq!(
            read,
            TransactionMetadata {
                started_ms: 0,
                ..ongoing()
            }
        );
    }

    /// KIP-98: Ongoing → Prepare* → Complete*, the partitions kept until complete.
    #[test]
    fn kip_98_prepare_then_complete() {
        let prepared = ongoing().preparing(true, 2);
        assert_eq!(prepared.state, TransactionState::PrepareCommit);
        assert_eq!(prepared.partitions.len(), 2);
        let done = prepared.completed();
        assert_eq!(done.state, TransactionState::CompleteCommit);
        assert!(done.partitions.is_empty());
        let fenced = ongoing().preparing(false, 3);
        assert_eq!(
            (fenced.state, fenced.producer_epoch),
            (TransactionState::PrepareAbort, 3)
        );
    }
}
