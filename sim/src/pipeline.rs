//! One simulated run, judged: scenario + seed → the turmoil world → history, cluster
//! events, the liveness bound and the cluster invariants → the checks the scenario names → a verdict.
//!
//! `faultline run`, `replay`, `explore`, `hunt`, `shrink` and the tests all call
//! [`execute`]; which checkers judge a run is the scenario's to say ([`check_plan`]), and
//! the verdict is `faultline_checker::judge`'s.

use faultline_checker::judge::{judge, CheckPlan, Judgement};
use faultline_checker::log::LogOptions;

use crate::scenario::Scenario;
use crate::world::{run, RunOutcome, SimError};

/// A simulated run with its verdict.
#[derive(Debug, Clone)]
pub struct JudgedRun {
    /// What the run produced.
    pub outcome: RunOutcome,
    /// What the checks concluded.
    pub judgement: Judgement,
}

/// The checkers a scenario's runs are judged by: the log checker with final reads (every
/// run ends with them) when `checks.log`, the group checker when the workload has group
/// members, the transaction checker when it runs transactions, the admin checker when it
/// runs an admin client, and the scenario's
/// expected anomalies.
pub fn check_plan(scenario: &Scenario) -> CheckPlan {
    CheckPlan {
        log: scenario.checks.log.then(|| {
            let options = LogOptions {
                final_reads: true,
                ..Default::default()
            };
            match &scenario.workload.txn {
                Some(txn) => txn.log_options(options),
                None => options,
            }
        }),
        group: scenario.workload.group_consumers > 0,
        txn: scenario
            .workload
            .txn
            .as_ref()
            .map(|txn| txn.check_options()),
        admin: scenario.workload.admin.as_ref().map(|admin| {
            admin.check_options(
                scenario.workload.acks == crate::scenario::Acks::All,
                scenario.workload.txn.is_some(),
            )
        }),
        expect: scenario.checks.expect.clone(),
    }
}

/// Runs `scenario` under `seed` and judges it.
pub fn execute(scenario: &Scenario, seed: u64) -> Result<JudgedRun, SimError> {
    let mut outcome = run(scenario, seed)?;
    let mut backend_checks = Vec::new();
    if scenario.checks.liveness {
        backend_checks.push(crate::liveness::check(&outcome.liveness));
    }
    // The cluster state checker's findings (TigerBeetle-style invariants, every step),
    // moved into the judgement: one copy of the evidence, in the checks.
    backend_checks.extend(outcome.invariants.take());
    // The protocol rules, judged on every broker answer (`protocol`).
    backend_checks.extend(outcome.protocol.take());
    let judgement = judge(&outcome.history, &check_plan(scenario), backend_checks);
    Ok(JudgedRun { outcome, judgement })
}
