//! Builds and drives one simulated run: a turmoil world with a controller, brokers,
//! producers, consumers and a final reader; the nemesis applies fault windows between
//! steps; the history and the cluster's own events make up the trace.

use std::sync::{Arc, Mutex};
use std::time::{Duration, UNIX_EPOCH};

use rand::Rng;

use faultline_broker::storage::TopicPartition;
use faultline_conformance::client::KafkaClient;
use faultline_conformance::group_consumer;
use faultline_conformance::history::History;
use faultline_conformance::recorder::Recorder;
use faultline_conformance::workload::{self, BatchShape, WorkloadConfig};
use faultline_wire::transport::ConnectFuture;
use faultline_wire::Transport;

use crate::hosts::Hosts;
use crate::liveness::Liveness;
use crate::nemesis::apply::{AppliedFault, Nemesis};
use crate::nemesis::draw_schedule;
use crate::scenario::Scenario;
use crate::seed::{fnv1a, stream};

/// turmoil's TCP as a [`Transport`].
#[derive(Debug, Clone, Copy, Default)]
pub struct TurmoilTransport;

impl Transport for TurmoilTransport {
    type Stream = turmoil::net::TcpStream;

    fn connect(&self, address: &str) -> ConnectFuture<Self::Stream> {
        let address = address.to_string();
        Box::pin(async move { turmoil::net::TcpStream::connect(address).await })
    }
}

/// Something the cluster did, for the trace and the report's timeline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterEvent {
    /// Simulated ns.
    pub time_ns: u64,
    /// Which node.
    pub node: String,
    /// What happened.
    pub description: String,
}

/// Everything a run produced.
#[derive(Debug, Clone)]
pub struct RunOutcome {
    /// The operation history.
    pub history: History,
    /// Hash of the ordered event log: equal inputs must give equal hashes.
    pub trace_hash: u64,
    /// Simulated time the run took.
    pub simulated_ms: u64,
    /// Faults applied.
    pub faults: Vec<AppliedFault>,
    /// Cluster events.
    pub events: Vec<ClusterEvent>,
    /// How the cluster recovered after the heal.
    pub liveness: Liveness,
}

/// A run that could not complete.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// turmoil stopped the simulation (a host panicked or the time limit passed).
    #[error("simulation failed: {0}")]
    Turmoil(String),
}

/// Runs `scenario` under `seed`.
pub fn run(scenario: &Scenario, seed: u64) -> Result<RunOutcome, SimError> {
    let config = scenario.cluster_config();
    let duration = scenario.duration.0;
    let recovery = scenario.recovery.0;
    let final_timeout = scenario.workload.final_read_timeout.0;
    let mut turmoil_rng = stream(seed, "turmoil");
    let mut sim = turmoil::Builder::new()
        .rng_seed(turmoil_rng.random())
        .epoch(UNIX_EPOCH + Duration::from_secs(1_700_000_000))
        .tick_duration(scenario.tick.0)
        .min_message_latency(scenario.latency.min.0)
        .max_message_latency(scenario.latency.max.0)
        .simulation_duration(duration + recovery + final_timeout + Duration::from_secs(30))
        .build();

    let hosts = Hosts::new(&scenario.node_names(), seed, scenario.buggify);
    hosts.add_controller(&mut sim, &config);
    for &id in config.brokers.keys() {
        hosts.add_broker(&mut sim, &config, id);
    }

    let recorder = Recorder::with_clock(Arc::new(|| {
        turmoil::sim_elapsed()
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0)
    }));
    let topic = &scenario.topics[0];
    let workload_config = WorkloadConfig {
        topic: topic.name.clone(),
        partitions: topic.partitions,
        acks: scenario.workload.acks.wire(),
        send_interval: scenario.workload.send_interval.0,
        poll_interval: scenario.workload.poll_interval.0,
        request_timeout: scenario.workload.request_timeout.0,
        final_read_timeout: final_timeout,
        idempotent: scenario.workload.idempotent,
        member_crashes: scenario.workload.member_crashes,
        replay_interval: scenario.workload.replay_interval.map(|i| i.0),
        start_offsets: Default::default(),
        batch: BatchShape {
            batch_size: scenario.workload.batch_size,
            compression: scenario.workload.compression.wire(),
            headers: scenario.workload.headers,
        },
    };
    let bootstrap: Vec<String> = config.brokers.values().cloned().collect();
    let client = |name: &str| {
        KafkaClient::new(
            TurmoilTransport,
            bootstrap.clone(),
            name,
            workload_config.request_timeout,
        )
    };
    let mut client_names = Vec::new();
    for p in 0..scenario.workload.producers {
        let name = format!("producer-{p}");
        let (c, r, w, rng) = (
            client(&name),
            recorder.clone(),
            workload_config.clone(),
            stream(seed, &name),
        );
        sim.client(name.clone(), async move {
            let stop_at = tokio::time::Instant::now() + duration;
            workload::run_producer(c, r, w, rng, stop_at).await;
            Ok(())
        });
        client_names.push(name);
    }
    for i in 0..scenario.workload.consumers {
        let name = format!("consumer-{i}");
        let (c, r, w, rng) = (
            client(&name),
            recorder.clone(),
            workload_config.clone(),
            stream(seed, &name),
        );
        sim.client(name.clone(), async move {
            let stop_at = tokio::time::Instant::now() + duration;
            workload::run_consumer(c, r, w, rng, stop_at).await;
            Ok(())
        });
        client_names.push(name);
    }
    for i in 0..scenario.workload.group_consumers {
        let name = format!("group-consumer-{i}");
        let (c, r, w, rng) = (
            client(&name),
            recorder.clone(),
            workload_config.clone(),
            stream(seed, &name),
        );
        let group = scenario.workload.group.clone();
        sim.client(name.clone(), async move {
            let stop_at = tokio::time::Instant::now() + duration;
            group_consumer::run_group_consumer(c, r, w, group, rng, stop_at).await;
            Ok(())
        });
        client_names.push(name);
    }
    let final_reads: Arc<Mutex<Option<(bool, Duration)>>> = Arc::new(Mutex::new(None));
    {
        let (c, r, w) = (
            client("final-reader"),
            recorder.clone(),
            workload_config.clone(),
        );
        let done = final_reads.clone();
        sim.client("final-reader", async move {
            tokio::time::sleep(duration + recovery).await;
            let complete = workload::run_final_reads(c, r, w).await;
            *done.lock().unwrap() = Some((complete, turmoil::sim_elapsed().unwrap_or_default()));
            Ok(())
        });
        client_names.push("final-reader".into());
    }

    let schedule = fault_schedule(scenario, seed);
    let partitions: Vec<TopicPartition> = scenario
        .topics
        .iter()
        .flat_map(|t| (0..t.partitions).map(move |p| (t.name.clone(), p)))
        .collect();
    let mut nemesis = Nemesis::new(
        schedule,
        scenario.node_names(),
        client_names,
        partitions[0].clone(),
        seed,
        scenario.latency.max.0,
    );
    let mut events = Vec::new();
    let mut leaders_elected: Option<Duration> = None;
    loop {
        let now = sim.elapsed();
        nemesis.apply_due(&mut sim, now, &recorder, &hosts);
        events.append(&mut nemesis.events);
        let finished = sim.step().map_err(|e| SimError::Turmoil(e.to_string()))?;
        let now = sim.elapsed();
        hosts.drain_events(now.as_nanos() as u64, &mut events);
        if leaders_elected.is_none() && now >= duration && hosts.all_led(&partitions) {
            leaders_elected = Some(now);
        }
        if finished {
            break;
        }
    }
    let history = recorder.history();
    let trace_hash = trace_hash(&history, &events);
    let final_reads = *final_reads.lock().unwrap();
    let liveness = Liveness {
        heal_ns: duration.as_nanos() as u64,
        bound_ns: recovery.as_nanos() as u64,
        final_read_timeout_ns: final_timeout.as_nanos() as u64,
        leaders_elected_ns: leaders_elected.map(|d| d.as_nanos() as u64),
        final_reads_complete: final_reads.is_some_and(|(complete, _)| complete),
        final_reads_done_ns: final_reads.map(|(_, at)| at.as_nanos() as u64),
    };
    Ok(RunOutcome {
        history,
        trace_hash,
        simulated_ms: sim.elapsed().as_millis() as u64,
        faults: nemesis.applied,
        events,
        liveness,
    })
}

fn trace_hash(history: &History, events: &[ClusterEvent]) -> u64 {
    let mut bytes = Vec::new();
    history
        .write_jsonl(&mut bytes)
        .expect("writing to memory cannot fail");
    for event in events {
        bytes.extend_from_slice(
            format!("{} {} {}\n", event.time_ns, event.node, event.description).as_bytes(),
        );
    }
    fnv1a(&bytes)
}

/// The fault windows a run of `scenario` under `seed` applies: the explicit schedule, or
/// the one drawn from the seed's `nemesis` stream. `shrink` starts from it.
pub fn fault_schedule(scenario: &Scenario, seed: u64) -> Vec<crate::nemesis::FaultWindow> {
    if !scenario.faults.schedule.is_empty() {
        return scenario.faults.schedule.clone();
    }
    draw_schedule(
        &mut stream(seed, "nemesis"),
        &scenario.faults.kinds,
        &scenario.node_names(),
        scenario.duration.0.as_millis() as u64,
        scenario.faults.interval.as_millis(),
        scenario.faults.fault_duration.as_millis(),
    )
}
