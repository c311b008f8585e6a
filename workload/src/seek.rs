//! The seek every consumer makes once DeleteRecords moved a partition's log start past its
//! position (KIP-107: the records below the log start are gone, and a Fetch below it is
//! OFFSET_OUT_OF_RANGE): ask ListOffsets earliest and resume there, as a consumer with
//! `auto.offset.reset = earliest` does.

use std::collections::BTreeMap;

use faultline_checker::history::Key;
use faultline_wire::Transport;

use crate::client::KafkaClient;

/// ListOffsets' earliest-offset sentinel (Kafka protocol guide, ListOffsets).
const EARLIEST: i64 = -2;

/// For each of `keys`, asks ListOffsets earliest and moves a position that fell below the
/// log start up to it (KIP-107: the records below are deleted; a consumer with
/// `auto.offset.reset = earliest` resumes at the log start). Returns whether any moved.
pub async fn skip_deleted<T: Transport>(
    client: &mut KafkaClient<T>,
    topic: &str,
    keys: &[Key],
    positions: &mut BTreeMap<Key, i64>,
) -> bool {
    let mut moved = false;
    for &key in keys {
        let Ok(((earliest, _), _)) = client.list_offsets_at(topic, key as i32, EARLIEST, 0).await
        else {
            continue;
        };
        if let Some(position) = positions.get_mut(&key).filter(|p| **p < earliest) {
            *position = earliest;
            moved = true;
        }
    }
    moved
}

/// [`skip_deleted`] for every one of `keys`; returns whether every partition answered.
pub async fn skip_deleted_all<T: Transport>(
    client: &mut KafkaClient<T>,
    topic: &str,
    keys: &[Key],
    positions: &mut BTreeMap<Key, i64>,
) -> bool {
    let mut answered = true;
    for &key in keys {
        match client.list_offsets_at(topic, key as i32, EARLIEST, 0).await {
            Ok(((earliest, _), _)) => {
                if let Some(position) = positions.get_mut(&key) {
                    *position = (*position).max(earliest);
                }
            }
            Err(_) => answered = false,
        }
    }
    answered
}
