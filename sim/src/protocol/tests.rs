//! Each protocol rule's violation and its near miss (STYLE.md: every anomaly kind has a
//! case that must trigger it and one that must not).

use bytes::Bytes;
use faultline_broker::log::{LogEntry, PartitionLog};
use faultline_broker::producer_state::BATCHES_RETAINED as BROKER_RETAINED;
use faultline_wire::ResponseError;

use super::producer::{self, BatchHeader, LoggedBatch, ProducerInLog};
use super::rules::{self, FetchBounds, ProduceState};
use super::{ProtocolLog, ProtocolViolation};

const OK: i16 = 0;

fn code(e: ResponseError) -> i16 {
    e.code()
}

#[test]
fn an_older_current_leader_epoch_is_fenced_and_a_newer_unknown() {
    let fenced = code(ResponseError::FencedLeaderEpoch);
    let unknown = code(ResponseError::UnknownLeaderEpoch);
    // KIP-320 as written: older → FENCED, newer → UNKNOWN, equal → neither.
    assert!(rules::leader_epoch(3, 5, fenced).is_ok());
    assert!(rules::leader_epoch(7, 5, unknown).is_ok());
    assert!(rules::leader_epoch(5, 5, OK).is_ok());
    assert!(rules::leader_epoch(-1, 5, OK).is_ok());
    assert!(rules::leader_epoch(3, 5, code(ResponseError::NotLeaderOrFollower)).is_ok());
    // Swapped, ignored, or raised on a match: broken.
    assert!(rules::leader_epoch(3, 5, unknown).is_err());
    assert!(rules::leader_epoch(7, 5, fenced).is_err());
    assert!(rules::leader_epoch(3, 5, OK).is_err());
    assert!(rules::leader_epoch(7, 5, OK).is_err());
    assert!(rules::leader_epoch(5, 5, fenced).is_err());
}

#[test]
fn log_append_time_is_the_broker_clock_at_the_append() {
    let clock = (1_700_000_010_000, 1_700_000_010_040);
    assert!(rules::log_append_time(1_700_000_010_000, clock).is_ok());
    assert!(rules::log_append_time(1_700_000_010_040, clock).is_ok());
    // The producer's own timestamp, or a clock run backwards: not the append time.
    assert!(rules::log_append_time(1_699_999_990_000, clock).is_err());
    assert!(rules::log_append_time(1_700_000_010_041, clock).is_err());
}

#[test]
fn min_insync_replicas_refuses_acks_all_only() {
    let state = |acks, isr| ProduceState {
        acks,
        isr,
        min_insync_replicas: 2,
    };
    let not_enough = code(ResponseError::NotEnoughReplicas);
    let after_append = code(ResponseError::NotEnoughReplicasAfterAppend);
    // acks=all below the minimum: refused (or refused for another reason), never acknowledged.
    assert!(rules::produce_min_insync(state(-1, 1), not_enough).is_ok());
    assert!(
        rules::produce_min_insync(state(-1, 1), code(ResponseError::NotLeaderOrFollower)).is_ok()
    );
    assert!(rules::produce_min_insync(state(-1, 1), OK).is_err());
    // At the minimum it may be acknowledged, or fall short after the append.
    assert!(rules::produce_min_insync(state(-1, 2), OK).is_ok());
    assert!(rules::produce_min_insync(state(-1, 2), after_append).is_ok());
    // acks=1 and acks=0 ignore the ISR's size, however small.
    assert!(rules::produce_min_insync(state(1, 1), OK).is_ok());
    assert!(rules::produce_min_insync(state(1, 1), not_enough).is_err());
    assert!(rules::produce_min_insync(state(1, 1), after_append).is_err());
    assert!(rules::produce_min_insync(state(0, 3), not_enough).is_err());
}

#[test]
fn a_fetch_at_the_high_watermark_is_empty_and_never_out_of_range() {
    let bounds = FetchBounds {
        log_start: 0,
        log_end: 10,
        readable_end: 10,
    };
    let out_of_range = code(ResponseError::OffsetOutOfRange);
    assert!(rules::consumer_fetch(10, bounds, OK, 0).is_ok());
    assert!(rules::consumer_fetch(4, bounds, OK, 300).is_ok());
    assert!(rules::consumer_fetch(11, bounds, out_of_range, 0).is_ok());
    assert!(rules::consumer_fetch(10, bounds, out_of_range, 0).is_err());
    assert!(rules::consumer_fetch(0, bounds, out_of_range, 0).is_err());
    let behind = FetchBounds {
        readable_end: 7,
        ..bounds
    };
    assert!(rules::consumer_fetch(7, behind, OK, 0).is_ok());
    assert!(rules::consumer_fetch(7, behind, OK, 120).is_err());
}

#[test]
fn list_offsets_latest_is_never_above_the_high_watermark() {
    assert!(rules::list_offsets_latest(7, 7, OK).is_ok());
    assert!(rules::list_offsets_latest(-1, 7, code(ResponseError::NotLeaderOrFollower)).is_ok());
    assert!(rules::list_offsets_latest(8, 7, OK).is_err());
}

fn batch(first_sequence: i32, last_sequence: i32) -> BatchHeader {
    BatchHeader {
        producer_id: 4,
        producer_epoch: 1,
        first_sequence,
        last_sequence,
    }
}

/// Producer 4, epoch 1, batches of two records at sequences 0.., newest first.
fn logged(batches: i32) -> ProducerInLog {
    ProducerInLog {
        producer_epoch: 1,
        retained: (0..batches)
            .rev()
            .map(|b| LoggedBatch {
                first_sequence: 2 * b,
                last_sequence: 2 * b + 1,
                base_offset: 100 + 10 * i64::from(b),
            })
            .collect(),
    }
}

#[test]
fn a_retained_duplicate_is_answered_with_its_original_offset() {
    let log = logged(3);
    assert!(producer::produce(batch(2, 3), &log, OK, 110).is_ok());
    assert!(producer::produce(batch(2, 3), &log, code(ResponseError::RequestTimedOut), -1).is_ok());
    assert!(producer::produce(batch(2, 3), &log, OK, 140).is_err());
    for error in [
        ResponseError::DuplicateSequenceNumber,
        ResponseError::OutOfOrderSequenceNumber,
    ] {
        assert!(producer::produce(batch(0, 1), &log, code(error), -1).is_err());
    }
}

#[test]
fn sequences_continue_or_are_out_of_order() {
    let log = logged(3);
    let duplicate = code(ResponseError::DuplicateSequenceNumber);
    let out_of_order = code(ResponseError::OutOfOrderSequenceNumber);
    // The next sequence is accepted, or refused for another reason.
    assert!(producer::produce(batch(6, 7), &log, OK, 150).is_ok());
    assert!(producer::produce(
        batch(6, 7),
        &log,
        code(ResponseError::NotEnoughReplicas),
        -1
    )
    .is_ok());
    assert!(producer::produce(batch(6, 7), &log, out_of_order, -1).is_err());
    assert!(producer::produce(batch(6, 7), &log, duplicate, -1).is_err());
    // A gap is OUT_OF_ORDER_SEQUENCE_NUMBER, never accepted, never DUPLICATE.
    assert!(producer::produce(batch(9, 9), &log, out_of_order, -1).is_ok());
    assert!(producer::produce(batch(9, 9), &log, duplicate, -1).is_err());
    assert!(producer::produce(batch(9, 9), &log, OK, 150).is_err());
}

#[test]
fn an_older_producer_epoch_never_succeeds() {
    let log = ProducerInLog {
        producer_epoch: 2,
        ..logged(1)
    };
    let fenced = code(ResponseError::InvalidProducerEpoch);
    assert!(producer::produce(batch(2, 3), &log, fenced, -1).is_ok());
    assert!(producer::produce(batch(2, 3), &log, OK, 120).is_err());
    // A newer epoch is the producer's own business (KIP-360): not judged.
    let newer = BatchHeader {
        producer_epoch: 3,
        ..batch(0, 0)
    };
    assert!(producer::produce(newer, &log, OK, 120).is_ok());
}

fn entry(offset: i64, producer_id: i64, sequence: i32) -> LogEntry {
    LogEntry {
        offset,
        leader_epoch: 0,
        timestamp: 0,
        key: None,
        value: Some(Bytes::from_static(b"v")),
        producer_id,
        producer_epoch: 1,
        sequence,
    }
}

#[test]
fn the_log_gives_each_producers_last_five_batches() {
    assert_eq!(producer::BATCHES_RETAINED, BROKER_RETAINED);
    // Seven single-record batches of producer 4 between batches of producer 9.
    let mut entries = Vec::new();
    for s in 0..7 {
        entries.push(entry(entries.len() as i64, 4, s));
        entries.push(entry(entries.len() as i64, 9, s));
    }
    let log = PartitionLog::from_entries(entries);
    let found = producer::producer_in_log(&log, 4).expect("producer 4 is in the log");
    assert_eq!(found.producer_epoch, 1);
    let sequences: Vec<i32> = found.retained.iter().map(|b| b.first_sequence).collect();
    assert_eq!(sequences, vec![6, 5, 4, 3, 2]);
    assert_eq!(found.retained[0].base_offset, 12);
    assert!(producer::producer_in_log(&log, 5).is_none());
}

#[test]
fn a_batch_header_is_read_from_the_wire_layout() {
    let mut bytes = vec![0u8; 61];
    bytes[8..12].copy_from_slice(&49u32.to_be_bytes());
    bytes[16] = 2;
    bytes[43..51].copy_from_slice(&7i64.to_be_bytes());
    bytes[51..53].copy_from_slice(&3i16.to_be_bytes());
    bytes[53..57].copy_from_slice(&10i32.to_be_bytes());
    bytes[57..61].copy_from_slice(&4i32.to_be_bytes());
    let header = producer::batch_header(&bytes).expect("one v2 batch");
    assert_eq!(
        header,
        BatchHeader {
            producer_id: 7,
            producer_epoch: 3,
            first_sequence: 10,
            last_sequence: 13,
        }
    );
    bytes[43..51].copy_from_slice(&(-1i64).to_be_bytes());
    assert!(producer::batch_header(&bytes).is_none(), "not idempotent");
}

#[test]
fn the_first_violation_is_reported_as_a_protocol_anomaly() {
    let mut log = ProtocolLog::default();
    log.judged("Fetch", "broker-1", ("t".into(), 0), Ok(()));
    log.after_step(5);
    assert!(log.report().anomalies.is_empty());
    log.judged("Fetch", "broker-2", ("t".into(), 1), Err("first".into()));
    log.judged("Fetch", "broker-2", ("t".into(), 1), Err("second".into()));
    log.after_step(9);
    let report = log.report();
    assert_eq!(report.anomalies.len(), 1);
    assert_eq!(
        report.anomalies[0].kind,
        faultline_checker::AnomalyKind::Protocol
    );
    assert!(report.anomalies[0].description.contains("first"));
    assert_eq!(
        log.violation.as_ref().map(|(t, v)| (*t, v.clone())),
        Some((
            9,
            ProtocolViolation {
                host: "broker-2".into(),
                api: "Fetch",
                partition: ("t".into(), 1),
                detail: "first".into()
            }
        ))
    );
}
