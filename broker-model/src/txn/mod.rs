//! Transactions (KIP-98 exactly-once, KIP-447 consume-transform-produce): the transaction
//! coordinator and what every partition keeps to serve read_committed consumers.
//!
//! - [`index`]: per partition log, the open transactions (their first offsets give the
//!   last stable offset) and the aborted ones (what a read_committed Fetch returns),
//!   derived from batch headers alone, so a follower or a restarted broker has the same.
//! - [`marker`]: control batches, the COMMIT/ABORT markers (Kafka protocol guide,
//!   "Control Batches").
//! - [`metadata`]: one transactional id's state machine and the record that persists it
//!   in `__transaction_state`.
//! - [`coordinator`]: the transaction coordinator of the `__transaction_state` partitions
//!   a broker leads: InitProducerId, AddPartitionsToTxn, AddOffsetsToTxn, EndTxn,
//!   timeouts, and which markers are still to be written.
//!
//! Routing (Kafka's `TransactionStateManager.partitionFor`): a transactional id lives in
//! partition `abs(transactional_id.hashCode()) % transaction.state.log.num.partitions`;
//! the leader of that partition is its coordinator. The topic is created on the first
//! FindCoordinator for a transaction, as Kafka does (`KafkaApis.getOrCreateInternalTopic`),
//! so clusters that never see a transaction replicate nothing for it.

#[cfg(test)]
mod broker_tests;
pub mod coordinator;
#[cfg(test)]
mod coordinator_tests;
#[cfg(test)]
mod failover_tests;
pub mod index;
pub mod marker;
pub mod metadata;

/// The internal topic holding transaction state.
pub const TRANSACTION_STATE_TOPIC: &str = "__transaction_state";

/// `transaction.max.timeout.ms` (Kafka: 900000): InitProducerId asking for a longer
/// transaction timeout is INVALID_TRANSACTION_TIMEOUT (KIP-98).
pub const TRANSACTION_MAX_TIMEOUT_MS: i32 = 900_000;

/// The `__transaction_state` partition of a transactional id (same hash as groups).
pub fn partition_for(transactional_id: &str, partitions: i32) -> i32 {
    crate::group::partition_for(transactional_id, partitions)
}
