//! One transactional producer: InitProducerId for its `transactional.id`, then per
//! transaction AddPartitionsToTxn before the first produce to a partition, transactional
//! Produce (one batch per partition per run of sends), read_committed polls,
//! AddOffsetsToTxn + TxnOffsetCommit, and EndTxn (KIP-98, KIP-447). It records nothing
//! itself: [`TransactionalProducer::run`] records the op its caller numbered.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use faultline_checker::history::{
    Function, Key, MicroOp, Offset, OpType, OpValue, Process, ProducerIdentity, Value,
};
use faultline_wire::{ResponseError, Transport};

use super::{TxnConfig, TxnEnd, TxnPlan};
use crate::client::txn::TxnError;
use crate::client::{KafkaClient, ProduceOutcome};
use crate::recorder::Recorder;
use crate::workload::{decode_value, WorkloadConfig};

/// A transactional producer: its `transactional.id`, the identity InitProducerId granted,
/// its sequences, and the consumer positions its polls continue from.
#[derive(Debug)]
pub struct TransactionalProducer {
    /// The `transactional.id`; producers that share one fence each other.
    pub transactional_id: String,
    /// The granted identity; `None` until InitProducerId, and again once fenced or after a
    /// transaction whose end is unknown (a new InitProducerId aborts it, KIP-98).
    identity: Option<ProducerIdentity>,
    /// The next sequence per partition under the identity.
    sequences: BTreeMap<i32, i32>,
    /// The transaction coordinator's address, once found.
    coordinator: Option<String>,
    /// Where the next poll of each key starts.
    positions: BTreeMap<Key, Offset>,
}

/// Tries a coordinator call up to this many times while it answers `Retriable`.
const ATTEMPTS: u32 = 4;
/// Pause between attempts (Kafka's `retry.backoff.ms`).
const BACKOFF: Duration = Duration::from_millis(100);

impl TransactionalProducer {
    /// A producer of `transactional_id` whose polls start at `positions`.
    pub fn new(transactional_id: String, positions: BTreeMap<Key, Offset>) -> Self {
        TransactionalProducer {
            transactional_id,
            identity: None,
            sequences: BTreeMap::new(),
            coordinator: None,
            positions,
        }
    }

    /// The identity micro-op an op starts with: `init` before InitProducerId, else
    /// `producer`.
    fn identity_micro_op(&self) -> MicroOp {
        match self.identity {
            None => MicroOp::Init {
                transactional_id: self.transactional_id.clone(),
                granted: None,
            },
            Some(identity) => MicroOp::Producer {
                transactional_id: self.transactional_id.clone(),
                identity,
            },
        }
    }

    /// Runs one planned transaction as history op `process` and records it.
    pub async fn run<T: Transport>(
        &mut self,
        client: &mut KafkaClient<T>,
        recorder: &Recorder,
        config: &WorkloadConfig,
        txn: &TxnConfig,
        process: u32,
        plan: TxnPlan,
    ) -> TxnEnd {
        let mut done = vec![self.identity_micro_op()];
        done.extend(plan.micro_ops.iter().cloned());
        recorder.record(
            Process::Client(process),
            OpType::Invoke,
            Function::Txn,
            OpValue::MicroOps(done.clone()),
            None,
        );
        let timestamp_ms = (recorder.now_ns() / 1_000_000) as i64;
        // An aborted transaction's polls are undone, as a consume-transform-produce
        // application seeks back to its last committed position (KIP-98).
        let positions_before = self.positions.clone();
        let end = self
            .execute(client, config, txn, &plan, timestamp_ms, &mut done)
            .await;
        if matches!(end, TxnEnd::Aborted(_)) {
            self.positions = positions_before;
        }
        let error = match &end {
            TxnEnd::Committed => None,
            TxnEnd::Aborted(e) | TxnEnd::Unknown(e) => Some(e.clone()),
        };
        recorder.record(
            Process::Client(process),
            end.op_type(),
            Function::Txn,
            OpValue::MicroOps(done),
            error,
        );
        end
    }

    async fn execute<T: Transport>(
        &mut self,
        client: &mut KafkaClient<T>,
        config: &WorkloadConfig,
        txn: &TxnConfig,
        plan: &TxnPlan,
        timestamp_ms: i64,
        done: &mut [MicroOp],
    ) -> TxnEnd {
        let identity = match self.identity {
            Some(identity) => identity,
            None => match self.init(client, txn).await {
                Ok(identity) => {
                    done[0] = MicroOp::Init {
                        transactional_id: self.transactional_id.clone(),
                        granted: Some(identity),
                    };
                    identity
                }
                Err(e) => return TxnEnd::Aborted(format!("InitProducerId: {e}")),
            },
        };
        let mut added: BTreeSet<i32> = BTreeSet::new();
        let mut at = 0;
        while at < plan.micro_ops.len() {
            let step = match &plan.micro_ops[at] {
                MicroOp::Send { .. } => {
                    let end = plan.micro_ops[at..]
                        .iter()
                        .position(|op| !matches!(op, MicroOp::Send { .. }))
                        .map_or(plan.micro_ops.len(), |n| at + n);
                    let sent = self
                        .send_block(
                            client,
                            config,
                            identity,
                            (&mut added, timestamp_ms),
                            &mut done[1 + at..1 + end],
                        )
                        .await;
                    at = end;
                    sent
                }
                MicroOp::Poll { .. } => {
                    done[1 + at] = self.poll(client, config).await;
                    at += 1;
                    Ok(())
                }
                MicroOp::SendOffsets { group, .. } => {
                    let sent = self.send_offsets(client, config, identity, group).await;
                    if let Ok(offsets) = &sent {
                        done[1 + at] = MicroOp::SendOffsets {
                            group: group.clone(),
                            offsets: offsets.clone(),
                        };
                    }
                    at += 1;
                    sent.map(|_| ())
                }
                MicroOp::Init { .. } | MicroOp::Producer { .. } => {
                    at += 1;
                    Ok(())
                }
            };
            if let Err(error) = step {
                return self.abort(client, identity, error).await;
            }
        }
        if !plan.commit {
            return self
                .abort(
                    client,
                    identity,
                    TxnError::Transport("aborted by the workload".into()),
                )
                .await;
        }
        self.commit(client, identity).await
    }

    async fn coordinator<T: Transport>(
        &mut self,
        client: &mut KafkaClient<T>,
    ) -> Result<String, TxnError> {
        if let Some(address) = &self.coordinator {
            return Ok(address.clone());
        }
        let address = client
            .find_transaction_coordinator(&self.transactional_id)
            .await?;
        self.coordinator = Some(address.clone());
        Ok(address)
    }

    async fn init<T: Transport>(
        &mut self,
        client: &mut KafkaClient<T>,
        txn: &TxnConfig,
    ) -> Result<ProducerIdentity, TxnError> {
        let mut last = TxnError::Transport("no attempt".into());
        for _ in 0..ATTEMPTS {
            let coordinator = self.coordinator(client).await?;
            match client
                .init_transactional(
                    &coordinator,
                    &self.transactional_id,
                    txn.transaction_timeout_ms,
                )
                .await
            {
                Ok(identity) => {
                    self.identity = Some(identity);
                    self.sequences.clear();
                    return Ok(identity);
                }
                Err(error @ (TxnError::Retriable(_) | TxnError::Transport(_))) => {
                    self.coordinator = None;
                    last = error;
                    faultline_wire::time::sleep(BACKOFF).await;
                }
                Err(error) => return Err(error),
            }
        }
        Err(last)
    }

    /// Adds the block's partitions to the transaction, then sends each partition's values
    /// as one batch, in the order first sent.
    async fn send_block<T: Transport>(
        &mut self,
        client: &mut KafkaClient<T>,
        config: &WorkloadConfig,
        identity: ProducerIdentity,
        (added, timestamp_ms): (&mut BTreeSet<i32>, i64),
        block: &mut [MicroOp],
    ) -> Result<(), TxnError> {
        let mut by_key: Vec<(Key, Vec<Value>)> = Vec::new();
        for op in block.iter() {
            if let MicroOp::Send { key, value, .. } = op {
                match by_key.iter_mut().find(|(k, _)| k == key) {
                    Some((_, values)) => values.push(*value),
                    None => by_key.push((*key, vec![*value])),
                }
            }
        }
        let new: Vec<i32> = by_key
            .iter()
            .map(|(key, _)| *key as i32)
            .filter(|p| !added.contains(p))
            .collect();
        if !new.is_empty() {
            let coordinator = self.coordinator(client).await?;
            let mut attempt = 1;
            loop {
                let added_now = client
                    .add_partitions_to_txn(
                        &coordinator,
                        &self.transactional_id,
                        identity,
                        &config.topic,
                        &new,
                    )
                    .await;
                match added_now {
                    Err(TxnError::Retriable(_)) if attempt < ATTEMPTS => attempt += 1,
                    other => break other?,
                }
                faultline_wire::time::sleep(BACKOFF).await;
            }
            added.extend(new);
        }
        for (key, values) in by_key {
            let partition = key as i32;
            let sequence = self.sequences.get(&partition).copied().unwrap_or(0);
            let records = config.batch.records(&values, timestamp_ms);
            let outcome = client
                .produce_transactional(
                    &self.transactional_id,
                    &config.topic,
                    partition,
                    &records,
                    identity,
                    sequence,
                )
                .await;
            match outcome {
                ProduceOutcome::Ok(base) => {
                    self.sequences
                        .insert(partition, sequence.wrapping_add(values.len() as i32));
                    acknowledge(block, key, &values, base);
                }
                ProduceOutcome::Fail(e) | ProduceOutcome::Info(e) => {
                    // The batch's sequence may or may not be taken: reusing it would make
                    // the next batch a "duplicate" of this one. A new InitProducerId (next
                    // transaction) bumps the epoch and restarts sequences (KIP-360).
                    self.forget_identity();
                    return Err(TxnError::Transport(format!("produce to {key}: {e}")));
                }
            }
        }
        Ok(())
    }

    /// One read_committed poll of every key from the producer's positions.
    async fn poll<T: Transport>(
        &mut self,
        client: &mut KafkaClient<T>,
        config: &WorkloadConfig,
    ) -> MicroOp {
        let mut reads: BTreeMap<Key, Vec<(Offset, Value)>> = BTreeMap::new();
        let keys: Vec<Key> = self.positions.keys().copied().collect();
        for key in keys {
            let position = self.positions[&key];
            if let Ok(fetched) = client.fetch(&config.topic, key as i32, position, 0).await {
                let records = fetched
                    .records
                    .iter()
                    .map(|(offset, value)| (*offset, decode_value(value)))
                    .collect();
                self.positions.insert(key, fetched.next_offset);
                reads.insert(key, records);
            }
        }
        MicroOp::Poll { reads: Some(reads) }
    }

    /// AddOffsetsToTxn, then TxnOffsetCommit of every position to the group.
    async fn send_offsets<T: Transport>(
        &mut self,
        client: &mut KafkaClient<T>,
        config: &WorkloadConfig,
        identity: ProducerIdentity,
        group: &str,
    ) -> Result<BTreeMap<Key, Offset>, TxnError> {
        let coordinator = self.coordinator(client).await?;
        let mut attempt = 1;
        loop {
            let added = client
                .add_offsets_to_txn(&coordinator, &self.transactional_id, identity, group)
                .await;
            match added {
                // CONCURRENT_TRANSACTIONS while the previous transaction's markers are
                // written: Kafka's client retries it.
                Err(TxnError::Retriable(_)) if attempt < ATTEMPTS => attempt += 1,
                other => break other?,
            }
            faultline_wire::time::sleep(BACKOFF).await;
        }
        let group_coordinator = client
            .find_coordinator(group)
            .await
            .map_err(|e| TxnError::Transport(format!("FindCoordinator: {e}")))?;
        let offsets: BTreeMap<i32, i64> = self
            .positions
            .iter()
            .map(|(&key, &offset)| (key as i32, offset))
            .collect();
        client
            .txn_offset_commit(
                &group_coordinator,
                &self.transactional_id,
                identity,
                group,
                &config.topic,
                &offsets,
            )
            .await?;
        Ok(self.positions.clone())
    }

    /// Ends the transaction with EndTxn(abort) after `error`. Whatever EndTxn answers, no
    /// commit was sent, so the transaction is `fail`. An unanswered abort leaves it to the
    /// next InitProducerId (which aborts it) or to the transaction timeout.
    async fn abort<T: Transport>(
        &mut self,
        client: &mut KafkaClient<T>,
        identity: ProducerIdentity,
        error: TxnError,
    ) -> TxnEnd {
        let ended = match self.coordinator(client).await {
            Ok(coordinator) => {
                client
                    .end_txn(&coordinator, &self.transactional_id, identity, false)
                    .await
            }
            Err(e) => Err(e),
        };
        if matches!(error, TxnError::Fenced(_)) || ended.is_err() {
            self.forget_identity();
        }
        TxnEnd::Aborted(error.to_string())
    }

    /// EndTxn(commit), repeated while the coordinator answers `Retriable`.
    async fn commit<T: Transport>(
        &mut self,
        client: &mut KafkaClient<T>,
        identity: ProducerIdentity,
    ) -> TxnEnd {
        let mut sent = false;
        // An attempt that went unanswered may have committed: a later refusal (the epoch
        // fenced meanwhile, KIP-98) then says nothing about the first one.
        let mut maybe_committed = false;
        let mut last = String::from("no attempt");
        for _ in 0..ATTEMPTS {
            let coordinator = match self.coordinator(client).await {
                Ok(c) => c,
                Err(e) => {
                    last = e.to_string();
                    faultline_wire::time::sleep(BACKOFF).await;
                    continue;
                }
            };
            sent = true;
            match client
                .end_txn(&coordinator, &self.transactional_id, identity, true)
                .await
            {
                Ok(()) => return TxnEnd::Committed,
                // Refused outright: the coordinator did not commit it (a fenced epoch's
                // transaction was aborted by the newer InitProducerId, KIP-98) — unless an
                // earlier attempt may have.
                Err(error @ (TxnError::Fenced(_) | TxnError::Abortable(_))) => {
                    self.forget_identity();
                    let text = format!("EndTxn(commit): {error} ({last} before)");
                    // A timeout answered by the coordinator says its PrepareCommit was not
                    // replicated in time, not that it was dropped: it may still complete
                    // (Kafka's TransactionStateManager answers such appends
                    // COORDINATOR_NOT_AVAILABLE and lets the client retry into the outcome).
                    let ambiguous = matches!(
                        error,
                        TxnError::Abortable(
                            ResponseError::RequestTimedOut
                                | ResponseError::NotEnoughReplicasAfterAppend
                        )
                    );
                    return if maybe_committed || ambiguous {
                        TxnEnd::Unknown(text)
                    } else {
                        TxnEnd::Aborted(format!("EndTxn(commit): {error}"))
                    };
                }
                Err(error) => {
                    maybe_committed |= matches!(error, TxnError::Transport(_));
                    self.coordinator = None;
                    last = error.to_string();
                    faultline_wire::time::sleep(BACKOFF).await;
                }
            }
        }
        self.forget_identity();
        if maybe_committed {
            TxnEnd::Unknown(format!("EndTxn(commit): {last}"))
        } else if sent {
            // Every attempt was answered with a retriable refusal: none was processed.
            TxnEnd::Aborted(format!("EndTxn(commit) refused: {last}"))
        } else {
            TxnEnd::Aborted(format!("EndTxn(commit) never sent: {last}"))
        }
    }

    fn forget_identity(&mut self) {
        self.identity = None;
        self.coordinator = None;
        self.sequences.clear();
    }
}

/// Writes the acknowledged offsets of `values` (sent to `key` from `base` on) into the
/// block's send micro-ops.
fn acknowledge(block: &mut [MicroOp], key: Key, values: &[Value], base: Offset) {
    for op in block.iter_mut() {
        if let MicroOp::Send {
            key: k,
            value,
            offset,
        } = op
        {
            if *k == key {
                if let Some(i) = values.iter().position(|v| v == value) {
                    *offset = Some(base + i as Offset);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn acknowledged_offsets_follow_the_batch_order_per_key() {
        let send = |key, value| MicroOp::Send {
            key,
            value,
            offset: None,
        };
        let mut block = vec![send(0, 1), send(1, 4), send(0, 2)];
        acknowledge(&mut block, 0, &[1, 2], 10);
        assert_eq!(
            block,
            vec![
                MicroOp::Send {
                    key: 0,
                    value: 1,
                    offset: Some(10)
                },
                send(1, 4),
                MicroOp::Send {
                    key: 0,
                    value: 2,
                    offset: Some(11)
                },
            ]
        );
    }

    #[test]
    fn the_first_transaction_asks_for_an_epoch_and_later_ones_name_theirs() {
        let mut producer = TransactionalProducer::new("t0".into(), BTreeMap::new());
        assert_eq!(
            producer.identity_micro_op(),
            MicroOp::Init {
                transactional_id: "t0".into(),
                granted: None
            }
        );
        let identity = ProducerIdentity {
            producer_id: 3,
            producer_epoch: 1,
        };
        producer.identity = Some(identity);
        assert_eq!(
            producer.identity_micro_op(),
            MicroOp::Producer {
                transactional_id: "t0".into(),
                identity
            }
        );
        producer.forget_identity();
        assert!(matches!(producer.identity_micro_op(), MicroOp::Init { .. }));
    }
}
