//! Requests a broker forwards to the controller (KIP-590): CreateTopics, DeleteTopics,
//! CreatePartitions and the AlterConfigs of topics from clients, and the topic creations `auto.create.topics.enable` asks for. Sans-IO: a
//! handler submits, the controller channel takes the outbox and posts the answers, the
//! handler collects its answer by id.

use std::collections::{BTreeMap, BTreeSet};

use kafka_protocol::messages::create_topics_request::CreatableTopic;
use kafka_protocol::messages::{
    AlterConfigsRequest, AlterConfigsResponse, CreatePartitionsRequest, CreatePartitionsResponse,
    CreateTopicsRequest, CreateTopicsResponse, DeleteTopicsRequest, DeleteTopicsResponse,
    IncrementalAlterConfigsRequest, IncrementalAlterConfigsResponse, TopicName,
};
use kafka_protocol::protocol::StrBytes;

/// A request for the controller.
#[derive(Debug, Clone, PartialEq)]
pub enum ForwardedRequest {
    /// CreateTopics.
    CreateTopics(CreateTopicsRequest),
    /// DeleteTopics, by name.
    DeleteTopics(DeleteTopicsRequest),
    /// CreatePartitions (KIP-195).
    CreatePartitions(CreatePartitionsRequest),
    /// IncrementalAlterConfigs (KIP-339).
    IncrementalAlterConfigs(IncrementalAlterConfigsRequest),
    /// AlterConfigs (KIP-133).
    AlterConfigs(AlterConfigsRequest),
}

/// The controller's answer to a forwarded request.
#[derive(Debug, Clone, PartialEq)]
pub enum ForwardedResponse {
    /// CreateTopics.
    CreateTopics(CreateTopicsResponse),
    /// DeleteTopics.
    DeleteTopics(DeleteTopicsResponse),
    /// CreatePartitions.
    CreatePartitions(CreatePartitionsResponse),
    /// IncrementalAlterConfigs.
    IncrementalAlterConfigs(IncrementalAlterConfigsResponse),
    /// AlterConfigs.
    AlterConfigs(AlterConfigsResponse),
    /// The controller could not be reached, or the connection broke before it answered:
    /// the request may or may not have been applied.
    Unanswered,
}

/// One queued request and whether a handler waits for its answer.
#[derive(Debug, Clone, PartialEq)]
pub struct Outgoing {
    /// Matches the answer to its handler.
    pub id: u64,
    /// The request.
    pub request: ForwardedRequest,
    /// `false` for auto-creations, whose answers nobody collects.
    pub awaited: bool,
}

/// The forwarding queue of one broker.
#[derive(Debug, Clone, Default)]
pub struct Forwarding {
    /// The next request id.
    next_id: u64,
    /// Requests not yet sent, in submission order.
    outbox: Vec<Outgoing>,
    /// Answers not yet collected.
    answers: BTreeMap<u64, ForwardedResponse>,
    /// Topics whose auto-creation is queued or in flight, so that a burst of Metadata
    /// requests asks the controller once.
    auto_creating: BTreeSet<String>,
}

impl Forwarding {
    /// Queues a request a handler will wait for; returns its id.
    pub fn submit(&mut self, request: ForwardedRequest) -> u64 {
        self.push(request, true)
    }

    fn push(&mut self, request: ForwardedRequest, awaited: bool) -> u64 {
        self.next_id += 1;
        self.outbox.push(Outgoing {
            id: self.next_id,
            request,
            awaited,
        });
        self.next_id
    }

    /// Queues the creation of `name` with the cluster defaults (-1, KIP-464), unless it is
    /// already queued or in flight.
    pub fn auto_create(&mut self, name: &str) {
        self.auto_create_with(name, -1, -1);
    }

    /// Queues the creation of `name` with `partitions` and `replication_factor` (an
    /// internal topic, such as `__transaction_state` on its first use), unless queued.
    pub fn auto_create_with(&mut self, name: &str, partitions: i32, replication_factor: i16) {
        if !self.auto_creating.insert(name.to_string()) {
            return;
        }
        let topic = CreatableTopic::default()
            .with_name(TopicName(StrBytes::from_string(name.to_string())))
            .with_num_partitions(partitions)
            .with_replication_factor(replication_factor);
        let request = CreateTopicsRequest::default()
            .with_topics(vec![topic])
            .with_timeout_ms(30_000);
        self.push(ForwardedRequest::CreateTopics(request), false);
    }

    /// The queued requests, for the controller channel to send.
    pub fn take_outbox(&mut self) -> Vec<Outgoing> {
        std::mem::take(&mut self.outbox)
    }

    /// Posts the answer to a sent request.
    pub fn answer(&mut self, outgoing: &Outgoing, response: ForwardedResponse) {
        if outgoing.awaited {
            self.answers.insert(outgoing.id, response);
            return;
        }
        if let ForwardedRequest::CreateTopics(request) = &outgoing.request {
            for topic in &request.topics {
                self.auto_creating.remove(topic.name.0.as_str());
            }
        }
    }

    /// Collects the answer to request `id`, once it is there.
    pub fn take_answer(&mut self, id: u64) -> Option<ForwardedResponse> {
        self.answers.remove(&id)
    }

    /// Forgets request `id`: its handler gave up waiting.
    pub fn abandon(&mut self, id: u64) {
        self.outbox.retain(|o| o.id != id);
        self.answers.remove(&id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auto_creation_is_asked_once_until_answered() {
        let mut forwarding = Forwarding::default();
        forwarding.auto_create("orders");
        forwarding.auto_create("orders");
        let sent = forwarding.take_outbox();
        assert_eq!(sent.len(), 1);
        forwarding.auto_create("orders");
        assert!(forwarding.take_outbox().is_empty(), "still in flight");
        forwarding.answer(&sent[0], ForwardedResponse::Unanswered);
        forwarding.auto_create("orders");
        assert_eq!(
            forwarding.take_outbox().len(),
            1,
            "asked again after the answer"
        );
    }

    #[test]
    fn an_awaited_answer_is_collected_once() {
        let mut forwarding = Forwarding::default();
        let id = forwarding.submit(ForwardedRequest::DeleteTopics(Default::default()));
        let sent = forwarding.take_outbox();
        assert_eq!(forwarding.take_answer(id), None);
        forwarding.answer(&sent[0], ForwardedResponse::Unanswered);
        assert_eq!(
            forwarding.take_answer(id),
            Some(ForwardedResponse::Unanswered)
        );
        assert_eq!(forwarding.take_answer(id), None);
    }
}
