//! A follower whose disk refuses appends: it keeps nothing of what it fetched and says so
//! (its fetcher then backs off), and a disk that knows it refuses
//! (`Storage::refuses_appends`) leaves the follower exactly as an append and its undo do.

use bytes::Bytes;
use kafka_protocol::records::Compression;

use faultline_wire::batch::HEADER_BYTES;
use faultline_wire::records::encode_batch;

use crate::broker::Broker;
use crate::config::ClusterConfig;
use crate::data_path_tests::{broker, fetch_request, produce_to, records, TOPIC};
use crate::handlers::fetch;
use crate::log::StoredBatch;
use crate::storage::{Recovered, Storage, StorageError, TopicPartition};

/// Where a batch's CRC sits, and the attributes from which it is computed (Kafka protocol
/// guide, "Record Batch").
const CRC: usize = 17;
const ATTRIBUTES: usize = 21;

/// A disk that refuses every append (EIO), saying so beforehand or not.
struct RefusingDisk {
    says_so: bool,
}

impl Storage for RefusingDisk {
    fn append(&mut self, p: &TopicPartition, _: &[StoredBatch]) -> Result<(), StorageError> {
        Err(StorageError {
            partition: p.clone(),
        })
    }
    fn truncate(&mut self, _: &TopicPartition, _: i64) {}
    fn put_blob(&mut self, _: &str, _: Vec<u8>) {}
    fn sync(&mut self) {}
    fn recover(&self) -> Recovered {
        Recovered::default()
    }
    fn refuses_appends(&self) -> bool {
        self.says_so
    }
}

/// What leader broker 1 sends a follower fetching partition 0 from `offset`: the bytes and
/// the high watermark.
fn fetched(leader: &mut Broker, offset: i64) -> (Bytes, i64) {
    let (results, _) = fetch::read(
        leader,
        &fetch_request(2, &[(0, offset)], i32::MAX, 1 << 20),
        0,
    );
    let read = results[0].result.as_ref().expect("the leader answers");
    (read.bytes.clone(), results[0].high_watermark)
}

/// A follower whose disk refuses the write keeps nothing of it and says so, so that its
/// fetcher backs off (Kafka's `AbstractFetcherThread` delays a partition whose append threw
/// `KafkaStorageException`) instead of refetching every round.
#[test]
fn a_follower_that_cannot_write_keeps_nothing_and_says_so() {
    let mut leader = broker(1, vec![1, 2], ClusterConfig::default());
    produce_to(
        &mut leader,
        0,
        encode_batch(&records(2, 10, 0), None, Compression::None),
        0,
    );
    let (bytes, high_watermark) = fetched(&mut leader, 0);
    let key = (TOPIC.to_string(), 0);
    for says_so in [false, true] {
        let mut failing = broker(2, vec![1, 2], ClusterConfig::default());
        failing.storage = Box::new(RefusingDisk { says_so });
        assert!(!failing.follower_append(&key, Some(&bytes), high_watermark, 0));
        assert_eq!(failing.partitions[&key].log.end_offset(), 0);
    }
    let mut healthy = broker(2, vec![1, 2], ClusterConfig::default());
    assert!(healthy.follower_append(&key, Some(&bytes), high_watermark, 0));
    assert_eq!(healthy.partitions[&key].log.end_offset(), 2);
}

/// A disk that says it refuses leaves the follower's log, high watermark, log start and
/// answer as an append and its undo do, whatever the fetch: from the follower's log end or
/// elsewhere, bytes that decode or not, any leader high watermark and log start.
#[test]
fn a_known_refusal_leaves_what_an_append_and_its_undo_leave() {
    let mut leader = broker(1, vec![1, 2], ClusterConfig::default());
    for i in 0..4 {
        let batch = encode_batch(&records(2 + i, 10, 100 * i as i64), None, Compression::None);
        produce_to(&mut leader, 0, batch, 0);
    }
    let key = (TOPIC.to_string(), 0);
    // A follower that already holds the first batch (2 records) with a high watermark of 1.
    let (first, _) = fetched(&mut leader, 0);
    let follower = |says_so: bool| {
        let mut b = broker(2, vec![1, 2], ClusterConfig::default());
        assert!(b.follower_append(&key, Some(&first.slice(..)), 1, 0));
        let p = b.partitions.get_mut(&key).expect("hosted");
        p.log.truncate_to(2);
        b.storage = Box::new(RefusingDisk { says_so });
        b
    };
    let (mut cases, mut refused) = (0, 0);
    for offset in [0, 2, 5] {
        let (bytes, _) = fetched(&mut leader, offset);
        // A last byte flipped fails a CRC (nothing is taken); a first record whose length
        // is garbage under a CRC made right again fails to decode (the batches from the
        // first are dropped).
        let mut corrupt = bytes.to_vec();
        let last = corrupt.len() - 1;
        corrupt[last] ^= 1;
        let mut undecodable = bytes.to_vec();
        let first_end = 12 + i32::from_be_bytes(undecodable[8..12].try_into().unwrap()) as usize;
        undecodable[HEADER_BYTES] = 0x7f;
        let crc = crc32c::crc32c(&undecodable[ATTRIBUTES..first_end]);
        undecodable[CRC..CRC + 4].copy_from_slice(&crc.to_be_bytes());
        let variants = [bytes, corrupt.into(), undecodable.into(), Bytes::new()];
        for bytes in variants {
            for leader_high_watermark in [0, 1, 2, 3, 7, 14] {
                for leader_log_start in [0, 1, 2, 4] {
                    let mut slow = follower(false);
                    let mut fast = follower(true);
                    let args = (Some(&bytes), leader_high_watermark, leader_log_start);
                    let answer = slow.follower_append(&key, args.0, args.1, args.2);
                    assert_eq!(fast.follower_append(&key, args.0, args.1, args.2), answer);
                    refused += usize::from(!answer);
                    let (s, f) = (&slow.partitions[&key], &fast.partitions[&key]);
                    assert!(
                        s.log == f.log,
                        "offset {offset}, hw {leader_high_watermark}"
                    );
                    assert_eq!(s.high_watermark, f.high_watermark);
                    cases += 1;
                }
            }
        }
    }
    assert_eq!(cases, 3 * 4 * 6 * 4);
    // Only the whole fetch from the log end writes (and is refused): 6 × 4 of the cases.
    assert_eq!(refused, 6 * 4);
}
