//! How times, processes and operations read in every rendering, so that the Markdown,
//! the JUnit failure text and the HTML page describe an op in the same words.

use std::fmt::Write;

use faultline_checker::history::{Function, MicroOp, Op, OpType, OpValue, Process};

/// At most this many micro-ops or records are spelled out in an op's summary.
const LIST_LIMIT: usize = 4;

/// Nanoseconds as seconds with millisecond precision, e.g. `12.300s` (the checkers' unit).
pub fn seconds(nanos: u64) -> String {
    format!(
        "{}.{:03}s",
        nanos / 1_000_000_000,
        (nanos / 1_000_000) % 1_000
    )
}

/// Milliseconds as seconds, e.g. `1.250s`.
pub fn seconds_from_ms(ms: u64) -> String {
    seconds(ms.saturating_mul(1_000_000))
}

/// A process in words: `process 3` or `nemesis`.
pub fn process(process: Process) -> String {
    match process {
        Process::Client(p) => format!("process {p}"),
        Process::Nemesis => "nemesis".to_string(),
    }
}

/// A process as a short lane label: `p3` or `nemesis`.
pub fn process_short(process: Process) -> String {
    match process {
        Process::Client(p) => format!("p{p}"),
        Process::Nemesis => "nemesis".to_string(),
    }
}

/// The function's name as the history spells it (`send`, `fetch-committed`, ...).
pub fn function(f: Function) -> String {
    serde_json::to_value(f)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_else(|| format!("{f:?}"))
}

/// The op type's name as the history spells it (`invoke`, `ok`, `fail`, `info`).
pub fn outcome(kind: OpType) -> &'static str {
    match kind {
        OpType::Invoke => "invoke",
        OpType::Ok => "ok",
        OpType::Fail => "fail",
        OpType::Info => "info",
    }
}

/// What an operation did, from its completion if it has one (which carries offsets and
/// reads), else from its invoke: e.g. `send key 0 ← 17 @ offset 5` or
/// `poll key 0 → 3 records (offsets 4..6)`.
pub fn op_value(invoke: &Op, completion: Option<&Op>) -> String {
    let op = completion.unwrap_or(invoke);
    let f = function(op.f);
    let value = match &op.value {
        OpValue::MicroOps(micro_ops) => micro_ops_text(micro_ops),
        OpValue::Keys(keys) => format!("keys {}", list(keys)),
        OpValue::Offsets(Some(offsets)) => {
            let pairs: Vec<String> = offsets
                .offsets
                .iter()
                .map(|(key, offset)| format!("key {key} @ {offset}"))
                .collect();
            format!(
                "group {} generation {}: {}",
                offsets.group,
                offsets.generation_id,
                list(&pairs)
            )
        }
        OpValue::Membership(Some(m)) => format!(
            "group {} generation {} member {}: keys {}",
            m.group,
            m.generation_id,
            m.member_id,
            list(&m.assignment)
        ),
        OpValue::Offsets(None) | OpValue::Membership(None) => String::new(),
        OpValue::Fault(fault) => format!("{}({})", fault.kind, fault.targets.join(", ")),
        OpValue::Admin(admin) => admin_text(admin),
    };
    if value.is_empty() {
        f
    } else {
        format!("{f} {value}")
    }
}

/// A `delete-records` or `list-offsets` value: `key 0 below 120 → low watermark 120`,
/// `key 1 at -3 read_committed → offset 57 (timestamp 1700000012345)`.
fn admin_text(admin: &faultline_checker::history::AdminOp) -> String {
    let mut text = format!("key {}", admin.key);
    if let Some(offset) = admin.offset {
        text += &format!(" below {offset}");
    }
    if let Some(timestamp) = admin.timestamp {
        text += &format!(" at {timestamp}");
    }
    if admin.read_committed {
        text += " read_committed";
    }
    if let Some(low_watermark) = admin.low_watermark {
        text += &format!(" → low watermark {low_watermark}");
    }
    if let Some((offset, timestamp)) = admin.answer {
        text += &format!(" → offset {offset} (timestamp {timestamp})");
    }
    text
}

/// An op in one line: `op #40 (process 3) send ok 12.300s → 12.341s: key 0 ← 17 @ offset 5`.
/// `id` is the history index the op is known by (its completion's, if it completed).
pub fn op_line(invoke: &Op, completion: Option<&Op>) -> String {
    let id = completion.unwrap_or(invoke).index;
    let who = process(invoke.process);
    let value = op_value(invoke, completion);
    match completion {
        Some(done) => {
            let error = done
                .error
                .as_deref()
                .map(|e| format!(" ({e})"))
                .unwrap_or_default();
            format!(
                "op #{id} ({who}) {} {}{error}, {} → {}: {value}",
                function(invoke.f),
                outcome(done.kind),
                seconds(invoke.time),
                seconds(done.time),
            )
        }
        None => format!(
            "op #{id} ({who}) {} invoked at {}, never completed: {value}",
            function(invoke.f),
            seconds(invoke.time),
        ),
    }
}

fn micro_ops_text(micro_ops: &[MicroOp]) -> String {
    let parts: Vec<String> = micro_ops.iter().map(micro_op_text).collect();
    list(&parts)
}

fn micro_op_text(micro_op: &MicroOp) -> String {
    match micro_op {
        MicroOp::Send {
            key,
            value,
            offset: Some(offset),
        } => format!("key {key} ← {value} @ offset {offset}"),
        MicroOp::Send {
            key,
            value,
            offset: None,
        } => format!("key {key} ← {value}"),
        MicroOp::Poll { reads: None } => String::new(),
        MicroOp::Poll { reads: Some(reads) } if reads.is_empty() => "nothing".to_string(),
        MicroOp::Poll { reads: Some(reads) } => {
            let parts: Vec<String> = reads
                .iter()
                .map(|(key, records)| match (records.first(), records.last()) {
                    (Some(first), Some(last)) if records.len() > 1 => format!(
                        "key {key} → {} records (offsets {}..{})",
                        records.len(),
                        first.0,
                        last.0
                    ),
                    (Some((offset, value)), _) => {
                        format!("key {key} → {value} @ offset {offset}")
                    }
                    _ => format!("key {key} → nothing"),
                })
                .collect();
            list(&parts)
        }
        MicroOp::Init { .. } | MicroOp::Producer { .. } | MicroOp::SendOffsets { .. } => {
            micro_op.to_json().to_string()
        }
    }
}

/// Items joined by `, `, at most four shown, then `and N more`.
pub fn list<T: std::fmt::Display>(items: &[T]) -> String {
    let mut text = String::new();
    for (i, item) in items.iter().take(LIST_LIMIT).enumerate() {
        if i > 0 {
            text.push_str(", ");
        }
        let _ = write!(text, "{item}");
    }
    if items.len() > LIST_LIMIT {
        let _ = write!(text, " and {} more", items.len() - LIST_LIMIT);
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn op(index: u64, time: u64, kind: OpType, micro_ops: Vec<MicroOp>) -> Op {
        Op {
            index,
            time,
            process: Process::Client(3),
            kind,
            f: Function::Send,
            value: OpValue::MicroOps(micro_ops),
            error: None,
            leader_epochs: Default::default(),
        }
    }

    #[test]
    fn seconds_keep_milliseconds() {
        assert_eq!(seconds(12_300_999_999), "12.300s");
        assert_eq!(seconds_from_ms(5), "0.005s");
    }

    #[test]
    fn an_acknowledged_send_names_key_value_and_offset() {
        let invoke = op(39, 12_000_000_000, OpType::Invoke, vec![send(0, 17, None)]);
        let ok = op(40, 12_300_000_000, OpType::Ok, vec![send(0, 17, Some(5))]);
        assert_eq!(
            op_line(&invoke, Some(&ok)),
            "op #40 (process 3) send ok, 12.000s → 12.300s: send key 0 ← 17 @ offset 5"
        );
        assert_eq!(
            op_line(&invoke, None),
            "op #39 (process 3) send invoked at 12.000s, never completed: send key 0 ← 17"
        );
    }

    #[test]
    fn polls_count_their_records() {
        let reads = BTreeMap::from([(0, vec![(4, 10), (5, 11), (6, 12)]), (1, vec![(0, 3)])]);
        let text = micro_op_text(&MicroOp::Poll { reads: Some(reads) });
        assert_eq!(
            text,
            "key 0 → 3 records (offsets 4..6), key 1 → 3 @ offset 0"
        );
        assert_eq!(list(&[1, 2, 3, 4, 5, 6]), "1, 2, 3, 4 and 2 more");
    }

    fn send(key: u32, value: u64, offset: Option<i64>) -> MicroOp {
        MicroOp::Send { key, value, offset }
    }
}
