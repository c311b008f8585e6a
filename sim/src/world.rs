//! Builds and drives one simulated run: a turmoil world with a controller, brokers,
//! producers, consumers and a final reader; the nemesis applies fault windows between
//! steps; the history and the cluster's own events make up the trace.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::{Duration, UNIX_EPOCH};

use rand::Rng;

use faultline_broker::storage::TopicPartition;
use faultline_checker::history::History;
use faultline_checker::CheckReport;
use faultline_workload::client::KafkaClient;
use faultline_workload::group_consumer;
use faultline_workload::recorder::Recorder;
use faultline_workload::transactional;
use faultline_workload::workload::{self, BatchShape, WorkloadConfig};

pub use crate::events::{ClusterEvent, ClusterEventKind};
use crate::hosts::Hosts;
use crate::invariants::{acks, InvariantChecker, Violation};
use crate::liveness::Liveness;
use crate::nemesis::apply::{AppliedFault, Nemesis};
use crate::nemesis::draw_schedule;
use crate::nemesis::trigger::{draw_triggers, Trigger, Triggers};
use crate::protocol::ProtocolLog;
use crate::scenario::{Acks, Scenario};
use crate::seed::{stream, Fnv1a};
pub use crate::transport::TurmoilTransport;

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
    /// The cluster state checker's report (`None` when the scenario turns it off).
    pub invariants: Option<CheckReport>,
    /// The protocol rules' report (`None` when the scenario turns them off).
    pub protocol: Option<CheckReport>,
    /// The coverage points the run reached.
    pub coverage: std::collections::BTreeSet<String>,
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
        // A host runs in a step only when it has work (vendor/turmoil/PATCH.md); every
        // timer the hosts sleep on is announced through faultline_wire::time.
        .skip_idle_hosts(true)
        .build();
    let _hook = DeadlineHook::install();

    let mut hosts = Hosts::new(&scenario.node_names(), seed, scenario.buggify);
    let protocol = scenario
        .checks
        .protocol
        .then(|| Arc::new(Mutex::new(ProtocolLog::default())));
    if let Some(log) = &protocol {
        hosts.check_protocol(log.clone());
    }
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
        log_start_moves: scenario.workload.admin.is_some(),
        batch: BatchShape {
            batch_size: scenario.workload.batch_size,
            compression: scenario.workload.compression.wire(),
            headers: scenario.workload.headers,
            max_in_flight: scenario.workload.max_in_flight,
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
    // Consumers and final reads fetch at the transactions' isolation (KIP-98).
    let isolation = scenario
        .workload
        .txn
        .as_ref()
        .map_or(0, |t| t.isolation.wire());
    let client = |name: &str| {
        let mut c = client(name);
        c.isolation_level = isolation;
        c
    };
    let host_of = |kind: &str, name: &str| {
        if scenario.workload.colocate_clients {
            kind.to_string()
        } else {
            name.to_string()
        }
    };
    let mut clients: Vec<(String, ClientTask)> = Vec::new();
    for p in 0..scenario.workload.producers {
        let name = format!("producer-{p}");
        let (c, r, w, rng) = (
            client(&name),
            recorder.clone(),
            workload_config.clone(),
            stream(seed, &name),
        );
        let task: ClientTask = match &scenario.workload.txn {
            Some(txn) => {
                let (config, id) = (
                    txn.config(&scenario.workload.group),
                    txn.transactional_id(p),
                );
                Box::pin(async move {
                    let stop_at = tokio::time::Instant::now() + duration;
                    transactional::run_transactional_producer(c, r, w, config, id, rng, stop_at)
                        .await;
                })
            }
            None => Box::pin(async move {
                let stop_at = tokio::time::Instant::now() + duration;
                workload::run_producer(c, r, w, rng, stop_at).await;
            }),
        };
        clients.push((host_of("producers", &name), task));
    }
    for i in 0..scenario.workload.consumers {
        let name = format!("consumer-{i}");
        let (c, r, w, rng) = (
            client(&name),
            recorder.clone(),
            workload_config.clone(),
            stream(seed, &name),
        );
        clients.push((
            host_of("consumers", &name),
            Box::pin(async move {
                let stop_at = tokio::time::Instant::now() + duration;
                workload::run_consumer(c, r, w, rng, stop_at).await;
            }),
        ));
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
        clients.push((
            host_of("group-consumers", &name),
            Box::pin(async move {
                let stop_at = tokio::time::Instant::now() + duration;
                group_consumer::run_group_consumer(c, r, w, group, rng, stop_at).await;
            }),
        ));
    }
    if let Some(admin) = &scenario.workload.admin {
        for i in 0..admin.admins {
            let name = format!("admin-{i}");
            let (c, r, w, a, rng) = (
                client(&name),
                recorder.clone(),
                workload_config.clone(),
                admin.config(),
                stream(seed, &name),
            );
            clients.push((
                host_of("admins", &name),
                Box::pin(async move {
                    let stop_at = tokio::time::Instant::now() + duration;
                    faultline_workload::admin::run_admin(c, r, w, a, rng, stop_at).await;
                }),
            ));
        }
        for i in 0..admin.backlog_consumers {
            let name = format!("backlog-consumer-{i}");
            let (c, r, w, start, rng) = (
                client(&name),
                recorder.clone(),
                workload_config.clone(),
                admin.backlog_start.0,
                stream(seed, &name),
            );
            clients.push((
                host_of("consumers", &name),
                Box::pin(async move {
                    let stop_at = tokio::time::Instant::now() + duration;
                    faultline_workload::admin::run_backlog_consumer(
                        c, r, w, 0, start, rng, stop_at,
                    )
                    .await;
                }),
            ));
        }
    }
    let mut client_names = add_clients(&mut sim, clients);
    let final_reads: Arc<Mutex<Option<(bool, Duration)>>> = Arc::new(Mutex::new(None));
    {
        let (c, r, w) = (
            client("final-reader"),
            recorder.clone(),
            workload_config.clone(),
        );
        let done = final_reads.clone();
        sim.client("final-reader", async move {
            faultline_wire::time::sleep(duration + recovery).await;
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
        Triggers::new(
            fault_triggers(scenario, seed),
            stream(seed, "nemesis/triggers"),
            duration.as_millis() as u64,
        ),
    );
    let mut events = Vec::new();
    let mut leaders_elected: Option<Duration> = None;
    let mut isr_restored: Option<Duration> = None;
    let mut checker = scenario.checks.invariants.then(InvariantChecker::default);
    let mut checked_steps = 0;
    // The servers' states change only when they run or a fault strikes: a step in
    // which no server ran and no event happened leaves nothing new to check.
    let servers: Vec<_> = scenario
        .node_names()
        .iter()
        .map(|name| sim.lookup(name.as_str()))
        .collect();
    loop {
        let now = sim.elapsed();
        let observed = events.len();
        nemesis.apply_due(&mut sim, now, &recorder, &hosts);
        events.append(&mut nemesis.events);
        let finished = sim.step().map_err(|e| SimError::Turmoil(e.to_string()))?;
        let now = sim.elapsed();
        hosts.drain_events(now.as_nanos() as u64, &mut events);
        nemesis.on_events(&events[observed..], now);
        let changed =
            events.len() > observed || servers.iter().any(|&addr| sim.ran_last_step(addr));
        if let Some(checker) = checker.as_mut().filter(|_| changed) {
            for event in &events[observed..] {
                checker.observe(event);
            }
            hosts.check_invariants(checker, now.as_nanos() as u64);
            checked_steps += 1;
        }
        if let Some(log) = &protocol {
            log.lock().unwrap().after_step(now.as_nanos() as u64);
        }
        if leaders_elected.is_none() && now >= duration && hosts.all_led(&partitions) {
            leaders_elected = Some(now);
        }
        if isr_restored.is_none() && now >= duration && hosts.all_in_sync(&partitions) {
            isr_restored = Some(now);
        }
        if finished {
            break;
        }
    }
    // Every timer is announced (clippy forbids tokio's own in the simulated crates);
    // one that fired while its host was skipped ran late and would make this run
    // differ from the design.
    debug_assert_eq!(
        sim.unregistered_wakes(),
        0,
        "a timer not announced through faultline_wire::time fired late"
    );
    // The run is over: nothing records any more (the hosts' tasks are never polled
    // again), so the history moves out instead of being copied.
    let history = recorder.take_history();
    let trace_hash = trace_hash(&history, &events);
    let invariants = checker.map(|mut checker| {
        if scenario.workload.acks == Acks::All && checker.violation.is_none() {
            let found = acks::check(
                &history,
                &checker.isr_timeline,
                &topic.name,
                scenario.cluster.min_insync_replicas,
            );
            if let Some((time_ns, detail)) = found {
                checker.violation = Some(Violation {
                    time_ns,
                    rule: "acks=all acknowledged below min.insync.replicas",
                    detail,
                    states: String::new(),
                });
            }
        }
        checker.report(checked_steps)
    });
    let protocol = protocol.map(|log| log.lock().unwrap().report());
    let final_reads = *final_reads.lock().unwrap();
    let liveness = Liveness {
        heal_ns: duration.as_nanos() as u64,
        bound_ns: recovery.as_nanos() as u64,
        final_read_timeout_ns: final_timeout.as_nanos() as u64,
        leaders_elected_ns: leaders_elected.map(|d| d.as_nanos() as u64),
        isr_restored_ns: isr_restored.map(|d| d.as_nanos() as u64),
        final_reads_complete: final_reads.is_some_and(|(complete, _)| complete),
        final_reads_done_ns: final_reads.map(|(_, at)| at.as_nanos() as u64),
        missing_progress: crate::progress::missing(scenario, &history),
    };
    let coverage = crate::coverage::points(&events, &nemesis.applied, &history);
    Ok(RunOutcome {
        history,
        trace_hash,
        simulated_ms: sim.elapsed().as_millis() as u64,
        faults: nemesis.applied,
        coverage,
        events,
        liveness,
        invariants,
        protocol,
    })
}

/// `workload.max_in_flight`: 1..=5 (KIP-98: the broker retains five batches per producer),
/// and above 1 only for idempotent producers (without sequences, pipelined retries reorder).
pub(crate) fn check_in_flight(workload: &crate::scenario::Workload) -> Result<(), String> {
    let bound = faultline_workload::pipelined::MAX_IN_FLIGHT;
    if !(1..=bound).contains(&workload.max_in_flight)
        || (workload.max_in_flight > 1 && !workload.idempotent)
    {
        return Err(format!(
            "workload.max_in_flight must be 1..={bound}, and above 1 only with idempotent = true"
        ));
    }
    Ok(())
}

/// A workload client's body, boxed so clients of different kinds can share a host.
type ClientTask = Pin<Box<dyn Future<Output = ()>>>;

/// Adds one turmoil client host per distinct host name, in order of first appearance, and
/// returns the host names. A host with one client runs its body as the host's software;
/// a host with several spawns each on the host's `LocalSet`, in order, and waits for all.
fn add_clients(sim: &mut turmoil::Sim<'_>, clients: Vec<(String, ClientTask)>) -> Vec<String> {
    let mut hosts: Vec<(String, Vec<ClientTask>)> = Vec::new();
    for (host, task) in clients {
        match hosts.iter_mut().find(|(name, _)| *name == host) {
            Some((_, tasks)) => tasks.push(task),
            None => hosts.push((host, vec![task])),
        }
    }
    let names = hosts.iter().map(|(name, _)| name.clone()).collect();
    for (host, mut tasks) in hosts {
        if tasks.len() == 1 {
            let task = tasks.pop().expect("one task");
            sim.client(host, async move {
                task.await;
                Ok(())
            });
        } else {
            sim.client(host, async move {
                let handles: Vec<_> = tasks.into_iter().map(tokio::task::spawn_local).collect();
                for handle in handles {
                    handle.await?;
                }
                Ok(())
            });
        }
    }
    names
}

fn trace_hash(history: &History, events: &[ClusterEvent]) -> u64 {
    use std::io::Write;
    // Streamed: the same bytes as the history file followed by one line per event.
    let mut hash = Fnv1a::default();
    history.write_jsonl(&mut hash).expect("hashing cannot fail");
    for event in events {
        writeln!(
            hash,
            "{} {} {}",
            event.time_ns,
            event.node,
            event.description()
        )
        .expect("hashing cannot fail");
    }
    hash.finish()
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
        scenario.faults.overlap,
    )
}

/// The triggers of a run of `scenario` under `seed`: the scenario's own, then
/// `faults.triggered` drawn from the `nemesis/triggers/draw` stream.
pub fn fault_triggers(scenario: &Scenario, seed: u64) -> Vec<Trigger> {
    let mut triggers = scenario.faults.trigger.clone();
    if scenario.faults.triggered > 0 {
        triggers.extend(draw_triggers(
            &mut stream(seed, "nemesis/triggers/draw"),
            &scenario.faults.kinds,
            scenario.faults.triggered,
            scenario.faults.fault_duration.as_millis(),
        ));
    }
    triggers
}

/// Announces each sleep's and timeout's deadline to turmoil while a run lasts (see
/// faultline_wire::time), and puts the previous hook back when the run ends.
struct DeadlineHook(Option<faultline_wire::time::DeadlineHook>);

impl DeadlineHook {
    fn install() -> Self {
        DeadlineHook(faultline_wire::time::set_deadline_hook(Some(
            faultline_wire::time::DeadlineHook {
                announce: |deadline| turmoil::announce_wake(deadline).map(turmoil::WakeId::to_bits),
                withdraw: |bits| turmoil::withdraw_wake(turmoil::WakeId::from_bits(bits)),
            },
        )))
    }
}

impl Drop for DeadlineHook {
    fn drop(&mut self) {
        faultline_wire::time::set_deadline_hook(self.0);
    }
}
