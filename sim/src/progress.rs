//! Progress: the workload must have got something done. A run in which no send, poll,
//! transaction or group join ever succeeded passes every safety check vacuously (as in
//! Jepsen, an empty history is valid), so a broker that refuses every request would pass.
//! Each kind of client the scenario runs must have completed an operation; consumer
//! groups (Kafka protocol guide, "The Consumer Group Protocol") must have joined, and must
//! still commit offsets after the last heal (every fault ended) that came at least
//! [`GROUP_GRACE_NS`] plus a JoinGroup's wait before the workload stopped — a group stuck
//! rebalancing (a dead member whose session never expires) commits nothing from then on.
//! Found by the mutation probe (docs/mutation.md): three broker mutants passed every check
//! this way.

use faultline_checker::history::{Function, History, OpType};
use faultline_workload::client::group::join_timeout;
use faultline_workload::group_consumer::REBALANCE_TIMEOUT_MS;

use crate::Scenario;

/// How long a healthy group may take after a heal before it commits again: the members'
/// session timeout (2 s, `group_consumer::SESSION_TIMEOUT_MS`) for a dead member to expire,
/// then a rejoin, a sync, polls and a commit. A fault healed later than this before the
/// workload stops (at the scenario's `duration`) leaves the group no time to show it recovered.
/// A JoinGroup's own wait ([`join_timeout`]) is added to it: sent into a fault that begins
/// right after the heal, it waits that long for an answer that never comes before the
/// member tries again.
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
    let join_wait = join_timeout(scenario.workload.request_timeout.0, REBALANCE_TIMEOUT_MS);
    let grace = GROUP_GRACE_NS + join_wait.as_nanos() as u64;
    // A heal is the moment the last active fault ends: with overlapping faults, one fault's
    // end while another still cuts the cluster is no heal.
    let mut active = 0usize;
    let mut heals = Vec::new();
    for op in &history.ops {
        match op.f {
            Function::StartFault => active += 1,
            Function::StopFault => {
                active = active.saturating_sub(1);
                if active == 0 {
                    heals.push(op.time);
                }
            }
            _ => {}
        }
    }
    let last_heal = heals
        .into_iter()
        .filter(|&time| time + grace <= workload_end)
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
            missing.push("a group offset commit after the last heal (5 s plus a JoinGroup's wait or more before the workload stopped)");
        }
    }
    missing
}
