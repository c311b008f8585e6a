//! Unit tests of a leader's ISR proposals: who may rejoin (Kafka's `isFollowerInSync`,
//! KAFKA-7128), an unanswered AlterPartition sent again (KIP-497), and the trace's
//! `IsrProposed` event for a new proposal but not for its resends.

use crate::append::ProducedBatch;
use crate::broker::Broker;
use crate::config::{ClusterConfig, MessageTimestampType};
use crate::controller_channel::take_isr_proposals;
use crate::events::BrokerEventKind;
use crate::idempotence::AppendTime;
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

fn append(p: &mut Partition, count: usize) {
    let time = AppendTime {
        timestamp_type: MessageTimestampType::CreateTime,
        now_ms: 0,
    };
    for _ in 0..count {
        let bytes = faultline_wire::records::producer_batch(&[bytes::Bytes::new()], None, 0);
        let batch = ProducedBatch::parse(&bytes).unwrap();
        p.append_produce(&batch, 1, 1, true, time).unwrap();
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
            configs: Default::default(),
        },
        MetadataRecord::Partition(registration(0, isr)),
    ];
    broker.apply_metadata(&records, 0);
    broker
}

/// Kafka `Partition.isFollowerInSync`: a follower rejoins once it reaches the high
/// watermark and the start of the leader's epoch (`leaderEpochStartOffsetOpt`), whatever
/// the leader appended since. Below the epoch start it stays out even above a lagging
/// high watermark: KAFKA-7128, where such a follower, elected next, lost committed records.
#[test]
fn kafka_7128_a_follower_rejoins_at_the_epoch_start_not_at_the_log_end() {
    let mut p = Partition::new(1, registration(0, vec![1]), PartitionLog::default());
    p.apply_registration(registration(0, vec![1]), 0);
    append(&mut p, 5);
    // Epoch 1 starts at offset 5; the new leader's high watermark is still 5 (ISR [1]
    // committed everything) and it appends three more records.
    p.apply_registration(registration(1, vec![1, 3]), 100);
    append(&mut p, 3);
    assert_eq!(p.log.end_offset(), 8);
    p.fetch_by_follower(3, 8, 0, 110, 1 << 20, 100).unwrap();
    p.fetch_by_follower(2, 3, 0, 110, 1 << 20, 100).unwrap();
    assert_eq!(p.high_watermark, 8, "the ISR [1, 3] holds every offset");
    assert_eq!(
        p.isr_proposal(120, LAG_MS),
        None,
        "follower 2 at 3 is below both"
    );
    p.fetch_by_follower(2, 8, 0, 130, 1 << 20, 100).unwrap();
    append(&mut p, 2);
    p.fetch_by_follower(3, 10, 0, 140, 1 << 20, 100).unwrap();
    p.fetch_by_follower(2, 8, 0, 140, 1 << 20, 100).unwrap();
    assert_eq!(p.high_watermark, 10);
    assert_eq!(
        p.isr_proposal(150, LAG_MS),
        None,
        "8 is below the high watermark 10"
    );
    p.fetch_by_follower(2, 10, 0, 160, 1 << 20, 100).unwrap();
    append(&mut p, 1);
    assert_eq!(
        p.isr_proposal(170, LAG_MS),
        Some(vec![1, 2, 3]),
        "at the high watermark and past the epoch start, behind the log end"
    );
}

/// KAFKA-7128's own case: a new leader whose high watermark lags behind its epoch start
/// does not let in a follower between the two.
#[test]
fn kafka_7128_a_follower_between_a_lagging_high_watermark_and_the_epoch_start_stays_out() {
    let mut p = Partition::new(1, registration(0, vec![1, 2, 3]), PartitionLog::default());
    p.apply_registration(registration(0, vec![1, 2, 3]), 0);
    append(&mut p, 5);
    p.fetch_by_follower(3, 2, 0, 10, 1 << 20, 100).unwrap();
    p.fetch_by_follower(2, 2, 0, 10, 1 << 20, 100).unwrap();
    assert_eq!(p.high_watermark, 2);
    p.apply_registration(registration(1, vec![1, 3]), 100);
    p.fetch_by_follower(2, 3, 0, 110, 1 << 20, 100).unwrap();
    assert_eq!(p.high_watermark, 2, "follower 3 has not fetched in epoch 1");
    assert_eq!(
        p.isr_proposal(120, LAG_MS),
        None,
        "3 is above the HW, below 5"
    );
    p.fetch_by_follower(2, 5, 0, 130, 1 << 20, 100).unwrap();
    assert_eq!(p.isr_proposal(140, LAG_MS), Some(vec![1, 2, 3]));
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
