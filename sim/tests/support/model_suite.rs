//! The model-based certification suite run over turmoil against the reference broker
//! (three brokers, a controller, topic `events` with four partitions replicated three
//! ways, two of them led by one broker for the Fetch of several partitions): the same
//! generated sequences and the same model as `faultline certify --suite model`
//! (docs/certify.md, "The model-based suite"). Shared by the mutation probe
//! (`sim/tests/mutation_probe.rs`) and the certification tests
//! (`tests/certify/model_based.rs`, which includes this file by path).

use std::sync::{Arc, Mutex};
use std::time::{Duration, UNIX_EPOCH};

use faultline_broker::bugs::PlantedBugs;
use faultline_broker::config::ClusterConfig;
use faultline_conformance::certify::model_based::{
    run_model_suite, Budget, Family, ModelOptions, ModelReport, RunContext,
};
use faultline_conformance::certify::suite::{ensure_topic, identify, SuiteTarget};
use faultline_sim::hosts::Hosts;
use faultline_sim::world::TurmoilTransport;

/// The simulated timestamp every case's records start from (2023-11-14, turmoil's epoch).
const CLOCK_MS: i64 = 1_700_000_000_000;

/// Runs `families` within `budget` against the reference broker with `bugs`, generator
/// and simulation seeded by `seed`.
pub fn run(bugs: PlantedBugs, families: &[Family], budget: Budget, seed: u64) -> ModelReport {
    let config = ClusterConfig {
        bugs,
        ..ClusterConfig::default()
    };
    let names: Vec<String> = std::iter::once("controller".to_string())
        .chain(config.brokers.keys().map(|id| format!("broker-{id}")))
        .collect();
    let mut sim = turmoil::Builder::new()
        .rng_seed(seed)
        .epoch(UNIX_EPOCH + Duration::from_secs(1_700_000_000))
        .tick_duration(Duration::from_millis(10))
        .min_message_latency(Duration::from_millis(1))
        .max_message_latency(Duration::from_millis(3))
        .simulation_duration(Duration::from_secs(1_000_000))
        .build();
    let hosts = Hosts::new(&names, seed, false);
    hosts.add_controller(&mut sim, &config);
    for &id in config.brokers.keys() {
        hosts.add_broker(&mut sim, &config, id);
    }
    let bootstrap: Vec<String> = config.brokers.values().cloned().collect();
    let report: Arc<Mutex<Option<ModelReport>>> = Arc::new(Mutex::new(None));
    let out = report.clone();
    let families = families.to_vec();
    sim.client("model", async move {
        let transport = TurmoilTransport;
        let timeout = Duration::from_secs(5);
        let partitions = ensure_topic(
            &transport,
            &bootstrap,
            "events",
            4,
            3,
            false,
            Duration::from_secs(30),
        )
        .await
        .map_err(|e| format!("events never had leaders: {e:?}"))?;
        let identity = identify(&transport, &bootstrap, "reference broker", timeout)
            .await
            .map_err(|e| format!("identify failed: {e:?}"))?;
        let target = SuiteTarget {
            bootstrap,
            broker_name: Arc::new(|address: &str| address.to_string()),
            topic: "events".into(),
            partitions,
            advertised: identity.api_versions,
            request_timeout: timeout,
            started: tokio::time::Instant::now(),
        };
        let options = ModelOptions {
            families,
            budget,
            context: RunContext {
                seed,
                tag: format!("sim{seed}"),
                clock_ms: Arc::new(|| CLOCK_MS),
            },
            target_name: "reference broker (simulated)".into(),
            replay_prefix: "faultline certify --target T --replay ".into(),
        };
        let report = run_model_suite(&transport, &target, &options).await;
        *out.lock().unwrap() = Some(report);
        Ok(())
    });
    sim.run().expect("the simulation runs to the end");
    let report = report
        .lock()
        .unwrap()
        .take()
        .expect("the model client finished");
    report
}

/// Every property's verdict, then each failing case with its requests and responses.
pub fn summary(report: &ModelReport) -> String {
    let mut text: Vec<String> = report
        .properties
        .iter()
        .map(|p| format!("{:<22} {:<14} {}", p.id, p.status.label(), p.detail))
        .collect();
    for case in &report.cases {
        text.push(format!(
            "{}: {}",
            case.property,
            serde_json::to_string(&case.case).unwrap_or_default()
        ));
        for exchange in &case.exchanges {
            text.push(format!(
                "  {} v{} {}\n    -> {}",
                exchange.api, exchange.version, exchange.request, exchange.response
            ));
        }
    }
    text.join("\n")
}
