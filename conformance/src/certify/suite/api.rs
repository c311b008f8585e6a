//! The API suite: ApiVersions answers (KIP-35, KIP-511), and every version of every API
//! the broker advertises answers a minimal well-formed request: the message's `Default`
//! body, on a fresh connection, with a short timeout.
//!
//! Answers count whatever their error code: the property is that the broker speaks what it
//! advertises, not that an empty request succeeds. A dropped connection and a hang or
//! undecodable answer are two separate failures.

use std::time::Duration;

use bytes::BytesMut;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::{Encodable, StrBytes};

use faultline_wire::frame::{read_frame, write_frame};
use faultline_wire::Transport;

use super::identify::api_versions;
use super::probe::{api_label, shorten, Probe, Property};
use super::SuiteTarget;
use crate::certify::model::{Evidence, Exchange, PropertyResult};

/// The longest one probe request may take.
const PROBE_TIMEOUT_MAX: Duration = Duration::from_secs(3);
/// Hangs after which the remaining versions of an API are not tried.
const HANGS_PER_API_MAX: usize = 2;
/// The longest the whole sweep may take: a broker that hangs on many APIs gets the rest
/// listed as not probed rather than holding certification for minutes.
const SWEEP_BUDGET: Duration = Duration::from_secs(30);
/// Exchanges one failure's evidence keeps.
const EVIDENCE_EXCHANGES_MAX: usize = 20;

/// APIs not probed with a `Default` body: controller and quorum APIs whose default body
/// (node id 0, voter 0) would register, fence or remove a real node if a broker honoured
/// it. A broker advertising them to clients is judged elsewhere.
const STATE_CHANGING: [ApiKey; 10] = [
    ApiKey::BrokerRegistration,
    ApiKey::BrokerHeartbeat,
    ApiKey::UnregisterBroker,
    ApiKey::ControllerRegistration,
    ApiKey::AddRaftVoter,
    ApiKey::RemoveRaftVoter,
    ApiKey::UpdateRaftVoter,
    ApiKey::Vote,
    ApiKey::BeginQuorumEpoch,
    ApiKey::EndQuorumEpoch,
];

/// SASL APIs: on a plaintext listener a broker may close the connection after answering
/// or instead of answering (Kafka's `SaslServerAuthenticator` is not there), by design.
/// Their drops are reported in the detail, not judged.
const SASL: [ApiKey; 2] = [ApiKey::SaslHandshake, ApiKey::SaslAuthenticate];

const ANSWERS: Property = Property {
    id: "api-versions.answers",
    title: "ApiVersions answers with error NONE and lists ApiVersions itself",
    citation: "Kafka protocol guide, \"Versioning and Compatibility\"; KIP-35; KIP-511",
};
const EVERY_VERSION_ANSWERS: Property = Property {
    id: "api-versions.every-advertised-version-answers",
    title: "Every advertised version of every advertised API answers a minimal well-formed request (any error code) in time, decodably, with the request's correlation id",
    citation: "Kafka protocol guide, \"Versioning and Compatibility\" (a broker supports every version in the range it advertises); KIP-35",
};
const NO_DROPPED_CONNECTIONS: Property = Property {
    id: "api-versions.no-dropped-connections",
    title: "No advertised API version is answered by closing the connection",
    citation: "Kafka protocol guide, \"Versioning and Compatibility\" and Error Codes (a broker answers what it advertises with an error code, e.g. INVALID_REQUEST or UNSUPPORTED_VERSION)",
};

/// How one probe request ended.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Outcome {
    /// A decodable response with the right correlation id.
    Answered,
    /// The connection closed (or failed) instead.
    Dropped,
    /// No response in time.
    Hung,
    /// A response that did not decode, or answered another correlation id.
    Undecodable,
    /// A response that decoded except for a tagged field its version does not define:
    /// KIP-482 has receivers skip unknown tags, so this counts as answered (noted), even
    /// though kafka-protocol 0.18 refuses to decode it.
    UnknownTag,
}

/// Runs the suite.
pub async fn run<T: Transport>(transport: &T, target: &SuiteTarget) -> Vec<PropertyResult> {
    let mut results = vec![answers(transport, target).await];
    results.extend(every_version(transport, target).await);
    results
}

/// `api-versions.answers`.
async fn answers<T: Transport>(transport: &T, target: &SuiteTarget) -> PropertyResult {
    let mut probe = Probe::new(transport, target);
    let Some(address) = target.bootstrap.first() else {
        return ANSWERS.not_applicable("the target has no bootstrap address");
    };
    match api_versions(&mut probe, address).await {
        Some(apis) if apis.iter().any(|a| a.key == ApiKey::ApiVersions as i16) => ANSWERS.pass(format!(
            "ApiVersions v{} answered NONE with {} APIs, ApiVersions among them.",
            probe.exchanges.last().map_or(0, |e| e.version),
            apis.len()
        )),
        Some(apis) => ANSWERS.fail(
            format!("ApiVersions answered NONE with {} APIs but not ApiVersions itself.", apis.len()),
            probe.evidence("KIP-511: the ApiVersions response lists every API the broker supports, ApiVersions included"),
        ),
        None => ANSWERS.fail(
            "ApiVersions v3 and v0 both failed to answer with error NONE.",
            probe.evidence("neither ApiVersions v3 nor v0 answered with error NONE"),
        ),
    }
}

/// `api-versions.every-advertised-version-answers` and `api-versions.no-dropped-connections`.
async fn every_version<T: Transport>(transport: &T, target: &SuiteTarget) -> [PropertyResult; 2] {
    let Some(address) = target.bootstrap.first() else {
        let why = "the target has no bootstrap address";
        return [
            EVERY_VERSION_ANSWERS.not_applicable(why),
            NO_DROPPED_CONNECTIONS.not_applicable(why),
        ];
    };
    let timeout = target.request_timeout.min(PROBE_TIMEOUT_MAX);
    let mut answered = 0;
    let mut skipped = Vec::new();
    let mut sasl_drops = Vec::new();
    let mut unknown_tags = Vec::new();
    let mut dropped: Vec<Exchange> = Vec::new();
    let mut failed: Vec<Exchange> = Vec::new();
    let sweep_started = tokio::time::Instant::now();
    for advertised in &target.advertised {
        let Ok(api) = ApiKey::try_from(advertised.key) else {
            skipped.push(format!(
                "key {} (unknown to kafka-protocol 0.18)",
                advertised.key
            ));
            continue;
        };
        if STATE_CHANGING.contains(&api) {
            skipped.push(format!("{api:?} (state-changing controller API)"));
            continue;
        }
        let ours = api.valid_versions();
        if advertised.min_version < ours.min || advertised.max_version > ours.max {
            skipped.push(format!(
                "{api:?} versions outside v{}..=v{} (kafka-protocol 0.18 cannot encode them)",
                ours.min, ours.max
            ));
        }
        let mut hangs = 0;
        for version in advertised.min_version.max(ours.min)..=advertised.max_version.min(ours.max) {
            if sweep_started.elapsed() > SWEEP_BUDGET {
                skipped.push(format!(
                    "{api:?} v{version} (the {SWEEP_BUDGET:?} sweep budget was spent)"
                ));
                continue;
            }
            if hangs >= HANGS_PER_API_MAX {
                skipped.push(format!("{api:?} v{version} (after {hangs} hangs)"));
                continue;
            }
            let Some((outcome, exchange)) =
                probe_version(transport, target, address, api, version, timeout).await
            else {
                skipped.push(format!(
                    "{api:?} v{version} (kafka-protocol cannot encode its default body)"
                ));
                continue;
            };
            match outcome {
                Outcome::Answered => answered += 1,
                Outcome::Dropped if SASL.contains(&api) => {
                    sasl_drops.push(format!("{api:?} v{version}"))
                }
                Outcome::Dropped => dropped.push(exchange),
                Outcome::Hung => {
                    hangs += 1;
                    failed.push(exchange);
                }
                Outcome::Undecodable => failed.push(exchange),
                Outcome::UnknownTag => {
                    answered += 1;
                    unknown_tags.push(format!("{api:?} v{version}"));
                }
            }
        }
    }
    let mut notes = String::new();
    if !unknown_tags.is_empty() {
        notes.push_str(&format!(
            " Answered with a tagged field the version does not define (skipped per KIP-482, counted as answered): {}.",
            unknown_tags.join(", ")
        ));
    }
    if !skipped.is_empty() {
        notes.push_str(&format!(" Not probed: {}.", skipped.join(", ")));
    }
    if !sasl_drops.is_empty() {
        notes.push_str(&format!(
            " Closed by design on a plaintext listener (not judged): {}.",
            sasl_drops.join(", ")
        ));
    }
    let tried = answered + dropped.len() + failed.len();
    let every = if failed.is_empty() {
        let drops = if dropped.is_empty() {
            String::new()
        } else {
            format!(
                " ({} closed the connection: see api-versions.no-dropped-connections)",
                dropped.len()
            )
        };
        EVERY_VERSION_ANSWERS.pass(format!(
            "{answered} of {tried} advertised API versions answered a default request within {timeout:?}{drops}.{notes}"
        ))
    } else {
        EVERY_VERSION_ANSWERS.fail(
            format!(
                "{} of {tried} advertised API versions hung or answered undecodably: {}.{notes}",
                failed.len(),
                list(&failed)
            ),
            evidence(
                format!(
                    "{} advertised API versions hung or answered undecodably",
                    failed.len()
                ),
                &failed,
            ),
        )
    };
    let drops = if dropped.is_empty() {
        NO_DROPPED_CONNECTIONS.pass(format!(
            "None of {tried} advertised API versions closed the connection."
        ))
    } else {
        NO_DROPPED_CONNECTIONS.fail(
            format!("{} of {tried} advertised API versions closed the connection instead of answering: {}.", dropped.len(), list(&dropped)),
            evidence(format!("{} advertised API versions closed the connection", dropped.len()), &dropped),
        )
    };
    [every, drops]
}

fn list(exchanges: &[Exchange]) -> String {
    exchanges
        .iter()
        .map(|e| format!("{} v{}", e.api, e.version))
        .collect::<Vec<_>>()
        .join(", ")
}

fn evidence(summary: String, exchanges: &[Exchange]) -> Evidence {
    Evidence {
        summary,
        exchanges: exchanges
            .iter()
            .take(EVIDENCE_EXCHANGES_MAX)
            .cloned()
            .collect(),
        history: Vec::new(),
    }
}

/// One default request of `api` at `version` on a fresh connection; `None` when
/// kafka-protocol cannot encode it at that version.
async fn probe_version<T: Transport>(
    transport: &T,
    target: &SuiteTarget,
    address: &str,
    api: ApiKey,
    version: i16,
    timeout: Duration,
) -> Option<(Outcome, Exchange)> {
    let body = default_request(api);
    let correlation_id = i32::from(api as i16) * 100 + i32::from(version) + 1;
    let frame = encode(&body, api, version, correlation_id)?;
    let at_ms = target.started.elapsed().as_millis() as u64;
    let (outcome, response) = exchange(
        transport,
        address,
        frame,
        api,
        version,
        correlation_id,
        timeout,
    )
    .await;
    Some((
        outcome,
        Exchange {
            broker: (target.broker_name)(address),
            api: api_label(api as i16),
            version,
            request: shorten(format!("{body:?}")),
            response,
            at_ms,
        },
    ))
}

/// Header and body, or `None` if the body does not encode at this version.
fn encode(
    body: &RequestKind,
    api: ApiKey,
    version: i16,
    correlation_id: i32,
) -> Option<bytes::Bytes> {
    let mut out = BytesMut::new();
    RequestHeader::default()
        .with_request_api_key(api as i16)
        .with_request_api_version(version)
        .with_correlation_id(correlation_id)
        .with_client_id(Some(StrBytes::from_static_str("faultline-certify")))
        .encode(&mut out, api.request_header_version(version))
        .ok()?;
    body.encode(&mut out, version).ok()?;
    Some(out.freeze())
}

/// Connects, sends `frame`, reads one response and classifies it.
async fn exchange<T: Transport>(
    transport: &T,
    address: &str,
    frame: bytes::Bytes,
    api: ApiKey,
    version: i16,
    correlation_id: i32,
    timeout: Duration,
) -> (Outcome, String) {
    let attempt = async {
        let mut stream = match transport.connect(address).await {
            Ok(stream) => stream,
            Err(e) => return (Outcome::Dropped, format!("could not connect: {e}")),
        };
        if let Err(e) = write_frame(&mut stream, &frame).await {
            return (Outcome::Dropped, format!("connection error: {e}"));
        }
        match read_frame(&mut stream).await {
            Ok(Some(response)) => decode(response, api, version, correlation_id),
            Ok(None) => (Outcome::Dropped, "connection closed".to_string()),
            Err(e) => (Outcome::Dropped, format!("connection error: {e}")),
        }
    };
    tokio::time::timeout(timeout, attempt)
        .await
        .unwrap_or_else(|_| (Outcome::Hung, format!("timeout after {timeout:?}")))
}

/// Checks the correlation id and decodes the body.
fn decode(
    mut frame: bytes::Bytes,
    api: ApiKey,
    version: i16,
    correlation_id: i32,
) -> (Outcome, String) {
    use kafka_protocol::protocol::Decodable;
    // KIP-511: ApiVersions always answers with response header v0.
    let header_version = if api == ApiKey::ApiVersions {
        0
    } else {
        api.response_header_version(version)
    };
    let header = match ResponseHeader::decode(&mut frame, header_version) {
        Ok(header) => header,
        Err(e) => {
            return (
                Outcome::Undecodable,
                format!("undecodable response header: {e}"),
            )
        }
    };
    if header.correlation_id != correlation_id {
        return (
            Outcome::Undecodable,
            format!(
                "response for correlation id {} to request {correlation_id}",
                header.correlation_id
            ),
        );
    }
    match ResponseKind::decode(api, &mut frame, version) {
        Ok(response) => (Outcome::Answered, shorten(format!("{response:?}"))),
        Err(e) if format!("{e:#}").contains("is not valid for version") => (
            Outcome::UnknownTag,
            format!("response with a tagged field its version does not define: {e:#}"),
        ),
        Err(e) => (Outcome::Undecodable, format!("undecodable response: {e:#}")),
    }
}

/// The minimal well-formed request for `api`: its `Default` body, except where the default
/// would not be answered or would not be minimal.
fn default_request(api: ApiKey) -> RequestKind {
    match api {
        // acks=0 gets no response at all (protocol guide, Produce).
        ApiKey::Produce => RequestKind::Produce(
            ProduceRequest::default()
                .with_acks(1)
                .with_timeout_ms(1_000),
        ),
        // KIP-511: an empty software name is INVALID_REQUEST; name ourselves.
        ApiKey::ApiVersions => RequestKind::ApiVersions(
            ApiVersionsRequest::default()
                .with_client_software_name(StrBytes::from_static_str("faultline"))
                .with_client_software_version(StrBytes::from_static_str(env!("CARGO_PKG_VERSION"))),
        ),
        // The default transactional id is "", which is not an idempotent producer's null.
        ApiKey::InitProducerId => RequestKind::InitProducerId(
            InitProducerIdRequest::default().with_transactional_id(None),
        ),
        _ => default_body(api),
    }
}

/// `RequestKind::X(XRequest::default())` for every API kafka-protocol 0.18 knows.
fn default_body(api: ApiKey) -> RequestKind {
    match api {
        ApiKey::Produce => RequestKind::Produce(ProduceRequest::default()),
        ApiKey::Fetch => RequestKind::Fetch(FetchRequest::default()),
        ApiKey::ListOffsets => RequestKind::ListOffsets(ListOffsetsRequest::default()),
        ApiKey::Metadata => RequestKind::Metadata(MetadataRequest::default()),
        ApiKey::OffsetCommit => RequestKind::OffsetCommit(OffsetCommitRequest::default()),
        ApiKey::OffsetFetch => RequestKind::OffsetFetch(OffsetFetchRequest::default()),
        ApiKey::FindCoordinator => RequestKind::FindCoordinator(FindCoordinatorRequest::default()),
        ApiKey::JoinGroup => RequestKind::JoinGroup(JoinGroupRequest::default()),
        ApiKey::Heartbeat => RequestKind::Heartbeat(HeartbeatRequest::default()),
        ApiKey::LeaveGroup => RequestKind::LeaveGroup(LeaveGroupRequest::default()),
        ApiKey::SyncGroup => RequestKind::SyncGroup(SyncGroupRequest::default()),
        ApiKey::DescribeGroups => RequestKind::DescribeGroups(DescribeGroupsRequest::default()),
        ApiKey::ListGroups => RequestKind::ListGroups(ListGroupsRequest::default()),
        ApiKey::SaslHandshake => RequestKind::SaslHandshake(SaslHandshakeRequest::default()),
        ApiKey::ApiVersions => RequestKind::ApiVersions(ApiVersionsRequest::default()),
        ApiKey::CreateTopics => RequestKind::CreateTopics(CreateTopicsRequest::default()),
        ApiKey::DeleteTopics => RequestKind::DeleteTopics(DeleteTopicsRequest::default()),
        ApiKey::DeleteRecords => RequestKind::DeleteRecords(DeleteRecordsRequest::default()),
        ApiKey::InitProducerId => RequestKind::InitProducerId(InitProducerIdRequest::default()),
        ApiKey::OffsetForLeaderEpoch => {
            RequestKind::OffsetForLeaderEpoch(OffsetForLeaderEpochRequest::default())
        }
        ApiKey::AddPartitionsToTxn => {
            RequestKind::AddPartitionsToTxn(AddPartitionsToTxnRequest::default())
        }
        ApiKey::AddOffsetsToTxn => RequestKind::AddOffsetsToTxn(AddOffsetsToTxnRequest::default()),
        ApiKey::EndTxn => RequestKind::EndTxn(EndTxnRequest::default()),
        ApiKey::WriteTxnMarkers => RequestKind::WriteTxnMarkers(WriteTxnMarkersRequest::default()),
        ApiKey::TxnOffsetCommit => RequestKind::TxnOffsetCommit(TxnOffsetCommitRequest::default()),
        ApiKey::DescribeAcls => RequestKind::DescribeAcls(DescribeAclsRequest::default()),
        ApiKey::CreateAcls => RequestKind::CreateAcls(CreateAclsRequest::default()),
        ApiKey::DeleteAcls => RequestKind::DeleteAcls(DeleteAclsRequest::default()),
        ApiKey::DescribeConfigs => RequestKind::DescribeConfigs(DescribeConfigsRequest::default()),
        ApiKey::AlterConfigs => RequestKind::AlterConfigs(AlterConfigsRequest::default()),
        ApiKey::AlterReplicaLogDirs => {
            RequestKind::AlterReplicaLogDirs(AlterReplicaLogDirsRequest::default())
        }
        ApiKey::DescribeLogDirs => RequestKind::DescribeLogDirs(DescribeLogDirsRequest::default()),
        ApiKey::SaslAuthenticate => {
            RequestKind::SaslAuthenticate(SaslAuthenticateRequest::default())
        }
        ApiKey::CreatePartitions => {
            RequestKind::CreatePartitions(CreatePartitionsRequest::default())
        }
        ApiKey::CreateDelegationToken => {
            RequestKind::CreateDelegationToken(CreateDelegationTokenRequest::default())
        }
        ApiKey::RenewDelegationToken => {
            RequestKind::RenewDelegationToken(RenewDelegationTokenRequest::default())
        }
        ApiKey::ExpireDelegationToken => {
            RequestKind::ExpireDelegationToken(ExpireDelegationTokenRequest::default())
        }
        ApiKey::DescribeDelegationToken => {
            RequestKind::DescribeDelegationToken(DescribeDelegationTokenRequest::default())
        }
        ApiKey::DeleteGroups => RequestKind::DeleteGroups(DeleteGroupsRequest::default()),
        ApiKey::ElectLeaders => RequestKind::ElectLeaders(ElectLeadersRequest::default()),
        ApiKey::IncrementalAlterConfigs => {
            RequestKind::IncrementalAlterConfigs(IncrementalAlterConfigsRequest::default())
        }
        ApiKey::AlterPartitionReassignments => {
            RequestKind::AlterPartitionReassignments(AlterPartitionReassignmentsRequest::default())
        }
        ApiKey::ListPartitionReassignments => {
            RequestKind::ListPartitionReassignments(ListPartitionReassignmentsRequest::default())
        }
        ApiKey::OffsetDelete => RequestKind::OffsetDelete(OffsetDeleteRequest::default()),
        ApiKey::DescribeClientQuotas => {
            RequestKind::DescribeClientQuotas(DescribeClientQuotasRequest::default())
        }
        ApiKey::AlterClientQuotas => {
            RequestKind::AlterClientQuotas(AlterClientQuotasRequest::default())
        }
        ApiKey::DescribeUserScramCredentials => {
            RequestKind::DescribeUserScramCredentials(DescribeUserScramCredentialsRequest::default())
        }
        ApiKey::AlterUserScramCredentials => {
            RequestKind::AlterUserScramCredentials(AlterUserScramCredentialsRequest::default())
        }
        ApiKey::Vote => RequestKind::Vote(VoteRequest::default()),
        ApiKey::BeginQuorumEpoch => {
            RequestKind::BeginQuorumEpoch(BeginQuorumEpochRequest::default())
        }
        ApiKey::EndQuorumEpoch => RequestKind::EndQuorumEpoch(EndQuorumEpochRequest::default()),
        ApiKey::DescribeQuorum => RequestKind::DescribeQuorum(DescribeQuorumRequest::default()),
        ApiKey::AlterPartition => RequestKind::AlterPartition(AlterPartitionRequest::default()),
        ApiKey::UpdateFeatures => RequestKind::UpdateFeatures(UpdateFeaturesRequest::default()),
        ApiKey::Envelope => RequestKind::Envelope(EnvelopeRequest::default()),
        ApiKey::FetchSnapshot => RequestKind::FetchSnapshot(FetchSnapshotRequest::default()),
        ApiKey::DescribeCluster => RequestKind::DescribeCluster(DescribeClusterRequest::default()),
        ApiKey::DescribeProducers => {
            RequestKind::DescribeProducers(DescribeProducersRequest::default())
        }
        ApiKey::BrokerRegistration => {
            RequestKind::BrokerRegistration(BrokerRegistrationRequest::default())
        }
        ApiKey::BrokerHeartbeat => RequestKind::BrokerHeartbeat(BrokerHeartbeatRequest::default()),
        ApiKey::UnregisterBroker => {
            RequestKind::UnregisterBroker(UnregisterBrokerRequest::default())
        }
        ApiKey::DescribeTransactions => {
            RequestKind::DescribeTransactions(DescribeTransactionsRequest::default())
        }
        ApiKey::ListTransactions => {
            RequestKind::ListTransactions(ListTransactionsRequest::default())
        }
        ApiKey::AllocateProducerIds => {
            RequestKind::AllocateProducerIds(AllocateProducerIdsRequest::default())
        }
        ApiKey::ConsumerGroupHeartbeat => {
            RequestKind::ConsumerGroupHeartbeat(ConsumerGroupHeartbeatRequest::default())
        }
        ApiKey::ConsumerGroupDescribe => {
            RequestKind::ConsumerGroupDescribe(ConsumerGroupDescribeRequest::default())
        }
        ApiKey::ControllerRegistration => {
            RequestKind::ControllerRegistration(ControllerRegistrationRequest::default())
        }
        ApiKey::GetTelemetrySubscriptions => {
            RequestKind::GetTelemetrySubscriptions(GetTelemetrySubscriptionsRequest::default())
        }
        ApiKey::PushTelemetry => RequestKind::PushTelemetry(PushTelemetryRequest::default()),
        ApiKey::AssignReplicasToDirs => {
            RequestKind::AssignReplicasToDirs(AssignReplicasToDirsRequest::default())
        }
        ApiKey::ListConfigResources => {
            RequestKind::ListConfigResources(ListConfigResourcesRequest::default())
        }
        ApiKey::DescribeTopicPartitions => {
            RequestKind::DescribeTopicPartitions(DescribeTopicPartitionsRequest::default())
        }
        ApiKey::ShareGroupHeartbeat => {
            RequestKind::ShareGroupHeartbeat(ShareGroupHeartbeatRequest::default())
        }
        ApiKey::ShareGroupDescribe => {
            RequestKind::ShareGroupDescribe(ShareGroupDescribeRequest::default())
        }
        ApiKey::ShareFetch => RequestKind::ShareFetch(ShareFetchRequest::default()),
        ApiKey::ShareAcknowledge => {
            RequestKind::ShareAcknowledge(ShareAcknowledgeRequest::default())
        }
        ApiKey::AddRaftVoter => RequestKind::AddRaftVoter(AddRaftVoterRequest::default()),
        ApiKey::RemoveRaftVoter => RequestKind::RemoveRaftVoter(RemoveRaftVoterRequest::default()),
        ApiKey::UpdateRaftVoter => RequestKind::UpdateRaftVoter(UpdateRaftVoterRequest::default()),
        ApiKey::InitializeShareGroupState => {
            RequestKind::InitializeShareGroupState(InitializeShareGroupStateRequest::default())
        }
        ApiKey::ReadShareGroupState => {
            RequestKind::ReadShareGroupState(ReadShareGroupStateRequest::default())
        }
        ApiKey::WriteShareGroupState => {
            RequestKind::WriteShareGroupState(WriteShareGroupStateRequest::default())
        }
        ApiKey::DeleteShareGroupState => {
            RequestKind::DeleteShareGroupState(DeleteShareGroupStateRequest::default())
        }
        ApiKey::ReadShareGroupStateSummary => {
            RequestKind::ReadShareGroupStateSummary(ReadShareGroupStateSummaryRequest::default())
        }
        ApiKey::DescribeShareGroupOffsets => {
            RequestKind::DescribeShareGroupOffsets(DescribeShareGroupOffsetsRequest::default())
        }
        ApiKey::AlterShareGroupOffsets => {
            RequestKind::AlterShareGroupOffsets(AlterShareGroupOffsetsRequest::default())
        }
        ApiKey::DeleteShareGroupOffsets => {
            RequestKind::DeleteShareGroupOffsets(DeleteShareGroupOffsetsRequest::default())
        }
    }
}
