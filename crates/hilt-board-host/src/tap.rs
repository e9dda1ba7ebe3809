//! embassy-net on a TAP device as the board's network: the chip's IP stack
//! (embassy-net and smoltcp) and hilt-board's adapter to it
//! ([`hilt_board::embassy`]), the very code the ESP32-C3 image runs, with
//! only the driver below it changed, WiFi for a TAP device.
//!
//! The host's end of the TAP device is a kernel interface with an address
//! (`192.168.69.1/24`, say); the board is another host on that link, with a
//! static address (there is no DHCP server to ask), and reaches a broker
//! listening on the host's address. Creating a TAP device needs
//! CAP_NET_ADMIN; in a user and network namespace (`unshare -rn`) anyone
//! has it, which is how hilt's tests run this.

use std::convert::Infallible;

use embassy_futures::select::{Either, select};
use embassy_net::{Config, Ipv4Cidr, StackResources, StaticConfigV4};
use embassy_net_tuntap::TunTapDevice;
use hilt_board::embassy::EmbassyNetwork;
use hilt_board::link::Broker;
use hilt_board::serial::Serial;
use hilt_firmware::app::Firmware;

use crate::board::TapSettings;

/// Sockets embassy-net keeps room for: the broker link's TCP socket and
/// the DNS query's, and one spare (the image keeps one for DHCP).
const SOCKETS: usize = 3;

/// The board's MAC address: locally administered and unicast (the two low
/// bits of the first octet), as smoltcp requires.
const HARDWARE_ADDRESS: [u8; 6] = [0x02, 0x68, 0x69, 0x6c, 0x74, 0x01];

/// The seed of embassy-net's random choices (local ports, initial sequence
/// numbers). Fixed, so that two runs make the same choices; the chip seeds
/// it from its hardware random number generator.
const SEED: u64 = 0x6869_6c74_2d74_6170;

/// Drives `node` over embassy-net on the TAP device of `settings`, forever;
/// an error only when the device cannot be opened.
pub fn run(
    settings: &TapSettings,
    runtime: &tokio::runtime::Runtime,
    serial: &mut impl Serial,
    node: &mut impl Firmware,
    broker: Broker<'_>,
    tls_authority: Option<&[u8]>,
) -> Result<Infallible, std::io::Error> {
    let mut device = TunTapDevice::new(&settings.interface)?;
    device.set_hardware_address(HARDWARE_ADDRESS);
    let mut dns_servers = heapless::Vec::new();
    for server in &settings.dns_servers {
        // BoardSettings refuses more servers than this holds.
        let _ = dns_servers.push(*server);
    }
    let config = Config::ipv4_static(StaticConfigV4 {
        address: Ipv4Cidr::new(settings.address, settings.prefix_length),
        gateway: settings.gateway,
        dns_servers,
    });
    let mut resources = StackResources::<SOCKETS>::new();
    let (stack, mut runner) = embassy_net::new(device, config, &mut resources, SEED);
    let network = EmbassyNetwork::new(stack, "no network (the TAP device is not configured)");
    // The stack's runner (which moves frames between the device and
    // smoltcp) and the glue share one thread, as they share the chip's
    // executor; the TAP device's readiness comes from async-io's reactor.
    runtime.block_on(async {
        match select(
            runner.run(),
            crate::tls::run_link(&network, serial, node, broker, tls_authority),
        )
        .await
        {
            Either::First(never) | Either::Second(never) => never,
        }
    })
}
