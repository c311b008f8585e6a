//! Writing a history line without building a `serde_json::Value` first.

use std::io::Write;

use super::{micro_op_to_json, value_to_json, MicroOp, Offset, Op, OpValue, Value};

impl Op {
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
        write!(w, ",\"index\":{},\"process\":", self.index)?;
        serde_json::to_writer(&mut *w, &self.process)?;
        write!(w, ",\"time\":{},\"type\":", self.time)?;
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

/// A micro-op as `micro_op_to_json` would print it (see `Op::write_json`).
fn write_micro_op(op: &MicroOp, w: &mut impl Write) -> std::io::Result<()> {
    match op {
        MicroOp::Send {
            key,
            value,
            offset: None,
        } => write!(w, "[\"send\",{key},{value}]"),
        MicroOp::Send {
            key,
            value,
            offset: Some(offset),
        } => write!(w, "[\"send\",{key},[{offset},{value}]]"),
        MicroOp::Poll { reads: None } => w.write_all(b"[\"poll\"]"),
        MicroOp::Poll { reads: Some(reads) } => {
            w.write_all(b"[\"poll\",")?;
            // serde_json's map sorts its keys as strings: "10" before "2".
            let mut keys: Vec<(String, &Vec<(Offset, Value)>)> =
                reads.iter().map(|(k, r)| (k.to_string(), r)).collect();
            keys.sort_unstable_by(|a, b| a.0.cmp(&b.0));
            w.write_all(b"{")?;
            for (i, (key, records)) in keys.iter().enumerate() {
                if i > 0 {
                    w.write_all(b",")?;
                }
                write!(w, "\"{key}\":[")?;
                for (j, (offset, value)) in records.iter().enumerate() {
                    if j > 0 {
                        w.write_all(b",")?;
                    }
                    write!(w, "[{offset},{value}]")?;
                }
                w.write_all(b"]")?;
            }
            w.write_all(b"}]")
        }
        other => serde_json::to_writer(&mut *w, &micro_op_to_json(other)).map_err(Into::into),
    }
}
