//! The history: an ordered list of operation events, in Jepsen's op shape.
//!
//! Every client operation is recorded twice: an `invoke` when it starts, then exactly one
//! completion — `ok` (it happened), `fail` (it definitely did not happen) or `info` (it may
//! or may not have happened). Kafka operations follow jepsen-io/jepsen
//! `jepsen/src/jepsen/tests/kafka.clj`: a `send` or `poll` op carries a list of micro-ops on
//! integer keys, each key naming one topic-partition. Written values are unique per key, so
//! every record can be traced to the op that wrote it.
//!
//! On disk a history is JSON Lines, one op per line; `docs/history-format.md` documents it.

use std::collections::BTreeMap;
use std::io::{BufRead, Write};

use serde::{Deserialize, Serialize};
use serde_json::{json, Value as Json};

pub use crate::admin::op::AdminOp;

mod json;

/// A Jepsen key: one topic-partition of the workload.
pub type Key = u32;
/// A written value, unique per key.
pub type Value = u64;
/// An offset in a partition's log.
pub type Offset = i64;

/// How an operation event stands: its start, or one of the three completions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OpType {
    /// The client began the operation.
    Invoke,
    /// The operation happened.
    Ok,
    /// The operation definitely did not happen.
    Fail,
    /// Indeterminate: the operation may or may not have happened (a timeout, a lost reply).
    Info,
}

/// Who performed an operation: a client process, or the nemesis that injects faults.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Process {
    /// A client process. A process runs one operation at a time; after an `info` the
    /// workload moves on under a fresh process id, as Jepsen does.
    Client(u32),
    /// The fault injector.
    Nemesis,
}

impl Serialize for Process {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Process::Client(p) => s.serialize_u32(*p),
            Process::Nemesis => s.serialize_str("nemesis"),
        }
    }
}

impl<'de> Deserialize<'de> for Process {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match Json::deserialize(d)? {
            Json::Number(n) => n
                .as_u64()
                .and_then(|n| u32::try_from(n).ok())
                .map(Process::Client)
                .ok_or_else(|| serde::de::Error::custom("process must be a small integer")),
            Json::String(s) if s == "nemesis" => Ok(Process::Nemesis),
            other => Err(serde::de::Error::custom(format!(
                "process must be an integer or \"nemesis\", got {other}"
            ))),
        }
    }
}

/// What an operation does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Function {
    /// Produce: a list of `send` micro-ops.
    Send,
    /// Consume: one `poll` micro-op.
    Poll,
    /// A Kafka transaction (Jepsen's `txn`): sends and polls mixed, with the producer
    /// identity it ran under and any offsets it sent to the transaction (KIP-98, KIP-447).
    Txn,
    /// The consumer chose its partitions (Jepsen's `assign`); value: the keys.
    Assign,
    /// The consumer joined a group (Jepsen's `subscribe`); value: the keys it asked for.
    Subscribe,
    /// A consumer committed group offsets; value: a [`GroupOffsets`].
    Commit,
    /// A consumer read its group's committed offsets; value: a [`GroupOffsets`] on ok.
    FetchCommitted,
    /// A group member learned its assignment; value: a [`Membership`].
    Join,
    /// DeleteRecords (KIP-107); value: an [`AdminOp`] with `offset`, and `low_watermark` on ok.
    DeleteRecords,
    /// ListOffsets (protocol guide; KIP-734); value: an [`AdminOp`] with `timestamp`, and `answer` on ok.
    ListOffsets,
    /// The nemesis started a fault; value: a [`Fault`].
    StartFault,
    /// The nemesis ended a fault; value: a [`Fault`].
    StopFault,
}

/// A transactional producer's identity as InitProducerId granted it (KIP-98): the id and
/// the epoch that fences every older producer with the same `transactional.id`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ProducerIdentity {
    /// Kafka's `producer_id`.
    pub producer_id: i64,
    /// Kafka's `producer_epoch`; InitProducerId bumps it to fence zombies.
    pub producer_epoch: i16,
}

/// One micro-op of a `send`, `poll` or `txn` op. The last three appear in `txn` ops only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MicroOp {
    /// `["send", key, value]` on invoke; `["send", key, [offset, value]]` once acknowledged.
    Send {
        /// The partition written.
        key: Key,
        /// The unique value written.
        value: Value,
        /// The offset the broker acknowledged, on `ok` only.
        offset: Option<Offset>,
    },
    /// `["poll"]` on invoke; `["poll", {"key": [[offset, value], ...]}]` once complete.
    Poll {
        /// Records read per partition, in the order returned; `None` on invoke.
        reads: Option<BTreeMap<Key, Vec<(Offset, Value)>>>,
    },
    /// `["init", transactional_id]` on invoke; `["init", transactional_id, [producer_id,
    /// producer_epoch]]` once InitProducerId answered. Granting a new epoch fences every
    /// older producer of the same `transactional.id` (KIP-98, "Transactional guarantees").
    Init {
        /// The producer's `transactional.id`.
        transactional_id: String,
        /// What InitProducerId granted, once it answered.
        granted: Option<ProducerIdentity>,
    },
    /// `["producer", transactional_id, [producer_id, producer_epoch]]`: the identity the
    /// transaction's requests carried.
    Producer {
        /// The producer's `transactional.id`.
        transactional_id: String,
        /// The producer id and epoch it used.
        identity: ProducerIdentity,
    },
    /// `["send-offsets", group, {"key": next offset}]`: consumed offsets sent to the
    /// transaction (AddOffsetsToTxn + TxnOffsetCommit, KIP-98 and KIP-447), committed for
    /// `group` exactly when the transaction commits.
    SendOffsets {
        /// The consumer group whose offsets the transaction commits.
        group: String,
        /// Next offset to consume, per partition.
        offsets: BTreeMap<Key, Offset>,
    },
}

/// Group offsets committed or fetched by a consumer group member.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupOffsets {
    /// The consumer group.
    pub group: String,
    /// The member's generation when it committed (Kafka's `generation_id`); -1 if none.
    #[serde(default = "minus_one")]
    pub generation_id: i32,
    /// The member id the commit was sent under.
    #[serde(default)]
    pub member_id: String,
    /// Next offset to consume, per partition.
    pub offsets: BTreeMap<Key, Offset>,
}

fn minus_one() -> i32 {
    -1
}

/// A group member's view of its membership after a JoinGroup + SyncGroup round.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Membership {
    /// The consumer group.
    pub group: String,
    /// The generation the member joined.
    pub generation_id: i32,
    /// The member id the coordinator gave it.
    pub member_id: String,
    /// The partitions assigned to it in this generation.
    pub assignment: Vec<Key>,
}

/// A fault window, as the nemesis recorded it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fault {
    /// The fault kind, e.g. `partition`, `crash`, `pause`, `power-loss`.
    pub kind: String,
    /// The nodes it hits, by name.
    pub targets: Vec<String>,
    /// A human-readable description.
    #[serde(default)]
    pub detail: String,
}

/// The value of an op, typed by its function.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OpValue {
    /// `send`, `poll` and `txn` ops.
    MicroOps(Vec<MicroOp>),
    /// `assign` and `subscribe` ops.
    Keys(Vec<Key>),
    /// `commit` and `fetch-committed` ops; `None` on a fetch's invoke.
    Offsets(Option<GroupOffsets>),
    /// `join` ops; `None` on invoke.
    Membership(Option<Membership>),
    /// Nemesis ops.
    Fault(Fault),
    /// `delete-records` and `list-offsets` ops.
    Admin(AdminOp),
}

/// One event of the history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Op {
    /// Position in the history, from 0.
    pub index: u64,
    /// Simulated (or, when certifying, wall) nanoseconds since the run began.
    pub time: u64,
    /// Who did it.
    pub process: Process,
    /// Invoke or completion.
    pub kind: OpType,
    /// What it does.
    pub f: Function,
    /// What it carried or returned.
    pub value: OpValue,
    /// Why a `fail` or `info` completion ended as it did (an error code, "timeout").
    pub error: Option<String>,
    /// On a poll's `ok`: the leader epoch each partition's Fetch carried as
    /// `current_leader_epoch` and the broker accepted (KIP-320); empty when unknown.
    pub leader_epochs: BTreeMap<Key, i32>,
}

/// Raised when a history line does not have the documented shape.
#[derive(Debug, thiserror::Error)]
pub enum HistoryError {
    /// The line is not JSON, or not an op.
    #[error("line {line}: {message}")]
    Malformed {
        /// 1-based line number.
        line: usize,
        /// What was wrong.
        message: String,
    },
    /// Reading or writing failed.
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

impl Op {
    /// The micro-ops of a send, poll or txn op (empty for any other).
    pub fn micro_ops(&self) -> &[MicroOp] {
        match &self.value {
            OpValue::MicroOps(ops) => ops,
            _ => &[],
        }
    }
}

impl MicroOp {
    /// The micro-op in the documented JSON shape (`docs/history-format.md`).
    pub fn to_json(&self) -> Json {
        micro_op_to_json(self)
    }
}

pub(crate) fn value_to_json(value: &OpValue) -> Json {
    match value {
        OpValue::MicroOps(ops) => Json::Array(ops.iter().map(micro_op_to_json).collect()),
        OpValue::Keys(keys) => json!(keys),
        OpValue::Offsets(offsets) => json!(offsets),
        OpValue::Membership(membership) => json!(membership),
        OpValue::Fault(fault) => json!(fault),
        OpValue::Admin(admin) => json!(admin),
    }
}

pub(crate) fn micro_op_to_json(op: &MicroOp) -> Json {
    match op {
        MicroOp::Send {
            key,
            value,
            offset: None,
        } => json!(["send", key, value]),
        MicroOp::Send {
            key,
            value,
            offset: Some(offset),
        } => json!(["send", key, [offset, value]]),
        MicroOp::Poll { reads: None } => json!(["poll"]),
        MicroOp::Poll { reads: Some(reads) } => {
            let reads: serde_json::Map<String, Json> = reads
                .iter()
                .map(|(key, records)| (key.to_string(), json!(records)))
                .collect();
            json!(["poll", reads])
        }
        MicroOp::Init {
            transactional_id,
            granted: None,
        } => json!(["init", transactional_id]),
        MicroOp::Init {
            transactional_id,
            granted: Some(identity),
        } => json!([
            "init",
            transactional_id,
            [identity.producer_id, identity.producer_epoch]
        ]),
        MicroOp::Producer {
            transactional_id,
            identity,
        } => json!([
            "producer",
            transactional_id,
            [identity.producer_id, identity.producer_epoch]
        ]),
        MicroOp::SendOffsets { group, offsets } => {
            let offsets: serde_json::Map<String, Json> = offsets
                .iter()
                .map(|(key, offset)| (key.to_string(), json!(offset)))
                .collect();
            json!(["send-offsets", group, offsets])
        }
    }
}

fn value_from_json(f: Function, kind: OpType, value: &Json) -> Result<OpValue, String> {
    fn parse(what: &'static str) -> impl Fn(serde_json::Error) -> String {
        move |e| format!("{what} value: {e}")
    }
    match f {
        Function::Send | Function::Poll | Function::Txn => {
            let items = value
                .as_array()
                .ok_or("a send/poll value must be a list of micro-ops")?;
            items
                .iter()
                .map(micro_op_from_json)
                .collect::<Result<_, _>>()
                .map(OpValue::MicroOps)
        }
        Function::Assign | Function::Subscribe => serde_json::from_value(value.clone())
            .map(OpValue::Keys)
            .map_err(parse("assign")),
        Function::Commit | Function::FetchCommitted => {
            if value.is_null() {
                Ok(OpValue::Offsets(None))
            } else {
                serde_json::from_value(value.clone())
                    .map(|o| OpValue::Offsets(Some(o)))
                    .map_err(parse("offsets"))
            }
        }
        Function::Join => {
            if value.is_null() || kind == OpType::Invoke {
                Ok(OpValue::Membership(None))
            } else {
                serde_json::from_value(value.clone())
                    .map(|m| OpValue::Membership(Some(m)))
                    .map_err(parse("join"))
            }
        }
        Function::DeleteRecords | Function::ListOffsets => serde_json::from_value(value.clone())
            .map(OpValue::Admin)
            .map_err(parse("admin")),
        Function::StartFault | Function::StopFault => serde_json::from_value(value.clone())
            .map(OpValue::Fault)
            .map_err(parse("fault")),
    }
}

fn micro_op_from_json(item: &Json) -> Result<MicroOp, String> {
    let parts = item.as_array().ok_or("a micro-op must be a list")?;
    let name = parts
        .first()
        .and_then(Json::as_str)
        .ok_or("a micro-op starts with its name")?;
    let as_u64 = |j: &Json, what: &str| {
        j.as_u64()
            .ok_or(format!("{what} must be a non-negative integer, got {j}"))
    };
    match (name, parts.len()) {
        ("send", 3) => {
            let key = as_u64(&parts[1], "send key")? as Key;
            match &parts[2] {
                Json::Array(pair) if pair.len() == 2 => Ok(MicroOp::Send {
                    key,
                    offset: if pair[0].is_null() {
                        None
                    } else {
                        Some(pair[0].as_i64().ok_or("send offset must be an integer")?)
                    },
                    value: as_u64(&pair[1], "send value")?,
                }),
                v => Ok(MicroOp::Send {
                    key,
                    value: as_u64(v, "send value")?,
                    offset: None,
                }),
            }
        }
        ("poll", 1) => Ok(MicroOp::Poll { reads: None }),
        ("poll", 2) => {
            let map = parts[1]
                .as_object()
                .ok_or("poll reads must be an object of key → records")?;
            let mut reads = BTreeMap::new();
            for (key, records) in map {
                let key: Key = key
                    .parse()
                    .map_err(|_| format!("poll key {key:?} is not an integer"))?;
                let records: Vec<(Offset, Value)> = serde_json::from_value(records.clone())
                    .map_err(|e| format!("poll records of key {key}: {e}"))?;
                reads.insert(key, records);
            }
            Ok(MicroOp::Poll { reads: Some(reads) })
        }
        ("init", 2) => Ok(MicroOp::Init {
            transactional_id: as_str(&parts[1], "init transactional id")?,
            granted: None,
        }),
        ("init", 3) => Ok(MicroOp::Init {
            transactional_id: as_str(&parts[1], "init transactional id")?,
            granted: Some(identity_from_json(&parts[2])?),
        }),
        ("producer", 3) => Ok(MicroOp::Producer {
            transactional_id: as_str(&parts[1], "producer transactional id")?,
            identity: identity_from_json(&parts[2])?,
        }),
        ("send-offsets", 3) => {
            let group = as_str(&parts[1], "send-offsets group")?;
            let map = parts[2]
                .as_object()
                .ok_or("send-offsets offsets must be an object of key → offset")?;
            let mut offsets = BTreeMap::new();
            for (key, offset) in map {
                let key: Key = key
                    .parse()
                    .map_err(|_| format!("send-offsets key {key:?} is not an integer"))?;
                let offset = offset.as_i64().ok_or(format!(
                    "send-offsets offset of key {key} must be an integer"
                ))?;
                offsets.insert(key, offset);
            }
            Ok(MicroOp::SendOffsets { group, offsets })
        }
        _ => Err(format!("unknown micro-op {item}")),
    }
}

fn as_str(j: &Json, what: &str) -> Result<String, String> {
    j.as_str()
        .map(str::to_string)
        .ok_or(format!("{what} must be a string, got {j}"))
}

/// `[producer_id, producer_epoch]`.
fn identity_from_json(j: &Json) -> Result<ProducerIdentity, String> {
    let pair = j.as_array().filter(|pair| pair.len() == 2).ok_or(format!(
        "a producer identity is [producer_id, producer_epoch], got {j}"
    ))?;
    let producer_id = pair[0].as_i64().ok_or("producer_id must be an integer")?;
    let producer_epoch = pair[1]
        .as_i64()
        .and_then(|e| i16::try_from(e).ok())
        .ok_or("producer_epoch must be a 16-bit integer")?;
    Ok(ProducerIdentity {
        producer_id,
        producer_epoch,
    })
}

/// A whole history, in order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct History {
    /// The events, by index.
    pub ops: Vec<Op>,
}

impl History {
    /// Reads JSON Lines; blank lines are skipped.
    pub fn read_jsonl(reader: impl BufRead) -> Result<History, HistoryError> {
        let mut ops = Vec::new();
        for (number, line) in reader.lines().enumerate() {
            let line = line?;
            if line.trim().is_empty() {
                continue;
            }
            let malformed = |message: String| HistoryError::Malformed {
                line: number + 1,
                message,
            };
            let json: Json = serde_json::from_str(&line).map_err(|e| malformed(e.to_string()))?;
            ops.push(Op::from_json(&json).map_err(malformed)?);
        }
        Ok(History { ops })
    }

    /// Writes JSON Lines, one op per line.
    pub fn write_jsonl(&self, mut writer: impl Write) -> std::io::Result<()> {
        for op in &self.ops {
            op.write_json(&mut writer)?;
            writer.write_all(b"\n")?;
        }
        Ok(())
    }

    /// Pairs each invoke with its completion, by process. An invoke with no completion
    /// (the run ended first) is paired with `None` and counts as indeterminate.
    pub fn pairs(&self) -> Vec<(&Op, Option<&Op>)> {
        let mut open: BTreeMap<Process, usize> = BTreeMap::new();
        let mut pairs: Vec<(&Op, Option<&Op>)> = Vec::new();
        for op in &self.ops {
            if op.process == Process::Nemesis {
                continue;
            }
            match op.kind {
                OpType::Invoke => {
                    open.insert(op.process, pairs.len());
                    pairs.push((op, None));
                }
                _ => {
                    if let Some(at) = open.remove(&op.process) {
                        pairs[at].1 = Some(op);
                    }
                }
            }
        }
        pairs
    }
}
