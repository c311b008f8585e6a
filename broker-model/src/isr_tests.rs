//! Unit tests of a leader's ISR proposals: an unanswered AlterPartition sent again
//! (KIP-497), and the trace's `IsrProposed` event for a new proposal but not for its
//! resends.

use crate::broker::Broker;
use crate::config::ClusterConfig;
use crate::controller_channel::take_isr_proposals;
use crate::events::BrokerEventKind;
use crate::log::PartitionLog;
use crate::metadata::{MetadataRecord, PartitionRegistration};
use crate::partition::Partition;
use crate::storage::MemoryStorage;

const LAG_MS: u64 = 1_000;

fn registration(leader_epoch: i32, isr: Vec<i32>) -> PartitionRegistration {
    PartitionRegistration {
        topic: "events".into(),
        partition: 0,
        replicas: vec![1, 2, 3],
        isr,
        leader: 1,
        leader_epoch,
        partition_epoch: leader_epoch,
    }
}

/// Broker 1 leading `events-0` (replicas 1-3) with ISR `isr`, epoch 0.
fn leader_broker(isr: Vec<i32>) -> Broker {
    let config = ClusterConfig {
        replica_lag_time_max_ms: LAG_MS,
        ..ClusterConfig::default()
    };
    let mut broker = Broker::new(1, config, Box::new(MemoryStorage::default()));
    let records = vec![
        MetadataRecord::Topic {
            name: "events".into(),
            partitions: 1,
        },
        MetadataRecord::Partition(registration(0, isr)),
    ];
    broker.apply_metadata(&records, 0);
    broker
}

/// KIP-497: the controller may or may not have applied an AlterPartition whose answer
/// never came; the leader sends the same proposal again until an answer or newer metadata
/// settles it (the controller refuses a duplicate of one it applied as a stale version).
#[test]
fn kip_497_an_unanswered_proposal_is_sent_again() {
    let mut p = Partition::new(1, registration(0, vec![1, 2, 3]), PartitionLog::default());
    p.apply_registration(registration(0, vec![1, 2, 3]), 0);
    assert_eq!(p.isr_proposal(10_000, LAG_MS), Some(vec![1]));
    assert_eq!(p.isr_proposal(10_500, LAG_MS), Some(vec![1]), "resent");
    let mut settled = registration(0, vec![1]);
    settled.partition_epoch = 1;
    p.apply_registration(settled, 11_000);
    assert_eq!(p.isr(), &[1]);
    assert_eq!(
        p.isr_proposal(11_500, LAG_MS),
        None,
        "settled, nothing to change"
    );
}

/// A new proposal is queued as a first send, and stays one if a resend replaces it before
/// the controller channel takes it; once taken, the resend the next tick queues is not.
#[test]
fn only_the_first_send_of_a_proposal_is_an_isr_proposed_event() {
    let mut broker = leader_broker(vec![1, 2, 3]);
    broker.tick_isr(10_000);
    broker.tick_isr(10_250);
    let taken = take_isr_proposals(&mut broker, 1);
    assert_eq!(taken.len(), 1);
    assert!(taken[0].first_send);
    assert_eq!(taken[0].isr, vec![1]);
    broker.note_isr_proposed(&taken[0].registration, &taken[0].isr);
    broker.tick_isr(10_500);
    let resent = take_isr_proposals(&mut broker, 1);
    assert_eq!(resent.len(), 1);
    assert!(!resent[0].first_send, "a resend of the unanswered proposal");
    let events: Vec<BrokerEventKind> = broker.events.drain(..).map(|e| e.kind).collect();
    let proposed: Vec<&BrokerEventKind> = events
        .iter()
        .filter(|k| matches!(k, BrokerEventKind::IsrProposed { .. }))
        .collect();
    assert_eq!(
        proposed,
        vec![&BrokerEventKind::IsrProposed {
            broker: 1,
            leader_epoch: 0,
            partition_epoch: 0,
            isr: vec![1, 2, 3],
            proposed: vec![1],
        }]
    );
}
