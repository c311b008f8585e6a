//! faultline-workload: the one test body both backends run — a Kafka client that never
//! retries behind the history's back, and the producers, consumers and group members that
//! record what they did. The simulation runs it over turmoil's TCP, certification over
//! tokio's; the code is the same.
//!
//! Inside the simulation, so under the same determinism lints as the broker and the sim
//! (`workload/clippy.toml`): no wall clock, no unseeded rng, no hash-map iteration, no
//! threads.
//!
//! - [`seed`]: one seed, named random streams (the simulation's and certification's).
//! - [`duration`]: `"250ms"` durations and located errors for TOML files.
//! - [`recorder`]: records a history as operations happen.
//! - [`client`]: the Kafka client.
//! - [`idempotent`]: the idempotent producer's retried send (KIP-98).
//! - [`pipelined`]: the idempotent producer with up to five batches in flight (KIP-98).
//! - [`assignor`]: the range assignor group leaders run.
//! - [`group_consumer`]: consumer-group members (join, sync, heartbeat, commit).
//! - [`workload`]: producers, consumers and final reads.
//! - [`admin`]: the admin/seek client (DeleteRecords, ListOffsets) and the backlog consumer.
//! - [`seek`]: consumers resume at a log start DeleteRecords moved past them.
//! - [`transactional`]: transactional producers running Jepsen's `txn` ops (KIP-98).

pub mod admin;
pub mod assignor;
pub mod client;
pub mod duration;
pub mod group_consumer;
pub mod idempotent;
pub mod pipelined;
pub mod recorder;
pub mod seed;
pub mod seek;
pub mod transactional;
pub mod workload;
