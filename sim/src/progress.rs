//! Progress: the workload must have got something done. A run in which no send, poll,
//! transaction or group join ever succeeded passes every safety check vacuously (as in
//! Jepsen, an empty history is valid), so a broker that refuses every request would pass.
//! Each kind of client the scenario runs must have completed an operation; consumer
//! groups (Kafka protocol guide, "The Consumer Group Protocol") must have joined, and must
//! still commit offsets after the last fault that healed at least [`GROUP_GRACE_NS`] before
//! the workload stopped — a group stuck rebalancing (a dead member whose session never
//! expires) commits nothing from then on. Found by the mutation
//! probe (docs/mutation.md): three broker mutants passed every check this way.

use faultline_checker::history::{Function, History, OpType};

use crate::Scenario;

/// How long a healthy group may take after a heal before it commits again: the members'
/// session timeout (2 s, `group_consumer::SESSION_TIMEOUT_MS`) for a dead member to expire,
/// then a rejoin, a sync, polls and a commit. A fault healed later than this before the
/// workload stops (at the scenario's `duration`) leaves the group no time to show it recovered.
pub const GROUP_GRACE_NS: u64 = 5_000_000_000;

/// What the scenario's clients never completed, e.g. `"a transaction"`; empty when each
/// kind of client made progress.
pub fn missing(scenario: &Scenario, history: &History) -> Vec<&'static str> {
    let last_ok = |f: Function| {
        history
            .ops
            .iter()
            .filter(|op| op.kind == OpType::Ok && op.f == f)
            .map(|op| op.time)
            .max()
    };
    let workload_end = scenario.duration.0.as_nanos() as u64;
    let last_heal = history
        .ops
        .iter()
        .filter(|op| op.f == Function::StopFault)
        .map(|op| op.time)
        .filter(|&time| time + GROUP_GRACE_NS <= workload_end)
        .max()
        .unwrap_or(0);
    let workload = &scenario.workload;
    let mut missing = Vec::new();
    if workload.txn.is_some() && last_ok(Function::Txn).is_none() {
        missing.push("a transaction");
    }
    if workload.txn.is_none() && workload.producers > 0 && last_ok(Function::Send).is_none() {
        missing.push("a send");
    }
    if workload.consumers > 0 && last_ok(Function::Poll).is_none() {
        missing.push("a poll");
    }
    if workload.group_consumers > 0 {
        if last_ok(Function::Join).is_none() {
            missing.push("a group join");
        }
        if last_ok(Function::Commit).is_none_or(|time| time < last_heal) {
            missing.push("a group offset commit after the last heal (5 s or more before the workload stopped)");
        }
    }
    missing
}
