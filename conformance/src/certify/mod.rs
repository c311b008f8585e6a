//! Live certification: the same workloads and checkers as the simulation, over real TCP,
//! against any Kafka-protocol broker.
//!
//! - [`model`]: the certificate and its properties (pure data).
//! - [`proxy`]: one fault proxy in front of each broker; faults are injected there.
//! - [`suite`]: the protocol conformance suite (ApiVersions, Produce/Fetch, groups,
//!   idempotence) over real TCP, and identifying the broker and its test topic.
//! - [`target`]: target files (nodes, process commands), located errors.
//! - [`process`]: starting, killing, pausing and restarting the target's nodes.
//! - [`live`]: the fault workload over real TCP and its seeded nemesis; [`live_txn`]:
//!   its transactional producers.
//! - [`live_fault`], [`live_plan`]: the live faults by name; the plan and its windows.
//! - [`live_driver`]: applies overlapping and triggered fault windows.
//! - [`live_trigger`]: faults fired by events seen in the brokers' Metadata.
//! - [`judge`]: the workload's checker reports as certificate properties, listed in
//!   [`fault_table`].
//! - [`session`]: one certification, start to end.

pub mod fault_table;
pub mod judge;
pub mod links;
pub mod live;
pub mod live_driver;
pub mod live_fault;
pub mod live_plan;
pub mod live_trigger;
pub mod live_txn;
/// The certificate's data model lives with its renderers (`faultline-reports`).
pub use faultline_reports::certificate::model;
pub mod model_based;
pub mod process;
pub mod proxy;
pub mod session;
pub mod suite;
pub mod target;

pub use model::{
    AdvertisedApi, BrokerIdentity, Category, Certificate, Evidence, Exchange, PropertyResult,
    Status, WorkloadSummary, CERTIFICATE_SCHEMA_VERSION,
};
pub use proxy::{LinkFault, ProxyCluster, ProxyStats};
