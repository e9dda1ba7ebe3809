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
