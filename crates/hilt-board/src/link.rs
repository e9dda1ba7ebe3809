//! The link to the broker: the glue between the firmware core's sans-IO
//! [`Firmware`] and a TCP connection of a [`Network`].
//!
//! It does for the board what the runner's device link does in the
//! simulation (ARCHITECTURE.md, "How virtual time moves"), in real time:
//! open the link when the session asks ([`Firmware::wants_link`]), report
//! the outcome ([`Firmware::link_up`] / [`Firmware::link_down`]), write what
//! the node wants sent, hand it what arrived, close when it asks
//! ([`Firmware::wants_close`]), and otherwise sleep until the instant
//! [`Firmware::poll`] returned or until bytes arrive. Reconnecting, backoff,
//! keepalive and the dead-link timeout are the session's, as in the
//! simulation; the glue only reports what the socket did.
//!
//! The node is polled at its deadlines all the time, also while a DNS
//! lookup, a TCP handshake or a write is under way: an app's work (a
//! reading, a blink, feeding the watchdog) does not wait for the network.

use core::net::SocketAddrV4;
use core::pin::pin;

use embassy_futures::select::{Either, Either3, Either4, select, select3, select4};
use embassy_time::{Duration, Timer, with_timeout};
use embedded_io_async::{Read, Write};
use hilt_firmware::app::{Firmware, LogLevel};
use hilt_firmware::time::Instant;

use crate::clock;
use crate::network::{Connection, Network, ResolveError, SocketBuffers};
use crate::serial::{self, ReceiveMirror, Serial, TransmitMirror};

/// How long a DNS lookup of the broker may take.
pub const DNS_TIMEOUT: Duration = Duration::from_secs(10);
/// How long the TCP handshake with the broker may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long the stack waits for the broker to acknowledge data before it
/// drops the connection. The MQTT keepalive catches a silent broker too,
/// but only after a keepalive period; this catches a dead one sooner.
pub const ACK_TIMEOUT: Duration = Duration::from_secs(20);
/// How long a close may take to get its FIN (or RST) out.
pub const CLOSE_TIMEOUT: Duration = Duration::from_secs(2);
/// While a link is being opened the session's own deadline has passed (it
/// asked for the link), so the node is polled at most this often then.
pub const OPENING_POLL: Duration = Duration::from_millis(100);

/// Bytes read from the socket at a time.
const READ_CHUNK_LEN: usize = 512;
/// Bytes of the node's transmit buffer handed to the socket at a time (one
/// TLS record each over TLS).
const WRITE_CHUNK_LEN: usize = 1024;

/// Where the broker is: a DNS name or an IPv4 address in text, and a port.
#[derive(Clone, Copy, Debug)]
pub struct Broker<'a> {
    pub host: &'a str,
    pub port: u16,
}

/// Why a link ended, for the log.
pub(crate) enum LinkEnd {
    /// The session asked to close (DISCONNECT, a protocol error, a keepalive
    /// timeout, CONNACK never came).
    ClosedByNode,
    /// The broker closed the connection.
    ClosedByBroker,
    /// A read or write failed (reset, or no acknowledgement in time).
    Failed(&'static str),
    /// The WiFi link went down.
    NetworkLost,
    /// The node asked for TLS, and this board cannot give it (built without
    /// hilt-board's `tls` feature, or its image without `HILT_TLS`).
    NoTls,
}

impl core::fmt::Display for LinkEnd {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            LinkEnd::ClosedByNode => f.write_str("closed by the session"),
            LinkEnd::ClosedByBroker => f.write_str("closed by the broker"),
            LinkEnd::Failed(why) => f.write_str(why),
            LinkEnd::NetworkLost => f.write_str("the WiFi link went down"),
            LinkEnd::NoTls => f.write_str("the session asks for TLS, which this board lacks"),
        }
    }
}

/// Drives `node` over `network` forever, mirroring to `serial`, over plain
/// TCP. A node that asks for TLS ([`Firmware::tls`]) gets no link at all:
/// each attempt fails and says why, rather than sending in clear what was
/// meant to be encrypted.
pub async fn run<N, S, F>(network: &N, serial: &mut S, node: &mut F, broker: Broker<'_>) -> !
where
    N: Network,
    S: Serial,
    F: Firmware + ?Sized,
{
    drive(network, serial, node, broker, &mut NoTls).await
}

/// Drives `node` over `network` forever, mirroring to `serial`, over TLS 1.3
/// with `tls` when the node asks for it ([`Firmware::tls`]), over plain TCP
/// when it does not.
#[cfg(feature = "tls")]
pub async fn run_with_tls<N, S, F, R, C>(
    network: &N,
    serial: &mut S,
    node: &mut F,
    broker: Broker<'_>,
    mut tls: crate::tls::TlsClient<'_, R, C>,
) -> !
where
    N: Network,
    S: Serial,
    F: Firmware + ?Sized,
    R: rand_core::RngCore + rand_core::CryptoRng,
    C: embedded_tls::TlsClock,
{
    drive(network, serial, node, broker, &mut tls).await
}

/// What the glue puts between the node's bytes and an open TCP connection
/// when the node asks for TLS: a handshake, then records both ways.
pub(crate) trait Upgrade {
    /// Runs a connected link over TLS until it ends: the handshake (with
    /// the node polled meanwhile), `link_up`, then [`serve`]. The caller
    /// closes or aborts the TCP connection afterwards.
    #[allow(clippy::too_many_arguments)]
    async fn serve_secured<N, C, F>(
        &mut self,
        network: &N,
        serial: &mut impl Serial,
        node: &mut F,
        connection: &mut C,
        server_name: &str,
        mirrors: &mut Mirrors,
    ) -> LinkEnd
    where
        N: Network,
        C: Connection,
        F: Firmware + ?Sized;
}

/// The board has no TLS: a node that asks for it gets no link.
struct NoTls;

impl Upgrade for NoTls {
    async fn serve_secured<N, C, F>(
        &mut self,
        _network: &N,
        _serial: &mut impl Serial,
        _node: &mut F,
        _connection: &mut C,
        _server_name: &str,
        _mirrors: &mut Mirrors,
    ) -> LinkEnd
    where
        N: Network,
        C: Connection,
        F: Firmware + ?Sized,
    {
        LinkEnd::NoTls
    }
}

/// The serial mirrors of what the node sends and receives on a link.
#[derive(Default)]
pub(crate) struct Mirrors {
    pub(crate) sent: TransmitMirror,
    pub(crate) received: ReceiveMirror,
}

impl Mirrors {
    fn reset(&mut self) {
        self.sent.reset();
        self.received.reset();
    }
}

async fn drive<N, S, F, U>(
    network: &N,
    serial: &mut S,
    node: &mut F,
    broker: Broker<'_>,
    upgrade: &mut U,
) -> !
where
    N: Network,
    S: Serial,
    F: Firmware + ?Sized,
    U: Upgrade,
{
    let mut buffers = SocketBuffers::new();
    let mut mirrors = Mirrors::default();
    loop {
        let now = clock::now();
        let next = poll(serial, node, now);
        if node.wants_close() {
            // Closing with no link open (the session gave up on a link that
            // was never up): nothing to close, only to report.
            node.link_down(clock::now());
            continue;
        }
        if !node.wants_link(now) {
            // Offline and nothing due: sleep until the node's next deadline
            // (the app's next reading or publish, or the session's next
            // attempt).
            Timer::at(clock::deadline(next)).await;
            continue;
        }

        let opened = {
            let mut opening = pin!(open(network, broker, &mut buffers));
            loop {
                match select(opening.as_mut(), Timer::after(OPENING_POLL)).await {
                    Either::First(result) => break result,
                    Either::Second(()) => {
                        poll(serial, node, clock::now());
                    }
                }
            }
        };
        match opened {
            Ok((endpoint, mut connection)) => {
                serial::log(
                    serial,
                    LogLevel::Info,
                    format_args!("link: connected to {endpoint}"),
                );
                mirrors.reset();
                // The name the broker's certificate must carry: the
                // session's setting, else the name the board dialled.
                let tls_name = node
                    .tls()
                    .map(|options| options.server_name.clone().unwrap_or_default());
                let end = match tls_name {
                    None => {
                        node.link_up(clock::now());
                        let (reader, writer) = connection.split();
                        serve(network, serial, node, reader, writer, false, &mut mirrors).await
                    }
                    Some(name) => {
                        let server_name = if name.is_empty() {
                            broker.host
                        } else {
                            name.as_str()
                        };
                        upgrade
                            .serve_secured(
                                network,
                                serial,
                                node,
                                &mut connection,
                                server_name,
                                &mut mirrors,
                            )
                            .await
                    }
                };
                if let LinkEnd::ClosedByNode = end {
                    // A clean close: FIN after the DISCONNECT the session
                    // queued.
                    connection.close();
                    let _ = with_timeout(CLOSE_TIMEOUT, connection.flush()).await;
                }
                serial::log(serial, LogLevel::Info, format_args!("link: ended: {end}"));
                // Whatever is left of the connection goes: a reset tells
                // the broker at once instead of at its keepalive timeout.
                connection.abort();
                let _ = with_timeout(CLOSE_TIMEOUT, connection.flush()).await;
            }
            Err(problem) => {
                serial::log(
                    serial,
                    LogLevel::Warn,
                    format_args!("link: cannot connect: {problem}"),
                );
            }
        }
        node.link_down(clock::now());
        mirrors.reset();
        print_node_log(serial, node);
    }
}

/// Runs everything due in the node and prints its log; returns its next
/// deadline.
pub(crate) fn poll<F: Firmware + ?Sized>(
    serial: &mut impl Serial,
    node: &mut F,
    now: Instant,
) -> Instant {
    let next = node.poll(now);
    print_node_log(serial, node);
    next
}

/// Resolves the broker and opens the TCP connection.
async fn open<'a, N: Network>(
    network: &'a N,
    broker: Broker<'_>,
    buffers: &'a mut SocketBuffers,
) -> Result<(SocketAddrV4, N::Connection<'a>), &'static str> {
    if let Some(why) = network.unavailable() {
        return Err(why);
    }
    let address = match with_timeout(DNS_TIMEOUT, network.resolve(broker.host)).await {
        Ok(Ok(address)) => address,
        Ok(Err(ResolveError::Failed)) => return Err("DNS lookup of the broker failed"),
        Ok(Err(ResolveError::NoIpv4Address)) => {
            return Err("the broker's name has no IPv4 address");
        }
        Err(_) => return Err("DNS lookup of the broker timed out"),
    };
    let endpoint = SocketAddrV4::new(address, broker.port);
    match with_timeout(
        CONNECT_TIMEOUT,
        network.connect(endpoint, ACK_TIMEOUT, buffers),
    )
    .await
    {
        Ok(Ok(connection)) => Ok((endpoint, connection)),
        Ok(Err(_)) => Err("the broker refused or reset the connection"),
        Err(_) => Err("the TCP handshake timed out"),
    }
}

/// Runs a connected link until it ends, over its reading and writing
/// halves (a TCP connection's, or a TLS connection's).
///
/// Neither a read nor a write is ever dropped half done while the link
/// lives: a TLS record read or written in part would break the stream (a
/// TCP socket's halves would not mind, but one loop serves both). The read
/// in flight owns the reader and is replaced when it completes; a write
/// takes a copy of the front of the node's transmit buffer and runs to its
/// end while reads, the node's deadlines and the network are still
/// watched. With `sealed` (TLS), each write is flushed, which closes and
/// sends its record.
pub(crate) async fn serve<N, R, W, F>(
    network: &N,
    serial: &mut impl Serial,
    node: &mut F,
    reader: R,
    mut writer: W,
    sealed: bool,
    mirrors: &mut Mirrors,
) -> LinkEnd
where
    N: Network,
    R: Read,
    W: Write,
    F: Firmware + ?Sized,
{
    let mut reading = pin!(read_chunk(reader));
    loop {
        let now = clock::now();
        let mut next = poll(serial, node, now);
        mirrors.sent.log_new(serial, node.transmit_buffer());
        if node.wants_close() && node.transmit_buffer().is_empty() {
            return LinkEnd::ClosedByNode;
        }

        let transmit = node.transmit_buffer();
        if transmit.is_empty() {
            // Wait for whichever comes first: bytes from the broker, the
            // node's next deadline, or the network going down.
            match select3(
                reading.as_mut(),
                Timer::at(clock::deadline(next)),
                network.wait_down(),
            )
            .await
            {
                Either3::First((reader, chunk, result)) => {
                    reading.set(read_chunk(reader));
                    if let Err(end) = received(serial, node, mirrors, &chunk, result) {
                        return end;
                    }
                }
                Either3::Second(()) => {}
                Either3::Third(()) => return LinkEnd::NetworkLost,
            }
            continue;
        }

        // Send the front of what the node queued; until it is out, keep
        // reading, polling the node at its deadlines (it may queue more,
        // behind this) and watching the network.
        let outgoing = &transmit[..transmit.len().min(WRITE_CHUNK_LEN)];
        let mut chunk = [0u8; WRITE_CHUNK_LEN];
        chunk[..outgoing.len()].copy_from_slice(outgoing);
        let outgoing = &chunk[..outgoing.len()];
        let mut writing = pin!(send(&mut writer, outgoing, sealed));
        loop {
            match select4(
                reading.as_mut(),
                writing.as_mut(),
                Timer::at(clock::deadline(next)),
                network.wait_down(),
            )
            .await
            {
                Either4::First((reader, chunk, result)) => {
                    reading.set(read_chunk(reader));
                    if let Err(end) = received(serial, node, mirrors, &chunk, result) {
                        return end;
                    }
                }
                Either4::Second(Ok(0)) => return LinkEnd::ClosedByBroker,
                Either4::Second(Ok(count)) => {
                    node.consume_transmit(count);
                    mirrors.sent.consumed(count);
                    break;
                }
                Either4::Second(Err(_)) => {
                    return LinkEnd::Failed("write failed (connection reset or not acknowledged)");
                }
                Either4::Third(()) => {
                    next = poll(serial, node, clock::now());
                }
                Either4::Fourth(()) => return LinkEnd::NetworkLost,
            }
        }
    }
}

/// One read from `reader`, owning it so that the read can stay in flight
/// across the serving loop's turns; gives the reader back with the bytes.
async fn read_chunk<R: Read>(mut reader: R) -> (R, [u8; READ_CHUNK_LEN], Result<usize, R::Error>) {
    let mut chunk = [0u8; READ_CHUNK_LEN];
    let result = reader.read(&mut chunk).await;
    (reader, chunk, result)
}

/// Writes `bytes`: as much as the socket takes at once, or, `sealed`, all
/// of them and a flush (a TLS record, closed and sent). The count written.
async fn send<W: Write>(writer: &mut W, bytes: &[u8], sealed: bool) -> Result<usize, W::Error> {
    if sealed {
        writer.write_all(bytes).await?;
        writer.flush().await?;
        Ok(bytes.len())
    } else {
        writer.write(bytes).await
    }
}

/// What a completed read means for the link: bytes for the node, or its end.
fn received<F: Firmware + ?Sized, E>(
    serial: &mut impl Serial,
    node: &mut F,
    mirrors: &mut Mirrors,
    chunk: &[u8; READ_CHUNK_LEN],
    result: Result<usize, E>,
) -> Result<(), LinkEnd> {
    match result {
        Ok(0) => Err(LinkEnd::ClosedByBroker),
        Ok(count) => deliver(serial, node, &mut mirrors.received, &chunk[..count]),
        Err(_) => Err(LinkEnd::Failed("read failed (connection reset)")),
    }
}

/// Hands received bytes to the node, mirrored to the serial log first so
/// that the `received` line comes before anything the app does about it.
fn deliver<F: Firmware + ?Sized>(
    serial: &mut impl Serial,
    node: &mut F,
    received: &mut ReceiveMirror,
    bytes: &[u8],
) -> Result<(), LinkEnd> {
    let now = clock::now();
    received.feed(serial, bytes);
    let mut offered = 0;
    while offered < bytes.len() {
        let mut taken = node.receive(now, &bytes[offered..]);
        if taken == 0 {
            // The node's buffer is full of complete packets: let it handle
            // them, then offer the rest again.
            poll(serial, node, now);
            taken = node.receive(now, &bytes[offered..]);
            if taken == 0 {
                return Err(LinkEnd::Failed("the node takes no more bytes"));
            }
        }
        offered += taken;
    }
    Ok(())
}

/// Prints the node's log lines as `[hilt] log <level> <text>`.
fn print_node_log<F: Firmware + ?Sized>(serial: &mut impl Serial, node: &mut F) {
    while let Some(line) = node.pop_log() {
        serial::log_line(serial, line.level, &line.text);
    }
}
