//! Device time: the one place the image reads a clock.
//!
//! The firmware core never reads a clock; it is handed an
//! [`Instant`](hilt_firmware::time::Instant) (microseconds since boot), in
//! the simulation from the virtual clock and here from embassy-time, which
//! esp-rtos drives from a hardware timer. Keeping the conversion in one
//! module keeps both directions (reading now, sleeping until a deadline)
//! on the same time base.

use hilt_firmware::time::Instant;

/// Now, as the firmware core counts time.
pub fn now() -> Instant {
    Instant::from_micros(embassy_time::Instant::now().as_micros())
}

/// The embassy-time instant of a firmware deadline, to sleep until it.
pub fn deadline(instant: Instant) -> embassy_time::Instant {
    embassy_time::Instant::from_micros(instant.as_micros())
}
