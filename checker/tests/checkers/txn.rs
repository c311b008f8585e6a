//! Table-driven testdata for the transaction checker: for every kind, a minimal history
//! (`testdata/txn/<kind>.jsonl`) that must trigger it and a near miss
//! (`testdata/txn/<kind>.near-miss.jsonl`) that must not (STYLE.md, Tests). Near misses
//! run under the strictest options (read_committed, nothing allowed), and the log checker
//! must find nothing in any of them either: each is a legal Kafka history.

use std::collections::BTreeSet;
use std::fs::File;
use std::io::BufReader;
use std::path::PathBuf;

use faultline_checker::history::History;
use faultline_checker::log::LogOptions;
use faultline_checker::txn::{self, TxnOptions, KINDS};
use faultline_checker::{check_log, AnomalyKind, CheckReport, Verdict};

/// (file stem, the kind it must trigger, every kind it triggers).
const CASES: &[(&str, AnomalyKind, &[AnomalyKind])] = {
    use AnomalyKind::*;
    &[
        ("write-cycle", WriteCycle, &[WriteCycle]),
        ("intermediate-read", IntermediateRead, &[IntermediateRead]),
        (
            "cyclic-information-flow",
            CyclicInformationFlow,
            &[CyclicInformationFlow],
        ),
        ("precommitted-read", PrecommittedRead, &[PrecommittedRead]),
        ("zombie-write", ZombieWrite, &[ZombieWrite]),
        (
            "non-atomic-offset-commit",
            NonAtomicOffsetCommit,
            &[NonAtomicOffsetCommit],
        ),
        // The other direction: committed records, offsets not committed.
        (
            "non-atomic-offset-commit.reverse",
            NonAtomicOffsetCommit,
            &[NonAtomicOffsetCommit],
        ),
    ]
};

fn load(stem: &str) -> History {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("testdata/txn")
        .join(format!("{stem}.jsonl"));
    let file = File::open(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    History::read_jsonl(BufReader::new(file)).expect("testdata parses")
}

fn strict() -> TxnOptions {
    TxnOptions {
        allowed: BTreeSet::new(),
        ..TxnOptions::default()
    }
}

fn kinds(report: &CheckReport) -> BTreeSet<AnomalyKind> {
    report.anomalies.iter().map(|a| a.kind).collect()
}

#[test]
fn every_kind_has_a_case() {
    let covered: BTreeSet<AnomalyKind> = CASES.iter().map(|(_, kind, _)| *kind).collect();
    assert_eq!(covered, KINDS.into_iter().collect());
}

#[test]
fn each_minimal_history_triggers_exactly_its_kinds() {
    for (stem, kind, expected) in CASES {
        let report = txn::check(&load(stem), &strict());
        assert_eq!(report.verdict, Verdict::Invalid, "{stem}: {report:#?}");
        assert!(kinds(&report).contains(kind), "{stem}: {report:#?}");
        let expected: BTreeSet<AnomalyKind> = expected.iter().copied().collect();
        assert_eq!(kinds(&report), expected, "{stem}: {report:#?}");
        for anomaly in &report.anomalies {
            assert!(!anomaly.ops.is_empty(), "{stem}: evidence names its ops");
            assert!(!anomaly.description.is_empty());
        }
    }
}

#[test]
fn each_near_miss_is_clean_for_both_checkers() {
    for (stem, _, _) in CASES {
        let history = load(&format!("{stem}.near-miss"));
        let report = txn::check(&history, &strict());
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
fn write_cycles_are_allowed_by_default_as_in_jepsen() {
    let report = txn::check(&load("write-cycle"), &TxnOptions::default());
    assert_eq!(report.verdict, Verdict::Valid, "{report:#?}");
    assert_eq!(report.stats.get("allowed G0"), Some(&1));
}

#[test]
fn read_uncommitted_allows_cycles_of_reads_and_own_reads() {
    let options = TxnOptions {
        read_committed: false,
        ..strict()
    };
    for stem in ["cyclic-information-flow", "precommitted-read"] {
        let report = txn::check(&load(stem), &options);
        assert_eq!(report.verdict, Verdict::Valid, "{stem}: {report:#?}");
    }
}

#[test]
fn a_cycle_is_described_step_by_step() {
    let report = txn::check(&load("cyclic-information-flow"), &strict());
    let text = &report.anomalies[0].description;
    assert!(
        text.contains("op 2 sent 1 to key 0, which op 3 polled"),
        "{text}"
    );
    assert!(
        text.contains("op 3 sent 2 to key 1, which op 2 polled"),
        "{text}"
    );
    assert_eq!(report.anomalies[0].ops, vec![2, 3]);
}

#[test]
fn a_graph_over_the_memory_budget_is_unknown_not_valid() {
    let options = TxnOptions {
        memory_budget_bytes: 16,
        ..strict()
    };
    let report = txn::check(&load("write-cycle.near-miss"), &options);
    assert_eq!(report.verdict, Verdict::Unknown, "{report:#?}");
    assert!(report
        .stats
        .contains_key("cycles unknown: memory budget exceeded, bytes needed"));
}

#[test]
fn a_large_history_of_serial_transactions_is_clean() {
    // 20,000 transactions, each sending to two keys and polling what the previous one
    // sent: long ww and wr chains, no cycle.
    let mut lines = Vec::new();
    let mut index = 0;
    let mut push = |lines: &mut Vec<String>, line: String| {
        lines.push(line.replace("INDEX", &index.to_string()));
        index += 1;
    };
    for t in 0..20_000u64 {
        let reads = if t == 0 {
            "{}".to_string()
        } else {
            format!(r#"{{"0":[[{},{}]]}}"#, t - 1, t - 1)
        };
        push(
            &mut lines,
            format!(
                r#"{{"index":INDEX,"time":{},"process":0,"type":"invoke","f":"txn","value":[["poll"],["send",0,{t}],["send",1,{t}]]}}"#,
                2 * t
            ),
        );
        push(
            &mut lines,
            format!(
                r#"{{"index":INDEX,"time":{},"process":0,"type":"ok","f":"txn","value":[["poll",{reads}],["send",0,[{t},{t}]],["send",1,[{t},{t}]]]}}"#,
                2 * t + 1
            ),
        );
    }
    let history = History::read_jsonl(lines.join("\n").as_bytes()).unwrap();
    let report = txn::check(&history, &strict());
    assert_eq!(
        report.verdict,
        Verdict::Valid,
        "{:?}",
        report.anomalies.first()
    );
    // Both keys order T(i) before T(i + 1): one edge per pair of ops.
    assert_eq!(report.stats["ww edges"], 19_999);
    assert_eq!(report.stats["wr edges"], 19_999);
}
