//! Dependency cycles between operations (Adya's G0 and G1c as Elle finds them): write-write
//! edges from each partition's version order, write-read edges from polls, then a cycle
//! search over each edge kind alone.
//!
//! Edges follow jepsen-io/jepsen `tests/kafka.clj` (`ww-graph`, `wr-graph`): T1 →ww T2 when
//! T2's value directly follows T1's in a partition's version order; T1 →wr T2 when T2 polled
//! a value T1 sent. Jepsen leaves read-write edges out (its `rw-graph` is commented out: a
//! poll reads a range, so "did not see a later write" is not an anti-dependency), and so do
//! we. Classification after Adya (1999) §4.2 as Elle applies it (jepsen-io/elle
//! `elle.txn`): a cycle of ww edges alone is G0 (write cycle); a cycle of wr edges alone is
//! G1c (cyclic information flow). Kafka does not isolate writes, so G0 is normal and
//! allowed by default, and cycles mixing ww and wr are not reported, as Jepsen allows G1c
//! when it infers ww edges (`allowed-error-types`). A cycle of wr edges alone cannot happen
//! at read_committed: each reader saw the other's write only after that transaction
//! committed, and each committed only after its own read.

use super::graph::{Budget, Graph, OutOfBudget};
use crate::log::describe::op_reference;
use crate::log::facts::{LogFacts, Outcome};
use crate::log::version_order::VersionOrder;
use crate::{Anomaly, AnomalyKind};

/// Cycles reported per kind; the rest are counted.
pub(crate) const CYCLES_SHOWN: usize = 8;

/// Which dependency an edge stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dependency {
    /// Write-write: the later op's write directly follows the earlier's in a version order.
    WriteWrite,
    /// Write-read: the later op polled the earlier op's write.
    WriteRead,
}

/// What the search found for one dependency kind.
pub(crate) struct Cycles {
    /// One anomaly per cyclic component, the first [`CYCLES_SHOWN`] of them.
    pub anomalies: Vec<Anomaly>,
    /// Cyclic components found.
    pub components: u64,
    /// Edges in the graph.
    pub edges: u64,
}

/// Finds the cycles of one dependency kind.
pub(crate) fn find(
    facts: &LogFacts,
    orders: &[VersionOrder],
    dependency: Dependency,
    budget: &mut Budget,
) -> Result<Cycles, OutOfBudget> {
    let edges = match dependency {
        Dependency::WriteWrite => write_write_edges(facts, orders, budget)?,
        Dependency::WriteRead => write_read_edges(facts, budget)?,
    };
    let graph = Graph::from_edges(facts.ops.len(), edges, budget)?;
    let components = graph.cyclic_components(budget)?;
    let mut anomalies = Vec::new();
    for component in components.iter().take(CYCLES_SHOWN) {
        let cycle = graph.shortest_cycle(component, budget)?;
        anomalies.push(describe(facts, orders, dependency, &cycle));
    }
    Ok(Cycles {
        anomalies,
        components: components.len() as u64,
        edges: graph.edges() as u64,
    })
}

/// A write that may be in a dependency: sent by an op that did not definitely fail.
fn writer_op(facts: &LogFacts, key: u32, local: u32) -> Option<u32> {
    let send = facts.writer(key, local)?;
    (facts.op(send.op).outcome != Outcome::Fail).then_some(send.op)
}

fn write_write_edges(
    facts: &LogFacts,
    orders: &[VersionOrder],
    budget: &mut Budget,
) -> Result<Vec<(u32, u32)>, OutOfBudget> {
    let mut edges = Vec::new();
    let total: usize = orders.iter().map(|o| o.len() as usize).sum();
    budget.reserve(&mut edges, total)?;
    for (key, order) in orders.iter().enumerate() {
        let mut previous: Option<u32> = None;
        for index in 0..order.len() {
            // An index holding two values is inconsistent-offsets, the log checker's
            // finding; it orders nothing.
            let writer = match order.at_index(index) {
                [entry] => writer_op(facts, key as u32, entry.local),
                _ => None,
            };
            if let (Some(from), Some(to)) = (previous, writer) {
                edges.push((from, to));
            }
            previous = writer;
        }
    }
    Ok(edges)
}

fn write_read_edges(facts: &LogFacts, budget: &mut Budget) -> Result<Vec<(u32, u32)>, OutOfBudget> {
    let mut edges = Vec::new();
    budget.reserve(&mut edges, facts.reads.len())?;
    for read in &facts.reads {
        if facts.op(read.op).outcome != Outcome::Ok {
            continue;
        }
        if let Some(writer) = writer_op(facts, read.key, read.local) {
            edges.push((writer, read.op));
        }
    }
    Ok(edges)
}

/// Why `from` precedes `to`, in words, e.g. `op 3 sent 7 to key 0, which op 9 polled`.
fn explain(
    facts: &LogFacts,
    orders: &[VersionOrder],
    dependency: Dependency,
    from: u32,
    to: u32,
) -> String {
    let (a, b) = (facts.op(from), facts.op(to));
    match dependency {
        Dependency::WriteRead => facts.reads[b.reads()]
            .iter()
            .find(|read| writer_op(facts, read.key, read.local) == Some(from))
            .map(|read| {
                format!(
                    "op {} sent {} to key {}, which op {} polled",
                    a.index(),
                    read.value,
                    facts.keys[read.key as usize],
                    b.index()
                )
            }),
        Dependency::WriteWrite => facts.sends[b.sends()].iter().find_map(|send| {
            let order = &orders[send.key as usize];
            let index = order.span(send.local)?.first.checked_sub(1)?;
            match order.at_index(index) {
                [before] if writer_op(facts, send.key, before.local) == Some(from) => {
                    Some(format!(
                        "op {} sent {} to key {} just before op {} sent {}",
                        a.index(),
                        before.value,
                        facts.keys[send.key as usize],
                        b.index(),
                        send.value
                    ))
                }
                _ => None,
            }
        }),
    }
    .unwrap_or_else(|| format!("op {} precedes op {}", a.index(), b.index()))
}

fn describe(
    facts: &LogFacts,
    orders: &[VersionOrder],
    dependency: Dependency,
    cycle: &[u32],
) -> Anomaly {
    let steps: Vec<String> = cycle
        .iter()
        .zip(cycle.iter().cycle().skip(1))
        .map(|(&from, &to)| explain(facts, orders, dependency, from, to))
        .collect();
    let ops: Vec<String> = cycle.iter().map(|&op| op_reference(facts.op(op))).collect();
    let (kind, what) = match dependency {
        Dependency::WriteWrite => (AnomalyKind::WriteCycle, "write cycle"),
        Dependency::WriteRead => (AnomalyKind::CyclicInformationFlow, "cycle of reads"),
    };
    Anomaly {
        kind,
        key: None,
        ops: cycle.iter().map(|&op| facts.op(op).index()).collect(),
        description: format!(
            "a {what} of {} ops ({}): {}; each depends on the one before, so no order of \
             the transactions explains what they saw",
            cycle.len(),
            ops.join(", "),
            steps.join("; ")
        ),
    }
}
