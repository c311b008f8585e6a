//! Live certification: the same workloads and checkers as the simulation, over real TCP,
//! against any Kafka-protocol broker.
//!
//! - [`model`]: the certificate and its properties (pure data).

pub mod model;

pub use model::{
    AdvertisedApi, BrokerIdentity, Category, Certificate, Evidence, Exchange, PropertyResult,
    Status, WorkloadSummary, CERTIFICATE_SCHEMA_VERSION,
};
