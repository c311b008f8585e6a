//! The transactional workload: Jepsen's `txn` ops (jepsen-io/jepsen `tests/kafka.clj`) run
//! as Kafka transactions (KIP-98) — sends and read_committed polls mixed in one
//! transaction, consume-transform-produce with the polled offsets sent to the transaction
//! (AddOffsetsToTxn + TxnOffsetCommit, KIP-447), a share of transactions aborted on
//! purpose, and producers that share a `transactional.id` so each InitProducerId fences the
//! other, often mid-transaction.
//!
//! Each transaction is one history op. Its completion says what the checkers may assume:
//! `ok` once EndTxn(commit) was acknowledged; `fail` whenever no EndTxn(commit) was ever
//! sent — an aborted or broken-off transaction can never commit (KIP-98: only the
//! coordinator's commit marker makes records visible at read_committed), even when its
//! produce or abort went unanswered; `info` when the commit was sent and its answer lost.
//!
//! - this file: what a transaction is drawn from, how it ended, the producer's loop;
//! - [`producer`]: one transaction's requests, from InitProducerId to EndTxn.

use std::collections::BTreeMap;

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use tokio::time::Instant;

use faultline_checker::history::{Function, Key, MicroOp, OpType, OpValue, Process};
use faultline_wire::Transport;

use crate::client::KafkaClient;
use crate::recorder::Recorder;
use crate::workload::{jitter, WorkloadConfig};

mod producer;

pub use producer::TransactionalProducer;

/// How transactions are drawn.
#[derive(Debug, Clone, PartialEq)]
pub struct TxnConfig {
    /// The share of transactions the workload aborts on purpose (EndTxn with
    /// `committed = false`), from 0 to 1.
    pub abort_ratio: f64,
    /// Micro-ops per transaction, at most (Jepsen draws 1 to 4).
    pub max_micro_ops: u32,
    /// Consume-transform-produce: a transaction that polled sends the positions it reached
    /// to this group's offsets within the transaction.
    pub offsets_group: Option<String>,
    /// The producer's `transaction.timeout.ms`: the coordinator aborts a transaction left
    /// open longer (KIP-98).
    pub transaction_timeout_ms: i32,
}

impl Default for TxnConfig {
    fn default() -> TxnConfig {
        TxnConfig {
            abort_ratio: 0.1,
            max_micro_ops: 4,
            offsets_group: None,
            transaction_timeout_ms: 10_000,
        }
    }
}

/// One transaction, drawn before it runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxnPlan {
    /// Sends (values already unique per key), polls and, last, `send-offsets` with no
    /// offsets yet.
    pub micro_ops: Vec<MicroOp>,
    /// EndTxn commits it; otherwise the workload aborts it.
    pub commit: bool,
}

/// Draws one transaction: one to `max_micro_ops` sends and polls, at least one send.
pub fn plan(
    rng: &mut ChaCha8Rng,
    config: &WorkloadConfig,
    txn: &TxnConfig,
    recorder: &Recorder,
) -> TxnPlan {
    let count = rng.random_range(1..=txn.max_micro_ops.max(1));
    let mut micro_ops = Vec::new();
    for i in 0..count {
        if i + 1 < count && rng.random_bool(0.4) {
            micro_ops.push(MicroOp::Poll { reads: None });
        } else {
            let key = rng.random_range(0..config.partitions) as Key;
            micro_ops.push(MicroOp::Send {
                key,
                value: recorder.next_value(key),
                offset: None,
            });
        }
    }
    let polled = micro_ops
        .iter()
        .any(|op| matches!(op, MicroOp::Poll { .. }));
    if let (Some(group), true) = (&txn.offsets_group, polled) {
        micro_ops.push(MicroOp::SendOffsets {
            group: group.clone(),
            offsets: BTreeMap::new(),
        });
    }
    TxnPlan {
        micro_ops,
        commit: !rng.random_bool(txn.abort_ratio.clamp(0.0, 1.0)),
    }
}

/// How a transaction ended, before it is recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TxnEnd {
    /// EndTxn(commit) acknowledged.
    Committed,
    /// No EndTxn(commit) was sent: the transaction cannot commit. The reason.
    Aborted(String),
    /// EndTxn(commit) was sent and its answer lost.
    Unknown(String),
}

impl TxnEnd {
    /// The history completion type.
    pub fn op_type(&self) -> OpType {
        match self {
            TxnEnd::Committed => OpType::Ok,
            TxnEnd::Aborted(_) => OpType::Fail,
            TxnEnd::Unknown(_) => OpType::Info,
        }
    }
}

/// Runs transactions as `transactional_id` until `stop_at`: each drawn, run and recorded as
/// one `txn` op; after an `info` one the producer continues as a fresh process (Jepsen).
pub async fn run_transactional_producer<T: Transport>(
    mut client: KafkaClient<T>,
    recorder: Recorder,
    config: WorkloadConfig,
    txn: TxnConfig,
    transactional_id: String,
    mut rng: ChaCha8Rng,
    stop_at: Instant,
) {
    client.isolation_level = 1;
    let positions = (0..config.partitions as Key)
        .map(|key| (key, config.start_offset(key)))
        .collect();
    let keys: Vec<Key> = (0..config.partitions as Key).collect();
    let mut producer = TransactionalProducer::new(transactional_id, positions);
    let mut process = assigned_process(&recorder, &keys);
    while Instant::now() < stop_at {
        faultline_wire::time::sleep(jitter(&mut rng, config.send_interval)).await;
        if Instant::now() >= stop_at {
            break;
        }
        let plan = plan(&mut rng, &config, &txn, &recorder);
        let end = producer
            .run(&mut client, &recorder, &config, &txn, process, plan)
            .await;
        if end.op_type() == OpType::Info {
            process = assigned_process(&recorder, &keys);
        }
    }
}

/// A fresh process that assigns itself `keys` (its polls continue from the producer's
/// positions), so the log checker judges its polls as an assigned consumer's.
fn assigned_process(recorder: &Recorder, keys: &[Key]) -> u32 {
    let process = recorder.fresh_process();
    for kind in [OpType::Invoke, OpType::Ok] {
        recorder.record(
            Process::Client(process),
            kind,
            Function::Assign,
            OpValue::Keys(keys.to_vec()),
            None,
        );
    }
    process
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use std::collections::BTreeSet;
    use std::time::Duration;

    fn config() -> WorkloadConfig {
        WorkloadConfig {
            topic: "jepsen".into(),
            partitions: 3,
            acks: -1,
            send_interval: Duration::from_millis(50),
            poll_interval: Duration::from_millis(100),
            request_timeout: Duration::from_millis(1_000),
            final_read_timeout: Duration::from_secs(10),
            idempotent: false,
            member_crashes: false,
            replay_interval: None,
            start_offsets: BTreeMap::new(),
            log_start_moves: false,
            batch: Default::default(),
        }
    }

    #[test]
    fn plans_are_seeded_have_a_send_and_send_offsets_only_after_a_poll() {
        let txn = TxnConfig {
            offsets_group: Some("g".into()),
            abort_ratio: 0.5,
            ..TxnConfig::default()
        };
        let draw = |seed: u64| {
            let recorder = Recorder::new();
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            (0..200)
                .map(|_| plan(&mut rng, &config(), &txn, &recorder))
                .collect::<Vec<_>>()
        };
        let plans = draw(1);
        assert_eq!(plans, draw(1), "a seed decides the transactions");
        let mut values = BTreeSet::new();
        for plan in &plans {
            let sends: Vec<_> = plan
                .micro_ops
                .iter()
                .filter_map(|op| match op {
                    MicroOp::Send { key, value, .. } => Some((*key, *value)),
                    _ => None,
                })
                .collect();
            assert!(!sends.is_empty(), "{plan:?}");
            assert!(
                sends.iter().all(|sent| values.insert(*sent)),
                "values are unique"
            );
            let polled = plan
                .micro_ops
                .iter()
                .any(|op| matches!(op, MicroOp::Poll { .. }));
            let last_is_offsets =
                matches!(plan.micro_ops.last(), Some(MicroOp::SendOffsets { .. }));
            assert_eq!(polled, last_is_offsets, "{plan:?}");
        }
        let aborted = plans.iter().filter(|p| !p.commit).count();
        assert!(
            (50..150).contains(&aborted),
            "about half aborted: {aborted}"
        );
    }

    #[test]
    fn only_an_acknowledged_commit_is_ok_and_only_a_sent_one_is_unknown() {
        assert_eq!(TxnEnd::Committed.op_type(), OpType::Ok);
        assert_eq!(TxnEnd::Aborted("x".into()).op_type(), OpType::Fail);
        assert_eq!(TxnEnd::Unknown("x".into()).op_type(), OpType::Info);
    }
}
