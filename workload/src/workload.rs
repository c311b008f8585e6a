//! The queue workload: producers send unique values to partitions, consumers poll them by
//! assignment, and a final reader reads every partition to its end after faults heal, so
//! that a lost write can be told from a slow one (Jepsen's final reads).
//!
//! Every choice comes from the rng handed in, so a seed decides the workload.

use std::collections::BTreeMap;
use std::time::Duration;

use bytes::Bytes;
use kafka_protocol::records::Compression;
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use tokio::time::Instant;

use faultline_wire::records::BatchRecord;
use faultline_wire::Transport;

use crate::client::{KafkaClient, ProduceOutcome, VALUE_HEADER};
use crate::idempotent::IdempotentProducer;
use crate::recorder::Recorder;
use faultline_checker::history::{Function, Key, MicroOp, OpType, OpValue, Process, Value};

/// What the workload does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkloadConfig {
    /// The topic written and read.
    pub topic: String,
    /// Its partition count; partition `p` is Jepsen key `p`.
    pub partitions: i32,
    /// Produce `acks`: 0, 1 or -1 (all).
    pub acks: i16,
    /// Mean time between one producer's sends.
    pub send_interval: Duration,
    /// Mean time between one consumer's polls.
    pub poll_interval: Duration,
    /// Per-request timeout.
    pub request_timeout: Duration,
    /// How long final reads may take before giving up.
    pub final_read_timeout: Duration,
    /// Producers are idempotent (KIP-98): InitProducerId, sequences, and retries of
    /// indeterminate sends under the same sequence.
    pub idempotent: bool,
    /// Group members crash now and then: they stop without LeaveGroup, stay silent past
    /// their session timeout, and come back as new members.
    pub member_crashes: bool,
    /// When set, each consumer seeks back to the earliest offset this often and reads the
    /// partitions again (a replay). The checker sees the replay as a new process that
    /// assigns itself every partition, as a restarted Jepsen client would be: the re-read
    /// records must match what was read before (inconsistent-offsets, duplicate).
    pub replay_interval: Option<Duration>,
    /// Where each partition's history begins: consumers, group members without a
    /// committed offset and final reads start here instead of at offset 0. Live
    /// certification sets it to the log end seen before the workload, so records older
    /// than the run (earlier runs, the protocol suite) are never read. Empty: offset 0.
    pub start_offsets: BTreeMap<Key, i64>,
    /// How producers shape their batches.
    pub batch: BatchShape,
    /// DeleteRecords may move partitions' log start (an admin client runs, KIP-107): a
    /// consumer whose fetch fails asks for the earliest offset and, when its position fell
    /// below it, moves there as a new process (a consumer with `auto.offset.reset =
    /// earliest`), and final reads start at the log start. Off: exactly the old workload.
    pub log_start_moves: bool,
}

/// How a producer's sends look on the wire: how many records per batch, compressed how,
/// with headers or not. The default — one uncompressed record without headers — is the
/// workload as it always was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchShape {
    /// Records per produce (one batch, one history op with one send per record).
    pub batch_size: u32,
    /// The codec every batch is compressed with (Kafka protocol guide, "Record Batch").
    pub compression: Compression,
    /// Each record repeats its value in a [`VALUE_HEADER`] header, and consumers read a
    /// record whose header is missing or differs as a value nobody wrote (KIP-82 headers
    /// are part of the record: losing them is data loss).
    pub headers: bool,
    /// Batches an idempotent producer keeps in flight per connection
    /// (`max.in.flight.requests.per.connection`, at most 5 with idempotence, KIP-98);
    /// 1 sends one batch at a time.
    pub max_in_flight: u32,
}

impl Default for BatchShape {
    fn default() -> Self {
        BatchShape {
            batch_size: 1,
            compression: Compression::None,
            headers: false,
            max_in_flight: 1,
        }
    }
}

impl BatchShape {
    /// The records of one batch of `values`, each timestamped a millisecond after the
    /// previous one from `timestamp` (CreateTime, KIP-32).
    pub fn records(&self, values: &[Value], timestamp: i64) -> Vec<BatchRecord> {
        values
            .iter()
            .enumerate()
            .map(|(i, &value)| BatchRecord {
                key: None,
                value: Some(encode_value(value)),
                timestamp: timestamp + i as i64,
                headers: if self.headers {
                    vec![(VALUE_HEADER.to_string(), Some(encode_value(value)))]
                } else {
                    Vec::new()
                },
            })
            .collect()
    }
}

impl WorkloadConfig {
    /// Where `key`'s history begins.
    pub fn start_offset(&self, key: Key) -> i64 {
        self.start_offsets.get(&key).copied().unwrap_or(0)
    }
}

/// Encodes a value as a record value.
pub fn encode_value(value: Value) -> Bytes {
    Bytes::from(value.to_string())
}

/// Decodes a record value; anything that is not one of ours decodes to `u64::MAX`, which
/// no producer ever sends, so the checker reports it as a phantom.
pub fn decode_value(bytes: &[u8]) -> Value {
    std::str::from_utf8(bytes)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(u64::MAX)
}

/// A duration drawn uniformly from half to one and a half times `mean`.
pub fn jitter(rng: &mut ChaCha8Rng, mean: Duration) -> Duration {
    let ms = mean.as_millis() as u64;
    Duration::from_millis(rng.random_range(ms / 2..=ms + ms / 2))
}

/// Sends one batch of `batch.batch_size` values at a time to random partitions until
/// `stop_at`.
pub async fn run_producer<T: Transport>(
    mut client: KafkaClient<T>,
    recorder: Recorder,
    config: WorkloadConfig,
    mut rng: ChaCha8Rng,
    stop_at: Instant,
) {
    if config.idempotent && config.batch.max_in_flight > 1 {
        crate::pipelined::run_pipelined_producer(client, recorder, config, rng, stop_at).await;
        return;
    }
    let mut process = recorder.fresh_process();
    let mut idempotent = config.idempotent.then(IdempotentProducer::default);
    while Instant::now() < stop_at {
        faultline_wire::time::sleep(jitter(&mut rng, config.send_interval)).await;
        if Instant::now() >= stop_at {
            break;
        }
        let key: Key = rng.random_range(0..config.partitions) as Key;
        let values: Vec<Value> = (0..config.batch.batch_size.max(1))
            .map(|_| recorder.next_value(key))
            .collect();
        let sends = |offset: Option<i64>| -> Vec<MicroOp> {
            values
                .iter()
                .enumerate()
                .map(|(i, &value)| MicroOp::Send {
                    key,
                    value,
                    offset: offset.map(|base| base + i as i64),
                })
                .collect()
        };
        let invoke = sends(None);
        recorder.record(
            Process::Client(process),
            OpType::Invoke,
            Function::Send,
            OpValue::MicroOps(invoke.clone()),
            None,
        );
        let timestamp = recorder.now_ns() as i64 / 1_000_000;
        let records = config.batch.records(&values, timestamp);
        let compression = config.batch.compression;
        let outcome = match idempotent.as_mut() {
            Some(producer) => {
                producer
                    .send(
                        &mut client,
                        &config.topic,
                        key as i32,
                        &records,
                        compression,
                        config.acks,
                        stop_at,
                    )
                    .await
            }
            None => {
                client
                    .produce_as(
                        &config.topic,
                        key as i32,
                        &records,
                        compression,
                        config.acks,
                        None,
                    )
                    .await
            }
        };
        match outcome {
            ProduceOutcome::Ok(offset) => {
                let done = sends(Some(offset));
                recorder.record(
                    Process::Client(process),
                    OpType::Ok,
                    Function::Send,
                    OpValue::MicroOps(done),
                    None,
                );
            }
            ProduceOutcome::Fail(error) => {
                recorder.record(
                    Process::Client(process),
                    OpType::Fail,
                    Function::Send,
                    OpValue::MicroOps(invoke),
                    Some(error),
                );
            }
            ProduceOutcome::Info(error) => {
                recorder.record(
                    Process::Client(process),
                    OpType::Info,
                    Function::Send,
                    OpValue::MicroOps(invoke),
                    Some(error),
                );
                process = recorder.fresh_process();
            }
        }
    }
}

/// Polls every partition by assignment, from offset 0, until `stop_at`.
pub async fn run_consumer<T: Transport>(
    client: KafkaClient<T>,
    recorder: Recorder,
    config: WorkloadConfig,
    rng: ChaCha8Rng,
    stop_at: Instant,
) {
    let keys: Vec<Key> = (0..config.partitions as Key).collect();
    consume(client, recorder, config, keys, rng, stop_at).await;
}

/// Polls `keys` by assignment, from where their history begins, until `stop_at`.
pub(crate) async fn consume<T: Transport>(
    mut client: KafkaClient<T>,
    recorder: Recorder,
    config: WorkloadConfig,
    keys: Vec<Key>,
    mut rng: ChaCha8Rng,
    stop_at: Instant,
) {
    let (mut process, mut positions) = assign_from_earliest(&recorder, &config, &keys);
    let mut replay_at = config.replay_interval.map(|i| Instant::now() + i);
    while Instant::now() < stop_at {
        faultline_wire::time::sleep(jitter(&mut rng, config.poll_interval)).await;
        if Instant::now() >= stop_at {
            break;
        }
        if let (Some(at), Some(interval)) = (replay_at, config.replay_interval) {
            if Instant::now() >= at {
                (process, positions) = assign_from_earliest(&recorder, &config, &keys);
                replay_at = Some(Instant::now() + interval);
            }
        }
        let failed = poll_keys(&mut client, &recorder, &config, process, &mut positions, 50).await;
        if config.log_start_moves
            && !failed.is_empty()
            && crate::seek::skip_deleted(&mut client, &config.topic, &failed, &mut positions).await
        {
            process = assign(&recorder, &keys);
        }
    }
}

/// A fresh process that assigns itself `keys`.
pub(crate) fn assign(recorder: &Recorder, keys: &[Key]) -> u32 {
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

/// A fresh process that assigns itself `keys` and seeks every one to where its history
/// begins.
fn assign_from_earliest(
    recorder: &Recorder,
    config: &WorkloadConfig,
    keys: &[Key],
) -> (u32, BTreeMap<Key, i64>) {
    (
        assign(recorder, keys),
        keys.iter().map(|&k| (k, config.start_offset(k))).collect(),
    )
}

/// One `poll` op over every assigned partition. Returns whether any partition answered.
pub async fn poll_once<T: Transport>(
    client: &mut KafkaClient<T>,
    recorder: &Recorder,
    config: &WorkloadConfig,
    process: u32,
    positions: &mut BTreeMap<Key, i64>,
    max_wait_ms: i32,
) -> bool {
    let failed = poll_keys(client, recorder, config, process, positions, max_wait_ms).await;
    failed.len() < positions.len()
}

/// One `poll` op over every assigned partition. Returns the partitions whose fetch failed.
pub(crate) async fn poll_keys<T: Transport>(
    client: &mut KafkaClient<T>,
    recorder: &Recorder,
    config: &WorkloadConfig,
    process: u32,
    positions: &mut BTreeMap<Key, i64>,
    max_wait_ms: i32,
) -> Vec<Key> {
    recorder.record(
        Process::Client(process),
        OpType::Invoke,
        Function::Poll,
        OpValue::MicroOps(vec![MicroOp::Poll { reads: None }]),
        None,
    );
    let mut reads: BTreeMap<Key, Vec<(i64, Value)>> = BTreeMap::new();
    let mut leader_epochs: BTreeMap<Key, i32> = BTreeMap::new();
    let mut errors = Vec::new();
    let mut failed = Vec::new();
    let keys: Vec<Key> = positions.keys().copied().collect();
    for key in keys {
        let position = positions[&key];
        match client
            .fetch(&config.topic, key as i32, position, max_wait_ms)
            .await
        {
            Ok(fetched) => {
                let records: Vec<(i64, Value)> = fetched
                    .records
                    .iter()
                    .zip(&fetched.value_headers)
                    .map(|((offset, value), header)| {
                        let intact = !config.batch.headers || header.as_ref() == Some(value);
                        // A record whose header was lost or altered is not the record
                        // written: the checker sees a value nobody sent.
                        (
                            *offset,
                            if intact {
                                decode_value(value)
                            } else {
                                u64::MAX
                            },
                        )
                    })
                    .collect();
                positions.insert(key, fetched.next_offset);
                reads.insert(key, records);
                if let Some(epoch) = fetched.leader_epoch {
                    leader_epochs.insert(key, epoch);
                }
            }
            Err(error) => {
                errors.push(format!("partition {key}: {error}"));
                failed.push(key);
            }
        }
    }
    if !reads.is_empty() {
        recorder.record_poll(
            Process::Client(process),
            OpValue::MicroOps(vec![MicroOp::Poll { reads: Some(reads) }]),
            leader_epochs,
        );
    } else {
        recorder.record(
            Process::Client(process),
            OpType::Fail,
            Function::Poll,
            OpValue::MicroOps(vec![MicroOp::Poll { reads: None }]),
            Some(errors.join("; ")),
        );
    }
    failed
}

/// Reads every partition from where its history begins to the end it reports after the heal. Returns
/// whether it got there (every partition listed and read to its end) before the timeout.
pub async fn run_final_reads<T: Transport>(
    mut client: KafkaClient<T>,
    recorder: Recorder,
    config: WorkloadConfig,
) -> bool {
    let process = recorder.fresh_process();
    let deadline = Instant::now() + config.final_read_timeout;
    let mut ends: BTreeMap<Key, i64> = BTreeMap::new();
    for key in 0..config.partitions as Key {
        while Instant::now() < deadline {
            match client.list_offset(&config.topic, key as i32, -1).await {
                Ok(end) => {
                    ends.insert(key, end);
                    break;
                }
                Err(_) => faultline_wire::time::sleep(Duration::from_millis(200)).await,
            }
        }
    }
    let mut positions: BTreeMap<Key, i64> =
        ends.keys().map(|&k| (k, config.start_offset(k))).collect();
    if config.log_start_moves {
        let keys: Vec<Key> = positions.keys().copied().collect();
        while Instant::now() < deadline
            && !crate::seek::skip_deleted_all(&mut client, &config.topic, &keys, &mut positions)
                .await
        {
            faultline_wire::time::sleep(Duration::from_millis(200)).await;
        }
    }
    while Instant::now() < deadline {
        let pending: BTreeMap<Key, i64> = positions
            .iter()
            .filter(|(k, &p)| p < ends[k])
            .map(|(&k, &p)| (k, p))
            .collect();
        if pending.is_empty() {
            return ends.len() == config.partitions as usize;
        }
        let mut polled = pending;
        let answered = poll_once(&mut client, &recorder, &config, process, &mut polled, 0).await;
        positions.extend(polled);
        if !answered {
            faultline_wire::time::sleep(Duration::from_millis(200)).await;
        }
    }
    false
}
