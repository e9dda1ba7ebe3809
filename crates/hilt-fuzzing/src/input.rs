//! The byte format [`crate::fuzz_app_messages`] reads, and [`AppScript`],
//! which writes it (for seed inputs and tests).
//!
//! ```text
//! input   = app variant op*
//! app     = u8                 AppKind::ALL[app % 6]
//! variant = u8                 bit 0 set: start without the auto-broker;
//!                              bits 1..: the app's config variant
//! op      = u8 args            the op is the byte % 12, args below
//! ```
//!
//! | op | name | arguments |
//! |---|---|---|
//! | 0 | CONNACK | `flags`: bit 0 session present; `flags >> 1` below 64 accepts, else refuses with code `(flags >> 1) - 64` |
//! | 1 | PUBLISH on a known topic | `index` (of the app's topics), `publish flags`, `packet id: u16`, `payload` |
//! | 2 | PUBLISH on any topic | `topic: u8 length + bytes` (not checked: may be invalid UTF-8 or hold wildcards), `publish flags`, `packet id: u16`, `payload` |
//! | 3 | PUBLISH on a changed known topic | `index`, `how` (% 5: replace the last level, append a level, drop the last level, replace the first level, insert a level), `text: u8 length + bytes`, `publish flags`, `packet id: u16`, `payload` |
//! | 4 | raw bytes from the broker | `u16 length + bytes` |
//! | 5 | acknowledgement | `kind` (% 8: PUBACK, PUBREC, PUBREL, PUBCOMP, SUBACK, UNSUBACK, PINGRESP, CONNACK again), `which` (0xF0 and above: the id is a `u16` that follows; below: the `which % n`-th of the last packet ids the node used, or `which` itself if it used none), SUBACK only: `count` (1 + `count % 4` codes) and a byte `c` per code, sent as `[0, 1, 2, 0x80, c][c % 5]` |
//! | 6 | advance time | `u16`: with bit 15 set, `v & 0x7fff` microseconds; else `(v & 0xfff) << ((v >> 12) & 7)` milliseconds |
//! | 7 | link drop | — |
//! | 8 | part | `which` (% number of parts), `value: u16` (button: bit 0 pressed; DS18B20: `v % 8` 0-3 a fault, 4 no fault, else `-60 + (v >> 3) / 16` °C; TSL2591: `v % 4` 0 nack, 1 no fault, else `(v >> 2) * 10` lux) |
//! | 9 | auto-broker on/off | — |
//! | 10 | echo | `index` (% the node's last publishes), `publish flags`, `packet id: u16`: one of the node's own publishes delivered back to it |
//! | 11 | reset | `cause` (% 6: power on, software, watchdog, panic, brownout, other) |
//!
//! `publish flags`: with bit 7 set, the low nibble is the fixed header's
//! flags as they are (so QoS 3, DUP at QoS 0 and packet id 0 happen); else
//! QoS `((f >> 1) & 3) % 3`, retain bit 0, DUP bit 3 above QoS 0, and a
//! packet id of 0 becomes 1.
//!
//! `payload`: a selector byte `s`; `s % 4` = 0: the app's known payload
//! `(s >> 2) % n`; 1: `u8 length + bytes`; 2: `u16 length + bytes`; 3: a
//! byte repeated `u16` times (oversized packets).
//!
//! Missing bytes read as zero and the script ends when the input does, so
//! every input is a valid script.

use crate::apps::AppKind;

/// The number of ops; an op byte is taken modulo this.
pub const OP_COUNT: u8 = 12;

pub(crate) mod op {
    pub const CONNACK: u8 = 0;
    pub const PUBLISH_KNOWN: u8 = 1;
    pub const PUBLISH_TOPIC: u8 = 2;
    pub const PUBLISH_CHANGED: u8 = 3;
    pub const RAW: u8 = 4;
    pub const ACK: u8 = 5;
    pub const ADVANCE: u8 = 6;
    pub const LINK_DROP: u8 = 7;
    pub const PART: u8 = 8;
    pub const AUTO_BROKER: u8 = 9;
    pub const ECHO: u8 = 10;
    pub const RESET: u8 = 11;
}

/// Reads the script: little helpers that never fail, zero past the end.
#[derive(Debug)]
pub(crate) struct Reader<'a> {
    data: &'a [u8],
}

impl<'a> Reader<'a> {
    pub(crate) fn new(data: &'a [u8]) -> Self {
        Reader { data }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    pub(crate) fn u8(&mut self) -> u8 {
        match self.data.split_first() {
            Some((first, rest)) => {
                self.data = rest;
                *first
            }
            None => 0,
        }
    }

    pub(crate) fn u16(&mut self) -> u16 {
        u16::from_be_bytes([self.u8(), self.u8()])
    }

    /// Up to `count` bytes, fewer at the end of the input.
    pub(crate) fn take(&mut self, count: usize) -> &'a [u8] {
        let (taken, rest) = self.data.split_at(count.min(self.data.len()));
        self.data = rest;
        taken
    }

    pub(crate) fn short_bytes(&mut self) -> &'a [u8] {
        let count = self.u8();
        self.take(usize::from(count))
    }

    pub(crate) fn long_bytes(&mut self) -> &'a [u8] {
        let count = self.u16();
        self.take(usize::from(count))
    }
}

/// How a PUBLISH in a script is flagged.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flags {
    /// A valid PUBLISH: QoS 0-2, retain, DUP (ignored at QoS 0).
    Valid { qos: u8, retain: bool, dup: bool },
    /// The fixed header's low nibble as given.
    Raw(u8),
}

impl Flags {
    /// QoS 0, not retained.
    pub const QOS0: Flags = Flags::Valid {
        qos: 0,
        retain: false,
        dup: false,
    };

    /// QoS 1, not retained.
    pub const QOS1: Flags = Flags::Valid {
        qos: 1,
        retain: false,
        dup: false,
    };

    /// QoS 2, not retained.
    pub const QOS2: Flags = Flags::Valid {
        qos: 2,
        retain: false,
        dup: false,
    };

    fn byte(self) -> u8 {
        match self {
            Flags::Valid { qos, retain, dup } => {
                ((qos % 3) << 1) | u8::from(retain) | (u8::from(dup) << 3)
            }
            Flags::Raw(nibble) => 0x80 | (nibble & 0x0f),
        }
    }
}

/// A payload in a script.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Payload<'a> {
    /// The app's `n`-th known payload (modulo their number).
    Known(u8),
    /// These bytes.
    Bytes(&'a [u8]),
    /// A byte repeated.
    Fill(u8, u16),
}

/// How op 3 changes a known topic.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum TopicChange {
    ReplaceLast = 0,
    Append = 1,
    DropLast = 2,
    ReplaceFirst = 3,
    Insert = 4,
}

/// Which acknowledgement op 5 sends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum AckKind {
    PubAck = 0,
    PubRec = 1,
    PubRel = 2,
    PubComp = 3,
    SubAck = 4,
    UnsubAck = 5,
    PingResp = 6,
    ConnAck = 7,
}

/// The packet id an acknowledgement names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AckId {
    /// The `n`-th of the last ids the node used (modulo their number), or
    /// `n` itself if it used none; `n` is at most 0xEF.
    Known(u8),
    /// This id.
    Id(u16),
}

/// Writes an [`crate::fuzz_app_messages`] input op by op; see the module
/// documentation for what each op does.
#[derive(Clone, Debug)]
pub struct AppScript {
    bytes: Vec<u8>,
}

impl AppScript {
    /// A script for `app` with config variant `variant` (0 is the default
    /// config), starting with the auto-broker on.
    pub fn new(app: AppKind, variant: u8) -> Self {
        AppScript {
            bytes: vec![app.index(), variant << 1],
        }
    }

    /// A script for `app` that starts with the auto-broker off: nothing
    /// answers the node but the script.
    pub fn without_broker(app: AppKind, variant: u8) -> Self {
        AppScript {
            bytes: vec![app.index(), (variant << 1) | 1],
        }
    }

    pub fn into_bytes(self) -> Vec<u8> {
        self.bytes
    }

    /// A CONNACK; `return_code` 0 accepts (codes above 63 are not expressible).
    pub fn connack(mut self, session_present: bool, return_code: u8) -> Self {
        let flags = if return_code == 0 {
            0
        } else {
            64 + return_code.min(63)
        };
        self.bytes
            .extend([op::CONNACK, (flags << 1) | u8::from(session_present)]);
        self
    }

    /// A PUBLISH on the app's `index`-th known topic.
    pub fn publish(
        mut self,
        index: u8,
        flags: Flags,
        packet_id: u16,
        payload: Payload<'_>,
    ) -> Self {
        self.bytes.extend([op::PUBLISH_KNOWN, index, flags.byte()]);
        self.bytes.extend(packet_id.to_be_bytes());
        self.payload(payload)
    }

    /// A PUBLISH on `topic`, which is not checked (at most 255 bytes).
    pub fn publish_on(
        mut self,
        topic: &[u8],
        flags: Flags,
        packet_id: u16,
        payload: Payload<'_>,
    ) -> Self {
        self.bytes.push(op::PUBLISH_TOPIC);
        self.short_bytes(topic);
        self.bytes.push(flags.byte());
        self.bytes.extend(packet_id.to_be_bytes());
        self.payload(payload)
    }

    /// A PUBLISH on the app's `index`-th known topic, changed by `change`
    /// with `text` (at most 255 bytes).
    pub fn publish_changed(
        mut self,
        index: u8,
        change: TopicChange,
        text: &[u8],
        flags: Flags,
        packet_id: u16,
        payload: Payload<'_>,
    ) -> Self {
        self.bytes
            .extend([op::PUBLISH_CHANGED, index, change as u8]);
        self.short_bytes(text);
        self.bytes.push(flags.byte());
        self.bytes.extend(packet_id.to_be_bytes());
        self.payload(payload)
    }

    /// Bytes from the broker as they are (at most 65535).
    pub fn raw(mut self, bytes: &[u8]) -> Self {
        let bytes = &bytes[..bytes.len().min(usize::from(u16::MAX))];
        self.bytes.push(op::RAW);
        self.bytes.extend((bytes.len() as u16).to_be_bytes());
        self.bytes.extend(bytes);
        self
    }

    /// An acknowledgement; `suback_codes` only for [`AckKind::SubAck`]
    /// (one to four of them; 0, 1, 2 and 0x80 are sent as they are).
    pub fn ack(mut self, kind: AckKind, id: AckId, suback_codes: &[u8]) -> Self {
        self.bytes.extend([op::ACK, kind as u8]);
        match id {
            AckId::Known(index) => self.bytes.push(index.min(0xef)),
            AckId::Id(id) => {
                self.bytes.push(0xff);
                self.bytes.extend(id.to_be_bytes());
            }
        }
        if kind == AckKind::SubAck {
            let codes = match suback_codes {
                [] => &[0][..],
                codes => &codes[..codes.len().min(4)],
            };
            self.bytes.push(codes.len().saturating_sub(1) as u8);
            self.bytes.extend(codes);
        }
        self
    }

    /// Moves time on by `millis` (up to 4095 exactly; longer in coarser
    /// steps, up to 524160).
    pub fn advance_millis(mut self, millis: u32) -> Self {
        let mut shift = 0u16;
        let mut value = millis;
        while value > 0x0fff && shift < 7 {
            value >>= 1;
            shift += 1;
        }
        let encoded = ((value.min(0x0fff) as u16) & 0x0fff) | (shift << 12);
        self.bytes.push(op::ADVANCE);
        self.bytes.extend(encoded.to_be_bytes());
        self
    }

    /// Moves time on by `micros` (at most 32767).
    pub fn advance_micros(mut self, micros: u16) -> Self {
        self.bytes.push(op::ADVANCE);
        self.bytes
            .extend((0x8000 | (micros & 0x7fff)).to_be_bytes());
        self
    }

    /// The link drops (the node is told; the broker's side is forgotten).
    pub fn link_drop(mut self) -> Self {
        self.bytes.push(op::LINK_DROP);
        self
    }

    /// Acts on the board's `which`-th part with `value`.
    pub fn part(mut self, which: u8, value: u16) -> Self {
        self.bytes.extend([op::PART, which]);
        self.bytes.extend(value.to_be_bytes());
        self
    }

    /// Turns the auto-broker off if it is on, on if it is off.
    pub fn toggle_auto_broker(mut self) -> Self {
        self.bytes.push(op::AUTO_BROKER);
        self
    }

    /// Delivers the node's own `index`-th remembered publish back to it.
    pub fn echo(mut self, index: u8, flags: Flags, packet_id: u16) -> Self {
        self.bytes.extend([op::ECHO, index, flags.byte()]);
        self.bytes.extend(packet_id.to_be_bytes());
        self
    }

    /// The chip resets for cause `cause` (see the op table).
    pub fn reset(mut self, cause: u8) -> Self {
        self.bytes.extend([op::RESET, cause]);
        self
    }

    fn short_bytes(&mut self, bytes: &[u8]) {
        let bytes = &bytes[..bytes.len().min(255)];
        self.bytes.push(bytes.len() as u8);
        self.bytes.extend(bytes);
    }

    fn payload(mut self, payload: Payload<'_>) -> Self {
        match payload {
            Payload::Known(index) => self.bytes.push(index.wrapping_shl(2)),
            Payload::Bytes(bytes) if bytes.len() <= 255 => {
                self.bytes.push(1);
                self.short_bytes(bytes);
            }
            Payload::Bytes(bytes) => {
                let bytes = &bytes[..bytes.len().min(usize::from(u16::MAX))];
                self.bytes.push(2);
                self.bytes.extend((bytes.len() as u16).to_be_bytes());
                self.bytes.extend(bytes);
            }
            Payload::Fill(byte, count) => {
                self.bytes.extend([3, byte]);
                self.bytes.extend(count.to_be_bytes());
            }
        }
        self
    }
}
