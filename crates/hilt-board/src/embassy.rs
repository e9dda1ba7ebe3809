//! embassy-net as the glue's [`Network`]: the network a board runs on.
//!
//! The ESP32-C3 image (`firmware/`) runs [`link::run`](crate::link::run)
//! over this with embassy-net on its WiFi driver, and `hilt-board-host`
//! runs it with embassy-net on a TAP device, so the adapter, embassy-net
//! and smoltcp are the same code on the chip and in hilt's tests.
//!
//! What is here is only what embassy-net alone says: whether the network
//! is configured, its DNS query, its socket with smoltcp's acknowledgement
//! timeout and Nagle switch, and the link going down.

use core::net::{Ipv4Addr, SocketAddrV4};

use ::embassy_net::dns::DnsQueryType;
use ::embassy_net::tcp::{TcpReader, TcpSocket, TcpWriter};
use ::embassy_net::{IpAddress, IpEndpoint, Stack};
use embassy_time::Duration;

use crate::network::{ConnectError, Connection, Network, ResolveError, SocketBuffers};

/// An embassy-net stack as the glue's network.
#[derive(Clone, Copy)]
pub struct EmbassyNetwork<'d> {
    stack: Stack<'d>,
    unconfigured: &'static str,
}

impl<'d> EmbassyNetwork<'d> {
    /// The glue's network on `stack`; while the stack has no IP
    /// configuration, [`Network::unavailable`] says `unconfigured` (which
    /// names what the board waits for: a WiFi join, a DHCP lease).
    pub fn new(stack: Stack<'d>, unconfigured: &'static str) -> Self {
        EmbassyNetwork {
            stack,
            unconfigured,
        }
    }
}

impl core::fmt::Debug for EmbassyNetwork<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("EmbassyNetwork")
            .field("unconfigured", &self.unconfigured)
            .finish_non_exhaustive()
    }
}

impl Network for EmbassyNetwork<'_> {
    type Connection<'a>
        = EmbassyConnection<'a>
    where
        Self: 'a;

    fn unavailable(&self) -> Option<&'static str> {
        (!self.stack.is_config_up()).then_some(self.unconfigured)
    }

    async fn resolve(&self, host: &str) -> Result<Ipv4Addr, ResolveError> {
        let addresses = self
            .stack
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
        let mut socket = TcpSocket::new(self.stack, &mut buffers.receive, &mut buffers.transmit);
        socket.set_timeout(Some(ack_timeout));
        socket.set_nagle_enabled(false);
        let endpoint = IpEndpoint::new(IpAddress::Ipv4(*remote.ip()), remote.port());
        socket.connect(endpoint).await.map_err(|_| ConnectError)?;
        Ok(EmbassyConnection(socket))
    }

    async fn wait_down(&self) {
        self.stack.wait_link_down().await
    }
}

/// An embassy-net TCP socket, connected.
pub struct EmbassyConnection<'a>(TcpSocket<'a>);

impl core::fmt::Debug for EmbassyConnection<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("EmbassyConnection")
            .field("state", &self.0.state())
            .finish()
    }
}

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
        // A flush that fails means the connection is gone: nothing queued
        // can go out any more, which is what the glue waits for.
        let _ = self.0.flush().await;
    }
}
