//! The image's TLS (built with `HILT_TLS=true`): the authority it trusts,
//! the clock certificates are checked against, and the record buffers.
//!
//! The glue (hilt-board's `tls`) does the rest, as hilt-board-host does
//! in hilt's tests against Mosquitto's TLS listener.

use hilt_board::tls::{TlsBuffers, TlsClock};

use crate::settings;

/// The DER certificate of the authority that issued the broker's
/// certificate: `HILT_TLS_CA`, converted from PEM by build.rs.
pub const AUTHORITY: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/tls_authority.der"));

/// The time certificates are checked against: the image's build time.
///
/// The board has no clock that knows the date yet (no RTC battery, no
/// SNTP), and uptime says nothing about it. The build time is a lower
/// bound of the true time, so a certificate not yet valid when the image
/// was built is refused; but one that expired after the build is still
/// accepted, which an SNTP client would catch.
#[derive(Debug)]
pub struct BuildTime;

impl TlsClock for BuildTime {
    fn now() -> Option<u64> {
        Some(settings::BUILD_UNIX_SECONDS)
    }
}

/// The record buffers (20 KiB), in static RAM so that the image's RAM use
/// is known when it is built.
pub fn buffers() -> &'static mut TlsBuffers {
    static BUFFERS: static_cell::StaticCell<TlsBuffers> = static_cell::StaticCell::new();
    BUFFERS.init(TlsBuffers::new())
}
