//! The checkers' integration tests, one binary (link time): table-driven trigger and
//! near-miss testdata per anomaly kind, properties of the log checker, and the
//! linearizability engine against known verdicts.

mod admin;
mod group;
mod history_json;
mod linearizable;
mod linearizable_scale;
mod log;
mod log_props;
mod txn;
