//! The transaction coordinator's APIs (KIP-98): InitProducerId with a transactional id,
//! AddPartitionsToTxn, AddOffsetsToTxn and EndTxn, and the transitions they write.
//!
//! Each request is decided by [`crate::txn::coordinator`], its new metadata appended to
//! the transactional id's `__transaction_state` partition, and answered once the high
//! watermark passes it (Kafka's `TransactionStateManager.appendTransactionToLog`, acks=-1):
//! a coordinator failover then finds every state a client was told about. The node layer
//! waits between [`begin_transition`] and [`poll_transition`].

use kafka_protocol::messages::add_partitions_to_txn_response::{
    AddPartitionsToTxnPartitionResult, AddPartitionsToTxnTopicResult,
};
use kafka_protocol::messages::{
    AddOffsetsToTxnRequest, AddPartitionsToTxnRequest, AddPartitionsToTxnResponse, EndTxnRequest,
    InitProducerIdRequest, InitProducerIdResponse, ProducerId,
};

use faultline_wire::ResponseError;

use crate::broker::Broker;
use crate::group::OFFSETS_TOPIC;
use crate::partition::Appended;
use crate::storage::TopicPartition;
use crate::txn::coordinator::{fenced, InitDecision, PendingTransition};
use crate::txn::metadata::TransactionMetadata;
use crate::txn::{partition_for, TRANSACTION_STATE_TOPIC};

/// A transition appended and waiting for replication: what a handler waits on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AwaitedTransition {
    /// The metadata it makes current.
    pub target: TransactionMetadata,
    /// Where it was appended.
    pub appended: Appended,
}

/// Appends `target` to its `__transaction_state` partition and registers it as pending.
/// The planted bug `transaction-state-not-replicated` makes it current at once.
pub fn begin_transition(
    broker: &mut Broker,
    target: TransactionMetadata,
) -> Result<AwaitedTransition, ResponseError> {
    let index = partition_for(&target.transactional_id, broker.transactions.partitions);
    let key = (TRANSACTION_STATE_TOPIC.to_string(), index);
    let min_insync_replicas = broker.config.min_insync_replicas;
    let partition = broker
        .partitions
        .get_mut(&key)
        .ok_or(ResponseError::NotCoordinator)?;
    let previous_high_watermark = partition.high_watermark;
    // Kafka's coordinator maps its log's errors for the client (`TransactionStateManager`):
    // a lost leadership is NOT_COORDINATOR, too small an ISR COORDINATOR_NOT_AVAILABLE.
    let (written, appended) = partition
        .append_as_leader(vec![target.to_entry()], -1, min_insync_replicas)
        .map_err(|error| match error {
            ResponseError::NotLeaderOrFollower => ResponseError::NotCoordinator,
            ResponseError::NotEnoughReplicas => ResponseError::CoordinatorNotAvailable,
            other => other,
        })?;
    if broker.persist_append(&key, &[written]).is_err() {
        if let Some(partition) = broker.partitions.get_mut(&key) {
            partition.undo_leader_append(&appended, previous_high_watermark);
        }
        return Err(ResponseError::NotCoordinator);
    }
    let id = target.transactional_id.clone();
    broker.transactions.begin(PendingTransition {
        target: target.clone(),
        appended,
    });
    // Planted bug `transaction-state-not-replicated`: act on (and acknowledge) the
    // transition before the ISR has it.
    if broker.config.bugs.transaction_state_not_replicated {
        broker.transactions.apply(&id);
    }
    Ok(AwaitedTransition { target, appended })
}

/// Where an awaited transition stands: `None` while it waits for the high watermark.
pub fn poll_transition(
    broker: &mut Broker,
    awaited: &AwaitedTransition,
) -> Option<Result<TransactionMetadata, ResponseError>> {
    let id = &awaited.target.transactional_id;
    let ours = broker
        .transactions
        .pending(id)
        .is_some_and(|p| p.appended == awaited.appended);
    if !ours {
        // Applied already (by another poller, or at once by the planted bug), or dropped
        // with the partition's leadership.
        let current = broker.transactions.get(id).ok().flatten();
        return Some(if current == Some(&awaited.target) {
            Ok(awaited.target.clone())
        } else {
            Err(ResponseError::NotCoordinator)
        });
    }
    let index = partition_for(id, broker.transactions.partitions);
    let key = (TRANSACTION_STATE_TOPIC.to_string(), index);
    match broker.partitions.get(&key) {
        Some(p) if p.is_leader() && p.leader_epoch() == awaited.appended.leader_epoch => {
            if p.high_watermark > awaited.appended.last_offset {
                broker.transactions.apply(id).map(Ok)
            } else {
                None
            }
        }
        _ => {
            broker.transactions.abandon(id);
            Some(Err(ResponseError::NotCoordinator))
        }
    }
}

/// Polls every pending transition (those no request waits for: timeouts, completions).
pub fn poll_all_transitions(broker: &mut Broker) -> bool {
    let mut changed = false;
    for id in broker.transactions.pending_ids() {
        let Some(pending) = broker.transactions.pending(&id) else {
            continue;
        };
        let awaited = AwaitedTransition {
            target: pending.target.clone(),
            appended: pending.appended,
        };
        changed |= poll_transition(broker, &awaited).is_some();
    }
    changed
}

/// InitProducerId with a transactional id: the transition to wait for, and whether the
/// answer is CONCURRENT_TRANSACTIONS (an open transaction is being aborted first).
pub fn init_begin(
    broker: &mut Broker,
    request: &InitProducerIdRequest,
    version: i16,
    now_ms: u64,
) -> Result<(AwaitedTransition, bool), ResponseError> {
    let transactional_id = request
        .transactional_id
        .as_ref()
        .map(|id| id.0.to_string())
        .unwrap_or_default();
    // KIP-360 (v3+): a producer may name its current id and epoch.
    let expected =
        (request.producer_id.0 >= 0).then_some((request.producer_id.0, request.producer_epoch));
    let (producer_ids, storage) = (&mut broker.producer_ids, &mut broker.storage);
    let decision = broker.transactions.init(
        &transactional_id,
        request.transaction_timeout_ms,
        expected,
        version,
        now_ms,
        || producer_ids.allocate(storage.as_mut()),
    )?;
    let (target, abort_first) = match decision {
        InitDecision::Write(target) => (target, false),
        InitDecision::AbortFirst(target) => (target, true),
    };
    Ok((begin_transition(broker, target)?, abort_first))
}

/// The InitProducerId answer for a transactional id.
pub fn init_response(
    outcome: Result<TransactionMetadata, ResponseError>,
    abort_first: bool,
) -> InitProducerIdResponse {
    match outcome {
        Ok(_) if abort_first => init_refused(ResponseError::ConcurrentTransactions),
        Ok(metadata) => InitProducerIdResponse::default()
            .with_producer_id(ProducerId(metadata.producer_id))
            .with_producer_epoch(metadata.producer_epoch),
        Err(error) => init_refused(error),
    }
}

/// An InitProducerId refusal.
pub fn init_refused(error: ResponseError) -> InitProducerIdResponse {
    InitProducerIdResponse::default()
        .with_error_code(error.code())
        .with_producer_id(ProducerId(-1))
        .with_producer_epoch(-1)
}

/// AddPartitionsToTxn (v0–v3: one transaction per request): the transition to wait for,
/// if any. Every partition must exist (UNKNOWN_TOPIC_OR_PARTITION; the others then get
/// OPERATION_NOT_ATTEMPTED, as Kafka's `handleAddPartitionToTxnRequest` answers).
pub fn add_partitions_begin(
    broker: &mut Broker,
    request: &AddPartitionsToTxnRequest,
    version: i16,
    now_ms: u64,
) -> Result<Option<AwaitedTransition>, ResponseError> {
    let partitions: Vec<TopicPartition> = request
        .v3_and_below_topics
        .iter()
        .flat_map(|t| t.partitions.iter().map(move |&p| (t.name.0.to_string(), p)))
        .collect();
    if partitions
        .iter()
        .any(|key| !broker.image.partitions.contains_key(key))
    {
        return Err(ResponseError::UnknownTopicOrPartition);
    }
    add_begin(
        broker,
        &request.v3_and_below_transactional_id.0,
        request.v3_and_below_producer_id.0,
        request.v3_and_below_producer_epoch,
        &partitions,
        fenced(version, 2),
        now_ms,
    )
}

/// AddOffsetsToTxn: adds the group's `__consumer_offsets` partition to the transaction,
/// so that its TxnOffsetCommit gets a marker too (KIP-98, KIP-447).
pub fn add_offsets_begin(
    broker: &mut Broker,
    request: &AddOffsetsToTxnRequest,
    version: i16,
    now_ms: u64,
) -> Result<Option<AwaitedTransition>, ResponseError> {
    let index =
        crate::group::partition_for(&request.group_id.0, broker.config.offsets_topic_partitions);
    let partitions = [(OFFSETS_TOPIC.to_string(), index)];
    add_begin(
        broker,
        &request.transactional_id.0,
        request.producer_id.0,
        request.producer_epoch,
        &partitions,
        fenced(version, 2),
        now_ms,
    )
}

fn add_begin(
    broker: &mut Broker,
    transactional_id: &str,
    producer_id: i64,
    producer_epoch: i16,
    partitions: &[TopicPartition],
    fenced_error: ResponseError,
    now_ms: u64,
) -> Result<Option<AwaitedTransition>, ResponseError> {
    let next = broker.transactions.add_partitions(
        transactional_id,
        producer_id,
        producer_epoch,
        partitions,
        fenced_error,
        now_ms,
    )?;
    next.map(|target| begin_transition(broker, target))
        .transpose()
}

/// EndTxn: the Prepare* transition to wait for, if any (a retry of a completed EndTxn
/// has none and succeeds).
pub fn end_begin(
    broker: &mut Broker,
    request: &EndTxnRequest,
    version: i16,
) -> Result<Option<AwaitedTransition>, ResponseError> {
    let next = broker.transactions.end(
        &request.transactional_id.0,
        request.producer_id.0,
        request.producer_epoch,
        request.committed,
        fenced(version, 2),
    )?;
    next.map(|target| begin_transition(broker, target))
        .transpose()
}

/// The AddPartitionsToTxn (v0–v3) answer: one error per partition.
pub fn add_partitions_response(
    request: &AddPartitionsToTxnRequest,
    broker: &Broker,
    outcome: Result<(), ResponseError>,
) -> AddPartitionsToTxnResponse {
    let topics = request
        .v3_and_below_topics
        .iter()
        .map(|t| {
            let results = t
                .partitions
                .iter()
                .map(|&p| {
                    let code = match &outcome {
                        Ok(()) => 0,
                        Err(ResponseError::UnknownTopicOrPartition) => {
                            let known = broker
                                .image
                                .partitions
                                .contains_key(&(t.name.0.to_string(), p));
                            if known {
                                ResponseError::OperationNotAttempted.code()
                            } else {
                                ResponseError::UnknownTopicOrPartition.code()
                            }
                        }
                        Err(error) => error.code(),
                    };
                    AddPartitionsToTxnPartitionResult::default()
                        .with_partition_index(p)
                        .with_partition_error_code(code)
                })
                .collect();
            AddPartitionsToTxnTopicResult::default()
                .with_name(t.name.clone())
                .with_results_by_partition(results)
        })
        .collect();
    AddPartitionsToTxnResponse::default().with_results_by_topic_v3_and_below(topics)
}
