//! The serial log: what a person (or `hilt wokwi`) reads to know what the
//! board did.
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
use hilt_firmware::app::{LogLevel, RECEIVE_BUFFER_LEN, TruncatingWriter};
use hilt_firmware::mqtt::codec::{self, DecodeError, Packet, Publish};
use hilt_firmware::serial_log::{self, Direction, PREFIX};

/// Writes one line to the UART through a small buffer, so that a long
/// payload goes out in chunks rather than one critical section per
/// character, and never in one critical section for the whole line (which
/// would hold off the WiFi interrupts for as long as the UART takes).
struct Line {
    buffer: Vec<u8, 128>,
}

impl Line {
    fn new() -> Self {
        Line { buffer: Vec::new() }
    }

    fn flush(&mut self) {
        esp_println::Printer::write_bytes(&self.buffer);
        self.buffer.clear();
    }

    fn end(mut self) {
        let _ = self.buffer.push(b'\n').or_else(|_| {
            self.flush();
            self.buffer.push(b'\n')
        });
        self.flush();
    }
}

impl Write for Line {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        for &byte in text.as_bytes() {
            if self.buffer.is_full() {
                self.flush();
            }
            // Cannot fail: there is room after the flush.
            let _ = self.buffer.push(byte);
        }
        Ok(())
    }
}

/// Prints a log line, `[hilt] log <level> <text>`, escaped as the core
/// escapes payloads so that a newline or a byte from the network in the
/// text cannot break the line.
pub fn log_line(level: LogLevel, text: &str) {
    let mut line = Line::new();
    let _ = write!(line, "{PREFIX} log {} ", level.as_str());
    let _ = serial_log::write_escaped(&mut line, text.as_bytes(), false);
    line.end();
}

/// Formats and prints a log line of the board glue itself (WiFi, DNS, TCP),
/// in the same form as the app's log lines.
pub fn log(level: LogLevel, arguments: fmt::Arguments<'_>) {
    let mut text: heapless::String<{ hilt_firmware::app::LOG_LINE_LEN }> = heapless::String::new();
    let _ = fmt::write(&mut TruncatingWriter(&mut text), arguments);
    log_line(level, &text);
}

fn message_line(direction: Direction, publish: &Publish<'_>) {
    let mut line = Line::new();
    let _ = serial_log::write_message_line(
        &mut line,
        direction,
        publish.topic,
        publish.payload,
        publish.qos.as_u8(),
        publish.retain,
    );
    line.end();
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
    pub fn log_new(&mut self, buffer: &[u8]) {
        while self.logged < buffer.len() {
            match codec::decode(&buffer[self.logged..]) {
                Ok((packet, length)) => {
                    if let Packet::Publish(publish) = packet {
                        message_line(Direction::Publish, &publish);
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
    pub fn feed(&mut self, mut bytes: &[u8]) {
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
            self.log_complete_packets();
        }
    }

    fn log_complete_packets(&mut self) {
        let mut consumed = 0;
        loop {
            match codec::decode(&self.pending[consumed..]) {
                Ok((packet, length)) => {
                    if let Packet::Publish(publish) = packet {
                        message_line(Direction::Received, &publish);
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
