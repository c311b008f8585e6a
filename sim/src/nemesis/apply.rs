//! Applies fault windows to the turmoil world as simulated time reaches them, and heals
//! them when they close. Targets such as `leader` are resolved at strike time and the same
//! nodes are healed; everything a fault did is written to the trace.

use std::net::IpAddr;
use std::time::Duration;

use rand::Rng;
use rand_chacha::ChaCha8Rng;

use faultline_checker::history::Fault;
use faultline_workload::recorder::Recorder;

use super::links::{LinkBook, Reason};
use super::trigger::Triggers;
use super::{role_target, FaultKind, FaultWindow, ReplicaRole};
use crate::events::{ClusterEvent, ClusterEventKind};
use crate::hosts::Hosts;
use crate::seed::stream;

/// Maximum message latency on a link during a `latency` window.
pub const LATENCY_SPIKE: Duration = Duration::from_millis(500);
/// Chance per step that a lossy link with messages in flight loses them: 1 in this.
pub const LOSS_ONE_IN: u32 = 100;
/// Clock rates a `clock-skew` window draws from, in permille of real time.
pub const SKEW_RATES_PERMILLE: [u64; 4] = [250, 500, 2_000, 4_000];

/// A fault as it was applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppliedFault {
    /// The window as scheduled.
    pub window: FaultWindow,
    /// The nodes it hit (`leader` resolved).
    pub targets: Vec<String>,
    /// What it did, in words (e.g. the clock rate drawn, entries lost).
    pub detail: String,
    /// Simulated ns when it began.
    pub start_ns: u64,
    /// Simulated ns when it healed.
    pub end_ns: Option<u64>,
}

/// The nemesis of one run.
pub struct Nemesis {
    /// Windows by start time.
    schedule: Vec<FaultWindow>,
    /// Controller and brokers.
    servers: Vec<String>,
    /// Workload clients.
    clients: Vec<String>,
    /// The partition `leader` means: partition 0 of the first topic.
    default_partition: (String, i32),
    /// The run's seed, for per-window streams (`disk/AT/NODE`, `clock/AT/NODE`).
    seed: u64,
    /// The `network` stream: message-loss draws.
    network: ChaCha8Rng,
    /// The scenario's latency maximum, restored after a spike.
    latency_max: Duration,
    /// The next window to strike.
    next: usize,
    /// Struck, not yet healed: index into `applied`, and when it ends.
    active: Vec<(usize, Duration)>,
    /// Link states under overlapping windows.
    links: LinkBook,
    /// Every window struck so far.
    pub applied: Vec<AppliedFault>,
    /// Events for the trace (power-loss damage, loss bursts), drained by the driver.
    pub events: Vec<ClusterEvent>,
    /// Windows opened by cluster events.
    triggers: Triggers,
}

impl Nemesis {
    /// A nemesis for `schedule`.
    pub fn new(
        mut schedule: Vec<FaultWindow>,
        servers: Vec<String>,
        clients: Vec<String>,
        default_partition: (String, i32),
        seed: u64,
        latency_max: Duration,
        triggers: Triggers,
    ) -> Self {
        schedule.sort_by_key(|w| w.at);
        Nemesis {
            schedule,
            servers,
            clients,
            default_partition,
            seed,
            network: stream(seed, "network"),
            latency_max,
            next: 0,
            active: Vec::new(),
            links: LinkBook::default(),
            applied: Vec::new(),
            events: Vec::new(),
            triggers,
        }
    }

    /// Opens the windows that this step's cluster events trigger. They join the schedule
    /// and strike when their delay has passed, overlapping whatever else is open.
    pub fn on_events(&mut self, events: &[ClusterEvent], now: Duration) {
        let now_ms = now.as_millis() as u64;
        for event in events {
            for window in self.triggers.fire(&event.kind, now_ms) {
                let pending = &self.schedule[self.next..];
                let position = self.next + pending.partition_point(|w| w.at <= window.at);
                self.schedule.insert(position, window);
            }
        }
    }

    /// Heals what has closed, strikes what is due, and runs message loss for this step.
    pub fn apply_due(
        &mut self,
        sim: &mut turmoil::Sim<'_>,
        now: Duration,
        recorder: &Recorder,
        hosts: &Hosts,
    ) {
        let now_ns = now.as_nanos() as u64;
        let mut still_active = Vec::new();
        for (index, ends) in std::mem::take(&mut self.active) {
            if now >= ends {
                self.heal(sim, index, hosts, now_ns);
                self.applied[index].end_ns = Some(now_ns);
                recorder.fault(now_ns, false, fault_record(&self.applied[index]));
            } else {
                still_active.push((index, ends));
            }
        }
        self.active = still_active;
        while self.next < self.schedule.len() && self.schedule[self.next].at.0 <= now {
            let window = self.schedule[self.next].clone();
            self.next += 1;
            let targets = self.resolve(&window, hosts);
            let ends = window.at.0 + window.duration.0;
            self.applied.push(AppliedFault {
                window,
                targets,
                detail: String::new(),
                start_ns: now_ns,
                end_ns: None,
            });
            let index = self.applied.len() - 1;
            self.strike(sim, index, hosts, now_ns);
            recorder.fault(now_ns, true, fault_record(&self.applied[index]));
            self.active.push((index, ends));
        }
        self.lose_messages(sim, now_ns);
    }

    fn resolve(&self, window: &FaultWindow, hosts: &Hosts) -> Vec<String> {
        let mut targets = window.targets.clone();
        if targets.is_empty() {
            targets = match window.kind {
                FaultKind::IsolateLeader => vec!["leader".into()],
                FaultKind::IsolateController => vec!["controller".into()],
                FaultKind::PowerLoss => self.servers.clone(),
                FaultKind::Isolate
                | FaultKind::Halves
                | FaultKind::Bridge
                | FaultKind::OneWay
                | FaultKind::Loss
                | FaultKind::Latency
                | FaultKind::Crash
                | FaultKind::Pause
                | FaultKind::DiskError
                | FaultKind::ClockSkew => Vec::new(),
            };
        }
        let mut resolved: Vec<String> = targets
            .iter()
            .filter_map(|t| match role_target(t) {
                None => Some(t.clone()),
                Some((role, partition)) => {
                    let partition = partition.unwrap_or_else(|| self.default_partition.clone());
                    match role {
                        ReplicaRole::Leader => hosts.leader_of(&partition),
                        ReplicaRole::Follower => hosts.follower_of(&partition),
                    }
                }
            })
            .collect();
        resolved.dedup();
        resolved
    }

    /// Everyone but `node`: servers and clients.
    fn others(&self, node: &str) -> Vec<String> {
        self.servers
            .iter()
            .chain(self.clients.iter())
            .filter(|o| o.as_str() != node)
            .cloned()
            .collect()
    }

    /// The links a window cuts (two-way), as pairs.
    fn cuts(&self, kind: FaultKind, targets: &[String]) -> Vec<(String, String)> {
        let mut pairs = Vec::new();
        match kind {
            FaultKind::Isolate | FaultKind::IsolateLeader | FaultKind::IsolateController => {
                for target in targets {
                    for other in self.others(target) {
                        pairs.push((target.clone(), other));
                    }
                }
            }
            FaultKind::Halves => {
                for minority in targets {
                    for other in self.servers.iter().filter(|s| !targets.contains(s)) {
                        pairs.push((minority.clone(), other.clone()));
                    }
                }
            }
            FaultKind::Bridge => {
                let rest: Vec<&String> = self
                    .servers
                    .iter()
                    .filter(|s| !targets.contains(s))
                    .collect();
                let (left, right) = rest.split_at(rest.len() / 2);
                for a in left {
                    for b in right {
                        pairs.push(((*a).clone(), (*b).clone()));
                    }
                }
            }
            // Not link cuts: handled per target in `strike` and `heal`.
            FaultKind::OneWay
            | FaultKind::Loss
            | FaultKind::Latency
            | FaultKind::Crash
            | FaultKind::Pause
            | FaultKind::PowerLoss
            | FaultKind::DiskError
            | FaultKind::ClockSkew => {}
        }
        pairs
    }

    fn strike(&mut self, sim: &mut turmoil::Sim<'_>, index: usize, hosts: &Hosts, now_ns: u64) {
        let kind = self.applied[index].window.kind;
        let at_ms = self.applied[index].window.at.as_millis();
        let targets = self.applied[index].targets.clone();
        let mut details = Vec::new();
        let mut events = Vec::new();
        for (a, b) in self.cuts(kind, &targets) {
            self.links.add(sim, Reason::Cut, &a, &b);
        }
        for target in &targets {
            match kind {
                FaultKind::OneWay => {
                    for other in self.others(target) {
                        self.links.add(sim, Reason::OneWay, target, &other);
                    }
                }
                FaultKind::Latency => {
                    for other in self.others(target) {
                        sim.set_link_max_message_latency(
                            target.as_str(),
                            other.as_str(),
                            LATENCY_SPIKE,
                        );
                    }
                }
                FaultKind::Crash => {
                    sim.crash(target.as_str());
                    events.push(ClusterEventKind::ProcessCrashed {
                        node: target.clone(),
                        power_loss: false,
                    });
                }
                FaultKind::Pause => {
                    hosts.faults[target].pause.pause();
                    for other in self.others(target) {
                        self.links.add(sim, Reason::Hold, target, &other);
                    }
                }
                FaultKind::PowerLoss => {
                    sim.crash(target.as_str());
                    events.push(ClusterEventKind::ProcessCrashed {
                        node: target.clone(),
                        power_loss: true,
                    });
                    let mut rng = stream(self.seed, &format!("disk/{at_ms}/{target}"));
                    let lost = hosts.disks[target].power_loss(&mut rng);
                    details.push(format!("{target} lost {lost} unsynced entries"));
                    events.push(ClusterEventKind::PowerLossDamage {
                        node: target.clone(),
                        lost,
                    });
                }
                FaultKind::DiskError => hosts.disks[target].set_failing(true),
                FaultKind::ClockSkew => {
                    let mut rng = stream(self.seed, &format!("clock/{at_ms}/{target}"));
                    let rate = SKEW_RATES_PERMILLE[rng.random_range(0..SKEW_RATES_PERMILLE.len())];
                    hosts.faults[target].clock_rate.set_permille(rate);
                    details.push(format!("{target} clock at {rate}‰"));
                    events.push(ClusterEventKind::ClockSkewed {
                        node: target.clone(),
                        rate_permille: rate,
                    });
                }
                // Link cuts, made above.
                FaultKind::Isolate
                | FaultKind::IsolateLeader
                | FaultKind::IsolateController
                | FaultKind::Halves
                | FaultKind::Bridge
                | FaultKind::Loss => {}
            }
        }
        for kind in events {
            self.events.push(ClusterEvent {
                time_ns: now_ns,
                node: "nemesis".into(),
                kind,
            });
        }
        self.applied[index].detail = details.join("; ");
    }

    fn heal(&mut self, sim: &mut turmoil::Sim<'_>, index: usize, hosts: &Hosts, now_ns: u64) {
        let kind = self.applied[index].window.kind;
        let targets = self.applied[index].targets.clone();
        for (a, b) in self.cuts(kind, &targets) {
            self.links.remove(sim, Reason::Cut, &a, &b);
        }
        for target in &targets {
            match kind {
                FaultKind::OneWay => {
                    for other in self.others(target) {
                        self.links.remove(sim, Reason::OneWay, target, &other);
                    }
                }
                FaultKind::Latency => {
                    for other in self.others(target) {
                        sim.set_link_max_message_latency(
                            target.as_str(),
                            other.as_str(),
                            self.latency_max,
                        );
                    }
                }
                FaultKind::Crash | FaultKind::PowerLoss => {
                    sim.bounce(target.as_str());
                    self.events.push(ClusterEvent {
                        time_ns: now_ns,
                        node: "nemesis".into(),
                        kind: ClusterEventKind::ProcessRestarted {
                            node: target.clone(),
                        },
                    });
                }
                FaultKind::Pause => {
                    for other in self.others(target) {
                        self.links.remove(sim, Reason::Hold, target, &other);
                    }
                    hosts.faults[target].pause.resume();
                }
                FaultKind::DiskError => hosts.disks[target].set_failing(false),
                FaultKind::ClockSkew => hosts.faults[target].clock_rate.set_permille(1_000),
                // Link cuts, healed above; message loss stops with the window.
                FaultKind::Isolate
                | FaultKind::IsolateLeader
                | FaultKind::IsolateController
                | FaultKind::Halves
                | FaultKind::Bridge
                | FaultKind::Loss => {}
            }
        }
    }

    /// Message loss: every link of an active `loss` window's targets that has messages in
    /// flight loses them all with probability 1/[`LOSS_ONE_IN`] (a cut and an immediate
    /// repair: turmoil drops what is in flight on a cut).
    fn lose_messages(&mut self, sim: &mut turmoil::Sim<'_>, now_ns: u64) {
        let lossy: Vec<IpAddr> = self
            .active
            .iter()
            .filter(|(i, _)| self.applied[*i].window.kind == FaultKind::Loss)
            .flat_map(|(i, _)| self.applied[*i].targets.iter())
            .map(|t| sim.lookup(t.as_str()))
            .collect();
        if lossy.is_empty() {
            return;
        }
        let mut busy = Vec::new();
        sim.links(|links| {
            for link in links {
                let (a, b) = link.pair();
                if (lossy.contains(&a) || lossy.contains(&b)) && link.count() > 0 {
                    busy.push((a, b));
                }
            }
        });
        for (a, b) in busy {
            if !self.network.random_ratio(1, LOSS_ONE_IN) {
                continue;
            }
            let (Some(a), Some(b)) = (sim.reverse_lookup(a), sim.reverse_lookup(b)) else {
                continue;
            };
            if !self.links.is_clear(&a, &b) {
                continue;
            }
            sim.partition(a.as_str(), b.as_str());
            sim.release(a.as_str(), b.as_str());
            self.events.push(ClusterEvent {
                time_ns: now_ns,
                node: "nemesis".into(),
                kind: ClusterEventKind::MessagesDropped { a, b },
            });
        }
    }
}

fn fault_record(applied: &AppliedFault) -> Fault {
    let kind = applied.window.kind.name();
    let mut detail = format!(
        "{} {} for {}ms",
        kind,
        applied.targets.join(","),
        applied.window.duration.as_millis()
    );
    if !applied.detail.is_empty() {
        detail = format!("{detail} ({})", applied.detail);
    }
    Fault {
        detail,
        kind,
        targets: applied.targets.clone(),
    }
}
