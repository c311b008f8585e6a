//! Protocol rules checked from the trace (issue #14 item 2b): every Produce, Fetch,
//! ListOffsets and OffsetForLeaderEpoch a simulated broker answers is judged against that
//! broker's own state when it answered, through the broker's request observer seam
//! ([`faultline_broker::node::RequestObserver`]). Some wrong answers are invisible to the
//! workload's clients (they retry, or treat two errors alike) yet break a promise of the
//! protocol; this sees them where they happen.
//!
//! Rules, and where they come from:
//! - KIP-320: an older `current_leader_epoch` is FENCED_LEADER_EPOCH, a newer one
//!   UNKNOWN_LEADER_EPOCH, an equal one neither ([`rules::leader_epoch`]);
//! - Kafka protocol guide, Fetch: a consumer fetch inside the log is never
//!   OFFSET_OUT_OF_RANGE, and one at exactly the high watermark (last stable offset under
//!   read_committed) has no records ([`rules::consumer_fetch`]);
//! - ListOffsets latest is never above the high watermark / last stable offset
//!   ([`rules::list_offsets_latest`]);
//! - KIP-98 idempotence and fencing, judged against the log ([`producer`]).
//!
//! - Kafka docs `min.insync.replicas`: an acks=all Produce reaching a leader whose ISR is
//!   below it is never acknowledged, and acks=0/1 are never refused for the ISR's size
//!   ([`rules::produce_min_insync`]). The cluster state checker
//!   ([`crate::invariants::acks`]) judges the same promise from the client's side: an
//!   acks=all acknowledgement needs the ISR at the minimum while the send was in flight.
//!
//! Deterministic and incremental: each answer is judged once, inline, from the state the
//! broker already holds; the world loop collects the first violation after each step.

pub mod producer;
pub mod rules;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use kafka_protocol::messages::{RequestKind, ResponseKind};

use faultline_broker::broker::Broker;
use faultline_broker::config::MessageTimestampType;
use faultline_broker::node::{PendingObservation, RequestObserver};
use faultline_broker::partition::Partition;
use faultline_checker::{Anomaly, AnomalyKind, CheckReport};

use rules::{FetchBounds, ProduceState};

/// Fetch / ListOffsets `isolation_level` of read_committed (KIP-98).
const READ_COMMITTED: i8 = 1;
/// ListOffsets' timestamp for the latest offset (protocol guide, ListOffsets).
const LATEST: i64 = -1;

/// The first broken rule of a run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProtocolViolation {
    /// The broker host that answered.
    pub host: String,
    /// The request kind.
    pub api: &'static str,
    /// The partition.
    pub partition: (String, i32),
    /// The evidence, naming the rule.
    pub detail: String,
}

/// What the checker found so far, shared by every broker's observer.
#[derive(Debug, Default)]
pub struct ProtocolLog {
    /// The first violation, with the simulated ns at which the world loop saw it.
    pub violation: Option<(u64, ProtocolViolation)>,
    /// Violations seen since the last step, not yet stamped.
    fresh: Option<ProtocolViolation>,
    /// Partition answers judged, per request kind.
    pub judged: BTreeMap<&'static str, u64>,
    /// Idempotent Produce answers judged, per case and answer's error code (how much of
    /// KIP-98 a run exercised); named only in the report, not per answer.
    pub produce_errors: BTreeMap<(&'static str, i16), u64>,
}

impl ProtocolLog {
    fn judged(
        &mut self,
        api: &'static str,
        host: &str,
        partition: (String, i32),
        verdict: Result<(), String>,
    ) {
        *self.judged.entry(api).or_insert(0) += 1;
        if let Err(detail) = verdict {
            if self.violation.is_none() && self.fresh.is_none() {
                self.fresh = Some(ProtocolViolation {
                    host: host.to_string(),
                    api,
                    partition,
                    detail,
                });
            }
        }
    }

    /// Stamps a violation seen during the step that ended at `time_ns`.
    pub fn after_step(&mut self, time_ns: u64) {
        if let Some(fresh) = self.fresh.take() {
            self.violation.get_or_insert((time_ns, fresh));
        }
    }

    /// The check's report: kind `protocol`, with how many answers each rule judged.
    pub fn report(&self) -> CheckReport {
        let anomalies = self
            .violation
            .iter()
            .map(|(time_ns, v)| Anomaly {
                kind: AnomalyKind::Protocol,
                key: None,
                ops: Vec::new(),
                description: format!(
                    "{} answered a {} of {}-{} at {:.3} s against the protocol: {}",
                    v.host,
                    v.api,
                    v.partition.0,
                    v.partition.1,
                    *time_ns as f64 / 1e9,
                    v.detail
                ),
            })
            .collect();
        let mut stats: BTreeMap<String, u64> = self
            .judged
            .iter()
            .map(|(api, n)| (format!("{api} answers judged"), *n))
            .collect();
        for (&(case, code), n) in &self.produce_errors {
            let error = faultline_wire::ResponseError::try_from_code(code)
                .map_or_else(|| "ok".to_string(), |e| format!("{e:?}"));
            *stats
                .entry(format!("idempotent Produce, {case}: {error}"))
                .or_insert(0) += n;
        }
        CheckReport::from_anomalies("protocol", anomalies, stats)
    }
}

/// One broker host's observer: it judges that broker's answers into the shared log.
#[derive(Debug, Clone)]
pub struct BrokerObserver {
    /// The host (`broker-N`).
    pub host: String,
    /// Where findings go.
    pub log: Arc<Mutex<ProtocolLog>>,
}

fn partition<'a>(broker: &'a Broker, topic: &str, index: i32) -> Option<&'a Partition> {
    broker.partitions.get(&(topic.to_string(), index))
}

/// The readable end of a leader's partition at an isolation level (KIP-98).
fn readable_end(p: &Partition, isolation_level: i8) -> i64 {
    if isolation_level == READ_COMMITTED {
        p.log.transactions().last_stable_offset(p.high_watermark)
    } else {
        p.high_watermark
    }
}

impl RequestObserver for BrokerObserver {
    fn request(
        &self,
        request: &RequestKind,
        broker: &Broker,
        now_ms: u64,
    ) -> Option<PendingObservation> {
        match request {
            RequestKind::Produce(r) => self.produce(r, broker, now_ms),
            RequestKind::Fetch(r) => Some(self.fetch(r)),
            RequestKind::ListOffsets(r) => Some(self.list_offsets(r)),
            RequestKind::OffsetForLeaderEpoch(r) => Some(self.offset_for_leader_epoch(r)),
            _ => None,
        }
    }
}

impl BrokerObserver {
    fn pending(
        &self,
        judge: impl FnOnce(&ResponseKind, &Broker, u64, &mut ProtocolLog, &str) + Send + 'static,
    ) -> PendingObservation {
        let (host, log) = (self.host.clone(), self.log.clone());
        Box::new(move |response, broker, now_ms| {
            let mut log = log.lock().expect("protocol log");
            judge(response, broker, now_ms, &mut log, &host);
        })
    }

    fn produce(
        &self,
        request: &kafka_protocol::messages::ProduceRequest,
        broker: &Broker,
        asked_ms: u64,
    ) -> Option<PendingObservation> {
        let mut idempotent = Vec::new();
        let mut leading = Vec::new();
        let mut log_append_time = Vec::new();
        let epoch_ms = broker.config.clock_epoch_ms;
        for topic in &request.topic_data {
            for data in &topic.partition_data {
                let Some(p) = partition(broker, &topic.name.0, data.index) else {
                    continue;
                };
                if !p.is_leader() {
                    continue;
                }
                let key = (topic.name.0.to_string(), data.index);
                let topic_config = broker.topic_config(&key.0);
                let state = ProduceState {
                    acks: request.acks,
                    isr: p.isr().len(),
                    min_insync_replicas: topic_config
                        .min_insync_replicas
                        .unwrap_or(broker.config.min_insync_replicas),
                };
                // An acks=all Produce at or above the minimum may get any answer: only the
                // others are kept for judging (the common case allocates nothing).
                if state.acks != -1 || (state.isr as i32) < state.min_insync_replicas {
                    leading.push((key.clone(), state));
                }
                let stamped =
                    topic_config.message_timestamp_type == MessageTimestampType::LogAppendTime;
                if stamped {
                    log_append_time.push((key.clone(), p.log.end_offset()));
                }
                let Some(batch) = data.records.as_deref().and_then(producer::batch_header) else {
                    continue;
                };
                if let Some(logged) = producer::producer_in_log(&p.log, batch.producer_id) {
                    idempotent.push((key, batch, logged));
                }
            }
        }
        if leading.is_empty() && log_append_time.is_empty() && idempotent.is_empty() {
            return None;
        }
        Some(
            self.pending(move |response, broker, answered_ms, log, host| {
                let ResponseKind::Produce(response) = response else {
                    return;
                };
                let answer = |key: &(String, i32)| {
                    response
                        .responses
                        .iter()
                        .filter(|t| t.name.0.as_str() == key.0)
                        .flat_map(|t| &t.partition_responses)
                        .find(|p| p.index == key.1)
                };
                for (key, state) in leading {
                    if let Some(answer) = answer(&key) {
                        let verdict = rules::produce_min_insync(state, answer.error_code);
                        log.judged("Produce", host, key, verdict);
                    }
                }
                let clock = (epoch_ms + asked_ms as i64, epoch_ms + answered_ms as i64);
                for (key, end_when_asked) in log_append_time {
                    let Some(answer) = answer(&key) else {
                        continue;
                    };
                    // A fresh append only: a retry answered from the producer's retained
                    // batches (KIP-98) keeps its first append's time.
                    if answer.error_code != 0 || answer.base_offset < end_when_asked {
                        continue;
                    }
                    let stamped = partition(broker, &key.0, key.1)
                        .and_then(|p| p.log.read_from(answer.base_offset, 1).first())
                        .map(|e| e.timestamp);
                    if let Some(stamped) = stamped {
                        let verdict = rules::log_append_time(stamped, clock);
                        log.judged("Produce", host, key, verdict);
                    }
                }
                for (key, batch, logged) in idempotent {
                    if let Some(answer) = answer(&key) {
                        let verdict = producer::produce(
                            batch,
                            &logged,
                            answer.error_code,
                            answer.base_offset,
                        );
                        if let Ok(case) = verdict {
                            *log.produce_errors
                                .entry((case, answer.error_code))
                                .or_insert(0) += 1;
                        }
                        log.judged("Produce", host, key, verdict.map(|_| ()));
                    }
                }
            }),
        )
    }

    fn fetch(&self, request: &kafka_protocol::messages::FetchRequest) -> PendingObservation {
        let consumer = request.replica_id.0 < 0 && request.replica_state.replica_id.0 < 0;
        let isolation_level = request.isolation_level;
        let asked: Vec<((String, i32), i32, i64)> = request
            .topics
            .iter()
            .flat_map(|t| {
                t.partitions.iter().map(|p| {
                    (
                        (t.topic.0.to_string(), p.partition),
                        p.current_leader_epoch,
                        p.fetch_offset,
                    )
                })
            })
            .collect();
        self.pending(move |response, broker, _, log, host| {
            let ResponseKind::Fetch(response) = response else {
                return;
            };
            for (key, current_leader_epoch, fetch_offset) in asked {
                let Some(p) = partition(broker, &key.0, key.1) else {
                    continue;
                };
                let Some(answer) = response
                    .responses
                    .iter()
                    .filter(|t| t.topic.0.as_str() == key.0)
                    .flat_map(|t| &t.partitions)
                    .find(|a| a.partition_index == key.1)
                else {
                    continue;
                };
                let error = answer.error_code;
                let verdict = rules::leader_epoch(current_leader_epoch, p.leader_epoch(), error);
                log.judged("Fetch", host, key.clone(), verdict);
                if consumer && p.is_leader() {
                    let bounds = FetchBounds {
                        log_start: p.log.log_start_offset(),
                        log_end: p.log.end_offset(),
                        readable_end: readable_end(p, isolation_level),
                    };
                    let bytes = answer.records.as_ref().map_or(0, |r| r.len());
                    let verdict = rules::consumer_fetch(fetch_offset, bounds, error, bytes);
                    log.judged("Fetch", host, key, verdict);
                }
            }
        })
    }

    fn list_offsets(
        &self,
        request: &kafka_protocol::messages::ListOffsetsRequest,
    ) -> PendingObservation {
        let isolation_level = request.isolation_level;
        let asked: Vec<((String, i32), i32, i64)> = request
            .topics
            .iter()
            .flat_map(|t| {
                t.partitions.iter().map(|p| {
                    (
                        (t.name.0.to_string(), p.partition_index),
                        p.current_leader_epoch,
                        p.timestamp,
                    )
                })
            })
            .collect();
        self.pending(move |response, broker, _, log, host| {
            let ResponseKind::ListOffsets(response) = response else {
                return;
            };
            for (key, current_leader_epoch, timestamp) in asked {
                let Some(p) = partition(broker, &key.0, key.1) else {
                    continue;
                };
                let Some(answer) = response
                    .topics
                    .iter()
                    .filter(|t| t.name.0.as_str() == key.0)
                    .flat_map(|t| &t.partitions)
                    .find(|a| a.partition_index == key.1)
                else {
                    continue;
                };
                let error = answer.error_code;
                let verdict = rules::leader_epoch(current_leader_epoch, p.leader_epoch(), error);
                log.judged("ListOffsets", host, key.clone(), verdict);
                if timestamp == LATEST && p.is_leader() {
                    let verdict = rules::list_offsets_latest(
                        answer.offset,
                        readable_end(p, isolation_level),
                        error,
                    );
                    log.judged("ListOffsets", host, key, verdict);
                }
            }
        })
    }

    fn offset_for_leader_epoch(
        &self,
        request: &kafka_protocol::messages::OffsetForLeaderEpochRequest,
    ) -> PendingObservation {
        let asked: Vec<((String, i32), i32)> = request
            .topics
            .iter()
            .flat_map(|t| {
                t.partitions
                    .iter()
                    .map(|p| ((t.topic.0.to_string(), p.partition), p.current_leader_epoch))
            })
            .collect();
        self.pending(move |response, broker, _, log, host| {
            let ResponseKind::OffsetForLeaderEpoch(response) = response else {
                return;
            };
            for (key, current_leader_epoch) in asked {
                let Some(p) = partition(broker, &key.0, key.1) else {
                    continue;
                };
                let Some(answer) = response
                    .topics
                    .iter()
                    .filter(|t| t.topic.0.as_str() == key.0)
                    .flat_map(|t| &t.partitions)
                    .find(|a| a.partition == key.1)
                else {
                    continue;
                };
                let verdict =
                    rules::leader_epoch(current_leader_epoch, p.leader_epoch(), answer.error_code);
                log.judged("OffsetForLeaderEpoch", host, key, verdict);
            }
        })
    }
}
