//! Broker and cluster configuration: plain data with documented defaults and `validate()`.
//!
//! Kafka's own defaults are in seconds (`replica.lag.time.max.ms` = 30000,
//! `broker.session.timeout.ms` = 9000); simulations scale them down so that a 60 s run sees
//! many failovers. The names keep Kafka's meaning, units last.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::bugs::PlantedBugs;

/// When the broker fsyncs its log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum FsyncPolicy {
    /// Never fsync; rely on replication (Kafka's default: `log.flush.interval.messages`
    /// is Long.MAX_VALUE).
    #[default]
    Never,
    /// fsync after every append (`log.flush.interval.messages=1`).
    Always,
    /// fsync after every N messages.
    EveryMessages(u64),
}

/// A topic to create when the cluster first starts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TopicSpec {
    /// The topic name.
    pub name: String,
    /// How many partitions.
    pub partitions: i32,
    /// How many replicas of each partition.
    pub replication_factor: i32,
}

/// `message.timestamp.type` (KIP-32): whose clock a record's timestamp is.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum MessageTimestampType {
    /// The producer's timestamp is kept (Kafka's default).
    #[default]
    CreateTime,
    /// The leader stamps each batch with its append time.
    LogAppendTime,
}

/// A topic's configuration overrides (Kafka's topic-level configs).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TopicConfig {
    /// `message.timestamp.type`.
    #[serde(default)]
    pub message_timestamp_type: MessageTimestampType,
    /// `min.insync.replicas` of this topic; `None` takes the cluster's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_insync_replicas: Option<i32>,
}

/// What every node of one cluster agrees on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterConfig {
    /// Broker node ids and the `host:port` each advertises to clients and peers.
    pub brokers: BTreeMap<i32, String>,
    /// The controller's `host:port`.
    pub controller_address: String,
    /// Topics created at bootstrap.
    pub topics: Vec<TopicSpec>,
    /// `min.insync.replicas`: acks=all writes need an ISR at least this large
    /// (Kafka: NOT_ENOUGH_REPLICAS otherwise).
    pub min_insync_replicas: i32,
    /// `replica.lag.time.max.ms`: a follower not caught up for this long leaves the ISR.
    pub replica_lag_time_max_ms: u64,
    /// `broker.session.timeout.ms`: the controller fences a broker silent for this long.
    pub broker_session_timeout_ms: u64,
    /// `broker.heartbeat.interval.ms`.
    pub broker_heartbeat_interval_ms: u64,
    /// `replica.fetch.wait.max.ms`: how long a follower's fetch may wait at the leader.
    pub replica_fetch_wait_max_ms: u64,
    /// How long a broker waits for a peer or the controller before giving up on a request
    /// (turmoil has no TCP retransmission, so a cut stream must be abandoned).
    pub inter_broker_request_timeout_ms: u64,
    /// The fsync policy of every broker's log.
    pub fsync: FsyncPolicy,
    /// `offsets.topic.num.partitions` of the internal `__consumer_offsets` topic (Kafka: 50).
    /// 0 creates no offsets topic: a cluster without consumer groups (the simulation's
    /// default, so that runs without groups replicate nothing they do not use).
    pub offsets_topic_partitions: i32,
    /// `transaction.state.log.num.partitions` of the internal `__transaction_state` topic
    /// (Kafka: 50), created on the first FindCoordinator for a transaction (KIP-98).
    #[serde(default = "default_transaction_state_partitions")]
    pub transaction_state_partitions: i32,
    /// `group.initial.rebalance.delay.ms`: how long the first rebalance of an empty group
    /// waits for more members (Kafka: 3000).
    pub group_initial_rebalance_delay_ms: u64,
    /// `group.min.session.timeout.ms`: JoinGroup with a shorter session timeout gets
    /// INVALID_SESSION_TIMEOUT (Kafka: 6000; scaled down like the broker session timeout).
    pub group_min_session_timeout_ms: u64,
    /// `group.max.session.timeout.ms`: JoinGroup with a longer session timeout gets
    /// INVALID_SESSION_TIMEOUT (Kafka: 1800000).
    pub group_max_session_timeout_ms: u64,
    /// `auto.create.topics.enable`: a Metadata request (v4+: that allows it) or a Produce
    /// naming an unknown topic creates it with `num_partitions` partitions. Kafka's default
    /// is on; scenarios keep it off unless they ask, so that a typo is an error.
    pub auto_create_topics_enable: bool,
    /// `num.partitions`: partitions of an auto-created topic, and of a CreateTopics that
    /// asks for the default (-1, KIP-464).
    pub num_partitions: i32,
    /// Switched-on planted bugs; all off is the correct broker.
    pub bugs: PlantedBugs,
    /// Per-topic configs; a topic not listed has the defaults.
    #[serde(default)]
    pub topic_configs: BTreeMap<String, TopicConfig>,
    /// The Unix time in ms at which a broker's clock (ms since its process started) reads
    /// 0: LogAppendTime stamps are this plus the broker's clock (KIP-32 stamps wall-clock
    /// time). `serve` sets it from the wall clock at start; a simulation keeps 0, as its
    /// brokers may read no wall clock.
    #[serde(default)]
    pub clock_epoch_ms: i64,
}

impl Default for ClusterConfig {
    fn default() -> Self {
        ClusterConfig {
            brokers: (1..=3)
                .map(|id| (id, format!("broker-{id}:9092")))
                .collect(),
            controller_address: "controller:9093".to_string(),
            topics: vec![TopicSpec {
                name: "events".to_string(),
                partitions: 3,
                replication_factor: 3,
            }],
            min_insync_replicas: 2,
            replica_lag_time_max_ms: 1_000,
            broker_session_timeout_ms: 1_500,
            broker_heartbeat_interval_ms: 150,
            replica_fetch_wait_max_ms: 200,
            inter_broker_request_timeout_ms: 1_000,
            fsync: FsyncPolicy::Never,
            offsets_topic_partitions: 3,
            transaction_state_partitions: default_transaction_state_partitions(),
            group_initial_rebalance_delay_ms: 300,
            group_min_session_timeout_ms: 1_000,
            group_max_session_timeout_ms: 1_800_000,
            auto_create_topics_enable: false,
            num_partitions: 1,
            bugs: PlantedBugs::default(),
            topic_configs: BTreeMap::new(),
            clock_epoch_ms: 0,
        }
    }
}

fn default_transaction_state_partitions() -> i32 {
    3
}

/// A configuration mistake.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(pub String);

impl ClusterConfig {
    /// The configuration of `topic`.
    pub fn topic_config(&self, topic: &str) -> TopicConfig {
        self.topic_configs.get(topic).cloned().unwrap_or_default()
    }

    /// Checks cross-field rules.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let fail = |message: String| Err(ConfigError(message));
        if self.brokers.is_empty() {
            return fail("a cluster needs at least one broker".into());
        }
        for topic in &self.topics {
            if topic.partitions < 1 {
                return fail(format!(
                    "topic {}: partitions must be at least 1",
                    topic.name
                ));
            }
            if topic.replication_factor < 1
                || topic.replication_factor as usize > self.brokers.len()
            {
                return fail(format!(
                    "topic {}: replication_factor {} must be between 1 and the broker count {}",
                    topic.name,
                    topic.replication_factor,
                    self.brokers.len()
                ));
            }
            if self.min_insync_replicas > topic.replication_factor {
                return fail(format!(
                    "min_insync_replicas {} exceeds topic {}'s replication_factor {}: no acks=all write could ever succeed",
                    self.min_insync_replicas, topic.name, topic.replication_factor
                ));
            }
        }
        if self.num_partitions < 1 {
            return fail("num_partitions must be at least 1".into());
        }
        if self.min_insync_replicas < 1 {
            return fail("min_insync_replicas must be at least 1".into());
        }
        if self.group_min_session_timeout_ms > self.group_max_session_timeout_ms {
            return fail(
                "group_min_session_timeout_ms must not exceed group_max_session_timeout_ms".into(),
            );
        }
        if self.broker_heartbeat_interval_ms >= self.broker_session_timeout_ms {
            return fail(
                "broker_heartbeat_interval_ms must be below broker_session_timeout_ms".into(),
            );
        }
        Ok(())
    }

    /// The topics the controller creates at bootstrap: the configured ones plus the
    /// internal `__consumer_offsets` (replicated like Kafka's
    /// `offsets.topic.replication.factor` = 3, capped at the broker count).
    pub fn bootstrap_topics(&self) -> Vec<TopicSpec> {
        let mut topics = self.topics.clone();
        if self.offsets_topic_partitions < 1 {
            return topics;
        }
        topics.push(TopicSpec {
            name: crate::group::OFFSETS_TOPIC.to_string(),
            partitions: self.offsets_topic_partitions,
            replication_factor: (self.brokers.len() as i32).min(3),
        });
        topics
    }

    /// `default.replication.factor` for topics created without one (-1, KIP-464): 3,
    /// capped at the broker count, like `offsets.topic.replication.factor`.
    pub fn default_replication_factor(&self) -> i32 {
        (self.brokers.len() as i32).min(3)
    }

    /// The replica assignment of a topic's partition: brokers in id order, rotated by the
    /// partition index (Kafka's round-robin placement without racks).
    pub fn replicas_of(&self, topic: &TopicSpec, partition: i32) -> Vec<i32> {
        let ids: Vec<i32> = self.brokers.keys().copied().collect();
        (0..topic.replication_factor as usize)
            .map(|i| ids[(partition as usize + i) % ids.len()])
            .collect()
    }
}
