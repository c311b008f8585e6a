//! The transactions suite (KIP-98, KIP-447, KIP-588): fixed probes, one transactional
//! producer of a fresh `transactional.id`, two partitions of the certification topic.
//!
//! - `txn.commit-visible`: a committed transaction's records are read at read_committed,
//!   on every partition it wrote (and at read_uncommitted);
//! - `txn.abort-invisible`: an aborted one's are not handed to a read_committed consumer
//!   (listed in `aborted_transactions`, or left out), while read_uncommitted still reads
//!   them;
//! - `txn.read-committed`: the last stable offset stops read_committed Fetch and
//!   ListOffsets at the first offset of an open transaction;
//! - `txn.zombie-fencing` and `txn.atomic-offset-commits`: in [`super::txn_fencing`].
//!
//! NOT APPLICABLE (all five) unless ApiVersions advertises FindCoordinator v1+ (key type 1,
//! transaction), InitProducerId, AddPartitionsToTxn v0–v3, EndTxn, Produce v3+ and Fetch
//! v4+ ([`TXN_APIS`]); `txn.atomic-offset-commits` also needs AddOffsetsToTxn,
//! TxnOffsetCommit and OffsetFetch v1+.

use kafka_protocol::messages::ApiKey;

use faultline_wire::Transport;

use super::partition_io::{leader, readable_fetch_version};
use super::probe::{Probe, Property};
use super::txn_calls::{
    error_text, find_coordinator, latest_isolated, TxnProducer, TxnVersions, LIST_OFFSETS_ISOLATED,
    READ_COMMITTED, READ_UNCOMMITTED, TXN_APIS,
};
use super::txn_fencing::{atomic_offset_commits, zombie_fencing, ATOMIC_OFFSETS, ZOMBIE_FENCING};
use super::txn_run::{TxnRun, MARKER_WAIT};
use super::{run_token, SuiteTarget};
use crate::certify::model::{Evidence, PropertyResult};

pub(super) const COMMIT_VISIBLE: Property = Property {
    id: "txn.commit-visible",
    title: "A committed transaction's records are read by read_committed (and read_uncommitted) Fetch on every partition it wrote",
    citation: "KIP-98 (Exactly Once Delivery and Transactional Messaging: commit markers on every partition of the transaction; read_committed isolation)",
};
pub(super) const ABORT_INVISIBLE: Property = Property {
    id: "txn.abort-invisible",
    title: "An aborted transaction's records are not handed to a read_committed consumer (listed in aborted_transactions, or left out); read_uncommitted still reads them",
    citation: "KIP-98 (Fetch v4 aborted_transactions; the consumer drops an aborted transaction's records up to its ABORT marker)",
};
pub(super) const READ_COMMITTED_LSO: Property = Property {
    id: "txn.read-committed",
    title: "An open transaction's records are not returned to read_committed Fetch, and ListOffsets latest at READ_COMMITTED is at most its first offset",
    citation: "KIP-98 (the last stable offset: read_committed reads below the first offset of the oldest open transaction; ListOffsets v2 isolation_level)",
};

/// Runs the suite: the five `txn.*` properties, always in the same order.
pub async fn run<T: Transport>(transport: &T, target: &SuiteTarget) -> Vec<PropertyResult> {
    let all = [
        COMMIT_VISIBLE,
        ABORT_INVISIBLE,
        READ_COMMITTED_LSO,
        ZOMBIE_FENCING,
        ATOMIC_OFFSETS,
    ];
    let versions = match TxnVersions::of(&target.advertised, &TXN_APIS) {
        Ok(v) => v,
        Err(why) => {
            let why = format!(
                "{why}; transactions need FindCoordinator v1+ (key type transaction), \
                 InitProducerId, AddPartitionsToTxn v0-v3, EndTxn, Produce v3+ and Fetch v4+ \
                 (KIP-98)"
            );
            return all.iter().map(|p| p.not_applicable(why.clone())).collect();
        }
    };
    let mut run = match setup(Probe::new(transport, target), target, versions).await {
        Ok(run) => run,
        Err((why, evidence)) => {
            return all
                .iter()
                .map(|p| p.fail(format!("Could not be exercised: {why}."), evidence.clone()))
                .collect();
        }
    };
    vec![
        commit_visible(&mut run).await,
        abort_invisible(&mut run).await,
        read_committed(&mut run).await,
        zombie_fencing(&mut run).await,
        atomic_offset_commits(&mut run).await,
    ]
}

/// Leaders, a readable Fetch version, the transaction coordinator and a producer; or why
/// not, with the exchanges so far.
async fn setup<T: Transport>(
    mut probe: Probe<T>,
    target: &SuiteTarget,
    versions: TxnVersions,
) -> Result<TxnRun<'_, T>, (String, Evidence)> {
    match setup_parts(&mut probe, target, versions).await {
        Ok((versions, fetch_version, partitions, leaders, token, producer)) => Ok(TxnRun {
            probe,
            target,
            versions,
            fetch_version,
            partitions,
            leaders,
            token,
            producer,
        }),
        Err(why) => {
            let evidence = probe.evidence(why.clone());
            Err((why, evidence))
        }
    }
}

type Parts = (TxnVersions, i16, [i32; 2], [String; 2], String, TxnProducer);

async fn setup_parts<T: Transport>(
    probe: &mut Probe<T>,
    target: &SuiteTarget,
    mut versions: TxnVersions,
) -> Result<Parts, String> {
    let partitions = [0, if target.partitions > 1 { 1 } else { 0 }];
    let leaders = [
        leader(probe, target, partitions[0]).await?,
        leader(probe, target, partitions[1]).await?,
    ];
    let chosen = Some(versions.of_api(ApiKey::Fetch));
    let fetch_version = readable_fetch_version(probe, target, &leaders[0], partitions[0], chosen)
        .await
        .expect("a chosen version was given");
    if let Ok(more) = versions.with(&target.advertised, &[LIST_OFFSETS_ISOLATED]) {
        versions = more;
    }
    let token = run_token();
    let id = format!("faultline-certify-{token}");
    let find = versions.of_api(ApiKey::FindCoordinator);
    let coordinator = find_coordinator(probe, &target.bootstrap, find, &id, 1).await?;
    let producer = TxnProducer::init(probe, &versions, &coordinator, &id).await?;
    Ok((
        versions,
        fetch_version,
        partitions,
        leaders,
        token,
        producer,
    ))
}

/// Writes one value to each partition in a transaction, commits, and reads both back.
async fn commit_visible<T: Transport>(run: &mut TxnRun<'_, T>) -> PropertyResult {
    let from = run.probe.exchanges.len();
    let values = [run.value("committed-a"), run.value("committed-b")];
    let written = async {
        run.add_both().await?;
        let offsets = [
            run.send(0, &values[0]).await?,
            run.send(1, &values[1]).await?,
        ];
        run.end(true).await?;
        Ok::<_, String>(offsets)
    }
    .await;
    let offsets = match written {
        Ok(offsets) => offsets,
        Err(why) => {
            run.abort_quietly().await;
            return COMMIT_VISIBLE.fail(
                format!("Could not be exercised: {why}."),
                run.probe.evidence_since(why, from),
            );
        }
    };
    let mut missing = Vec::new();
    for slot in 0..2 {
        for isolation in [READ_COMMITTED, READ_UNCOMMITTED] {
            match run
                .until_visible(slot, offsets[slot], isolation, &values[slot])
                .await
            {
                Ok((_, true, _)) => {}
                Ok((fetched, false, _)) => missing.push(format!(
                    "partition {} at {} (isolation {isolation}): not returned within {MARKER_WAIT:?} (last stable offset {}, high watermark {})",
                    run.partitions[slot], offsets[slot], fetched.last_stable_offset, fetched.high_watermark
                )),
                Err(e) => missing.push(format!("partition {}: {e}", run.partitions[slot])),
            }
        }
    }
    let wrote = format!(
        "A transaction wrote one record to partition {} (offset {}) and one to partition {} (offset {}) and EndTxn(commit) was acknowledged",
        run.partitions[0], offsets[0], run.partitions[1], offsets[1]
    );
    if missing.is_empty() {
        return COMMIT_VISIBLE.pass(format!(
            "{wrote}; read_committed and read_uncommitted Fetch returned both records."
        ));
    }
    let why = format!("committed records not read: {}", missing.join("; "));
    COMMIT_VISIBLE.fail(
        format!("{wrote}, but {why}."),
        run.probe.evidence_since(why, from),
    )
}

/// Writes one value to each partition in a transaction, aborts, writes a plain record
/// behind it, and reads both partitions once that plain record is visible.
async fn abort_invisible<T: Transport>(run: &mut TxnRun<'_, T>) -> PropertyResult {
    let from = run.probe.exchanges.len();
    let aborted = [run.value("aborted-a"), run.value("aborted-b")];
    let after = [run.value("after-abort-a"), run.value("after-abort-b")];
    let written = async {
        run.add_both().await?;
        let offsets = [
            run.send(0, &aborted[0]).await?,
            run.send(1, &aborted[1]).await?,
        ];
        run.end(false).await?;
        run.send_plain(0, &after[0]).await?;
        run.send_plain(1, &after[1]).await?;
        Ok::<_, String>(offsets)
    }
    .await;
    let offsets = match written {
        Ok(offsets) => offsets,
        Err(why) => {
            run.abort_quietly().await;
            return ABORT_INVISIBLE.fail(
                format!("Could not be exercised: {why}."),
                run.probe.evidence_since(why, from),
            );
        }
    };
    let mut wrong = Vec::new();
    for slot in 0..2 {
        let partition = run.partitions[slot];
        match run
            .until_visible(slot, offsets[slot], READ_COMMITTED, &after[slot])
            .await
        {
            Ok((_, true, handed_on)) => {
                if handed_on.iter().any(|(_, v)| *v == aborted[slot]) {
                    wrong.push(format!(
                        "partition {partition}: read_committed returned the aborted record at {} without listing its transaction in aborted_transactions, so a consumer hands it on",
                        offsets[slot]
                    ));
                }
            }
            Ok((fetched, false, _)) => wrong.push(format!(
                "partition {partition}: the plain record written after the abort was not returned to read_committed within {MARKER_WAIT:?} (last stable offset {}): the aborted transaction looks open",
                fetched.last_stable_offset
            )),
            Err(e) => wrong.push(format!("partition {partition}: {e}")),
        }
        match run.fetch(slot, offsets[slot], READ_UNCOMMITTED).await {
            Ok(f) if f.data().iter().any(|(_, v)| *v == aborted[slot]) => {}
            Ok(_) => wrong.push(format!(
                "partition {partition}: read_uncommitted did not return the aborted record at {} (an aborted transaction's records stay in the log)",
                offsets[slot]
            )),
            Err(e) => wrong.push(format!("partition {partition}: {e}")),
        }
    }
    let wrote = format!(
        "A transaction wrote one record to partition {} (offset {}) and one to partition {} (offset {}), EndTxn(abort) was acknowledged, and a plain record followed on each",
        run.partitions[0], offsets[0], run.partitions[1], offsets[1]
    );
    if wrong.is_empty() {
        return ABORT_INVISIBLE.pass(format!(
            "{wrote}: read_committed returned the plain records and no aborted one (after dropping the listed aborted transactions, as Kafka's consumer does); read_uncommitted returned the aborted ones."
        ));
    }
    let why = wrong.join("; ");
    ABORT_INVISIBLE.fail(
        format!("{wrote}, but {why}."),
        run.probe.evidence_since(why, from),
    )
}

/// Leaves a transaction open on slot 0 with a plain record behind it, then reads at
/// read_committed: nothing from the open transaction's first offset on.
async fn read_committed<T: Transport>(run: &mut TxnRun<'_, T>) -> PropertyResult {
    let from = run.probe.exchanges.len();
    let open = run.value("open");
    let plain = run.value("behind-open");
    let written = async {
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
        let first = run.send(0, &open).await?;
        run.send_plain(0, &plain).await?;
        Ok::<_, String>(first)
    }
    .await;
    let first = match written {
        Ok(first) => first,
        Err(why) => {
            run.abort_quietly().await;
            return READ_COMMITTED_LSO.fail(
                format!("Could not be exercised: {why}."),
                run.probe.evidence_since(why, from),
            );
        }
    };
    let mut wrong = Vec::new();
    match run.fetch(0, first, READ_COMMITTED).await {
        Ok(f) => {
            let past: Vec<i64> = f
                .records
                .iter()
                .filter(|r| r.offset >= first)
                .map(|r| r.offset)
                .collect();
            if !past.is_empty() {
                wrong.push(format!(
                    "read_committed Fetch from {first} returned offsets {past:?} (last stable offset {})",
                    f.last_stable_offset
                ));
            }
            if f.last_stable_offset > first {
                wrong.push(format!(
                    "Fetch reported last stable offset {} past the open transaction's first offset {first}",
                    f.last_stable_offset
                ));
            }
        }
        Err(e) => wrong.push(e),
    }
    let list = run
        .versions
        .0
        .get(&(LIST_OFFSETS_ISOLATED.0 as i16))
        .copied();
    let listed = match list {
        Some(version) => {
            let (leader, partition) = (run.leaders[0].clone(), run.partitions[0]);
            let topic = run.target.topic.clone();
            match latest_isolated(
                &mut run.probe,
                &leader,
                version,
                &topic,
                partition,
                READ_COMMITTED,
            )
            .await
            {
                Ok((0, offset)) if offset <= first => {
                    format!(" ListOffsets latest at READ_COMMITTED answered {offset}.")
                }
                Ok((0, offset)) => {
                    wrong.push(format!("ListOffsets latest at READ_COMMITTED answered {offset}, past the open transaction's first offset {first}"));
                    String::new()
                }
                Ok((code, _)) => {
                    wrong.push(format!(
                        "ListOffsets latest at READ_COMMITTED answered {}",
                        error_text(code)
                    ));
                    String::new()
                }
                Err(e) => {
                    wrong.push(e);
                    String::new()
                }
            }
        }
        None => " ListOffsets was not judged: the broker has no ListOffsets v2+ (isolation_level)."
            .into(),
    };
    run.abort_quietly().await;
    let wrote = format!(
        "A transaction left open wrote offset {first} of partition {}, with a plain record after it",
        run.partitions[0]
    );
    if wrong.is_empty() {
        return READ_COMMITTED_LSO.pass(format!(
            "{wrote}: read_committed Fetch returned nothing from {first} on.{listed}"
        ));
    }
    let why = wrong.join("; ");
    READ_COMMITTED_LSO.fail(
        format!("{wrote}, but {why}."),
        run.probe.evidence_since(why, from),
    )
}
