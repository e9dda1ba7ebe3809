//! The reference apps, one per tutorial system (see `shared/spec/apps.md`).
//!
//! Each is written once against embedded-hal traits and the [`App`](crate::app::App)
//! trait, and runs unchanged on the ESP32-C3, in Wokwi, in the host
//! simulation and against mocks.

mod json;
pub mod light_status;
pub mod monitor;
pub mod node_manager;
pub mod remote_led;
pub mod sensor_data;
#[cfg(test)]
mod test_harness;
pub mod thermometer;
