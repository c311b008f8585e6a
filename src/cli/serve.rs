//! `faultline serve --listen 127.0.0.1:9092 [--brokers 3]`: the reference broker on real
//! TCP, for real clients (kcat, librdkafka, kafka-python) and as a certification target.
//!
//! The same broker code as in the simulation: a controller and N brokers in one process,
//! on one thread (tasks on a `LocalSet`, as inside turmoil), broker `i` on port
//! `listen + i - 1`, each advertising its own loopback address. Storage is in memory.

use std::collections::BTreeMap;
use std::net::SocketAddr;

use clap::Args;
use tokio::net::TcpListener;
use tokio::task::LocalSet;

use faultline_broker::config::{ClusterConfig, MessageTimestampType, TopicConfig, TopicSpec};
use faultline_broker::node::{BrokerNode, ControllerNode};
use faultline_broker::MemoryStorage;
use faultline_wire::bounded_frame::{
    RequestMemory, DEFAULT_BODY_TIMEOUT, DEFAULT_QUEUED_MAX_REQUEST_BYTES,
    DEFAULT_SOCKET_REQUEST_MAX_BYTES,
};
use faultline_wire::transport::TokioTransport;

use super::{UsageError, EXIT_OK};

/// Arguments of `serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address of broker 1; broker i listens on the next ports.
    #[arg(long, default_value = "127.0.0.1:9092")]
    pub listen: SocketAddr,
    /// Number of brokers.
    #[arg(long, default_value_t = 1)]
    pub brokers: u16,
    /// Topics to create, `NAME[:PARTITIONS]` (repeatable; default `events:3`).
    #[arg(long = "topic")]
    pub topics: Vec<String>,
    /// Turn off `auto.create.topics.enable` (on by default, as in Kafka): Metadata and
    /// Produce requests for unknown topics then get UNKNOWN_TOPIC_OR_PARTITION.
    #[arg(long)]
    pub no_auto_create_topics: bool,
    /// `socket.request.max.bytes`: a request frame longer than this closes its
    /// connection (Kafka's default, 100 MiB).
    #[arg(long, default_value_t = DEFAULT_SOCKET_REQUEST_MAX_BYTES)]
    pub socket_request_max_bytes: usize,
    /// `queued.max.request.bytes`: request bytes being read or handled at once, across
    /// all connections; more frames wait until some are answered.
    #[arg(long, default_value_t = DEFAULT_QUEUED_MAX_REQUEST_BYTES)]
    pub queued_max_request_bytes: usize,
    /// A topic config, `TOPIC:message.timestamp.type=CreateTime|LogAppendTime`
    /// (repeatable; KIP-32).
    #[arg(long = "topic-config", value_name = "TOPIC:KEY=VALUE")]
    pub topic_configs: Vec<String>,
    /// Planted bug to switch on (repeatable), to see certification catch it.
    #[arg(long = "bug", value_name = "NAME")]
    pub bugs: Vec<String>,
}

fn topics(args: &ServeArgs) -> Result<Vec<TopicSpec>, UsageError> {
    let specs = if args.topics.is_empty() {
        vec!["events:3".to_string()]
    } else {
        args.topics.clone()
    };
    specs
        .iter()
        .map(|spec| {
            let (name, partitions) = match spec.split_once(':') {
                Some((n, p)) => (
                    n,
                    p.parse().map_err(|_| {
                        UsageError(format!("--topic {spec:?}: partitions must be a number"))
                    })?,
                ),
                None => (spec.as_str(), 1),
            };
            Ok(TopicSpec {
                name: name.to_string(),
                partitions,
                replication_factor: i32::from(args.brokers.min(3)),
            })
        })
        .collect()
}

fn topic_configs(args: &ServeArgs) -> Result<BTreeMap<String, TopicConfig>, UsageError> {
    let mut configs: BTreeMap<String, TopicConfig> = BTreeMap::new();
    for spec in &args.topic_configs {
        let bad = || UsageError(format!("--topic-config {spec:?}: expected TOPIC:KEY=VALUE"));
        let (topic, setting) = spec.split_once(':').ok_or_else(bad)?;
        let (key, value) = setting.split_once('=').ok_or_else(bad)?;
        let config = configs.entry(topic.to_string()).or_default();
        match (key, value) {
            ("message.timestamp.type", "CreateTime") => {
                config.message_timestamp_type = MessageTimestampType::CreateTime
            }
            ("message.timestamp.type", "LogAppendTime") => {
                config.message_timestamp_type = MessageTimestampType::LogAppendTime
            }
            _ => {
                return Err(UsageError(format!(
                    "--topic-config {spec:?}: only message.timestamp.type=CreateTime|LogAppendTime is supported"
                )))
            }
        }
    }
    Ok(configs)
}

/// Runs it until the process is stopped.
pub fn run(args: ServeArgs) -> anyhow::Result<i32> {
    if args.brokers == 0 {
        return Err(UsageError("--brokers must be at least 1".into()).into());
    }
    let topics = topics(&args)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    LocalSet::new().block_on(&runtime, serve(args, topics))?;
    Ok(EXIT_OK)
}

async fn serve(args: ServeArgs, topics: Vec<TopicSpec>) -> anyhow::Result<()> {
    let mut listeners = BTreeMap::new();
    for i in 0..args.brokers {
        let address = SocketAddr::new(args.listen.ip(), args.listen.port() + i);
        let listener = TcpListener::bind(address)
            .await
            .map_err(|e| UsageError(format!("cannot listen on {address}: {e}")))?;
        listeners.insert(i32::from(i) + 1, (address, listener));
    }
    let controller_listener = TcpListener::bind(SocketAddr::new(args.listen.ip(), 0)).await?;
    let controller_address = controller_listener.local_addr()?;
    let mut bugs = faultline_broker::bugs::PlantedBugs::default();
    for bug in &args.bugs {
        bugs.enable(bug).map_err(UsageError)?;
    }
    // Real clients and real networks: Kafka-like timeouts rather than the simulation's.
    let config = ClusterConfig {
        brokers: listeners
            .iter()
            .map(|(&id, (address, _))| (id, address.to_string()))
            .collect(),
        controller_address: controller_address.to_string(),
        min_insync_replicas: topics.first().map_or(1, |t| t.replication_factor.min(2)),
        topics,
        replica_lag_time_max_ms: 10_000,
        broker_session_timeout_ms: 6_000,
        broker_heartbeat_interval_ms: 300,
        replica_fetch_wait_max_ms: 500,
        inter_broker_request_timeout_ms: 5_000,
        // Kafka's default; real clients (and their tests) count on it.
        auto_create_topics_enable: !args.no_auto_create_topics,
        bugs,
        topic_configs: topic_configs(&args)?,
        // LogAppendTime stamps are wall-clock time for real clients (KIP-32).
        clock_epoch_ms: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64),
        ..ClusterConfig::default()
    };
    config.validate().map_err(|e| UsageError(e.0))?;
    let controller = ControllerNode::new(config.clone(), Box::new(MemoryStorage::default()));
    tokio::task::spawn_local(controller.clone().run_ticks());
    tokio::task::spawn_local(accept(controller_listener, move |stream| {
        tokio::task::spawn_local(controller.clone().serve_connection(stream));
    }));
    // One budget for the whole process: every broker in it shares the machine's memory.
    let memory = RequestMemory::new(
        args.socket_request_max_bytes,
        args.queued_max_request_bytes,
        DEFAULT_BODY_TIMEOUT,
    );
    for (id, (address, listener)) in listeners {
        let node = BrokerNode::new(id, config.clone(), Box::new(MemoryStorage::default()), 1);
        node.spawn_background(TokioTransport);
        println!("broker {id} listening on {address}");
        let memory = memory.clone();
        tokio::task::spawn_local(accept(listener, move |stream| {
            let _ = stream.set_nodelay(true);
            let connection = node
                .clone()
                .serve_connection_bounded(stream, memory.clone());
            tokio::task::spawn_local(connection);
        }));
    }
    println!(
        "controller on {controller_address}; topics: {}",
        config
            .topics
            .iter()
            .map(|t| format!(
                "{} ({} partitions, replication {})",
                t.name, t.partitions, t.replication_factor
            ))
            .collect::<Vec<_>>()
            .join(", ")
    );
    tokio::task::spawn_local(return_idle_memory(memory));
    std::future::pending::<()>().await;
    Ok(())
}

/// Gives freed request buffers back to the operating system once no request is being
/// read or handled: glibc keeps freed heap memory for reuse, so without this the resident
/// size after a burst of large frames stays near its peak although nothing uses it.
async fn return_idle_memory(memory: RequestMemory) {
    let mut charged_at_trim = 0;
    loop {
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
        let charged = memory.charged_total_bytes();
        if memory.in_use_bytes() == 0 && charged - charged_at_trim >= 1 << 20 {
            charged_at_trim = charged;
            trim_heap();
        }
    }
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn trim_heap() {
    // SAFETY: malloc_trim only returns free pages of the allocator's heaps to the kernel.
    unsafe {
        libc::malloc_trim(0);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn trim_heap() {}

async fn accept(listener: TcpListener, mut on_stream: impl FnMut(tokio::net::TcpStream)) {
    loop {
        match listener.accept().await {
            Ok((stream, _)) => on_stream(stream),
            // Out of file descriptors and the like: keep serving the connections we have.
            Err(_) => tokio::time::sleep(std::time::Duration::from_millis(50)).await,
        }
    }
}
