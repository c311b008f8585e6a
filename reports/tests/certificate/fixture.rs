//! A small certificate of a three-broker cluster: one PASS (ApiVersions), one FAIL (an
//! acknowledged write lost under a partition, shown by two exchanges and a history
//! excerpt whose strings carry `|` and `<script>` as a hostile broker might), and one NOT
//! APPLICABLE whose reason spans two lines and holds a `|`.

use std::collections::BTreeMap;

use faultline_checker::history::{Function, History, MicroOp, Op, OpType, OpValue, Process};
use faultline_reports::certificate::model::{
    AdvertisedApi, BrokerIdentity, Category, Certificate, Evidence, Exchange, PropertyResult,
    Status, WorkloadSummary, CERTIFICATE_SCHEMA_VERSION,
};

pub const PASS_ID: &str = "api-versions.advertised";
pub const FAIL_ID: &str = "workload.no-lost-writes";
pub const NOT_APPLICABLE_ID: &str = "describe-cluster.controller";

pub fn certificate() -> Certificate {
    Certificate {
        schema_version: CERTIFICATE_SCHEMA_VERSION,
        faultline_version: "0.1.0".into(),
        target: BrokerIdentity {
            name: "Example Kafka 3.7 (kraft)".into(),
            bootstrap: vec!["localhost:9092".into(), "localhost:9093".into()],
            cluster_id: Some("MkU3OEVBNTcwNTJENDM2Qk".into()),
            brokers: vec![
                (1, "broker-1:9092".into()),
                (2, "broker-2:9093".into()),
                (3, "broker-3:9094".into()),
            ],
            controller_id: Some(1),
            api_versions: vec![
                api(0, "Produce", 0, 9),
                api(1, "Fetch", 0, 13),
                api(3, "Metadata", 0, 12),
                api(18, "ApiVersions", 0, 3),
            ],
        },
        started_at: "2025-01-02T03:04:05Z".into(),
        elapsed_ms: 65_432,
        rerun: "faultline certify targets/example.toml --seed 42".into(),
        workload: Some(WorkloadSummary {
            seed: 42,
            duration_ms: 60_000,
            faults: vec![
                "12000: partition broker-1 from broker-2, broker-3".into(),
                "18000: heal".into(),
            ],
            stats: BTreeMap::from([
                ("ops".into(), 1_204),
                ("polls".into(), 301),
                ("sends-acknowledged".into(), 598),
            ]),
        }),
        properties: vec![pass(), fail(), not_applicable()],
    }
}

fn api(key: i16, name: &str, min_version: i16, max_version: i16) -> AdvertisedApi {
    AdvertisedApi {
        key,
        name: name.into(),
        min_version,
        max_version,
    }
}

fn pass() -> PropertyResult {
    PropertyResult {
        id: PASS_ID.into(),
        title: "ApiVersions answers with every API the broker serves".into(),
        category: Category::Protocol,
        citation: "Kafka protocol guide, ApiVersions; KIP-35".into(),
        status: Status::Pass,
        detail: "ApiVersions v3 answered with 4 APIs.".into(),
        evidence: Vec::new(),
    }
}

fn fail() -> PropertyResult {
    PropertyResult {
        id: FAIL_ID.into(),
        title: "An acknowledged write is never lost".into(),
        category: Category::Faults,
        citation: "Jepsen, lost write (Kafka analysis, 2013)".into(),
        status: Status::Fail,
        detail: "value 3 on key 0 was acknowledged at offset 2, then no consumer read it."
            .into(),
        evidence: vec![Evidence {
            summary: "acknowledged at offset 2 during a partition of broker-1; \
                      a fetch from offset 0 after the heal returned offsets 0..1 only"
                .into(),
            exchanges: vec![
                Exchange {
                    broker: "broker-1:9092".into(),
                    api: "Produce (0)".into(),
                    version: 9,
                    request: "ProduceRequest { acks: -1, topic: \"faultline\", partition: 0, \
                              records: [3] }"
                        .into(),
                    response: "ProduceResponse { error_code: 0, base_offset: 2 }".into(),
                    at_ms: 12_400,
                },
                Exchange {
                    broker: "broker-2:9093".into(),
                    api: "Fetch (1)".into(),
                    version: 13,
                    request: "FetchRequest { partition: 0, fetch_offset: 0 }".into(),
                    response: "FetchResponse { high_watermark: 2, records: [1, 2] }".into(),
                    at_ms: 19_050,
                },
            ],
            history: vec![
                r#"{"index":8,"time":12400000000,"process":0,"type":"ok","f":"send","value":[["send",0,[2,3]]]}"#.into(),
                r#"{"index":21,"time":19050000000,"process":2,"type":"fail","f":"poll","error":"broker said: </script><script>alert(1)</script> | oops"}"#.into(),
            ],
        }],
    }
}

fn not_applicable() -> PropertyResult {
    PropertyResult::not_applicable(
        NOT_APPLICABLE_ID,
        "DescribeCluster names the active controller",
        Category::Protocol,
        "KIP-700",
        "the broker does not advertise DescribeCluster (60) | skipped\nsee ApiVersions below",
    )
}

/// The fault workload's history behind the certificate (two ops of it).
pub fn history() -> History {
    let send = |offset| {
        OpValue::MicroOps(vec![MicroOp::Send {
            key: 0,
            value: 3,
            offset,
        }])
    };
    History {
        ops: vec![
            Op {
                index: 0,
                time: 12_300_000_000,
                process: Process::Client(0),
                kind: OpType::Invoke,
                f: Function::Send,
                value: send(None),
                error: None,
                leader_epochs: Default::default(),
            },
            Op {
                index: 1,
                time: 12_400_000_000,
                process: Process::Client(0),
                kind: OpType::Ok,
                f: Function::Send,
                value: send(Some(2)),
                error: None,
                leader_epochs: Default::default(),
            },
        ],
    }
}
