//! MQTT 3.1.1 for the firmware: a zero-copy codec and a sans-IO client session.
pub mod codec;
pub mod session;
pub mod topic;
