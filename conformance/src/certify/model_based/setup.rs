//! What a case needs before its first op: the API versions both sides speak (or why the
//! family does not apply), and the leaders of the partitions it uses, from one Metadata
//! request — the case's only setup request, recorded with the rest.

use kafka_protocol::messages::ApiKey;

use faultline_wire::Transport;

use super::Family;
use crate::certify::model::Exchange;
use crate::certify::suite::identify::metadata;
use crate::certify::suite::partition_io::{readable_fetch_version, Versions};
use crate::certify::suite::probe::{no_version_reason, Probe};
use crate::certify::suite::SuiteTarget;

/// Metadata versions a case sends.
const METADATA_VERSIONS: (i16, i16) = (1, 12);
/// InitProducerId versions (v0 has every field an idempotent producer needs; v3 adds the
/// epoch bump of KIP-360).
const INIT_PRODUCER_ID_VERSIONS: (i16, i16) = (0, 4);
/// CreateTopics versions the `admin` family sends (v4: -1 partitions and replication
/// factor take the broker's defaults, KIP-464).
const CREATE_TOPICS_VERSIONS: (i16, i16) = (4, 7);
/// DeleteRecords versions (KIP-107).
const DELETE_RECORDS_VERSIONS: (i16, i16) = (0, 2);
/// DeleteTopics versions the clean-up sends (by name: v6 adds topic ids).
const DELETE_TOPICS_VERSIONS: (i16, i16) = (1, 5);

/// One case's fixed facts.
#[derive(Debug, Clone)]
pub struct CaseSetup {
    /// The topic.
    pub topic: String,
    /// The partition ids its slots map to.
    pub partitions: Vec<i32>,
    /// Each partition's leader address (as the target's addresses reach it).
    pub leaders: Vec<String>,
    /// Versions.
    pub versions: CaseVersions,
    /// Unique text for values and the group name.
    pub tag: String,
    /// The group this case uses.
    pub group: String,
    /// The first batch's timestamp; op `i` stamps `base + i`. Later than any record the
    /// topic held before the case, so timestamp lookups are decided by the case's batches.
    pub timestamp_base_ms: i64,
}

/// The versions `family` needs, or why it does not apply to this broker (an API not
/// advertised, or no version both sides speak).
pub fn versions(target: &SuiteTarget, family: Family) -> Result<CaseVersions, String> {
    let data = Versions::of(&target.advertised);
    let needs_list_offsets = family == Family::ListOffsets;
    if let Some(why) = data.missing(&target.advertised, needs_list_offsets) {
        return Err(why);
    }
    let metadata = version_of(
        target,
        ApiKey::Metadata,
        METADATA_VERSIONS.0,
        METADATA_VERSIONS.1,
    )
    .ok_or_else(|| {
        no_version_reason(
            &target.advertised,
            ApiKey::Metadata,
            METADATA_VERSIONS.0,
            METADATA_VERSIONS.1,
        )
    })?;
    let (floor, ceiling) = INIT_PRODUCER_ID_VERSIONS;
    let init_producer_id = version_of(target, ApiKey::InitProducerId, floor, ceiling);
    if family == Family::Idempotence && init_producer_id.is_none() {
        return Err(no_version_reason(
            &target.advertised,
            ApiKey::InitProducerId,
            floor,
            ceiling,
        ));
    }
    if family == Family::Groups {
        crate::certify::suite::group_calls::GroupVersions::of(&target.advertised)?;
    }
    let create_topics = version_of(
        target,
        ApiKey::CreateTopics,
        CREATE_TOPICS_VERSIONS.0,
        CREATE_TOPICS_VERSIONS.1,
    );
    let delete_records = version_of(
        target,
        ApiKey::DeleteRecords,
        DELETE_RECORDS_VERSIONS.0,
        DELETE_RECORDS_VERSIONS.1,
    );
    if family == Family::Admin {
        for (api, found, (floor, ceiling)) in [
            (ApiKey::CreateTopics, create_topics, CREATE_TOPICS_VERSIONS),
            (
                ApiKey::DeleteRecords,
                delete_records,
                DELETE_RECORDS_VERSIONS,
            ),
        ] {
            if found.is_none() {
                return Err(no_version_reason(&target.advertised, api, floor, ceiling));
            }
        }
    }
    Ok(CaseVersions {
        produce: data.produce.expect("checked by missing()"),
        fetch: data.fetch.expect("checked by missing()"),
        list_offsets: data.list_offsets.unwrap_or(1),
        metadata,
        init_producer_id,
        create_topics,
        delete_records,
        delete_topics: version_of(
            target,
            ApiKey::DeleteTopics,
            DELETE_TOPICS_VERSIONS.0,
            DELETE_TOPICS_VERSIONS.1,
        ),
    })
}

/// Finds `partitions` partitions of the target's topic and their leaders with one Metadata
/// request (to each bootstrap address in turn until one answers with them all): partition
/// 0, then the partitions its leader also leads, then the others, each in id order — so
/// that a Fetch of several partitions from one leader (KIP-74) has several to ask for
/// wherever the topic has them.
pub async fn leaders<T: Transport>(
    transport: &T,
    target: &SuiteTarget,
    partitions: u8,
    exchanges: &mut Vec<Exchange>,
) -> Result<(Vec<i32>, Vec<String>), String> {
    let count = usize::from(partitions.clamp(1, 3));
    let mut probe = Probe::new(transport, target);
    let mut found = None;
    for address in &target.bootstrap {
        let view = metadata(
            &mut probe,
            address,
            &target.advertised,
            Some(&target.topic),
            false,
        )
        .await;
        let chosen = view.and_then(|v| {
            let led: Vec<(i32, Option<String>)> = (0..target.partitions.max(1))
                .map(|p| (p, v.leader_address(&target.topic, p)))
                .collect();
            choose(&led, count)
        });
        if chosen.is_some() {
            found = chosen;
            break;
        }
    }
    exchanges.append(&mut probe.exchanges);
    found.ok_or_else(|| {
        format!(
            "no bootstrap address reported a leader for every partition of {} in Metadata",
            target.topic
        )
    })
}

/// `count` partitions of `led` (id, leader if known): partition 0 and those sharing its
/// leader first; `None` unless partition 0 and `count` in all (or every one) have leaders.
fn choose(led: &[(i32, Option<String>)], count: usize) -> Option<(Vec<i32>, Vec<String>)> {
    let (_, Some(first)) = led.first()? else {
        return None;
    };
    let mut known: Vec<(i32, String)> = led
        .iter()
        .filter_map(|(p, leader)| leader.clone().map(|l| (*p, l)))
        .collect();
    known.sort_by_key(|(p, leader)| (leader != first, *p));
    if known.len() < count.min(led.len()) {
        return None;
    }
    known.truncate(count);
    Some(known.into_iter().unzip())
}

/// The API versions a case speaks.
#[derive(Debug, Clone, Copy)]
pub struct CaseVersions {
    /// Produce.
    pub produce: i16,
    /// Fetch.
    pub fetch: i16,
    /// ListOffsets.
    pub list_offsets: i16,
    /// Metadata.
    pub metadata: i16,
    /// InitProducerId, if advertised.
    pub init_producer_id: Option<i16>,
    /// CreateTopics, if advertised (v4+; the `admin` family needs it).
    pub create_topics: Option<i16>,
    /// DeleteRecords, if advertised (the `admin` family needs it).
    pub delete_records: Option<i16>,
    /// DeleteTopics, if advertised (the `admin` family's clean-up).
    pub delete_topics: Option<i16>,
}

/// Versions for `api` both sides speak, within what the driver builds.
pub fn version_of(target: &SuiteTarget, api: ApiKey, floor: i16, ceiling: i16) -> Option<i16> {
    crate::certify::suite::probe::choose_version(&target.advertised, api, floor, ceiling)
}

/// `versions` with Fetch stepped down to a version whose answers faultline can read (see
/// [`readable_fetch_version`]), and a note saying so when it had to step down. KIP-482 lets
/// a broker send a tagged field the receiver does not know, so such an answer is latitude,
/// not a violation: the API sweep reports it, the model judges what the answers say.
pub async fn readable<T: Transport>(
    transport: &T,
    target: &SuiteTarget,
    mut versions: CaseVersions,
) -> (CaseVersions, Option<String>) {
    let mut exchanges = Vec::new();
    let Ok((partitions, leaders)) = leaders(transport, target, 1, &mut exchanges).await else {
        // No leader to ask: the cases will report that themselves.
        return (versions, None);
    };
    let mut probe = Probe::new(transport, target);
    let chosen = versions.fetch;
    let readable =
        readable_fetch_version(&mut probe, target, &leaders[0], partitions[0], Some(chosen))
            .await
            .unwrap_or(chosen);
    if readable == chosen {
        return (versions, None);
    }
    versions.fetch = readable;
    let refused = if readable + 1 == chosen {
        format!("Fetch v{chosen} answers carry")
    } else {
        format!("Fetch v{} to v{chosen} answers carry", readable + 1)
    };
    let note = format!(
        "{refused} a tagged field the version does not define, which kafka-protocol 0.18 cannot skip (KIP-482 allows it; the API sweep reports it), so the sequences fetch at v{readable}."
    );
    (versions, Some(note))
}

#[cfg(test)]
mod tests {
    use super::choose;

    #[test]
    fn partitions_sharing_the_first_leader_come_first() {
        let led: Vec<(i32, Option<String>)> = [(0, "a"), (1, "b"), (2, "c"), (3, "a")]
            .iter()
            .map(|(p, l)| (*p, Some(l.to_string())))
            .collect();
        let (ids, leaders) = choose(&led, 3).unwrap();
        assert_eq!(ids, vec![0, 3, 1]);
        assert_eq!(leaders, vec!["a", "a", "b"]);
        assert_eq!(choose(&led[..1], 3).unwrap().0, vec![0]);
        let mut leaderless = led.clone();
        leaderless[0].1 = None;
        assert!(choose(&leaderless, 1).is_none());
    }
}
