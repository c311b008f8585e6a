//! The cluster's events as data: what the controller decided, what brokers did, what the
//! nemesis struck. Fault triggers fire on them, coverage counts them, the report's timeline
//! draws them; `describe()` gives the words the trace hash is computed over.

use faultline_broker::events::{BrokerEventKind, ControllerEvent, FenceReason};
use faultline_broker::storage::TopicPartition;

/// Something the cluster did, for the trace and the report's timeline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterEvent {
    /// Simulated ns.
    pub time_ns: u64,
    /// Which node (`controller`, `broker-N`, or `nemesis`).
    pub node: String,
    /// What happened.
    pub kind: ClusterEventKind,
}

impl ClusterEvent {
    /// The event in words, as the trace records it.
    pub fn description(&self) -> String {
        self.kind.describe()
    }
}

/// What happened. A closed set: triggers, coverage and the report match on it exhaustively.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClusterEventKind {
    /// The controller registered a new leader in a new leader epoch (KIP-101), or the
    /// partition's first leader at bootstrap.
    LeaderElected {
        /// The partition.
        partition: TopicPartition,
        /// The new leader.
        leader: i32,
        /// Its leader epoch.
        leader_epoch: i32,
        /// The partition epoch.
        partition_epoch: i32,
        /// The ISR.
        isr: Vec<i32>,
    },
    /// The controller found no eligible leader: the partition is offline.
    PartitionOffline {
        /// The partition.
        partition: TopicPartition,
        /// The (bumped) leader epoch.
        leader_epoch: i32,
        /// The partition epoch.
        partition_epoch: i32,
        /// The ISR.
        isr: Vec<i32>,
    },
    /// The controller accepted an ISR change in the same leader epoch (KIP-497
    /// AlterPartition, or a fence that removed a member).
    IsrChanged {
        /// The partition.
        partition: TopicPartition,
        /// The leader.
        leader: i32,
        /// The leader epoch.
        leader_epoch: i32,
        /// The partition epoch (the ISR version).
        partition_epoch: i32,
        /// The new ISR.
        isr: Vec<i32>,
        /// Members that joined.
        added: Vec<i32>,
        /// Members that left.
        removed: Vec<i32>,
    },
    /// A broker took up leadership of a replica it hosts.
    BecameLeader {
        /// The partition.
        partition: TopicPartition,
        /// The broker.
        broker: i32,
        /// The epoch it leads in.
        leader_epoch: i32,
        /// Its log end offset then.
        log_end_offset: i64,
        /// The ISR it was handed.
        isr: Vec<i32>,
    },
    /// A follower cut its log's tail.
    Truncated {
        /// The partition.
        partition: TopicPartition,
        /// The broker.
        broker: i32,
        /// Log end before.
        from: i64,
        /// Log end after.
        to: i64,
        /// The leader epoch it follows.
        leader_epoch: i32,
    },
    /// A leader sent the controller a new ISR change (KIP-497 AlterPartition; not a
    /// resend). The change is in flight until the answer or newer metadata settles it.
    IsrProposed {
        /// The partition.
        partition: TopicPartition,
        /// The leader that proposes.
        broker: i32,
        /// Its leader epoch.
        leader_epoch: i32,
        /// The partition epoch the proposal starts from.
        partition_epoch: i32,
        /// The ISR the proposal starts from.
        isr: Vec<i32>,
        /// The ISR it proposes.
        proposed: Vec<i32>,
    },
    /// A transaction coordinator answered EndTxn with success (KIP-98).
    EndTxnAnswered {
        /// The transactional id's `__transaction_state` partition.
        partition: TopicPartition,
        /// The coordinator.
        broker: i32,
        /// Commit (true) or abort.
        commit: bool,
    },
    /// A leader acknowledged a DeleteRecords (KIP-107).
    RecordsDeleted {
        /// The partition.
        partition: TopicPartition,
        /// The leader.
        broker: i32,
        /// The new log start offset.
        log_start_offset: i64,
    },
    /// The controller fenced a broker.
    BrokerFenced {
        /// The broker.
        broker: i32,
        /// Why.
        reason: FenceReason,
    },
    /// The controller unfenced a broker.
    BrokerUnfenced {
        /// The broker.
        broker: i32,
    },
    /// A power loss cost a host its unsynced log entries.
    PowerLossDamage {
        /// The host.
        node: String,
        /// Entries lost.
        lost: usize,
    },
    /// A clock-skew window set a host's clock rate.
    ClockSkewed {
        /// The host.
        node: String,
        /// The rate drawn, in permille of real time.
        rate_permille: u64,
    },
    /// Message loss dropped what was in flight on a link.
    MessagesDropped {
        /// One end.
        a: String,
        /// The other end.
        b: String,
    },
    /// The nemesis killed a host's process (kill -9, or a power loss).
    ProcessCrashed {
        /// The host.
        node: String,
        /// Whether its unsynced writes went too.
        power_loss: bool,
    },
    /// The nemesis restarted a host's process.
    ProcessRestarted {
        /// The host.
        node: String,
    },
    /// The controller created or deleted a topic (CreateTopics/DeleteTopics, KIP-590).
    TopicChanged {
        /// The controller's event.
        event: ControllerEvent,
    },
}

impl ClusterEventKind {
    /// The event in words.
    pub fn describe(&self) -> String {
        match self {
            ClusterEventKind::LeaderElected {
                partition,
                leader,
                leader_epoch,
                partition_epoch,
                isr,
            }
            | ClusterEventKind::IsrChanged {
                partition,
                leader,
                leader_epoch,
                partition_epoch,
                isr,
                ..
            } => ControllerEvent::PartitionRegistered {
                partition: partition.clone(),
                leader: *leader,
                leader_epoch: *leader_epoch,
                partition_epoch: *partition_epoch,
                isr: isr.clone(),
            }
            .describe(),
            ClusterEventKind::PartitionOffline {
                partition,
                leader_epoch,
                partition_epoch,
                isr,
            } => ControllerEvent::PartitionRegistered {
                partition: partition.clone(),
                leader: -1,
                leader_epoch: *leader_epoch,
                partition_epoch: *partition_epoch,
                isr: isr.clone(),
            }
            .describe(),
            ClusterEventKind::BecameLeader {
                partition,
                broker,
                leader_epoch,
                log_end_offset,
                isr,
            } => broker_words(
                partition,
                &BrokerEventKind::BecameLeader {
                    broker: *broker,
                    leader_epoch: *leader_epoch,
                    log_end_offset: *log_end_offset,
                    isr: isr.clone(),
                },
            ),
            ClusterEventKind::Truncated {
                partition,
                broker,
                from,
                to,
                leader_epoch,
            } => broker_words(
                partition,
                &BrokerEventKind::Truncated {
                    broker: *broker,
                    from: *from,
                    to: *to,
                    leader_epoch: *leader_epoch,
                },
            ),
            ClusterEventKind::IsrProposed {
                partition,
                broker,
                leader_epoch,
                partition_epoch,
                isr,
                proposed,
            } => broker_words(
                partition,
                &BrokerEventKind::IsrProposed {
                    broker: *broker,
                    leader_epoch: *leader_epoch,
                    partition_epoch: *partition_epoch,
                    isr: isr.clone(),
                    proposed: proposed.clone(),
                },
            ),
            ClusterEventKind::EndTxnAnswered {
                partition,
                broker,
                commit,
            } => broker_words(
                partition,
                &BrokerEventKind::EndTxnAnswered {
                    broker: *broker,
                    commit: *commit,
                },
            ),
            ClusterEventKind::RecordsDeleted {
                partition,
                broker,
                log_start_offset,
            } => broker_words(
                partition,
                &BrokerEventKind::RecordsDeleted {
                    broker: *broker,
                    log_start_offset: *log_start_offset,
                },
            ),
            ClusterEventKind::BrokerFenced { broker, reason } => ControllerEvent::BrokerFenced {
                broker: *broker,
                reason: *reason,
            }
            .describe(),
            ClusterEventKind::BrokerUnfenced { broker } => {
                ControllerEvent::BrokerUnfenced { broker: *broker }.describe()
            }
            ClusterEventKind::PowerLossDamage { node, lost } => {
                format!("power-loss: {node} lost {lost} unsynced entries")
            }
            ClusterEventKind::ClockSkewed {
                node,
                rate_permille,
            } => format!("clock-skew: {node} clock at {rate_permille}‰"),
            ClusterEventKind::MessagesDropped { a, b } => {
                format!("loss: dropped messages in flight between {a} and {b}")
            }
            ClusterEventKind::ProcessCrashed { node, power_loss } => {
                let how = if *power_loss { "lost power" } else { "crashed" };
                format!("{node} {how}")
            }
            ClusterEventKind::ProcessRestarted { node } => format!("{node} restarted"),
            ClusterEventKind::TopicChanged { event } => event.describe(),
        }
    }

    /// The kind's name in reports (and the CSS class of its timeline mark).
    pub fn name(&self) -> &'static str {
        match self {
            ClusterEventKind::LeaderElected { .. } | ClusterEventKind::BecameLeader { .. } => {
                "leader-change"
            }
            ClusterEventKind::PartitionOffline { .. } => "partition-offline",
            ClusterEventKind::IsrChanged { removed, .. } if !removed.is_empty() => "isr-shrink",
            ClusterEventKind::IsrChanged { .. } => "isr-expand",
            ClusterEventKind::Truncated { .. } => "truncation",
            ClusterEventKind::IsrProposed { .. } => "isr-proposed",
            ClusterEventKind::EndTxnAnswered { .. } => "txn-end",
            ClusterEventKind::RecordsDeleted { .. } => "records-deleted",
            ClusterEventKind::BrokerFenced { .. } => "fence",
            ClusterEventKind::BrokerUnfenced { .. } => "unfence",
            ClusterEventKind::PowerLossDamage { .. } => "power-loss",
            ClusterEventKind::ClockSkewed { .. } => "clock-skew",
            ClusterEventKind::MessagesDropped { .. } => "message-loss",
            ClusterEventKind::ProcessCrashed { .. } => "crash",
            ClusterEventKind::ProcessRestarted { .. } => "restart",
            ClusterEventKind::TopicChanged { .. } => "topic",
        }
    }

    /// The partition it concerns, if one.
    pub fn partition(&self) -> Option<&TopicPartition> {
        match self {
            ClusterEventKind::LeaderElected { partition, .. }
            | ClusterEventKind::PartitionOffline { partition, .. }
            | ClusterEventKind::IsrChanged { partition, .. }
            | ClusterEventKind::BecameLeader { partition, .. }
            | ClusterEventKind::Truncated { partition, .. }
            | ClusterEventKind::IsrProposed { partition, .. }
            | ClusterEventKind::EndTxnAnswered { partition, .. }
            | ClusterEventKind::RecordsDeleted { partition, .. } => Some(partition),
            ClusterEventKind::BrokerFenced { .. }
            | ClusterEventKind::BrokerUnfenced { .. }
            | ClusterEventKind::PowerLossDamage { .. }
            | ClusterEventKind::ClockSkewed { .. }
            | ClusterEventKind::MessagesDropped { .. }
            | ClusterEventKind::ProcessCrashed { .. }
            | ClusterEventKind::ProcessRestarted { .. }
            | ClusterEventKind::TopicChanged { .. } => None,
        }
    }
}

fn broker_words(partition: &TopicPartition, kind: &BrokerEventKind) -> String {
    format!("{}-{}: {}", partition.0, partition.1, kind.describe())
}

/// Classifies the controller's registrations against the previous one of each partition:
/// an election, an offline partition, or an ISR change.
#[derive(Debug, Default)]
pub struct EventTyper {
    /// The last registration seen per partition: (leader, leader epoch, ISR).
    last: std::collections::BTreeMap<TopicPartition, (i32, i32, Vec<i32>)>,
}

impl EventTyper {
    /// Types one controller event.
    pub fn controller(&mut self, event: ControllerEvent) -> ClusterEventKind {
        match event {
            ControllerEvent::PartitionRegistered {
                partition,
                leader,
                leader_epoch,
                partition_epoch,
                isr,
            } => {
                let previous = self
                    .last
                    .insert(partition.clone(), (leader, leader_epoch, isr.clone()));
                let same_epoch = previous
                    .as_ref()
                    .filter(|(l, e, _)| *e == leader_epoch && *l == leader);
                match (leader, same_epoch) {
                    (l, _) if l < 0 => ClusterEventKind::PartitionOffline {
                        partition,
                        leader_epoch,
                        partition_epoch,
                        isr,
                    },
                    (_, Some((_, _, before))) => ClusterEventKind::IsrChanged {
                        added: isr
                            .iter()
                            .filter(|b| !before.contains(b))
                            .copied()
                            .collect(),
                        removed: before
                            .iter()
                            .filter(|b| !isr.contains(b))
                            .copied()
                            .collect(),
                        partition,
                        leader,
                        leader_epoch,
                        partition_epoch,
                        isr,
                    },
                    (_, None) => ClusterEventKind::LeaderElected {
                        partition,
                        leader,
                        leader_epoch,
                        partition_epoch,
                        isr,
                    },
                }
            }
            ControllerEvent::BrokerFenced { broker, reason } => {
                ClusterEventKind::BrokerFenced { broker, reason }
            }
            ControllerEvent::BrokerUnfenced { broker } => {
                ClusterEventKind::BrokerUnfenced { broker }
            }
            event @ (ControllerEvent::TopicCreated { .. }
            | ControllerEvent::PartitionsCreated { .. }
            | ControllerEvent::TopicConfigsChanged { .. }
            | ControllerEvent::TopicDeleted { .. }) => ClusterEventKind::TopicChanged { event },
        }
    }

    /// Types one broker event.
    pub fn broker(partition: TopicPartition, kind: BrokerEventKind) -> ClusterEventKind {
        match kind {
            BrokerEventKind::BecameLeader {
                broker,
                leader_epoch,
                log_end_offset,
                isr,
            } => ClusterEventKind::BecameLeader {
                partition,
                broker,
                leader_epoch,
                log_end_offset,
                isr,
            },
            BrokerEventKind::Truncated {
                broker,
                from,
                to,
                leader_epoch,
            } => ClusterEventKind::Truncated {
                partition,
                broker,
                from,
                to,
                leader_epoch,
            },
            BrokerEventKind::IsrProposed {
                broker,
                leader_epoch,
                partition_epoch,
                isr,
                proposed,
            } => ClusterEventKind::IsrProposed {
                partition,
                broker,
                leader_epoch,
                partition_epoch,
                isr,
                proposed,
            },
            BrokerEventKind::EndTxnAnswered { broker, commit } => {
                ClusterEventKind::EndTxnAnswered {
                    partition,
                    broker,
                    commit,
                }
            }
            BrokerEventKind::RecordsDeleted {
                broker,
                log_start_offset,
            } => ClusterEventKind::RecordsDeleted {
                partition,
                broker,
                log_start_offset,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn registered(leader: i32, leader_epoch: i32, isr: &[i32]) -> ControllerEvent {
        ControllerEvent::PartitionRegistered {
            partition: ("events".into(), 0),
            leader,
            leader_epoch,
            partition_epoch: 0,
            isr: isr.to_vec(),
        }
    }

    #[test]
    fn registrations_are_typed_against_the_previous_one() {
        let mut typer = EventTyper::default();
        let first = typer.controller(registered(1, 0, &[1, 2, 3]));
        assert!(matches!(
            first,
            ClusterEventKind::LeaderElected { leader: 1, .. }
        ));
        assert_eq!(first.describe(), "events-0: leader 1 epoch 0 isr [1, 2, 3]");
        let shrink = typer.controller(registered(1, 0, &[1, 3]));
        assert!(
            matches!(&shrink, ClusterEventKind::IsrChanged { removed, added, .. } if removed == &[2] && added.is_empty())
        );
        assert_eq!(shrink.name(), "isr-shrink");
        let expand = typer.controller(registered(1, 0, &[1, 3, 2]));
        assert_eq!(expand.name(), "isr-expand");
        let elected = typer.controller(registered(3, 1, &[3, 2]));
        assert_eq!(elected.name(), "leader-change");
        let offline = typer.controller(registered(-1, 2, &[3]));
        assert_eq!(offline.name(), "partition-offline");
        assert_eq!(offline.describe(), "events-0: leader -1 epoch 2 isr [3]");
    }
}
