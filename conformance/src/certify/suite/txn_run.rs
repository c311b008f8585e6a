//! The state the transactions suite's properties share ([`TxnRun`]): the probe, the
//! versions, two partitions and their leaders, one transactional producer; and the reads
//! and writes every property makes with it (KIP-98).

use std::time::Duration;

use bytes::Bytes;

use faultline_wire::Transport;

use super::partition_io::{produce, Versions};
use super::probe::Probe;
use super::txn_calls::{error_text, fetch_isolated, IsolatedFetch, TxnProducer, TxnVersions};
use super::SuiteTarget;

/// How long a probe waits for markers: EndTxn is answered before the coordinator has
/// written every COMMIT/ABORT marker (KIP-98: markers are sent after the PrepareCommit /
/// PrepareAbort state is logged), so reads are repeated until this passes.
pub const MARKER_WAIT: Duration = Duration::from_secs(10);

/// Everything the properties share: the probe, the versions, two partitions and their
/// leaders, and the transactional producer.
pub struct TxnRun<'a, T: Transport> {
    /// Every exchange of the suite.
    pub probe: Probe<T>,
    /// What the suite runs against.
    pub target: &'a SuiteTarget,
    /// The versions of the transactional APIs.
    pub versions: TxnVersions,
    /// A Fetch version whose answers decode (see `readable_fetch_version`).
    pub fetch_version: i16,
    /// Two partitions of the topic (the same one twice on a one-partition topic).
    pub partitions: [i32; 2],
    /// Their leaders.
    pub leaders: [String; 2],
    /// Makes this run's values and ids unique.
    pub token: String,
    /// The producer of the current `transactional.id`.
    pub producer: TxnProducer,
}

impl<T: Transport> TxnRun<'_, T> {
    /// A value unique to this run.
    pub fn value(&self, label: &str) -> Bytes {
        Bytes::from(format!("faultline-{}-txn-{label}", self.token))
    }

    /// Transactional Produce of one value to partition slot `slot`: its base offset, or
    /// what went wrong.
    pub async fn send(&mut self, slot: usize, value: &Bytes) -> Result<i64, String> {
        let (partition, leader) = (self.partitions[slot], self.leaders[slot].clone());
        let topic = self.target.topic.clone();
        let produced = self
            .producer
            .produce(
                &mut self.probe,
                &self.versions,
                &leader,
                &topic,
                partition,
                std::slice::from_ref(value),
            )
            .await?;
        match produced.error_code {
            0 => Ok(produced.base_offset),
            code => Err(format!(
                "the transactional Produce to partition {partition} answered {}",
                error_text(code)
            )),
        }
    }

    /// A plain (non-transactional, acks=all) Produce of one value to slot `slot`.
    pub async fn send_plain(&mut self, slot: usize, value: &Bytes) -> Result<i64, String> {
        let version = Versions::of(&self.target.advertised)
            .produce
            .expect("Produce was checked");
        let (partition, leader) = (self.partitions[slot], self.leaders[slot].clone());
        let topic = self.target.topic.clone();
        let values = [value.clone()];
        let p = produce(
            &mut self.probe,
            &leader,
            version,
            &topic,
            partition,
            &values,
            -1,
            None,
        )
        .await?;
        match p.error_code {
            0 => Ok(p.base_offset),
            code => Err(format!(
                "a plain Produce to partition {partition} answered {}",
                error_text(code)
            )),
        }
    }

    /// One Fetch of slot `slot` from `offset` at `isolation`.
    pub async fn fetch(
        &mut self,
        slot: usize,
        offset: i64,
        isolation: i8,
    ) -> Result<IsolatedFetch, String> {
        let (partition, leader) = (self.partitions[slot], self.leaders[slot].clone());
        let topic = self.target.topic.clone();
        fetch_isolated(
            &mut self.probe,
            &leader,
            self.fetch_version,
            &topic,
            partition,
            offset,
            isolation,
        )
        .await
    }

    /// Reads slot `slot` from `offset` at `isolation` as a consumer does — each Fetch from
    /// just past the last record the previous one returned, since a broker may return as
    /// little as one batch per Fetch (protocol guide, Fetch) — until `value` is among what
    /// a consumer hands on, for at most [`MARKER_WAIT`]: the last fetch, whether `value`
    /// was seen, and every value handed on so far.
    pub async fn until_visible(
        &mut self,
        slot: usize,
        offset: i64,
        isolation: i8,
        value: &Bytes,
    ) -> Result<(IsolatedFetch, bool, Vec<(i64, Bytes)>), String> {
        let deadline = tokio::time::Instant::now() + MARKER_WAIT;
        let mut position = offset;
        let mut handed_on: Vec<(i64, Bytes)> = Vec::new();
        loop {
            let fetched = self.fetch(slot, position, isolation).await?;
            handed_on.extend(
                fetched
                    .visible()
                    .into_iter()
                    .filter(|(o, _)| *o >= position),
            );
            let next = fetched.records.iter().map(|r| r.offset + 1).max();
            let seen = handed_on.iter().any(|(_, v)| v == value);
            if seen || tokio::time::Instant::now() >= deadline {
                return Ok((fetched, seen, handed_on));
            }
            match next {
                Some(next) if next > position => position = next,
                _ => tokio::time::sleep(Duration::from_millis(200)).await,
            }
        }
    }

    /// Aborts whatever transaction the producer may have open (best effort, so one
    /// property's failure does not hold the last stable offset for the next).
    pub async fn abort_quietly(&mut self) {
        let _ = self
            .producer
            .end(&mut self.probe, &self.versions, false)
            .await;
    }

    /// AddPartitionsToTxn of both slots' partitions, or why not.
    pub async fn add_both(&mut self) -> Result<(), String> {
        let topic = self.target.topic.clone();
        let partitions = self.partitions;
        let code = self
            .producer
            .add_partitions(&mut self.probe, &self.versions, &topic, &partitions)
            .await?;
        match code {
            0 => Ok(()),
            code => Err(format!("AddPartitionsToTxn answered {}", error_text(code))),
        }
    }

    /// EndTxn, or why it was refused.
    pub async fn end(&mut self, commit: bool) -> Result<(), String> {
        match self
            .producer
            .end(&mut self.probe, &self.versions, commit)
            .await?
        {
            0 => Ok(()),
            code => Err(format!(
                "EndTxn({}) answered {}",
                if commit { "commit" } else { "abort" },
                error_text(code)
            )),
        }
    }
}
