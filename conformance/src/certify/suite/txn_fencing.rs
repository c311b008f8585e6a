//! Two of the transactions suite's properties: zombie fencing (KIP-98, KIP-588) and
//! offsets committed within a transaction (KIP-98, KIP-447). The shared setup is in
//! [`super::txn_run`].

use std::collections::BTreeMap;
use std::time::Duration;

use kafka_protocol::messages::ApiKey;

use faultline_wire::{ResponseError, Transport};

use super::probe::Property;
use super::txn_calls::{error_text, find_coordinator, offset_fetch, TxnProducer, OFFSET_APIS};
use super::txn_run::{TxnRun, MARKER_WAIT};
use crate::certify::model::PropertyResult;

pub(super) const ZOMBIE_FENCING: Property = Property {
    id: "txn.zombie-fencing",
    title: "After a second InitProducerId for the same transactional.id, the old epoch's Produce, AddPartitionsToTxn and EndTxn are refused with PRODUCER_FENCED or INVALID_PRODUCER_EPOCH",
    citation: "KIP-98 (zombie fencing by producer epoch), KIP-588 (PRODUCER_FENCED from the coordinator; INVALID_PRODUCER_EPOCH from partition leaders)",
};
pub(super) const ATOMIC_OFFSETS: Property = Property {
    id: "txn.atomic-offset-commits",
    title: "Offsets sent with TxnOffsetCommit are read by OffsetFetch only once their transaction commits, and never when it aborts",
    citation: "KIP-98 (AddOffsetsToTxn / TxnOffsetCommit: offsets commit with the transaction), KIP-447 (pending transactional offsets)",
};

/// The refusals a fenced (older) epoch may get.
fn fenced(code: i16) -> bool {
    code == ResponseError::ProducerFenced.code()
        || code == ResponseError::InvalidProducerEpoch.code()
}

/// Opens a transaction, lets a second InitProducerId of the same `transactional.id` fence
/// it, then sends as the old epoch.
pub(super) async fn zombie_fencing<T: Transport>(run: &mut TxnRun<'_, T>) -> PropertyResult {
    let from = run.probe.exchanges.len();
    let zombie_values = [run.value("zombie-before"), run.value("zombie-after")];
    let opened = async {
        let topic = run.target.topic.clone();
        let partition = run.partitions[0];
        match run
            .producer
            .add_partitions(&mut run.probe, &run.versions, &topic, &[partition])
            .await?
        {
            0 => {}
            code => return Err(format!("AddPartitionsToTxn answered {}", error_text(code))),
        }
        run.send(0, &zombie_values[0]).await?;
        let (id, coordinator) = (run.producer.id.clone(), run.producer.coordinator.clone());
        TxnProducer::init(&mut run.probe, &run.versions, &coordinator, &id).await
    }
    .await;
    let successor = match opened {
        Ok(successor) => successor,
        Err(why) => {
            run.abort_quietly().await;
            return ZOMBIE_FENCING.fail(
                format!("Could not be exercised: {why}."),
                run.probe.evidence_since(why, from),
            );
        }
    };
    let old = run.producer.identity;
    let new = successor.identity;
    let mut wrong = Vec::new();
    if new == old {
        wrong.push(format!(
            "the second InitProducerId granted the same producer id {} and epoch {}",
            new.producer_id, new.producer_epoch
        ));
    }
    // The old epoch, at the partition leader and at the coordinator.
    let (leader, partition) = (run.leaders[0].clone(), run.partitions[0]);
    let topic = run.target.topic.clone();
    let produced = run
        .producer
        .produce(
            &mut run.probe,
            &run.versions,
            &leader,
            &topic,
            partition,
            std::slice::from_ref(&zombie_values[1]),
        )
        .await;
    let other = run.partitions[1];
    let added = run
        .producer
        .add_partitions(&mut run.probe, &run.versions, &topic, &[other])
        .await;
    let ended = run.producer.end(&mut run.probe, &run.versions, true).await;
    for (call, answer) in [
        ("Produce", produced.map(|p| p.error_code)),
        ("AddPartitionsToTxn", added),
        ("EndTxn(commit)", ended),
    ] {
        match answer {
            Ok(code) if fenced(code) => {}
            Ok(code) => wrong.push(format!(
                "the old epoch's {call} answered {}",
                error_text(code)
            )),
            Err(e) => wrong.push(format!("the old epoch's {call}: {e}")),
        }
    }
    run.producer = successor;
    let what = format!(
        "Producer id {} epoch {} had a transaction open on partition {partition}; a second InitProducerId for {} granted id {} epoch {}",
        old.producer_id, old.producer_epoch, run.producer.id, new.producer_id, new.producer_epoch
    );
    if wrong.is_empty() {
        return ZOMBIE_FENCING.pass(format!(
            "{what}; the old epoch's Produce, AddPartitionsToTxn and EndTxn(commit) were each refused with PRODUCER_FENCED or INVALID_PRODUCER_EPOCH."
        ));
    }
    let why = wrong.join("; ");
    ZOMBIE_FENCING.fail(
        format!("{what}, but {why}."),
        run.probe.evidence_since(why, from),
    )
}

/// Commits offset `first` for partition slot 0 of a fresh group in one transaction and
/// `second` in an aborted one, reading the group's offsets with OffsetFetch in between.
pub(super) async fn atomic_offset_commits<T: Transport>(run: &mut TxnRun<'_, T>) -> PropertyResult {
    let versions = match run.versions.with(&run.target.advertised, &OFFSET_APIS) {
        Ok(v) => v,
        Err(why) => {
            return ATOMIC_OFFSETS.not_applicable(format!(
                "{why}; transactional offsets need AddOffsetsToTxn, TxnOffsetCommit and OffsetFetch v1+ (KIP-98)"
            ))
        }
    };
    let from = run.probe.exchanges.len();
    let group = format!("faultline-certify-txn-{}", run.token);
    let fetch_version = versions.of_api(ApiKey::OffsetFetch);
    let topic = run.target.topic.clone();
    let partition = run.partitions[0];
    let (first, second) = (7, 11);
    let mut reads: Vec<String> = Vec::new();
    let mut wrong: Vec<String> = Vec::new();
    let outcome = async {
        let find = versions.of_api(ApiKey::FindCoordinator);
        let bootstrap = run.target.bootstrap.clone();
        let coordinator = find_coordinator(&mut run.probe, &bootstrap, find, &group, 0).await?;
        for (offset, commit) in [(first, true), (second, false)] {
            let added = run
                .producer
                .add_offsets(&mut run.probe, &versions, &group)
                .await?;
            if added != 0 {
                return Err(format!("AddOffsetsToTxn answered {}", error_text(added)));
            }
            let offsets = BTreeMap::from([(partition, offset)]);
            let committed = run
                .producer
                .txn_offset_commit(&mut run.probe, &versions, &coordinator, &group, &topic, &offsets)
                .await?;
            if committed != 0 {
                return Err(format!("TxnOffsetCommit answered {}", error_text(committed)));
            }
            let (_, open) =
                offset_fetch(&mut run.probe, &coordinator, fetch_version, &group, &topic, partition)
                    .await?;
            reads.push(format!("{open} while the transaction with {offset} was open"));
            if open == offset {
                wrong.push(format!(
                    "OffsetFetch returned {offset} while its transaction was still open"
                ));
            }
            run.end(commit).await?;
            let expected = first;
            let (read, waited) = settle(run, &coordinator, fetch_version, &group, &topic, partition, expected).await?;
            reads.push(format!(
                "{read} after EndTxn({}) (waited {} ms)",
                if commit { "commit" } else { "abort" },
                waited.as_millis()
            ));
            if read != expected {
                wrong.push(format!(
                    "after EndTxn({}) of the transaction that sent {offset}, OffsetFetch returned {read}, not {expected}",
                    if commit { "commit" } else { "abort" }
                ));
            }
        }
        Ok::<_, String>(())
    }
    .await;
    if let Err(why) = outcome {
        run.abort_quietly().await;
        return ATOMIC_OFFSETS.fail(
            format!("Could not be exercised: {why}."),
            run.probe.evidence_since(why, from),
        );
    }
    let what = format!(
        "Group {group}, partition {partition}: offset {first} sent in a committed transaction and {second} in an aborted one; OffsetFetch read {}",
        reads.join(", ")
    );
    if wrong.is_empty() {
        return ATOMIC_OFFSETS.pass(format!("{what}."));
    }
    let why = wrong.join("; ");
    ATOMIC_OFFSETS.fail(
        format!("{what}: {why}."),
        run.probe.evidence_since(why, from),
    )
}

/// Reads the group's offset until it is `expected` or [`MARKER_WAIT`] passes (the
/// coordinator applies the offsets when the transaction's marker reaches
/// `__consumer_offsets`, after EndTxn is answered); once it is, reads twice more over
/// half a second, so an aborted transaction's offset appearing late is seen. The last
/// offset read and how long it took.
#[allow(clippy::too_many_arguments)]
async fn settle<T: Transport>(
    run: &mut TxnRun<'_, T>,
    coordinator: &str,
    version: i16,
    group: &str,
    topic: &str,
    partition: i32,
    expected: i64,
) -> Result<(i64, Duration), String> {
    let start = tokio::time::Instant::now();
    let deadline = start + MARKER_WAIT;
    let mut confirmations = 0;
    loop {
        let (_, read) = offset_fetch(
            &mut run.probe,
            coordinator,
            version,
            group,
            topic,
            partition,
        )
        .await?;
        if read != expected {
            if confirmations > 0 || tokio::time::Instant::now() >= deadline {
                return Ok((read, start.elapsed()));
            }
        } else {
            confirmations += 1;
            if confirmations == 3 {
                return Ok((read, start.elapsed()));
            }
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}
