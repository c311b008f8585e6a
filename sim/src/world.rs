//! Builds and drives one simulated run: a turmoil world with a controller, brokers,
//! producers, consumers and a final reader; the nemesis applies fault windows between
//! steps; the history and the cluster's own events make up the trace.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, UNIX_EPOCH};

use rand::Rng;

use faultline_broker::node::{BrokerNode, ControllerNode};
use faultline_conformance::client::KafkaClient;
use faultline_conformance::group_consumer;
use faultline_conformance::history::{Fault, History};
use faultline_conformance::recorder::Recorder;
use faultline_conformance::workload::{self, WorkloadConfig};
use faultline_wire::transport::ConnectFuture;
use faultline_wire::Transport;

use crate::disk::SimDisk;
use crate::nemesis::{draw_schedule, FaultKind, FaultWindow};
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

/// A fault as it was applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppliedFault {
    /// The window.
    pub window: FaultWindow,
    /// Simulated ns when it began.
    pub start_ns: u64,
    /// Simulated ns when it healed.
    pub end_ns: Option<u64>,
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
}

/// A run that could not complete.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// turmoil stopped the simulation (a host panicked or the time limit passed).
    #[error("simulation failed: {0}")]
    Turmoil(String),
}

enum Node {
    Broker(Arc<BrokerNode>),
    Controller(Arc<ControllerNode>),
}

type Registry = Arc<Mutex<BTreeMap<String, Node>>>;

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

    let registry: Registry = Arc::new(Mutex::new(BTreeMap::new()));
    let disks: BTreeMap<String, SimDisk> = scenario
        .node_names()
        .into_iter()
        .map(|name| (name, SimDisk::default()))
        .collect();

    {
        let disk = disks["controller"].clone();
        let config = config.clone();
        let registry = registry.clone();
        sim.host("controller", move || {
            let disk = disk.clone();
            let config = config.clone();
            let registry = registry.clone();
            async move {
                let node = ControllerNode::new(config, Box::new(disk));
                registry
                    .lock()
                    .unwrap()
                    .insert("controller".into(), Node::Controller(node.clone()));
                tokio::spawn(node.clone().run_ticks());
                let listener = turmoil::net::TcpListener::bind("0.0.0.0:9093").await?;
                loop {
                    let (stream, _) = listener.accept().await?;
                    tokio::spawn(node.clone().serve_connection(stream));
                }
            }
        });
    }
    for &id in config.brokers.keys() {
        let name = format!("broker-{id}");
        let disk = disks[&name].clone();
        let config = config.clone();
        let registry = registry.clone();
        let incarnations = Arc::new(AtomicU64::new(1));
        sim.host(name.clone(), move || {
            let disk = disk.clone();
            let config = config.clone();
            let registry = registry.clone();
            let incarnation = incarnations.fetch_add(1, Ordering::SeqCst);
            let name = name.clone();
            async move {
                let node = BrokerNode::new(id, config, Box::new(disk), incarnation);
                registry
                    .lock()
                    .unwrap()
                    .insert(name, Node::Broker(node.clone()));
                node.spawn_background(TurmoilTransport);
                let listener = turmoil::net::TcpListener::bind("0.0.0.0:9092").await?;
                loop {
                    let (stream, _) = listener.accept().await?;
                    tokio::spawn(node.clone().serve_connection(stream));
                }
            }
        });
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
    {
        let (c, r, w) = (
            client("final-reader"),
            recorder.clone(),
            workload_config.clone(),
        );
        sim.client("final-reader", async move {
            tokio::time::sleep(duration + recovery).await;
            workload::run_final_reads(c, r, w).await;
            Ok(())
        });
        client_names.push("final-reader".into());
    }

    let schedule = if scenario.faults.schedule.is_empty() {
        draw_schedule(
            &mut stream(seed, "nemesis"),
            &scenario.faults.kinds,
            &scenario.node_names(),
            duration.as_millis() as u64,
            scenario.faults.interval.as_millis(),
            scenario.faults.fault_duration.as_millis(),
        )
    } else {
        scenario.faults.schedule.clone()
    };
    let nodes = scenario.node_names();
    let mut nemesis = Nemesis::new(schedule, nodes, client_names);
    let mut events = Vec::new();
    loop {
        let now = sim.elapsed();
        nemesis.apply_due(&mut sim, now, &recorder);
        let finished = sim.step().map_err(|e| SimError::Turmoil(e.to_string()))?;
        drain_events(&registry, sim.elapsed(), &mut events);
        if finished {
            break;
        }
    }
    let history = recorder.history();
    let trace_hash = trace_hash(&history, &events);
    Ok(RunOutcome {
        history,
        trace_hash,
        simulated_ms: sim.elapsed().as_millis() as u64,
        faults: nemesis.applied,
        events,
    })
}

fn drain_events(registry: &Registry, now: Duration, out: &mut Vec<ClusterEvent>) {
    let registry = registry.lock().unwrap();
    for (name, node) in registry.iter() {
        let descriptions: Vec<String> = match node {
            Node::Broker(b) => b
                .drain_events()
                .into_iter()
                .map(|e| format!("{}-{}: {}", e.partition.0, e.partition.1, e.description))
                .collect(),
            Node::Controller(c) => c.drain_events(),
        };
        out.extend(descriptions.into_iter().map(|description| ClusterEvent {
            time_ns: now.as_nanos() as u64,
            node: name.clone(),
            description,
        }));
    }
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

/// Applies fault windows as simulated time reaches them.
struct Nemesis {
    schedule: Vec<FaultWindow>,
    servers: Vec<String>,
    clients: Vec<String>,
    next: usize,
    active: Vec<(usize, Duration)>,
    applied: Vec<AppliedFault>,
}

impl Nemesis {
    fn new(mut schedule: Vec<FaultWindow>, servers: Vec<String>, clients: Vec<String>) -> Self {
        schedule.sort_by_key(|w| w.at);
        Nemesis {
            schedule,
            servers,
            clients,
            next: 0,
            active: Vec::new(),
            applied: Vec::new(),
        }
    }

    fn apply_due(&mut self, sim: &mut turmoil::Sim<'_>, now: Duration, recorder: &Recorder) {
        let now_ns = now.as_nanos() as u64;
        let mut still_active = Vec::new();
        for (index, ends) in std::mem::take(&mut self.active) {
            if now >= ends {
                let window = self.schedule[index].clone();
                self.heal(sim, &window);
                recorder.fault(now_ns, false, fault_record(&window));
                if let Some(applied) = self.applied.iter_mut().rev().find(|a| a.window == window) {
                    applied.end_ns = Some(now_ns);
                }
            } else {
                still_active.push((index, ends));
            }
        }
        self.active = still_active;
        while self.next < self.schedule.len() && self.schedule[self.next].at.0 <= now {
            let window = self.schedule[self.next].clone();
            self.strike(sim, &window);
            recorder.fault(now_ns, true, fault_record(&window));
            self.applied.push(AppliedFault {
                window: window.clone(),
                start_ns: now_ns,
                end_ns: None,
            });
            self.active
                .push((self.next, window.at.0 + window.duration.0));
            self.next += 1;
        }
    }

    fn pairs(&self, window: &FaultWindow) -> Vec<(String, String)> {
        let mut pairs = Vec::new();
        match window.kind {
            FaultKind::Isolate => {
                for target in &window.targets {
                    for other in self.servers.iter().chain(self.clients.iter()) {
                        if other != target {
                            pairs.push((target.clone(), other.clone()));
                        }
                    }
                }
            }
            FaultKind::Halves => {
                for minority in &window.targets {
                    for other in self.servers.iter().filter(|s| !window.targets.contains(s)) {
                        pairs.push((minority.clone(), other.clone()));
                    }
                }
            }
            FaultKind::Crash => {}
        }
        pairs
    }

    fn strike(&mut self, sim: &mut turmoil::Sim<'_>, window: &FaultWindow) {
        match window.kind {
            FaultKind::Isolate | FaultKind::Halves => {
                for (a, b) in self.pairs(window) {
                    sim.partition(a.as_str(), b.as_str());
                }
            }
            FaultKind::Crash => {
                // A crash drops the host's tasks in tokio's shutdown order, which follows
                // process-global task ids; each dropped stream sends a FIN or RST whose
                // latency turmoil draws from the seeded rng. Cutting the host's links for
                // the instant of the crash drops those segments without a draw, so the run
                // stays a function of the seed alone (a power-lost host sends nothing).
                let already_cut = self.partitioned_pairs();
                let mut cut = Vec::new();
                for target in &window.targets {
                    for other in self.servers.iter().chain(self.clients.iter()) {
                        let pair = ordered(target, other);
                        if other != target && !already_cut.contains(&pair) && !cut.contains(&pair) {
                            sim.partition(pair.0.as_str(), pair.1.as_str());
                            cut.push(pair);
                        }
                    }
                }
                for target in &window.targets {
                    sim.crash(target.as_str());
                }
                for (a, b) in cut {
                    sim.repair(a.as_str(), b.as_str());
                }
            }
        }
    }

    /// Host pairs that active partition windows hold apart, each ordered.
    fn partitioned_pairs(&self) -> Vec<(String, String)> {
        self.active
            .iter()
            .map(|&(index, _)| &self.schedule[index])
            .filter(|w| matches!(w.kind, FaultKind::Isolate | FaultKind::Halves))
            .flat_map(|w| self.pairs(w))
            .map(|(a, b)| ordered(&a, &b))
            .collect()
    }

    fn heal(&mut self, sim: &mut turmoil::Sim<'_>, window: &FaultWindow) {
        match window.kind {
            FaultKind::Isolate | FaultKind::Halves => {
                for (a, b) in self.pairs(window) {
                    sim.repair(a.as_str(), b.as_str());
                }
            }
            FaultKind::Crash => {
                for target in &window.targets {
                    sim.bounce(target.as_str());
                }
            }
        }
    }
}

/// A host pair in name order, so that (a, b) and (b, a) compare equal.
fn ordered(a: &str, b: &str) -> (String, String) {
    if a <= b {
        (a.to_string(), b.to_string())
    } else {
        (b.to_string(), a.to_string())
    }
}

fn fault_record(window: &FaultWindow) -> Fault {
    let kind = serde_json::to_value(window.kind)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default();
    Fault {
        detail: format!(
            "{} {} for {}ms",
            kind,
            window.targets.join(","),
            window.duration.as_millis()
        ),
        kind,
        targets: window.targets.clone(),
    }
}
