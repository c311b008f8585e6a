//! `Op::write_json` (the fast path every run's trace hash and history file go through)
//! prints exactly what `serde_json` prints for `Op::to_json`, for every kind of op: the
//! documented shape (`docs/history-format.md`) and the recorded trace hashes depend on it.

use std::collections::BTreeMap;

use faultline_checker::history::{
    Fault, Function, MicroOp, Op, OpType, OpValue, Process, ProducerIdentity,
};
use proptest::prelude::*;

fn text() -> impl Strategy<Value = String> {
    // Quotes, backslashes, control characters and non-ASCII exercise the escaping.
    prop::collection::vec(
        prop_oneof![
            Just('a'),
            Just('"'),
            Just('\\'),
            Just('\n'),
            Just('\u{1}'),
            Just('é'),
            Just(' ')
        ],
        0..6,
    )
    .prop_map(|chars| chars.into_iter().collect())
}

fn identity() -> impl Strategy<Value = ProducerIdentity> {
    (any::<i64>(), any::<i16>()).prop_map(|(producer_id, producer_epoch)| ProducerIdentity {
        producer_id,
        producer_epoch,
    })
}

fn micro_op() -> impl Strategy<Value = MicroOp> {
    // Keys up to 30, so that maps hold "10" and "2" (serde_json sorts them as strings).
    let reads = prop::collection::btree_map(
        0..30u32,
        prop::collection::vec((any::<i64>(), any::<u64>()), 0..3),
        0..4,
    );
    prop_oneof![
        (0..30u32, any::<u64>(), prop::option::of(any::<i64>()))
            .prop_map(|(key, value, offset)| MicroOp::Send { key, value, offset }),
        prop::option::of(reads).prop_map(|reads| MicroOp::Poll { reads }),
        (text(), prop::option::of(identity())).prop_map(|(transactional_id, granted)| {
            MicroOp::Init {
                transactional_id,
                granted,
            }
        }),
        (text(), identity()).prop_map(|(transactional_id, identity)| MicroOp::Producer {
            transactional_id,
            identity,
        }),
        (
            text(),
            prop::collection::btree_map(0..30u32, any::<i64>(), 0..4)
        )
            .prop_map(|(group, offsets)| MicroOp::SendOffsets { group, offsets }),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    let value = prop_oneof![
        4 => prop::collection::vec(micro_op(), 0..4).prop_map(OpValue::MicroOps),
        1 => prop::collection::vec(0..30u32, 0..4).prop_map(OpValue::Keys),
        1 => (text(), prop::collection::vec(text(), 0..3), text())
            .prop_map(|(kind, targets, detail)| OpValue::Fault(Fault { kind, targets, detail })),
    ];
    (
        any::<u64>(),
        any::<u64>(),
        prop_oneof![
            any::<u32>().prop_map(Process::Client),
            Just(Process::Nemesis)
        ],
        prop_oneof![
            Just(OpType::Invoke),
            Just(OpType::Ok),
            Just(OpType::Fail),
            Just(OpType::Info)
        ],
        prop_oneof![
            Just(Function::Send),
            Just(Function::Poll),
            Just(Function::Txn),
            Just(Function::Assign),
            Just(Function::StartFault)
        ],
        value,
        prop::option::of(text()),
        prop::collection::btree_map(0u32..12, any::<i32>(), 0..4),
    )
        .prop_map(
            |(index, time, process, kind, f, value, error, leader_epochs)| Op {
                index,
                time,
                process,
                kind,
                f,
                value,
                error,
                leader_epochs,
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn write_json_prints_what_serde_json_prints(op in op()) {
        let mut fast = Vec::new();
        op.write_json(&mut fast).unwrap();
        let slow = serde_json::to_string(&op.to_json()).unwrap();
        prop_assert_eq!(String::from_utf8(fast).unwrap(), slow);
    }
}

#[test]
fn keys_of_a_poll_are_ordered_as_strings() {
    let reads: BTreeMap<u32, Vec<(i64, u64)>> =
        [(2, vec![(0, 7)]), (10, vec![])].into_iter().collect();
    let op = Op {
        index: 1,
        time: 2,
        process: Process::Client(3),
        kind: OpType::Ok,
        f: Function::Poll,
        value: OpValue::MicroOps(vec![MicroOp::Poll { reads: Some(reads) }]),
        error: Some("a \"quoted\" error".into()),
        leader_epochs: [(2, 5), (10, 4)].into_iter().collect(),
    };
    let mut fast = Vec::new();
    op.write_json(&mut fast).unwrap();
    let parsed = Op::from_json(&serde_json::from_slice(&fast).unwrap()).unwrap();
    assert_eq!(
        parsed, op,
        "the line reads back as the op, leader epochs included"
    );
    assert_eq!(
        String::from_utf8(fast).unwrap(),
        r#"{"error":"a \"quoted\" error","f":"poll","index":1,"leader_epochs":{"10":4,"2":5},"process":3,"time":2,"type":"ok","value":[["poll",{"10":[],"2":[[0,7]]}]]}"#
    );
}
