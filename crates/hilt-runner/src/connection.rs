//! Real TCP connections to the broker, one per device link plus the
//! harness's own client, and the connections external devices open to
//! hilt's listener (relayed to the broker by the world), all driven by one
//! poller: a Tokio runtime with a
//! single thread, on which each connection's reader is a task that splits
//! the stream into MQTT packets. A thread per connection would cap a fleet
//! at the process's thread limit and cost a stack each; a task costs its
//! read buffer.
//!
//! Every reader sends what it reads into one channel, so the runner can wait
//! for "the packets this action must cause" across all connections at once.
//! Writes are made from the runner's thread, through the same runtime.
//! Our sockets set TCP_NODELAY, and TCP_QUICKACK after every read: rumqttd
//! never sets TCP_NODELAY on its side, and without our immediate ACKs its
//! small writes wait on Nagle against our delayed ACK (measured here: ~44 ms
//! per QoS 1 round trip instead of ~0.2 ms).
//!
//! When the broker listens with TLS (`broker: { tls: true }`, an
//! `mqtts://` URL) the hub is given a [`ClientTls`], and every connection
//! it opens to the broker, over TCP or in process, speaks TLS: the reader
//! and the writer are then the two halves of one rustls stream.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::time::Duration;

use hilt_firmware::mqtt::codec::{self, DecodeError};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, DuplexStream, WriteHalf};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::runtime::Runtime;
use tokio::task::JoinHandle;

use crate::tls::ClientTls;

/// How long opening a connection may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// How the run reaches its broker, beyond its address, and the test
/// authority of a run whose broker side speaks TLS.
#[derive(Default)]
pub struct BrokerAccess {
    /// The TLS every connection hilt opens to the broker speaks (the
    /// harness's client, each device's link, each external device's
    /// relay): the embedded broker's with `broker: { tls: true }`, or an
    /// `mqtts://` broker's.
    pub tls: Option<ClientTls>,
    /// The user name and password the harness's own client logs in with.
    pub harness_login: Option<(String, String)>,
    /// Whether the broker asks clients for a user name and password: the
    /// embedded broker with `broker: { users }`, or an external broker
    /// replaying such a scenario. A refusal (CONNACK 4 or 5) of a device is
    /// then the answer to its credentials, not a harness error.
    pub asks_for_login: bool,
    /// The run's test certificate authority, made once per run when the
    /// scenario says `broker: { tls: true }`: the embedded broker's
    /// certificate is from it, and every simulated board trusts it.
    pub authority: Option<crate::tls::TestAuthority>,
}

impl std::fmt::Debug for BrokerAccess {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BrokerAccess")
            .field("tls", &self.tls)
            .field(
                "harness_login",
                &self
                    .harness_login
                    .as_ref()
                    .map(|(name, _)| (name, "(hidden)")),
            )
            .field("asks_for_login", &self.asks_for_login)
            .field("authority", &self.authority.is_some())
            .finish()
    }
}

/// Identifies one TCP connection for the life of a run: ids are handed out
/// in the order connections are opened and never reused, so ordering by id
/// is ordering by age.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ConnectionId(u64);

impl ConnectionId {
    /// An id for unit tests of code that needs no socket.
    #[cfg(test)]
    pub(crate) fn for_tests(id: u64) -> ConnectionId {
        ConnectionId(id)
    }
}

/// The bare number, as error messages name connections.
impl std::fmt::Display for ConnectionId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// What a connection's reader reports.
#[derive(Debug)]
pub enum Inbound {
    /// One complete MQTT packet, as its raw bytes.
    Packet {
        connection: ConnectionId,
        bytes: Vec<u8>,
    },
    /// The broker (or, for an accepted connection, the client) closed
    /// the connection, or it failed.
    Closed {
        connection: ConnectionId,
        reason: String,
    },
    /// An external device opened a connection to hilt's listener. Its
    /// packets follow, as `Packet`s on `connection.id()`.
    Accepted {
        connection: BrokerConnection,
        peer: SocketAddr,
    },
}

impl Inbound {
    /// The connection it concerns.
    pub fn connection(&self) -> ConnectionId {
        match self {
            Inbound::Packet { connection, .. } | Inbound::Closed { connection, .. } => *connection,
            Inbound::Accepted { connection, .. } => connection.id(),
        }
    }
}

/// The poller, and the channel every connection's reader sends into.
#[derive(Debug)]
pub struct Hub {
    /// One thread runs every connection's reader.
    runtime: Runtime,
    sender: Sender<Inbound>,
    receiver: Receiver<Inbound>,
    /// Shared with the listener's task, which numbers what it accepts.
    next_id: Arc<AtomicU64>,
    /// The task accepting external devices' connections, if listening.
    listener: Option<JoinHandle<()>>,
    /// The TLS every connection to the broker speaks, if it listens with
    /// TLS. Connections external devices open to hilt's listener do not.
    tls: Option<ClientTls>,
}

impl Hub {
    /// A poller with its thread, named `hilt-links`.
    pub fn new() -> std::io::Result<Hub> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("hilt-links")
            .enable_io()
            .enable_time()
            .build()?;
        let (sender, receiver) = channel();
        Ok(Hub {
            runtime,
            sender,
            receiver,
            next_id: Arc::new(AtomicU64::new(0)),
            listener: None,
            tls: None,
        })
    }

    /// Every connection opened to the broker from now on speaks `tls`.
    pub fn use_tls(&mut self, tls: ClientTls) {
        self.tls = Some(tls);
    }

    fn next_id(&self) -> ConnectionId {
        ConnectionId(self.next_id.fetch_add(1, Ordering::Relaxed))
    }

    /// Listens at `address` (port 0: a free one) for external devices and
    /// returns the address bound. Each connection accepted is reported as
    /// [`Inbound::Accepted`], then its packets as any connection's.
    pub fn listen(&mut self, address: SocketAddr) -> std::io::Result<SocketAddr> {
        let listener = self
            .runtime
            .block_on(async { TcpListener::bind(address).await })?;
        let bound = listener.local_addr()?;
        let sender = self.sender.clone();
        let next_id = Arc::clone(&self.next_id);
        let runtime = self.runtime.handle().clone();
        self.listener = Some(self.runtime.spawn(async move {
            loop {
                let Ok((stream, peer)) = listener.accept().await else {
                    // Out of descriptors, or a connection reset before it
                    // was accepted: the next one may do.
                    tokio::task::yield_now().await;
                    continue;
                };
                let _ = stream.set_nodelay(true);
                let id = ConnectionId(next_id.fetch_add(1, Ordering::Relaxed));
                let (reader, writer) = stream.into_split();
                // The reader starts after the acceptance is reported, so
                // the world knows the connection before its first packet.
                let (start, started) = tokio::sync::oneshot::channel::<()>();
                let reader = runtime.spawn({
                    let sender = sender.clone();
                    async move {
                        if started.await.is_ok() {
                            read_packets(id, reader, sender, Peer::Client, |reader| {
                                let _ =
                                    socket2::SockRef::from(reader.as_ref()).set_tcp_quickack(true);
                            })
                            .await;
                        }
                    }
                });
                let connection = BrokerConnection {
                    id,
                    runtime: runtime.clone(),
                    writer: Some(Writer::Tcp(writer)),
                    reader,
                };
                if sender.send(Inbound::Accepted { connection, peer }).is_err() {
                    return;
                }
                let _ = start.send(());
            }
        }));
        Ok(bound)
    }

    /// Opens a connection to `address` with its reader.
    pub fn connect(&mut self, address: SocketAddr) -> std::io::Result<BrokerConnection> {
        let stream = self.runtime.block_on(async {
            tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(address))
                .await
                .map_err(|_| std::io::Error::from(std::io::ErrorKind::TimedOut))?
        })?;
        stream.set_nodelay(true)?;
        if let Some(tls) = self.tls.clone() {
            return self.connect_tls(&tls, QuickAck(stream));
        }
        let (reader, writer) = stream.into_split();
        Ok(
            self.start_reading(reader, Writer::Tcp(writer), |reader: &OwnedReadHalf| {
                let _ = socket2::SockRef::from(reader.as_ref()).set_tcp_quickack(true);
            }),
        )
    }

    /// Takes on a connection to a broker in this process (its end of an
    /// in-process stream), read by the same poller as a TCP connection.
    pub fn adopt(&mut self, stream: DuplexStream) -> std::io::Result<BrokerConnection> {
        if let Some(tls) = self.tls.clone() {
            return self.connect_tls(&tls, stream);
        }
        let (reader, writer) = tokio::io::split(stream);
        Ok(self.start_reading(reader, Writer::InProcess(writer), |_: &_| {}))
    }

    /// Runs the TLS handshake over `stream` (bounded, as a TCP connect is)
    /// and starts the connection's reader on the TLS stream.
    fn connect_tls<S>(&mut self, tls: &ClientTls, stream: S) -> std::io::Result<BrokerConnection>
    where
        S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
    {
        let stream = self.runtime.block_on(async {
            tokio::time::timeout(CONNECT_TIMEOUT, tls.connect(stream))
                .await
                .map_err(|_| {
                    std::io::Error::new(
                        std::io::ErrorKind::TimedOut,
                        "the TLS handshake did not finish",
                    )
                })?
        })?;
        let stream: Box<dyn TlsStream> = Box::new(stream);
        let (reader, writer) = tokio::io::split(stream);
        Ok(self.start_reading(reader, Writer::Tls(writer), |_: &_| {}))
    }

    /// A connection to the broker whose read half `reader` the poller reads
    /// (calling `after_read` after each read) and whose write half is
    /// `writer`.
    fn start_reading<R>(
        &mut self,
        reader: R,
        writer: Writer,
        after_read: impl Fn(&R) + Send + 'static,
    ) -> BrokerConnection
    where
        R: AsyncRead + Unpin + Send + 'static,
    {
        let id = self.next_id();
        let sender = self.sender.clone();
        let reader = self
            .runtime
            .spawn(read_packets(id, reader, sender, Peer::Broker, after_read));
        BrokerConnection {
            id,
            runtime: self.runtime.handle().clone(),
            writer: Some(writer),
            reader,
        }
    }

    /// Waits up to `timeout` for the next packet or close on any connection.
    pub fn receive(&self, timeout: Duration) -> Option<Inbound> {
        self.receiver.recv_timeout(timeout).ok()
    }

    /// Takes whatever has already arrived, without waiting.
    pub fn try_receive(&self) -> Option<Inbound> {
        self.receiver.try_recv().ok()
    }
}

impl Drop for Hub {
    fn drop(&mut self) {
        // The listening socket closes with its task.
        if let Some(listener) = self.listener.take() {
            listener.abort();
        }
    }
}

/// Who is at the other end of a connection, as read errors name it.
#[derive(Debug, Clone, Copy)]
enum Peer {
    Broker,
    /// An external device connected to hilt's listener.
    Client,
}

impl Peer {
    fn name(self) -> &'static str {
        match self {
            Peer::Broker => "the broker",
            Peer::Client => "the device",
        }
    }
}

/// One TCP connection to the broker, or (accepted by hilt's listener) from
/// an external device.
#[derive(Debug)]
pub struct BrokerConnection {
    id: ConnectionId,
    runtime: tokio::runtime::Handle,
    /// `None` once closed.
    writer: Option<Writer>,
    reader: JoinHandle<()>,
}

/// A TLS stream to the broker, over TCP or in process.
trait TlsStream: AsyncRead + AsyncWrite + Send + Unpin {}

impl<S: AsyncRead + AsyncWrite + Send + Unpin> TlsStream for S {}

/// The sending half of a connection.
enum Writer {
    Tcp(OwnedWriteHalf),
    InProcess(WriteHalf<DuplexStream>),
    Tls(WriteHalf<Box<dyn TlsStream>>),
}

impl std::fmt::Debug for Writer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Writer::Tcp(_) => "Tcp",
            Writer::InProcess(_) => "InProcess",
            Writer::Tls(_) => "Tls",
        })
    }
}

/// A TCP stream under TLS that sets TCP_QUICKACK after every read, as the
/// plain connections' readers do (the reader sees only the TLS stream).
struct QuickAck(TcpStream);

impl AsyncRead for QuickAck {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        context: &mut std::task::Context<'_>,
        buffer: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        let before = buffer.filled().len();
        let poll = std::pin::Pin::new(&mut self.0).poll_read(context, buffer);
        if matches!(poll, std::task::Poll::Ready(Ok(()))) && buffer.filled().len() > before {
            let _ = socket2::SockRef::from(&self.0).set_tcp_quickack(true);
        }
        poll
    }
}

impl AsyncWrite for QuickAck {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        context: &mut std::task::Context<'_>,
        bytes: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::pin::Pin::new(&mut self.0).poll_write(context, bytes)
    }

    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        context: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.0).poll_flush(context)
    }

    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        context: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.0).poll_shutdown(context)
    }
}

impl BrokerConnection {
    pub fn id(&self) -> ConnectionId {
        self.id
    }

    /// Writes bytes to the broker.
    pub fn send(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        let writer = match self.writer.as_mut() {
            None => return Err(std::io::ErrorKind::NotConnected.into()),
            Some(Writer::InProcess(writer)) => {
                return self.runtime.block_on(writer.write_all(bytes));
            }
            // rustls holds what it is given until it is flushed into
            // records on the stream below.
            Some(Writer::Tls(writer)) => {
                return self.runtime.block_on(async {
                    writer.write_all(bytes).await?;
                    writer.flush().await
                });
            }
            Some(Writer::Tcp(writer)) => writer,
        };
        // Nearly always the socket takes the bytes at once; only a full
        // send buffer needs the poller's help to wait.
        match writer.try_write(bytes) {
            Ok(written) if written == bytes.len() => Ok(()),
            Ok(written) => self.runtime.block_on(writer.write_all(&bytes[written..])),
            Err(error) if error.kind() == std::io::ErrorKind::WouldBlock => {
                self.runtime.block_on(writer.write_all(bytes))
            }
            Err(error) => Err(error),
        }
    }

    /// Closes both directions; the reader ends with it.
    pub fn close(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        // Dropping both halves closes the socket; the reader's half goes
        // when its task is cancelled, which the runtime does at once.
        self.writer = None;
        self.reader.abort();
    }
}

impl Drop for BrokerConnection {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// Reads packets from `stream` until it ends; `after_read` runs after each
/// read (TCP sockets re-arm their quick ACKs there).
async fn read_packets<R: AsyncRead + Unpin>(
    id: ConnectionId,
    mut stream: R,
    sender: Sender<Inbound>,
    peer: Peer,
    after_read: impl Fn(&R),
) {
    let closed = format!("closed by {}", peer.name());
    let mut pending: Vec<u8> = Vec::new();
    let mut chunk = [0u8; 2048];
    let reason = loop {
        let read = match stream.read(&mut chunk).await {
            Ok(0) => break closed,
            // Whether a closing peer's socket sends FIN or RST depends on
            // whether it had unread data, which is a matter of wall-clock
            // timing: to the device, and to the transcript, both are the
            // broker closing the connection.
            // Over TLS, a broker that drops the connection without TLS's
            // close_notify (rumqttd, Mosquitto) is the same close.
            Err(error)
                if matches!(
                    error.kind(),
                    std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::UnexpectedEof
                ) =>
            {
                break closed;
            }
            Ok(read) => read,
            Err(error) => break format!("read failed: {error}"),
        };
        after_read(&stream);
        pending.extend_from_slice(&chunk[..read]);
        let mut consumed = 0;
        loop {
            match codec::decode(&pending[consumed..]) {
                Ok((_, length)) => {
                    let bytes = pending[consumed..consumed + length].to_vec();
                    consumed += length;
                    if sender
                        .send(Inbound::Packet {
                            connection: id,
                            bytes,
                        })
                        .is_err()
                    {
                        return;
                    }
                }
                Err(DecodeError::Incomplete { .. }) => break,
                Err(error) => {
                    let start: Vec<String> = pending[consumed..]
                        .iter()
                        .take(16)
                        .map(|byte| format!("{byte:02x}"))
                        .collect();
                    // A TLS record (an alert or a handshake, version 3.x)
                    // where MQTT was expected: the peer speaks TLS.
                    let tls = match pending[consumed..] {
                        [0x15 | 0x16, 0x03, ..] => {
                            "; that is TLS: the broker listens with TLS, so use mqtts://"
                        }
                        _ => "",
                    };
                    let _ = sender.send(Inbound::Closed {
                        connection: id,
                        reason: format!(
                            "{} sent a malformed packet: {error} (it starts {}){}",
                            peer.name(),
                            start.join(" "),
                            if matches!(peer, Peer::Broker) {
                                tls
                            } else {
                                ""
                            }
                        ),
                    });
                    return;
                }
            }
        }
        pending.drain(..consumed);
    };
    let _ = sender.send(Inbound::Closed {
        connection: id,
        reason,
    });
}
