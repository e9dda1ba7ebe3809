//! A bare MQTT 3.1.1 client on a blocking socket, for the tests that talk to
//! a broker without the runner: the broker patch tests and the stand-in
//! board of `external_device.rs`. It speaks with the firmware core's codec.

// Each test binary compiles this module on its own and uses only part of it.
#![allow(dead_code)]

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use hilt_firmware::fake_broker::{encoded, qos0_publish};
use hilt_firmware::mqtt::codec::{
    self, Connect, DecodeError, LastWill, Packet, Publish, QoS, Subscribe, SubscribeFilters,
};

/// How long any single reply may take before a test gives up.
pub const REPLY_TIMEOUT: Duration = Duration::from_secs(5);

/// What a test client reads: an owned copy of a packet, or the end.
#[derive(Debug, PartialEq)]
pub enum Received {
    ConnAck {
        return_code: u8,
    },
    Publish {
        topic: String,
        payload: Vec<u8>,
    },
    PubAck(u16),
    SubAck(u16),
    PingResp,
    Other(String),
    /// The broker closed the connection.
    Closed,
}

/// A bare MQTT 3.1.1 client on a blocking socket.
pub struct RawClient {
    pub stream: TcpStream,
    pending: Vec<u8>,
    read_timeout: Duration,
}

impl RawClient {
    /// Connects over TCP (no MQTT yet); reads wait up to [`REPLY_TIMEOUT`].
    pub fn open(address: SocketAddr) -> RawClient {
        let stream = TcpStream::connect(address).expect("the broker accepts TCP");
        stream.set_nodelay(true).unwrap();
        let mut client = RawClient {
            stream,
            pending: Vec::new(),
            read_timeout: REPLY_TIMEOUT,
        };
        client.set_read_timeout(REPLY_TIMEOUT);
        client
    }

    /// How long a read waits before [`RawClient::try_receive`] gives up.
    pub fn set_read_timeout(&mut self, timeout: Duration) {
        self.stream.set_read_timeout(Some(timeout)).unwrap();
        self.read_timeout = timeout;
    }

    pub fn send(&mut self, packet: &Packet<'_>) {
        self.send_bytes(&encoded(packet));
    }

    fn send_bytes(&mut self, bytes: &[u8]) {
        // The broker may already have closed a refused connection.
        let _ = self.stream.write_all(bytes);
    }

    /// Sends CONNECT: clean session, keepalive 60s.
    pub fn connect(&mut self, client_id: &str, will: Option<LastWill<'_>>) {
        self.send(&Packet::Connect(Connect {
            client_id,
            keep_alive_seconds: 60,
            clean_session: true,
            will,
            username: None,
            password: None,
        }));
    }

    /// The next packet, or `Closed`; panics if nothing comes within the read
    /// timeout.
    pub fn receive(&mut self) -> Received {
        let timeout = self.read_timeout;
        self.try_receive()
            .unwrap_or_else(|| panic!("no reply from the broker within {timeout:?}"))
    }

    /// The next packet, `Closed` when the broker closed the connection, or
    /// `None` if nothing came within the read timeout. A malformed packet
    /// from the broker is a panic: the test cannot go on in step with it.
    pub fn try_receive(&mut self) -> Option<Received> {
        loop {
            match codec::decode(&self.pending) {
                Ok((packet, length)) => {
                    let received = match packet {
                        Packet::ConnAck(ack) => Received::ConnAck {
                            return_code: ack.return_code,
                        },
                        Packet::Publish(publish) => Received::Publish {
                            topic: publish.topic.to_owned(),
                            payload: publish.payload.to_vec(),
                        },
                        Packet::PubAck(id) => Received::PubAck(id),
                        Packet::SubAck(ack) => Received::SubAck(ack.packet_id),
                        Packet::PingResp => Received::PingResp,
                        other => Received::Other(format!("{other:?}")),
                    };
                    self.pending.drain(..length);
                    return Some(received);
                }
                Err(DecodeError::Incomplete { .. }) => {}
                Err(error) => panic!("the broker sent a malformed packet: {error}"),
            }
            let mut chunk = [0u8; 1024];
            match self.stream.read(&mut chunk) {
                Ok(0) => return Some(Received::Closed),
                Ok(read) => self.pending.extend_from_slice(&chunk[..read]),
                Err(error) if error.kind() == ErrorKind::ConnectionReset => {
                    return Some(Received::Closed);
                }
                Err(error)
                    if matches!(error.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) =>
                {
                    return None;
                }
                Err(error) => panic!("reading from the broker failed: {error}"),
            }
        }
    }

    pub fn expect_connack(&mut self) {
        assert_eq!(self.receive(), Received::ConnAck { return_code: 0 });
    }

    /// Sends DISCONNECT and reads until the broker closes the connection,
    /// which it does once its router has handled the DISCONNECT.
    pub fn disconnect(mut self) {
        self.send(&Packet::Disconnect);
        while self.receive() != Received::Closed {}
    }

    /// Sends SUBSCRIBE for one filter at QoS 0 with packet id 1.
    pub fn send_subscribe(&mut self, filter: &str) {
        let filters = [(filter, QoS::AtMostOnce)];
        self.send(&Packet::Subscribe(Subscribe {
            packet_id: 1,
            filters: SubscribeFilters::List(&filters),
        }));
    }

    /// Subscribes to one filter at QoS 0 and waits for the SUBACK.
    pub fn subscribe(&mut self, filter: &str) {
        self.send_subscribe(filter);
        assert_eq!(self.receive(), Received::SubAck(1));
    }

    /// Publishes at QoS 0, not retained.
    pub fn publish_qos0(&mut self, topic: &str, payload: &[u8]) {
        self.send_bytes(&qos0_publish(topic, payload));
    }

    /// Publishes at QoS 1 and waits for the PUBACK.
    pub fn publish_qos1(&mut self, topic: &str, payload: &[u8], packet_id: u16) {
        self.send(&Packet::Publish(Publish {
            dup: false,
            qos: QoS::AtLeastOnce,
            retain: false,
            topic,
            packet_id: Some(packet_id),
            payload,
        }));
        assert_eq!(self.receive(), Received::PubAck(packet_id));
    }

    /// True if the connection still answers a PINGREQ.
    pub fn is_alive(&mut self) -> bool {
        self.send(&Packet::PingReq);
        self.receive() == Received::PingResp
    }
}

/// How long the kernel gets to remove a thread that has been joined.
const REAP_TIMEOUT: Duration = Duration::from_secs(5);

/// Reads a figure of this process from Linux's /proc (its threads, say)
/// until `settled` accepts it, or [`REAP_TIMEOUT`] passes, and returns the
/// last reading.
///
/// Why not read once: `JoinHandle::join` returns when the thread's id is
/// cleared, which Linux does early in the thread's exit; the thread stays
/// listed in /proc/self/task a moment longer, until the kernel reaps it.
/// Nothing a process can wait on marks that moment, so the reading is
/// repeated, bounded. A thread that truly outlives its owner still fails.
pub fn settled_reading<T>(mut read: impl FnMut() -> T, settled: impl Fn(&T) -> bool) -> T {
    let deadline = std::time::Instant::now() + REAP_TIMEOUT;
    loop {
        let reading = read();
        if settled(&reading) || std::time::Instant::now() >= deadline {
            return reading;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// The names of this process's threads, from Linux's /proc.
pub fn thread_names() -> Vec<String> {
    std::fs::read_dir("/proc/self/task")
        .expect("Linux /proc")
        .filter_map(|task| std::fs::read_to_string(task.ok()?.path().join("comm")).ok())
        .map(|name| name.trim_end().to_owned())
        .collect()
}
