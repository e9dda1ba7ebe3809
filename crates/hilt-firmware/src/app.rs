//! The firmware application interface, and the node that joins an app to its
//! MQTT session.
//!
//! An [`App`] is a state machine. It owns its drivers (which own their pins
//! and buses), is handed the time in a [`Context`], and returns the next
//! instant it needs to run. It never sleeps and never reads a clock, so the
//! simulation can jump straight to the next deadline.
//!
//! A [`Node`] is what a board (or a simulated device) runs: the app, its MQTT
//! [`Session`], the receive buffer the session's packets are decoded from,
//! and a small log. Its owner feeds it link events and bytes and drives it
//! through the object-safe [`Firmware`] trait.

use heapless::{Deque, String, Vec};

use crate::mqtt::codec::{self, DecodeError, QoS};
use crate::mqtt::session::{
    PublishError, Session, SessionEvent, SessionOptions, SubscribeError, TlsOptions,
};
use crate::time::Instant;

/// Bytes of received data the node buffers while a packet is incomplete.
/// A PUBLISH larger than this is skipped and counted, not a crash.
pub const RECEIVE_BUFFER_LEN: usize = 2048;
/// Log lines kept until the owner drains them; older lines are dropped.
pub const LOG_CAPACITY: usize = 32;
/// Longest log line; longer lines are cut.
pub const LOG_LINE_LEN: usize = 160;

/// A message delivered to the app.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Message<'a> {
    pub topic: &'a str,
    pub payload: &'a [u8],
    pub qos: QoS,
    pub retain: bool,
}

/// How important a log line is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum LogLevel {
    Error,
    Warn,
    Info,
    Debug,
}

impl LogLevel {
    pub fn as_str(self) -> &'static str {
        match self {
            LogLevel::Error => "error",
            LogLevel::Warn => "warn",
            LogLevel::Info => "info",
            LogLevel::Debug => "debug",
        }
    }
}

/// One line of the firmware's log, with the device time it was written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogLine {
    pub at: Instant,
    pub level: LogLevel,
    pub text: String<LOG_LINE_LEN>,
}

/// A bounded log: the newest [`LOG_CAPACITY`] lines, and a count of the
/// lines dropped to make room.
#[derive(Debug, Default)]
pub struct Log {
    lines: Deque<LogLine, LOG_CAPACITY>,
    dropped: u32,
}

impl Log {
    pub fn write(&mut self, at: Instant, level: LogLevel, arguments: core::fmt::Arguments<'_>) {
        let mut text = String::new();
        // A line too long for the buffer is kept cut, not lost.
        let _ = core::fmt::write(&mut TruncatingWriter(&mut text), arguments);
        if self.lines.is_full() {
            self.lines.pop_front();
            self.dropped = self.dropped.saturating_add(1);
        }
        let _ = self.lines.push_back(LogLine { at, level, text });
    }

    /// Takes the oldest line.
    pub fn pop(&mut self) -> Option<LogLine> {
        self.lines.pop_front()
    }

    /// Lines dropped because the owner did not drain the log in time.
    pub fn dropped(&self) -> u32 {
        self.dropped
    }
}

/// A writer into a fixed-capacity string that keeps what fits and drops the
/// rest, for log lines and replies: a cut line is better than a lost one,
/// and formatting into it never fails. Characters are pushed whole, so the
/// text is cut at a character boundary.
#[derive(Debug)]
pub struct TruncatingWriter<'a, const N: usize>(pub &'a mut String<N>);

impl<const N: usize> core::fmt::Write for TruncatingWriter<'_, N> {
    fn write_str(&mut self, text: &str) -> core::fmt::Result {
        for character in text.chars() {
            if self.0.push(character).is_err() {
                break;
            }
        }
        Ok(())
    }
}

/// What an app is handed each time it runs.
#[derive(Debug)]
pub struct Context<'a> {
    /// The current device time.
    pub now: Instant,
    /// The MQTT session: publish and subscribe through it.
    pub mqtt: &'a mut Session,
    log: &'a mut Log,
}

impl Context<'_> {
    /// Publishes through the session at the current time.
    pub fn publish(
        &mut self,
        topic: &str,
        payload: &[u8],
        qos: QoS,
        retain: bool,
    ) -> Result<(), PublishError> {
        self.mqtt.publish(self.now, topic, payload, qos, retain)
    }

    /// Subscribes now and after every reconnect.
    pub fn subscribe(&mut self, filter: &str, qos: QoS) -> Result<(), SubscribeError> {
        self.mqtt.subscribe(self.now, filter, qos)
    }

    /// Writes a line to the device log.
    pub fn log(&mut self, level: LogLevel, arguments: core::fmt::Arguments<'_>) {
        self.log.write(self.now, level, arguments);
    }
}

/// A firmware application; see the module documentation.
pub trait App {
    /// How the node's MQTT session connects (client id, keepalive, will).
    fn session_options(&self) -> SessionOptions;

    /// Called after every accepted CONNACK: subscribe and announce yourself.
    /// Subscriptions made here are repeated by the session on reconnect.
    fn on_connected(&mut self, context: &mut Context<'_>);

    /// A message arrived on one of the app's subscriptions. Payloads come
    /// from the network: anything may be in them, and the app must not panic.
    fn on_message(&mut self, context: &mut Context<'_>, message: &Message<'_>);

    /// Does the app's own work due at `context.now`; returns the next
    /// instant it needs to run.
    fn poll(&mut self, context: &mut Context<'_>) -> Instant;
}

/// What the owner of a node (board glue or simulated device) drives; object
/// safe so that a runner can hold nodes of different apps side by side.
pub trait Firmware {
    /// Runs everything due at `now`; returns the next instant to run.
    fn poll(&mut self, now: Instant) -> Instant;
    /// Bytes arrived on the link; returns how many were taken (the rest
    /// must be offered again, after the node has run).
    fn receive(&mut self, now: Instant, bytes: &[u8]) -> usize;
    /// Bytes the node wants written to the link.
    fn transmit_buffer(&self) -> &[u8];
    /// The first `count` bytes of the transmit buffer were written.
    fn consume_transmit(&mut self, count: usize);
    /// True when the node wants a link to the broker opened now.
    fn wants_link(&self, now: Instant) -> bool;
    /// True when the node wants its link closed.
    fn wants_close(&self) -> bool;
    /// The link is up (TCP connected).
    fn link_up(&mut self, now: Instant);
    /// The link failed to open, died, or was closed.
    fn link_down(&mut self, now: Instant);
    /// Takes the oldest line of the device log.
    fn pop_log(&mut self) -> Option<LogLine>;
    /// Closes the MQTT session cleanly (DISCONNECT), e.g. before a reset.
    fn disconnect(&mut self);
    /// How the link must be secured: TLS with these options, or plain TCP
    /// for `None` (the default). The owner of the link reads it when it
    /// opens one; the node's own bytes are the same either way.
    fn tls(&self) -> Option<&TlsOptions> {
        None
    }
}

/// The firmware of a chip that is between two boots: the old firmware has
/// been dropped (writing back its retained memory, as the chip keeps RTC
/// memory) and the new one is not built yet. It runs nothing: it takes no
/// bytes, sends none, never asks for a link and keeps no log, and a poll
/// asks to run again at once, since whoever holds it replaces it next.
#[derive(Debug, Clone, Copy, Default)]
pub struct Halted;

impl Firmware for Halted {
    fn poll(&mut self, now: Instant) -> Instant {
        now
    }
    fn receive(&mut self, _now: Instant, _bytes: &[u8]) -> usize {
        0
    }
    fn transmit_buffer(&self) -> &[u8] {
        &[]
    }
    fn consume_transmit(&mut self, _count: usize) {}
    fn wants_link(&self, _now: Instant) -> bool {
        false
    }
    fn wants_close(&self) -> bool {
        false
    }
    fn link_up(&mut self, _now: Instant) {}
    fn link_down(&mut self, _now: Instant) {}
    fn pop_log(&mut self) -> Option<LogLine> {
        None
    }
    fn disconnect(&mut self) {}
}

/// An app and its MQTT session; see the module documentation.
#[derive(Debug)]
pub struct Node<A: App> {
    app: A,
    session: Session,
    received: Vec<u8, RECEIVE_BUFFER_LEN>,
    /// Bytes still to skip of a packet too large for the receive buffer.
    skipping: usize,
    /// Packets skipped because they were too large.
    oversized_packets: u32,
    log: Log,
}

impl<A: App> Node<A> {
    /// A node booting at `now`: it asks for a link at once.
    pub fn new(app: A, now: Instant) -> Self {
        let session = Session::new(app.session_options(), now);
        Node {
            app,
            session,
            received: Vec::new(),
            skipping: 0,
            oversized_packets: 0,
            log: Log::default(),
        }
    }

    pub fn app(&self) -> &A {
        &self.app
    }

    pub fn app_mut(&mut self) -> &mut A {
        &mut self.app
    }

    pub fn session(&self) -> &Session {
        &self.session
    }

    /// Packets skipped because they did not fit the receive buffer.
    pub fn oversized_packets(&self) -> u32 {
        self.oversized_packets
    }

    fn context(&mut self, now: Instant) -> (&mut A, Context<'_>) {
        (
            &mut self.app,
            Context {
                now,
                mqtt: &mut self.session,
                log: &mut self.log,
            },
        )
    }

    /// Decodes and handles every complete packet in the receive buffer.
    fn process_received(&mut self, now: Instant) {
        let mut consumed = 0;
        loop {
            let decoded = codec::decode(&self.received[consumed..]);
            let (packet, length) = match decoded {
                Ok(decoded) => decoded,
                Err(DecodeError::Incomplete { .. }) => {
                    self.start_skipping_if_oversized(now, consumed);
                    break;
                }
                Err(error) => {
                    // Garbage from the broker: the stream cannot be trusted
                    // any more, so drop the link and start over.
                    self.log.write(
                        now,
                        LogLevel::Error,
                        format_args!("mqtt: bad packet from broker: {error}"),
                    );
                    self.session.disconnect_after_protocol_error();
                    consumed = self.received.len();
                    break;
                }
            };
            let event = self.session.handle_packet(now, &packet);
            let mut context = Context {
                now,
                mqtt: &mut self.session,
                log: &mut self.log,
            };
            match (event, &packet) {
                (SessionEvent::Connected { .. }, _) => self.app.on_connected(&mut context),
                (SessionEvent::Message, codec::Packet::Publish(publish)) => {
                    let message = Message {
                        topic: publish.topic,
                        payload: publish.payload,
                        qos: publish.qos,
                        retain: publish.retain,
                    };
                    self.app.on_message(&mut context, &message);
                }
                (SessionEvent::Refused { return_code }, _) => context.log(
                    LogLevel::Error,
                    format_args!("mqtt: broker refused connection, return code {return_code}"),
                ),
                (SessionEvent::SubscriptionRejected { packet_id }, _) => context.log(
                    LogLevel::Warn,
                    format_args!("mqtt: broker rejected subscription (packet id {packet_id})"),
                ),
                (SessionEvent::ProtocolViolation, _) => context.log(
                    LogLevel::Error,
                    format_args!("mqtt: unexpected packet from broker"),
                ),
                _ => {}
            }
            consumed += length;
        }
        self.received.copy_within(consumed.., 0);
        self.received.truncate(self.received.len() - consumed);
    }

    /// A packet that can never fit the receive buffer is skipped as it
    /// streams in, so one oversized message does not stall the link.
    fn start_skipping_if_oversized(&mut self, now: Instant, start: usize) {
        let pending = &self.received[start..];
        let Some(total) = codec::packet_length(pending) else {
            return;
        };
        if total <= RECEIVE_BUFFER_LEN {
            return;
        }
        self.oversized_packets = self.oversized_packets.saturating_add(1);
        // The broker still wants its PUBACK or PUBREC, in order, or it
        // drops the link (rumqttd does); the message itself is lost.
        match codec::peek_publish(pending) {
            Some((QoS::AtMostOnce, _)) => {}
            Some((qos, Some(packet_id))) => self.session.acknowledge_skipped(now, qos, packet_id),
            _ => self.session.disconnect_after_protocol_error(),
        }
        self.log.write(
            now,
            LogLevel::Warn,
            format_args!("mqtt: dropped a {total}-byte packet, larger than the {RECEIVE_BUFFER_LEN}-byte receive buffer"),
        );
        self.skipping = total - pending.len();
        self.received.truncate(start);
    }
}

impl<A: App> Firmware for Node<A> {
    fn poll(&mut self, now: Instant) -> Instant {
        self.process_received(now);
        self.session.poll_timeouts(now);
        let (app, mut context) = self.context(now);
        let app_next = app.poll(&mut context);
        // The keepalive ping comes after the app, so a packet it sent now
        // stands in for the ping.
        self.session.poll(now);
        match self.session.poll_at() {
            Some(session_next) => app_next.min(session_next),
            None => app_next,
        }
    }

    fn receive(&mut self, now: Instant, bytes: &[u8]) -> usize {
        let mut taken = 0;
        while taken < bytes.len() {
            let rest = &bytes[taken..];
            if self.skipping > 0 {
                let skip = self.skipping.min(rest.len());
                self.skipping -= skip;
                taken += skip;
                continue;
            }
            let room = RECEIVE_BUFFER_LEN - self.received.len();
            if room == 0 {
                break;
            }
            let chunk = &rest[..room.min(rest.len())];
            // Cannot fail: the chunk fits the room left.
            let _ = self.received.extend_from_slice(chunk);
            taken += chunk.len();
            self.process_received(now);
        }
        taken
    }

    fn tls(&self) -> Option<&TlsOptions> {
        self.session.options().tls.as_ref()
    }

    fn transmit_buffer(&self) -> &[u8] {
        self.session.transmit_buffer()
    }

    fn consume_transmit(&mut self, count: usize) {
        self.session.consume_transmit(count);
    }

    fn wants_link(&self, now: Instant) -> bool {
        self.session.wants_link(now)
    }

    fn wants_close(&self) -> bool {
        self.session.wants_close()
    }

    fn link_up(&mut self, now: Instant) {
        self.received.clear();
        self.skipping = 0;
        self.session.link_up(now);
    }

    fn link_down(&mut self, now: Instant) {
        self.received.clear();
        self.skipping = 0;
        self.session.link_down(now);
    }

    fn pop_log(&mut self) -> Option<LogLine> {
        self.log.pop()
    }

    fn disconnect(&mut self) {
        self.session.disconnect();
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use std::vec;
    use std::vec::Vec as StdVec;

    use super::*;
    use crate::mqtt::codec::{ConnAck, Packet, Publish};
    use crate::time::Duration;

    /// Records the payloads it is given; runs every second.
    #[derive(Default)]
    struct Recorder {
        messages: StdVec<StdVec<u8>>,
        connected: u32,
    }

    impl App for Recorder {
        fn session_options(&self) -> SessionOptions {
            SessionOptions::new("recorder")
        }
        fn on_connected(&mut self, context: &mut Context<'_>) {
            self.connected += 1;
            let _ = context.subscribe("in/#", QoS::AtMostOnce);
        }
        fn on_message(&mut self, _context: &mut Context<'_>, message: &Message<'_>) {
            self.messages.push(message.payload.to_vec());
        }
        fn poll(&mut self, context: &mut Context<'_>) -> Instant {
            context.now + Duration::from_secs(1)
        }
    }

    fn encoded(packet: &Packet<'_>) -> StdVec<u8> {
        let mut bytes = vec![0; codec::encoded_len(packet)];
        let length = codec::encode(packet, &mut bytes).unwrap();
        bytes.truncate(length);
        bytes
    }

    fn publish(payload: &[u8]) -> StdVec<u8> {
        encoded(&Packet::Publish(Publish {
            dup: false,
            qos: QoS::AtMostOnce,
            retain: false,
            topic: "in/x",
            packet_id: None,
            payload,
        }))
    }

    fn connected_node() -> Node<Recorder> {
        let now = Instant::BOOT;
        let mut node = Node::new(Recorder::default(), now);
        assert!(node.wants_link(now));
        node.link_up(now);
        let sent = node.transmit_buffer().len();
        node.consume_transmit(sent);
        let connack = encoded(&Packet::ConnAck(ConnAck {
            session_present: false,
            return_code: 0,
        }));
        assert_eq!(node.receive(now, &connack), connack.len());
        node.poll(now);
        assert_eq!(node.app().connected, 1);
        node
    }

    /// Publishes every keepalive period, as a sensor whose interval equals
    /// its keepalive does.
    struct Reporter;

    impl App for Reporter {
        fn session_options(&self) -> SessionOptions {
            let mut options = SessionOptions::new("reporter");
            options.keep_alive = Duration::from_secs(60);
            options
        }
        fn on_connected(&mut self, _context: &mut Context<'_>) {}
        fn on_message(&mut self, _context: &mut Context<'_>, _message: &Message<'_>) {}
        fn poll(&mut self, context: &mut Context<'_>) -> Instant {
            if context.mqtt.state() == crate::mqtt::session::SessionState::Connected {
                let _ = context.publish("reading", b"21.5", QoS::AtMostOnce, false);
            }
            context.now + Duration::from_secs(60)
        }
    }

    /// The packets a node has written since last asked, decoded.
    fn sent_packets<A: App>(node: &mut Node<A>) -> StdVec<StdVec<u8>> {
        let mut packets = StdVec::new();
        let mut bytes = node.transmit_buffer();
        while let Ok((_, length)) = codec::decode(bytes) {
            packets.push(bytes[..length].to_vec());
            bytes = &bytes[length..];
        }
        let written = node.transmit_buffer().len();
        node.consume_transmit(written);
        packets
    }

    #[test]
    fn a_publish_at_the_keepalive_deadline_stands_in_for_the_ping() {
        let now = Instant::BOOT;
        let mut node = Node::new(Reporter, now);
        node.link_up(now);
        sent_packets(&mut node);
        let connack = encoded(&Packet::ConnAck(ConnAck {
            session_present: false,
            return_code: 0,
        }));
        node.receive(now, &connack);
        let deadline = now + Duration::from_secs(60);
        assert_eq!(node.poll(now), deadline, "the next reading is due");
        assert_eq!(sent_packets(&mut node).len(), 1, "the first reading");
        assert_eq!(node.poll(deadline), deadline + Duration::from_secs(60));
        let sent = sent_packets(&mut node);
        assert_eq!(sent.len(), 1, "the reading goes out, and no ping beside it");
        assert!(matches!(
            codec::decode(&sent[0]),
            Ok((Packet::Publish(_), _))
        ));
        assert_eq!(node.session().statistics().pings_sent, 0);
    }

    #[test]
    fn a_packet_split_across_reads_is_delivered_once_whole() {
        let mut node = connected_node();
        let bytes = publish(b"hello");
        let (first, second) = bytes.split_at(3);
        node.receive(Instant::BOOT, first);
        assert!(node.app().messages.is_empty());
        node.receive(Instant::BOOT, second);
        assert_eq!(node.app().messages, vec![b"hello".to_vec()]);
    }

    #[test]
    fn an_oversized_packet_is_skipped_and_counted_and_the_next_one_arrives() {
        let mut node = connected_node();
        let huge = publish(&[b'x'; RECEIVE_BUFFER_LEN + 100]);
        let after = publish(b"after");
        let mut stream = huge.clone();
        stream.extend_from_slice(&after);
        let mut offset = 0;
        // Offer the stream in chunks, as a socket would.
        while offset < stream.len() {
            let end = (offset + 700).min(stream.len());
            let taken = node.receive(Instant::BOOT, &stream[offset..end]);
            assert!(taken > 0, "the node keeps taking bytes");
            offset += taken;
        }
        assert_eq!(node.oversized_packets(), 1);
        assert_eq!(node.app().messages, vec![b"after".to_vec()]);
        let mut warned = false;
        while let Some(line) = node.pop_log() {
            warned |= line.level == LogLevel::Warn && line.text.contains("dropped");
        }
        assert!(warned, "the drop is logged");
    }

    #[test]
    fn the_truncating_writer_keeps_what_fits_and_cuts_at_a_character() {
        use core::fmt::Write;
        let mut out: String<4> = String::new();
        write!(TruncatingWriter(&mut out), "abcdef").unwrap();
        assert_eq!(out, "abcd");
        let mut out: String<5> = String::new();
        write!(TruncatingWriter(&mut out), "ab\u{e9}\u{e9}").unwrap();
        assert_eq!(
            out, "ab\u{e9}",
            "a character that does not fit whole is left out"
        );
    }

    #[test]
    fn garbage_from_the_broker_drops_the_link_instead_of_panicking() {
        let mut node = connected_node();
        node.receive(Instant::BOOT, &[0xF0, 0x00, 0xFF, 0xFF]);
        assert!(node.wants_close());
        node.link_down(Instant::BOOT);
        assert!(node.wants_link(Instant::BOOT + Duration::from_secs(1)));
    }
}
