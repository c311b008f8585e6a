//! The dispatch tables: which handler answers each API, as exhaustive matches over
//! [`ApiKey`] (one line per API). Served APIs are the ones [`super::broker_versions`] and
//! [`super::controller_versions`] list; the rest are the groups in `handlers/mod.rs`.

use kafka_protocol::messages::{ApiKey, RequestKind, ResponseKind};

use crate::controller::Controller;
use crate::node::BrokerNode;

use super::{
    admin, alter_configs, api_versions, broker_versions, controller, controller_versions,
    describe_configs, describe_transactions, find_coordinator, groups, metadata, offset_commit,
    offsets, support_table, topics,
};

/// The request body of `$variant`, or `None` from the enclosing function: the decoder
/// builds the body from the header's api key, so a mismatch is a malformed request.
macro_rules! body {
    ($body:expr, $variant:ident) => {
        match $body {
            RequestKind::$variant(request) => request,
            _ => return None,
        }
    };
}

impl BrokerNode {
    /// Answers one request a broker serves; `None` closes the connection.
    pub(crate) async fn dispatch(
        &self,
        api: ApiKey,
        version: i16,
        body: RequestKind,
        connection: u64,
    ) -> Option<ResponseKind> {
        let now = self.clock.now_ms();
        Some(match api {
            ApiKey::ApiVersions => {
                ResponseKind::ApiVersions(api_versions::handle(&support_table(broker_versions), 0))
            }
            ApiKey::Metadata => {
                let request = body!(body, Metadata);
                let response = metadata::handle(&mut self.lock(), &request, version);
                ResponseKind::Metadata(response)
            }
            ApiKey::ListOffsets => {
                let request = body!(body, ListOffsets);
                ResponseKind::ListOffsets(offsets::list_offsets(&self.lock(), &request))
            }
            ApiKey::OffsetForLeaderEpoch => {
                let request = body!(body, OffsetForLeaderEpoch);
                ResponseKind::OffsetForLeaderEpoch(offsets::offset_for_leader_epoch(
                    &self.lock(),
                    &request,
                ))
            }
            ApiKey::Produce => {
                let request = body!(body, Produce);
                self.auto_create_for_produce(&request);
                ResponseKind::Produce(self.produce(request).await)
            }
            ApiKey::Fetch => ResponseKind::Fetch(self.fetch(body!(body, Fetch), connection).await),
            ApiKey::DeleteRecords => {
                let request = body!(body, DeleteRecords);
                ResponseKind::DeleteRecords(self.delete_records(request).await)
            }
            ApiKey::InitProducerId => ResponseKind::InitProducerId(
                self.init_producer_id(body!(body, InitProducerId), version)
                    .await,
            ),
            ApiKey::FindCoordinator => {
                let request = body!(body, FindCoordinator);
                ResponseKind::FindCoordinator(find_coordinator::handle(&mut self.lock(), &request))
            }
            ApiKey::AddPartitionsToTxn => ResponseKind::AddPartitionsToTxn(
                self.add_partitions_to_txn(body!(body, AddPartitionsToTxn), version)
                    .await,
            ),
            ApiKey::AddOffsetsToTxn => ResponseKind::AddOffsetsToTxn(
                self.add_offsets_to_txn(body!(body, AddOffsetsToTxn), version)
                    .await,
            ),
            ApiKey::EndTxn => {
                ResponseKind::EndTxn(self.end_txn(body!(body, EndTxn), version).await)
            }
            ApiKey::TxnOffsetCommit => ResponseKind::TxnOffsetCommit(
                self.txn_offset_commit(body!(body, TxnOffsetCommit)).await,
            ),
            ApiKey::WriteTxnMarkers => ResponseKind::WriteTxnMarkers(
                self.write_txn_markers(body!(body, WriteTxnMarkers)).await,
            ),
            ApiKey::DescribeTransactions => {
                let request = body!(body, DescribeTransactions);
                ResponseKind::DescribeTransactions(describe_transactions::describe(
                    &self.lock(),
                    &request,
                ))
            }
            ApiKey::ListTransactions => {
                let request = body!(body, ListTransactions);
                ResponseKind::ListTransactions(describe_transactions::list(&self.lock(), &request))
            }
            ApiKey::JoinGroup => {
                ResponseKind::JoinGroup(self.join_group(body!(body, JoinGroup), version).await)
            }
            ApiKey::SyncGroup => {
                ResponseKind::SyncGroup(self.sync_group(body!(body, SyncGroup)).await)
            }
            ApiKey::Heartbeat => {
                let request = body!(body, Heartbeat);
                ResponseKind::Heartbeat(groups::heartbeat(&mut self.lock(), &request, now))
            }
            ApiKey::LeaveGroup => {
                let request = body!(body, LeaveGroup);
                ResponseKind::LeaveGroup(groups::leave(&mut self.lock(), &request, now))
            }
            ApiKey::OffsetCommit => {
                ResponseKind::OffsetCommit(self.offset_commit(body!(body, OffsetCommit)).await)
            }
            ApiKey::DeleteGroups => {
                ResponseKind::DeleteGroups(self.delete_groups(body!(body, DeleteGroups)).await)
            }
            ApiKey::OffsetDelete => {
                ResponseKind::OffsetDelete(self.offset_delete(body!(body, OffsetDelete)).await)
            }
            ApiKey::OffsetFetch => {
                let request = body!(body, OffsetFetch);
                ResponseKind::OffsetFetch(offset_commit::offset_fetch(&mut self.lock(), &request))
            }
            ApiKey::CreateTopics => ResponseKind::CreateTopics(
                self.create_topics(body!(body, CreateTopics), version).await,
            ),
            ApiKey::DeleteTopics => ResponseKind::DeleteTopics(
                self.delete_topics(body!(body, DeleteTopics), version).await,
            ),
            ApiKey::CreatePartitions => ResponseKind::CreatePartitions(
                self.create_partitions(body!(body, CreatePartitions)).await,
            ),
            ApiKey::IncrementalAlterConfigs => ResponseKind::IncrementalAlterConfigs(
                self.incremental_alter_configs(body!(body, IncrementalAlterConfigs))
                    .await,
            ),
            ApiKey::AlterConfigs => {
                ResponseKind::AlterConfigs(self.alter_configs(body!(body, AlterConfigs)).await)
            }
            ApiKey::DescribeConfigs => {
                let request = body!(body, DescribeConfigs);
                ResponseKind::DescribeConfigs(describe_configs::describe_configs(
                    &self.lock(),
                    &request,
                    version,
                ))
            }
            ApiKey::DescribeCluster => {
                let request = body!(body, DescribeCluster);
                ResponseKind::DescribeCluster(admin::describe_cluster(&self.lock(), &request))
            }
            ApiKey::ListGroups => {
                let request = body!(body, ListGroups);
                ResponseKind::ListGroups(admin::list_groups(&self.lock(), &request, version))
            }
            ApiKey::DescribeGroups => {
                let request = body!(body, DescribeGroups);
                ResponseKind::DescribeGroups(admin::describe_groups(
                    &self.lock(),
                    &request,
                    version,
                ))
            }
            controller_only_apis!() | unserved_apis!() => return None,
        })
    }
}

/// Answers one request the controller serves; `None` closes the connection.
pub fn controller_dispatch(
    state: &mut Controller,
    api: ApiKey,
    version: i16,
    body: &RequestKind,
    now_ms: u64,
) -> Option<ResponseKind> {
    Some(match api {
        ApiKey::ApiVersions => ResponseKind::ApiVersions(api_versions::handle(
            &support_table(controller_versions),
            version,
        )),
        ApiKey::BrokerRegistration => ResponseKind::BrokerRegistration(controller::register(
            state,
            body!(body, BrokerRegistration),
            now_ms,
        )),
        ApiKey::BrokerHeartbeat => ResponseKind::BrokerHeartbeat(controller::heartbeat(
            state,
            body!(body, BrokerHeartbeat),
            now_ms,
        )),
        ApiKey::AlterPartition => ResponseKind::AlterPartition(controller::alter_partition(
            state,
            body!(body, AlterPartition),
        )),
        ApiKey::Fetch => ResponseKind::Fetch(controller::fetch_metadata(state, body!(body, Fetch))),
        ApiKey::CreateTopics => {
            ResponseKind::CreateTopics(topics::create_topics(state, body!(body, CreateTopics)))
        }
        ApiKey::DeleteTopics => {
            ResponseKind::DeleteTopics(topics::delete_topics(state, body!(body, DeleteTopics)))
        }
        ApiKey::CreatePartitions => ResponseKind::CreatePartitions(topics::create_partitions(
            state,
            body!(body, CreatePartitions),
        )),
        ApiKey::IncrementalAlterConfigs => ResponseKind::IncrementalAlterConfigs(
            alter_configs::incremental_alter_configs(state, body!(body, IncrementalAlterConfigs)),
        ),
        ApiKey::AlterConfigs => ResponseKind::AlterConfigs(alter_configs::alter_configs(
            state,
            body!(body, AlterConfigs),
        )),
        broker_only_apis!() | unserved_apis!() => return None,
    })
}
