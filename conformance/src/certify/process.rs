//! Process control of the target's nodes, Jepsen-style: start, stop, kill -9, pause
//! (SIGSTOP), resume (SIGCONT) and restart, by the target file's commands or, where it
//! gives none, by signalling the process faultline started.
//!
//! Every failure is returned as text for the certificate; nothing here panics on what a
//! command or a broker does.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use kafka_protocol::messages::ApiVersionsRequest;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use tokio::process::{Child, Command};
use tokio::time::Instant;

use faultline_wire::connection::connect;
use faultline_wire::transport::TokioTransport;

use super::target::{NodeSpec, Target};

/// What commands may refer to.
#[derive(Debug, Clone)]
pub struct CommandContext {
    /// Replaces `{faultline}`: the running faultline binary.
    pub faultline: PathBuf,
    /// Where each node's output goes (`node-N.log`).
    pub log_dir: PathBuf,
}

/// One node and the process faultline started for it, if any.
#[derive(Debug)]
pub struct NodeProcess {
    /// Its index in the target file (0-based).
    pub index: usize,
    /// Its spec.
    pub spec: NodeSpec,
    dir: PathBuf,
    context: CommandContext,
    child: Option<Child>,
    paused: bool,
    /// Its output file's name in the log folder (`node-N.log`, `service-N.log`).
    log_name: String,
}

impl NodeProcess {
    /// The node at `index` of `target`; nothing is started yet.
    pub fn new(target: &Target, index: usize, context: CommandContext) -> Self {
        let name = format!("node-{}.log", index + 1);
        Self::with_spec(target, target.nodes[index].clone(), index, name, context)
    }

    /// The `[[service]]` at `index` of `target`; nothing is started yet.
    pub fn service(target: &Target, index: usize, context: CommandContext) -> Self {
        let name = format!("service-{}.log", index + 1);
        Self::with_spec(target, target.services[index].clone(), index, name, context)
    }

    fn with_spec(
        target: &Target,
        spec: NodeSpec,
        index: usize,
        log_name: String,
        context: CommandContext,
    ) -> Self {
        let dir = match &spec.workdir {
            Some(w) => target.dir.join(w),
            None => target.dir.clone(),
        };
        NodeProcess {
            index,
            spec,
            dir,
            context,
            child: None,
            paused: false,
            log_name,
        }
    }

    /// The node's address.
    pub fn address(&self) -> &str {
        &self.spec.address
    }

    fn expand(&self, command: &str) -> String {
        command
            .replace("{faultline}", &self.context.faultline.display().to_string())
            .replace("{dir}", &self.dir.display().to_string())
    }

    fn pid(&self) -> Option<u32> {
        self.child.as_ref().and_then(|c| c.id())
    }

    fn log_path(&self) -> PathBuf {
        self.context.log_dir.join(&self.log_name)
    }

    fn shell(&self, command: &str) -> Result<Command, String> {
        std::fs::create_dir_all(&self.dir)
            .map_err(|e| format!("cannot create workdir {}: {e}", self.dir.display()))?;
        std::fs::create_dir_all(&self.context.log_dir)
            .map_err(|e| format!("cannot create {}: {e}", self.context.log_dir.display()))?;
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path())
            .map_err(|e| format!("cannot open {}: {e}", self.log_path().display()))?;
        let log2 = log
            .try_clone()
            .map_err(|e| format!("cannot open {}: {e}", self.log_path().display()))?;
        let mut cmd = Command::new("sh");
        cmd.arg("-c")
            .arg(self.expand(command))
            .current_dir(&self.dir)
            .env("FAULTLINE_NODE", &self.spec.address)
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log2);
        if let Some(pid) = self.pid() {
            cmd.env("FAULTLINE_PID", pid.to_string());
        }
        Ok(cmd)
    }

    /// Runs a one-shot command (kill, pause, ...) to completion, bounded by `timeout`.
    async fn run_command(
        &self,
        what: &str,
        command: &str,
        timeout: Duration,
    ) -> Result<(), String> {
        let mut child = self
            .shell(command)?
            .spawn()
            .map_err(|e| format!("{what} command {command:?} did not run: {e}"))?;
        match tokio::time::timeout(timeout, child.wait()).await {
            Ok(Ok(status)) if status.success() => Ok(()),
            Ok(Ok(status)) => Err(format!("{what} command {command:?} exited with {status}")),
            Ok(Err(e)) => Err(format!("{what} command {command:?}: {e}")),
            Err(_) => {
                let _ = child.start_kill();
                Err(format!(
                    "{what} command {command:?} did not finish within {timeout:?}"
                ))
            }
        }
    }

    /// Sends `signal` to the process faultline started (kill(2) through nix: no shell,
    /// no fork, and the errno in the message when it fails).
    async fn signal(&self, signal: Signal) -> Result<(), String> {
        let pid = self.pid().ok_or_else(|| {
            format!("no process to send {signal} to (faultline did not start it)")
        })?;
        let pid = i32::try_from(pid).map_err(|_| format!("pid {pid} out of range"))?;
        kill(Pid::from_raw(pid), signal).map_err(|errno| format!("kill({pid}, {signal}): {errno}"))
    }

    /// Starts the node with its `start` command (if it has one) and waits until it answers
    /// ApiVersions. A node without `start` must already be running.
    pub async fn start(&mut self, ready: Duration) -> Result<(), String> {
        self.launch()?;
        self.wait_ready(ready).await
    }

    /// Runs the node's `start` command (if it has one) without waiting for it to answer.
    fn launch(&mut self) -> Result<(), String> {
        if let Some(command) = self.spec.start.clone() {
            let child = self
                .shell(&command)?
                .kill_on_drop(true)
                .spawn()
                .map_err(|e| format!("start command {command:?} did not run: {e}"))?;
            self.child = Some(child);
            self.paused = false;
        }
        Ok(())
    }

    /// Brings a killed node back without waiting until it answers (several nodes restart
    /// together this way, as machines do when power returns); then [`Self::wait_ready`].
    pub async fn relaunch(&mut self, ready: Duration) -> Result<(), String> {
        match self.spec.restart.clone() {
            Some(command) if self.spec.start.is_none() => {
                self.run_command("restart", &command, ready).await
            }
            _ => {
                if self.child.is_some() {
                    self.stop().await;
                }
                self.launch()
            }
        }
    }

    /// Waits until the node answers ApiVersions, or its process exits.
    pub async fn wait_ready(&mut self, timeout: Duration) -> Result<(), String> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(child) = self.child.as_mut() {
                if let Ok(Some(status)) = child.try_wait() {
                    self.child = None;
                    return Err(format!(
                        "node {} exited with {status} before it was ready (see {})",
                        self.spec.address,
                        self.log_path().display()
                    ));
                }
            }
            if answers_api_versions(&self.spec.address).await {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(format!(
                    "node {} did not answer ApiVersions within {timeout:?}",
                    self.spec.address
                ));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Kills the node hard: its `kill` command, or SIGKILL to the process faultline started.
    pub async fn kill(&mut self) -> Result<(), String> {
        let result = match self.spec.kill.clone() {
            Some(command) => {
                self.run_command("kill", &command, Duration::from_secs(10))
                    .await
            }
            None => self.signal(Signal::SIGKILL).await,
        };
        if let Some(mut child) = self.child.take() {
            let _ = child.start_kill();
            let _ = tokio::time::timeout(Duration::from_secs(10), child.wait()).await;
        }
        self.paused = false;
        result
    }

    /// Freezes the node: its `pause` command, or SIGSTOP.
    pub async fn pause(&mut self) -> Result<(), String> {
        let result = match self.spec.pause.clone() {
            Some(command) => {
                self.run_command("pause", &command, Duration::from_secs(10))
                    .await
            }
            None => self.signal(Signal::SIGSTOP).await,
        };
        self.paused = result.is_ok();
        result
    }

    /// Thaws the node: its `resume` command, or SIGCONT.
    pub async fn resume(&mut self) -> Result<(), String> {
        let result = match self.spec.resume.clone() {
            Some(command) => {
                self.run_command("resume", &command, Duration::from_secs(10))
                    .await
            }
            None => self.signal(Signal::SIGCONT).await,
        };
        if result.is_ok() {
            self.paused = false;
        }
        result
    }

    /// Brings a killed or stopped node back and waits until it is ready.
    pub async fn restart(&mut self, ready: Duration) -> Result<(), String> {
        match self.spec.restart.clone() {
            Some(command) if self.spec.start.is_none() => {
                self.run_command("restart", &command, ready).await?;
                self.wait_ready(ready).await
            }
            _ => {
                if self.child.is_some() {
                    self.stop().await;
                }
                self.start(ready).await
            }
        }
    }

    /// Stops the node gracefully: its `stop` command, or SIGTERM, then SIGKILL after 10 s.
    /// Only a node faultline started (or one with a `stop` command) is stopped.
    pub async fn stop(&mut self) {
        if self.paused {
            let _ = self.resume().await;
        }
        if let Some(command) = self.spec.stop.clone() {
            let _ = self
                .run_command("stop", &command, Duration::from_secs(10))
                .await;
        } else if self.child.is_some() {
            let _ = self.signal(Signal::SIGTERM).await;
        }
        if let Some(mut child) = self.child.take() {
            if tokio::time::timeout(Duration::from_secs(10), child.wait())
                .await
                .is_err()
            {
                let _ = child.start_kill();
                let _ = child.wait().await;
            }
        }
    }

    /// Whether faultline started this node's process (and so must stop it).
    pub fn started(&self) -> bool {
        self.child.is_some()
    }

    /// The node's log file.
    pub fn log(&self) -> PathBuf {
        self.log_path()
    }
}

/// Whether a broker at `address` answers ApiVersions v0 (which every broker must accept:
/// KIP-35, KIP-511) within a second.
pub async fn answers_api_versions(address: &str) -> bool {
    let timeout = Duration::from_secs(1);
    let Ok(mut connection) = connect(&TokioTransport, address, "faultline-ready", timeout).await
    else {
        return false;
    };
    connection
        .send(&ApiVersionsRequest::default(), 0, timeout)
        .await
        .is_ok()
}

/// The target's nodes, started together and stopped together.
#[derive(Debug)]
pub struct Nodes {
    /// One per `[[node]]`.
    pub nodes: Vec<NodeProcess>,
    /// One per `[[service]]`: started before the nodes, stopped after them.
    pub services: Vec<NodeProcess>,
    ready: Duration,
}

impl Nodes {
    /// The target's nodes (nothing started).
    pub fn new(target: &Target, context: CommandContext) -> Self {
        Nodes {
            nodes: (0..target.nodes.len())
                .map(|i| NodeProcess::new(target, i, context.clone()))
                .collect(),
            services: (0..target.services.len())
                .map(|i| NodeProcess::service(target, i, context.clone()))
                .collect(),
            ready: target.ready_timeout(),
        }
    }

    /// Runs every node's `setup` command, once, before the first start.
    pub async fn setup_all(&mut self) -> Result<(), String> {
        for node in self.services.iter().chain(&self.nodes) {
            if let Some(command) = node.spec.setup.clone() {
                node.run_command("setup", &command, Duration::from_secs(120))
                    .await?;
            }
        }
        Ok(())
    }

    /// Starts every node that has a `start` command, then waits until all answer.
    pub async fn start_all(&mut self) -> Result<(), String> {
        for service in &mut self.services {
            service.start(self.ready).await?;
        }
        for node in &mut self.nodes {
            if node.spec.start.is_some() {
                node.start(self.ready).await?;
            }
        }
        for node in &mut self.nodes {
            node.wait_ready(self.ready).await?;
        }
        Ok(())
    }

    /// Stops every node faultline started.
    pub async fn stop_all(&mut self) {
        for node in self.nodes.iter_mut().rev() {
            node.stop().await;
        }
        for service in self.services.iter_mut().rev() {
            service.stop().await;
        }
    }

    /// Whether the target says how to restart it: every node has a `start` command (or a
    /// `restart` command).
    pub fn restartable(&self) -> bool {
        self.nodes
            .iter()
            .any(|n| n.spec.start.is_some() || n.spec.restart.is_some())
    }

    /// Restarts the whole target (between suites, so one failure does not poison the
    /// rest): stops every node, then starts them again.
    pub async fn restart_all(&mut self) -> Result<(), String> {
        self.stop_all().await;
        for node in &mut self.nodes {
            if node.spec.start.is_none() {
                if let Some(command) = node.spec.restart.clone() {
                    node.run_command("restart", &command, self.ready).await?;
                }
            }
        }
        self.start_all().await
    }

    /// The ready timeout.
    pub fn ready_timeout(&self) -> Duration {
        self.ready
    }
}
