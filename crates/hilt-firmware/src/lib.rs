//! The firmware core of hilt.
//!
//! Everything a board runs above its TCP socket lives here, written once
//! against embedded-hal 1.0 traits, so that the ESP32-C3 image, the Wokwi
//! simulation and the host simulation all run the same code.
//!
//! The layers, from the bottom up:
//!
//! - [`time`]: the [`Instant`](time::Instant) the caller hands in. Nothing in
//!   this crate reads a clock; time is always an argument.
//! - [`onewire`] and [`ds18b20`]: a bit-banged 1-Wire bus over an open-drain
//!   pin and `DelayNs`, and the DS18B20 temperature sensor on top of it;
//!   [`tsl2591`]: the light sensor on I2C; [`sensors`]: the traits apps use
//!   instead of a chip.
//! - [`pins`]: the board's pin map, the one place GPIO numbers live;
//!   [`platform`]: what an app may ask of the chip (reset cause, RTC memory,
//!   watchdog); [`serial_log`]: the serial line a board prints per message.
//! - [`mqtt`]: an MQTT 3.1.1 codec and a sans-IO client session (connect,
//!   keepalive, reconnect with backoff, QoS 1 and 2 flows). The session is
//!   handed received bytes and the time, and hands back bytes to send and the
//!   next instant it needs to run, like smoltcp's `poll`/`poll_at`.
//! - [`ota`]: firmware updates over MQTT (MQBoard's protocol, both sides),
//!   ESP-IDF's app descriptor and OTA data, and the bootloader's choice of
//!   slot with rollback, all over the `embedded-storage` NOR flash traits.
//! - [`app`]: the [`App`](app::App) trait a firmware application implements,
//!   and [`Node`](app::Node), which joins an app to an MQTT session.
//! - [`apps`]: the reference apps (thermometer, remote-led, sensor-data,
//!   light-status, node-manager) and the `monitor`; [`settings`]: how each
//!   app's settings are read from `key = text` pairs, the one parser the
//!   simulation, the image build and the Wokwi export share.
//!
//! With the `fake-broker` feature (std), `fake_broker` is the in-process
//! broker that the apps' unit tests and the fuzz driver drive firmware with.
#![no_std]

// A firmware crate written against the core needs the same embedded-hal and
// heapless; re-exported so that it needs no other dependency to agree on
// their versions.
pub use embedded_hal;
pub use heapless;

/// The firmware core's version, which the apps report as their firmware version.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

pub mod app;
pub mod apps;
pub mod ds18b20;
#[cfg(any(test, feature = "fake-broker"))]
pub mod fake_broker;
pub mod mqtt;
pub mod onewire;
pub mod ota;
pub mod partitions;
pub mod pins;
pub mod platform;
pub mod sensors;
pub mod serial_log;
pub mod settings;
pub mod time;
pub mod tsl2591;
