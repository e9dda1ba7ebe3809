//! The board glue: what runs between a network stack and the firmware
//! core's sans-IO [`Firmware`](hilt_firmware::app::Firmware) on a board.
//!
//! [`link::run`] opens the TCP link to the broker when the session asks,
//! reports what the socket did, moves bytes both ways and sleeps until the
//! node's next deadline; [`serial`] mirrors every message and log line to a
//! serial port, one line each, in the format `hilt wokwi` parses. Both are
//! generic over the network stack ([`network::Network`]) and the serial port
//! ([`serial::Serial`]): the ESP32-C3 image (`firmware/`) runs them over
//! embassy-net and its UART, and `hilt-board-host` over the host kernel's
//! TCP, or over embassy-net on a TAP device, and stdout, so the code a chip
//! runs between its radio and the firmware core is the code hilt runs in
//! its tests.
//!
//! With the `embassy-net` feature, [`embassy`] is the network over
//! embassy-net that both the image and hilt-board-host's TAP backend use.
//! With the `tls` feature, [`tls`] puts TLS 1.3 (embedded-tls) between the
//! node's bytes and the socket when the node asks for it
//! ([`link::run_with_tls`]).
//!
//! `no_std` and allocation-free, like the firmware core. Time is
//! embassy-time's ([`clock`]): the chip's timer on a board, the std driver
//! on the host.

#![no_std]

pub mod clock;
#[cfg(feature = "embassy-net")]
pub mod embassy;
pub mod link;
pub mod network;
pub mod serial;
#[cfg(feature = "tls")]
pub mod tls;
