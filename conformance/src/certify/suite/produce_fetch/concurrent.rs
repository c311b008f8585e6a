//! Concurrent producers on one partition: every acknowledged base offset must hold the
//! value sent there (Jepsen's inconsistent offsets).

use std::collections::BTreeMap;

use bytes::Bytes;
use faultline_wire::Transport;

use super::{Context, EVIDENCE_SENDS_MAX};
use crate::certify::model::{Evidence, PropertyResult};
use crate::certify::suite::join_all;
use crate::certify::suite::probe::{Probe, Property};

/// Concurrent producers, and acknowledged sends each, for `produce.concurrent-offsets-unique`.
pub(super) const CONCURRENT_PRODUCERS: usize = 4;
pub(super) const SENDS_PER_PRODUCER: usize = 20;

pub(super) const CONCURRENT_OFFSETS_UNIQUE: Property = Property {
    id: "produce.concurrent-offsets-unique",
    title: "With concurrent producers on one partition, every acknowledged base offset holds exactly the value sent there",
    citation: "Jepsen, inconsistent offsets (Bufstream 0.1.0 analysis, 2024); Kafka protocol guide, Produce response base_offset",
};

/// One concurrent producer's acknowledged sends: `(base offset, value, exchange index)`.
pub(super) struct ProducerRun<T: Transport> {
    probe: Probe<T>,
    acked: Vec<(i64, Bytes, usize)>,
}

pub(super) async fn concurrent_producer<T: Transport>(
    context: &Context<'_, T>,
    producer: usize,
) -> ProducerRun<T> {
    let mut probe = context.probe();
    let mut acked = Vec::new();
    for send in 0..SENDS_PER_PRODUCER {
        let value = context.value(&format!("concurrent-{producer}-{send}"));
        if let Ok(p) = context
            .produce(&mut probe, std::slice::from_ref(&value), -1)
            .await
        {
            if p.error_code == 0 {
                acked.push((p.base_offset, value, p.exchange));
            }
        }
    }
    ProducerRun { probe, acked }
}

/// `produce.concurrent-offsets-unique`.
pub(super) async fn concurrent_offsets_unique<T: Transport>(
    context: &Context<'_, T>,
) -> PropertyResult {
    let runs = join_all(
        (0..CONCURRENT_PRODUCERS)
            .map(|p| concurrent_producer(context, p))
            .collect(),
    )
    .await;
    let acked: Vec<(usize, &(i64, Bytes, usize))> = runs
        .iter()
        .enumerate()
        .flat_map(|(p, run)| run.acked.iter().map(move |a| (p, a)))
        .collect();
    let (Some(low), Some(high)) = (
        acked.iter().map(|(_, a)| a.0).min(),
        acked.iter().map(|(_, a)| a.0).max(),
    ) else {
        let mut evidence = runs[0]
            .probe
            .evidence("no concurrent send was acknowledged");
        evidence.exchanges.truncate(EVIDENCE_SENDS_MAX);
        return CONCURRENT_OFFSETS_UNIQUE.fail(
            format!("None of {} acks=all sends from {CONCURRENT_PRODUCERS} concurrent producers was acknowledged.", CONCURRENT_PRODUCERS * SENDS_PER_PRODUCER),
            evidence,
        );
    };
    let mut probe = context.probe();
    let log: BTreeMap<i64, Option<Bytes>> = match context.fetch_range(&mut probe, low, high + 1).await {
        Ok(found) => found.into_iter().collect(),
        Err(e) => {
            return CONCURRENT_OFFSETS_UNIQUE.fail(
                format!("{} sends were acknowledged at offsets {low}..={high}; fetching them back failed: {e}.", acked.len()),
                probe.evidence(e),
            )
        }
    };
    let wrong: Vec<&(usize, &(i64, Bytes, usize))> = acked
        .iter()
        .filter(|(_, (offset, value, _))| log.get(offset) != Some(&Some(value.clone())))
        .collect();
    if wrong.is_empty() {
        return CONCURRENT_OFFSETS_UNIQUE.pass(format!(
            "{CONCURRENT_PRODUCERS} producers on separate connections had {} acks=all sends acknowledged at offsets {low}..={high}; each offset holds the value sent there.",
            acked.len()
        ));
    }
    let mut exchanges: Vec<_> = wrong
        .iter()
        .take(EVIDENCE_SENDS_MAX)
        .map(|(p, (_, _, exchange))| runs[*p].probe.exchanges[*exchange].clone())
        .collect();
    exchanges.extend(probe.exchanges.iter().cloned());
    let (_, (offset, value, _)) = wrong[0];
    let found = log.get(offset).cloned().flatten();
    CONCURRENT_OFFSETS_UNIQUE.fail(
        format!(
            "{} of {} acknowledged sends were told an offset that holds another value (first: {:?} acknowledged at {offset}, which holds {:?}).",
            wrong.len(),
            acked.len(),
            String::from_utf8_lossy(value),
            found.as_ref().map(|v| String::from_utf8_lossy(v).into_owned())
        ),
        Evidence {
            summary: format!("the produce responses below name offsets that, fetched, hold other values (offset {offset} holds {found:?})"),
            exchanges,
            history: Vec::new(),
        },
    )
}
