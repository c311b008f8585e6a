//! Records a history as operations happen: invokes and completions in real (or simulated)
//! order, with times from the tokio clock.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use tokio::time::Instant;

use faultline_checker::history::{
    Fault, Function, History, Key, Op, OpType, OpValue, Process, Value,
};

#[derive(Debug, Default)]
struct Inner {
    ops: Vec<Op>,
    next_process: u32,
    next_value: BTreeMap<Key, Value>,
}

/// Where op times come from: nanoseconds since the run began.
pub type Clock = Arc<dyn Fn() -> u64 + Send + Sync>;

/// A shared, cloneable history recorder.
#[derive(Clone)]
pub struct Recorder {
    inner: Arc<Mutex<Inner>>,
    clock: Clock,
}

impl std::fmt::Debug for Recorder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Recorder")
            .field("ops", &self.lock().ops.len())
            .finish()
    }
}

impl Recorder {
    /// A recorder on the tokio clock, whose time 0 is now.
    pub fn new() -> Self {
        let start = Instant::now();
        Recorder::with_clock(Arc::new(move || start.elapsed().as_nanos() as u64))
    }

    /// A recorder on the given clock (the simulation passes its own).
    pub fn with_clock(clock: Clock) -> Self {
        Recorder {
            inner: Arc::new(Mutex::new(Inner::default())),
            clock,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().expect("recorder lock")
    }

    /// A process id never used before (after an `info`, Jepsen moves on to a new process).
    pub fn fresh_process(&self) -> u32 {
        let mut inner = self.lock();
        let id = inner.next_process;
        inner.next_process += 1;
        id
    }

    /// The next unique value for `key` (1, 2, 3, ...).
    pub fn next_value(&self, key: Key) -> Value {
        let mut inner = self.lock();
        let value = inner.next_value.entry(key).or_insert(0);
        *value += 1;
        *value
    }

    /// Nanoseconds since the recorder's start.
    pub fn now_ns(&self) -> u64 {
        (self.clock)()
    }

    /// Appends one event.
    pub fn record(
        &self,
        process: Process,
        kind: OpType,
        f: Function,
        value: OpValue,
        error: Option<String>,
    ) {
        self.record_at(self.now_ns(), process, kind, f, value, error);
    }

    /// Records a poll's `ok` with the leader epoch each partition was read at.
    pub fn record_poll(&self, process: Process, value: OpValue, leader_epochs: BTreeMap<Key, i32>) {
        self.push(Op {
            index: 0,
            time: self.now_ns(),
            process,
            kind: OpType::Ok,
            f: Function::Poll,
            value,
            error: None,
            leader_epochs,
        });
    }

    /// Appends one event with an explicit time.
    pub fn record_at(
        &self,
        time: u64,
        process: Process,
        kind: OpType,
        f: Function,
        value: OpValue,
        error: Option<String>,
    ) {
        self.push(Op {
            index: 0,
            time,
            process,
            kind,
            f,
            value,
            error,
            leader_epochs: BTreeMap::new(),
        });
    }

    /// Appends `op` as the next event, numbering it under the same lock (certification's
    /// clients record from several threads).
    fn push(&self, mut op: Op) {
        let mut inner = self.lock();
        op.index = inner.ops.len() as u64;
        inner.ops.push(op);
    }

    /// Records a nemesis fault starting or stopping.
    pub fn fault(&self, time: u64, start: bool, fault: Fault) {
        let f = if start {
            Function::StartFault
        } else {
            Function::StopFault
        };
        self.record_at(
            time,
            Process::Nemesis,
            OpType::Info,
            f,
            OpValue::Fault(fault),
            None,
        );
    }

    /// The history so far.
    pub fn history(&self) -> History {
        History {
            ops: self.lock().ops.clone(),
        }
    }

    /// The whole history, taken out of the recorder without a copy, once the run that
    /// records into it is over: what is recorded afterwards starts a new history.
    pub fn take_history(&self) -> History {
        History {
            ops: std::mem::take(&mut self.lock().ops),
        }
    }
}

impl Default for Recorder {
    fn default() -> Self {
        Recorder::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn crash() -> Fault {
        Fault {
            kind: "crash".into(),
            targets: vec!["broker-1".into()],
            detail: String::new(),
        }
    }

    #[test]
    fn taking_the_history_moves_every_op_out_and_starts_a_new_one() {
        let recorder = Recorder::new();
        recorder.fault(1, true, crash());
        recorder.fault(2, false, crash());
        let taken = recorder.take_history();
        assert_eq!(taken.ops.len(), 2);
        assert_eq!(taken.ops[1].index, 1);
        assert!(recorder.history().ops.is_empty());
        recorder.fault(3, true, crash());
        assert_eq!(recorder.history().ops[0].index, 0);
    }
}
