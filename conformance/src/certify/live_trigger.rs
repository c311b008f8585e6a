//! Event-timed live faults: the live nemesis watches the cluster over the Kafka protocol —
//! Metadata's leader, leader epoch and `isr_nodes` for every partition of the test topic,
//! asked of every broker every [`POLL_INTERVAL`] — and fires a fault on an observed event:
//! "kill the leader 0–300 ms after the ISR shrank to it", "kill the new leader right after
//! an election". The live twin of the simulation's `[[faults.trigger]]`
//! (`sim/src/nemesis/trigger.rs`): the same events, targets, delays, durations, counts and
//! `after`, so one scenario means the same in both backends.
//!
//! A real broker's Metadata is the only view: an event is seen up to one poll after it
//! happened, from the freshest answer (the highest leader epoch; at equal epochs the
//! leader's own answer, which learns an ISR change first — KIP-497). A follower's
//! truncation is not visible over the protocol, so `truncation` triggers never fire live.

use std::collections::BTreeMap;
use std::time::Duration;

use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::{MetadataRequest, TopicName};
use kafka_protocol::protocol::StrBytes;
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio::time::Instant;

use faultline_wire::connection::{connect, Connection};
use faultline_wire::transport::TokioTransport;

use super::live_fault::LiveFault;

/// How often the nemesis asks every broker for Metadata.
pub const POLL_INTERVAL: Duration = Duration::from_millis(75);
/// How long one Metadata answer may take (a paused broker's never comes).
const POLL_TIMEOUT: Duration = Duration::from_millis(250);
/// Metadata v9: `leader_epoch` (v7+, KIP-320) and `isr_nodes`.
const METADATA_VERSION: i16 = 9;

/// The cluster events a live trigger can wait for (the simulation's `TriggerEvent`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum LiveEvent {
    /// A partition has a new leader or leader epoch; the subject is the leader.
    LeaderElected,
    /// A partition's ISR lost members; the subject is the first removed.
    IsrShrink,
    /// A partition's ISR gained members; the subject is the first added.
    IsrExpand,
    /// The nemesis restarted a broker's process and it answers again; the subject is it.
    BrokerRestart,
    /// A follower truncated its log: not observable over the Kafka protocol.
    Truncation,
    /// Metadata names another controller; the subject is the new one.
    ControllerChange,
    /// A transaction coordinator answered EndTxn (commit or abort): not run live yet,
    /// since the nemesis watches Metadata and the workload's EndTxn answers do not reach it.
    TxnEnd,
    /// As `TxnEnd`, commits only.
    TxnCommit,
    /// A leader sent the controller an ISR change (KIP-497 AlterPartition): a request
    /// between brokers and the controller, not visible over the Kafka protocol.
    IsrProposed,
    /// A leader acknowledged a DeleteRecords (KIP-107): not run live yet, since the
    /// nemesis watches Metadata and the workload's DeleteRecords answers do not reach it.
    RecordsDeleted,
}

impl LiveEvent {
    /// Its name, as in scenario files.
    pub fn name(self) -> &'static str {
        match self {
            LiveEvent::LeaderElected => "leader-elected",
            LiveEvent::IsrShrink => "isr-shrink",
            LiveEvent::IsrExpand => "isr-expand",
            LiveEvent::BrokerRestart => "broker-restart",
            LiveEvent::Truncation => "truncation",
            LiveEvent::ControllerChange => "controller-change",
            LiveEvent::TxnEnd => "txn-end",
            LiveEvent::TxnCommit => "txn-commit",
            LiveEvent::IsrProposed => "isr-proposed",
            LiveEvent::RecordsDeleted => "records-deleted",
        }
    }
}

/// Whom a trigger strikes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LiveTarget {
    /// The broker the event is about (`subject`, `new-leader`).
    Subject,
    /// The partition's leader at strike time (`leader`).
    Leader,
    /// The broker with this id (`broker-N`).
    Broker(i32),
    /// Anything else the scenario names (the controller is never faulted live).
    Unreachable(String),
}

impl LiveTarget {
    /// Parses a scenario's `target`.
    pub fn parse(text: &str) -> LiveTarget {
        match text {
            "subject" | "new-leader" => LiveTarget::Subject,
            "leader" => LiveTarget::Leader,
            other => match other.strip_prefix("broker-").and_then(|n| n.parse().ok()) {
                Some(id) => LiveTarget::Broker(id),
                None => LiveTarget::Unreachable(other.to_string()),
            },
        }
    }
}

/// One `[[faults.trigger]]`, live.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveTrigger {
    /// The event that fires it.
    pub on: LiveEvent,
    /// The fault it starts.
    pub fault: LiveFault,
    /// Whom.
    pub target: LiveTarget,
    /// Shortest delay after the event is seen.
    pub delay_min: Duration,
    /// Longest delay (drawn uniformly from the seed's `certify/nemesis/triggers` stream).
    pub delay_max: Duration,
    /// How long the fault lasts.
    pub duration: Duration,
    /// Fires at most this many times per run.
    pub times: u32,
    /// Not before this time in the fault phase.
    pub after: Duration,
    /// Only events of this partition index (a scenario's `TOPIC-P`; the live topic's name
    /// differs per run).
    pub partition: Option<i32>,
}

impl LiveTrigger {
    /// How the certificate names it.
    pub fn describe(&self) -> String {
        format!(
            "on {} → {} of {} after {}–{} ms for {:.1} s",
            self.on.name(),
            self.fault.name(),
            match &self.target {
                LiveTarget::Subject => "the subject".to_string(),
                LiveTarget::Leader => "the partition's leader".to_string(),
                LiveTarget::Broker(id) => format!("broker {id}"),
                LiveTarget::Unreachable(name) => name.clone(),
            },
            self.delay_min.as_millis(),
            self.delay_max.as_millis(),
            self.duration.as_secs_f64()
        )
    }
}

/// One partition as Metadata shows it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PartitionView {
    /// The leader's broker id (-1: none).
    pub leader: i32,
    /// The leader epoch (KIP-320).
    pub leader_epoch: i32,
    /// The in-sync replicas.
    pub isr: Vec<i32>,
}

/// The cluster as one round of Metadata answers shows it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Snapshot {
    /// Partition index → its view.
    pub partitions: BTreeMap<i32, PartitionView>,
    /// Broker id → advertised `host:port`.
    pub brokers: BTreeMap<i32, String>,
    /// The controller Metadata names, if any.
    pub controller: Option<i32>,
}

/// An event the nemesis saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Observed {
    /// What.
    pub event: LiveEvent,
    /// The partition, for partition events.
    pub partition: Option<i32>,
    /// The broker it is about.
    pub subject: i32,
    /// What Metadata said, for the fault log.
    pub detail: String,
}

/// The freshest view of each partition among the brokers' answers (`address`, answer):
/// the highest leader epoch, at equal epochs the leader's own answer.
pub fn merge(answers: &[(String, Snapshot)]) -> Snapshot {
    let mut merged = Snapshot::default();
    // A controller only when every answer names the same one: brokers that front a
    // separate controller quorum answer with an id of their own choosing (KIP-590).
    let controllers: Vec<Option<i32>> = answers.iter().map(|(_, a)| a.controller).collect();
    if controllers.windows(2).all(|pair| pair[0] == pair[1]) {
        merged.controller = controllers.first().copied().flatten();
    }
    for (address, answer) in answers {
        merged.brokers.extend(answer.brokers.clone());
        for (&partition, view) in &answer.partitions {
            let own = answer.brokers.get(&view.leader) == Some(address);
            let better = match merged.partitions.get(&partition) {
                None => true,
                Some(kept) => {
                    view.leader_epoch > kept.leader_epoch
                        || (view.leader_epoch == kept.leader_epoch && own)
                }
            };
            if better {
                merged.partitions.insert(partition, view.clone());
            }
        }
    }
    merged
}

/// The events between two snapshots (a partition missing from either says nothing).
pub fn events(before: &Snapshot, after: &Snapshot) -> Vec<Observed> {
    let mut seen = Vec::new();
    for (&partition, now) in &after.partitions {
        let Some(then) = before.partitions.get(&partition) else {
            continue;
        };
        if now.leader >= 0 && (now.leader != then.leader || now.leader_epoch > then.leader_epoch) {
            seen.push(Observed {
                event: LiveEvent::LeaderElected,
                partition: Some(partition),
                subject: now.leader,
                detail: format!(
                    "partition {partition}: leader {} epoch {} (was {} epoch {}), isr {:?}",
                    now.leader, now.leader_epoch, then.leader, then.leader_epoch, now.isr
                ),
            });
        }
        let removed: Vec<i32> = then
            .isr
            .iter()
            .copied()
            .filter(|b| !now.isr.contains(b))
            .collect();
        let added: Vec<i32> = now
            .isr
            .iter()
            .copied()
            .filter(|b| !then.isr.contains(b))
            .collect();
        for (event, moved) in [
            (LiveEvent::IsrShrink, &removed),
            (LiveEvent::IsrExpand, &added),
        ] {
            if let Some(&subject) = moved.first() {
                seen.push(Observed {
                    event,
                    partition: Some(partition),
                    subject,
                    detail: format!(
                        "partition {partition}: isr {:?} → {:?} (leader {} epoch {})",
                        then.isr, now.isr, now.leader, now.leader_epoch
                    ),
                });
            }
        }
    }
    if let (Some(then), Some(now)) = (before.controller, after.controller) {
        if then != now {
            seen.push(Observed {
                event: LiveEvent::ControllerChange,
                partition: None,
                subject: now,
                detail: format!("controller {then} → {now}"),
            });
        }
    }
    seen
}

/// The triggers of one run and how often each fired.
#[derive(Debug)]
pub struct Triggers {
    triggers: Vec<LiveTrigger>,
    fired: Vec<u32>,
    /// The `certify/nemesis/triggers` stream: delays.
    rng: ChaCha8Rng,
}

/// A fault a trigger decided on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fired {
    /// When it strikes, from the start of the fault phase.
    pub at: Duration,
    /// The broker it strikes.
    pub broker: i32,
    /// What.
    pub fault: LiveFault,
    /// For how long.
    pub duration: Duration,
    /// Which trigger, described.
    pub because: String,
}

impl Triggers {
    /// The triggers of a run.
    pub fn new(triggers: Vec<LiveTrigger>, rng: ChaCha8Rng) -> Self {
        let fired = vec![0; triggers.len()];
        Triggers {
            triggers,
            fired,
            rng,
        }
    }

    /// Whether there is anything to watch for.
    pub fn is_empty(&self) -> bool {
        self.triggers.is_empty()
    }

    /// The faults `seen` at `now` (from the start of the fault phase) fires; `snapshot`
    /// names the partition's leader for `leader` targets; a window must heal by
    /// `phase_end`.
    pub fn fire(
        &mut self,
        seen: &Observed,
        now: Duration,
        snapshot: &Snapshot,
        phase_end: Duration,
    ) -> Vec<Fired> {
        let mut fired = Vec::new();
        for (i, trigger) in self.triggers.iter().enumerate() {
            if trigger.on != seen.event || self.fired[i] >= trigger.times || now < trigger.after {
                continue;
            }
            if trigger.partition.is_some() && trigger.partition != seen.partition {
                continue;
            }
            let broker = match &trigger.target {
                LiveTarget::Subject => seen.subject,
                LiveTarget::Broker(id) => *id,
                LiveTarget::Leader => match seen
                    .partition
                    .and_then(|p| snapshot.partitions.get(&p))
                    .map(|v| v.leader)
                {
                    Some(leader) if leader >= 0 => leader,
                    _ => continue,
                },
                LiveTarget::Unreachable(_) => continue,
            };
            let (min, max) = (
                trigger.delay_min.as_millis() as u64,
                trigger.delay_max.as_millis() as u64,
            );
            let at = now + Duration::from_millis(self.rng.random_range(min..=max));
            if at + trigger.duration >= phase_end {
                continue;
            }
            self.fired[i] += 1;
            fired.push(Fired {
                at,
                broker,
                fault: trigger.fault,
                duration: trigger.duration,
                because: trigger.describe(),
            });
        }
        fired
    }
}

/// Asks every broker at `addresses` (their own addresses, not the fault proxies: the
/// nemesis is not a client under test) for the topic's Metadata every [`POLL_INTERVAL`]
/// until `stop`, and sends each round's merged snapshot with the time it was taken.
pub async fn poll(
    addresses: Vec<String>,
    topic: String,
    stop: Instant,
    snapshots: mpsc::UnboundedSender<(Instant, Snapshot)>,
) {
    let mut connections: Vec<Option<Connection<tokio::net::TcpStream>>> =
        addresses.iter().map(|_| None).collect();
    while Instant::now() < stop {
        let round = Instant::now();
        let mut asking = JoinSet::new();
        for (i, address) in addresses.iter().enumerate() {
            let (address, connection, topic) =
                (address.clone(), connections[i].take(), topic.clone());
            asking.spawn(async move {
                let (connection, answer) = ask(&address, connection, &topic).await;
                (i, address, connection, answer)
            });
        }
        let mut answers = Vec::new();
        while let Some(Ok((i, address, connection, answer))) = asking.join_next().await {
            connections[i] = connection;
            if let Some(answer) = answer {
                answers.push((address, answer));
            }
        }
        // In address order, so the merge does not depend on who answered first.
        answers.sort_by(|a, b| a.0.cmp(&b.0));
        if !answers.is_empty() && snapshots.send((round, merge(&answers))).is_err() {
            return;
        }
        tokio::time::sleep_until(round + POLL_INTERVAL).await;
    }
}

/// One Metadata request to one broker, on its kept connection or a new one.
async fn ask(
    address: &str,
    connection: Option<Connection<tokio::net::TcpStream>>,
    topic: &str,
) -> (Option<Connection<tokio::net::TcpStream>>, Option<Snapshot>) {
    let mut connection = match connection {
        Some(c) => c,
        None => match connect(&TokioTransport, address, "faultline-nemesis", POLL_TIMEOUT).await {
            Ok(c) => c,
            Err(_) => return (None, None),
        },
    };
    let request = MetadataRequest::default()
        .with_topics(Some(vec![MetadataRequestTopic::default().with_name(Some(
            TopicName(StrBytes::from_string(topic.to_string())),
        ))]))
        .with_allow_auto_topic_creation(false);
    let Ok(response) = connection
        .send(&request, METADATA_VERSION, POLL_TIMEOUT)
        .await
    else {
        return (None, None);
    };
    let mut snapshot = Snapshot {
        brokers: response
            .brokers
            .iter()
            .map(|b| (b.node_id.0, format!("{}:{}", b.host, b.port)))
            .collect(),
        controller: (response.controller_id.0 >= 0).then_some(response.controller_id.0),
        ..Snapshot::default()
    };
    for t in &response.topics {
        if t.error_code != 0 {
            continue;
        }
        for p in &t.partitions {
            snapshot.partitions.insert(
                p.partition_index,
                PartitionView {
                    leader: p.leader_id.0,
                    leader_epoch: p.leader_epoch,
                    isr: p.isr_nodes.iter().map(|b| b.0).collect(),
                },
            );
        }
    }
    (Some(connection), Some(snapshot))
}

#[cfg(test)]
mod tests {
    use super::*;
    use faultline_workload::seed::stream;

    fn view(leader: i32, leader_epoch: i32, isr: &[i32]) -> PartitionView {
        PartitionView {
            leader,
            leader_epoch,
            isr: isr.to_vec(),
        }
    }

    fn snapshot(partitions: &[(i32, PartitionView)]) -> Snapshot {
        Snapshot {
            partitions: partitions.iter().cloned().collect(),
            brokers: (1..=3).map(|id| (id, format!("h:{id}"))).collect(),
            controller: None,
        }
    }

    /// An ISR that shrank to its leader is an `isr-shrink` about the first member removed;
    /// a new epoch is an election (KIP-320 leader epochs, KIP-497 ISR changes).
    #[test]
    fn snapshots_differ_by_elections_and_isr_changes() {
        let before = snapshot(&[(0, view(1, 3, &[1, 2, 3])), (1, view(2, 1, &[2, 3]))]);
        let after = snapshot(&[(0, view(1, 3, &[1])), (1, view(3, 2, &[3, 2]))]);
        let seen = events(&before, &after);
        let kinds: Vec<(LiveEvent, Option<i32>, i32)> = seen
            .iter()
            .map(|o| (o.event, o.partition, o.subject))
            .collect();
        assert_eq!(
            kinds,
            vec![
                (LiveEvent::IsrShrink, Some(0), 2),
                (LiveEvent::LeaderElected, Some(1), 3),
            ]
        );
        assert!(events(&after, &after).is_empty(), "no change, no event");
    }

    /// The highest leader epoch wins; at equal epochs the leader's own answer, which has
    /// the ISR change before the followers' metadata does.
    #[test]
    fn the_freshest_answer_wins() {
        let stale = snapshot(&[(0, view(1, 3, &[1, 2, 3]))]);
        let leader_own = snapshot(&[(0, view(1, 3, &[1]))]);
        let newer = snapshot(&[(1, view(2, 5, &[2]))]);
        let merged = merge(&[
            ("h:2".into(), stale.clone()),
            ("h:1".into(), leader_own),
            ("h:3".into(), newer),
        ]);
        assert_eq!(merged.partitions[&0], view(1, 3, &[1]));
        assert_eq!(merged.partitions[&1], view(2, 5, &[2]));
        let merged = merge(&[("h:2".into(), stale)]);
        assert_eq!(merged.partitions[&0].isr, vec![1, 2, 3]);
    }

    #[test]
    fn a_trigger_strikes_the_leader_within_its_delay_once() {
        let trigger = LiveTrigger {
            on: LiveEvent::IsrShrink,
            fault: LiveFault::Crash,
            target: LiveTarget::parse("leader"),
            delay_min: Duration::ZERO,
            delay_max: Duration::from_millis(300),
            duration: Duration::from_secs(10),
            times: 1,
            after: Duration::from_secs(2),
            partition: None,
        };
        let mut triggers = Triggers::new(vec![trigger], stream(1, "certify/nemesis/triggers"));
        let now = snapshot(&[(0, view(1, 3, &[1]))]);
        let shrink = events(&snapshot(&[(0, view(1, 3, &[1, 2, 3]))]), &now).remove(0);
        let end = Duration::from_secs(60);
        assert!(triggers
            .fire(&shrink, Duration::from_secs(1), &now, end)
            .is_empty());
        let fired = triggers.fire(&shrink, Duration::from_secs(5), &now, end);
        assert_eq!(fired.len(), 1);
        assert_eq!((fired[0].broker, fired[0].fault), (1, LiveFault::Crash));
        assert!(fired[0].at >= Duration::from_secs(5));
        assert!(fired[0].at <= Duration::from_millis(5_300));
        assert!(triggers
            .fire(&shrink, Duration::from_secs(6), &now, end)
            .is_empty());
        assert_eq!(LiveTarget::parse("broker-2"), LiveTarget::Broker(2));
        assert_eq!(LiveTarget::parse("new-leader"), LiveTarget::Subject);
    }
}
