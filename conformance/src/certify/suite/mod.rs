//! The protocol conformance suite: single requests to a live broker over real TCP and the
//! answers the Kafka protocol guide and the KIPs require, each judged as one
//! [`PropertyResult`] with the exchanges that show it.
//!
//! - [`probe`]: sends requests and records every [`Exchange`] as evidence; picks versions.
//! - [`identify`](mod@identify): ApiVersions + Metadata, and making sure the test topic exists.
//! - [`partition_io`]: Produce, Fetch and ListOffsets against a partition's leader.
//! - [`api`]: ApiVersions, and every advertised version of every API answers.
//! - [`produce_fetch`]: offsets, high watermark, acks=all, concurrent producers, errors.
//! - [`groups`]: the classic consumer-group protocol (generations, fencing, offsets), with
//!   its requests in [`group_calls`].
//! - [`idempotence`]: KIP-98 sequence numbers.
//! - [`transactions`] (with [`txn_fencing`], sharing [`txn_run`]): KIP-98 transactions,
//!   with their requests in [`txn_calls`].
//!
//! Every property is NOT APPLICABLE when the broker does not advertise (a usable version
//! of) an API it needs, and FAIL with evidence when the broker hangs or drops the
//! connection: a broker's wrong answer is never a panic.

use std::sync::Arc;
use std::time::Duration;

use faultline_wire::Transport;

use super::model::{AdvertisedApi, PropertyResult};

pub mod api;
pub mod group_calls;
pub mod groups;
pub mod idempotence;
pub mod identify;
pub mod partition_io;
pub mod probe;
pub mod produce_fetch;
pub mod transactions;
pub mod txn_calls;
pub mod txn_fencing;
pub mod txn_run;

pub use identify::{ensure_topic, identify};
pub use probe::Probe;

/// What the suite runs against.
#[derive(Clone)]
pub struct SuiteTarget {
    /// Addresses to connect to (the fault proxies' addresses, or the brokers' own).
    pub bootstrap: Vec<String>,
    /// Maps an address we connected to back to the broker's own address, for evidence.
    pub broker_name: Arc<dyn Fn(&str) -> String + Send + Sync>,
    /// A topic that exists, with `partitions` partitions, which the suite may write to (it
    /// may hold older records: every check is relative to the offsets observed first).
    pub topic: String,
    /// The topic's partition count.
    pub partitions: i32,
    /// What ApiVersions advertised.
    pub advertised: Vec<AdvertisedApi>,
    /// Per-request timeout (blocking calls such as JoinGroup add their own wait to it).
    pub request_timeout: Duration,
    /// Certification's start, for `Exchange::at_ms`.
    pub started: tokio::time::Instant,
}

impl std::fmt::Debug for SuiteTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SuiteTarget")
            .field("bootstrap", &self.bootstrap)
            .field("topic", &self.topic)
            .field("partitions", &self.partitions)
            .field("advertised", &self.advertised.len())
            .field("request_timeout", &self.request_timeout)
            .finish_non_exhaustive()
    }
}

/// The suites, each a group of related properties.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Suite {
    /// ApiVersions, and every advertised API version answers.
    Api,
    /// Produce, Fetch and ListOffsets on one partition.
    ProduceFetch,
    /// The classic consumer-group protocol.
    Groups,
    /// Idempotent producers (KIP-98).
    Idempotence,
    /// Transactions (KIP-98, KIP-447): `txn.*`.
    Transactions,
    /// The model-based suite: generated request sequences checked against an abstract
    /// model of Kafka, one `model.*` property per API family
    /// ([`crate::certify::model_based`]).
    Model,
}

impl Suite {
    /// Every suite, in the order certification runs them.
    pub const ALL: [Suite; 6] = [
        Suite::Api,
        Suite::ProduceFetch,
        Suite::Groups,
        Suite::Idempotence,
        Suite::Transactions,
        Suite::Model,
    ];

    /// The single-probe smoke suites (every suite but the model-based one).
    pub const PROBES: [Suite; 5] = [
        Suite::Api,
        Suite::ProduceFetch,
        Suite::Groups,
        Suite::Idempotence,
        Suite::Transactions,
    ];

    /// A short stable name: `api`, `produce-fetch`, `groups`, `idempotence`,
    /// `transactions`, `model`.
    pub fn name(self) -> &'static str {
        match self {
            Suite::Api => "api",
            Suite::ProduceFetch => "produce-fetch",
            Suite::Groups => "groups",
            Suite::Idempotence => "idempotence",
            Suite::Transactions => "transactions",
            Suite::Model => "model",
        }
    }
}

/// Runs one suite; every property it owns comes back exactly once, in a fixed order.
pub async fn run_suite<T: Transport>(
    transport: &T,
    target: &SuiteTarget,
    suite: Suite,
) -> Vec<PropertyResult> {
    tracing::info!(suite = suite.name(), "conformance suite starts");
    let results = match suite {
        Suite::Api => api::run(transport, target).await,
        Suite::ProduceFetch => produce_fetch::run(transport, target).await,
        Suite::Groups => groups::run(transport, target).await,
        Suite::Idempotence => idempotence::run(transport, target).await,
        Suite::Transactions => transactions::run(transport, target).await,
        Suite::Model => {
            let options = crate::certify::model_based::ModelOptions::live(1, &run_token());
            crate::certify::model_based::run_model_suite(transport, target, &options)
                .await
                .properties
        }
    };
    tracing::info!(
        suite = suite.name(),
        properties = results.len(),
        "conformance suite ends"
    );
    results
}

/// A token that differs between runs, so group names and record values of one run never
/// collide with an earlier run's on a long-lived broker (live certification only: wall
/// clock time is fine outside the simulation).
pub(crate) fn run_token() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!(
        "{:x}",
        (nanos as u64) ^ u64::from(std::process::id()).rotate_left(40)
    )
}

/// Runs futures of one type concurrently on the current task and returns their outputs in
/// order (no spawning: the suite needs neither `Send` futures nor a particular runtime).
pub(crate) async fn join_all<F: std::future::Future>(futures: Vec<F>) -> Vec<F::Output> {
    use std::task::Poll;
    let mut pending: Vec<std::pin::Pin<Box<F>>> = futures.into_iter().map(Box::pin).collect();
    let mut outputs: Vec<Option<F::Output>> = pending.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut waiting = false;
        for (future, output) in pending.iter_mut().zip(outputs.iter_mut()) {
            if output.is_none() {
                match future.as_mut().poll(cx) {
                    Poll::Ready(value) => *output = Some(value),
                    Poll::Pending => waiting = true,
                }
            }
        }
        if waiting {
            Poll::Pending
        } else {
            Poll::Ready(())
        }
    })
    .await;
    outputs
        .into_iter()
        .map(|output| output.expect("every future completed"))
        .collect()
}
