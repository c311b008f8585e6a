//! Kafka API handlers: one file per API family, each turning a decoded request into a
//! response against the broker's (or controller's) state, and the dispatch tables.
//!
//! The tables are exhaustive matches over [`ApiKey`]: every API Kafka defines is either
//! served (its versions, one line each, and a handler in [`dispatch`]) or listed in one of
//! the explicit groups below. A new API in the protocol crate, or a group member moved to
//! served, makes the compiler list every place that must handle it.
//!
//! Versions advertised are the ones these handlers read and write correctly; a client
//! asking for anything else gets UNSUPPORTED_VERSION (Kafka protocol guide, "Versioning").

use kafka_protocol::messages::ApiKey;

/// APIs only the controller serves: brokers talk to it, clients never do (KIP-631, KIP-497).
macro_rules! controller_only_apis {
    () => {
        ApiKey::BrokerRegistration | ApiKey::BrokerHeartbeat | ApiKey::AlterPartition
    };
}

/// APIs only brokers serve: the client-facing data, group and admin APIs.
macro_rules! broker_only_apis {
    () => {
        ApiKey::Produce
            | ApiKey::ListOffsets
            | ApiKey::Metadata
            | ApiKey::OffsetCommit
            | ApiKey::OffsetFetch
            | ApiKey::FindCoordinator
            | ApiKey::JoinGroup
            | ApiKey::Heartbeat
            | ApiKey::LeaveGroup
            | ApiKey::SyncGroup
            | ApiKey::InitProducerId
            | ApiKey::OffsetForLeaderEpoch
            | ApiKey::DescribeGroups
            | ApiKey::ListGroups
            | ApiKey::DescribeCluster
            | ApiKey::DeleteRecords
            | ApiKey::AddPartitionsToTxn
            | ApiKey::AddOffsetsToTxn
            | ApiKey::EndTxn
            | ApiKey::WriteTxnMarkers
            | ApiKey::TxnOffsetCommit
            | ApiKey::DescribeTransactions
            | ApiKey::ListTransactions
            | ApiKey::DeleteGroups
            | ApiKey::OffsetDelete
            | ApiKey::DescribeConfigs
    };
}

/// APIs no node of this cluster serves, grouped by why. A request for one closes the
/// connection, as Kafka does for an API it does not know (except ApiVersions, KIP-511).
macro_rules! unserved_apis {
    () => {
        // DescribeProducers (KIP-664: producer state per partition, for operators).
        ApiKey::DescribeProducers
            // Security: SASL, ACLs, delegation tokens, SCRAM, quotas.
            | ApiKey::SaslHandshake
            | ApiKey::SaslAuthenticate
            | ApiKey::DescribeAcls
            | ApiKey::CreateAcls
            | ApiKey::DeleteAcls
            | ApiKey::CreateDelegationToken
            | ApiKey::RenewDelegationToken
            | ApiKey::ExpireDelegationToken
            | ApiKey::DescribeDelegationToken
            | ApiKey::DescribeUserScramCredentials
            | ApiKey::AlterUserScramCredentials
            | ApiKey::DescribeClientQuotas
            | ApiKey::AlterClientQuotas
            // Admin not modelled: log dirs, reassignment, elections, features.
            | ApiKey::ListConfigResources
            | ApiKey::AlterReplicaLogDirs
            | ApiKey::DescribeLogDirs
            | ApiKey::ElectLeaders
            | ApiKey::AlterPartitionReassignments
            | ApiKey::ListPartitionReassignments
            | ApiKey::UpdateFeatures
            | ApiKey::DescribeTopicPartitions
            // The next-generation consumer (KIP-848), share groups (KIP-932), telemetry
            // (KIP-714).
            | ApiKey::ConsumerGroupHeartbeat
            | ApiKey::ConsumerGroupDescribe
            | ApiKey::ShareGroupHeartbeat
            | ApiKey::ShareGroupDescribe
            | ApiKey::ShareFetch
            | ApiKey::ShareAcknowledge
            | ApiKey::InitializeShareGroupState
            | ApiKey::ReadShareGroupState
            | ApiKey::WriteShareGroupState
            | ApiKey::DeleteShareGroupState
            | ApiKey::ReadShareGroupStateSummary
            | ApiKey::DescribeShareGroupOffsets
            | ApiKey::AlterShareGroupOffsets
            | ApiKey::DeleteShareGroupOffsets
            | ApiKey::GetTelemetrySubscriptions
            | ApiKey::PushTelemetry
            // The KRaft quorum among controllers (KIP-595, KIP-853) and APIs of a
            // multi-controller or multi-directory cluster (KIP-590, KIP-730, KIP-919).
            | ApiKey::Vote
            | ApiKey::BeginQuorumEpoch
            | ApiKey::EndQuorumEpoch
            | ApiKey::DescribeQuorum
            | ApiKey::FetchSnapshot
            | ApiKey::AddRaftVoter
            | ApiKey::RemoveRaftVoter
            | ApiKey::UpdateRaftVoter
            | ApiKey::Envelope
            | ApiKey::AllocateProducerIds
            | ApiKey::ControllerRegistration
            | ApiKey::UnregisterBroker
            | ApiKey::AssignReplicasToDirs
    };
}

pub mod admin;
pub mod alter_configs;
pub mod api_versions;
pub mod controller;
pub mod delete_groups;
pub mod delete_records;
pub mod describe_configs;
pub mod describe_transactions;
pub mod dispatch;
pub mod fetch;
pub mod find_coordinator;
pub mod fit;
pub mod groups;
pub mod init_producer_id;
pub mod metadata;
pub mod offset_commit;
pub mod offsets;
pub mod produce;
pub mod topics;
pub mod transactions;
pub mod txn_offset_commit;
pub mod write_txn_markers;

/// `(min version, max version)` of `api` a broker serves, or `None`. One line per API.
pub fn broker_versions(api: ApiKey) -> Option<(i16, i16)> {
    match api {
        ApiKey::Produce => Some((3, 9)),
        ApiKey::Fetch => Some((4, 12)),
        ApiKey::ListOffsets => Some((1, 7)),
        ApiKey::Metadata => Some((1, 12)),
        ApiKey::ApiVersions => Some((0, 3)),
        ApiKey::OffsetForLeaderEpoch => Some((2, 4)),
        ApiKey::InitProducerId => Some((0, 4)),
        ApiKey::FindCoordinator => Some((0, 3)),
        ApiKey::JoinGroup => Some((0, 5)),
        ApiKey::SyncGroup => Some((0, 4)),
        ApiKey::Heartbeat => Some((0, 4)),
        ApiKey::LeaveGroup => Some((0, 4)),
        ApiKey::OffsetCommit => Some((2, 7)),
        ApiKey::OffsetFetch => Some((1, 7)),
        ApiKey::CreateTopics => Some((2, 7)),
        ApiKey::CreatePartitions => Some((0, 3)),
        ApiKey::AlterConfigs => Some((0, 2)),
        ApiKey::IncrementalAlterConfigs => Some((0, 1)),
        ApiKey::DeleteTopics => Some((1, 6)),
        ApiKey::DescribeCluster => Some((0, 2)),
        ApiKey::ListGroups => Some((0, 5)),
        ApiKey::DescribeGroups => Some((0, 5)),
        ApiKey::DeleteRecords => Some((0, 2)),
        ApiKey::DeleteGroups => Some((0, 2)),
        ApiKey::OffsetDelete => Some((0, 0)),
        // v1–v4 (v0 was removed in Kafka 4.0, KIP-896).
        ApiKey::DescribeConfigs => Some((1, 4)),
        // v0–v3: one transaction per request (v4 batches them for brokers, KIP-890).
        ApiKey::AddPartitionsToTxn => Some((0, 3)),
        ApiKey::AddOffsetsToTxn => Some((0, 3)),
        // v0–v3 (v4 and v5 are KIP-890 part 2's epoch bump per transaction).
        ApiKey::EndTxn => Some((0, 3)),
        ApiKey::TxnOffsetCommit => Some((0, 3)),
        ApiKey::WriteTxnMarkers => Some((0, 1)),
        ApiKey::DescribeTransactions => Some((0, 0)),
        ApiKey::ListTransactions => Some((0, 1)),
        controller_only_apis!() | unserved_apis!() => None,
    }
}

/// `(min version, max version)` of `api` the controller serves, or `None`.
pub fn controller_versions(api: ApiKey) -> Option<(i16, i16)> {
    match api {
        ApiKey::Fetch => Some((4, 12)),
        ApiKey::ApiVersions => Some((0, 3)),
        ApiKey::BrokerRegistration => Some((0, 4)),
        ApiKey::BrokerHeartbeat => Some((0, 1)),
        ApiKey::AlterPartition => Some((2, 3)),
        ApiKey::CreateTopics => Some((2, 7)),
        ApiKey::CreatePartitions => Some((0, 3)),
        ApiKey::AlterConfigs => Some((0, 2)),
        ApiKey::IncrementalAlterConfigs => Some((0, 1)),
        ApiKey::DeleteTopics => Some((1, 6)),
        broker_only_apis!() | unserved_apis!() => None,
    }
}

/// `(api, min version, max version)` of every API `versions` serves, in api key order.
pub fn support_table(versions: fn(ApiKey) -> Option<(i16, i16)>) -> Vec<(ApiKey, i16, i16)> {
    ApiKey::iter()
        .filter_map(|api| versions(api).map(|(min, max)| (api, min, max)))
        .collect()
}

/// Whether `version` of `api` is in `table`.
pub fn supports(table: &[(ApiKey, i16, i16)], api: ApiKey, version: i16) -> bool {
    table
        .iter()
        .any(|&(key, min, max)| key == api && (min..=max).contains(&version))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every API is served by the broker, the controller, both (Fetch, ApiVersions, and
    /// the forwarded CreateTopics, DeleteTopics, CreatePartitions and AlterConfigs), or neither; a served API advertises a non-empty version range.
    #[test]
    fn version_tables_are_well_formed() {
        for api in ApiKey::iter() {
            for versions in [broker_versions(api), controller_versions(api)]
                .into_iter()
                .flatten()
            {
                assert!(versions.0 <= versions.1, "{api:?} advertises {versions:?}");
            }
        }
        assert!(broker_versions(ApiKey::ApiVersions).is_some());
        assert!(controller_versions(ApiKey::ApiVersions).is_some());
        assert!(broker_versions(ApiKey::AlterPartition).is_none());
        assert!(controller_versions(ApiKey::Produce).is_none());
    }
}
