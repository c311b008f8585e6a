//! The `[workload.admin]` table of a scenario: an admin/seek client that truncates what it
//! has consumed with DeleteRecords (KIP-107) and asks ListOffsets earliest, latest,
//! MAX_TIMESTAMP (KIP-734) and by timestamp (KIP-79), and backlog consumers that start
//! late and read a partition's backlog in large fetches. Its presence turns them on, and
//! with them the admin checker and consumers that seek past a moved log start; absent (the
//! default), a scenario runs, hashes and traces exactly as before.
//!
//! ```toml
//! [workload.admin]
//! admins = 1                # admin clients
//! interval = "300ms"        # mean time between an admin's steps (a poll, one request)
//! retain_records = 600      # records an admin keeps below its position when deleting
//! backlog_consumers = 1     # late consumers, each of partition 0
//! backlog_start = "15s"     # when they start
//! ```

use serde::{Deserialize, Serialize};

use faultline_checker::admin::AdminOptions;
use faultline_workload::admin::AdminConfig;

use crate::duration::HumanDuration;

/// The admin clients and backlog consumers of a scenario.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AdminWorkload {
    /// Admin clients (default 1).
    pub admins: u32,
    /// Mean time between one admin's steps (default 300 ms).
    pub interval: HumanDuration,
    /// Records an admin keeps below its own position when it deletes (default 600), so a
    /// backlog consumer still finds more than a fetch's record cap.
    pub retain_records: u32,
    /// Consumers of partition 0 that start late (default 1).
    pub backlog_consumers: u32,
    /// When the backlog consumers start, from the run's start (default 15 s).
    pub backlog_start: HumanDuration,
}

impl Default for AdminWorkload {
    fn default() -> Self {
        AdminWorkload {
            admins: 1,
            interval: HumanDuration::from_millis(300),
            retain_records: 600,
            backlog_consumers: 1,
            backlog_start: HumanDuration::from_millis(15_000),
        }
    }
}

impl AdminWorkload {
    /// What each admin client does.
    pub fn config(&self) -> AdminConfig {
        AdminConfig {
            interval: self.interval.0,
            retain_records: self.retain_records as i64,
        }
    }

    /// The admin checker's options: acknowledgements prove commitment only under acks=all,
    /// and every offset below the high watermark is read by final reads unless
    /// transactions leave markers between records.
    pub fn check_options(&self, acks_all: bool, transactions: bool) -> AdminOptions {
        AdminOptions {
            acks_all,
            final_reads: !transactions,
        }
    }
}
