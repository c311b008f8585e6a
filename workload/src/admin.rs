//! The admin/seek client: a consumer that truncates what it has consumed with
//! DeleteRecords (KIP-107, as Kafka Streams purges repartition topics up to its committed
//! offsets) and asks ListOffsets at every kind of timestamp — earliest, latest,
//! MAX_TIMESTAMP (KIP-734), by timestamp (KIP-79) — at both isolation levels, recording
//! each as a `delete-records` or `list-offsets` op; the backlog consumer, which starts late
//! and reads a partition's backlog in large fetches (issue #14 item 2b: consumers that
//! seek to the end or to a timestamp under failover).
//!
//! Every choice comes from the rng handed in, so a seed decides the workload.

use std::collections::BTreeMap;
use std::time::Duration;

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use tokio::time::Instant;

use faultline_checker::history::{AdminOp, Function, Key, OpType, OpValue, Process};
use faultline_wire::{ResponseError, Transport};

use crate::client::admin::AdminError;
use crate::client::KafkaClient;
use crate::recorder::Recorder;
use crate::seek::{skip_deleted, skip_deleted_all};
use crate::workload::{consume, jitter, poll_keys, WorkloadConfig};

/// What the admin client does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminConfig {
    /// Mean time between its steps (a poll, then one admin request).
    pub interval: Duration,
    /// Records it keeps below its own position when it deletes, as retention keeps a
    /// tail, so a late consumer still finds a backlog.
    pub retain_records: i64,
}

/// ListOffsets sentinels (Kafka protocol guide, ListOffsets; KIP-734).
const EARLIEST: i64 = -2;
const LATEST: i64 = -1;
const MAX_TIMESTAMP: i64 = -3;

/// Polls every partition like a consumer and, after each poll, sends one admin request
/// for a random partition, until `stop_at`.
pub async fn run_admin<T: Transport>(
    mut client: KafkaClient<T>,
    recorder: Recorder,
    config: WorkloadConfig,
    admin: AdminConfig,
    mut rng: ChaCha8Rng,
    stop_at: Instant,
) {
    let keys: Vec<Key> = (0..config.partitions as Key).collect();
    let mut reader = crate::workload::assign(&recorder, &keys);
    let mut positions: BTreeMap<Key, i64> =
        keys.iter().map(|&k| (k, config.start_offset(k))).collect();
    let mut process = recorder.fresh_process();
    let mut deleted: BTreeMap<Key, i64> = BTreeMap::new();
    while Instant::now() < stop_at {
        faultline_wire::time::sleep(jitter(&mut rng, admin.interval)).await;
        if Instant::now() >= stop_at {
            break;
        }
        let failed = poll_keys(&mut client, &recorder, &config, reader, &mut positions, 0).await;
        if !failed.is_empty()
            && skip_deleted(&mut client, &config.topic, &failed, &mut positions).await
        {
            reader = crate::workload::assign(&recorder, &keys);
        }
        let key: Key = rng.random_range(0..config.partitions) as Key;
        let request = match rng.random_range(0..5) {
            0 => {
                // Only what it has itself consumed, minus the retained tail.
                let from = deleted.get(&key).copied().unwrap_or(0);
                let to = positions[&key] - admin.retain_records;
                if to <= from {
                    continue;
                }
                AdminOp::delete_records(key, rng.random_range(from + 1..=to))
            }
            kind => {
                let timestamp = match kind {
                    1 => EARLIEST,
                    2 => LATEST,
                    3 => MAX_TIMESTAMP,
                    _ => rng.random_range(0..=recorder.now_ns() as i64 / 1_000_000),
                };
                AdminOp::list_offsets(key, timestamp, rng.random_bool(0.5))
            }
        };
        let answered = ask(&mut client, &recorder, &config, process, request).await;
        match answered {
            Some(AdminOp {
                low_watermark: Some(low_watermark),
                ..
            }) => {
                let entry = deleted.entry(key).or_insert(0);
                *entry = (*entry).max(low_watermark);
            }
            Some(_) => {}
            None => process = recorder.fresh_process(),
        }
    }
}

/// Sends one admin request and records it: `ok` with the answer, `fail` on a broker error
/// (nothing happened), `info` without an answer (it may have happened). Returns the
/// answered op on `ok`, the request on `fail`, `None` on `info`.
async fn ask<T: Transport>(
    client: &mut KafkaClient<T>,
    recorder: &Recorder,
    config: &WorkloadConfig,
    process: u32,
    request: AdminOp,
) -> Option<AdminOp> {
    let f = if request.offset.is_some() {
        Function::DeleteRecords
    } else {
        Function::ListOffsets
    };
    let record = |kind, op: &AdminOp, error| {
        recorder.record(
            Process::Client(process),
            kind,
            f,
            OpValue::Admin(op.clone()),
            error,
        )
    };
    record(OpType::Invoke, &request, None);
    let partition = request.key as i32;
    let outcome = match (request.offset, request.timestamp) {
        (Some(offset), _) => client
            .delete_records(&config.topic, partition, offset)
            .await
            .map(|(low_watermark, epoch)| AdminOp {
                low_watermark: Some(low_watermark),
                leader_epoch: epoch,
                ..request.clone()
            }),
        (None, timestamp) => client
            .list_offsets_at(
                &config.topic,
                partition,
                timestamp.unwrap_or(LATEST),
                request.read_committed as i8,
            )
            .await
            .map(|(answer, epoch)| AdminOp {
                answer: Some(answer),
                leader_epoch: epoch,
                ..request.clone()
            }),
    };
    match outcome {
        Ok(answered) => {
            record(OpType::Ok, &answered, None);
            Some(answered)
        }
        // A DeleteRecords the leader applied may still end REQUEST_TIMED_OUT or
        // NOT_LEADER_OR_FOLLOWER while it waits for the followers (Kafka's
        // `DelayedDeleteRecords`): only a refused offset proves nothing happened.
        Err(AdminError::Broker(error))
            if f == Function::ListOffsets || error == ResponseError::OffsetOutOfRange =>
        {
            record(OpType::Fail, &request, Some(error.to_string()));
            Some(request)
        }
        Err(AdminError::Broker(error)) => {
            record(OpType::Info, &request, Some(error.to_string()));
            None
        }
        Err(AdminError::NoAnswer(error)) => {
            record(OpType::Info, &request, Some(error));
            None
        }
    }
}

/// A consumer of partition `key` that starts `start_after` into the run, so it finds a
/// backlog of many small records and reads it in fetches that reach the broker's
/// per-partition record cap (`broker-model/src/handlers/fetch.rs`); its polls are judged
/// by the log checker like any other.
pub async fn run_backlog_consumer<T: Transport>(
    mut client: KafkaClient<T>,
    recorder: Recorder,
    config: WorkloadConfig,
    key: Key,
    start_after: Duration,
    rng: ChaCha8Rng,
    stop_at: Instant,
) {
    faultline_wire::time::sleep(start_after).await;
    let mut config = config;
    if config.log_start_moves {
        // Start where the log now starts: the deleted prefix is gone (KIP-107).
        let mut positions = BTreeMap::from([(key, config.start_offset(key))]);
        while Instant::now() < stop_at
            && !skip_deleted_all(&mut client, &config.topic, &[key], &mut positions).await
        {
            faultline_wire::time::sleep(Duration::from_millis(200)).await;
        }
        config.start_offsets.insert(key, positions[&key]);
    }
    consume(client, recorder, config, vec![key], rng, stop_at).await;
}
