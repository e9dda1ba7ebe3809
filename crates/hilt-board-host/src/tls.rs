//! TLS on the host board: hilt-board's TLS (embedded-tls, as on the chip)
//! with the host's random numbers and wall clock.

use std::time::{SystemTime, UNIX_EPOCH};

use hilt_board::link::{self, Broker};
use hilt_board::network::Network;
use hilt_board::serial::Serial;
use hilt_board::tls::{TlsBuffers, TlsClient, TlsClock};
use hilt_firmware::app::Firmware;
use rand_core::OsRng;

/// The host's wall clock: certificates are checked against the time now.
/// (The chip has no such clock yet and checks against its build time.)
#[derive(Debug)]
pub struct SystemClock;

impl TlsClock for SystemClock {
    fn now() -> Option<u64> {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .ok()
            .map(|since| since.as_secs())
    }
}

/// Drives `node` over `network` forever: over TLS, trusting `authority`
/// (DER), when the node asks for it and there is one; otherwise as
/// hilt-board's plain `link::run`, which refuses a node that asks for TLS.
pub async fn run_link<N, S, F>(
    network: &N,
    serial: &mut S,
    node: &mut F,
    broker: Broker<'_>,
    authority: Option<&[u8]>,
) -> !
where
    N: Network,
    S: Serial,
    F: Firmware + ?Sized,
{
    match authority {
        None => link::run(network, serial, node, broker).await,
        Some(authority) => {
            // 20 KiB of record buffers, on the heap rather than in the
            // future's state.
            let mut buffers = Box::new(TlsBuffers::new());
            let client = TlsClient::<_, SystemClock>::new(authority, OsRng, &mut buffers);
            link::run_with_tls(network, serial, node, broker, client).await
        }
    }
}
