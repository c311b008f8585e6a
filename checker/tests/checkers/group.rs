//! Table-driven testdata for the consumer-group checker: for every group anomaly kind a
//! minimal history (`testdata/group/<kind>.jsonl`) that must trigger exactly it and a near
//! miss (`<kind>.near-miss.jsonl`) that must pass.

use std::collections::BTreeSet;
use std::fs::File;
use std::io::BufReader;
use std::path::PathBuf;

use faultline_checker::history::History;
use faultline_checker::{group, AnomalyKind, Verdict};

const CASES: &[(&str, AnomalyKind)] = &[
    ("overlapping-assignment", AnomalyKind::OverlappingAssignment),
    ("fenced-commit", AnomalyKind::FencedCommit),
    ("lost-commit", AnomalyKind::LostCommit),
    (
        "committed-offset-regression",
        AnomalyKind::CommittedOffsetRegression,
    ),
    ("unowned-partition", AnomalyKind::UnownedPartition),
    ("unprocessed-record", AnomalyKind::UnprocessedRecord),
];

fn load(stem: &str) -> History {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("testdata/group")
        .join(format!("{stem}.jsonl"));
    History::read_jsonl(BufReader::new(File::open(&path).expect("testdata exists")))
        .expect("testdata parses")
}

#[test]
fn each_minimal_history_triggers_exactly_its_kind() {
    for (stem, kind) in CASES {
        let report = group::check(&load(stem));
        let kinds: BTreeSet<AnomalyKind> = report.anomalies.iter().map(|a| a.kind).collect();
        assert_eq!(kinds, BTreeSet::from([*kind]), "{stem}: {report:#?}");
        assert_eq!(report.anomalies.len(), 1, "{stem}: {report:#?}");
        assert!(
            report.anomalies[0].ops.len() >= 2,
            "{stem}: evidence cites both ops"
        );
        assert!(
            report.anomalies[0].description.contains("group g"),
            "{stem}"
        );
    }
}

#[test]
fn each_near_miss_passes() {
    for (stem, _) in CASES {
        let stem = format!("{stem}.near-miss");
        let report = group::check(&load(&stem));
        assert_eq!(report.verdict, Verdict::Valid, "{stem}: {report:#?}");
    }
}

/// A member whose join lost its answer while the last generation formed may be in it,
/// holding the partitions nobody else got (the coordinator counted it; Jepsen's `info`):
/// not blamed. The same join refused by the broker (`fail`) is definite: blamed.
#[test]
fn a_join_whose_answer_was_lost_may_own_what_the_others_lack() {
    let lost = group::check(&load("unowned-partition.lost-answer.near-miss"));
    assert_eq!(lost.verdict, Verdict::Valid, "{lost:#?}");
    let refused = group::check(&load("unowned-partition.refused"));
    let kinds: Vec<AnomalyKind> = refused.anomalies.iter().map(|a| a.kind).collect();
    assert_eq!(kinds, [AnomalyKind::UnownedPartition], "{refused:#?}");
}
