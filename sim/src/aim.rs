//! Event-directed mutation for `explore --guided`: a new `[[faults.trigger]]` keyed on a
//! cluster event that a corpus entry's run actually reached ("the ISR shrank after 2 s",
//! "a follower truncated"), striking the event's subject or the partition's leader after a
//! seeded delay, with a fault kind from the scenario's own kinds. Mutating a time schedule
//! rarely lands a fault at such a moment (the unclean election needs the leader to fail
//! while its only in-sync follower is already out); a trigger lands it every time the
//! event recurs. Antithesis calls this "fault injection at the interesting moment"; the
//! trigger machinery is `nemesis/trigger.rs`.
//!
//! Bounds, as swarm's: fault kinds come only from the scenario (its `kinds` and the kinds
//! of its explicit windows); a power loss is aimed only where the scenario already lets
//! faults overlap or fsyncs every append (a triggered window may overlap a scheduled one,
//! and two overlapping power losses under `fsync = "never"` lose acknowledged writes by
//! design, which would be a false alarm, not a bug); scenarios that document an expected
//! loss (`checks.expect`) are left as they are. The mutation is a pure function of the
//! rng, so the guided stream replays it, and the mutated scenario is written to the run's
//! folder like any other.

use rand::Rng;

use crate::duration::HumanDuration;
use crate::nemesis::trigger::{DelayRange, Trigger, TriggerAction, TriggerEvent, DEFAULT_AFTER_MS};
use crate::nemesis::FaultKind;
use crate::scenario::{Acks, Fsync, FsyncName, Scenario};

/// At most this many triggers in a mutated scenario; past it an aimed trigger replaces a
/// random one, so chains of mutations do not pile up faults until nothing else happens.
pub const MAX_TRIGGERS: usize = 8;

/// The trigger actions a scenario's fault kinds allow an aimed trigger to carry out.
pub fn aimable_actions(scenario: &Scenario) -> Vec<TriggerAction> {
    if !scenario.checks.expect.is_empty() {
        return Vec::new();
    }
    let power_loss_allowed =
        scenario.faults.overlap || scenario.cluster.fsync == Fsync::Policy(FsyncName::Always);
    let mut kinds: Vec<FaultKind> = scenario.faults.kinds.clone();
    kinds.extend(scenario.faults.schedule.iter().map(|w| w.kind));
    let mut actions: Vec<TriggerAction> = kinds
        .into_iter()
        .filter_map(TriggerAction::for_kind)
        .filter(|&a| a != TriggerAction::PowerLoss || power_loss_allowed)
        .collect();
    actions.sort();
    actions.dedup();
    actions
}

/// Whether a mutation may add a fault that strikes a leader: not under acks=1 or 0, where a
/// leader that fails before its followers copy a write loses it by design (Kafka docs,
/// `acks`), so such a fault would be a false alarm; there mutations strike followers.
pub fn may_strike_leaders(scenario: &Scenario) -> bool {
    scenario.workload.acks == Acks::All
}

/// `scenario` with one more trigger aimed at one of `reached` (the trigger events its run
/// reached, `coverage::trigger_events`), or `None` when there is nothing to aim at, no
/// fault kind to aim with, or the result would not validate.
pub fn aim(rng: &mut impl Rng, scenario: &Scenario, reached: &[TriggerEvent]) -> Option<Scenario> {
    let actions = aimable_actions(scenario);
    if reached.is_empty() || actions.is_empty() {
        return None;
    }
    let on = reached[rng.random_range(0..reached.len())];
    let mut action = actions[rng.random_range(0..actions.len())];
    // A quick restart now and then: back before the controller's session timeout, as the
    // seeded nemesis draws them (`draw_triggers`).
    if action == TriggerAction::Crash && rng.random_ratio(1, 3) {
        action = TriggerAction::Restart;
    }
    // The subject (the new leader, the member removed or added, the restarted or
    // truncating broker) or the leader at strike time: "the ISR shrank, now the leader
    // fails" is the unclean-election moment (Jepsen 2013, "Call me maybe: Kafka").
    let target = if !may_strike_leaders(scenario) {
        // The subject may be a new leader.
        "follower"
    } else if rng.random_ratio(1, 2) {
        "subject"
    } else {
        "leader"
    };
    let phase_ms = scenario.duration.as_millis();
    let longest = phase_ms.saturating_sub(DEFAULT_AFTER_MS + 1).max(1);
    let duration_ms = if action == TriggerAction::Restart {
        rng.random_range(50..=500)
    } else {
        let typical = scenario.faults.fault_duration.as_millis().max(100);
        rng.random_range(typical / 2..=typical * 3 / 2)
    }
    .min(longest);
    let trigger = Trigger {
        on,
        action,
        target: target.into(),
        delay: DelayRange {
            min: HumanDuration::from_millis(0),
            max: HumanDuration::from_millis(rng.random_range(0..=500)),
        },
        duration: HumanDuration::from_millis(duration_ms),
        times: rng.random_range(1..=3),
        after: HumanDuration::from_millis(DEFAULT_AFTER_MS),
        partition: None,
    };
    let mut aimed = scenario.clone();
    if aimed.faults.trigger.len() >= MAX_TRIGGERS {
        let replaced = rng.random_range(0..aimed.faults.trigger.len());
        aimed.faults.trigger[replaced] = trigger;
    } else {
        aimed.faults.trigger.push(trigger);
    }
    aimed.validate().ok().map(|()| aimed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::seed::stream;
    use std::path::Path;

    fn scenario(extra: &str) -> Scenario {
        Scenario::parse(&format!("name = \"s\"\n{extra}"), Path::new("s.toml")).unwrap()
    }

    #[test]
    fn an_aimed_trigger_waits_for_a_reached_event_with_a_kind_of_the_scenario() {
        let base = scenario("[faults]\nkinds = [\"crash\", \"latency\"]\n");
        let reached = [TriggerEvent::IsrShrink, TriggerEvent::Truncation];
        let mut rng = stream(7, "guided");
        for _ in 0..50 {
            let aimed = aim(&mut rng, &base, &reached).expect("crash is aimable");
            assert_eq!(aimed.faults.trigger.len(), 1);
            let trigger = &aimed.faults.trigger[0];
            assert!(reached.contains(&trigger.on), "{trigger:?}");
            assert!(
                matches!(
                    trigger.action,
                    TriggerAction::Crash | TriggerAction::Restart
                ),
                "latency cannot be triggered: {trigger:?}"
            );
            assert!(["subject", "leader"].contains(&trigger.target.as_str()));
            assert!(trigger.delay.max.as_millis() <= 500);
            assert!((1..=3).contains(&trigger.times));
            assert_eq!(
                aimed.faults.kinds, base.faults.kinds,
                "only a trigger is added"
            );
        }
    }

    /// acks=1: a leader that fails before its followers copy a write loses it by design
    /// (Kafka docs, `acks`), so an aimed trigger there strikes a follower, never the leader
    /// or a subject that may be a new leader.
    #[test]
    fn under_acks_one_only_followers_are_struck() {
        let base = scenario("[workload]\nacks = \"1\"\n[faults]\nkinds = [\"crash\", \"pause\"]\n");
        let mut rng = stream(5, "guided");
        for _ in 0..30 {
            let aimed = aim(&mut rng, &base, &TriggerEvent::ALL).expect("aimable");
            assert_eq!(aimed.faults.trigger[0].target, "follower");
        }
    }

    #[test]
    fn the_same_rng_aims_the_same_trigger() {
        let base = scenario("[faults]\nkinds = [\"isolate\", \"crash\", \"pause\"]\n");
        let reached = TriggerEvent::ALL;
        let a = aim(&mut stream(3, "guided"), &base, &reached);
        let b = aim(&mut stream(3, "guided"), &base, &reached);
        assert_eq!(a, b);
        let text = toml::to_string(&a.unwrap()).unwrap();
        let reparsed = Scenario::parse(&text, Path::new("s.toml")).unwrap();
        assert_eq!(Some(reparsed), b, "the folder's scenario.toml replays it");
    }

    #[test]
    fn nothing_is_aimed_without_an_event_a_kind_or_at_an_expected_loss() {
        let mut rng = stream(1, "guided");
        let faults = scenario("[faults]\nkinds = [\"crash\"]\n");
        assert!(aim(&mut rng, &faults, &[]).is_none(), "no event reached");
        let untriggerable = scenario("[faults]\nkinds = [\"latency\", \"loss\"]\n");
        assert!(aim(&mut rng, &untriggerable, &TriggerEvent::ALL).is_none());
        let expected = scenario(
            "[faults]\nkinds = [\"crash\"]\n[checks]\nlog = true\nexpect = [\"lost-write\"]\n",
        );
        assert!(aim(&mut rng, &expected, &TriggerEvent::ALL).is_none());
    }

    #[test]
    fn power_loss_is_aimed_only_where_faults_may_overlap_or_every_append_is_synced() {
        let never = scenario("[faults]\nkinds = [\"power-loss\"]\n");
        assert!(aimable_actions(&never).is_empty());
        let overlapping = scenario("[faults]\nkinds = [\"power-loss\"]\noverlap = true\n");
        assert_eq!(
            aimable_actions(&overlapping),
            vec![TriggerAction::PowerLoss]
        );
        let synced =
            scenario("[cluster]\nfsync = \"always\"\n[faults]\nkinds = [\"power-loss\"]\n");
        assert_eq!(aimable_actions(&synced), vec![TriggerAction::PowerLoss]);
    }

    #[test]
    fn triggers_stop_piling_up_at_the_cap() {
        let mut scenario = scenario("[faults]\nkinds = [\"pause\"]\n");
        let mut rng = stream(9, "guided");
        for _ in 0..3 * MAX_TRIGGERS {
            scenario = aim(&mut rng, &scenario, &[TriggerEvent::LeaderElected]).unwrap();
        }
        assert_eq!(scenario.faults.trigger.len(), MAX_TRIGGERS);
    }
}
