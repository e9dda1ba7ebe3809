//! The serial log line a board prints for each MQTT message it publishes or
//! receives, so that a run (on a desk, in Wokwi) can be checked from its
//! serial output alone.
//!
//! ```text
//! [hilt] publish devices/probe/temperature/degrees qos=0 retain=0 payload={"degrees": 72.5, "unit": "F"}
//! [hilt] received green/btn/0 qos=0 retain=0 payload=0
//! ```
//!
//! One line per message. The topic is escaped so it holds no blank; the
//! payload is last and keeps its blanks. In both, `%`, control characters
//! and bytes that are not printable ASCII are written `%XX`, so a line never
//! breaks and always parses. `hilt wokwi` builds the lines it waits for with
//! these same functions.

use core::fmt::{self, Write};

/// The prefix every mirrored line starts with.
pub const PREFIX: &str = "[hilt]";

/// Which way the message went.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    Publish,
    Received,
}

impl Direction {
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Publish => "publish",
            Direction::Received => "received",
        }
    }
}

/// Writes the line (without its newline).
pub fn write_message_line(
    out: &mut impl Write,
    direction: Direction,
    topic: &str,
    payload: &[u8],
    qos: u8,
    retain: bool,
) -> fmt::Result {
    write!(out, "{PREFIX} {} ", direction.as_str())?;
    write_escaped(out, topic.as_bytes(), true)?;
    write!(out, " qos={qos} retain={} payload=", u8::from(retain))?;
    write_escaped(out, payload, false)
}

/// Writes the start of the line up to and including `payload=`, which is
/// what a reader matching any payload on `topic` looks for.
pub fn write_line_prefix(out: &mut impl Write, direction: Direction, topic: &str) -> fmt::Result {
    write!(out, "{PREFIX} {} ", direction.as_str())?;
    write_escaped(out, topic.as_bytes(), true)?;
    out.write_char(' ')
}

/// Writes `bytes` escaped as described in the module documentation; blanks
/// are escaped too when `escape_blank` is set (for the topic).
pub fn write_escaped(out: &mut impl Write, bytes: &[u8], escape_blank: bool) -> fmt::Result {
    for &byte in bytes {
        let plain = byte.is_ascii_graphic() && byte != b'%' || (byte == b' ' && !escape_blank);
        if plain {
            out.write_char(char::from(byte))?;
        } else {
            write!(out, "%{byte:02X}")?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(
        direction: Direction,
        topic: &str,
        payload: &[u8],
        qos: u8,
        retain: bool,
    ) -> heapless::String<256> {
        let mut out = heapless::String::new();
        write_message_line(&mut out, direction, topic, payload, qos, retain).unwrap();
        out
    }

    #[test]
    fn json_payload_keeps_its_blanks() {
        assert_eq!(
            line(
                Direction::Publish,
                "devices/probe/temperature/degrees",
                br#"{"degrees": 72.5, "unit": "F"}"#,
                0,
                false
            ),
            r#"[hilt] publish devices/probe/temperature/degrees qos=0 retain=0 payload={"degrees": 72.5, "unit": "F"}"#
        );
    }

    #[test]
    fn odd_bytes_are_escaped_so_the_line_never_breaks() {
        assert_eq!(
            line(Direction::Received, "a b/%", b"1\n\xff%", 1, true),
            "[hilt] received a%20b/%25 qos=1 retain=1 payload=1%0A%FF%25"
        );
    }
}
