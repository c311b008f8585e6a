//! Renderings of one run and of many, snapshot-tested with insta over a small
//! deterministic fixture (a lost write under a partition), plus the properties the
//! snapshots cannot show at a glance: well-formed XML, escaping, self-containment,
//! sampling of large histories, and run folders that read back as written.

mod fixture;
mod xml;

use std::collections::BTreeSet;

use faultline_checker::history::{Function, History, MicroOp, Op, OpType, OpValue, Process};
use faultline_checker::log::LogOptions;
use faultline_checker::{check_log, AnomalyKind, Verdict};
use faultline_reports::evidence::Evidence;
use faultline_reports::html::run_html;
use faultline_reports::json::{parse_report, parse_summary, report_json, summary_json};
use faultline_reports::junit::{run_junit, summary_junit};
use faultline_reports::markdown::{run_markdown, summary_markdown};
use faultline_reports::terminal::{run_text, summary_text};
use faultline_reports::{read_run_folder, write_run_folder, Format, RunSummaryRow, Summary};

#[test]
fn report_json_snapshot() {
    insta::assert_snapshot!("report.json", report_json(&fixture::report()));
}

#[test]
fn junit_snapshot() {
    insta::assert_snapshot!(
        "junit.xml",
        run_junit(&fixture::report(), &fixture::history())
    );
}

#[test]
fn markdown_snapshot() {
    insta::assert_snapshot!(
        "summary.md",
        run_markdown(&fixture::report(), &fixture::history())
    );
}

#[test]
fn html_snapshot() {
    insta::assert_snapshot!(
        "report.html",
        run_html(&fixture::report(), &fixture::history())
    );
}

#[test]
fn terminal_snapshot() {
    insta::assert_snapshot!(
        "terminal.txt",
        run_text(&fixture::report(), &fixture::history())
    );
}

fn summary() -> Summary {
    let failing = fixture::report();
    let mut passing = fixture::report();
    passing.seed = 8;
    passing.verdict = Verdict::Valid;
    passing.checks.iter_mut().for_each(|c| {
        c.anomalies.clear();
        c.verdict = Verdict::Valid;
    });
    passing.repro = "faultline run scenarios/smoke.toml --seed 8".into();
    let mut unknown = passing.clone();
    unknown.seed = 9;
    unknown.verdict = Verdict::Unknown;
    unknown.repro = "faultline run scenarios/smoke.toml --seed 9".into();
    Summary::from_rows(vec![
        RunSummaryRow::from_report(&unknown, None),
        RunSummaryRow::from_report(&failing, Some("runs/smoke-7".into())),
        RunSummaryRow::from_report(&passing, None),
    ])
}

#[test]
fn summary_snapshots() {
    let summary = summary();
    insta::assert_snapshot!("summary.json", summary_json(&summary));
    insta::assert_snapshot!("summary-junit.xml", summary_junit(&summary));
    insta::assert_snapshot!("summary-summary.md", summary_markdown(&summary));
    insta::assert_snapshot!("summary-terminal.txt", summary_text(&summary));
    assert_eq!(
        parse_summary(&summary_json(&summary), "summary.json").unwrap(),
        summary
    );
}

/// The checker itself finds the fixture's anomaly, so the fixture is a real failure.
#[test]
fn the_log_checker_agrees_with_the_fixture() {
    let found = check_log(&fixture::history(), &LogOptions::default());
    let lost: Vec<_> = found
        .anomalies
        .iter()
        .filter(|a| a.kind == AnomalyKind::LostWrite)
        .collect();
    assert_eq!(lost.len(), 1, "{found:#?}");
    assert_eq!(lost[0].key, Some(0));
    assert_eq!(lost[0].ops, fixture::report().checks[0].anomalies[0].ops);
}

/// What a reader must be able to name from the page alone: the lost record, when it was
/// acknowledged, the fault active then, and the command to rerun.
#[test]
fn a_lost_write_names_record_time_fault_and_repro() {
    let (report, history) = (fixture::report(), fixture::history());
    let evidence = Evidence::gather(&report, &history);
    let headline = &evidence.anomalies[0].headline;
    assert_eq!(
        headline,
        "value 3 on key 0, acknowledged at offset 2 at t=3.400s by op #8 (process 0) \
         during partition(broker-1)"
    );
    let html = run_html(&report, &history);
    assert!(html.contains(headline.as_str()));
    assert!(html.contains("<pre id=\"repro\">faultline run scenarios/smoke.toml --seed 7</pre>"));
}

#[test]
fn the_real_checker_output_gets_the_same_headline() {
    let history = fixture::history();
    let mut report = fixture::report();
    report.checks = vec![check_log(&history, &LogOptions::default())];
    let evidence = Evidence::gather(&report, &history);
    assert!(evidence.anomalies[0]
        .headline
        .starts_with("value 3 on key 0, acknowledged at offset 2 at t=3.400s by op #8"));
}

#[test]
fn junit_is_well_formed_and_counts_its_cases() {
    let text = run_junit(&fixture::report(), &fixture::history());
    xml::assert_well_formed(&text);
    assert!(text.contains(
        "<testsuites name=\"faultline\" tests=\"2\" skipped=\"0\" failures=\"1\" errors=\"0\""
    ));
    assert_eq!(text.matches("<testcase ").count(), 2);
    assert_eq!(text.matches("<failure ").count(), 1);
    xml::assert_well_formed(&summary_junit(&summary()));
}

/// Every anomaly card points at bars that exist, and the page fetches nothing.
#[test]
fn html_is_self_contained_and_its_links_resolve() {
    let html = run_html(&fixture::report(), &fixture::history());
    for (at, _) in html.match_indices("data-ops=\"") {
        let rest = &html[at + 10..];
        let ids = &rest[..rest.find('"').unwrap()];
        for id in ids.split(' ') {
            assert!(html.contains(&format!("<rect id=\"{id}\"")), "no bar {id}");
        }
    }
    let external: Vec<_> = html
        .match_indices("http")
        .map(|(at, _)| &html[at..at + 30])
        .filter(|s| !s.starts_with("http://www.w3.org/2000/svg"))
        .collect();
    assert!(external.is_empty(), "{external:?}");
    for tag in ["<link", "<img", "<iframe", "src="] {
        assert!(!html.contains(tag), "{tag}");
    }
}

/// Strings from a broker under test never become markup in any rendering.
#[test]
fn hostile_strings_are_escaped_everywhere() {
    let history = fixture::history();
    let mut report = fixture::report();
    let hostile = "</script><img src=x onerror=alert(1)> ]]> & \u{1} | *bold*";
    report.checks[0].anomalies[0].description = hostile.into();
    report.events[0].description = hostile.into();
    report.faults[0].detail = hostile.into();
    report.scenario.name = hostile.into();
    let html = run_html(&report, &history);
    assert!(!html.contains("<img"));
    assert_eq!(html.matches("</script>").count(), 1);
    let junit = run_junit(&report, &history);
    xml::assert_well_formed(&junit);
    assert!(!junit.contains('\u{1}'));
    let markdown = run_markdown(&report, &history);
    for line in markdown.lines() {
        // Outside code spans (odd pieces between backticks), every `<` is escaped.
        for piece in line.split('`').step_by(2) {
            assert!(
                !piece.replace("\\<", "").contains('<'),
                "unescaped < in {line}"
            );
        }
    }
    assert!(markdown.contains("\\*bold\\*"));
}

/// Thousands of ops stay a small page; past the limit the timeline samples and says so,
/// and never drops an op an anomaly cites.
#[test]
fn large_histories_are_sampled_and_stay_small() {
    let mut ops = Vec::new();
    for i in 0..25_000u64 {
        let (p, key) = (Process::Client((i % 8) as u32), (i % 4) as u32);
        let send = |offset| {
            OpValue::MicroOps(vec![MicroOp::Send {
                key,
                value: i,
                offset,
            }])
        };
        let kind = if i % 1000 == 999 {
            OpType::Info
        } else {
            OpType::Ok
        };
        for (time, kind, value) in [
            (i * 1_000_000, OpType::Invoke, send(None)),
            (i * 1_000_000 + 700_000, kind, send(Some(i as i64 / 4))),
        ] {
            ops.push(Op {
                index: ops.len() as u64,
                time,
                process: p,
                kind,
                f: Function::Send,
                value,
                error: None,
                leader_epochs: Default::default(),
            });
        }
    }
    let history = History { ops };
    let mut report = fixture::report();
    report.checks[0].anomalies[0].ops = vec![33_333];
    report.simulated_ms = 25_000;
    let html = run_html(&report, &history);
    assert!(html.contains("Sampled: "), "no sampling note");
    assert!(
        html.contains("<rect id=\"o33333\""),
        "a cited op was sampled away"
    );
    assert!(html.len() < 4_000_000, "{} bytes", html.len());
    let small = History {
        ops: history.ops[..10_000].to_vec(),
    };
    let html = run_html(&report, &small);
    assert!(!html.contains("Sampled: "));
    assert!(html.len() < 1_500_000, "{} bytes for 5000 ops", html.len());
}

#[test]
fn a_run_folder_reads_back_as_written() {
    let dir = tempfile::tempdir().unwrap();
    let (report, history) = (fixture::report(), fixture::history());
    write_run_folder(dir.path(), &report, &history).unwrap();
    let names: BTreeSet<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    let expected = [
        "history.jsonl",
        "junit.xml",
        "report.html",
        "report.json",
        "summary.md",
    ];
    assert_eq!(names, expected.iter().map(|s| s.to_string()).collect());
    let (read_report, read_history) = read_run_folder(dir.path()).unwrap();
    assert_eq!(read_report, report);
    assert_eq!(read_history, history);
    for format in Format::ALL {
        let on_disk = std::fs::read_to_string(dir.path().join(format.file_name())).unwrap();
        assert_eq!(
            on_disk,
            format.render(&read_report, &read_history),
            "{format}"
        );
    }
    assert_eq!(
        parse_report(&report_json(&report), "report.json").unwrap(),
        report
    );
}
