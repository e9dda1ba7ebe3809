//! The seed corpus: where each target's committed seeds come from.
//!
//! - `scenario_parser`: copies of every scenario file of the repository
//!   (the bundled scenarios, the language's valid and invalid test files,
//!   the runner's failing and invalid fixtures).
//! - `mqtt_codec`: every packet type, encoded by the codec, plus streams
//!   and a few malformed packets.
//! - `app_messages`: scripts written with [`AppScript`], a few per app.
//!
//! `HILT_FUZZ_BLESS=1 cargo test -p hilt-fuzzing --test stable_fuzz
//! seed_corpus` writes them to `fuzz/corpus/<target>/`; without it the test
//! checks the generated seeds are there, unchanged.

use std::path::{Path, PathBuf};

use hilt_firmware::mqtt::codec::{
    self, ConnAck, Connect, LastWill, Packet, Publish, QoS, SubAck, Subscribe, SubscribeFilters,
    Unsubscribe, UnsubscribeFilters,
};
use hilt_fuzzing::AppKind;
use hilt_fuzzing::input::{AckId, AckKind, AppScript, Flags, Payload, TopicChange};

use super::{files_in, repository};

/// Folders (relative to the repository) whose `*.yaml` files seed the
/// scenario parser, searched recursively.
pub const SCENARIO_SOURCES: &[&str] = &[
    "scenarios",
    "crates/hilt-scenario/tests/valid",
    "crates/hilt-scenario/tests/invalid",
    "crates/hilt-runner/tests/fixtures",
];

/// Every scenario file under [`SCENARIO_SOURCES`], as (corpus file name,
/// bytes): the path with `/` turned into `-`.
pub fn scenario_files() -> Vec<(String, Vec<u8>)> {
    let mut found = Vec::new();
    for source in SCENARIO_SOURCES {
        collect_yaml(&repository(), &repository().join(source), &mut found);
    }
    found.sort();
    found
}

fn collect_yaml(root: &Path, dir: &Path, found: &mut Vec<(String, Vec<u8>)>) {
    for (path, bytes) in files_in(dir) {
        if matches!(
            path.extension().and_then(|extension| extension.to_str()),
            Some("yaml" | "yml")
        ) {
            let relative = path.strip_prefix(root).unwrap_or(&path);
            let name = relative
                .components()
                .map(|part| part.as_os_str().to_string_lossy().into_owned())
                .collect::<Vec<_>>()
                .join("-");
            found.push((name, bytes));
        }
    }
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut dirs: Vec<PathBuf> = entries
        .filter_map(|entry| entry.ok().map(|entry| entry.path()))
        .filter(|path| path.is_dir())
        .collect();
    dirs.sort();
    for sub in dirs {
        collect_yaml(root, &sub, found);
    }
}

fn encoded(packet: &Packet<'_>) -> Vec<u8> {
    let mut bytes = vec![0; codec::encoded_len(packet)];
    let length = codec::encode(packet, &mut bytes)
        .unwrap_or_else(|error| panic!("seed {packet:?} does not encode: {error}"));
    bytes.truncate(length);
    bytes
}

/// The codec's seeds, by name.
pub fn codec_seeds() -> Vec<(String, Vec<u8>)> {
    let will = LastWill {
        topic: "devices/fuzz/status",
        payload: b"{\"state\": \"offline\"}",
        qos: QoS::AtLeastOnce,
        retain: true,
    };
    let publish = |qos: QoS, retain: bool, dup: bool, payload: &'static [u8]| {
        Packet::Publish(Publish {
            dup,
            qos,
            retain,
            topic: "esp32/test/mqb/cmd/ping/1",
            packet_id: (qos != QoS::AtMostOnce).then_some(7),
            payload,
        })
    };
    let filters = [
        ("esp32/test/mqb/cmd/#", QoS::AtLeastOnce),
        ("+/btn/0", QoS::AtMostOnce),
        ("a/+/c", QoS::ExactlyOnce),
    ];
    let long_payload = vec![b'x'; 300];
    let packets: Vec<(&str, Packet<'_>)> = vec![
        (
            "connect-minimal",
            Packet::Connect(Connect {
                client_id: "fuzz",
                keep_alive_seconds: 60,
                clean_session: true,
                will: None,
                username: None,
                password: None,
            }),
        ),
        (
            "connect-will-user-password",
            Packet::Connect(Connect {
                client_id: "node",
                keep_alive_seconds: 5,
                clean_session: false,
                will: Some(will),
                username: Some("user"),
                password: Some(b"s3cret\x00\xff"),
            }),
        ),
        (
            "connect-empty-client-id",
            Packet::Connect(Connect {
                client_id: "",
                keep_alive_seconds: 0,
                clean_session: true,
                will: None,
                username: Some(""),
                password: None,
            }),
        ),
        (
            "connack-accepted",
            Packet::ConnAck(ConnAck {
                session_present: false,
                return_code: 0,
            }),
        ),
        (
            "connack-session-present",
            Packet::ConnAck(ConnAck {
                session_present: true,
                return_code: 0,
            }),
        ),
        (
            "connack-refused",
            Packet::ConnAck(ConnAck {
                session_present: false,
                return_code: 5,
            }),
        ),
        ("publish-qos0", publish(QoS::AtMostOnce, false, false, b"")),
        (
            "publish-qos0-retain",
            publish(QoS::AtMostOnce, true, false, b"online"),
        ),
        (
            "publish-qos1",
            publish(QoS::AtLeastOnce, false, false, b"{\"blinky_hz\": 2.5}"),
        ),
        (
            "publish-qos2-dup",
            publish(QoS::ExactlyOnce, true, true, b"\x00\xff\xfe"),
        ),
        (
            "publish-two-byte-length",
            Packet::Publish(Publish {
                dup: false,
                qos: QoS::AtMostOnce,
                retain: false,
                topic: "sensor-data",
                packet_id: None,
                payload: &long_payload,
            }),
        ),
        ("puback", Packet::PubAck(1)),
        ("pubrec", Packet::PubRec(0x1234)),
        ("pubrel", Packet::PubRel(0xffff)),
        ("pubcomp", Packet::PubComp(2)),
        (
            "subscribe-three",
            Packet::Subscribe(Subscribe {
                packet_id: 3,
                filters: SubscribeFilters::List(&filters),
            }),
        ),
        (
            "suback-with-failure",
            Packet::SubAck(SubAck {
                packet_id: 3,
                return_codes: &[1, 0x80, 2],
            }),
        ),
        (
            "unsubscribe-two",
            Packet::Unsubscribe(Unsubscribe {
                packet_id: 4,
                filters: UnsubscribeFilters::List(&["#", "a/+"]),
            }),
        ),
        ("unsuback", Packet::UnsubAck(4)),
        ("pingreq", Packet::PingReq),
        ("pingresp", Packet::PingResp),
        ("disconnect", Packet::Disconnect),
    ];
    let mut seeds: Vec<(String, Vec<u8>)> = packets
        .iter()
        .map(|(name, packet)| (format!("{name}.bin"), encoded(packet)))
        .collect();
    // A session's worth of broker output in one stream.
    let mut stream = Vec::new();
    for name in [
        "connack-accepted",
        "suback-with-failure",
        "publish-qos1",
        "pingresp",
    ] {
        if let Some((_, bytes)) = seeds
            .iter()
            .find(|(seed, _)| seed == &format!("{name}.bin"))
        {
            stream.extend(bytes.clone());
        }
    }
    seeds.push(("stream-session.bin".into(), stream));
    // Valid, but with a non-minimal remaining length (accepted by decode).
    seeds.push((
        "pingresp-non-minimal-length.bin".into(),
        vec![0xd0, 0x80, 0x00],
    ));
    seeds.push((
        "publish-non-minimal-length.bin".into(),
        vec![0x30, 0x85, 0x00, 0x00, 0x01, b'a', b'h', b'i'],
    ));
    // Malformed: each has its own decode error.
    seeds.push((
        "bad-connect-mqtt-3-1.bin".into(),
        vec![
            0x10, 0x12, 0x00, 0x06, b'M', b'Q', b'I', b's', b'd', b'p', 0x03, 0x02, 0x00, 0x3c,
            0x00, 0x04, b'f', b'u', b'z', b'z',
        ],
    ));
    seeds.push((
        "bad-publish-qos3.bin".into(),
        vec![0x36, 0x05, 0x00, 0x01, b'a', 0x00, 0x01],
    ));
    seeds.push((
        "bad-publish-wildcard.bin".into(),
        vec![0x30, 0x03, 0x00, 0x01, b'#'],
    ));
    seeds.push(("bad-reserved-type.bin".into(), vec![0xf0, 0x00]));
    seeds.push((
        "bad-length-five-bytes.bin".into(),
        vec![0x30, 0xff, 0xff, 0xff, 0xff, 0x7f],
    ));
    seeds.push((
        "incomplete-publish.bin".into(),
        vec![0x30, 0x0a, 0x00, 0x03, b'a', b'/'],
    ));
    seeds
}

/// The app scripts' seeds, by name.
pub fn app_seeds() -> Vec<(String, Vec<u8>)> {
    use AppKind::*;
    let scripts: Vec<(&str, AppScript)> = vec![
        (
            "thermometer-readings-and-faults",
            AppScript::new(Thermometer, 0)
                .advance_millis(61_000)
                .part(0, 0)
                .advance_millis(60_000)
                .part(0, 4)
                .part(0, 5 | (1200 << 3))
                .advance_millis(60_000),
        ),
        (
            "thermometer-unexpected-messages",
            AppScript::new(Thermometer, 1)
                .publish(0, Flags::QOS0, 0, Payload::Known(0))
                .publish_on(b"devices/fuzz/#", Flags::QOS0, 0, Payload::Bytes(b"x"))
                .raw(&[0x30, 0x03, 0x00, 0x01])
                .advance_millis(2_000),
        ),
        (
            "remote-led-peer-lights-led",
            AppScript::new(RemoteLed, 0)
                .publish(0, Flags::QOS0, 0, Payload::Known(0))
                .advance_millis(600),
        ),
        (
            "remote-led-garbage-and-button",
            AppScript::new(RemoteLed, 0)
                .publish(0, Flags::QOS0, 0, Payload::Known(0))
                .publish(0, Flags::QOS1, 9, Payload::Bytes(b"ON"))
                .publish(0, Flags::QOS2, 10, Payload::Bytes(&[0xff; 40]))
                .part(0, 1)
                .advance_millis(1_000)
                .part(0, 0)
                .publish_changed(
                    0,
                    TopicChange::Append,
                    b"x",
                    Flags::QOS0,
                    0,
                    Payload::Known(1),
                )
                .advance_millis(1_000),
        ),
        (
            "remote-led-own-peer-echo",
            AppScript::new(RemoteLed, 1)
                .advance_millis(600)
                .echo(0, Flags::QOS0, 0)
                .echo(1, Flags::QOS1, 3),
        ),
        (
            "sensor-data-request",
            AppScript::new(SensorData, 0)
                .publish(0, Flags::QOS0, 0, Payload::Known(0))
                .advance_millis(1_000),
        ),
        (
            "sensor-data-qos2-requests-and-faults",
            AppScript::new(SensorData, 2 | (2 << 2))
                .publish(0, Flags::QOS1, 1, Payload::Known(1))
                .publish(0, Flags::QOS2, 2, Payload::Known(2))
                .part(0, 0)
                .advance_millis(500)
                .part(0, 1)
                .part(0, 2 | (5000 << 2))
                .advance_millis(500)
                .ack(AckKind::PubRec, AckId::Known(0), &[])
                .ack(AckKind::PubComp, AckId::Known(0), &[]),
        ),
        (
            "light-status-commands",
            AppScript::new(LightStatus, 0)
                .publish(0, Flags::QOS0, 0, Payload::Known(3))
                .advance_millis(1_100)
                .publish(0, Flags::QOS0, 0, Payload::Known(5))
                .publish(0, Flags::QOS0, 0, Payload::Known(8))
                .publish(0, Flags::QOS0, 0, Payload::Known(9))
                .advance_millis(1_100),
        ),
        (
            "light-status-no-broker",
            AppScript::without_broker(LightStatus, 2 | 4 | 8)
                .advance_millis(1_500)
                .connack(false, 3)
                .advance_millis(6_000)
                .connack(false, 0)
                .ack(AckKind::SubAck, AckId::Known(0), &[0x80])
                .link_drop()
                .advance_millis(6_000),
        ),
        (
            "node-manager-commands",
            AppScript::new(NodeManager, 0)
                .publish(0, Flags::QOS1, 1, Payload::Known(17))
                .publish(1, Flags::QOS1, 2, Payload::Known(17))
                .publish(3, Flags::QOS1, 3, Payload::Known(0))
                .publish(4, Flags::QOS1, 4, Payload::Known(1))
                .publish(5, Flags::QOS1, 5, Payload::Bytes(b"now"))
                .publish(6, Flags::QOS1, 6, Payload::Known(17))
                .publish(7, Flags::QOS1, 7, Payload::Known(17))
                .publish(8, Flags::QOS1, 8, Payload::Known(17))
                .advance_millis(1_000),
        ),
        (
            "node-manager-set-and-blinky",
            AppScript::new(NodeManager, 0)
                .publish(3, Flags::QOS1, 1, Payload::Known(6))
                .publish(3, Flags::QOS1, 2, Payload::Known(18))
                .publish(3, Flags::QOS1, 3, Payload::Known(19))
                .publish(3, Flags::QOS1, 4, Payload::Known(2))
                .publish(9, Flags::QOS0, 0, Payload::Known(12))
                .publish(9, Flags::QOS0, 0, Payload::Known(15))
                .publish(9, Flags::QOS0, 0, Payload::Known(1))
                .advance_millis(2_000),
        ),
        (
            "node-manager-long-ids",
            AppScript::new(NodeManager, 0)
                .publish_changed(
                    0,
                    TopicChange::ReplaceLast,
                    &[b'i'; 200],
                    Flags::QOS1,
                    1,
                    Payload::Known(17),
                )
                .publish_changed(
                    0,
                    TopicChange::ReplaceLast,
                    "\u{e9}".repeat(60).as_bytes(),
                    Flags::QOS1,
                    2,
                    Payload::Known(17),
                )
                .publish_changed(
                    0,
                    TopicChange::Insert,
                    b"",
                    Flags::QOS1,
                    3,
                    Payload::Known(17),
                )
                .advance_millis(100),
        ),
        (
            "node-manager-reboot",
            AppScript::new(NodeManager, 0)
                .publish(2, Flags::QOS1, 1, Payload::Known(17))
                .advance_millis(3_000)
                .advance_millis(1_000),
        ),
        (
            "node-manager-watchdog-and-safe-mode",
            AppScript::new(NodeManager, 2 | (1 << 2))
                .toggle_auto_broker()
                .advance_millis(100_000)
                .reset(3)
                .toggle_auto_broker()
                .reset(3)
                .advance_millis(1_000)
                .publish(9, Flags::QOS0, 0, Payload::Known(8))
                .publish(1, Flags::QOS1, 1, Payload::Known(17)),
        ),
        (
            "monitor-reports",
            AppScript::new(Monitor, 0)
                .publish(0, Flags::QOS0, 0, Payload::Known(0))
                .publish(1, Flags::QOS0, 0, Payload::Known(0))
                .publish(4, Flags::QOS1, 5, Payload::Known(1))
                .publish(2, Flags::QOS2, 6, Payload::Known(3))
                .ack(AckKind::PubRel, AckId::Id(6), &[])
                .publish(
                    5,
                    Flags::Valid {
                        qos: 0,
                        retain: true,
                        dup: false,
                    },
                    0,
                    Payload::Known(2),
                )
                .advance_millis(100),
        ),
        (
            "monitor-oversized-and-raw",
            AppScript::new(Monitor, 1 | 4)
                .publish(0, Flags::QOS1, 1, Payload::Fill(b'a', 3_000))
                .publish(0, Flags::QOS0, 0, Payload::Fill(b'"', 600))
                .raw(&[0x30, 0x02, 0x00])
                .raw(&[0x00, b'a', b'b'])
                .ack(AckKind::SubAck, AckId::Id(1), &[0, 1, 2, 0x80])
                .publish(0, Flags::Raw(0x6), 0, Payload::Known(0))
                .advance_millis(100),
        ),
        (
            "monitor-bad-topics",
            AppScript::new(Monitor, 0)
                .publish_on(b"a/#", Flags::QOS0, 0, Payload::Known(0))
                .publish_on(b"\xff\xfe", Flags::QOS0, 0, Payload::Known(0))
                .publish_on(b"a\x00b", Flags::QOS0, 0, Payload::Known(0))
                .publish_on(b"", Flags::QOS0, 0, Payload::Known(0))
                .advance_millis(10_000)
                .publish_on(b"ok", Flags::Raw(0x8), 0, Payload::Known(0))
                .advance_millis(10_000),
        ),
    ];
    scripts
        .into_iter()
        .map(|(name, script)| (format!("{name}.bin"), script.into_bytes()))
        .collect()
}
