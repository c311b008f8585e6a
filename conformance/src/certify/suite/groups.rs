//! The classic consumer-group suite (protocol guide, "The Consumer Group Protocol"):
//! session timeout bounds, generations, REBALANCE_IN_PROGRESS, generation fencing, and
//! committed offsets. Group names are fresh per run; members leave at the end.

use std::time::Duration;

use faultline_wire::{ResponseError, Transport};

use super::group_calls::{
    find_coordinator, GroupVersions, Member, REBALANCE_TIMEOUT_MS, SESSION_TIMEOUT_MS,
};
use super::probe::{Probe, Property};
use super::produce_fetch::error_name;
use super::{run_token, SuiteTarget};
use crate::certify::model::{Evidence, Exchange, PropertyResult};

/// A session timeout below any broker's `group.min.session.timeout.ms`.
const TOO_SHORT_SESSION_TIMEOUT_MS: i32 = 1;
/// A member id no coordinator assigned.
const UNKNOWN_MEMBER_ID: &str = "faultline-unknown-member";
/// The offset `groups.offset-commit-roundtrip` commits.
const COMMITTED_OFFSET: i64 = 42;
/// How often the stable member heartbeats while the other joins.
const HEARTBEAT_INTERVAL: Duration = Duration::from_millis(100);

const INVALID_SESSION_TIMEOUT: Property = Property {
    id: "groups.invalid-session-timeout",
    title: "JoinGroup with a 1 ms session timeout answers INVALID_SESSION_TIMEOUT",
    citation: "Kafka protocol guide, JoinGroup and Error Codes (INVALID_SESSION_TIMEOUT, 26: outside group.min.session.timeout.ms..group.max.session.timeout.ms)",
};
const GENERATIONS_ADVANCE: Property = Property {
    id: "groups.generations-advance",
    title: "A member that joins again forms a strictly higher generation",
    citation: "Kafka protocol guide, \"The Consumer Group Protocol\" (JoinGroup generation_id); KIP-394 (MEMBER_ID_REQUIRED, JoinGroup v4+)",
};
const REBALANCE_IN_PROGRESS: Property = Property {
    id: "groups.rebalance-in-progress",
    title: "When a new member joins a stable group, the existing member's heartbeat answers REBALANCE_IN_PROGRESS, and both then complete the rebalance",
    citation: "Kafka protocol guide, Heartbeat and Error Codes (REBALANCE_IN_PROGRESS, 27); KIP-62",
};
const STALE_GENERATION_FENCED: Property = Property {
    id: "groups.stale-generation-fenced",
    title: "Heartbeat and OffsetCommit from an older generation answer ILLEGAL_GENERATION; from an unknown member, UNKNOWN_MEMBER_ID",
    citation: "Kafka protocol guide, \"The Consumer Group Protocol\" and Error Codes (ILLEGAL_GENERATION, 22; UNKNOWN_MEMBER_ID, 25); KIP-62",
};
const OFFSET_COMMIT_ROUNDTRIP: Property = Property {
    id: "groups.offset-commit-roundtrip",
    title: "An offset and metadata string committed with OffsetCommit come back from OffsetFetch",
    citation: "Kafka protocol guide, OffsetCommit and OffsetFetch",
};

/// Runs the suite.
pub async fn run<T: Transport>(transport: &T, target: &SuiteTarget) -> Vec<PropertyResult> {
    let versions = match GroupVersions::of(&target.advertised) {
        Ok(versions) => versions,
        Err(why) => {
            return [
                INVALID_SESSION_TIMEOUT,
                GENERATIONS_ADVANCE,
                REBALANCE_IN_PROGRESS,
                STALE_GENERATION_FENCED,
                OFFSET_COMMIT_ROUNDTRIP,
            ]
            .iter()
            .map(|p| p.not_applicable(why.clone()))
            .collect()
        }
    };
    let token = run_token();
    let mut results = vec![invalid_session_timeout(transport, target, versions, &token).await];
    results.extend(stable_group(transport, target, versions, &token).await);
    results
}

/// A member of a fresh group at its coordinator, or why not.
async fn member<T: Transport>(
    transport: &T,
    target: &SuiteTarget,
    versions: GroupVersions,
    group: &str,
) -> Result<Member<T>, (String, Evidence)> {
    let mut probe = Probe::new(transport, target);
    match find_coordinator(&mut probe, &target.bootstrap, versions, group).await {
        Ok(coordinator) => Ok(Member::new(
            probe,
            &coordinator,
            group,
            &target.topic,
            versions,
        )),
        Err(why) => {
            let evidence = probe.evidence(why.clone());
            Err((why, evidence))
        }
    }
}

/// `groups.invalid-session-timeout`.
async fn invalid_session_timeout<T: Transport>(
    transport: &T,
    target: &SuiteTarget,
    versions: GroupVersions,
    token: &str,
) -> PropertyResult {
    let group = format!("faultline-{token}-session-timeout");
    let mut member = match member(transport, target, versions, &group).await {
        Ok(member) => member,
        Err((why, evidence)) => {
            return INVALID_SESSION_TIMEOUT
                .fail(format!("Could not be exercised: {why}."), evidence)
        }
    };
    let result = match member.join(TOO_SHORT_SESSION_TIMEOUT_MS).await {
        Ok(j) if j.error_code == ResponseError::InvalidSessionTimeout.code() => INVALID_SESSION_TIMEOUT.pass(
            format!("JoinGroup to {group} with session_timeout_ms {TOO_SHORT_SESSION_TIMEOUT_MS} answered INVALID_SESSION_TIMEOUT."),
        ),
        Ok(j) => INVALID_SESSION_TIMEOUT.fail(
            format!(
                "JoinGroup to {group} with session_timeout_ms {TOO_SHORT_SESSION_TIMEOUT_MS} answered {}.",
                error_name(j.error_code)
            ),
            member.probe.evidence("expected INVALID_SESSION_TIMEOUT (26)"),
        ),
        Err(e) => INVALID_SESSION_TIMEOUT.fail(
            format!("JoinGroup with session_timeout_ms {TOO_SHORT_SESSION_TIMEOUT_MS} got no usable answer: {e}."),
            member.probe.evidence(e),
        ),
    };
    if member.generation_id >= 0 {
        member.leave().await;
    }
    result
}

/// JoinGroup then SyncGroup: the generation, or why not.
async fn join_and_sync<T: Transport>(
    member: &mut Member<T>,
    partitions: i32,
) -> Result<i32, String> {
    let joined = member
        .join(SESSION_TIMEOUT_MS)
        .await
        .map_err(|e| format!("JoinGroup got no usable answer: {e}"))?;
    if joined.error_code != 0 {
        return Err(format!(
            "JoinGroup answered {}",
            error_name(joined.error_code)
        ));
    }
    let code = member
        .sync(&joined, partitions)
        .await
        .map_err(|e| format!("SyncGroup got no usable answer: {e}"))?;
    if code != 0 {
        return Err(format!("SyncGroup answered {}", error_name(code)));
    }
    Ok(joined.generation_id)
}

/// One stable member, then the four properties that need it, in report order:
/// generations-advance, rebalance-in-progress, stale-generation-fenced,
/// offset-commit-roundtrip.
async fn stable_group<T: Transport>(
    transport: &T,
    target: &SuiteTarget,
    versions: GroupVersions,
    token: &str,
) -> Vec<PropertyResult> {
    let dependent = [
        GENERATIONS_ADVANCE,
        REBALANCE_IN_PROGRESS,
        STALE_GENERATION_FENCED,
        OFFSET_COMMIT_ROUNDTRIP,
    ];
    let group = format!("faultline-{token}-group");
    let fail_all = |why: String, evidence: Evidence| -> Vec<PropertyResult> {
        dependent
            .iter()
            .map(|p| p.fail(format!("Could not be exercised: {why}."), evidence.clone()))
            .collect()
    };
    let mut a = match member(transport, target, versions, &group).await {
        Ok(member) => member,
        Err((why, evidence)) => return fail_all(why, evidence),
    };
    let first = match join_and_sync(&mut a, target.partitions).await {
        Ok(generation) => generation,
        Err(why) => {
            let evidence = a.probe.evidence(why.clone());
            a.leave().await;
            return fail_all(
                format!("a first member could not join {group}: {why}"),
                evidence,
            );
        }
    };
    let advance = generations_advance(&mut a, target.partitions, first).await;
    let fenced = stale_generation_fenced(&mut a).await;
    let roundtrip = offset_commit_roundtrip(&mut a, token).await;
    let mut b = Member::new(
        Probe::new(transport, target),
        &a.coordinator,
        &group,
        &target.topic,
        versions,
    );
    let rebalance = rebalance_in_progress(&mut a, &mut b, target.partitions).await;
    b.leave().await;
    a.leave().await;
    vec![advance, rebalance, fenced, roundtrip]
}

/// `groups.generations-advance`.
async fn generations_advance<T: Transport>(
    a: &mut Member<T>,
    partitions: i32,
    first: i32,
) -> PropertyResult {
    match join_and_sync(a, partitions).await {
        Ok(second) if second > first => GENERATIONS_ADVANCE.pass(format!(
            "A member joined {} at generation {first}; joining again formed generation {second}.",
            a.group
        )),
        Ok(second) => GENERATIONS_ADVANCE.fail(
            format!("A member joined at generation {first}; joining again formed generation {second}, not a higher one."),
            a.probe.evidence(format!("generation {second} after generation {first}")),
        ),
        Err(why) => GENERATIONS_ADVANCE.fail(
            format!("A member joined at generation {first}; joining again failed: {why}."),
            a.probe.evidence(why),
        ),
    }
}

/// `groups.stale-generation-fenced`: four requests that must all be fenced.
async fn stale_generation_fenced<T: Transport>(a: &mut Member<T>) -> PropertyResult {
    let generation = a.generation_id;
    let stale = generation - 1;
    let member_id = a.member_id.clone();
    let illegal = ResponseError::IllegalGeneration.code();
    let unknown = ResponseError::UnknownMemberId.code();
    let start = a.probe.exchanges.len();
    let outcomes = [
        (
            format!("Heartbeat at generation {stale}"),
            illegal,
            a.heartbeat_as(&member_id, stale).await,
        ),
        (
            format!("OffsetCommit at generation {stale}"),
            illegal,
            a.commit_as(&member_id, stale, 1, "stale").await,
        ),
        (
            "Heartbeat from an unknown member".to_string(),
            unknown,
            a.heartbeat_as(UNKNOWN_MEMBER_ID, generation).await,
        ),
        (
            "OffsetCommit from an unknown member".to_string(),
            unknown,
            a.commit_as(UNKNOWN_MEMBER_ID, generation, 1, "unknown")
                .await,
        ),
    ];
    let seen: Vec<String> = outcomes
        .iter()
        .map(|(what, _, outcome)| match outcome {
            Ok(code) => format!("{what}: {}", error_name(*code)),
            Err(e) => format!("{what}: {e}"),
        })
        .collect();
    let wrong: Vec<usize> = outcomes
        .iter()
        .enumerate()
        .filter(|(_, (_, expected, outcome))| outcome.as_ref().ok() != Some(expected))
        .map(|(i, _)| start + i)
        .collect();
    let detail = format!(
        "With the group stable at generation {generation}: {}.",
        seen.join("; ")
    );
    if wrong.is_empty() {
        return STALE_GENERATION_FENCED.pass(detail);
    }
    STALE_GENERATION_FENCED.fail(
        detail,
        a.probe.evidence_of(
            "a stale generation must get ILLEGAL_GENERATION (22) and an unknown member UNKNOWN_MEMBER_ID (25); these were not fenced",
            &wrong,
        ),
    )
}

/// `groups.offset-commit-roundtrip`.
async fn offset_commit_roundtrip<T: Transport>(a: &mut Member<T>, token: &str) -> PropertyResult {
    let metadata = format!("faultline-{token}");
    let member_id = a.member_id.clone();
    let start = a.probe.exchanges.len();
    let committed = a
        .commit_as(&member_id, a.generation_id, COMMITTED_OFFSET, &metadata)
        .await;
    match committed {
        Ok(0) => {}
        Ok(code) => {
            return OFFSET_COMMIT_ROUNDTRIP.fail(
                format!(
                    "OffsetCommit of offset {COMMITTED_OFFSET} by the current member answered {}.",
                    error_name(code)
                ),
                a.probe
                    .evidence_since("a valid OffsetCommit was refused", start),
            )
        }
        Err(e) => {
            return OFFSET_COMMIT_ROUNDTRIP.fail(
                format!("OffsetCommit got no usable answer: {e}."),
                a.probe.evidence_since(e, start),
            )
        }
    }
    match a.fetch_offset().await {
        Ok((0, offset, Some(found))) if offset == COMMITTED_OFFSET && found == metadata => OFFSET_COMMIT_ROUNDTRIP.pass(format!(
            "Committed offset {COMMITTED_OFFSET} with metadata {metadata:?} for {}-0; OffsetFetch returned both.",
            a.topic
        )),
        Ok((code, offset, found)) => OFFSET_COMMIT_ROUNDTRIP.fail(
            format!(
                "Committed offset {COMMITTED_OFFSET} with metadata {metadata:?}; OffsetFetch answered {} with offset {offset} and metadata {found:?}.",
                error_name(code)
            ),
            a.probe.evidence_since("OffsetFetch did not return what was committed", start),
        ),
        Err(e) => OFFSET_COMMIT_ROUNDTRIP.fail(
            format!("OffsetFetch got no usable answer: {e}."),
            a.probe.evidence_since(e, start),
        ),
    }
}

/// `groups.rebalance-in-progress`: `b` joins while `a` heartbeats; `a` rejoins; both sync.
async fn rebalance_in_progress<T: Transport>(
    a: &mut Member<T>,
    b: &mut Member<T>,
    partitions: i32,
) -> PropertyResult {
    let a_start = a.probe.exchanges.len();
    let generation = a.generation_id;
    let member_id = a.member_id.clone();
    let a_side = async {
        let deadline = tokio::time::Instant::now()
            + Duration::from_millis(REBALANCE_TIMEOUT_MS as u64 * 3 / 4);
        let heartbeat = loop {
            // Give b's JoinGroup a head start to reach the coordinator.
            tokio::time::sleep(HEARTBEAT_INTERVAL).await;
            let answer = a.heartbeat_as(&member_id, generation).await;
            if answer != Ok(0) || tokio::time::Instant::now() >= deadline {
                break answer;
            }
        };
        let joined = a.join(SESSION_TIMEOUT_MS).await;
        (heartbeat, joined)
    };
    let (b_joined, (heartbeat, a_joined)) = tokio::join!(b.join(SESSION_TIMEOUT_MS), a_side);
    let mut seen = vec![format!(
        "the stable member's heartbeat at generation {generation} answered {}",
        match &heartbeat {
            Ok(code) => error_name(*code),
            Err(e) => e.clone(),
        }
    )];
    let joins = match (&a_joined, &b_joined) {
        (Ok(ja), Ok(jb)) => {
            seen.push(format!(
                "JoinGroup answered {} (generation {}) to the stable member and {} (generation {}) to the new one",
                error_name(ja.error_code),
                ja.generation_id,
                error_name(jb.error_code),
                jb.generation_id
            ));
            (ja.error_code == 0
                && jb.error_code == 0
                && ja.generation_id == jb.generation_id
                && ja.generation_id > generation)
                .then(|| (ja.clone(), jb.clone()))
        }
        (ja, jb) => {
            for (who, outcome) in [("stable", ja), ("new", jb)] {
                if let Err(e) = outcome {
                    seen.push(format!(
                        "the {who} member's JoinGroup got no usable answer: {e}"
                    ));
                }
            }
            None
        }
    };
    let mut synced = false;
    if let Some((ja, jb)) = joins {
        let (sa, sb) = tokio::join!(a.sync(&ja, partitions), b.sync(&jb, partitions));
        seen.push(format!(
            "SyncGroup answered {} and {}",
            show(&sa),
            show(&sb)
        ));
        synced = sa == Ok(0) && sb == Ok(0);
    }
    let detail = format!(
        "A second member joined {} while the first was stable: {}.",
        a.group,
        seen.join("; ")
    );
    let rebalance_seen = heartbeat == Ok(ResponseError::RebalanceInProgress.code());
    if rebalance_seen && synced {
        return REBALANCE_IN_PROGRESS.pass(detail);
    }
    let summary = if rebalance_seen {
        "the rebalance did not complete for both members with one higher generation"
    } else {
        "the stable member's heartbeat did not answer REBALANCE_IN_PROGRESS (27) while another member was joining"
    };
    REBALANCE_IN_PROGRESS.fail(
        detail,
        Evidence {
            summary: summary.to_string(),
            exchanges: merged(&a.probe.exchanges[a_start..], &b.probe.exchanges),
            history: Vec::new(),
        },
    )
}

/// Two members' exchanges in the order they were sent.
fn merged(first: &[Exchange], second: &[Exchange]) -> Vec<Exchange> {
    let mut all: Vec<Exchange> = first.iter().chain(second.iter()).cloned().collect();
    all.sort_by_key(|e| e.at_ms);
    all
}

fn show(outcome: &Result<i16, String>) -> String {
    match outcome {
        Ok(code) => error_name(*code),
        Err(e) => e.clone(),
    }
}
