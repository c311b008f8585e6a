//! The network edge of a broker: client connections, the controller channel, and replica
//! fetchers. Generic over the stream, so it runs in turmoil and on real TCP alike.
//!
//! State lives in a `Mutex` that is never held across an `.await`; a watch channel wakes
//! requests that wait on state (acks=all produces, long-polling fetches).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use kafka_protocol::messages::alter_partition_request::{
    PartitionData as AlterPartitionData, TopicData,
};
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::offset_for_leader_epoch_request::{
    OffsetForLeaderPartition, OffsetForLeaderTopic,
};
use kafka_protocol::messages::{
    AlterPartitionRequest, ApiKey, BrokerHeartbeatRequest, BrokerId, BrokerRegistrationRequest,
    FetchRequest, OffsetForLeaderEpochRequest, RequestKind, ResponseKind, TopicName,
};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::watch;
use tokio::time::Instant;

use faultline_wire::codec::{decode_request, encode_response, peek_header};
use faultline_wire::connection::{connect, Connection};
use faultline_wire::frame::{read_frame, write_frame};
use faultline_wire::records::decode_records;
use faultline_wire::{ResponseError, Transport};

use crate::broker::Broker;
use crate::buggify::NodeFaults;
use crate::clock::Clock;
use crate::config::ClusterConfig;
use crate::handlers::{self, api_versions, fetch, metadata, offsets, produce};
use crate::log::Divergence;
use crate::metadata::{topic_id, MetadataRecord, METADATA_TOPIC};
use crate::partition::Role;
use crate::storage::{Storage, TopicPartition};

mod controller_node;
mod groups;

pub use controller_node::ControllerNode;

/// Version of Fetch that brokers use among themselves (topic names, leader epochs).
const INTER_BROKER_FETCH_VERSION: i16 = 12;
/// Kafka's `replica.fetch.max.bytes` and `replica.fetch.response.max.bytes` defaults.
const REPLICA_FETCH_MAX_BYTES: i32 = 1 << 20;
const REPLICA_FETCH_RESPONSE_MAX_BYTES: i32 = 10 << 20;

/// A running broker process.
pub struct BrokerNode {
    /// The broker's state.
    pub state: Mutex<Broker>,
    changed: watch::Sender<u64>,
    clock: Clock,
    incarnation: u64,
    /// Pause gate, clock rate and BUGGIFY draw the simulation controls.
    faults: NodeFaults,
}

impl BrokerNode {
    /// Starts a broker process on `storage`. `incarnation` must differ on every start.
    pub fn new(
        node_id: i32,
        config: ClusterConfig,
        storage: Box<dyn Storage>,
        incarnation: u64,
    ) -> Arc<Self> {
        Self::with_faults(node_id, config, storage, incarnation, NodeFaults::default())
    }

    /// Starts a broker process whose pause gate, clock rate and BUGGIFY points are
    /// controlled through `faults`.
    pub fn with_faults(
        node_id: i32,
        config: ClusterConfig,
        storage: Box<dyn Storage>,
        incarnation: u64,
        faults: NodeFaults,
    ) -> Arc<Self> {
        let (changed, _) = watch::channel(0);
        Arc::new(BrokerNode {
            state: Mutex::new(Broker::new(node_id, config, storage)),
            changed,
            clock: Clock::new(faults.clock_rate.clone()),
            incarnation,
            faults,
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Broker> {
        self.state.lock().expect("broker state lock")
    }

    fn notify(&self) {
        self.changed.send_modify(|v| *v = v.wrapping_add(1));
    }

    /// Serves one client connection until it closes. Malformed frames close the
    /// connection; they never take the process down.
    pub async fn serve_connection<S: AsyncRead + AsyncWrite + Unpin>(
        self: Arc<Self>,
        mut stream: S,
    ) {
        while let Ok(Some(frame)) = read_frame(&mut stream).await {
            self.faults.pause.wait_running().await;
            // BUGGIFY: a slow request handler (a long GC, a busy request thread).
            self.faults
                .buggify
                .maybe_sleep(50, Duration::from_millis(300))
                .await;
            let answer = self.answer(frame).await;
            // A process paused while the request waited answers only once it resumes.
            self.faults.pause.wait_running().await;
            // BUGGIFY: the request was handled but the connection dies before the answer
            // leaves: the client cannot tell whether it happened.
            if self.faults.buggify.fires(200) {
                return;
            }
            match answer {
                Answer::Reply(reply) => {
                    if write_frame(&mut stream, &reply).await.is_err() {
                        return;
                    }
                }
                Answer::Silent => {}
                Answer::Close => return,
            }
        }
    }

    /// Decodes and handles one frame. A request we cannot decode or do not serve closes
    /// the connection, as Kafka does, except ApiVersions (KIP-511).
    async fn answer(&self, frame: Bytes) -> Answer {
        let header = peek_header(&frame);
        let request = match decode_request(frame) {
            Ok(request) => request,
            Err(_) => return unsupported_api_versions(header),
        };
        let version = request.header.request_api_version;
        let correlation_id = request.header.correlation_id;
        if !handlers::supports(handlers::BROKER_APIS, request.api_key, version) {
            return unsupported_api_versions(header);
        }
        let api_key = request.api_key;
        let acks_zero = matches!(&request.body, RequestKind::Produce(p) if p.acks == 0);
        let Some(mut response) = self.handle(request.body).await else {
            return Answer::Close;
        };
        handlers::fit::fit_response(&mut response, version);
        if acks_zero {
            return Answer::Silent;
        }
        match encode_response(api_key, version, correlation_id, &response) {
            Ok(reply) => Answer::Reply(reply),
            Err(_) => Answer::Close,
        }
    }

    async fn handle(&self, body: RequestKind) -> Option<ResponseKind> {
        let group_request = matches!(
            body,
            RequestKind::JoinGroup(_)
                | RequestKind::SyncGroup(_)
                | RequestKind::Heartbeat(_)
                | RequestKind::LeaveGroup(_)
                | RequestKind::OffsetCommit(_)
                | RequestKind::OffsetFetch(_)
        );
        if group_request && !self.lock().coordinator_lease_valid(self.clock.now_ms()) {
            // A broker cut off from the controller may have lost its offsets partitions
            // without knowing; it must not answer as their coordinator (a stale OffsetFetch
            // is a lost commit). Closing the connection sends the client to FindCoordinator.
            return None;
        }
        Some(match body {
            RequestKind::ApiVersions(_) => {
                ResponseKind::ApiVersions(api_versions::handle(handlers::BROKER_APIS, 0))
            }
            RequestKind::Metadata(request) => {
                ResponseKind::Metadata(metadata::handle(&self.lock(), &request))
            }
            RequestKind::ListOffsets(request) => {
                ResponseKind::ListOffsets(offsets::list_offsets(&self.lock(), &request))
            }
            RequestKind::OffsetForLeaderEpoch(request) => ResponseKind::OffsetForLeaderEpoch(
                offsets::offset_for_leader_epoch(&self.lock(), &request),
            ),
            RequestKind::Produce(request) => ResponseKind::Produce(self.produce(request).await),
            RequestKind::Fetch(request) => ResponseKind::Fetch(self.fetch(request).await),
            RequestKind::InitProducerId(request) => ResponseKind::InitProducerId(
                handlers::init_producer_id::handle(&mut self.lock(), &request),
            ),
            RequestKind::FindCoordinator(request) => ResponseKind::FindCoordinator(
                handlers::find_coordinator::handle(&self.lock(), &request),
            ),
            RequestKind::JoinGroup(request) => {
                ResponseKind::JoinGroup(self.join_group(request).await)
            }
            RequestKind::SyncGroup(request) => {
                ResponseKind::SyncGroup(self.sync_group(request).await)
            }
            RequestKind::Heartbeat(request) => ResponseKind::Heartbeat(
                handlers::groups::heartbeat(&mut self.lock(), &request, self.clock.now_ms()),
            ),
            RequestKind::LeaveGroup(request) => ResponseKind::LeaveGroup(handlers::groups::leave(
                &mut self.lock(),
                &request,
                self.clock.now_ms(),
            )),
            RequestKind::OffsetCommit(request) => {
                ResponseKind::OffsetCommit(self.offset_commit(request).await)
            }
            RequestKind::OffsetFetch(request) => ResponseKind::OffsetFetch(
                handlers::offset_commit::offset_fetch(&mut self.lock(), &request),
            ),
            RequestKind::DeleteRecords(request) => ResponseKind::DeleteRecords(
                handlers::delete_records::handle(&mut self.lock(), &request),
            ),
            _ => return None,
        })
    }

    async fn produce(
        &self,
        request: kafka_protocol::messages::ProduceRequest,
    ) -> kafka_protocol::messages::ProduceResponse {
        let mut seen = self.changed.subscribe();
        let mut pending = produce::begin(&mut self.lock(), &request, self.clock.now_ms());
        self.notify();
        let deadline = Instant::now() + Duration::from_millis(request.timeout_ms.max(0) as u64);
        loop {
            seen.borrow_and_update();
            if produce::poll_waiting(&self.lock(), &mut pending) {
                break;
            }
            if tokio::time::timeout_at(deadline, seen.changed())
                .await
                .is_err()
            {
                produce::expire(&mut pending);
                break;
            }
        }
        produce::response(&pending)
    }

    async fn fetch(&self, request: FetchRequest) -> kafka_protocol::messages::FetchResponse {
        let mut seen = self.changed.subscribe();
        let deadline = Instant::now() + Duration::from_millis(request.max_wait_ms.max(0) as u64);
        loop {
            let now = self.clock.now_ms();
            let (results, advanced) = fetch::read(&mut self.lock(), &request, now);
            if advanced {
                self.notify();
            }
            // Marked after our own notification, so that only others' changes wake us.
            seen.borrow_and_update();
            if fetch::has_news(&results) || Instant::now() >= deadline {
                return fetch::response(&results);
            }
            if tokio::time::timeout_at(deadline, seen.changed())
                .await
                .is_err()
            {
                let (results, _) = fetch::read(&mut self.lock(), &request, self.clock.now_ms());
                return fetch::response(&results);
            }
        }
    }

    /// Starts the background tasks on the current `LocalSet` (a turmoil host's, or the one
    /// `faultline serve` runs in).
    pub fn spawn_background<T: Transport>(self: &Arc<Self>, transport: T) {
        for task in self.background_tasks(transport) {
            tokio::task::spawn_local(task);
        }
    }

    /// The controller channel and one replica fetcher per peer broker, for the caller to
    /// spawn. A simulation spawns them on its host's `LocalSet`, whose tasks are dropped in
    /// spawn order on a crash; `tokio::spawn` drops them in an order that depends on
    /// process-wide task ids, which would make a crash's effects differ between runs in
    /// one process.
    pub fn background_tasks<T: Transport>(
        self: &Arc<Self>,
        transport: T,
    ) -> Vec<std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>> {
        let mut tasks: Vec<std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>> =
            Vec::new();
        let node = self.clone();
        let t = transport.clone();
        tasks.push(Box::pin(async move { node.controller_channel(t).await }));
        let node = self.clone();
        tasks.push(Box::pin(async move { node.isr_ticker().await }));
        let (me, peers) = {
            let state = self.lock();
            (
                state.node_id,
                state.config.brokers.keys().copied().collect::<Vec<_>>(),
            )
        };
        for leader in peers.into_iter().filter(|&id| id != me) {
            let node = self.clone();
            let t = transport.clone();
            tasks.push(Box::pin(
                async move { node.replica_fetcher(t, leader).await },
            ));
        }
        tasks
    }

    /// Decides ISR changes on this broker's clock, forever.
    async fn isr_ticker(self: Arc<Self>) {
        let interval =
            Duration::from_millis((self.lock().config.replica_lag_time_max_ms / 4).max(10));
        loop {
            tokio::time::sleep(interval).await;
            let now = self.clock.now_ms();
            self.lock().tick_isr(now);
            self.notify();
        }
    }

    /// Registers, heartbeats, fetches metadata and sends ISR changes, forever.
    async fn controller_channel<T: Transport>(self: Arc<Self>, transport: T) {
        let (config, node_id) = {
            let state = self.lock();
            (state.config.clone(), state.node_id)
        };
        let timeout = Duration::from_millis(config.inter_broker_request_timeout_ms);
        let interval = Duration::from_millis(config.broker_heartbeat_interval_ms);
        let client_id = format!("broker-{node_id}");
        loop {
            let Ok(mut connection) =
                connect(&transport, &config.controller_address, &client_id, timeout).await
            else {
                tokio::time::sleep(interval).await;
                continue;
            };
            let registration = BrokerRegistrationRequest::default()
                .with_broker_id(BrokerId(node_id))
                .with_incarnation_id(uuid::Uuid::from_u64_pair(node_id as u64, self.incarnation));
            let broker_epoch = match connection.send(&registration, 0, timeout).await {
                Ok(r) if r.error_code == 0 => r.broker_epoch,
                _ => {
                    tokio::time::sleep(interval).await;
                    continue;
                }
            };
            while self
                .controller_round(&mut connection, node_id, broker_epoch, timeout)
                .await
            {
                tokio::time::sleep(interval).await;
                // BUGGIFY: a late heartbeat, as from a broker under load.
                self.faults.buggify.maybe_sleep(50, interval * 4).await;
            }
            tokio::time::sleep(interval).await;
        }
    }

    /// One heartbeat + metadata fetch + ISR proposals. `false` when the connection or
    /// the registration must be renewed.
    async fn controller_round<S: AsyncRead + AsyncWrite + Unpin>(
        &self,
        connection: &mut Connection<S>,
        node_id: i32,
        broker_epoch: i64,
        timeout: Duration,
    ) -> bool {
        self.faults.pause.wait_running().await;
        let heartbeat_sent_ms = self.clock.now_ms();
        let heartbeat = BrokerHeartbeatRequest::default()
            .with_broker_id(BrokerId(node_id))
            .with_broker_epoch(broker_epoch)
            .with_current_metadata_offset(self.lock().image.next_offset);
        match connection.send(&heartbeat, 0, timeout).await {
            Ok(r) if r.error_code == 0 => {}
            _ => return false,
        }
        let offset = self.lock().image.next_offset;
        let fetch_request = FetchRequest::default()
            .with_replica_id(BrokerId(node_id))
            .with_max_wait_ms(0)
            .with_topics(vec![FetchTopic::default()
                .with_topic(TopicName(METADATA_TOPIC.into()))
                .with_partitions(vec![FetchPartition::default()
                    .with_partition(0)
                    .with_current_leader_epoch(-1)
                    .with_fetch_offset(offset)])]);
        let Ok(response) = connection
            .send(&fetch_request, INTER_BROKER_FETCH_VERSION, timeout)
            .await
        else {
            return false;
        };
        let records: Vec<MetadataRecord> = response
            .responses
            .iter()
            .flat_map(|t| t.partitions.iter())
            .filter(|p| p.error_code == 0)
            .filter_map(|p| p.records.as_ref())
            .filter_map(|bytes| decode_records(bytes).ok())
            .flatten()
            .filter_map(|r| r.value.and_then(|v| MetadataRecord::decode(&v).ok()))
            .collect();
        self.faults.pause.wait_running().await;
        if !records.is_empty() {
            let now = self.clock.now_ms();
            self.lock().apply_metadata(&records, now);
            self.notify();
        }
        // The metadata is now current as of the heartbeat's sending, and the controller
        // moves nothing away from this broker before a session timeout after that.
        self.lock().renew_coordinator_lease(heartbeat_sent_ms);
        let proposals = std::mem::take(&mut self.lock().isr_outbox);
        for (_, (registration, new_isr)) in proposals {
            let request = AlterPartitionRequest::default()
                .with_broker_id(BrokerId(node_id))
                .with_broker_epoch(broker_epoch)
                .with_topics(vec![TopicData::default()
                    .with_topic_id(topic_id(&registration.topic))
                    .with_partitions(vec![AlterPartitionData::default()
                        .with_partition_index(registration.partition)
                        .with_leader_epoch(registration.leader_epoch)
                        .with_partition_epoch(registration.partition_epoch)
                        .with_new_isr(
                            new_isr.iter().map(|&id| BrokerId(id)).collect(),
                        )])]);
            let key = registration.topic_partition();
            match connection.send(&request, 2, timeout).await {
                Ok(response) => {
                    let answer = response
                        .topics
                        .first()
                        .and_then(|t| t.partitions.first())
                        .cloned();
                    let accepted = match answer {
                        Some(p) if p.error_code == 0 => {
                            let mut next = registration.clone();
                            next.leader = p.leader_id.0;
                            next.leader_epoch = p.leader_epoch;
                            next.isr = p.isr.iter().map(|id| id.0).collect();
                            next.partition_epoch = p.partition_epoch;
                            Ok(next)
                        }
                        Some(p) => Err(ResponseError::try_from_code(p.error_code)
                            .unwrap_or(ResponseError::UnknownServerError)),
                        None => Err(ResponseError::UnknownServerError),
                    };
                    let now = self.clock.now_ms();
                    if let Some(partition) = self.lock().partitions.get_mut(&key) {
                        partition.isr_change_answered(accepted, now);
                    }
                    self.notify();
                }
                // The controller may or may not have applied it: keep the proposal
                // pending (the high watermark counts it, KIP-497) and resend it later.
                Err(_) => return false,
            }
        }
        true
    }

    /// Follows every partition led by `leader`: truncates by leader epoch, then fetches.
    async fn replica_fetcher<T: Transport>(self: Arc<Self>, transport: T, leader: i32) {
        let (config, node_id) = {
            let state = self.lock();
            (state.config.clone(), state.node_id)
        };
        let address = config.brokers[&leader].clone();
        let timeout = Duration::from_millis(config.inter_broker_request_timeout_ms);
        let wait = Duration::from_millis(config.replica_fetch_wait_max_ms);
        let idle = Duration::from_millis(50);
        let client_id = format!("replica-{node_id}");
        let mut connection = None;
        loop {
            self.faults.pause.wait_running().await;
            // BUGGIFY: a slow follower, which the leader's ISR logic must tolerate.
            self.faults
                .buggify
                .maybe_sleep(30, Duration::from_millis(300))
                .await;
            let followed = self
                .lock()
                .fetch_targets()
                .remove(&leader)
                .unwrap_or_default();
            if followed.is_empty() {
                tokio::time::sleep(idle).await;
                continue;
            }
            if connection.is_none() {
                match connect(&transport, &address, &client_id, timeout).await {
                    Ok(c) => connection = Some(c),
                    Err(_) => {
                        tokio::time::sleep(idle).await;
                        continue;
                    }
                }
            }
            let c = connection.as_mut().expect("connected above");
            let ok = self.truncate_round(c, node_id, &followed, timeout).await
                && self
                    .fetch_round(c, node_id, leader, &followed, wait, timeout)
                    .await;
            if !ok {
                connection = None;
                tokio::time::sleep(idle).await;
            }
        }
    }

    async fn truncate_round<S: AsyncRead + AsyncWrite + Unpin>(
        &self,
        connection: &mut Connection<S>,
        node_id: i32,
        followed: &[TopicPartition],
        timeout: Duration,
    ) -> bool {
        let needing: Vec<(TopicPartition, i32, i32)> = {
            let state = self.lock();
            followed
                .iter()
                .filter_map(|key| {
                    let p = state.partitions.get(key)?;
                    match p.role {
                        Role::Follower {
                            truncated: false, ..
                        } => Some((key.clone(), p.leader_epoch(), p.log.latest_epoch())),
                        _ => None,
                    }
                })
                .collect()
        };
        let hw_truncation = self.lock().config.bugs.truncate_to_high_watermark;
        for (key, current_epoch, mut asked_epoch) in needing {
            if hw_truncation {
                // Planted bug `truncate_to_high_watermark`: Kafka before KIP-101.
                let mut state = self.lock();
                let high_watermark = state.partitions[&key].high_watermark;
                state.truncate(&key, high_watermark);
                continue;
            }
            loop {
                let request = OffsetForLeaderEpochRequest::default()
                    .with_replica_id(BrokerId(node_id))
                    .with_topics(vec![OffsetForLeaderTopic::default()
                        .with_topic(TopicName(key.0.clone().into()))
                        .with_partitions(vec![OffsetForLeaderPartition::default()
                            .with_partition(key.1)
                            .with_current_leader_epoch(current_epoch)
                            .with_leader_epoch(asked_epoch)])]);
                let Ok(response) = connection.send(&request, 3, timeout).await else {
                    return false;
                };
                let Some(answer) = response
                    .topics
                    .first()
                    .and_then(|t| t.partitions.first())
                    .cloned()
                else {
                    return false;
                };
                if answer.error_code != 0 {
                    break;
                }
                let mut state = self.lock();
                let still_following = state.partitions.get(&key).is_some_and(|p| {
                    p.leader_epoch() == current_epoch
                        && matches!(
                            p.role,
                            Role::Follower {
                                truncated: false,
                                ..
                            }
                        )
                });
                if !still_following {
                    break;
                }
                let divergence = state.partitions[&key]
                    .log
                    .divergence(answer.leader_epoch, answer.end_offset);
                match divergence {
                    Divergence::TruncateTo(offset) => {
                        state.truncate(&key, offset);
                        break;
                    }
                    Divergence::AskAgain(epoch) => asked_epoch = epoch,
                }
            }
        }
        true
    }

    async fn fetch_round<S: AsyncRead + AsyncWrite + Unpin>(
        &self,
        connection: &mut Connection<S>,
        node_id: i32,
        leader: i32,
        followed: &[TopicPartition],
        wait: Duration,
        timeout: Duration,
    ) -> bool {
        let asked: Vec<(TopicPartition, i32, i64)> = {
            let state = self.lock();
            followed
                .iter()
                .filter_map(|key| {
                    let p = state.partitions.get(key)?;
                    match p.role {
                        Role::Follower {
                            leader: l,
                            truncated: true,
                        } if l == leader => {
                            Some((key.clone(), p.leader_epoch(), p.log.end_offset()))
                        }
                        _ => None,
                    }
                })
                .collect()
        };
        if asked.is_empty() {
            tokio::time::sleep(Duration::from_millis(20)).await;
            return true;
        }
        let mut topics: Vec<FetchTopic> = Vec::new();
        for ((topic, partition), epoch, offset) in &asked {
            let wanted = FetchPartition::default()
                .with_partition(*partition)
                .with_current_leader_epoch(*epoch)
                .with_fetch_offset(*offset)
                .with_partition_max_bytes(REPLICA_FETCH_MAX_BYTES);
            match topics.iter_mut().find(|t| t.topic.0.as_str() == topic) {
                Some(t) => t.partitions.push(wanted),
                None => topics.push(
                    FetchTopic::default()
                        .with_topic(TopicName(topic.clone().into()))
                        .with_partitions(vec![wanted]),
                ),
            }
        }
        let request = FetchRequest::default()
            .with_replica_id(BrokerId(node_id))
            .with_max_wait_ms(wait.as_millis() as i32)
            .with_max_bytes(REPLICA_FETCH_RESPONSE_MAX_BYTES)
            .with_topics(topics);
        let Ok(response) = connection
            .send(&request, INTER_BROKER_FETCH_VERSION, wait + timeout)
            .await
        else {
            return false;
        };
        self.faults.pause.wait_running().await;
        let mut fenced = false;
        {
            let mut state = self.lock();
            for topic in &response.responses {
                for data in &topic.partitions {
                    let key = (topic.topic.0.to_string(), data.partition_index);
                    let Some(&(_, epoch, offset)) = asked.iter().find(|(k, _, _)| *k == key) else {
                        continue;
                    };
                    if data.error_code != 0 {
                        fenced |= data.error_code != ResponseError::OffsetOutOfRange.code();
                        continue;
                    }
                    let current = state
                        .partitions
                        .get(&key)
                        .map(|p| (p.leader_epoch(), p.log.end_offset()));
                    if current != Some((epoch, offset)) {
                        continue;
                    }
                    state.follower_append(
                        &key,
                        data.records.as_ref(),
                        data.high_watermark,
                        data.log_start_offset,
                    );
                }
            }
        }
        self.notify();
        if fenced {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        true
    }

    /// Drains the broker's trace events.
    pub fn drain_events(&self) -> Vec<crate::broker::BrokerEvent> {
        std::mem::take(&mut self.lock().events)
    }
}

/// KIP-511: an ApiVersions request we cannot decode is answered at v0 with
/// UNSUPPORTED_VERSION; any other undecodable request gets no answer.
fn unsupported_api_versions(header: Option<(i16, i16, i32)>) -> Answer {
    let Some((api_key, _, correlation_id)) = header else {
        return Answer::Close;
    };
    if api_key != ApiKey::ApiVersions as i16 {
        return Answer::Close;
    }
    let mut response = api_versions::handle(handlers::BROKER_APIS, i16::MAX);
    response.error_code = ResponseError::UnsupportedVersion.code();
    match encode_response(
        ApiKey::ApiVersions,
        0,
        correlation_id,
        &ResponseKind::ApiVersions(response),
    ) {
        Ok(reply) => Answer::Reply(reply),
        Err(_) => Answer::Close,
    }
}

/// What a connection does after one request.
enum Answer {
    /// Send this frame.
    Reply(Bytes),
    /// Send nothing (acks=0).
    Silent,
    /// Close the connection.
    Close,
}
