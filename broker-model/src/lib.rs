//! faultline-broker: the reference broker, a replicated Kafka built as sans-IO state
//! machines with I/O at the edges.
//!
//! - [`config`], [`bugs`]: cluster configuration and planted-bug switches.
//! - [`log`]: a partition's log of batches as written, and leader-epoch cache (KIP-101).
//! - [`append`]: a producer's batch validated and assigned offsets by the leader.
//! - [`storage`]: the disk seam.
//! - [`metadata`]: the controller's metadata log and the image brokers replay.
//! - [`controller`]: liveness, elections from the ISR, AlterPartition.
//! - [`partition`]: one replica: leader/follower, ISR, high watermark.
//! - [`producer_state`], [`idempotence`], [`producer_ids`]: the idempotent producer
//!   (KIP-98, KIP-360): recent batches per producer, the deduplicating append, and
//!   cluster-unique producer ids.
//! - [`broker`]: a broker's replicas and metadata.
//! - [`events`]: what brokers and the controller report to the trace, as data.
//! - [`forwarding`]: CreateTopics/DeleteTopics a broker forwards to the controller (KIP-590).
//! - [`group`]: the group coordinator (classic consumer groups, committed offsets).
//! - [`handlers`]: Kafka API requests to responses.
//! - [`replica_fetcher`], [`controller_channel`]: what a follower and a broker's
//!   controller link send and do with the answers, sans-IO (state in, messages out).
//! - [`node`]: the network edge: connections, and the loops that carry the replica
//!   fetchers' and the controller channel's messages.
//! - [`pause`], [`clock`], [`buggify`]: what a simulation reaches into a node through —
//!   a pause gate, a skewable clock, seeded BUGGIFY points.

pub mod append;
pub mod broker;
pub mod buggify;
pub mod bugs;
pub mod clock;
pub mod config;
pub mod controller;
pub mod controller_channel;
#[cfg(test)]
mod data_path_tests;
mod decoded;
#[cfg(test)]
mod delete_groups_tests;
pub mod events;
#[cfg(test)]
mod fencing_tests;
#[cfg(test)]
mod fetcher_tests;
pub mod forwarding;
pub mod group;
pub mod handlers;
pub mod idempotence;
#[cfg(test)]
mod isr_tests;
pub mod log;
pub mod metadata;
pub mod node;
pub mod partition;
pub mod pause;
pub mod producer_ids;
pub mod producer_state;
#[cfg(test)]
mod refused_append_tests;
pub mod replica_fetcher;
pub mod replicas;
pub mod storage;
#[cfg(test)]
mod test_support;
pub mod topic_config;
pub mod txn;

pub use config::{ClusterConfig, FsyncPolicy, TopicSpec};
pub use storage::{MemoryStorage, Storage, StorageError, TopicPartition};
