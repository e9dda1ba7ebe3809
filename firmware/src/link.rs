//! The link to the broker over embassy-net: the image's [`Network`] for the
//! board glue ([`hilt_board::link`]), which does the rest (opening,
//! reporting, moving bytes, closing) as it does over the host's TCP in
//! hilt's tests.
//!
//! What stays here is only what embassy-net alone says: whether the WiFi
//! and DHCP are up, its DNS query, its socket with smoltcp's
//! acknowledgement timeout and Nagle switch, and the WiFi link going down.

use core::net::{Ipv4Addr, SocketAddrV4};

use embassy_net::dns::DnsQueryType;
use embassy_net::tcp::{TcpReader, TcpSocket, TcpWriter};
use embassy_net::{IpAddress, IpEndpoint, Stack};
use embassy_time::Duration;
use hilt_board::link::Broker;
use hilt_board::network::{ConnectError, Connection, Network, ResolveError, SocketBuffers};
use hilt_firmware::app::Firmware;

use crate::serial::Uart;
use crate::settings;

/// Drives `node` over the network forever, mirroring to the serial port.
pub async fn run(stack: Stack<'static>, node: &mut impl Firmware) -> ! {
    let broker = Broker {
        host: settings::BROKER_HOST,
        port: settings::BROKER_PORT,
    };
    hilt_board::link::run(&EmbassyNetwork(stack), &mut Uart::new(), node, broker).await
}

/// embassy-net's stack as the glue's network.
struct EmbassyNetwork(Stack<'static>);

impl Network for EmbassyNetwork {
    type Connection<'a> = EmbassyConnection<'a>;

    fn unavailable(&self) -> Option<&'static str> {
        (!self.0.is_config_up()).then_some("no network (WiFi not joined or no DHCP lease yet)")
    }

    async fn resolve(&self, host: &str) -> Result<Ipv4Addr, ResolveError> {
        let addresses = self
            .0
            .dns_query(host, DnsQueryType::A)
            .await
            .map_err(|_| ResolveError::Failed)?;
        match addresses.first() {
            Some(IpAddress::Ipv4(address)) => Ok(*address),
            None => Err(ResolveError::NoIpv4Address),
        }
    }

    async fn connect<'a>(
        &'a self,
        remote: SocketAddrV4,
        ack_timeout: Duration,
        buffers: &'a mut SocketBuffers,
    ) -> Result<EmbassyConnection<'a>, ConnectError> {
        let mut socket = TcpSocket::new(self.0, &mut buffers.receive, &mut buffers.transmit);
        socket.set_timeout(Some(ack_timeout));
        socket.set_nagle_enabled(false);
        let endpoint = IpEndpoint::new(IpAddress::Ipv4(*remote.ip()), remote.port());
        socket.connect(endpoint).await.map_err(|_| ConnectError)?;
        Ok(EmbassyConnection(socket))
    }

    async fn wait_down(&self) {
        self.0.wait_link_down().await
    }
}

/// An embassy-net TCP socket, connected.
struct EmbassyConnection<'a>(TcpSocket<'a>);

impl Connection for EmbassyConnection<'_> {
    type Reader<'r>
        = TcpReader<'r>
    where
        Self: 'r;
    type Writer<'w>
        = TcpWriter<'w>
    where
        Self: 'w;

    fn split(&mut self) -> (TcpReader<'_>, TcpWriter<'_>) {
        self.0.split()
    }

    fn close(&mut self) {
        self.0.close();
    }

    fn abort(&mut self) {
        self.0.abort();
    }

    async fn flush(&mut self) {
        let _ = self.0.flush().await;
    }
}
