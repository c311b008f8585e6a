//! What the live fault workload is to do — its clients, its faults, its triggers — and the
//! fault windows the seeded schedule decides before the run.

use std::time::Duration;

use faultline_checker::judge::CheckPlan;
use faultline_checker::log::LogOptions;
use faultline_workload::workload::WorkloadConfig;

use super::live_fault::LiveFault;
use super::live_trigger::LiveTrigger;
use super::live_txn::LiveTxn;

/// What the fault workload runs.
#[derive(Debug, Clone, PartialEq)]
pub struct LivePlan {
    /// The clients' settings; certification fills in the topic and start offsets.
    pub workload: WorkloadConfig,
    /// Producer clients.
    pub producers: u32,
    /// Consumers by assignment.
    pub consumers: u32,
    /// Consumer-group members.
    pub group_consumers: u32,
    /// The group they join (certification adds a per-run suffix).
    pub group: String,
    /// How long the fault phase lasts.
    pub duration: Duration,
    /// How long after the heal before final reads begin.
    pub recovery: Duration,
    /// The faults to draw from.
    pub faults: Vec<LiveFault>,
    /// Mean gap between faults.
    pub fault_interval: Duration,
    /// Mean length of a fault.
    pub fault_duration: Duration,
    /// The seed of the workload's and the nemesis's choices.
    pub seed: u64,
    /// Seeded windows may overlap: now and then a second fault starts inside the first
    /// one's window (Jepsen composes nemeses), drawn from its own sub-stream so the first
    /// faults keep their places.
    pub overlap: bool,
    /// Faults fired by cluster events the nemesis observes over the Kafka protocol.
    pub triggers: Vec<LiveTrigger>,
    /// Producers run transactions (`[workload.txn]`); `None`: plain sends.
    pub txn: Option<LiveTxn>,
}

impl LivePlan {
    /// The checkers that judge its history: the log checker with final reads, and the
    /// group checker when members joined — what a simulated run of the same workload gets.
    pub fn check_plan(&self) -> CheckPlan {
        CheckPlan {
            log: Some({
                let options = LogOptions {
                    final_reads: true,
                    ..LogOptions::default()
                };
                match &self.txn {
                    Some(txn) => txn.log_options(options),
                    None => options,
                }
            }),
            group: self.group_consumers > 0,
            txn: self.txn.as_ref().map(LiveTxn::check_options),
            // The live workload runs no admin client (DeleteRecords, ListOffsets).
            admin: None,
            expect: Vec::new(),
        }
    }
}

/// One fault window, decided before the run from the seed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveWindow {
    /// When it starts, after the workload starts.
    pub start: Duration,
    /// How long it lasts (0 for a reset).
    pub length: Duration,
    /// What.
    pub fault: LiveFault,
    /// Which node (index in the target file).
    pub node: usize,
    /// Further nodes struck at the same instant ([`LiveFault::CorrelatedCrash`]).
    pub also: Vec<usize>,
    /// Added latency, for [`LiveFault::Latency`].
    pub latency: Duration,
}

impl LiveWindow {
    /// Every node it strikes: its node, then the others of a correlated crash.
    pub fn struck(&self) -> Vec<usize> {
        std::iter::once(self.node)
            .chain(self.also.iter().copied())
            .collect()
    }
}
