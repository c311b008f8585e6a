//! The verdict of a run, in one place: which checkers a run's plan names, the history
//! through each, any checks the backend made itself (the simulation's liveness bound,
//! later its cluster invariants), combined into one verdict — and, for a run that is meant
//! to fail (a planted bug's negative scenario, a shrunk regression), whether it failed the
//! way it was meant to.
//!
//! The CLI, `explore`, `hunt`, `shrink`, the tests and certification's fault workload all
//! call [`judge`], so none of them chooses checkers on its own.

use std::collections::BTreeMap;

use crate::history::History;
use crate::log::LogOptions;
use crate::txn::TxnOptions;
use crate::{check_log, group, CheckReport, Verdict};

/// Which checkers judge a history.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CheckPlan {
    /// The log checker (Jepsen's queue taxonomy) with these options, if it runs.
    pub log: Option<LogOptions>,
    /// The consumer-group checker runs (the workload had group members).
    pub group: bool,
    /// The transaction checker with these options, if it runs (the workload ran
    /// transactions).
    pub txn: Option<TxnOptions>,
    /// The admin checker with these options, if it runs (the workload ran an admin client:
    /// DeleteRecords, ListOffsets).
    pub admin: Option<crate::admin::AdminOptions>,
    /// Anomaly kinds the run is expected to show (`checks.expect` of a scenario). Empty for
    /// a run that must be clean.
    pub expect: Vec<String>,
}

/// A judged history.
#[derive(Debug, Clone, PartialEq)]
pub struct Judgement {
    /// The checks' own verdict: a run that finds the anomalies it expected is still
    /// `Invalid`, so hunts, shrinks and CI see the failure; the `expected` check says
    /// whether it was the failure expected.
    pub verdict: Verdict,
    /// Every check, in a fixed order: log, group, txn, admin, the backend's own, then
    /// `expected`.
    pub checks: Vec<CheckReport>,
}

impl Judgement {
    /// Every anomaly kind found, by name, each once, sorted.
    pub fn anomaly_kinds(&self) -> Vec<String> {
        let mut kinds: Vec<String> = self
            .checks
            .iter()
            .flat_map(|c| c.anomalies.iter().map(|a| a.kind.to_string()))
            .collect();
        kinds.sort();
        kinds.dedup();
        kinds
    }

    /// The report of the checker named `checker` (`log`, `group`, …), if it ran.
    pub fn check(&self, checker: &str) -> Option<&CheckReport> {
        self.checks.iter().find(|c| c.checker == checker)
    }

    /// Whether the run met its plan: clean when nothing was expected, or exactly the
    /// expected kinds when the plan named some.
    pub fn as_expected(&self) -> bool {
        match self.checks.iter().find(|c| c.checker == EXPECTED_CHECKER) {
            Some(expected) => expected.verdict == Verdict::Valid,
            None => self.verdict == Verdict::Valid,
        }
    }
}

/// The name of the check that compares what was found with what was expected.
pub const EXPECTED_CHECKER: &str = "expected";

/// Judges `history` by `plan`, with `backend_checks` (checks the backend made itself)
/// counted alongside the checkers'.
pub fn judge(history: &History, plan: &CheckPlan, backend_checks: Vec<CheckReport>) -> Judgement {
    let mut checks = Vec::new();
    if let Some(options) = &plan.log {
        checks.push(check_log(history, options));
    }
    if plan.group {
        checks.push(group::check(history));
    }
    if let Some(options) = &plan.txn {
        checks.push(crate::txn::check(history, options));
    }
    if let Some(options) = &plan.admin {
        checks.push(crate::admin::check(history, options));
    }
    checks.extend(backend_checks);
    let verdict = combined_verdict(&checks);
    if !plan.expect.is_empty() {
        let expectation = expectation(&checks, &plan.expect);
        checks.push(expectation);
    }
    Judgement { verdict, checks }
}

/// Invalid if any check is; otherwise unknown if any check ran out of budget; otherwise
/// valid. No checks at all is valid (nothing was claimed).
pub fn combined_verdict(checks: &[CheckReport]) -> Verdict {
    let verdicts = || checks.iter().map(|check| check.verdict);
    if verdicts().any(|v| v == Verdict::Invalid) {
        Verdict::Invalid
    } else if verdicts().any(|v| v == Verdict::Unknown) {
        Verdict::Unknown
    } else {
        Verdict::Valid
    }
}

/// A negative scenario passes when the checks found at least one of the expected anomaly
/// kinds and nothing else: the faults must cause the damage the scenario documents (e.g.
/// lost writes after a power loss without fsync), and no other kind.
fn expectation(checks: &[CheckReport], expected: &[String]) -> CheckReport {
    let mut found: BTreeMap<String, u64> = BTreeMap::new();
    for anomaly in checks.iter().flat_map(|c| c.anomalies.iter()) {
        *found.entry(anomaly.kind.to_string()).or_insert(0) += 1;
    }
    let any_expected = found.keys().any(|k| expected.contains(k));
    let only_expected = found.keys().all(|k| expected.contains(k));
    let unknown = checks.iter().any(|c| c.verdict == Verdict::Unknown);
    CheckReport {
        checker: EXPECTED_CHECKER.into(),
        verdict: if any_expected && only_expected && !unknown {
            Verdict::Valid
        } else {
            Verdict::Invalid
        },
        anomalies: Vec::new(),
        stats: found
            .into_iter()
            .map(|(kind, n)| (format!("found {kind}"), n))
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Anomaly, AnomalyKind};

    fn report(checker: &str, verdict: Verdict, kinds: &[AnomalyKind]) -> CheckReport {
        CheckReport {
            checker: checker.into(),
            verdict,
            anomalies: kinds
                .iter()
                .map(|&kind| Anomaly {
                    kind,
                    key: None,
                    ops: Vec::new(),
                    description: String::new(),
                })
                .collect(),
            stats: BTreeMap::new(),
        }
    }

    #[test]
    fn verdicts_combine_invalid_over_unknown_over_valid() {
        let valid = report("a", Verdict::Valid, &[]);
        let unknown = report("b", Verdict::Unknown, &[]);
        let invalid = report("c", Verdict::Invalid, &[AnomalyKind::LostWrite]);
        assert_eq!(combined_verdict(&[]), Verdict::Valid);
        assert_eq!(
            combined_verdict(std::slice::from_ref(&valid)),
            Verdict::Valid
        );
        assert_eq!(
            combined_verdict(&[valid.clone(), unknown.clone()]),
            Verdict::Unknown
        );
        assert_eq!(
            combined_verdict(&[unknown, invalid, valid]),
            Verdict::Invalid
        );
    }

    #[test]
    fn an_expected_failure_is_still_invalid_but_as_expected() {
        let plan = CheckPlan {
            log: None,
            group: false,
            txn: None,
            admin: None,
            expect: vec!["lost-write".into()],
        };
        let found = report("liveness", Verdict::Invalid, &[AnomalyKind::LostWrite]);
        let judged = judge(&History::default(), &plan, vec![found]);
        assert_eq!(judged.verdict, Verdict::Invalid);
        assert!(judged.as_expected());
        assert_eq!(judged.anomaly_kinds(), vec!["lost-write".to_string()]);
    }

    #[test]
    fn an_unexpected_kind_or_none_at_all_misses_the_expectation() {
        let plan = CheckPlan {
            log: None,
            group: false,
            txn: None,
            admin: None,
            expect: vec!["lost-write".into()],
        };
        let other = report("x", Verdict::Invalid, &[AnomalyKind::Duplicate]);
        assert!(!judge(&History::default(), &plan, vec![other]).as_expected());
        let mixed = report(
            "x",
            Verdict::Invalid,
            &[AnomalyKind::LostWrite, AnomalyKind::Duplicate],
        );
        assert!(!judge(&History::default(), &plan, vec![mixed]).as_expected());
        assert!(!judge(&History::default(), &plan, vec![]).as_expected());
    }

    #[test]
    fn a_clean_plan_is_as_expected_only_when_valid() {
        let plan = CheckPlan::default();
        assert!(judge(&History::default(), &plan, vec![]).as_expected());
        let bad = report("x", Verdict::Invalid, &[AnomalyKind::Duplicate]);
        assert!(!judge(&History::default(), &plan, vec![bad]).as_expected());
    }
}
