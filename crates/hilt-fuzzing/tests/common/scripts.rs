//! Random app scripts, written op by op with [`AppScript`]: the structured
//! half of the stable `app_messages` fuzzing. Byte mutations of a compact
//! script soon turn it into raw garbage; these stay scripts, so they reach
//! deep into the apps (long command sequences, QoS flows, resets while
//! messages are in flight) as coverage guidance would.

use hilt_fuzzing::AppKind;
use hilt_fuzzing::input::{AckId, AckKind, AppScript, Flags, Payload, TopicChange};

use super::SplitMix64;

/// Words topic levels and payloads are made of.
const WORDS: &[&str] = &[
    "",
    "0",
    "1",
    "2.5",
    "50",
    "-1",
    "1e39",
    "NaN",
    "on",
    "off",
    "true",
    "false",
    "null",
    "ping",
    "set",
    "sysinfo",
    "reboot",
    "blinky_hz",
    "log_level",
    "sysinfo_interval",
    "debug",
    "warn",
    "=",
    "{",
    "}",
    "\"",
    ":",
    ",",
    " ",
    "+",
    "#",
    "/",
    "\\",
    "\u{0}",
    "\u{e9}",
    "\u{1f4a1}",
    "esp32",
    "test",
    "mqb",
    "cmd",
    "reply",
    "fuzz",
    "peer",
    "btn",
    "request",
    "seen",
    "living_room",
    "light",
    "$SYS",
    "30s",
    "0s",
];

fn word(rng: &mut SplitMix64) -> &'static str {
    WORDS[rng.below(WORDS.len())]
}

/// A few words, or random bytes now and then.
fn text(rng: &mut SplitMix64, max_words: usize) -> Vec<u8> {
    if rng.chance(8) {
        let count = rng.below(24);
        return (0..count).map(|_| rng.byte()).collect();
    }
    let count = rng.below(max_words + 1);
    let mut text = Vec::new();
    for _ in 0..count {
        text.extend(word(rng).as_bytes());
    }
    text
}

/// A JSON-ish `set` payload from the words, sometimes well formed.
fn settings(rng: &mut SplitMix64) -> Vec<u8> {
    let keys = ["blinky_hz", "log_level", "sysinfo_interval", "other"];
    let values = [
        "2.5",
        "0",
        "51",
        "\"debug\"",
        "\"30s\"",
        "true",
        "null",
        "1e-3",
        "-0",
        "\"\"",
    ];
    if rng.chance(2) {
        let pairs = rng.below(6);
        let mut text = String::from("{");
        for index in 0..pairs {
            if index > 0 {
                text.push_str(", ");
            }
            text.push_str(&format!(
                "\"{}\": {}",
                keys[rng.below(keys.len())],
                values[rng.below(values.len())]
            ));
        }
        if !rng.chance(6) {
            text.push('}');
        }
        text.into_bytes()
    } else {
        format!(
            "{}={}",
            keys[rng.below(keys.len())],
            values[rng.below(values.len())].trim_matches('"')
        )
        .into_bytes()
    }
}

fn flags(rng: &mut SplitMix64) -> Flags {
    match rng.below(10) {
        0..=4 => Flags::QOS0,
        5 | 6 => Flags::QOS1,
        7 => Flags::QOS2,
        8 => Flags::Valid {
            qos: rng.below(3) as u8,
            retain: rng.chance(2),
            dup: rng.chance(2),
        },
        _ => Flags::Raw(rng.byte()),
    }
}

fn packet_id(rng: &mut SplitMix64) -> u16 {
    match rng.below(4) {
        0 => 1,
        1 => rng.below(8) as u16,
        _ => rng.next_u64() as u16,
    }
}

/// A random script for a random app.
pub fn random_script(rng: &mut SplitMix64) -> Vec<u8> {
    let app = AppKind::ALL[rng.below(AppKind::ALL.len())];
    let variant = rng.byte() & 0x7f;
    let mut script = if rng.chance(6) {
        AppScript::without_broker(app, variant)
    } else {
        AppScript::new(app, variant)
    };
    let topics = app.topics().len();
    let ops = 1 + rng.below(48);
    for _ in 0..ops {
        let payload_bytes;
        let payload = match rng.below(10) {
            0..=4 => Payload::Known(rng.byte()),
            5 | 6 => {
                payload_bytes = text(rng, 6);
                Payload::Bytes(&payload_bytes)
            }
            7 | 8 => {
                payload_bytes = settings(rng);
                Payload::Bytes(&payload_bytes)
            }
            _ => Payload::Fill(rng.byte(), rng.below(5000) as u16),
        };
        script = match rng.below(100) {
            0..=34 => {
                let index = rng.below(topics) as u8;
                let flags = flags(rng);
                let id = packet_id(rng);
                script.publish(index, flags, id, payload)
            }
            35..=44 => {
                let index = rng.below(topics) as u8;
                let change = [
                    TopicChange::ReplaceLast,
                    TopicChange::Append,
                    TopicChange::DropLast,
                    TopicChange::ReplaceFirst,
                    TopicChange::Insert,
                ][rng.below(5)];
                let level = text(rng, 3);
                let flags = flags(rng);
                let id = packet_id(rng);
                script.publish_changed(index, change, &level, flags, id, payload)
            }
            45..=49 => {
                let levels = 1 + rng.below(4);
                let mut topic = Vec::new();
                for index in 0..levels {
                    if index > 0 {
                        topic.push(b'/');
                    }
                    topic.extend(text(rng, 2));
                }
                let flags = flags(rng);
                let id = packet_id(rng);
                script.publish_on(&topic, flags, id, payload)
            }
            50..=69 => match rng.below(4) {
                0 => script.advance_micros(rng.next_u64() as u16),
                1 => script.advance_millis(rng.below(2_000) as u32),
                2 => script.advance_millis(rng.below(70_000) as u32),
                _ => script.advance_millis(rng.below(600_000) as u32),
            },
            70..=76 => {
                let kind = [
                    AckKind::PubAck,
                    AckKind::PubRec,
                    AckKind::PubRel,
                    AckKind::PubComp,
                    AckKind::SubAck,
                    AckKind::UnsubAck,
                    AckKind::PingResp,
                    AckKind::ConnAck,
                ][rng.below(8)];
                let id = if rng.chance(3) {
                    AckId::Id(packet_id(rng))
                } else {
                    AckId::Known(rng.below(16) as u8)
                };
                let codes: Vec<u8> = (0..1 + rng.below(4))
                    .map(|_| [0, 1, 2, 0x80, rng.byte()][rng.below(5)])
                    .collect();
                script.ack(kind, id, &codes)
            }
            77..=81 => script.part(rng.byte(), rng.next_u64() as u16),
            82..=84 => script.link_drop(),
            85..=87 => {
                let raw = text(rng, 4);
                script.raw(&raw)
            }
            88..=92 => script.echo(rng.byte(), flags(rng), packet_id(rng)),
            93..=94 => script.reset(rng.byte()),
            95..=97 => script.connack(rng.chance(2), [0, 0, 1, 5, 63][rng.below(5)]),
            _ => script.toggle_auto_broker(),
        };
    }
    script.into_bytes()
}
