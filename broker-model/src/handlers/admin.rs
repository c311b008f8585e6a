//! The read-only admin APIs a broker answers itself: DescribeCluster (KIP-700),
//! ListGroups and DescribeGroups (protocol guide, "The Consumer Group Protocol").

use kafka_protocol::messages::describe_cluster_response::DescribeClusterBroker;
use kafka_protocol::messages::describe_groups_response::{DescribedGroup, DescribedGroupMember};
use kafka_protocol::messages::list_groups_response::ListedGroup;
use kafka_protocol::messages::{
    BrokerId, DescribeClusterRequest, DescribeClusterResponse, DescribeGroupsRequest,
    DescribeGroupsResponse, GroupId, ListGroupsRequest, ListGroupsResponse,
};
use kafka_protocol::protocol::StrBytes;

use faultline_wire::ResponseError;

use crate::broker::Broker;
use crate::group::membership::{Group, GroupState, CONSUMER_PROTOCOL_TYPE};

/// A group's protocol type as ListGroups and DescribeGroups report it: the one its members
/// joined with, `consumer` for a group only offsets were committed to.
fn protocol_type(group: &Group) -> String {
    if group.protocol_type.is_empty() {
        CONSUMER_PROTOCOL_TYPE.to_string()
    } else {
        group.protocol_type.clone()
    }
}

/// The cluster id every node reports.
pub const CLUSTER_ID: &str = "faultline";

/// Splits an advertised `host:port`.
pub fn host_and_port(address: &str) -> (String, i32) {
    let (host, port) = address.rsplit_once(':').unwrap_or((address, "9092"));
    (host.to_string(), port.parse().unwrap_or(9092))
}

/// The controller id clients are told. In KRaft clients cannot reach the controller, so a
/// broker names a broker that forwards to it (Kafka's `KRaftMetadataCache` returns a
/// random alive broker); we name the answering broker itself, which is reachable by the
/// client that just reached it, and forwards CreateTopics and DeleteTopics (KIP-590).
pub fn controller_id(broker: &Broker) -> i32 {
    broker.node_id
}

/// DescribeCluster (KIP-700): brokers, cluster id, controller. v2's fenced brokers are
/// not tracked by the image, so every configured broker is reported unfenced.
pub fn describe_cluster(
    broker: &Broker,
    _request: &DescribeClusterRequest,
) -> DescribeClusterResponse {
    let brokers = broker
        .config
        .brokers
        .iter()
        .map(|(&id, address)| {
            let (host, port) = host_and_port(address);
            DescribeClusterBroker::default()
                .with_broker_id(BrokerId(id))
                .with_host(StrBytes::from_string(host))
                .with_port(port)
        })
        .collect();
    DescribeClusterResponse::default()
        .with_cluster_id(StrBytes::from_static_str(CLUSTER_ID))
        .with_controller_id(BrokerId(controller_id(broker)))
        .with_brokers(brokers)
}

/// Kafka's names of group states (`GroupState` in the coordinator; "Dead" for a group
/// that does not exist).
fn state_name(group: Option<&Group>) -> &'static str {
    match group.map(|g| g.state) {
        None => "Dead",
        Some(GroupState::Empty) => "Empty",
        Some(GroupState::PreparingRebalance) => "PreparingRebalance",
        Some(GroupState::CompletingRebalance) => "CompletingRebalance",
        Some(GroupState::Stable) => "Stable",
    }
}

/// ListGroups: the groups this broker coordinates (clients ask every broker), filtered by
/// state from v4 (KIP-518). Groups are classic consumer groups (v5's type, KIP-848).
pub fn list_groups(
    broker: &Broker,
    request: &ListGroupsRequest,
    version: i16,
) -> ListGroupsResponse {
    let wanted = |state: &str| {
        request.states_filter.is_empty()
            || request
                .states_filter
                .iter()
                .any(|s| s.eq_ignore_ascii_case(state))
    };
    let groups = broker
        .groups
        .coordinated()
        .filter(|g| wanted(state_name(Some(g))))
        .map(|g| {
            let listed = ListedGroup::default()
                .with_group_id(GroupId(StrBytes::from_string(g.group_id.clone())))
                .with_protocol_type(StrBytes::from_string(protocol_type(g)));
            let listed = if version >= 4 {
                listed.with_group_state(StrBytes::from_static_str(state_name(Some(g))))
            } else {
                listed
            };
            if version >= 5 {
                listed.with_group_type(StrBytes::from_static_str("classic"))
            } else {
                listed
            }
        })
        .collect();
    ListGroupsResponse::default().with_groups(groups)
}

/// DescribeGroups: state, protocol and members of each group this broker coordinates
/// (NOT_COORDINATOR otherwise). As Kafka's `GroupMetadata.summary`, member subscriptions
/// and assignments are only reported once the group is Stable.
pub fn describe_groups(
    broker: &Broker,
    request: &DescribeGroupsRequest,
    version: i16,
) -> DescribeGroupsResponse {
    let groups = request
        .groups
        .iter()
        .map(|group_id| describe_group(broker, group_id, version))
        .collect();
    DescribeGroupsResponse::default().with_groups(groups)
}

fn describe_group(broker: &Broker, group_id: &GroupId, version: i16) -> DescribedGroup {
    let described = DescribedGroup::default().with_group_id(group_id.clone());
    let group = match broker.groups.describe(group_id.0.as_str()) {
        Ok(group) => group,
        Err(error) => return described.with_error_code(error.code()),
    };
    let described = described.with_group_state(StrBytes::from_static_str(state_name(group)));
    let Some(group) = group else {
        return described;
    };
    let stable = group.state == GroupState::Stable;
    let members = group
        .members
        .values()
        .map(|member| {
            let metadata = member
                .protocols
                .iter()
                .find(|(name, _)| *name == group.protocol_name)
                .map(|(_, metadata)| metadata.clone())
                .unwrap_or_default();
            // The coordinator does not keep members' client ids and hosts: empty.
            let described = DescribedGroupMember::default()
                .with_member_id(StrBytes::from_string(member.member_id.clone()));
            if stable {
                described
                    .with_member_metadata(metadata)
                    .with_member_assignment(member.assignment.clone())
            } else {
                described
            }
        })
        .collect();
    let protocol_data = if group.state == GroupState::Empty {
        String::new()
    } else {
        group.protocol_name.clone()
    };
    let described = described
        .with_protocol_type(StrBytes::from_string(protocol_type(group)))
        .with_protocol_data(StrBytes::from_string(protocol_data))
        .with_members(members);
    if version < 3 {
        return described;
    }
    described.with_authorized_operations(i32::MIN)
}

/// An error for every group, e.g. when this broker may not act as coordinator.
pub fn describe_groups_error(
    request: &DescribeGroupsRequest,
    error: ResponseError,
) -> DescribeGroupsResponse {
    let groups = request
        .groups
        .iter()
        .map(|id| {
            DescribedGroup::default()
                .with_group_id(id.clone())
                .with_error_code(error.code())
        })
        .collect();
    DescribeGroupsResponse::default().with_groups(groups)
}
