//! The broker's background tasks at the network edge: the controller channel, the ISR
//! ticker and one replica fetcher per peer. The decisions live in the sans-IO
//! [`crate::controller_channel`] and [`crate::replica_fetcher`]; these loops only connect,
//! carry requests and responses, honour the pause gate, and sleep.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite};

use faultline_wire::connection::{connect, Connection};
use faultline_wire::Transport;

use super::BrokerNode;
use crate::controller_channel::{self as channel, ALTER_PARTITION_VERSION, REGISTRATION_VERSION};
use crate::forwarding::{ForwardedRequest, ForwardedResponse, Outgoing};
use crate::replica_fetcher::{
    self as fetcher, TruncationStep, INTER_BROKER_FETCH_VERSION, OFFSET_FOR_LEADER_EPOCH_VERSION,
};
use crate::storage::TopicPartition;

/// A background task, boxed for the caller to spawn.
pub type BackgroundTask = Pin<Box<dyn Future<Output = ()> + Send>>;

impl BrokerNode {
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
    pub fn background_tasks<T: Transport>(self: &Arc<Self>, transport: T) -> Vec<BackgroundTask> {
        let mut tasks: Vec<BackgroundTask> = Vec::new();
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
            faultline_wire::time::sleep(interval).await;
            let now = self.clock.now_ms();
            // Only a tick that proposed an ISR change changed anything a waiting request
            // looks at (`Partition::isr_proposal` changes nothing when it proposes nothing).
            if self.lock().tick_isr(now) {
                self.notify();
            }
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
                faultline_wire::time::sleep(interval).await;
                continue;
            };
            let registration = channel::registration_request(node_id, self.incarnation);
            let broker_epoch = match connection
                .send(&registration, REGISTRATION_VERSION, timeout)
                .await
            {
                Ok(r) if r.error_code == 0 => r.broker_epoch,
                _ => {
                    faultline_wire::time::sleep(interval).await;
                    continue;
                }
            };
            while self
                .controller_round(&transport, &mut connection, broker_epoch, timeout)
                .await
            {
                faultline_wire::time::sleep(interval).await;
                // BUGGIFY: a late heartbeat, as from a broker under load.
                self.faults.buggify.maybe_sleep(50, interval * 4).await;
            }
            faultline_wire::time::sleep(interval).await;
        }
    }

    /// One heartbeat + metadata fetch + ISR proposals. `false` when the connection or
    /// the registration must be renewed.
    async fn controller_round<S: AsyncRead + AsyncWrite + Unpin, T: Transport>(
        self: &Arc<Self>,
        transport: &T,
        connection: &mut Connection<S>,
        broker_epoch: i64,
        timeout: Duration,
    ) -> bool {
        self.faults.pause.wait_running().await;
        let heartbeat_sent_ms = self.clock.now_ms();
        let heartbeat = channel::heartbeat_request(&self.lock(), broker_epoch);
        match connection
            .send(&heartbeat, REGISTRATION_VERSION, timeout)
            .await
        {
            Ok(r) if r.error_code == 0 => {}
            _ => return false,
        }
        let forwarded = self.lock().forwarding.take_outbox();
        let mut answers = Vec::with_capacity(forwarded.len());
        let mut broken = false;
        for outgoing in forwarded {
            let answer = if broken {
                ForwardedResponse::Unanswered
            } else {
                self.forward(connection, &outgoing.request, timeout).await
            };
            broken |= answer == ForwardedResponse::Unanswered;
            answers.push((outgoing, answer));
        }
        if broken {
            self.post_answers(answers);
            return false;
        }
        let fetch_request = channel::metadata_fetch_request(&self.lock());
        let Ok(response) = connection
            .send(&fetch_request, INTER_BROKER_FETCH_VERSION, timeout)
            .await
        else {
            self.post_answers(answers);
            return false;
        };
        let records = channel::metadata_records(&response);
        self.faults.pause.wait_running().await;
        if !records.is_empty() {
            let now = self.clock.now_ms();
            self.lock().apply_metadata(&records, now);
            self.notify();
            self.metadata_applied
                .send_modify(|v| *v = v.wrapping_add(1));
            self.start_transaction_coordinator(transport);
        }
        // After the metadata that a topic creation or deletion appended is applied here,
        // so that a client told "created" finds the topic at this broker.
        self.post_answers(answers);
        // The metadata is now current as of the heartbeat's sending, and the controller
        // moves nothing away from this broker before a session timeout after that.
        self.lock().renew_coordinator_lease(heartbeat_sent_ms);
        let proposals = channel::take_isr_proposals(&mut self.lock(), broker_epoch);
        for proposal in proposals {
            if proposal.first_send {
                self.lock()
                    .note_isr_proposed(&proposal.registration, &proposal.isr);
            }
            match connection
                .send(&proposal.request, ALTER_PARTITION_VERSION, timeout)
                .await
            {
                Ok(response) => {
                    let now = self.clock.now_ms();
                    channel::on_alter_partition_response(
                        &mut self.lock(),
                        &proposal,
                        &response,
                        now,
                    );
                    self.notify();
                }
                // The controller may or may not have applied it: keep the proposal
                // pending (the high watermark counts it, KIP-497) and resend it later.
                Err(_) => return false,
            }
        }
        true
    }

    /// Sends one forwarded request to the controller (KIP-590).
    async fn forward<S: AsyncRead + AsyncWrite + Unpin>(
        &self,
        connection: &mut Connection<S>,
        request: &ForwardedRequest,
        timeout: Duration,
    ) -> ForwardedResponse {
        match request {
            ForwardedRequest::CreateTopics(r) => connection
                .send(r, channel::FORWARDED_CREATE_TOPICS_VERSION, timeout)
                .await
                .map_or(
                    ForwardedResponse::Unanswered,
                    ForwardedResponse::CreateTopics,
                ),
            ForwardedRequest::DeleteTopics(r) => connection
                .send(r, channel::FORWARDED_DELETE_TOPICS_VERSION, timeout)
                .await
                .map_or(
                    ForwardedResponse::Unanswered,
                    ForwardedResponse::DeleteTopics,
                ),
            ForwardedRequest::CreatePartitions(r) => connection
                .send(r, channel::FORWARDED_CREATE_PARTITIONS_VERSION, timeout)
                .await
                .map_or(
                    ForwardedResponse::Unanswered,
                    ForwardedResponse::CreatePartitions,
                ),
            ForwardedRequest::IncrementalAlterConfigs(r) => connection
                .send(
                    r,
                    channel::FORWARDED_INCREMENTAL_ALTER_CONFIGS_VERSION,
                    timeout,
                )
                .await
                .map_or(
                    ForwardedResponse::Unanswered,
                    ForwardedResponse::IncrementalAlterConfigs,
                ),
            ForwardedRequest::AlterConfigs(r) => connection
                .send(r, channel::FORWARDED_ALTER_CONFIGS_VERSION, timeout)
                .await
                .map_or(
                    ForwardedResponse::Unanswered,
                    ForwardedResponse::AlterConfigs,
                ),
        }
    }

    fn post_answers(&self, answers: Vec<(Outgoing, ForwardedResponse)>) {
        if answers.is_empty() {
            return;
        }
        {
            let mut state = self.lock();
            for (outgoing, answer) in answers {
                state.forwarding.answer(&outgoing, answer);
            }
        }
        self.notify();
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
        let mut metadata = self.metadata_applied.subscribe();
        loop {
            self.faults.pause.wait_running().await;
            // BUGGIFY: a slow follower, which the leader's ISR logic must tolerate.
            self.faults
                .buggify
                .maybe_sleep(30, Duration::from_millis(300))
                .await;
            // Marked before reading the roles, so that metadata applied after is noticed.
            metadata.borrow_and_update();
            let followed = self.lock().followed_from(leader);
            if followed.is_empty() {
                // Nothing to fetch from this leader until metadata makes this broker a
                // follower of one of its partitions: Kafka's ReplicaFetcherManager starts
                // fetching when a partition is added (`addFetcherForPartitions`) and shuts
                // idle fetchers down, rather than polling.
                connection = None;
                if metadata.changed().await.is_err() {
                    return;
                }
                continue;
            }
            if connection.is_none() {
                match connect(&transport, &address, &client_id, timeout).await {
                    Ok(c) => connection = Some(c),
                    Err(_) => {
                        faultline_wire::time::sleep(idle).await;
                        continue;
                    }
                }
            }
            let c = connection.as_mut().expect("connected above");
            let ok = self.truncate_round(c, node_id, &followed, timeout).await
                && self.fetch_round(c, leader, &followed, wait, timeout).await;
            if !ok {
                connection = None;
                faultline_wire::time::sleep(idle).await;
            }
        }
    }

    /// OffsetForLeaderEpoch for every followed partition not yet truncated. `false` when
    /// the connection must be renewed.
    async fn truncate_round<S: AsyncRead + AsyncWrite + Unpin>(
        &self,
        connection: &mut Connection<S>,
        node_id: i32,
        followed: &[TopicPartition],
        timeout: Duration,
    ) -> bool {
        let needing = fetcher::truncations_needed(&self.lock(), followed);
        for mut truncation in needing {
            if fetcher::truncate_without_asking(&mut self.lock(), &truncation) {
                continue;
            }
            loop {
                let request = fetcher::epoch_request(node_id, &truncation);
                let Ok(response) = connection
                    .send(&request, OFFSET_FOR_LEADER_EPOCH_VERSION, timeout)
                    .await
                else {
                    return false;
                };
                match fetcher::on_epoch_response(&mut self.lock(), &mut truncation, &response) {
                    TruncationStep::Done => break,
                    TruncationStep::AskAgain => {}
                    TruncationStep::Broken => return false,
                }
            }
        }
        true
    }

    /// One Fetch from `leader` for every truncated followed partition. `false` when the
    /// connection must be renewed.
    async fn fetch_round<S: AsyncRead + AsyncWrite + Unpin>(
        &self,
        connection: &mut Connection<S>,
        leader: i32,
        followed: &[TopicPartition],
        wait: Duration,
        timeout: Duration,
    ) -> bool {
        let asked = fetcher::fetch_request(&self.lock(), leader, followed, wait.as_millis() as i32);
        let Some((request, round)) = asked else {
            faultline_wire::time::sleep(Duration::from_millis(20)).await;
            return true;
        };
        let Ok(response) = connection
            .send(&request, INTER_BROKER_FETCH_VERSION, wait + timeout)
            .await
        else {
            return false;
        };
        self.faults.pause.wait_running().await;
        let outcome = fetcher::on_fetch_response(&mut self.lock(), &round, &response);
        self.notify();
        if outcome.fenced {
            faultline_wire::time::sleep(Duration::from_millis(50)).await;
        }
        if outcome.storage_failed {
            // `replica.fetch.backoff.ms` (Kafka: 1 s against a 30 s
            // `replica.lag.time.max.ms`), kept in that ratio to this cluster's lag time.
            let lag_ms = self.lock().config.replica_lag_time_max_ms;
            faultline_wire::time::sleep(Duration::from_millis((lag_ms / 30).max(10))).await;
        }
        true
    }
}
