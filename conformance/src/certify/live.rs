//! The fault workload over real TCP: the simulation's producers, consumers, group members
//! and final reads — the same code, on tokio's TCP through the fault proxies — while a
//! seeded nemesis partitions, black-holes, slows and resets client links and pauses,
//! kills and restarts broker processes. The history it records goes to the same checkers.

use std::collections::BTreeMap;
use std::time::Duration;

use rand::Rng;
use tokio::time::Instant;

use faultline_wire::transport::TokioTransport;

use faultline_checker::history::{History, Key};
use faultline_workload::client::KafkaClient;
use faultline_workload::group_consumer;
use faultline_workload::recorder::Recorder;
use faultline_workload::seed::stream;
use faultline_workload::transactional;
use faultline_workload::workload::{self, jitter};

use super::links::PeerLinks;
use super::live_driver::Driver;
pub use super::live_fault::LiveFault;
pub use super::live_plan::{LivePlan, LiveWindow};
pub use super::live_trigger::LiveTrigger;
use super::live_trigger::{LiveEvent, LiveTarget};
use super::live_txn::LiveTxn;
use super::process::Nodes;
use super::proxy::{LinkFault, ProxyCluster};

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
            LiveFault::Crash if !nodes.nodes.iter().any(|n| n.spec.can_crash()) => {
                Some("no node has a start command or kill/restart commands".to_string())
            }
            LiveFault::Crash | LiveFault::CorrelatedCrash if !durable => Some(
                "the target declares its storage not durable (durable = false): a kill -9 loses \
                 everything by design"
                    .to_string(),
            ),
            LiveFault::CorrelatedCrash
                if nodes.nodes.iter().filter(|n| n.spec.can_crash()).count() < 2 =>
            {
                Some("fewer than two nodes have a start command or kill/restart commands".into())
            }
            LiveFault::ReplicaPartition if !links.any_between_brokers() => Some(
                "the target routes no link between two brokers through faultline ([[link]] \
                 naming two nodes)"
                    .to_string(),
            ),
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

/// The triggers that can run here; the rest, each with the reason it cannot (its fault
/// is not runnable, its event is not observable over the protocol, its target is never
/// faulted live).
pub fn runnable_triggers(
    plan: &LivePlan,
    nodes: &Nodes,
    links: &PeerLinks,
    durable: bool,
) -> (Vec<LiveTrigger>, Vec<String>) {
    let probe = LivePlan {
        faults: plan.triggers.iter().map(|t| t.fault).collect(),
        ..plan.clone()
    };
    let (_, cannot) = runnable_faults(&probe, nodes, links, durable);
    let mut runnable = Vec::new();
    let mut skipped = Vec::new();
    for trigger in &plan.triggers {
        let why = if let Some((_, why)) = cannot.iter().find(|(f, _)| *f == trigger.fault) {
            Some(why.clone())
        } else if trigger.on == LiveEvent::Truncation {
            Some("a follower's truncation is not visible over the Kafka protocol".into())
        } else if trigger.on == LiveEvent::IsrProposed {
            Some("a leader's AlterPartition to the controller is not visible over the Kafka protocol".into())
        } else if matches!(trigger.on, LiveEvent::TxnEnd | LiveEvent::TxnCommit) {
            Some(
                "the live nemesis watches Metadata; the workload's EndTxn answers do not reach it yet"
                    .into(),
            )
        } else if trigger.on == LiveEvent::RecordsDeleted {
            Some(
                "the live nemesis watches Metadata; the workload's DeleteRecords answers do not reach it yet"
                    .into(),
            )
        } else if let LiveTarget::Unreachable(name) = &trigger.target {
            Some(format!(
                "{name} is not a broker node certification can fault"
            ))
        } else {
            None
        };
        match why {
            Some(why) => skipped.push(format!("trigger not run ({}): {why}", trigger.describe())),
            None => runnable.push(trigger.clone()),
        }
    }
    (runnable, skipped)
}

/// The seeded schedule: one fault at a time, each on a node it can strike; with
/// `plan.overlap`, now and then a second fault inside the first one's window.
pub fn schedule(
    plan: &LivePlan,
    faults: &[LiveFault],
    nodes: &Nodes,
    links: &PeerLinks,
) -> Vec<LiveWindow> {
    let mut rng = stream(plan.seed, "certify/nemesis");
    // Its own stream: overlapping faults never move the first ones.
    let mut overlap = stream(plan.seed, "certify/nemesis/overlap");
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
        let window = draw_window(&mut rng, plan, fault, at, nodes, links);
        at += window.length;
        if plan.overlap && overlap.random_ratio(1, 2) {
            let inside = window.length.as_millis().max(1) as u64;
            let start = window.start + Duration::from_millis(overlap.random_range(0..inside));
            let second = faults[overlap.random_range(0..faults.len())];
            windows.push(window);
            if start < plan.duration {
                windows.push(draw_window(&mut overlap, plan, second, start, nodes, links));
            }
        } else {
            windows.push(window);
        }
    }
    windows
}

/// One window of `fault` starting `at`: its node, length and latency from `rng` (in that
/// order, so schedules of the one-at-a-time faults stay what they were).
fn draw_window(
    rng: &mut rand_chacha::ChaCha8Rng,
    plan: &LivePlan,
    fault: LiveFault,
    at: Duration,
    nodes: &Nodes,
    links: &PeerLinks,
) -> LiveWindow {
    let eligible: Vec<usize> = nodes
        .nodes
        .iter()
        .filter(|n| match fault {
            LiveFault::Pause => n.spec.can_pause(),
            LiveFault::Crash | LiveFault::CorrelatedCrash => n.spec.can_crash(),
            LiveFault::PeerPartition => links.has_links(n.index),
            LiveFault::ReplicaPartition => links.has_broker_links(n.index),
            _ => true,
        })
        .map(|n| n.index)
        .collect();
    let node = eligible[rng.random_range(0..eligible.len())];
    let length = match fault {
        LiveFault::Reset => Duration::ZERO,
        _ => jitter(rng, plan.fault_duration).min(plan.duration - at),
    };
    let latency = Duration::from_millis(rng.random_range(100..=1_000));
    let mut also = Vec::new();
    if fault == LiveFault::CorrelatedCrash {
        // A majority or all of the crashable nodes: `node` and the next ones around.
        let majority = eligible.len() / 2 + 1;
        let count = rng.random_range(majority..=eligible.len());
        let first = eligible.iter().position(|&n| n == node).unwrap_or(0);
        also = (1..count)
            .map(|k| eligible[(first + k) % eligible.len()])
            .collect();
    }
    LiveWindow {
        start: at,
        length,
        fault,
        node,
        also,
        latency,
    }
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
    /// Every fault applied, scheduled or triggered, in order.
    pub applied: Vec<LiveFault>,
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
    let driven = Driver::new(
        plan, windows, proxies, links, nodes, &recorder, started, begin,
    )
    .run(&plan.workload.topic, stop_at)
    .await;
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
        faults: driven.faults,
        fault_errors: driven.fault_errors,
        applied: driven.applied,
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::certify::process::CommandContext;
    use crate::certify::target::Target;
    use faultline_workload::workload::WorkloadConfig;

    fn plan(faults: &[LiveFault], overlap: bool) -> LivePlan {
        LivePlan {
            workload: WorkloadConfig {
                topic: "t".into(),
                partitions: 1,
                acks: -1,
                send_interval: Duration::from_millis(50),
                poll_interval: Duration::from_millis(100),
                request_timeout: Duration::from_secs(1),
                final_read_timeout: Duration::from_secs(1),
                idempotent: false,
                member_crashes: false,
                replay_interval: None,
                start_offsets: Default::default(),
                log_start_moves: false,
                batch: Default::default(),
            },
            producers: 1,
            consumers: 0,
            group_consumers: 0,
            group: "g".into(),
            duration: Duration::from_secs(60),
            recovery: Duration::ZERO,
            faults: faults.to_vec(),
            fault_interval: Duration::from_secs(4),
            fault_duration: Duration::from_secs(3),
            seed: 7,
            overlap,
            triggers: Vec::new(),
            txn: None,
        }
    }

    fn nodes() -> Nodes {
        let text = "name = \"x\"\ndurable = true\n\
                    [[node]]\naddress = \"h:1\"\nstart = \"exec b\"\n\
                    [[node]]\naddress = \"h:2\"\nstart = \"exec b\"\n\
                    [[node]]\naddress = \"h:3\"\nstart = \"exec b\"\n";
        let target = Target::parse(text, std::path::Path::new("t.toml")).unwrap();
        let context = CommandContext {
            faultline: "faultline".into(),
            log_dir: std::env::temp_dir(),
        };
        Nodes::new(&target, context)
    }

    /// Overlapping windows come from their own stream: the one-at-a-time windows stay
    /// where they were, and each second fault starts inside the window before it (Jepsen
    /// composes nemeses).
    #[test]
    fn overlap_adds_faults_inside_windows_without_moving_the_others() {
        let (nodes, links) = (nodes(), PeerLinks::default());
        let faults = [LiveFault::Crash, LiveFault::Pause, LiveFault::Partition];
        let alone = schedule(&plan(&faults, false), &faults, &nodes, &links);
        let composed = schedule(&plan(&faults, true), &faults, &nodes, &links);
        assert!(alone
            .windows(2)
            .all(|w| w[0].start + w[0].length <= w[1].start));
        let firsts: Vec<&LiveWindow> = composed.iter().filter(|w| alone.contains(w)).collect();
        assert_eq!(firsts.len(), alone.len());
        let seconds: Vec<&LiveWindow> = composed.iter().filter(|w| !alone.contains(w)).collect();
        assert!(!seconds.is_empty());
        for second in seconds {
            assert!(
                alone
                    .iter()
                    .any(|w| w.start <= second.start && second.start < w.start + w.length),
                "{second:?} starts inside no window"
            );
        }
    }

    /// A correlated crash strikes a majority or all of the crashable nodes, each once.
    #[test]
    fn a_correlated_crash_strikes_a_majority_at_least() {
        let (nodes, links) = (nodes(), PeerLinks::default());
        let faults = [LiveFault::CorrelatedCrash];
        let windows = schedule(&plan(&faults, false), &faults, &nodes, &links);
        assert!(!windows.is_empty());
        for window in &windows {
            let mut struck: Vec<usize> = std::iter::once(window.node)
                .chain(window.also.iter().copied())
                .collect();
            struck.sort_unstable();
            struck.dedup();
            assert!(struck.len() >= 2 && struck.len() == window.also.len() + 1);
        }
        let (ran, skipped) = runnable_faults(
            &plan(&[LiveFault::ReplicaPartition], false),
            &nodes,
            &links,
            true,
        );
        assert!(
            ran.is_empty() && skipped.len() == 1,
            "no links, no replica partition"
        );
    }
}
