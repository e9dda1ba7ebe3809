//! The host kernel's TCP as the board glue's network.
//!
//! The kernel's stack is a real IP stack that needs no privileges and no
//! namespace: over loopback it reaches a broker on the same machine as a
//! board reaches one over WiFi. (The TAP backend, [`crate::tap`], runs the
//! chip's own stack, embassy-net and smoltcp, instead.) Each of the
//! glue's demands maps onto a socket option: Nagle off is `TCP_NODELAY`,
//! smoltcp's acknowledgement timeout is `TCP_USER_TIMEOUT`, an abort is a
//! close with a zero linger (a RST).

use std::io;
use std::net::{Ipv4Addr, Shutdown, SocketAddr, SocketAddrV4};

use embassy_time::Duration;
use embedded_io_adapters::tokio_1::FromTokio;
use hilt_board::network::{ConnectError, Connection, Network, ResolveError, SocketBuffers};
use socket2::SockRef;
use tokio::net::TcpStream;
use tokio::net::tcp::{ReadHalf, WriteHalf};

/// The kernel's TCP/IP stack; never down.
#[derive(Debug, Default)]
pub struct HostNetwork;

impl Network for HostNetwork {
    type Connection<'a> = HostConnection;

    fn unavailable(&self) -> Option<&'static str> {
        None
    }

    async fn resolve(&self, host: &str) -> Result<Ipv4Addr, ResolveError> {
        // The port is the lookup's, not the broker's: only the address is used.
        let addresses = tokio::net::lookup_host((host, 0))
            .await
            .map_err(|_| ResolveError::Failed)?;
        let mut any = false;
        for address in addresses {
            any = true;
            if let SocketAddr::V4(address) = address {
                return Ok(*address.ip());
            }
        }
        Err(if any {
            ResolveError::NoIpv4Address
        } else {
            ResolveError::Failed
        })
    }

    async fn connect<'a>(
        &'a self,
        remote: SocketAddrV4,
        ack_timeout: Duration,
        _buffers: &'a mut SocketBuffers,
    ) -> Result<HostConnection, ConnectError> {
        let socket = tokio::net::TcpSocket::new_v4().map_err(|_| ConnectError)?;
        configure(&socket, ack_timeout).map_err(|_| ConnectError)?;
        let stream = socket
            .connect(SocketAddr::V4(remote))
            .await
            .map_err(|_| ConnectError)?;
        Ok(HostConnection { stream })
    }

    async fn wait_down(&self) {
        core::future::pending().await
    }
}

/// Nagle off and the acknowledgement timeout, before the handshake.
fn configure(socket: &tokio::net::TcpSocket, ack_timeout: Duration) -> io::Result<()> {
    socket.set_nodelay(true)?;
    SockRef::from(socket).set_tcp_user_timeout(Some(std::time::Duration::from_millis(
        ack_timeout.as_millis(),
    )))
}

/// A connected kernel socket.
#[derive(Debug)]
pub struct HostConnection {
    stream: TcpStream,
}

impl Connection for HostConnection {
    type Reader<'r> = FromTokio<ReadHalf<'r>>;
    type Writer<'w> = FromTokio<WriteHalf<'w>>;

    fn split(&mut self) -> (Self::Reader<'_>, Self::Writer<'_>) {
        let (reader, writer) = self.stream.split();
        (FromTokio::new(reader), FromTokio::new(writer))
    }

    fn close(&mut self) {
        // A FIN after what is queued; the kernel sends both on its own.
        let _ = SockRef::from(&self.stream).shutdown(Shutdown::Write);
    }

    fn abort(&mut self) {
        // The RST goes out when the glue drops the connection: closing a
        // socket whose linger is zero resets it.
        let _ = SockRef::from(&self.stream).set_linger(Some(std::time::Duration::ZERO));
    }

    async fn flush(&mut self) {
        // The kernel sends queued data, FIN and RST by itself.
    }
}
