//! A sans-IO MQTT 3.1.1 client session.
//!
//! The session never touches a socket or a clock. Its owner (the ESP32 glue
//! on a board, the simulated link on the host) tells it when the TCP link
//! comes up or goes down, hands it the bytes that arrived and the current
//! time, takes the bytes it wants sent, and asks it when it next needs to run
//! ([`Session::poll_at`]). Everything above the socket is here and therefore
//! runs identically on the board and in the simulation: the CONNECT with its
//! will, keepalive pings and the dead-link timeout, reconnect with bounded
//! exponential backoff, and the QoS 1 and QoS 2 handshakes in both directions.
//!
//! Received packets are decoded by the caller with [`codec::decode`] from its
//! own receive buffer and handed to [`Session::handle_packet`]; that split
//! lets a delivered message borrow the receive buffer while the app answers
//! it through the session (see `app::Node`).

use core::fmt::Write as _;

use heapless::{Deque, String, Vec};

use crate::mqtt::codec::{self, Connect, LastWill, Packet, Publish, QoS, Subscribe};
use crate::time::{Duration, Instant};

/// Longest client id the session stores. MQTT 3.1.1 guarantees 23 bytes;
/// every broker we test (rumqttd, Mosquitto) accepts more.
pub const MAX_CLIENT_ID_LEN: usize = 64;
/// Longest topic the session stores for queued messages, wills and filters.
pub const MAX_TOPIC_LEN: usize = 128;
/// Longest user name and longest password the session sends.
pub const MAX_CREDENTIAL_LEN: usize = 64;
/// Longest name the broker's certificate is checked against.
pub const MAX_SERVER_NAME_LEN: usize = 64;
/// Largest payload of a queued QoS 1/2 message or a will.
pub const MAX_QUEUED_PAYLOAD_LEN: usize = 512;
/// QoS 1 and 2 messages that can wait for their acknowledgement at once.
pub const MAX_QUEUED_MESSAGES: usize = 8;
/// Filters the session re-subscribes after every reconnect.
pub const MAX_SUBSCRIPTIONS: usize = 8;
/// Bytes waiting to be written to the socket.
pub const TRANSMIT_BUFFER_LEN: usize = 4096;
/// Incoming QoS 2 packet ids awaiting PUBREL (duplicate suppression).
const MAX_INCOMING_QOS2: usize = 8;

/// How a session connects, fixed for its lifetime.
#[derive(Clone, Debug)]
pub struct SessionOptions {
    pub client_id: String<MAX_CLIENT_ID_LEN>,
    /// Sent in CONNECT; the session pings when it has sent nothing for this
    /// long, and drops a link that stays silent for one more period.
    pub keep_alive: Duration,
    /// `false` asks the broker to keep subscriptions and queued messages
    /// across disconnects.
    pub clean_session: bool,
    pub will: Option<Will>,
    /// First reconnect delay; doubled after each failed attempt.
    pub reconnect_initial_delay: Duration,
    /// Upper bound of the reconnect delay.
    pub reconnect_max_delay: Duration,
    /// How long to wait for CONNACK before giving up on a link.
    pub connect_timeout: Duration,
    /// The user name sent in CONNECT, if the broker wants one.
    pub username: Option<String<MAX_CREDENTIAL_LEN>>,
    /// The password sent in CONNECT. MQTT 3.1.1 carries a password only
    /// after a user name, so a password without one goes with an empty
    /// user name.
    pub password: Option<String<MAX_CREDENTIAL_LEN>>,
    /// The link runs over TLS 1.3 when given. The session itself never sees
    /// it: whoever owns the link (the board's network glue, the simulation)
    /// reads it and puts TLS between the session's bytes and the socket.
    pub tls: Option<TlsOptions>,
}

/// How the link's TLS checks the broker.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlsOptions {
    /// The name the broker's certificate must carry; the broker's host
    /// name when `None`.
    pub server_name: Option<String<MAX_SERVER_NAME_LEN>>,
}

impl SessionOptions {
    /// Options with the defaults of the reference apps: keepalive 60s, clean
    /// session, reconnect after 1s doubling to at most 30s, CONNACK within 10s.
    ///
    /// A client id longer than [`MAX_CLIENT_ID_LEN`] is cut, never a panic.
    pub fn new(client_id: &str) -> Self {
        SessionOptions {
            client_id: truncated(client_id),
            keep_alive: Duration::from_secs(60),
            clean_session: true,
            will: None,
            reconnect_initial_delay: Duration::from_secs(1),
            reconnect_max_delay: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(10),
            username: None,
            password: None,
            tls: None,
        }
    }
}

/// The message the broker publishes for us when our link dies unannounced.
#[derive(Clone, Debug)]
pub struct Will {
    pub topic: String<MAX_TOPIC_LEN>,
    pub payload: Vec<u8, MAX_QUEUED_PAYLOAD_LEN>,
    pub qos: QoS,
    pub retain: bool,
}

/// Where the session is in its life cycle.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SessionState {
    /// No link; asks for one at `retry_at`.
    Disconnected { retry_at: Instant },
    /// Link up, CONNECT sent, waiting for CONNACK until `deadline`.
    Connecting { deadline: Instant },
    /// CONNACK accepted.
    Connected,
    /// The session wants its link closed (ping timeout, refused CONNACK,
    /// protocol error, or a requested disconnect); the owner closes it and
    /// calls [`Session::link_down`].
    Closing,
}

/// Why a publish was not accepted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PublishError {
    /// QoS 0 messages are only sent on a live connection.
    NotConnected,
    /// The transmit buffer has no room for the packet right now.
    TransmitBufferFull,
    /// All [`MAX_QUEUED_MESSAGES`] QoS 1/2 slots await acknowledgement.
    QueueFull,
    /// Topic or payload exceed what the queue stores.
    TooLarge,
}

impl core::fmt::Display for PublishError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            PublishError::NotConnected => "not connected to the broker",
            PublishError::TransmitBufferFull => "transmit buffer full",
            PublishError::QueueFull => "queue of unacknowledged messages full",
            PublishError::TooLarge => "topic or payload too large",
        })
    }
}

impl core::error::Error for PublishError {}

/// Why a subscription was not recorded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SubscribeError {
    /// All [`MAX_SUBSCRIPTIONS`] slots are taken.
    TooManySubscriptions,
    /// The filter is longer than [`MAX_TOPIC_LEN`].
    FilterTooLong,
}

impl core::fmt::Display for SubscribeError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            SubscribeError::TooManySubscriptions => "too many subscriptions",
            SubscribeError::FilterTooLong => "topic filter too long",
        })
    }
}

impl core::error::Error for SubscribeError {}

/// What [`Session::handle_packet`] tells its caller.
#[derive(Debug, PartialEq, Eq)]
pub enum SessionEvent {
    /// Nothing the app needs to hear about.
    None,
    /// CONNACK accepted: the app should subscribe and announce itself.
    Connected { session_present: bool },
    /// The broker refused CONNECT with this return code; the link will close.
    Refused { return_code: u8 },
    /// A PUBLISH for the app (first delivery of its packet id for QoS 2).
    Message,
    /// A PUBLISH that is a QoS 2 duplicate and must not reach the app again.
    DuplicateMessage,
    /// The broker rejected one of our subscriptions (SUBACK 0x80).
    SubscriptionRejected { packet_id: u16 },
    /// The packet broke the protocol (e.g. CONNECT from a broker); the link
    /// will close.
    ProtocolViolation,
}

/// Counters a device can report, e.g. in a sysinfo message.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SessionStatistics {
    pub connects: u32,
    pub link_losses: u32,
    pub pings_sent: u32,
    pub messages_received: u32,
    pub messages_published: u32,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum OutgoingStage {
    /// Not written to any link yet (or the link it was written to died).
    Unsent,
    AwaitingPubAck,
    AwaitingPubRec,
    AwaitingPubComp,
    /// The broker has the QoS 2 message (it sent PUBREC on an earlier
    /// link) but not our PUBREL: that goes out on the next link.
    Unreleased,
}

#[derive(Debug)]
struct QueuedMessage {
    packet_id: u16,
    qos: QoS,
    retain: bool,
    topic: String<MAX_TOPIC_LEN>,
    payload: Vec<u8, MAX_QUEUED_PAYLOAD_LEN>,
    stage: OutgoingStage,
    /// Sent before on an earlier link: resend with DUP set.
    sent_before: bool,
}

#[derive(Debug)]
struct Subscription {
    filter: String<MAX_TOPIC_LEN>,
    qos: QoS,
}

/// One MQTT client session; see the module documentation.
#[derive(Debug)]
pub struct Session {
    options: SessionOptions,
    state: SessionState,
    transmit: Vec<u8, TRANSMIT_BUFFER_LEN>,
    queue: Deque<QueuedMessage, MAX_QUEUED_MESSAGES>,
    subscriptions: Vec<Subscription, MAX_SUBSCRIPTIONS>,
    incoming_qos2: Deque<u16, MAX_INCOMING_QOS2>,
    next_packet_id: u16,
    /// When we last handed bytes to the link: keepalive counts from here.
    last_transmit_at: Instant,
    /// A PINGREQ is out and unanswered since this instant.
    ping_outstanding_since: Option<Instant>,
    /// Consecutive failed link attempts, for the backoff.
    failed_attempts: u32,
    statistics: SessionStatistics,
}

impl Session {
    /// A session that asks for its first link at `now`.
    pub fn new(options: SessionOptions, now: Instant) -> Self {
        Session {
            options,
            state: SessionState::Disconnected { retry_at: now },
            transmit: Vec::new(),
            queue: Deque::new(),
            subscriptions: Vec::new(),
            incoming_qos2: Deque::new(),
            next_packet_id: 1,
            last_transmit_at: now,
            ping_outstanding_since: None,
            failed_attempts: 0,
            statistics: SessionStatistics::default(),
        }
    }

    pub fn options(&self) -> &SessionOptions {
        &self.options
    }

    pub fn state(&self) -> SessionState {
        self.state
    }

    pub fn is_connected(&self) -> bool {
        self.state == SessionState::Connected
    }

    pub fn statistics(&self) -> SessionStatistics {
        self.statistics
    }

    /// QoS 1/2 messages not yet acknowledged by the broker.
    pub fn queued_messages(&self) -> usize {
        self.queue.len()
    }

    /// True while a QoS 1/2 message to `topic` waits for the broker's
    /// acknowledgement.
    pub fn awaits_acknowledgement(&self, topic: &str) -> bool {
        self.queue.iter().any(|message| message.topic == topic)
    }

    // ----- the link -------------------------------------------------------

    /// True when the owner should open a TCP link to the broker now.
    pub fn wants_link(&self, now: Instant) -> bool {
        matches!(self.state, SessionState::Disconnected { retry_at } if now >= retry_at)
    }

    /// True when the session wants its link closed.
    pub fn wants_close(&self) -> bool {
        self.state == SessionState::Closing
    }

    /// The TCP link is up: CONNECT goes out.
    pub fn link_up(&mut self, now: Instant) {
        self.transmit.clear();
        self.ping_outstanding_since = None;
        let will = self.options.will.as_ref().map(|will| LastWill {
            topic: &will.topic,
            payload: &will.payload,
            qos: will.qos,
            retain: will.retain,
        });
        let connect = Packet::Connect(Connect {
            client_id: &self.options.client_id,
            keep_alive_seconds: u16::try_from(self.options.keep_alive.as_secs())
                .unwrap_or(u16::MAX),
            clean_session: self.options.clean_session,
            will,
            username: match (&self.options.username, &self.options.password) {
                (Some(username), _) => Some(username.as_str()),
                (None, Some(_)) => Some(""),
                (None, None) => None,
            },
            password: self
                .options
                .password
                .as_ref()
                .map(|password| password.as_bytes()),
        });
        // CONNECT of a bounded client id, will and credentials always fits
        // the empty buffer.
        let _ = append_packet(&mut self.transmit, &connect);
        self.last_transmit_at = now;
        self.state = SessionState::Connecting {
            deadline: now + self.options.connect_timeout,
        };
    }

    /// The link could not be opened, or it died, or the owner closed it.
    /// Unacknowledged QoS 1/2 messages stay queued and go out again, with
    /// DUP set, on the next link.
    pub fn link_down(&mut self, now: Instant) {
        if self.state == SessionState::Connected {
            self.statistics.link_losses += 1;
            self.failed_attempts = 0;
        } else {
            self.failed_attempts = self.failed_attempts.saturating_add(1);
        }
        self.transmit.clear();
        self.ping_outstanding_since = None;
        for message in self.queue.iter_mut() {
            if message.stage != OutgoingStage::Unsent {
                message.sent_before = true;
            }
            // PUBREL must be re-sent for QoS 2 messages already received by
            // the broker; everything else restarts from PUBLISH.
            message.stage = match message.stage {
                OutgoingStage::AwaitingPubComp | OutgoingStage::Unreleased => {
                    OutgoingStage::Unreleased
                }
                _ => OutgoingStage::Unsent,
            };
        }
        self.state = SessionState::Disconnected {
            retry_at: now + self.reconnect_delay(),
        };
    }

    /// The delay before the next link attempt: the initial delay after a
    /// link that was up or a first failure, then 2×, 4×, … capped at the
    /// maximum.
    fn reconnect_delay(&self) -> Duration {
        if self.failed_attempts == 0 {
            return self.options.reconnect_initial_delay;
        }
        let shift = (self.failed_attempts - 1).min(16);
        let delay = self
            .options
            .reconnect_initial_delay
            .saturating_mul(1u32 << shift);
        delay.min(self.options.reconnect_max_delay)
    }

    /// Ends the session cleanly: DISCONNECT goes out (so the broker drops
    /// the will) and the link is to be closed.
    pub fn disconnect(&mut self) {
        if self.state == SessionState::Connected {
            let _ = append_packet(&mut self.transmit, &Packet::Disconnect);
        }
        self.state = SessionState::Closing;
    }

    /// Acknowledges a PUBLISH the owner had to skip (too large to buffer):
    /// PUBACK for QoS 1, PUBREC for QoS 2 (its PUBREL then gets PUBCOMP as
    /// usual). The message never reaches the app.
    pub fn acknowledge_skipped(&mut self, now: Instant, qos: QoS, packet_id: u16) {
        match qos {
            QoS::AtMostOnce => {}
            QoS::AtLeastOnce => self.send(now, &Packet::PubAck(packet_id)),
            QoS::ExactlyOnce => self.send(now, &Packet::PubRec(packet_id)),
        }
    }

    /// The broker sent bytes that are not MQTT: the link is to be closed.
    pub fn disconnect_after_protocol_error(&mut self) {
        self.state = SessionState::Closing;
    }

    // ----- bytes in and out -----------------------------------------------

    /// Bytes waiting to be written to the link.
    pub fn transmit_buffer(&self) -> &[u8] {
        &self.transmit
    }

    /// The owner wrote the first `count` bytes of [`Self::transmit_buffer`].
    pub fn consume_transmit(&mut self, count: usize) {
        let count = count.min(self.transmit.len());
        self.transmit.copy_within(count.., 0);
        self.transmit.truncate(self.transmit.len() - count);
    }

    /// Acts on one packet decoded from the link.
    pub fn handle_packet(&mut self, now: Instant, packet: &Packet<'_>) -> SessionEvent {
        match (self.state, packet) {
            (SessionState::Connecting { .. }, Packet::ConnAck(ack)) => {
                if ack.return_code != 0 {
                    self.state = SessionState::Closing;
                    return SessionEvent::Refused {
                        return_code: ack.return_code,
                    };
                }
                self.state = SessionState::Connected;
                self.failed_attempts = 0;
                self.statistics.connects += 1;
                if !ack.session_present {
                    // The broker kept no state, so it forgot the QoS 2
                    // messages it had but had not released: a PUBREL would
                    // name nothing (rumqttd drops the link for it). Brokers
                    // release QoS 2 messages on PUBREL (rumqttd, Mosquitto),
                    // so these were never delivered: send them again.
                    for message in self.queue.iter_mut() {
                        if message.stage == OutgoingStage::Unreleased {
                            message.stage = OutgoingStage::Unsent;
                        }
                    }
                }
                self.resubscribe(now);
                self.flush_queue(now);
                SessionEvent::Connected {
                    session_present: ack.session_present,
                }
            }
            (SessionState::Connected, Packet::Publish(publish)) => {
                self.handle_incoming_publish(now, publish)
            }
            (SessionState::Connected, Packet::PubAck(id)) => {
                self.complete_outgoing(*id, OutgoingStage::AwaitingPubAck);
                SessionEvent::None
            }
            (SessionState::Connected, Packet::PubRec(id)) => {
                if let Some(message) = self
                    .queue
                    .iter_mut()
                    .find(|m| m.packet_id == *id && m.stage == OutgoingStage::AwaitingPubRec)
                {
                    message.stage = OutgoingStage::AwaitingPubComp;
                }
                // PUBREL answers a PUBREC even for an id we no longer know,
                // so the broker can finish its side of the flow.
                self.send(now, &Packet::PubRel(*id));
                SessionEvent::None
            }
            (SessionState::Connected, Packet::PubComp(id)) => {
                self.complete_outgoing(*id, OutgoingStage::AwaitingPubComp);
                SessionEvent::None
            }
            (SessionState::Connected, Packet::PubRel(id)) => {
                if let Some(position) = self.incoming_qos2.iter().position(|known| known == id) {
                    remove_at(&mut self.incoming_qos2, position);
                }
                self.send(now, &Packet::PubComp(*id));
                SessionEvent::None
            }
            (SessionState::Connected, Packet::SubAck(ack)) => {
                if ack.return_codes.contains(&0x80) {
                    SessionEvent::SubscriptionRejected {
                        packet_id: ack.packet_id,
                    }
                } else {
                    SessionEvent::None
                }
            }
            (SessionState::Connected, Packet::UnsubAck(_)) => SessionEvent::None,
            (SessionState::Connected, Packet::PingResp) => {
                self.ping_outstanding_since = None;
                SessionEvent::None
            }
            (SessionState::Closing, _) => SessionEvent::None,
            _ => {
                self.state = SessionState::Closing;
                SessionEvent::ProtocolViolation
            }
        }
    }

    fn handle_incoming_publish(&mut self, now: Instant, publish: &Publish<'_>) -> SessionEvent {
        self.statistics.messages_received = self.statistics.messages_received.wrapping_add(1);
        match (publish.qos, publish.packet_id) {
            (QoS::AtMostOnce, _) => SessionEvent::Message,
            (QoS::AtLeastOnce, Some(id)) => {
                self.send(now, &Packet::PubAck(id));
                SessionEvent::Message
            }
            (QoS::ExactlyOnce, Some(id)) => {
                self.send(now, &Packet::PubRec(id));
                if self.incoming_qos2.iter().any(|known| *known == id) {
                    return SessionEvent::DuplicateMessage;
                }
                if self.incoming_qos2.is_full() {
                    // Forget the oldest: a broker that never sends its PUBREL
                    // must not stop us from receiving.
                    self.incoming_qos2.pop_front();
                }
                let _ = self.incoming_qos2.push_back(id);
                SessionEvent::Message
            }
            // The codec guarantees a packet id for QoS 1 and 2.
            (_, None) => SessionEvent::ProtocolViolation,
        }
    }

    fn complete_outgoing(&mut self, packet_id: u16, expected: OutgoingStage) {
        if let Some(position) = self
            .queue
            .iter()
            .position(|m| m.packet_id == packet_id && m.stage == expected)
        {
            remove_at(&mut self.queue, position);
        }
    }

    // ----- time -----------------------------------------------------------

    /// Runs the session's timers: link retry, CONNACK timeout, keepalive
    /// ping and the dead-link timeout.
    pub fn poll(&mut self, now: Instant) {
        self.poll_timeouts(now);
        if self.state == SessionState::Connected
            && self.ping_outstanding_since.is_none()
            && !self.options.keep_alive.is_zero()
            && now >= self.last_transmit_at + self.options.keep_alive
        {
            self.statistics.pings_sent += 1;
            self.send(now, &Packet::PingReq);
            self.ping_outstanding_since = Some(now);
        }
    }

    /// Runs only the timers that end a link (CONNACK timeout, dead link),
    /// not the keepalive ping. A node calls this before its app runs and
    /// [`Self::poll`] after: a packet the app sends at the keepalive
    /// deadline tells the broker the client is alive, so no ping is needed
    /// (MQTT 3.1.1 §3.1.2.10), which saves a round trip on every reading of
    /// an app whose interval equals its keepalive.
    pub fn poll_timeouts(&mut self, now: Instant) {
        match self.state {
            SessionState::Connecting { deadline } if now >= deadline => {
                self.state = SessionState::Closing;
            }
            SessionState::Connected => {
                if let Some(since) = self.ping_outstanding_since {
                    // No PINGRESP within a keepalive period: the link is dead
                    // even if TCP has not noticed (a cut WiFi link).
                    if now >= since + self.options.keep_alive {
                        self.state = SessionState::Closing;
                    }
                }
            }
            _ => {}
        }
    }

    /// The next instant at which [`Self::poll`] has work to do, if any.
    pub fn poll_at(&self) -> Option<Instant> {
        match self.state {
            SessionState::Disconnected { retry_at } => Some(retry_at),
            SessionState::Connecting { deadline } => Some(deadline),
            SessionState::Connected if self.options.keep_alive.is_zero() => None,
            SessionState::Connected => Some(match self.ping_outstanding_since {
                Some(since) => since + self.options.keep_alive,
                None => self.last_transmit_at + self.options.keep_alive,
            }),
            SessionState::Closing => None,
        }
    }

    // ----- what the app asks for -------------------------------------------

    /// Publishes a message. QoS 0 needs a live connection; QoS 1 and 2 are
    /// queued (and sent at once when connected) until acknowledged, across
    /// reconnects.
    pub fn publish(
        &mut self,
        now: Instant,
        topic: &str,
        payload: &[u8],
        qos: QoS,
        retain: bool,
    ) -> Result<(), PublishError> {
        if qos == QoS::AtMostOnce {
            if !self.is_connected() {
                return Err(PublishError::NotConnected);
            }
            let packet = Packet::Publish(Publish {
                dup: false,
                qos,
                retain,
                topic,
                packet_id: None,
                payload,
            });
            if codec::encoded_len(&packet) > self.transmit.capacity() - self.transmit.len() {
                return Err(PublishError::TransmitBufferFull);
            }
            self.send(now, &packet);
            self.statistics.messages_published = self.statistics.messages_published.wrapping_add(1);
            return Ok(());
        }
        if self.queue.is_full() {
            return Err(PublishError::QueueFull);
        }
        let topic = String::try_from(topic).map_err(|_| PublishError::TooLarge)?;
        let payload = Vec::from_slice(payload).map_err(|_| PublishError::TooLarge)?;
        let packet_id = self.allocate_packet_id();
        let _ = self.queue.push_back(QueuedMessage {
            packet_id,
            qos,
            retain,
            topic,
            payload,
            stage: OutgoingStage::Unsent,
            sent_before: false,
        });
        self.statistics.messages_published = self.statistics.messages_published.wrapping_add(1);
        if self.is_connected() {
            self.flush_queue(now);
        }
        Ok(())
    }

    /// Subscribes now if connected, and again after every reconnect.
    /// Subscribing again to a known filter changes nothing.
    pub fn subscribe(
        &mut self,
        now: Instant,
        filter: &str,
        qos: QoS,
    ) -> Result<(), SubscribeError> {
        if self.subscriptions.iter().any(|s| s.filter == filter) {
            // Known already: it was sent when it was first made and is sent
            // again on every connect, so an app that subscribes in
            // `on_connected` does not subscribe twice.
            return Ok(());
        }
        let owned = String::try_from(filter).map_err(|_| SubscribeError::FilterTooLong)?;
        self.subscriptions
            .push(Subscription { filter: owned, qos })
            .map_err(|_| SubscribeError::TooManySubscriptions)?;
        if self.is_connected() {
            let packet_id = self.allocate_packet_id();
            let filters = [(filter, qos)];
            self.send(
                now,
                &Packet::Subscribe(Subscribe {
                    packet_id,
                    filters: codec::SubscribeFilters::List(&filters),
                }),
            );
        }
        Ok(())
    }

    fn resubscribe(&mut self, now: Instant) {
        for index in 0..self.subscriptions.len() {
            let packet_id = self.allocate_packet_id();
            let subscription = &self.subscriptions[index];
            let filters = [(subscription.filter.as_str(), subscription.qos)];
            let packet = Packet::Subscribe(Subscribe {
                packet_id,
                filters: codec::SubscribeFilters::List(&filters),
            });
            let _ = append_packet(&mut self.transmit, &packet);
        }
        self.last_transmit_at = now;
    }

    /// Writes every queued message that is not in flight on this link:
    /// PUBLISH for those never sent (or sent on a dead link), PUBREL for
    /// QoS 2 messages the broker holds from an earlier link.
    fn flush_queue(&mut self, now: Instant) {
        for message in self.queue.iter_mut() {
            let packet = match message.stage {
                OutgoingStage::Unsent => Packet::Publish(Publish {
                    dup: message.sent_before,
                    qos: message.qos,
                    retain: message.retain,
                    topic: &message.topic,
                    packet_id: Some(message.packet_id),
                    payload: &message.payload,
                }),
                OutgoingStage::Unreleased => Packet::PubRel(message.packet_id),
                _ => continue,
            };
            if append_packet(&mut self.transmit, &packet).is_err() {
                // No room now; the rest goes out on the next flush.
                break;
            }
            self.last_transmit_at = now;
            message.stage = match (message.stage, message.qos) {
                (OutgoingStage::Unreleased, _) => OutgoingStage::AwaitingPubComp,
                (_, QoS::ExactlyOnce) => OutgoingStage::AwaitingPubRec,
                _ => OutgoingStage::AwaitingPubAck,
            };
        }
    }

    fn allocate_packet_id(&mut self) -> u16 {
        loop {
            let id = self.next_packet_id;
            self.next_packet_id = self.next_packet_id.checked_add(1).unwrap_or(1);
            if !self.queue.iter().any(|m| m.packet_id == id) {
                return id;
            }
        }
    }

    /// Queues a control packet; dropped if the buffer is full, which the
    /// keepalive and resend logic recover from.
    fn send(&mut self, now: Instant, packet: &Packet<'_>) {
        if append_packet(&mut self.transmit, packet).is_ok() {
            self.last_transmit_at = now;
        }
    }
}

/// The buffer had no room for the packet.
#[derive(Debug)]
struct NoRoom;

fn append_packet<const N: usize>(
    buffer: &mut Vec<u8, N>,
    packet: &Packet<'_>,
) -> Result<(), NoRoom> {
    let start = buffer.len();
    let needed = codec::encoded_len(packet);
    if needed > N - start {
        return Err(NoRoom);
    }
    buffer.resize(start + needed, 0).map_err(|_| NoRoom)?;
    match codec::encode(packet, &mut buffer[start..]) {
        Ok(written) => {
            buffer.truncate(start + written);
            Ok(())
        }
        Err(_) => {
            buffer.truncate(start);
            Err(NoRoom)
        }
    }
}

fn remove_at<T, const N: usize>(deque: &mut Deque<T, N>, position: usize) {
    // Rotate the element to the front, pop it, and restore the order.
    for _ in 0..position {
        if let Some(item) = deque.pop_front() {
            let _ = deque.push_back(item);
        }
    }
    deque.pop_front();
    let remaining = deque.len();
    for _ in 0..remaining.saturating_sub(position) {
        if let Some(item) = deque.pop_front() {
            let _ = deque.push_back(item);
        }
    }
}

/// Copies as much of `text` as fits, cutting at a character boundary.
pub fn truncated<const N: usize>(text: &str) -> String<N> {
    let mut out = String::new();
    for character in text.chars() {
        if out.push(character).is_err() {
            break;
        }
    }
    out
}

/// Formats into a fixed-capacity string; `None` if it does not fit.
pub fn format_into<const N: usize>(arguments: core::fmt::Arguments<'_>) -> Option<String<N>> {
    let mut out = String::new();
    out.write_fmt(arguments).ok()?;
    Some(out)
}

#[cfg(test)]
mod tests {
    extern crate std;
    use std::format;
    use std::string::String as StdString;

    use super::*;
    use crate::mqtt::codec::{ConnAck, Publish};

    fn at(seconds: u64) -> Instant {
        Instant::from_millis(seconds * 1_000)
    }

    /// Decodes every packet in the transmit buffer and empties it.
    fn take_sent(session: &mut Session, mut each: impl FnMut(&Packet<'_>)) -> usize {
        let bytes: Vec<u8, TRANSMIT_BUFFER_LEN> =
            Vec::from_slice(session.transmit_buffer()).unwrap();
        session.consume_transmit(bytes.len());
        let mut offset = 0;
        let mut count = 0;
        while offset < bytes.len() {
            let (packet, length) =
                codec::decode(&bytes[offset..]).expect("the session only sends valid packets");
            each(&packet);
            offset += length;
            count += 1;
        }
        count
    }

    fn connected_session(options: SessionOptions) -> Session {
        let mut session = Session::new(options, at(0));
        assert!(session.wants_link(at(0)));
        session.link_up(at(0));
        take_sent(&mut session, |_| {});
        let event = session.handle_packet(
            at(0),
            &Packet::ConnAck(ConnAck {
                session_present: false,
                return_code: 0,
            }),
        );
        assert_eq!(
            event,
            SessionEvent::Connected {
                session_present: false
            }
        );
        session
    }

    #[test]
    fn link_up_sends_connect_with_client_id_keepalive_and_will() {
        let mut options = SessionOptions::new("probe-1");
        options.keep_alive = Duration::from_secs(30);
        options.will = Some(Will {
            topic: String::try_from("status/probe-1").unwrap(),
            payload: Vec::from_slice(b"offline").unwrap(),
            qos: QoS::AtLeastOnce,
            retain: true,
        });
        let mut session = Session::new(options, at(0));
        session.link_up(at(0));
        let mut seen = false;
        take_sent(&mut session, |packet| {
            let Packet::Connect(connect) = packet else {
                panic!("expected CONNECT, got {packet:?}");
            };
            assert_eq!(connect.client_id, "probe-1");
            assert_eq!(connect.keep_alive_seconds, 30);
            let will = connect.will.as_ref().unwrap();
            assert_eq!(
                (will.topic, will.payload, will.retain),
                ("status/probe-1", &b"offline"[..], true)
            );
            seen = true;
        });
        assert!(seen);
        assert!(matches!(session.state(), SessionState::Connecting { .. }));
    }

    #[test]
    fn subscriptions_are_sent_on_connect_and_again_after_reconnect() {
        let mut session = connected_session(SessionOptions::new("blue"));
        session
            .subscribe(at(0), "green/btn/0", QoS::AtMostOnce)
            .unwrap();
        let mut filters = 0;
        take_sent(&mut session, |packet| {
            if let Packet::Subscribe(subscribe) = packet {
                assert_eq!(
                    subscribe.filters.iter().next(),
                    Some(("green/btn/0", QoS::AtMostOnce))
                );
                filters += 1;
            }
        });
        assert_eq!(filters, 1);

        session.link_down(at(5));
        assert!(!session.wants_link(at(5)));
        assert!(
            session.wants_link(at(6)),
            "reconnects after the initial delay"
        );
        session.link_up(at(6));
        take_sent(&mut session, |_| {});
        session.handle_packet(
            at(6),
            &Packet::ConnAck(ConnAck {
                session_present: false,
                return_code: 0,
            }),
        );
        let mut resubscribed = 0;
        take_sent(&mut session, |packet| {
            if matches!(packet, Packet::Subscribe(_)) {
                resubscribed += 1;
            }
        });
        assert_eq!(resubscribed, 1);
    }

    #[test]
    fn keepalive_pings_when_idle_and_drops_a_link_that_stays_silent() {
        let mut options = SessionOptions::new("probe");
        options.keep_alive = Duration::from_secs(60);
        let mut session = connected_session(options);
        assert_eq!(session.poll_at(), Some(at(60)));
        session.poll(at(59));
        assert_eq!(
            take_sent(&mut session, |_| {}),
            0,
            "no ping before the keepalive"
        );
        session.poll(at(60));
        let mut pings = 0;
        take_sent(&mut session, |packet| {
            pings += usize::from(*packet == Packet::PingReq)
        });
        assert_eq!(pings, 1);
        session.handle_packet(at(60), &Packet::PingResp);
        assert_eq!(session.poll_at(), Some(at(120)));

        session.poll(at(120));
        take_sent(&mut session, |_| {});
        session.poll(at(179));
        assert!(session.is_connected());
        session.poll(at(180));
        assert!(
            session.wants_close(),
            "no PINGRESP for a whole keepalive: the link is dead"
        );
    }

    #[test]
    fn reconnect_backoff_doubles_up_to_the_maximum() {
        let mut session = Session::new(SessionOptions::new("probe"), at(0));
        let mut now = at(0);
        let mut delays = std::vec::Vec::new();
        for _ in 0..8 {
            assert!(session.wants_link(now));
            session.link_down(now); // the attempt failed
            let SessionState::Disconnected { retry_at } = session.state() else {
                panic!("disconnected after a failed attempt");
            };
            delays.push((retry_at - now).as_secs());
            now = retry_at;
        }
        assert_eq!(delays, [1, 2, 4, 8, 16, 30, 30, 30]);
    }

    #[test]
    fn qos0_needs_a_connection_but_qos1_is_queued_and_resent_with_dup() {
        let mut session = Session::new(SessionOptions::new("probe"), at(0));
        assert_eq!(
            session.publish(at(0), "t", b"x", QoS::AtMostOnce, false),
            Err(PublishError::NotConnected)
        );
        session
            .publish(at(0), "t", b"queued", QoS::AtLeastOnce, false)
            .unwrap();
        assert_eq!(session.queued_messages(), 1);
        session.link_up(at(0));
        take_sent(&mut session, |_| {});
        session.handle_packet(
            at(0),
            &Packet::ConnAck(ConnAck {
                session_present: false,
                return_code: 0,
            }),
        );
        let mut first_id = None;
        take_sent(&mut session, |packet| {
            if let Packet::Publish(Publish {
                dup,
                packet_id,
                payload,
                ..
            }) = packet
            {
                assert!(!dup);
                assert_eq!(*payload, b"queued");
                first_id = *packet_id;
            }
        });
        assert!(first_id.is_some(), "sent on connect");

        // The link dies before the PUBACK: the message goes again, marked DUP.
        session.link_down(at(1));
        session.link_up(at(2));
        take_sent(&mut session, |_| {});
        session.handle_packet(
            at(2),
            &Packet::ConnAck(ConnAck {
                session_present: true,
                return_code: 0,
            }),
        );
        let mut resent = None;
        take_sent(&mut session, |packet| {
            if let Packet::Publish(publish) = packet {
                resent = Some((publish.dup, publish.packet_id));
            }
        });
        assert_eq!(resent, Some((true, first_id)));
        session.handle_packet(at(2), &Packet::PubAck(first_id.unwrap()));
        assert_eq!(session.queued_messages(), 0);
    }

    #[test]
    fn qos2_flow_both_ways_and_no_duplicate_delivery() {
        let mut session = connected_session(SessionOptions::new("probe"));
        // Outgoing: PUBLISH → PUBREC → PUBREL → PUBCOMP.
        session
            .publish(at(0), "t", b"once", QoS::ExactlyOnce, false)
            .unwrap();
        let mut id = 0;
        take_sent(&mut session, |packet| {
            if let Packet::Publish(publish) = packet {
                id = publish.packet_id.unwrap();
            }
        });
        session.handle_packet(at(0), &Packet::PubRec(id));
        let mut pubrel = false;
        take_sent(&mut session, |packet| {
            pubrel |= *packet == Packet::PubRel(id)
        });
        assert!(pubrel);
        session.handle_packet(at(0), &Packet::PubComp(id));
        assert_eq!(session.queued_messages(), 0);

        // Incoming: the same QoS 2 packet id twice reaches the app once.
        let incoming = Packet::Publish(Publish {
            dup: false,
            qos: QoS::ExactlyOnce,
            retain: false,
            topic: "cmd",
            packet_id: Some(7),
            payload: b"go",
        });
        assert_eq!(
            session.handle_packet(at(1), &incoming),
            SessionEvent::Message
        );
        assert_eq!(
            session.handle_packet(at(1), &incoming),
            SessionEvent::DuplicateMessage
        );
        session.handle_packet(at(1), &Packet::PubRel(7));
        let mut sent: std::vec::Vec<StdString> = std::vec::Vec::new();
        take_sent(&mut session, |packet| sent.push(format!("{packet:?}")));
        assert_eq!(sent.iter().filter(|p| p.starts_with("PubRec")).count(), 2);
        assert_eq!(sent.iter().filter(|p| p.starts_with("PubComp")).count(), 1);
    }

    #[test]
    fn a_refused_connection_closes_the_link_and_backs_off() {
        let mut session = Session::new(SessionOptions::new("probe"), at(0));
        session.link_up(at(0));
        let event = session.handle_packet(
            at(0),
            &Packet::ConnAck(ConnAck {
                session_present: false,
                return_code: 5,
            }),
        );
        assert_eq!(event, SessionEvent::Refused { return_code: 5 });
        assert!(session.wants_close());
        session.link_down(at(0));
        assert!(!session.wants_link(at(0)));
    }

    /// The user name and password of CONNECT, as sent.
    fn sent_credentials(
        options: SessionOptions,
    ) -> (Option<std::string::String>, Option<std::vec::Vec<u8>>) {
        extern crate std;
        let mut session = Session::new(options, at(0));
        session.link_up(at(0));
        let mut credentials = (None, None);
        take_sent(&mut session, |packet| {
            if let Packet::Connect(connect) = packet {
                credentials = (
                    connect.username.map(std::string::String::from),
                    connect.password.map(<[u8]>::to_vec),
                );
            }
        });
        credentials
    }

    #[test]
    fn connect_carries_the_user_name_and_password_when_given() {
        assert_eq!(sent_credentials(SessionOptions::new("probe")), (None, None));
        let mut options = SessionOptions::new("probe");
        options.username = Some(truncated("alice"));
        options.password = Some(truncated("s3cret"));
        assert_eq!(
            sent_credentials(options.clone()),
            (Some("alice".into()), Some(b"s3cret".to_vec()))
        );
        options.password = None;
        assert_eq!(sent_credentials(options), (Some("alice".into()), None));
        // MQTT 3.1.1 has no password without a user name: an empty one goes.
        let mut options = SessionOptions::new("probe");
        options.password = Some(truncated("s3cret"));
        assert_eq!(
            sent_credentials(options),
            (Some("".into()), Some(b"s3cret".to_vec()))
        );
    }

    #[test]
    fn a_broker_that_never_answers_connect_is_dropped_after_the_timeout() {
        let mut session = Session::new(SessionOptions::new("probe"), at(0));
        session.link_up(at(0));
        session.poll(at(9));
        assert!(!session.wants_close());
        session.poll(at(10));
        assert!(session.wants_close());
    }

    #[test]
    fn pubrel_goes_out_once_per_link_and_a_forgetful_broker_gets_the_publish_again() {
        let mut session = connected_session(SessionOptions::new("probe"));
        session
            .publish(at(0), "t", b"first", QoS::ExactlyOnce, false)
            .unwrap();
        let mut id = 0;
        take_sent(&mut session, |packet| {
            if let Packet::Publish(publish) = packet {
                id = publish.packet_id.unwrap();
            }
        });
        session.handle_packet(at(0), &Packet::PubRec(id));
        take_sent(&mut session, |_| {});
        // Found by a scenario: publishing again while PUBCOMP is outstanding
        // re-sent the PUBREL, which rumqttd answers by dropping the link.
        session
            .publish(at(1), "t", b"second", QoS::ExactlyOnce, false)
            .unwrap();
        let mut pubrels = 0;
        take_sent(&mut session, |packet| {
            pubrels += usize::from(*packet == Packet::PubRel(id))
        });
        assert_eq!(pubrels, 0);

        // The link dies before PUBCOMP; the broker comes back without the
        // session, so the message is published again (DUP), not released.
        session.link_down(at(2));
        session.link_up(at(3));
        take_sent(&mut session, |_| {});
        session.handle_packet(
            at(3),
            &Packet::ConnAck(ConnAck {
                session_present: false,
                return_code: 0,
            }),
        );
        let mut republished = std::vec::Vec::new();
        take_sent(&mut session, |packet| {
            if let Packet::Publish(publish) = packet {
                republished.push((publish.packet_id, publish.dup));
            }
            assert_ne!(
                *packet,
                Packet::PubRel(id),
                "no PUBREL for a message the broker forgot"
            );
        });
        assert!(republished.contains(&(Some(id), true)), "{republished:?}");
    }
}
