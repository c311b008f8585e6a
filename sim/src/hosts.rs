//! The simulated hosts: the controller and the brokers, each with a disk and fault handles
//! (pause gate, clock rate, BUGGIFY draw) that outlive its process, and a registry of the
//! running processes through which the nemesis finds leaders and the trace collects events.
//!
//! Every task is spawned with `spawn_local` on the host's `LocalSet`: on a crash those are
//! dropped in spawn order, so the FINs and RSTs the dying sockets send (and the latencies
//! turmoil draws for them) come in the same order in every run, even several runs in one
//! process. `tokio::spawn`'s drop order follows process-wide task ids.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use rand::Rng;

use faultline_broker::buggify::{Buggify, NodeFaults};
use faultline_broker::config::ClusterConfig;
use faultline_broker::node::{BrokerNode, ControllerNode};
use faultline_broker::storage::TopicPartition;

use crate::disk::SimDisk;
use crate::events::{ClusterEvent, EventTyper};
use crate::invariants::{InvariantChecker, LiveBroker};
use crate::protocol::{BrokerObserver, ProtocolLog};
use crate::seed::stream;
use crate::transport::TurmoilTransport;

/// A running process.
enum Node {
    Broker(Arc<BrokerNode>),
    Controller(Arc<ControllerNode>),
}

/// Every host's lasting parts, and its current process.
#[derive(Clone)]
pub struct Hosts {
    /// Each host's disk.
    pub disks: BTreeMap<String, SimDisk>,
    /// Each host's fault handles.
    pub faults: BTreeMap<String, NodeFaults>,
    /// The latest process started on each host, with its incarnation.
    registry: Arc<Mutex<BTreeMap<String, (u64, Node)>>>,
    /// Types the controller's registrations (election, ISR change) against the last one.
    typer: Arc<Mutex<EventTyper>>,
    /// Where every broker process's protocol observer reports, when the rules are checked.
    protocol: Option<Arc<Mutex<ProtocolLog>>>,
}

impl Hosts {
    /// Disks and fault handles for `names`; BUGGIFY draws from each host's own
    /// `buggify/NAME` stream when `buggify` is on.
    pub fn new(names: &[String], seed: u64, buggify: bool) -> Self {
        let disks = names
            .iter()
            .map(|n| (n.clone(), SimDisk::default()))
            .collect();
        let faults = names
            .iter()
            .map(|n| {
                let mut faults = NodeFaults::default();
                if buggify {
                    let rng = Arc::new(Mutex::new(stream(seed, &format!("buggify/{n}"))));
                    faults.buggify = Buggify::enabled(Arc::new(move |n| {
                        rng.lock().expect("buggify rng").random_range(0..n)
                    }));
                }
                (n.clone(), faults)
            })
            .collect();
        Hosts {
            disks,
            faults,
            registry: Arc::new(Mutex::new(BTreeMap::new())),
            typer: Arc::new(Mutex::new(EventTyper::default())),
            protocol: None,
        }
    }

    /// Has every broker process started from now on judge its answers into `log`.
    pub fn check_protocol(&mut self, log: Arc<Mutex<ProtocolLog>>) {
        self.protocol = Some(log);
    }

    /// Adds the controller host.
    pub fn add_controller(&self, sim: &mut turmoil::Sim<'_>, config: &ClusterConfig) {
        let disk = self.disks["controller"].clone();
        let faults = self.faults["controller"].clone();
        let config = config.clone();
        let registry = self.registry.clone();
        let incarnations = Arc::new(AtomicU64::new(1));
        sim.host("controller", move || {
            let (disk, faults, config, registry) = (
                disk.clone(),
                faults.clone(),
                config.clone(),
                registry.clone(),
            );
            let incarnation = incarnations.fetch_add(1, Ordering::SeqCst);
            async move {
                let node = ControllerNode::with_faults(config, Box::new(disk), faults);
                registry.lock().unwrap().insert(
                    "controller".into(),
                    (incarnation, Node::Controller(node.clone())),
                );
                tokio::task::spawn_local(node.clone().run_ticks());
                let listener = turmoil::net::TcpListener::bind("0.0.0.0:9093").await?;
                loop {
                    let (stream, _) = listener.accept().await?;
                    tokio::task::spawn_local(node.clone().serve_connection(stream));
                }
            }
        });
    }

    /// Adds broker `id`'s host.
    pub fn add_broker(&self, sim: &mut turmoil::Sim<'_>, config: &ClusterConfig, id: i32) {
        let name = format!("broker-{id}");
        let disk = self.disks[&name].clone();
        let faults = self.faults[&name].clone();
        let config = config.clone();
        let registry = self.registry.clone();
        let protocol = self.protocol.clone();
        let incarnations = Arc::new(AtomicU64::new(1));
        sim.host(name.clone(), move || {
            let (disk, faults, config, registry) = (
                disk.clone(),
                faults.clone(),
                config.clone(),
                registry.clone(),
            );
            let incarnation = incarnations.fetch_add(1, Ordering::SeqCst);
            let name = name.clone();
            let protocol = protocol.clone();
            async move {
                let node = BrokerNode::with_faults(id, config, Box::new(disk), incarnation, faults);
                if let Some(log) = protocol {
                    let host = name.clone();
                    node.observe_requests(Arc::new(BrokerObserver { host, log }));
                }
                registry
                    .lock()
                    .unwrap()
                    .insert(name, (incarnation, Node::Broker(node.clone())));
                for task in node.background_tasks(TurmoilTransport) {
                    tokio::task::spawn_local(task);
                }
                let listener = turmoil::net::TcpListener::bind("0.0.0.0:9092").await?;
                loop {
                    let (stream, _) = listener.accept().await?;
                    tokio::task::spawn_local(node.clone().serve_connection(stream));
                }
            }
        });
    }

    fn with_controller<R>(&self, f: impl FnOnce(&ControllerNode) -> R) -> Option<R> {
        let registry = self.registry.lock().unwrap();
        match registry.get("controller") {
            Some((_, Node::Controller(c))) => Some(f(c)),
            Some((_, Node::Broker(_))) | None => None,
        }
    }

    /// The host name of a partition's leader as the controller last recorded it.
    pub fn leader_of(&self, partition: &TopicPartition) -> Option<String> {
        self.with_controller(|c| c.registration(partition))
            .flatten()
            .filter(|r| r.leader >= 0)
            .map(|r| format!("broker-{}", r.leader))
    }

    /// A follower of `partition` as the controller knows it: the lowest-id in-sync
    /// replica that is not the leader, else the lowest-id assigned one that is not.
    pub fn follower_of(&self, partition: &TopicPartition) -> Option<String> {
        self.with_controller(|c| c.registration(partition))
            .flatten()
            .and_then(|r| {
                let others = |set: &[i32]| set.iter().copied().filter(|&b| b != r.leader).min();
                others(&r.isr).or_else(|| others(&r.replicas))
            })
            .map(|b| format!("broker-{b}"))
    }

    /// Whether every partition's ISR holds all of its assigned replicas again (no
    /// partition under-replicated), as the controller knows it.
    pub fn all_in_sync(&self, partitions: &[TopicPartition]) -> bool {
        self.with_controller(|c| {
            partitions.iter().all(|p| {
                c.registration(p)
                    .is_some_and(|r| r.replicas.iter().all(|b| r.isr.contains(b)))
            })
        })
        .unwrap_or(false)
    }

    /// Whether every partition has a leader that is registered and unfenced.
    pub fn all_led(&self, partitions: &[TopicPartition]) -> bool {
        self.with_controller(|c| {
            partitions.iter().all(|p| {
                c.registration(p)
                    .is_some_and(|r| r.leader >= 0 && c.broker_alive(r.leader))
            })
        })
        .unwrap_or(false)
    }

    /// Moves every process's new events into `out`, stamped `time_ns`.
    pub fn drain_events(&self, time_ns: u64, out: &mut Vec<ClusterEvent>) {
        let registry = self.registry.lock().unwrap();
        let mut typer = self.typer.lock().unwrap();
        for (name, (_, node)) in registry.iter() {
            let kinds: Vec<_> = match node {
                Node::Broker(b) => b
                    .drain_events()
                    .into_iter()
                    .map(|e| EventTyper::broker(e.partition, e.kind))
                    .collect(),
                Node::Controller(c) => c
                    .drain_events()
                    .into_iter()
                    .map(|e| typer.controller(e))
                    .collect(),
            };
            out.extend(kinds.into_iter().map(|kind| ClusterEvent {
                time_ns,
                node: name.clone(),
                kind,
            }));
        }
    }

    /// Runs the invariant checker over every running process's state.
    pub fn check_invariants(&self, checker: &mut InvariantChecker, time_ns: u64) {
        let registry = self.registry.lock().unwrap();
        let mut brokers = Vec::new();
        for (host, (incarnation, node)) in registry.iter() {
            if !checker.is_up(host, *incarnation) {
                continue;
            }
            match node {
                Node::Broker(b) => {
                    brokers.push((host.as_str(), *incarnation, b.state.lock().unwrap()))
                }
                Node::Controller(c) => {
                    let controller = c.state.lock().unwrap();
                    let registrations = controller.registrations().map(|r| {
                        (
                            r.topic.as_str(),
                            r.partition,
                            r.leader_epoch,
                            r.partition_epoch,
                        )
                    });
                    checker.check_controller(
                        time_ns,
                        *incarnation,
                        registrations,
                        controller.log_end_offset(),
                    );
                }
            }
        }
        for (host, incarnation, broker) in &brokers {
            checker.check_generations(time_ns, host, *incarnation, broker.groups.generations());
        }
        let live: Vec<LiveBroker<'_>> = brokers
            .iter()
            .map(|(host, incarnation, broker)| (*host, *incarnation, &broker.partitions))
            .collect();
        checker.check_brokers(time_ns, &live);
    }
}
