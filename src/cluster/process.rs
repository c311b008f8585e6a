//! One process of the cluster: a broker or the controller, on its data folder, serving
//! real TCP until SIGTERM (which syncs its storage and exits, a clean shutdown) or
//! SIGKILL (which does not: whatever the storage mode had not made durable is lost).

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::task::LocalSet;

use faultline_broker::config::ClusterConfig;
use faultline_broker::node::{BrokerNode, ControllerNode};
use faultline_wire::bounded_frame::{
    RequestMemory, DEFAULT_BODY_TIMEOUT, DEFAULT_QUEUED_MAX_REQUEST_BYTES,
    DEFAULT_SOCKET_REQUEST_MAX_BYTES,
};

use super::file_storage::{FileStorage, SyncMode};
use super::routes::RoutedTransport;

/// Which process this is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// The KRaft-style controller.
    Controller,
    /// The broker with this id.
    Broker(i32),
}

impl Role {
    /// Its listen address, as the config names it.
    pub fn address(self, config: &ClusterConfig) -> Option<String> {
        match self {
            Role::Controller => Some(config.controller_address.clone()),
            Role::Broker(id) => config.brokers.get(&id).cloned(),
        }
    }

    /// Its data folder's name under the cluster's data folder.
    pub fn folder(self) -> String {
        match self {
            Role::Controller => "controller".into(),
            Role::Broker(id) => format!("broker-{id}"),
        }
    }
}

/// Runs one process until it is signalled. `data_dir` is the cluster's folder; this
/// process keeps its state in its own folder inside.
pub fn run(
    role: Role,
    config: ClusterConfig,
    data_dir: &Path,
    mode: SyncMode,
    transport: RoutedTransport,
) -> anyhow::Result<()> {
    let address: SocketAddr = role
        .address(&config)
        .ok_or_else(|| anyhow::anyhow!("no broker {role:?} in the cluster"))?
        .parse()?;
    let storage = FileStorage::open(&data_dir.join(role.folder()), mode)?;
    for (partition, torn) in storage.torn_bytes() {
        println!(
            "recovery: cut a torn tail of {torn} bytes from {}-{}",
            partition.0, partition.1
        );
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    LocalSet::new().block_on(&runtime, async move {
        match role {
            Role::Controller => serve_controller(config, storage, bind(address).await?).await,
            Role::Broker(id) => serve_broker(id, config, storage, address, transport).await,
        }
    })
}

async fn serve_controller(
    config: ClusterConfig,
    storage: FileStorage,
    listener: TcpListener,
) -> anyhow::Result<()> {
    let controller = ControllerNode::new(config, Box::new(storage));
    tokio::task::spawn_local(controller.clone().run_ticks());
    println!("controller listening on {}", listener.local_addr()?);
    let accepting = accept(listener, move |stream| {
        tokio::task::spawn_local(controller.clone().serve_connection(stream));
    });
    tokio::select! {
        _ = accepting => {}
        // The controller fsyncs every metadata record as it appends it: nothing to flush.
        _ = terminated() => {}
    }
    Ok(())
}

async fn serve_broker(
    id: i32,
    config: ClusterConfig,
    storage: FileStorage,
    address: SocketAddr,
    transport: RoutedTransport,
) -> anyhow::Result<()> {
    // Differs on every start, so the controller tells a restart from a retry (KIP-631).
    let incarnation = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(u64::from(std::process::id()), |d| d.as_nanos() as u64);
    let node = BrokerNode::new(id, config, Box::new(storage), incarnation);
    node.spawn_background(transport);
    // A KRaft broker opens its listeners only once it has caught up with the metadata
    // log (KIP-631, "Broker startup"; Kafka's `BrokerServer.startup` waits for the initial
    // catch-up): until then it would answer clients from an empty or stale image.
    while node
        .state
        .lock()
        .expect("broker state lock")
        .coordinator_lease_until_ms
        == 0
    {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let listener = bind(address).await?;
    println!("broker {id} caught up with the controller; listening on {address}");
    let memory = RequestMemory::new(
        DEFAULT_SOCKET_REQUEST_MAX_BYTES,
        DEFAULT_QUEUED_MAX_REQUEST_BYTES,
        DEFAULT_BODY_TIMEOUT,
    );
    let serving = node.clone();
    let accepting = accept(listener, move |stream| {
        let _ = stream.set_nodelay(true);
        let connection = serving
            .clone()
            .serve_connection_bounded(stream, memory.clone());
        tokio::task::spawn_local(connection);
    });
    tokio::select! {
        _ = accepting => {}
        _ = terminated() => shut_down(&node),
    }
    Ok(())
}

/// A clean shutdown: what the storage holds goes to disk before the process exits, as
/// Kafka flushes its logs on a controlled shutdown.
fn shut_down(node: &Arc<BrokerNode>) {
    node.state.lock().expect("broker state lock").storage.sync();
}

async fn bind(address: SocketAddr) -> anyhow::Result<TcpListener> {
    TcpListener::bind(address)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {address}: {e}"))
}

/// Resolves on SIGTERM or SIGINT.
async fn terminated() {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut term), Ok(mut interrupt)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        return std::future::pending().await;
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = interrupt.recv() => {}
    }
}

async fn accept(listener: TcpListener, mut on_stream: impl FnMut(tokio::net::TcpStream)) {
    loop {
        match listener.accept().await {
            Ok((stream, _)) => on_stream(stream),
            // Out of file descriptors and the like: keep serving the connections we have.
            Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
}
