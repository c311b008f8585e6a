//! The high watermark's contract: consumers never see records at or above it, and an
//! acks=all acknowledgement comes only once it has passed the records.

use faultline_wire::Transport;

use super::Context;
use crate::certify::model::PropertyResult;
use crate::certify::suite::probe::Property;

/// Rounds of acks=1 produce + immediate fetch for `fetch.below-high-watermark`.
pub(super) const HIGH_WATERMARK_ROUNDS: usize = 10;
/// Rounds of acks=all produce + immediate fetch for `produce.acks-all-committed`.
pub(super) const ACKS_ALL_ROUNDS: usize = 20;

pub(super) const BELOW_HIGH_WATERMARK: Property = Property {
    id: "fetch.below-high-watermark",
    title: "No consumer fetch returns a record at or above the high watermark it reports",
    citation: "Kafka replication design (consumers see only committed records, below the high watermark); KIP-392 keeps it for follower fetching",
};
pub(super) const ACKS_ALL_COMMITTED: Property = Property {
    id: "produce.acks-all-committed",
    title: "Right after an acks=all acknowledgement of offset o, the leader's high watermark is past o",
    citation: "Kafka protocol guide, Produce `acks` (-1: every in-sync replica has the records); Kafka's DelayedProduce completes only when the high watermark reaches them",
};

/// `fetch.below-high-watermark`: acks=1 produce with a fetch from its offset pipelined
/// right behind it.
pub(super) async fn below_high_watermark<T: Transport>(context: &Context<'_, T>) -> PropertyResult {
    let mut probe = context.probe();
    let mut violations = Vec::new();
    let mut exercised = 0;
    let mut next_offset = match context.list_offset(&mut probe, -1).await {
        Ok((0, end)) => end,
        _ => 0,
    };
    for round in 0..HIGH_WATERMARK_ROUNDS {
        let value = context.value(&format!("hw-{round}"));
        // The fetch is pipelined right behind the acks=1 produce, so it runs before any
        // follower can have replicated the record: a broker that serves uncommitted
        // records shows it every round.
        let Ok((produced, fetched)) = context
            .produce_then_fetch(&mut probe, &[value], 1, next_offset)
            .await
        else {
            continue;
        };
        if produced.error_code != 0 {
            continue;
        }
        next_offset = produced.base_offset + 1;
        if fetched.error_code != 0 {
            continue;
        }
        exercised += 1;
        let above: Vec<i64> = fetched
            .records
            .iter()
            .map(|(o, _)| *o)
            .filter(|&o| o >= fetched.high_watermark)
            .collect();
        if !above.is_empty() {
            violations.push((
                produced.exchange,
                fetched.exchange,
                above,
                fetched.high_watermark,
            ));
        }
    }
    if exercised == 0 {
        return BELOW_HIGH_WATERMARK.fail(
            format!("None of {HIGH_WATERMARK_ROUNDS} acks=1 produce + fetch rounds completed."),
            probe.evidence(
                "no round completed: the broker refused or dropped every produce or fetch",
            ),
        );
    }
    match violations.first() {
        None => BELOW_HIGH_WATERMARK.pass(format!(
            "{exercised} rounds of an acks=1 produce with a fetch from its offset pipelined right behind it: no fetch returned a record at or above the high watermark it reported."
        )),
        Some((produce_at, fetch_at, above, high_watermark)) => BELOW_HIGH_WATERMARK.fail(
            format!(
                "In {} of {exercised} rounds a fetch returned records at or above the high watermark it reported (first: offsets {above:?} with high watermark {high_watermark}).",
                violations.len()
            ),
            probe.evidence_of(
                format!("the fetch reported high watermark {high_watermark} and returned offsets {above:?}, which are not yet committed"),
                &[*produce_at, *fetch_at],
            ),
        ),
    }
}

/// `produce.acks-all-committed`: acks=all produce with a fetch pipelined right behind it
/// on the same connection. A broker handles one connection's requests in order (protocol
/// guide, "Network"), so the fetch reports the high watermark as it was when the produce
/// was answered — no timing luck involved.
pub(super) async fn acks_all_committed<T: Transport>(context: &Context<'_, T>) -> PropertyResult {
    let mut probe = context.probe();
    let mut violations = Vec::new();
    let mut exercised = 0;
    let mut next_offset = match context.list_offset(&mut probe, -1).await {
        Ok((0, end)) => end,
        _ => 0,
    };
    for round in 0..ACKS_ALL_ROUNDS {
        let value = context.value(&format!("acks-all-{round}"));
        let Ok((produced, fetched)) = context
            .produce_then_fetch(&mut probe, &[value], -1, next_offset)
            .await
        else {
            continue;
        };
        if produced.error_code != 0 {
            continue;
        }
        // The fetch only needs an offset the log has, to report the high watermark.
        next_offset = produced.base_offset + 1;
        if fetched.error_code != 0 {
            continue;
        }
        exercised += 1;
        if fetched.high_watermark <= produced.base_offset {
            violations.push((produced, fetched));
        }
    }
    if exercised == 0 {
        return ACKS_ALL_COMMITTED.fail(
            format!("None of {ACKS_ALL_ROUNDS} acks=all produce + fetch rounds completed."),
            probe.evidence("no round completed: the broker refused or dropped every acks=all produce or the fetch after it"),
        );
    }
    match violations.first() {
        None => ACKS_ALL_COMMITTED.pass(format!(
            "{exercised} acks=all acknowledgements, each with a fetch pipelined right behind it on the same connection: the leader's high watermark was always past the acknowledged offset."
        )),
        Some((produced, fetched)) => ACKS_ALL_COMMITTED.fail(
            format!(
                "{} of {exercised} acks=all acknowledgements came before the high watermark passed the record (first: acknowledged at {}, high watermark then {}).",
                violations.len(),
                produced.base_offset,
                fetched.high_watermark
            ),
            probe.evidence_of(
                format!(
                    "acks=all acknowledged offset {} but the fetch the leader handled right after it (pipelined on the same connection) reported high watermark {}: not every in-sync replica had it",
                    produced.base_offset, fetched.high_watermark
                ),
                &[produced.exchange, fetched.exchange],
            ),
        ),
    }
}
