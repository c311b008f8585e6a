//! Table-driven testdata for the admin checker (DeleteRecords, ListOffsets): for every
//! kind, a minimal history (`testdata/admin/<kind>.jsonl`) that must trigger it and a near
//! miss (`testdata/admin/<kind>.near-miss.jsonl`) that must not (STYLE.md, Tests). The log
//! checker must find nothing in any of them: the sends and polls are a legal queue.

use std::collections::BTreeSet;
use std::fs::File;
use std::io::BufReader;
use std::path::PathBuf;

use faultline_checker::admin::{self, AdminOptions};
use faultline_checker::history::History;
use faultline_checker::log::LogOptions;
use faultline_checker::{check_log, AnomalyKind, CheckReport, Verdict};

/// (file stem, the kind it must trigger).
const CASES: &[(&str, AnomalyKind)] = &[
    ("log-start-regression", AnomalyKind::LogStartRegression),
    (
        "latest-offset-out-of-bounds",
        AnomalyKind::LatestOffsetOutOfBounds,
    ),
    ("wrong-timestamp-offset", AnomalyKind::WrongTimestampOffset),
];

fn load(stem: &str) -> History {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("testdata/admin")
        .join(format!("{stem}.jsonl"));
    let file = File::open(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    History::read_jsonl(BufReader::new(file)).expect("testdata parses")
}

fn strict() -> AdminOptions {
    AdminOptions {
        acks_all: true,
        final_reads: true,
    }
}

fn kinds(report: &CheckReport) -> BTreeSet<AnomalyKind> {
    report.anomalies.iter().map(|a| a.kind).collect()
}

#[test]
fn every_admin_kind_has_a_case() {
    let covered: BTreeSet<AnomalyKind> = CASES.iter().map(|(_, kind)| *kind).collect();
    let admin_kinds: BTreeSet<AnomalyKind> = AnomalyKind::ALL
        .into_iter()
        .filter(|k| k.testdata() == faultline_checker::Testdata::Folder("admin"))
        .collect();
    assert_eq!(covered, admin_kinds);
}

#[test]
fn each_minimal_history_triggers_exactly_its_kind() {
    for (stem, kind) in CASES {
        let report = admin::check(&load(stem), &strict());
        assert_eq!(report.verdict, Verdict::Invalid, "{stem}: {report:#?}");
        assert_eq!(
            kinds(&report),
            BTreeSet::from([*kind]),
            "{stem}: {report:#?}"
        );
        for anomaly in &report.anomalies {
            assert!(!anomaly.ops.is_empty(), "{stem}: evidence names its ops");
            assert!(!anomaly.description.is_empty());
        }
    }
}

#[test]
fn each_near_miss_is_clean_for_both_checkers() {
    for (stem, _) in CASES {
        let history = load(&format!("{stem}.near-miss"));
        let report = admin::check(&history, &strict());
        assert_eq!(
            report.verdict,
            Verdict::Valid,
            "{stem}.near-miss: {report:#?}"
        );
        let log = check_log(&history, &LogOptions::default());
        assert_eq!(log.verdict, Verdict::Valid, "{stem}.near-miss: {log:#?}");
    }
}

#[test]
fn admin_ops_round_trip_through_json_lines() {
    for (stem, _) in CASES {
        let history = load(stem);
        let mut bytes = Vec::new();
        history.write_jsonl(&mut bytes).unwrap();
        assert_eq!(History::read_jsonl(&bytes[..]).unwrap(), history, "{stem}");
    }
}
