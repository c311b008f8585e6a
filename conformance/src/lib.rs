//! faultline-conformance: what a Kafka user relies on, independent of any broker.
//!
//! - [`history`]: the operation history (Jepsen's op shape, JSON Lines on disk).
//! - [`checker`]: pure checkers over histories.

pub mod checker;
pub mod history;
