//! Each invariant: a hand-built state that breaks it must be reported; a near miss (the
//! same state one step inside the rule) must not.

use bytes::Bytes;

use faultline_broker::log::{LogEntry, PartitionLog};
use faultline_broker::metadata::PartitionRegistration;
use faultline_broker::partition::{Partition, Role};

use super::*;

fn tp() -> TopicPartition {
    ("events".to_string(), 0)
}

fn entry(offset: i64, leader_epoch: i32, value: &str) -> LogEntry {
    LogEntry {
        offset,
        leader_epoch,
        timestamp: 0,
        key: None,
        value: Some(Bytes::from(value.to_string())),
        producer_id: -1,
        producer_epoch: -1,
        sequence: -1,
    }
}

fn log(values: &[&str]) -> PartitionLog {
    PartitionLog::from_entries(
        values
            .iter()
            .enumerate()
            .map(|(i, v)| entry(i as i64, 0, v))
            .collect(),
    )
}

/// A replica on `node` of a partition led by `leader` in `epoch` with `isr`, holding
/// `values`, its high watermark at `hw`.
fn replica(node: i32, leader: i32, epoch: i32, isr: &[i32], values: &[&str], hw: i64) -> Partition {
    let registration = PartitionRegistration {
        topic: "events".into(),
        partition: 0,
        replicas: vec![1, 2, 3],
        isr: isr.to_vec(),
        leader,
        leader_epoch: epoch,
        partition_epoch: 0,
    };
    let mut p = Partition::new(node, registration.clone(), log(values));
    p.apply_registration(registration, 0);
    p.high_watermark = hw;
    p
}

/// Sets what the leader knows of `follower`'s log end.
fn follower_at(leader: &mut Partition, follower: i32, end: i64) {
    if let Role::Leader(state) = &mut leader.role {
        state.followers.get_mut(&follower).unwrap().log_end_offset = end;
    }
}

fn check(replicas: &[(&str, &Partition)]) -> Option<Violation> {
    let mut checker = InvariantChecker::default();
    check_with(&mut checker, replicas)
}

fn check_with(
    checker: &mut InvariantChecker,
    replicas: &[(&str, &Partition)],
) -> Option<Violation> {
    let partition = tp();
    let refs: Vec<ReplicaRef<'_>> = replicas
        .iter()
        .map(|(host, p)| ReplicaRef {
            host,
            incarnation: 1,
            topic_partition: &partition,
            partition: p,
        })
        .collect();
    checker.check_replicas(1_000, &refs);
    checker.violation.clone()
}

#[test]
fn a_healthy_replica_set_passes() {
    let mut leader = replica(1, 1, 2, &[1, 2], &["a", "b", "c"], 2);
    follower_at(&mut leader, 2, 2);
    let follower = replica(2, 1, 2, &[1, 2], &["a", "b"], 2);
    assert_eq!(
        check(&[("broker-1", &leader), ("broker-2", &follower)]),
        None
    );
}

#[test]
fn two_leaders_in_one_epoch_are_reported() {
    let a = replica(1, 1, 2, &[1], &["a"], 0);
    let b = replica(2, 2, 2, &[2], &["a"], 0);
    let v = check(&[("broker-1", &a), ("broker-2", &b)]).expect("two leaders of epoch 2");
    assert_eq!(v.rule, "two leaders in one epoch");
    // Near miss: the second leader's epoch is newer (a stale leader, not a split epoch).
    let b = replica(2, 2, 3, &[2], &["a"], 0);
    assert_eq!(check(&[("broker-1", &a), ("broker-2", &b)]), None);
}

#[test]
fn a_high_watermark_above_an_in_sync_follower_is_reported() {
    let mut leader = replica(1, 1, 0, &[1, 2], &["a", "b", "c"], 3);
    follower_at(&mut leader, 2, 2);
    let v = check(&[("broker-1", &leader)]).expect("hw 3 above follower at 2");
    assert_eq!(v.rule, "high watermark above an in-sync follower");
    // Near miss: the follower reached 3.
    follower_at(&mut leader, 2, 3);
    assert_eq!(check(&[("broker-1", &leader)]), None);
    // Near miss: a follower outside the ISR may lag.
    let mut leader = replica(1, 1, 0, &[1], &["a", "b", "c"], 3);
    follower_at(&mut leader, 2, 0);
    assert_eq!(check(&[("broker-1", &leader)]), None);
}

#[test]
fn an_in_sync_replica_missing_committed_records_is_reported() {
    let mut leader = replica(1, 1, 0, &[1, 2], &["a", "b"], 2);
    follower_at(&mut leader, 2, 2);
    let short = replica(2, 1, 0, &[1, 2], &["a"], 1);
    let v = check(&[("broker-1", &leader), ("broker-2", &short)]).expect("follower lacks offset 1");
    assert_eq!(v.rule, "in-sync replica missing committed records");
    // Near miss: a power-lost broker is exempt until it is re-admitted to an ISR.
    let mut checker = InvariantChecker::default();
    checker.observe(&ClusterEvent {
        time_ns: 0,
        node: "nemesis".into(),
        kind: ClusterEventKind::PowerLossDamage {
            node: "broker-2".into(),
            lost: 1,
        },
    });
    assert_eq!(
        check_with(&mut checker, &[("broker-1", &leader), ("broker-2", &short)]),
        None
    );
}

#[test]
fn committed_records_that_differ_between_replicas_are_reported() {
    let leader = replica(1, 1, 0, &[1], &["a", "b"], 2);
    let other = replica(2, 1, 0, &[1], &["a", "X"], 2);
    let v = check(&[("broker-1", &leader), ("broker-2", &other)]).expect("offset 1 differs");
    assert_eq!(v.rule, "committed records differ between replicas");
    // Near miss: the difference is above the second replica's high watermark.
    let other = replica(2, 1, 0, &[1], &["a", "X"], 1);
    assert_eq!(check(&[("broker-1", &leader), ("broker-2", &other)]), None);
}

#[test]
fn a_truncation_of_committed_records_is_reported() {
    let follower = replica(2, 1, 0, &[1, 2], &["a", "b", "c"], 2);
    let mut checker = InvariantChecker::default();
    assert_eq!(check_with(&mut checker, &[("broker-2", &follower)]), None);
    let truncated = |to| ClusterEvent {
        time_ns: 0,
        node: "broker-2".into(),
        kind: ClusterEventKind::Truncated {
            partition: tp(),
            broker: 2,
            from: 3,
            to,
            leader_epoch: 1,
        },
    };
    // Near miss: cutting the uncommitted offset 2 is what truncation is for.
    checker.observe(&truncated(2));
    assert_eq!(check_with(&mut checker, &[("broker-2", &follower)]), None);
    checker.observe(&truncated(1));
    let v = check_with(&mut checker, &[("broker-2", &follower)]).expect("offset 1 was committed");
    assert_eq!(v.rule, "truncation below the high watermark");
}

#[test]
fn epochs_that_go_backwards_are_reported() {
    let mut checker = InvariantChecker::default();
    let newer = replica(2, 1, 3, &[1, 2], &[], 0);
    let older = replica(2, 1, 2, &[1, 2], &[], 0);
    assert_eq!(check_with(&mut checker, &[("broker-2", &newer)]), None);
    // Near miss: the same epoch again.
    assert_eq!(check_with(&mut checker, &[("broker-2", &newer)]), None);
    let v = check_with(&mut checker, &[("broker-2", &older)]).expect("epoch 3 then 2");
    assert_eq!(v.rule, "leader epoch went backwards");

    let mut checker = InvariantChecker::default();
    checker.check_controller(0, 1, [(tp().0.as_str(), tp().1, 2, 5)], 10);
    checker.check_controller(1, 1, [(tp().0.as_str(), tp().1, 2, 5)], 10);
    assert_eq!(checker.violation, None);
    checker.check_controller(2, 1, [(tp().0.as_str(), tp().1, 2, 4)], 11);
    assert_eq!(
        checker.violation.map(|v| v.rule),
        Some("partition epochs went backwards")
    );
    // A restarted controller at the same log end is read again.
    let mut checker = InvariantChecker::default();
    checker.check_controller(0, 1, [(tp().0.as_str(), tp().1, 2, 5)], 10);
    checker.check_controller(1, 2, [(tp().0.as_str(), tp().1, 1, 5)], 10);
    assert_eq!(
        checker.violation.map(|v| v.rule),
        Some("partition epochs went backwards")
    );
    let mut checker = InvariantChecker::default();
    checker.check_controller(0, 1, [], 10);
    checker.check_controller(1, 1, [], 9);
    assert_eq!(
        checker.violation.map(|v| v.rule),
        Some("metadata log went backwards")
    );

    let mut checker = InvariantChecker::default();
    checker.check_generations(0, "broker-1", 1, [("g", 4)]);
    // Near miss: another coordinator process may start its own generations.
    checker.check_generations(0, "broker-1", 2, [("g", 1)]);
    assert_eq!(checker.violation, None);
    checker.check_generations(0, "broker-1", 2, [("g", 0)]);
    assert_eq!(
        checker.violation.map(|v| v.rule),
        Some("group generation went backwards")
    );
}

#[test]
fn a_crashed_host_is_not_checked_until_it_restarts() {
    let mut checker = InvariantChecker::default();
    checker.observe(&ClusterEvent {
        time_ns: 0,
        node: "nemesis".into(),
        kind: ClusterEventKind::ProcessCrashed {
            node: "broker-1".into(),
            power_loss: false,
        },
    });
    assert!(!checker.is_up("broker-1", 1));
    assert!(!checker.is_up("broker-1", 1));
    assert!(checker.is_up("broker-1", 2));
    assert!(checker.is_up("broker-2", 1));
}

/// A partition whose replicas did not change since its last check is skipped; one that
/// changed is checked, and a violation in it is reported even after many quiet steps.
#[test]
fn only_partitions_that_changed_are_checked_again() {
    let quiet: TopicPartition = ("quiet".to_string(), 0);
    let busy = tp();
    let mut checker = InvariantChecker::default();
    let mut leader = replica(1, 1, 0, &[1, 2], &["a", "b", "c"], 2);
    follower_at(&mut leader, 2, 2);
    let follower = replica(2, 1, 0, &[1, 2], &["a", "b"], 2);
    let idle = replica(1, 1, 0, &[1], &["x"], 1);
    let run = |checker: &mut InvariantChecker, leader: &Partition| {
        let refs = [
            ReplicaRef {
                host: "broker-1",
                incarnation: 1,
                topic_partition: &busy,
                partition: leader,
            },
            ReplicaRef {
                host: "broker-1",
                incarnation: 1,
                topic_partition: &quiet,
                partition: &idle,
            },
            ReplicaRef {
                host: "broker-2",
                incarnation: 1,
                topic_partition: &busy,
                partition: &follower,
            },
        ];
        checker.check_replicas(1_000, &refs);
    };
    for _ in 0..5 {
        run(&mut checker, &leader);
    }
    assert_eq!(checker.violation, None);
    let before = checker.signatures.clone();
    run(&mut checker, &leader);
    assert_eq!(
        checker.signatures, before,
        "nothing changed, nothing re-signed"
    );
    // The leader's high watermark passes its in-sync follower's log end.
    leader.high_watermark = 3;
    run(&mut checker, &leader);
    let v = checker
        .violation
        .clone()
        .expect("checked again once it changed");
    assert_eq!(v.rule, "high watermark above an in-sync follower");
}

/// The brokers' path (`check_brokers`, what a simulation runs): a step in which no broker
/// lent out a replica is not checked at all; a replica lent out but unchanged is checked
/// and passes; one lent out and changed is checked again from its place's signature, and
/// its violation is reported.
#[test]
fn check_brokers_checks_again_only_what_a_broker_lent_out() {
    use faultline_broker::replicas::Replicas;
    let mut one = Replicas::default();
    let mut two = Replicas::default();
    one.host(&tp(), || {
        let mut leader = replica(1, 1, 0, &[1, 2], &["a", "b", "c"], 2);
        follower_at(&mut leader, 2, 2);
        leader
    });
    two.host(&tp(), || replica(2, 1, 0, &[1, 2], &["a", "b"], 2));
    let mut checker = InvariantChecker::default();
    let step = |checker: &mut InvariantChecker, one: &Replicas, two: &Replicas| {
        checker.check_brokers(1_000, &[("broker-1", 1, one), ("broker-2", 1, two)]);
    };
    for _ in 0..3 {
        step(&mut checker, &one, &two);
    }
    assert_eq!(checker.violation, None);
    assert!(
        checker
            .layout
            .unchanged(&[("broker-1", 1, &one), ("broker-2", 1, &two)]),
        "nothing lent out: the next step checks nothing"
    );
    // Lent out, left as it was: checked, still healthy.
    let _ = one.get_mut(&tp());
    assert!(!checker
        .layout
        .unchanged(&[("broker-1", 1, &one), ("broker-2", 1, &two)]));
    step(&mut checker, &one, &two);
    assert_eq!(checker.violation, None);
    // Lent out and changed: the leader's high watermark passes its in-sync follower.
    one.get_mut(&tp()).unwrap().high_watermark = 3;
    step(&mut checker, &one, &two);
    assert_eq!(
        checker.violation.map(|v| v.rule),
        Some("high watermark above an in-sync follower")
    );
}
