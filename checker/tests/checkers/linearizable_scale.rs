//! The linearizability checker at scale (issue 17): the unique-writes fast path agrees
//! with the search (random small histories, valid and invalid, and hand-written triggers
//! and near misses for each way a cluster order can fail), generated histories are decided
//! both ways, and a memory budget too small for the search ends in `unknown`, not an abort.

use faultline_checker::linearizable::generate::{generate, GenerateOptions};
use faultline_checker::linearizable::register::{Register, RegisterInput, RegisterOutput};
use faultline_checker::linearizable::{
    check, register_history, LinearizableOptions, Operation, STAT_OUT_OF_MEMORY,
};
use faultline_checker::{AnomalyKind, CheckReport, Verdict};
use proptest::prelude::*;

type Op = Operation<RegisterInput, RegisterOutput>;

fn fast() -> LinearizableOptions {
    LinearizableOptions {
        threads: 1,
        ..LinearizableOptions::default()
    }
}

fn search_only() -> LinearizableOptions {
    LinearizableOptions {
        fast_path: false,
        ..fast()
    }
}

fn write(index: u64, value: i64, invoke: u64, complete: Option<u64>) -> Op {
    Operation {
        process: index,
        invoke,
        complete,
        input: RegisterInput::Write(value),
        output: complete.map(|_| RegisterOutput::Done),
        index,
    }
}

fn read(index: u64, value: Option<i64>, invoke: u64, complete: u64) -> Op {
    Operation {
        process: index,
        invoke,
        complete: Some(complete),
        input: RegisterInput::Read,
        output: Some(RegisterOutput::Read(value)),
        index,
    }
}

/// Checks both ways; asserts the fast path decided and agrees with the search.
fn both(ops: &[Op]) -> CheckReport {
    let decided = check(&Register, ops, &fast());
    let searched = check(&Register, ops, &search_only());
    assert_eq!(
        decided.stats["pieces decided without search"], 1,
        "{ops:#?}"
    );
    assert_eq!(searched.stats["pieces decided without search"], 0);
    assert_eq!(decided.verdict, searched.verdict, "{ops:#?}\n{decided:#?}");
    decided
}

/// Trigger cases: each must be invalid with the named ops as evidence.
#[test]
fn each_way_clusters_cannot_be_ordered_is_caught() {
    // Two forward zones overlap: 1 was written and read, then 2 written and read, but a
    // read of 1 began after a read of 2 had completed and vice versa.
    let overlapping = [
        write(0, 1, 0, Some(1)),
        write(1, 2, 2, Some(3)),
        read(2, Some(1), 4, 5),
        read(3, Some(2), 4, 5),
        read(4, Some(1), 6, 7),
        read(5, Some(2), 6, 7),
    ];
    // A backward zone inside a forward one: the write of 2 ran entirely after the write
    // of 1 completed and before a read of 1 began.
    let inside = [
        write(0, 1, 0, Some(1)),
        write(1, 2, 2, Some(3)),
        read(2, Some(1), 4, 5),
    ];
    // A read of nil after a write completed (the initial value's zone holds the write).
    let stale_nil = [write(0, 1, 0, Some(1)), read(1, None, 2, 3)];
    // A read that completed before its write was invoked.
    let from_the_future = [read(0, Some(1), 0, 1), write(1, 1, 2, Some(3))];
    // A read of a value never written.
    let phantom = [write(0, 1, 0, Some(1)), read(1, Some(9), 2, 3)];
    // A crashed write that was read may not take effect before its invoke.
    let crashed_future = [read(0, Some(1), 0, 1), write(1, 1, 2, None)];
    for (name, ops, evidence) in [
        (
            "overlapping forward zones",
            &overlapping[..],
            &[0u64, 1, 4, 5][..],
        ),
        ("backward inside forward", &inside[..], &[1, 2][..]),
        ("nil after a write", &stale_nil[..], &[0, 1][..]),
        ("read before its write", &from_the_future[..], &[0, 1][..]),
        ("read of an unwritten value", &phantom[..], &[1][..]),
        (
            "crashed write read before it",
            &crashed_future[..],
            &[0, 1][..],
        ),
    ] {
        let report = both(ops);
        assert_eq!(report.verdict, Verdict::Invalid, "{name}");
        let anomaly = &report.anomalies[0];
        assert_eq!(anomaly.kind, AnomalyKind::Nonlinearizable, "{name}");
        for op in evidence {
            assert!(anomaly.ops.contains(op), "{name}: {anomaly:?}");
        }
    }
}

/// Near misses: one change away from a trigger, and linearizable.
#[test]
fn near_misses_are_linearizable() {
    // The read of 1 runs during the write of 2, so 1's block can close before 2's opens.
    let overlapping = [
        write(0, 1, 0, Some(1)),
        write(1, 2, 2, Some(5)),
        read(2, Some(1), 3, 4),
        read(3, Some(2), 6, 7),
        read(4, Some(2), 6, 8),
    ];
    // The read of 1 overlaps the write of 2, so it can come first.
    let inside = [
        write(0, 1, 0, Some(1)),
        write(1, 2, 2, Some(4)),
        read(2, Some(1), 3, 5),
    ];
    // A read of nil concurrent with the first write.
    let nil = [write(0, 1, 0, Some(2)), read(1, None, 1, 3)];
    // A read that overlaps its write.
    let overlapping_write = [read(0, Some(1), 0, 2), write(1, 1, 1, Some(3))];
    // A crashed write, read after its invoke; another crashed write nobody read.
    let crashed = [
        write(0, 1, 0, None),
        read(1, Some(1), 5, 6),
        write(2, 7, 1, None),
        read(3, Some(1), 7, 8),
    ];
    // Touching at an instant counts as concurrent (the search's reading).
    let touching = [write(0, 1, 0, Some(2)), read(1, None, 2, 3)];
    for (name, ops) in [
        ("overlapping reads", &overlapping[..]),
        ("read overlapping the next write", &inside[..]),
        ("nil during the first write", &nil[..]),
        ("read overlapping its write", &overlapping_write[..]),
        ("crashed writes", &crashed[..]),
        ("touching ops", &touching[..]),
    ] {
        assert_eq!(both(ops).verdict, Verdict::Valid, "{name}");
    }
}

#[test]
fn ambiguous_reads_and_cas_go_to_the_search() {
    let duplicate = [
        write(0, 1, 0, Some(1)),
        write(1, 1, 2, Some(3)),
        read(2, Some(1), 4, 5),
    ];
    let report = check(&Register, &duplicate, &fast());
    assert_eq!(report.stats["pieces decided without search"], 0);
    assert_eq!(report.verdict, Verdict::Valid);
    // A value written twice but never read does not make reads ambiguous.
    let unread_twice = [
        write(0, 5, 0, Some(1)),
        write(1, 5, 2, Some(3)),
        write(2, 6, 4, Some(5)),
        read(3, Some(6), 6, 7),
    ];
    assert_eq!(both(&unread_twice).verdict, Verdict::Valid);
    let cas = [
        write(0, 1, 0, Some(1)),
        Operation {
            process: 1,
            invoke: 2,
            complete: Some(3),
            input: RegisterInput::Cas { from: 1, to: 2 },
            output: Some(RegisterOutput::Done),
            index: 1,
        },
    ];
    let report = check(&Register, &cas, &fast());
    assert_eq!(report.stats["pieces decided without search"], 0);
    assert_eq!(report.verdict, Verdict::Valid);
}

/// Small histories of unique writes (some crashed) and reads of any written value, nil
/// or a value never written.
fn unique_history() -> impl Strategy<Value = Vec<Op>> {
    let op = (
        0..16u64,
        1..6u64,
        0..4u8,
        0..8i64,
        prop::bool::weighted(0.2),
    );
    prop::collection::vec(op, 1..8).prop_map(|ops| {
        let writes = ops.iter().filter(|op| op.2 == 0).count() as i64;
        ops.into_iter()
            .enumerate()
            .map(|(at, (invoke, length, kind, seen, crashed))| {
                let (invoke, complete) = (invoke * 2, invoke * 2 + length * 2 + 1);
                let at = at as u64;
                match kind {
                    // Written values are the op's own position: unique.
                    0 => write(at, at as i64, invoke, (!crashed).then_some(complete)),
                    _ => {
                        let value = (seen <= writes + 1).then_some(seen);
                        read(at, value, invoke, complete)
                    }
                }
            })
            .collect()
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2048))]

    #[test]
    fn the_fast_path_agrees_with_the_search(ops in unique_history()) {
        let decided = check(&Register, &ops, &fast());
        let searched = check(&Register, &ops, &search_only());
        prop_assert_eq!(decided.stats["pieces decided without search"], 1);
        prop_assert_eq!(decided.verdict, searched.verdict, "{:#?}", ops);
        if decided.verdict == Verdict::Invalid {
            prop_assert!(!decided.anomalies[0].ops.is_empty());
        }
    }
}

fn generated(processes: usize, violations: usize, ops: usize) -> Vec<Op> {
    let options = GenerateOptions {
        ops,
        processes,
        seed: 7,
        violations,
        ..GenerateOptions::default()
    };
    let mut text = Vec::new();
    faultline_checker::linearizable::generate::write_jsonl(&generate(&options), &mut text).unwrap();
    let ops = register_history::read_jsonl(text.as_slice()).unwrap();
    register_history::single_register(&ops).unwrap()
}

#[test]
fn generated_histories_get_the_same_verdict_both_ways() {
    for (processes, violations) in [(5, 0), (10, 0), (10, 1), (20, 3)] {
        let ops = generated(processes, violations, 3_000);
        let decided = check(&Register, &ops, &fast());
        let searched = check(&Register, &ops, &search_only());
        let expected = if violations == 0 {
            Verdict::Valid
        } else {
            Verdict::Invalid
        };
        assert_eq!(
            decided.verdict, expected,
            "{processes}/{violations}: {decided:#?}"
        );
        assert_eq!(decided.stats["pieces decided without search"], 1);
        // The search may run out of steps on the invalid ones; where it decides, it agrees.
        if searched.verdict != Verdict::Unknown {
            assert_eq!(searched.verdict, expected, "{processes}/{violations}");
        }
    }
}

#[test]
fn a_tiny_memory_budget_is_unknown_and_says_so() {
    let ops = generated(20, 3, 5_000);
    // Enough for the list and the set (~0.5 MB at 5,000 ops), not for the search's cache.
    let budget = 2 << 20;
    let options = LinearizableOptions {
        memory_budget_bytes: budget,
        max_steps: u64::MAX,
        ..search_only()
    };
    let report = check(&Register, &ops, &options);
    assert_eq!(report.verdict, Verdict::Unknown, "{report:#?}");
    assert_eq!(report.stats[STAT_OUT_OF_MEMORY], 1);
    assert!(report.stats["search steps"] > 10_000, "{report:#?}");
    assert!(report.stats["memory peak bytes"] <= budget);
    // The fast path needs no search memory and decides it.
    let report = check(
        &Register,
        &ops,
        &LinearizableOptions {
            memory_budget_bytes: budget,
            ..fast()
        },
    );
    assert_eq!(report.verdict, Verdict::Invalid);
}
