//! faultline-conformance: certification of third-party Kafka-protocol brokers over real TCP.
//!
//! The same workload (`faultline-workload`) and checkers (`faultline-checker`) the
//! simulation runs, pointed at a broker nobody here wrote: target files and process control,
//! a fault proxy, a live fault driver, the protocol suite, and the judging that turns a
//! history and probe results into a certificate (`faultline-reports` owns its model).
//!
//! - [`certify`]: the whole of it, by concern (`target`, `process`, `proxy`, `live`,
//!   `suite`, `judge`, `session`).

pub mod certify;
