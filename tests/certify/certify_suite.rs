//! The protocol conformance suite against `faultline serve` over real TCP: the clean
//! three-broker cluster passes every applicable property, and each planted bug the suite
//! can see without faults fails the property that names it, with the exchanges to show it.

use std::sync::Arc;
use std::time::Duration;

use crate::common::Server;

use faultline_conformance::certify::suite::{
    ensure_topic, identify, run_suite, Suite, SuiteTarget,
};
use faultline_conformance::certify::{PropertyResult, Status};
use faultline_wire::transport::TokioTransport;

/// Three brokers with topic `events` (3 partitions), and `bug` switched on if given.
pub(crate) fn serve(bug: Option<&str>) -> Server {
    let mut extra = vec!["--topic", "events:3"];
    if let Some(bug) = bug {
        extra.extend(["--bug", bug]);
    }
    crate::common::serve(3, &extra)
}

/// Identifies the cluster, waits for every partition's leader, and builds the target.
pub(crate) async fn target(server: &Server) -> SuiteTarget {
    let bootstrap: Vec<String> = (0..3)
        .map(|i| format!("127.0.0.1:{}", server.port + i))
        .collect();
    let timeout = Duration::from_secs(5);
    let transport = TokioTransport;
    let partitions = ensure_topic(
        &transport,
        &bootstrap,
        "events",
        3,
        3,
        false,
        Duration::from_secs(20),
    )
    .await
    .unwrap_or_else(|e| panic!("events never had leaders: {e:?}"));
    assert_eq!(partitions, 3);
    let identity = identify(&transport, &bootstrap, "faultline serve", timeout)
        .await
        .unwrap_or_else(|e| panic!("identify failed: {e:?}"));
    assert_eq!(identity.brokers.len(), 3, "{identity:?}");
    SuiteTarget {
        bootstrap,
        broker_name: Arc::new(|address: &str| address.to_string()),
        topic: "events".into(),
        partitions,
        advertised: identity.api_versions,
        request_timeout: timeout,
        started: tokio::time::Instant::now(),
    }
}

pub(crate) fn summary(results: &[PropertyResult]) -> String {
    results
        .iter()
        .map(|r| format!("{:<48} {:<14} {}", r.id, r.status.label(), r.detail))
        .collect::<Vec<_>>()
        .join("\n")
}

#[tokio::test]
async fn the_clean_cluster_passes_every_applicable_property() {
    let server = serve(None);
    let target = target(&server).await;
    let mut results = Vec::new();
    for suite in Suite::PROBES {
        results.extend(run_suite(&TokioTransport, &target, suite).await);
    }
    eprintln!("{}", summary(&results));
    let failed: Vec<&PropertyResult> = results
        .iter()
        .filter(|r| r.status == Status::Fail)
        .collect();
    assert!(failed.is_empty(), "failed: {failed:#?}");
    assert!(results.len() >= 20, "{}", summary(&results));
    let mut ids: Vec<&str> = results.iter().map(|r| r.id.as_str()).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), results.len(), "property ids are unique");
}

/// Runs `suite` against serve with `bug` and asserts `property` fails with exchanges.
async fn bug_fails(bug: &str, suite: Suite, property: &str) {
    let server = serve(Some(bug));
    let target = target(&server).await;
    let results = run_suite(&TokioTransport, &target, suite).await;
    eprintln!("--bug {bug}:\n{}", summary(&results));
    let result = results
        .iter()
        .find(|r| r.id == property)
        .unwrap_or_else(|| panic!("{property} was not run"));
    assert_eq!(result.status, Status::Fail, "{result:#?}");
    assert!(
        result.evidence.iter().any(|e| !e.exchanges.is_empty()),
        "a FAIL carries the exchanges that show it: {result:#?}"
    );
}

#[tokio::test]
async fn idempotence_without_dedup_fails_duplicate_sequence() {
    bug_fails(
        "idempotence-without-dedup",
        Suite::Idempotence,
        "idempotence.duplicate-sequence",
    )
    .await;
}

#[tokio::test]
async fn no_generation_fencing_fails_stale_generation_fenced() {
    bug_fails(
        "no-generation-fencing",
        Suite::Groups,
        "groups.stale-generation-fenced",
    )
    .await;
}

#[tokio::test]
async fn ack_before_replication_fails_acks_all_committed() {
    bug_fails(
        "ack-before-replication",
        Suite::ProduceFetch,
        "produce.acks-all-committed",
    )
    .await;
}

#[tokio::test]
async fn reads_above_high_watermark_fails_below_high_watermark() {
    bug_fails(
        "reads-above-high-watermark",
        Suite::ProduceFetch,
        "fetch.below-high-watermark",
    )
    .await;
}

#[tokio::test]
async fn racy_produce_offset_fails_concurrent_offsets_unique() {
    bug_fails(
        "racy-produce-offset",
        Suite::ProduceFetch,
        "produce.concurrent-offsets-unique",
    )
    .await;
}

#[tokio::test]
async fn apis_the_broker_does_not_advertise_are_not_applicable() {
    let server = serve(None);
    let mut target = target(&server).await;
    // serve has no CreateTopics: asking to create falls back to Metadata polling.
    let partitions = ensure_topic(
        &TokioTransport,
        &target.bootstrap,
        "events",
        3,
        3,
        true,
        Duration::from_secs(5),
    )
    .await
    .expect("events exists");
    assert_eq!(partitions, 3);
    // Fetch (1), JoinGroup (11) and InitProducerId (22) hidden from the suite.
    target.advertised.retain(|a| ![1, 11, 22].contains(&a.key));
    let mut results = Vec::new();
    for suite in [Suite::ProduceFetch, Suite::Groups, Suite::Idempotence] {
        results.extend(run_suite(&TokioTransport, &target, suite).await);
    }
    eprintln!(
        "without Fetch, JoinGroup, InitProducerId:\n{}",
        summary(&results)
    );
    for result in &results {
        assert_eq!(result.status, Status::NotApplicable, "{result:#?}");
        assert!(result.detail.contains("does not advertise"), "{result:#?}");
    }
}

/// A listener that accepts and then closes (`hang` false) or holds (`hang` true) every
/// connection without answering.
async fn silent_broker(hang: bool) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap().to_string();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = listener.accept().await {
            if hang {
                held.push(stream);
            }
        }
    });
    address
}

#[tokio::test]
async fn a_broker_that_drops_or_hangs_fails_with_evidence_and_never_panics() {
    use faultline_conformance::certify::AdvertisedApi;
    for hang in [false, true] {
        let address = silent_broker(hang).await;
        let timeout = Duration::from_millis(200);
        let evidence = identify(
            &TokioTransport,
            std::slice::from_ref(&address),
            "silent",
            timeout,
        )
        .await
        .expect_err("nothing answers");
        assert!(!evidence.exchanges.is_empty(), "{evidence:?}");
        let target = SuiteTarget {
            bootstrap: vec![address],
            broker_name: Arc::new(|address: &str| address.to_string()),
            topic: "events".into(),
            partitions: 1,
            advertised: vec![AdvertisedApi {
                key: 3,
                name: "Metadata".into(),
                min_version: 1,
                max_version: 12,
            }],
            request_timeout: timeout,
            started: tokio::time::Instant::now(),
        };
        let results = run_suite(&TokioTransport, &target, Suite::Api).await;
        eprintln!("hang {hang}:\n{}", summary(&results));
        let failed = if hang {
            "api-versions.every-advertised-version-answers"
        } else {
            "api-versions.no-dropped-connections"
        };
        let result = results.iter().find(|r| r.id == failed).unwrap();
        assert_eq!(result.status, Status::Fail, "{result:#?}");
        assert!(!result.evidence[0].exchanges.is_empty());
        if hang {
            // Two hangs end the API's sweep: the other ten versions are not tried.
            assert_eq!(result.evidence[0].exchanges.len(), 2, "{result:#?}");
        }
        let answers = results
            .iter()
            .find(|r| r.id == "api-versions.answers")
            .unwrap();
        assert_eq!(answers.status, Status::Fail);
    }
}
