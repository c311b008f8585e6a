//! The controller's topic administration: CreateTopics and DeleteTopics as brokers forward
//! them (KIP-590), decided here and appended to the metadata log every broker replays.

use std::collections::BTreeMap;

use faultline_wire::ResponseError;

use super::Controller;
use crate::config::TopicSpec;
use crate::events::ControllerEvent;
use crate::metadata::{MetadataRecord, METADATA_TOPIC};
use crate::topic_config;

impl Controller {
    /// Whether a topic exists.
    pub fn topic_exists(&self, name: &str) -> bool {
        self.topics.contains_key(name)
    }

    /// CreateTopics (KIP-590: brokers forward it to the controller, which decides and
    /// appends the records every broker then replays). `partitions` or
    /// `replication_factor` of -1 take the cluster defaults (KIP-464). With
    /// `validate_only`, checks and appends nothing. `configs` are the topic's own
    /// (INVALID_CONFIG unless [`topic_config::check_all`] accepts them). Returns what was
    /// (or would be) created.
    pub fn create_topic(
        &mut self,
        name: &str,
        partitions: i32,
        replication_factor: i32,
        configs: &BTreeMap<String, String>,
        validate_only: bool,
    ) -> Result<TopicSpec, ResponseError> {
        validate_topic_name(name)?;
        topic_config::check_all(configs).map_err(|_| ResponseError::InvalidConfig)?;
        if self.topics.contains_key(name) {
            return Err(ResponseError::TopicAlreadyExists);
        }
        let partitions = if partitions == -1 {
            self.config.num_partitions
        } else {
            partitions
        };
        let replication_factor = if replication_factor == -1 {
            self.config.default_replication_factor()
        } else {
            replication_factor
        };
        if partitions < 1 {
            return Err(ResponseError::InvalidPartitions);
        }
        let alive = self.alive_brokers();
        if replication_factor < 1 || replication_factor as usize > alive.len() {
            return Err(ResponseError::InvalidReplicationFactor);
        }
        let spec = TopicSpec {
            name: name.to_string(),
            partitions,
            replication_factor,
        };
        if !validate_only {
            let placement = place(&alive, 0..partitions, replication_factor);
            self.append_topic(&spec, placement, configs.clone());
            self.events.push(ControllerEvent::TopicCreated {
                name: name.to_string(),
                partitions,
                replication_factor,
            });
        }
        Ok(spec)
    }

    /// KRaft places replicas on unfenced brokers only, and refuses a replication factor
    /// they cannot reach (INVALID_REPLICATION_FACTOR, `ReplicationControlManager`).
    fn alive_brokers(&self) -> Vec<i32> {
        self.brokers
            .iter()
            .filter(|(_, b)| !b.fenced)
            .map(|(&id, _)| id)
            .collect()
    }

    /// CreatePartitions (KIP-195; forwarded like CreateTopics): grows `name` to `count`
    /// partitions, the new ones with the replication factor of its first and placed as a
    /// new topic's are. Only growth is allowed (INVALID_PARTITIONS otherwise, as Kafka's
    /// `ReplicationControlManager.createPartitions`); the internal topics keep their count,
    /// since groups and transactions are mapped onto it. With `validate_only`, checks and
    /// appends nothing.
    pub fn create_partitions(
        &mut self,
        name: &str,
        count: i32,
        validate_only: bool,
    ) -> Result<(), ResponseError> {
        let Some(&current) = self.topics.get(name) else {
            return Err(ResponseError::UnknownTopicOrPartition);
        };
        if is_internal(name) {
            return Err(ResponseError::InvalidTopicException);
        }
        if count <= current {
            return Err(ResponseError::InvalidPartitions);
        }
        let replication_factor = self
            .partitions
            .get(&(name.to_string(), 0))
            .map_or(1, |p| p.replicas.len() as i32);
        let alive = self.alive_brokers();
        if replication_factor as usize > alive.len() {
            return Err(ResponseError::InvalidReplicationFactor);
        }
        if validate_only {
            return Ok(());
        }
        let spec = TopicSpec {
            name: name.to_string(),
            partitions: count,
            replication_factor,
        };
        self.append(MetadataRecord::Topic {
            name: name.to_string(),
            partitions: count,
            configs: self.topic_configs.get(name).cloned().unwrap_or_default(),
        });
        let placement = place(&alive, current..count, replication_factor);
        self.append_partitions(&spec, current, placement);
        self.events.push(ControllerEvent::PartitionsCreated {
            name: name.to_string(),
            from: current,
            to: count,
        });
        Ok(())
    }

    /// The configs `name` was given (empty for none), or `None` for an unknown topic.
    pub fn topic_own_configs(&self, name: &str) -> Option<BTreeMap<String, String>> {
        self.topics
            .contains_key(name)
            .then(|| self.topic_configs.get(name).cloned().unwrap_or_default())
    }

    /// AlterConfigs and IncrementalAlterConfigs of a topic (KIP-133, KIP-339; forwarded
    /// like CreateTopics, KIP-590): `configs` become the topic's own, appended as its topic
    /// record again, which every broker replays. INVALID_CONFIG unless
    /// [`topic_config::check_all`] accepts them; internal topics are not altered.
    pub fn set_topic_configs(
        &mut self,
        name: &str,
        configs: BTreeMap<String, String>,
        validate_only: bool,
    ) -> Result<(), ResponseError> {
        let Some(&partitions) = self.topics.get(name) else {
            return Err(ResponseError::UnknownTopicOrPartition);
        };
        if is_internal(name) {
            return Err(ResponseError::InvalidTopicException);
        }
        topic_config::check_all(&configs).map_err(|_| ResponseError::InvalidConfig)?;
        if validate_only {
            return Ok(());
        }
        self.append(MetadataRecord::Topic {
            name: name.to_string(),
            partitions,
            configs,
        });
        self.events.push(ControllerEvent::TopicConfigsChanged {
            name: name.to_string(),
        });
        Ok(())
    }

    /// DeleteTopics (forwarded like CreateTopics): one record removes the topic and its
    /// partitions; brokers drop their replicas when they replay it. The internal offsets
    /// topic cannot be deleted.
    pub fn delete_topic(&mut self, name: &str) -> Result<(), ResponseError> {
        if !self.topics.contains_key(name) {
            return Err(ResponseError::UnknownTopicOrPartition);
        }
        if is_internal(name) {
            return Err(ResponseError::InvalidTopicException);
        }
        self.append(MetadataRecord::TopicRemoved {
            name: name.to_string(),
        });
        self.events.push(ControllerEvent::TopicDeleted {
            name: name.to_string(),
        });
        Ok(())
    }
}

/// The internal topics, which clients may neither delete nor grow.
fn is_internal(name: &str) -> bool {
    name == crate::group::OFFSETS_TOPIC
        || name == crate::txn::TRANSACTION_STATE_TOPIC
        || name == METADATA_TOPIC
}

/// Replicas for `partitions`: round-robin over the live brokers, rotated per partition
/// (no racks).
fn place(
    alive: &[i32],
    partitions: std::ops::Range<i32>,
    replication_factor: i32,
) -> Vec<Vec<i32>> {
    partitions
        .map(|p| {
            (0..replication_factor as usize)
                .map(|i| alive[(p as usize + i) % alive.len()])
                .collect()
        })
        .collect()
}

/// Kafka's topic name rules (`org.apache.kafka.common.internals.Topic.validate`): 1 to
/// 249 characters of ASCII letters, digits, `.`, `_` and `-`, and not `.` or `..`.
pub(crate) fn validate_topic_name(name: &str) -> Result<(), ResponseError> {
    let legal = name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if name.is_empty() || name.len() > 249 || name == "." || name == ".." || !legal {
        return Err(ResponseError::InvalidTopicException);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::controller;

    /// KIP-590/KIP-464: a created topic gets registrations for every partition (defaults
    /// for -1), a second create is TOPIC_ALREADY_EXISTS, and a delete removes them all.
    #[test]
    fn topics_are_created_and_deleted_through_the_log() {
        let mut c = controller();
        let spec = c
            .create_topic("orders", -1, -1, &BTreeMap::new(), false)
            .unwrap();
        assert_eq!((spec.partitions, spec.replication_factor), (1, 3));
        assert!(c.partition(&("orders".into(), 0)).is_some());
        assert_eq!(
            c.create_topic("orders", 2, 1, &BTreeMap::new(), false),
            Err(ResponseError::TopicAlreadyExists)
        );
        assert_eq!(
            c.create_topic("bad/name", 1, 1, &BTreeMap::new(), false),
            Err(ResponseError::InvalidTopicException)
        );
        assert_eq!(
            c.create_topic("wide", 1, 4, &BTreeMap::new(), false),
            Err(ResponseError::InvalidReplicationFactor)
        );
        assert_eq!(
            c.create_topic("none", 0, 1, &BTreeMap::new(), false),
            Err(ResponseError::InvalidPartitions)
        );
        c.create_topic("dry", 2, 1, &BTreeMap::new(), true).unwrap();
        assert!(!c.topic_exists("dry"), "validate_only creates nothing");
        c.delete_topic("orders").unwrap();
        assert!(c.partition(&("orders".into(), 0)).is_none());
        assert_eq!(
            c.delete_topic("orders"),
            Err(ResponseError::UnknownTopicOrPartition)
        );
    }

    /// `LogConfig.validate`: a topic config Kafka does not define, or a bad value, is
    /// INVALID_CONFIG and creates nothing; valid ones are accepted.
    #[test]
    fn topic_configs_are_checked_before_anything_is_created() {
        let mut c = controller();
        let configs = |pairs: &[(&str, &str)]| -> BTreeMap<String, String> {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        assert_eq!(
            c.create_topic("a", 1, 1, &configs(&[("no.such.config", "1")]), false),
            Err(ResponseError::InvalidConfig)
        );
        assert_eq!(
            c.create_topic("a", 1, 1, &configs(&[("min.insync.replicas", "0")]), false),
            Err(ResponseError::InvalidConfig)
        );
        assert!(!c.topic_exists("a"));
        let good = configs(&[("cleanup.policy", "compact"), ("min.insync.replicas", "2")]);
        c.create_topic("a", 1, 1, &good, false).unwrap();
        assert!(c.topic_exists("a"));
        // Growing it keeps its configs (the topic record is appended again).
        c.create_partitions("a", 2, false).unwrap();
        assert_eq!(c.topic_configs.get("a"), Some(&good));
    }

    /// KIP-195: a topic grows to the count asked, its new partitions replicated like its
    /// first; shrinking or keeping the count is INVALID_PARTITIONS, an unknown topic
    /// UNKNOWN_TOPIC_OR_PARTITION, an internal one INVALID_TOPIC_EXCEPTION.
    #[test]
    fn kip_195_partitions_are_added_never_removed() {
        let mut c = controller();
        c.create_topic("orders", 1, 3, &BTreeMap::new(), false)
            .unwrap();
        c.create_partitions("orders", 3, true).unwrap();
        assert!(
            c.partition(&("orders".into(), 1)).is_none(),
            "validate_only"
        );
        c.create_partitions("orders", 3, false).unwrap();
        assert_eq!(c.topics["orders"], 3);
        for p in 1..3 {
            let registration = c.partition(&("orders".into(), p)).expect("registered");
            assert_eq!(registration.replicas.len(), 3);
            assert_eq!(registration.leader, registration.replicas[0]);
        }
        for count in [3, 2] {
            assert_eq!(
                c.create_partitions("orders", count, false),
                Err(ResponseError::InvalidPartitions)
            );
        }
        assert_eq!(
            c.create_partitions("nowhere", 2, false),
            Err(ResponseError::UnknownTopicOrPartition)
        );
        assert!(c.topic_exists(crate::group::OFFSETS_TOPIC), "bootstrapped");
        assert_eq!(
            c.create_partitions(crate::group::OFFSETS_TOPIC, 9, false),
            Err(ResponseError::InvalidTopicException)
        );
    }
}
