//! Kafka API handlers: one file per API family, each turning a decoded request into a
//! response against the broker's (or controller's) state.
//!
//! Versions advertised are the ones these handlers read and write correctly; a client
//! asking for anything else gets UNSUPPORTED_VERSION (Kafka protocol guide, "Versioning").

pub mod api_versions;
pub mod controller;
pub mod delete_records;
pub mod fetch;
pub mod find_coordinator;
pub mod fit;
pub mod groups;
pub mod init_producer_id;
pub mod metadata;
pub mod offset_commit;
pub mod offsets;
pub mod produce;

use kafka_protocol::messages::ApiKey;

/// `(api, min version, max version)` a broker serves.
pub const BROKER_APIS: &[(ApiKey, i16, i16)] = &[
    (ApiKey::Produce, 3, 9),
    (ApiKey::Fetch, 4, 12),
    (ApiKey::ListOffsets, 1, 7),
    (ApiKey::Metadata, 1, 12),
    (ApiKey::ApiVersions, 0, 3),
    (ApiKey::OffsetForLeaderEpoch, 2, 4),
    (ApiKey::InitProducerId, 0, 4),
    (ApiKey::FindCoordinator, 0, 3),
    (ApiKey::JoinGroup, 0, 5),
    (ApiKey::SyncGroup, 0, 4),
    (ApiKey::Heartbeat, 0, 4),
    (ApiKey::LeaveGroup, 0, 4),
    (ApiKey::OffsetCommit, 2, 7),
    (ApiKey::OffsetFetch, 1, 7),
    (ApiKey::DeleteRecords, 0, 2),
];

/// `(api, min version, max version)` the controller serves.
pub const CONTROLLER_APIS: &[(ApiKey, i16, i16)] = &[
    (ApiKey::Fetch, 4, 12),
    (ApiKey::ApiVersions, 0, 3),
    (ApiKey::BrokerRegistration, 0, 4),
    (ApiKey::BrokerHeartbeat, 0, 1),
    (ApiKey::AlterPartition, 2, 3),
];

/// Whether `version` of `api` is in `table`.
pub fn supports(table: &[(ApiKey, i16, i16)], api: ApiKey, version: i16) -> bool {
    table
        .iter()
        .any(|&(key, min, max)| key == api && (min..=max).contains(&version))
}
