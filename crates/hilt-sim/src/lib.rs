//! Simulated parts for hilt.
//!
//! A simulated part is a behavioural model that implements the same
//! embedded-hal 1.0 traits as the real pin or bus, not a script of expected
//! calls: the DS18B20 model answers resets and commands on a simulated 1-Wire
//! line, timed by the [`VirtualClock`](clock::VirtualClock); the TSL2591
//! model is a register file on a simulated [`i2c`] bus whose counts follow
//! the light after its integration time; [`platform`] is the chip itself
//! (reset cause, RTC memory, watchdog).
//!
//! Every part of one device shares that device's clock. Nothing here is
//! `Send`: a simulated device lives on one thread, and its clock only moves
//! when the runner or the firmware's `DelayNs` moves it.

pub mod clock;
pub mod ds18b20;
pub mod flash;
pub mod gpio;
pub mod i2c;
pub mod image;
pub mod onewire;
pub mod platform;
pub mod random;
pub mod tsl2591;
