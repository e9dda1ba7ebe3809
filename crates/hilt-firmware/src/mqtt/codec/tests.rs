//! Tests of the codec as a whole: every sample packet and the
//! specification's own examples decode to what they encode from, byte for
//! byte.

extern crate std;

use std::vec::Vec;

use super::test_support::*;
use super::*;

#[test]
fn every_sample_round_trips() {
    for packet in sample_packets() {
        let bytes = encode_to_vec(&packet);
        assert_eq!(packet_length(&bytes), Some(bytes.len()));
        let decoded = decode_all(&bytes);
        assert_eq!(decoded, packet);
        // Re-encoding the borrowed, decoded form gives the same bytes.
        assert_eq!(encode_to_vec(&decoded), bytes, "{packet:?}");
    }
}

#[test]
fn specification_connect_with_will() {
    // Section 3.1.2.10's flags byte 0xCE: user name, password, will QoS
    // 1, will flag and clean session; keepalive 10.
    let bytes = [
        0x10, 0x20, // CONNECT, remaining length 32
        0x00, 0x04, b'M', b'Q', b'T', b'T', // protocol name
        0x04, // protocol level
        0xCE, // connect flags
        0x00, 0x0A, // keepalive
        0x00, 0x04, b'h', b'i', b'l', b't', // client identifier
        0x00, 0x03, b's', b'/', b'1', // will topic
        0x00, 0x03, b'b', b'y', b'e', // will message
        0x00, 0x01, b'u', // user name
        0x00, 0x01, b'p', // password
    ];
    let expected = Packet::Connect(Connect {
        client_id: "hilt",
        keep_alive_seconds: 10,
        clean_session: true,
        will: Some(LastWill {
            topic: "s/1",
            payload: b"bye",
            qos: QoS::AtLeastOnce,
            retain: false,
        }),
        username: Some("u"),
        password: Some(b"p"),
    });
    assert_eq!(decode_all(&bytes), expected);
    assert_eq!(encode_to_vec(&expected), bytes);
}

#[test]
fn specification_publish_qos1() {
    // Section 3.3.2.3: topic "a/b", packet identifier 10.
    let bytes = [
        0x32, 0x09, 0x00, 0x03, b'a', b'/', b'b', 0x00, 0x0A, b'h', b'i',
    ];
    let expected = Packet::Publish(Publish {
        dup: false,
        qos: QoS::AtLeastOnce,
        retain: false,
        topic: "a/b",
        packet_id: Some(10),
        payload: b"hi",
    });
    assert_eq!(decode_all(&bytes), expected);
    assert_eq!(encode_to_vec(&expected), bytes);
}

#[test]
fn specification_subscribe_with_two_filters() {
    // Section 3.8.3.1: "a/b" at QoS 1 and "c/d" at QoS 2.
    let bytes = [
        0x82, 0x0E, 0x00, 0x0A, 0x00, 0x03, b'a', b'/', b'b', 0x01, 0x00, 0x03, b'c', b'/', b'd',
        0x02,
    ];
    let expected = Packet::Subscribe(Subscribe {
        packet_id: 10,
        filters: SubscribeFilters::List(&TWO_FILTERS),
    });
    let decoded = decode_all(&bytes);
    assert_eq!(decoded, expected);
    assert_eq!(encode_to_vec(&expected), bytes);
    let Packet::Subscribe(subscribe) = decoded else {
        panic!("not a SUBSCRIBE: {decoded:?}");
    };
    assert!(matches!(subscribe.filters, SubscribeFilters::Encoded(_)));
    assert_eq!(subscribe.filters.len(), 2);
    assert!(!subscribe.filters.is_empty());
    assert_eq!(
        subscribe.filters.iter().collect::<Vec<_>>(),
        TWO_FILTERS.to_vec()
    );
    assert_eq!((&subscribe.filters).into_iter().count(), 2);
    if let SubscribeFilters::Encoded(encoded) = subscribe.filters {
        assert_eq!(encoded.as_bytes(), &bytes[4..]);
        assert_eq!(
            std::format!("{encoded:?}"),
            r#"[("a/b", AtLeastOnce), ("c/d", ExactlyOnce)]"#
        );
    }
}

#[test]
fn specification_suback_unsubscribe_and_fixed_size_packets() {
    let cases: [(&[u8], Packet<'_>); 11] = [
        (
            &[0x90, 0x06, 0x00, 0x0A, 0x00, 0x01, 0x02, 0x80],
            Packet::SubAck(SubAck {
                packet_id: 10,
                return_codes: &[0x00, 0x01, 0x02, 0x80],
            }),
        ),
        (
            &[
                0xA2, 0x0C, 0x00, 0x0A, 0x00, 0x03, b'a', b'/', b'b', 0x00, 0x03, b'c', b'/', b'd',
            ],
            Packet::Unsubscribe(Unsubscribe {
                packet_id: 10,
                filters: UnsubscribeFilters::List(&UNSUBSCRIBE_FILTERS),
            }),
        ),
        (
            &[0x20, 0x02, 0x01, 0x00],
            Packet::ConnAck(ConnAck {
                session_present: true,
                return_code: 0,
            }),
        ),
        (&[0x40, 0x02, 0x00, 0x0A], Packet::PubAck(10)),
        (&[0x50, 0x02, 0x00, 0x0A], Packet::PubRec(10)),
        (&[0x62, 0x02, 0x00, 0x0A], Packet::PubRel(10)),
        (&[0x70, 0x02, 0x00, 0x0A], Packet::PubComp(10)),
        (&[0xB0, 0x02, 0x00, 0x0A], Packet::UnsubAck(10)),
        (&[0xC0, 0x00], Packet::PingReq),
        (&[0xD0, 0x00], Packet::PingResp),
        (&[0xE0, 0x00], Packet::Disconnect),
    ];
    for (bytes, expected) in cases {
        assert_eq!(decode_all(bytes), expected);
        assert_eq!(encode_to_vec(&expected), bytes);
    }
}
