//! A history line as JSON: [`Op::to_json`] and [`Op::from_json`] through
//! `serde_json::Value`, and [`Op::write_json`], which writes the same text without
//! building a `Value` first.

use std::collections::BTreeMap;
use std::io::Write;

use serde::Deserialize;
use serde_json::{json, Value as Json};

use super::{
    micro_op_to_json, value_from_json, value_to_json, Function, Key, MicroOp, Op, OpType, OpValue,
    Process,
};

impl Op {
    /// The op as one JSON object in Jepsen's shape.
    pub fn to_json(&self) -> Json {
        let mut object = json!({
            "index": self.index,
            "time": self.time,
            "process": self.process,
            "type": self.kind,
            "f": self.f,
            "value": value_to_json(&self.value),
        });
        if let Some(error) = &self.error {
            object["error"] = json!(error);
        }
        if !self.leader_epochs.is_empty() {
            object["leader_epochs"] = json!(self.leader_epochs);
        }
        object
    }

    /// Parses one op from its JSON object.
    pub fn from_json(object: &Json) -> Result<Op, String> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Raw {
            index: u64,
            #[serde(default)]
            time: u64,
            process: Process,
            #[serde(rename = "type")]
            kind: OpType,
            f: Function,
            #[serde(default)]
            value: Json,
            #[serde(default)]
            error: Option<Json>,
            #[serde(default)]
            leader_epochs: BTreeMap<Key, i32>,
        }
        let raw: Raw = Raw::deserialize(object).map_err(|e| e.to_string())?;
        let value = value_from_json(raw.f, raw.kind, &raw.value)?;
        let error = raw.error.map(|e| match e {
            Json::String(s) => s,
            other => other.to_string(),
        });
        Ok(Op {
            index: raw.index,
            time: raw.time,
            process: raw.process,
            kind: raw.kind,
            f: raw.f,
            value,
            error,
            leader_epochs: raw.leader_epochs,
        })
    }

    /// Writes exactly `serde_json::to_string(&self.to_json())`, without building the
    /// `Value` tree: object keys in the order serde_json's map keeps them (sorted), the
    /// compact format, serde_json's escaping for strings. Every simulated run writes its
    /// whole history this way for its trace hash (issue #17: building the tree was 5% of
    /// a run). The rare values (assignments, offsets, memberships, faults, admin ops) still
    /// go through `Value`.
    pub fn write_json(&self, w: &mut impl Write) -> std::io::Result<()> {
        w.write_all(b"{")?;
        if let Some(error) = &self.error {
            w.write_all(b"\"error\":")?;
            serde_json::to_writer(&mut *w, error)?;
            w.write_all(b",")?;
        }
        w.write_all(b"\"f\":")?;
        serde_json::to_writer(&mut *w, &self.f)?;
        w.write_all(b",\"index\":")?;
        int(w, self.index)?;
        if !self.leader_epochs.is_empty() {
            w.write_all(b",\"leader_epochs\":{")?;
            for (i, (key, epoch)) in sorted_as_strings(&self.leader_epochs).enumerate() {
                if i > 0 {
                    w.write_all(b",")?;
                }
                w.write_all(b"\"")?;
                int(w, key)?;
                w.write_all(b"\":")?;
                int(w, *epoch)?;
            }
            w.write_all(b"}")?;
        }
        w.write_all(b",\"process\":")?;
        serde_json::to_writer(&mut *w, &self.process)?;
        w.write_all(b",\"time\":")?;
        int(w, self.time)?;
        w.write_all(b",\"type\":")?;
        serde_json::to_writer(&mut *w, &self.kind)?;
        w.write_all(b",\"value\":")?;
        match &self.value {
            OpValue::MicroOps(ops) => {
                w.write_all(b"[")?;
                for (i, op) in ops.iter().enumerate() {
                    if i > 0 {
                        w.write_all(b",")?;
                    }
                    write_micro_op(op, w)?;
                }
                w.write_all(b"]")?;
            }
            other => serde_json::to_writer(&mut *w, &value_to_json(other))?,
        }
        w.write_all(b"}")
    }
}

/// Writes an integer as JSON (and `Display`) print it, without the formatting machinery.
fn int(w: &mut impl Write, n: impl itoa::Integer) -> std::io::Result<()> {
    w.write_all(itoa::Buffer::new().format(n).as_bytes())
}

/// A map keyed by partition in the order serde_json's map keeps it: keys sorted as
/// strings, "10" before "2".
fn sorted_as_strings<V>(map: &BTreeMap<Key, V>) -> impl Iterator<Item = (Key, &V)> {
    let mut entries: Vec<(Key, &V)> = map.iter().map(|(k, v)| (*k, v)).collect();
    entries.sort_unstable_by(|a, b| {
        let (mut x, mut y) = (itoa::Buffer::new(), itoa::Buffer::new());
        x.format(a.0).cmp(y.format(b.0))
    });
    entries.into_iter()
}

/// A micro-op as `micro_op_to_json` would print it (see `Op::write_json`).
fn write_micro_op(op: &MicroOp, w: &mut impl Write) -> std::io::Result<()> {
    match op {
        MicroOp::Send { key, value, offset } => {
            w.write_all(b"[\"send\",")?;
            int(w, *key)?;
            w.write_all(b",")?;
            if let Some(offset) = offset {
                w.write_all(b"[")?;
                int(w, *offset)?;
                w.write_all(b",")?;
                int(w, *value)?;
                w.write_all(b"]]")
            } else {
                int(w, *value)?;
                w.write_all(b"]")
            }
        }
        MicroOp::Poll { reads: None } => w.write_all(b"[\"poll\"]"),
        MicroOp::Poll { reads: Some(reads) } => {
            w.write_all(b"[\"poll\",")?;
            w.write_all(b"{")?;
            for (i, (key, records)) in sorted_as_strings(reads).enumerate() {
                if i > 0 {
                    w.write_all(b",")?;
                }
                w.write_all(b"\"")?;
                int(w, key)?;
                w.write_all(b"\":[")?;
                for (j, (offset, value)) in records.iter().enumerate() {
                    w.write_all(if j > 0 { b",[" } else { b"[" })?;
                    int(w, *offset)?;
                    w.write_all(b",")?;
                    int(w, *value)?;
                    w.write_all(b"]")?;
                }
                w.write_all(b"]")?;
            }
            w.write_all(b"}]")
        }
        other => serde_json::to_writer(&mut *w, &micro_op_to_json(other)).map_err(Into::into),
    }
}
