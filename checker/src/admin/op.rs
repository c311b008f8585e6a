//! The value of the admin client's history ops: `delete-records` (DeleteRecords, KIP-107)
//! and `list-offsets` (ListOffsets, Kafka protocol guide; KIP-79, KIP-734). One JSON object
//! per op; `docs/history-format.md` documents it.

use serde::{Deserialize, Serialize};

/// A `delete-records` or `list-offsets` op's value: what was asked, and on `ok` what the
/// broker answered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdminOp {
    /// The partition (Jepsen key) asked about.
    pub key: u32,
    /// DeleteRecords: records below this offset are deleted (-1: up to the high watermark).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offset: Option<i64>,
    /// ListOffsets: the timestamp asked — -2 earliest, -1 latest, -3 the record with the
    /// largest timestamp (KIP-734), or a timestamp ≥ 0 (the first offset whose timestamp is
    /// at least it, KIP-79).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<i64>,
    /// ListOffsets' `isolation_level` was read_committed (KIP-98): bounded by the last
    /// stable offset instead of the high watermark.
    #[serde(default, skip_serializing_if = "is_false")]
    pub read_committed: bool,
    /// DeleteRecords' answer on `ok`: the partition's new log start (`low_watermark`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub low_watermark: Option<i64>,
    /// ListOffsets' answer on `ok`: `[offset, timestamp]`; `[-1, -1]` when none was found.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub answer: Option<(i64, i64)>,
    /// On `ok`: the partition's leader epoch in the client's metadata when it asked.
    /// ListOffsets carries it as `current_leader_epoch`, so the answer came from a leader
    /// at exactly that epoch (KIP-320); DeleteRecords carries none, so it is the epoch of
    /// the leader the client addressed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub leader_epoch: Option<i32>,
}

fn is_false(b: &bool) -> bool {
    !*b
}

impl AdminOp {
    /// A DeleteRecords request for `key` below `offset`.
    pub fn delete_records(key: u32, offset: i64) -> AdminOp {
        AdminOp {
            key,
            offset: Some(offset),
            timestamp: None,
            read_committed: false,
            low_watermark: None,
            answer: None,
            leader_epoch: None,
        }
    }

    /// A ListOffsets request for `key` at `timestamp`.
    pub fn list_offsets(key: u32, timestamp: i64, read_committed: bool) -> AdminOp {
        AdminOp {
            key,
            offset: None,
            timestamp: Some(timestamp),
            read_committed,
            low_watermark: None,
            answer: None,
            leader_epoch: None,
        }
    }
}
