//! The simulation end to end, one binary (link time): the spine's determinism and
//! first planted bug, each fault kind's effect, idempotent producers and consumer groups,
//! and every negative and regression scenario on its recorded seed.

mod faults;
mod groups_and_idempotence;
mod negative;
mod spine;
