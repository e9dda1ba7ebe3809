//! Device time: the one place the glue reads a clock.
//!
//! The firmware core never reads a clock; it is handed an
//! [`Instant`] (microseconds since boot), in the simulation from the virtual
//! clock and on a board from embassy-time, driven by the chip's timer (or,
//! on the host, by embassy-time's std driver). Keeping the conversion in
//! one module keeps both directions (reading now, sleeping until a
//! deadline) on the same time base.

use hilt_firmware::time::Instant;

/// Now, as the firmware core counts time.
pub fn now() -> Instant {
    Instant::from_micros(embassy_time::Instant::now().as_micros())
}

/// The embassy-time instant of a firmware deadline, to sleep until it.
pub fn deadline(instant: Instant) -> embassy_time::Instant {
    embassy_time::Instant::from_micros(instant.as_micros())
}
