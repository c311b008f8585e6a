//! The key-value map model: a register per key, split by key for P-compositionality.
//!
//! Linearizability is local (Herlihy & Wing 1990, Theorem 1): a history of a map is
//! linearizable iff each key's sub-history is, so the engine checks each key alone —
//! the split Horn & Kroening call P-compositionality, and what keeps big histories cheap.

use std::collections::BTreeMap;

use super::register::{Register, RegisterInput, RegisterOutput};
use super::{unique_writes, Decision, Operation, SequentialModel};

/// A key of the map.
pub type MapKey = u64;

/// A register op on one key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct KvInput {
    /// Which key.
    pub key: MapKey,
    /// What to do to it.
    pub op: RegisterInput,
}

/// The map model; absent keys read as nil.
#[derive(Debug, Clone, Copy, Default)]
pub struct KeyValue;

impl SequentialModel for KeyValue {
    type State = BTreeMap<MapKey, i64>;
    type Input = KvInput;
    type Output = RegisterOutput;

    fn init(&self) -> Self::State {
        BTreeMap::new()
    }

    fn step(
        &self,
        state: &Self::State,
        input: &KvInput,
        output: Option<&RegisterOutput>,
    ) -> Option<Self::State> {
        let current = state.get(&input.key).copied();
        let next = Register::apply(current, &input.op, output)?;
        if next == current {
            return Some(state.clone());
        }
        let mut state = state.clone();
        match next {
            Some(value) => state.insert(input.key, value),
            None => state.remove(&input.key),
        };
        Some(state)
    }

    /// Each piece is one key's register: unique written values decide it without search.
    fn decide(&self, ops: &[&Operation<KvInput, RegisterOutput>]) -> Option<Decision> {
        unique_writes::decide(ops, |input| input.op)
    }

    /// A B-tree leaf holds up to 11 entries in about 200 bytes (std's `CAPACITY`).
    fn state_heap_bytes(&self, state: &Self::State) -> usize {
        state.len().div_ceil(11) * 200
    }

    fn partition(&self, ops: &[Operation<KvInput, RegisterOutput>]) -> Vec<(String, Vec<usize>)> {
        let mut by_key: BTreeMap<MapKey, Vec<usize>> = BTreeMap::new();
        for (at, op) in ops.iter().enumerate() {
            by_key.entry(op.input.key).or_default().push(at);
        }
        by_key
            .into_iter()
            .map(|(key, members)| (format!("key {key}"), members))
            .collect()
    }
}
