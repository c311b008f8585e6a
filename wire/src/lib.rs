//! faultline-wire: the Kafka wire protocol as both the broker and the client speak it.
//!
//! Both sides are generic over the byte stream, so the same code runs inside turmoil and
//! on real TCP.
//!
//! - [`frame`]: size-prefixed frames (Kafka protocol guide, "Common Request and Response Structure").
//! - [`bounded_frame`]: the server's frame reader for untrusted clients, within
//!   `socket.request.max.bytes` and `queued.max.request.bytes`.
//! - [`codec`]: request/response headers and bodies, via the `kafka-protocol` crate.
//! - [`transport`]: the seam between code and network (turmoil or tokio).
//! - [`connection`]: a client connection that sends one request at a time.
//! - [`records`], [`batch`]: record batches: encoding, decoding (all four codecs), and the
//!   header fields a leader rewrites.
//! - [`tamper`]: well-formed batches broken on purpose, for conformance tests.
//! - [`time`]: sleeps and timeouts that tell the simulation when they are due.

pub mod alloc_guard;
pub mod batch;
pub mod bounded_frame;
pub mod codec;
pub mod connection;
pub mod decompress;
pub mod frame;
pub mod lz4_frame;
pub mod memo;
pub mod records;
pub mod tamper;
pub mod time;
pub mod transport;

pub use codec::{DecodeError, DecodedRequest};
pub use connection::{Connection, RequestError};
pub use transport::Transport;

/// Error codes by name, from `kafka-protocol` (Kafka protocol guide, "Error Codes").
pub use kafka_protocol::error::ResponseError;
