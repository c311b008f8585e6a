//! Table-driven testdata for the log checker: for every anomaly kind, a minimal history
//! (`testdata/log/<kind>.jsonl`) that must trigger it and a near miss
//! (`testdata/log/<kind>.near-miss.jsonl`) that must not (STYLE.md, Tests).
//!
//! Near misses run under the strictest options (final reads, nothing allowed) and must
//! pass outright, so each is the smallest change that makes its trigger legal.

use std::collections::BTreeSet;
use std::fs::File;
use std::io::BufReader;
use std::path::PathBuf;

use faultline_checker::history::History;
use faultline_checker::log::LogOptions;
use faultline_checker::{check_log, AnomalyKind, CheckReport, Verdict};

/// (file stem, the kind it must trigger, every kind it triggers).
const CASES: &[(&str, AnomalyKind, &[AnomalyKind])] = {
    use AnomalyKind::*;
    &[
        ("lost-write", LostWrite, &[LostWrite]),
        ("unseen", Unseen, &[Unseen]),
        ("duplicate", Duplicate, &[Duplicate]),
        (
            "inconsistent-offsets",
            InconsistentOffsets,
            &[InconsistentOffsets],
        ),
        ("nonmonotonic-poll", NonmonotonicPoll, &[NonmonotonicPoll]),
        ("poll-skip", PollSkip, &[PollSkip]),
        ("nonmonotonic-send", NonmonotonicSend, &[NonmonotonicSend]),
        (
            "int-nonmonotonic-send",
            IntNonmonotonicSend,
            &[IntNonmonotonicSend],
        ),
        ("int-send-skip", IntSendSkip, &[IntSendSkip]),
        (
            "int-nonmonotonic-poll",
            IntNonmonotonicPoll,
            &[IntNonmonotonicPoll],
        ),
        ("int-poll-skip", IntPollSkip, &[IntPollSkip]),
        ("phantom", Phantom, &[Phantom]),
        ("aborted-read", AbortedRead, &[AbortedRead]),
    ]
};

fn load(stem: &str) -> History {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("testdata/log")
        .join(format!("{stem}.jsonl"));
    let file = File::open(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    History::read_jsonl(BufReader::new(file)).expect("testdata parses")
}

fn strict() -> LogOptions {
    LogOptions {
        final_reads: true,
        allowed: BTreeSet::new(),
        ..LogOptions::default()
    }
}

fn kinds(report: &CheckReport) -> BTreeSet<AnomalyKind> {
    report.anomalies.iter().map(|a| a.kind).collect()
}

#[test]
fn every_kind_has_a_case() {
    let covered: BTreeSet<AnomalyKind> = CASES.iter().map(|(_, kind, _)| *kind).collect();
    let all: BTreeSet<AnomalyKind> = AnomalyKind::LOG.into_iter().collect();
    assert_eq!(covered, all);
}

#[test]
fn each_minimal_history_triggers_exactly_its_kinds() {
    for (stem, kind, expected) in CASES {
        let report = check_log(&load(stem), &strict());
        assert_eq!(report.verdict, Verdict::Invalid, "{stem}: {report:#?}");
        let expected: BTreeSet<AnomalyKind> = expected.iter().copied().collect();
        assert_eq!(kinds(&report), expected, "{stem}: {report:#?}");
        for anomaly in report.anomalies.iter().filter(|a| a.kind == *kind) {
            assert_eq!(anomaly.key, Some(0), "{stem}");
            assert!(!anomaly.ops.is_empty(), "{stem}: no ops cited");
            assert!(anomaly.description.contains("key 0"), "{stem}: {anomaly:?}");
        }
    }
}

#[test]
fn each_near_miss_passes() {
    for (stem, _, _) in CASES {
        let stem = format!("{stem}.near-miss");
        let report = check_log(&load(&stem), &strict());
        assert_eq!(report.verdict, Verdict::Valid, "{stem}: {report:#?}");
    }
}

#[test]
fn unseen_without_final_reads_is_only_counted() {
    let report = check_log(&load("unseen"), &LogOptions::default());
    assert_eq!(report.verdict, Verdict::Valid);
    assert_eq!(report.stats["unseen"], 1);
}

#[test]
fn int_send_skip_is_allowed_by_default_as_in_jepsen() {
    let report = check_log(&load("int-send-skip"), &LogOptions::default());
    assert_eq!(report.verdict, Verdict::Valid);
    assert_eq!(report.stats["allowed int-send-skip"], 1);
}

#[test]
fn subscribe_allows_cross_poll_anomalies() {
    let options = LogOptions {
        subscribe: true,
        ..strict()
    };
    assert_eq!(
        check_log(&load("nonmonotonic-poll"), &options).verdict,
        Verdict::Valid
    );
    assert_eq!(
        check_log(&load("poll-skip"), &options).verdict,
        Verdict::Valid
    );
}

#[test]
fn lost_write_evidence_names_writer_and_reader() {
    let report = check_log(&load("lost-write"), &strict());
    let anomaly = &report.anomalies[0];
    assert_eq!(anomaly.ops, vec![3, 9]);
    assert!(
        anomaly.description.contains("value 2"),
        "{}",
        anomaly.description
    );
    assert!(
        anomaly.description.contains("offset 1"),
        "{}",
        anomaly.description
    );
    assert!(
        anomaly.description.contains("offset 2"),
        "{}",
        anomaly.description
    );
}

#[test]
fn aborted_read_serializes_as_jepsen_g1a() {
    assert_eq!(AnomalyKind::AbortedRead.to_string(), "G1a");
    assert_eq!(AnomalyKind::IntPollSkip.to_string(), "int-poll-skip");
}
