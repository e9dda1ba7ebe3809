//! The reference apps, one per tutorial system (see `shared/spec/apps.md`).
//!
//! Each is written once against embedded-hal traits and the [`App`](crate::app::App)
//! trait, and runs unchanged on the ESP32-C3, in Wokwi, in the host
//! simulation and against mocks.

pub mod remote_led;
pub mod thermometer;
