//! Real TCP connections to the broker, one per device link plus the
//! harness's own client, each with a reader thread that splits the stream
//! into MQTT packets.
//!
//! Every reader sends what it reads into one channel, so the runner can wait
//! for "the packets this action must cause" across all connections at once.
//! Our sockets set TCP_NODELAY, and TCP_QUICKACK after every read: rumqttd
//! never sets TCP_NODELAY on its side, and without our immediate ACKs its
//! small writes wait on Nagle against our delayed ACK (measured here: ~44 ms
//! per QoS 1 round trip instead of ~0.2 ms).

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::thread::JoinHandle;
use std::time::Duration;

use hilt_firmware::mqtt::codec::{self, DecodeError};

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

/// The bare number, as error messages and reader threads name connections.
impl std::fmt::Display for ConnectionId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// What a reader thread reports.
#[derive(Debug)]
pub enum Inbound {
    /// One complete MQTT packet, as its raw bytes.
    Packet {
        connection: ConnectionId,
        bytes: Vec<u8>,
    },
    /// The broker closed the connection, or it failed.
    Closed {
        connection: ConnectionId,
        reason: String,
    },
}

/// The channel every reader thread sends into.
#[derive(Debug)]
pub struct Hub {
    sender: Sender<Inbound>,
    receiver: Receiver<Inbound>,
    next_id: u64,
}

impl Default for Hub {
    fn default() -> Self {
        let (sender, receiver) = channel();
        Hub {
            sender,
            receiver,
            next_id: 0,
        }
    }
}

impl Hub {
    /// Opens a connection to `address` with its reader thread.
    pub fn connect(&mut self, address: SocketAddr) -> std::io::Result<BrokerConnection> {
        let stream = TcpStream::connect_timeout(&address, Duration::from_secs(5))?;
        stream.set_nodelay(true)?;
        let id = ConnectionId(self.next_id);
        self.next_id += 1;
        let reader_stream = stream.try_clone()?;
        let sender = self.sender.clone();
        let reader = std::thread::Builder::new()
            .name(format!("hilt-link-{id}"))
            .spawn(move || read_packets(id, reader_stream, sender))?;
        Ok(BrokerConnection {
            id,
            stream,
            reader: Some(reader),
        })
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

/// One TCP connection to the broker.
#[derive(Debug)]
pub struct BrokerConnection {
    id: ConnectionId,
    stream: TcpStream,
    reader: Option<JoinHandle<()>>,
}

impl BrokerConnection {
    pub fn id(&self) -> ConnectionId {
        self.id
    }

    /// Writes bytes to the broker.
    pub fn send(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.stream.write_all(bytes)
    }

    /// Closes both directions; the reader thread ends on its own.
    pub fn close(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        let _ = self.stream.shutdown(Shutdown::Both);
        if let Some(reader) = self.reader.take() {
            let _ = reader.join();
        }
    }
}

impl Drop for BrokerConnection {
    fn drop(&mut self) {
        self.shutdown();
    }
}

fn read_packets(id: ConnectionId, stream: TcpStream, sender: Sender<Inbound>) {
    let socket = socket2::SockRef::from(&stream);
    let mut pending: Vec<u8> = Vec::with_capacity(4096);
    let mut chunk = [0u8; 8192];
    let reason = loop {
        let read = match (&stream).read(&mut chunk) {
            Ok(0) => break "closed by the broker".to_owned(),
            // Whether a closing peer's socket sends FIN or RST depends on
            // whether it had unread data, which is a matter of wall-clock
            // timing: to the device, and to the transcript, both are the
            // broker closing the connection.
            Err(error) if error.kind() == std::io::ErrorKind::ConnectionReset => {
                break "closed by the broker".to_owned();
            }
            Ok(read) => read,
            Err(error) => break format!("read failed: {error}"),
        };
        let _ = socket.set_tcp_quickack(true);
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
                    let _ = sender.send(Inbound::Closed {
                        connection: id,
                        reason: format!(
                            "the broker sent a malformed packet: {error} (it starts {})",
                            start.join(" ")
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
