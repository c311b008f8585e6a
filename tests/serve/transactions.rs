//! Transactions (KIP-98, KIP-447) with a real client against `faultline serve --brokers 3`:
//! confluent-kafka's transactional producer and read_committed consumer run
//! `tests/clients/transactions.py` — init/begin/commit/abort, read_committed isolation,
//! fencing by a second producer with the same transactional.id, and
//! send_offsets_to_transaction. Under `CI=true` a missing client fails the test (see
//! `real_clients.rs`, whose venv it shares).

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

#[test]
fn confluent_kafka_transactions_work_against_three_brokers() {
    let Some(python) = crate::real_clients::python() else {
        return;
    };
    let server = crate::common::serve(3, &[]);
    // Leaders are elected and announced within a few heartbeats.
    std::thread::sleep(Duration::from_millis(1500));
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/clients/transactions.py");
    let output = Command::new(&python)
        .arg(&script)
        .arg(format!("127.0.0.1:{}", server.port))
        .output()
        .expect("the client script runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    println!("{stdout}");
    let passed = stdout.lines().filter(|l| l.starts_with("PASS")).count();
    let failures: Vec<&str> = stdout.lines().filter(|l| l.starts_with("FAIL")).collect();
    assert!(
        output.status.success() && failures.is_empty() && passed == 4,
        "transactions failed ({}, {passed} passed):\n{}\nstderr tail:\n{}",
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
