//! The model-based suite as certificate properties: one `model.<family>` property per
//! family, PASS with the counts and seed, NOT APPLICABLE when the broker does not
//! advertise what the family needs, FAIL with the minimal sequence (every request and
//! response) and the command that replays it; the failing cases come back for the caller
//! to write as `case-*.json`.

use faultline_wire::Transport;

use super::case_file::{CaseFile, CASE_FILE_VERSION};
use super::runner::{run_family, Budget, FamilyOutcome, Names, RunContext};
use super::setup::{readable, versions};
use super::Family;
use crate::certify::model::{Category, Evidence, PropertyResult, Status};
use crate::certify::suite::SuiteTarget;

/// How to run the model-based suite.
#[derive(Debug, Clone)]
pub struct ModelOptions {
    /// The families to run.
    pub families: Vec<Family>,
    /// The budget per family.
    pub budget: Budget,
    /// Seeds, tags and the clock.
    pub context: RunContext,
    /// The target's name, for case files.
    pub target_name: String,
    /// The replay command up to the case file's path, e.g.
    /// `faultline certify --target t.toml --replay out/serve/`.
    pub replay_prefix: String,
}

impl ModelOptions {
    /// Options for a real broker: every family, the default budget, the wall clock for
    /// record timestamps (live certification only: outside the simulation).
    pub fn live(seed: u64, tag: &str) -> Self {
        ModelOptions {
            families: Family::ALL.to_vec(),
            budget: Budget::default(),
            context: RunContext {
                seed,
                tag: format!("m{tag}"),
                clock_ms: std::sync::Arc::new(|| {
                    std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .map_or(0, |d| d.as_millis() as i64)
                }),
            },
            target_name: String::new(),
            replay_prefix: "faultline certify --target TARGET --replay ".to_string(),
        }
    }
}

/// The suite's results.
#[derive(Debug, Clone, Default)]
pub struct ModelReport {
    /// One property per family.
    pub properties: Vec<PropertyResult>,
    /// The shrunk failing cases.
    pub cases: Vec<CaseFile>,
    /// Per family: sequences and requests run.
    pub counts: Vec<(Family, u32, usize)>,
}

fn title(family: Family) -> &'static str {
    match family {
        Family::ProduceFetch => "Generated sequences of Produce (acks 0/1/all, concurrent producers, malformed batches), Fetch and Metadata keep the model's log: offsets, contents, high watermark, out-of-range errors, malformed batches refused",
        Family::ListOffsets => "Generated sequences of Produce and ListOffsets (earliest, latest, by timestamp, max timestamp) answer as the model's log says",
        Family::Idempotence => "Generated sequences of InitProducerId and idempotent produces (duplicates, gaps, epoch bumps) are deduplicated and fenced as KIP-98 says",
        Family::Groups => "Generated sequences of the classic group protocol (joins, rejoins, syncs, heartbeats, commits with metadata, stale generations, unknown members, leaves) answer as the model's group says",
        Family::Admin => "Generated sequences of CreateTopics (legal and illegal names, partition counts, replication factors, existing names), Metadata of the topics asked for, and DeleteRecords among produces answer as the model says: refusals with the right errors, created topics with the asked counts, the log start where KIP-107 puts it",
    }
}

fn citation(family: Family) -> &'static str {
    match family {
        Family::ProduceFetch => "Kafka protocol guide: Produce, Fetch, Metadata, \"Record Batch\", \"Network\"; KIP-74; Kafka design, \"Replication\"; Kafka LogValidator",
        Family::ListOffsets => "Kafka protocol guide: ListOffsets; KIP-79; KIP-734",
        Family::Idempotence => "KIP-98; KIP-360; KIP-588",
        Family::Groups => "Kafka protocol guide: \"The Consumer Group Protocol\", JoinGroup, SyncGroup, Heartbeat, OffsetCommit, OffsetFetch, LeaveGroup; KIP-62; KIP-345; KIP-394",
        Family::Admin => "Kafka protocol guide: CreateTopics, Metadata, DeleteRecords, ListOffsets, Fetch; KIP-4; KIP-107; KIP-464; KIP-525; Kafka Topic.validate",
    }
}

/// Runs the families in `options` against `target`.
pub async fn run_model_suite<T: Transport>(
    transport: &T,
    target: &SuiteTarget,
    options: &ModelOptions,
) -> ModelReport {
    let mut report = ModelReport::default();
    let mut names = Names::new(options.context.clone());
    for &family in &options.families {
        let id = family.property_id();
        let chosen = match versions(target, family) {
            Ok(v) => v,
            Err(why) => {
                report.properties.push(PropertyResult::not_applicable(
                    &id,
                    title(family),
                    Category::Protocol,
                    citation(family),
                    why,
                ));
                continue;
            }
        };
        let (chosen, note) = readable(transport, target, chosen).await;
        tracing::info!(family = family.name(), "model-based family starts");
        let outcome = run_family(
            transport,
            target,
            family,
            chosen,
            options.budget,
            &mut names,
            options.context.seed,
        )
        .await;
        report
            .counts
            .push((family, outcome.cases, outcome.requests));
        let (mut property, case) = judge(family, &outcome, options);
        if let Some(note) = note {
            property.detail = format!("{} {note}", property.detail);
        }
        report.properties.push(property);
        report.cases.extend(case);
    }
    report
}

fn judge(
    family: Family,
    outcome: &FamilyOutcome,
    options: &ModelOptions,
) -> (PropertyResult, Option<CaseFile>) {
    let seed = options.context.seed;
    let unsupported = if outcome.unsupported.is_empty() {
        String::new()
    } else {
        format!(
            " Not applicable (declined by the broker, not judged): {}.",
            outcome
                .unsupported
                .iter()
                .cloned()
                .collect::<Vec<_>>()
                .join("; ")
        )
    };
    let mut property = PropertyResult {
        id: family.property_id(),
        title: title(family).to_string(),
        category: Category::Protocol,
        citation: citation(family).to_string(),
        status: Status::Pass,
        detail: String::new(),
        evidence: Vec::new(),
    };
    let Some((case, run, first)) = &outcome.failure else {
        property.detail = format!(
            "{} generated sequences, {} requests, seed {seed}: every response was one the model allows.{unsupported}",
            outcome.cases, outcome.requests
        );
        return (property, None);
    };
    let Some((_, violation)) = run.violation.clone() else {
        unreachable!("a failure always carries its violation");
    };
    let file = CaseFile {
        version: CASE_FILE_VERSION,
        property: family.property_id(),
        family: family.name().to_string(),
        seed,
        target: options.target_name.clone(),
        case: case.clone(),
        original_ops: first.ops.len(),
        requests: run.requests,
        violation: violation.clone(),
        exchanges: run.exchanges.clone(),
    };
    let replay = format!("{}{}", options.replay_prefix, file.file_name());
    property.status = Status::Fail;
    property.detail = format!(
        "{} ({}): {} Shrunk from {} ops to {} ops, {} requests (after {} replays); {} sequences, {} requests in all, seed {seed}. Case: {}. Replay: {replay}{unsupported}",
        violation.rule,
        violation.citation,
        violation.message,
        first.ops.len(),
        case.ops.len(),
        run.requests,
        outcome.shrink_runs,
        outcome.cases,
        outcome.requests,
        file.file_name(),
    );
    property.evidence.push(Evidence {
        summary: format!("{}: {}", violation.rule, violation.message),
        exchanges: run.exchanges.clone(),
        history: case
            .ops
            .iter()
            .map(|op| serde_json::to_string(op).unwrap_or_default())
            .collect(),
    });
    (property, Some(file))
}
