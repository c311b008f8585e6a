//! faultline-conformance: what a Kafka user relies on, independent of any broker.
//!
//! - [`duration`]: `"250ms"` durations and located errors for TOML files.
//! - [`history`]: the operation history (Jepsen's op shape, JSON Lines on disk).
//! - [`seed`]: one seed, named random streams (the simulation's and certification's).
//! - [`recorder`]: records a history as operations happen.
//! - [`client`]: a Kafka client that never retries behind the history's back.
//! - [`idempotent`]: the idempotent producer's retried send (KIP-98).
//! - [`assignor`]: the range assignor group leaders run.
//! - [`group_consumer`]: consumer-group members (join, sync, heartbeat, commit).
//! - [`workload`]: producers, consumers and final reads.
//! - [`checker`]: pure checkers over histories.
//! - [`certify`]: live certification of any Kafka-protocol broker over real TCP.

pub mod assignor;
pub mod certify;
pub mod checker;
pub mod client;
pub mod duration;
pub mod group_consumer;
pub mod history;
pub mod idempotent;
pub mod recorder;
pub mod seed;
pub mod workload;
