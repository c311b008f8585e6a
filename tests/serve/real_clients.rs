//! Real Kafka clients against `faultline serve --brokers 3`: confluent-kafka (librdkafka),
//! kafka-python and kcat run `tests/clients/real_clients.py`, which checks each feature
//! end to end (produce/consume, compression, headers, fetch limits, timestamps, admin,
//! groups) and fails on the first client × feature that does not work.
//!
//! The Python clients live in a venv that `.ci/run` creates (`target/py-clients`, or
//! `FAULTLINE_CLIENTS_PYTHON`). Under `CI=true` a missing client fails the test; outside
//! CI the test says loudly that it did not run.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

/// The venv's interpreter, if the clients are installed.
pub(crate) fn python() -> Option<PathBuf> {
    let path = std::env::var_os("FAULTLINE_CLIENTS_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/py-clients/bin/python")
        });
    let usable = Command::new(&path)
        .args(["-c", "import confluent_kafka, kafka"])
        .status()
        .is_ok_and(|status| status.success());
    if usable {
        return Some(path);
    }
    assert!(
        std::env::var("CI").map_or(true, |v| v != "true"),
        "CI=true but the Python Kafka clients are not installed at {} (run .ci/run)",
        path.display()
    );
    eprintln!(
        "NOT RUN: confluent-kafka/kafka-python not installed at {} (.ci/run installs them)",
        path.display()
    );
    None
}

// One test per client, each against its own three brokers, so the three run side by side
// (they mostly wait on the brokers and the clients' timers).
#[test]
fn confluent_kafka_works_against_three_brokers() {
    clients_work_against_three_brokers("confluent-kafka");
}

#[test]
fn kafka_python_works_against_three_brokers() {
    clients_work_against_three_brokers("kafka-python");
}

#[test]
fn kcat_works_against_three_brokers() {
    clients_work_against_three_brokers("kcat");
}

/// Runs `tests/clients/real_clients.py --client CLIENT` against a fresh `serve --brokers 3`
/// and fails on any FAIL line (a missing client is a FAIL line, never a skip).
fn clients_work_against_three_brokers(client: &str) {
    let Some(python) = python() else {
        return;
    };
    let server = crate::common::serve(3, &["--topic", "events:3"]);
    // Leaders are elected and announced within a few heartbeats.
    std::thread::sleep(Duration::from_millis(1500));
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/clients/real_clients.py");
    let table = std::env::temp_dir().join(format!("real-clients-{}.md", server.port));
    let output = Command::new(&python)
        .arg(&script)
        .arg(format!("127.0.0.1:{}", server.port))
        .args(["--client", client])
        .arg("--markdown")
        .arg(&table)
        .output()
        .expect("the client script runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    println!("{stdout}");
    println!("{}", std::fs::read_to_string(&table).unwrap_or_default());
    let failures: Vec<&str> = stdout
        .lines()
        .filter(|line| line.starts_with("FAIL"))
        .collect();
    assert!(
        output.status.success() && failures.is_empty(),
        "{client} failed ({}):\n{}\nstderr tail:\n{}",
        output.status,
        failures.join("\n"),
        String::from_utf8_lossy(&output.stderr)
            .lines()
            .rev()
            .take(20)
            .collect::<Vec<_>>()
            .join("\n")
    );
}
