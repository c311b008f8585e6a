//! The transaction coordinator: the transactional ids of the `__transaction_state`
//! partitions this broker leads, their state machines (KIP-98), and the work that is
//! left: transitions waiting for replication, markers to write, transactions timing out.
//!
//! Sans-IO. A request handler asks for a decision (`init`, `add_partitions`, `end`), the
//! caller appends the resulting metadata to the partition and registers it as pending;
//! once the high watermark passes it, [`TransactionCoordinator::apply`] makes it current
//! (Kafka's `TransactionMetadata.pendingState` and `completeTransitionTo`). A transactional
//! id with a pending transition refuses every other request with CONCURRENT_TRANSACTIONS.

use std::collections::{BTreeMap, BTreeSet};

use faultline_wire::ResponseError;

use crate::log::LogEntry;
use crate::partition::Appended;
use crate::storage::TopicPartition;
use crate::txn::index::ControlType;
use crate::txn::marker::Marker;
use crate::txn::metadata::{TransactionMetadata, TransactionState};
use crate::txn::{partition_for, TRANSACTION_MAX_TIMEOUT_MS};

/// A transition written to `__transaction_state`, not yet replicated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingTransition {
    /// The metadata it makes current.
    pub target: TransactionMetadata,
    /// Where it was appended.
    pub appended: Appended,
}

/// What InitProducerId decided for a transactional id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InitDecision {
    /// Write this metadata; answer with its producer id and epoch once replicated.
    Write(TransactionMetadata),
    /// An open transaction must be aborted first (fencing its producer with a bumped
    /// epoch): write this PrepareAbort and answer CONCURRENT_TRANSACTIONS, so that the
    /// client retries once the abort completed (Kafka's `handleInitProducerId`).
    AbortFirst(TransactionMetadata),
}

/// One preparing transaction's markers to write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MarkerJob {
    /// The transactional id.
    pub transactional_id: String,
    /// The marker.
    pub marker: Marker,
    /// The partitions still without it.
    pub partitions: Vec<TopicPartition>,
}

/// The transactional ids this broker coordinates.
#[derive(Debug, Clone, Default)]
pub struct TransactionCoordinator {
    /// `__transaction_state` partition count.
    pub partitions: i32,
    /// Partitions led here, with the leader epoch they were loaded in (the coordinator
    /// epoch markers carry).
    loaded: BTreeMap<i32, i32>,
    /// Current (replicated) metadata by transactional id.
    transactions: BTreeMap<String, TransactionMetadata>,
    /// Transitions waiting for replication, by transactional id.
    pending: BTreeMap<String, PendingTransition>,
    /// Preparing transactions' partitions whose marker is not yet written.
    markers_left: BTreeMap<String, BTreeSet<TopicPartition>>,
    /// Transactional ids whose markers are being sent now.
    markers_in_flight: BTreeSet<String>,
}

/// The error a fenced producer gets: PRODUCER_FENCED where the request version knows it,
/// INVALID_PRODUCER_EPOCH before (KIP-588: InitProducerId v4, AddPartitionsToTxn,
/// AddOffsetsToTxn and EndTxn v2, TxnOffsetCommit v3).
pub fn fenced(version: i16, first_version_with_producer_fenced: i16) -> ResponseError {
    if version >= first_version_with_producer_fenced {
        ResponseError::ProducerFenced
    } else {
        ResponseError::InvalidProducerEpoch
    }
}

impl TransactionCoordinator {
    /// A coordinator of nothing yet.
    pub fn new(partitions: i32) -> Self {
        TransactionCoordinator {
            partitions,
            ..Default::default()
        }
    }

    /// Became leader of a `__transaction_state` partition: the newest record of each of
    /// its transactional ids is current (Kafka's `loadTransactionsForTxnTopicPartition`).
    /// Open transactions restart their timeout at `now_ms`; preparing ones get their
    /// markers written again (markers are idempotent for the partitions that had them).
    pub fn load(&mut self, partition: i32, leader_epoch: i32, log: &[LogEntry], now_ms: u64) {
        self.unload(partition);
        self.loaded.insert(partition, leader_epoch);
        for mut metadata in log.iter().filter_map(TransactionMetadata::from_entry) {
            if partition_for(&metadata.transactional_id, self.partitions) != partition {
                continue;
            }
            metadata.started_ms = now_ms;
            self.set_current(metadata);
        }
    }

    /// Lost leadership of a partition: forget its transactional ids.
    pub fn unload(&mut self, partition: i32) {
        if self.loaded.remove(&partition).is_none() {
            return;
        }
        let count = self.partitions;
        let mine = |id: &String| partition_for(id, count) == partition;
        self.transactions.retain(|id, _| !mine(id));
        self.pending.retain(|id, _| !mine(id));
        self.markers_left.retain(|id, _| !mine(id));
        self.markers_in_flight.retain(|id| !mine(id));
    }

    /// Whether this broker coordinates no transactions at all (its background work sleeps).
    pub fn is_idle(&self) -> bool {
        self.loaded.is_empty()
    }

    /// Whether this broker coordinates `__transaction_state` partition `partition`.
    pub fn is_loaded(&self, partition: i32) -> bool {
        self.loaded.contains_key(&partition)
    }

    /// The coordinator epoch of a transactional id's partition, or NOT_COORDINATOR.
    pub fn coordinator_epoch(&self, transactional_id: &str) -> Result<i32, ResponseError> {
        if transactional_id.is_empty() {
            return Err(ResponseError::InvalidRequest);
        }
        let partition = partition_for(transactional_id, self.partitions);
        self.loaded
            .get(&partition)
            .copied()
            .ok_or(ResponseError::NotCoordinator)
    }

    /// The current metadata of a transactional id this broker coordinates.
    pub fn get(
        &self,
        transactional_id: &str,
    ) -> Result<Option<&TransactionMetadata>, ResponseError> {
        self.coordinator_epoch(transactional_id)?;
        Ok(self.transactions.get(transactional_id))
    }

    /// Every current transaction (ListTransactions).
    pub fn all(&self) -> impl Iterator<Item = &TransactionMetadata> {
        self.transactions.values()
    }

    fn set_current(&mut self, metadata: TransactionMetadata) {
        let id = metadata.transactional_id.clone();
        if metadata.state.is_preparing() {
            self.markers_left
                .insert(id.clone(), metadata.partitions.iter().cloned().collect());
        } else {
            self.markers_left.remove(&id);
        }
        self.transactions.insert(id, metadata);
    }

    /// The current metadata, refusing ids with a transition in flight.
    fn settled(
        &self,
        transactional_id: &str,
    ) -> Result<Option<&TransactionMetadata>, ResponseError> {
        let current = self.get(transactional_id)?;
        if self.pending.contains_key(transactional_id) {
            return Err(ResponseError::ConcurrentTransactions);
        }
        Ok(current)
    }

    /// InitProducerId with a transactional id (KIP-98; KIP-360 for a producer naming its
    /// current id and epoch). `fresh_producer_id` hands out a new id when one is needed.
    pub fn init(
        &self,
        transactional_id: &str,
        timeout_ms: i32,
        expected: Option<(i64, i16)>,
        version: i16,
        now_ms: u64,
        fresh_producer_id: impl FnOnce() -> i64,
    ) -> Result<InitDecision, ResponseError> {
        if timeout_ms <= 0 || timeout_ms > TRANSACTION_MAX_TIMEOUT_MS {
            return Err(ResponseError::InvalidTransactionTimeout);
        }
        let Some(current) = self.settled(transactional_id)? else {
            return Ok(InitDecision::Write(TransactionMetadata {
                transactional_id: transactional_id.to_string(),
                producer_id: fresh_producer_id(),
                producer_epoch: 0,
                timeout_ms,
                state: TransactionState::Empty,
                partitions: Vec::new(),
                started_ms: now_ms,
            }));
        };
        // KIP-360: a producer that names its id and epoch must still hold them.
        if let Some((id, epoch)) = expected {
            if id != current.producer_id || epoch != current.producer_epoch {
                return Err(fenced(version, 4));
            }
        }
        if current.state.is_preparing() {
            return Err(ResponseError::ConcurrentTransactions);
        }
        if current.state == TransactionState::Ongoing {
            let epoch = current.bumped_epoch().unwrap_or(current.producer_epoch);
            return Ok(InitDecision::AbortFirst(current.preparing(false, epoch)));
        }
        let (producer_id, producer_epoch) = match current.bumped_epoch() {
            Some(epoch) => (current.producer_id, epoch),
            None => (fresh_producer_id(), 0),
        };
        Ok(InitDecision::Write(TransactionMetadata {
            producer_id,
            producer_epoch,
            timeout_ms,
            state: TransactionState::Empty,
            partitions: Vec::new(),
            started_ms: now_ms,
            ..current.clone()
        }))
    }

    /// The current metadata of a producer's transaction, checked against its id and epoch:
    /// an unknown id is INVALID_PRODUCER_ID_MAPPING, an old epoch fenced (KIP-98).
    fn producer_checked(
        &self,
        transactional_id: &str,
        producer_id: i64,
        producer_epoch: i16,
        fenced_error: ResponseError,
    ) -> Result<&TransactionMetadata, ResponseError> {
        let current = self
            .settled(transactional_id)?
            .ok_or(ResponseError::InvalidProducerIdMapping)?;
        if current.producer_id != producer_id {
            return Err(ResponseError::InvalidProducerIdMapping);
        }
        if current.producer_epoch != producer_epoch {
            return Err(fenced_error);
        }
        Ok(current)
    }

    /// AddPartitionsToTxn / AddOffsetsToTxn: the metadata with `partitions` added, or
    /// `None` when they are all in the transaction already (nothing to write). Markers
    /// still being written are CONCURRENT_TRANSACTIONS (the client retries).
    pub fn add_partitions(
        &self,
        transactional_id: &str,
        producer_id: i64,
        producer_epoch: i16,
        partitions: &[TopicPartition],
        fenced_error: ResponseError,
        now_ms: u64,
    ) -> Result<Option<TransactionMetadata>, ResponseError> {
        let current =
            self.producer_checked(transactional_id, producer_id, producer_epoch, fenced_error)?;
        if current.state.is_preparing() {
            return Err(ResponseError::ConcurrentTransactions);
        }
        let ongoing = current.state == TransactionState::Ongoing;
        let mut next = current.clone();
        if !ongoing {
            next.partitions.clear();
            next.started_ms = now_ms;
        }
        for partition in partitions {
            if !next.partitions.contains(partition) {
                next.partitions.push(partition.clone());
            }
        }
        if ongoing && next.partitions == current.partitions {
            return Ok(None);
        }
        next.state = TransactionState::Ongoing;
        Ok(Some(next))
    }

    /// EndTxn: the Prepare* metadata to write, or `None` for a retry of an EndTxn that
    /// already completed (Kafka answers it with success). KIP-98's rules: only an open
    /// transaction ends; a retry while its markers are written is CONCURRENT_TRANSACTIONS;
    /// anything else INVALID_TXN_STATE.
    pub fn end(
        &self,
        transactional_id: &str,
        producer_id: i64,
        producer_epoch: i16,
        commit: bool,
        fenced_error: ResponseError,
    ) -> Result<Option<TransactionMetadata>, ResponseError> {
        let current =
            self.producer_checked(transactional_id, producer_id, producer_epoch, fenced_error)?;
        use TransactionState::*;
        match (current.state, commit) {
            (Ongoing, _) => Ok(Some(current.preparing(commit, current.producer_epoch))),
            (CompleteCommit, true) | (CompleteAbort, false) => Ok(None),
            (PrepareCommit, true) | (PrepareAbort, false) => {
                Err(ResponseError::ConcurrentTransactions)
            }
            _ => Err(ResponseError::InvalidTxnState),
        }
    }

    /// Registers an appended transition.
    pub fn begin(&mut self, pending: PendingTransition) {
        let id = pending.target.transactional_id.clone();
        assert!(
            !self.pending.contains_key(&id),
            "one transition at a time per transactional id"
        );
        self.pending.insert(id, pending);
    }

    /// The transition waiting for replication, if any.
    pub fn pending(&self, transactional_id: &str) -> Option<&PendingTransition> {
        self.pending.get(transactional_id)
    }

    /// A pending transition was replicated: it becomes current.
    pub fn apply(&mut self, transactional_id: &str) -> Option<TransactionMetadata> {
        let pending = self.pending.remove(transactional_id)?;
        self.set_current(pending.target.clone());
        Some(pending.target)
    }

    /// A pending transition will never be acknowledged (leadership moved): forget it.
    pub fn abandon(&mut self, transactional_id: &str) {
        self.pending.remove(transactional_id);
    }

    /// Every transactional id with a transition waiting.
    pub fn pending_ids(&self) -> Vec<String> {
        self.pending.keys().cloned().collect()
    }

    /// Open transactions past their timeout, each as the PrepareAbort that fences its
    /// producer with a bumped epoch (Kafka's `abortTimedOutTransactions`, KIP-98).
    pub fn timed_out(&self, now_ms: u64) -> Vec<TransactionMetadata> {
        self.transactions
            .values()
            .filter(|t| t.state == TransactionState::Ongoing)
            .filter(|t| !self.pending.contains_key(&t.transactional_id))
            .filter(|t| t.started_ms + t.timeout_ms.max(0) as u64 <= now_ms)
            .map(|t| t.preparing(false, t.bumped_epoch().unwrap_or(t.producer_epoch)))
            .collect()
    }

    /// Markers to write now: every preparing transaction not already being sent.
    pub fn marker_jobs(&mut self) -> Vec<MarkerJob> {
        let mut jobs = Vec::new();
        for (id, left) in &self.markers_left {
            if self.markers_in_flight.contains(id) || self.pending.contains_key(id) {
                continue;
            }
            let metadata = &self.transactions[id];
            let partition = partition_for(id, self.partitions);
            let control = if metadata.state == TransactionState::PrepareCommit {
                ControlType::Commit
            } else {
                ControlType::Abort
            };
            jobs.push(MarkerJob {
                transactional_id: id.clone(),
                marker: Marker {
                    producer_id: metadata.producer_id,
                    producer_epoch: metadata.producer_epoch,
                    control,
                    coordinator_epoch: self.loaded[&partition],
                },
                partitions: left.iter().cloned().collect(),
            });
        }
        for job in &jobs {
            self.markers_in_flight.insert(job.transactional_id.clone());
        }
        jobs
    }

    /// Markers were written to `written` (and the rest failed, to be retried). Returns the
    /// Complete* metadata to write once every partition has its marker.
    pub fn markers_written(
        &mut self,
        transactional_id: &str,
        written: &[TopicPartition],
    ) -> Option<TransactionMetadata> {
        self.markers_in_flight.remove(transactional_id);
        let left = self.markers_left.get_mut(transactional_id)?;
        for partition in written {
            left.remove(partition);
        }
        if !left.is_empty() || self.pending.contains_key(transactional_id) {
            return None;
        }
        Some(self.transactions.get(transactional_id)?.completed())
    }
}
