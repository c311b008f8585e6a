//! The live nemesis's driver: applies fault windows that may overlap (Jepsen composes
//! nemeses: a crash inside a partition, a second partition inside the first), and the
//! windows triggers fire on events seen through Metadata ([`super::live_trigger`]).
//!
//! What each link and process should be is recomputed from the windows active at every
//! step — a link is cut while any active window cuts it, a process is down while any crash
//! window holds it — so one window's heal never undoes another's fault.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::time::Instant;

use faultline_checker::history::Fault;
use faultline_workload::recorder::Recorder;
use faultline_workload::seed::stream;

use super::links::PeerLinks;
use super::live_fault::LiveFault;
use super::live_plan::{LivePlan, LiveWindow};
use super::live_trigger::{self, LiveEvent, Observed, Snapshot, Triggers};
use super::process::Nodes;
use super::proxy::{LinkFault, ProxyCluster};

/// What the driver did.
#[derive(Debug, Default)]
pub struct Driven {
    /// The fault log, `at_ms: description`, with the events observed (when triggers ran).
    pub faults: Vec<String>,
    /// Faults that could not be applied or healed, and why.
    pub fault_errors: Vec<String>,
    /// Every fault applied, scheduled or triggered, in order.
    pub applied: Vec<LiveFault>,
}

/// A step of the agenda.
#[derive(Debug, Clone, Copy)]
enum Step {
    Start(usize),
    Heal(usize),
}

/// Where faults land, and what they are.
pub struct Driver<'a> {
    plan: &'a LivePlan,
    proxies: &'a ProxyCluster,
    links: &'a PeerLinks,
    nodes: &'a mut Nodes,
    recorder: &'a Recorder,
    /// When certification began (the fault log's clock).
    started: Instant,
    /// When the fault phase began (windows' clock).
    begin: Instant,
    windows: Vec<LiveWindow>,
    agenda: BTreeMap<(Duration, u64), Step>,
    next_step: u64,
    active: BTreeSet<usize>,
    client_faults: BTreeMap<String, LinkFault>,
    cut: BTreeSet<String>,
    down: BTreeMap<usize, u32>,
    paused: BTreeMap<usize, u32>,
    driven: Driven,
    /// The latest merged Metadata view.
    snapshot: Snapshot,
    /// The plan's triggers and how often each fired.
    triggers: Triggers,
}

impl<'a> Driver<'a> {
    /// A driver for `windows`, the fault phase having begun at `begin`.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        plan: &'a LivePlan,
        windows: &[LiveWindow],
        proxies: &'a ProxyCluster,
        links: &'a PeerLinks,
        nodes: &'a mut Nodes,
        recorder: &'a Recorder,
        started: Instant,
        begin: Instant,
    ) -> Self {
        let mut driver = Driver {
            plan,
            proxies,
            links,
            nodes,
            recorder,
            started,
            begin,
            windows: Vec::new(),
            agenda: BTreeMap::new(),
            next_step: 0,
            active: BTreeSet::new(),
            client_faults: BTreeMap::new(),
            cut: BTreeSet::new(),
            down: BTreeMap::new(),
            paused: BTreeMap::new(),
            driven: Driven::default(),
            snapshot: Snapshot::default(),
            triggers: Triggers::new(
                plan.triggers.clone(),
                stream(plan.seed, "certify/nemesis/triggers"),
            ),
        };
        for window in windows {
            driver.add(window.clone());
        }
        driver
    }

    fn add(&mut self, window: LiveWindow) {
        let i = self.windows.len();
        let (start, end) = (window.start, window.start + window.length);
        let reset = window.fault == LiveFault::Reset;
        self.windows.push(window);
        self.agenda.insert((start, self.next_step), Step::Start(i));
        self.next_step += 1;
        if !reset {
            self.agenda.insert((end, self.next_step), Step::Heal(i));
            self.next_step += 1;
        }
    }

    fn at_ms(&self) -> u128 {
        self.started.elapsed().as_millis()
    }

    /// Runs every window (and every triggered one) until the fault phase ends at `stop_at`
    /// and the last window has healed; polls Metadata for the triggers of `plan`.
    pub async fn run(mut self, topic: &str, stop_at: Instant) -> Driven {
        let (sender, mut snapshots) = mpsc::unbounded_channel();
        let mut polling = !self.triggers.is_empty();
        if polling {
            let addresses = self
                .nodes
                .nodes
                .iter()
                .map(|n| n.address().to_string())
                .collect();
            tokio::spawn(live_trigger::poll(
                addresses,
                topic.to_string(),
                stop_at,
                sender,
            ));
            self.log(format!(
                "the nemesis watches the cluster through Kafka Metadata only (leader, leader \
                 epoch, isr_nodes of every partition, asked of every broker every {} ms): an \
                 event is seen up to one poll after it happened; triggers: {}",
                live_trigger::POLL_INTERVAL.as_millis(),
                self.plan
                    .triggers
                    .iter()
                    .map(|t| t.describe())
                    .collect::<Vec<_>>()
                    .join("; ")
            ));
        } else {
            drop(sender);
        }
        loop {
            let next = self.agenda.first_key_value().map(|(&(at, _), _)| at);
            if next.is_none() && (!polling || Instant::now() >= stop_at) {
                break;
            }
            let wake = next.map_or(stop_at, |at| self.begin + at);
            tokio::select! {
                biased;
                _ = tokio::time::sleep_until(wake) => {
                    if let Some((_, step)) = self.agenda.pop_first() {
                        self.step(step).await;
                    }
                }
                received = snapshots.recv(), if polling => match received {
                    Some((at, snapshot)) => {
                        let now = at.saturating_duration_since(self.begin);
                        let seen = live_trigger::events(&self.snapshot, &snapshot);
                        self.snapshot = snapshot;
                        for observed in seen {
                            self.observed(&observed, now);
                        }
                    }
                    None => polling = false,
                },
            }
        }
        self.driven
    }

    fn log(&mut self, line: String) {
        let at = self.at_ms();
        self.driven.faults.push(format!("{at}: {line}"));
    }

    /// An event seen: logged, and the windows its triggers fire added.
    fn observed(&mut self, observed: &Observed, now: Duration) {
        self.log(format!(
            "observed {} (Metadata): {}",
            observed.event.name(),
            observed.detail
        ));
        let fired = self
            .triggers
            .fire(observed, now, &self.snapshot, self.plan.duration);
        for fired in fired {
            let Some(node) = self.node_of(fired.broker) else {
                let line = format!(
                    "trigger {} cannot strike broker {}: no node of the target file has its address",
                    fired.because, fired.broker
                );
                self.driven.fault_errors.push(line);
                continue;
            };
            let fault = match fired.fault {
                LiveFault::PeerPartition if !self.links.has_links(node) => LiveFault::Partition,
                other => other,
            };
            self.log(format!(
                "trigger fired ({}): {} of broker {} in {} ms",
                fired.because,
                fault.name(),
                fired.broker,
                fired.at.saturating_sub(now).as_millis()
            ));
            self.add(LiveWindow {
                start: fired.at,
                length: fired.duration,
                fault,
                node,
                also: Vec::new(),
                latency: Duration::ZERO,
            });
        }
    }

    /// The node whose address Metadata gives broker `id`.
    fn node_of(&self, id: i32) -> Option<usize> {
        let address = self.snapshot.brokers.get(&id)?;
        self.nodes
            .nodes
            .iter()
            .find(|n| n.address() == address)
            .map(|n| n.index)
    }

    /// The broker id Metadata gives the node at `index`.
    fn broker_of(&self, index: usize) -> Option<i32> {
        let address = self.nodes.nodes[index].address();
        self.snapshot
            .brokers
            .iter()
            .find(|(_, a)| a.as_str() == address)
            .map(|(&id, _)| id)
    }

    fn describe(&self, window: &LiveWindow) -> String {
        let address = |i: usize| self.nodes.nodes[i].address().to_string();
        match window.fault {
            LiveFault::Latency => format!(
                "{} {} +{} ms for {:.1} s",
                window.fault.name(),
                address(window.node),
                window.latency.as_millis(),
                window.length.as_secs_f64()
            ),
            LiveFault::Reset => format!("{} {}", window.fault.name(), address(window.node)),
            _ => {
                let struck: Vec<String> = std::iter::once(window.node)
                    .chain(window.also.iter().copied())
                    .map(address)
                    .collect();
                format!(
                    "{} {} for {:.1} s",
                    window.fault.name(),
                    struck.join(", "),
                    window.length.as_secs_f64()
                )
            }
        }
    }

    async fn step(&mut self, step: Step) {
        match step {
            Step::Start(i) => self.start(i).await,
            Step::Heal(i) => self.heal(i).await,
        }
    }

    async fn start(&mut self, i: usize) {
        let window = self.windows[i].clone();
        let detail = self.describe(&window);
        let address = self.nodes.nodes[window.node].address().to_string();
        let targets: Vec<String> = std::iter::once(window.node)
            .chain(window.also.iter().copied())
            .map(|n| self.nodes.nodes[n].address().to_string())
            .collect();
        self.recorder.fault(
            self.recorder.now_ns(),
            true,
            Fault {
                kind: window.fault.name().to_string(),
                targets,
                detail: detail.clone(),
            },
        );
        self.log(detail.clone());
        self.driven.applied.push(window.fault);
        self.active.insert(i);
        let result = match window.fault {
            LiveFault::Partition | LiveFault::BlackHole | LiveFault::Latency => {
                self.apply_client_faults();
                Ok(())
            }
            LiveFault::Reset => {
                self.proxies.reset(&address);
                Ok(())
            }
            LiveFault::PeerPartition | LiveFault::ReplicaPartition => {
                self.apply_links();
                Ok(())
            }
            LiveFault::Pause => self.pause(window.node).await,
            LiveFault::Crash | LiveFault::CorrelatedCrash => self.kill(&window.struck()).await,
        };
        if let Err(e) = result {
            let at = self.at_ms();
            self.driven
                .fault_errors
                .push(format!("{at}: {detail}: {e}"));
        }
    }

    async fn heal(&mut self, i: usize) {
        let window = self.windows[i].clone();
        let detail = self.describe(&window);
        self.active.remove(&i);
        let result = match window.fault {
            LiveFault::Partition | LiveFault::BlackHole | LiveFault::Latency => {
                self.apply_client_faults();
                Ok(())
            }
            LiveFault::Reset => Ok(()),
            LiveFault::PeerPartition | LiveFault::ReplicaPartition => {
                self.apply_links();
                Ok(())
            }
            LiveFault::Pause => self.resume(window.node).await,
            LiveFault::Crash | LiveFault::CorrelatedCrash => self.restart(&window.struck()).await,
        };
        if let Err(e) = result {
            let at = self.at_ms();
            self.driven
                .fault_errors
                .push(format!("{at}: healing {detail}: {e}"));
        }
        let targets = vec![self.nodes.nodes[window.node].address().to_string()];
        self.recorder.fault(
            self.recorder.now_ns(),
            false,
            Fault {
                kind: window.fault.name().to_string(),
                targets,
                detail,
            },
        );
    }

    /// Each client proxy gets the strongest fault of the windows active on it.
    fn apply_client_faults(&mut self) {
        let mut wanted: BTreeMap<String, LinkFault> = BTreeMap::new();
        for &i in &self.active {
            let window = &self.windows[i];
            let fault = match window.fault {
                LiveFault::Partition => LinkFault::Partition,
                LiveFault::BlackHole => LinkFault::BlackHole,
                LiveFault::Latency => LinkFault::Latency(window.latency),
                _ => continue,
            };
            let address = self.nodes.nodes[window.node].address().to_string();
            let kept = wanted.entry(address).or_insert(LinkFault::None);
            if strength(fault) > strength(*kept) {
                *kept = fault;
            }
        }
        let addresses: BTreeSet<String> = wanted
            .keys()
            .chain(self.client_faults.keys())
            .cloned()
            .collect();
        for address in addresses {
            let fault = wanted.get(&address).copied().unwrap_or(LinkFault::None);
            if self
                .client_faults
                .get(&address)
                .copied()
                .unwrap_or_default()
                != fault
            {
                self.proxies.set_fault(&address, fault);
            }
            self.client_faults.insert(address, fault);
        }
    }

    /// Every link some active window cuts is cut; every other is healed.
    fn apply_links(&mut self) {
        let mut wanted = BTreeSet::new();
        for &i in &self.active {
            let window = &self.windows[i];
            let brokers_only = match window.fault {
                LiveFault::PeerPartition => false,
                LiveFault::ReplicaPartition => true,
                _ => continue,
            };
            wanted.extend(
                self.links
                    .links_of(window.node, brokers_only)
                    .iter()
                    .cloned(),
            );
        }
        for listen in wanted.difference(&self.cut) {
            self.links.set_at(listen, LinkFault::Partition);
        }
        for listen in self.cut.difference(&wanted) {
            self.links.set_at(listen, LinkFault::None);
        }
        self.cut = wanted;
    }

    async fn pause(&mut self, node: usize) -> Result<(), String> {
        if self.down.get(&node).copied().unwrap_or(0) > 0 {
            return Err("the node is down (a crash window holds it)".into());
        }
        let count = self.paused.entry(node).or_insert(0);
        *count += 1;
        if *count == 1 {
            return self.nodes.nodes[node].pause().await;
        }
        Ok(())
    }

    async fn resume(&mut self, node: usize) -> Result<(), String> {
        let count = self.paused.entry(node).or_insert(0);
        if *count == 0 {
            return Ok(());
        }
        *count -= 1;
        if *count == 0 && self.down.get(&node).copied().unwrap_or(0) == 0 {
            return self.nodes.nodes[node].resume().await;
        }
        Ok(())
    }

    /// Kills every node of `struck` not already down, one right after the other.
    async fn kill(&mut self, struck: &[usize]) -> Result<(), String> {
        let mut errors = Vec::new();
        for &node in struck {
            let count = self.down.entry(node).or_insert(0);
            *count += 1;
            if *count == 1 {
                // A crash ends a pause: the process it froze is gone.
                self.paused.insert(node, 0);
                if let Err(e) = self.nodes.nodes[node].kill().await {
                    errors.push(e);
                }
            }
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors.join("; "))
        }
    }

    /// Brings back every node of `struck` no other crash window holds, all launched
    /// before any is waited for (power returning to a rack), then tells the triggers.
    async fn restart(&mut self, struck: &[usize]) -> Result<(), String> {
        let ready = self.nodes.ready_timeout();
        let mut back = Vec::new();
        let mut errors = Vec::new();
        for &node in struck {
            let count = self.down.entry(node).or_insert(0);
            *count = count.saturating_sub(1);
            if *count == 0 {
                match self.nodes.nodes[node].relaunch(ready).await {
                    Ok(()) => back.push(node),
                    Err(e) => errors.push(e),
                }
            }
        }
        for &node in &back {
            match self.nodes.nodes[node].wait_ready(ready).await {
                Ok(()) => {
                    if let Some(broker) = self.broker_of(node) {
                        self.restarted(broker);
                    }
                }
                Err(e) => errors.push(e),
            }
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors.join("; "))
        }
    }

    /// A broker-restart event, which the nemesis sees itself (it restarted the process).
    fn restarted(&mut self, broker: i32) {
        if self
            .plan
            .triggers
            .iter()
            .all(|t| t.on != LiveEvent::BrokerRestart)
        {
            return;
        }
        let observed = Observed {
            event: LiveEvent::BrokerRestart,
            partition: None,
            subject: broker,
            detail: format!("broker {broker} answers again after its restart"),
        };
        let now = self.begin.elapsed();
        self.observed(&observed, now);
    }
}

/// Which client-link fault wins when several windows strike one proxy.
fn strength(fault: LinkFault) -> u8 {
    match fault {
        LinkFault::None => 0,
        LinkFault::Latency(_) => 1,
        LinkFault::BlackHole => 2,
        LinkFault::Partition => 3,
    }
}
