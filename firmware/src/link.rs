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
pub async fn run(stack: Stack<'static>, node: &mut impl Firmware) -> ! {
    let broker = Broker {
        host: settings::BROKER_HOST,
        port: settings::BROKER_PORT,
    };
    let network = EmbassyNetwork::new(stack, "no network (WiFi not joined or no DHCP lease yet)");
    hilt_board::link::run(&network, &mut Uart::new(), node, broker).await
}
