//! The network edge of a broker: client connections here, the controller channel and
//! replica fetchers in [`background`] (their decisions are the sans-IO
//! [`crate::controller_channel`] and [`crate::replica_fetcher`]). Generic over the
//! stream, so it runs in turmoil and on real TCP alike.
//!
//! State lives in a `Mutex` that is never held across an `.await`; a watch channel wakes
//! requests that wait on state (acks=all produces, long-polling fetches).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use bytes::Bytes;
use kafka_protocol::messages::{ApiKey, FetchRequest, RequestKind, ResponseKind};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::watch;
use tokio::time::Instant;

use faultline_wire::bounded_frame::{read_frame_bounded, BoundedFrame, RequestMemory};
use faultline_wire::codec::{decode_request, encode_response_frame, peek_header};
use faultline_wire::frame::{read_frame, write_framed};
use faultline_wire::ResponseError;

use crate::broker::Broker;
use crate::buggify::NodeFaults;
use crate::clock::Clock;
use crate::config::ClusterConfig;
use crate::handlers::{self, api_versions, fetch, produce};
use crate::storage::Storage;

mod admin;
mod background;
mod controller_node;
mod delete_records;
mod groups;
mod observer;
mod transactions;

pub use background::BackgroundTask;
pub use controller_node::ControllerNode;
pub use observer::{PendingObservation, RequestObserver};

/// A running broker process.
pub struct BrokerNode {
    /// The broker's state.
    pub state: Mutex<Broker>,
    /// Bumped on every state change; requests that wait on state watch it.
    changed: watch::Sender<u64>,
    /// Bumped whenever controller metadata is applied, the only way partitions change
    /// role: a replica fetcher with nothing to follow from its leader waits on it.
    metadata_applied: watch::Sender<u64>,
    /// Connections accepted so far: each gets the next number, so that a follower's fetch
    /// from an older connection is known to be stale (`handlers/fetch.rs`).
    connections: AtomicU64,
    /// This process's clock, skewable by the simulation.
    pub(crate) clock: Clock,
    /// Differs on every start, so the controller tells a restart from a retry (KIP-631).
    incarnation: u64,
    /// Pause gate, clock rate and BUGGIFY draw the simulation controls.
    faults: NodeFaults,
    /// Whether the transaction coordinator's task runs (started on first need).
    transaction_task_started: AtomicBool,
    /// Watches requests and answers (the simulation's protocol checker); unset elsewhere.
    observer: OnceLock<Arc<dyn RequestObserver>>,
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
        let (metadata_applied, _) = watch::channel(0);
        Arc::new(BrokerNode {
            state: Mutex::new(Broker::new(node_id, config, storage)),
            changed,
            metadata_applied,
            connections: AtomicU64::new(0),
            clock: Clock::new(faults.clock_rate.clone()),
            incarnation,
            faults,
            transaction_task_started: AtomicBool::new(false),
            observer: OnceLock::new(),
        })
    }

    /// Installs `observer` for every request answered from now on; a second call is
    /// ignored (one observer per process).
    pub fn observe_requests(&self, observer: Arc<dyn RequestObserver>) {
        let _ = self.observer.set(observer);
    }

    pub(crate) fn lock(&self) -> std::sync::MutexGuard<'_, Broker> {
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
        let connection = self.connections.fetch_add(1, Ordering::Relaxed) + 1;
        while let Ok(Some(frame)) = read_frame(&mut stream).await {
            if !self.serve_frame(&mut stream, frame, connection).await {
                return;
            }
        }
    }

    /// Serves one connection from an untrusted client (`faultline serve`): frames are
    /// read within `memory`'s `socket.request.max.bytes` and `queued.max.request.bytes`,
    /// and each holds its share of the budget until it is answered.
    pub async fn serve_connection_bounded<S: AsyncRead + AsyncWrite + Unpin>(
        self: Arc<Self>,
        mut stream: S,
        memory: RequestMemory,
    ) {
        let connection = self.connections.fetch_add(1, Ordering::Relaxed) + 1;
        while let Ok(Some(frame)) = read_frame_bounded(&mut stream, &memory).await {
            let BoundedFrame { body, reservation } = frame;
            let open = self.serve_frame(&mut stream, body, connection).await;
            drop(reservation);
            if !open {
                return;
            }
        }
    }

    /// Answers one frame; `false` when the connection must close.
    async fn serve_frame<S: AsyncRead + AsyncWrite + Unpin>(
        &self,
        stream: &mut S,
        frame: Bytes,
        connection: u64,
    ) -> bool {
        self.faults.pause.wait_running().await;
        // BUGGIFY: a slow request handler (a long GC, a busy request thread).
        self.faults
            .buggify
            .maybe_sleep(50, Duration::from_millis(300))
            .await;
        let answer = self.answer(frame, connection).await;
        // A process paused while the request waited answers only once it resumes.
        self.faults.pause.wait_running().await;
        // BUGGIFY: the request was handled but the connection dies before the answer
        // leaves: the client cannot tell whether it happened.
        if self.faults.buggify.fires(200) {
            return false;
        }
        match answer {
            Answer::Reply(reply) => write_framed(stream, &reply).await.is_ok(),
            Answer::Silent => true,
            Answer::Close => false,
        }
    }

    /// Decodes and handles one frame. A request we cannot decode or do not serve closes
    /// the connection, as Kafka does, except ApiVersions (KIP-511).
    async fn answer(&self, frame: Bytes, connection: u64) -> Answer {
        let header = peek_header(&frame);
        let request = match decode_request(frame) {
            Ok(request) => request,
            Err(_) => return unsupported_api_versions(header),
        };
        let version = request.header.request_api_version;
        let correlation_id = request.header.correlation_id;
        let served = handlers::broker_versions(request.api_key)
            .is_some_and(|(min, max)| (min..=max).contains(&version));
        if !served {
            return unsupported_api_versions(header);
        }
        let api_key = request.api_key;
        let acks_zero = matches!(&request.body, RequestKind::Produce(p) if p.acks == 0);
        let pending = self.observer.get().and_then(|observer| {
            observer.request(&request.body, &self.lock(), self.clock.peek_ms())
        });
        let Some(mut response) = self
            .handle(api_key, version, request.body, connection)
            .await
        else {
            return Answer::Close;
        };
        if let Some(pending) = pending {
            pending(&response, &self.lock(), self.clock.peek_ms());
        }
        handlers::fit::fit_response(&mut response, version);
        if acks_zero {
            return Answer::Silent;
        }
        match encode_response_frame(api_key, version, correlation_id, &response) {
            Ok(reply) => Answer::Reply(reply),
            Err(_) => Answer::Close,
        }
    }

    /// Answers a request at the handler the dispatch table names, unless this broker
    /// must not answer it at all.
    async fn handle(
        &self,
        api: ApiKey,
        version: i16,
        body: RequestKind,
        connection: u64,
    ) -> Option<ResponseKind> {
        let group_request = matches!(
            body,
            RequestKind::JoinGroup(_)
                | RequestKind::SyncGroup(_)
                | RequestKind::Heartbeat(_)
                | RequestKind::LeaveGroup(_)
                | RequestKind::OffsetCommit(_)
                | RequestKind::OffsetFetch(_)
                | RequestKind::DeleteGroups(_)
                | RequestKind::OffsetDelete(_)
                | RequestKind::TxnOffsetCommit(_)
                | RequestKind::AddPartitionsToTxn(_)
                | RequestKind::AddOffsetsToTxn(_)
                | RequestKind::EndTxn(_)
        ) || matches!(&body, RequestKind::InitProducerId(r)
            if r.transactional_id.as_ref().is_some_and(|id| !id.0.is_empty()));
        if group_request && !self.lock().coordinator_lease_valid(self.clock.now_ms()) {
            // A broker cut off from the controller may have lost its offsets partitions
            // without knowing; it must not answer as their coordinator (a stale OffsetFetch
            // is a lost commit; the same holds for a transaction coordinator, KIP-98).
            // Closing the connection sends the client to FindCoordinator.
            return None;
        }
        self.dispatch(api, version, body, connection).await
    }

    pub(crate) async fn produce(
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
            if faultline_wire::time::timeout_at(deadline, seen.changed())
                .await
                .is_err()
            {
                produce::expire(&mut pending);
                break;
            }
        }
        produce::response(&pending)
    }

    pub(crate) async fn fetch(
        &self,
        request: FetchRequest,
        connection: u64,
    ) -> kafka_protocol::messages::FetchResponse {
        let mut seen = self.changed.subscribe();
        let deadline = Instant::now() + Duration::from_millis(request.max_wait_ms.max(0) as u64);
        loop {
            let now = self.clock.now_ms();
            let (results, advanced) = fetch::read_on(&mut self.lock(), &request, now, connection);
            if advanced {
                self.notify();
            }
            // Marked after our own notification, so that only others' changes wake us.
            seen.borrow_and_update();
            if fetch::has_news(&results) || Instant::now() >= deadline {
                return fetch::response(&results);
            }
            if faultline_wire::time::timeout_at(deadline, seen.changed())
                .await
                .is_err()
            {
                let now = self.clock.now_ms();
                let (results, _) = fetch::read_on(&mut self.lock(), &request, now, connection);
                return fetch::response(&results);
            }
        }
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
    let table = handlers::support_table(handlers::broker_versions);
    let mut response = api_versions::handle(&table, i16::MAX);
    response.error_code = ResponseError::UnsupportedVersion.code();
    match encode_response_frame(
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
    /// Send this frame (length prefix included).
    Reply(Bytes),
    /// Send nothing (acks=0).
    Silent,
    /// Close the connection.
    Close,
}
