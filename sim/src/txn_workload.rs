//! The `[workload.txn]` table of a scenario: producers run Kafka transactions (Jepsen's
//! `txn` ops, KIP-98) instead of plain sends, and how. Its presence turns transactions on;
//! absent (the default), a scenario runs, hashes and traces exactly as before.
//!
//! ```toml
//! [workload.txn]
//! abort_ratio = 0.1               # share of transactions aborted on purpose
//! isolation = "read_committed"    # consumers' and final reads' Fetch isolation
//! offsets = true                  # consume-transform-produce: offsets sent to `group`
//! fencing = true                  # producers in pairs share a transactional.id
//! transaction_timeout = "10s"     # transaction.timeout.ms
//! ```

use serde::{Deserialize, Serialize};

use faultline_checker::log::LogOptions;
use faultline_checker::txn::TxnOptions;
use faultline_checker::AnomalyKind;
use faultline_workload::transactional::TxnConfig;

use crate::duration::HumanDuration;

/// Fetch's `isolation_level` (KIP-98).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Isolation {
    /// Up to the high watermark, aborted records included.
    ReadUncommitted,
    /// Up to the last stable offset, aborted transactions dropped.
    #[default]
    ReadCommitted,
}

impl Isolation {
    /// The wire value.
    pub fn wire(self) -> i8 {
        match self {
            Isolation::ReadUncommitted => 0,
            Isolation::ReadCommitted => 1,
        }
    }
}

/// How producers run transactions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TxnWorkload {
    /// The share of transactions the workload aborts on purpose, 0 to 1 (default 0.1).
    pub abort_ratio: f64,
    /// The consumers' and the final reads' isolation (default `"read_committed"`); the
    /// transactions' own polls are always read_committed.
    pub isolation: Isolation,
    /// Consume-transform-produce: a transaction that polled sends its positions to the
    /// workload's `group` (AddOffsetsToTxn + TxnOffsetCommit, KIP-447).
    pub offsets: bool,
    /// Producers come in pairs sharing one `transactional.id`, so each InitProducerId
    /// fences the other, often mid-transaction (KIP-98 zombie fencing).
    pub fencing: bool,
    /// `transaction.timeout.ms`: the coordinator aborts a transaction open longer. Must be
    /// below `final_read_timeout`, so a transaction left open at the end cannot hold the
    /// last stable offset past the final reads.
    pub transaction_timeout: HumanDuration,
}

impl Default for TxnWorkload {
    fn default() -> Self {
        TxnWorkload {
            abort_ratio: 0.1,
            isolation: Isolation::ReadCommitted,
            offsets: false,
            fencing: false,
            transaction_timeout: HumanDuration::from_millis(10_000),
        }
    }
}

impl TxnWorkload {
    /// Cross-field mistakes, given the scenario's final-read timeout.
    pub fn validate(&self, final_read_timeout: HumanDuration) -> Result<(), String> {
        if !(0.0..=1.0).contains(&self.abort_ratio) {
            return Err(format!(
                "workload.txn.abort_ratio must be within 0..=1, got {}",
                self.abort_ratio
            ));
        }
        if self.transaction_timeout.0 >= final_read_timeout.0 {
            return Err(
                "workload.txn.transaction_timeout must be below workload.final_read_timeout".into(),
            );
        }
        Ok(())
    }

    /// What the transactional producers draw from.
    pub fn config(&self, group: &str) -> TxnConfig {
        TxnConfig {
            abort_ratio: self.abort_ratio,
            offsets_group: self.offsets.then(|| group.to_string()),
            transaction_timeout_ms: self.transaction_timeout.0.as_millis() as i32,
            ..TxnConfig::default()
        }
    }

    /// The `transactional.id` of producer `p`: shared by pairs when fencing.
    pub fn transactional_id(&self, p: u32) -> String {
        let id = if self.fencing { p / 2 } else { p };
        format!("faultline-txn-{id}")
    }

    /// The transaction checker's options.
    pub fn check_options(&self) -> TxnOptions {
        TxnOptions {
            read_committed: self.isolation == Isolation::ReadCommitted,
            ..TxnOptions::default()
        }
    }

    /// The log checker's options under transactions: at read_uncommitted a consumer may
    /// read an aborted transaction's records, which is no aborted read (KIP-98).
    pub fn log_options(&self, mut options: LogOptions) -> LogOptions {
        if self.isolation == Isolation::ReadUncommitted {
            options.allowed.insert(AnomalyKind::AbortedRead);
        }
        options
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fencing_pairs_producers_on_one_transactional_id() {
        let fencing = TxnWorkload {
            fencing: true,
            ..TxnWorkload::default()
        };
        assert_eq!(fencing.transactional_id(0), fencing.transactional_id(1));
        assert_ne!(fencing.transactional_id(1), fencing.transactional_id(2));
        let alone = TxnWorkload::default();
        assert_ne!(alone.transactional_id(0), alone.transactional_id(1));
    }

    #[test]
    fn bad_ratios_and_timeouts_are_refused() {
        let final_reads = HumanDuration::from_millis(20_000);
        assert!(TxnWorkload::default().validate(final_reads).is_ok());
        let ratio = TxnWorkload {
            abort_ratio: 1.5,
            ..TxnWorkload::default()
        };
        assert!(ratio.validate(final_reads).is_err());
        let timeout = TxnWorkload {
            transaction_timeout: HumanDuration::from_millis(30_000),
            ..TxnWorkload::default()
        };
        assert!(timeout.validate(final_reads).is_err());
    }

    #[test]
    fn read_uncommitted_allows_reading_aborted_records() {
        let uncommitted = TxnWorkload {
            isolation: Isolation::ReadUncommitted,
            ..TxnWorkload::default()
        };
        let options = uncommitted.log_options(LogOptions::default());
        assert!(options.allowed.contains(&AnomalyKind::AbortedRead));
        assert!(!uncommitted.check_options().read_committed);
        let committed = TxnWorkload::default().log_options(LogOptions::default());
        assert!(!committed.allowed.contains(&AnomalyKind::AbortedRead));
    }
}
