//! DescribeConfigs (KIP-133; sources and synonyms KIP-226; types and documentation
//! KIP-569): the configs this broker and its topics run with, as Kafka's `ConfigHelper`
//! answers them.
//!
//! Only configs the model enforces are described, each with the value it enforces: a tool
//! that reads `min.insync.replicas` or `message.timestamp.type` here reads what the
//! broker does. Values that differ from Kafka's defaults say so by their source
//! (`STATIC_BROKER_CONFIG`). Topic configs can be altered (`alter_configs`); broker
//! configs are static here, so they are read-only.

use std::collections::BTreeMap;

use kafka_protocol::messages::describe_configs_response::{
    DescribeConfigsResourceResult, DescribeConfigsResult, DescribeConfigsSynonym,
};
use kafka_protocol::messages::{DescribeConfigsRequest, DescribeConfigsResponse};
use kafka_protocol::protocol::StrBytes;

use faultline_wire::ResponseError;

use crate::broker::Broker;
use crate::config::{ClusterConfig, FsyncPolicy, MessageTimestampType};

/// `ConfigResource.Type` (KIP-133): a topic.
pub const RESOURCE_TOPIC: i8 = 2;
/// `ConfigResource.Type` (KIP-133): a broker (its id) or, with an empty name, the
/// cluster-wide defaults.
pub const RESOURCE_BROKER: i8 = 4;

/// `DescribeConfigsResponse.ConfigSource` (KIP-226).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(i8)]
pub enum ConfigSource {
    /// Set for this topic.
    DynamicTopic = 1,
    /// Set in the broker's static configuration (here: the cluster config).
    StaticBroker = 4,
    /// Kafka's default.
    Default = 5,
}

/// `ConfigDef.Type` as DescribeConfigs v3+ reports it (KIP-569).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(i8)]
pub enum ConfigType {
    /// `true` / `false`.
    Boolean = 1,
    /// A string.
    String = 2,
    /// A 32-bit integer.
    Int = 3,
    /// A 64-bit integer.
    Long = 5,
    /// A floating-point number.
    Double = 6,
    /// A comma-separated list.
    List = 7,
}

/// One described config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Described {
    /// Its name.
    pub name: String,
    /// Its value.
    pub value: String,
    /// Where the value comes from.
    pub source: ConfigSource,
    /// Its type.
    pub config_type: ConfigType,
    /// For a topic config, the broker config it defaults to (its synonym, KIP-226).
    pub broker_synonym: Option<&'static str>,
}

fn entry(
    name: &str,
    value: impl ToString,
    source: ConfigSource,
    config_type: ConfigType,
) -> Described {
    Described {
        name: name.to_string(),
        value: value.to_string(),
        source,
        config_type,
        broker_synonym: None,
    }
}

/// The source of a cluster-wide value: Kafka's default when it equals `kafka_default`.
fn static_or_default<T: PartialEq>(value: T, kafka_default: T) -> ConfigSource {
    if value == kafka_default {
        ConfigSource::Default
    } else {
        ConfigSource::StaticBroker
    }
}

/// The configs of `topic` (which must exist) as `broker` runs it.
pub fn topic_configs(broker: &Broker, topic: &str) -> Vec<Described> {
    topic_configs_with(&broker.config, topic, broker.image.topic_configs.get(topic))
}

/// The configs of `topic` in a cluster configured by `config`, the topic having `own`
/// configs of its own: those the model enforces and reports by default, then every other
/// config the topic was given.
pub fn topic_configs_with(
    config: &ClusterConfig,
    topic: &str,
    own: Option<&BTreeMap<String, String>>,
) -> Vec<Described> {
    use ConfigSource::*;
    use ConfigType::*;
    let set_on_topic = |name: &str| own.is_some_and(|own| own.contains_key(name));
    let effective = crate::topic_config::effective(config.topic_config(topic), own);
    let timestamp_type = match effective.message_timestamp_type {
        MessageTimestampType::CreateTime => "CreateTime",
        MessageTimestampType::LogAppendTime => "LogAppendTime",
    };
    let timestamp_source =
        if config.topic_configs.contains_key(topic) || set_on_topic("message.timestamp.type") {
            DynamicTopic
        } else {
            Default
        };
    let isr = effective
        .min_insync_replicas
        .unwrap_or(config.min_insync_replicas);
    let isr_source = if set_on_topic("min.insync.replicas") {
        DynamicTopic
    } else {
        static_or_default(config.min_insync_replicas, 1)
    };
    let mut configs = vec![
        // The model never deletes by age or size, nor compacts (KIP-107's DeleteRecords
        // is the only way data leaves a log).
        entry("cleanup.policy", "delete", Default, List),
        entry("compression.type", "producer", Default, String),
        entry(
            "message.timestamp.type",
            timestamp_type,
            timestamp_source,
            String,
        ),
        entry("min.insync.replicas", isr, isr_source, Int),
        entry("retention.bytes", -1, Default, Long),
        entry("retention.ms", -1, StaticBroker, Long),
        entry("unclean.leader.election.enable", false, Default, Boolean),
    ];
    // The topic's own settings of the configs above replace them; the rest follow.
    for (name, value) in own.into_iter().flatten() {
        match configs.iter_mut().find(|d| d.name == *name) {
            Some(described) => {
                described.value = value.clone();
                described.source = DynamicTopic;
            }
            None => configs.push(entry(name, value, DynamicTopic, type_of(name))),
        }
    }
    for described in &mut configs {
        described.broker_synonym = match described.name.as_str() {
            "compression.type" => Some("compression.type"),
            "message.timestamp.type" => Some("log.message.timestamp.type"),
            "min.insync.replicas" => Some("min.insync.replicas"),
            "retention.bytes" => Some("log.retention.bytes"),
            "retention.ms" => Some("log.retention.ms"),
            "unclean.leader.election.enable" => Some("unclean.leader.election.enable"),
            "cleanup.policy" => Some("log.cleanup.policy"),
            _ => None,
        };
    }
    configs
}

/// The type of a topic config the model accepts (`topic_config::check`).
pub fn type_of(name: &str) -> ConfigType {
    match name {
        "cleanup.policy" => ConfigType::List,
        "preallocate" => ConfigType::Boolean,
        "min.cleanable.dirty.ratio" => ConfigType::Double,
        "segment.bytes" | "segment.index.bytes" | "index.interval.bytes" => ConfigType::Int,
        _ if name.ends_with(".ms") || name.ends_with(".bytes") => ConfigType::Long,
        _ => ConfigType::String,
    }
}

/// The configs of broker `node_id`.
pub fn broker_configs(config: &ClusterConfig, node_id: i32) -> Vec<Described> {
    use ConfigSource::*;
    use ConfigType::*;
    let flush_messages = match config.fsync {
        FsyncPolicy::Never => i64::MAX,
        FsyncPolicy::Always => 1,
        FsyncPolicy::EveryMessages(n) => i64::try_from(n).unwrap_or(i64::MAX),
    };
    let c = config;
    // A number with Kafka's default for it.
    let number = |name, value: i64, kafka_default: i64, config_type| {
        entry(
            name,
            value,
            static_or_default(value, kafka_default),
            config_type,
        )
    };
    let auto_create = c.auto_create_topics_enable;
    vec![
        entry(
            "auto.create.topics.enable",
            auto_create,
            static_or_default(auto_create, true),
            Boolean,
        ),
        number(
            "broker.heartbeat.interval.ms",
            c.broker_heartbeat_interval_ms as i64,
            2_000,
            Int,
        ),
        number(
            "broker.session.timeout.ms",
            c.broker_session_timeout_ms as i64,
            9_000,
            Int,
        ),
        number(
            "group.initial.rebalance.delay.ms",
            c.group_initial_rebalance_delay_ms as i64,
            3_000,
            Int,
        ),
        number(
            "group.max.session.timeout.ms",
            c.group_max_session_timeout_ms as i64,
            1_800_000,
            Int,
        ),
        number(
            "group.min.session.timeout.ms",
            c.group_min_session_timeout_ms as i64,
            6_000,
            Int,
        ),
        number(
            "log.flush.interval.messages",
            flush_messages,
            i64::MAX,
            Long,
        ),
        number(
            "min.insync.replicas",
            i64::from(c.min_insync_replicas),
            1,
            Int,
        ),
        entry("node.id", node_id, StaticBroker, Int),
        number("num.partitions", i64::from(c.num_partitions), 1, Int),
        number(
            "offsets.topic.num.partitions",
            i64::from(c.offsets_topic_partitions),
            50,
            Int,
        ),
        number(
            "replica.fetch.wait.max.ms",
            c.replica_fetch_wait_max_ms as i64,
            500,
            Int,
        ),
        number(
            "replica.lag.time.max.ms",
            c.replica_lag_time_max_ms as i64,
            30_000,
            Long,
        ),
        number(
            "transaction.state.log.num.partitions",
            i64::from(c.transaction_state_partitions),
            50,
            Int,
        ),
    ]
}

/// DescribeConfigs: each resource on its own. A topic this broker does not know is
/// UNKNOWN_TOPIC_OR_PARTITION; a broker resource naming another broker is INVALID_REQUEST
/// (the admin client sends it to that broker), one with an empty name describes the
/// cluster-wide dynamic defaults (there are none); other resource types (loggers, client
/// metrics, groups) are INVALID_REQUEST. `configuration_keys` narrows the answer; unknown
/// keys are left out, as Kafka does.
pub fn describe_configs(
    broker: &Broker,
    request: &DescribeConfigsRequest,
    version: i16,
) -> DescribeConfigsResponse {
    let results = request
        .resources
        .iter()
        .map(|resource| {
            let name = resource.resource_name.as_str();
            let described = match resource.resource_type {
                RESOURCE_TOPIC if broker.image.topics.contains_key(name) => {
                    Ok(topic_configs(broker, name))
                }
                RESOURCE_TOPIC => Err(ResponseError::UnknownTopicOrPartition),
                RESOURCE_BROKER if name.is_empty() => Ok(Vec::new()),
                RESOURCE_BROKER if name.parse::<i32>() == Ok(broker.node_id) => {
                    Ok(broker_configs(&broker.config, broker.node_id))
                }
                _ => Err(ResponseError::InvalidRequest),
            };
            let result = DescribeConfigsResult::default()
                .with_resource_type(resource.resource_type)
                .with_resource_name(resource.resource_name.clone());
            match described {
                Ok(configs) => {
                    let wanted = |d: &Described| {
                        resource
                            .configuration_keys
                            .as_ref()
                            .is_none_or(|keys| keys.iter().any(|k| k.as_str() == d.name.as_str()))
                    };
                    let configs = configs
                        .iter()
                        .filter(|d| wanted(d))
                        .map(|d| {
                            let read_only = resource.resource_type != RESOURCE_TOPIC;
                            answer(d, read_only, request.include_synonyms, version)
                        })
                        .collect();
                    result.with_error_message(None).with_configs(configs)
                }
                Err(error) => result
                    .with_error_code(error.code())
                    .with_error_message(Some(StrBytes::from_string(error.to_string()))),
            }
        })
        .collect();
    DescribeConfigsResponse::default().with_results(results)
}

fn answer(
    described: &Described,
    read_only: bool,
    include_synonyms: bool,
    version: i16,
) -> DescribeConfigsResourceResult {
    let value = StrBytes::from_string(described.value.clone());
    // KIP-226 lists every level a value could come from, by precedence; we name the one
    // it does come from: the topic's own setting, else the broker config it defaults to.
    let mut synonyms = Vec::new();
    if include_synonyms {
        let name = match described.source {
            ConfigSource::DynamicTopic => described.name.as_str(),
            _ => described.broker_synonym.unwrap_or(&described.name),
        };
        synonyms.push(
            DescribeConfigsSynonym::default()
                .with_name(StrBytes::from_string(name.to_string()))
                .with_value(Some(value.clone()))
                .with_source(described.source as i8),
        );
    }
    let result = DescribeConfigsResourceResult::default()
        .with_name(StrBytes::from_string(described.name.clone()))
        .with_value(Some(value))
        .with_read_only(read_only)
        .with_config_source(described.source as i8)
        .with_is_sensitive(false)
        .with_synonyms(synonyms)
        .with_documentation(None);
    if version >= 3 {
        result.with_config_type(described.config_type as i8)
    } else {
        result
    }
}

#[cfg(test)]
mod tests {
    use kafka_protocol::messages::describe_configs_request::DescribeConfigsResource;

    use super::*;
    use crate::data_path_tests::{broker, TOPIC};
    use crate::test_support::log_append_time;

    fn resource(resource_type: i8, name: &str, keys: Option<&[&str]>) -> DescribeConfigsResource {
        DescribeConfigsResource::default()
            .with_resource_type(resource_type)
            .with_resource_name(StrBytes::from_string(name.to_string()))
            .with_configuration_keys(keys.map(|keys| {
                keys.iter()
                    .map(|k| StrBytes::from_string(k.to_string()))
                    .collect()
            }))
    }

    fn value<'a>(result: &'a DescribeConfigsResult, name: &str) -> Option<&'a str> {
        let config = result.configs.iter().find(|c| c.name.as_str() == name)?;
        config.value.as_deref()
    }

    /// KIP-133: a topic's configs are the values the broker enforces; an unknown topic is
    /// UNKNOWN_TOPIC_OR_PARTITION, without failing the other resources.
    #[test]
    fn kip_133_topics_are_described_with_the_values_enforced() {
        let config = log_append_time(TOPIC);
        let broker = broker(1, vec![1, 2, 3], config);
        let request = DescribeConfigsRequest::default().with_resources(vec![
            resource(RESOURCE_TOPIC, TOPIC, None),
            resource(RESOURCE_TOPIC, "nowhere", None),
        ]);
        let response = describe_configs(&broker, &request, 4);
        let events = &response.results[0];
        assert_eq!(events.error_code, 0);
        assert_eq!(
            value(events, "message.timestamp.type"),
            Some("LogAppendTime")
        );
        assert_eq!(value(events, "min.insync.replicas"), Some("2"));
        let timestamp = events
            .configs
            .iter()
            .find(|c| c.name.as_str() == "message.timestamp.type")
            .unwrap();
        assert_eq!(timestamp.config_source, ConfigSource::DynamicTopic as i8);
        assert_eq!(timestamp.config_type, ConfigType::String as i8, "v3+ types");
        assert_eq!(
            response.results[1].error_code,
            ResponseError::UnknownTopicOrPartition.code()
        );
    }

    /// KIP-133: `configuration_keys` narrows the answer and unknown keys are left out;
    /// KIP-226: a synonym names where the value comes from.
    #[test]
    fn kip_226_keys_narrow_and_synonyms_name_the_source() {
        let broker = broker(1, vec![1, 2, 3], ClusterConfig::default());
        let keys = ["min.insync.replicas", "no.such.config"];
        let request = DescribeConfigsRequest::default()
            .with_resources(vec![resource(RESOURCE_TOPIC, TOPIC, Some(&keys))])
            .with_include_synonyms(true);
        let response = describe_configs(&broker, &request, 2);
        let configs = &response.results[0].configs;
        assert_eq!(configs.len(), 1);
        assert_eq!(configs[0].config_source, ConfigSource::StaticBroker as i8);
        assert_eq!(configs[0].synonyms.len(), 1);
        assert_eq!(configs[0].synonyms[0].name.as_str(), "min.insync.replicas");
        assert_eq!(configs[0].config_type, 0, "no types before v3");
    }

    /// Kafka's `ConfigHelper`: a broker describes itself; another broker's id is
    /// INVALID_REQUEST; an empty name is the cluster defaults (none set dynamically).
    #[test]
    fn a_broker_describes_itself_only() {
        let broker = broker(2, vec![1, 2, 3], ClusterConfig::default());
        let request = DescribeConfigsRequest::default().with_resources(vec![
            resource(RESOURCE_BROKER, "2", None),
            resource(RESOURCE_BROKER, "1", None),
            resource(RESOURCE_BROKER, "", None),
            resource(8, "2", None),
        ]);
        let response = describe_configs(&broker, &request, 4);
        assert_eq!(value(&response.results[0], "node.id"), Some("2"));
        assert_eq!(value(&response.results[0], "num.partitions"), Some("1"));
        let codes: Vec<i16> = response.results.iter().map(|r| r.error_code).collect();
        let invalid = ResponseError::InvalidRequest.code();
        assert_eq!(codes, vec![0, invalid, 0, invalid]);
        assert!(response.results[2].configs.is_empty());
    }
}
