//! The link to the broker: the glue between the firmware core's sans-IO
//! [`Firmware`] and an embassy-net TCP socket.
//!
//! It does for the board what the runner's device link does in the
//! simulation (ARCHITECTURE.md, "How virtual time moves"), with real time:
//! open the link when the session asks ([`Firmware::wants_link`]), report
//! the outcome ([`Firmware::link_up`] / [`Firmware::link_down`]), write what
//! the node wants sent, hand it what arrived, close when it asks
//! ([`Firmware::wants_close`]), and otherwise sleep until the instant
//! [`Firmware::poll`] returned or until bytes arrive. Reconnecting, backoff,
//! keepalive and the dead-link timeout are the session's, as in the
//! simulation; the glue only reports what the socket did.

use embassy_futures::select::{Either3, select3};
use embassy_net::dns::DnsQueryType;
use embassy_net::tcp::TcpSocket;
use embassy_net::{IpEndpoint, Stack};
use embassy_time::{Duration, Timer, with_timeout};
use hilt_firmware::app::{Firmware, LogLevel};

use crate::serial::{self, ReceiveMirror, TransmitMirror};
use crate::{clock, settings};

/// How long a DNS lookup of the broker may take.
const DNS_TIMEOUT: Duration = Duration::from_secs(10);
/// How long the TCP handshake with the broker may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a write may wait for room in the socket's send buffer, and how
/// long smoltcp waits for the broker to acknowledge data before it gives
/// up on the connection. The MQTT keepalive catches a silent broker too,
/// but only after a keepalive period; this catches a dead one sooner.
const SEND_TIMEOUT: Duration = Duration::from_secs(20);
/// How long a clean close may take to get its FIN (and DISCONNECT) out.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(2);

/// Socket buffers. The session queues at most 4 KiB to send, and the node
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
    /// A read or write failed (reset, timeout).
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
        let next = node.poll(now);
        print_node_log(node);
        if node.wants_close() {
            // Closing with no link open (the session gave up on a link that
            // was never up): nothing to close, only to report.
            node.link_down(clock::now());
            continue;
        }
        if node.wants_link(now) {
            let mut socket = TcpSocket::new(stack, &mut rx_buffer, &mut tx_buffer);
            match open(stack, &mut socket).await {
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
            continue;
        }
        // Offline, nothing due: sleep until the node's next deadline (the
        // app's next reading or publish, or the session's next attempt).
        Timer::at(clock::deadline(next)).await;
    }
}

/// Resolves the broker and opens the TCP connection.
async fn open(
    stack: Stack<'static>,
    socket: &mut TcpSocket<'_>,
) -> Result<IpEndpoint, &'static str> {
    if !stack.is_config_up() {
        return Err("no network (WiFi not associated or no DHCP lease yet)");
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
    socket.set_timeout(Some(SEND_TIMEOUT));
    // MQTT packets are small and each is worth sending at once.
    socket.set_nagle_enabled(false);
    match with_timeout(CONNECT_TIMEOUT, socket.connect(endpoint)).await {
        Ok(Ok(())) => Ok(endpoint),
        Ok(Err(_)) => Err("the broker refused or reset the connection"),
        Err(_) => {
            socket.abort();
            Err("the TCP handshake timed out")
        }
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
    loop {
        let now = clock::now();
        let next = node.poll(now);
        print_node_log(node);

        sent.log_new(node.transmit_buffer());
        while !node.transmit_buffer().is_empty() {
            match with_timeout(SEND_TIMEOUT, socket.write(node.transmit_buffer())).await {
                Ok(Ok(0)) => return LinkEnd::ClosedByBroker,
                Ok(Ok(count)) => {
                    node.consume_transmit(count);
                    sent.consumed(count);
                }
                Ok(Err(_)) => return LinkEnd::Failed("write failed"),
                Err(_) => return LinkEnd::Failed("write timed out"),
            }
        }

        if node.wants_close() {
            socket.close();
            let _ = with_timeout(CLOSE_TIMEOUT, socket.flush()).await;
            return LinkEnd::ClosedByNode;
        }

        match select3(
            socket.read(&mut chunk),
            Timer::at(clock::deadline(next)),
            stack.wait_link_down(),
        )
        .await
        {
            Either3::First(Ok(0)) => return LinkEnd::ClosedByBroker,
            Either3::First(Ok(count)) => {
                let bytes = &chunk[..count];
                let now = clock::now();
                // Mirror first, so the received line comes before anything
                // the app does about the message.
                received.feed(bytes);
                let mut offered = 0;
                while offered < bytes.len() {
                    let mut taken = node.receive(now, &bytes[offered..]);
                    if taken == 0 {
                        // The node's buffer is full of complete packets:
                        // let it handle them, then offer the rest again.
                        node.poll(now);
                        print_node_log(node);
                        taken = node.receive(now, &bytes[offered..]);
                        if taken == 0 {
                            return LinkEnd::Failed("the node takes no more bytes");
                        }
                    }
                    offered += taken;
                }
            }
            Either3::First(Err(_)) => return LinkEnd::Failed("read failed (connection reset)"),
            Either3::Second(()) => {}
            Either3::Third(()) => return LinkEnd::NetworkLost,
        }
    }
}

/// Prints the node's log lines as `[hilt] log <level> <text>`.
fn print_node_log(node: &mut impl Firmware) {
    while let Some(line) = node.pop_log() {
        serial::log_line(line.level, &line.text);
    }
}
