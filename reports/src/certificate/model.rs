//! What a certification concludes: properties, each PASS / FAIL / NOT APPLICABLE with the
//! evidence a broker's maintainer can act on, and the certificate that gathers them.
//!
//! Pure data (serde); `faultline-reports` renders it as Markdown, JSON and HTML.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The outcome of one property.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    /// The broker kept the property every time it was exercised.
    Pass,
    /// The broker broke it; the evidence says how.
    Fail,
    /// The property does not apply to this target (a single node has no replication; a
    /// broker that does not advertise an API is not tested on it). The detail says why.
    NotApplicable,
}

impl Status {
    /// `PASS`, `FAIL` or `NOT APPLICABLE`, as certificates print it.
    pub fn label(self) -> &'static str {
        match self {
            Status::Pass => "PASS",
            Status::Fail => "FAIL",
            Status::NotApplicable => "NOT APPLICABLE",
        }
    }
}

/// Which part of certification judged a property.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Category {
    /// The protocol conformance suite: single requests and their answers.
    Protocol,
    /// The fault workload: producers and consumers under faults, judged by the checkers.
    Faults,
}

/// One request and what came back, as evidence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Exchange {
    /// The broker address it went to (the broker's own, not the proxy's).
    pub broker: String,
    /// API name and key, e.g. `Produce (0)`.
    pub api: String,
    /// The request's API version.
    pub version: i16,
    /// The request, rendered (`{:?}` of the kafka-protocol message, shortened).
    pub request: String,
    /// The response rendered the same way, or what happened instead: `timeout after 5s`,
    /// `connection closed`, `undecodable response: ...`.
    pub response: String,
    /// Milliseconds since certification began.
    pub at_ms: u64,
}

/// Why a property passed or failed, with what shows it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Evidence {
    /// One sentence: what was expected and what was seen.
    pub summary: String,
    /// The requests and responses that show it, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exchanges: Vec<Exchange>,
    /// History ops (JSON Lines, Jepsen's op shape) that show it, for fault-workload
    /// properties.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub history: Vec<String>,
}

/// One property of the certificate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PropertyResult {
    /// A stable id, e.g. `produce.offsets-contiguous`.
    pub id: String,
    /// What it says, in a sentence a Kafka engineer recognises.
    pub title: String,
    /// Which part judged it.
    pub category: Category,
    /// Where the rule comes from: the Kafka protocol guide, a KIP, a Jepsen definition.
    pub citation: String,
    /// The outcome.
    pub status: Status,
    /// What was done and seen; for NOT APPLICABLE, why it does not apply.
    pub detail: String,
    /// For FAIL, at least one piece of evidence; for PASS, optionally what was checked.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub evidence: Vec<Evidence>,
}

impl PropertyResult {
    /// A property that does not apply, and why.
    pub fn not_applicable(
        id: &str,
        title: &str,
        category: Category,
        citation: &str,
        why: impl Into<String>,
    ) -> Self {
        PropertyResult {
            id: id.to_string(),
            title: title.to_string(),
            category,
            citation: citation.to_string(),
            status: Status::NotApplicable,
            detail: why.into(),
            evidence: Vec::new(),
        }
    }
}

/// One API the broker advertises in ApiVersions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdvertisedApi {
    /// The API key.
    pub key: i16,
    /// Its name, e.g. `Produce`, or `unknown` for keys kafka-protocol 0.18 does not know.
    pub name: String,
    /// Lowest supported version.
    pub min_version: i16,
    /// Highest supported version.
    pub max_version: i16,
}

/// Who was certified.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BrokerIdentity {
    /// The target file's name for it, e.g. `Tansu 0.6.0 (sqlite)`.
    pub name: String,
    /// The bootstrap addresses from the target file.
    pub bootstrap: Vec<String>,
    /// The cluster id Metadata reported, if any.
    pub cluster_id: Option<String>,
    /// The brokers Metadata reported: node id and advertised `host:port`.
    pub brokers: Vec<(i32, String)>,
    /// The controller id Metadata reported, if any.
    pub controller_id: Option<i32>,
    /// The ApiVersions response, by key.
    pub api_versions: Vec<AdvertisedApi>,
}

/// Counts and settings of the fault workload, for the certificate.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkloadSummary {
    /// The seed that chose the faults and the workload's choices.
    pub seed: u64,
    /// How long the fault phase ran, in milliseconds.
    pub duration_ms: u64,
    /// The faults applied, in order, as `at_ms: description`.
    pub faults: Vec<String>,
    /// History counts (ops, sends acknowledged, polls, ...) and checker stats.
    pub stats: BTreeMap<String, u64>,
}

/// A certificate: what faultline certified about one broker, and how to rerun it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Certificate {
    /// The certificate format's version.
    pub schema_version: u32,
    /// faultline's version (`CARGO_PKG_VERSION`).
    pub faultline_version: String,
    /// The broker certified.
    pub target: BrokerIdentity,
    /// When certification began, RFC 3339 UTC (real time: certification is not simulated).
    pub started_at: String,
    /// How long certification took, in milliseconds.
    pub elapsed_ms: u64,
    /// The exact command to rerun it.
    pub rerun: String,
    /// The fault workload's settings and counts, when it ran.
    pub workload: Option<WorkloadSummary>,
    /// Every property, protocol suite first.
    pub properties: Vec<PropertyResult>,
}

/// The certificate format's version.
pub const CERTIFICATE_SCHEMA_VERSION: u32 = 1;

impl Certificate {
    /// `FAIL` if any property failed, else `PASS`.
    pub fn verdict(&self) -> Status {
        if self.properties.iter().any(|p| p.status == Status::Fail) {
            Status::Fail
        } else {
            Status::Pass
        }
    }

    /// How many properties ended with `status`.
    pub fn count(&self, status: Status) -> usize {
        self.properties
            .iter()
            .filter(|p| p.status == status)
            .count()
    }
}
