//! The reference cluster as real OS processes: one controller process and one process
//! per broker, each on its own data folder, talking over real TCP.
//!
//! - [`file_storage`]: the broker's storage seam on the filesystem (segments, blobs,
//!   fsync, torn-tail recovery, and a power-loss mode).
//! - [`routes`]: the transport a process dials its peers with, so that inter-broker links
//!   can go through fault proxies.
//! - [`process`]: one broker or controller process, until it is stopped or killed.
//!
//! The broker code is the simulation's (`faultline_broker`), unchanged: only storage and
//! transport differ, and all real I/O stays here, at the edge.

pub mod file_storage;
pub mod process;
pub mod routes;
