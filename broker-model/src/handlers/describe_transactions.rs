//! DescribeTransactions and ListTransactions (KIP-664): the transaction coordinator's
//! view of its transactional ids, for operators and for the harness's own checks.

use kafka_protocol::messages::describe_transactions_response::{TopicData, TransactionState};
use kafka_protocol::messages::list_transactions_response::TransactionState as ListedTransaction;
use kafka_protocol::messages::{
    DescribeTransactionsRequest, DescribeTransactionsResponse, ListTransactionsRequest,
    ListTransactionsResponse, ProducerId, TopicName, TransactionalId,
};

use faultline_wire::ResponseError;

use crate::broker::Broker;

/// DescribeTransactions: each id's state, or NOT_COORDINATOR / TRANSACTIONAL_ID_NOT_FOUND.
pub fn describe(
    broker: &Broker,
    request: &DescribeTransactionsRequest,
) -> DescribeTransactionsResponse {
    let states = request
        .transactional_ids
        .iter()
        .map(|id| {
            let answer = TransactionState::default().with_transactional_id(id.clone());
            match broker.transactions.get(&id.0) {
                Err(error) => answer.with_error_code(error.code()),
                Ok(None) => answer.with_error_code(ResponseError::TransactionalIdNotFound.code()),
                Ok(Some(metadata)) => {
                    let mut topics: Vec<TopicData> = Vec::new();
                    for (topic, partition) in &metadata.partitions {
                        match topics.iter_mut().find(|t| t.topic.0.as_str() == topic) {
                            Some(t) => t.partitions.push(*partition),
                            None => topics.push(
                                TopicData::default()
                                    .with_topic(TopicName(topic.clone().into()))
                                    .with_partitions(vec![*partition]),
                            ),
                        }
                    }
                    answer
                        .with_transaction_state(metadata.state.name().into())
                        .with_transaction_timeout_ms(metadata.timeout_ms)
                        .with_transaction_start_time_ms(-1)
                        .with_producer_id(ProducerId(metadata.producer_id))
                        .with_producer_epoch(metadata.producer_epoch)
                        .with_topics(topics)
                }
            }
        })
        .collect();
    DescribeTransactionsResponse::default().with_transaction_states(states)
}

/// ListTransactions: the ids this broker coordinates, filtered by state and producer id
/// (empty filters match everything).
pub fn list(broker: &Broker, request: &ListTransactionsRequest) -> ListTransactionsResponse {
    let states = broker
        .transactions
        .all()
        .filter(|t| {
            request.state_filters.is_empty()
                || request
                    .state_filters
                    .iter()
                    .any(|s| s.as_str() == t.state.name())
        })
        .filter(|t| {
            request.producer_id_filters.is_empty()
                || request
                    .producer_id_filters
                    .contains(&ProducerId(t.producer_id))
        })
        .map(|t| {
            ListedTransaction::default()
                .with_transactional_id(TransactionalId(t.transactional_id.clone().into()))
                .with_producer_id(ProducerId(t.producer_id))
                .with_transaction_state(t.state.name().into())
        })
        .collect();
    ListTransactionsResponse::default().with_transaction_states(states)
}
