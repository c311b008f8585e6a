//! The idempotent producer's send: one history op, retried under the same sequence until
//! its outcome is known (KIP-98).
//!
//! This is the one place the client retries. It is honest because the broker
//! deduplicates: a retry of a batch that was already written is answered with the
//! original offset, so however many attempts it takes, the record is written at most
//! once and the op's single completion says what happened — `ok` with the offset if any
//! attempt was acknowledged, `fail` only if every attempt was refused before any append,
//! `info` if an attempt may have written it and none was acknowledged before giving up.

use std::collections::BTreeMap;
use std::time::Duration;

use kafka_protocol::records::Compression;
use tokio::time::Instant;

use faultline_wire::records::BatchRecord;

use faultline_wire::Transport;

use crate::client::{KafkaClient, ProduceOutcome};

/// Attempts per send before giving up with `info`.
const MAX_ATTEMPTS: u32 = 8;
/// Pause between attempts (Kafka's `retry.backoff.ms` is 100).
const RETRY_BACKOFF: Duration = Duration::from_millis(100);

/// An idempotent producer's identity and per-partition sequences.
#[derive(Debug, Default)]
pub struct IdempotentProducer {
    /// `(producer_id, producer_epoch)` from InitProducerId; `None` until fetched, and
    /// again after a send whose sequence may or may not have been used.
    identity: Option<(i64, i16)>,
    /// The next sequence per partition.
    sequences: BTreeMap<i32, i32>,
}

impl IdempotentProducer {
    /// Sends `records` as one batch to one partition; retries indeterminate attempts
    /// until `stop_at`.
    #[allow(clippy::too_many_arguments)]
    pub async fn send<T: Transport>(
        &mut self,
        client: &mut KafkaClient<T>,
        topic: &str,
        partition: i32,
        records: &[BatchRecord],
        compression: Compression,
        acks: i16,
        stop_at: Instant,
    ) -> ProduceOutcome {
        let (producer_id, producer_epoch) = match self.identity {
            Some(identity) => identity,
            None => match client.init_producer_id(None).await {
                Ok(identity) => {
                    self.identity = Some(identity);
                    self.sequences.clear();
                    identity
                }
                Err(error) => return ProduceOutcome::Fail(format!("InitProducerId: {error}")),
            },
        };
        let sequence = self.sequences.get(&partition).copied().unwrap_or(0);
        let batch = Some((producer_id, producer_epoch, sequence));
        let mut maybe_written: Option<String> = None;
        for attempt in 1..=MAX_ATTEMPTS {
            let outcome = client
                .produce_as(topic, partition, records, compression, acks, batch)
                .await;
            match outcome {
                ProduceOutcome::Ok(offset) => {
                    self.sequences
                        .insert(partition, sequence.wrapping_add(records.len() as i32));
                    return ProduceOutcome::Ok(offset);
                }
                ProduceOutcome::Fail(error) if maybe_written.is_none() => {
                    if error.contains("sequence") || error.contains("epoch") {
                        // The broker's producer state and ours disagree: start afresh.
                        self.identity = None;
                    }
                    return ProduceOutcome::Fail(error);
                }
                ProduceOutcome::Fail(error) | ProduceOutcome::Info(error) => {
                    maybe_written = Some(format!("attempt {attempt}: {error}"));
                }
            }
            if Instant::now() + RETRY_BACKOFF >= stop_at {
                break;
            }
            faultline_wire::time::sleep(RETRY_BACKOFF).await;
        }
        // The sequence may or may not be taken: a new producer id keeps later sends from
        // being judged against it (KIP-360 would bump the epoch; a new id is as safe).
        self.identity = None;
        ProduceOutcome::Info(maybe_written.unwrap_or_else(|| "gave up".into()))
    }
}
