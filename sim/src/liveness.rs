//! Liveness after the heal: within a bound, the cluster must have a live leader for every
//! partition and the final reads must reach the end of every partition (every acknowledged
//! write readable); and by the end of the run every partition's ISR must hold all of its
//! replicas again — a follower that caught up rejoins the ISR (Kafka's replication design:
//! replica.lag.time.max.ms; KIP-497 AlterPartition), so under-replicated partitions return
//! to zero once every broker is back. Safety checkers cannot see a cluster that simply
//! stops, or one that never heals its replication; this does.
//!
//! Jepsen checks the same by requiring final reads to complete after `:final-generator`
//! (jepsen-io/jepsen `tests/kafka.clj`, `final-polls`); a bound makes it a test.

use std::collections::BTreeMap;

use faultline_checker::{Anomaly, AnomalyKind, CheckReport};

/// What the driver observed after the heal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Liveness {
    /// Simulated ns when the fault phase ended (every window is healed by then).
    pub heal_ns: u64,
    /// The scenario's `recovery`: how long leaders may take to be elected.
    pub bound_ns: u64,
    /// The scenario's `workload.final_read_timeout`.
    pub final_read_timeout_ns: u64,
    /// When every partition first had a registered, unfenced leader after the heal.
    pub leaders_elected_ns: Option<u64>,
    /// When every partition's ISR first held all its replicas again after the heal.
    pub isr_restored_ns: Option<u64>,
    /// Whether the final reader read every partition to the end it listed.
    pub final_reads_complete: bool,
    /// When the final reader finished.
    pub final_reads_done_ns: Option<u64>,
    /// What the workload never got done ([`crate::progress::missing`]).
    pub missing_progress: Vec<&'static str>,
}

/// The `liveness` check report.
pub fn check(liveness: &Liveness) -> CheckReport {
    let mut anomalies = Vec::new();
    let deadline = liveness.heal_ns + liveness.bound_ns;
    match liveness.leaders_elected_ns {
        Some(at) if at <= deadline => {}
        Some(at) => anomalies.push(not_recovered(format!(
            "every partition had a live leader only {} ms after the heal; the bound (recovery) is {} ms",
            (at - liveness.heal_ns) / 1_000_000,
            liveness.bound_ns / 1_000_000
        ))),
        None => anomalies.push(not_recovered(format!(
            "some partition never had a live leader after the heal (bound {} ms)",
            liveness.bound_ns / 1_000_000
        ))),
    }
    if liveness.isr_restored_ns.is_none() {
        anomalies.push(not_recovered(
            "some partition was still under-replicated when the run ended: its ISR never regained every replica after the heal".to_string(),
        ));
    }
    if !liveness.final_reads_complete {
        anomalies.push(not_recovered(format!(
            "final reads did not reach the end of every partition within {} ms",
            liveness.final_read_timeout_ns / 1_000_000
        )));
    }
    for what in &liveness.missing_progress {
        anomalies.push(not_recovered(format!(
            "the workload never completed {what}: every safety check passes vacuously on a run that does nothing"
        )));
    }
    let mut stats = BTreeMap::new();
    if let Some(at) = liveness.leaders_elected_ns {
        stats.insert(
            "leaders elected ms after heal".into(),
            at.saturating_sub(liveness.heal_ns) / 1_000_000,
        );
    }
    if let Some(at) = liveness.isr_restored_ns {
        stats.insert(
            "isr restored ms after heal".into(),
            at.saturating_sub(liveness.heal_ns) / 1_000_000,
        );
    }
    if let Some(at) = liveness.final_reads_done_ns {
        stats.insert(
            "final reads done ms after heal".into(),
            at.saturating_sub(liveness.heal_ns) / 1_000_000,
        );
    }
    CheckReport::from_anomalies("liveness", anomalies, stats)
}

fn not_recovered(description: String) -> Anomaly {
    Anomaly {
        kind: AnomalyKind::NotRecovered,
        key: None,
        ops: Vec::new(),
        description,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use faultline_checker::Verdict;

    fn recovered() -> Liveness {
        Liveness {
            heal_ns: 10_000_000_000,
            bound_ns: 5_000_000_000,
            final_read_timeout_ns: 20_000_000_000,
            leaders_elected_ns: Some(11_000_000_000),
            isr_restored_ns: Some(12_000_000_000),
            final_reads_complete: true,
            final_reads_done_ns: Some(16_000_000_000),
            missing_progress: Vec::new(),
        }
    }

    #[test]
    fn a_partition_left_under_replicated_is_not_recovered() {
        let under = Liveness {
            isr_restored_ns: None,
            ..recovered()
        };
        let report = check(&under);
        assert_eq!(report.verdict, Verdict::Invalid);
        assert!(report.anomalies[0].description.contains("under-replicated"));
        assert_eq!(check(&recovered()).verdict, Verdict::Valid);
    }

    #[test]
    fn a_workload_that_got_nothing_done_is_not_a_pass() {
        let idle = Liveness {
            missing_progress: vec!["a send", "a group join"],
            ..recovered()
        };
        let report = check(&idle);
        assert_eq!(report.verdict, Verdict::Invalid);
        assert_eq!(report.anomalies.len(), 2);
        assert!(report.anomalies[1]
            .description
            .contains("never completed a group join"));
    }

    #[test]
    fn a_recovered_cluster_passes_and_a_late_or_stuck_one_does_not() {
        assert_eq!(check(&recovered()).verdict, Verdict::Valid);
        let late = Liveness {
            leaders_elected_ns: Some(15_000_000_001),
            ..recovered()
        };
        assert_eq!(check(&late).anomalies[0].kind, AnomalyKind::NotRecovered);
        let stuck = Liveness {
            final_reads_complete: false,
            ..recovered()
        };
        assert_eq!(check(&stuck).verdict, Verdict::Invalid);
    }
}
