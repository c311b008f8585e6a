//! The network side of the group coordinator: JoinGroup and SyncGroup wait for the
//! rebalance, OffsetCommit waits for replication. Each loop re-polls the sans-IO state
//! whenever the broker's state changes, and at least every [`GROUP_POLL`] so that session
//! and rebalance deadlines pass even when nothing else happens.

use std::time::Duration;

use kafka_protocol::messages::{
    DeleteGroupsRequest, DeleteGroupsResponse, JoinGroupRequest, JoinGroupResponse,
    OffsetCommitRequest, OffsetCommitResponse, OffsetDeleteRequest, OffsetDeleteResponse,
    SyncGroupRequest, SyncGroupResponse,
};
use tokio::time::Instant;

use faultline_wire::ResponseError;

use super::BrokerNode;
use crate::handlers::{delete_groups, groups, offset_commit};

/// How often a waiting group request re-examines the group without being woken.
const GROUP_POLL: Duration = Duration::from_millis(50);
/// Longest a JoinGroup or SyncGroup waits beyond the member's rebalance timeout.
const REBALANCE_GRACE: Duration = Duration::from_millis(1_000);

impl BrokerNode {
    /// Waits until `ready` returns an answer, the broker changes, or `deadline` passes.
    pub(crate) async fn wait_for<T>(
        &self,
        deadline: Instant,
        mut ready: impl FnMut(&Self) -> Option<T>,
    ) -> Option<T> {
        let mut seen = self.changed.subscribe();
        loop {
            seen.borrow_and_update();
            if let Some(answer) = ready(self) {
                return Some(answer);
            }
            let now = Instant::now();
            if now >= deadline {
                return None;
            }
            let wake = deadline.min(now + GROUP_POLL);
            let _ = faultline_wire::time::timeout_at(wake, seen.changed()).await;
        }
    }

    pub(crate) async fn join_group(
        &self,
        request: JoinGroupRequest,
        version: i16,
    ) -> JoinGroupResponse {
        let begun = groups::join_begin(&mut self.lock(), &request, version, self.clock.now_ms());
        self.notify();
        let member_id = match begun {
            Ok(member_id) => member_id,
            Err((error, member_id)) => return groups::join_response(Err(error), &member_id),
        };
        let timeout = request
            .rebalance_timeout_ms
            .max(request.session_timeout_ms)
            .max(0);
        let deadline = Instant::now() + Duration::from_millis(timeout as u64) + REBALANCE_GRACE;
        let group_id = request.group_id.0.to_string();
        let answer = self
            .wait_for(deadline, |node| {
                let now = node.clock.now_ms();
                groups::join_poll(&mut node.lock(), &group_id, &member_id, now)
            })
            .await;
        self.notify();
        groups::join_response(
            answer.unwrap_or(Err(ResponseError::RebalanceInProgress)),
            &member_id,
        )
    }

    pub(crate) async fn sync_group(&self, request: SyncGroupRequest) -> SyncGroupResponse {
        let begun = groups::sync_begin(&mut self.lock(), &request, self.clock.now_ms());
        self.notify();
        if let Err(error) = begun {
            return groups::sync_response(Err(error));
        }
        let deadline = Instant::now() + REBALANCE_GRACE * 5;
        let answer = self
            .wait_for(deadline, |node| {
                let now = node.clock.now_ms();
                groups::sync_poll(&mut node.lock(), &request, now)
            })
            .await;
        groups::sync_response(answer.unwrap_or(Err(ResponseError::RebalanceInProgress)))
    }

    pub(crate) async fn offset_commit(&self, request: OffsetCommitRequest) -> OffsetCommitResponse {
        let mut pending =
            offset_commit::commit_begin(&mut self.lock(), &request, self.clock.now_ms());
        self.notify();
        let deadline = Instant::now() + self.offsets_append_timeout();
        let done = self
            .wait_for(deadline, |node| {
                offset_commit::commit_poll(&mut node.lock(), &mut pending).then_some(())
            })
            .await;
        if done.is_none() {
            offset_commit::commit_expire(&mut pending);
        }
        offset_commit::commit_response(&request, &pending)
    }

    /// The longest an offsets append waits to be replicated before it is answered with
    /// REQUEST_TIMED_OUT.
    fn offsets_append_timeout(&self) -> Duration {
        Duration::from_millis(self.lock().config.inter_broker_request_timeout_ms)
    }

    pub(crate) async fn delete_groups(&self, request: DeleteGroupsRequest) -> DeleteGroupsResponse {
        let mut pending = delete_groups::delete_groups_begin(&mut self.lock(), &request);
        self.notify();
        let deadline = Instant::now() + self.offsets_append_timeout();
        let done = self
            .wait_for(deadline, |node| {
                let mut broker = node.lock();
                let mut all = true;
                for deletion in pending.iter_mut() {
                    all &= delete_groups::deletion_poll(&mut broker, deletion);
                }
                all.then_some(())
            })
            .await;
        if done.is_none() {
            pending.iter_mut().for_each(delete_groups::deletion_expire);
        }
        delete_groups::delete_groups_response(&pending)
    }

    pub(crate) async fn offset_delete(&self, request: OffsetDeleteRequest) -> OffsetDeleteResponse {
        let mut begun = delete_groups::offset_delete_begin(&mut self.lock(), &request);
        self.notify();
        let deadline = Instant::now() + self.offsets_append_timeout();
        let done = self
            .wait_for(deadline, |node| {
                delete_groups::deletion_poll(&mut node.lock(), &mut begun.pending).then_some(())
            })
            .await;
        if done.is_none() {
            delete_groups::deletion_expire(&mut begun.pending);
        }
        delete_groups::offset_delete_response(&begun)
    }
}
