//! Faults triggered by cluster events: "crash the new leader 0–200 ms after an election",
//! "isolate a follower right after it joins the ISR", "restart a broker while it is
//! truncating", "power-loss the controller right after an ISR change", "crash the
//! controller while a leader's ISR proposal is in flight", "crash the transaction
//! coordinator 0–50 ms after it answered EndTxn".
//!
//! Uniform seeds over time-scheduled faults rarely land a fault at such a moment; a
//! trigger does, every run. Delays are drawn from the seed's `nemesis/triggers` stream, so
//! the time-scheduled windows (the `nemesis` stream) never move when triggers are added.
//! A triggered window is an ordinary [`FaultWindow`]: it may overlap others (Jepsen
//! composes nemeses), and it must heal before the fault phase ends.

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use super::{FaultKind, FaultWindow};
use crate::duration::HumanDuration;
use crate::events::ClusterEventKind;

/// The cluster events a trigger can wait for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TriggerEvent {
    /// The controller elected a leader in a new epoch; the subject is the new leader.
    LeaderElected,
    /// The ISR lost a member; the subject is the member removed.
    IsrShrink,
    /// The ISR gained a member; the subject is the member added.
    IsrExpand,
    /// A broker's process restarted; the subject is that broker.
    BrokerRestart,
    /// A follower truncated its log; the subject is that follower.
    Truncation,
    /// The controller's process restarted (a single KRaft controller: a restart is its
    /// only move); the subject is the controller.
    ControllerChange,
    /// A transaction coordinator answered EndTxn, commit or abort, with success (KIP-98);
    /// the subject is the coordinator. The moment between the promise and the
    /// replication of the transaction's state, and of its markers.
    TxnEnd,
    /// As `txn-end`, for EndTxn(commit) only: the promise whose loss a client sees.
    TxnCommit,
    /// A leader sent the controller a new ISR change (KIP-497 AlterPartition; resends do
    /// not count); the subject is the first member it adds, or for a shrink the first it
    /// removes. The moment the change is in flight: a request or answer lost now must be
    /// settled by a resend or by newer metadata.
    IsrProposed,
    /// A leader acknowledged a DeleteRecords (KIP-107); the subject is the leader. The
    /// moment between the promise (reads never again below the new log start) and every
    /// replica taking the new log start.
    RecordsDeleted,
}

impl TriggerEvent {
    /// Every event a trigger can wait for, in declaration order.
    pub const ALL: [TriggerEvent; 10] = [
        TriggerEvent::LeaderElected,
        TriggerEvent::IsrShrink,
        TriggerEvent::IsrExpand,
        TriggerEvent::BrokerRestart,
        TriggerEvent::Truncation,
        TriggerEvent::ControllerChange,
        TriggerEvent::TxnEnd,
        TriggerEvent::TxnCommit,
        TriggerEvent::IsrProposed,
        TriggerEvent::RecordsDeleted,
    ];

    /// Its name in a scenario file (`on = "…"`).
    pub fn name(self) -> &'static str {
        match self {
            TriggerEvent::LeaderElected => "leader-elected",
            TriggerEvent::IsrShrink => "isr-shrink",
            TriggerEvent::IsrExpand => "isr-expand",
            TriggerEvent::BrokerRestart => "broker-restart",
            TriggerEvent::Truncation => "truncation",
            TriggerEvent::ControllerChange => "controller-change",
            TriggerEvent::TxnEnd => "txn-end",
            TriggerEvent::TxnCommit => "txn-commit",
            TriggerEvent::IsrProposed => "isr-proposed",
            TriggerEvent::RecordsDeleted => "records-deleted",
        }
    }
}

/// A trigger's default `after`: events before it (the first elections of a starting
/// cluster) fire nothing.
pub const DEFAULT_AFTER_MS: u64 = 2_000;

/// What a trigger does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TriggerAction {
    /// kill -9, restart when the window closes.
    Crash,
    /// Cut off from every other node and client.
    Isolate,
    /// SIGSTOP, SIGCONT when the window closes.
    Pause,
    /// Lose power (unsynced writes), restart when the window closes.
    PowerLoss,
    /// A crash with a short window: back before the controller's session timeout.
    Restart,
}

impl TriggerAction {
    /// The fault kind that carries it out.
    pub fn kind(self) -> FaultKind {
        match self {
            TriggerAction::Crash | TriggerAction::Restart => FaultKind::Crash,
            TriggerAction::Isolate => FaultKind::Isolate,
            TriggerAction::Pause => FaultKind::Pause,
            TriggerAction::PowerLoss => FaultKind::PowerLoss,
        }
    }

    /// Which action carries out a fault kind, if a trigger can.
    pub fn for_kind(kind: FaultKind) -> Option<TriggerAction> {
        match kind {
            FaultKind::Crash => Some(TriggerAction::Crash),
            FaultKind::Isolate | FaultKind::IsolateLeader => Some(TriggerAction::Isolate),
            FaultKind::Pause => Some(TriggerAction::Pause),
            FaultKind::PowerLoss => Some(TriggerAction::PowerLoss),
            FaultKind::IsolateController
            | FaultKind::Halves
            | FaultKind::Bridge
            | FaultKind::OneWay
            | FaultKind::Loss
            | FaultKind::Latency
            | FaultKind::DiskError
            | FaultKind::ClockSkew => None,
        }
    }
}

/// A `[[faults.trigger]]` table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Trigger {
    /// The event that fires it.
    pub on: TriggerEvent,
    /// What it does.
    pub action: TriggerAction,
    /// Whom: `subject` (the broker the event is about: the new leader, the member removed
    /// or added, the restarted or truncating broker, the transaction coordinator;
    /// `new-leader` is a synonym), `leader`
    /// (the partition's leader at strike time), `controller`, or a node name.
    #[serde(default = "defaults::target")]
    pub target: String,
    /// Delay after the event, drawn uniformly: `"0ms..200ms"` or one duration.
    #[serde(default = "defaults::delay")]
    pub delay: DelayRange,
    /// How long the fault lasts (for `restart`, how long the process is down).
    #[serde(default = "defaults::duration")]
    pub duration: HumanDuration,
    /// Fires at most this many times per run.
    #[serde(default = "defaults::times")]
    pub times: u32,
    /// Not before this time in the run (let the cluster settle first).
    #[serde(default = "defaults::after")]
    pub after: HumanDuration,
    /// Only events of this partition (`TOPIC-P`); default any.
    #[serde(default)]
    pub partition: Option<String>,
}

mod defaults {
    use super::*;

    pub fn target() -> String {
        "subject".into()
    }
    pub fn delay() -> DelayRange {
        DelayRange {
            min: HumanDuration::from_millis(0),
            max: HumanDuration::from_millis(200),
        }
    }
    pub fn duration() -> HumanDuration {
        HumanDuration::from_millis(2_000)
    }
    pub fn times() -> u32 {
        1
    }
    pub fn after() -> HumanDuration {
        HumanDuration::from_millis(DEFAULT_AFTER_MS)
    }
}

/// A delay range, written `"A..B"` or `"A"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DelayRange {
    /// Shortest.
    pub min: HumanDuration,
    /// Longest.
    pub max: HumanDuration,
}

impl Serialize for DelayRange {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format!(
            "{}ms..{}ms",
            self.min.as_millis(),
            self.max.as_millis()
        ))
    }
}

impl<'de> Deserialize<'de> for DelayRange {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        let parse = |t: &str| {
            crate::duration::parse(t.trim())
                .map(|d| HumanDuration::from_millis(d.as_millis() as u64))
                .map_err(serde::de::Error::custom)
        };
        let (min, max) = match text.split_once("..") {
            Some((a, b)) => (parse(a)?, parse(b)?),
            None => (parse(&text)?, parse(&text)?),
        };
        if min > max {
            return Err(serde::de::Error::custom(format!(
                "delay {text:?}: the first bound exceeds the second"
            )));
        }
        Ok(DelayRange { min, max })
    }
}

/// The subject of an event for `on`, if it is one: the node name it is about.
pub fn subject(on: TriggerEvent, event: &ClusterEventKind) -> Option<String> {
    let broker = |id: i32| Some(format!("broker-{id}"));
    match (on, event) {
        (TriggerEvent::LeaderElected, ClusterEventKind::LeaderElected { leader, .. }) => {
            broker(*leader)
        }
        (TriggerEvent::IsrShrink, ClusterEventKind::IsrChanged { removed, .. }) => {
            removed.first().and_then(|&id| broker(id))
        }
        (TriggerEvent::IsrExpand, ClusterEventKind::IsrChanged { added, .. }) => {
            added.first().and_then(|&id| broker(id))
        }
        (TriggerEvent::BrokerRestart, ClusterEventKind::ProcessRestarted { node })
            if node.starts_with("broker-") =>
        {
            Some(node.clone())
        }
        (TriggerEvent::Truncation, ClusterEventKind::Truncated { broker: id, .. }) => broker(*id),
        (TriggerEvent::ControllerChange, ClusterEventKind::ProcessRestarted { node })
            if node == "controller" =>
        {
            Some(node.clone())
        }
        (TriggerEvent::TxnEnd, ClusterEventKind::EndTxnAnswered { broker: id, .. }) => broker(*id),
        (
            TriggerEvent::TxnCommit,
            ClusterEventKind::EndTxnAnswered {
                broker: id,
                commit: true,
                ..
            },
        ) => broker(*id),
        (TriggerEvent::IsrProposed, ClusterEventKind::IsrProposed { isr, proposed, .. }) => {
            proposed
                .iter()
                .find(|b| !isr.contains(b))
                .or_else(|| isr.iter().find(|b| !proposed.contains(b)))
                .and_then(|&id| broker(id))
        }
        (TriggerEvent::RecordsDeleted, ClusterEventKind::RecordsDeleted { broker: id, .. }) => {
            broker(*id)
        }
        _ => None,
    }
}

/// The triggers of one run and how often each fired.
#[derive(Debug)]
pub struct Triggers {
    /// The scenario's triggers.
    triggers: Vec<Trigger>,
    /// Times each fired.
    fired: Vec<u32>,
    /// The `nemesis/triggers` stream: delays.
    rng: ChaCha8Rng,
    /// The end of the fault phase: a window must heal by then.
    phase_end_ms: u64,
}

impl Triggers {
    /// The triggers of a run.
    pub fn new(triggers: Vec<Trigger>, rng: ChaCha8Rng, phase_end_ms: u64) -> Self {
        let fired = vec![0; triggers.len()];
        Triggers {
            triggers,
            fired,
            rng,
            phase_end_ms,
        }
    }

    /// The windows `event` at `now_ms` fires, in trigger order.
    pub fn fire(&mut self, event: &ClusterEventKind, now_ms: u64) -> Vec<FaultWindow> {
        let mut windows = Vec::new();
        for (i, trigger) in self.triggers.iter().enumerate() {
            if self.fired[i] >= trigger.times || now_ms < trigger.after.as_millis() {
                continue;
            }
            if let Some(wanted) = &trigger.partition {
                let named = event.partition().map(|(t, p)| format!("{t}-{p}"));
                if named.as_ref() != Some(wanted) {
                    continue;
                }
            }
            let Some(subject) = subject(trigger.on, event) else {
                continue;
            };
            let delay = self
                .rng
                .random_range(trigger.delay.min.as_millis()..=trigger.delay.max.as_millis());
            let at = now_ms + delay;
            if at + trigger.duration.as_millis() >= self.phase_end_ms {
                continue;
            }
            let target = match trigger.target.as_str() {
                "subject" | "new-leader" => subject,
                other => other.to_string(),
            };
            self.fired[i] += 1;
            windows.push(FaultWindow {
                at: HumanDuration::from_millis(at),
                duration: trigger.duration,
                kind: trigger.action.kind(),
                targets: vec![target],
            });
        }
        windows
    }
}

/// Draws `count` triggers for the seeded nemesis from the scenario's fault kinds that a
/// trigger can carry out (crash, isolate, pause, power-loss), on any event.
pub fn draw_triggers(
    rng: &mut ChaCha8Rng,
    kinds: &[FaultKind],
    count: u32,
    fault_ms: u64,
) -> Vec<Trigger> {
    let actions: Vec<TriggerAction> = kinds
        .iter()
        .filter_map(|&k| TriggerAction::for_kind(k))
        .collect();
    if actions.is_empty() {
        return Vec::new();
    }
    // The transaction events stay out: drawing from a longer list would move every
    // recorded seed's triggers, and only transactional workloads produce them.
    const EVENTS: [TriggerEvent; 6] = [
        TriggerEvent::LeaderElected,
        TriggerEvent::IsrShrink,
        TriggerEvent::IsrExpand,
        TriggerEvent::BrokerRestart,
        TriggerEvent::Truncation,
        TriggerEvent::ControllerChange,
    ];
    (0..count)
        .map(|_| {
            let on = EVENTS[rng.random_range(0..EVENTS.len())];
            let mut action = actions[rng.random_range(0..actions.len())];
            // A quick restart now and then: back before the session timeout.
            if action == TriggerAction::Crash && rng.random_ratio(1, 3) {
                action = TriggerAction::Restart;
            }
            let duration = if action == TriggerAction::Restart {
                rng.random_range(50..=500)
            } else {
                rng.random_range(fault_ms / 4..=fault_ms).max(1)
            };
            Trigger {
                on,
                action,
                target: "subject".into(),
                delay: DelayRange {
                    min: HumanDuration::from_millis(0),
                    max: HumanDuration::from_millis(rng.random_range(0..=500)),
                },
                duration: HumanDuration::from_millis(duration),
                times: rng.random_range(1..=3),
                after: HumanDuration::from_millis(2_000),
                partition: None,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::seed::stream;

    #[test]
    fn an_election_fires_a_crash_of_the_new_leader_within_the_delay() {
        let trigger: Trigger = toml::from_str(
            "on = \"leader-elected\"\naction = \"crash\"\ntarget = \"new-leader\"\ndelay = \"0ms..200ms\"\nduration = \"1s\"",
        )
        .unwrap();
        let mut triggers = Triggers::new(vec![trigger], stream(1, "nemesis/triggers"), 60_000);
        let elected = ClusterEventKind::LeaderElected {
            partition: ("events".into(), 0),
            leader: 2,
            leader_epoch: 1,
            partition_epoch: 1,
            isr: vec![2, 3],
        };
        assert!(triggers.fire(&elected, 1_000).is_empty(), "before `after`");
        let windows = triggers.fire(&elected, 5_000);
        assert_eq!(windows.len(), 1);
        assert_eq!(windows[0].targets, vec!["broker-2".to_string()]);
        assert_eq!(windows[0].kind, FaultKind::Crash);
        assert!((5_000..=5_200).contains(&windows[0].at.as_millis()));
        assert!(triggers.fire(&elected, 6_000).is_empty(), "fires once");
    }

    #[test]
    fn event_names_are_the_scenario_file_names() {
        for on in TriggerEvent::ALL {
            let parsed: Trigger =
                toml::from_str(&format!("on = \"{}\"\naction = \"crash\"", on.name())).unwrap();
            assert_eq!(parsed.on, on);
        }
    }

    #[test]
    fn isr_changes_name_the_member_that_moved() {
        let change = ClusterEventKind::IsrChanged {
            partition: ("events".into(), 1),
            leader: 1,
            leader_epoch: 0,
            partition_epoch: 2,
            isr: vec![1, 3],
            added: vec![3],
            removed: vec![2],
        };
        assert_eq!(
            subject(TriggerEvent::IsrShrink, &change),
            Some("broker-2".into())
        );
        assert_eq!(
            subject(TriggerEvent::IsrExpand, &change),
            Some("broker-3".into())
        );
        assert_eq!(subject(TriggerEvent::LeaderElected, &change), None);
    }

    #[test]
    fn an_isr_proposal_names_the_member_it_adds_or_else_removes() {
        let proposed = |isr: Vec<i32>, proposed: Vec<i32>| ClusterEventKind::IsrProposed {
            partition: ("events".into(), 0),
            broker: 1,
            leader_epoch: 2,
            partition_epoch: 5,
            isr,
            proposed,
        };
        let on = TriggerEvent::IsrProposed;
        let expand = proposed(vec![1, 3], vec![1, 2, 3]);
        assert_eq!(subject(on, &expand), Some("broker-2".into()));
        let shrink = proposed(vec![1, 2, 3], vec![1, 2]);
        assert_eq!(subject(on, &shrink), Some("broker-3".into()));
        assert_eq!(
            subject(TriggerEvent::IsrExpand, &expand),
            None,
            "not yet applied"
        );
        assert_eq!(expand.name(), "isr-proposed");
        assert_eq!(
            expand.describe(),
            "events-0: broker 1 proposed isr [1, 2, 3] (from [1, 3], leader epoch 2, partition epoch 5)"
        );
    }

    #[test]
    fn an_acknowledged_delete_records_names_its_leader() {
        let deleted = ClusterEventKind::RecordsDeleted {
            partition: ("events".into(), 1),
            broker: 2,
            log_start_offset: 171,
        };
        assert_eq!(
            subject(TriggerEvent::RecordsDeleted, &deleted),
            Some("broker-2".into())
        );
        assert_eq!(subject(TriggerEvent::TxnEnd, &deleted), None);
        let trigger: Trigger =
            toml::from_str("on = \"records-deleted\"\naction = \"crash\"\ndelay = \"0ms..5ms\"")
                .unwrap();
        let mut triggers = Triggers::new(vec![trigger], stream(1, "nemesis/triggers"), 60_000);
        let windows = triggers.fire(&deleted, 5_000);
        assert_eq!(windows.len(), 1);
        assert_eq!(windows[0].targets, vec!["broker-2".to_string()]);
        assert!((5_000..=5_005).contains(&windows[0].at.as_millis()));
    }

    #[test]
    fn an_end_txn_answer_names_its_coordinator_and_txn_commit_ignores_aborts() {
        let answered = |commit| ClusterEventKind::EndTxnAnswered {
            partition: ("__transaction_state".into(), 2),
            broker: 3,
            commit,
        };
        assert_eq!(
            subject(TriggerEvent::TxnEnd, &answered(false)),
            Some("broker-3".into())
        );
        assert_eq!(
            subject(TriggerEvent::TxnCommit, &answered(true)),
            Some("broker-3".into())
        );
        assert_eq!(subject(TriggerEvent::TxnCommit, &answered(false)), None);
        let trigger: Trigger = toml::from_str(
            "on = \"txn-commit\"\naction = \"crash\"\ndelay = \"0ms..50ms\"\npartition = \"__transaction_state-2\"",
        )
        .unwrap();
        let mut triggers = Triggers::new(vec![trigger], stream(1, "nemesis/triggers"), 60_000);
        let windows = triggers.fire(&answered(true), 5_000);
        assert_eq!(windows.len(), 1);
        assert_eq!(windows[0].targets, vec!["broker-3".to_string()]);
        assert!((5_000..=5_050).contains(&windows[0].at.as_millis()));
    }
}
