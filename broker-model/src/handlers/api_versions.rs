//! ApiVersions (KIP-35, KIP-511): what this node speaks.

use kafka_protocol::messages::api_versions_response::ApiVersion;
use kafka_protocol::messages::{ApiKey, ApiVersionsResponse};

use faultline_wire::ResponseError;

/// Answers ApiVersions from a support table. An unsupported request version gets
/// UNSUPPORTED_VERSION with the table, so the client can retry at a version we speak
/// (KIP-511).
pub fn handle(table: &[(ApiKey, i16, i16)], request_version: i16) -> ApiVersionsResponse {
    let api_keys = table
        .iter()
        .map(|&(key, min, max)| {
            ApiVersion::default()
                .with_api_key(key as i16)
                .with_min_version(min)
                .with_max_version(max)
        })
        .collect();
    let supported = super::supports(table, ApiKey::ApiVersions, request_version);
    ApiVersionsResponse::default()
        .with_error_code(if supported {
            0
        } else {
            ResponseError::UnsupportedVersion.code()
        })
        .with_api_keys(api_keys)
}
