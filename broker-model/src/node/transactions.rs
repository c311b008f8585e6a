//! The network side of transactions: coordinator requests wait for their
//! `__transaction_state` record to replicate, partition leaders wait for markers and
//! transactional offset commits to replicate, and a background task completes
//! transactions — aborting timed-out ones, sending WriteTxnMarkers to every partition's
//! leader, writing CompleteCommit/CompleteAbort (KIP-98's `TransactionMarkerChannelManager`).
//! The decisions live in [`crate::txn::coordinator`] and the handlers.

use std::collections::btree_map::Entry;
use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use kafka_protocol::messages::write_txn_markers_request::{
    WritableTxnMarker, WritableTxnMarkerTopic,
};
use kafka_protocol::messages::{
    AddOffsetsToTxnRequest, AddOffsetsToTxnResponse, AddPartitionsToTxnRequest,
    AddPartitionsToTxnResponse, EndTxnRequest, EndTxnResponse, InitProducerIdRequest,
    InitProducerIdResponse, ProducerId, TopicName, TxnOffsetCommitRequest, TxnOffsetCommitResponse,
    WriteTxnMarkersRequest, WriteTxnMarkersResponse,
};
use tokio::time::Instant;

use faultline_wire::connection::{connect, Connection};
use faultline_wire::{ResponseError, Transport};

use super::BrokerNode;
use crate::broker::BrokerEvent;
use crate::events::BrokerEventKind;
use crate::handlers::transactions::{self as txn, AwaitedTransition};
use crate::handlers::{txn_offset_commit, write_txn_markers};
use crate::storage::TopicPartition;
use crate::txn::coordinator::MarkerJob;
use crate::txn::index::ControlType;
use crate::txn::marker::Marker;
use crate::txn::metadata::TransactionMetadata;
use crate::txn::{partition_for, TRANSACTION_STATE_TOPIC};

/// WriteTxnMarkers version the coordinator sends (v1: flexible).
pub const WRITE_TXN_MARKERS_VERSION: i16 = 1;
/// How often the coordinator looks for timed-out transactions and markers to resend.
const TRANSACTION_TICK: Duration = Duration::from_millis(100);
/// Most trace events a broker keeps while nobody drains them (a broker served over TCP).
pub(super) const UNDRAINED_EVENTS_MAX: usize = 4_096;

impl BrokerNode {
    fn request_timeout(&self) -> Duration {
        Duration::from_millis(self.lock().config.inter_broker_request_timeout_ms)
    }

    /// Waits until an appended transition is replicated (or fails, or times out).
    async fn await_transition(
        &self,
        begun: Result<AwaitedTransition, ResponseError>,
    ) -> Result<TransactionMetadata, ResponseError> {
        self.notify();
        let awaited = begun?;
        let deadline = Instant::now() + self.request_timeout();
        let answer = self
            .wait_for(deadline, |node| {
                txn::poll_transition(&mut node.lock(), &awaited)
            })
            .await;
        answer.unwrap_or(Err(ResponseError::RequestTimedOut))
    }

    pub(crate) async fn init_producer_id(
        &self,
        request: InitProducerIdRequest,
        version: i16,
    ) -> InitProducerIdResponse {
        let transactional = request
            .transactional_id
            .as_ref()
            .is_some_and(|id| !id.0.is_empty());
        if !transactional {
            return crate::handlers::init_producer_id::handle(&mut self.lock(), &request);
        }
        let now = self.clock.now_ms();
        let begun = txn::init_begin(&mut self.lock(), &request, version, now);
        let (awaited, abort_first) = match begun {
            Ok((awaited, abort_first)) => (Ok(awaited), abort_first),
            Err(error) => (Err(error), false),
        };
        txn::init_response(self.await_transition(awaited).await, abort_first)
    }

    pub(crate) async fn add_partitions_to_txn(
        &self,
        request: AddPartitionsToTxnRequest,
        version: i16,
    ) -> AddPartitionsToTxnResponse {
        let now = self.clock.now_ms();
        let begun = txn::add_partitions_begin(&mut self.lock(), &request, version, now);
        let outcome = self.await_optional(begun).await;
        txn::add_partitions_response(&request, &self.lock(), outcome)
    }

    pub(crate) async fn add_offsets_to_txn(
        &self,
        request: AddOffsetsToTxnRequest,
        version: i16,
    ) -> AddOffsetsToTxnResponse {
        let now = self.clock.now_ms();
        let begun = txn::add_offsets_begin(&mut self.lock(), &request, version, now);
        let code = self
            .await_optional(begun)
            .await
            .err()
            .map_or(0, |e| e.code());
        AddOffsetsToTxnResponse::default().with_error_code(code)
    }

    pub(crate) async fn end_txn(&self, request: EndTxnRequest, version: i16) -> EndTxnResponse {
        let begun = txn::end_begin(&mut self.lock(), &request, version);
        let code = self
            .await_optional(begun)
            .await
            .err()
            .map_or(0, |e| e.code());
        if code == 0 {
            self.end_txn_answered(&request);
        }
        EndTxnResponse::default()
            .with_error_code(code)
            .with_producer_id(ProducerId(-1))
            .with_producer_epoch(-1)
    }

    /// Records the coordinator's successful EndTxn answer for the trace (fault triggers aim
    /// at it). Nothing drains the events of a broker served over real TCP, so they are
    /// capped there.
    fn end_txn_answered(&self, request: &EndTxnRequest) {
        let mut state = self.lock();
        if state.events.len() >= UNDRAINED_EVENTS_MAX {
            return;
        }
        let index = partition_for(&request.transactional_id.0, state.transactions.partitions);
        let broker = state.node_id;
        state.events.push(BrokerEvent {
            partition: (TRANSACTION_STATE_TOPIC.to_string(), index),
            kind: BrokerEventKind::EndTxnAnswered {
                broker,
                commit: request.committed,
            },
        });
    }

    async fn await_optional(
        &self,
        begun: Result<Option<AwaitedTransition>, ResponseError>,
    ) -> Result<(), ResponseError> {
        match begun {
            Ok(None) => Ok(()),
            Ok(Some(awaited)) => self.await_transition(Ok(awaited)).await.map(|_| ()),
            Err(error) => Err(error),
        }
    }

    pub(crate) async fn txn_offset_commit(
        &self,
        request: TxnOffsetCommitRequest,
    ) -> TxnOffsetCommitResponse {
        let mut pending = txn_offset_commit::begin(&mut self.lock(), &request, self.clock.now_ms());
        self.notify();
        let deadline = Instant::now() + self.request_timeout();
        let done = self
            .wait_for(deadline, |node| {
                txn_offset_commit::poll(&mut node.lock(), &mut pending).then_some(())
            })
            .await;
        if done.is_none() {
            txn_offset_commit::expire(&mut pending);
        }
        txn_offset_commit::response(&request, &pending)
    }

    pub(crate) async fn write_txn_markers(
        &self,
        request: WriteTxnMarkersRequest,
    ) -> WriteTxnMarkersResponse {
        let markers = write_txn_markers::markers_of(&request);
        let pending = self.write_markers(markers).await;
        write_txn_markers::response(&pending)
    }

    /// Appends markers here and waits for their replication.
    async fn write_markers(
        &self,
        markers: Vec<(TopicPartition, Marker)>,
    ) -> Vec<write_txn_markers::PendingMarker> {
        let mut pending = write_txn_markers::begin(&mut self.lock(), markers, self.clock.now_ms());
        self.notify();
        let deadline = Instant::now() + self.request_timeout();
        let done = self
            .wait_for(deadline, |node| {
                write_txn_markers::poll(&mut node.lock(), &mut pending).then_some(())
            })
            .await;
        if done.is_none() {
            write_txn_markers::expire(&mut pending);
        }
        self.notify();
        pending
    }

    /// Starts the transaction coordinator's background task the first time this broker
    /// leads a `__transaction_state` partition. Started lazily, not with the other
    /// background tasks, so that runs without transactions schedule exactly as before.
    pub(crate) fn start_transaction_coordinator<T: Transport>(self: &Arc<Self>, transport: &T) {
        if self.lock().transactions.is_idle()
            || self.transaction_task_started.swap(true, Ordering::SeqCst)
        {
            return;
        }
        tokio::task::spawn_local(self.clone().transaction_coordinator(transport.clone()));
    }

    /// The coordinator's background work, forever: polls pending transitions, aborts
    /// timed-out transactions, writes markers and completes transactions. Idle (woken by
    /// state changes only) while this broker coordinates no transaction.
    pub(crate) async fn transaction_coordinator<T: Transport>(self: Arc<Self>, transport: T) {
        let mut connections: BTreeMap<i32, Connection<T::Stream>> = BTreeMap::new();
        let mut seen = self.changed.subscribe();
        loop {
            let idle = self.lock().transactions.is_idle();
            if idle {
                seen.borrow_and_update();
                if seen.changed().await.is_err() {
                    return;
                }
                continue;
            }
            faultline_wire::time::sleep(TRANSACTION_TICK).await;
            self.faults.pause.wait_running().await;
            let jobs = self.coordinator_round();
            for job in jobs {
                let written = self.send_markers(&transport, &mut connections, &job).await;
                let complete = self
                    .lock()
                    .transactions
                    .markers_written(&job.transactional_id, &written);
                if let Some(target) = complete {
                    let begun = txn::begin_transition(&mut self.lock(), target);
                    let _ = begun;
                }
                self.notify();
            }
        }
    }

    /// Polls transitions and starts the aborts of timed-out transactions; returns the
    /// markers to write.
    fn coordinator_round(&self) -> Vec<MarkerJob> {
        let now = self.clock.now_ms();
        let mut state = self.lock();
        txn::poll_all_transitions(&mut state);
        for target in state.transactions.timed_out(now) {
            let _ = txn::begin_transition(&mut state, target);
        }
        txn::poll_all_transitions(&mut state);
        let jobs = state.transactions.marker_jobs();
        drop(state);
        self.notify();
        jobs
    }

    /// Writes one transaction's markers at every partition's leader; returns the
    /// partitions that have theirs. The planted bug `markers-not-written-everywhere`
    /// writes the first partition's only and reports them all written.
    async fn send_markers<T: Transport>(
        &self,
        transport: &T,
        connections: &mut BTreeMap<i32, Connection<T::Stream>>,
        job: &MarkerJob,
    ) -> Vec<TopicPartition> {
        let (me, leaders, config) = {
            let state = self.lock();
            let leaders: BTreeMap<TopicPartition, i32> = job
                .partitions
                .iter()
                .map(|key| {
                    let leader = state.image.partitions.get(key).map_or(-2, |r| r.leader);
                    (key.clone(), leader)
                })
                .collect();
            (state.node_id, leaders, state.config.clone())
        };
        let only_first = config.bugs.markers_not_written_everywhere;
        let mut by_leader: BTreeMap<i32, Vec<TopicPartition>> = BTreeMap::new();
        let mut written = Vec::new();
        for (i, (key, leader)) in leaders.into_iter().enumerate() {
            if only_first && i > 0 {
                written.push(key);
                continue;
            }
            match leader {
                // A deleted topic needs no marker (Kafka drops it from the transaction).
                -2 => written.push(key),
                leader if leader < 0 => {}
                leader => by_leader.entry(leader).or_default().push(key),
            }
        }
        let timeout = Duration::from_millis(config.inter_broker_request_timeout_ms);
        for (leader, partitions) in by_leader {
            let markers: Vec<(TopicPartition, Marker)> =
                partitions.iter().map(|p| (p.clone(), job.marker)).collect();
            if leader == me {
                let pending = self.write_markers(markers).await;
                written.extend(marker_successes(&pending));
                continue;
            }
            let request = markers_request(&job.marker, &partitions);
            let Some(address) = config.brokers.get(&leader) else {
                continue;
            };
            let connection = match connections.entry(leader) {
                Entry::Occupied(open) => open.into_mut(),
                Entry::Vacant(slot) => {
                    let client_id = format!("txn-coordinator-{me}");
                    match connect(transport, address, &client_id, timeout).await {
                        Ok(connection) => slot.insert(connection),
                        Err(_) => continue,
                    }
                }
            };
            match connection
                .send(&request, WRITE_TXN_MARKERS_VERSION, timeout * 2)
                .await
            {
                Ok(response) => written.extend(response_successes(&response)),
                Err(_) => {
                    connections.remove(&leader);
                }
            }
        }
        written
    }
}

/// The WriteTxnMarkers request for one marker on `partitions`.
fn markers_request(marker: &Marker, partitions: &[TopicPartition]) -> WriteTxnMarkersRequest {
    let mut topics: Vec<WritableTxnMarkerTopic> = Vec::new();
    for (topic, index) in partitions {
        match topics.iter_mut().find(|t| t.name.0.as_str() == topic) {
            Some(t) => t.partition_indexes.push(*index),
            None => topics.push(
                WritableTxnMarkerTopic::default()
                    .with_name(TopicName(topic.clone().into()))
                    .with_partition_indexes(vec![*index]),
            ),
        }
    }
    WriteTxnMarkersRequest::default().with_markers(vec![WritableTxnMarker::default()
        .with_producer_id(ProducerId(marker.producer_id))
        .with_producer_epoch(marker.producer_epoch)
        .with_transaction_result(marker.control == ControlType::Commit)
        .with_topics(topics)
        .with_coordinator_epoch(marker.coordinator_epoch)])
}

/// Partitions that have their marker: written, or past it (a newer epoch's marker).
///
/// UNKNOWN_TOPIC_OR_PARTITION is not settled: a leader answers it while its metadata lags
/// (a broker just restarted), so the marker is retried, as Kafka's
/// `TransactionMarkerRequestCompletionHandler` retries it with NOT_LEADER_OR_FOLLOWER and
/// REQUEST_TIMED_OUT. A deleted topic is told by the coordinator's own metadata instead
/// (`send_markers`, as Kafka's `addTxnMarkersToBrokerQueue`). Taking the answer as "the
/// topic is gone" completed transactions whose marker was never written (KIP-98: only the
/// marker ends a transaction in a partition): the partition kept the transaction open
/// until the producer's next marker ended it with the wrong outcome — an aborted
/// transaction read as committed (txn-basic seed 190, G1a), a committed one dropped as
/// aborted (txn-offsets seed 92, lost-write).
fn is_settled(code: i16) -> bool {
    code == 0 || code == ResponseError::InvalidProducerEpoch.code()
}

fn marker_successes(pending: &[write_txn_markers::PendingMarker]) -> Vec<TopicPartition> {
    pending
        .iter()
        .filter(|p| match &p.state {
            Ok(None) => true,
            Ok(Some(_)) => false,
            Err(error) => is_settled(error.code()),
        })
        .map(|p| p.partition.clone())
        .collect()
}

fn response_successes(response: &WriteTxnMarkersResponse) -> Vec<TopicPartition> {
    let mut out = Vec::new();
    for marker in &response.markers {
        for topic in &marker.topics {
            for partition in &topic.partitions {
                if is_settled(partition.error_code) {
                    out.push((topic.name.0.to_string(), partition.partition_index));
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_protocol::messages::write_txn_markers_response::{
        WritableTxnMarkerPartitionResult, WritableTxnMarkerResult, WritableTxnMarkerTopicResult,
    };

    fn answered(codes: &[(i32, ResponseError)]) -> WriteTxnMarkersResponse {
        let partitions = codes
            .iter()
            .map(|&(index, error)| {
                WritableTxnMarkerPartitionResult::default()
                    .with_partition_index(index)
                    .with_error_code(error.code())
            })
            .collect();
        WriteTxnMarkersResponse::default().with_markers(vec![WritableTxnMarkerResult::default()
            .with_producer_id(ProducerId(7))
            .with_topics(vec![WritableTxnMarkerTopicResult::default()
                .with_name(TopicName("events".to_string().into()))
                .with_partitions(partitions)])])
    }

    /// Kafka's `TransactionMarkerRequestCompletionHandler`: UNKNOWN_TOPIC_OR_PARTITION,
    /// NOT_LEADER_OR_FOLLOWER and REQUEST_TIMED_OUT are retried, so the transaction is not
    /// completed before every partition has its marker (KIP-98).
    #[test]
    fn a_leader_that_does_not_know_the_partition_yet_gets_the_marker_again() {
        let response = answered(&[
            (0, ResponseError::UnknownTopicOrPartition),
            (1, ResponseError::NotLeaderOrFollower),
            (2, ResponseError::RequestTimedOut),
            (3, ResponseError::NotEnoughReplicas),
        ]);
        assert_eq!(response_successes(&response), Vec::<TopicPartition>::new());
    }

    #[test]
    fn a_written_marker_or_a_newer_epoch_settles_the_partition() {
        let mut response = answered(&[(1, ResponseError::InvalidProducerEpoch)]);
        response.markers[0].topics[0].partitions.push(
            WritableTxnMarkerPartitionResult::default()
                .with_partition_index(0)
                .with_error_code(0),
        );
        assert_eq!(
            response_successes(&response),
            vec![("events".to_string(), 1), ("events".to_string(), 0)]
        );
    }
}
