//! How cases are generated, per family: proptest strategies over [`Op`]s with the sizes
//! the issue asks for (1–3 partitions, 1–4 clients, batches of 1–50 records, acks
//! 0/1/all, fetches at the start, the end, inside any batch, past the end, below the
//! start, with small max_bytes; duplicates, gaps and epoch bumps; joins, rejoins, stale
//! generations, unknown members). proptest shrinks a failing case by dropping ops and
//! simplifying the ones left.

use proptest::collection::vec;
use proptest::prelude::*;

use super::ops::{
    Acks, Case, Claim, CountChoice, DeleteAt, FetchAt, Malformation, MaxBytes, OffsetQuery, Op,
    SequenceChoice, TopicNameChoice,
};
use super::Family;

/// Ops per case, at most.
pub const OPS_MAX: usize = 30;

fn acks() -> impl Strategy<Value = Acks> {
    prop_oneof![Just(Acks::Leader), Just(Acks::All), Just(Acks::None)]
}

fn records() -> impl Strategy<Value = u8> {
    prop_oneof![3 => 1u8..=5, 1 => 1u8..=50]
}

/// The base offset a Produce writes in its batch header: mostly 0, as producers do.
fn header_offset() -> impl Strategy<Value = u32> {
    prop_oneof![6 => Just(0u32), 1 => 1u32..=100, 1 => any::<u32>()]
}

fn produce() -> impl Strategy<Value = Op> {
    (0u8..4, 0u8..3, records(), acks(), header_offset()).prop_map(
        |(client, partition, records, acks, header_offset)| Op::Produce {
            client,
            partition,
            records,
            acks,
            header_offset,
        },
    )
}

fn produce_concurrently() -> impl Strategy<Value = Op> {
    (
        0u8..3,
        vec((0u8..4, records()), 2..=4),
        prop_oneof![Just(Acks::All), Just(Acks::Leader)],
    )
        .prop_map(|(partition, batches, acks)| Op::ProduceConcurrently {
            partition,
            batches,
            acks,
        })
}

fn fetch_at() -> impl Strategy<Value = FetchAt> {
    prop_oneof![
        1 => Just(FetchAt::LogStart),
        1 => Just(FetchAt::LogEnd),
        3 => (any::<u8>(), any::<u8>()).prop_map(|(batch, record)| FetchAt::InsideBatch { batch, record }),
        1 => (1u8..=5).prop_map(|beyond| FetchAt::PastEnd { beyond }),
        1 => Just(FetchAt::BelowLogStart),
    ]
}

fn fetch() -> impl Strategy<Value = Op> {
    let max_bytes =
        prop_oneof![3 => Just(MaxBytes::Large), 1 => (1u16..200).prop_map(MaxBytes::Small)];
    (0u8..4, 0u8..3, fetch_at(), max_bytes).prop_map(|(client, partition, at, max_bytes)| {
        Op::Fetch {
            client,
            partition,
            at,
            max_bytes,
        }
    })
}

fn list_offsets() -> impl Strategy<Value = Op> {
    let query = prop_oneof![
        Just(OffsetQuery::Earliest),
        Just(OffsetQuery::Latest),
        Just(OffsetQuery::MaxTimestamp),
        any::<u8>().prop_map(OffsetQuery::TimestampOfBatch),
        any::<u8>().prop_map(OffsetQuery::JustAfterBatch),
        Just(OffsetQuery::AfterEverything),
    ];
    (0u8..4, 0u8..3, query).prop_map(|(client, partition, query)| Op::ListOffsets {
        client,
        partition,
        query,
    })
}

fn metadata() -> impl Strategy<Value = Op> {
    (0u8..4).prop_map(|client| Op::Metadata { client })
}

fn idempotent() -> impl Strategy<Value = Op> {
    let sequence = prop_oneof![
        4 => Just(SequenceChoice::Next),
        3 => (0u8..5).prop_map(SequenceChoice::Duplicate),
        1 => (1u8..=3).prop_map(SequenceChoice::Gap),
        1 => Just(SequenceChoice::StaleEpoch),
    ];
    (0u8..2, 0u8..3, records(), sequence).prop_map(|(producer, partition, records, sequence)| {
        Op::IdempotentProduce {
            producer,
            partition,
            records,
            sequence,
        }
    })
}

fn init_producer_id() -> impl Strategy<Value = Op> {
    (0u8..2, any::<bool>()).prop_map(|(producer, bump)| Op::InitProducerId { producer, bump })
}

fn claim() -> impl Strategy<Value = Claim> {
    prop_oneof![4 => Just(Claim::Current), 2 => Just(Claim::PreviousGeneration), 1 => Just(Claim::UnknownMember)]
}

fn group_op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => proptest::sample::subsequence(vec![0u8, 1, 2, 3], 1..=4).prop_map(|members| Op::Join { members }),
        3 => Just(Op::Sync),
        2 => (0u8..4, claim()).prop_map(|(member, claim)| Op::Heartbeat { member, claim }),
        3 => (0u8..4, super::commit_edges::commit_claim(), 0u8..3, any::<u16>()).prop_map(|(member, claim, partition, offset)| Op::Commit { member, claim, partition, offset }),
        2 => (0u8..4).prop_map(|client| Op::FetchCommitted { client }),
        1 => (0u8..4).prop_map(|member| Op::Leave { member }),
    ]
}

fn malformed_produce() -> impl Strategy<Value = Op> {
    let malformation = prop_oneof![
        Just(Malformation::NoRecords),
        Just(Malformation::ControlBit),
        prop_oneof![-3i8..=-1, 1i8..=3].prop_map(Malformation::LastOffsetDelta),
        (1u8..=3, prop_oneof![Just(0i8), Just(-1), Just(1), Just(7)]).prop_map(
            |(shift, base_offset)| Malformation::ShiftedOffsetDeltas { shift, base_offset }
        ),
        Just(Malformation::RepeatedOffsetDelta),
        Just(Malformation::BadCrc),
    ];
    (0u8..4, 0u8..3, records(), malformation).prop_map(
        |(client, partition, records, malformation)| Op::MalformedProduce {
            client,
            partition,
            records,
            malformation,
        },
    )
}

fn topic_name_choice() -> impl Strategy<Value = TopicNameChoice> {
    prop_oneof![
        6 => any::<bool>().prop_map(|punctuation| TopicNameChoice::Legal { punctuation }),
        2 => prop_oneof![Just(249u16), Just(250)].prop_map(TopicNameChoice::Length),
        1 => Just(TopicNameChoice::Empty),
        1 => Just(TopicNameChoice::Dot),
        1 => Just(TopicNameChoice::DotDot),
        2 => proptest::sample::select(vec!['/', ' ', '*', ':', '#', '\\', 'é'])
            .prop_map(TopicNameChoice::IllegalChar),
    ]
}

fn create_topic() -> impl Strategy<Value = Op> {
    let partitions = prop_oneof![
        1 => Just(CountChoice::Default),
        1 => Just(CountChoice::Zero),
        4 => (1u8..=3).prop_map(CountChoice::Count),
    ];
    let replication_factor = prop_oneof![
        1 => Just(CountChoice::Default),
        1 => Just(CountChoice::Zero),
        4 => (0u8..3).prop_map(CountChoice::Count),
        1 => Just(CountChoice::PastLive),
    ];
    (0u8..4, topic_name_choice(), partitions, replication_factor).prop_map(
        |(client, name, partitions, replication_factor)| Op::CreateTopic {
            client,
            name,
            partitions,
            replication_factor,
        },
    )
}

fn delete_records() -> impl Strategy<Value = Op> {
    let at = prop_oneof![
        1 => Just(DeleteAt::HighWatermarkSentinel),
        1 => Just(DeleteAt::HighWatermark),
        3 => (any::<u8>(), any::<u8>()).prop_map(|(batch, record)| DeleteAt::InsideBatch { batch, record }),
        1 => Just(DeleteAt::BelowLogStart),
        1 => (1u8..=5).prop_map(|beyond| DeleteAt::PastHighWatermark { beyond }),
    ];
    (0u8..4, at).prop_map(|(client, at)| Op::DeleteRecords { client, at })
}

fn admin_op() -> impl Strategy<Value = Op> {
    let produce = (
        0u8..4,
        records(),
        prop_oneof![Just(Acks::Leader), Just(Acks::All)],
    )
        .prop_map(|(client, records, acks)| Op::Produce {
            client,
            partition: 0,
            records,
            acks,
            header_offset: 0,
        });
    let earliest_or_latest = (
        0u8..4,
        prop_oneof![Just(OffsetQuery::Earliest), Just(OffsetQuery::Latest)],
    )
        .prop_map(|(client, query)| Op::ListOffsets {
            client,
            partition: 0,
            query,
        });
    prop_oneof![
        4 => create_topic(),
        1 => (0u8..4, any::<u8>()).prop_map(|(client, which)| Op::CreateAgain { client, which }),
        2 => (0u8..4, any::<u8>()).prop_map(|(client, which)| Op::DescribeTopic { client, which }),
        4 => produce,
        3 => delete_records(),
        2 => earliest_or_latest,
        2 => fetch(),
    ]
}

/// The op mix of one family.
pub fn op(family: Family) -> BoxedStrategy<Op> {
    match family {
        Family::ProduceFetch => prop_oneof![
            4 => produce(),
            1 => produce_concurrently(),
            4 => fetch(),
            2 => super::multi_fetch::fetch_partitions(),
            1 => metadata(),
            1 => malformed_produce(),
        ]
        .boxed(),
        Family::ListOffsets => {
            prop_oneof![3 => produce(), 3 => list_offsets(), 1 => fetch()].boxed()
        }
        Family::Idempotence => prop_oneof![
            1 => init_producer_id(),
            5 => idempotent(),
            1 => fetch(),
        ]
        .boxed(),
        Family::Groups => group_op().boxed(),
        Family::Admin => admin_op().boxed(),
    }
}

/// Cases of one family.
pub fn case(family: Family) -> impl Strategy<Value = Case> {
    (1u8..=3, 1u8..=4, vec(op(family), 1..=OPS_MAX)).prop_map(|(partitions, clients, ops)| Case {
        partitions,
        clients,
        ops,
    })
}
