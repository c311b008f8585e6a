//! Unit tests of leader fencing at a replica: leader epochs (KIP-320), leadership checks
//! on the produce and fetch paths (protocol guide, Produce and Fetch error codes), and a
//! stale ISR proposal (KIP-497).

use faultline_wire::ResponseError;

use crate::append::ProducedBatch;
use crate::config::MessageTimestampType;
use crate::idempotence::AppendTime;
use crate::log::PartitionLog;
use crate::metadata::PartitionRegistration;
use crate::partition::Partition;

fn registration(leader: i32, leader_epoch: i32) -> PartitionRegistration {
    PartitionRegistration {
        topic: "events".into(),
        partition: 0,
        replicas: vec![1, 2, 3],
        isr: vec![1, 2, 3],
        leader,
        leader_epoch,
        partition_epoch: leader_epoch,
    }
}

fn batch() -> ProducedBatch {
    let bytes = faultline_wire::records::producer_batch(&[bytes::Bytes::new()], None, 0);
    ProducedBatch::parse(&bytes).unwrap()
}

const TIME: AppendTime = AppendTime {
    timestamp_type: MessageTimestampType::CreateTime,
    now_ms: 0,
};

/// KIP-320: a request carrying an older current_leader_epoch than the replica's is
/// FENCED_LEADER_EPOCH (a client or follower acting on stale metadata); a newer one is
/// UNKNOWN_LEADER_EPOCH (this replica is the stale one).
#[test]
fn kip_320_an_older_leader_epoch_is_fenced_leader_epoch() {
    let mut p = Partition::new(1, registration(1, 3), PartitionLog::default());
    p.apply_registration(registration(1, 3), 0);
    assert_eq!(p.check_epoch(2), Err(ResponseError::FencedLeaderEpoch));
    assert_eq!(p.check_epoch(4), Err(ResponseError::UnknownLeaderEpoch));
    assert_eq!(p.check_epoch(3), Ok(()));
    assert_eq!(p.check_epoch(-1), Ok(()));
}

/// Protocol guide, Produce: a replica that is not the leader refuses appends with
/// NOT_LEADER_OR_FOLLOWER (KIP-392 merged NOT_LEADER_FOR_PARTITION into it), and a leader
/// that learns of a newer epoch where it is a follower stops accepting them.
#[test]
fn a_follower_or_deposed_leader_is_not_leader_or_follower() {
    let mut p = Partition::new(1, registration(1, 0), PartitionLog::default());
    p.apply_registration(registration(1, 0), 0);
    assert!(p.append_produce(&batch(), -1, 2, true, TIME).is_ok());
    p.apply_registration(registration(2, 1), 10);
    assert_eq!(
        p.append_produce(&batch(), -1, 2, true, TIME),
        Err(ResponseError::NotLeaderOrFollower)
    );
    assert_eq!(
        p.fetch_by_follower(3, 0, 0, 10, 1 << 20, 10),
        Err(ResponseError::NotLeaderOrFollower)
    );
}

/// KIP-497: AlterPartition naming a stale partition_epoch is refused with
/// INVALID_UPDATE_VERSION; the leader then waits for the metadata that settles its ISR
/// instead of resending the stale proposal.
#[test]
fn kip_497_invalid_update_version_makes_the_leader_wait_for_metadata() {
    let mut p = Partition::new(1, registration(1, 0), PartitionLog::default());
    p.apply_registration(registration(1, 0), 0);
    let proposal = p.isr_proposal(10_000, 1_000);
    assert_eq!(proposal, Some(vec![1]), "silent followers leave the ISR");
    p.isr_change_answered(Err(ResponseError::InvalidUpdateVersion), 10_000);
    assert_eq!(p.isr_proposal(10_001, 1_000), None, "no resend while stale");
    let mut settled = registration(1, 0);
    settled.isr = vec![1];
    settled.partition_epoch = 1;
    p.apply_registration(settled, 10_002);
    assert_eq!(p.isr(), &[1]);
}

/// KIP-841 and KIP-497: a proposal the controller refused (INELIGIBLE_REPLICA) is no
/// longer in force, so a resend of it still queued for the controller is dropped; the
/// high watermark, no longer counting the refused member, may then pass it, and a late
/// acceptance would have put that member in the ISR below the high watermark (found by
/// the clean campaign at overlapping-faults seed 63, 2026-12-02).
#[test]
fn a_refused_isr_proposal_is_not_sent_again() {
    let mut p = Partition::new(1, registration(1, 0), PartitionLog::default());
    p.apply_registration(registration(1, 0), 0);
    let proposed = p
        .isr_proposal(10_000, 1_000)
        .expect("silent followers leave");
    let against = p.registration.clone();
    assert!(p.still_proposes(&against, &proposed));
    // Queued again by the ISR ticker while the first send is unanswered.
    assert_eq!(
        p.isr_proposal(10_100, 1_000).as_deref(),
        Some(&proposed[..])
    );
    p.isr_change_answered(Err(ResponseError::IneligibleReplica), 10_200);
    assert!(!p.still_proposes(&against, &proposed));
    // A new proposal against the same registration is in force again.
    let again = p.isr_proposal(10_300, 1_000).expect("still silent");
    assert!(p.still_proposes(&against, &again));
    let mut other_epoch = against.clone();
    other_epoch.partition_epoch += 1;
    assert!(!p.still_proposes(&other_epoch, &again));
}
