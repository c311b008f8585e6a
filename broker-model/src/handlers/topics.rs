//! CreateTopics, DeleteTopics and CreatePartitions (KIP-195). A broker forwards them to the controller, which decides
//! (KIP-590; in KRaft only the controller writes topic records, KIP-500), and fits the
//! controller's answer back to the version the client spoke.

use std::collections::BTreeMap;

use kafka_protocol::messages::create_partitions_response::CreatePartitionsTopicResult;
use kafka_protocol::messages::create_topics_request::CreatableTopic;
use kafka_protocol::messages::create_topics_response::{
    CreatableTopicConfigs, CreatableTopicResult,
};
use kafka_protocol::messages::delete_topics_response::DeletableTopicResult;
use kafka_protocol::messages::{
    CreatePartitionsRequest, CreatePartitionsResponse, CreateTopicsRequest, CreateTopicsResponse,
    DeleteTopicsRequest, DeleteTopicsResponse, TopicName,
};
use kafka_protocol::protocol::StrBytes;

use faultline_wire::ResponseError;

use crate::broker::Broker;
use crate::controller::Controller;
use crate::handlers::describe_configs;
use crate::metadata::topic_id;
use crate::topic_config;

/// The controller's CreateTopics: each topic on its own (one bad name does not fail the
/// others), answered at the newest version; the broker fits it to the client's.
pub fn create_topics(
    controller: &mut Controller,
    request: &CreateTopicsRequest,
) -> CreateTopicsResponse {
    let topics = request
        .topics
        .iter()
        .map(|topic| create_one(controller, topic, request.validate_only))
        .collect();
    CreateTopicsResponse::default().with_topics(topics)
}

fn create_one(
    controller: &mut Controller,
    topic: &CreatableTopic,
    validate_only: bool,
) -> CreatableTopicResult {
    let name = topic.name.0.to_string();
    let configs: Result<BTreeMap<String, String>, String> = topic
        .configs
        .iter()
        .map(|c| match &c.value {
            Some(value) => Ok((c.name.to_string(), value.to_string())),
            None => Err(format!("{}: a null value is not a topic config", c.name)),
        })
        .collect();
    // Kafka checks the configs (`LogConfig.validate`) and names the bad one.
    let configs = configs.and_then(|configs| topic_config::check_all(&configs).map(|()| configs));
    // Explicit replica assignments are not modelled: Kafka's placement is used.
    let result = match configs {
        Err(reason) => Err((ResponseError::InvalidConfig, Some(reason))),
        Ok(_) if !topic.assignments.is_empty() => {
            Err((ResponseError::InvalidReplicaAssignment, None))
        }
        Ok(configs) => controller
            .create_topic(
                &name,
                topic.num_partitions,
                i32::from(topic.replication_factor),
                &configs,
                validate_only,
            )
            .map(|spec| (spec, configs))
            .map_err(|error| (error, None)),
    };
    let answer = CreatableTopicResult::default()
        .with_name(topic.name.clone())
        .with_topic_id(topic_id(&name));
    match result {
        // KIP-525: the created topic's configs come back with it (v5+).
        Ok((spec, configs)) => answer
            .with_error_message(None)
            .with_num_partitions(spec.partitions)
            .with_replication_factor(spec.replication_factor as i16)
            .with_configs(Some(created_configs(controller, &name, &configs))),
        Err((error, reason)) => answer
            .with_error_code(error.code())
            .with_error_message(Some(StrBytes::from_string(
                reason.unwrap_or_else(|| error.to_string()),
            ))),
    }
}

/// A created topic's configs as CreateTopics v5+ reports them (KIP-525): what
/// DescribeConfigs would answer.
fn created_configs(
    controller: &Controller,
    name: &str,
    configs: &BTreeMap<String, String>,
) -> Vec<CreatableTopicConfigs> {
    describe_configs::topic_configs_with(controller.config(), name, Some(configs))
        .into_iter()
        .map(|described| {
            CreatableTopicConfigs::default()
                .with_name(StrBytes::from_string(described.name))
                .with_value(Some(StrBytes::from_string(described.value)))
                .with_read_only(false)
                .with_config_source(described.source as i8)
                .with_is_sensitive(false)
        })
        .collect()
}

/// The controller's DeleteTopics (by name: the broker resolved ids).
pub fn delete_topics(
    controller: &mut Controller,
    request: &DeleteTopicsRequest,
) -> DeleteTopicsResponse {
    let responses = request
        .topic_names
        .iter()
        .map(|name| {
            let code = controller
                .delete_topic(name.0.as_str())
                .err()
                .map_or(0, |e| e.code());
            DeletableTopicResult::default()
                .with_name(Some(name.clone()))
                .with_topic_id(topic_id(name.0.as_str()))
                .with_error_code(code)
        })
        .collect();
    DeleteTopicsResponse::default().with_responses(responses)
}

/// The DeleteTopics to forward: v6 clients may name topics by id (KIP-516), which this
/// broker resolves against its metadata image; unknown ids stay unresolved and are
/// answered UNKNOWN_TOPIC_ID by [`fit_delete_topics`].
pub fn delete_by_name(broker: &Broker, request: &DeleteTopicsRequest) -> DeleteTopicsRequest {
    let mut names = request.topic_names.clone();
    for state in &request.topics {
        let name = match &state.name {
            Some(name) => Some(name.0.to_string()),
            None => broker
                .image
                .topics
                .keys()
                .find(|name| topic_id(name) == state.topic_id)
                .cloned(),
        };
        if let Some(name) = name {
            names.push(TopicName(StrBytes::from_string(name)));
        }
    }
    DeleteTopicsRequest::default()
        .with_topic_names(names)
        .with_timeout_ms(request.timeout_ms)
}

/// The answer when the controller did not answer.
pub fn create_topics_failed(request: &CreateTopicsRequest, version: i16) -> CreateTopicsResponse {
    let topics = request
        .topics
        .iter()
        .map(|t| {
            CreatableTopicResult::default()
                .with_name(t.name.clone())
                .with_error_code(ResponseError::RequestTimedOut.code())
        })
        .collect();
    fit_create_topics(CreateTopicsResponse::default().with_topics(topics), version)
}

/// Resets what `version` of CreateTopicsResponse lacks (error_message v1+; counts and
/// configs v5+, KIP-525; topic_id v7+, KIP-516).
pub fn fit_create_topics(mut response: CreateTopicsResponse, version: i16) -> CreateTopicsResponse {
    for topic in &mut response.topics {
        if version < 7 {
            topic.topic_id = uuid::Uuid::nil();
        }
        if version < 5 {
            topic.num_partitions = -1;
            topic.replication_factor = -1;
            topic.configs = Some(Vec::new());
            topic.topic_config_error_code = 0;
        }
        if version < 1 {
            topic.error_message = Some(StrBytes::default());
        }
    }
    response
}

/// The DeleteTopics answer for the client: the controller's per-name results, plus
/// UNKNOWN_TOPIC_ID for ids this broker could not resolve, fitted to `version`
/// (error_message v5+; names nullable and topic ids v6+).
pub fn fit_delete_topics(
    request: &DeleteTopicsRequest,
    forwarded: Option<DeleteTopicsResponse>,
    version: i16,
) -> DeleteTopicsResponse {
    let mut responses: Vec<DeletableTopicResult> = match forwarded {
        Some(answer) => answer.responses,
        None => request
            .topic_names
            .iter()
            .map(|name| {
                DeletableTopicResult::default()
                    .with_name(Some(name.clone()))
                    .with_error_code(ResponseError::RequestTimedOut.code())
            })
            .collect(),
    };
    for state in request.topics.iter().filter(|s| s.name.is_none()) {
        let resolved = responses.iter().any(|r| r.topic_id == state.topic_id);
        if !resolved {
            responses.push(
                DeletableTopicResult::default()
                    .with_name(None)
                    .with_topic_id(state.topic_id)
                    .with_error_code(ResponseError::UnknownTopicId.code()),
            );
        }
    }
    for response in &mut responses {
        if version < 6 {
            response.topic_id = uuid::Uuid::nil();
            if response.name.is_none() {
                response.name = Some(TopicName(StrBytes::default()));
            }
        }
        if version < 5 {
            response.error_message = None;
        }
    }
    DeleteTopicsResponse::default().with_responses(responses)
}

/// The controller's CreatePartitions: each topic on its own. Explicit assignments are not
/// modelled (INVALID_REPLICA_ASSIGNMENT): the new partitions are placed as a new topic's.
pub fn create_partitions(
    controller: &mut Controller,
    request: &CreatePartitionsRequest,
) -> CreatePartitionsResponse {
    let results = request
        .topics
        .iter()
        .map(|topic| {
            let result = if topic.assignments.is_some() {
                Err(ResponseError::InvalidReplicaAssignment)
            } else {
                controller.create_partitions(&topic.name.0, topic.count, request.validate_only)
            };
            let answer = CreatePartitionsTopicResult::default().with_name(topic.name.clone());
            match result {
                Ok(()) => answer.with_error_message(None),
                Err(error) => answer
                    .with_error_code(error.code())
                    .with_error_message(Some(StrBytes::from_string(error.to_string()))),
            }
        })
        .collect();
    CreatePartitionsResponse::default().with_results(results)
}

/// The answer when the controller could not be asked in time: REQUEST_TIMED_OUT for each
/// topic (the growth may still happen).
pub fn create_partitions_failed(request: &CreatePartitionsRequest) -> CreatePartitionsResponse {
    let results = request
        .topics
        .iter()
        .map(|topic| {
            CreatePartitionsTopicResult::default()
                .with_name(topic.name.clone())
                .with_error_code(ResponseError::RequestTimedOut.code())
        })
        .collect();
    CreatePartitionsResponse::default().with_results(results)
}

#[cfg(test)]
mod tests {
    use kafka_protocol::messages::create_topics_request::CreatableTopicConfig;

    use super::*;
    use crate::handlers::describe_configs::ConfigSource;
    use crate::test_support::controller;

    /// KIP-525: CreateTopics v5+ answers with the created topic's configs, its own among
    /// them as DYNAMIC_TOPIC_CONFIG; a rejected topic gets none.
    #[test]
    fn kip_525_the_created_topics_configs_come_back() {
        let mut c = controller();
        let config = |name: &str, value: &str| {
            CreatableTopicConfig::default()
                .with_name(StrBytes::from_string(name.to_string()))
                .with_value(Some(StrBytes::from_string(value.to_string())))
        };
        let topic = |name: &str, configs| {
            CreatableTopic::default()
                .with_name(TopicName(StrBytes::from_string(name.to_string())))
                .with_num_partitions(1)
                .with_replication_factor(3)
                .with_configs(configs)
        };
        let request = CreateTopicsRequest::default().with_topics(vec![
            topic("compacted", vec![config("cleanup.policy", "compact")]),
            topic("bad", vec![config("no.such.config", "1")]),
        ]);
        let response = create_topics(&mut c, &request);
        let created = &response.topics[0];
        assert_eq!(created.error_code, 0);
        let configs = created.configs.as_ref().expect("v5+ configs");
        let policy = configs
            .iter()
            .find(|c| c.name.as_str() == "cleanup.policy")
            .unwrap();
        assert_eq!(policy.value.as_deref(), Some("compact"));
        assert_eq!(policy.config_source, ConfigSource::DynamicTopic as i8);
        assert!(configs
            .iter()
            .any(|c| c.name.as_str() == "min.insync.replicas"));
        let refused = &response.topics[1];
        assert_eq!(refused.error_code, ResponseError::InvalidConfig.code());
        assert!(refused
            .error_message
            .as_deref()
            .is_some_and(|m| m.contains("no.such.config")));
    }
}
