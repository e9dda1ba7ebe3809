//! hilt for your own firmware: the whole command line for your apps, and the
//! one dependency the host side of a project needs.
//!
//! # Your own `hilt`
//!
//! [`main_with`] is the `hilt` command line (`replay`, `check`,
//! `transcript`, `wokwi`, `init`, with every option and exit code) run
//! against the apps of a [`Registry`](runner::Registry) you build. A
//! project's binary is three lines:
//!
//! ```no_run
//! # fn my_registry() -> hilt::prelude::Registry { hilt::prelude::Registry::with_bundled_apps() }
//! fn main() {
//!     hilt::main_with(my_registry())
//! }
//! ```
//!
//! The bundled `hilt` binary is exactly that with
//! [`Registry::with_bundled_apps`](runner::Registry::with_bundled_apps).
//! `hilt init <dir>` writes a project that does this (see the README's
//! "Your own firmware app" and docs/tutorial.md).
//!
//! # One dependency
//!
//! [`prelude`] holds what an app and its registration are written with;
//! the crates behind it are re-exported whole ([`firmware`], [`runner`],
//! [`scenario`], [`wokwi`], [`embedded_hal`], [`heapless`]) for the rest.
//! A firmware crate that must stay `no_std` (the one an ESP32 image
//! builds) depends on `hilt-firmware` instead, which re-exports
//! embedded-hal and heapless the same way.

// The examples show a whole `main`, which is what the reader writes.
#![allow(clippy::needless_doctest_main)]

mod cli;
mod filter;
mod in_order;
pub mod init;
mod ota;
mod partition;
mod record;
mod report;

pub use cli::run;

pub use embedded_hal;
pub use heapless;
pub use hilt_firmware as firmware;
pub use hilt_runner as runner;
pub use hilt_scenario as scenario;
pub use hilt_wokwi as wokwi;

/// Runs the command line of this process (`std::env::args_os`) against
/// the apps of `registry`, then exits with its code: 0 passed, 1 failed,
/// 2 invalid input or a harness error.
pub fn main_with(registry: runner::Registry) -> ! {
    let code = run(&registry, std::env::args_os());
    // `exit` flushes standard output; nothing else is left to drop.
    std::process::exit(i32::from(code))
}

/// What an app and its registration are written with, in one import:
/// `use hilt::prelude::*;`.
pub mod prelude {
    pub use embedded_hal::delay::DelayNs;
    pub use embedded_hal::digital::{InputPin, OutputPin};
    pub use hilt_firmware::app::{App, Context, Firmware, LogLevel, Message, Node};
    pub use hilt_firmware::mqtt::codec::QoS;
    pub use hilt_firmware::mqtt::session::SessionOptions;
    pub use hilt_firmware::pins::PinAssignment;
    pub use hilt_firmware::settings::Settings;
    pub use hilt_firmware::time::{Duration, Instant};
    pub use hilt_runner::{
        Board, ConfigReader, DeviceIdentity, Registry, RunOutcome, SimulatedApp, Verdict, run_paths,
    };
    pub use hilt_scenario::{PartDescription, PartKind};
    pub use hilt_wokwi::{ImageBuild, Wiring, WokwiImage};
}
