//! faultline-broker: the reference broker.
