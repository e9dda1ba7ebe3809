//! The link to the broker: the glue between the firmware core's sans-IO
//! [`Firmware`] and an embassy-net TCP socket.
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

use core::pin::pin;

use embassy_futures::select::{Either, Either4, select, select4};
use embassy_net::dns::DnsQueryType;
use embassy_net::tcp::TcpSocket;
use embassy_net::{IpEndpoint, Stack};
use embassy_time::{Duration, Timer, with_timeout};
use hilt_firmware::app::{Firmware, LogLevel};
use hilt_firmware::time::Instant;

use crate::serial::{self, ReceiveMirror, TransmitMirror};
use crate::{clock, settings};

/// How long a DNS lookup of the broker may take.
const DNS_TIMEOUT: Duration = Duration::from_secs(10);
/// How long the TCP handshake with the broker may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long smoltcp waits for the broker to acknowledge data before it
/// drops the connection. The MQTT keepalive catches a silent broker too,
/// but only after a keepalive period; this catches a dead one sooner.
const ACK_TIMEOUT: Duration = Duration::from_secs(20);
/// How long a close may take to get its FIN (or RST) out.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(2);
/// While a link is being opened the session's own deadline has passed (it
/// asked for the link), so the node is polled at most this often then.
const OPENING_POLL: Duration = Duration::from_millis(100);

/// Socket buffers. The session queues at most 4 KiB to send and the node
/// takes received bytes as fast as they come, so a few KiB each way are
/// plenty.
const RX_BUFFER_LEN: usize = 2048;
const TX_BUFFER_LEN: usize = 2048;
/// Bytes read from the socket at a time.
const READ_CHUNK_LEN: usize = 512;

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

/// Drives `node` over the network forever.
pub async fn run(stack: Stack<'static>, node: &mut impl Firmware) -> ! {
    let mut rx_buffer = [0u8; RX_BUFFER_LEN];
    let mut tx_buffer = [0u8; TX_BUFFER_LEN];
    let mut sent = TransmitMirror::default();
    let mut received = ReceiveMirror::default();
    loop {
        let now = clock::now();
        let next = poll(node, now);
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

        let mut socket = TcpSocket::new(stack, &mut rx_buffer, &mut tx_buffer);
        let opened = {
            let mut opening = pin!(open(stack, &mut socket));
            loop {
                match select(opening.as_mut(), Timer::after(OPENING_POLL)).await {
                    Either::First(result) => break result,
                    Either::Second(()) => {
                        poll(node, clock::now());
                    }
                }
            }
        };
        match opened {
            Ok(endpoint) => {
                serial::log(
                    LogLevel::Info,
                    format_args!("link: connected to {endpoint}"),
                );
                node.link_up(clock::now());
                sent.reset();
                received.reset();
                let end = serve(stack, node, &mut socket, &mut sent, &mut received).await;
                serial::log(LogLevel::Info, format_args!("link: ended: {end}"));
                // Whatever is left of the connection goes: a reset tells
                // the broker at once instead of at its keepalive timeout.
                socket.abort();
                let _ = with_timeout(CLOSE_TIMEOUT, socket.flush()).await;
            }
            Err(problem) => {
                serial::log(
                    LogLevel::Warn,
                    format_args!("link: cannot connect: {problem}"),
                );
            }
        }
        drop(socket);
        node.link_down(clock::now());
        sent.reset();
        received.reset();
        print_node_log(node);
    }
}

/// Runs everything due in the node and prints its log; returns its next
/// deadline.
fn poll(node: &mut impl Firmware, now: Instant) -> Instant {
    let next = node.poll(now);
    print_node_log(node);
    next
}

/// Resolves the broker and opens the TCP connection.
async fn open(
    stack: Stack<'static>,
    socket: &mut TcpSocket<'_>,
) -> Result<IpEndpoint, &'static str> {
    if !stack.is_config_up() {
        return Err("no network (WiFi not joined or no DHCP lease yet)");
    }
    let addresses = match with_timeout(
        DNS_TIMEOUT,
        stack.dns_query(settings::BROKER_HOST, DnsQueryType::A),
    )
    .await
    {
        Ok(Ok(addresses)) => addresses,
        Ok(Err(_)) => return Err("DNS lookup of the broker failed"),
        Err(_) => return Err("DNS lookup of the broker timed out"),
    };
    let Some(&address) = addresses.first() else {
        return Err("the broker's name has no IPv4 address");
    };
    let endpoint = IpEndpoint::new(address, settings::BROKER_PORT);
    socket.set_timeout(Some(ACK_TIMEOUT));
    // MQTT packets are small and each is worth sending at once.
    socket.set_nagle_enabled(false);
    match with_timeout(CONNECT_TIMEOUT, socket.connect(endpoint)).await {
        Ok(Ok(())) => Ok(endpoint),
        Ok(Err(_)) => Err("the broker refused or reset the connection"),
        Err(_) => Err("the TCP handshake timed out"),
    }
}

/// Runs a connected link until it ends.
async fn serve(
    stack: Stack<'static>,
    node: &mut impl Firmware,
    socket: &mut TcpSocket<'_>,
    sent: &mut TransmitMirror,
    received: &mut ReceiveMirror,
) -> LinkEnd {
    let mut chunk = [0u8; READ_CHUNK_LEN];
    let end = {
        let (mut reader, mut writer) = socket.split();
        loop {
            let now = clock::now();
            let next = poll(node, now);
            sent.log_new(node.transmit_buffer());
            if node.wants_close() && node.transmit_buffer().is_empty() {
                break LinkEnd::ClosedByNode;
            }

            // Wait for whichever comes first: bytes from the broker, room to
            // write what the node wants sent, the node's next deadline, or
            // the WiFi link going down.
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
                    stack.wait_link_down(),
                )
                .await
            };
            match outcome {
                Either4::First(Ok(0)) => break LinkEnd::ClosedByBroker,
                Either4::First(Ok(count)) => {
                    if let Err(end) = deliver(node, received, &chunk[..count]) {
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
        socket.close();
        let _ = with_timeout(CLOSE_TIMEOUT, socket.flush()).await;
    }
    end
}

/// Hands received bytes to the node, mirrored to the serial log first so
/// that the `received` line comes before anything the app does about it.
fn deliver(
    node: &mut impl Firmware,
    received: &mut ReceiveMirror,
    bytes: &[u8],
) -> Result<(), LinkEnd> {
    let now = clock::now();
    received.feed(bytes);
    let mut offered = 0;
    while offered < bytes.len() {
        let mut taken = node.receive(now, &bytes[offered..]);
        if taken == 0 {
            // The node's buffer is full of complete packets: let it handle
            // them, then offer the rest again.
            poll(node, now);
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
fn print_node_log(node: &mut impl Firmware) {
    while let Some(line) = node.pop_log() {
        serial::log_line(line.level, &line.text);
    }
}
