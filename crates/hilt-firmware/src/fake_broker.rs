//! An in-process fake MQTT broker, for code that drives a [`Firmware`]
//! without a network: the apps' unit tests (`apps::test_harness`) and the
//! fuzz driver of `hilt-fuzzing`, which enables this module with the
//! `fake-broker` feature. It needs `std`; the firmware itself never uses it.
//!
//! The broker answers each packet a device sends as a well-behaved MQTT
//! 3.1.1 broker would (CONNACK, PUBACK, PUBREC, PUBREL, PUBCOMP, SUBACK
//! granting what was asked, UNSUBACK, PINGRESP) and routes nothing. Its
//! answers are kept as bytes it owes the device, and the caller delivers them
//! when its own model of the link says so: the unit tests at once, the fuzz
//! driver at its next round. That is the one thing the two callers do
//! differently, so it stays theirs.

extern crate std;

use std::vec;
use std::vec::Vec;

use crate::app::Firmware;
use crate::mqtt::codec::{self, ConnAck, DecodeError, Packet, Publish, QoS, SubAck};

/// A broker that answers and never routes; see the module documentation.
#[derive(Debug)]
pub struct FakeBroker {
    /// While false the broker answers nothing at all, so that a script can
    /// play the broker by hand (the fuzz driver's auto-broker switch).
    pub answers: bool,
    /// While false, QoS 1 and 2 publishes from the device are never
    /// acknowledged (no PUBACK, no PUBREC), as by a broker that lost them.
    pub acknowledges_publishes: bool,
    /// The encoded answers the device has not been handed yet, in order.
    owed: Vec<u8>,
}

impl Default for FakeBroker {
    fn default() -> Self {
        FakeBroker::new()
    }
}

impl FakeBroker {
    /// A broker that answers everything.
    pub fn new() -> Self {
        FakeBroker {
            answers: true,
            acknowledges_publishes: true,
            owed: Vec::new(),
        }
    }

    /// The device sent `packet`: the broker now owes it the answer.
    pub fn receive(&mut self, packet: &Packet<'_>) {
        if !self.answers {
            return;
        }
        match packet {
            Packet::Connect(_) => self.owe(&Packet::ConnAck(ConnAck {
                session_present: false,
                return_code: 0,
            })),
            Packet::Publish(publish) if self.acknowledges_publishes => {
                match (publish.qos, publish.packet_id) {
                    (QoS::AtLeastOnce, Some(id)) => self.owe(&Packet::PubAck(id)),
                    (QoS::ExactlyOnce, Some(id)) => self.owe(&Packet::PubRec(id)),
                    _ => {}
                }
            }
            Packet::Subscribe(subscribe) => {
                let granted: Vec<u8> = subscribe
                    .filters
                    .iter()
                    .map(|(_, qos)| qos.as_u8())
                    .collect();
                self.owe(&Packet::SubAck(SubAck {
                    packet_id: subscribe.packet_id,
                    return_codes: &granted,
                }));
            }
            Packet::Unsubscribe(unsubscribe) => {
                self.owe(&Packet::UnsubAck(unsubscribe.packet_id));
            }
            // The device's half of a QoS 2 delivery, and its release of one
            // of its own QoS 2 publishes.
            Packet::PubRec(id) => self.owe(&Packet::PubRel(*id)),
            Packet::PubRel(id) => self.owe(&Packet::PubComp(*id)),
            Packet::PingReq => self.owe(&Packet::PingResp),
            _ => {}
        }
    }

    /// Takes the bytes owed so far, for the caller to hand to the device.
    pub fn take_owed(&mut self) -> Vec<u8> {
        core::mem::take(&mut self.owed)
    }

    /// True when the broker owes the device nothing.
    pub fn owes_nothing(&self) -> bool {
        self.owed.is_empty()
    }

    /// The connection closed: what was owed on it is lost with it, as on a
    /// closed TCP connection.
    pub fn forget_owed(&mut self) {
        self.owed.clear();
    }

    fn owe(&mut self, packet: &Packet<'_>) {
        self.owed.extend(encoded(packet));
    }
}

/// `packet` as bytes. Panics if the codec refuses it: whoever calls this
/// built the packet itself, so a refusal is a mistake in the caller.
pub fn encoded(packet: &Packet<'_>) -> Vec<u8> {
    let mut bytes = vec![0; codec::encoded_len(packet)];
    let length = codec::encode(packet, &mut bytes).expect("a fake broker sends valid packets");
    bytes.truncate(length);
    bytes
}

/// A QoS 0 PUBLISH, not retained, as bytes: what a broker delivers on a QoS
/// 0 subscription, and what a simple client sends.
pub fn qos0_publish(topic: &str, payload: &[u8]) -> Vec<u8> {
    encoded(&Packet::Publish(Publish {
        dup: false,
        qos: QoS::AtMostOnce,
        retain: false,
        topic,
        packet_id: None,
        payload,
    }))
}

/// Takes everything `firmware` has written to its link.
pub fn take_transmitted<F: Firmware + ?Sized>(firmware: &mut F) -> Vec<u8> {
    let bytes = firmware.transmit_buffer().to_vec();
    firmware.consume_transmit(bytes.len());
    bytes
}

/// The packets in bytes a device wrote, in order. A device writes only
/// whole, valid packets, so anything else is an error, with the bytes from
/// the first packet that does not decode.
pub fn decode_all(bytes: &[u8]) -> Result<Vec<Packet<'_>>, (DecodeError, &[u8])> {
    let mut packets = Vec::new();
    let mut rest = bytes;
    while !rest.is_empty() {
        let (packet, length) = codec::decode(rest).map_err(|error| (error, rest))?;
        packets.push(packet);
        rest = &rest[length..];
    }
    Ok(packets)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mqtt::codec::UnsubscribeFilters;
    use crate::mqtt::codec::{Connect, Subscribe, SubscribeFilters, Unsubscribe};

    fn publish(qos: QoS, packet_id: Option<u16>) -> Packet<'static> {
        Packet::Publish(Publish {
            dup: false,
            qos,
            retain: false,
            topic: "t",
            packet_id,
            payload: b"x",
        })
    }

    #[test]
    fn answers_every_packet_a_broker_answers_in_order() {
        let mut broker = FakeBroker::new();
        let filters = [("a/#", QoS::ExactlyOnce), ("b", QoS::AtMostOnce)];
        let unsubscribed = ["a/#"];
        let sent = [
            Packet::Connect(Connect {
                client_id: "c",
                keep_alive_seconds: 60,
                clean_session: true,
                will: None,
                username: None,
                password: None,
            }),
            publish(QoS::AtMostOnce, None),
            publish(QoS::AtLeastOnce, Some(1)),
            publish(QoS::ExactlyOnce, Some(2)),
            Packet::PubRel(2),
            Packet::PubRec(9),
            Packet::Subscribe(Subscribe {
                packet_id: 3,
                filters: SubscribeFilters::List(&filters),
            }),
            Packet::Unsubscribe(Unsubscribe {
                packet_id: 4,
                filters: UnsubscribeFilters::List(&unsubscribed),
            }),
            Packet::PingReq,
            Packet::Disconnect,
        ];
        for packet in &sent {
            broker.receive(packet);
        }
        let owed = broker.take_owed();
        assert!(broker.owes_nothing());
        assert_eq!(
            decode_all(&owed).unwrap(),
            [
                Packet::ConnAck(ConnAck {
                    session_present: false,
                    return_code: 0
                }),
                Packet::PubAck(1),
                Packet::PubRec(2),
                Packet::PubComp(2),
                Packet::PubRel(9),
                Packet::SubAck(SubAck {
                    packet_id: 3,
                    return_codes: &[2, 0]
                }),
                Packet::UnsubAck(4),
                Packet::PingResp,
            ]
        );
    }

    #[test]
    fn a_broker_that_does_not_acknowledge_publishes_still_answers_the_rest() {
        let mut broker = FakeBroker::new();
        broker.acknowledges_publishes = false;
        broker.receive(&publish(QoS::AtLeastOnce, Some(1)));
        broker.receive(&Packet::PingReq);
        assert_eq!(decode_all(&broker.take_owed()).unwrap(), [Packet::PingResp]);
    }

    #[test]
    fn a_silent_broker_answers_nothing_and_a_closed_link_forgets_what_was_owed() {
        let mut broker = FakeBroker::new();
        broker.answers = false;
        broker.receive(&Packet::PingReq);
        assert!(broker.owes_nothing());
        broker.answers = true;
        broker.receive(&Packet::PingReq);
        assert!(!broker.owes_nothing());
        broker.forget_owed();
        assert!(broker.owes_nothing());
    }

    #[test]
    fn bytes_that_are_not_whole_packets_are_an_error_naming_where() {
        let mut bytes = encoded(&Packet::PingReq);
        bytes.extend([0x30, 0x05, 0x00]);
        let (error, rest) = decode_all(&bytes).unwrap_err();
        assert!(matches!(error, DecodeError::Incomplete { .. }));
        assert_eq!(rest, [0x30, 0x05, 0x00]);
    }
}
