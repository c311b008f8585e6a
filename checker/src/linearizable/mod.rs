//! The linearizability checker: a general engine over any [`SequentialModel`].
//!
//! A history is linearizable if every op can be given a point between its invoke and its
//! completion such that the ops, applied in point order to the sequential model, return
//! what they returned (Herlihy & Wing 1990). `fail` ops did not happen and are dropped by
//! the history readers; crashed (`info`) ops may take effect at any point after their
//! invoke, or never (Knossos, jepsen-io/knossos `history.clj`).
//!
//! - [`unique_writes`]: registers whose reads each name one write are decided without
//!   search, in O(n log n) (Gibbons & Korach 1997); a model offers such a shortcut through
//!   [`SequentialModel::decide`], and the search runs only where it declines.
//! - [`search`]: Wing–Gong search with Lowe's memoization of (linearized set, state),
//!   kept in [`cache`] (compact entries keyed by the set's incremental Zobrist hash,
//!   [`set`]) within a memory budget ([`memory`]): past it the answer is `unknown`.
//! - P-compositionality (Horn & Kroening 2015): a model may split a history into
//!   independent pieces (by key, by partition); each is checked alone, in parallel.
//! - Models: [`register`] (read / write / cas), [`kv`] (a map, split by key),
//!   [`partition_log`] (append → offset, read; offsets as witnesses: a sort and a pass).
//! - [`register_history`]: the plain register history format of `docs/checkers.md`;
//!   [`generate`]: seeded register histories, valid or with planted violations.
//! - [`queue_history`]: a Jepsen-shaped Kafka history as partition-log ops, per key.

mod cache;
pub mod generate;
pub mod kv;
mod memory;
pub mod partition_log;
pub mod queue_history;
pub mod register;
pub mod register_history;
mod search;
mod set;
pub mod unique_writes;

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

    /// Decides a piece without search when the model knows a shortcut (ops by position
    /// in the piece); `None`, the default, leaves it to the search.
    fn decide(&self, ops: &[&Operation<Self::Input, Self::Output>]) -> Option<Decision> {
        let _ = ops;
        None
    }

    /// Bytes a state owns on the heap beyond its own size, for the memory budget.
    fn state_heap_bytes(&self, state: &Self::State) -> usize {
        let _ = state;
        0
    }

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

/// A verdict reached without search.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// A linearization exists.
    Linearizable,
    /// None exists, and why.
    NotLinearizable(Refutation),
}

/// Why no linearization exists: the ops in conflict and the reason in words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refutation {
    /// The ops in conflict, by position in the piece.
    pub ops: Vec<usize>,
    /// Why they cannot all be linearized (naming ops by their history index).
    pub reason: String,
}

/// The default memory budget: 4 GiB.
pub const DEFAULT_MEMORY_BUDGET_BYTES: u64 = 4 << 30;

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
    /// The most bytes the searches' caches, stacks and lists may hold at once, summed
    /// over threads; past it a piece is `unknown` (never an allocation abort). The
    /// history itself is not counted. Default: [`DEFAULT_MEMORY_BUDGET_BYTES`] (4 GiB).
    pub memory_budget_bytes: u64,
    /// Let a model decide a piece without search ([`SequentialModel::decide`]) when it
    /// can. Default: true; false forces the search (to compare the two).
    pub fast_path: bool,
}

impl Default for LinearizableOptions {
    fn default() -> LinearizableOptions {
        LinearizableOptions {
            max_steps: 10_000_000,
            time_limit: None,
            threads: std::thread::available_parallelism().map_or(1, usize::from),
            memory_budget_bytes: DEFAULT_MEMORY_BUDGET_BYTES,
            fast_path: true,
        }
    }
}

/// How one piece ended.
enum PieceOutcome<S> {
    /// Decided by the model's shortcut.
    Decided(Decision),
    /// Searched.
    Searched(search::Outcome<S>),
}

/// Checks a history against a model and reports per piece.
pub fn check<M: SequentialModel>(
    model: &M,
    ops: &[Operation<M::Input, M::Output>],
    options: &LinearizableOptions,
) -> CheckReport {
    let pieces = model.partition(ops);
    let meter = memory::MemoryMeter::new(options.memory_budget_bytes);
    let budget = search::Budget {
        max_steps: options.max_steps,
        deadline: options.time_limit.map(|limit| Instant::now() + limit),
        meter: &meter,
    };
    let outcomes = run_pieces(model, ops, &pieces, budget, options);
    let mut report = report(ops, &pieces, outcomes);
    report.stats.insert(
        "memory budget bytes".to_string(),
        options.memory_budget_bytes,
    );
    report
        .stats
        .insert("memory peak bytes".to_string(), meter.peak_bytes());
    report
}

fn run_pieces<M: SequentialModel>(
    model: &M,
    ops: &[Operation<M::Input, M::Output>],
    pieces: &[(String, Vec<usize>)],
    budget: search::Budget,
    options: &LinearizableOptions,
) -> Vec<(PieceOutcome<M::State>, u64)> {
    let run = |piece: &(String, Vec<usize>)| {
        let piece_ops: Vec<&Operation<M::Input, M::Output>> =
            piece.1.iter().map(|&at| &ops[at]).collect();
        if let Some(decision) = options
            .fast_path
            .then(|| model.decide(&piece_ops))
            .flatten()
        {
            return (PieceOutcome::Decided(decision), 0);
        }
        let (outcome, steps) = search::search(model, &piece_ops, budget);
        (PieceOutcome::Searched(outcome), steps)
    };
    let threads = options.threads.max(1);
    if threads == 1 || pieces.len() < 2 {
        return pieces.iter().map(run).collect();
    }
    // Strided so each thread gets a fair share; results are put back in piece order.
    let mut outcomes: Vec<Option<(PieceOutcome<M::State>, u64)>> =
        (0..pieces.len()).map(|_| None).collect();
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

fn report<I: Debug, O: Debug, S: Debug>(
    ops: &[Operation<I, O>],
    pieces: &[(String, Vec<usize>)],
    outcomes: Vec<(PieceOutcome<S>, u64)>,
) -> CheckReport {
    let mut anomalies = Vec::new();
    let mut stops: BTreeMap<search::Stop, u64> = BTreeMap::new();
    let (mut steps, mut decided) = (0u64, 0u64);
    for ((name, members), (outcome, piece_steps)) in pieces.iter().zip(outcomes) {
        steps += piece_steps;
        match outcome {
            PieceOutcome::Decided(decision) => {
                decided += 1;
                if let Decision::NotLinearizable(refutation) = decision {
                    anomalies.push(refuted(ops, name, members, &refutation));
                }
            }
            PieceOutcome::Searched(search::Outcome::Linearizable) => {}
            PieceOutcome::Searched(search::Outcome::Unknown(stop)) => {
                *stops.entry(stop).or_default() += 1
            }
            PieceOutcome::Searched(search::Outcome::NotLinearizable(deepest)) => {
                anomalies.push(nonlinearizable(ops, name, members, &deepest));
            }
        }
    }
    let unknown: u64 = stops.values().sum();
    let mut stats = BTreeMap::from([
        ("ops".to_string(), ops.len() as u64),
        ("pieces".to_string(), pieces.len() as u64),
        ("pieces decided without search".to_string(), decided),
        ("pieces unknown".to_string(), unknown),
        ("search steps".to_string(), steps),
    ]);
    for (stop, count) in stops {
        stats.insert(stop_stat(stop).to_string(), count);
    }
    let mut report = CheckReport::from_anomalies("linearizable", anomalies, stats);
    if report.verdict == Verdict::Valid && unknown > 0 {
        // Out of budget is never a pass.
        report.verdict = Verdict::Unknown;
    }
    report
}

/// The statistic that says why pieces ended `unknown`; the CLI explains each.
pub const STAT_OUT_OF_STEPS: &str = "pieces unknown: max steps reached";
/// Pieces stopped by the wall-clock limit.
pub const STAT_OUT_OF_TIME: &str = "pieces unknown: time limit reached";
/// Pieces stopped by the memory budget.
pub const STAT_OUT_OF_MEMORY: &str = "pieces unknown: memory budget exceeded";

fn stop_stat(stop: search::Stop) -> &'static str {
    match stop {
        search::Stop::Steps => STAT_OUT_OF_STEPS,
        search::Stop::Time => STAT_OUT_OF_TIME,
        search::Stop::Memory => STAT_OUT_OF_MEMORY,
    }
}

fn describe_op<I: Debug, O: Debug>(op: &Operation<I, O>) -> String {
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
}

fn refuted<I: Debug, O: Debug>(
    ops: &[Operation<I, O>],
    name: &str,
    members: &[usize],
    refutation: &Refutation,
) -> Anomaly {
    let described: Vec<String> = refutation
        .ops
        .iter()
        .map(|&at| describe_op(&ops[members[at]]))
        .collect();
    Anomaly {
        kind: AnomalyKind::Nonlinearizable,
        key: None,
        ops: refutation
            .ops
            .iter()
            .map(|&at| ops[members[at]].index)
            .collect(),
        description: format!(
            "{name}: no order of the ops respects real time and the model: {} [{}]",
            refutation.reason,
            described.join(", ")
        ),
    }
}

/// How many ops of the longest legal prefix an anomaly names.
const EVIDENCE_OPS: usize = 20;

fn nonlinearizable<I: Debug, O: Debug, S: Debug>(
    ops: &[Operation<I, O>],
    name: &str,
    members: &[usize],
    deepest: &search::Deepest<S>,
) -> Anomaly {
    let describe = |at: usize| describe_op(&ops[members[at]]);
    // A long prefix is cut to its end: the ops just before the dead end are the evidence.
    let shown = &deepest.linearized[deepest.linearized.len().saturating_sub(EVIDENCE_OPS)..];
    let mut prefix: Vec<String> = shown.iter().map(|&at| describe(at)).collect();
    if shown.len() < deepest.linearized.len() {
        prefix.insert(
            0,
            format!("… {} earlier", deepest.linearized.len() - shown.len()),
        );
    }
    let blocked = deepest
        .blocked_by
        .map(|at| {
            format!(
                "; then {} could not take effect before it returned",
                describe(at)
            )
        })
        .unwrap_or_default();
    let mut cited: Vec<u64> = shown.iter().map(|&at| ops[members[at]].index).collect();
    cited.extend(deepest.blocked_by.map(|at| ops[members[at]].index));
    let state = deepest
        .state
        .as_ref()
        .map_or("the initial state".to_string(), |state| {
            format!("{state:?}")
        });
    Anomaly {
        kind: AnomalyKind::Nonlinearizable,
        key: None,
        ops: cited,
        description: format!(
            "{name}: no order of the ops respects real time and the model; the longest \
             legal prefix linearizes {} op(s) [{}] reaching state {state}{blocked}",
            deepest.linearized.len(),
            prefix.join(", "),
        ),
    }
}
