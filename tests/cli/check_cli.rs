//! `faultline check` end to end: a run's own history under the log and the partition-log
//! linearizability checkers, hand-converted register histories (valid and not), JSON
//! output, and the exit code and line number of a malformed history.

use std::path::{Path, PathBuf};
use std::process::Command;

fn faultline(args: &[&str]) -> (i32, String, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_faultline"))
        .args(args)
        .current_dir(repo())
        .output()
        .expect("faultline runs");
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn register_history(name: &str) -> PathBuf {
    repo().join("checker/testdata/linearizable").join(name)
}

#[test]
fn a_run_history_passes_the_log_and_partition_log_checkers() {
    let out = tempfile::tempdir().unwrap();
    let (code, stdout, stderr) =
        faultline(&["run", "--seed", "1", "--out", out.path().to_str().unwrap()]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    let history = out.path().join("smoke/1/history.jsonl");
    let (code, stdout, stderr) = faultline(&[
        "check",
        history.to_str().unwrap(),
        "--checker",
        "log,linearizable",
        "--model",
        "log",
    ]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(stdout.contains("log: valid"), "{stdout}");
    assert!(stdout.contains("linearizable: valid"), "{stdout}");
    assert!(stdout.contains("partitions: "), "{stdout}");
}

#[test]
fn a_hand_converted_register_history_checks_valid_and_its_stale_twin_exits_1() {
    let valid = register_history("valid-hand-converted-jepsen-log.jsonl");
    let (code, stdout, stderr) = faultline(&[
        "check",
        valid.to_str().unwrap(),
        "--checker",
        "linearizable",
        "--model",
        "register",
    ]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(stdout.contains("linearizable: valid"), "{stdout}");
    let invalid = register_history("invalid-hand-converted-jepsen-log.jsonl");
    let (code, stdout, _) = faultline(&[
        "check",
        invalid.to_str().unwrap(),
        "--checker",
        "linearizable",
    ]);
    assert_eq!(code, 1, "{stdout}");
    assert!(stdout.contains("linearizable: invalid"), "{stdout}");
    assert!(stdout.contains("nonlinearizable"), "{stdout}");
}

#[test]
fn json_format_prints_the_check_reports() {
    let invalid = register_history("invalid-hand-converted-jepsen-log.jsonl");
    let (code, stdout, stderr) = faultline(&[
        "check",
        invalid.to_str().unwrap(),
        "--checker",
        "linearizable",
        "--model",
        "kv",
        "--format",
        "json",
    ]);
    assert_eq!(code, 1, "{stderr}");
    let reports: serde_json::Value = serde_json::from_str(&stdout).expect("stdout is JSON");
    assert_eq!(reports[0]["checker"], "linearizable");
    assert_eq!(reports[0]["verdict"], "invalid");
    assert_eq!(reports[0]["anomalies"][0]["kind"], "nonlinearizable");
}

#[test]
fn a_malformed_history_exits_2_and_names_the_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("history.jsonl");
    std::fs::write(
        &path,
        concat!(
            r#"{"index":0,"time":0,"process":0,"type":"invoke","f":"send","value":[["send",0,1]]}"#,
            "\n",
            r#"{"index":1,"time":1,"process":0,"type":"ok","f":"send","value":[["send",0,[0,1]]]}"#,
            "\n",
            r#"{"index":2,"time":2,"process":0,"type":"invoke","f":"send","value":"#,
            "\n",
        ),
    )
    .unwrap();
    for checker in ["log", "linearizable"] {
        let (code, _, stderr) = faultline(&[
            "check",
            path.to_str().unwrap(),
            "--checker",
            checker,
            "--model",
            "log",
        ]);
        assert_eq!(code, 2, "{checker}: {stderr}");
        assert!(stderr.contains("line 3"), "{checker}: {stderr}");
    }
    let (code, _, stderr) =
        faultline(&["check", path.to_str().unwrap(), "--checker", "linearizable"]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("line 1"), "register format: {stderr}");
}

/// Issue 17: a search that would outgrow `--memory-budget` answers `unknown` (exit 3) and
/// says why, instead of aborting on a failed allocation; the unique-writes path decides
/// the same history within any budget.
#[test]
fn a_search_past_the_memory_budget_is_inconclusive_and_says_why() {
    use faultline_checker::linearizable::generate::{generate, write_jsonl, GenerateOptions};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("register.jsonl");
    let ops = generate(&GenerateOptions {
        ops: 5_000,
        processes: 20,
        seed: 7,
        violations: 3,
        ..GenerateOptions::default()
    });
    write_jsonl(&ops, std::fs::File::create(&path).unwrap()).unwrap();
    let path = path.to_str().unwrap();
    let check = |extra: &[&str]| {
        let mut args = vec!["check", path, "--checker", "linearizable"];
        args.extend_from_slice(extra);
        faultline(&args)
    };
    let (code, stdout, stderr) = check(&["--no-fast-path", "--memory-budget", "2MiB"]);
    assert_eq!(code, 3, "{stdout}{stderr}");
    assert!(stdout.contains("linearizable: unknown"), "{stdout}");
    assert!(
        stdout.contains("past the memory budget of 2097152 bytes"),
        "{stdout}"
    );
    let (code, stdout, stderr) = check(&["--memory-budget", "2MiB"]);
    assert_eq!(code, 1, "{stdout}{stderr}");
    assert!(stdout.contains("cannot be ordered"), "{stdout}");
}
