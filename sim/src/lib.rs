//! faultline-sim: the deterministic world.
//!
//! - [`seed`]: one seed, named random streams (shared with live certification).
//! - [`duration`]: `"250ms"` durations (shared with certification target files).
//! - [`scenario`]: scenario files; [`txn_workload`] its `[workload.txn]` table,
//!   [`admin_workload`] its `[workload.admin]` table.
//! - [`nemesis`]: fault windows, seeded or explicit, and how they strike the world.
//! - [`events`]: the cluster's events as data (elections, ISR changes, truncations, faults).
//! - [`coverage`]: the state transitions a run reached, for guided exploration; [`aim`]:
//!   guided's event-directed mutation (a trigger keyed on an event a run reached).
//! - [`swarm`]: per-seed configurations within a scenario's bounds (swarm testing).
//! - [`disk`]: the simulated disk (page cache, fsync, power loss, I/O errors).
//! - [`hosts`]: the controller and broker hosts, their disks and fault handles.
//! - [`invariants`]: the cluster state checker, run after every step.
//! - [`liveness`]: recovery after the heal, within a bound; [`progress`]: the workload got
//!   something done.
//! - [`transport`]: turmoil's TCP as the wire's transport.
//! - [`world`]: builds and drives a run.
//! - [`pipeline`]: a run judged: the checks its scenario names, and the verdict.

pub mod admin_workload;
pub mod aim;
pub mod coverage;
pub mod disk;
pub mod events;
pub mod hosts;
pub mod invariants;
pub mod liveness;
pub mod nemesis;
pub mod pipeline;
pub mod progress;
pub mod protocol;
pub mod scenario;
pub mod swarm;
pub mod transport;
pub mod txn_workload;
pub mod world;

pub use faultline_workload::{duration, seed};

pub use pipeline::{check_plan, execute, JudgedRun};
pub use scenario::{Scenario, ScenarioError};
pub use world::{run, RunOutcome, SimError};
