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

use embassy_futures::select::{Either, Either4, select, select4};
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

/// Where the broker is: a DNS name or an IPv4 address in text, and a port.
#[derive(Clone, Copy, Debug)]
pub struct Broker<'a> {
    pub host: &'a str,
    pub port: u16,
}

/// Why a link ended, for the log.
enum LinkEnd {
    /// The session asked to close (DISCONNECT, a protocol error, a keepalive
    /// timeout, CONNACK never came).
    ClosedByNode,
    /// The broker closed the connection.
    ClosedByBroker,
    /// A read or write failed (reset, or no acknowledgement in time).
    Failed(&'static str),
    /// The WiFi link went down.
    NetworkLost,
}

impl core::fmt::Display for LinkEnd {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            LinkEnd::ClosedByNode => f.write_str("closed by the session"),
            LinkEnd::ClosedByBroker => f.write_str("closed by the broker"),
            LinkEnd::Failed(why) => f.write_str(why),
            LinkEnd::NetworkLost => f.write_str("the WiFi link went down"),
        }
    }
}

/// Drives `node` over `network` forever, mirroring to `serial`.
pub async fn run<N, S, F>(network: &N, serial: &mut S, node: &mut F, broker: Broker<'_>) -> !
where
    N: Network,
    S: Serial,
    F: Firmware + ?Sized,
{
    let mut buffers = SocketBuffers::new();
    let mut sent = TransmitMirror::default();
    let mut received = ReceiveMirror::default();
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
                node.link_up(clock::now());
                sent.reset();
                received.reset();
                let end = serve(
                    network,
                    serial,
                    node,
                    &mut connection,
                    &mut sent,
                    &mut received,
                )
                .await;
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
        sent.reset();
        received.reset();
        print_node_log(serial, node);
    }
}

/// Runs everything due in the node and prints its log; returns its next
/// deadline.
fn poll<F: Firmware + ?Sized>(serial: &mut impl Serial, node: &mut F, now: Instant) -> Instant {
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

/// Runs a connected link until it ends.
async fn serve<N, C, F>(
    network: &N,
    serial: &mut impl Serial,
    node: &mut F,
    connection: &mut C,
    sent: &mut TransmitMirror,
    received: &mut ReceiveMirror,
) -> LinkEnd
where
    N: Network,
    C: Connection,
    F: Firmware + ?Sized,
{
    let mut chunk = [0u8; READ_CHUNK_LEN];
    let end = {
        let (mut reader, mut writer) = connection.split();
        loop {
            let now = clock::now();
            let next = poll(serial, node, now);
            sent.log_new(serial, node.transmit_buffer());
            if node.wants_close() && node.transmit_buffer().is_empty() {
                break LinkEnd::ClosedByNode;
            }

            // Wait for whichever comes first: bytes from the broker, room to
            // write what the node wants sent, the node's next deadline, or
            // the network going down.
            let outcome = {
                let transmit = node.transmit_buffer();
                let write = async {
                    if transmit.is_empty() {
                        core::future::pending().await
                    } else {
                        writer.write(transmit).await
                    }
                };
                select4(
                    reader.read(&mut chunk),
                    write,
                    Timer::at(clock::deadline(next)),
                    network.wait_down(),
                )
                .await
            };
            match outcome {
                Either4::First(Ok(0)) => break LinkEnd::ClosedByBroker,
                Either4::First(Ok(count)) => {
                    if let Err(end) = deliver(serial, node, received, &chunk[..count]) {
                        break end;
                    }
                }
                Either4::First(Err(_)) => break LinkEnd::Failed("read failed (connection reset)"),
                Either4::Second(Ok(0)) => break LinkEnd::ClosedByBroker,
                Either4::Second(Ok(count)) => {
                    node.consume_transmit(count);
                    sent.consumed(count);
                }
                Either4::Second(Err(_)) => {
                    break LinkEnd::Failed("write failed (connection reset or not acknowledged)");
                }
                Either4::Third(()) => {}
                Either4::Fourth(()) => break LinkEnd::NetworkLost,
            }
        }
    };
    if let LinkEnd::ClosedByNode = end {
        // A clean close: FIN after the DISCONNECT the session queued.
        connection.close();
        let _ = with_timeout(CLOSE_TIMEOUT, connection.flush()).await;
    }
    end
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
