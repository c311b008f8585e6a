//! faultline-sim: the deterministic world.
//!
//! - [`seed`]: one seed, named random streams.
//! - [`duration`]: `"250ms"` durations.
//! - [`scenario`]: scenario files.
//! - [`nemesis`]: fault windows, seeded or explicit.
//! - [`disk`]: the simulated disk (page cache, fsync, power loss).
//! - [`world`]: builds and drives a run.

pub mod disk;
pub mod duration;
pub mod nemesis;
pub mod scenario;
pub mod seed;
pub mod world;

pub use scenario::{Scenario, ScenarioError};
pub use world::{run, RunOutcome};
