//! Evidence in words: how ops, times and value lists read in anomaly descriptions.
//!
//! Descriptions are for a Kafka engineer reading a report, so they name the partition
//! (Jepsen key), offsets, values, the process and the simulated time of each op.

use std::fmt::Write;

use crate::history::{Function, Process};

use super::facts::{OpFacts, Outcome};

/// Nanoseconds as seconds with millisecond precision, e.g. `1.204s`.
pub(crate) fn seconds(nanos: u64) -> String {
    format!(
        "{}.{:03}s",
        nanos / 1_000_000_000,
        (nanos / 1_000_000) % 1_000
    )
}

/// An op in words: `op 41 (process 3, send ok at 1.204s)`.
pub(crate) fn op_reference(op: &OpFacts) -> String {
    let process = match op.process {
        Process::Client(p) => format!("process {p}"),
        Process::Nemesis => "nemesis".to_string(),
    };
    let f = function_name(op.f);
    match (op.completion, op.completion_time) {
        (Some(index), Some(time)) => {
            let outcome = match op.outcome {
                Outcome::Ok => "ok",
                Outcome::Fail => "fail",
                Outcome::Info => "info",
            };
            format!("op {index} ({process}, {f} {outcome} at {})", seconds(time))
        }
        _ => format!(
            "op {} ({process}, {f} invoked at {}, never completed)",
            op.invoke,
            seconds(op.invoke_time)
        ),
    }
}

fn function_name(f: Function) -> &'static str {
    match f {
        Function::Send => "send",
        Function::Poll => "poll",
        Function::Txn => "txn",
        Function::Assign => "assign",
        Function::Subscribe => "subscribe",
        Function::Commit => "commit",
        Function::FetchCommitted => "fetch-committed",
        Function::Join => "join",
        Function::DeleteRecords => "delete-records",
        Function::ListOffsets => "list-offsets",
        Function::StartFault => "start-fault",
        Function::StopFault => "stop-fault",
    }
}

/// A list of displayable items, at most `limit` shown, then `and N more`.
pub(crate) fn list<T: std::fmt::Display>(items: &[T], limit: usize) -> String {
    let mut text = String::new();
    for (i, item) in items.iter().take(limit).enumerate() {
        if i > 0 {
            text.push_str(", ");
        }
        let _ = write!(text, "{item}");
    }
    if items.len() > limit {
        let _ = write!(text, " and {} more", items.len() - limit);
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_keep_milliseconds() {
        assert_eq!(seconds(1_204_999_999), "1.204s");
        assert_eq!(seconds(5_000_000), "0.005s");
    }

    #[test]
    fn long_lists_are_cut() {
        assert_eq!(list(&[1, 2, 3], 2), "1, 2 and 1 more");
        assert_eq!(list(&[1], 2), "1");
    }
}
