//! JoinGroup, SyncGroup, Heartbeat and LeaveGroup: wire requests to the group state
//! machine ([`crate::group::membership`]) and back. JoinGroup and SyncGroup may block until
//! the rebalance progresses; the node layer polls [`join_poll`] and [`sync_poll`].

use std::collections::BTreeMap;

use bytes::Bytes;
use kafka_protocol::messages::join_group_response::JoinGroupResponseMember;
use kafka_protocol::messages::leave_group_response::MemberResponse;
use kafka_protocol::messages::{
    HeartbeatRequest, HeartbeatResponse, JoinGroupRequest, JoinGroupResponse, LeaveGroupRequest,
    LeaveGroupResponse, SyncGroupRequest, SyncGroupResponse,
};
use kafka_protocol::protocol::StrBytes;

use faultline_wire::ResponseError;

use crate::broker::Broker;
use crate::group::membership::{JoinResult, Member};

/// KIP-394: from JoinGroup v4 a member without an id (and without a static
/// `group.instance.id`, KIP-345) is told MEMBER_ID_REQUIRED with the id to join with.
pub fn requires_member_id(request: &JoinGroupRequest, version: i16) -> bool {
    version >= 4 && request.member_id.is_empty() && request.group_instance_id.is_none()
}

/// Starts a JoinGroup: the member id to wait on, or the error to answer with at once
/// (with the member id to put in the answer: KIP-394's MEMBER_ID_REQUIRED carries one).
pub fn join_begin(
    broker: &mut Broker,
    request: &JoinGroupRequest,
    version: i16,
    now_ms: u64,
) -> Result<String, (ResponseError, String)> {
    join_admit(broker, request, version, now_ms)
        .map_err(|error| (error, request.member_id.to_string()))
        .and_then(|admitted| match admitted {
            Admitted::Joining(member_id) => Ok(member_id),
            Admitted::MemberIdRequired(member_id) => {
                Err((ResponseError::MemberIdRequired, member_id))
            }
        })
}

/// What [`join_admit`] decided.
enum Admitted {
    /// Joined; wait on this member id.
    Joining(String),
    /// KIP-394: answer MEMBER_ID_REQUIRED with this id.
    MemberIdRequired(String),
}

fn join_admit(
    broker: &mut Broker,
    request: &JoinGroupRequest,
    version: i16,
    now_ms: u64,
) -> Result<Admitted, ResponseError> {
    // Kafka's `GroupCoordinator` refuses a session timeout outside
    // [group.min.session.timeout.ms, group.max.session.timeout.ms] (protocol guide,
    // JoinGroup: INVALID_SESSION_TIMEOUT).
    let session_timeout_ms = u64::try_from(request.session_timeout_ms).unwrap_or(0);
    let allowed =
        broker.config.group_min_session_timeout_ms..=broker.config.group_max_session_timeout_ms;
    if session_timeout_ms == 0 || !allowed.contains(&session_timeout_ms) {
        return Err(ResponseError::InvalidSessionTimeout);
    }
    let delay = broker.config.group_initial_rebalance_delay_ms;
    let node_id = broker.node_id;
    let new_member_id = broker
        .groups
        .new_member_id("consumer", &request.group_id.0, node_id);
    let group = broker.groups.group(&request.group_id.0)?;
    let protocols: Vec<(String, Bytes)> = request
        .protocols
        .iter()
        .map(|p| (p.name.to_string(), p.metadata.clone()))
        .collect();
    group.check_protocols(&request.member_id, &request.protocol_type, &protocols)?;
    if requires_member_id(request, version) {
        let member_id = group.require_member_id(new_member_id, session_timeout_ms, now_ms);
        return Ok(Admitted::MemberIdRequired(member_id));
    }
    // KIP-62: v0 has no rebalance timeout; the session timeout stands in for it.
    let rebalance_timeout_ms = if request.rebalance_timeout_ms > 0 {
        request.rebalance_timeout_ms
    } else {
        request.session_timeout_ms
    };
    // The first member sets the group's protocol type (Kafka's `GroupMetadata.protocolType`).
    if group.members.is_empty() {
        group.protocol_type = request.protocol_type.to_string();
    }
    let member = Member {
        member_id: request.member_id.to_string(),
        session_timeout_ms: request.session_timeout_ms as u64,
        rebalance_timeout_ms: rebalance_timeout_ms as u64,
        protocols,
        last_heard_ms: now_ms,
        joined: true,
        awaiting_join: true,
        assignment: Bytes::new(),
    };
    group
        .join(member, new_member_id, delay, now_ms)
        .map(Admitted::Joining)
}

/// The JoinGroup answer for `member_id`, once the generation has formed.
pub fn join_poll(
    broker: &mut Broker,
    group_id: &str,
    member_id: &str,
    now_ms: u64,
) -> Option<Result<JoinResult, ResponseError>> {
    match broker.groups.group(group_id) {
        Ok(group) => group.join_result(member_id, now_ms),
        Err(error) => Some(Err(error)),
    }
}

/// Builds a JoinGroup response.
pub fn join_response(
    result: Result<JoinResult, ResponseError>,
    member_id: &str,
) -> JoinGroupResponse {
    match result {
        Ok(joined) => JoinGroupResponse::default()
            .with_generation_id(joined.generation_id)
            .with_protocol_type(Some(StrBytes::from_static_str("consumer")))
            .with_protocol_name(Some(StrBytes::from_string(joined.protocol_name)))
            .with_leader(StrBytes::from_string(joined.leader))
            .with_member_id(StrBytes::from_string(joined.member_id))
            .with_members(
                joined
                    .members
                    .into_iter()
                    .map(|(id, metadata)| {
                        JoinGroupResponseMember::default()
                            .with_member_id(StrBytes::from_string(id))
                            .with_metadata(metadata)
                    })
                    .collect(),
            ),
        Err(error) => JoinGroupResponse::default()
            .with_error_code(error.code())
            .with_generation_id(-1)
            .with_member_id(StrBytes::from_string(member_id.to_string())),
    }
}

/// Starts a SyncGroup; the leader's assignment is applied here.
pub fn sync_begin(
    broker: &mut Broker,
    request: &SyncGroupRequest,
    now_ms: u64,
) -> Result<(), ResponseError> {
    let assignments: BTreeMap<String, Bytes> = request
        .assignments
        .iter()
        .map(|a| (a.member_id.to_string(), a.assignment.clone()))
        .collect();
    broker.groups.group(&request.group_id.0)?.sync(
        &request.member_id,
        request.generation_id,
        assignments,
        now_ms,
    )
}

/// The SyncGroup answer, once the leader has sent the assignment.
pub fn sync_poll(
    broker: &mut Broker,
    request: &SyncGroupRequest,
    now_ms: u64,
) -> Option<Result<Bytes, ResponseError>> {
    match broker.groups.group(&request.group_id.0) {
        Ok(group) => group.sync_result(&request.member_id, request.generation_id, now_ms),
        Err(error) => Some(Err(error)),
    }
}

/// Builds a SyncGroup response.
pub fn sync_response(result: Result<Bytes, ResponseError>) -> SyncGroupResponse {
    match result {
        Ok(assignment) => SyncGroupResponse::default()
            .with_protocol_type(Some(StrBytes::from_static_str("consumer")))
            .with_assignment(assignment),
        Err(error) => SyncGroupResponse::default().with_error_code(error.code()),
    }
}

/// Heartbeat.
pub fn heartbeat(
    broker: &mut Broker,
    request: &HeartbeatRequest,
    now_ms: u64,
) -> HeartbeatResponse {
    let result = broker
        .groups
        .group(&request.group_id.0)
        .and_then(|g| g.heartbeat(&request.member_id, request.generation_id, now_ms));
    HeartbeatResponse::default().with_error_code(result.err().map_or(0, |e| e.code()))
}

/// LeaveGroup (v0–v2: one member; v3+: a batch of members, KIP-345).
pub fn leave(broker: &mut Broker, request: &LeaveGroupRequest, now_ms: u64) -> LeaveGroupResponse {
    let group = match broker.groups.group(&request.group_id.0) {
        Ok(group) => group,
        Err(error) => return LeaveGroupResponse::default().with_error_code(error.code()),
    };
    if request.members.is_empty() {
        let code = group
            .leave(&request.member_id, now_ms)
            .err()
            .map_or(0, |e| e.code());
        return LeaveGroupResponse::default().with_error_code(code);
    }
    let members = request
        .members
        .iter()
        .map(|m| {
            let code = group
                .leave(&m.member_id, now_ms)
                .err()
                .map_or(0, |e| e.code());
            MemberResponse::default()
                .with_member_id(m.member_id.clone())
                .with_error_code(code)
        })
        .collect();
    LeaveGroupResponse::default().with_members(members)
}
