//! The link to the broker over embassy-net: hilt-board's adapter
//! ([`hilt_board::embassy`]) on the image's stack, driven by the board glue
//! ([`hilt_board::link`]), which does the rest (opening, reporting, moving
//! bytes, closing) as it does in hilt's tests, where hilt-board-host runs
//! the same adapter and embassy-net on a TAP device.

use embassy_net::Stack;
use hilt_board::embassy::EmbassyNetwork;
use hilt_board::link::Broker;
use hilt_firmware::app::Firmware;

use crate::serial::Uart;
use crate::settings;

/// Drives `node` over the network forever, mirroring to the serial port.
#[cfg(not(hilt_tls))]
pub async fn run(stack: Stack<'static>, node: &mut impl Firmware) -> ! {
    let network = EmbassyNetwork::new(stack, UNCONFIGURED);
    hilt_board::link::run(&network, &mut Uart::new(), node, broker()).await
}

/// Drives `node` over the network forever, over TLS 1.3 with the hardware
/// random number generator `rng`, mirroring to the serial port.
#[cfg(hilt_tls)]
pub async fn run(stack: Stack<'static>, node: &mut impl Firmware, rng: esp_hal::rng::Trng) -> ! {
    let network = EmbassyNetwork::new(stack, UNCONFIGURED);
    let tls = hilt_board::tls::TlsClient::<_, crate::tls::BuildTime>::new(
        crate::tls::AUTHORITY,
        rng,
        crate::tls::buffers(),
    );
    hilt_board::link::run_with_tls(&network, &mut Uart::new(), node, broker(), tls).await
}

/// What the glue says while the network cannot carry a link.
const UNCONFIGURED: &str = "no network (WiFi not joined or no DHCP lease yet)";

fn broker() -> Broker<'static> {
    Broker {
        host: settings::BROKER_HOST,
        port: settings::BROKER_PORT,
    }
}
