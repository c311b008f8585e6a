//! From the fault workload's checker reports to certificate properties: each property is
//! a family of anomalies from the same checkers the simulation uses, with the anomalies'
//! history ops as evidence.

use faultline_checker::history::{Function, History, Key, MicroOp, Op, OpType, OpValue};
use faultline_checker::{Anomaly, AnomalyKind, CheckReport};
use faultline_workload::client::{group, FETCH_VERSION, PRODUCE_VERSION};

use super::fault_table::{Checker, FaultProperty, PROPERTIES};
use super::live::{excerpt, LiveFault, LiveOutcome};
use super::model::{Category, Evidence, Exchange, PropertyResult, Status};

/// The certificate property that judges each anomaly kind, or why none does.
/// Exhaustive on purpose: a new anomaly kind does not compile until it is given a
/// property here (and a line in `PROPERTIES`) or a reason to have none.
pub fn property_of(kind: AnomalyKind) -> Result<&'static str, &'static str> {
    use AnomalyKind::*;
    match kind {
        LostWrite | Unseen => Ok("faults.no-lost-writes"),
        InconsistentOffsets => Ok("faults.consistent-offsets"),
        Duplicate => Ok("faults.no-duplicates"),
        AbortedRead | Phantom => Ok("faults.no-aborted-or-phantom-reads"),
        NonmonotonicPoll | PollSkip | IntNonmonotonicPoll | IntPollSkip => {
            Ok("faults.monotonic-polls")
        }
        NonmonotonicSend | IntNonmonotonicSend => Ok("faults.ordered-sends"),
        OverlappingAssignment => Ok("groups.exclusive-assignment"),
        FencedCommit => Ok("groups.fenced-commits"),
        LostCommit | CommittedOffsetRegression => Ok("groups.durable-commits"),
        UnprocessedRecord | UnownedPartition => Ok("groups.at-least-once"),
        // `recovery` judges the live run's final reads directly.
        NotRecovered => Ok("faults.recovers"),
        IntSendSkip => Err("allowed, as in Jepsen: other producers' records may land between two sends of one op"),
        Protocol => Err("judged from the answering broker's internal state, which only the simulation sees; a live target shows it only through client-visible anomalies"),
        Invariant => Err("judged from the brokers' internal state, which only the simulation sees; a live target shows it only through client-visible anomalies"),
        Nonlinearizable => Err("the fault workload records queue ops, which the log checker judges; the linearizability engine serves `faultline check`"),
        // Transactions (KIP-98, KIP-447), judged by the transaction checker when the
        // certify scenario has `[workload.txn]`.
        IntermediateRead => Ok("txn.no-intermediate-reads"),
        CyclicInformationFlow => Ok("txn.no-cyclic-information-flow"),
        PrecommittedRead => Ok("txn.no-precommitted-reads"),
        ZombieWrite => Ok("txn.no-zombie-writes"),
        NonAtomicOffsetCommit => Ok("txn.offsets-commit-with-writes"),
        LogStartRegression | LatestOffsetOutOfBounds | WrongTimestampOffset => Err("judged from the simulation's admin client (DeleteRecords, ListOffsets under faults), which the live fault workload does not run; the model-based suite checks ListOffsets answers against its model"),
        WriteCycle => Err("allowed, as in Jepsen (allowed-error-types): Kafka does not isolate writes, so write cycles between transactions are normal"),
    }
}

/// Evidence for up to this many anomalies per property.
pub const EVIDENCE_PER_PROPERTY: usize = 5;

/// What the fault workload did, for judging.
pub struct Judged<'a> {
    /// The run.
    pub outcome: &'a LiveOutcome,
    /// The log checker's report.
    pub log: &'a CheckReport,
    /// The group checker's report, when group members ran.
    pub group: Option<&'a CheckReport>,
    /// The transaction checker's report, or why no transactions ran.
    pub txn: Result<&'a CheckReport, String>,
    /// Faults the schedule could draw from.
    pub ran: &'a [LiveFault],
    /// Faults the schedule actually applied, in order.
    pub applied: &'a [LiveFault],
    /// Faults that could not run, and why.
    pub skipped: &'a [(LiveFault, String)],
    /// How many brokers Metadata reported.
    pub brokers: usize,
    /// How many target-file nodes faultline can crash on their own (own process control).
    pub crashable_nodes: usize,
    /// The rerun command, for every FAIL.
    pub rerun: &'a str,
    /// A Fetch made after the run for each log anomaly shown, indexed like
    /// `log.anomalies`.
    pub probes: &'a [Option<Exchange>],
}

/// The fault-workload properties.
pub fn fault_properties(judged: &Judged<'_>) -> Vec<PropertyResult> {
    let faults = if judged.ran.is_empty() {
        "no faults".to_string()
    } else {
        judged
            .ran
            .iter()
            .map(|f| f.name())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let sends = judged.log.stats.get("acknowledged").copied();
    let transactions = judged
        .txn
        .as_ref()
        .ok()
        .and_then(|r| r.stats.get("transactions"));
    let mut properties = Vec::new();
    for property in PROPERTIES {
        let report = match judging(judged, property) {
            Ok(report) => report,
            Err(why) => {
                properties.push(PropertyResult::not_applicable(
                    property.id,
                    property.title,
                    Category::Faults,
                    property.citation,
                    why,
                ));
                continue;
            }
        };
        let found: Vec<&Anomaly> = report
            .anomalies
            .iter()
            .filter(|a| property.kinds.contains(&a.kind))
            .collect();
        let status = if found.is_empty() {
            Status::Pass
        } else {
            Status::Fail
        };
        let detail = if found.is_empty() {
            format!(
                "The {} checker found none of {} over {} ops{} with faults drawn from: {faults}.",
                report.checker,
                kinds_text(property.kinds),
                judged.outcome.history.ops.len(),
                match (property.checker, transactions) {
                    (Checker::Txn, Some(n)) => format!(" ({n} transactions)"),
                    _ => sends.map_or(String::new(), |n| format!(" ({n} acknowledged sends)")),
                },
            )
        } else {
            format!(
                "The {} checker found {} anomal{} ({}) with faults drawn from: {faults}. Rerun: {}",
                report.checker,
                found.len(),
                if found.len() == 1 { "y" } else { "ies" },
                kinds_found(&found),
                judged.rerun
            )
        };
        let evidence = found
            .iter()
            .take(EVIDENCE_PER_PROPERTY)
            .map(|anomaly| anomaly_evidence(judged, anomaly))
            .collect();
        properties.push(PropertyResult {
            id: property.id.to_string(),
            title: property.title.to_string(),
            category: Category::Faults,
            citation: property.citation.to_string(),
            status,
            detail,
            evidence,
        });
    }
    properties.push(recovery(judged));
    properties.push(crash_durability(judged));
    properties.push(replicated_durability(judged));
    properties
}

/// The report that judges `property`, or why it is NOT APPLICABLE.
fn judging<'a>(judged: &Judged<'a>, property: &FaultProperty) -> Result<&'a CheckReport, String> {
    match property.checker {
        Checker::Log => Ok(judged.log),
        Checker::Group => match judged.group {
            Some(report) if report.stats.get("joins").copied().unwrap_or(0) == 0 => Err(
                "no group member ever completed a JoinGroup, so no generation formed to judge (the groups suite shows why)".into(),
            ),
            Some(report) => Ok(report),
            None => Err("the workload ran no consumer-group members".into()),
        },
        Checker::Txn => match &judged.txn {
            // Only committed transactions are read at read_committed: with none, every
            // property would pass with nothing to judge.
            Ok(report) if committed(report) == 0 => Err(format!(
                "no transaction committed ({} ended without a commit): nothing to judge; the history shows why",
                report.stats.get("transactions").copied().unwrap_or(0)
            )),
            Ok(report) => Ok(report),
            Err(why) => Err(why.clone()),
        },
    }
}

/// Transactions whose commit was acknowledged or may have been (not recorded `fail`).
fn committed(report: &CheckReport) -> u64 {
    let count = |key: &str| report.stats.get(key).copied().unwrap_or(0);
    count("transactions").saturating_sub(count("transactions aborted"))
}

fn kinds_text(kinds: &[AnomalyKind]) -> String {
    kinds
        .iter()
        .map(|k| k.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

fn kinds_found(found: &[&Anomaly]) -> String {
    let mut kinds: Vec<AnomalyKind> = found.iter().map(|a| a.kind).collect();
    kinds.sort();
    kinds.dedup();
    kinds_text(&kinds)
}

/// Final reads reached every partition's end after the heal (Jepsen's final polls).
fn recovery(judged: &Judged<'_>) -> PropertyResult {
    let mut evidence = Vec::new();
    let status = if judged.outcome.final_reads_complete {
        Status::Pass
    } else {
        evidence.push(Evidence {
            summary: "final reads did not reach every partition's log end within the final-read timeout after the heal".into(),
            exchanges: Vec::new(),
            history: judged
                .outcome
                .history
                .ops
                .iter()
                .rev()
                .take(6)
                .rev()
                .map(|op| op.to_json().to_string())
                .collect(),
        });
        Status::Fail
    };
    let mut detail = if judged.outcome.final_reads_complete {
        "After the faults healed, final reads listed and read every partition to its end."
            .to_string()
    } else {
        format!(
            "After the faults healed, final reads did not get to every partition's end. Rerun: {}",
            judged.rerun
        )
    };
    if !judged.outcome.fault_errors.is_empty() {
        detail.push_str(&format!(
            " Fault commands that failed: {}.",
            judged.outcome.fault_errors.join("; ")
        ));
    }
    PropertyResult {
        id: "faults.recovers".into(),
        title: "After the faults heal, every partition serves reads to its end".into(),
        category: Category::Faults,
        citation: "Jepsen kafka.clj final polls; faultline liveness (not-recovered)".into(),
        status,
        detail,
        evidence,
    }
}

/// Acknowledged writes a crash lost: never read back, or replaced at their offset by
/// another record once the restarted broker reused it (Jepsen reports that one as
/// inconsistent-offsets).
fn lost_writes<'a>(judged: &Judged<'a>) -> Vec<&'a Anomaly> {
    judged
        .log
        .anomalies
        .iter()
        .filter(|a| {
            matches!(
                a.kind,
                AnomalyKind::LostWrite | AnomalyKind::Unseen | AnomalyKind::InconsistentOffsets
            )
        })
        .collect()
}

/// Acknowledged writes survive `kill -9` and a restart of a broker process.
fn crash_durability(judged: &Judged<'_>) -> PropertyResult {
    let id = "faults.survives-process-crash";
    let title = "Acknowledged writes survive kill -9 and a restart of a broker process";
    let citation =
        "Kafka protocol guide, Produce `acks`; Jepsen kafka.clj :lost-write under process crashes";
    if let Some((_, why)) = judged.skipped.iter().find(|(f, _)| *f == LiveFault::Crash) {
        return PropertyResult::not_applicable(id, title, Category::Faults, citation, why.clone());
    }
    if !judged.applied.contains(&LiveFault::Crash) {
        return PropertyResult::not_applicable(
            id,
            title,
            Category::Faults,
            citation,
            "the seed's fault schedule applied no crash (try another seed or --fault crash)",
        );
    }
    verdict_from_losses(judged, id, title, citation, "with kill -9 and restarts")
}

/// With replicas on other brokers, acknowledged writes survive losing one broker.
fn replicated_durability(judged: &Judged<'_>) -> PropertyResult {
    let id = "faults.replicated-durability";
    let title = "With acks=all, acknowledged writes survive the loss of a replica's broker";
    let citation =
        "Kafka replication design (ISR, min.insync.replicas); Kafka protocol guide, Produce `acks`";
    if judged.brokers < 2 {
        return PropertyResult::not_applicable(
            id,
            title,
            Category::Faults,
            citation,
            format!(
                "Metadata reports {} broker: a single node has no replication",
                judged.brokers
            ),
        );
    }
    if judged.crashable_nodes < 2 || !judged.applied.contains(&LiveFault::Crash) {
        return PropertyResult::not_applicable(
            id,
            title,
            Category::Faults,
            citation,
            "no broker was crashed on its own (crash faults need per-node process control, durable storage, and a schedule that draws one)",
        );
    }
    verdict_from_losses(
        judged,
        id,
        title,
        citation,
        "with brokers crashed one at a time",
    )
}

fn verdict_from_losses(
    judged: &Judged<'_>,
    id: &str,
    title: &str,
    citation: &str,
    how: &str,
) -> PropertyResult {
    let losses = lost_writes(judged);
    let (status, detail) = if losses.is_empty() {
        (
            Status::Pass,
            format!("No acknowledged write was lost {how}."),
        )
    } else {
        (
            Status::Fail,
            format!(
                "{} acknowledged write(s) lost {how}. Rerun: {}",
                losses.len(),
                judged.rerun
            ),
        )
    };
    PropertyResult {
        id: id.to_string(),
        title: title.to_string(),
        category: Category::Faults,
        citation: citation.to_string(),
        status,
        detail,
        evidence: losses
            .iter()
            .take(EVIDENCE_PER_PROPERTY)
            .map(|a| anomaly_evidence(judged, a))
            .collect(),
    }
}

/// An anomaly's evidence: its description, its history ops, the requests and responses
/// those ops were (each op is one request of faultline's client, recorded on invoke and
/// on completion), and for a log anomaly its post-run probe, when one was made.
fn anomaly_evidence(judged: &Judged<'_>, anomaly: &Anomaly) -> Evidence {
    let history = &judged.outcome.history;
    let mut exchanges = history_exchanges(history, &anomaly.ops);
    let probe = judged
        .log
        .anomalies
        .iter()
        .position(|a| std::ptr::eq(a, anomaly))
        .and_then(|i| judged.probes.get(i).cloned().flatten());
    exchanges.extend(probe);
    Evidence {
        summary: format!("{}: {}", anomaly.kind, anomaly.description),
        exchanges,
        history: excerpt(history, &anomaly.ops),
    }
}

/// The API and version faultline's client used for an op's function.
fn api_of(f: Function) -> Option<(&'static str, i16)> {
    match f {
        Function::Send => Some(("Produce (0)", PRODUCE_VERSION)),
        Function::Poll => Some(("Fetch (1)", FETCH_VERSION)),
        Function::Commit => Some(("OffsetCommit (8)", group::OFFSET_COMMIT_VERSION)),
        Function::FetchCommitted => Some(("OffsetFetch (9)", group::OFFSET_FETCH_VERSION)),
        Function::Join => Some(("JoinGroup (11)", group::JOIN_GROUP_VERSION)),
        // One op is the whole transaction; its end is the request that decides it.
        Function::Txn => Some((
            "a transaction, InitProducerId to EndTxn (26)",
            faultline_workload::client::txn::END_TXN_VERSION,
        )),
        Function::DeleteRecords => Some((
            "DeleteRecords (21)",
            faultline_workload::client::admin::DELETE_RECORDS_VERSION,
        )),
        Function::ListOffsets => Some((
            "ListOffsets (2)",
            faultline_workload::client::admin::LIST_OFFSETS_ADMIN_VERSION,
        )),
        Function::Assign | Function::Subscribe | Function::StartFault | Function::StopFault => None,
    }
}

/// The invoke/completion pairs of the ops at `indices`, as exchanges: the request as the
/// client recorded it on invoke, the response as recorded on completion.
fn history_exchanges(history: &History, indices: &[u64]) -> Vec<Exchange> {
    let mut pairs: Vec<(u64, Option<u64>)> = Vec::new();
    for &index in indices {
        let Some(op) = history.ops.get(index as usize) else {
            continue;
        };
        let same_process = |other: &&Op| other.process == op.process;
        let pair = if op.kind == OpType::Invoke {
            let done = history.ops[index as usize + 1..]
                .iter()
                .find(same_process)
                .filter(|o| o.kind != OpType::Invoke)
                .map(|o| o.index);
            (index, done)
        } else {
            let invoke = history.ops[..index as usize]
                .iter()
                .rev()
                .find(same_process)
                .filter(|o| o.kind == OpType::Invoke)
                .map_or(index, |o| o.index);
            (invoke, Some(index))
        };
        if !pairs.contains(&pair) {
            pairs.push(pair);
        }
    }
    pairs
        .into_iter()
        .filter_map(|(invoke, done)| {
            let request = &history.ops[invoke as usize];
            let (api, version) = api_of(request.f)?;
            let response = match done.map(|d| &history.ops[d as usize]) {
                Some(op) => op.to_json().to_string(),
                None => "no completion recorded (the run ended first)".to_string(),
            };
            Some(Exchange {
                broker: format!(
                    "through the proxy, from client process {:?}",
                    request.process
                ),
                api: api.to_string(),
                version,
                request: request.to_json().to_string(),
                response,
                at_ms: request.time / 1_000_000,
            })
        })
        .collect()
}

/// The lowest offset of partition `key` that the anomaly's ops mention: where a probe
/// Fetch should start to show the broker's log as it is now.
pub fn offset_of_interest(history: &History, anomaly: &Anomaly) -> Option<(Key, i64)> {
    let key = anomaly.key?;
    let mut lowest: Option<i64> = None;
    for &index in &anomaly.ops {
        let Some(op) = history.ops.get(index as usize) else {
            continue;
        };
        let OpValue::MicroOps(micro) = &op.value else {
            continue;
        };
        for m in micro {
            let offsets: Vec<i64> = match m {
                MicroOp::Send {
                    key: k,
                    offset: Some(o),
                    ..
                } if *k == key => vec![*o],
                MicroOp::Poll { reads: Some(reads) } => reads
                    .get(&key)
                    .map(|r| r.iter().map(|(o, _)| *o).collect())
                    .unwrap_or_default(),
                _ => Vec::new(),
            };
            for o in offsets {
                lowest = Some(lowest.map_or(o, |l| l.min(o)));
            }
        }
    }
    lowest.map(|o| (key, o))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    use faultline_checker::Verdict;

    fn anomaly(kind: AnomalyKind) -> Anomaly {
        Anomaly {
            kind,
            key: Some(0),
            ops: Vec::new(),
            description: format!("a {kind}"),
        }
    }

    fn report(checker: &str, anomalies: Vec<Anomaly>, joins: u64) -> CheckReport {
        CheckReport {
            checker: checker.into(),
            verdict: if anomalies.is_empty() {
                Verdict::Valid
            } else {
                Verdict::Invalid
            },
            anomalies,
            stats: BTreeMap::from([("joins".to_string(), joins)]),
        }
    }

    const NO_TXN: &str = "the workload ran no transactions";

    fn txn_report(anomalies: Vec<Anomaly>, transactions: u64) -> CheckReport {
        let mut txn = report("txn", anomalies, 0);
        txn.stats.insert("transactions".into(), transactions);
        txn
    }

    fn outcome(final_reads_complete: bool) -> LiveOutcome {
        LiveOutcome {
            history: History::default(),
            faults: Vec::new(),
            fault_errors: Vec::new(),
            applied: Vec::new(),
            final_reads_complete,
        }
    }

    /// Judges one run: `log` anomalies, an optional group report, the faults applied,
    /// brokers and crashable nodes; returns each property's status by id.
    #[allow(clippy::too_many_arguments)]
    fn statuses(
        log: Vec<Anomaly>,
        group: Option<CheckReport>,
        txn: Result<CheckReport, String>,
        applied: &[LiveFault],
        skipped: &[(LiveFault, String)],
        brokers: usize,
        crashable_nodes: usize,
        complete: bool,
    ) -> BTreeMap<String, Status> {
        let outcome = outcome(complete);
        let log = report("log", log, 0);
        let judged = Judged {
            outcome: &outcome,
            log: &log,
            group: group.as_ref(),
            txn: txn.as_ref().map_err(|why| why.clone()),
            ran: applied,
            applied,
            skipped,
            brokers,
            crashable_nodes,
            rerun: "faultline certify --target t.toml --seed 1",
            probes: &[],
        };
        fault_properties(&judged)
            .into_iter()
            .map(|p| (p.id, p.status))
            .collect()
    }

    #[test]
    fn a_clean_run_with_crashes_passes_every_property() {
        let found = statuses(
            Vec::new(),
            Some(report("group", Vec::new(), 3)),
            Ok(txn_report(Vec::new(), 5)),
            &[LiveFault::Crash, LiveFault::Partition],
            &[],
            3,
            3,
            true,
        );
        for (id, status) in &found {
            assert_eq!(*status, Status::Pass, "{id}");
        }
        assert!(found.contains_key("faults.survives-process-crash"));
        assert!(found.contains_key("faults.replicated-durability"));
    }

    #[test]
    fn each_anomaly_fails_its_own_property_and_no_other() {
        for kind in AnomalyKind::ALL {
            let Ok(id) = property_of(kind) else { continue };
            if id == "faults.recovers" {
                continue;
            }
            let (mut log, mut group, mut txn) = (Vec::new(), Vec::new(), Vec::new());
            if id.starts_with("groups.") {
                group.push(anomaly(kind));
            } else if id.starts_with("txn.") {
                txn.push(anomaly(kind));
            } else {
                log.push(anomaly(kind));
            }
            let group = Some(report("group", group, 2));
            let txn = Ok(txn_report(txn, 5));
            let found = statuses(log, group, txn, &[LiveFault::Pause], &[], 3, 0, true);
            for (property, status) in &found {
                let expected = if property == id {
                    Status::Fail
                } else {
                    Status::Pass
                };
                if matches!(
                    property.as_str(),
                    "faults.survives-process-crash" | "faults.replicated-durability"
                ) {
                    // No crash was applied: these are not applicable whatever was found.
                    assert_eq!(*status, Status::NotApplicable, "{kind}: {property}");
                    continue;
                }
                assert_eq!(*status, expected, "{kind}: {property}");
            }
        }
    }

    #[test]
    fn losses_under_crashes_fail_both_durability_properties() {
        let found = statuses(
            vec![anomaly(AnomalyKind::LostWrite)],
            None,
            Err(NO_TXN.into()),
            &[LiveFault::Crash],
            &[],
            3,
            3,
            true,
        );
        assert_eq!(found["faults.survives-process-crash"], Status::Fail);
        assert_eq!(found["faults.replicated-durability"], Status::Fail);
        assert_eq!(found["faults.no-lost-writes"], Status::Fail);
    }

    #[test]
    fn durability_claims_need_the_faults_that_test_them() {
        // One broker: replication does not apply; crash was skipped with a reason.
        let skipped = [(LiveFault::Crash, "durable = false".to_string())];
        let found = statuses(
            Vec::new(),
            None,
            Err(NO_TXN.into()),
            &[],
            &skipped,
            1,
            0,
            true,
        );
        assert_eq!(
            found["faults.survives-process-crash"],
            Status::NotApplicable
        );
        assert_eq!(found["faults.replicated-durability"], Status::NotApplicable);
        // Crashes applied, but only one node crashable on its own: not replicated durability.
        let found = statuses(
            Vec::new(),
            None,
            Err(NO_TXN.into()),
            &[LiveFault::Crash],
            &[],
            3,
            1,
            true,
        );
        assert_eq!(found["faults.survives-process-crash"], Status::Pass);
        assert_eq!(found["faults.replicated-durability"], Status::NotApplicable);
    }

    #[test]
    fn group_properties_need_a_generation() {
        let found = statuses(Vec::new(), None, Err(NO_TXN.into()), &[], &[], 3, 0, true);
        assert_eq!(found["groups.fenced-commits"], Status::NotApplicable);
        let never_joined = Some(report("group", Vec::new(), 0));
        let found = statuses(
            Vec::new(),
            never_joined,
            Err(NO_TXN.into()),
            &[],
            &[],
            3,
            0,
            true,
        );
        assert_eq!(found["groups.exclusive-assignment"], Status::NotApplicable);
    }

    #[test]
    fn txn_properties_need_transactions() {
        let found = statuses(Vec::new(), None, Err(NO_TXN.into()), &[], &[], 3, 0, true);
        assert_eq!(found["txn.no-zombie-writes"], Status::NotApplicable);
        let none_ran = Ok(txn_report(Vec::new(), 0));
        let found = statuses(Vec::new(), None, none_ran, &[], &[], 3, 0, true);
        assert_eq!(
            found["txn.no-cyclic-information-flow"],
            Status::NotApplicable
        );
        let clean = Ok(txn_report(Vec::new(), 9));
        let found = statuses(Vec::new(), None, clean, &[], &[], 3, 0, true);
        assert_eq!(found["txn.offsets-commit-with-writes"], Status::Pass);
    }

    #[test]
    fn unfinished_final_reads_fail_recovery() {
        let found = statuses(Vec::new(), None, Err(NO_TXN.into()), &[], &[], 3, 0, false);
        assert_eq!(found["faults.recovers"], Status::Fail);
        let found = statuses(Vec::new(), None, Err(NO_TXN.into()), &[], &[], 3, 0, true);
        assert_eq!(found["faults.recovers"], Status::Pass);
    }

    /// Every anomaly kind maps to a property that lists it (or says why it has none), and
    /// every property lists only kinds that map back to it.
    #[test]
    fn every_anomaly_kind_maps_to_a_certify_property() {
        for kind in AnomalyKind::ALL {
            match property_of(kind) {
                Ok("faults.recovers") => {}
                Ok(id) => {
                    let property = PROPERTIES
                        .iter()
                        .find(|p| p.id == id)
                        .unwrap_or_else(|| panic!("{kind} maps to {id}, which is not a property"));
                    assert!(property.kinds.contains(&kind), "{id} does not list {kind}");
                }
                Err(why) => assert!(!why.is_empty()),
            }
        }
        for property in PROPERTIES {
            for &kind in property.kinds {
                assert_eq!(property_of(kind), Ok(property.id), "{kind}");
            }
        }
    }

    #[test]
    fn property_ids_are_unique_and_cite_a_source() {
        let mut ids = std::collections::BTreeSet::new();
        for property in PROPERTIES {
            assert!(ids.insert(property.id), "{} twice", property.id);
            assert!(
                !property.citation.is_empty(),
                "{} cites nothing",
                property.id
            );
            assert_eq!(
                property.checker == Checker::Group,
                property.id.starts_with("groups."),
                "{}: group properties are judged by the group checker",
                property.id
            );
            assert_eq!(
                property.checker == Checker::Txn,
                property.id.starts_with("txn."),
                "{}: txn properties are judged by the transaction checker",
                property.id
            );
        }
    }

    #[test]
    fn kinds_found_names_each_kind_once() {
        let anomaly = |kind| Anomaly {
            kind,
            key: Some(0),
            ops: vec![1],
            description: String::new(),
        };
        let found = [
            anomaly(AnomalyKind::LostWrite),
            anomaly(AnomalyKind::LostWrite),
            anomaly(AnomalyKind::Unseen),
        ];
        let refs: Vec<&Anomaly> = found.iter().collect();
        let text = kinds_found(&refs);
        assert_eq!(text.matches("lost-write").count(), 1, "{text}");
        assert!(text.contains("unseen"), "{text}");
    }
}
