//! The register model: read, write and compare-and-set on one value, initially nil.
//!
//! Knossos `knossos.model/cas-register`, the model of Jepsen's etcd, ZooKeeper and Consul
//! tests and of Porcupine's published etcd histories. For Kafka it models a group's
//! committed offset for one partition. A crashed compare-and-set whose expected value does
//! not match simply failed — a no-op — so it is accepted either way.

use super::{unique_writes, Decision, Operation, SequentialModel};

/// A register's value; `None` is nil (never written).
pub type RegisterValue = Option<i64>;

/// What a register op asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RegisterInput {
    /// Read the value.
    Read,
    /// Overwrite the value.
    Write(i64),
    /// Set `to` if the value is `from`; an `ok` cas succeeded (a failed cas is `fail`).
    Cas {
        /// Expected value.
        from: i64,
        /// New value.
        to: i64,
    },
}

/// What a register op returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RegisterOutput {
    /// A read's value.
    Read(RegisterValue),
    /// A write or cas took effect.
    Done,
}

/// The register model.
#[derive(Debug, Clone, Copy, Default)]
pub struct Register;

impl Register {
    /// One register step, shared with the key-value model.
    pub fn apply(
        state: RegisterValue,
        input: &RegisterInput,
        output: Option<&RegisterOutput>,
    ) -> Option<RegisterValue> {
        match (input, output) {
            (RegisterInput::Read, Some(RegisterOutput::Read(seen))) => {
                (*seen == state).then_some(state)
            }
            (RegisterInput::Read, _) => Some(state),
            (RegisterInput::Write(value), _) => Some(Some(*value)),
            (RegisterInput::Cas { from, to }, output) => {
                if state == Some(*from) {
                    Some(Some(*to))
                } else if output.is_none() {
                    Some(state)
                } else {
                    None
                }
            }
        }
    }
}

impl SequentialModel for Register {
    type State = RegisterValue;
    type Input = RegisterInput;
    type Output = RegisterOutput;

    fn init(&self) -> RegisterValue {
        None
    }

    fn step(
        &self,
        state: &RegisterValue,
        input: &RegisterInput,
        output: Option<&RegisterOutput>,
    ) -> Option<RegisterValue> {
        Register::apply(*state, input, output)
    }

    /// Unique written values decide a register in O(n log n) ([`unique_writes`]).
    fn decide(&self, ops: &[&Operation<RegisterInput, RegisterOutput>]) -> Option<Decision> {
        unique_writes::decide(ops, |input| *input)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_read_must_see_the_value() {
        let read = |v| Some(RegisterOutput::Read(v));
        assert_eq!(
            Register::apply(Some(1), &RegisterInput::Read, read(Some(1)).as_ref()),
            Some(Some(1))
        );
        assert_eq!(
            Register::apply(Some(1), &RegisterInput::Read, read(None).as_ref()),
            None
        );
    }

    #[test]
    fn an_ok_cas_must_match_but_a_crashed_one_may_fail() {
        let cas = RegisterInput::Cas { from: 1, to: 2 };
        assert_eq!(
            Register::apply(Some(1), &cas, Some(&RegisterOutput::Done)),
            Some(Some(2))
        );
        assert_eq!(
            Register::apply(Some(3), &cas, Some(&RegisterOutput::Done)),
            None
        );
        assert_eq!(Register::apply(Some(3), &cas, None), Some(Some(3)));
    }
}
