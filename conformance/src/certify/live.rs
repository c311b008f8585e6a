//! The fault workload over real TCP: the simulation's producers, consumers, group members
//! and final reads — the same code, on tokio's TCP through the fault proxies — while a
//! seeded nemesis partitions, black-holes, slows and resets client links and pauses,
//! kills and restarts broker processes. The history it records goes to the same checkers.

use std::collections::BTreeMap;
use std::time::Duration;

use rand::Rng;
use serde::{Deserialize, Serialize};
use tokio::time::Instant;

use faultline_checker::judge::CheckPlan;
use faultline_checker::log::LogOptions;
use faultline_wire::transport::TokioTransport;

use faultline_checker::history::{Fault, History, Key};
use faultline_workload::client::KafkaClient;
use faultline_workload::group_consumer;
use faultline_workload::recorder::Recorder;
use faultline_workload::seed::stream;
use faultline_workload::transactional;
use faultline_workload::workload::{self, jitter, WorkloadConfig};

use super::links::PeerLinks;
use super::live_txn::LiveTxn;
use super::process::Nodes;
use super::proxy::{LinkFault, ProxyCluster};

/// A fault certification can cause on a live broker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LiveFault {
    /// The links between faultline's clients and one broker are cut (the proxy closes
    /// them and refuses new ones).
    Partition,
    /// One broker's links swallow every byte: clients time out rather than fail.
    BlackHole,
    /// One broker's links add latency to every frame.
    Latency,
    /// Every connection to one broker is reset at once.
    Reset,
    /// One broker process is frozen (SIGSTOP) and thawed (SIGCONT).
    Pause,
    /// One broker process is killed (-9) and restarted.
    Crash,
    /// One broker's links to the other brokers and the controller are cut (the target's
    /// `[[link]]` proxies), while faultline's clients still reach it.
    PeerPartition,
}

impl LiveFault {
    /// Every live fault.
    pub const ALL: [LiveFault; 7] = [
        LiveFault::Partition,
        LiveFault::BlackHole,
        LiveFault::Latency,
        LiveFault::Reset,
        LiveFault::Pause,
        LiveFault::Crash,
        LiveFault::PeerPartition,
    ];

    /// Its name, as in scenario files and certificates.
    pub fn name(self) -> &'static str {
        match self {
            LiveFault::Partition => "partition",
            LiveFault::BlackHole => "black-hole",
            LiveFault::Latency => "latency",
            LiveFault::Reset => "reset",
            LiveFault::Pause => "pause",
            LiveFault::Crash => "crash",
            LiveFault::PeerPartition => "peer-partition",
        }
    }
}

/// What the fault workload runs.
#[derive(Debug, Clone, PartialEq)]
pub struct LivePlan {
    /// The clients' settings; certification fills in the topic and start offsets.
    pub workload: WorkloadConfig,
    /// Producer clients.
    pub producers: u32,
    /// Consumers by assignment.
    pub consumers: u32,
    /// Consumer-group members.
    pub group_consumers: u32,
    /// The group they join (certification adds a per-run suffix).
    pub group: String,
    /// How long the fault phase lasts.
    pub duration: Duration,
    /// How long after the heal before final reads begin.
    pub recovery: Duration,
    /// The faults to draw from.
    pub faults: Vec<LiveFault>,
    /// Mean gap between faults.
    pub fault_interval: Duration,
    /// Mean length of a fault.
    pub fault_duration: Duration,
    /// The seed of the workload's and the nemesis's choices.
    pub seed: u64,
    /// Producers run transactions (`[workload.txn]`); `None`: plain sends.
    pub txn: Option<LiveTxn>,
}

impl LivePlan {
    /// The checkers that judge its history: the log checker with final reads, and the
    /// group checker when members joined — what a simulated run of the same workload gets.
    pub fn check_plan(&self) -> CheckPlan {
        CheckPlan {
            log: Some({
                let options = LogOptions {
                    final_reads: true,
                    ..LogOptions::default()
                };
                match &self.txn {
                    Some(txn) => txn.log_options(options),
                    None => options,
                }
            }),
            group: self.group_consumers > 0,
            txn: self.txn.as_ref().map(LiveTxn::check_options),
            expect: Vec::new(),
        }
    }
}

/// One fault window, decided before the run from the seed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveWindow {
    /// When it starts, after the workload starts.
    pub start: Duration,
    /// How long it lasts (0 for a reset).
    pub length: Duration,
    /// What.
    pub fault: LiveFault,
    /// Which node (index in the target file).
    pub node: usize,
    /// Added latency, for [`LiveFault::Latency`].
    pub latency: Duration,
}

/// The faults that can run here, given which nodes faultline can pause or crash; the rest
/// with the reason they cannot.
pub fn runnable_faults(
    plan: &LivePlan,
    nodes: &Nodes,
    links: &PeerLinks,
    durable: bool,
) -> (Vec<LiveFault>, Vec<(LiveFault, String)>) {
    let mut runnable = Vec::new();
    let mut skipped = Vec::new();
    for &fault in &plan.faults {
        let reason = match fault {
            LiveFault::Pause if !nodes.nodes.iter().any(|n| n.spec.can_pause()) => {
                Some("no node has a start command or pause/resume commands".to_string())
            }
            LiveFault::Crash if !durable => Some(
                "the target declares its storage not durable (durable = false): a kill -9 loses \
                 everything by design"
                    .to_string(),
            ),
            LiveFault::Crash if !nodes.nodes.iter().any(|n| n.spec.can_crash()) => {
                Some("no node has a start command or kill/restart commands".to_string())
            }
            LiveFault::PeerPartition if !links.any() => Some(
                "the target routes no inter-broker link through faultline ([[link]]): only \
                 client links can be cut"
                    .to_string(),
            ),
            _ => None,
        };
        match reason {
            Some(reason) => skipped.push((fault, reason)),
            None => runnable.push(fault),
        }
    }
    (runnable, skipped)
}

/// The seeded schedule: one fault at a time, each on a node it can strike.
pub fn schedule(
    plan: &LivePlan,
    faults: &[LiveFault],
    nodes: &Nodes,
    links: &PeerLinks,
) -> Vec<LiveWindow> {
    let mut rng = stream(plan.seed, "certify/nemesis");
    let mut windows = Vec::new();
    if faults.is_empty() {
        return windows;
    }
    let mut at = Duration::ZERO;
    loop {
        at += jitter(&mut rng, plan.fault_interval);
        if at >= plan.duration {
            break;
        }
        let fault = faults[rng.random_range(0..faults.len())];
        let eligible: Vec<usize> = nodes
            .nodes
            .iter()
            .filter(|n| match fault {
                LiveFault::Pause => n.spec.can_pause(),
                LiveFault::Crash => n.spec.can_crash(),
                LiveFault::PeerPartition => links.has_links(n.index),
                _ => true,
            })
            .map(|n| n.index)
            .collect();
        let node = eligible[rng.random_range(0..eligible.len())];
        let length = match fault {
            LiveFault::Reset => Duration::ZERO,
            _ => jitter(&mut rng, plan.fault_duration).min(plan.duration - at),
        };
        let latency = Duration::from_millis(rng.random_range(100..=1_000));
        windows.push(LiveWindow {
            start: at,
            length,
            fault,
            node,
            latency,
        });
        at += length;
    }
    windows
}

/// What the fault workload produced.
#[derive(Debug, Clone)]
pub struct LiveOutcome {
    /// The history, with the nemesis's faults in it.
    pub history: History,
    /// The faults applied, `at_ms: description`.
    pub faults: Vec<String>,
    /// Faults that could not be applied, and why (a failed kill, a node that did not
    /// come back).
    pub fault_errors: Vec<String>,
    /// Whether final reads reached every partition's end.
    pub final_reads_complete: bool,
}

/// Runs the workload for `plan.duration` under the scheduled faults, heals, waits
/// `plan.recovery`, and reads every partition to its end.
pub async fn run(
    plan: &LivePlan,
    windows: &[LiveWindow],
    proxies: &ProxyCluster,
    links: &PeerLinks,
    nodes: &mut Nodes,
    started: Instant,
) -> LiveOutcome {
    let recorder = Recorder::new();
    let bootstrap = proxies.bootstrap();
    let client = |name: &str| {
        let mut client = KafkaClient::new(
            TokioTransport,
            bootstrap.clone(),
            name,
            plan.workload.request_timeout,
        );
        client.isolation_level = plan.txn.as_ref().map_or(0, LiveTxn::isolation_level);
        client
    };
    let stop_at = Instant::now() + plan.duration;
    let mut tasks = Vec::new();
    for p in 0..plan.producers {
        let name = format!("producer-{p}");
        if let Some(txn) = &plan.txn {
            tasks.push(tokio::spawn(transactional::run_transactional_producer(
                client(&name),
                recorder.clone(),
                plan.workload.clone(),
                txn.config(&plan.group),
                txn.transactional_id(&plan.group, p),
                stream(plan.seed, &name),
                stop_at,
            )));
            continue;
        }
        tasks.push(tokio::spawn(workload::run_producer(
            client(&name),
            recorder.clone(),
            plan.workload.clone(),
            stream(plan.seed, &name),
            stop_at,
        )));
    }
    for c in 0..plan.consumers {
        let name = format!("consumer-{c}");
        tasks.push(tokio::spawn(workload::run_consumer(
            client(&name),
            recorder.clone(),
            plan.workload.clone(),
            stream(plan.seed, &name),
            stop_at,
        )));
    }
    for g in 0..plan.group_consumers {
        let name = format!("group-consumer-{g}");
        tasks.push(tokio::spawn(group_consumer::run_group_consumer(
            client(&name),
            recorder.clone(),
            plan.workload.clone(),
            plan.group.clone(),
            stream(plan.seed, &name),
            stop_at,
        )));
    }

    let begin = Instant::now();
    let mut faults = Vec::new();
    let mut fault_errors = Vec::new();
    for window in windows {
        tokio::time::sleep_until(begin + window.start).await;
        let ready = nodes.ready_timeout();
        let node = &mut nodes.nodes[window.node];
        let address = node.address().to_string();
        let at_ms = started.elapsed().as_millis();
        let detail = match window.fault {
            LiveFault::Latency => format!(
                "{} {address} +{} ms for {:.1} s",
                window.fault.name(),
                window.latency.as_millis(),
                window.length.as_secs_f64()
            ),
            LiveFault::Reset => format!("{} {address}", window.fault.name()),
            _ => format!(
                "{} {address} for {:.1} s",
                window.fault.name(),
                window.length.as_secs_f64()
            ),
        };
        let fault = Fault {
            kind: window.fault.name().to_string(),
            targets: vec![address.clone()],
            detail: detail.clone(),
        };
        recorder.fault(recorder.now_ns(), true, fault.clone());
        faults.push(format!("{at_ms}: {detail}"));
        let started_ok = match window.fault {
            LiveFault::Partition => {
                proxies.set_fault(&address, LinkFault::Partition);
                Ok(())
            }
            LiveFault::BlackHole => {
                proxies.set_fault(&address, LinkFault::BlackHole);
                Ok(())
            }
            LiveFault::Latency => {
                proxies.set_fault(&address, LinkFault::Latency(window.latency));
                Ok(())
            }
            LiveFault::Reset => {
                proxies.reset(&address);
                Ok(())
            }
            LiveFault::Pause => node.pause().await,
            LiveFault::Crash => node.kill().await,
            LiveFault::PeerPartition => {
                links.set(window.node, LinkFault::Partition);
                Ok(())
            }
        };
        if let Err(e) = started_ok {
            fault_errors.push(format!("{at_ms}: {detail}: {e}"));
        }
        tokio::time::sleep_until(begin + window.start + window.length).await;
        let healed = match window.fault {
            LiveFault::Partition | LiveFault::BlackHole | LiveFault::Latency => {
                proxies.set_fault(&address, LinkFault::None);
                Ok(())
            }
            LiveFault::Reset => Ok(()),
            LiveFault::Pause => node.resume().await,
            LiveFault::Crash => node.restart(ready).await,
            LiveFault::PeerPartition => {
                links.set(window.node, LinkFault::None);
                Ok(())
            }
        };
        if let Err(e) = healed {
            fault_errors.push(format!(
                "{}: healing {detail}: {e}",
                started.elapsed().as_millis()
            ));
        }
        if window.fault != LiveFault::Reset {
            recorder.fault(recorder.now_ns(), false, fault);
        }
    }
    tokio::time::sleep_until(stop_at).await;
    proxies.set_all(LinkFault::None);
    links.heal_all();
    for task in tasks {
        let _ = task.await;
    }
    tokio::time::sleep(plan.recovery).await;
    let final_reads_complete = workload::run_final_reads(
        client("final-reader"),
        recorder.clone(),
        plan.workload.clone(),
    )
    .await;
    LiveOutcome {
        history: recorder.history(),
        faults,
        fault_errors,
        final_reads_complete,
    }
}

/// Each partition's log end before the workload, so the workload reads only its own
/// records (earlier runs and the protocol suite may have written to the topic).
pub async fn log_ends(
    bootstrap: &[String],
    topic: &str,
    partitions: i32,
    timeout: Duration,
) -> Result<BTreeMap<Key, i64>, String> {
    let mut client = KafkaClient::new(
        TokioTransport,
        bootstrap.to_vec(),
        "faultline-ends",
        timeout,
    );
    let mut ends = BTreeMap::new();
    for p in 0..partitions {
        let deadline = Instant::now() + timeout * 3;
        loop {
            match client.list_offset(topic, p, -1).await {
                Ok(end) => {
                    ends.insert(p as Key, end);
                    break;
                }
                Err(e) if Instant::now() >= deadline => {
                    return Err(format!("ListOffsets(latest) of {topic}-{p}: {e}"))
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
            }
        }
    }
    Ok(ends)
}

/// The history ops with these indices, as JSON Lines (evidence).
pub fn excerpt(history: &History, indices: &[u64]) -> Vec<String> {
    indices
        .iter()
        .filter_map(|&i| history.ops.get(i as usize))
        .map(|op| op.to_json().to_string())
        .collect()
}
