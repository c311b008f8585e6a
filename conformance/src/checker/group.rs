//! Consumer-group checker (being written).
