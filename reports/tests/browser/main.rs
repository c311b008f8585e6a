//! Opens the fixture's `report.html` in headless Chromium (Debian packages `chromium`,
//! `chromium-driver`; `.ci/run` installs them) and checks what a person would see: the
//! page's script ran without errors, the anomaly card is there, and opening
//! `#anomaly-1` highlights the lost write's bars on the timeline. Saves a screenshot
//! under the test output directory (`target/tmp/report-browser/`). The certificate
//! fixture's `certificate.html` is opened the same way: it has no script, so the check is
//! that Chromium logs no console message for it and renders every property.
//!
//! Skipped, with a message, when no Chromium is installed.

#[path = "../certificate/fixture.rs"]
mod certificate_fixture;
#[path = "../render/fixture.rs"]
mod fixture;

use std::path::{Path, PathBuf};
use std::process::Command;

use faultline_reports::{write_certificate_folder, write_run_folder};

fn chromium() -> Option<PathBuf> {
    let candidates = ["chromium", "chromium-browser", "google-chrome", "chrome"];
    let path = std::env::var_os("PATH")?;
    candidates.iter().find_map(|name| {
        std::env::split_paths(&path)
            .map(|dir| dir.join(name))
            .find(|candidate| candidate.is_file())
    })
}

fn headless(browser: &Path, profile: &Path, args: &[&str]) -> String {
    headless_with_log(browser, profile, args).0
}

/// Runs headless Chromium; returns its stdout and its stderr log.
fn headless_with_log(browser: &Path, profile: &Path, args: &[&str]) -> (String, String) {
    let output = Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .output()
        .expect("chromium runs");
    assert!(
        output.status.success(),
        "chromium failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    (
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn the_report_page_loads_cleanly_and_highlights_the_anomaly() {
    let Some(browser) = chromium() else {
        // CI installs Chromium (.ci/run), so there a missing browser is a failure.
        assert!(
            std::env::var_os("CI").is_none(),
            "CI=true but no chromium on PATH"
        );
        eprintln!("skipped: no chromium on PATH (apt-get install chromium)");
        return;
    };
    let out = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("report-browser");
    let folder = out.join("run");
    let profile = tempfile::tempdir().unwrap();
    write_run_folder(&folder, &fixture::report(), &fixture::history()).unwrap();
    let page = format!("file://{}", folder.join("report.html").display());

    let dom = headless(
        &browser,
        profile.path(),
        &["--dump-dom", &format!("{page}#anomaly-1")],
    );
    let html_tag = &dom[dom.find("<html").unwrap()..];
    let html_tag = &html_tag[..html_tag.find('>').unwrap()];
    assert!(
        html_tag.contains("data-ready=\"yes\""),
        "the script did not finish"
    );
    assert!(
        !html_tag.contains("data-script-errors"),
        "script errors: {html_tag}"
    );
    assert!(dom.contains("value 3 on key 0, acknowledged at offset 2 at t=3.400s"));
    assert!(
        dom.contains("class=\"anomaly active\""),
        "the card is not selected"
    );
    assert!(
        dom.contains("<rect id=\"o8\" class=\"ok hl\""),
        "op #8 is not highlighted"
    );
    assert!(dom.contains("<svg id=\"timeline\" xmlns=\"http://www.w3.org/2000/svg\""));

    for (name, url) in [
        ("report.png", page.clone()),
        ("report-anomaly-1.png", format!("{page}#anomaly-1")),
    ] {
        let screenshot = out.join(name);
        let _ = std::fs::remove_file(&screenshot);
        headless(
            &browser,
            profile.path(),
            &[
                &format!("--screenshot={}", screenshot.display()),
                "--window-size=1280,1800",
                "--hide-scrollbars",
                &url,
            ],
        );
        let size = std::fs::metadata(&screenshot).map(|m| m.len()).unwrap_or(0);
        assert!(size > 10_000, "no screenshot at {}", screenshot.display());
    }
    eprintln!("screenshots in {}", out.display());
}

/// The certificate page has no script; with logging on, Chromium would print any console
/// message (a blocked resource, a parse warning) as a `CONSOLE` line.
#[test]
fn the_certificate_page_loads_cleanly() {
    let Some(browser) = chromium() else {
        // CI installs Chromium (.ci/run), so there a missing browser is a failure.
        assert!(
            std::env::var_os("CI").is_none(),
            "CI=true but no chromium on PATH"
        );
        eprintln!("skipped: no chromium on PATH (apt-get install chromium)");
        return;
    };
    let out = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("certificate-browser");
    let profile = tempfile::tempdir().unwrap();
    let certificate = certificate_fixture::certificate();
    write_certificate_folder(&out, &certificate, Some(&certificate_fixture::history())).unwrap();
    let page = format!("file://{}", out.join("certificate.html").display());
    let (dom, log) = headless_with_log(
        &browser,
        profile.path(),
        &["--enable-logging=stderr", "--v=0", "--dump-dom", &page],
    );
    let console: Vec<&str> = log.lines().filter(|l| l.contains("CONSOLE")).collect();
    assert!(console.is_empty(), "console messages: {console:#?}");
    for id in [
        certificate_fixture::PASS_ID,
        certificate_fixture::FAIL_ID,
        certificate_fixture::NOT_APPLICABLE_ID,
    ] {
        assert!(
            dom.contains(&format!("<code>{id}</code>")),
            "{id} not rendered"
        );
    }
    assert!(
        dom.contains("<details open=\"\">"),
        "the evidence is not open"
    );
    assert!(!dom.contains("<script"), "a script element from the data");
    assert!(dom.contains("&lt;/script&gt;&lt;script&gt;alert(1)&lt;/script&gt; | oops"));
    let screenshot = out.join("certificate.png");
    let _ = std::fs::remove_file(&screenshot);
    headless(
        &browser,
        profile.path(),
        &[
            &format!("--screenshot={}", screenshot.display()),
            "--window-size=1280,2400",
            "--hide-scrollbars",
            &page,
        ],
    );
    let size = std::fs::metadata(&screenshot).map(|m| m.len()).unwrap_or(0);
    assert!(size > 10_000, "no screenshot at {}", screenshot.display());
    eprintln!("screenshot at {}", screenshot.display());
}

/// A few thousand ops over 30 s with faults, leader changes and infos: the page stays
/// small, loads cleanly, and its screenshot shows what a real run looks like.
#[test]
fn a_busy_run_loads_cleanly() {
    let Some(browser) = chromium() else {
        // CI installs Chromium (.ci/run), so there a missing browser is a failure.
        assert!(
            std::env::var_os("CI").is_none(),
            "CI=true but no chromium on PATH"
        );
        eprintln!("skipped: no chromium on PATH (apt-get install chromium)");
        return;
    };
    let (report, history) = busy_run();
    let out = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("report-browser-busy");
    let profile = tempfile::tempdir().unwrap();
    write_run_folder(&out, &report, &history).unwrap();
    let size = std::fs::metadata(out.join("report.html")).unwrap().len();
    assert!(size < 1_000_000, "report.html is {size} bytes");
    let page = format!("file://{}", out.join("report.html").display());
    let dom = headless(&browser, profile.path(), &["--dump-dom", &page]);
    let html_tag = &dom[dom.find("<html").unwrap()..];
    let html_tag = &html_tag[..html_tag.find('>').unwrap()];
    assert!(
        html_tag.contains("data-ready=\"yes\""),
        "the script did not finish"
    );
    assert!(!html_tag.contains("data-script-errors"), "{html_tag}");
    let screenshot = out.join("report.png");
    headless(
        &browser,
        profile.path(),
        &[
            &format!("--screenshot={}", screenshot.display()),
            "--window-size=1280,2400",
            "--hide-scrollbars",
            &page,
        ],
    );
    assert!(screenshot.is_file());
}

/// A synthetic busy run: 6 producers and 2 consumers, latencies from a fixed LCG, a
/// partition and a crash, and the fixture's lost write on top.
fn busy_run() -> (
    faultline_reports::RunReport,
    faultline_checker::history::History,
) {
    use faultline_checker::history::{Function, History, MicroOp, Op, OpType, OpValue, Process};
    use faultline_reports::{ClusterEvent, FaultWindow};
    let mut state = 7u64;
    let mut random = move |bound: u64| {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (state >> 33) % bound
    };
    let mut ops = Vec::new();
    let mut clocks = [0u64; 8];
    let mut offsets = [0i64; 4];
    let ms = 1_000_000u64;
    while ops.len() < 6_000 {
        let p = random(8) as usize;
        let start = clocks[p] + random(40) * ms;
        let in_fault = (10_000 * ms..16_000 * ms).contains(&start);
        let latency = (2 + random(20) + if in_fault { random(400) } else { 0 }) * ms;
        let key = random(4) as u32;
        let (f, invoke, done, kind) = if p < 6 {
            let value = ops.len() as u64;
            let kind = match random(50) {
                0 => OpType::Fail,
                1 if in_fault => OpType::Info,
                _ => OpType::Ok,
            };
            let offset = (kind == OpType::Ok).then(|| {
                offsets[key as usize] += 1;
                offsets[key as usize] - 1
            });
            let send = |offset| OpValue::MicroOps(vec![MicroOp::Send { key, value, offset }]);
            (Function::Send, send(None), send(offset), kind)
        } else {
            let reads = std::collections::BTreeMap::from([(key, vec![(0, 0)])]);
            let poll = |reads| OpValue::MicroOps(vec![MicroOp::Poll { reads }]);
            (Function::Poll, poll(None), poll(Some(reads)), OpType::Ok)
        };
        let process = Process::Client(p as u32);
        for (time, kind, value) in [
            (start, OpType::Invoke, invoke),
            (start + latency, kind, done),
        ] {
            let index = ops.len() as u64;
            ops.push(Op {
                index,
                time,
                process,
                kind,
                f,
                value,
                error: None,
                leader_epochs: Default::default(),
            });
        }
        clocks[p] = start + latency;
    }
    ops.sort_by_key(|op| op.time);
    for (index, op) in ops.iter_mut().enumerate() {
        op.index = index as u64;
    }
    let mut report = fixture::report();
    report.simulated_ms = clocks.iter().max().unwrap() / ms;
    report.faults = vec![
        FaultWindow {
            kind: "partition".into(),
            targets: vec!["broker-1".into()],
            start_ns: 10_000 * ms,
            end_ns: Some(16_000 * ms),
            detail: "leader isolated".into(),
        },
        FaultWindow {
            kind: "crash".into(),
            targets: vec!["broker-2".into()],
            start_ns: 14_000 * ms,
            end_ns: Some(18_000 * ms),
            detail: String::new(),
        },
    ];
    report.events.push(ClusterEvent {
        time_ns: 16_500 * ms,
        node: "controller".into(),
        kind: "leader-change".into(),
        description: "partition 0: leader broker-1, epoch 3".into(),
        partition_state: None,
    });
    let ok_send = ops
        .iter()
        .find(|op| op.time > 11_000 * ms && op.kind == OpType::Ok && op.f == Function::Send)
        .unwrap()
        .index;
    report.checks[0].anomalies[0].ops = vec![ok_send];
    (report, History { ops })
}
