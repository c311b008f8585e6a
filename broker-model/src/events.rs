//! What brokers and the controller report to the run's trace, as data.
//!
//! The simulation turns these into its typed cluster events (fault triggers, coverage,
//! the report's timeline) without parsing text; `describe()` gives the words the trace
//! hash has always been computed over, so typing the events moved no recorded hash.

use crate::storage::TopicPartition;

/// A leadership, truncation or ISR proposal a broker observed on or made for one of its
/// replicas, or a transaction coordinator's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BrokerEventKind {
    /// This broker took over leadership of the partition in a new leader epoch
    /// (KIP-101: every leadership change bumps the epoch).
    BecameLeader {
        /// The broker.
        broker: i32,
        /// The epoch it leads in.
        leader_epoch: i32,
        /// Its log end offset when it became leader.
        log_end_offset: i64,
        /// The ISR it was handed.
        isr: Vec<i32>,
    },
    /// This broker, as a follower, cut its log's tail (KIP-101/KIP-279 truncation by
    /// leader epoch, or a disk-error undo).
    Truncated {
        /// The broker.
        broker: i32,
        /// Log end offset before.
        from: i64,
        /// Log end offset after.
        to: i64,
        /// The leader epoch it follows.
        leader_epoch: i32,
    },
    /// This broker, as the partition's leader, sent the controller a new ISR change
    /// (KIP-497 AlterPartition), not a resend of one it sent before. Until the answer the
    /// change is in flight: faults aimed at this moment test that a lost request or a lost
    /// answer is settled by a resend or by newer metadata.
    IsrProposed {
        /// The leader that proposes.
        broker: i32,
        /// Its leader epoch.
        leader_epoch: i32,
        /// The partition epoch the proposal starts from (KIP-497's ISR version).
        partition_epoch: i32,
        /// The ISR the proposal starts from.
        isr: Vec<i32>,
        /// The ISR it proposes.
        proposed: Vec<i32>,
    },
    /// This broker, as transaction coordinator, answered an EndTxn with success (KIP-98):
    /// the client now counts on the outcome. The partition is the transactional id's
    /// `__transaction_state` partition. Faults aimed at this moment test that the outcome
    /// was replicated before it was promised.
    EndTxnAnswered {
        /// The coordinator.
        broker: i32,
        /// Commit (true) or abort.
        commit: bool,
    },
    /// This broker, as leader, acknowledged a DeleteRecords (KIP-107): clients may now
    /// count on reads never going below the new log start. Faults aimed at this moment
    /// test that the replicas had taken the log start before it was promised.
    RecordsDeleted {
        /// The leader.
        broker: i32,
        /// The new log start offset (the answer's low watermark).
        log_start_offset: i64,
    },
}

impl BrokerEventKind {
    /// The event in words (without the partition).
    pub fn describe(&self) -> String {
        match self {
            BrokerEventKind::BecameLeader {
                broker,
                leader_epoch,
                log_end_offset,
                isr,
            } => format!(
                "broker {broker} became leader at epoch {leader_epoch} with log end {log_end_offset} and isr {isr:?}"
            ),
            BrokerEventKind::Truncated {
                broker,
                from,
                to,
                leader_epoch,
            } => format!("broker {broker} truncated from {from} to {to} at epoch {leader_epoch}"),
            BrokerEventKind::IsrProposed {
                broker,
                leader_epoch,
                partition_epoch,
                isr,
                proposed,
            } => format!(
                "broker {broker} proposed isr {proposed:?} (from {isr:?}, leader epoch {leader_epoch}, partition epoch {partition_epoch})"
            ),
            BrokerEventKind::EndTxnAnswered { broker, commit } => {
                let outcome = if *commit { "commit" } else { "abort" };
                format!("broker {broker} answered EndTxn({outcome})")
            }
            BrokerEventKind::RecordsDeleted {
                broker,
                log_start_offset,
            } => format!("broker {broker} acknowledged DeleteRecords to {log_start_offset}"),
        }
    }
}

/// Why the controller fenced a broker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FenceReason {
    /// No heartbeat within `broker.session.timeout.ms` (KIP-631).
    SessionTimedOut,
    /// A new process registered under its id: the old one is gone (it restarted).
    Reregistered,
}

impl FenceReason {
    /// The reason in words.
    pub fn describe(self) -> &'static str {
        match self {
            FenceReason::SessionTimedOut => "session timed out",
            FenceReason::Reregistered => "re-registered with a new incarnation",
        }
    }
}

/// A decision the controller made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ControllerEvent {
    /// A partition registration was written to the metadata log (a new leader, a new ISR).
    PartitionRegistered {
        /// The partition.
        partition: TopicPartition,
        /// Its leader, -1 for none.
        leader: i32,
        /// Its leader epoch.
        leader_epoch: i32,
        /// Its partition epoch (bumped by every change, KIP-497's ISR version).
        partition_epoch: i32,
        /// Its ISR.
        isr: Vec<i32>,
    },
    /// A broker was fenced: it leads nothing and joins no ISR.
    BrokerFenced {
        /// The broker.
        broker: i32,
        /// Why.
        reason: FenceReason,
    },
    /// A broker heartbeated or registered and is eligible again.
    BrokerUnfenced {
        /// The broker.
        broker: i32,
    },
    /// A topic was created (CreateTopics forwarded to the controller, KIP-590).
    TopicCreated {
        /// The topic.
        name: String,
        /// Its partitions.
        partitions: i32,
        /// Its replication factor.
        replication_factor: i32,
    },
    /// A topic gained partitions (CreatePartitions forwarded to the controller, KIP-195).
    PartitionsCreated {
        /// The topic.
        name: String,
        /// Its partitions before.
        from: i32,
        /// Its partitions now.
        to: i32,
    },
    /// A topic's configs were altered (AlterConfigs, IncrementalAlterConfigs).
    TopicConfigsChanged {
        /// The topic.
        name: String,
    },
    /// A topic was deleted (DeleteTopics forwarded to the controller).
    TopicDeleted {
        /// The topic.
        name: String,
    },
}

impl ControllerEvent {
    /// The event in words.
    pub fn describe(&self) -> String {
        match self {
            ControllerEvent::PartitionRegistered {
                partition,
                leader,
                leader_epoch,
                isr,
                ..
            } => format!(
                "{}-{}: leader {leader} epoch {leader_epoch} isr {isr:?}",
                partition.0, partition.1
            ),
            ControllerEvent::BrokerFenced { broker, reason } => {
                format!("broker {broker} fenced: {}", reason.describe())
            }
            ControllerEvent::BrokerUnfenced { broker } => format!("broker {broker} unfenced"),
            ControllerEvent::TopicCreated {
                name,
                partitions,
                replication_factor,
            } => format!(
                "topic {name} created: {partitions} partitions, replication {replication_factor}"
            ),
            ControllerEvent::PartitionsCreated { name, from, to } => {
                format!("topic {name} grown from {from} to {to} partitions")
            }
            ControllerEvent::TopicConfigsChanged { name } => {
                format!("topic {name} configs altered")
            }
            ControllerEvent::TopicDeleted { name } => format!("topic {name} deleted"),
        }
    }
}
