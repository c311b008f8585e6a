//! Certificates: Markdown and JSON snapshot-tested with insta over a small fixture (one
//! PASS, one FAIL, one NOT APPLICABLE), plus what the snapshots cannot show at a glance:
//! escaping in every rendering, a self-contained page, and certificate folders that read
//! back as written and hold no temporary files.

mod fixture;

use std::collections::BTreeSet;
use std::fs;
use std::io::BufReader;

use faultline_checker::history::History;
use faultline_reports::certificate::model::Status;
use faultline_reports::certificate::{
    certificate_html, certificate_json, certificate_markdown, parse_certificate,
};
use faultline_reports::{read_certificate, write_certificate_folder};

#[test]
fn certificate_json_snapshot() {
    insta::assert_snapshot!(
        "certificate.json",
        certificate_json(&fixture::certificate())
    );
}

#[test]
fn certificate_markdown_snapshot() {
    insta::assert_snapshot!(
        "certificate.md",
        certificate_markdown(&fixture::certificate())
    );
}

#[test]
fn the_fixture_fails_with_one_of_each() {
    let certificate = fixture::certificate();
    assert_eq!(certificate.verdict(), Status::Fail);
    for status in [Status::Pass, Status::Fail, Status::NotApplicable] {
        assert_eq!(certificate.count(status), 1, "{status:?}");
    }
}

#[test]
fn json_reads_back_as_written() {
    let certificate = fixture::certificate();
    let text = certificate_json(&certificate);
    assert!(text.ends_with("}\n"));
    assert_eq!(
        parse_certificate(&text, "certificate.json").unwrap(),
        certificate
    );
}

/// Markdown tables stay tables: a `|` or a newline from the broker never splits a row, and
/// outside code (spans and fenced blocks) no `<` is left unescaped.
#[test]
fn markdown_escapes_what_the_broker_said() {
    let markdown = certificate_markdown(&fixture::certificate());
    assert!(markdown.contains(
        "| `describe-cluster.controller` | the broker does not advertise DescribeCluster (60) \
         \\| skipped see ApiVersions below |"
    ));
    let mut in_fence = false;
    // How many `|` the current table's header has; every row must have as many.
    let mut table_pipes: Option<usize> = None;
    for line in markdown.lines() {
        if line.starts_with("```") {
            in_fence = !in_fence;
            continue;
        }
        if in_fence {
            continue;
        }
        if line.starts_with('|') {
            let pipes = line.replace("\\|", "").matches('|').count();
            assert_eq!(pipes, *table_pipes.get_or_insert(pipes), "{line}");
        } else {
            table_pipes = None;
        }
        for piece in line.split('`').step_by(2) {
            assert!(
                !piece.replace("\\<", "").contains('<'),
                "unescaped < in {line}"
            );
        }
    }
    assert!(!in_fence, "a code block is left open");
    // The history excerpt is quoted verbatim, inside a fenced block.
    assert!(
        markdown.contains("\"error\":\"broker said: </script><script>alert(1)</script> | oops\"")
    );
}

/// Everything a maintainer needs is in the FAIL section alone: detail, evidence, both
/// exchanges with broker, API, version and time, the history excerpt and the rerun.
#[test]
fn a_fail_section_stands_alone() {
    let markdown = certificate_markdown(&fixture::certificate());
    let start = markdown.find("#### ❌ FAIL").expect("a FAIL section");
    let end = markdown[start..]
        .find("\n### ")
        .map_or(markdown.len(), |i| start + i);
    let section = &markdown[start..end];
    for expected in [
        "`workload.no-lost-writes`",
        "was acknowledged at offset 2",
        "**Evidence 1:**",
        "Exchange 1: `Produce (0)` v9 to broker `broker-1:9092` at 12400 ms",
        "Exchange 2: `Fetch (1)` v13 to broker `broker-2:9093` at 19050 ms",
        "request → ProduceRequest",
        "response ← FetchResponse { high_watermark: 2, records: [1, 2] }",
        "History (2 ops):",
        "faultline certify targets/example.toml --seed 42",
    ] {
        assert!(
            section.contains(expected),
            "{expected} missing from:\n{section}"
        );
    }
}

#[test]
fn html_escapes_and_shows_every_property_and_the_failure() {
    let certificate = fixture::certificate();
    let html = certificate_html(&certificate);
    assert!(html.starts_with("<!DOCTYPE html>"));
    assert!(!html.contains("<script"), "a script tag from the data");
    assert!(html.contains("&lt;/script&gt;&lt;script&gt;alert(1)&lt;/script&gt; | oops"));
    for tag in ["<link", "<img", "<iframe", "src=", "http://", "https://"] {
        assert!(!html.contains(tag), "{tag}");
    }
    for property in &certificate.properties {
        assert!(
            html.contains(&format!("<code>{}</code>", property.id)),
            "{}",
            property.id
        );
    }
    for id in [
        fixture::PASS_ID,
        fixture::FAIL_ID,
        fixture::NOT_APPLICABLE_ID,
    ] {
        assert!(html.contains(&format!("id=\"property-{}\"", id.replace('.', "-"))));
    }
    assert_eq!(html.matches("<details open>").count(), 1);
    assert!(html.contains("<article class=\"failure\" id=\"fail-workload-no-lost-writes\">"));
    assert!(html.contains("href=\"#fail-workload-no-lost-writes\""));
    assert!(html.contains("ProduceResponse { error_code: 0, base_offset: 2 }"));
    assert!(html.contains("<code>broker-2:9093</code>"));
    for class in ["badge pass", "badge fail", "badge not-applicable"] {
        assert!(html.contains(class), "{class}");
    }
}

#[test]
fn a_certificate_folder_reads_back_as_written() {
    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path().join("certificates").join("example");
    let certificate = fixture::certificate();
    let history = fixture::history();
    write_certificate_folder(&folder, &certificate, Some(&history)).unwrap();
    assert_eq!(
        read_certificate(&folder.join("certificate.json")).unwrap(),
        certificate
    );
    let file = fs::File::open(folder.join("history.jsonl")).unwrap();
    assert_eq!(History::read_jsonl(BufReader::new(file)).unwrap(), history);
    assert_eq!(
        fs::read_to_string(folder.join("certificate.md")).unwrap(),
        certificate_markdown(&certificate)
    );
    assert_eq!(
        fs::read_to_string(folder.join("certificate.html")).unwrap(),
        certificate_html(&certificate)
    );
}

/// Every file goes through a temporary name and a rename; none is left behind, also when
/// the folder is written twice.
#[test]
fn a_certificate_folder_has_no_leftover_temporary_files() {
    let dir = tempfile::tempdir().unwrap();
    let certificate = fixture::certificate();
    write_certificate_folder(dir.path(), &certificate, Some(&fixture::history())).unwrap();
    write_certificate_folder(dir.path(), &certificate, None).unwrap();
    let names: BTreeSet<String> = fs::read_dir(dir.path())
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    let expected = [
        "certificate.html",
        "certificate.json",
        "certificate.md",
        "history.jsonl",
    ];
    assert_eq!(names, expected.iter().map(|s| s.to_string()).collect());

    let without_history = tempfile::tempdir().unwrap();
    write_certificate_folder(without_history.path(), &certificate, None).unwrap();
    assert_eq!(fs::read_dir(without_history.path()).unwrap().count(), 3);
}
