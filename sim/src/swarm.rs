//! Swarm testing (Groce, Zhang, Eide, Chen, Regehr, "Swarm Testing", ISSTA 2012): rather
//! than every run drawing from every fault kind at once, each seed draws its own
//! configuration — which fault kinds are on, their rates, overlap and random triggers, the
//! workload mix, the cluster's size — within the scenario's bounds. Some features suppress
//! others (a crash-heavy run rarely lets the ISR expand); omitting some per run lets the
//! rest reach deeper.
//!
//! Bounds: a swarm never weakens what the scenario checks. Fault kinds come only from the
//! scenario's list; acks, fsync and min.insync.replicas stay as written (the guarantees the
//! checks hold the broker to); producers may become idempotent (a stronger client), sizes
//! shrink or grow only where the scenario's explicit fault targets stay valid. Scenarios
//! that document an expected loss (`checks.expect`) are left as they are.
//!
//! The draw uses only the seed's `swarm` stream, and the drawn scenario is written to the
//! run folder, so `faultline run FOLDER/scenario.toml --seed N` replays it.

use rand::Rng;
use rand_chacha::ChaCha8Rng;

use crate::duration::HumanDuration;
use crate::scenario::{Codec, Scenario};
use crate::seed::stream;

/// The configuration drawn for one seed.
#[derive(Debug, Clone)]
pub struct Swarmed {
    /// The scenario to run.
    pub scenario: Scenario,
    /// What was drawn, in one line.
    pub summary: String,
}

fn scale(
    rng: &mut ChaCha8Rng,
    value: HumanDuration,
    low_permille: u64,
    high_permille: u64,
) -> HumanDuration {
    let permille = rng.random_range(low_permille..=high_permille);
    HumanDuration::from_millis((value.as_millis() * permille / 1_000).max(1))
}

/// Draws seed `seed`'s configuration of `base`.
pub fn swarm(base: &Scenario, seed: u64) -> Swarmed {
    if !base.checks.expect.is_empty() {
        return Swarmed {
            scenario: base.clone(),
            summary: "as written (an expected-loss scenario)".into(),
        };
    }
    let mut rng = stream(seed, "swarm");
    let mut s = base.clone();
    let mut drawn = Vec::new();
    let faults = &mut s.faults;
    if !faults.kinds.is_empty() {
        let mut kinds: Vec<_> = base.faults.kinds.clone();
        kinds.dedup();
        let mut on: Vec<_> = kinds
            .iter()
            .copied()
            .filter(|_| rng.random_bool(0.5))
            .collect();
        if on.is_empty() {
            on.push(kinds[rng.random_range(0..kinds.len())]);
        }
        faults.kinds = on;
        faults.interval = scale(&mut rng, base.faults.interval, 400, 2_000);
        faults.fault_duration = scale(&mut rng, base.faults.fault_duration, 500, 1_500);
        faults.overlap = base.faults.overlap || rng.random_bool(0.5);
        faults.triggered = base.faults.triggered.max(rng.random_range(0..=3));
        drawn.push(format!(
            "faults [{}] every ~{} ms for ~{} ms{}, {} random trigger(s)",
            faults
                .kinds
                .iter()
                .map(|k| k.name())
                .collect::<Vec<_>>()
                .join(", "),
            faults.interval.as_millis(),
            faults.fault_duration.as_millis(),
            if faults.overlap { ", overlapping" } else { "" },
            faults.triggered
        ));
    }
    let workload = &mut s.workload;
    workload.producers = rng.random_range(1..=base.workload.producers * 2);
    workload.send_interval = scale(&mut rng, base.workload.send_interval, 200, 1_500);
    workload.idempotent = base.workload.idempotent || rng.random_bool(0.3);
    if base.workload.group_consumers > 0 {
        workload.group_consumers = rng.random_range(1..=base.workload.group_consumers + 1);
    }
    drawn.push(format!(
        "{} producer(s) every ~{} ms{}{}",
        workload.producers,
        workload.send_interval.as_millis(),
        if workload.idempotent {
            ", idempotent"
        } else {
            ""
        },
        if base.workload.group_consumers > 0 {
            format!(", {} group member(s)", workload.group_consumers)
        } else {
            String::new()
        }
    ));
    let explicit_targets = !base.faults.schedule.is_empty() || !base.faults.trigger.is_empty();
    if !explicit_targets {
        if base.cluster.brokers == 3 && rng.random_bool(0.3) {
            s.cluster.brokers = 5;
        }
        for topic in &mut s.topics {
            topic.partitions = rng.random_range(1..=topic.partitions.max(1) + 1);
        }
    }
    drawn.push(format!(
        "{} brokers, partitions {:?}",
        s.cluster.brokers,
        s.topics.iter().map(|t| t.partitions).collect::<Vec<_>>()
    ));
    // Features the scenario left off are switched on for some seeds (Groce et al.: a
    // feature a test never enables is a feature it never tests). Each only adds checks:
    // headers the consumers compare, compressed batches that must round-trip, several
    // records per batch, group members whose commits and assignments the group checker
    // judges. Drawn last, so the draws above stay what they were for every seed.
    let features = draw_features(&mut rng, base, &mut s);
    if !features.is_empty() {
        drawn.push(features.join(", "));
    }
    if s.validate().is_err() {
        // A draw the scenario's own rules refuse: fall back to the workload draw only.
        s.cluster = base.cluster.clone();
        s.topics = base.topics.clone();
    }
    Swarmed {
        scenario: s,
        summary: drawn.join("; "),
    }
}

/// Switches on, per seed, workload features `base` leaves off; returns what it switched on.
fn draw_features(rng: &mut ChaCha8Rng, base: &Scenario, s: &mut Scenario) -> Vec<String> {
    let mut on = Vec::new();
    let workload = &mut s.workload;
    if !base.workload.headers && rng.random_bool(0.3) {
        workload.headers = true;
        on.push("headers".to_string());
    }
    if base.workload.compression == Codec::None && rng.random_bool(0.25) {
        let codecs = [Codec::Gzip, Codec::Snappy, Codec::Lz4, Codec::Zstd];
        workload.compression = codecs[rng.random_range(0..codecs.len())];
        on.push(format!("{:?} batches", workload.compression).to_lowercase());
    }
    if base.workload.batch_size == 1 && rng.random_bool(0.25) {
        workload.batch_size = rng.random_range(2..=5);
        on.push(format!("{} records per batch", workload.batch_size));
    }
    // Group members join a workload without transactions or an admin client (those drive
    // their own consumers), and with a group coordinator to fail over like any broker.
    let plain = base.workload.txn.is_none() && base.workload.admin.is_none();
    if plain && base.workload.group_consumers == 0 && rng.random_bool(0.3) {
        workload.group_consumers = rng.random_range(1..=3);
        workload.member_crashes = rng.random_bool(0.5);
        on.push(format!(
            "{} group member(s){}",
            workload.group_consumers,
            if workload.member_crashes {
                " that crash"
            } else {
                ""
            }
        ));
    }
    on
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn base() -> Scenario {
        Scenario::parse(
            "name = \"s\"\n[faults]\nkinds = [\"isolate\", \"crash\", \"pause\"]\n",
            Path::new("s.toml"),
        )
        .unwrap()
    }

    #[test]
    fn a_seed_draws_the_same_configuration_within_the_scenario_bounds() {
        let base = base();
        for seed in 1..50 {
            let a = swarm(&base, seed);
            let b = swarm(&base, seed);
            assert_eq!(a.scenario, b.scenario);
            assert_eq!(a.summary, b.summary);
            let s = a.scenario;
            assert!(!s.faults.kinds.is_empty());
            assert!(s.faults.kinds.iter().all(|k| base.faults.kinds.contains(k)));
            assert_eq!(s.workload.acks, base.workload.acks);
            assert_eq!(
                s.cluster.min_insync_replicas,
                base.cluster.min_insync_replicas
            );
            assert_eq!(s.cluster.fsync, base.cluster.fsync);
            assert!(s.workload.headers >= base.workload.headers);
            assert!(s.workload.group_consumers >= base.workload.group_consumers);
            assert!(s.validate().is_ok());
        }
        let swarmed: Vec<Scenario> = (1..50).map(|seed| swarm(&base, seed).scenario).collect();
        let headers = swarmed.iter().filter(|s| s.workload.headers).count();
        let groups = swarmed
            .iter()
            .filter(|s| s.workload.group_consumers > 0)
            .count();
        let compressed = swarmed
            .iter()
            .filter(|s| s.workload.compression != Codec::None)
            .count();
        // Features the base leaves off are on for some seeds and off for others.
        for (feature, count) in [
            ("headers", headers),
            ("groups", groups),
            ("codec", compressed),
        ] {
            assert!(
                (5..45).contains(&count),
                "{feature}: on for {count} of 49 seeds"
            );
        }
        let distinct: std::collections::BTreeSet<String> =
            (1..50).map(|seed| swarm(&base, seed).summary).collect();
        assert!(distinct.len() > 40, "seeds draw different configurations");
    }

    #[test]
    fn an_expected_loss_scenario_is_left_as_written() {
        let mut base = base();
        base.checks.expect = vec!["lost-write".into()];
        assert_eq!(swarm(&base, 3).scenario, base);
    }
}
