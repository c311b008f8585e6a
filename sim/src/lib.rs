//! faultline-sim: the deterministic world.
