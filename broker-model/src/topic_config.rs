//! Topic configs a client sets when it creates a topic (CreateTopics `configs`), checked
//! as Kafka's `LogConfig.validate` checks them, kept in the topic's metadata record, and
//! read back by every broker that replays it.
//!
//! Each config Kafka defines is one of three kinds here:
//! - **enforced**: the broker behaves as the value says (`message.timestamp.type`,
//!   `min.insync.replicas`);
//! - **accepted**: the value only allows the broker to remove data (retention, compaction,
//!   segment sizes). The model never removes data but by DeleteRecords, which no such
//!   config forbids: Kafka promises readers nothing about *when* old records go, so a log
//!   that keeps everything is a legal one. Kafka Streams and Connect set these on their
//!   internal topics;
//! - **refused** (INVALID_CONFIG): a value the model would silently not honour where a
//!   client could see the difference (`compression.type` other than `producer`,
//!   `unclean.leader.election.enable=true`, per-topic flushing, `max.message.bytes`,
//!   timestamp bounds), and every name Kafka does not define.

use std::collections::BTreeMap;

use crate::config::{MessageTimestampType, TopicConfig};

/// How the model treats a topic config.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Enforced as Kafka enforces it.
    Enforced,
    /// Accepted and reported; it only allows removing data, which the model never does.
    Accepted,
}

/// Checks one `name=value`: its kind, or why it is refused.
pub fn check(name: &str, value: &str) -> Result<Kind, String> {
    let long = |min: i64| match value.parse::<i64>() {
        Ok(v) if v >= min => Ok(Kind::Accepted),
        _ => Err(format!("{name}={value}: not a number >= {min}")),
    };
    match name {
        "message.timestamp.type" => match value {
            "CreateTime" | "LogAppendTime" => Ok(Kind::Enforced),
            _ => Err(format!("{name}={value}: not CreateTime or LogAppendTime")),
        },
        "min.insync.replicas" => match value.parse::<i32>() {
            Ok(v) if v >= 1 => Ok(Kind::Enforced),
            _ => Err(format!("{name}={value}: not a number >= 1")),
        },
        "cleanup.policy" => {
            let policies: Vec<&str> = value.split(',').map(str::trim).collect();
            if policies.iter().all(|p| matches!(*p, "delete" | "compact")) {
                Ok(Kind::Accepted)
            } else {
                Err(format!("{name}={value}: not a list of delete and compact"))
            }
        }
        "retention.ms" | "retention.bytes" | "local.retention.ms" | "local.retention.bytes" => {
            long(-2)
        }
        "segment.ms"
        | "segment.jitter.ms"
        | "delete.retention.ms"
        | "file.delete.delay.ms"
        | "min.compaction.lag.ms"
        | "max.compaction.lag.ms" => long(0),
        "segment.bytes" => long(14),
        "segment.index.bytes" | "index.interval.bytes" => long(4),
        "min.cleanable.dirty.ratio" => match value.parse::<f64>() {
            Ok(v) if (0.0..=1.0).contains(&v) => Ok(Kind::Accepted),
            _ => Err(format!("{name}={value}: not a ratio in [0, 1]")),
        },
        "preallocate" => match value {
            "true" | "false" => Ok(Kind::Accepted),
            _ => Err(format!("{name}={value}: not true or false")),
        },
        "compression.type" => match value {
            "producer" => Ok(Kind::Enforced),
            _ => Err(format!(
                "{name}={value}: the broker keeps the producer's batches as written"
            )),
        },
        "unclean.leader.election.enable" => match value {
            "false" => Ok(Kind::Enforced),
            _ => Err(format!(
                "{name}={value}: unclean leader election is not modelled"
            )),
        },
        "flush.messages"
        | "flush.ms"
        | "max.message.bytes"
        | "message.timestamp.difference.max.ms"
        | "message.timestamp.before.max.ms"
        | "message.timestamp.after.max.ms"
        | "message.downconversion.enable"
        | "follower.replication.throttled.replicas"
        | "leader.replication.throttled.replicas"
        | "remote.storage.enable"
        | "remote.log.copy.disable"
        | "remote.log.delete.on.disable"
        | "compression.gzip.level"
        | "compression.lz4.level"
        | "compression.zstd.level" => Err(format!(
            "{name}: not modelled (the broker would not honour it)"
        )),
        _ => Err(format!("{name}: unknown topic config")),
    }
}

/// Checks every config of a CreateTopics topic; the first refusal's reason.
pub fn check_all(configs: &BTreeMap<String, String>) -> Result<(), String> {
    configs
        .iter()
        .try_for_each(|(name, value)| check(name, value).map(|_| ()))
}

/// `base` (the cluster's static config of the topic) with the enforced configs of
/// `configs` (the topic's own, from its metadata record) on top.
pub fn effective(mut base: TopicConfig, configs: Option<&BTreeMap<String, String>>) -> TopicConfig {
    let Some(configs) = configs else {
        return base;
    };
    match configs.get("message.timestamp.type").map(String::as_str) {
        Some("LogAppendTime") => base.message_timestamp_type = MessageTimestampType::LogAppendTime,
        Some("CreateTime") => base.message_timestamp_type = MessageTimestampType::CreateTime,
        _ => {}
    }
    if let Some(isr) = configs
        .get("min.insync.replicas")
        .and_then(|v| v.parse().ok())
    {
        base.min_insync_replicas = Some(isr);
    }
    base
}

#[cfg(test)]
mod tests {
    use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
    use kafka_protocol::messages::{ProduceRequest, TopicName};
    use kafka_protocol::records::Compression;

    use faultline_wire::records::encode_batch;
    use faultline_wire::ResponseError;

    use super::*;
    use crate::config::ClusterConfig;
    use crate::data_path_tests::{broker, produce_to, records, TOPIC};
    use crate::handlers::produce;
    use crate::metadata::MetadataRecord;

    /// `LogConfig.validate`: values are checked by type and range; names Kafka does not
    /// define are refused; configs the model would not honour are refused too.
    #[test]
    fn configs_are_enforced_accepted_or_refused() {
        assert_eq!(
            check("message.timestamp.type", "LogAppendTime"),
            Ok(Kind::Enforced)
        );
        assert_eq!(check("min.insync.replicas", "2"), Ok(Kind::Enforced));
        assert_eq!(
            check("cleanup.policy", "compact,delete"),
            Ok(Kind::Accepted)
        );
        assert_eq!(check("retention.ms", "-1"), Ok(Kind::Accepted));
        assert_eq!(check("segment.bytes", "52428800"), Ok(Kind::Accepted));
        assert!(check("min.insync.replicas", "0").is_err());
        assert!(check("retention.ms", "soon").is_err());
        assert!(check("cleanup.policy", "shred").is_err());
        assert!(check("compression.type", "zstd").is_err());
        assert!(check("flush.messages", "1").is_err());
        assert!(check("no.such.config", "1").is_err());
    }

    /// The topic's own configs override the cluster's static ones.
    #[test]
    fn a_topics_own_configs_win() {
        let configs: BTreeMap<String, String> = [
            (
                "message.timestamp.type".to_string(),
                "LogAppendTime".to_string(),
            ),
            ("min.insync.replicas".to_string(), "3".to_string()),
            ("cleanup.policy".to_string(), "compact".to_string()),
        ]
        .into();
        let config = effective(TopicConfig::default(), Some(&configs));
        assert_eq!(
            config.message_timestamp_type,
            MessageTimestampType::LogAppendTime
        );
        assert_eq!(config.min_insync_replicas, Some(3));
        assert_eq!(
            effective(TopicConfig::default(), None),
            TopicConfig::default()
        );
    }

    /// Configs a topic was created with (its metadata record) are enforced by every broker
    /// that replays it: `message.timestamp.type` stamps (KIP-32), and `min.insync.replicas`
    /// refuses an acks=all write to an ISR below it (NOT_ENOUGH_REPLICAS), above the cluster's
    /// own minimum.
    #[test]
    fn a_topics_own_configs_are_enforced() {
        let mut broker = broker(1, vec![1, 2], ClusterConfig::default());
        let configs = [
            ("message.timestamp.type", "LogAppendTime"),
            ("min.insync.replicas", "3"),
        ];
        broker.apply_metadata(
            &[MetadataRecord::Topic {
                name: TOPIC.into(),
                partitions: 2,
                configs: configs
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
            }],
            0,
        );
        assert_eq!(broker.min_insync_replicas_of(TOPIC), 3);
        produce_to(
            &mut broker,
            0,
            encode_batch(&records(2, 10, 100), None, Compression::None),
            9_000,
        );
        // Not yet replicated to the ISR's second replica: read the leader's log itself.
        let log = &broker.partitions[&(TOPIC.to_string(), 0)].log;
        let stamps: Vec<i64> = log.entries().iter().map(|e| e.timestamp).collect();
        assert_eq!(stamps, [9_000, 9_000]);
        let request = ProduceRequest::default()
            .with_acks(-1)
            .with_timeout_ms(1_000)
            .with_topic_data(vec![TopicProduceData::default()
                .with_name(TopicName(TOPIC.into()))
                .with_partition_data(vec![PartitionProduceData::default()
                    .with_index(0)
                    .with_records(Some(encode_batch(
                        &records(1, 10, 100),
                        None,
                        Compression::None,
                    )))])]);
        let results = produce::begin(&mut broker, &request, 9_001);
        assert!(
            matches!(
                results[0].outcome,
                produce::Outcome::Done(Err(ResponseError::NotEnoughReplicas))
            ),
            "{:?}",
            results[0].outcome
        );
    }
}
