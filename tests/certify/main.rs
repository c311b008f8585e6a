//! Certification end to end, one binary (link time): the fault workload and certificate
//! against `faultline serve` and Tansu (`fault_workload`), the protocol suite's probes
//! (`certify_suite`), and the model-based suite over turmoil against the reference broker
//! (`model_based`).

#[path = "../common/mod.rs"]
mod common;

mod certify_suite;
mod fault_workload;
mod model_based;
