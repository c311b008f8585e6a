//! Error codes: a fetch past the log end, and a partition that does not exist.

use faultline_wire::{ResponseError, Transport};

use super::{error_name, show, Context};
use crate::certify::model::PropertyResult;
use crate::certify::suite::partition_io::{fetch, produce, LATEST_TIMESTAMP};
use crate::certify::suite::probe::Property;

/// How far past the log end `fetch.offset-out-of-range` fetches.
pub(super) const OUT_OF_RANGE_DISTANCE: i64 = 1_000;

pub(super) const OFFSET_OUT_OF_RANGE: Property = Property {
    id: "fetch.offset-out-of-range",
    title: "A fetch far past the log end answers OFFSET_OUT_OF_RANGE",
    citation: "Kafka protocol guide, Error Codes (OFFSET_OUT_OF_RANGE, 1) and Fetch",
};
pub(super) const PRODUCE_UNKNOWN_PARTITION: Property = Property {
    id: "produce.unknown-partition",
    title: "Produce to a partition that does not exist answers UNKNOWN_TOPIC_OR_PARTITION",
    citation: "Kafka protocol guide, Error Codes (UNKNOWN_TOPIC_OR_PARTITION, 3; NOT_LEADER_OR_FOLLOWER is for partitions that exist)",
};
pub(super) const FETCH_UNKNOWN_PARTITION: Property = Property {
    id: "fetch.unknown-partition",
    title: "Fetch of a partition that does not exist answers UNKNOWN_TOPIC_OR_PARTITION",
    citation: "Kafka protocol guide, Error Codes (UNKNOWN_TOPIC_OR_PARTITION, 3; NOT_LEADER_OR_FOLLOWER is for partitions that exist)",
};

/// `fetch.offset-out-of-range`.
pub(super) async fn offset_out_of_range<T: Transport>(context: &Context<'_, T>) -> PropertyResult {
    let mut probe = context.probe();
    let latest = match context.list_offset(&mut probe, LATEST_TIMESTAMP).await {
        Ok((0, latest)) => latest,
        other => {
            let why = format!(
                "ListOffsets latest did not answer without error: {}",
                show(&other)
            );
            return OFFSET_OUT_OF_RANGE.fail(
                format!("Could not be exercised: {why}."),
                probe.evidence(why),
            );
        }
    };
    let beyond = latest + OUT_OF_RANGE_DISTANCE;
    match context.fetch(&mut probe, beyond, 0).await {
        Ok(f) if f.error_code == ResponseError::OffsetOutOfRange.code() => OFFSET_OUT_OF_RANGE.pass(format!(
            "A fetch at {beyond}, {OUT_OF_RANGE_DISTANCE} past the latest offset {latest}, answered OFFSET_OUT_OF_RANGE."
        )),
        Ok(f) => OFFSET_OUT_OF_RANGE.fail(
            format!("A fetch at {beyond}, {OUT_OF_RANGE_DISTANCE} past the latest offset {latest}, answered {} with {} records.", error_name(f.error_code), f.records.len()),
            probe.evidence("expected OFFSET_OUT_OF_RANGE (1)"),
        ),
        Err(e) => OFFSET_OUT_OF_RANGE.fail(format!("A fetch at {beyond} got no usable answer: {e}."), probe.evidence(e)),
    }
}

/// `produce.unknown-partition` and `fetch.unknown-partition`.
pub(super) async fn unknown_partition<T: Transport>(
    context: &Context<'_, T>,
) -> [PropertyResult; 2] {
    let missing = 9_999.max(context.target.partitions + 1);
    let topic = &context.target.topic;
    let expected = ResponseError::UnknownTopicOrPartition.code();
    let mut probe = context.probe();
    let value = context.value("unknown-partition");
    let version = context.versions.produce.expect("checked by run");
    let produced = produce(
        &mut probe,
        &context.leader,
        version,
        topic,
        missing,
        &[value],
        1,
        None,
    )
    .await;
    let produce_result = match produced {
        Ok(p) if p.error_code == expected => PRODUCE_UNKNOWN_PARTITION.pass(format!(
            "Produce to {topic}-{missing} answered UNKNOWN_TOPIC_OR_PARTITION."
        )),
        Ok(p) => PRODUCE_UNKNOWN_PARTITION.fail(
            format!(
                "Produce to {topic}-{missing}, which does not exist, answered {}.",
                error_name(p.error_code)
            ),
            probe.evidence("expected UNKNOWN_TOPIC_OR_PARTITION (3)"),
        ),
        Err(e) => PRODUCE_UNKNOWN_PARTITION.fail(
            format!("Produce to {topic}-{missing} got no usable answer: {e}."),
            probe.evidence(e),
        ),
    };
    let mut probe = context.probe();
    let version = context.versions.fetch.expect("checked by run");
    let fetched = fetch(&mut probe, &context.leader, version, topic, missing, 0, 0).await;
    let fetch_result = match fetched {
        Ok(f) if f.error_code == expected => FETCH_UNKNOWN_PARTITION.pass(format!(
            "Fetch of {topic}-{missing} answered UNKNOWN_TOPIC_OR_PARTITION."
        )),
        Ok(f) => FETCH_UNKNOWN_PARTITION.fail(
            format!(
                "Fetch of {topic}-{missing}, which does not exist, answered {}.",
                error_name(f.error_code)
            ),
            probe.evidence("expected UNKNOWN_TOPIC_OR_PARTITION (3)"),
        ),
        Err(e) => FETCH_UNKNOWN_PARTITION.fail(
            format!("Fetch of {topic}-{missing} got no usable answer: {e}."),
            probe.evidence(e),
        ),
    };
    [produce_result, fetch_result]
}
