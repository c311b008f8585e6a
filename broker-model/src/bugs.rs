//! Planted bugs: switchable copies of bugs real Kafka-like systems shipped.
//!
//! Each is a config value, never a removed assertion. With every switch off the broker
//! must pass every check on every seed; with one on, the harness must find it. Every switch
//! says what it breaks, where it comes from, which anomaly reveals it and which faults it
//! needs; `scenarios/negative/` holds one scenario per bug that must fail.

use serde::{Deserialize, Serialize};

/// The switches. All default to off.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PlantedBugs {
    /// Acknowledge acks=all produce requests as soon as the leader has appended, before the
    /// ISR has the records. Breaks: durability of acknowledged writes across leader loss.
    /// Source: the guarantee acks=all exists for (Kafka protocol guide, Produce `acks`);
    /// the class of Bufstream's and NATS 2.12's acknowledged-but-lost writes found by
    /// Jepsen. Revealed by: lost-write. Needs: a leader crash or isolation.
    pub ack_before_replication: bool,
    /// When no in-sync replica is alive, elect any live replica (Kafka's
    /// `unclean.leader.election.enable=true`). Breaks: acknowledged writes the new leader
    /// never had. Source: Jepsen's 2013 Kafka analysis (aphyr, "Call me maybe: Kafka").
    /// Revealed by: lost-write, inconsistent-offsets. Needs: the ISR shrinking to the
    /// leader (min.insync.replicas=1), then the leader failing.
    pub unclean_leader_election: bool,
    /// A follower truncates to its high watermark when it starts following, instead of
    /// asking the leader by leader epoch. Breaks: a restarted follower that loses its
    /// uncommitted-to-it tail and is then elected loses committed records. Source: Kafka
    /// before KIP-101 ("Alter replication protocol to use leader epoch rather than high
    /// watermark for truncation"). Revealed by: lost-write, inconsistent-offsets. Needs:
    /// a follower restart, then a leader failure soon after.
    pub truncate_to_high_watermark: bool,
    /// Consumer fetches return records up to the log end, above the high watermark.
    /// Breaks: consumers see records that a failover later truncates, and the offset is
    /// reused by another value. Source: the high watermark's contract (Kafka protocol
    /// guide, Fetch; KIP-392 keeps it for follower fetching). Revealed by:
    /// inconsistent-offsets. Needs: a leader failure with an uncommitted tail.
    pub reads_above_high_watermark: bool,
    /// fsync returns without making anything durable. Breaks: `fsync = "always"` under
    /// power loss. Source: the NATS 2.12.1 class of bugs Jepsen found (acknowledge before
    /// fsync), and "fsyncgate" (PostgreSQL, 2018). Revealed by: lost-write. Needs: power
    /// loss of a majority with fsync=always.
    pub fsync_lies: bool,
    /// A leader acts on an ISR shrink (and advances the high watermark) before the
    /// controller has accepted it. Breaks: a leader cut off from the controller shrinks the
    /// ISR to itself and acknowledges writes the newly elected leader never had. Source:
    /// KIP-497 (AlterIsr) exists so that ISR changes are committed by the controller first.
    /// Revealed by: lost-write. Needs: the leader cut off from the controller and its
    /// followers but not from clients, with min.insync.replicas=1.
    pub isr_change_not_persisted: bool,
    /// The produce response's base offset is computed from the log end when the
    /// acknowledgement is sent, not from the append itself, so a batch appended by another
    /// producer meanwhile shifts it. Breaks: the offset a producer is told. Source: the
    /// spurious offsets Jepsen found returned to sends in Bufstream 0.1 (jepsen.io,
    /// "Bufstream 0.1.0", 2024). Revealed by: inconsistent-offsets. Needs: no fault at all,
    /// only concurrent producers on one partition.
    pub racy_produce_offset: bool,
    /// The leader appends idempotent producers' batches without checking or remembering
    /// their sequence numbers, so a retried send whose first attempt was written (its
    /// answer lost to a timeout or a leader change) is written twice. Breaks: KIP-98's
    /// exactly-once-per-partition guarantee for idempotent producers. Source: the class of
    /// bugs KIP-98/KIP-360 and KAFKA-5793/KAFKA-6361 fixed (lost producer state after
    /// failover let retries in as duplicates). Revealed by: duplicate (log checker).
    /// Needs: `idempotent = true` producers and faults that lose produce answers after the
    /// append (leader isolation or crash, a slow follower that times acks=all out).
    pub idempotence_without_dedup: bool,
    /// The group coordinator accepts OffsetCommit from any member id and generation, so a
    /// zombie member (expired, or of an older generation) moves offsets of partitions it
    /// no longer owns. Breaks: the classic protocol's generation fencing
    /// (ILLEGAL_GENERATION / UNKNOWN_MEMBER_ID on OffsetCommit; KIP-62, protocol guide
    /// "The Consumer Group Protocol"). Source: the zombie-consumer problem that generation
    /// ids exist to solve, and coordinators that skipped the check for simple consumers
    /// (KAFKA-4162 class). Revealed by: fenced-commit (group checker). Needs: group
    /// consumers and a rebalance that overtakes a member's commit (joins, crashes,
    /// isolations longer than the session timeout).
    pub no_generation_fencing: bool,
    /// Offset commits are acknowledged from the coordinator's memory without being written
    /// to `__consumer_offsets`, so a new coordinator after failover has none of them.
    /// Breaks: durability of committed offsets across coordinator failover. Source: early
    /// ZooKeeper-less offset managers and Kafka's own pre-0.8.2 in-memory offset cache
    /// before the offsets topic (0.8.2); the reason `offsets.commit.required.acks` is -1.
    /// Revealed by: lost-commit (group checker). Needs: group consumers and a crash or
    /// isolation of the coordinator (the leader of the group's offsets partition).
    pub offsets_not_replicated: bool,
    /// The leader re-batches each produced batch from its decoded records instead of
    /// keeping the producer's bytes, and the records lose their headers (and compression)
    /// on the way. Breaks: KIP-82 record headers are part of the record; dropping them is
    /// data loss. Source: this reference broker before issue 16 (a raw Fetch showed header
    /// count 0), and the class of brokers that rewrite batches into a format without
    /// headers (message format v0/v1, KIP-82's down-conversion caveat). Revealed by:
    /// phantom (a consumer checking headers reads a record that is not the one written).
    /// Needs: `headers = true` producers; no fault.
    pub headers_dropped: bool,
    /// The transaction coordinator sends COMMIT/ABORT markers to the first partition of a
    /// transaction only, and completes it as if every partition had one. Breaks: KIP-98's
    /// atomicity; the other partitions' records stay in an open transaction (the last
    /// stable offset never advances there) or, after a later marker of the producer,
    /// commit with the wrong transaction. Source: the "hanging transaction" class KIP-890
    /// and KAFKA-12671/KAFKA-14402 describe (a partition left without its marker).
    /// Revealed by: a transaction stuck open, lost transactional writes (read_committed).
    /// Needs: transactions spanning several partitions; no fault.
    pub markers_not_written_everywhere: bool,
    /// The last stable offset is the high watermark, open transactions ignored. Breaks:
    /// read_committed isolation (KIP-98): consumers read records of transactions that are
    /// still open and may abort. Source: Jepsen's Redpanda 21.10 and Bufstream analyses
    /// (read_committed consumers seeing uncommitted data). Revealed by: aborted read (G1a)
    /// / read-uncommitted. Needs: transactions that abort; no fault.
    pub lso_past_open_transactions: bool,
    /// A transactional produce from an older producer epoch is appended, although a marker
    /// of a newer epoch fenced it. Breaks: zombie fencing (KIP-98): a fenced producer's late
    /// write lands after its transaction was aborted, outside any transaction the
    /// coordinator knows, and holds the last stable offset back (KIP-890's "hanging
    /// transaction", KAFKA-14402). Revealed by: zombie write, a transaction stuck open.
    /// Needs: producers fenced mid-transaction (a second producer with the same
    /// transactional id, or a transaction timeout) with sends still in flight.
    pub fenced_produce_accepted: bool,
    /// The coordinator acts on a transaction state transition (and answers EndTxn) before
    /// `__transaction_state` replicated it. Breaks: after a coordinator failover the new
    /// coordinator does not know the commit it acknowledged, and aborts the transaction on
    /// timeout (KIP-98 writes state with acks=-1 for this reason). Source: the class of
    /// Jepsen's Bufstream/Redpanda lost-commit findings. Revealed by: lost transactional
    /// writes (a committed transaction read as aborted). Needs: a crash or isolation of the
    /// transaction coordinator right after EndTxn.
    pub transaction_state_not_replicated: bool,
    /// read_committed Fetch answers omit the aborted-transaction list. Breaks: KIP-98
    /// read_committed: consumers cannot tell aborted records from committed ones and
    /// return them. Source: brokers that serve read_committed as read-up-to-LSO only (the
    /// Fetch response's `aborted_transactions` is what makes aborted data invisible).
    /// Revealed by: aborted read (G1a). Needs: transactions that abort; no fault.
    pub aborted_transactions_omitted: bool,
    /// DeleteRecords is acknowledged as soon as the leader has moved its own log start,
    /// without waiting for the replicas' log start. Breaks: KIP-107's low watermark (Kafka's
    /// `DelayedDeleteRecords` waits for `Partition.lowWatermarkIfLeader`, the smallest log
    /// start over the live replicas): a follower elected after the answer serves the
    /// deleted records again. Source: the bug faultline's own reference broker had until
    /// 2026-12-02 (it inferred a follower's log start from the order of its fetches;
    /// docs/findings). Revealed by: log-start-regression (admin checker). Needs: a leader
    /// failover right after a DeleteRecords.
    pub delete_records_not_replicated: bool,
}

impl PlantedBugs {
    /// Every planted bug by name, for `--bug NAME` and `faultline hunt`.
    pub const NAMES: &'static [&'static str] = &[
        "ack-before-replication",
        "unclean-leader-election",
        "truncate-to-high-watermark",
        "reads-above-high-watermark",
        "fsync-lies",
        "isr-change-not-persisted",
        "racy-produce-offset",
        "idempotence-without-dedup",
        "no-generation-fencing",
        "offsets-not-replicated",
        "headers-dropped",
        "markers-not-written-everywhere",
        "lso-past-open-transactions",
        "fenced-produce-accepted",
        "aborted-transactions-omitted",
        "transaction-state-not-replicated",
        "delete-records-not-replicated",
    ];

    /// Planted bugs that switch like the others (`--bug`, `[bugs]`, `serve --bug`) but that
    /// no simulated scenario reveals yet, so they are kept out of [`Self::NAMES`] — which
    /// `hunt` and the negative-scenario test walk. None now:
    /// `transaction-state-not-replicated` joined `NAMES` once the `txn-commit` fault trigger
    /// could crash the transaction coordinator right after its EndTxn answer.
    pub const TRANSACTION_NAMES: &'static [&'static str] = &[];

    fn switch(&mut self, name: &str) -> Option<&mut bool> {
        Some(match name {
            "ack-before-replication" => &mut self.ack_before_replication,
            "unclean-leader-election" => &mut self.unclean_leader_election,
            "truncate-to-high-watermark" => &mut self.truncate_to_high_watermark,
            "reads-above-high-watermark" => &mut self.reads_above_high_watermark,
            "fsync-lies" => &mut self.fsync_lies,
            "isr-change-not-persisted" => &mut self.isr_change_not_persisted,
            "racy-produce-offset" => &mut self.racy_produce_offset,
            "idempotence-without-dedup" => &mut self.idempotence_without_dedup,
            "no-generation-fencing" => &mut self.no_generation_fencing,
            "offsets-not-replicated" => &mut self.offsets_not_replicated,
            "headers-dropped" => &mut self.headers_dropped,
            "markers-not-written-everywhere" => &mut self.markers_not_written_everywhere,
            "lso-past-open-transactions" => &mut self.lso_past_open_transactions,
            "fenced-produce-accepted" => &mut self.fenced_produce_accepted,
            "transaction-state-not-replicated" => &mut self.transaction_state_not_replicated,
            "aborted-transactions-omitted" => &mut self.aborted_transactions_omitted,
            "delete-records-not-replicated" => &mut self.delete_records_not_replicated,
            _ => return None,
        })
    }

    /// Switches one bug on by name.
    pub fn enable(&mut self, name: &str) -> Result<(), String> {
        match self.switch(name) {
            Some(flag) => {
                *flag = true;
                Ok(())
            }
            None => Err(format!(
                "unknown planted bug {name:?}; known: {}",
                Self::NAMES
                    .iter()
                    .chain(Self::TRANSACTION_NAMES)
                    .copied()
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
        }
    }

    /// The names of the switched-on bugs.
    pub fn enabled(&self) -> Vec<&'static str> {
        let mut copy = *self;
        Self::NAMES
            .iter()
            .chain(Self::TRANSACTION_NAMES)
            .copied()
            .filter(|name| copy.switch(name).is_some_and(|flag| *flag))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_switches_exactly_its_bug() {
        for name in PlantedBugs::NAMES
            .iter()
            .chain(PlantedBugs::TRANSACTION_NAMES)
        {
            let mut bugs = PlantedBugs::default();
            bugs.enable(name).unwrap();
            assert_eq!(bugs.enabled(), vec![*name]);
        }
        assert!(PlantedBugs::default().enable("nope").is_err());
    }
}
