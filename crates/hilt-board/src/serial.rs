//! The serial log: what a person (or `hilt wokwi`, or a test of the host
//! build) reads to know what the board did.
//!
//! Every line starts with [`PREFIX`]. Messages are mirrored one line each in
//! the firmware core's format ([`hilt_firmware::serial_log`], the single
//! source of truth, which the host side parses with the same functions):
//!
//! ```text
//! [hilt] publish devices/probe/temperature/degrees qos=0 retain=0 payload={"degrees": 72.5, "unit": "F"}
//! [hilt] received green/btn/0 qos=0 retain=0 payload=0
//! [hilt] log info thermometer: connected
//! ```
//!
//! The mirror decodes the bytes themselves rather than trusting what the app
//! meant to send: a publish is logged when the session put it on the wire
//! (so a QoS 0 publish dropped while offline is not), and a received message
//! when its bytes arrived, before the app reacts to it.

use core::fmt::{self, Write};

use heapless::Vec;
use hilt_firmware::app::{LOG_LINE_LEN, LogLevel, RECEIVE_BUFFER_LEN, TruncatingWriter};
use hilt_firmware::mqtt::codec::{self, DecodeError, Packet, Publish};
use hilt_firmware::serial_log::{self, Direction, PREFIX};

/// Where the lines go: the UART on the chip, stdout on the host.
///
/// A line is written in pieces through [`fmt::Write`] and ended with
/// [`end_line`](Serial::end_line), so that a long payload needs no buffer
/// of its own; writing never fails in a way the board could act on, so
/// errors are ignored.
pub trait Serial: Write {
    /// Ends the line written so far: the newline, and out it goes.
    fn end_line(&mut self);
}

impl<S: Serial + ?Sized> Serial for &mut S {
    fn end_line(&mut self) {
        (**self).end_line();
    }
}

/// Prints a log line, `[hilt] log <level> <text>`, escaped as the core
/// escapes payloads so that a newline or a byte from the network in the
/// text cannot break the line.
pub fn log_line(serial: &mut impl Serial, level: LogLevel, text: &str) {
    let _ = write!(serial, "{PREFIX} log {} ", level.as_str());
    let _ = serial_log::write_escaped(serial, text.as_bytes(), false);
    serial.end_line();
}

/// Formats and prints a log line of the board glue itself (WiFi, DNS, TCP),
/// in the same form as the app's log lines, cut at the app's line length.
pub fn log(serial: &mut impl Serial, level: LogLevel, arguments: fmt::Arguments<'_>) {
    let mut text: heapless::String<LOG_LINE_LEN> = heapless::String::new();
    let _ = fmt::write(&mut TruncatingWriter(&mut text), arguments);
    log_line(serial, level, &text);
}

fn message_line(serial: &mut impl Serial, direction: Direction, publish: &Publish<'_>) {
    let _ = serial_log::write_message_line(
        serial,
        direction,
        publish.topic,
        publish.payload,
        publish.qos.as_u8(),
        publish.retain,
    );
    serial.end_line();
}

/// Mirrors what the node sends: each PUBLISH in its transmit buffer, once.
///
/// The session appends whole packets to the end of its transmit buffer and
/// the glue takes bytes from the front, so the mirror only has to remember
/// how many bytes at the front it has already logged.
#[derive(Debug, Default)]
pub struct TransmitMirror {
    logged: usize,
}

impl TransmitMirror {
    /// Logs every packet of `buffer` past the ones already logged.
    pub fn log_new(&mut self, serial: &mut impl Serial, buffer: &[u8]) {
        while self.logged < buffer.len() {
            match codec::decode(&buffer[self.logged..]) {
                Ok((packet, length)) => {
                    if let Packet::Publish(publish) = packet {
                        message_line(serial, Direction::Publish, &publish);
                    }
                    self.logged += length;
                }
                // The session writes whole packets; anything else is not
                // the mirror's to judge, the broker will.
                Err(_) => break,
            }
        }
    }

    /// The glue wrote the first `count` bytes of the buffer.
    pub fn consumed(&mut self, count: usize) {
        self.logged = self.logged.saturating_sub(count);
    }

    /// The session cleared its transmit buffer (link up or down).
    pub fn reset(&mut self) {
        self.logged = 0;
    }
}

/// Mirrors what the broker sends: reassembles the byte stream into packets
/// and logs each PUBLISH.
///
/// It keeps its own copy of a packet in flight, as large as the node's
/// receive buffer, and skips a larger packet the way the node does, so it
/// logs exactly the messages the app is given.
#[derive(Debug, Default)]
pub struct ReceiveMirror {
    pending: Vec<u8, RECEIVE_BUFFER_LEN>,
    skipping: usize,
}

impl ReceiveMirror {
    /// Takes bytes as they arrived from the socket.
    pub fn feed(&mut self, serial: &mut impl Serial, mut bytes: &[u8]) {
        while !bytes.is_empty() {
            if self.skipping > 0 {
                let skip = self.skipping.min(bytes.len());
                self.skipping -= skip;
                bytes = &bytes[skip..];
                continue;
            }
            let room = RECEIVE_BUFFER_LEN - self.pending.len();
            let (chunk, rest) = bytes.split_at(room.min(bytes.len()));
            // Cannot fail: the chunk fits the room left.
            let _ = self.pending.extend_from_slice(chunk);
            bytes = rest;
            self.log_complete_packets(serial);
        }
    }

    fn log_complete_packets(&mut self, serial: &mut impl Serial) {
        let mut consumed = 0;
        loop {
            match codec::decode(&self.pending[consumed..]) {
                Ok((packet, length)) => {
                    if let Packet::Publish(publish) = packet {
                        message_line(serial, Direction::Received, &publish);
                    }
                    consumed += length;
                }
                Err(DecodeError::Incomplete { .. }) => {
                    let pending = &self.pending[consumed..];
                    if let Some(total) = codec::packet_length(pending)
                        && total > RECEIVE_BUFFER_LEN
                    {
                        self.skipping = total - pending.len();
                        consumed = self.pending.len();
                    }
                    break;
                }
                // Garbage: the node drops the link, and so the stream.
                Err(_) => {
                    consumed = self.pending.len();
                    break;
                }
            }
        }
        self.pending.copy_within(consumed.., 0);
        self.pending.truncate(self.pending.len() - consumed);
    }

    /// A new link starts a new stream.
    pub fn reset(&mut self) {
        self.pending.clear();
        self.skipping = 0;
    }
}

#[cfg(test)]
mod tests {
    extern crate std;

    use std::string::String;
    use std::vec::Vec;

    use hilt_firmware::mqtt::codec::{QoS, encode};

    use super::*;

    /// A serial port that keeps its lines.
    #[derive(Default)]
    struct Lines {
        current: String,
        lines: Vec<String>,
    }

    impl Write for Lines {
        fn write_str(&mut self, text: &str) -> fmt::Result {
            self.current.push_str(text);
            Ok(())
        }
    }

    impl Serial for Lines {
        fn end_line(&mut self) {
            self.lines.push(core::mem::take(&mut self.current));
        }
    }

    fn publish(topic: &str, payload: &[u8]) -> Vec<u8> {
        let packet = Packet::Publish(Publish {
            dup: false,
            qos: QoS::AtMostOnce,
            retain: false,
            topic,
            packet_id: None,
            payload,
        });
        let mut bytes = std::vec![0u8; 256];
        let length = encode(&packet, &mut bytes).unwrap();
        bytes.truncate(length);
        bytes
    }

    #[test]
    fn a_publish_is_mirrored_once_however_often_the_buffer_is_looked_at() {
        let mut serial = Lines::default();
        let mut mirror = TransmitMirror::default();
        let mut buffer = publish("a/b", b"1");
        mirror.log_new(&mut serial, &buffer);
        mirror.log_new(&mut serial, &buffer);
        // Half of the first packet went out; the second is new.
        let half = buffer.len() / 2;
        buffer.drain(..half);
        mirror.consumed(half);
        buffer.extend(publish("a/c", b"2"));
        mirror.log_new(&mut serial, &buffer);
        assert_eq!(
            serial.lines,
            [
                "[hilt] publish a/b qos=0 retain=0 payload=1",
                "[hilt] publish a/c qos=0 retain=0 payload=2",
            ]
        );
    }

    #[test]
    fn a_received_publish_split_across_reads_is_mirrored_when_complete() {
        let mut serial = Lines::default();
        let mut mirror = ReceiveMirror::default();
        let bytes = publish("green/btn/0", b"0");
        let (first, second) = bytes.split_at(3);
        mirror.feed(&mut serial, first);
        assert!(serial.lines.is_empty());
        mirror.feed(&mut serial, second);
        assert_eq!(
            serial.lines,
            ["[hilt] received green/btn/0 qos=0 retain=0 payload=0"]
        );
    }

    #[test]
    fn a_log_line_cannot_be_broken_by_a_newline() {
        let mut serial = Lines::default();
        log(&mut serial, LogLevel::Warn, format_args!("bad\ntopic"));
        assert_eq!(serial.lines.len(), 1);
        assert!(serial.lines[0].starts_with("[hilt] log warn bad"));
        assert!(!serial.lines[0].contains('\n'));
    }
}
