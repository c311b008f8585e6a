//! The Produce/Fetch/ListOffsets suite: offsets a batch gets, what fetches and ListOffsets
//! then report, the high watermark's contract, acks=all, concurrent producers, and the
//! error codes for out-of-range offsets and partitions that do not exist.
//!
//! Everything goes to partition 0's leader; every check is relative to offsets observed
//! in this run (the topic may hold older records), assuming no other writer meanwhile.

//! - [`first_batch`]: contiguous offsets, ListOffsets, a fetch from inside a batch.
//! - [`high_watermark`]: reads below the high watermark; acks=all means committed.
//! - [`concurrent`]: concurrent producers are told the offsets their records have.
//! - [`errors`]: OFFSET_OUT_OF_RANGE and UNKNOWN_TOPIC_OR_PARTITION.

use bytes::Bytes;
use faultline_wire::{ResponseError, Transport};

use super::partition_io::{
    fetch, leader, list_offset, produce, produce_then_fetch, readable_fetch_version, Fetched,
    Produced, Versions,
};
use super::probe::{Probe, Property};
use super::{run_token, SuiteTarget};
use crate::certify::model::{Evidence, PropertyResult};

mod concurrent;
mod errors;
mod first_batch;
mod high_watermark;

use concurrent::CONCURRENT_OFFSETS_UNIQUE;
use errors::{FETCH_UNKNOWN_PARTITION, OFFSET_OUT_OF_RANGE, PRODUCE_UNKNOWN_PARTITION};
use first_batch::{EARLIEST_LE_LATEST, FROM_INSIDE_BATCH, LATEST_IS_LOG_END, OFFSETS_CONTIGUOUS};
use high_watermark::{ACKS_ALL_COMMITTED, BELOW_HIGH_WATERMARK};

/// The partition every test writes to.
const PARTITION: i32 = 0;
/// How long a fetch of committed records may long-poll.
const FETCH_WAIT_MS: i32 = 500;
/// Exchanges of offending sends an evidence keeps.
const EVIDENCE_SENDS_MAX: usize = 6;

/// Every property of this suite, in report order.
const ALL: [Property; 10] = [
    OFFSETS_CONTIGUOUS,
    EARLIEST_LE_LATEST,
    LATEST_IS_LOG_END,
    FROM_INSIDE_BATCH,
    BELOW_HIGH_WATERMARK,
    ACKS_ALL_COMMITTED,
    CONCURRENT_OFFSETS_UNIQUE,
    OFFSET_OUT_OF_RANGE,
    PRODUCE_UNKNOWN_PARTITION,
    FETCH_UNKNOWN_PARTITION,
];

/// What every test here works with.
struct Context<'a, T: Transport> {
    transport: &'a T,
    target: &'a SuiteTarget,
    versions: Versions,
    /// Partition 0's leader.
    leader: String,
    /// Distinguishes this run's record values from earlier runs'.
    token: String,
}

/// Runs the suite.
pub async fn run<T: Transport>(transport: &T, target: &SuiteTarget) -> Vec<PropertyResult> {
    let mut versions = Versions::of(&target.advertised);
    if let Some(why) = versions.missing(&target.advertised, true) {
        return ALL.iter().map(|p| p.not_applicable(why.clone())).collect();
    }
    let mut probe = Probe::new(transport, target);
    let leader = match leader(&mut probe, target, PARTITION).await {
        Ok(address) => address,
        Err(why) => {
            let evidence = probe.evidence(why.clone());
            return ALL
                .iter()
                .map(|p| p.fail(format!("Could not start: {why}."), evidence.clone()))
                .collect();
        }
    };
    versions.fetch =
        readable_fetch_version(&mut probe, target, &leader, PARTITION, versions.fetch).await;
    let context = Context {
        transport,
        target,
        versions,
        leader,
        token: run_token(),
    };
    let mut results = first_batch::first_batch(&context).await;
    results.push(high_watermark::below_high_watermark(&context).await);
    results.push(high_watermark::acks_all_committed(&context).await);
    results.push(concurrent::concurrent_offsets_unique(&context).await);
    results.push(errors::offset_out_of_range(&context).await);
    results.extend(errors::unknown_partition(&context).await);
    results
}

impl<T: Transport> Context<'_, T> {
    fn probe(&self) -> Probe<T> {
        Probe::new(self.transport, self.target)
    }

    fn value(&self, what: &str) -> Bytes {
        Bytes::from(format!("faultline-{}-{what}", self.token))
    }

    async fn produce(
        &self,
        probe: &mut Probe<T>,
        values: &[Bytes],
        acks: i16,
    ) -> Result<Produced, String> {
        let version = self.versions.produce.expect("checked by run");
        produce(
            probe,
            &self.leader,
            version,
            &self.target.topic,
            PARTITION,
            values,
            acks,
            None,
        )
        .await
    }

    async fn fetch(
        &self,
        probe: &mut Probe<T>,
        offset: i64,
        max_wait_ms: i32,
    ) -> Result<Fetched, String> {
        let version = self.versions.fetch.expect("checked by run");
        fetch(
            probe,
            &self.leader,
            version,
            &self.target.topic,
            PARTITION,
            offset,
            max_wait_ms,
        )
        .await
    }

    /// A produce with `acks` and a fetch from `fetch_offset` pipelined right behind it.
    async fn produce_then_fetch(
        &self,
        probe: &mut Probe<T>,
        values: &[Bytes],
        acks: i16,
        fetch_offset: i64,
    ) -> Result<(Produced, Fetched), String> {
        let versions = (
            self.versions.produce.expect("checked by run"),
            self.versions.fetch.expect("checked by run"),
        );
        produce_then_fetch(
            probe,
            &self.leader,
            versions,
            &self.target.topic,
            PARTITION,
            values,
            acks,
            fetch_offset,
        )
        .await
    }

    async fn list_offset(
        &self,
        probe: &mut Probe<T>,
        timestamp: i64,
    ) -> Result<(i16, i64), String> {
        let version = self.versions.list_offsets.expect("checked by run");
        list_offset(
            probe,
            &self.leader,
            version,
            &self.target.topic,
            PARTITION,
            timestamp,
        )
        .await
    }

    /// Fetches `from..until` (records at or past `from`, in log order), a few fetches at
    /// most: fewer records back means the broker did not serve them.
    async fn fetch_range(
        &self,
        probe: &mut Probe<T>,
        from: i64,
        until: i64,
    ) -> Result<Vec<(i64, Option<Bytes>)>, String> {
        let mut next = from;
        let mut found = Vec::new();
        let mut empty_fetches = 0;
        while next < until && empty_fetches < 3 {
            let fetched = self.fetch(probe, next, FETCH_WAIT_MS).await?;
            if fetched.error_code != 0 {
                return Err(format!(
                    "Fetch at {next} answered {}",
                    error_name(fetched.error_code)
                ));
            }
            let fresh: Vec<_> = fetched
                .records
                .into_iter()
                .filter(|(o, _)| *o >= next)
                .collect();
            match fresh.last() {
                Some(&(last, _)) => next = last + 1,
                None => empty_fetches += 1,
            }
            found.extend(fresh);
        }
        Ok(found)
    }
}

/// `NAME (code)` for an error code, `NONE (0)` for none.
pub(crate) fn error_name(code: i16) -> String {
    match ResponseError::try_from_code(code) {
        None => "NONE (0)".to_string(),
        Some(error) => format!("{error:?} ({code})"),
    }
}

/// Evidence of the exchange at `produce_at` followed by everything since `from`.
fn evidence_with_produce<T: Transport>(
    probe: &Probe<T>,
    summary: impl Into<String>,
    produce_at: usize,
    from: usize,
) -> Evidence {
    let mut indexes = vec![produce_at];
    indexes.extend((from..probe.exchanges.len()).filter(|&i| i != produce_at));
    probe.evidence_of(summary, &indexes)
}

fn offsets(records: &[(i64, Option<Bytes>)]) -> Vec<i64> {
    records.iter().map(|(o, _)| *o).collect()
}

fn show(outcome: &Result<(i16, i64), String>) -> String {
    match outcome {
        Ok((code, offset)) => format!("{} offset {offset}", error_name(*code)),
        Err(e) => e.clone(),
    }
}
