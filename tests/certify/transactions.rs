//! The `txn.*` properties against `faultline serve --brokers 3` over real TCP: the clean
//! cluster passes the transactions suite, and each planted transaction bug fails at least
//! one `txn.*` property with the exchanges that show it (README, "Planted transaction
//! bugs through certify").

use faultline_conformance::certify::suite::{run_suite, Suite};
use faultline_conformance::certify::{PropertyResult, Status};
use faultline_wire::transport::TokioTransport;

use crate::certify_suite::{serve, summary, target};

/// Runs the transactions suite against serve, with `bug` switched on if given.
async fn transactions(bug: Option<&str>) -> Vec<PropertyResult> {
    let server = serve(bug);
    let target = target(&server).await;
    let results = run_suite(&TokioTransport, &target, Suite::Transactions).await;
    eprintln!("--bug {bug:?}:\n{}", summary(&results));
    results
}

#[tokio::test]
async fn the_clean_cluster_passes_every_transaction_property() {
    let results = transactions(None).await;
    let ids: Vec<&str> = results.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(
        ids,
        [
            "txn.commit-visible",
            "txn.abort-invisible",
            "txn.read-committed",
            "txn.zombie-fencing",
            "txn.atomic-offset-commits"
        ]
    );
    for result in &results {
        assert_eq!(result.status, Status::Pass, "{result:#?}");
    }
}

/// Each planted transaction bug (`broker-model/src/bugs.rs`) and the `txn.*` property
/// that must FAIL with it: the README's table.
const BUG_TABLE: [(&str, &str); 4] = [
    // KIP-98: a commit marker on every partition of the transaction.
    ("markers-not-written-everywhere", "txn.commit-visible"),
    // KIP-98: the last stable offset stops at the first open transaction.
    ("lso-past-open-transactions", "txn.read-committed"),
    // KIP-98 / KIP-588: the old epoch is fenced at the partition leader.
    ("fenced-produce-accepted", "txn.zombie-fencing"),
    // KIP-98: Fetch v4+ lists the aborted transactions at read_committed.
    ("aborted-transactions-omitted", "txn.abort-invisible"),
];

async fn bug_fails(bug: &str) {
    let (_, property) = BUG_TABLE
        .iter()
        .find(|(name, _)| *name == bug)
        .expect("the bug is in the table");
    let results = transactions(Some(bug)).await;
    let result = results
        .iter()
        .find(|r| r.id == *property)
        .unwrap_or_else(|| panic!("{property} was not run"));
    assert_eq!(result.status, Status::Fail, "--bug {bug}: {result:#?}");
    assert!(
        result.evidence.iter().any(|e| !e.exchanges.is_empty()),
        "a FAIL carries the exchanges that show it: {result:#?}"
    );
}

#[tokio::test]
async fn markers_not_written_everywhere_fails_commit_visible() {
    bug_fails("markers-not-written-everywhere").await;
}

#[tokio::test]
async fn lso_past_open_transactions_fails_read_committed() {
    bug_fails("lso-past-open-transactions").await;
}

#[tokio::test]
async fn fenced_produce_accepted_fails_zombie_fencing() {
    bug_fails("fenced-produce-accepted").await;
}

#[tokio::test]
async fn aborted_transactions_omitted_fails_abort_invisible() {
    bug_fails("aborted-transactions-omitted").await;
}

/// The fault workload with `[workload.txn]` (`scenarios/certify-txn.toml`, 10 s) against
/// serve: transactions ran, and every `txn.*` fault property was judged and passed.
#[test]
fn txn_fault_workload_judges_transactions_under_faults() {
    use crate::fault_workload::{certify_serve, property, show, statuses};
    let dir = tempfile::tempdir().unwrap();
    let scenario = concat!(env!("CARGO_MANIFEST_DIR"), "/scenarios/certify-txn.toml");
    let extra = [
        "--scenario",
        scenario,
        "--no-suites",
        "--duration",
        "10s",
        "--seed",
        "1",
    ];
    let (output, _, cert) = certify_serve(dir.path(), &[], false, &extra);
    eprintln!("{}", statuses(&cert));
    assert_eq!(output.status.code(), Some(0), "{}", show(&output));
    let transactions = cert["workload"]["stats"]["txn transactions"]
        .as_u64()
        .unwrap_or(0);
    assert!(transactions > 0, "no transaction ran: {cert:#}");
    for id in [
        "txn.no-intermediate-reads",
        "txn.no-cyclic-information-flow",
        "txn.no-precommitted-reads",
        "txn.no-zombie-writes",
        "txn.offsets-commit-with-writes",
    ] {
        assert_eq!(property(&cert, id)["status"], "pass", "{id}: {cert:#}");
    }
}
