//! Model-based certification: generated sequences of requests, each response checked
//! against an abstract model of Kafka's observable semantics, and a failure shrunk to a
//! minimal sequence that replays against any target.
//!
//! The model is written from the Kafka protocol guide and the KIPs, not from the reference
//! broker (`broker-model` is not a dependency of this crate): for each request it allows
//! a *set* of answers (whole batches from before the fetch offset, retriable errors,
//! a follower's unchanged rejoin...). Every rule is in [`rules`] with its citation.
//!
//! - [`ops`]: the generated steps, relative so any subsequence still means something.
//! - [`strategy`]: proptest strategies per family.
//! - [`log_model`], [`producer_model`], [`group_model`], [`commit_edges`], [`admin_model`]:
//!   the model.
//! - [`setup`], [`driver`], [`offsets_driver`], [`producer_driver`], [`group_driver`],
//!   [`admin_driver`], [`acks_zero`], [`malformed`]: running a case on a broker;
//!   [`multi_fetch`] both sides of a Fetch of several partitions (KIP-74).
//! - [`runner`]: budgets, and shrinking by replaying proptest's simplifications.
//! - [`case_file`]: `case-*.json` and replay.
//! - [`properties`]: a family's outcome as a certificate property.

pub mod acks_zero;
pub mod admin_driver;
pub mod admin_model;
pub mod case_file;
pub mod commit_edges;
pub mod driver;
pub mod group_driver;
pub mod group_model;
pub mod log_model;
pub mod malformed;
pub mod multi_fetch;
pub mod offsets_driver;
pub mod ops;
pub mod producer_driver;
pub mod producer_model;
pub mod properties;
pub mod rules;
pub mod runner;
pub mod setup;
pub mod strategy;

pub use case_file::{replay, CaseFile};
pub use properties::{run_model_suite, ModelOptions, ModelReport};
pub use runner::{Budget, RunContext};

/// The API families the model-based suite certifies, one `model.*` property each.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Family {
    /// Produce (acks 0/1/all, concurrent producers), Fetch and Metadata.
    ProduceFetch = 0,
    /// ListOffsets earliest, latest, by timestamp and max timestamp, among produces.
    ListOffsets = 1,
    /// InitProducerId and idempotent produce (KIP-98).
    Idempotence = 2,
    /// The classic consumer-group protocol with offsets.
    Groups = 3,
    /// CreateTopics, Metadata of the topics asked for, and DeleteRecords among produces.
    Admin = 4,
}

impl Family {
    /// Every family, in the order certification runs them.
    pub const ALL: [Family; 5] = [
        Family::ProduceFetch,
        Family::ListOffsets,
        Family::Idempotence,
        Family::Groups,
        Family::Admin,
    ];

    /// The short name: `produce-fetch`, `list-offsets`, `idempotence`, `groups`, `admin`.
    pub fn name(self) -> &'static str {
        match self {
            Family::ProduceFetch => "produce-fetch",
            Family::ListOffsets => "list-offsets",
            Family::Idempotence => "idempotence",
            Family::Groups => "groups",
            Family::Admin => "admin",
        }
    }

    /// The family of a short name.
    pub fn named(name: &str) -> Option<Family> {
        Family::ALL.into_iter().find(|f| f.name() == name)
    }

    /// The certificate property id, `model.<name>`.
    pub fn property_id(self) -> String {
        format!("model.{}", self.name())
    }
}
