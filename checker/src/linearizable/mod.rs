//! The linearizability checker: a general engine over any [`SequentialModel`].
//!
//! A history is linearizable if every op can be given a point between its invoke and its
//! completion such that the ops, applied in point order to the sequential model, return
//! what they returned (Herlihy & Wing 1990). `fail` ops did not happen and are dropped by
//! the history readers; crashed (`info`) ops may take effect at any point after their
//! invoke, or never (Knossos, jepsen-io/knossos `history.clj`).
//!
//! - [`search`]: Wing–Gong search with Lowe's memoization of (linearized set, state),
//!   kept in [`cache`] (an arena-backed open-addressing table).
//! - P-compositionality (Horn & Kroening 2015): a model may split a history into
//!   independent pieces (by key, by partition); each is checked alone, in parallel.
//! - Models: [`register`] (read / write / cas), [`kv`] (a map, split by key),
//!   [`partition_log`] (append → offset, read; offsets as witnesses: a sort and a pass).
//! - [`register_history`]: the plain register history format of `docs/checkers.md`.
//! - [`queue_history`]: a Jepsen-shaped Kafka history as partition-log ops, per key.

mod cache;
pub mod kv;
pub mod partition_log;
pub mod queue_history;
pub mod register;
pub mod register_history;
mod search;

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::hash::Hash;
use std::time::{Duration, Instant};

use super::{Anomaly, AnomalyKind, CheckReport, Verdict};

/// A sequential specification: what one op does to a state when ops run one at a time.
pub trait SequentialModel: Sync {
    /// The model's state; hashed for the search's cache, so keep it small.
    type State: Clone + Eq + Hash + Debug + Send;
    /// What an op asks for (read, write 3, cas 1→2, ...).
    type Input: Clone + Debug + Sync;
    /// What an op returned; `None` on a crashed op, whose output is unknown.
    type Output: Clone + Debug + Sync;

    /// The state before any op.
    fn init(&self) -> Self::State;

    /// Applies an op: the next state if `output` is what the op could return from `state`
    /// (any output is acceptable when it is `None`), or `None` if it is impossible.
    fn step(
        &self,
        state: &Self::State,
        input: &Self::Input,
        output: Option<&Self::Output>,
    ) -> Option<Self::State>;

    /// Splits ops (by position) into independent pieces and names each; the default is
    /// one piece. A split is sound only if the model is the product of the pieces' models.
    fn partition(&self, ops: &[Operation<Self::Input, Self::Output>]) -> Vec<(String, Vec<usize>)> {
        vec![("all".to_string(), (0..ops.len()).collect())]
    }
}

/// One op of a linearizability history: an invoke, and a completion unless it crashed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Operation<I, O> {
    /// Who ran it (evidence only: the checker needs no process order beyond times).
    pub process: u64,
    /// When it was invoked (any monotonic clock, or the history index).
    pub invoke: u64,
    /// When it completed `ok`; `None` if it crashed (`info`, or never completed).
    pub complete: Option<u64>,
    /// What it asked for.
    pub input: I,
    /// What it returned; `None` if it crashed.
    pub output: Option<O>,
    /// Its position in the source history (line or op index), for evidence.
    pub index: u64,
}

/// How long the checker may search before answering `unknown`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LinearizableOptions {
    /// Most call entries tried per piece; deterministic, so a verdict never depends on
    /// the machine. Default: 10 million.
    pub max_steps: u64,
    /// Wall-clock limit for the whole check, if any. Default: none.
    pub time_limit: Option<Duration>,
    /// Pieces checked at once. Default: the machine's parallelism.
    pub threads: usize,
}

impl Default for LinearizableOptions {
    fn default() -> LinearizableOptions {
        LinearizableOptions {
            max_steps: 10_000_000,
            time_limit: None,
            threads: std::thread::available_parallelism().map_or(1, usize::from),
        }
    }
}

/// Checks a history against a model and reports per piece.
pub fn check<M: SequentialModel>(
    model: &M,
    ops: &[Operation<M::Input, M::Output>],
    options: &LinearizableOptions,
) -> CheckReport {
    let pieces = model.partition(ops);
    let budget = search::Budget {
        max_steps: options.max_steps,
        deadline: options.time_limit.map(|limit| Instant::now() + limit),
    };
    let outcomes = run_pieces(model, ops, &pieces, budget, options.threads.max(1));
    report(ops, &pieces, outcomes)
}

fn run_pieces<M: SequentialModel>(
    model: &M,
    ops: &[Operation<M::Input, M::Output>],
    pieces: &[(String, Vec<usize>)],
    budget: search::Budget,
    threads: usize,
) -> Vec<(search::Outcome, u64)> {
    let run = |piece: &(String, Vec<usize>)| {
        let piece_ops: Vec<&Operation<M::Input, M::Output>> =
            piece.1.iter().map(|&at| &ops[at]).collect();
        search::search(model, &piece_ops, budget)
    };
    if threads == 1 || pieces.len() < 2 {
        return pieces.iter().map(run).collect();
    }
    // Strided so each thread gets a fair share; results are put back in piece order.
    let mut outcomes: Vec<Option<(search::Outcome, u64)>> = vec![None; pieces.len()];
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let run = &run;
                scope.spawn(move || {
                    (t..pieces.len())
                        .step_by(threads)
                        .map(|at| (at, run(&pieces[at])))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        for handle in handles {
            for (at, outcome) in handle.join().expect("a search thread panicked") {
                outcomes[at] = Some(outcome);
            }
        }
    });
    outcomes
        .into_iter()
        .map(|o| o.expect("every piece ran"))
        .collect()
}

fn report<I: Debug, O: Debug>(
    ops: &[Operation<I, O>],
    pieces: &[(String, Vec<usize>)],
    outcomes: Vec<(search::Outcome, u64)>,
) -> CheckReport {
    let mut anomalies = Vec::new();
    let mut unknown = 0u64;
    let mut steps = 0u64;
    for ((name, members), (outcome, piece_steps)) in pieces.iter().zip(outcomes) {
        steps += piece_steps;
        match outcome {
            search::Outcome::Linearizable => {}
            search::Outcome::Unknown => unknown += 1,
            search::Outcome::NotLinearizable(deepest) => {
                anomalies.push(nonlinearizable(ops, name, members, &deepest));
            }
        }
    }
    let stats = BTreeMap::from([
        ("ops".to_string(), ops.len() as u64),
        ("pieces".to_string(), pieces.len() as u64),
        ("pieces unknown".to_string(), unknown),
        ("search steps".to_string(), steps),
    ]);
    let mut report = CheckReport::from_anomalies("linearizable", anomalies, stats);
    if report.verdict == Verdict::Valid && unknown > 0 {
        // Out of budget is never a pass.
        report.verdict = Verdict::Unknown;
    }
    report
}

fn nonlinearizable<I: Debug, O: Debug>(
    ops: &[Operation<I, O>],
    name: &str,
    members: &[usize],
    deepest: &search::Deepest,
) -> Anomaly {
    let describe = |at: usize| {
        let op = &ops[members[at]];
        match &op.output {
            Some(output) => format!(
                "op {} (process {}, {:?} → {:?})",
                op.index, op.process, op.input, output
            ),
            None => format!(
                "op {} (process {}, {:?}, crashed)",
                op.index, op.process, op.input
            ),
        }
    };
    let prefix: Vec<String> = deepest.linearized.iter().map(|&at| describe(at)).collect();
    let blocked = deepest
        .blocked_by
        .map(|at| {
            format!(
                "; then {} could not take effect before it returned",
                describe(at)
            )
        })
        .unwrap_or_default();
    let mut cited: Vec<u64> = deepest
        .linearized
        .iter()
        .map(|&at| ops[members[at]].index)
        .collect();
    cited.extend(deepest.blocked_by.map(|at| ops[members[at]].index));
    Anomaly {
        kind: AnomalyKind::Nonlinearizable,
        key: None,
        ops: cited,
        description: format!(
            "{name}: no order of the ops respects real time and the model; the longest \
             legal prefix linearizes {} op(s) [{}] reaching state {}{blocked}",
            prefix.len(),
            prefix.join(", "),
            deepest.state
        ),
    }
}
