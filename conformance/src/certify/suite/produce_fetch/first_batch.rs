//! The first batch of the Produce/Fetch suite: the offsets an acks=all batch gets, what
//! ListOffsets then reports, and a fetch from inside the batch.

use bytes::Bytes;
use faultline_wire::Transport;

use super::{error_name, evidence_with_produce, offsets, show, Context, FETCH_WAIT_MS};
use crate::certify::model::PropertyResult;
use crate::certify::suite::partition_io::{EARLIEST_TIMESTAMP, LATEST_TIMESTAMP};
use crate::certify::suite::probe::Property;

/// Records in the first batch.
pub(super) const BATCH_RECORDS: usize = 5;
/// Where `fetch.from-inside-batch` starts, as an index into the batch.
pub(super) const INSIDE_BATCH_INDEX: usize = 2;

pub(super) const OFFSETS_CONTIGUOUS: Property = Property {
    id: "produce.offsets-contiguous",
    title: "A batch of N records acknowledged at base offset b is fetched back as offsets b..b+N-1, values in order",
    citation: "Kafka protocol guide, Produce and \"Record Batch\" (base offset + offset deltas); KIP-98",
};
pub(super) const EARLIEST_LE_LATEST: Property = Property {
    id: "list-offsets.earliest-le-latest",
    title: "ListOffsets earliest (-2) is at most latest (-1)",
    citation: "Kafka protocol guide, ListOffsets; KIP-79",
};
pub(super) const LATEST_IS_LOG_END: Property = Property {
    id: "list-offsets.latest-is-log-end",
    title: "After an acks=all batch at b..b+N-1 with no other writer, ListOffsets latest (-1) is b+N",
    citation: "Kafka protocol guide, ListOffsets (latest = the high watermark for read_uncommitted); KIP-79",
};
pub(super) const FROM_INSIDE_BATCH: Property = Property {
    id: "fetch.from-inside-batch",
    title: "A fetch from an offset inside a batch returns that record first (after dropping earlier ones of the batch), then the rest",
    citation: "Kafka protocol guide, Fetch (the broker may return the whole batch; the client skips records below the fetch offset)",
};

/// The first batch: contiguous offsets, ListOffsets after it, a fetch from inside it.
pub(super) async fn first_batch<T: Transport>(context: &Context<'_, T>) -> Vec<PropertyResult> {
    let mut probe = context.probe();
    let values: Vec<Bytes> = (0..BATCH_RECORDS)
        .map(|i| context.value(&format!("batch-{i}")))
        .collect();
    let n = BATCH_RECORDS as i64;
    let base = match context.produce(&mut probe, &values, -1).await {
        Ok(p) if p.error_code == 0 => p.base_offset,
        outcome => {
            let why = match outcome {
                Ok(p) => format!(
                    "an acks=all Produce of {n} records answered {}",
                    error_name(p.error_code)
                ),
                Err(e) => format!("an acks=all Produce of {n} records got no answer: {e}"),
            };
            let evidence = probe.evidence(why.clone());
            return [
                OFFSETS_CONTIGUOUS,
                EARLIEST_LE_LATEST,
                LATEST_IS_LOG_END,
                FROM_INSIDE_BATCH,
            ]
            .iter()
            .map(|p| p.fail(format!("Could not be exercised: {why}."), evidence.clone()))
            .collect();
        }
    };
    let mut results = Vec::new();
    // produce.offsets-contiguous
    let start = probe.exchanges.len();
    let expected: Vec<(i64, Option<Bytes>)> = values
        .iter()
        .enumerate()
        .map(|(i, v)| (base + i as i64, Some(v.clone())))
        .collect();
    results.push(match context.fetch_range(&mut probe, base, base + n).await {
        Ok(found) if found.iter().take(BATCH_RECORDS).eq(expected.iter()) => OFFSETS_CONTIGUOUS.pass(
            format!("{n} records acknowledged at base offset {base} were fetched back at {base}..={} in order.", base + n - 1),
        ),
        Ok(found) => OFFSETS_CONTIGUOUS.fail(
            format!("{n} records acknowledged at base offset {base}; fetching from {base} returned offsets {:?}.", offsets(&found)),
            evidence_with_produce(&probe, "the fetched offsets or values differ from the batch acknowledged", 0, start),
        ),
        Err(e) => OFFSETS_CONTIGUOUS.fail(
            format!("{n} records acknowledged at base offset {base}; fetching them back failed: {e}."),
            evidence_with_produce(&probe, e, 0, start),
        ),
    });
    // list-offsets.earliest-le-latest and list-offsets.latest-is-log-end
    let start = probe.exchanges.len();
    let earliest = context.list_offset(&mut probe, EARLIEST_TIMESTAMP).await;
    let latest = context.list_offset(&mut probe, LATEST_TIMESTAMP).await;
    match (earliest, latest) {
        (Ok((0, earliest)), Ok((0, latest))) => {
            let seen = format!("ListOffsets answered earliest {earliest}, latest {latest}");
            results.push(if earliest <= latest {
                EARLIEST_LE_LATEST.pass(format!("{seen}."))
            } else {
                EARLIEST_LE_LATEST.fail(
                    format!("{seen}: earliest is past latest."),
                    probe.evidence_since(seen.clone(), start),
                )
            });
            results.push(if latest == base + n {
                LATEST_IS_LOG_END.pass(format!("{seen} right after {n} records were acknowledged at {base} (acks=all): latest is {base}+{n}."))
            } else {
                LATEST_IS_LOG_END.fail(
                    format!("{seen} right after {n} records were acknowledged at {base} (acks=all); latest should be {}.", base + n),
                    evidence_with_produce(&probe, format!("latest {latest} is not the log end {}", base + n), 0, start),
                )
            });
        }
        (earliest, latest) => {
            let why = format!(
                "ListOffsets did not answer both without error (earliest: {}, latest: {})",
                show(&earliest),
                show(&latest)
            );
            let evidence = probe.evidence_since(why.clone(), start);
            results.push(EARLIEST_LE_LATEST.fail(format!("{why}."), evidence.clone()));
            results.push(LATEST_IS_LOG_END.fail(format!("{why}."), evidence));
        }
    }
    // fetch.from-inside-batch
    let start = probe.exchanges.len();
    let from = base + INSIDE_BATCH_INDEX as i64;
    results.push(match context.fetch(&mut probe, from, FETCH_WAIT_MS).await {
        Ok(fetched) if fetched.error_code == 0 => {
            let kept: Vec<_> = fetched.records.iter().filter(|(o, _)| *o >= from).cloned().collect();
            let rest = &expected[INSIDE_BATCH_INDEX..];
            if kept.len() >= rest.len() && kept[..rest.len()] == *rest {
                FROM_INSIDE_BATCH.pass(format!(
                    "A fetch at {from}, inside the batch at {base}, returned offsets {:?}; from {from} on they are the batch's records in order.",
                    offsets(&fetched.records)
                ))
            } else {
                FROM_INSIDE_BATCH.fail(
                    format!("A fetch at {from} returned offsets {:?}; expected {from}..={} with the batch's values.", offsets(&fetched.records), base + n - 1),
                    evidence_with_produce(&probe, "the records from the fetch offset on are not the batch's", 0, start),
                )
            }
        }
        Ok(fetched) => FROM_INSIDE_BATCH.fail(
            format!("A fetch at {from}, inside an acknowledged batch, answered {}.", error_name(fetched.error_code)),
            evidence_with_produce(&probe, "a fetch inside a committed batch was refused", 0, start),
        ),
        Err(e) => FROM_INSIDE_BATCH.fail(
            format!("A fetch at {from} got no usable answer: {e}."),
            evidence_with_produce(&probe, e, 0, start),
        ),
    });
    results
}
