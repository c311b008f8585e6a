//! The network edge of the controller: broker connections (registration, heartbeats,
//! AlterPartition, metadata fetches) and the session-expiry tick. Like the broker's edge,
//! generic over the stream, with the state in a `Mutex` never held across an `.await`.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use tokio::io::{AsyncRead, AsyncWrite};

use faultline_wire::codec::{decode_request, encode_response_frame};
use faultline_wire::frame::{read_frame, write_framed};

use crate::buggify::NodeFaults;
use crate::clock::Clock;
use crate::config::ClusterConfig;
use crate::controller::Controller;
use crate::handlers::{self, dispatch};
use crate::storage::{Storage, TopicPartition};

/// A running controller process.
pub struct ControllerNode {
    /// The controller's state.
    pub state: Mutex<Controller>,
    clock: Clock,
    /// Pause gate, clock rate and BUGGIFY draw the simulation controls.
    faults: NodeFaults,
    tick_interval: Duration,
}

impl ControllerNode {
    /// Starts (or restarts) the controller on `storage`.
    pub fn new(config: ClusterConfig, storage: Box<dyn Storage>) -> Arc<Self> {
        Self::with_faults(config, storage, NodeFaults::default())
    }

    /// Starts the controller with its pause gate, clock rate and BUGGIFY points
    /// controlled through `faults`.
    pub fn with_faults(
        config: ClusterConfig,
        storage: Box<dyn Storage>,
        faults: NodeFaults,
    ) -> Arc<Self> {
        let tick_interval = Duration::from_millis(config.broker_heartbeat_interval_ms.max(10));
        Arc::new(ControllerNode {
            state: Mutex::new(Controller::start(config, storage, 0)),
            clock: Clock::new(faults.clock_rate.clone()),
            faults,
            tick_interval,
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Controller> {
        self.state.lock().expect("controller state lock")
    }

    /// Fences brokers whose sessions expire, forever.
    pub async fn run_ticks(self: Arc<Self>) {
        loop {
            faultline_wire::time::sleep(self.tick_interval).await;
            self.faults.pause.wait_running().await;
            let now = self.clock.now_ms();
            self.lock().tick(now);
        }
    }

    /// Serves one broker's connection.
    pub async fn serve_connection<S: AsyncRead + AsyncWrite + Unpin>(
        self: Arc<Self>,
        mut stream: S,
    ) {
        while let Ok(Some(frame)) = read_frame(&mut stream).await {
            self.faults.pause.wait_running().await;
            let Some(reply) = self.answer(frame) else {
                return;
            };
            if write_framed(&mut stream, &reply).await.is_err() {
                return;
            }
        }
    }

    fn answer(&self, frame: Bytes) -> Option<Bytes> {
        let request = decode_request(frame).ok()?;
        let version = request.header.request_api_version;
        let (min, max) = handlers::controller_versions(request.api_key)?;
        if !(min..=max).contains(&version) {
            return None;
        }
        let now = self.clock.now_ms();
        let response = dispatch::controller_dispatch(
            &mut self.lock(),
            request.api_key,
            version,
            &request.body,
            now,
        )?;
        encode_response_frame(
            request.api_key,
            version,
            request.header.correlation_id,
            &response,
        )
        .ok()
    }

    /// The current registration of a partition, as the controller's metadata says.
    pub fn registration(
        &self,
        partition: &TopicPartition,
    ) -> Option<crate::metadata::PartitionRegistration> {
        self.lock().partition(partition).cloned()
    }

    /// Whether a broker is registered and unfenced (able to lead).
    pub fn broker_alive(&self, broker_id: i32) -> bool {
        self.lock().broker_alive(broker_id)
    }

    /// Drains the controller's trace events.
    pub fn drain_events(&self) -> Vec<crate::events::ControllerEvent> {
        std::mem::take(&mut self.lock().events)
    }
}
