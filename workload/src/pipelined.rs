//! The idempotent producer with up to five batches in flight (KIP-98: with
//! `enable.idempotence`, `max.in.flight.requests.per.connection` may be up to 5, and
//! KAFKA-5494 keeps them in order): each round sends several batches of one partition, with
//! consecutive sequences, back to back on one connection, and retries every unacknowledged
//! one in sequence order, as the Java producer's `RecordAccumulator` does, until each is
//! acknowledged or its outcome is given up.
//!
//! Each in-flight batch is its own history op on its own process (a process has at most
//! one op outstanding, as in Jepsen), completed honestly: `ok` with the offset its
//! acknowledgement gave, `fail` only if every attempt was refused before any append
//! (the sequence check, `min.insync.replicas`), `info` otherwise. A batch refused for its
//! sequence or producer epoch while it is the oldest unacknowledged one can never be
//! written (the broker lost the producer's state, KIP-360): the round ends and the next
//! starts with a new producer id, as after `info`.

use std::collections::BTreeMap;
use std::time::Duration;

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use tokio::time::Instant;

use faultline_checker::history::{Function, Key, MicroOp, OpType, OpValue, Process, Value};
use faultline_wire::records::BatchRecord;
use faultline_wire::Transport;

use crate::client::pipelined::SequencedBatch;
use crate::client::{KafkaClient, ProduceOutcome};
use crate::recorder::Recorder;
use crate::workload::{jitter, WorkloadConfig};

/// Attempts per round before giving up with `info`.
const MAX_ATTEMPTS: u32 = 8;
/// Pause between attempts (Kafka's `retry.backoff.ms` is 100).
const RETRY_BACKOFF: Duration = Duration::from_millis(100);
/// KIP-98's bound on in-flight requests with idempotence (the broker retains 5 batches).
pub const MAX_IN_FLIGHT: u32 = 5;

/// One batch of a round.
struct InFlight {
    /// The process whose op it is.
    process: u32,
    /// Its values, one record each.
    values: Vec<Value>,
    /// Its records as sent.
    records: Vec<BatchRecord>,
    /// Its first sequence.
    sequence: i32,
    /// The acknowledged base offset.
    offset: Option<i64>,
    /// An attempt that may have written it, if any.
    maybe_written: Option<String>,
    /// The last refusal.
    refused: String,
}

/// Whether a refusal of the oldest unacknowledged batch means it can never be written.
fn lost_producer_state(error: &str) -> bool {
    let error = error.to_ascii_lowercase();
    error.contains("sequence") || error.contains("epoch") || error.contains("producer")
}

fn sends(key: Key, values: &[Value], offset: Option<i64>) -> OpValue {
    OpValue::MicroOps(
        values
            .iter()
            .enumerate()
            .map(|(i, &value)| MicroOp::Send {
                key,
                value,
                offset: offset.map(|base| base + i as i64),
            })
            .collect(),
    )
}

/// Sends rounds of 1..=`max_in_flight` pipelined batches to random partitions until
/// `stop_at`.
pub async fn run_pipelined_producer<T: Transport>(
    mut client: KafkaClient<T>,
    recorder: Recorder,
    config: WorkloadConfig,
    mut rng: ChaCha8Rng,
    stop_at: Instant,
) {
    let slots = config.batch.max_in_flight.clamp(1, MAX_IN_FLIGHT);
    let mut processes: Vec<u32> = (0..slots).map(|_| recorder.fresh_process()).collect();
    let mut identity: Option<(i64, i16)> = None;
    let mut sequences: BTreeMap<i32, i32> = BTreeMap::new();
    while Instant::now() < stop_at {
        faultline_wire::time::sleep(jitter(&mut rng, config.send_interval)).await;
        if Instant::now() >= stop_at {
            break;
        }
        let partition = rng.random_range(0..config.partitions);
        let count = rng.random_range(1..=slots) as usize;
        let (producer_id, producer_epoch) = match identity {
            Some(identity) => identity,
            None => match client.init_producer_id(None).await {
                Ok(fresh) => {
                    identity = Some(fresh);
                    sequences.clear();
                    fresh
                }
                Err(_) => continue,
            },
        };
        let key = partition as Key;
        let mut next = sequences.get(&partition).copied().unwrap_or(0);
        let mut round: Vec<InFlight> = Vec::with_capacity(count);
        for &process in &processes[..count] {
            let values: Vec<Value> = (0..config.batch.batch_size.max(1))
                .map(|_| recorder.next_value(key))
                .collect();
            recorder.record(
                Process::Client(process),
                OpType::Invoke,
                Function::Send,
                sends(key, &values, None),
                None,
            );
            let timestamp = recorder.now_ns() as i64 / 1_000_000;
            let records = config.batch.records(&values, timestamp);
            let sequence = next;
            next = next.wrapping_add(records.len() as i32);
            round.push(InFlight {
                process,
                values,
                records,
                sequence,
                offset: None,
                maybe_written: None,
                refused: String::new(),
            });
        }
        sequences.insert(partition, next);
        let identity_of_round = (producer_id, producer_epoch);
        let complete = send_round(
            &mut client,
            &config,
            partition,
            identity_of_round,
            &mut round,
            stop_at,
        )
        .await;
        for (slot, batch) in round.iter().enumerate() {
            let (kind, error) = match (batch.offset, &batch.maybe_written) {
                (Some(_), _) => (OpType::Ok, None),
                (None, Some(maybe)) => (OpType::Info, Some(maybe.clone())),
                (None, None) => (OpType::Fail, Some(batch.refused.clone())),
            };
            recorder.record(
                Process::Client(batch.process),
                kind,
                Function::Send,
                sends(key, &batch.values, batch.offset),
                error,
            );
            if kind == OpType::Info {
                processes[slot] = recorder.fresh_process();
            }
        }
        if !complete {
            // Some sequence may or may not be taken: a new producer id keeps later sends
            // from being judged against it (KIP-360 would bump the epoch; a new id is as safe).
            identity = None;
        }
    }
}

/// Sends the round's unacknowledged batches, in sequence order, until all are acknowledged,
/// the oldest can never be written, attempts run out or `stop_at` passes. Returns whether
/// every batch was acknowledged.
async fn send_round<T: Transport>(
    client: &mut KafkaClient<T>,
    config: &WorkloadConfig,
    partition: i32,
    (producer_id, producer_epoch): (i64, i16),
    round: &mut [InFlight],
    stop_at: Instant,
) -> bool {
    for attempt in 1..=MAX_ATTEMPTS {
        let pending: Vec<usize> = (0..round.len())
            .filter(|&i| round[i].offset.is_none())
            .collect();
        if pending.is_empty() {
            return true;
        }
        let batches: Vec<SequencedBatch<'_>> = pending
            .iter()
            .map(|&i| {
                let b = &round[i];
                (&b.records[..], (producer_id, producer_epoch, b.sequence))
            })
            .collect();
        let outcomes = client
            .produce_pipelined(
                &config.topic,
                partition,
                &batches,
                config.batch.compression,
                config.acks,
            )
            .await;
        let mut hopeless = false;
        for (n, (&i, outcome)) in pending.iter().zip(outcomes).enumerate() {
            let batch = &mut round[i];
            match outcome {
                ProduceOutcome::Ok(offset) => batch.offset = Some(offset),
                ProduceOutcome::Fail(error) => {
                    hopeless |= n == 0 && lost_producer_state(&error);
                    batch.refused = format!("attempt {attempt}: {error}");
                }
                ProduceOutcome::Info(error) => {
                    hopeless |= n == 0 && error.to_ascii_lowercase().contains("duplicate");
                    batch.maybe_written = Some(format!("attempt {attempt}: {error}"));
                }
            }
        }
        if round.iter().all(|b| b.offset.is_some()) {
            return true;
        }
        if hopeless || Instant::now() + RETRY_BACKOFF >= stop_at {
            return false;
        }
        faultline_wire::time::sleep(RETRY_BACKOFF).await;
    }
    round.iter().all(|b| b.offset.is_some())
}
