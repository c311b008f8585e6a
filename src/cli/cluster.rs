//! `faultline cluster up|node`: the reference cluster as real OS processes — one
//! controller process and one process per broker, each with file-backed storage in its
//! own folder of `--data-dir` — rather than `serve`'s one in-memory process.
//!
//! `cluster up` starts them all and stays in the foreground (Ctrl-C stops them cleanly);
//! it prints each process's pid and the `cluster node` command that starts it again, so
//! one broker can be killed (`kill -9 PID`) and restarted on its own disk. `cluster node`
//! is one such process; certification's target file starts each with it
//! (`scenarios/targets/faultline-cluster.toml`), with `--route`s that send inter-broker
//! links through fault proxies.
//!
//! Broker `i` listens on `--listen`'s port + i − 1; the controller on `--controller`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command};

use clap::{Args, Subcommand, ValueEnum};

use faultline_broker::config::{ClusterConfig, FsyncPolicy, TopicSpec};

use super::{UsageError, EXIT_OK};
use crate::cluster::file_storage::SyncMode;
use crate::cluster::process::{self, Role};
use crate::cluster::routes::RoutedTransport;

/// Arguments of `cluster`.
#[derive(Debug, Args)]
pub struct ClusterArgs {
    #[command(subcommand)]
    command: ClusterCommand,
}

#[derive(Debug, Subcommand)]
enum ClusterCommand {
    /// Start the controller and every broker as separate processes; stop them on Ctrl-C.
    Up(ClusterSpec),
    /// Run one process of the cluster (what `up` and target files start).
    Node(NodeArgs),
}

/// What every process of one cluster must agree on.
#[derive(Debug, Clone, Args)]
struct ClusterSpec {
    /// Address of broker 1; broker i listens on the next ports.
    #[arg(long, default_value = "127.0.0.1:9092")]
    listen: SocketAddr,
    /// The controller's address.
    #[arg(long, default_value = "127.0.0.1:9091")]
    controller: SocketAddr,
    /// Number of brokers.
    #[arg(long, default_value_t = 3)]
    brokers: u16,
    /// The cluster's data folder: `controller/` and `broker-N/` inside.
    #[arg(long)]
    data_dir: PathBuf,
    /// Topics to create, `NAME[:PARTITIONS]` (repeatable; default `events:3`).
    #[arg(long = "topic")]
    topics: Vec<String>,
    /// `min.insync.replicas` (default: 2, or 1 with one broker).
    #[arg(long)]
    min_insync_replicas: Option<i32>,
    /// When brokers fsync their logs: `never` (Kafka's default), `always`, or a number of
    /// messages (`log.flush.interval.messages`).
    #[arg(long, default_value = "never")]
    fsync: String,
    /// `os`: writes reach the kernel at once and survive kill -9 (a real broker's case);
    /// `power-loss`: unsynced writes stay in the process and die with it (a power loss).
    #[arg(long, value_enum, default_value_t = StorageMode::Os)]
    storage: StorageMode,
    /// Turn off `auto.create.topics.enable`.
    #[arg(long)]
    no_auto_create_topics: bool,
    /// Planted bug to switch on in every process (repeatable).
    #[arg(long = "bug", value_name = "NAME")]
    bugs: Vec<String>,
}

/// How a process's storage treats unsynced writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum StorageMode {
    /// Straight to the kernel: kill -9 loses nothing written.
    Os,
    /// Held in the process until fsync: kill -9 is a power loss.
    PowerLoss,
}

/// Arguments of `cluster node`.
#[derive(Debug, Args)]
struct NodeArgs {
    /// Which process: `controller`, or a broker id.
    #[arg(long)]
    role: String,
    /// Reach a peer through another address, `PEER=VIA` (repeatable): a fault proxy for
    /// that link.
    #[arg(long = "route", value_name = "PEER=VIA")]
    routes: Vec<String>,
    #[command(flatten)]
    cluster: ClusterSpec,
}

/// Runs the subcommand.
pub fn run(args: ClusterArgs) -> anyhow::Result<i32> {
    match args.command {
        ClusterCommand::Up(spec) => up(spec),
        ClusterCommand::Node(node) => {
            let role = match node.role.as_str() {
                "controller" => Role::Controller,
                id => Role::Broker(id.parse().map_err(|_| {
                    UsageError(format!("--role {id:?}: `controller` or a broker id"))
                })?),
            };
            let config = config(&node.cluster)?;
            let transport = RoutedTransport::parse(&node.routes).map_err(UsageError)?;
            let mode = match node.cluster.storage {
                StorageMode::Os => SyncMode::Os,
                StorageMode::PowerLoss => SyncMode::PowerLoss,
            };
            process::run(role, config, &node.cluster.data_dir, mode, transport)?;
            Ok(EXIT_OK)
        }
    }
}

/// The configuration every process derives, identically, from the same spec.
fn config(spec: &ClusterSpec) -> Result<ClusterConfig, UsageError> {
    if spec.brokers == 0 {
        return Err(UsageError("--brokers must be at least 1".into()));
    }
    let replication_factor = i32::from(spec.brokers.min(3));
    let topics = if spec.topics.is_empty() {
        vec!["events:3".to_string()]
    } else {
        spec.topics.clone()
    };
    let topics = topics
        .iter()
        .map(|topic| {
            let (name, partitions) = topic.split_once(':').unwrap_or((topic, "1"));
            Ok(TopicSpec {
                name: name.to_string(),
                partitions: partitions.parse().map_err(|_| {
                    UsageError(format!("--topic {topic:?}: partitions must be a number"))
                })?,
                replication_factor,
            })
        })
        .collect::<Result<Vec<_>, UsageError>>()?;
    let fsync = match spec.fsync.as_str() {
        "never" => FsyncPolicy::Never,
        "always" => FsyncPolicy::Always,
        n => FsyncPolicy::EveryMessages(n.parse().map_err(|_| {
            UsageError(format!(
                "--fsync {n:?}: never, always or a number of messages"
            ))
        })?),
    };
    let mut bugs = faultline_broker::bugs::PlantedBugs::default();
    for bug in &spec.bugs {
        bugs.enable(bug).map_err(UsageError)?;
    }
    let config = ClusterConfig {
        brokers: (0..spec.brokers)
            .map(|i| {
                let address = SocketAddr::new(spec.listen.ip(), spec.listen.port() + i);
                (i32::from(i) + 1, address.to_string())
            })
            .collect(),
        controller_address: spec.controller.to_string(),
        min_insync_replicas: spec
            .min_insync_replicas
            .unwrap_or(replication_factor.min(2)),
        topics,
        fsync,
        // Real processes and real networks: `serve`'s Kafka-like timeouts.
        replica_lag_time_max_ms: 10_000,
        broker_session_timeout_ms: 6_000,
        broker_heartbeat_interval_ms: 300,
        replica_fetch_wait_max_ms: 500,
        inter_broker_request_timeout_ms: 5_000,
        auto_create_topics_enable: !spec.no_auto_create_topics,
        bugs,
        // LogAppendTime stamps are wall-clock time for real clients (KIP-32).
        clock_epoch_ms: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64),
        ..ClusterConfig::default()
    };
    config.validate().map_err(|e| UsageError(e.0))?;
    Ok(config)
}

/// The `cluster node` arguments that start `role` of `spec`.
fn node_arguments(spec: &ClusterSpec, role: &str) -> Vec<String> {
    let mut arguments = vec![
        "cluster".to_string(),
        "node".into(),
        "--role".into(),
        role.into(),
        "--listen".into(),
        spec.listen.to_string(),
        "--controller".into(),
        spec.controller.to_string(),
        "--brokers".into(),
        spec.brokers.to_string(),
        "--data-dir".into(),
        spec.data_dir.display().to_string(),
        "--fsync".into(),
        spec.fsync.clone(),
        "--storage".into(),
        match spec.storage {
            StorageMode::Os => "os".into(),
            StorageMode::PowerLoss => "power-loss".into(),
        },
    ];
    for topic in &spec.topics {
        arguments.extend(["--topic".to_string(), topic.clone()]);
    }
    if let Some(n) = spec.min_insync_replicas {
        arguments.extend(["--min-insync-replicas".to_string(), n.to_string()]);
    }
    if spec.no_auto_create_topics {
        arguments.push("--no-auto-create-topics".into());
    }
    for bug in &spec.bugs {
        arguments.extend(["--bug".to_string(), bug.clone()]);
    }
    arguments
}

/// Starts every process, prints how to reach and restart each, and waits; Ctrl-C stops
/// them all (SIGTERM: each syncs its storage).
fn up(spec: ClusterSpec) -> anyhow::Result<i32> {
    config(&spec)?;
    let binary = std::env::current_exe()?;
    let roles: Vec<String> = std::iter::once("controller".to_string())
        .chain((1..=spec.brokers).map(|id| id.to_string()))
        .collect();
    let mut children: Vec<(String, Child)> = Vec::new();
    for role in &roles {
        let arguments = node_arguments(&spec, role);
        let child = Command::new(&binary).args(&arguments).spawn()?;
        println!(
            "{role}: pid {} · restart: {} {}",
            child.id(),
            binary.display(),
            arguments.join(" ")
        );
        children.push((role.clone(), child));
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async { tokio::signal::ctrl_c().await })?;
    for (_, child) in children.iter().rev() {
        // SIGTERM: a clean stop, storage synced.
        // SAFETY: kill(2) on a child we started and have not reaped.
        unsafe {
            libc::kill(child.id() as i32, libc::SIGTERM);
        }
    }
    for (role, mut child) in children {
        let status = child.wait()?;
        println!("{role}: {status}");
    }
    Ok(EXIT_OK)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    /// `cluster` as the command line gives it.
    #[derive(Debug, Parser)]
    struct Cli {
        #[command(subcommand)]
        command: Top,
    }

    #[derive(Debug, Subcommand)]
    enum Top {
        Cluster(ClusterArgs),
    }

    /// Every process derives the cluster from its own arguments, so `up` must hand each
    /// one arguments that yield the same configuration it validated: brokers, controller,
    /// topics, fsync policy, planted bugs (the wall-clock epoch aside).
    #[test]
    fn up_starts_every_process_with_the_same_cluster() {
        let spec = ClusterSpec {
            listen: "127.0.0.1:29501".parse().unwrap(),
            controller: "127.0.0.1:29500".parse().unwrap(),
            brokers: 3,
            data_dir: PathBuf::from("/tmp/cluster"),
            topics: vec!["events:6".into(), "audit".into()],
            min_insync_replicas: Some(1),
            fsync: "always".into(),
            storage: StorageMode::PowerLoss,
            no_auto_create_topics: true,
            bugs: vec!["fsync-lies".into()],
        };
        let mut expected = config(&spec).unwrap();
        expected.clock_epoch_ms = 0;
        assert_eq!(expected.brokers[&3], "127.0.0.1:29503");
        assert_eq!(expected.topics[0].partitions, 6);
        assert_eq!(expected.topics[1].partitions, 1);
        for role in ["controller", "1", "2", "3"] {
            let arguments = std::iter::once("faultline".to_string())
                .chain(node_arguments(&spec, role))
                .collect::<Vec<_>>();
            let Top::Cluster(args) = Cli::try_parse_from(&arguments).unwrap().command;
            let ClusterCommand::Node(node) = args.command else {
                panic!("{role}: not a node command");
            };
            assert_eq!(node.role, role);
            assert_eq!(node.cluster.storage, StorageMode::PowerLoss);
            assert_eq!(node.cluster.data_dir, spec.data_dir);
            let mut derived = config(&node.cluster).unwrap();
            derived.clock_epoch_ms = 0;
            assert_eq!(derived, expected, "{role}");
        }
    }

    #[test]
    fn bad_options_are_usage_errors() {
        let mut spec = ClusterSpec {
            listen: "127.0.0.1:9092".parse().unwrap(),
            controller: "127.0.0.1:9091".parse().unwrap(),
            brokers: 3,
            data_dir: PathBuf::from("d"),
            topics: Vec::new(),
            min_insync_replicas: None,
            fsync: "sometimes".into(),
            storage: StorageMode::Os,
            no_auto_create_topics: false,
            bugs: Vec::new(),
        };
        assert!(config(&spec).unwrap_err().0.contains("--fsync"));
        spec.fsync = "never".into();
        spec.topics = vec!["t:x".into()];
        assert!(config(&spec).unwrap_err().0.contains("--topic"));
        spec.topics = Vec::new();
        spec.brokers = 0;
        assert!(config(&spec).is_err());
    }
}
