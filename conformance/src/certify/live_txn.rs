//! Transactions in the fault workload: with `[workload.txn]` in the certify scenario, the
//! producers run the simulation's transactional workload (Jepsen's `txn` ops as Kafka
//! transactions, KIP-98; `faultline_workload::transactional`) over real TCP, and the
//! transaction checker judges the history as in a simulated run (`sim::txn_workload`
//! makes the same choices from the same table). A target that does not advertise the
//! transactional APIs at the versions the workload sends runs the plain producers instead, and the `txn.*` fault properties
//! say why they are NOT APPLICABLE.

use faultline_checker::log::LogOptions;
use faultline_checker::txn::TxnOptions;
use faultline_checker::AnomalyKind;
use faultline_workload::transactional::TxnConfig;

use super::model::AdvertisedApi;
use faultline_workload::client::{self, txn};
use kafka_protocol::messages::ApiKey;

use super::suite::txn_calls::TxnVersions;

/// How the fault workload's producers run transactions.
#[derive(Debug, Clone, PartialEq)]
pub struct LiveTxn {
    /// What each transaction is drawn from; `offsets_group` is filled in with the run's
    /// group when `offsets`.
    pub config: TxnConfig,
    /// Consume-transform-produce: transactions send their polled positions to the
    /// workload's group (KIP-447).
    pub offsets: bool,
    /// Producers come in pairs sharing one `transactional.id`, fencing each other (KIP-98).
    pub fencing: bool,
    /// Consumers and final reads fetch at read_committed (else read_uncommitted).
    pub read_committed: bool,
}

impl LiveTxn {
    /// The `transactional.id` of producer `p` in a run whose group is `group` (unique per
    /// run, so a long-lived broker's earlier transactions never fence this run's).
    pub fn transactional_id(&self, group: &str, p: u32) -> String {
        let id = if self.fencing { p / 2 } else { p };
        format!("{group}-txn-{id}")
    }

    /// The transaction config for a run whose group is `group`.
    pub fn config(&self, group: &str) -> TxnConfig {
        TxnConfig {
            offsets_group: self.offsets.then(|| group.to_string()),
            ..self.config.clone()
        }
    }

    /// Fetch's isolation level for consumers and final reads (KIP-98).
    pub fn isolation_level(&self) -> i8 {
        i8::from(self.read_committed)
    }

    /// The transaction checker's options (as `sim::txn_workload::TxnWorkload`).
    pub fn check_options(&self) -> TxnOptions {
        TxnOptions {
            read_committed: self.read_committed,
            ..TxnOptions::default()
        }
    }

    /// The log checker's options: at read_uncommitted a consumer may read an aborted
    /// transaction's records, which is no aborted read (KIP-98).
    pub fn log_options(&self, mut options: LogOptions) -> LogOptions {
        if !self.read_committed {
            options.allowed.insert(AnomalyKind::AbortedRead);
        }
        options
    }
}

/// The versions the transactional workload's client sends, each fixed (it does not
/// negotiate): FindCoordinator v2 and InitProducerId v2 (`faultline_workload::client`'s
/// private constants), the rest its public ones.
fn workload_apis(offsets: bool) -> Vec<(ApiKey, i16, i16)> {
    let fixed = |api, version| (api, version, version);
    let mut apis = vec![
        fixed(ApiKey::FindCoordinator, 2),
        fixed(ApiKey::InitProducerId, 2),
        fixed(
            ApiKey::AddPartitionsToTxn,
            txn::ADD_PARTITIONS_TO_TXN_VERSION,
        ),
        fixed(ApiKey::EndTxn, txn::END_TXN_VERSION),
        fixed(ApiKey::Produce, client::PRODUCE_VERSION),
        fixed(ApiKey::Fetch, client::FETCH_VERSION),
    ];
    if offsets {
        apis.push(fixed(
            ApiKey::AddOffsetsToTxn,
            txn::ADD_OFFSETS_TO_TXN_VERSION,
        ));
        apis.push(fixed(
            ApiKey::TxnOffsetCommit,
            txn::TXN_OFFSET_COMMIT_VERSION,
        ));
    }
    apis
}

/// Whether the target can run the transactional workload: `None` when it advertises every
/// API at the version the workload's client sends (the transactional APIs of KIP-98, and
/// AddOffsetsToTxn with TxnOffsetCommit for consume-transform-produce), else why not.
pub fn unsupported(txn: &LiveTxn, advertised: &[AdvertisedApi]) -> Option<String> {
    TxnVersions::of(advertised, &workload_apis(txn.offsets)).err().map(|why| {
        format!("the workload's producers ran without transactions: {why} (the transactional workload sends FindCoordinator v2, InitProducerId v2, AddPartitionsToTxn v3, EndTxn v3, Produce v8, Fetch v11, and with offsets AddOffsetsToTxn v3 and TxnOffsetCommit v3; KIP-98)")
    })
}

/// Drops the plan's transactions (`LivePlan::txn`) when the target cannot run them; returns why the `txn.*`
/// fault properties have no transaction report to judge, should there be none.
pub fn fit(txn: &mut Option<LiveTxn>, advertised: &[AdvertisedApi]) -> String {
    let Some(found) = txn else {
        return "the workload ran no transactions (certify with a scenario that has [workload.txn], e.g. scenarios/certify-txn.toml)".into();
    };
    match unsupported(found, advertised) {
        Some(why) => {
            *txn = None;
            why
        }
        None => "the transaction checker did not run".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api(key: i16, max: i16) -> AdvertisedApi {
        AdvertisedApi {
            key,
            name: String::new(),
            min_version: 0,
            max_version: max,
        }
    }

    #[test]
    fn transactions_need_every_transactional_api() {
        let txn = LiveTxn {
            config: TxnConfig::default(),
            offsets: false,
            fencing: true,
            read_committed: true,
        };
        // Produce, Fetch, FindCoordinator, InitProducerId, AddPartitionsToTxn, EndTxn.
        let mut advertised = vec![
            api(0, 9),
            api(1, 12),
            api(10, 3),
            api(22, 4),
            api(24, 3),
            api(26, 3),
        ];
        assert_eq!(unsupported(&txn, &advertised), None);
        let offsets = LiveTxn {
            offsets: true,
            ..txn.clone()
        };
        assert!(unsupported(&offsets, &advertised).is_some());
        advertised.retain(|a| a.key != 26);
        let why = unsupported(&txn, &advertised).expect("no EndTxn");
        assert!(why.contains("EndTxn"), "{why}");
        assert_eq!(txn.transactional_id("g", 0), txn.transactional_id("g", 1));
        assert_ne!(txn.transactional_id("g", 1), txn.transactional_id("g", 2));
    }
}
