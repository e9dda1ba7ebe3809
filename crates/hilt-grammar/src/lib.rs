//! The small text grammars hilt reads in more than one place.
//!
//! - [`duration`]: `250us`, `500ms`, `2s`, `1m30s`, `24h`; what a scenario
//!   writes after `wait:` or `interval:`, and what `HILT_INTERVAL` holds
//!   when the firmware image is built.
//! - [`broker`]: a broker address, `host:port` (the image's `HILT_BROKER`)
//!   or `mqtt://host:port` (a scenario's `broker: { url: ... }` and the
//!   CLI's `--broker`).
//!
//! They live in a crate of their own, `no_std` and without dependencies,
//! because their readers are far apart: the scenario language (which knows
//! YAML), the firmware core (which must build for the ESP32-C3) and the
//! image's build script (which should not compile a YAML parser to read
//! `60s`). One parser means `interval: 60s` in a scenario and
//! `HILT_INTERVAL=60s` in a build can never drift apart.
//!
//! Errors borrow the text they point at, so nothing here allocates; each
//! error's `Display` is the message users see.
#![no_std]

pub mod broker;
pub mod duration;

pub use broker::{
    BrokerAddress, BrokerAddressError, DEFAULT_MQTT_PORT, DEFAULT_MQTTS_PORT, parse_broker_address,
    parse_broker_url,
};
pub use duration::{DurationError, WrittenDuration, parse_duration};
