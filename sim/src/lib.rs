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

// turmoil seeds each host's tokio runtime only under `tokio_unstable`; without it tokio
// draws its own random seed per process (a watch channel picks with it which of 8 waiter
// lists a waiting task joins, so tasks woken by one change run in a random order: two
// produces completing in one step swap places in the history) and one seed no longer
// decides a run. `.cargo/config.toml` sets it, but a `RUSTFLAGS` variable replaces that
// setting instead of adding to it.
#[cfg(not(tokio_unstable))]
compile_error!(
    "faultline-sim must be built with `--cfg tokio_unstable` (set in .cargo/config.toml): \
     a RUSTFLAGS variable replaces that setting, so include it there, e.g. \
     RUSTFLAGS=\"--cfg tokio_unstable ...\""
);

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
