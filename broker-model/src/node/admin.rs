//! The network side of the admin APIs a broker forwards to the controller (KIP-590):
//! CreateTopics and DeleteTopics wait for the controller's answer, which the controller
//! channel posts once the topic records are applied here; and the topic auto-creation a
//! Produce to an unknown topic asks for (`auto.create.topics.enable`).

use std::time::Duration;

use kafka_protocol::messages::{
    AlterConfigsRequest, AlterConfigsResponse, CreatePartitionsRequest, CreatePartitionsResponse,
    CreateTopicsRequest, CreateTopicsResponse, DeleteTopicsRequest, DeleteTopicsResponse,
    IncrementalAlterConfigsRequest, IncrementalAlterConfigsResponse, ProduceRequest,
};
use tokio::time::Instant;

use super::BrokerNode;
use crate::forwarding::{ForwardedRequest, ForwardedResponse};
use crate::handlers::{alter_configs, metadata, topics};

/// The longest a forwarded request waits when the client's timeout is shorter: one
/// controller round must fit in it.
const MIN_FORWARD_WAIT: Duration = Duration::from_millis(5_000);

impl BrokerNode {
    /// Queues `request` for the controller and waits for its answer until the client's
    /// `timeout_ms`; `Unanswered` if none came.
    async fn forward_and_wait(
        &self,
        request: ForwardedRequest,
        timeout_ms: i32,
    ) -> ForwardedResponse {
        let id = self.lock().forwarding.submit(request);
        let wait = Duration::from_millis(timeout_ms.max(0) as u64).max(MIN_FORWARD_WAIT);
        let answer = self
            .wait_for(Instant::now() + wait, |node| {
                node.lock().forwarding.take_answer(id)
            })
            .await;
        answer.unwrap_or_else(|| {
            self.lock().forwarding.abandon(id);
            ForwardedResponse::Unanswered
        })
    }

    pub(crate) async fn create_topics(
        &self,
        request: CreateTopicsRequest,
        version: i16,
    ) -> CreateTopicsResponse {
        let forwarded = ForwardedRequest::CreateTopics(request.clone());
        match self.forward_and_wait(forwarded, request.timeout_ms).await {
            ForwardedResponse::CreateTopics(answer) => topics::fit_create_topics(answer, version),
            _ => topics::create_topics_failed(&request, version),
        }
    }

    pub(crate) async fn create_partitions(
        &self,
        request: CreatePartitionsRequest,
    ) -> CreatePartitionsResponse {
        let forwarded = ForwardedRequest::CreatePartitions(request.clone());
        match self.forward_and_wait(forwarded, request.timeout_ms).await {
            ForwardedResponse::CreatePartitions(answer) => answer,
            _ => topics::create_partitions_failed(&request),
        }
    }

    pub(crate) async fn incremental_alter_configs(
        &self,
        request: IncrementalAlterConfigsRequest,
    ) -> IncrementalAlterConfigsResponse {
        let forwarded = ForwardedRequest::IncrementalAlterConfigs(request.clone());
        match self.forward_and_wait(forwarded, 0).await {
            ForwardedResponse::IncrementalAlterConfigs(answer) => answer,
            _ => alter_configs::incremental_alter_configs_failed(&request),
        }
    }

    pub(crate) async fn alter_configs(&self, request: AlterConfigsRequest) -> AlterConfigsResponse {
        let forwarded = ForwardedRequest::AlterConfigs(request.clone());
        match self.forward_and_wait(forwarded, 0).await {
            ForwardedResponse::AlterConfigs(answer) => answer,
            _ => alter_configs::alter_configs_failed(&request),
        }
    }

    pub(crate) async fn delete_topics(
        &self,
        request: DeleteTopicsRequest,
        version: i16,
    ) -> DeleteTopicsResponse {
        let by_name = topics::delete_by_name(&self.lock(), &request);
        let forwarded = ForwardedRequest::DeleteTopics(by_name.clone());
        let answer = match self.forward_and_wait(forwarded, request.timeout_ms).await {
            ForwardedResponse::DeleteTopics(answer) => Some(answer),
            _ => None,
        };
        topics::fit_delete_topics(
            &by_name.clone().with_topics(request.topics),
            answer,
            version,
        )
    }

    /// A Produce to topics that do not exist asks for their creation, when
    /// `auto.create.topics.enable` is on; the Produce itself is answered
    /// UNKNOWN_TOPIC_OR_PARTITION and the client retries once its metadata shows them.
    pub(crate) fn auto_create_for_produce(&self, request: &ProduceRequest) {
        let mut state = self.lock();
        if !state.config.auto_create_topics_enable {
            return;
        }
        for topic in &request.topic_data {
            let name = topic.name.0.as_str();
            if !state.image.topics.contains_key(name) && metadata::auto_creatable(name) {
                state.forwarding.auto_create(name);
            }
        }
    }
}
