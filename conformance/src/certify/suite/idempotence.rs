//! The idempotent-producer suite (KIP-98): a batch resent with the same producer id,
//! epoch and sequence is not written twice, and a sequence gap is refused.

use std::time::Duration;

use bytes::Bytes;
use kafka_protocol::messages::{ApiKey, InitProducerIdRequest, ProducerId};

use faultline_wire::{ResponseError, Transport};

use super::partition_io::{
    leader, list_offset, produce, ProducerSequence, Versions, LATEST_TIMESTAMP,
};
use super::probe::{choose_version, no_version_reason, Probe, Property};
use super::produce_fetch::error_name;
use super::{run_token, SuiteTarget};
use crate::certify::model::PropertyResult;

/// InitProducerId versions the suite sends (v0 has every field an idempotent producer needs).
const INIT_PRODUCER_ID_VERSIONS: (i16, i16) = (0, 5);
/// The partition the suite writes to (away from partition 0, which the other suites use).
const PARTITION: i32 = 1;
/// Records per batch.
const BATCH_RECORDS: i32 = 3;
/// The out-of-order batch's first sequence: past the next expected one (BATCH_RECORDS).
const GAP_SEQUENCE: i32 = BATCH_RECORDS + 2;
/// How often InitProducerId is retried while the broker is still loading producer ids.
const INIT_ATTEMPTS: usize = 10;

const DUPLICATE_SEQUENCE: Property = Property {
    id: "idempotence.duplicate-sequence",
    title: "An idempotent producer's batch resent with the same sequence is acknowledged at the same offset (or DUPLICATE_SEQUENCE_NUMBER) and not written again",
    citation: "KIP-98 (Exactly Once Delivery and Transactional Messaging: producer id, epoch and sequence deduplication)",
};
const OUT_OF_ORDER_SEQUENCE: Property = Property {
    id: "idempotence.out-of-order-sequence",
    title:
        "An idempotent producer's batch with a sequence gap answers OUT_OF_ORDER_SEQUENCE_NUMBER",
    citation: "KIP-98 (the broker refuses a sequence that is not the last one + 1)",
};

/// Runs the suite.
pub async fn run<T: Transport>(transport: &T, target: &SuiteTarget) -> Vec<PropertyResult> {
    let both = [DUPLICATE_SEQUENCE, OUT_OF_ORDER_SEQUENCE];
    let (floor, ceiling) = INIT_PRODUCER_ID_VERSIONS;
    let Some(init_version) =
        choose_version(&target.advertised, ApiKey::InitProducerId, floor, ceiling)
    else {
        let why = no_version_reason(&target.advertised, ApiKey::InitProducerId, floor, ceiling);
        return both.iter().map(|p| p.not_applicable(why.clone())).collect();
    };
    let versions = Versions::of(&target.advertised);
    if let Some(why) = versions.missing(&target.advertised, true) {
        return both.iter().map(|p| p.not_applicable(why.clone())).collect();
    }
    let partition = if target.partitions > PARTITION {
        PARTITION
    } else {
        0
    };
    let mut probe = Probe::new(transport, target);
    let fail_both = |probe: &Probe<T>, why: String| -> Vec<PropertyResult> {
        let evidence = probe.evidence(why.clone());
        both.iter()
            .map(|p| p.fail(format!("Could not be exercised: {why}."), evidence.clone()))
            .collect()
    };
    let leader_address = match leader(&mut probe, target, partition).await {
        Ok(address) => address,
        Err(why) => return fail_both(&probe, why),
    };
    let (producer_id, producer_epoch) =
        match init_producer_id(&mut probe, target, init_version).await {
            Ok(found) => found,
            Err(why) => return fail_both(&probe, why),
        };
    let token = run_token();
    let values: Vec<Bytes> = (0..BATCH_RECORDS)
        .map(|i| Bytes::from(format!("faultline-{token}-idempotent-{i}")))
        .collect();
    let produce_version = versions.produce.expect("checked above");
    let list_version = versions.list_offsets.expect("checked above");
    let topic = &target.topic;
    let sequence = |first_sequence| {
        Some(ProducerSequence {
            producer_id,
            producer_epoch,
            first_sequence,
        })
    };
    let first = produce(
        &mut probe,
        &leader_address,
        produce_version,
        topic,
        partition,
        &values,
        -1,
        sequence(0),
    )
    .await;
    let base = match first {
        Ok(p) if p.error_code == 0 => p.base_offset,
        Ok(p) => {
            return fail_both(
                &probe,
                format!(
                    "the first idempotent batch (sequence 0) answered {}",
                    error_name(p.error_code)
                ),
            )
        }
        Err(e) => {
            return fail_both(
                &probe,
                format!("the first idempotent batch got no answer: {e}"),
            )
        }
    };
    let log_end_before = list_offset(
        &mut probe,
        &leader_address,
        list_version,
        topic,
        partition,
        LATEST_TIMESTAMP,
    )
    .await;
    let resent = produce(
        &mut probe,
        &leader_address,
        produce_version,
        topic,
        partition,
        &values,
        -1,
        sequence(0),
    )
    .await;
    let log_end_after = list_offset(
        &mut probe,
        &leader_address,
        list_version,
        topic,
        partition,
        LATEST_TIMESTAMP,
    )
    .await;
    let duplicate = judge_duplicate(&probe, base, log_end_before, resent, log_end_after);
    let gap = produce(
        &mut probe,
        &leader_address,
        produce_version,
        topic,
        partition,
        &values,
        -1,
        sequence(GAP_SEQUENCE),
    )
    .await;
    let from_gap = probe.exchanges.len() - 1;
    let out_of_order = match gap {
        Ok(p) if p.error_code == ResponseError::OutOfOrderSequenceNumber.code() => OUT_OF_ORDER_SEQUENCE.pass(format!(
            "After sequences 0..={} were written, a batch at sequence {GAP_SEQUENCE} answered OUT_OF_ORDER_SEQUENCE_NUMBER.",
            BATCH_RECORDS - 1
        )),
        Ok(p) => OUT_OF_ORDER_SEQUENCE.fail(
            format!(
                "After sequences 0..={} were written, a batch at sequence {GAP_SEQUENCE} answered {} (base offset {}).",
                BATCH_RECORDS - 1,
                error_name(p.error_code),
                p.base_offset
            ),
            probe.evidence_of("expected OUT_OF_ORDER_SEQUENCE_NUMBER (45)", &[0, from_gap]),
        ),
        Err(e) => OUT_OF_ORDER_SEQUENCE.fail(
            format!("A batch at sequence {GAP_SEQUENCE} got no usable answer: {e}."),
            probe.evidence_of(e, &[from_gap]),
        ),
    };
    vec![duplicate, out_of_order]
}

/// Judges the resend: acknowledged at `base` or DUPLICATE_SEQUENCE_NUMBER, and the log
/// end unmoved.
fn judge_duplicate<T: Transport>(
    probe: &Probe<T>,
    base: i64,
    log_end_before: Result<(i16, i64), String>,
    resent: Result<super::partition_io::Produced, String>,
    log_end_after: Result<(i16, i64), String>,
) -> PropertyResult {
    let evidence = |summary: String| probe.evidence(summary);
    let resent = match resent {
        Ok(p) => p,
        Err(e) => {
            return DUPLICATE_SEQUENCE.fail(
                format!("The resent batch got no usable answer: {e}."),
                evidence(e),
            )
        }
    };
    let (Ok((0, before)), Ok((0, after))) = (&log_end_before, &log_end_after) else {
        let why = "ListOffsets latest around the resend did not answer without error".to_string();
        return DUPLICATE_SEQUENCE.fail(format!("Could not be judged: {why}."), evidence(why));
    };
    let answer_ok = (resent.error_code == 0 && resent.base_offset == base)
        || resent.error_code == ResponseError::DuplicateSequenceNumber.code();
    let answer = format!(
        "{} at base offset {}",
        error_name(resent.error_code),
        resent.base_offset
    );
    if answer_ok && before == after {
        return DUPLICATE_SEQUENCE.pass(format!(
            "A batch of {BATCH_RECORDS} records (sequence 0) written at {base} was resent as is: the broker answered {answer} and the log end stayed at {after}."
        ));
    }
    DUPLICATE_SEQUENCE.fail(
        format!(
            "A batch of {BATCH_RECORDS} records (sequence 0) written at {base} was resent as is: the broker answered {answer}, and the log end went from {before} to {after}."
        ),
        evidence(if before != after {
            format!("the resent duplicate was written again: the log end moved from {before} to {after}")
        } else {
            format!("a duplicate must be acknowledged at the original base offset {base} or refused with DUPLICATE_SEQUENCE_NUMBER (46)")
        }),
    )
}

/// InitProducerId for an idempotent (non-transactional) producer, retried while the broker
/// answers a retriable error.
async fn init_producer_id<T: Transport>(
    probe: &mut Probe<T>,
    target: &SuiteTarget,
    version: i16,
) -> Result<(i64, i16), String> {
    let request = InitProducerIdRequest::default()
        .with_transactional_id(None)
        .with_transaction_timeout_ms(60_000)
        .with_producer_id(ProducerId(-1))
        .with_producer_epoch(-1);
    let mut last = String::from("no bootstrap address");
    for attempt in 0..INIT_ATTEMPTS {
        let address = &target.bootstrap[attempt % target.bootstrap.len()];
        match probe.send(address, &request, version, Duration::ZERO).await {
            Ok(r) if r.error_code == 0 && r.producer_id.0 >= 0 => {
                return Ok((r.producer_id.0, r.producer_epoch))
            }
            Ok(r) if r.error_code == 0 => {
                return Err("InitProducerId answered no producer id".into())
            }
            Ok(r) => {
                let retriable =
                    ResponseError::try_from_code(r.error_code).is_some_and(|e| e.is_retriable());
                last = format!("InitProducerId answered {}", error_name(r.error_code));
                if !retriable {
                    return Err(last);
                }
            }
            Err(e) => last = format!("InitProducerId got no answer: {e}"),
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    Err(last)
}
