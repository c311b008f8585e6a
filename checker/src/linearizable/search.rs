//! The Wing–Gong search with Lowe's memoization, over one partition of a history.
//!
//! Gavin Lowe, "Testing for linearizability" (2017), §3–4, as Porcupine implements it:
//! the history is a doubly linked list of call and return entries in time order. Walking
//! from the front, a call entry whose op the model accepts in the current state is
//! *lifted* (linearized now: removed with its return entry) and the walk restarts; reaching
//! a return entry means its op can no longer be linearized on this path, so we backtrack.
//! Each (set of linearized ops, model state) is explored once: the cache is what turns the
//! exponential search into one that finishes on real histories.
//!
//! Crashed (`info`) ops have a call entry and no return entry, so nothing ever forces them:
//! they may be linearized at any point after their call, or never (Knossos treats `info`
//! the same way). The search therefore succeeds as soon as every *completed* op is lifted.
//!
//! Nothing here copies the linearized set: [`LinearizedSet`] updates its hash and bounds
//! on each lift and backtrack, and the evidence (the longest dead end) is extended from
//! the part of the stack that changed. Every structure that grows with the search asks the
//! memory budget first; running out of it, of steps or of time ends in `Unknown`.

use std::time::Instant;

use super::cache::Cache;
use super::memory::{Holding, MemoryMeter, OutOfMemory};
use super::set::LinearizedSet;
use super::{Operation, SequentialModel};

/// Why a search stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Outcome<S> {
    /// A linearization exists.
    Linearizable,
    /// None exists; the deepest partial linearization found, for evidence.
    NotLinearizable(Deepest<S>),
    /// A budget ran out first.
    Unknown(Stop),
}

/// Which budget ran out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Stop {
    /// `max_steps` call entries were tried.
    Steps,
    /// The wall-clock deadline passed.
    Time,
    /// The cache and stack would have grown past the memory budget.
    Memory,
}

/// The furthest the search got: which ops it linearized, in order, and which op's
/// return then forced it back.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct Deepest<S> {
    /// Ops (positions in the partition) linearized, in linearization order.
    pub linearized: Vec<usize>,
    /// The op that had to be linearized before it returned, but could not be.
    pub blocked_by: Option<usize>,
    /// The model state after the linearized prefix.
    pub state: Option<S>,
}

/// Limits that end a search in `Unknown` rather than running forever.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Budget<'a> {
    /// Most call entries tried (deterministic).
    pub max_steps: u64,
    /// Wall-clock deadline, if any (checkers run outside the simulation).
    pub deadline: Option<Instant>,
    /// The memory the searches share.
    pub meter: &'a MemoryMeter,
}

const HEAD: usize = 0;
const NONE: usize = usize::MAX;

/// A call (`op`, `is_call`) or return entry in the linked list.
#[derive(Clone, Copy)]
struct Entry {
    op: usize,
    is_call: bool,
    /// For a call: the list position of its return entry, or NONE if crashed.
    matching: usize,
    prev: usize,
    next: usize,
}

/// Searches for a linearization of `ops` under `model`; returns the outcome and the steps.
pub(crate) fn search<M: SequentialModel>(
    model: &M,
    ops: &[&Operation<M::Input, M::Output>],
    budget: Budget,
) -> (Outcome<M::State>, u64) {
    let mut holding = Holding::new(budget.meter);
    let mut steps = 0u64;
    match run(model, ops, budget, &mut holding, &mut steps) {
        Ok(outcome) => (outcome, steps),
        Err(OutOfMemory) => (Outcome::Unknown(Stop::Memory), steps),
    }
}

/// The longest dead end so far, kept in step with the stack: `linearized[..agree]` is
/// still the stack's bottom, so recording a deeper one copies only what changed since.
struct DeepestTracker<S> {
    deepest: Deepest<S>,
    /// How much of `deepest.linearized` the stack still shares.
    agree: usize,
}

fn run<M: SequentialModel>(
    model: &M,
    ops: &[&Operation<M::Input, M::Output>],
    budget: Budget,
    holding: &mut Holding,
    steps: &mut u64,
) -> Result<Outcome<M::State>, OutOfMemory> {
    // The list, the set and the evidence are sized by the history: taken up front.
    holding.acquire((2 * ops.len() as u64 + 1) * std::mem::size_of::<Entry>() as u64)?;
    let mut list = build_list(ops);
    let mut linearized = LinearizedSet::new(ops.len());
    holding.acquire(linearized.heap_bytes())?;
    let completed = ops.iter().filter(|op| op.complete.is_some()).count();
    let mut linearized_completed = 0;
    let mut cache: Cache<M::State> = Cache::new(holding)?;
    let mut stack: Vec<(usize, M::State)> = Vec::new();
    let mut state = model.init();
    let mut tracker = DeepestTracker {
        deepest: Deepest {
            linearized: Vec::new(),
            blocked_by: None,
            state: None,
        },
        agree: 0,
    };
    let mut entry = list[HEAD].next;
    loop {
        if linearized_completed == completed {
            return Ok(Outcome::Linearizable);
        }
        if entry != NONE && list[entry].is_call {
            *steps += 1;
            if *steps > budget.max_steps {
                return Ok(Outcome::Unknown(Stop::Steps));
            }
            if out_of_time(budget, *steps) {
                return Ok(Outcome::Unknown(Stop::Time));
            }
            let op = list[entry].op;
            if let Some(next_state) = model.step(&state, &ops[op].input, ops[op].output.as_ref()) {
                linearized.insert(op);
                let heap = model.state_heap_bytes(&next_state) as u64;
                if cache.insert(&linearized, &next_state, heap, holding)? {
                    let previous = std::mem::replace(&mut state, next_state);
                    holding.reserve(&mut stack, 1)?;
                    stack.push((entry, previous));
                    if ops[op].complete.is_some() {
                        linearized_completed += 1;
                    }
                    lift(&mut list, entry);
                    entry = list[HEAD].next;
                    continue;
                }
                linearized.remove(op);
            }
            entry = list[entry].next;
            continue;
        }
        // A return entry (or the end): the ops lifted so far cannot be extended here.
        if stack.len() >= tracker.deepest.linearized.len() {
            record_deepest(&mut tracker, &stack, &list, entry, &state, holding)?;
        }
        let Some((call, previous)) = stack.pop() else {
            return Ok(Outcome::NotLinearizable(tracker.deepest));
        };
        tracker.agree = tracker.agree.min(stack.len());
        let op = list[call].op;
        linearized.remove(op);
        if ops[op].complete.is_some() {
            linearized_completed -= 1;
        }
        state = previous;
        unlift(&mut list, call);
        entry = list[call].next;
    }
}

fn record_deepest<S: Clone>(
    tracker: &mut DeepestTracker<S>,
    stack: &[(usize, S)],
    list: &[Entry],
    entry: usize,
    state: &S,
    holding: &mut Holding,
) -> Result<(), OutOfMemory> {
    let deepest = &mut tracker.deepest;
    deepest.linearized.truncate(tracker.agree);
    holding.reserve(&mut deepest.linearized, stack.len() - tracker.agree)?;
    deepest
        .linearized
        .extend(stack[tracker.agree..].iter().map(|&(e, _)| list[e].op));
    tracker.agree = stack.len();
    deepest.blocked_by = (entry != NONE).then(|| list[entry].op);
    deepest.state = Some(state.clone());
    Ok(())
}

// `u64::is_multiple_of` needs Rust 1.87; the workspace's rust-version is 1.85.
#[allow(clippy::manual_is_multiple_of, unknown_lints)]
fn out_of_time(budget: Budget, steps: u64) -> bool {
    // Reading the clock every step would cost more than the step; every 4096 is plenty.
    steps % 4096 == 0
        && budget
            .deadline
            .is_some_and(|deadline| Instant::now() >= deadline)
}

/// Entries sorted by time; a call sorts before a return at the same time, so ops that
/// touch at an instant count as concurrent (the permissive reading).
fn build_list<I, O>(ops: &[&Operation<I, O>]) -> Vec<Entry> {
    let mut events: Vec<(u64, bool, usize)> = Vec::with_capacity(ops.len() * 2);
    for (op, operation) in ops.iter().enumerate() {
        events.push((operation.invoke, false, op));
        if let Some(complete) = operation.complete {
            events.push((complete, true, op));
        }
    }
    events.sort_unstable();
    let mut list = Vec::with_capacity(events.len() + 1);
    list.push(Entry {
        op: NONE,
        is_call: false,
        matching: NONE,
        prev: NONE,
        next: NONE,
    });
    let mut call_at = vec![NONE; ops.len()];
    for &(_, is_return, op) in &events {
        let at = list.len();
        list.push(Entry {
            op,
            is_call: !is_return,
            matching: NONE,
            prev: at - 1,
            next: NONE,
        });
        list[at - 1].next = at;
        if is_return {
            list[call_at[op]].matching = at;
        } else {
            call_at[op] = at;
        }
    }
    list
}

fn unlink(list: &mut [Entry], at: usize) {
    let (prev, next) = (list[at].prev, list[at].next);
    list[prev].next = next;
    if next != NONE {
        list[next].prev = prev;
    }
}

fn relink(list: &mut [Entry], at: usize) {
    let (prev, next) = (list[at].prev, list[at].next);
    list[prev].next = at;
    if next != NONE {
        list[next].prev = at;
    }
}

/// Removes a call entry and its return entry (Lowe's `lift`).
fn lift(list: &mut [Entry], call: usize) {
    unlink(list, call);
    if list[call].matching != NONE {
        unlink(list, list[call].matching);
    }
}

/// Restores them, in reverse order of removal.
fn unlift(list: &mut [Entry], call: usize) {
    if list[call].matching != NONE {
        relink(list, list[call].matching);
    }
    relink(list, call);
}
