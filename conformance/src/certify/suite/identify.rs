//! Who the broker is and what it speaks (ApiVersions, Metadata), and making sure the
//! suite's topic exists (CreateTopics, then Metadata until every partition has a leader).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use kafka_protocol::messages::create_topics_request::CreatableTopic;
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::{
    ApiKey, ApiVersionsRequest, CreateTopicsRequest, MetadataRequest, TopicName,
};
use kafka_protocol::protocol::StrBytes;

use faultline_wire::{ResponseError, Transport};

use super::probe::{choose_version, Probe};
use crate::certify::model::{AdvertisedApi, BrokerIdentity, Evidence};

/// Metadata versions the suite reads (v1 has the controller id and null-means-all topics;
/// v13 is the newest kafka-protocol 0.18 knows).
pub const METADATA_VERSIONS: (i16, i16) = (1, 12);
/// CreateTopics versions the suite sends.
const CREATE_TOPICS_VERSIONS: (i16, i16) = (2, 7);
/// How often ensure_topic polls Metadata.
const POLL_INTERVAL: Duration = Duration::from_millis(200);

/// One topic in a Metadata answer: its error code, and partition → (error code, leader
/// node id).
pub type TopicView = (i16, BTreeMap<i32, (i16, i32)>);

/// One Metadata answer, parsed.
#[derive(Debug, Clone, Default)]
pub struct ClusterView {
    /// Node id → advertised `host:port`.
    pub brokers: BTreeMap<i32, String>,
    /// The controller's node id, if reported (-1 and absent become `None`).
    pub controller_id: Option<i32>,
    /// The cluster id, if reported.
    pub cluster_id: Option<String>,
    /// Topics by name.
    pub topics: BTreeMap<String, TopicView>,
    /// Partitions whose in-sync replicas are fewer than their replicas, `(topic, index)`.
    pub under_replicated: std::collections::BTreeSet<(String, i32)>,
}

impl ClusterView {
    /// The leader's address of one partition, if it has a live leader the broker list knows.
    pub fn leader_address(&self, topic: &str, partition: i32) -> Option<String> {
        let (_, partitions) = self.topics.get(topic)?;
        let &(error_code, leader) = partitions.get(&partition)?;
        if error_code != 0 || leader < 0 {
            return None;
        }
        self.brokers.get(&leader).cloned()
    }
}

/// ApiVersions (try v3, fall back to v0 on UNSUPPORTED_VERSION or a dropped connection)
/// and Metadata (all topics) against the first bootstrap address that answers.
pub async fn identify<T: Transport>(
    transport: &T,
    bootstrap: &[String],
    name: &str,
    timeout: Duration,
) -> Result<BrokerIdentity, Evidence> {
    let mut probe = plain_probe(transport, timeout);
    for address in bootstrap {
        let Some(api_versions) = api_versions(&mut probe, address).await else {
            continue;
        };
        let Some(view) = metadata(&mut probe, address, &api_versions, None, false).await else {
            continue;
        };
        return Ok(BrokerIdentity {
            name: name.to_string(),
            bootstrap: bootstrap.to_vec(),
            cluster_id: view.cluster_id,
            brokers: view.brokers.into_iter().collect(),
            controller_id: view.controller_id,
            api_versions,
        });
    }
    Err(probe.evidence(format!(
        "no bootstrap address ({}) answered both ApiVersions and Metadata",
        bootstrap.join(", ")
    )))
}

/// Makes sure `topic` exists with `partitions`: CreateTopics (to the controller from
/// Metadata, or any broker) when advertised and `create` is true (TOPIC_ALREADY_EXISTS is
/// fine), then polls Metadata until every partition has a leader (bounded by `timeout`).
/// Returns the partition count it found, or evidence of why not.
pub async fn ensure_topic<T: Transport>(
    transport: &T,
    bootstrap: &[String],
    topic: &str,
    partitions: i32,
    replication_factor: i16,
    create: bool,
    timeout: Duration,
) -> Result<i32, Evidence> {
    let deadline = tokio::time::Instant::now() + timeout;
    let request_timeout = timeout.min(Duration::from_secs(10));
    let mut probe = plain_probe(transport, request_timeout);
    let mut known = None;
    for address in bootstrap {
        if let Some(apis) = api_versions(&mut probe, address).await {
            if let Some(view) = metadata(&mut probe, address, &apis, None, false).await {
                known = Some((address.clone(), apis, view));
                break;
            }
        }
    }
    let Some((address, apis, view)) = known else {
        return Err(probe.evidence("no bootstrap address answered ApiVersions and Metadata"));
    };
    let create_version = choose_version(
        &apis,
        ApiKey::CreateTopics,
        CREATE_TOPICS_VERSIONS.0,
        CREATE_TOPICS_VERSIONS.1,
    );
    if let (true, Some(version)) = (create, create_version) {
        let request = CreateTopicsRequest::default()
            .with_topics(vec![CreatableTopic::default()
                .with_name(TopicName(StrBytes::from_string(topic.to_string())))
                .with_num_partitions(partitions)
                .with_replication_factor(replication_factor)])
            .with_timeout_ms(request_timeout.as_millis() as i32);
        // The controller first (Kafka before KIP-590 forwarding requires it), then the rest.
        let mut targets: Vec<String> = view
            .controller_id
            .and_then(|id| view.brokers.get(&id).cloned())
            .into_iter()
            .collect();
        targets.extend(view.brokers.values().cloned());
        targets.push(address.clone());
        let mut seen = std::collections::BTreeSet::new();
        targets.retain(|t| seen.insert(t.clone()));
        let mut created = false;
        for target in targets {
            let Ok(response) = probe
                .send(&target, &request, version, request_timeout)
                .await
            else {
                continue;
            };
            let code = response.topics.first().map_or(0, |t| t.error_code);
            match ResponseError::try_from_code(code) {
                None | Some(ResponseError::TopicAlreadyExists) => {
                    created = true;
                    break;
                }
                Some(ResponseError::NotController) => continue,
                Some(error) => {
                    return Err(probe.evidence(format!(
                        "CreateTopics for {topic} ({partitions} partitions, replication {replication_factor}) answered {error:?}"
                    )))
                }
            }
        }
        if !created {
            return Err(probe.evidence(format!("no broker answered CreateTopics for {topic}")));
        }
    }
    // Without CreateTopics, auto-creation (`auto.create.topics.enable`) is the only way.
    let auto_create = create && create_version.is_none();
    loop {
        let polled_from = probe.exchanges.len();
        if let Some(view) = metadata(&mut probe, &address, &apis, Some(topic), auto_create).await {
            if let Some((0, found)) = view.topics.get(topic) {
                // Every partition led, and none under-replicated: a cluster that was just
                // (re)started is ready once each follower is back in its ISR, as an operator
                // waits for UnderReplicatedPartitions = 0 after a rolling restart (Kafka
                // operations guide). Until then acks=all produces may be refused with
                // NOT_ENOUGH_REPLICAS and leaders may still move.
                let ready = !found.is_empty()
                    && found
                        .values()
                        .all(|&(error_code, leader)| error_code == 0 && leader >= 0)
                    && !view.under_replicated.iter().any(|(t, _)| t == topic);
                if ready {
                    return Ok(found.len() as i32);
                }
            }
        }
        if tokio::time::Instant::now() + POLL_INTERVAL > deadline {
            return Err(probe.evidence_since(
                format!(
                    "topic {topic} did not have a leader for every partition within {timeout:?}"
                ),
                polled_from,
            ));
        }
        tokio::time::sleep(POLL_INTERVAL).await;
    }
}

/// A probe whose evidence names brokers by the address dialled.
fn plain_probe<T: Transport>(transport: &T, timeout: Duration) -> Probe<T> {
    Probe::with_parts(
        transport,
        Arc::new(|address: &str| address.to_string()),
        tokio::time::Instant::now(),
        timeout,
    )
}

/// ApiVersions v3, then v0 on a fresh connection if v3 is refused or dropped (KIP-511: an
/// old broker answers UNSUPPORTED_VERSION with its own version table in v0 format).
pub async fn api_versions<T: Transport>(
    probe: &mut Probe<T>,
    address: &str,
) -> Option<Vec<AdvertisedApi>> {
    let request = ApiVersionsRequest::default()
        .with_client_software_name(StrBytes::from_static_str("faultline"))
        .with_client_software_version(StrBytes::from_static_str(env!("CARGO_PKG_VERSION")));
    for version in [3, 0] {
        match probe.send(address, &request, version, Duration::ZERO).await {
            Ok(response) if response.error_code == 0 => {
                return Some(
                    response
                        .api_keys
                        .iter()
                        .map(|api| AdvertisedApi {
                            key: api.api_key,
                            name: ApiKey::try_from(api.api_key)
                                .map_or_else(|()| "unknown".to_string(), |k| format!("{k:?}")),
                            min_version: api.min_version,
                            max_version: api.max_version,
                        })
                        .collect(),
                )
            }
            Ok(_) | Err(_) => probe.disconnect(address),
        }
    }
    None
}

/// One Metadata request: all topics (`topic` None) or one, at the highest common version.
pub async fn metadata<T: Transport>(
    probe: &mut Probe<T>,
    address: &str,
    advertised: &[AdvertisedApi],
    topic: Option<&str>,
    allow_auto_topic_creation: bool,
) -> Option<ClusterView> {
    let version = choose_version(
        advertised,
        ApiKey::Metadata,
        METADATA_VERSIONS.0,
        METADATA_VERSIONS.1,
    )?;
    let request = MetadataRequest::default()
        .with_topics(topic.map(|name| {
            vec![MetadataRequestTopic::default()
                .with_name(Some(TopicName(StrBytes::from_string(name.to_string()))))]
        }))
        .with_allow_auto_topic_creation(allow_auto_topic_creation);
    let response = probe
        .send(address, &request, version, Duration::ZERO)
        .await
        .ok()?;
    Some(ClusterView {
        brokers: response
            .brokers
            .iter()
            .map(|b| (b.node_id.0, format!("{}:{}", b.host, b.port)))
            .collect(),
        controller_id: (response.controller_id.0 >= 0).then_some(response.controller_id.0),
        cluster_id: response.cluster_id.as_ref().map(|id| id.to_string()),
        topics: response
            .topics
            .iter()
            .filter_map(|t| {
                let name = t.name.as_ref()?.0.to_string();
                let partitions = t
                    .partitions
                    .iter()
                    .map(|p| (p.partition_index, (p.error_code, p.leader_id.0)))
                    .collect();
                Some((name, (t.error_code, partitions)))
            })
            .collect(),
        under_replicated: response
            .topics
            .iter()
            .flat_map(|t| {
                let name = t.name.as_ref().map(|n| n.0.to_string()).unwrap_or_default();
                t.partitions
                    .iter()
                    // A broker that reports no ISR at all says nothing about it.
                    .filter(|p| {
                        !p.isr_nodes.is_empty() && p.isr_nodes.len() < p.replica_nodes.len()
                    })
                    .map(move |p| (name.clone(), p.partition_index))
            })
            .collect(),
    })
}
