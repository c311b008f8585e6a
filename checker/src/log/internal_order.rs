//! The internal variants, within one op: IntPollSkip and IntNonmonotonicPoll over a
//! poll's records, IntSendSkip and IntNonmonotonicSend over a send op's sends.
//!
//! Jepsen `tests/kafka.clj` `int-poll-skip+nonmonotonic-cases` and
//! `int-send-skip+nonmonotonic-cases`: each consecutive pair of one key's reads (or sends)
//! in one op should be adjacent in the version order; a delta above one skipped, below one
//! went back or repeated. Completions of any type count, as in Jepsen. Reads are placed by
//! the offset they were read at rather than by value, which keeps a duplicated value from
//! masquerading as a skip. Jepsen exempts keys rebalanced during the op; our ops carry no
//! rebalance log, and within one poll Kafka returns each partition's records in order.

use super::describe::op_reference;
use crate::history::{Offset, Value};
use crate::{Anomaly, AnomalyKind};

use super::describe;
use super::facts::OpFacts;
use super::Analysis;

/// A pair of adjacent micro-op results on one key, placed in the version order.
struct Step {
    key: u32,
    from: (u32, Offset, Value),
    to: (u32, Offset, Value),
}

/// Anomalies of all four kinds, in history order.
pub(crate) fn find(analysis: &Analysis) -> Vec<Anomaly> {
    let mut anomalies = Vec::new();
    for op in &analysis.facts.ops {
        // A step needs two micro-ops; most ops have one, so skip them before allocating.
        if op.reads().len() < 2 && op.sends().len() < 2 {
            continue;
        }
        for step in read_steps(analysis, op) {
            anomalies.extend(judge(analysis, op, &step, Micro::Poll));
        }
        for step in send_steps(analysis, op) {
            anomalies.extend(judge(analysis, op, &step, Micro::Send));
        }
    }
    anomalies
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Micro {
    Poll,
    Send,
}

fn read_steps(analysis: &Analysis, op: &OpFacts) -> Vec<Step> {
    let reads = &analysis.facts.reads[op.reads()];
    let placed = reads.iter().filter_map(|read| {
        let order = &analysis.orders[read.key as usize];
        let index = order.index_of_offset(read.offset)?;
        Some((read.key, (index, read.offset, read.value)))
    });
    steps(placed)
}

fn send_steps(analysis: &Analysis, op: &OpFacts) -> Vec<Step> {
    let facts = &analysis.facts;
    let sends = &facts.sends[op.sends()];
    let placed = sends.iter().filter_map(|send| {
        let order = &analysis.orders[send.key as usize];
        let index = order.send_index(facts, send)?;
        Some((send.key, (index, order.offsets[index as usize], send.value)))
    });
    steps(placed)
}

/// Consecutive pairs per key; keys in one op are few, so a linear scan beats a map.
fn steps(placed: impl Iterator<Item = (u32, (u32, Offset, Value))>) -> Vec<Step> {
    let mut last: Vec<(u32, (u32, Offset, Value))> = Vec::new();
    let mut steps = Vec::new();
    for (key, at) in placed {
        match last.iter_mut().find(|(k, _)| *k == key) {
            Some((_, previous)) => {
                steps.push(Step {
                    key,
                    from: *previous,
                    to: at,
                });
                *previous = at;
            }
            None => last.push((key, at)),
        }
    }
    steps
}

fn judge(analysis: &Analysis, op: &OpFacts, step: &Step, micro: Micro) -> Option<Anomaly> {
    let delta = i64::from(step.to.0) - i64::from(step.from.0);
    if delta == 1 {
        return None;
    }
    let key = analysis.facts.keys[step.key as usize];
    let (verb, noun) = match micro {
        Micro::Poll => ("returned", "read"),
        Micro::Send => ("sent", "send"),
    };
    let (kind, what) = if delta > 1 {
        let order = &analysis.orders[step.key as usize];
        let skipped = order.values_between(step.from.0, step.to.0, 9);
        let kind = match micro {
            Micro::Poll => AnomalyKind::IntPollSkip,
            Micro::Send => AnomalyKind::IntSendSkip,
        };
        let what = match micro {
            Micro::Poll => format!(
                "skipping {} record(s) known to exist between them: values {}",
                delta - 1,
                describe::list(&skipped, 8)
            ),
            Micro::Send => format!(
                "with {} other record(s) landing between them: values {}",
                delta - 1,
                describe::list(&skipped, 8)
            ),
        };
        (kind, what)
    } else {
        let kind = match micro {
            Micro::Poll => AnomalyKind::IntNonmonotonicPoll,
            Micro::Send => AnomalyKind::IntNonmonotonicSend,
        };
        let what = format!("the later {noun} is {} record(s) behind", 1 - delta);
        (kind, what)
    };
    Some(Anomaly {
        kind,
        key: Some(key),
        ops: vec![op.index()],
        description: format!(
            "key {key}: {} {verb} value {} at offset {} and then value {} at offset {}, {what}",
            op_reference(op),
            step.from.2,
            step.from.1,
            step.to.2,
            step.to.1
        ),
    })
}
