//! The network side of DeleteRecords (KIP-107): the leader deletes at once, and the answer
//! waits until every live replica has taken the new log start or the request's
//! `timeout_ms` runs out, as Kafka's `DelayedDeleteRecords` in its purgatory
//! (`handlers/delete_records.rs` says how the leader knows).

use std::time::Duration;

use kafka_protocol::messages::{DeleteRecordsRequest, DeleteRecordsResponse};
use tokio::time::Instant;

use super::transactions::UNDRAINED_EVENTS_MAX;
use super::BrokerNode;
use crate::broker::BrokerEvent;
use crate::events::BrokerEventKind;
use crate::handlers::delete_records;

impl BrokerNode {
    pub(crate) async fn delete_records(
        &self,
        request: DeleteRecordsRequest,
    ) -> DeleteRecordsResponse {
        let mut pending = delete_records::begin(&mut self.lock(), &request);
        self.notify();
        let wait = Duration::from_millis(request.timeout_ms.max(0) as u64);
        let done = self
            .wait_for(Instant::now() + wait, |node| {
                delete_records::poll(&node.lock(), &mut pending).then_some(())
            })
            .await;
        if done.is_none() {
            delete_records::expire(&mut pending);
        }
        let response = delete_records::response(&request, &pending);
        self.records_deleted(&response);
        response
    }

    /// Records every acknowledged deletion for the trace (fault triggers aim at it). Nothing
    /// drains the events of a broker served over real TCP, so they are capped there.
    fn records_deleted(&self, response: &DeleteRecordsResponse) {
        let mut state = self.lock();
        let broker = state.node_id;
        for topic in &response.topics {
            for answer in topic.partitions.iter().filter(|p| p.error_code == 0) {
                if state.events.len() >= UNDRAINED_EVENTS_MAX {
                    return;
                }
                state.events.push(BrokerEvent {
                    partition: (topic.name.0.to_string(), answer.partition_index),
                    kind: BrokerEventKind::RecordsDeleted {
                        broker,
                        log_start_offset: answer.low_watermark,
                    },
                });
            }
        }
    }
}
