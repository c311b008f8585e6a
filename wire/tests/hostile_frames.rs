//! Malformed and truncated frames thrown at the request and response decoders: every one
//! is an error or a request, never a crash (the broker issue: "serve must never crash on
//! malformed frames"). Runs under the guarded allocator, as `serve` does.

use bytes::{BufMut, Bytes, BytesMut};
use faultline_wire::alloc_guard::GuardedAllocator;
use faultline_wire::codec::{decode_request, decode_response};
use faultline_wire::records::decode_records;
use kafka_protocol::messages::{ApiKey, FetchRequest, MetadataRequest, ProduceRequest};
use proptest::prelude::*;

#[global_allocator]
static ALLOCATOR: GuardedAllocator = GuardedAllocator;

/// A header for `api` at `version`, then `body`.
fn frame(api: i16, version: i16, body: &[u8]) -> Bytes {
    let mut out = BytesMut::new();
    out.put_i16(api);
    out.put_i16(version);
    out.put_i32(7);
    out.put_i16(-1); // null client id
    out.extend_from_slice(body);
    out.freeze()
}

/// The attack from the issue: a 5-byte body whose first array claims ~2^31 elements.
#[test]
fn a_huge_array_count_is_an_error_not_an_abort() {
    for api in [
        ApiKey::Produce,
        ApiKey::Fetch,
        ApiKey::Metadata,
        ApiKey::ListOffsets,
        ApiKey::JoinGroup,
        ApiKey::OffsetCommit,
    ] {
        let range = api.valid_versions();
        for version in range.min..=range.max {
            let body = [0x7f, 0xff, 0xff, 0xff, 0x01];
            let _ = decode_request(frame(api as i16, version, &body));
            let compact = [0xff, 0xff, 0xff, 0xff, 0x0f];
            let _ = decode_request(frame(api as i16, version, &compact));
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]

    /// Random bodies for every API and version the crate knows.
    #[test]
    fn random_request_bodies_never_crash(api in 0i16..=92, version in 0i16..=20, body in proptest::collection::vec(any::<u8>(), 0..64)) {
        let _ = decode_request(frame(api, version, &body));
    }

    /// Responses from a hostile broker (certification decodes them).
    #[test]
    fn random_response_bodies_never_crash(body in proptest::collection::vec(any::<u8>(), 0..64)) {
        let mut with_header = vec![0, 0, 0, 1];
        with_header.extend_from_slice(&body);
        let frame = Bytes::from(with_header);
        let _ = decode_response::<ProduceRequest>(frame.clone(), 8, 1);
        let _ = decode_response::<FetchRequest>(frame.clone(), 11, 1);
        let _ = decode_response::<MetadataRequest>(frame, 9, 1);
    }

    /// Record batches with random damage.
    #[test]
    fn random_record_bytes_never_crash(body in proptest::collection::vec(any::<u8>(), 0..200)) {
        let _ = decode_records(&Bytes::from(body));
    }
}

/// Every truncation of a valid request is an error, never a crash.
#[test]
fn truncated_requests_are_errors() {
    use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
    use kafka_protocol::messages::TopicName;
    use kafka_protocol::protocol::Encodable;
    let request = ProduceRequest::default()
        .with_acks(-1)
        .with_timeout_ms(1000)
        .with_topic_data(vec![TopicProduceData::default()
            .with_name(TopicName("events".into()))
            .with_partition_data(vec![PartitionProduceData::default()
                .with_index(0)
                .with_records(Some(Bytes::from_static(b"xyz")))])]);
    for version in [3i16, 8, 9] {
        let mut body = BytesMut::new();
        request.encode(&mut body, version).unwrap();
        let full = frame(ApiKey::Produce as i16, version, &body);
        assert!(decode_request(full.clone()).is_ok() || version >= 9);
        for cut in 0..full.len() {
            let _ = decode_request(full.slice(0..cut));
        }
    }
}
