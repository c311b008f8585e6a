//! Scenario files: what cluster, what workload, which faults, which checks, which planted
//! bugs. TOML read with serde, unknown keys refused, errors located by file, line and
//! column; `validate()` catches cross-field mistakes.
//!
//! `scenarios/README.md` documents every key.

use std::path::Path;

use serde::{Deserialize, Serialize};

use faultline_broker::bugs::PlantedBugs;
use faultline_broker::config::{
    ClusterConfig, FsyncPolicy, MessageTimestampType, TopicConfig, TopicSpec,
};
use faultline_checker::AnomalyKind;

use crate::admin_workload::AdminWorkload;
use crate::duration::{line_column, HumanDuration};
use crate::nemesis::trigger::Trigger;
use crate::nemesis::{role_target, FaultKind, FaultWindow};
use crate::txn_workload::TxnWorkload;

mod error;
pub use error::ScenarioError;

/// A whole scenario.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// Short name, used in report folders.
    pub name: String,
    /// What it tests, in a sentence.
    #[serde(default)]
    pub description: String,
    /// The fault phase: the workload runs and faults strike.
    #[serde(default = "defaults::duration")]
    pub duration: HumanDuration,
    /// After the heal, how long the cluster gets to recover before final reads.
    #[serde(default = "defaults::recovery")]
    pub recovery: HumanDuration,
    /// Simulated time per turmoil step.
    #[serde(default = "defaults::tick")]
    pub tick: HumanDuration,
    /// Network latency bounds.
    #[serde(default)]
    pub latency: Latency,
    /// The cluster.
    #[serde(default)]
    pub cluster: Cluster,
    /// Topics created at bootstrap.
    #[serde(default = "defaults::topics")]
    pub topics: Vec<Topic>,
    /// The workload.
    #[serde(default)]
    pub workload: Workload,
    /// The faults.
    #[serde(default)]
    pub faults: Faults,
    /// Which checks must hold.
    #[serde(default)]
    pub checks: Checks,
    /// Planted bugs switched on.
    #[serde(default)]
    pub bugs: PlantedBugs,
    /// BUGGIFY points in the broker (seeded extra delays and rare paths) on or off.
    #[serde(default)]
    pub buggify: bool,
}

/// Message latency bounds (turmoil draws each message's latency between them).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Latency {
    /// Smallest latency.
    pub min: HumanDuration,
    /// Largest latency.
    pub max: HumanDuration,
}

impl Default for Latency {
    fn default() -> Self {
        Latency {
            min: HumanDuration::from_millis(1),
            max: HumanDuration::from_millis(10),
        }
    }
}

/// The cluster's shape and settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Cluster {
    /// Number of brokers (plus one controller node).
    pub brokers: u32,
    /// `min.insync.replicas`.
    pub min_insync_replicas: i32,
    /// `never`, `always`, or `{ every_messages = N }`.
    pub fsync: Fsync,
    /// `replica.lag.time.max.ms`.
    pub replica_lag_time_max: HumanDuration,
    /// `broker.session.timeout.ms`.
    pub session_timeout: HumanDuration,
    /// `broker.heartbeat.interval.ms`.
    pub heartbeat_interval: HumanDuration,
    /// `auto.create.topics.enable`: off unless a scenario asks, so that a misspelt topic
    /// is an error rather than a new topic.
    pub auto_create_topics: bool,
}

impl Default for Cluster {
    fn default() -> Self {
        let kafka = ClusterConfig::default();
        Cluster {
            brokers: 3,
            min_insync_replicas: kafka.min_insync_replicas,
            fsync: Fsync::Policy(FsyncName::Never),
            replica_lag_time_max: HumanDuration::from_millis(kafka.replica_lag_time_max_ms),
            session_timeout: HumanDuration::from_millis(kafka.broker_session_timeout_ms),
            heartbeat_interval: HumanDuration::from_millis(kafka.broker_heartbeat_interval_ms),
            auto_create_topics: kafka.auto_create_topics_enable,
        }
    }
}

/// The fsync policy as written.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Fsync {
    /// `"never"` or `"always"`.
    Policy(FsyncName),
    /// `{ every_messages = N }`.
    Every {
        /// fsync after this many messages.
        every_messages: u64,
    },
}

/// Named fsync policies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FsyncName {
    /// Never fsync (Kafka's default).
    Never,
    /// fsync every append.
    Always,
}

/// A topic.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Topic {
    /// Name.
    pub name: String,
    /// Partition count.
    pub partitions: i32,
    /// Replicas per partition.
    pub replication_factor: i32,
    /// `message.timestamp.type` (KIP-32): `"CreateTime"` (default) or `"LogAppendTime"`.
    #[serde(default, skip_serializing_if = "is_create_time")]
    pub message_timestamp_type: MessageTimestampType,
}

fn is_create_time(kind: &MessageTimestampType) -> bool {
    *kind == MessageTimestampType::CreateTime
}

/// The workload.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Workload {
    /// Producer clients.
    pub producers: u32,
    /// Consumer clients (by assignment).
    pub consumers: u32,
    /// `"all"`, `"1"` or `"0"`.
    pub acks: Acks,
    /// Mean gap between one producer's sends.
    pub send_interval: HumanDuration,
    /// Mean gap between one consumer's polls.
    pub poll_interval: HumanDuration,
    /// Client request timeout.
    pub request_timeout: HumanDuration,
    /// How long final reads may take.
    pub final_read_timeout: HumanDuration,
    /// Consumer-group members (classic protocol): join, sync, heartbeat, commit.
    pub group_consumers: u32,
    /// The consumer group they join.
    pub group: String,
    /// Group members crash (stop heartbeating past the session timeout) and come back as
    /// new members, at seeded times.
    pub member_crashes: bool,
    /// Idempotent producers (KIP-98): InitProducerId, sequence numbers, and retries of
    /// indeterminate sends under the same sequence, recorded as one op.
    pub idempotent: bool,
    /// Idempotent batches in flight per connection (1..=5, KIP-98; default 1).
    pub max_in_flight: u32,
    /// When set, consumers seek back to the earliest offset this often and re-read.
    pub replay_interval: Option<HumanDuration>,
    /// Records per produce: one batch, one op with a send per record (default 1).
    pub batch_size: u32,
    /// The codec producers compress batches with (default `"none"`).
    pub compression: Codec,
    /// Records carry a header repeating their value, which consumers check (default off).
    pub headers: bool,
    /// Clients of one kind (producers, consumers, group members) share one simulated host,
    /// as processes on one machine do; the final reader keeps its own. Each client keeps
    /// its name, connections and seed stream. Fewer hosts make each step cheaper (default
    /// off: one host per client).
    pub colocate_clients: bool,
    /// Producers run Kafka transactions (`[workload.txn]`, KIP-98); absent: plain sends.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub txn: Option<TxnWorkload>,
    /// An admin/seek client and backlog consumers (`[workload.admin]`); absent: none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub admin: Option<AdminWorkload>,
}

/// A record batch compression codec (Kafka protocol guide, "Record Batch" attributes).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Codec {
    /// Uncompressed.
    #[default]
    None,
    /// gzip.
    Gzip,
    /// Snappy (xerial framing, as the Java client writes it).
    Snappy,
    /// LZ4 frames.
    Lz4,
    /// Zstandard.
    Zstd,
}

impl Codec {
    /// The wire codec.
    pub fn wire(self) -> kafka_protocol::records::Compression {
        use kafka_protocol::records::Compression;
        match self {
            Codec::None => Compression::None,
            Codec::Gzip => Compression::Gzip,
            Codec::Snappy => Compression::Snappy,
            Codec::Lz4 => Compression::Lz4,
            Codec::Zstd => Compression::Zstd,
        }
    }
}

impl Default for Workload {
    fn default() -> Self {
        Workload {
            producers: 2,
            consumers: 1,
            acks: Acks::All,
            send_interval: HumanDuration::from_millis(50),
            poll_interval: HumanDuration::from_millis(100),
            request_timeout: HumanDuration::from_millis(1_000),
            final_read_timeout: HumanDuration::from_millis(20_000),
            idempotent: false,
            max_in_flight: 1,
            group_consumers: 0,
            group: "faultline".to_string(),
            member_crashes: false,
            replay_interval: None,
            batch_size: 1,
            compression: Codec::None,
            headers: false,
            colocate_clients: false,
            txn: None,
            admin: None,
        }
    }
}

/// Produce acknowledgement level.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Acks {
    /// acks=all (-1).
    #[serde(rename = "all")]
    All,
    /// acks=1.
    #[serde(rename = "1")]
    Leader,
    /// acks=0.
    #[serde(rename = "0")]
    None,
}

impl Acks {
    /// The wire value.
    pub fn wire(self) -> i16 {
        match self {
            Acks::All => -1,
            Acks::Leader => 1,
            Acks::None => 0,
        }
    }
}

/// Faults: a seeded random mix, or an explicit schedule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Faults {
    /// Fault kinds the seeded schedule draws from; empty for none.
    pub kinds: Vec<FaultKind>,
    /// Mean gap between seeded faults.
    pub interval: HumanDuration,
    /// Mean length of a seeded fault.
    pub fault_duration: HumanDuration,
    /// An explicit schedule; when given, nothing is drawn.
    pub schedule: Vec<FaultWindow>,
    /// Seeded windows may overlap: a second fault inside the first one's recovery.
    pub overlap: bool,
    /// Faults triggered by cluster events (`[[faults.trigger]]`), with or without a
    /// schedule.
    pub trigger: Vec<Trigger>,
    /// How many random triggers the seeded nemesis adds, drawn from `kinds` that a trigger
    /// can carry out (crash, isolate, pause, power-loss).
    pub triggered: u32,
}

impl Default for Faults {
    fn default() -> Self {
        Faults {
            kinds: Vec::new(),
            interval: HumanDuration::from_millis(4_000),
            fault_duration: HumanDuration::from_millis(3_000),
            schedule: Vec::new(),
            overlap: false,
            trigger: Vec::new(),
            triggered: 0,
        }
    }
}

/// Which checkers must pass.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Checks {
    /// The log checker (Jepsen's queue anomalies).
    pub log: bool,
    /// The liveness check: leaders and final reads within `recovery` after the heal.
    pub liveness: bool,
    /// The cluster state checker: invariants of every broker's state after every step
    /// (`sim/src/invariants/`).
    pub invariants: bool,
    /// The protocol rules, judged on every answer of every broker (`sim/src/protocol/`).
    pub protocol: bool,
    /// Anomaly kinds the scenario expects (a negative scenario or a regression); empty
    /// means every check must hold.
    pub expect: Vec<String>,
    /// The seed this scenario is recorded to fail on (negative scenarios, regressions).
    pub seed: Option<u64>,
}

impl Default for Checks {
    fn default() -> Self {
        Checks {
            log: true,
            liveness: true,
            invariants: true,
            protocol: true,
            expect: Vec::new(),
            seed: None,
        }
    }
}

mod defaults {
    use super::*;

    pub fn duration() -> HumanDuration {
        HumanDuration::from_millis(60_000)
    }
    pub fn recovery() -> HumanDuration {
        HumanDuration::from_millis(5_000)
    }
    pub fn tick() -> HumanDuration {
        HumanDuration::from_millis(5)
    }
    pub fn topics() -> Vec<Topic> {
        vec![Topic {
            name: "events".into(),
            partitions: 3,
            replication_factor: 3,
            message_timestamp_type: MessageTimestampType::CreateTime,
        }]
    }
}

impl Scenario {
    /// Reads, parses and validates a scenario file.
    pub fn load(path: &Path) -> Result<Scenario, ScenarioError> {
        let text = std::fs::read_to_string(path).map_err(|source| ScenarioError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Scenario::parse(&text, path)
    }

    /// Parses and validates scenario text; `path` names it in errors.
    pub fn parse(text: &str, path: &Path) -> Result<Scenario, ScenarioError> {
        let scenario: Scenario = toml::from_str(text).map_err(|e| {
            let (line, column) = e
                .span()
                .map(|span| line_column(text, span.start))
                .unwrap_or((1, 1));
            ScenarioError::Parse {
                path: path.to_path_buf(),
                line,
                column,
                message: e.message().to_string(),
            }
        })?;
        scenario
            .validate()
            .map_err(|message| ScenarioError::Invalid {
                path: path.to_path_buf(),
                message,
            })?;
        Ok(scenario)
    }

    /// Cross-field rules.
    pub fn validate(&self) -> Result<(), String> {
        self.cluster_config().validate().map_err(|e| e.0)?;
        if self.topics.is_empty() {
            return Err("at least one topic is needed".into());
        }
        if self.latency.min > self.latency.max {
            return Err("latency.min must not exceed latency.max".into());
        }
        if self.tick.0.is_zero() {
            return Err("tick must be positive".into());
        }
        if self.workload.producers == 0 {
            return Err("workload.producers must be at least 1".into());
        }
        crate::world::check_in_flight(&self.workload)?;
        if self.workload.batch_size == 0 {
            return Err("workload.batch_size must be at least 1".into());
        }
        if let Some(txn) = &self.workload.txn {
            txn.validate(self.workload.final_read_timeout)?;
        }
        for kind in &self.checks.expect {
            let known: Result<AnomalyKind, _> = serde_json::from_value(serde_json::json!(kind));
            if known.is_err() {
                return Err(format!(
                    "checks.expect names {kind:?}, which is not an anomaly kind (e.g. lost-write, inconsistent-offsets, unseen)"
                ));
            }
        }
        let nodes = self.node_names();
        for trigger in &self.faults.trigger {
            let target = trigger.target.as_str();
            let replica_of_a_topic = role_target(target).is_some_and(|(_, partition)| {
                partition.is_none_or(|(topic, p)| {
                    self.topics
                        .iter()
                        .any(|t| t.name == topic && (0..t.partitions).contains(&p))
                })
            });
            let known = matches!(target, "subject" | "new-leader" | "controller")
                || replica_of_a_topic
                || nodes.iter().any(|n| n == target);
            if !known {
                return Err(format!(
                    "a trigger targets {target:?}; targets are subject, new-leader, leader, follower (or leader:TOPIC-P, follower:TOPIC-P), controller or a node ({})",
                    nodes.join(", ")
                ));
            }
            if trigger.duration.as_millis() + trigger.after.as_millis() >= self.duration.as_millis()
            {
                return Err(format!(
                    "a trigger's fault ({} ms) after {} ms cannot heal within the fault phase",
                    trigger.duration.as_millis(),
                    trigger.after.as_millis()
                ));
            }
        }
        for window in &self.faults.schedule {
            for target in &window.targets {
                if let Some((_, partition)) = role_target(target) {
                    let known = partition.is_none_or(|(topic, p)| {
                        self.topics
                            .iter()
                            .any(|t| t.name == topic && (0..t.partitions).contains(&p))
                    });
                    if !known {
                        return Err(format!(
                            "fault at {}ms targets {target:?}, a partition no topic has",
                            window.at.as_millis()
                        ));
                    }
                    continue;
                }
                if !nodes.contains(target) {
                    return Err(format!(
                        "fault at {}ms targets {target:?}, which is not a node; nodes are {}, or leader / leader:TOPIC-P / follower / follower:TOPIC-P",
                        window.at.as_millis(),
                        nodes.join(", ")
                    ));
                }
                if window.kind.brokers_only() && !target.starts_with("broker-") {
                    return Err(format!(
                        "fault at {}ms: {} strikes brokers only, not {target:?}",
                        window.at.as_millis(),
                        window.kind.name()
                    ));
                }
            }
            if window.at.0 + window.duration.0 > self.duration.0 {
                return Err(format!(
                    "fault at {}ms lasting {}ms runs past the fault phase ({}ms); faults heal before final reads",
                    window.at.as_millis(),
                    window.duration.as_millis(),
                    self.duration.as_millis()
                ));
            }
        }
        Ok(())
    }

    /// The simulated hosts: the controller, then the brokers.
    pub fn node_names(&self) -> Vec<String> {
        let mut names = vec!["controller".to_string()];
        names.extend((1..=self.cluster.brokers).map(|i| format!("broker-{i}")));
        names
    }

    /// The broker-model configuration this scenario describes.
    pub fn cluster_config(&self) -> ClusterConfig {
        let base = ClusterConfig::default();
        ClusterConfig {
            brokers: (1..=self.cluster.brokers as i32)
                .map(|id| (id, format!("broker-{id}:9092")))
                .collect(),
            controller_address: "controller:9093".into(),
            topics: self
                .topics
                .iter()
                .map(|t| TopicSpec {
                    name: t.name.clone(),
                    partitions: t.partitions,
                    replication_factor: t.replication_factor,
                })
                .collect(),
            topic_configs: self
                .topics
                .iter()
                .map(|t| {
                    let config = TopicConfig {
                        message_timestamp_type: t.message_timestamp_type,
                        min_insync_replicas: None,
                    };
                    (t.name.clone(), config)
                })
                .collect(),
            min_insync_replicas: self.cluster.min_insync_replicas,
            replica_lag_time_max_ms: self.cluster.replica_lag_time_max.as_millis(),
            broker_session_timeout_ms: self.cluster.session_timeout.as_millis(),
            broker_heartbeat_interval_ms: self.cluster.heartbeat_interval.as_millis(),
            fsync: match self.cluster.fsync {
                Fsync::Policy(FsyncName::Never) => FsyncPolicy::Never,
                Fsync::Policy(FsyncName::Always) => FsyncPolicy::Always,
                Fsync::Every { every_messages } => FsyncPolicy::EveryMessages(every_messages),
            },
            // __consumer_offsets only when groups run (or transactions commit offsets): its
            // replication would change the schedule of every run without them.
            offsets_topic_partitions: if self.workload.group_consumers > 0
                || self.workload.txn.as_ref().is_some_and(|t| t.offsets)
            {
                base.offsets_topic_partitions
            } else {
                0
            },
            auto_create_topics_enable: self.cluster.auto_create_topics,
            bugs: self.bugs,
            ..base
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Scenario, ScenarioError> {
        Scenario::parse(text, Path::new("test.toml"))
    }

    #[test]
    fn unknown_keys_are_located() {
        let error = parse("name = \"x\"\n[cluster]\nbrokers = 3\nbrokerz = 4\n").unwrap_err();
        let ScenarioError::Parse {
            line,
            column,
            message,
            ..
        } = error
        else {
            panic!("expected a parse error, got {error}");
        };
        assert_eq!((line, column), (4, 1));
        assert!(message.contains("brokerz"), "{message}");
    }

    #[test]
    fn bad_durations_say_what_was_expected() {
        let error = parse("name = \"x\"\nduration = \"60\"\n").unwrap_err();
        assert!(error.to_string().contains("test.toml:2:"), "{error}");
        assert!(error.to_string().contains("unit"), "{error}");
    }

    #[test]
    fn min_insync_above_replication_factor_is_refused() {
        let error = parse("name = \"x\"\n[cluster]\nmin_insync_replicas = 4\n").unwrap_err();
        assert!(matches!(error, ScenarioError::Invalid { .. }), "{error}");
    }
}
