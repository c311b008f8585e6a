//! One certification, start to end: start the target's nodes, put the fault proxies in
//! front of them, identify the broker, run the protocol suites (restarting the target
//! between them when the target file says how), run the fault workload, judge it with
//! the simulation's checkers, stop what was started, and return the certificate.
//!
//! Whatever the broker does — refuse to start, hang, answer wrongly — ends up as a
//! property with evidence; only faultline's own failures (a proxy that cannot bind) are
//! errors.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use faultline_wire::transport::TokioTransport;

use faultline_checker::history::History;
use faultline_checker::judge::judge;
use faultline_checker::{AnomalyKind, CheckReport};
use faultline_workload::client::KafkaClient;

use super::judge::{fault_properties, offset_of_interest, Judged, EVIDENCE_PER_PROPERTY};
use super::links::PeerLinks;
use super::live::{self, LivePlan};
use super::model::{
    BrokerIdentity, Category, Certificate, Evidence, Exchange, PropertyResult, Status,
    WorkloadSummary, CERTIFICATE_SCHEMA_VERSION,
};
use super::model_based::{run_model_suite, CaseFile, ModelOptions, RunContext};
use super::process::{CommandContext, Nodes};
use super::proxy::ProxyCluster;
use super::suite::{self, Suite, SuiteTarget};
use super::target::Target;

/// What to certify and how.
#[derive(Debug, Clone)]
pub struct CertifyOptions {
    /// The protocol suites to run, in order.
    pub suites: Vec<Suite>,
    /// The fault workload; `None` to skip it.
    pub plan: Option<LivePlan>,
    /// Paths commands may refer to, and where node logs go.
    pub context: CommandContext,
    /// The command that reruns this certification.
    pub rerun: String,
    /// When it began (RFC 3339), for the certificate.
    pub started_at: String,
    /// A per-run tag for topic and group names (so runs never share records).
    pub run_tag: String,
    /// The model-based suite's families, budget and seed (when `suites` has
    /// [`Suite::Model`]).
    pub model: ModelOptions,
}

/// A finished certification.
#[derive(Debug, Clone)]
pub struct Certified {
    /// The certificate.
    pub certificate: Certificate,
    /// The fault workload's history, when it ran.
    pub history: Option<History>,
    /// The checker reports behind the fault properties.
    pub checks: Vec<CheckReport>,
    /// The model-based suite's shrunk failing cases, to be written as `case-*.json`.
    pub model_cases: Vec<CaseFile>,
}

/// Runs one certification of `target`.
pub async fn certify(target: &Target, options: &CertifyOptions) -> std::io::Result<Certified> {
    let started = Instant::now();
    let mut nodes = Nodes::new(target, options.context.clone());
    let mut certificate = Certificate {
        schema_version: CERTIFICATE_SCHEMA_VERSION,
        faultline_version: env!("CARGO_PKG_VERSION").to_string(),
        target: BrokerIdentity {
            name: target.name.clone(),
            bootstrap: target.bootstrap(),
            ..BrokerIdentity::default()
        },
        started_at: options.started_at.clone(),
        elapsed_ms: 0,
        rerun: options.rerun.clone(),
        workload: None,
        properties: Vec::new(),
    };
    let mut certified = Certified {
        certificate: certificate.clone(),
        history: None,
        checks: Vec::new(),
        model_cases: Vec::new(),
    };
    // Before any process starts: brokers dial their peers through these from the start.
    let links = PeerLinks::start(target).await?;
    let ready = match nodes.setup_all().await {
        Ok(()) => nodes.start_all().await,
        Err(e) => Err(e),
    };
    if let Err(e) = ready {
        nodes.stop_all().await;
        links.shutdown();
        certificate.properties.push(setup_failure(
            "target.ready",
            "The target starts and answers ApiVersions",
            &e,
            &nodes,
        ));
        certificate.elapsed_ms = started.elapsed().as_millis() as u64;
        certified.certificate = certificate;
        return Ok(certified);
    }
    let proxies = ProxyCluster::start(&target.bootstrap()).await?;
    let result = certify_started(
        target,
        options,
        &mut nodes,
        &proxies,
        &links,
        &mut certificate,
        started,
        &mut certified.model_cases,
    )
    .await;
    proxies.shutdown();
    nodes.stop_all().await;
    links.shutdown();
    certificate
        .properties
        .push(logs_clean(&nodes, &options.rerun));
    certificate.elapsed_ms = started.elapsed().as_millis() as u64;
    let (history, checks) = result;
    certified.certificate = certificate;
    certified.history = history;
    certified.checks = checks;
    Ok(certified)
}

// The run's parts, each borrowed from `certify` that owns and stops them.
#[allow(clippy::too_many_arguments)]
async fn certify_started(
    target: &Target,
    options: &CertifyOptions,
    nodes: &mut Nodes,
    proxies: &ProxyCluster,
    links: &PeerLinks,
    certificate: &mut Certificate,
    started: Instant,
    model_cases: &mut Vec<CaseFile>,
) -> (Option<History>, Vec<CheckReport>) {
    let timeout = target.request_timeout();
    // Identify the broker on its own addresses, so the certificate shows what it advertises.
    match suite::identify(&TokioTransport, &target.bootstrap(), &target.name, timeout).await {
        Ok(identity) => certificate.target = identity,
        Err(evidence) => {
            certificate.properties.push(PropertyResult {
                id: "target.identify".into(),
                title: "The target answers ApiVersions and Metadata".into(),
                category: Category::Protocol,
                citation: "Kafka protocol guide, ApiVersions and Metadata; KIP-35, KIP-511".into(),
                status: Status::Fail,
                detail: format!(
                    "Certification could not identify the broker. Rerun: {}",
                    options.rerun
                ),
                evidence: vec![evidence],
            });
            return (None, Vec::new());
        }
    }
    certificate.target.bootstrap = target.bootstrap();
    let creates =
        target.topic.create && certificate.target.api_versions.iter().any(|a| a.key == 19);
    let topic = if creates {
        format!("{}-{}", target.topic.name, options.run_tag)
    } else {
        target.topic.name.clone()
    };
    let proxy_map = proxies.clone();
    let broker_name: Arc<dyn Fn(&str) -> String + Send + Sync> = Arc::new(move |address: &str| {
        proxy_map
            .upstream_for(address)
            .unwrap_or_else(|| address.to_string())
    });

    for (i, &suite_kind) in options.suites.iter().enumerate() {
        let restart = i > 0 && nodes.restartable();
        let prepared = prepare(target, options, nodes, proxies, &topic, creates, restart).await;
        let partitions = match prepared {
            Ok(p) => p,
            Err(failure) => {
                certificate.properties.push(failure);
                return (None, Vec::new());
            }
        };
        let suite_target = SuiteTarget {
            bootstrap: proxies.bootstrap(),
            broker_name: broker_name.clone(),
            topic: topic.clone(),
            partitions,
            advertised: certificate.target.api_versions.clone(),
            request_timeout: timeout,
            started,
        };
        if suite_kind == Suite::Model {
            let report = run_model_suite(&TokioTransport, &suite_target, &options.model).await;
            certificate.properties.extend(report.properties);
            model_cases.extend(report.cases);
            continue;
        }
        certificate
            .properties
            .extend(suite::run_suite(&TokioTransport, &suite_target, suite_kind).await);
    }

    let Some(plan) = options.plan.clone() else {
        return (None, Vec::new());
    };
    let restart = !options.suites.is_empty() && nodes.restartable();
    let partitions = match prepare(target, options, nodes, proxies, &topic, creates, restart).await
    {
        Ok(p) => p,
        Err(failure) => {
            certificate.properties.push(failure);
            return (None, Vec::new());
        }
    };
    let start_offsets =
        match live::log_ends(&proxies.bootstrap(), &topic, partitions, timeout).await {
            Ok(ends) => ends,
            Err(e) => {
                certificate.properties.push(topic_failure(
                    &topic,
                    Evidence {
                        summary: e,
                        ..Evidence::default()
                    },
                    &options.rerun,
                ));
                return (None, Vec::new());
            }
        };
    let mut plan = plan;
    plan.workload.topic = topic.clone();
    plan.workload.partitions = partitions;
    plan.workload.start_offsets = start_offsets;
    plan.group = format!("{}-{}", plan.group, options.run_tag);
    let no_txn = super::live_txn::fit(&mut plan.txn, &certificate.target.api_versions);
    let durable = target.durable;
    let (ran, skipped) = live::runnable_faults(&plan, nodes, links, durable);
    let (triggers, triggers_skipped) = live::runnable_triggers(&plan, nodes, links, durable);
    plan.triggers = triggers;
    let windows = live::schedule(&plan, &ran, nodes, links);
    let mut outcome = live::run(&plan, &windows, proxies, links, nodes, started).await;
    outcome.faults.splice(0..0, triggers_skipped);

    // The same checkers a simulated run of this workload gets (one pipeline, two backends).
    let judgement = judge(&outcome.history, &plan.check_plan(), Vec::new());
    let log = judgement
        .check("log")
        .cloned()
        .expect("the live plan always runs the log checker");
    let group_report = judgement.check("group").cloned();
    let txn_report = judgement.check("txn").cloned();
    let applied = outcome.applied.clone();
    let probes = probe_anomalies(&outcome.history, &log, proxies, &topic, timeout, started).await;
    let judged = Judged {
        outcome: &outcome,
        log: &log,
        group: group_report.as_ref(),
        txn: txn_report.as_ref().ok_or(no_txn),
        ran: &ran,
        applied: &applied,
        skipped: &skipped,
        brokers: certificate.target.brokers.len(),
        crashable_nodes: nodes.nodes.iter().filter(|n| n.spec.can_crash()).count(),
        rerun: &options.rerun,
        probes: &probes,
    };
    let mut properties = fault_properties(&judged);
    for (fault, why) in &skipped {
        properties.push(PropertyResult::not_applicable(
            &format!("faults.{}-exercised", fault.name()),
            &format!("The workload ran under {} faults", fault.name()),
            Category::Faults,
            "faultline live nemesis (Jepsen-style process faults)",
            why.clone(),
        ));
    }
    certificate.properties.extend(properties);
    let mut stats: BTreeMap<String, u64> = log.stats.clone();
    for (name, report) in [("group", &group_report), ("txn", &txn_report)] {
        for (k, v) in report.iter().flat_map(|r| &r.stats) {
            stats.insert(format!("{name} {k}"), *v);
        }
    }
    let proxy_stats = proxies.stats();
    stats.insert("proxy connections".into(), proxy_stats.connections);
    stats.insert(
        "proxy addresses rewritten".into(),
        proxy_stats.addresses_rewritten,
    );
    certificate.workload = Some(WorkloadSummary {
        seed: plan.seed,
        duration_ms: plan.duration.as_millis() as u64,
        faults: outcome.faults.clone(),
        stats,
    });
    let mut checks = vec![log];
    checks.extend(group_report.into_iter().chain(txn_report));
    (Some(outcome.history), checks)
}

/// Restarts the target (when `restart`, so one suite's failure does not poison the next)
/// and makes sure the topic is there; a failure comes back as the property that failed.
async fn prepare(
    target: &Target,
    options: &CertifyOptions,
    nodes: &mut Nodes,
    proxies: &ProxyCluster,
    topic: &str,
    creates: bool,
    restart: bool,
) -> Result<i32, PropertyResult> {
    if restart {
        if let Err(e) = nodes.restart_all().await {
            return Err(setup_failure(
                "target.restart",
                "The target restarts between suites and before the fault workload",
                &e,
                nodes,
            ));
        }
    }
    ensure(target, topic, creates, proxies)
        .await
        .map_err(|evidence| topic_failure(topic, evidence, &options.rerun))
}

async fn ensure(
    target: &Target,
    topic: &str,
    creates: bool,
    proxies: &ProxyCluster,
) -> Result<i32, Evidence> {
    suite::ensure_topic(
        &TokioTransport,
        &proxies.bootstrap(),
        topic,
        target.topic.partitions,
        target.topic.replication_factor,
        creates,
        target.ready_timeout(),
    )
    .await
}

fn topic_failure(topic: &str, evidence: Evidence, rerun: &str) -> PropertyResult {
    PropertyResult {
        id: "target.topic".into(),
        title: "The certification topic exists with a leader for every partition".into(),
        category: Category::Protocol,
        citation: "Kafka protocol guide, CreateTopics and Metadata".into(),
        status: Status::Fail,
        detail: format!(
            "Topic {topic:?} could not be created or found with a leader for every partition; the \
             suites and the workload need it (if the broker has no CreateTopics, create the topic \
             in the target's start command). Rerun: {rerun}"
        ),
        evidence: vec![evidence],
    }
}

/// Lines of a broker's log that say it crashed inside: a Rust panic, a JVM uncaught
/// exception, a Go panic, a FATAL log line.
const CRASH_MARKERS: [&str; 4] = ["panicked at", "Exception in thread", "panic:", " FATAL "];

/// The broker processes faultline started logged no crash of their own while certified:
/// whatever a client sends, a broker answers with an error code (protocol guide, Error
/// Codes) rather than losing a task — a panicked storage task can leave every later request
/// unanswered until a restart.
fn logs_clean(nodes: &Nodes, rerun: &str) -> PropertyResult {
    let id = "target.no-internal-crashes";
    let title = "The broker logs no panic, uncaught exception or fatal error while certified";
    let citation = "Kafka protocol guide, Error Codes (errors are answered, not crashed on); faultline: broker logs captured from the processes it started";
    let mut read_any = false;
    let mut evidence = Vec::new();
    for node in nodes.nodes.iter().chain(&nodes.services) {
        let Ok(text) = std::fs::read_to_string(node.log()) else {
            continue;
        };
        read_any = true;
        let lines: Vec<&str> = text.lines().collect();
        let hits: Vec<usize> = lines
            .iter()
            .enumerate()
            .filter(|(_, l)| CRASH_MARKERS.iter().any(|m| l.contains(m)))
            .map(|(i, _)| i)
            .collect();
        if let Some(&first) = hits.first() {
            let excerpt = lines[first.saturating_sub(3)..(first + 8).min(lines.len())]
                .iter()
                .map(|l| l.to_string())
                .collect();
            evidence.push(Evidence {
                summary: format!(
                    "{} ({}) logged {} crash line(s); the first, with its context, is below",
                    node.address(),
                    node.log().display(),
                    hits.len()
                ),
                exchanges: Vec::new(),
                history: excerpt,
            });
        }
    }
    if !read_any {
        return PropertyResult::not_applicable(
            id,
            title,
            Category::Protocol,
            citation,
            "faultline started no broker process, so it has no broker log to read",
        );
    }
    let status = if evidence.is_empty() {
        Status::Pass
    } else {
        Status::Fail
    };
    let detail = if evidence.is_empty() {
        "No log line of a started broker process says panic, uncaught exception or FATAL.".into()
    } else {
        format!(
            "A broker process logged a crash of its own; the requests faultline sent just before it are in the API sweep's evidence (api-versions.*). Rerun: {rerun}"
        )
    };
    PropertyResult {
        id: id.into(),
        title: title.into(),
        category: Category::Protocol,
        citation: citation.into(),
        status,
        detail,
        evidence,
    }
}

fn setup_failure(id: &str, title: &str, error: &str, nodes: &Nodes) -> PropertyResult {
    let logs: Vec<String> = nodes
        .nodes
        .iter()
        .map(|n| {
            let tail = std::fs::read_to_string(n.log())
                .map(|text| {
                    let lines: Vec<&str> = text.lines().collect();
                    lines[lines.len().saturating_sub(20)..].join("\n")
                })
                .unwrap_or_default();
            format!("{} ({}):\n{tail}", n.address(), n.log().display())
        })
        .collect();
    PropertyResult {
        id: id.to_string(),
        title: title.to_string(),
        category: Category::Protocol,
        citation: "Jepsen-style process control from the target file".into(),
        status: Status::Fail,
        detail: error.to_string(),
        evidence: vec![Evidence {
            summary: error.to_string(),
            exchanges: Vec::new(),
            history: logs,
        }],
    }
}

/// For the log anomalies a certificate shows (the first few of each kind), fetches the
/// partition concerned as it is now, so the evidence puts the broker's own answer next to
/// the history. Indexed like `log.anomalies`.
async fn probe_anomalies(
    history: &History,
    log: &CheckReport,
    proxies: &ProxyCluster,
    topic: &str,
    timeout: Duration,
    started: Instant,
) -> Vec<Option<Exchange>> {
    let mut client = KafkaClient::new(
        TokioTransport,
        proxies.bootstrap(),
        "faultline-evidence",
        timeout,
    );
    let mut shown: BTreeMap<AnomalyKind, usize> = BTreeMap::new();
    let mut probes = Vec::with_capacity(log.anomalies.len());
    for anomaly in &log.anomalies {
        let count = shown.entry(anomaly.kind).or_default();
        *count += 1;
        let target =
            offset_of_interest(history, anomaly).filter(|_| *count <= EVIDENCE_PER_PROPERTY);
        let Some((key, offset)) = target else {
            probes.push(None);
            continue;
        };
        let at_ms = started.elapsed().as_millis() as u64;
        let response = match client.fetch(topic, key as i32, offset, 0).await {
            Ok(fetched) => format!(
                "high watermark {}; records {:?}",
                fetched.high_watermark,
                fetched
                    .records
                    .iter()
                    .take(20)
                    .map(|(o, v)| (*o, String::from_utf8_lossy(v).into_owned()))
                    .collect::<Vec<_>>()
            ),
            Err(e) => format!("error: {e}"),
        };
        probes.push(Some(Exchange {
            broker: client
                .leader_address(topic, key as i32)
                .and_then(|a| proxies.upstream_for(&a))
                .unwrap_or_else(|| "leader".into()),
            api: "Fetch (1)".into(),
            version: KafkaClient::<TokioTransport>::FETCH_VERSION,
            request: format!(
                "Fetch {topic}-{key} from offset {offset} (after the run, to show the log as the broker holds it now)"
            ),
            response,
            at_ms,
        }));
    }
    probes
}

/// Replays one model-based case file against `target` exactly once: starts the target's
/// nodes, identifies the broker, makes sure the topic is there, sends the case's requests
/// and checks every response against the model; stops what it started.
pub async fn replay_case(
    target: &Target,
    context: CommandContext,
    file: &CaseFile,
    run_context: RunContext,
) -> Result<super::model_based::case_file::Replayed, String> {
    let mut nodes = Nodes::new(target, context);
    let links = PeerLinks::start(target)
        .await
        .map_err(|e| format!("cannot start the link proxies: {e}"))?;
    let ready = match nodes.setup_all().await {
        Ok(()) => nodes.start_all().await,
        Err(e) => Err(e),
    };
    if let Err(e) = ready {
        nodes.stop_all().await;
        links.shutdown();
        return Err(format!("the target did not start: {e}"));
    }
    let timeout = target.request_timeout();
    let outcome = async {
        let identity = suite::identify(&TokioTransport, &target.bootstrap(), &target.name, timeout)
            .await
            .map_err(|e| format!("could not identify the broker: {}", e.summary))?;
        let creates = target.topic.create && identity.api_versions.iter().any(|a| a.key == 19);
        let topic = if creates {
            format!("{}-replay", target.topic.name)
        } else {
            target.topic.name.clone()
        };
        let partitions = suite::ensure_topic(
            &TokioTransport,
            &target.bootstrap(),
            &topic,
            target.topic.partitions,
            target.topic.replication_factor,
            creates,
            target.ready_timeout(),
        )
        .await
        .map_err(|e| format!("topic {topic}: {}", e.summary))?;
        let suite_target = SuiteTarget {
            bootstrap: target.bootstrap(),
            broker_name: Arc::new(|address: &str| address.to_string()),
            topic,
            partitions,
            advertised: identity.api_versions,
            request_timeout: timeout,
            started: Instant::now(),
        };
        Ok(super::model_based::replay(&TokioTransport, &suite_target, file, run_context).await)
    }
    .await;
    nodes.stop_all().await;
    links.shutdown();
    outcome
}
