//! Coordinator failover through the broker (KIP-98): `__transaction_state` is replicated
//! like any partition; the follower that becomes its leader loads the transactions from
//! its replica and completes a commit the old coordinator had acknowledged.

use kafka_protocol::messages::add_partitions_to_txn_request::AddPartitionsToTxnTopic;
use kafka_protocol::messages::{
    AddPartitionsToTxnRequest, EndTxnRequest, InitProducerIdRequest, ProducerId, TopicName,
    TransactionalId,
};

use crate::broker::Broker;
use crate::config::ClusterConfig;
use crate::handlers::transactions::{self as txn, AwaitedTransition};
use crate::metadata::{MetadataRecord, PartitionRegistration};
use crate::storage::{MemoryStorage, TopicPartition};
use crate::txn::index::ControlType;
use crate::txn::metadata::TransactionState;
use crate::txn::{partition_for, TRANSACTION_STATE_TOPIC};

const ID: &str = "failover";

fn registration(topic: &str, partition: i32, leader: i32, epoch: i32) -> PartitionRegistration {
    PartitionRegistration {
        topic: topic.into(),
        partition,
        replicas: vec![1, 2],
        isr: vec![1, 2],
        leader,
        leader_epoch: epoch,
        partition_epoch: epoch,
    }
}

/// Brokers 1 and 2 replicating `events` (1 partition) and `__transaction_state` (3),
/// broker 1 leading.
fn cluster() -> (Broker, Broker) {
    let config = ClusterConfig {
        min_insync_replicas: 1,
        ..ClusterConfig::default()
    };
    let mut records = Vec::new();
    for (topic, partitions) in [("events", 1), (TRANSACTION_STATE_TOPIC, 3)] {
        records.push(MetadataRecord::Topic {
            name: topic.into(),
            partitions,
            configs: Default::default(),
        });
        for p in 0..partitions {
            records.push(MetadataRecord::Partition(registration(topic, p, 1, 0)));
        }
    }
    let start = |id| {
        let mut broker = Broker::new(id, config.clone(), Box::new(MemoryStorage::default()));
        broker.apply_metadata(&records, 0);
        broker
    };
    (start(1), start(2))
}

/// One follower fetch round from leader 1 to follower 2 on `key`, then a second fetch
/// that tells the leader how far the follower got (the high watermark moves).
fn replicate(leader: &mut Broker, follower: &mut Broker, key: &TopicPartition) {
    for _ in 0..2 {
        let offset = follower.partitions[key].log.end_offset();
        let partition = leader.partitions.get_mut(key).unwrap();
        let read = partition
            .fetch_by_follower(2, offset, 0, 0, 1 << 20, 1_000)
            .unwrap();
        let high_watermark = partition.high_watermark;
        follower.follower_append(key, Some(&read.bytes), high_watermark, 0);
    }
}

fn settle(leader: &mut Broker, follower: &mut Broker, awaited: AwaitedTransition) {
    let key = (TRANSACTION_STATE_TOPIC.to_string(), partition_for(ID, 3));
    assert!(
        txn::poll_transition(leader, &awaited).is_none(),
        "waits for the follower"
    );
    replicate(leader, follower, &key);
    txn::poll_transition(leader, &awaited).unwrap().unwrap();
}

/// KIP-98: the commit acknowledged by coordinator 1 (PrepareCommit replicated) survives
/// its failure: coordinator 2 loads it and writes COMMIT markers in its own epoch.
#[test]
fn kip_98_a_new_coordinator_completes_an_acknowledged_commit() {
    let (mut one, mut two) = cluster();
    let init = InitProducerIdRequest::default()
        .with_transactional_id(Some(TransactionalId(ID.into())))
        .with_transaction_timeout_ms(60_000)
        .with_producer_id(ProducerId(-1))
        .with_producer_epoch(-1);
    let (awaited, _) = txn::init_begin(&mut one, &init, 4, 0).unwrap();
    let producer = awaited.target.clone();
    settle(&mut one, &mut two, awaited);
    let add = AddPartitionsToTxnRequest::default()
        .with_v3_and_below_transactional_id(TransactionalId(ID.into()))
        .with_v3_and_below_producer_id(ProducerId(producer.producer_id))
        .with_v3_and_below_producer_epoch(producer.producer_epoch)
        .with_v3_and_below_topics(vec![AddPartitionsToTxnTopic::default()
            .with_name(TopicName("events".into()))
            .with_partitions(vec![0])]);
    let awaited = txn::add_partitions_begin(&mut one, &add, 3, 0)
        .unwrap()
        .unwrap();
    settle(&mut one, &mut two, awaited);
    let end = EndTxnRequest::default()
        .with_transactional_id(TransactionalId(ID.into()))
        .with_producer_id(ProducerId(producer.producer_id))
        .with_producer_epoch(producer.producer_epoch)
        .with_committed(true);
    let awaited = txn::end_begin(&mut one, &end, 3).unwrap().unwrap();
    settle(&mut one, &mut two, awaited);
    // Broker 1 fails; broker 2 is elected leader of every partition in epoch 1.
    let index = partition_for(ID, 3);
    assert!(
        two.transactions.get(ID).is_err(),
        "a follower coordinates nothing"
    );
    let records: Vec<MetadataRecord> = [("events", 0), (TRANSACTION_STATE_TOPIC, index)]
        .iter()
        .map(|&(topic, p)| MetadataRecord::Partition(registration(topic, p, 2, 1)))
        .collect();
    two.apply_metadata(&records, 100);
    let loaded = two.transactions.get(ID).unwrap().unwrap().clone();
    assert_eq!(loaded.state, TransactionState::PrepareCommit);
    assert_eq!(loaded.partitions, vec![("events".to_string(), 0)]);
    let jobs = two.transactions.marker_jobs();
    assert_eq!(jobs.len(), 1);
    assert_eq!(jobs[0].marker.control, ControlType::Commit);
    assert_eq!(jobs[0].marker.coordinator_epoch, 1);
}
