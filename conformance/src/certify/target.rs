//! Target files: which broker to certify, where its nodes listen, and — Jepsen-style —
//! the commands that start, kill, pause, resume and restart them.
//!
//! ```toml
//! name = "Tansu 0.6.0 (sqlite)"
//! durable = true                      # storage survives kill -9 and a restart
//!
//! [topic]
//! name = "faultline-queue"
//! partitions = 3
//! replication_factor = 1
//! create = true                       # CreateTopics when the broker advertises it
//!
//! [[node]]
//! address = "127.0.0.1:19092"
//! start = "exec tansu broker --listener-url tcp://127.0.0.1:19092 ..."
//! workdir = "tansu-data"              # relative to this file; created if missing
//! ```
//!
//! A node's `setup` runs once before anything else (empty a data folder there, not in
//! `start`, which also serves restarts). A node's `start` runs through `sh -c` in its `workdir`; begin it with `exec` so that the
//! process faultline signals is the broker itself. Without `kill`, `pause`, `resume` and
//! `stop` commands faultline signals the process it started (SIGKILL, SIGSTOP, SIGCONT,
//! SIGTERM); `restart` defaults to stop-then-start. `{faultline}` in a command is replaced by
//! the path of the running faultline binary and `{dir}` by the target file's folder, so a
//! target file can start `faultline serve` without relying on `PATH`.
//!
//! A cluster whose nodes need another process (a KRaft controller) names it in a
//! `[[service]]` (same keys as a node): started before the nodes and stopped after them,
//! never proxied, never faulted. Inter-broker traffic can go through faultline's proxies
//! too: each `[[link]]` is a proxy on a fixed `listen` address forwarding to `upstream`,
//! and the broker processes are started so that they dial their peers through it; a
//! `peer-partition` of node N cuts every link whose `between` names N (1-based).
//!
//! Unknown keys are refused and every error is located: `file:line:column: message`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use faultline_workload::duration::{line_column, HumanDuration};

/// A certification target.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Target {
    /// The broker's name as the certificate shows it.
    pub name: String,
    /// Whether the broker's storage keeps acknowledged writes across `kill -9` and a
    /// restart. When false, crash faults are not run and the crash property is NOT
    /// APPLICABLE (an in-memory broker loses everything by design).
    #[serde(default)]
    pub durable: bool,
    /// The topic certification writes to.
    #[serde(default)]
    pub topic: TopicSpec,
    /// Timeouts.
    #[serde(default)]
    pub timeouts: Timeouts,
    /// The broker nodes.
    #[serde(rename = "node")]
    pub nodes: Vec<NodeSpec>,
    /// Processes the brokers need that are no broker themselves (a KRaft controller):
    /// set up and started before the nodes, stopped after them, never faulted.
    #[serde(rename = "service", default)]
    pub services: Vec<NodeSpec>,
    /// Inter-broker links that run through a fault proxy.
    #[serde(rename = "link", default)]
    pub links: Vec<LinkSpec>,
    /// The folder the target file is in; commands and workdirs are relative to it.
    #[serde(skip)]
    pub dir: PathBuf,
    /// The target file's path, for the rerun command.
    #[serde(skip)]
    pub path: PathBuf,
}

/// The topic certification writes to.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TopicSpec {
    /// Its name. When `create` is true and the broker advertises CreateTopics,
    /// certification adds a per-run suffix so that runs never share records.
    pub name: String,
    /// Partition count.
    pub partitions: i32,
    /// Replication factor to ask for when creating it.
    pub replication_factor: i16,
    /// Create it with CreateTopics (when the broker advertises the API).
    pub create: bool,
}

impl Default for TopicSpec {
    fn default() -> Self {
        TopicSpec {
            name: "faultline-certify".into(),
            partitions: 3,
            replication_factor: 1,
            create: true,
        }
    }
}

/// How long to wait for what.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Timeouts {
    /// A started or restarted node must answer ApiVersions within this.
    pub ready: HumanDuration,
    /// Every request.
    pub request: HumanDuration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            ready: HumanDuration::from_millis(30_000),
            request: HumanDuration::from_millis(5_000),
        }
    }
}

/// One broker node.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeSpec {
    /// Where it listens: `host:port` (its bootstrap address).
    pub address: String,
    /// Runs once, before the first start (e.g. to empty a data folder); not on restarts.
    pub setup: Option<String>,
    /// Starts it (through `sh -c`); certification stops what it started at the end.
    pub start: Option<String>,
    /// The working folder for its commands, relative to the target file.
    pub workdir: Option<PathBuf>,
    /// Stops it gracefully (default: SIGTERM to the started process).
    pub stop: Option<String>,
    /// Kills it hard (default: SIGKILL to the started process).
    pub kill: Option<String>,
    /// Freezes it (default: SIGSTOP to the started process).
    pub pause: Option<String>,
    /// Thaws it (default: SIGCONT to the started process).
    pub resume: Option<String>,
    /// Restarts it (default: stop, then start).
    pub restart: Option<String>,
}

impl NodeSpec {
    /// Whether faultline can kill and restart this node.
    pub fn can_crash(&self) -> bool {
        self.start.is_some() || (self.kill.is_some() && self.restart.is_some())
    }

    /// Whether faultline can pause and resume this node.
    pub fn can_pause(&self) -> bool {
        self.start.is_some() || (self.pause.is_some() && self.resume.is_some())
    }
}

/// One inter-broker link through a fault proxy: the target's processes dial `listen`
/// to reach `upstream` (how they are told is the target's business: a command-line
/// route, a hosts entry, an advertised address).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LinkSpec {
    /// Where faultline's proxy listens, `host:port`.
    pub listen: String,
    /// Where it forwards, `host:port`: a broker's or a service's own address.
    pub upstream: String,
    /// The nodes (1-based, as in the file) whose isolation cuts this link: the one that
    /// dials and the one dialled (only the broker, for a link to a service).
    pub between: Vec<usize>,
}

/// A target file that could not be used.
#[derive(Debug, thiserror::Error)]
pub enum TargetError {
    /// Not readable.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// Not valid: where, and what was expected.
    #[error("{path}:{line}:{column}: {message}")]
    Invalid {
        /// The file.
        path: String,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// What was expected.
        message: String,
    },
}

impl Target {
    /// Reads and validates a target file.
    pub fn load(path: &Path) -> Result<Target, TargetError> {
        let text = std::fs::read_to_string(path).map_err(|source| TargetError::Io {
            path: path.display().to_string(),
            source,
        })?;
        Target::parse(&text, path)
    }

    /// Parses and validates target-file text; `path` locates errors and anchors commands.
    pub fn parse(text: &str, path: &Path) -> Result<Target, TargetError> {
        let invalid = |offset: Option<usize>, message: String| {
            let (line, column) = offset.map_or((1, 1), |o| line_column(text, o));
            TargetError::Invalid {
                path: path.display().to_string(),
                line,
                column,
                message,
            }
        };
        let mut target: Target = toml::from_str(text)
            .map_err(|e| invalid(e.span().map(|s| s.start), e.message().to_string()))?;
        target.path = path.to_path_buf();
        target.dir = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."))
            .to_path_buf();
        target.validate().map_err(|(key, message)| {
            invalid(text.find(key).or_else(|| text.find("[[node]]")), message)
        })?;
        Ok(target)
    }

    /// Cross-field checks; the error names the key to point at.
    fn validate(&self) -> Result<(), (&'static str, String)> {
        if self.nodes.is_empty() {
            return Err((
                "name",
                "a target needs at least one [[node]] with an address".into(),
            ));
        }
        for node in &self.nodes {
            let valid = node
                .address
                .rsplit_once(':')
                .is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok());
            if !valid {
                return Err((
                    "address",
                    format!(
                        "node address {:?} must be host:port, e.g. \"127.0.0.1:9092\"",
                        node.address
                    ),
                ));
            }
        }
        for link in &self.links {
            if let Some(&n) = link
                .between
                .iter()
                .find(|&&n| n == 0 || n > self.nodes.len())
            {
                return Err((
                    "between",
                    format!(
                        "link {} → {}: node {n} does not exist (nodes are numbered 1 to {})",
                        link.listen,
                        link.upstream,
                        self.nodes.len()
                    ),
                ));
            }
        }
        if self.topic.partitions < 1 {
            return Err(("partitions", "topic.partitions must be at least 1".into()));
        }
        if self.topic.replication_factor < 1 {
            return Err((
                "replication_factor",
                "topic.replication_factor must be at least 1".into(),
            ));
        }
        Ok(())
    }

    /// The nodes' bootstrap addresses, in file order.
    pub fn bootstrap(&self) -> Vec<String> {
        self.nodes.iter().map(|n| n.address.clone()).collect()
    }

    /// Ready timeout.
    pub fn ready_timeout(&self) -> Duration {
        self.timeouts.ready.0
    }

    /// Request timeout.
    pub fn request_timeout(&self) -> Duration {
        self.timeouts.request.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Target, TargetError> {
        Target::parse(text, Path::new("targets/t.toml"))
    }

    #[test]
    fn a_minimal_target_parses_with_defaults() {
        let t = parse("name = \"x\"\n[[node]]\naddress = \"127.0.0.1:9092\"\n").unwrap();
        assert_eq!(t.bootstrap(), vec!["127.0.0.1:9092".to_string()]);
        assert!(!t.durable);
        assert_eq!(t.topic.partitions, 3);
        assert_eq!(t.dir, Path::new("targets"));
        assert!(!t.nodes[0].can_crash());
    }

    #[test]
    fn unknown_keys_are_located() {
        let err = parse("name = \"x\"\n[[node]]\naddress = \"127.0.0.1:9092\"\nstrat = \"b\"\n")
            .unwrap_err();
        match err {
            TargetError::Invalid {
                line,
                column,
                message,
                ..
            } => {
                assert_eq!((line, column), (4, 1));
                assert!(message.contains("strat"), "{message}");
            }
            other => panic!("{other}"),
        }
    }

    #[test]
    fn bad_addresses_and_missing_nodes_say_what_was_expected() {
        let err = parse("name = \"x\"\n[[node]]\naddress = \"nowhere\"\n").unwrap_err();
        let text = err.to_string();
        assert!(text.starts_with("targets/t.toml:3:1:"), "{text}");
        assert!(text.contains("host:port"), "{text}");
        let err = parse("name = \"x\"\nnode = []\n").unwrap_err().to_string();
        assert!(err.contains("at least one [[node]]"), "{err}");
    }

    #[test]
    fn services_and_links_parse_and_links_name_existing_nodes() {
        let text = "name = \"x\"\n[[service]]\naddress = \"h:1\"\nstart = \"exec c\"\n\
                    [[node]]\naddress = \"h:2\"\n[[node]]\naddress = \"h:3\"\n\
                    [[link]]\nlisten = \"h:12\"\nupstream = \"h:3\"\nbetween = [1, 2]\n";
        let t = parse(text).unwrap();
        assert_eq!(t.services.len(), 1);
        assert_eq!(t.links[0].between, vec![1, 2]);
        assert_eq!(t.bootstrap(), vec!["h:2".to_string(), "h:3".to_string()]);
        let err = parse(&text.replace("[1, 2]", "[1, 3]"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("node 3 does not exist"), "{err}");
    }

    #[test]
    fn a_started_node_can_crash_and_pause() {
        let t = parse("name = \"x\"\n[[node]]\naddress = \"h:1\"\nstart = \"exec b\"\n").unwrap();
        assert!(t.nodes[0].can_crash() && t.nodes[0].can_pause());
    }
}
