//! What the codec's tests share: sample packets of every type and small
//! helpers to encode and decode them whole.

extern crate std;

use std::vec;
use std::vec::Vec;

use super::*;

pub(super) static TWO_FILTERS: [(&str, QoS); 2] =
    [("a/b", QoS::AtLeastOnce), ("c/d", QoS::ExactlyOnce)];
pub(super) static THREE_FILTERS: [(&str, QoS); 3] = [
    ("sensors/+/temperature", QoS::AtMostOnce),
    ("#", QoS::AtLeastOnce),
    ("$SYS/#", QoS::ExactlyOnce),
];
pub(super) static UNSUBSCRIBE_FILTERS: [&str; 2] = ["a/b", "c/d"];
pub(super) static LONG_PAYLOAD: [u8; 300] = [0xA5; 300];
pub(super) static LONGER_PAYLOAD: [u8; 20_000] = [0x5A; 20_000];

/// One or more examples of every packet type, covering every optional
/// field and every remaining-length field size up to three bytes.
pub(super) fn sample_packets() -> Vec<Packet<'static>> {
    vec![
        Packet::Connect(Connect {
            client_id: "",
            keep_alive_seconds: 0,
            clean_session: true,
            will: None,
            username: None,
            password: None,
        }),
        Packet::Connect(Connect {
            client_id: "hilt-thermometer",
            keep_alive_seconds: 60,
            clean_session: false,
            will: Some(LastWill {
                topic: "devices/thermometer/status",
                payload: b"offline",
                qos: QoS::ExactlyOnce,
                retain: true,
            }),
            username: Some("user"),
            password: Some(b"\x00secret\xFF"),
        }),
        Packet::Connect(Connect {
            client_id: "c",
            keep_alive_seconds: u16::MAX,
            clean_session: true,
            will: Some(LastWill {
                topic: "w",
                payload: b"",
                qos: QoS::AtMostOnce,
                retain: false,
            }),
            username: Some(""),
            password: None,
        }),
        Packet::ConnAck(ConnAck {
            session_present: false,
            return_code: 0,
        }),
        Packet::ConnAck(ConnAck {
            session_present: true,
            return_code: 0,
        }),
        Packet::ConnAck(ConnAck {
            session_present: false,
            return_code: 5,
        }),
        Packet::Publish(Publish {
            dup: false,
            qos: QoS::AtMostOnce,
            retain: true,
            topic: "a",
            packet_id: None,
            payload: b"",
        }),
        Packet::Publish(Publish {
            dup: true,
            qos: QoS::AtLeastOnce,
            retain: false,
            topic: "sensors/kitchen/temperature",
            packet_id: Some(1),
            payload: b"21.5",
        }),
        Packet::Publish(Publish {
            dup: false,
            qos: QoS::ExactlyOnce,
            retain: true,
            topic: "bulk",
            packet_id: Some(u16::MAX),
            payload: &LONG_PAYLOAD,
        }),
        Packet::Publish(Publish {
            dup: false,
            qos: QoS::AtMostOnce,
            retain: false,
            topic: "bulk/larger",
            packet_id: None,
            payload: &LONGER_PAYLOAD,
        }),
        Packet::PubAck(1),
        Packet::PubRec(2),
        Packet::PubRel(3),
        Packet::PubComp(u16::MAX),
        Packet::Subscribe(Subscribe {
            packet_id: 10,
            filters: SubscribeFilters::List(&TWO_FILTERS),
        }),
        Packet::Subscribe(Subscribe {
            packet_id: 11,
            filters: SubscribeFilters::List(&THREE_FILTERS),
        }),
        Packet::SubAck(SubAck {
            packet_id: 10,
            return_codes: &[0x00, 0x01, 0x02, 0x80],
        }),
        Packet::Unsubscribe(Unsubscribe {
            packet_id: 12,
            filters: UnsubscribeFilters::List(&UNSUBSCRIBE_FILTERS),
        }),
        Packet::UnsubAck(12),
        Packet::PingReq,
        Packet::PingResp,
        Packet::Disconnect,
    ]
}

pub(super) fn encode_to_vec(packet: &Packet<'_>) -> Vec<u8> {
    let mut buffer = vec![0u8; encoded_len(packet)];
    let written = encode(packet, &mut buffer).expect("sample packets encode");
    assert_eq!(written, buffer.len());
    buffer
}

pub(super) fn decode_all(bytes: &[u8]) -> Packet<'_> {
    let (packet, consumed) = decode(bytes).expect("valid bytes decode");
    assert_eq!(consumed, bytes.len());
    packet
}

/// Builds a CONNECT packet from raw parts, so that tests can break any
/// one of them. The body must stay below 128 bytes.
pub(super) fn raw_connect(protocol_name: &[u8], level: u8, flags: u8, payload: &[u8]) -> Vec<u8> {
    let mut body = Vec::new();
    body.extend_from_slice(&u16::try_from(protocol_name.len()).unwrap().to_be_bytes());
    body.extend_from_slice(protocol_name);
    body.push(level);
    body.push(flags);
    body.extend_from_slice(&[0x00, 0x0A]);
    body.extend_from_slice(payload);
    let mut packet = vec![0x10, u8::try_from(body.len()).unwrap()];
    packet.extend_from_slice(&body);
    packet
}
