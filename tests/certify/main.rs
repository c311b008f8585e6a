//! Certification end to end, one binary (link time): the fault workload and certificate
//! against `faultline serve` and Tansu (`fault_workload`), the protocol suite's probes
//! (`certify_suite`), and the model-based suite over turmoil against the reference broker
//! (`model_based`), and real multi-broker clusters: `faultline cluster` processes and
//! librdkafka's mock cluster (`cluster`).

#[path = "../common/mod.rs"]
mod common;

mod certify_suite;
mod cluster;
mod fault_workload;
mod model_based;
mod transactions;
