//! How cases are generated, per family: proptest strategies over [`Op`]s with the sizes
//! the issue asks for (1–3 partitions, 1–4 clients, batches of 1–50 records, acks
//! 0/1/all, fetches at the start, the end, inside any batch, past the end, below the
//! start, with small max_bytes; duplicates, gaps and epoch bumps; joins, rejoins, stale
//! generations, unknown members). proptest shrinks a failing case by dropping ops and
//! simplifying the ones left.

use proptest::collection::vec;
use proptest::prelude::*;

use super::ops::{Acks, Case, Claim, FetchAt, MaxBytes, OffsetQuery, Op, SequenceChoice};
use super::Family;

/// Ops per case, at most.
pub const OPS_MAX: usize = 30;

fn acks() -> impl Strategy<Value = Acks> {
    prop_oneof![Just(Acks::Leader), Just(Acks::All), Just(Acks::None)]
}

fn records() -> impl Strategy<Value = u8> {
    prop_oneof![3 => 1u8..=5, 1 => 1u8..=50]
}

fn produce() -> impl Strategy<Value = Op> {
    (0u8..4, 0u8..3, records(), acks()).prop_map(|(client, partition, records, acks)| Op::Produce {
        client,
        partition,
        records,
        acks,
    })
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

/// The op mix of one family.
pub fn op(family: Family) -> BoxedStrategy<Op> {
    match family {
        Family::ProduceFetch => prop_oneof![
            4 => produce(),
            1 => produce_concurrently(),
            4 => fetch(),
            2 => super::multi_fetch::fetch_partitions(),
            1 => metadata(),
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
