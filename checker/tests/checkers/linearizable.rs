//! The linearizability engine against known verdicts: a corpus of small register
//! histories (`testdata/linearizable/valid-*.jsonl`, `invalid-*.jsonl`, crashed ops
//! included), a brute-force oracle on random histories, the partition log's offset fast
//! path, and an honest `unknown` when the budget runs out.

use std::fs::File;
use std::io::BufReader;
use std::path::PathBuf;

use faultline_checker::linearizable::kv::KeyValue;
use faultline_checker::linearizable::partition_log::{self, LogInput, LogOutput};
use faultline_checker::linearizable::register::{Register, RegisterInput, RegisterOutput};
use faultline_checker::linearizable::{
    check, register_history, LinearizableOptions, Operation, SequentialModel,
};
use faultline_checker::{AnomalyKind, Verdict};
use proptest::prelude::*;

fn corpus() -> Vec<(String, PathBuf)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("testdata/linearizable");
    let mut files: Vec<(String, PathBuf)> = std::fs::read_dir(&dir)
        .expect("corpus directory")
        .map(|entry| entry.expect("corpus entry").path())
        .filter(|path| path.extension().is_some_and(|e| e == "jsonl"))
        .map(|path| {
            (
                path.file_stem().unwrap().to_string_lossy().into_owned(),
                path,
            )
        })
        .collect();
    files.sort();
    files
}

#[test]
fn the_corpus_gets_its_known_verdicts() {
    let files = corpus();
    assert!(files.len() >= 15, "corpus too small: {}", files.len());
    for (name, path) in files {
        let ops = register_history::read_jsonl(BufReader::new(File::open(&path).unwrap()))
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let report = check(&KeyValue, &ops, &LinearizableOptions::default());
        let expected = if name.starts_with("valid") {
            Verdict::Valid
        } else {
            Verdict::Invalid
        };
        assert_eq!(report.verdict, expected, "{name}: {report:#?}");
        if expected == Verdict::Invalid {
            assert_eq!(report.anomalies[0].kind, AnomalyKind::Nonlinearizable);
            assert!(!report.anomalies[0].ops.is_empty(), "{name}: no evidence");
        }
        // Single-key histories agree under the plain register model.
        if let Some(register_ops) = register_history::single_register(&ops) {
            let plain = check(&Register, &register_ops, &LinearizableOptions::default());
            assert_eq!(plain.verdict, expected, "{name} (register model)");
        }
    }
}

#[test]
fn keys_are_checked_as_separate_pieces() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("testdata/linearizable/invalid-two-keys-one-stale.jsonl");
    let ops = register_history::read_jsonl(BufReader::new(File::open(path).unwrap())).unwrap();
    let report = check(&KeyValue, &ops, &LinearizableOptions::default());
    assert_eq!(report.stats["pieces"], 2);
    assert_eq!(report.anomalies.len(), 1);
    assert!(report.anomalies[0].description.starts_with("key 2"));
}

#[test]
fn an_exhausted_budget_is_unknown_never_valid() {
    // Many concurrent writes and reads of values that force long backtracking.
    let mut ops = Vec::new();
    for p in 0..12u64 {
        ops.push(write(p, p as i64, p, 100 + p));
    }
    for p in 12..16u64 {
        ops.push(read(p, Some(99), 50, 200 + p));
    }
    let options = LinearizableOptions {
        max_steps: 50,
        // The unique-writes shortcut would refute the reads of 99 without searching.
        fast_path: false,
        ..LinearizableOptions::default()
    };
    assert_eq!(check(&Register, &ops, &options).verdict, Verdict::Unknown);
}

fn write(
    process: u64,
    value: i64,
    invoke: u64,
    complete: u64,
) -> Operation<RegisterInput, RegisterOutput> {
    Operation {
        process,
        invoke,
        complete: Some(complete),
        input: RegisterInput::Write(value),
        output: Some(RegisterOutput::Done),
        index: process,
    }
}

fn read(
    process: u64,
    value: Option<i64>,
    invoke: u64,
    complete: u64,
) -> Operation<RegisterInput, RegisterOutput> {
    Operation {
        process,
        invoke,
        complete: Some(complete),
        input: RegisterInput::Read,
        output: Some(RegisterOutput::Read(value)),
        index: process,
    }
}

/// Brute force: try every order that respects real time; crashed ops may be left out.
fn oracle(ops: &[Operation<RegisterInput, RegisterOutput>]) -> bool {
    fn go(
        ops: &[Operation<RegisterInput, RegisterOutput>],
        done: &mut Vec<bool>,
        state: Option<i64>,
    ) -> bool {
        let remaining_completed = ops
            .iter()
            .zip(done.iter())
            .any(|(op, d)| !d && op.complete.is_some());
        if !remaining_completed {
            return true;
        }
        for x in 0..ops.len() {
            if done[x] {
                continue;
            }
            let blocked = ops.iter().enumerate().any(|(y, op)| {
                !done[y] && y != x && op.complete.is_some_and(|c| c < ops[x].invoke)
            });
            if blocked {
                continue;
            }
            if let Some(next) = Register.step(&state, &ops[x].input, ops[x].output.as_ref()) {
                done[x] = true;
                if go(ops, done, next) {
                    return true;
                }
                done[x] = false;
            }
        }
        false
    }
    go(ops, &mut vec![false; ops.len()], None)
}

fn random_op() -> impl Strategy<Value = Operation<RegisterInput, RegisterOutput>> {
    let input = prop_oneof![
        Just(RegisterInput::Read),
        (1..4i64).prop_map(RegisterInput::Write),
        (1..4i64, 1..4i64).prop_map(|(from, to)| RegisterInput::Cas { from, to }),
    ];
    (
        0..20u64,
        1..8u64,
        input,
        prop::option::of(1..4i64),
        prop::bool::weighted(0.2),
    )
        .prop_map(|(invoke, length, input, read, crashed)| {
            let output = match input {
                RegisterInput::Read => RegisterOutput::Read(read),
                _ => RegisterOutput::Done,
            };
            let crashed = crashed && input != RegisterInput::Read;
            Operation {
                process: 0,
                invoke: invoke * 2,
                complete: (!crashed).then_some(invoke * 2 + length * 2 + 1),
                input,
                output: (!crashed).then_some(output),
                index: 0,
            }
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn the_search_agrees_with_brute_force(mut ops in prop::collection::vec(random_op(), 1..7)) {
        for (i, op) in ops.iter_mut().enumerate() {
            op.process = i as u64;
            op.index = i as u64;
        }
        let report = check(&Register, &ops, &LinearizableOptions::default());
        let expected = if oracle(&ops) { Verdict::Valid } else { Verdict::Invalid };
        prop_assert_eq!(report.verdict, expected, "{:#?}", ops);
    }
}

fn append(
    index: u64,
    record: u64,
    invoke: u64,
    complete: Option<u64>,
    offset: Option<u64>,
) -> Operation<LogInput, LogOutput> {
    Operation {
        process: index,
        invoke,
        complete,
        input: LogInput::Append(record),
        output: offset.map(LogOutput::Appended),
        index,
    }
}

fn log_read(
    index: u64,
    from: u64,
    records: Vec<u64>,
    invoke: u64,
    complete: u64,
) -> Operation<LogInput, LogOutput> {
    Operation {
        process: index,
        invoke,
        complete: Some(complete),
        input: LogInput::Read { from },
        output: Some(LogOutput::Records(records)),
        index,
    }
}

#[test]
fn offsets_decide_a_partition_log_without_search() {
    let ops = vec![
        append(0, 10, 0, Some(5), Some(0)),
        append(1, 11, 1, Some(6), Some(1)),
        append(2, 12, 2, None, None),
        log_read(3, 0, vec![10, 11, 12], 7, 8),
    ];
    let report = partition_log::check(&ops, &LinearizableOptions::default());
    assert_eq!(report.verdict, Verdict::Valid, "{report:#?}");
    assert_eq!(report.stats.get("decided by offsets"), Some(&1));
    // Agrees with the general search.
    let searched = check(
        &partition_log::PartitionLog,
        &ops,
        &LinearizableOptions::default(),
    );
    assert_eq!(searched.verdict, Verdict::Valid);
}

#[test]
fn an_offset_against_real_time_is_not_linearizable() {
    // Append 11 completed before append 10 began, yet got the lower offset... inverted.
    let ops = vec![
        append(0, 10, 5, Some(6), Some(0)),
        append(1, 11, 0, Some(1), Some(1)),
    ];
    let report = partition_log::check(&ops, &LinearizableOptions::default());
    assert_eq!(report.verdict, Verdict::Invalid);
    let searched = check(
        &partition_log::PartitionLog,
        &ops,
        &LinearizableOptions::default(),
    );
    assert_eq!(searched.verdict, Verdict::Invalid);
}

#[test]
fn a_read_of_the_future_is_not_linearizable() {
    let ops = vec![
        log_read(0, 0, vec![10], 0, 1),
        append(1, 10, 2, Some(3), Some(0)),
    ];
    assert_eq!(
        partition_log::check(&ops, &LinearizableOptions::default()).verdict,
        Verdict::Invalid
    );
}

#[test]
fn a_hole_falls_back_to_the_search() {
    // Offset 1 is unaccounted for: a crashed append could hold it, so the search decides.
    let ops = vec![
        append(0, 10, 0, Some(1), Some(0)),
        append(1, 11, 2, None, None),
        append(2, 12, 3, Some(4), Some(2)),
    ];
    let report = partition_log::check(&ops, &LinearizableOptions::default());
    assert_eq!(report.verdict, Verdict::Valid, "{report:#?}");
    assert!(report.stats.contains_key("search steps"));
}
