//! Runs the `admin` family's ops on a broker: the case's own log topic (created at the
//! case's start, deleted at its end with every topic the case created), CreateTopics with
//! generated names and counts, Metadata of the topics asked for, and DeleteRecords on the
//! log partition — each answer checked by [`super::admin_model`].

use std::time::Duration;

use kafka_protocol::messages::create_topics_request::CreatableTopic;
use kafka_protocol::messages::delete_records_request::{
    DeleteRecordsPartition, DeleteRecordsTopic,
};
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::{
    CreateTopicsRequest, DeleteRecordsRequest, DeleteTopicsRequest, MetadataRequest, TopicName,
};
use kafka_protocol::protocol::StrBytes;

use faultline_wire::Transport;

use super::admin_model::{topic_name, AdminModel, CreateSeen};
use super::driver::Driver;
use super::ops::DeleteAt;
use super::rules::{Violation, ANSWERED, CREATED_TOPIC_METADATA, CREATE_TOPICS};
use super::setup::CaseVersions;
use crate::certify::model::Exchange;
use crate::certify::suite::identify::metadata;
use crate::certify::suite::partition_io::topic_name as wire_name;
use crate::certify::suite::probe::Probe;
use crate::certify::suite::SuiteTarget;

/// How often Metadata is asked again while a created topic propagates to the brokers.
const POLL_INTERVAL: Duration = Duration::from_millis(50);

/// The admin family's setup: the live brokers, and the case's log topic (one partition,
/// replicated to every live broker up to three) once it has a leader and a full ISR.
#[derive(Debug, Clone)]
pub struct LogTopic {
    /// The log topic's name.
    pub topic: String,
    /// Its leader's address.
    pub leader: String,
    /// Brokers Metadata listed.
    pub live_brokers: usize,
}

/// Creates the case's log topic `<tag>-log` and waits for its leader (bounded by the
/// request timeout). Every request is recorded in `exchanges`.
pub async fn log_topic<T: Transport>(
    transport: &T,
    target: &SuiteTarget,
    versions: CaseVersions,
    tag: &str,
    exchanges: &mut Vec<Exchange>,
) -> Result<LogTopic, Violation> {
    let mut probe = Probe::new(transport, target);
    let outcome = create_log_topic(&mut probe, target, versions, tag).await;
    exchanges.append(&mut probe.exchanges);
    outcome
}

async fn create_log_topic<T: Transport>(
    probe: &mut Probe<T>,
    target: &SuiteTarget,
    versions: CaseVersions,
    tag: &str,
) -> Result<LogTopic, Violation> {
    let address = &target.bootstrap[0];
    let view = metadata(
        probe,
        address,
        &target.advertised,
        Some(&target.topic),
        false,
    )
    .await
    .ok_or_else(|| ANSWERED.violated("Metadata got no answer"))?;
    let live_brokers = view.brokers.len().max(1);
    let topic = topic_name(
        super::ops::TopicNameChoice::Legal { punctuation: false },
        tag,
        0,
    ) + "-log";
    let request = create_request(&topic, 1, live_brokers.min(3) as i16, target);
    let version = versions.create_topics.expect("checked by versions()");
    let response = probe
        .send(address, &request, version, Duration::ZERO)
        .await
        .map_err(|e| ANSWERED.violated(format!("CreateTopics got no answer: {e}")))?;
    let code = response.topics.first().map_or(-1, |t| t.error_code);
    if code != 0 {
        return Err(CREATE_TOPICS.violated(format!(
            "CreateTopics of the case's log topic {topic} (1 partition, replication factor {}) answered error code {code}",
            live_brokers.min(3)
        )));
    }
    let deadline = tokio::time::Instant::now() + target.request_timeout;
    loop {
        let view = metadata(probe, address, &target.advertised, Some(&topic), false).await;
        if let Some(view) = view {
            let leader = view.leader_address(&topic, 0);
            if let (Some(leader), false) = (
                leader,
                view.under_replicated.iter().any(|(t, _)| *t == topic),
            ) {
                return Ok(LogTopic {
                    topic,
                    leader,
                    live_brokers,
                });
            }
        }
        if tokio::time::Instant::now() + POLL_INTERVAL > deadline {
            return Err(CREATED_TOPIC_METADATA.violated(format!(
                "the case's log topic {topic}, created, had no leader with a full ISR in Metadata within {:?}",
                target.request_timeout
            )));
        }
        tokio::time::sleep(POLL_INTERVAL).await;
    }
}

fn create_request(
    name: &str,
    partitions: i32,
    rf: i16,
    target: &SuiteTarget,
) -> CreateTopicsRequest {
    CreateTopicsRequest::default()
        .with_topics(vec![CreatableTopic::default()
            .with_name(TopicName(StrBytes::from_string(name.to_string())))
            .with_num_partitions(partitions)
            .with_replication_factor(rf)])
        .with_timeout_ms(target.request_timeout.as_millis() as i32)
}

impl<T: Transport> Driver<'_, T> {
    fn admin(&mut self) -> &mut AdminModel {
        &mut self.model.admin
    }

    /// CreateTopics of one topic (a CreateTopic op's new name, or a CreateAgain of an
    /// earlier attempt's exact request), to the client's bootstrap address (KIP-590: any
    /// broker forwards it to the controller).
    pub(super) async fn create_topic(
        &mut self,
        client: u8,
        name: String,
        partitions: i32,
        rf: i16,
    ) -> Result<(), Violation> {
        let request = create_request(&name, partitions, rf, self.target);
        let address = self.target.bootstrap[client as usize % self.target.bootstrap.len()].clone();
        let version = self
            .setup
            .versions
            .create_topics
            .expect("checked by versions()");
        let mut probe = self.client(client);
        let answer = probe
            .send(&address, &request, version, Duration::ZERO)
            .await;
        self.give_back(client, probe);
        let response =
            answer.map_err(|e| ANSWERED.violated(format!("CreateTopics got no answer: {e}")))?;
        let seen = response
            .topics
            .iter()
            .find(|t| t.name.0.as_str() == name)
            .map(|t| CreateSeen {
                error_code: t.error_code,
                partitions: t.num_partitions,
                replication_factor: t.replication_factor,
            })
            .ok_or_else(|| {
                ANSWERED.violated(format!(
                    "the CreateTopics response has no answer for {name:?}"
                ))
            })?;
        self.admin().check_create(&name, partitions, rf, seen)
    }

    /// Metadata of attempt `which`, asked again while a created topic has not reached the
    /// broker yet (Kafka answers CreateTopics once the controller committed it; brokers
    /// learn it from the metadata log after: KIP-500, KIP-590), up to the request timeout.
    pub(super) async fn describe_topic(&mut self, client: u8, which: u8) -> Result<(), Violation> {
        let Some(attempt) = self.model.admin.attempt(which).cloned() else {
            return Ok(());
        };
        let address = self.target.bootstrap[client as usize % self.target.bootstrap.len()].clone();
        let request = MetadataRequest::default()
            .with_topics(Some(vec![MetadataRequestTopic::default().with_name(Some(
                TopicName(StrBytes::from_string(attempt.name.clone())),
            ))]))
            .with_allow_auto_topic_creation(false);
        let deadline = tokio::time::Instant::now() + self.target.request_timeout;
        loop {
            let mut probe = self.client(client);
            let answer = probe
                .send(
                    &address,
                    &request,
                    self.setup.versions.metadata,
                    Duration::ZERO,
                )
                .await;
            self.give_back(client, probe);
            let response =
                answer.map_err(|e| ANSWERED.violated(format!("Metadata got no answer: {e}")))?;
            let listed: Option<Vec<usize>> = response
                .topics
                .iter()
                .find(|t| {
                    t.error_code == 0
                        && t.name
                            .as_ref()
                            .is_some_and(|n| n.0.as_str() == attempt.name)
                })
                .map(|t| t.partitions.iter().map(|p| p.replica_nodes.len()).collect());
            if AdminModel::check_described(&attempt, listed.as_deref())? {
                return Ok(());
            }
            if tokio::time::Instant::now() + POLL_INTERVAL > deadline {
                return Err(CREATED_TOPIC_METADATA.violated(format!(
                    "CreateTopics created {:?}, but Metadata did not list it within {:?}",
                    attempt.name, self.target.request_timeout
                )));
            }
            tokio::time::sleep(POLL_INTERVAL).await;
        }
    }

    /// DeleteRecords of the log partition, to the leader.
    pub(super) async fn delete_records(
        &mut self,
        client: u8,
        at: DeleteAt,
    ) -> Result<(), Violation> {
        let offset = self.model.partitions[0].delete_offset(at);
        let id = self.setup.partitions[0];
        let request = DeleteRecordsRequest::default()
            .with_topics(vec![DeleteRecordsTopic::default()
                .with_name(wire_name(&self.setup.topic))
                .with_partitions(vec![DeleteRecordsPartition::default()
                    .with_partition_index(id)
                    .with_offset(offset)])])
            .with_timeout_ms(self.target.request_timeout.as_millis() as i32);
        let version = self
            .setup
            .versions
            .delete_records
            .expect("checked by versions()");
        let leader = self.setup.leaders[0].clone();
        let mut probe = self.client(client);
        let answer = probe.send(&leader, &request, version, Duration::ZERO).await;
        self.give_back(client, probe);
        let response =
            answer.map_err(|e| ANSWERED.violated(format!("DeleteRecords got no answer: {e}")))?;
        let (error_code, low_watermark) = response
            .topics
            .iter()
            .flat_map(|t| t.partitions.iter())
            .find(|p| p.partition_index == id)
            .map(|p| (p.error_code, p.low_watermark))
            .ok_or_else(|| {
                ANSWERED.violated(format!(
                    "the DeleteRecords response has no answer for partition {id}"
                ))
            })?;
        self.model.partitions[0].check_delete(offset, error_code, low_watermark)
    }

    /// Deletes the log topic and every topic the case may have created (not judged: a
    /// clean-up, so the broker does not accumulate a topic per case).
    pub async fn clean_up_admin(&mut self) {
        let Some(version) = self.setup.versions.delete_topics else {
            return;
        };
        let mut names = vec![wire_name(&self.setup.topic)];
        names.extend(
            self.model
                .admin
                .attempts
                .iter()
                .filter(|a| a.state != super::admin_model::TopicState::Refused)
                .map(|a| wire_name(&a.name)),
        );
        let request = DeleteTopicsRequest::default()
            .with_topic_names(names)
            .with_timeout_ms(self.target.request_timeout.as_millis() as i32);
        let address = self.target.bootstrap[0].clone();
        let mut probe = Probe::new(self.transport, self.target);
        // Not judged: a refusal leaves a topic behind, nothing the model relies on.
        let _ = probe
            .send(&address, &request, version, Duration::ZERO)
            .await;
        self.collect(&mut probe);
    }
}
