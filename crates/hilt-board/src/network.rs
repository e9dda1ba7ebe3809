//! What the glue needs from a network stack.
//!
//! embedded-nal-async's `TcpConnect` and `Dns` describe most of it, but not
//! enough for the glue as it runs on the chip: it reads and writes one
//! connection at the same time (a broker that sends while the board's
//! window is full must still be read), so it needs the connection split
//! into a reader and a writer; it tells a clean close (FIN after
//! DISCONNECT) from an abort (RST, so the broker lets go at once); it has
//! the stack drop a connection whose data goes unacknowledged; and it stops
//! waiting when the network itself goes down. These traits say exactly
//! that, and the halves are embedded-io-async's `Read` and `Write`, which
//! embassy-net's socket halves implement as they are.

use core::net::{Ipv4Addr, SocketAddrV4};

use embassy_time::Duration;

/// A network stack the glue opens broker links on.
// The futures are not `Send`: a board runs one executor on one thread, and
// the glue's futures are never moved to another.
#[allow(async_fn_in_trait)]
pub trait Network {
    /// An open TCP connection; closed when dropped.
    type Connection<'a>: Connection
    where
        Self: 'a;

    /// Why no link can be opened now (the WiFi is not joined, there is no
    /// DHCP lease yet), or `None` when one can.
    fn unavailable(&self) -> Option<&'static str>;

    /// Looks `host` up by DNS `A` record (an IPv4 address in text is its
    /// own answer).
    async fn resolve(&self, host: &str) -> Result<Ipv4Addr, ResolveError>;

    /// Opens a TCP connection to `remote` with Nagle's algorithm off (MQTT
    /// packets are small and each is worth sending at once), which the
    /// stack drops when data it sent goes unacknowledged for `ack_timeout`.
    /// A stack that keeps socket buffers in the application's memory (as
    /// embassy-net does) uses `buffers`, which the glue owns so that a
    /// board's RAM use is fixed at build time; one whose kernel keeps them
    /// leaves them alone.
    async fn connect<'a>(
        &'a self,
        remote: SocketAddrV4,
        ack_timeout: Duration,
        buffers: &'a mut SocketBuffers,
    ) -> Result<Self::Connection<'a>, ConnectError>;

    /// Completes when the network goes down (the WiFi link is lost); never,
    /// on a network that cannot.
    async fn wait_down(&self);
}

/// An open TCP connection.
#[allow(async_fn_in_trait)]
pub trait Connection {
    /// The reading half.
    type Reader<'a>: embedded_io_async::Read
    where
        Self: 'a;
    /// The writing half.
    type Writer<'a>: embedded_io_async::Write
    where
        Self: 'a;

    /// The two halves, to read and write at the same time.
    fn split(&mut self) -> (Self::Reader<'_>, Self::Writer<'_>);

    /// Starts a clean close: a FIN after whatever is queued.
    fn close(&mut self);

    /// Aborts the connection: a RST, so the peer lets go at once rather than
    /// at its keepalive timeout. (A stack may send it when the connection
    /// is dropped.)
    fn abort(&mut self);

    /// Waits until what was queued (data, FIN or RST) has gone out.
    async fn flush(&mut self);
}

/// The receive and transmit buffers of the broker link's socket.
///
/// The session queues at most 4 KiB to send and the node takes received
/// bytes as fast as they come, so a few KiB each way are plenty.
#[derive(Debug)]
pub struct SocketBuffers {
    pub receive: [u8; SocketBuffers::RECEIVE_LEN],
    pub transmit: [u8; SocketBuffers::TRANSMIT_LEN],
}

impl SocketBuffers {
    pub const RECEIVE_LEN: usize = 2048;
    pub const TRANSMIT_LEN: usize = 2048;

    pub const fn new() -> Self {
        SocketBuffers {
            receive: [0; Self::RECEIVE_LEN],
            transmit: [0; Self::TRANSMIT_LEN],
        }
    }
}

impl Default for SocketBuffers {
    fn default() -> Self {
        Self::new()
    }
}

/// Why a DNS lookup gave no address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ResolveError {
    /// The lookup failed (no answer, no server, a malformed name).
    Failed,
    /// The name exists but has no IPv4 address.
    NoIpv4Address,
}

/// A TCP handshake that did not complete: refused, reset or unreachable.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConnectError;
