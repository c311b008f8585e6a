//! AlterConfigs (KIP-133) and IncrementalAlterConfigs (KIP-339) of topics, which a broker
//! forwards to the controller (KIP-590). The controller works out the topic's new configs,
//! checks them as CreateTopics' are (`topic_config::check_all`) and appends the topic's
//! record again; every broker then runs with them once it replays it.
//!
//! AlterConfigs replaces a topic's configs with those given; IncrementalAlterConfigs
//! changes them one by one: SET, DELETE (back to the default), and APPEND / SUBTRACT for
//! list configs only (`cleanup.policy`), as Kafka's `ConfigAdminManager` does. Broker
//! configs are static in this model: altering one is INVALID_REQUEST.

use std::collections::BTreeMap;

use kafka_protocol::messages::alter_configs_response::AlterConfigsResourceResponse as LegacyAnswer;
use kafka_protocol::messages::incremental_alter_configs_response::AlterConfigsResourceResponse;
use kafka_protocol::messages::{
    AlterConfigsRequest, AlterConfigsResponse, IncrementalAlterConfigsRequest,
    IncrementalAlterConfigsResponse,
};
use kafka_protocol::protocol::StrBytes;

use faultline_wire::ResponseError;

use crate::controller::Controller;
use crate::handlers::describe_configs::{type_of, ConfigType, RESOURCE_TOPIC};
use crate::topic_config;

/// An answer for one resource: NONE, or an error and why.
type Outcome = Result<(), (ResponseError, String)>;

/// IncrementalAlterConfigs `config_operation` (KIP-339).
const SET: i8 = 0;
const DELETE: i8 = 1;
const APPEND: i8 = 2;
const SUBTRACT: i8 = 3;

/// `current` after one IncrementalAlterConfigs operation.
fn apply(
    current: &mut BTreeMap<String, String>,
    name: &str,
    operation: i8,
    value: Option<&str>,
) -> Result<(), String> {
    // APPEND and SUBTRACT apply to LIST configs only.
    let list = type_of(name) == ConfigType::List;
    match (operation, value) {
        (SET, Some(value)) => {
            current.insert(name.to_string(), value.to_string());
        }
        (DELETE, _) => {
            current.remove(name);
        }
        (APPEND | SUBTRACT, _) if !list => {
            return Err(format!(
                "{name} is not a list: it cannot be appended to or subtracted from"
            ));
        }
        (APPEND, Some(value)) => {
            let mut items: Vec<String> = current
                .get(name)
                .map(|v| v.split(',').map(str::to_string).collect())
                .unwrap_or_default();
            for item in value.split(',') {
                if !items.iter().any(|i| i == item) {
                    items.push(item.to_string());
                }
            }
            current.insert(name.to_string(), items.join(","));
        }
        (SUBTRACT, Some(value)) => {
            let removed: Vec<&str> = value.split(',').collect();
            let items: Vec<&str> = current
                .get(name)
                .map(|v| v.split(',').filter(|i| !removed.contains(i)).collect())
                .unwrap_or_default();
            if items.is_empty() {
                current.remove(name);
            } else {
                current.insert(name.to_string(), items.join(","));
            }
        }
        (SET | APPEND | SUBTRACT, None) => return Err(format!("{name}: a null value")),
        (other, _) => return Err(format!("{name}: unknown operation {other}")),
    }
    Ok(())
}

/// Sets a topic's configs, or says why not.
fn set(
    controller: &mut Controller,
    topic: &str,
    configs: BTreeMap<String, String>,
    validate_only: bool,
) -> Outcome {
    if let Err(reason) = topic_config::check_all(&configs) {
        return Err((ResponseError::InvalidConfig, reason));
    }
    controller
        .set_topic_configs(topic, configs, validate_only)
        .map_err(|error| (error, error.to_string()))
}

/// The topic a resource names, or why it cannot be altered.
fn topic_of(
    controller: &Controller,
    resource_type: i8,
    name: &str,
) -> Result<BTreeMap<String, String>, (ResponseError, String)> {
    if resource_type != RESOURCE_TOPIC {
        return Err((
            ResponseError::InvalidRequest,
            "only topic configs can be altered: broker configs are static here".to_string(),
        ));
    }
    controller.topic_own_configs(name).ok_or((
        ResponseError::UnknownTopicOrPartition,
        format!("topic {name} does not exist"),
    ))
}

/// The controller's IncrementalAlterConfigs: each resource on its own.
pub fn incremental_alter_configs(
    controller: &mut Controller,
    request: &IncrementalAlterConfigsRequest,
) -> IncrementalAlterConfigsResponse {
    let responses = request
        .resources
        .iter()
        .map(|resource| {
            let name = resource.resource_name.as_str();
            let outcome =
                topic_of(controller, resource.resource_type, name).and_then(|mut configs| {
                    for change in &resource.configs {
                        apply(
                            &mut configs,
                            &change.name,
                            change.config_operation,
                            change.value.as_deref(),
                        )
                        .map_err(|reason| (ResponseError::InvalidConfig, reason))?;
                    }
                    set(controller, name, configs, request.validate_only)
                });
            let (code, message) = answer(outcome);
            AlterConfigsResourceResponse::default()
                .with_error_code(code)
                .with_error_message(message)
                .with_resource_type(resource.resource_type)
                .with_resource_name(resource.resource_name.clone())
        })
        .collect();
    IncrementalAlterConfigsResponse::default().with_responses(responses)
}

/// The controller's AlterConfigs: each topic's configs become exactly those given.
pub fn alter_configs(
    controller: &mut Controller,
    request: &AlterConfigsRequest,
) -> AlterConfigsResponse {
    let responses = request
        .resources
        .iter()
        .map(|resource| {
            let name = resource.resource_name.as_str();
            let outcome = topic_of(controller, resource.resource_type, name).and_then(|_| {
                let mut configs = BTreeMap::new();
                for config in &resource.configs {
                    let value = config.value.as_ref().ok_or_else(|| {
                        (
                            ResponseError::InvalidConfig,
                            format!("{}: a null value", config.name),
                        )
                    })?;
                    configs.insert(config.name.to_string(), value.to_string());
                }
                set(controller, name, configs, request.validate_only)
            });
            let (code, message) = answer(outcome);
            LegacyAnswer::default()
                .with_error_code(code)
                .with_error_message(message)
                .with_resource_type(resource.resource_type)
                .with_resource_name(resource.resource_name.clone())
        })
        .collect();
    AlterConfigsResponse::default().with_responses(responses)
}

fn answer(outcome: Outcome) -> (i16, Option<StrBytes>) {
    match outcome {
        Ok(()) => (0, None),
        Err((error, reason)) => (error.code(), Some(StrBytes::from_string(reason))),
    }
}

/// IncrementalAlterConfigs not answered by the controller in time: REQUEST_TIMED_OUT for
/// each resource (the change may still be made).
pub fn incremental_alter_configs_failed(
    request: &IncrementalAlterConfigsRequest,
) -> IncrementalAlterConfigsResponse {
    let responses = request
        .resources
        .iter()
        .map(|r| {
            AlterConfigsResourceResponse::default()
                .with_error_code(ResponseError::RequestTimedOut.code())
                .with_resource_type(r.resource_type)
                .with_resource_name(r.resource_name.clone())
        })
        .collect();
    IncrementalAlterConfigsResponse::default().with_responses(responses)
}

/// AlterConfigs not answered by the controller in time: REQUEST_TIMED_OUT for each
/// resource.
pub fn alter_configs_failed(request: &AlterConfigsRequest) -> AlterConfigsResponse {
    let responses = request
        .resources
        .iter()
        .map(|r| {
            LegacyAnswer::default()
                .with_error_code(ResponseError::RequestTimedOut.code())
                .with_resource_type(r.resource_type)
                .with_resource_name(r.resource_name.clone())
        })
        .collect();
    AlterConfigsResponse::default().with_responses(responses)
}

#[cfg(test)]
mod tests {
    use kafka_protocol::messages::alter_configs_request::{
        AlterConfigsResource as LegacyResource, AlterableConfig as LegacyConfig,
    };
    use kafka_protocol::messages::incremental_alter_configs_request::{
        AlterConfigsResource, AlterableConfig,
    };

    use super::*;
    use crate::handlers::describe_configs::RESOURCE_BROKER;
    use crate::test_support::controller;

    fn text(s: &str) -> StrBytes {
        StrBytes::from_string(s.to_string())
    }

    fn incremental(
        resource_type: i8,
        name: &str,
        changes: &[(&str, i8, Option<&str>)],
    ) -> IncrementalAlterConfigsRequest {
        let configs = changes
            .iter()
            .map(|&(n, op, v)| {
                AlterableConfig::default()
                    .with_name(text(n))
                    .with_config_operation(op)
                    .with_value(v.map(text))
            })
            .collect();
        IncrementalAlterConfigsRequest::default().with_resources(vec![
            AlterConfigsResource::default()
                .with_resource_type(resource_type)
                .with_resource_name(text(name))
                .with_configs(configs),
        ])
    }

    /// KIP-339 through the controller: a valid change becomes the topic's configs (its
    /// record appended again); a bad one is INVALID_CONFIG and changes nothing; broker
    /// resources are INVALID_REQUEST, unknown topics UNKNOWN_TOPIC_OR_PARTITION.
    #[test]
    fn kip_339_changes_reach_the_topic_record() {
        let mut c = controller();
        c.create_topic("orders", 1, 3, &BTreeMap::new(), false)
            .unwrap();
        let code = |c: &mut Controller, request| {
            incremental_alter_configs(c, &request).responses[0].error_code
        };
        let set_isr = incremental(
            RESOURCE_TOPIC,
            "orders",
            &[("min.insync.replicas", SET, Some("3"))],
        );
        assert_eq!(code(&mut c, set_isr), 0);
        assert_eq!(
            c.topic_own_configs("orders"),
            Some(configs(&[("min.insync.replicas", "3")]))
        );
        let bad = incremental(
            RESOURCE_TOPIC,
            "orders",
            &[("min.insync.replicas", SET, Some("0"))],
        );
        assert_eq!(code(&mut c, bad), ResponseError::InvalidConfig.code());
        assert_eq!(
            c.topic_own_configs("orders"),
            Some(configs(&[("min.insync.replicas", "3")]))
        );
        let broker = incremental(RESOURCE_BROKER, "1", &[("num.partitions", SET, Some("3"))]);
        assert_eq!(code(&mut c, broker), ResponseError::InvalidRequest.code());
        let missing = incremental(
            RESOURCE_TOPIC,
            "nowhere",
            &[("retention.ms", SET, Some("1"))],
        );
        assert_eq!(
            code(&mut c, missing),
            ResponseError::UnknownTopicOrPartition.code()
        );
        // KIP-133's AlterConfigs replaces the whole set.
        let legacy = AlterConfigsRequest::default().with_resources(vec![LegacyResource::default()
            .with_resource_type(RESOURCE_TOPIC)
            .with_resource_name(text("orders"))
            .with_configs(vec![LegacyConfig::default()
                .with_name(text("cleanup.policy"))
                .with_value(Some(text("compact")))])]);
        assert_eq!(alter_configs(&mut c, &legacy).responses[0].error_code, 0);
        assert_eq!(
            c.topic_own_configs("orders"),
            Some(configs(&[("cleanup.policy", "compact")]))
        );
    }

    fn configs(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    /// KIP-339: SET and DELETE change one config each; APPEND and SUBTRACT edit a list
    /// config item by item and are refused for any other.
    #[test]
    fn kip_339_operations() {
        let mut current = configs(&[("cleanup.policy", "delete"), ("retention.ms", "1000")]);
        apply(&mut current, "cleanup.policy", APPEND, Some("compact")).unwrap();
        assert_eq!(current["cleanup.policy"], "delete,compact");
        apply(&mut current, "cleanup.policy", SUBTRACT, Some("delete")).unwrap();
        assert_eq!(current["cleanup.policy"], "compact");
        apply(&mut current, "retention.ms", DELETE, None).unwrap();
        apply(&mut current, "min.insync.replicas", SET, Some("2")).unwrap();
        assert_eq!(
            current,
            configs(&[("cleanup.policy", "compact"), ("min.insync.replicas", "2")])
        );
        assert!(apply(&mut current, "min.insync.replicas", APPEND, Some("3")).is_err());
        assert!(apply(&mut current, "retention.ms", SET, None).is_err());
    }
}
