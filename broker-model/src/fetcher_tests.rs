//! The replica fetcher's answers: each partition's data goes to the partition it answers,
//! in whatever order the leader lists them.

use kafka_protocol::messages::fetch_response::{FetchableTopicResponse, PartitionData};
use kafka_protocol::messages::{FetchResponse, TopicName};
use kafka_protocol::records::Compression;

use faultline_wire::records::encode_batch;

use crate::config::ClusterConfig;
use crate::data_path_tests::{broker, fetch_request, produce_to, records, TOPIC};
use crate::handlers::fetch;
use crate::replica_fetcher::{on_fetch_response, FetchRound};

/// Partitions 0 and 1 answered in the order asked, reversed, or one of them alone: each
/// follower partition takes exactly its own records.
#[test]
fn answers_reach_their_partitions_in_any_order() {
    let mut leader = broker(1, vec![1, 2], ClusterConfig::default());
    for (partition, count) in [(0, 2), (1, 3)] {
        let batch = encode_batch(&records(count, 10, 0), None, Compression::None);
        produce_to(&mut leader, partition, batch, 0);
    }
    let (results, _) = fetch::read(
        &mut leader,
        &fetch_request(2, &[(0, 0), (1, 0)], i32::MAX, 1 << 20),
        0,
    );
    let data = |index: usize| {
        let read = results[index].result.as_ref().expect("the leader answers");
        PartitionData::default()
            .with_partition_index(index as i32)
            .with_high_watermark(results[index].high_watermark)
            .with_records(Some(read.bytes.clone()))
    };
    let orders: [&[usize]; 4] = [&[0, 1], &[1, 0], &[1], &[0]];
    for order in orders {
        let mut follower = broker(2, vec![1, 2], ClusterConfig::default());
        let round = FetchRound {
            asked: vec![
                ((TOPIC.to_string(), 0), 0, 0),
                ((TOPIC.to_string(), 1), 0, 0),
            ],
        };
        let response =
            FetchResponse::default().with_responses(vec![FetchableTopicResponse::default()
                .with_topic(TopicName(TOPIC.into()))
                .with_partitions(order.iter().map(|&i| data(i)).collect())]);
        on_fetch_response(&mut follower, &round, &response);
        for (partition, count) in [(0, 2), (1, 3)] {
            let expected = if order.contains(&partition) { count } else { 0 };
            let end = follower.partitions[&(TOPIC.to_string(), partition as i32)]
                .log
                .end_offset();
            assert_eq!(end, expected, "order {order:?}, partition {partition}");
        }
    }
}
