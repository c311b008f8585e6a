//! Live certification: the same workloads and checkers as the simulation, over real TCP,
//! against any Kafka-protocol broker.
//!
//! - [`model`]: the certificate and its properties (pure data).
//! - [`proxy`]: one fault proxy in front of each broker; faults are injected there.
//! - [`suite`]: the protocol conformance suite (ApiVersions, Produce/Fetch, groups,
//!   idempotence) over real TCP, and identifying the broker and its test topic.

pub mod model;
pub mod proxy;
pub mod suite;

pub use model::{
    AdvertisedApi, BrokerIdentity, Category, Certificate, Evidence, Exchange, PropertyResult,
    Status, WorkloadSummary, CERTIFICATE_SCHEMA_VERSION,
};
pub use proxy::{LinkFault, ProxyCluster, ProxyStats};
