//! The network side of DeleteRecords (KIP-107): the leader deletes at once, and the answer
//! waits until the in-sync followers have taken the new log start or the request's
//! `timeout_ms` runs out, as Kafka's `DelayedDeleteRecords` in its purgatory
//! (`handlers/delete_records.rs` says how the leader knows).

use std::time::Duration;

use kafka_protocol::messages::{DeleteRecordsRequest, DeleteRecordsResponse};
use tokio::time::Instant;

use super::BrokerNode;
use crate::handlers::delete_records;

impl BrokerNode {
    pub(crate) async fn delete_records(
        &self,
        request: DeleteRecordsRequest,
    ) -> DeleteRecordsResponse {
        let mut pending = delete_records::begin(&mut self.lock(), &request, self.clock.now_ms());
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
        delete_records::response(&request, &pending)
    }
}
