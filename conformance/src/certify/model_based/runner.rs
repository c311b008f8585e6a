//! Runs a family's cases within a budget and shrinks the first failure. Each case runs
//! against fresh state — its own group, producer ids, record values and timestamps, and
//! offsets relative to where the partition stood — so any subsequence of a failing case
//! can be replayed on the same broker, which is what proptest's shrinking needs: the
//! runner drives proptest's [`ValueTree`] itself (simplify after a failure, complicate
//! after a pass), because every run is an async exchange with a live broker.

use std::collections::BTreeSet;
use std::time::Duration;

use proptest::strategy::{Strategy, ValueTree};
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};

use faultline_wire::Transport;

use super::admin_driver::log_topic;
use super::driver::Driver;
use super::ops::Case;
use super::rules::{Violation, ANSWERED};
use super::setup::CaseVersions;
use super::setup::{leaders, CaseSetup};
use super::strategy;
use super::Family;
use crate::certify::model::Exchange;
use crate::certify::suite::SuiteTarget;

/// How much a family may run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    /// Cases (generated sequences) at most.
    pub cases: u32,
    /// Time at most (new cases are not started after it; shrinking has its own cap).
    pub duration: Option<Duration>,
    /// Replays shrinking may spend on one failure.
    pub shrink_runs_max: u32,
}

impl Default for Budget {
    fn default() -> Self {
        Budget {
            cases: 100,
            duration: Some(Duration::from_secs(20)),
            shrink_runs_max: 500,
        }
    }
}

/// Where a run's unique names and timestamps come from.
#[derive(Clone)]
pub struct RunContext {
    /// The seed of the case generator.
    pub seed: u64,
    /// Prefix of every value, group name and tag (unique per certification run).
    pub tag: String,
    /// The clock timestamps start from, in ms (wall clock when certifying a real broker;
    /// a constant in the simulation).
    pub clock_ms: std::sync::Arc<dyn Fn() -> i64 + Send + Sync>,
}

impl std::fmt::Debug for RunContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunContext")
            .field("seed", &self.seed)
            .field("tag", &self.tag)
            .finish_non_exhaustive()
    }
}

/// One run of one case.
#[derive(Debug, Clone)]
pub struct CaseRun {
    /// Every exchange, setup first.
    pub exchanges: Vec<Exchange>,
    /// Requests sent.
    pub requests: usize,
    /// The first violation and the index of the op that showed it.
    pub violation: Option<(usize, Violation)>,
    /// What the broker declined as unsupported.
    pub unsupported: BTreeSet<String>,
}

/// A family's outcome.
#[derive(Debug, Clone, Default)]
pub struct FamilyOutcome {
    /// Cases run (shrinking replays not counted).
    pub cases: u32,
    /// Requests sent, shrinking replays included.
    pub requests: usize,
    /// Replays shrinking ran.
    pub shrink_runs: u32,
    /// What the broker declined as unsupported.
    pub unsupported: BTreeSet<String>,
    /// The failing case, shrunk (with the run that shows it), and the case first found.
    pub failure: Option<(Case, CaseRun, Case)>,
}

/// Timestamps and tags handed to cases, never reused within a run.
pub struct Names {
    context: RunContext,
    runs: u64,
    next_timestamp_ms: i64,
}

impl Names {
    /// Names for a run.
    pub fn new(context: RunContext) -> Self {
        Names {
            context,
            runs: 0,
            next_timestamp_ms: 0,
        }
    }

    fn next(&mut self, family: Family, ops: usize) -> (String, i64) {
        self.runs += 1;
        let base = (self.context.clock_ms)().max(self.next_timestamp_ms);
        self.next_timestamp_ms = base + ops as i64 + 1_000;
        (
            format!("{}-{}-{}", self.context.tag, family.name(), self.runs),
            base,
        )
    }
}

/// Runs one case from scratch.
pub async fn run_case<T: Transport>(
    transport: &T,
    target: &SuiteTarget,
    family: Family,
    versions: CaseVersions,
    case: &Case,
    names: &mut Names,
) -> CaseRun {
    let (tag, timestamp_base_ms) = names.next(family, case.ops.len());
    let mut exchanges = Vec::new();
    // The admin family writes to, and deletes from, a topic of its own per case.
    let found = if family == Family::Admin {
        log_topic(transport, target, versions, &tag, &mut exchanges)
            .await
            .map(|log| (log.topic, vec![0], vec![log.leader], log.live_brokers))
    } else {
        leaders(transport, target, case.partitions, &mut exchanges)
            .await
            .map(|(partitions, leaders)| (target.topic.clone(), partitions, leaders, 0))
            .map_err(|why| ANSWERED.violated(why))
    };
    let (topic, partitions, leaders, live_brokers) = match found {
        Ok(found) => found,
        Err(violation) => {
            let requests = exchanges.len();
            return CaseRun {
                exchanges,
                requests,
                violation: Some((0, violation)),
                unsupported: BTreeSet::new(),
            };
        }
    };
    let setup = CaseSetup {
        topic,
        partitions,
        leaders,
        versions,
        group: format!("faultline-model-{tag}"),
        tag,
        timestamp_base_ms,
    };
    let mut driver = Driver::new(transport, target, &setup, case.clients);
    driver.exchanges = exchanges;
    driver.requests = driver.exchanges.len();
    if family == Family::Admin {
        // A fresh topic's log starts at offset 0 (Kafka design, "Log").
        driver.model.partitions[0].log_start = Some(0);
        driver.model.admin.live_brokers = live_brokers;
    }
    let mut violation = None;
    for (index, op) in case.ops.iter().enumerate() {
        if let Err(v) = driver.step(index, op).await {
            violation = Some((index, v));
            break;
        }
    }
    if family == Family::Admin {
        driver.clean_up_admin().await;
    }
    CaseRun {
        exchanges: driver.exchanges,
        requests: driver.requests,
        violation,
        unsupported: driver.model.unsupported,
    }
}

/// Runs `family` within `budget`, shrinking the first failure.
pub async fn run_family<T: Transport>(
    transport: &T,
    target: &SuiteTarget,
    family: Family,
    versions: CaseVersions,
    budget: Budget,
    names: &mut Names,
    seed: u64,
) -> FamilyOutcome {
    let started = tokio::time::Instant::now();
    let mut seed_bytes = [0u8; 32];
    seed_bytes[..8].copy_from_slice(&seed.to_le_bytes());
    seed_bytes[8..16].copy_from_slice(&(family as u64).to_le_bytes());
    let mut runner = TestRunner::new_with_rng(
        Config::default(),
        TestRng::from_seed(RngAlgorithm::ChaCha, &seed_bytes),
    );
    let strategy = strategy::case(family);
    let mut outcome = FamilyOutcome::default();
    while outcome.cases < budget.cases {
        if budget.duration.is_some_and(|d| started.elapsed() >= d) {
            break;
        }
        let Ok(mut tree) = strategy.new_tree(&mut runner) else {
            break;
        };
        outcome.cases += 1;
        let first = tree.current();
        let run = run_case(transport, target, family, versions, &first, names).await;
        outcome.requests += run.requests;
        outcome.unsupported.extend(run.unsupported.iter().cloned());
        if run.violation.is_none() {
            continue;
        }
        tracing::info!(
            family = family.name(),
            ops = first.ops.len(),
            "model violation found; shrinking"
        );
        let (mut best_case, mut best_run) = (first.clone(), run);
        let mut runs = 0;
        let shrinking = tokio::time::Instant::now();
        if tree.simplify() {
            while runs < budget.shrink_runs_max {
                // Shrinking gets as much time again as the family's budget.
                if budget.duration.is_some_and(|d| shrinking.elapsed() >= d) {
                    break;
                }
                runs += 1;
                let candidate = tree.current();
                let run = run_case(transport, target, family, versions, &candidate, names).await;
                outcome.requests += run.requests;
                let more = if run.violation.is_some() {
                    if run.requests <= best_run.requests
                        || candidate.ops.len() <= best_case.ops.len()
                    {
                        (best_case, best_run) = (candidate, run);
                    }
                    tree.simplify()
                } else {
                    tree.complicate()
                };
                if !more {
                    break;
                }
            }
        }
        outcome.shrink_runs = runs;
        if let Some((index, _)) = &best_run.violation {
            best_case.ops.truncate(index + 1);
        }
        outcome.failure = Some((best_case, best_run, first));
        break;
    }
    outcome
}
