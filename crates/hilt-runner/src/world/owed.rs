//! What the broker owes the runner after a packet: the replies,
//! deliveries and closes the runner waits for before time moves. The broker
//! model (`broker_model.rs`) says what is owed; the world waits for it.

use hilt_firmware::mqtt::codec::Packet;

use crate::connection::ConnectionId;

/// Who published a message, which decides whether an acknowledgement is owed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Publisher {
    /// A client on this connection (a device or the harness): it is owed
    /// PUBACK or PUBREC for QoS 1 or 2.
    Connection(ConnectionId),
    /// The broker itself, publishing the will of a connection it dropped:
    /// nobody is owed an acknowledgement.
    Broker,
}

/// A packet (or a close) the broker owes us.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Awaited {
    /// A control packet of `kind` (CONNACK, PUBACK, ...) on `connection`.
    Reply {
        connection: ConnectionId,
        kind: ReplyKind,
        packet_id: Option<u16>,
    },
    /// A PUBLISH of `topic` with `payload` on `connection`.
    Delivery {
        connection: ConnectionId,
        topic: String,
        payload: Vec<u8>,
    },
    /// The broker closes `connection` (it is stopping).
    Close { connection: ConnectionId },
}

impl Awaited {
    pub(super) fn connection(&self) -> ConnectionId {
        match self {
            Awaited::Reply { connection, .. }
            | Awaited::Delivery { connection, .. }
            | Awaited::Close { connection } => *connection,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum ReplyKind {
    ConnAck,
    PubAck,
    PubRec,
    PubComp,
    /// The broker's PUBREL after a device's PUBREC (QoS 2 delivery).
    PubRel,
    SubAck,
    UnsubAck,
    PingResp,
}

impl std::fmt::Display for Awaited {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Awaited::Reply {
                connection, kind, ..
            } => write!(f, "{kind:?} on connection {connection}"),
            Awaited::Delivery {
                connection, topic, ..
            } => {
                write!(f, "delivery of '{topic}' on connection {connection}")
            }
            Awaited::Close { connection } => write!(f, "close of connection {connection}"),
        }
    }
}

pub(super) fn fulfils(awaited: &Awaited, connection: ConnectionId, packet: &Packet<'_>) -> bool {
    match awaited {
        Awaited::Reply {
            connection: expected,
            kind,
            packet_id,
        } => {
            if *expected != connection {
                return false;
            }
            let (actual_kind, actual_id) = match packet {
                Packet::ConnAck(_) => (ReplyKind::ConnAck, None),
                Packet::PubAck(id) => (ReplyKind::PubAck, Some(*id)),
                Packet::PubRec(id) => (ReplyKind::PubRec, Some(*id)),
                Packet::PubComp(id) => (ReplyKind::PubComp, Some(*id)),
                Packet::PubRel(id) => (ReplyKind::PubRel, Some(*id)),
                Packet::SubAck(ack) => (ReplyKind::SubAck, Some(ack.packet_id)),
                Packet::UnsubAck(id) => (ReplyKind::UnsubAck, Some(*id)),
                Packet::PingResp => (ReplyKind::PingResp, None),
                _ => return false,
            };
            *kind == actual_kind && (packet_id.is_none() || *packet_id == actual_id)
        }
        Awaited::Delivery {
            connection: expected,
            topic,
            payload,
        } => match packet {
            Packet::Publish(publish) => {
                *expected == connection
                    && publish.topic == topic
                    && publish.payload == payload.as_slice()
            }
            _ => false,
        },
        Awaited::Close { .. } => false,
    }
}

/// What is still owed for a set of forwarded packets, by connection, each
/// with its cause: the position of the packet that caused it in the order
/// the packets were forwarded. Looking up what an arriving packet fulfils
/// costs the length of its connection's list, not of everything owed,
/// which matters when thousands of packets are in flight.
#[derive(Debug, Default)]
pub(super) struct Outstanding {
    by_connection: std::collections::BTreeMap<ConnectionId, Vec<(u32, Awaited)>>,
    count: usize,
}

impl Outstanding {
    /// Everything in `awaited`, all caused by packet `cause`.
    pub(super) fn add(&mut self, cause: u32, awaited: Vec<Awaited>) {
        for awaited in awaited {
            self.count += 1;
            self.by_connection
                .entry(awaited.connection())
                .or_default()
                .push((cause, awaited));
        }
    }

    pub(super) fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Takes the first thing owed that `packet` on `connection` fulfils, and
    /// returns its cause.
    pub(super) fn take(&mut self, connection: ConnectionId, packet: &Packet<'_>) -> Option<u32> {
        let owed = self.by_connection.get_mut(&connection)?;
        let position = owed
            .iter()
            .position(|(_, awaited)| fulfils(awaited, connection, packet))?;
        let (cause, _) = owed.remove(position);
        if owed.is_empty() {
            self.by_connection.remove(&connection);
        }
        self.count -= 1;
        Some(cause)
    }

    /// Whether the broker owes closing `connection`.
    pub(super) fn awaits_close(&self, connection: ConnectionId) -> bool {
        self.owed_on(connection)
            .any(|awaited| matches!(awaited, Awaited::Close { .. }))
    }

    /// Whether the broker owes a CONNACK on `connection`.
    pub(super) fn awaits_connack(&self, connection: ConnectionId) -> bool {
        self.owed_on(connection).any(|awaited| {
            matches!(
                awaited,
                Awaited::Reply {
                    kind: ReplyKind::ConnAck,
                    ..
                }
            )
        })
    }

    /// The connection closed: nothing more can arrive on it.
    pub(super) fn forget(&mut self, connection: ConnectionId) {
        if let Some(owed) = self.by_connection.remove(&connection) {
            self.count -= owed.len();
        }
    }

    fn owed_on(&self, connection: ConnectionId) -> impl Iterator<Item = &Awaited> {
        self.by_connection
            .get(&connection)
            .into_iter()
            .flatten()
            .map(|(_, awaited)| awaited)
    }
}

/// Everything still owed, in connection order, for an error message; long
/// lists are cut after a few entries with a count of the rest.
impl std::fmt::Display for Outstanding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        const SHOWN: usize = 10;
        let mut all = self.by_connection.values().flatten();
        for (position, (_, awaited)) in all.by_ref().take(SHOWN).enumerate() {
            if position > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{awaited}")?;
        }
        if self.count > SHOWN {
            write!(f, " and {} more", self.count - SHOWN)?;
        }
        Ok(())
    }
}

/// Owed for a packet sent on its own (a will, a harness publish).
impl From<Vec<Awaited>> for Outstanding {
    fn from(awaited: Vec<Awaited>) -> Outstanding {
        let mut outstanding = Outstanding::default();
        outstanding.add(0, awaited);
        outstanding
    }
}
