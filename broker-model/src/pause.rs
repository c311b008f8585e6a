//! A pause gate: the simulated equivalent of SIGSTOP / a long GC pause.
//!
//! turmoil cannot stop a host, so the node's loops and request handling await this gate
//! between steps of work. While it is closed the process does nothing; when it opens the
//! process carries on with whatever it believed before — stale leadership, stale ISR,
//! stale high watermark — which is exactly the zombie Jepsen provokes with SIGSTOP and
//! Kafka's leader epochs must fence (KIP-101, KIP-320).

use std::sync::Arc;

use tokio::sync::watch;

/// Shared between the node (which waits on it) and whoever pauses it. Clones share.
#[derive(Debug, Clone)]
pub struct PauseGate {
    /// `true` while paused.
    paused: Arc<watch::Sender<bool>>,
}

impl Default for PauseGate {
    fn default() -> Self {
        let (paused, _) = watch::channel(false);
        PauseGate {
            paused: Arc::new(paused),
        }
    }
}

impl PauseGate {
    /// Stops the process at its next gate.
    pub fn pause(&self) {
        self.paused.send_replace(true);
    }

    /// Lets the process run again.
    pub fn resume(&self) {
        self.paused.send_replace(false);
    }

    /// Whether the gate is closed.
    pub fn is_paused(&self) -> bool {
        *self.paused.borrow()
    }

    /// Returns at once when running; otherwise waits for `resume`.
    pub async fn wait_running(&self) {
        if !self.is_paused() {
            return;
        }
        let mut seen = self.paused.subscribe();
        // The sender lives in `self`, so the channel cannot close while we wait.
        let _ = seen.wait_for(|paused| !paused).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_paused_gate_holds_waiters_until_resumed() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        runtime.block_on(async {
            let gate = PauseGate::default();
            gate.wait_running().await;
            gate.pause();
            let waiter = {
                let gate = gate.clone();
                // A plain runtime of this test's own, not the simulation: the ban on
                // runtime spawns (clippy.toml) is about the simulation's determinism.
                #[allow(clippy::disallowed_methods)]
                tokio::spawn(async move { gate.wait_running().await })
            };
            tokio::task::yield_now().await;
            assert!(!waiter.is_finished(), "a paused process does not run");
            gate.resume();
            waiter.await.unwrap();
            assert!(!gate.is_paused());
        });
    }
}
