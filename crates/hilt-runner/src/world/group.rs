//! A group of device packets in flight together: forwarded to the broker
//! one after another without waiting, then awaited all at once.
//!
//! Forwarding every packet that is due at one device instant together is
//! what lets a fleet move tens of thousands of messages a second instead of
//! one round trip at a time. It stays deterministic because a group only
//! holds packets whose outcome does not depend on the order in which the
//! broker, with its own threads, happens to process them:
//!
//! - A packet that changes where messages go (CONNECT, SUBSCRIBE,
//!   UNSUBSCRIBE, DISCONNECT) never shares a group with a PUBLISH: whether
//!   the publish reached the new subscriber would depend on which the
//!   broker took first.
//! - Two retained publishes to one topic never share a group: which of them
//!   the broker keeps would depend on the order.
//! - A device connection is delivered messages by at most one packet of a
//!   group. Deliveries of two publishes to one subscriber would arrive in
//!   the order the broker routed them, and the device must acknowledge
//!   QoS 1 and 2 deliveries in the order they came (rumqttd drops a link
//!   that acknowledges out of order), so they could not be reordered
//!   afterwards either.
//! - A QoS 2 PUBLISH and a device's PUBREL, whose deliveries the broker may
//!   send at either step, go alone.
//!
//! What arrives for devices while the group is awaited is staged, then
//! handed over sorted by its cause (the position in the group of the packet
//! that caused it), so that the order depends only on the scenario. The
//! harness's own `#` subscription receives a delivery of every publish; its
//! order does not matter, since messages are logged as they are forwarded.

use std::collections::{HashMap, HashSet};

use hilt_firmware::mqtt::codec::{Packet, QoS};

use super::owed::{Awaited, Outstanding};
use crate::connection::ConnectionId;

/// See the module documentation.
#[derive(Debug, Default)]
pub(super) struct Group {
    /// How many packets were forwarded in this group: the next one's cause.
    forwarded: u32,
    /// What the broker still owes for them.
    pub(super) outstanding: Outstanding,
    /// A CONNECT, SUBSCRIBE, UNSUBSCRIBE or DISCONNECT is in the group.
    changes_routing: bool,
    /// A PUBLISH is in the group.
    routes: bool,
    /// A packet that must go alone is in the group.
    exclusive: bool,
    /// Topics of the retained publishes in the group.
    retained_topics: HashSet<String>,
    /// Device connections that a packet of the group delivers messages to.
    delivered_to: HashSet<ConnectionId>,
    /// The messages published in the group, with their cause, to place a
    /// delivery the broker sent unasked (a duplicate for overlapping
    /// filters, a QoS 2 delivery before its PUBREL).
    published: Vec<(u32, String, Vec<u8>)>,
    /// The cause of the last packet staged for each connection.
    last_cause_on: HashMap<ConnectionId, u32>,
    /// What arrived for devices, not yet handed over.
    staged: Vec<Staged>,
}

/// A packet that arrived for a device while its group was in flight.
#[derive(Debug)]
pub(super) struct Staged {
    pub(super) cause: u32,
    /// The order it arrived in, which breaks ties between packets of one
    /// cause (on one connection, the broker's order).
    arrival: usize,
    pub(super) device: usize,
    pub(super) connection: ConnectionId,
    pub(super) bytes: Vec<u8>,
}

impl Group {
    pub(super) fn is_empty(&self) -> bool {
        self.forwarded == 0
    }

    /// Whether `packet`, which may deliver messages to the device
    /// connections `delivers_to`, can join the group without its outcome
    /// depending on the broker's order (see the module documentation).
    pub(super) fn admits(&self, packet: &Packet<'_>, delivers_to: &[ConnectionId]) -> bool {
        if self.is_empty() {
            return true;
        }
        if self.exclusive || goes_alone(packet) {
            return false;
        }
        if delivers_to
            .iter()
            .any(|connection| self.delivered_to.contains(connection))
        {
            return false;
        }
        match packet {
            Packet::Publish(publish) => {
                let replaces_a_retained_message =
                    publish.retain && self.retained_topics.contains(publish.topic);
                !(self.changes_routing || replaces_a_retained_message)
            }
            packet if changes_routing(packet) => !self.routes,
            _ => true,
        }
    }

    /// Adds a forwarded packet and what it is owed.
    pub(super) fn add(
        &mut self,
        packet: &Packet<'_>,
        delivers_to: &[ConnectionId],
        awaited: Vec<Awaited>,
    ) {
        let cause = self.forwarded;
        self.forwarded += 1;
        self.exclusive |= goes_alone(packet);
        self.changes_routing |= changes_routing(packet);
        if let Packet::Publish(publish) = packet {
            self.routes = true;
            if publish.retain {
                self.retained_topics.insert(publish.topic.to_owned());
            }
            self.published
                .push((cause, publish.topic.to_owned(), publish.payload.to_vec()));
        }
        self.delivered_to.extend(delivers_to.iter().copied());
        self.outstanding.add(cause, awaited);
    }

    /// Stages a packet that arrived for device `device` on `connection`,
    /// caused by packet `cause` if known.
    pub(super) fn stage(
        &mut self,
        cause: Option<u32>,
        device: usize,
        connection: ConnectionId,
        bytes: Vec<u8>,
    ) {
        let cause = cause
            .or_else(|| self.cause_of_unasked(&bytes))
            .or_else(|| self.last_cause_on.get(&connection).copied())
            .unwrap_or(0);
        self.last_cause_on.insert(connection, cause);
        let arrival = self.staged.len();
        self.staged.push(Staged {
            cause,
            arrival,
            device,
            connection,
            bytes,
        });
    }

    /// The staged packets in the order they are handed to the devices: by
    /// cause, then as they arrived. Leaves the group empty.
    pub(super) fn take_staged(&mut self) -> Vec<Staged> {
        let mut staged = std::mem::take(&mut self.staged);
        staged.sort_unstable_by_key(|staged| (staged.cause, staged.arrival));
        *self = Group::default();
        staged
    }

    /// For a delivery the broker sent unasked, the publish of the group it
    /// repeats or anticipates.
    fn cause_of_unasked(&self, bytes: &[u8]) -> Option<u32> {
        let Ok((Packet::Publish(publish), _)) = hilt_firmware::mqtt::codec::decode(bytes) else {
            return None;
        };
        self.published
            .iter()
            .find(|(_, topic, payload)| topic == publish.topic && payload == publish.payload)
            .map(|(cause, _, _)| *cause)
    }
}

fn changes_routing(packet: &Packet<'_>) -> bool {
    matches!(
        packet,
        Packet::Connect(_) | Packet::Subscribe(_) | Packet::Unsubscribe(_) | Packet::Disconnect
    )
}

fn goes_alone(packet: &Packet<'_>) -> bool {
    match packet {
        Packet::Publish(publish) => publish.qos == QoS::ExactlyOnce,
        Packet::PubRel(_) => true,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use hilt_firmware::mqtt::codec::{Publish, Subscribe, SubscribeFilters};

    use super::*;

    fn connection(id: u64) -> ConnectionId {
        ConnectionId::for_tests(id)
    }

    fn publish<'a>(topic: &'a str, qos: QoS, retain: bool) -> Packet<'a> {
        Packet::Publish(Publish {
            dup: false,
            qos,
            retain,
            topic,
            packet_id: (qos != QoS::AtMostOnce).then_some(1),
            payload: b"1",
        })
    }

    fn encoded(packet: &Packet<'_>) -> Vec<u8> {
        let mut bytes = vec![0; hilt_firmware::mqtt::codec::encoded_len(packet)];
        let length = hilt_firmware::mqtt::codec::encode(packet, &mut bytes).unwrap();
        bytes.truncate(length);
        bytes
    }

    fn group_with(packet: &Packet<'_>, delivers_to: &[ConnectionId]) -> Group {
        let mut group = Group::default();
        assert!(group.admits(packet, delivers_to));
        group.add(packet, delivers_to, Vec::new());
        group
    }

    #[test]
    fn publishes_to_different_subscribers_go_together() {
        let group = group_with(&publish("a", QoS::AtLeastOnce, false), &[connection(1)]);
        assert!(group.admits(&publish("b", QoS::AtLeastOnce, false), &[connection(2)]));
        assert!(group.admits(&Packet::PingReq, &[]));
    }

    #[test]
    fn two_publishes_to_one_subscriber_do_not() {
        let group = group_with(&publish("a", QoS::AtMostOnce, false), &[connection(1)]);
        assert!(!group.admits(&publish("b", QoS::AtMostOnce, false), &[connection(1)]));
    }

    #[test]
    fn a_subscription_and_a_publish_do_not() {
        let subscribe = Packet::Subscribe(Subscribe {
            packet_id: 1,
            filters: SubscribeFilters::List(&[("a", QoS::AtMostOnce)]),
        });
        let group = group_with(&subscribe, &[connection(1)]);
        assert!(!group.admits(&publish("a", QoS::AtMostOnce, false), &[]));
        let group = group_with(&publish("a", QoS::AtMostOnce, false), &[]);
        assert!(!group.admits(&subscribe, &[connection(2)]));
        assert!(!group.admits(&Packet::Disconnect, &[]));
    }

    #[test]
    fn retained_publishes_to_one_topic_do_not() {
        let group = group_with(&publish("a", QoS::AtMostOnce, true), &[]);
        assert!(!group.admits(&publish("a", QoS::AtMostOnce, true), &[]));
        assert!(group.admits(&publish("b", QoS::AtMostOnce, true), &[]));
        assert!(group.admits(&publish("a", QoS::AtMostOnce, false), &[]));
    }

    #[test]
    fn qos_2_goes_alone() {
        let group = group_with(&publish("a", QoS::ExactlyOnce, false), &[]);
        assert!(!group.admits(&Packet::PingReq, &[]));
        let group = group_with(&Packet::PingReq, &[]);
        assert!(!group.admits(&publish("a", QoS::ExactlyOnce, false), &[]));
        assert!(!group.admits(&Packet::PubRel(1), &[]));
    }

    #[test]
    fn what_arrives_is_handed_over_by_cause_then_arrival() {
        let mut group = Group::default();
        group.add(
            &publish("a", QoS::AtMostOnce, false),
            &[connection(1)],
            Vec::new(),
        );
        group.add(
            &publish("b", QoS::AtMostOnce, false),
            &[connection(2)],
            Vec::new(),
        );
        let delivery_b = encoded(&publish("b", QoS::AtMostOnce, false));
        let delivery_a = encoded(&publish("a", QoS::AtMostOnce, false));
        // Arrivals in the broker's order: b's first, on device 7's
        // connection, then on device 8's, a and a duplicate of it nobody
        // awaited, which is placed with the publish it repeats.
        group.stage(Some(1), 7, connection(2), delivery_b.clone());
        group.stage(None, 8, connection(1), delivery_a.clone());
        group.stage(Some(0), 8, connection(1), delivery_a.clone());
        let order: Vec<(u32, usize)> = group
            .take_staged()
            .into_iter()
            .map(|staged| (staged.cause, staged.device))
            .collect();
        assert_eq!(order, [(0, 8), (0, 8), (1, 7)]);
        assert!(
            group.is_empty(),
            "taking the staged packets empties the group"
        );
    }
}
