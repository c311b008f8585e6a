//! Planted bugs: switchable copies of bugs real Kafka-like systems shipped.
//!
//! Each is a config value, never a removed assertion. With every switch off the broker
//! must pass every check on every seed; with one on, the harness must find it.

use serde::{Deserialize, Serialize};

/// The switches. All default to off.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PlantedBugs {
    /// Acknowledge acks=all produce requests as soon as the leader has appended, before the
    /// ISR has the records. Breaks: durability of acknowledged writes across leader loss.
    /// Source: the semantics acks=all exists to provide (Kafka protocol guide, Produce
    /// `acks`; KIP-1 min.insync.replicas); the same class as Bufstream's and NATS 2.12's
    /// acknowledged-but-lost writes in Jepsen's analyses. Revealed by: lost-write.
    /// Needs: a leader crash or isolation while followers lag.
    pub ack_before_replication: bool,
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
}

impl PlantedBugs {
    /// Every planted bug by name, for `--bug NAME` and scenario files.
    pub const NAMES: &'static [&'static str] = &[
        "ack-before-replication",
        "idempotence-without-dedup",
        "no-generation-fencing",
        "offsets-not-replicated",
    ];

    /// Switches one bug on by name.
    pub fn enable(&mut self, name: &str) -> Result<(), String> {
        match name {
            "ack-before-replication" => self.ack_before_replication = true,
            "idempotence-without-dedup" => self.idempotence_without_dedup = true,
            "no-generation-fencing" => self.no_generation_fencing = true,
            "offsets-not-replicated" => self.offsets_not_replicated = true,
            other => {
                return Err(format!(
                    "unknown planted bug {other:?}; known: {}",
                    Self::NAMES.join(", ")
                ))
            }
        }
        Ok(())
    }

    /// The names of the switched-on bugs.
    pub fn enabled(&self) -> Vec<&'static str> {
        let mut names = Vec::new();
        if self.ack_before_replication {
            names.push("ack-before-replication");
        }
        if self.idempotence_without_dedup {
            names.push("idempotence-without-dedup");
        }
        if self.no_generation_fencing {
            names.push("no-generation-fencing");
        }
        if self.offsets_not_replicated {
            names.push("offsets-not-replicated");
        }
        names
    }
}
