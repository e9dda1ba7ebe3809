//! The link to the broker over TLS 1.3, in place of `link.rs` when the
//! image is built with `HILT_TLS=true` (the `hilt_tls` cfg): the same
//! adapter and glue, with hilt-board's TLS client between the node's bytes
//! and the socket. `link.rs` stays the plain link that `hilt init`'s
//! template copies byte for byte.

use embassy_net::Stack;
use hilt_board::embassy::EmbassyNetwork;
use hilt_board::link::Broker;
use hilt_firmware::app::Firmware;

use crate::serial::Uart;
use crate::settings;

/// Drives `node` over the network forever, over TLS 1.3 with the hardware
/// random number generator `rng`, mirroring to the serial port.
pub async fn run(stack: Stack<'static>, node: &mut impl Firmware, rng: esp_hal::rng::Trng) -> ! {
    let broker = Broker {
        host: settings::BROKER_HOST,
        port: settings::BROKER_PORT,
    };
    let network = EmbassyNetwork::new(stack, "no network (WiFi not joined or no DHCP lease yet)");
    let tls = hilt_board::tls::TlsClient::<_, crate::tls::BuildTime>::new(
        crate::tls::AUTHORITY,
        rng,
        crate::tls::buffers(),
    );
    hilt_board::link::run_with_tls(&network, &mut Uart::new(), node, broker, tls).await
}
