//! What apps need from their sensors, apart from which chip provides it.
//!
//! An app depends on one of these traits, not on a driver, so it can be
//! tested with a fake and moved to another part; the drivers implement them.

use crate::time::Duration;

/// Why a light reading failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LightSensorError {
    /// The sensor did not acknowledge its address: missing, unpowered, or
    /// the bus is broken.
    Nack,
    /// A channel saturated: too bright for the gain and integration time.
    Saturated,
    /// Asked for a reading before the measurement finished.
    NotReady,
    /// Something answers at the sensor's address, but it is another chip.
    WrongDevice,
    /// Any other bus error.
    Bus,
}

impl LightSensorError {
    /// The name used in error reports: `nack`, `saturated`, `not_ready`,
    /// `wrong_device`, `bus_error`.
    pub fn code(self) -> &'static str {
        match self {
            LightSensorError::Nack => "nack",
            LightSensorError::Saturated => "saturated",
            LightSensorError::NotReady => "not_ready",
            LightSensorError::WrongDevice => "wrong_device",
            LightSensorError::Bus => "bus_error",
        }
    }
}

/// A light sensor measured in two steps, so an app never blocks for the
/// integration time.
pub trait LightSensor {
    /// Starts a measurement; returns how long until it can be read.
    fn start_measurement(&mut self) -> Result<Duration, LightSensorError>;
    /// Reads the finished measurement, in lux.
    fn read_lux(&mut self) -> Result<f32, LightSensorError>;
}
