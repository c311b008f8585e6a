//! Unit tests of the admin rules: each fed a history with the wrong answer a broker bug
//! would give (the mutants of `docs/mutation.md` it is meant to kill), and the right one.

use super::*;
use crate::history::{Op, Process};

/// A history builder: ops get indices and times (1 ms apart) in order.
#[derive(Default)]
struct Build {
    ops: Vec<Op>,
}

impl Build {
    fn op(&mut self, process: u32, kind: OpType, f: Function, value: OpValue) -> &mut Self {
        let index = self.ops.len() as u64;
        self.ops.push(Op {
            index,
            time: (index + 1) * 1_000_000,
            process: Process::Client(process),
            kind,
            f,
            value,
            error: None,
            leader_epochs: Default::default(),
        });
        self
    }

    /// An acknowledged send of `value` to key 0 at `offset`.
    fn send(&mut self, value: u64, offset: i64) -> &mut Self {
        let micro = |offset| {
            OpValue::MicroOps(vec![MicroOp::Send {
                key: 0,
                value,
                offset,
            }])
        };
        self.op(0, OpType::Invoke, Function::Send, micro(None)).op(
            0,
            OpType::Ok,
            Function::Send,
            micro(Some(offset)),
        )
    }

    /// A poll of key 0 returning `records`.
    fn poll(&mut self, records: &[(i64, u64)]) -> &mut Self {
        let reads = BTreeMap::from([(0, records.to_vec())]);
        self.op(
            1,
            OpType::Invoke,
            Function::Poll,
            OpValue::MicroOps(vec![MicroOp::Poll { reads: None }]),
        )
        .op(
            1,
            OpType::Ok,
            Function::Poll,
            OpValue::MicroOps(vec![MicroOp::Poll { reads: Some(reads) }]),
        )
    }

    fn admin(&mut self, f: Function, asked: AdminOp, answered: AdminOp) -> &mut Self {
        self.op(2, OpType::Invoke, f, OpValue::Admin(asked)).op(
            2,
            OpType::Ok,
            f,
            OpValue::Admin(answered),
        )
    }

    fn delete(&mut self, offset: i64, low_watermark: i64) -> &mut Self {
        let asked = AdminOp::delete_records(0, offset);
        let answered = AdminOp {
            low_watermark: Some(low_watermark),
            ..asked.clone()
        };
        self.admin(Function::DeleteRecords, asked, answered)
    }

    fn list(&mut self, timestamp: i64, answer: (i64, i64)) -> &mut Self {
        let asked = AdminOp::list_offsets(0, timestamp, false);
        let answered = AdminOp {
            answer: Some(answer),
            ..asked.clone()
        };
        self.admin(Function::ListOffsets, asked, answered)
    }

    /// Gives the last op (an `ok`) the leader epoch it was answered at.
    fn at_epoch(&mut self, epoch: i32) -> &mut Self {
        let last = self.ops.last_mut().expect("an op to give an epoch");
        match &mut last.value {
            OpValue::Admin(op) => op.leader_epoch = Some(epoch),
            _ => last.leader_epochs = BTreeMap::from([(0, epoch)]),
        }
        self
    }

    fn report(&self) -> CheckReport {
        let options = AdminOptions {
            acks_all: true,
            final_reads: true,
        };
        check(
            &History {
                ops: self.ops.clone(),
            },
            &options,
        )
    }

    fn kinds(&self) -> Vec<AnomalyKind> {
        self.report().anomalies.iter().map(|a| a.kind).collect()
    }
}

/// Three records at offsets 0..3, sent at 1, 3 and 5 ms, all read.
fn three_records() -> Build {
    let mut build = Build::default();
    build
        .send(1, 0)
        .send(2, 1)
        .send(3, 2)
        .poll(&[(0, 1), (1, 2), (2, 3)]);
    build
}

#[test]
fn a_delete_acknowledged_below_its_offset_is_caught() {
    // partition.rs `delete_records` → `Ok(1)` (mutant #53): log start not moved, answer 1.
    let mut build = three_records();
    build.delete(2, 1);
    assert_eq!(build.kinds(), vec![AnomalyKind::LogStartRegression]);
    let mut build = three_records();
    build.delete(2, 2);
    assert!(build.kinds().is_empty());
}

#[test]
fn earliest_below_an_acknowledged_delete_or_an_earlier_earliest_is_caught() {
    // A follower that never took over the leader's log start (partition.rs
    // `append_as_follower` `>` → `<`, mutant #27) answers the old start after failover.
    let mut build = three_records();
    build.delete(2, 2).list(-2, (0, -1));
    assert_eq!(build.kinds(), vec![AnomalyKind::LogStartRegression]);
    let mut build = three_records();
    build.list(-2, (1, -1)).list(-2, (0, -1));
    assert_eq!(build.kinds(), vec![AnomalyKind::LogStartRegression]);
    let mut build = three_records();
    build.delete(2, 2).list(-2, (2, -1)).list(-2, (2, -1));
    assert!(build.kinds().is_empty());
}

#[test]
fn a_poll_begun_after_a_delete_must_not_return_deleted_records() {
    let mut build = three_records();
    build.delete(2, 2).poll(&[(1, 2), (2, 3)]);
    assert_eq!(build.kinds(), vec![AnomalyKind::LogStartRegression]);
    let mut build = three_records();
    build.delete(2, 2).poll(&[(2, 3)]);
    assert!(build.kinds().is_empty());
}

/// KIP-320 fences only a client that knows the newer epoch: a deposed leader still at the
/// old epoch may answer from a log whose start lags its successor's deletion (the
/// `admin-and-seek-under-failover` seed-2096 finding). Such an answer is counted, not
/// judged; at the deletion's epoch or later, or with an epoch unknown, it is an anomaly.
#[test]
fn a_stale_answer_from_an_older_leader_epoch_is_counted_not_judged() {
    let stale = |build: &Build| {
        build
            .report()
            .stats
            .get("answers below a log start from an older leader epoch")
            .copied()
    };
    let mut build = three_records();
    build
        .delete(2, 2)
        .at_epoch(1)
        .poll(&[(1, 2), (2, 3)])
        .at_epoch(0);
    assert!(build.kinds().is_empty());
    assert_eq!(stale(&build), Some(1));
    let mut build = three_records();
    build.delete(2, 2).at_epoch(1).list(-2, (0, -1)).at_epoch(0);
    assert!(build.kinds().is_empty());
    assert_eq!(stale(&build), Some(1));
    for epoch in [1, 2] {
        let mut build = three_records();
        build
            .delete(2, 2)
            .at_epoch(1)
            .poll(&[(1, 2)])
            .at_epoch(epoch);
        assert_eq!(build.kinds(), vec![AnomalyKind::LogStartRegression]);
        let mut build = three_records();
        build
            .delete(2, 2)
            .at_epoch(1)
            .list(-2, (0, -1))
            .at_epoch(epoch);
        assert_eq!(build.kinds(), vec![AnomalyKind::LogStartRegression]);
    }
    // An older deletion still binds the stale leader: it had it before it was deposed.
    let mut build = three_records();
    build
        .delete(1, 1)
        .at_epoch(0)
        .delete(2, 2)
        .at_epoch(1)
        .poll(&[(0, 1)])
        .at_epoch(0);
    assert_eq!(build.kinds(), vec![AnomalyKind::LogStartRegression]);
    let mut build = three_records();
    build.delete(2, 2).at_epoch(1).poll(&[(1, 2)]);
    assert_eq!(build.kinds(), vec![AnomalyKind::LogStartRegression]);
    assert_eq!(stale(&build), None);
}

#[test]
fn latest_below_an_acknowledged_offset_or_above_every_read_is_caught() {
    let mut build = three_records();
    build.list(-1, (2, -1));
    assert_eq!(build.kinds(), vec![AnomalyKind::LatestOffsetOutOfBounds]);
    let mut build = three_records();
    build.list(-1, (4, -1));
    assert_eq!(build.kinds(), vec![AnomalyKind::LatestOffsetOutOfBounds]);
    let mut build = three_records();
    build.list(-1, (3, -1));
    assert!(build.kinds().is_empty());
}

#[test]
fn max_timestamp_must_name_the_newest_acknowledged_record() {
    // log.rs `max_timestamp` → `Some((0, 0))` and `Some((0, -1))` (mutants #33, #41).
    // Record 2 was sent at 5 ms (invoke of op 4), so its timestamp is 5 or 6.
    for wrong in [(0, 0), (0, -1), (0, 1)] {
        let mut build = three_records();
        build.list(-3, wrong);
        assert_eq!(
            build.kinds(),
            vec![AnomalyKind::WrongTimestampOffset],
            "{wrong:?}"
        );
    }
    let mut build = three_records();
    build.list(-3, (2, 5));
    assert!(build.kinds().is_empty());
    // Nothing found is never judged: a newer record may sit above the high watermark.
    let mut build = three_records();
    build.list(-3, (-1, -1));
    assert!(build.kinds().is_empty());
}

#[test]
fn by_timestamp_must_name_the_first_record_at_or_after_it() {
    // Record 1 was sent at 3 ms: the first with a timestamp ≥ 3 is offset 1.
    let mut build = three_records();
    build.list(3, (2, 5));
    assert_eq!(build.kinds(), vec![AnomalyKind::WrongTimestampOffset]);
    let mut build = three_records();
    build.list(3, (0, 1));
    assert_eq!(build.kinds(), vec![AnomalyKind::WrongTimestampOffset]);
    let mut build = three_records();
    build.list(3, (1, 3));
    assert!(build.kinds().is_empty());
}

#[test]
fn deleted_records_no_longer_bind_timestamp_answers() {
    // Once records below 2 may be deleted, offset 2 is the first visible at or after 1 ms.
    let mut build = three_records();
    build.delete(2, 2).list(1, (2, 5));
    assert!(build.kinds().is_empty());
}
