//! The plain register history format: JSON Lines, one event per line, so histories from
//! elsewhere (Jepsen's etcd, Porcupine's corpus, a hand-written case) can be converted and
//! checked. Documented in `docs/checkers.md`:
//!
//! ```text
//! {"process": 0, "type": "invoke", "f": "write", "value": 3, "time": 10}
//! {"process": 0, "type": "ok",     "f": "write", "value": 3, "time": 12}
//! {"process": 1, "type": "invoke", "f": "cas",   "value": [3, 4]}
//! {"process": 1, "type": "info",   "f": "cas",   "value": [3, 4]}
//! {"process": 2, "type": "invoke", "f": "read",  "value": null, "key": 7}
//! {"process": 2, "type": "ok",     "f": "read",  "value": 4, "key": 7}
//! ```
//!
//! `time` defaults to the line number; `key` defaults to 0. Pairing follows Knossos: a
//! process's invoke is completed by its next event; `fail` ops did not happen and are
//! dropped; `info` and never-completed ops crashed; a crashed read constrains nothing and
//! is dropped too.

use std::collections::BTreeMap;
use std::io::BufRead;

use serde::Deserialize;
use serde_json::Value as Json;

use super::kv::{KvInput, MapKey};
use super::register::{RegisterInput, RegisterOutput};
use super::Operation;

/// One line of the format.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Line {
    process: Json,
    #[serde(rename = "type")]
    kind: String,
    f: String,
    #[serde(default)]
    value: Json,
    #[serde(default)]
    time: Option<u64>,
    #[serde(default)]
    key: Option<MapKey>,
    #[serde(default)]
    index: Option<u64>,
}

/// A line that does not fit the format.
#[derive(Debug, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct RegisterHistoryError {
    /// 1-based line number.
    pub line: usize,
    /// What was wrong.
    pub message: String,
}

/// Reads a register history; ops come out in invoke order.
pub fn read_jsonl(
    reader: impl BufRead,
) -> Result<Vec<Operation<KvInput, RegisterOutput>>, RegisterHistoryError> {
    let mut open: BTreeMap<String, (usize, u64, KvInput, u64)> = BTreeMap::new();
    let mut ops: Vec<Option<Operation<KvInput, RegisterOutput>>> = Vec::new();
    let mut processes: BTreeMap<String, u64> = BTreeMap::new();
    for (number, text) in reader.lines().enumerate() {
        let error = |message: String| RegisterHistoryError {
            line: number + 1,
            message,
        };
        let text = text.map_err(|e| error(e.to_string()))?;
        if text.trim().is_empty() {
            continue;
        }
        let line: Line = serde_json::from_str(&text).map_err(|e| error(e.to_string()))?;
        let time = line.time.unwrap_or(number as u64);
        let process_name = line.process.to_string();
        let next_id = processes.len() as u64;
        let process = *processes.entry(process_name.clone()).or_insert(next_id);
        let key = line.key.unwrap_or(0);
        match line.kind.as_str() {
            "invoke" => {
                let op = input(&line.f, &line.value).map_err(error)?;
                let input = KvInput { key, op };
                let index = line.index.unwrap_or(number as u64);
                open.insert(process_name, (ops.len(), time, input, index));
                ops.push(Some(Operation {
                    process,
                    invoke: time,
                    complete: None,
                    input,
                    output: None,
                    index,
                }));
            }
            "ok" | "fail" | "info" => {
                let Some((at, _, input, _)) = open.remove(&process_name) else {
                    return Err(error(format!("{} without an invoke", line.kind)));
                };
                let op = ops[at].as_mut().expect("open ops are present");
                match line.kind.as_str() {
                    "ok" => {
                        op.complete = Some(time);
                        op.output = Some(output(&input.op, &line.value).map_err(error)?);
                    }
                    "fail" => ops[at] = None,
                    _ => {}
                }
            }
            other => return Err(error(format!("unknown type {other:?}"))),
        }
    }
    // A crashed read has no effect and no result: nothing to check.
    Ok(ops
        .into_iter()
        .flatten()
        .filter(|op| op.complete.is_some() || op.input.op != RegisterInput::Read)
        .collect())
}

fn integer(value: &Json) -> Result<i64, String> {
    value
        .as_i64()
        .ok_or_else(|| format!("expected an integer, got {value}"))
}

fn input(f: &str, value: &Json) -> Result<RegisterInput, String> {
    match f {
        "read" => Ok(RegisterInput::Read),
        "write" => Ok(RegisterInput::Write(integer(value)?)),
        "cas" => match value.as_array().map(Vec::as_slice) {
            Some([from, to]) => Ok(RegisterInput::Cas {
                from: integer(from)?,
                to: integer(to)?,
            }),
            _ => Err(format!("a cas value is [from, to], got {value}")),
        },
        other => Err(format!("unknown f {other:?} (read, write or cas)")),
    }
}

fn output(input: &RegisterInput, value: &Json) -> Result<RegisterOutput, String> {
    match input {
        RegisterInput::Read if value.is_null() => Ok(RegisterOutput::Read(None)),
        RegisterInput::Read => Ok(RegisterOutput::Read(Some(integer(value)?))),
        _ => Ok(RegisterOutput::Done),
    }
}

/// Drops keys when every op is on one key, for the plain register model.
pub fn single_register(
    ops: &[Operation<KvInput, RegisterOutput>],
) -> Option<Vec<Operation<RegisterInput, RegisterOutput>>> {
    let key = ops.first().map_or(0, |op| op.input.key);
    ops.iter()
        .map(|op| {
            (op.input.key == key).then_some(Operation {
                process: op.process,
                invoke: op.invoke,
                complete: op.complete,
                input: op.input.op,
                output: op.output,
                index: op.index,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fail_is_dropped_and_info_crashes() {
        let text = r#"{"process":0,"type":"invoke","f":"write","value":1}
{"process":1,"type":"invoke","f":"cas","value":[1,2]}
{"process":0,"type":"ok","f":"write","value":1}
{"process":1,"type":"info","f":"cas","value":[1,2]}
{"process":2,"type":"invoke","f":"write","value":5}
{"process":2,"type":"fail","f":"write","value":5}
{"process":3,"type":"invoke","f":"read","value":null}
{"process":3,"type":"info","f":"read","value":null}
"#;
        let ops = read_jsonl(text.as_bytes()).unwrap();
        assert_eq!(ops.len(), 2);
        assert_eq!(ops[0].complete, Some(2));
        assert_eq!(ops[1].complete, None);
        assert_eq!(ops[1].input.op, RegisterInput::Cas { from: 1, to: 2 });
    }
}
