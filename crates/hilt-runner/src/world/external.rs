//! External devices: boards, Wokwi simulations and other programs that
//! connect to hilt's listener instead of to the broker. hilt relays each
//! such connection to the broker through the same link a simulated device
//! has, so everything the link does applies to it: every packet is parsed
//! and attributed to the device (a publish is logged with its name and the
//! QoS and retain flag it sent), what the broker owes is awaited, the
//! link's faults (`network:`) delay or lose its packets, and the broker's
//! keepalive is played by hilt.
//!
//! The relay is a [`Firmware`] to the world: [`RelayedClient`] hands the
//! world what the client sent as its "transmit buffer", writes what the
//! broker sends to the client's socket, asks for a link while a client is
//! attached, and asks for it to be closed when the client goes. The world
//! cannot tell it from a simulated device's firmware, which is the point.
//!
//! What differs, and why:
//!
//! - The client picks its device by the client id of its CONNECT. An
//!   unknown client id is refused with CONNACK return code 2 (identifier
//!   rejected), as a broker refuses one, and ends the run as an error: a
//!   scenario whose device never appears under its declared id must not
//!   pass.
//! - Keepalive: the CONNECT goes to the broker with the longest keepalive
//!   (65535 s), and hilt enforces the device's own, 1.5 × it after the last
//!   packet (none for 0), as it does for simulated devices. So a client
//!   with keepalive 0 (MicroPython's umqtt) is accepted whatever the broker
//!   thinks of 0, and a cut link's will fires when hilt decides, not when
//!   the broker's wall-clock timer happens to.
//! - A device that has not connected `connect_within` after the run starts
//!   is an error naming it and the address it should connect to.

use std::cell::RefCell;
use std::net::SocketAddr;
use std::rc::Rc;

use hilt_firmware::app::{Firmware, LogLine};
use hilt_firmware::mqtt::codec::{self, Packet};
use hilt_firmware::time::{Duration, Instant};

use super::link::LinkState;
use super::{Endpoint, HarnessError, World};
use crate::connection::{BrokerConnection, ConnectionId};

/// The keepalive hilt asks the broker for on an external device's behalf:
/// the longest MQTT allows, so that no broker enforces one; hilt enforces
/// the device's own.
pub(super) const KEEPALIVE_TOWARD_BROKER: u16 = u16::MAX;

/// How far ahead a relay asks to be polled when nothing is waiting: it is
/// polled when bytes arrive anyway.
const IDLE_POLL: Duration = Duration::from_secs(24 * 60 * 60);

/// The client's side of an external device's relay, shared between the
/// world (which feeds it what the client sends) and the [`RelayedClient`]
/// (which the world runs as the device's firmware).
#[derive(Debug, Default)]
pub(super) struct ClientSide {
    /// The client's connection to hilt, once its CONNECT named this device.
    client: Option<BrokerConnection>,
    /// A client with the same id that connected while `client` was still
    /// attached: it takes over once the old one's link is closed, as a
    /// broker hands a client id to its newest connection.
    replacement: Option<(BrokerConnection, Vec<u8>)>,
    /// What the client sent that the link has not taken yet.
    from_client: Vec<u8>,
    /// The client closed its connection (or is being replaced).
    closed: bool,
    /// The broker accepted the current client's CONNECT.
    connected: bool,
    /// Some client of this device has been accepted by the broker.
    ever_connected: bool,
}

impl ClientSide {
    /// The connection id of the attached client (or the one waiting to
    /// replace it), to tell its packets from a closed one's.
    pub(super) fn is_current(&self, connection: ConnectionId) -> bool {
        self.client
            .as_ref()
            .is_some_and(|client| client.id() == connection)
            || self
                .replacement
                .as_ref()
                .is_some_and(|(client, _)| client.id() == connection)
    }

    /// A client whose CONNECT (`connect`, its raw bytes) names this device.
    pub(super) fn attach(&mut self, client: BrokerConnection, connect: Vec<u8>) {
        if self.client.is_some() {
            // The newest connection wins; the old one's link is closed
            // first (without DISCONNECT, so its will fires).
            self.replacement = Some((client, connect));
            self.closed = true;
        } else {
            self.client = Some(client);
            self.from_client = connect;
            self.closed = false;
        }
    }

    /// Bytes from the client on `connection`.
    pub(super) fn received(&mut self, connection: ConnectionId, bytes: &[u8]) {
        match &mut self.replacement {
            Some((client, pending)) if client.id() == connection => {
                pending.extend_from_slice(bytes)
            }
            _ => self.from_client.extend_from_slice(bytes),
        }
    }

    /// The client on `connection` closed its side.
    pub(super) fn client_closed(&mut self, connection: ConnectionId) {
        if self
            .replacement
            .as_ref()
            .is_some_and(|(client, _)| client.id() == connection)
        {
            self.replacement = None;
            if self.client.is_some() {
                // The old client stays attached: nobody replaces it now.
                self.closed = false;
            }
        } else {
            self.closed = true;
        }
    }

    /// Whether the broker has accepted the attached client's CONNECT.
    pub(super) fn is_connected(&self) -> bool {
        self.connected
    }

    pub(super) fn ever_connected(&self) -> bool {
        self.ever_connected
    }
}

/// An external device's relay, run by the world as the device's firmware.
#[derive(Debug)]
pub(super) struct RelayedClient {
    side: Rc<RefCell<ClientSide>>,
    /// What goes to the broker next.
    transmit: Vec<u8>,
}

impl RelayedClient {
    pub(super) fn new(side: Rc<RefCell<ClientSide>>) -> RelayedClient {
        RelayedClient {
            side,
            transmit: Vec::new(),
        }
    }
}

impl Firmware for RelayedClient {
    fn poll(&mut self, now: Instant) -> Instant {
        let mut side = self.side.borrow_mut();
        if side.client.is_some() && !side.closed {
            let bytes = std::mem::take(&mut side.from_client);
            self.transmit.extend_from_slice(&bytes);
        }
        now + IDLE_POLL
    }

    /// What the broker sent reaches the device: written to its socket.
    fn receive(&mut self, _now: Instant, bytes: &[u8]) -> usize {
        let mut side = self.side.borrow_mut();
        if let Ok((Packet::ConnAck(ack), _)) = codec::decode(bytes)
            && ack.return_code == 0
        {
            side.connected = true;
            side.ever_connected = true;
        }
        let failed = match side.client.as_mut() {
            Some(client) => client.send(bytes).is_err(),
            None => false,
        };
        if failed {
            // The client is gone; its close is on its way to the world too.
            side.closed = true;
        }
        bytes.len()
    }

    fn transmit_buffer(&self) -> &[u8] {
        &self.transmit
    }

    fn consume_transmit(&mut self, count: usize) {
        self.transmit.drain(..count.min(self.transmit.len()));
    }

    fn wants_link(&self, _now: Instant) -> bool {
        let side = self.side.borrow();
        side.client.is_some() && !side.closed
    }

    fn wants_close(&self) -> bool {
        let side = self.side.borrow();
        side.client.is_some() && side.closed
    }

    fn link_up(&mut self, _now: Instant) {}

    /// The link is gone (the client closed, the broker closed it, or the
    /// link was cut when it tried to connect): the client's connection
    /// closes with it, and a client waiting to take over is attached.
    fn link_down(&mut self, _now: Instant) {
        self.transmit.clear();
        let mut side = self.side.borrow_mut();
        side.connected = false;
        side.from_client.clear();
        side.closed = false;
        if let Some(client) = side.client.take() {
            client.close();
        }
        if let Some((client, connect)) = side.replacement.take() {
            side.client = Some(client);
            side.from_client = connect;
        }
    }

    /// The relay keeps no log: the world transcribes what it relays.
    fn pop_log(&mut self) -> Option<LogLine> {
        None
    }

    /// Never called: an external device is not reset by hilt.
    fn disconnect(&mut self) {}
}

/// What the world keeps of an external device besides its relay.
#[derive(Debug)]
pub(super) struct ExternalDevice {
    pub(super) side: Rc<RefCell<ClientSide>>,
    pub(super) client_id: String,
    /// The device must have connected by then (device time, which is wall
    /// time since the run started: external devices need `time: real`).
    pub(super) connect_deadline: Instant,
    pub(super) connect_within: std::time::Duration,
}

impl ExternalDevice {
    /// The deadline, while the device has never connected.
    pub(super) fn pending_deadline(&self) -> Option<Instant> {
        (!self.side.borrow().ever_connected()).then_some(self.connect_deadline)
    }
}

/// A connection accepted by hilt's listener whose CONNECT has not come yet.
#[derive(Debug)]
pub(super) struct PendingClient {
    pub(super) connection: BrokerConnection,
    pub(super) peer: SocketAddr,
    /// Bytes read so far (a CONNECT arrives whole, as one packet).
    pub(super) received: Vec<u8>,
}

impl World {
    /// The first packet of a connection to the listener: a CONNECT whose
    /// client id picks the external device, or the connection is closed.
    pub(super) fn pending_client_sent(
        &mut self,
        connection: ConnectionId,
        bytes: Vec<u8>,
    ) -> Result<(), HarnessError> {
        self.endpoints.remove(&connection);
        let Some(mut pending) = self.pending_clients.remove(&connection) else {
            return Ok(());
        };
        pending.received.extend_from_slice(&bytes);
        let now = self.now;
        let peer = pending.peer;
        let client_id = match codec::decode(&pending.received) {
            Ok((Packet::Connect(connect), _)) => connect.client_id.to_owned(),
            _ => {
                self.transcript.push(
                    now,
                    format!(
                        "a client connected from {peer} sent something other than CONNECT \
                         first; hilt closes its connection"
                    ),
                );
                pending.connection.close();
                return Ok(());
            }
        };
        let found = self.devices.iter().position(|device| {
            device
                .external
                .as_ref()
                .is_some_and(|external| external.client_id == client_id)
        });
        let Some(index) = found else {
            let _ = pending.connection.send(&identifier_rejected());
            pending.connection.close();
            self.transcript.push(
                now,
                format!(
                    "a client connects from {peer} with client id '{client_id}', which no \
                     external device has: refused (CONNACK return code 2, identifier rejected)"
                ),
            );
            let known = self
                .devices
                .iter()
                .filter(|device| device.external.is_some())
                .map(|device| format!("{} is '{}'", device.name, device.identity.client_id))
                .collect::<Vec<_>>()
                .join(", ");
            return Err(HarnessError::UnknownClient {
                client_id,
                peer,
                known,
            });
        };
        let device = &mut self.devices[index];
        let name = device.name.clone();
        self.endpoints
            .insert(connection, Endpoint::ExternalClient(index));
        if let Some(external) = &device.external {
            external
                .side
                .borrow_mut()
                .attach(pending.connection, pending.received);
        }
        device.next_poll_at = device.next_poll_at.min(now);
        self.transcript
            .push(now, format!("{name} connects to hilt from {peer}"));
        Ok(())
    }

    /// Bytes from an external device's client: the relay takes them when
    /// the device runs next, which is now.
    pub(super) fn external_client_sent(
        &mut self,
        index: usize,
        connection: ConnectionId,
        bytes: &[u8],
    ) {
        let now = self.now;
        let device = &mut self.devices[index];
        let Some(external) = &device.external else {
            return;
        };
        let mut side = external.side.borrow_mut();
        if !side.is_current(connection) {
            return;
        }
        side.received(connection, bytes);
        drop(side);
        device.next_poll_at = device.next_poll_at.min(now);
    }

    /// An external device's client closed its connection to hilt: its link
    /// closes when the device runs next, which is now.
    pub(super) fn external_client_closed(&mut self, index: usize, connection: ConnectionId) {
        let now = self.now;
        let device = &mut self.devices[index];
        let Some(external) = &device.external else {
            return;
        };
        let mut side = external.side.borrow_mut();
        if !side.is_current(connection) {
            return;
        }
        side.client_closed(connection);
        drop(side);
        device.next_poll_at = device.next_poll_at.min(now);
    }

    /// The broker closed an external device's connection after its
    /// DISCONNECT: hilt closes the client's, as the broker would have.
    pub(super) fn relay_disconnected(&mut self, index: usize) {
        let now = self.now;
        let device = &mut self.devices[index];
        device.link.state = LinkState::Unconnected;
        device.inbound.clear();
        device.outbound.clear();
        device.firmware.link_down(now);
        let name = device.name.clone();
        self.transcript.push(
            now,
            format!("{name}'s connection ends after its DISCONNECT"),
        );
    }
}

/// The CONNECT `bytes` with its keepalive replaced by `keep_alive`, encoded
/// again; `None` if `bytes` is not a CONNECT.
pub(super) fn with_keep_alive(bytes: &[u8], keep_alive: u16) -> Option<Vec<u8>> {
    let Ok((Packet::Connect(mut connect), _)) = codec::decode(bytes) else {
        return None;
    };
    connect.keep_alive_seconds = keep_alive;
    let packet = Packet::Connect(connect);
    let mut buffer = vec![0u8; codec::encoded_len(&packet)];
    let length = codec::encode(&packet, &mut buffer).ok()?;
    buffer.truncate(length);
    Some(buffer)
}

/// A CONNACK refusing the client id (return code 2).
pub(super) fn identifier_rejected() -> Vec<u8> {
    // CONNACK, remaining length 2, no session present, return code 2.
    vec![0x20, 0x02, 0x00, 0x02]
}

#[cfg(test)]
mod tests {
    use super::*;
    use hilt_firmware::mqtt::codec::Connect;

    #[test]
    fn the_keepalive_is_rewritten_and_the_rest_of_the_connect_kept() {
        let connect = Packet::Connect(Connect {
            client_id: "probe",
            keep_alive_seconds: 0,
            clean_session: false,
            will: None,
            username: None,
            password: None,
        });
        let mut bytes = vec![0u8; codec::encoded_len(&connect)];
        let length = codec::encode(&connect, &mut bytes).unwrap();
        bytes.truncate(length);
        let rewritten = with_keep_alive(&bytes, KEEPALIVE_TOWARD_BROKER).unwrap();
        let Ok((Packet::Connect(again), _)) = codec::decode(&rewritten) else {
            panic!("not a CONNECT");
        };
        assert_eq!(again.keep_alive_seconds, u16::MAX);
        assert_eq!(again.client_id, "probe");
        assert!(!again.clean_session);
        assert_eq!(with_keep_alive(&[0xC0, 0x00], 60), None);
    }

    #[test]
    fn the_refusal_decodes_as_a_connack_with_return_code_2() {
        let Ok((Packet::ConnAck(ack), _)) = codec::decode(&identifier_rejected()) else {
            panic!("not a CONNACK");
        };
        assert_eq!(ack.return_code, 2);
    }
}
