//! A zero-copy codec for MQTT 3.1.1 (protocol level 4) control packets.
//!
//! Decoding borrows instead of copying: a decoded [`Packet`] points into the
//! receive buffer for its topics, payloads and filter lists, so a board with a
//! few kilobytes of RAM never copies a message it only wants to look at, and
//! the codec needs no allocator. The price is that the packet has to be
//! dropped before the buffer is reused.
//!
//! Decoding is the firmware's first contact with bytes from the network, so
//! [`decode`] never panics and never reads past the packet its fixed header
//! announced. Every length is checked against the remaining length, every
//! string is checked to be UTF-8 without U+0000, and every rule under which
//! the specification calls a packet malformed has its own [`DecodeError`]
//! variant, so a log line says what the broker got wrong. [`encode`] checks
//! the same rules before it writes anything, so the codec never emits a packet
//! it would itself refuse, and any packet that decodes can be encoded again.
//!
//! The codec is stateless and handles one packet per call: [`decode`] reports
//! how many bytes it consumed, or how many more it needs at least, and the
//! caller loops. Section numbers in the documentation refer to the MQTT 3.1.1
//! OASIS Standard.

use core::fmt;

use super::topic::{self, TopicError};

/// The largest remaining length MQTT 3.1.1 can express: the field is a
/// variable-length integer of at most four bytes with seven bits each
/// (section 2.2.3).
pub const MAX_REMAINING_LENGTH: usize = 268_435_455;

/// The protocol name a CONNECT packet must carry for MQTT 3.1.1.
pub const PROTOCOL_NAME: &str = "MQTT";

/// The protocol level of MQTT 3.1.1, the only version this codec speaks.
pub const PROTOCOL_LEVEL: u8 = 4;

/// The SUBACK return code a broker sends for a topic filter it refused.
pub const SUBACK_FAILURE: u8 = 0x80;

/// The longest string or binary field: its two-byte length prefix cannot
/// describe more.
const MAX_FIELD_LENGTH: usize = u16::MAX as usize;

/// The protocol name MQTT 3.1 used. It is recognised only to give such a
/// client a precise error instead of a generic one.
const MQTT_3_1_PROTOCOL_NAME: &[u8] = b"MQIsdp";

/// The packet type numbers of section 2.2.1, found in the high nibble of the
/// first byte.
mod packet_type {
    pub const CONNECT: u8 = 1;
    pub const CONNACK: u8 = 2;
    pub const PUBLISH: u8 = 3;
    pub const PUBACK: u8 = 4;
    pub const PUBREC: u8 = 5;
    pub const PUBREL: u8 = 6;
    pub const PUBCOMP: u8 = 7;
    pub const SUBSCRIBE: u8 = 8;
    pub const SUBACK: u8 = 9;
    pub const UNSUBSCRIBE: u8 = 10;
    pub const UNSUBACK: u8 = 11;
    pub const PINGREQ: u8 = 12;
    pub const PINGRESP: u8 = 13;
    pub const DISCONNECT: u8 = 14;
}

/// The bits of the CONNECT flags byte (section 3.1.2.3).
mod connect_flag {
    pub const RESERVED: u8 = 0x01;
    pub const CLEAN_SESSION: u8 = 0x02;
    pub const WILL: u8 = 0x04;
    pub const WILL_QOS_SHIFT: u32 = 3;
    pub const WILL_QOS_MASK: u8 = 0x18;
    pub const WILL_RETAIN: u8 = 0x20;
    pub const PASSWORD: u8 = 0x40;
    pub const USERNAME: u8 = 0x80;
}

/// The fixed-header flags of PUBREL, SUBSCRIBE and UNSUBSCRIBE (section 2.2.2).
const FLAGS_0010: u8 = 0b0010;

/// A quality-of-service level: how hard the sender and receiver try to
/// deliver a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(u8)]
pub enum QoS {
    /// Fire and forget: the message arrives once or not at all.
    AtMostOnce = 0,
    /// Acknowledged with PUBACK: the message arrives, possibly more than once.
    AtLeastOnce = 1,
    /// The four-packet PUBREC/PUBREL/PUBCOMP handshake: the message arrives
    /// exactly once.
    ExactlyOnce = 2,
}

impl QoS {
    /// The level as it is encoded on the wire.
    pub const fn as_u8(self) -> u8 {
        self as u8
    }
}

impl TryFrom<u8> for QoS {
    type Error = DecodeError;

    /// Converts a wire value; 3 and above are not QoS levels.
    fn try_from(value: u8) -> Result<Self, Self::Error> {
        match value {
            0 => Ok(QoS::AtMostOnce),
            1 => Ok(QoS::AtLeastOnce),
            2 => Ok(QoS::ExactlyOnce),
            _ => Err(DecodeError::InvalidQoS),
        }
    }
}

impl From<QoS> for u8 {
    fn from(qos: QoS) -> u8 {
        qos.as_u8()
    }
}

/// The answer a broker gives to CONNECT, as the CONNACK return codes of
/// section 3.2.2.3 name them.
///
/// [`ConnAck`] keeps the raw byte, so that code which only cares about
/// "accepted or not" can compare with 0; this enum gives the byte a name for
/// logs and decisions such as "retrying with the same password is useless".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum ConnectReturnCode {
    /// The connection is accepted.
    Accepted = 0,
    /// The broker does not support protocol level 4.
    UnacceptableProtocolVersion = 1,
    /// The client identifier is well-formed UTF-8 but the broker refuses it.
    IdentifierRejected = 2,
    /// The network connection works but the MQTT service is unavailable.
    ServerUnavailable = 3,
    /// The user name or password is malformed.
    BadUsernameOrPassword = 4,
    /// The client is not authorized to connect.
    NotAuthorized = 5,
}

impl ConnectReturnCode {
    /// The code as it is encoded on the wire.
    pub const fn as_u8(self) -> u8 {
        self as u8
    }
}

impl TryFrom<u8> for ConnectReturnCode {
    type Error = DecodeError;

    /// Converts a wire value; 6 and above are reserved by MQTT 3.1.1.
    fn try_from(value: u8) -> Result<Self, Self::Error> {
        match value {
            0 => Ok(ConnectReturnCode::Accepted),
            1 => Ok(ConnectReturnCode::UnacceptableProtocolVersion),
            2 => Ok(ConnectReturnCode::IdentifierRejected),
            3 => Ok(ConnectReturnCode::ServerUnavailable),
            4 => Ok(ConnectReturnCode::BadUsernameOrPassword),
            5 => Ok(ConnectReturnCode::NotAuthorized),
            _ => Err(DecodeError::InvalidConnectReturnCode(value)),
        }
    }
}

impl fmt::Display for ConnectReturnCode {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        let message = match self {
            ConnectReturnCode::Accepted => "connection accepted",
            ConnectReturnCode::UnacceptableProtocolVersion => "unacceptable protocol version",
            ConnectReturnCode::IdentifierRejected => "client identifier rejected",
            ConnectReturnCode::ServerUnavailable => "server unavailable",
            ConnectReturnCode::BadUsernameOrPassword => "bad user name or password",
            ConnectReturnCode::NotAuthorized => "not authorized",
        };
        formatter.write_str(message)
    }
}

/// The message the broker publishes on the client's behalf when the client
/// disappears without a DISCONNECT, so that others learn it went offline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LastWill<'a> {
    /// The topic name the will is published to; wildcards are not allowed.
    pub topic: &'a str,
    /// The will message, at most 65,535 bytes.
    pub payload: &'a [u8],
    /// The QoS the broker publishes the will with.
    pub qos: QoS,
    /// Whether the broker retains the will message.
    pub retain: bool,
}

/// A CONNECT packet: the first packet a client sends on a new connection
/// (section 3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Connect<'a> {
    /// The client identifier. It may be empty, in which case the broker
    /// assigns one, but only together with a clean session.
    pub client_id: &'a str,
    /// The longest silence, in seconds, after which the broker may consider
    /// the client gone; 0 turns the keepalive mechanism off.
    pub keep_alive_seconds: u16,
    /// Whether the broker should discard any state of a previous session.
    pub clean_session: bool,
    /// The last will, if the client wants one.
    pub will: Option<LastWill<'a>>,
    /// The user name, if the broker wants one.
    pub username: Option<&'a str>,
    /// The password. MQTT 3.1.1 only allows it together with a user name.
    pub password: Option<&'a [u8]>,
}

/// A CONNACK packet: the broker's answer to CONNECT (section 3.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnAck {
    /// Whether the broker still holds a session for this client identifier.
    /// Always false when the connection is refused.
    pub session_present: bool,
    /// The raw return code: 0 means accepted, 1 to 5 are the refusals of
    /// [`ConnectReturnCode`]. Decoding rejects any other value.
    pub return_code: u8,
}

impl ConnAck {
    /// Whether the broker accepted the connection.
    pub const fn is_accepted(&self) -> bool {
        self.return_code == 0
    }

    /// The return code by name, or `None` for a value MQTT 3.1.1 reserves.
    pub fn code(&self) -> Option<ConnectReturnCode> {
        ConnectReturnCode::try_from(self.return_code).ok()
    }
}

/// A PUBLISH packet: an application message, in either direction
/// (section 3.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Publish<'a> {
    /// Whether this is a redelivery of a message sent before. Only allowed
    /// at QoS 1 and 2.
    pub dup: bool,
    /// The QoS the message is delivered with.
    pub qos: QoS,
    /// Whether the broker should keep this message for future subscribers.
    pub retain: bool,
    /// The topic name; wildcards are not allowed.
    pub topic: &'a str,
    /// The packet identifier: present (and non-zero) exactly when the QoS is
    /// above 0, because only acknowledged messages need one.
    pub packet_id: Option<u16>,
    /// The application payload, which may be empty.
    pub payload: &'a [u8],
}

/// A SUBSCRIBE packet: the client asks for messages on one or more topic
/// filters (section 3.8).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Subscribe<'a> {
    /// The non-zero packet identifier the SUBACK will echo.
    pub packet_id: u16,
    /// The topic filters with their requested QoS; at least one.
    pub filters: SubscribeFilters<'a>,
}

/// The topic filters of a SUBSCRIBE packet, each with its requested QoS.
///
/// There are two forms because the codec never copies: a client builds a
/// SUBSCRIBE from its own list, while a decoded SUBSCRIBE can only point at
/// the bytes it came in. [`SubscribeFilters::iter`] reads both the same way,
/// and two values are equal when they yield the same entries.
#[derive(Debug, Clone, Copy)]
pub enum SubscribeFilters<'a> {
    /// A caller's list, for encoding. [`encode`] validates it.
    List(&'a [(&'a str, QoS)]),
    /// The filters as they were on the wire, produced by [`decode`], which
    /// has already validated them.
    Encoded(EncodedSubscribeFilters<'a>),
}

/// The payload of a decoded SUBSCRIBE packet.
///
/// It can only be made by [`decode`], after every entry was checked, which
/// is why its fields are private: iterating it can then never meet a
/// malformed entry.
#[derive(Clone, Copy)]
pub struct EncodedSubscribeFilters<'a> {
    bytes: &'a [u8],
    count: usize,
}

/// An iterator over the `(filter, requested QoS)` entries of
/// [`SubscribeFilters`].
#[derive(Debug, Clone)]
pub struct SubscribeFiltersIter<'a> {
    source: SubscribeFiltersSource<'a>,
}

#[derive(Debug, Clone)]
enum SubscribeFiltersSource<'a> {
    List(core::slice::Iter<'a, (&'a str, QoS)>),
    Encoded(&'a [u8]),
}

impl<'a> SubscribeFilters<'a> {
    /// The entries in order, whichever form they are stored in.
    pub fn iter(&self) -> SubscribeFiltersIter<'a> {
        match *self {
            SubscribeFilters::List(list) => SubscribeFiltersIter {
                source: SubscribeFiltersSource::List(list.iter()),
            },
            SubscribeFilters::Encoded(encoded) => encoded.iter(),
        }
    }

    /// The number of entries.
    pub fn len(&self) -> usize {
        match self {
            SubscribeFilters::List(list) => list.len(),
            SubscribeFilters::Encoded(encoded) => encoded.len(),
        }
    }

    /// Whether there are no entries, which [`encode`] refuses.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The size of the entries on the wire.
    fn encoded_len(&self) -> usize {
        match self {
            SubscribeFilters::List(list) => list.iter().fold(0usize, |total, (filter, _)| {
                total.saturating_add(filter.len()).saturating_add(3)
            }),
            SubscribeFilters::Encoded(encoded) => encoded.bytes.len(),
        }
    }
}

impl<'a> EncodedSubscribeFilters<'a> {
    /// The entries in order.
    pub fn iter(&self) -> SubscribeFiltersIter<'a> {
        SubscribeFiltersIter {
            source: SubscribeFiltersSource::Encoded(self.bytes),
        }
    }

    /// The number of entries.
    pub const fn len(&self) -> usize {
        self.count
    }

    /// Whether there are no entries; never true for a decoded packet.
    pub const fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The entries exactly as they were encoded on the wire.
    pub const fn as_bytes(&self) -> &'a [u8] {
        self.bytes
    }
}

impl fmt::Debug for EncodedSubscribeFilters<'_> {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.debug_list().entries(self.iter()).finish()
    }
}

impl<'a> Iterator for SubscribeFiltersIter<'a> {
    type Item = (&'a str, QoS);

    fn next(&mut self) -> Option<Self::Item> {
        match &mut self.source {
            SubscribeFiltersSource::List(entries) => entries.next().copied(),
            SubscribeFiltersSource::Encoded(bytes) => {
                let mut reader = Reader::new(bytes);
                let entry = read_subscribe_entry(&mut reader).ok();
                // Decoding validated the bytes, so an error cannot happen;
                // should it anyway, the iterator ends instead of panicking.
                *bytes = if entry.is_some() { reader.bytes } else { &[] };
                entry
            }
        }
    }
}

impl<'a> IntoIterator for SubscribeFilters<'a> {
    type Item = (&'a str, QoS);
    type IntoIter = SubscribeFiltersIter<'a>;

    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

impl<'a> IntoIterator for &SubscribeFilters<'a> {
    type Item = (&'a str, QoS);
    type IntoIter = SubscribeFiltersIter<'a>;

    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

impl PartialEq for SubscribeFilters<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.iter().eq(other.iter())
    }
}

impl Eq for SubscribeFilters<'_> {}

/// A SUBACK packet: the broker's answer to SUBSCRIBE (section 3.9).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SubAck<'a> {
    /// The packet identifier of the SUBSCRIBE being answered.
    pub packet_id: u16,
    /// One code per filter, in the order of the SUBSCRIBE: 0, 1 or 2 is the
    /// granted QoS, [`SUBACK_FAILURE`] (0x80) a refusal.
    pub return_codes: &'a [u8],
}

impl<'a> SubAck<'a> {
    /// The granted QoS for each filter in order, `None` where the broker
    /// refused the subscription.
    pub fn results(&self) -> impl Iterator<Item = Option<QoS>> + use<'a> {
        self.return_codes
            .iter()
            .map(|&code| QoS::try_from(code).ok())
    }
}

/// An UNSUBSCRIBE packet: the client cancels one or more subscriptions
/// (section 3.10).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unsubscribe<'a> {
    /// The non-zero packet identifier the UNSUBACK will echo.
    pub packet_id: u16,
    /// The topic filters to cancel; at least one.
    pub filters: UnsubscribeFilters<'a>,
}

/// The topic filters of an UNSUBSCRIBE packet, in the same two forms as
/// [`SubscribeFilters`] and for the same reason.
#[derive(Debug, Clone, Copy)]
pub enum UnsubscribeFilters<'a> {
    /// A caller's list, for encoding. [`encode`] validates it.
    List(&'a [&'a str]),
    /// The filters as they were on the wire, produced by [`decode`], which
    /// has already validated them.
    Encoded(EncodedUnsubscribeFilters<'a>),
}

/// The payload of a decoded UNSUBSCRIBE packet; like
/// [`EncodedSubscribeFilters`], only [`decode`] can make one.
#[derive(Clone, Copy)]
pub struct EncodedUnsubscribeFilters<'a> {
    bytes: &'a [u8],
    count: usize,
}

/// An iterator over the topic filters of [`UnsubscribeFilters`].
#[derive(Debug, Clone)]
pub struct UnsubscribeFiltersIter<'a> {
    source: UnsubscribeFiltersSource<'a>,
}

#[derive(Debug, Clone)]
enum UnsubscribeFiltersSource<'a> {
    List(core::slice::Iter<'a, &'a str>),
    Encoded(&'a [u8]),
}

impl<'a> UnsubscribeFilters<'a> {
    /// The filters in order, whichever form they are stored in.
    pub fn iter(&self) -> UnsubscribeFiltersIter<'a> {
        match *self {
            UnsubscribeFilters::List(list) => UnsubscribeFiltersIter {
                source: UnsubscribeFiltersSource::List(list.iter()),
            },
            UnsubscribeFilters::Encoded(encoded) => encoded.iter(),
        }
    }

    /// The number of filters.
    pub fn len(&self) -> usize {
        match self {
            UnsubscribeFilters::List(list) => list.len(),
            UnsubscribeFilters::Encoded(encoded) => encoded.len(),
        }
    }

    /// Whether there are no filters, which [`encode`] refuses.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The size of the filters on the wire.
    fn encoded_len(&self) -> usize {
        match self {
            UnsubscribeFilters::List(list) => list.iter().fold(0usize, |total, filter| {
                total.saturating_add(filter.len()).saturating_add(2)
            }),
            UnsubscribeFilters::Encoded(encoded) => encoded.bytes.len(),
        }
    }
}

impl<'a> EncodedUnsubscribeFilters<'a> {
    /// The filters in order.
    pub fn iter(&self) -> UnsubscribeFiltersIter<'a> {
        UnsubscribeFiltersIter {
            source: UnsubscribeFiltersSource::Encoded(self.bytes),
        }
    }

    /// The number of filters.
    pub const fn len(&self) -> usize {
        self.count
    }

    /// Whether there are no filters; never true for a decoded packet.
    pub const fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The filters exactly as they were encoded on the wire.
    pub const fn as_bytes(&self) -> &'a [u8] {
        self.bytes
    }
}

impl fmt::Debug for EncodedUnsubscribeFilters<'_> {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.debug_list().entries(self.iter()).finish()
    }
}

impl<'a> Iterator for UnsubscribeFiltersIter<'a> {
    type Item = &'a str;

    fn next(&mut self) -> Option<Self::Item> {
        match &mut self.source {
            UnsubscribeFiltersSource::List(filters) => filters.next().copied(),
            UnsubscribeFiltersSource::Encoded(bytes) => {
                let mut reader = Reader::new(bytes);
                let filter = reader.read_str().ok();
                // As for SUBSCRIBE: validated at decode time, and an end
                // rather than a panic if that were ever not so.
                *bytes = if filter.is_some() { reader.bytes } else { &[] };
                filter
            }
        }
    }
}

impl<'a> IntoIterator for UnsubscribeFilters<'a> {
    type Item = &'a str;
    type IntoIter = UnsubscribeFiltersIter<'a>;

    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

impl<'a> IntoIterator for &UnsubscribeFilters<'a> {
    type Item = &'a str;
    type IntoIter = UnsubscribeFiltersIter<'a>;

    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

impl PartialEq for UnsubscribeFilters<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.iter().eq(other.iter())
    }
}

impl Eq for UnsubscribeFilters<'_> {}

/// One MQTT 3.1.1 control packet, borrowing its variable-length fields.
///
/// The acknowledgement packets carry only a packet identifier, so their
/// variants hold just that `u16`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Packet<'a> {
    /// Client to broker: open a session.
    Connect(Connect<'a>),
    /// Broker to client: the answer to CONNECT.
    ConnAck(ConnAck),
    /// Either direction: an application message.
    Publish(Publish<'a>),
    /// The acknowledgement of a QoS 1 PUBLISH.
    PubAck(u16),
    /// The first acknowledgement of a QoS 2 PUBLISH ("received").
    PubRec(u16),
    /// The answer to PUBREC ("release").
    PubRel(u16),
    /// The answer to PUBREL, completing a QoS 2 delivery ("complete").
    PubComp(u16),
    /// Client to broker: add subscriptions.
    Subscribe(Subscribe<'a>),
    /// Broker to client: the answer to SUBSCRIBE.
    SubAck(SubAck<'a>),
    /// Client to broker: remove subscriptions.
    Unsubscribe(Unsubscribe<'a>),
    /// Broker to client: the answer to UNSUBSCRIBE.
    UnsubAck(u16),
    /// Client to broker: a keepalive probe.
    PingReq,
    /// Broker to client: the answer to PINGREQ.
    PingResp,
    /// Client to broker: a clean goodbye, which discards the last will.
    Disconnect,
}

/// Why [`decode`] could not produce a packet.
///
/// Apart from [`Incomplete`](DecodeError::Incomplete), every variant means
/// the bytes violate MQTT 3.1.1, and the specification's answer is to close
/// the network connection: after a malformed packet the stream cannot be
/// trusted to be in step any more.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DecodeError {
    /// The buffer holds only the beginning of a packet. `needed` is a lower
    /// bound on how many more bytes must arrive before decoding can make
    /// progress; once the fixed header is complete it is exact. The caller
    /// should receive more and call [`decode`] again with the same bytes at
    /// the front. A caller with a bounded buffer can use [`packet_length`] to
    /// learn early that a packet will never fit.
    Incomplete {
        /// At least this many more bytes are needed.
        needed: usize,
    },
    /// The remaining-length field still has its continuation bit set in the
    /// fourth byte. MQTT 3.1.1 allows at most four bytes (section 2.2.3), so
    /// the stream is not MQTT or is out of step.
    MalformedRemainingLength,
    /// The packet type, the high nibble of the first byte, is 0 or 15, which
    /// MQTT 3.1.1 reserves (section 2.2.1). The value is that nibble.
    UnknownPacketType(u8),
    /// The low nibble of the first byte is not what the packet type requires
    /// (section 2.2.2): PUBREL, SUBSCRIBE and UNSUBSCRIBE need 0b0010, every
    /// type but PUBLISH needs 0, and a QoS 0 PUBLISH must not set DUP
    /// (section 3.3.1.1).
    InvalidFlags,
    /// The remaining length differs from the fixed length this packet type
    /// always has, such as a PUBACK whose remaining length is not 2. This is
    /// checked as soon as the fixed header is in, so a corrupt stream is
    /// noticed without waiting for bytes that could never make sense.
    RemainingLengthMismatch {
        /// The remaining length this packet type always has.
        expected: usize,
        /// The remaining length the fixed header declared.
        declared: usize,
    },
    /// A field runs past the end of the packet as the remaining length
    /// declared it: a length prefix is too large, or a fixed-size field is
    /// missing. Decoding never reads into the next packet to make up for it.
    FieldOverrunsPacket,
    /// Bytes are left inside the packet after its last field. The declared
    /// remaining length and the fields disagree, so either is wrong.
    TrailingBytes,
    /// A string field is not valid UTF-8 (section 1.5.3).
    InvalidUtf8,
    /// A string field contains U+0000, which MQTT strings must not contain
    /// (section 1.5.3).
    NullCharacter,
    /// A QoS value is 3: in the PUBLISH flags, the will QoS of CONNECT or a
    /// requested QoS of SUBSCRIBE. Only 0, 1 and 2 exist.
    InvalidQoS,
    /// A bit the specification reserves is set: bit 0 of the CONNECT flags,
    /// bits 7 to 1 of the CONNACK acknowledge flags, or bits 7 to 2 of a
    /// SUBSCRIBE requested-QoS byte.
    ReservedBitsSet,
    /// A packet identifier is 0, which MQTT 3.1.1 forbids (section 2.3.1):
    /// 0 is what lets an implementation tell "no identifier" apart.
    ZeroPacketIdentifier,
    /// The CONNECT protocol name is neither "MQTT" nor the "MQIsdp" of MQTT
    /// 3.1, so the peer does not speak MQTT at all.
    InvalidProtocolName,
    /// The CONNECT protocol level is not 4. The value is the level the peer
    /// asked for; an MQTT 3.1 client ("MQIsdp", level 3) lands here too. A
    /// broker answers this one with CONNACK return code 1 before closing,
    /// which is why it is told apart from a wrong protocol name.
    UnsupportedProtocolLevel(u8),
    /// The CONNECT flags contradict each other: a will QoS or will retain
    /// without the will flag (section 3.1.2.6), or a password without a
    /// user name (section 3.1.2.9).
    InvalidConnectFlags,
    /// The CONNACK return code is 6 or above, which MQTT 3.1.1 reserves.
    /// The value is the code received.
    InvalidConnectReturnCode(u8),
    /// A CONNACK refuses the connection yet says a session is present,
    /// which section 3.2.2.2 forbids.
    SessionPresentOnRefusedConnection,
    /// A SUBACK return code is not 0x00, 0x01, 0x02 or 0x80. The value is
    /// the code received.
    InvalidSubAckReturnCode(u8),
    /// A SUBSCRIBE or UNSUBSCRIBE carries no topic filter, or a SUBACK no
    /// return code; MQTT 3.1.1 requires at least one.
    EmptyPayload,
    /// The topic name of a PUBLISH or of a last will is not valid, for
    /// example because it contains a wildcard.
    InvalidTopicName(TopicError),
    /// A topic filter of a SUBSCRIBE or UNSUBSCRIBE is not valid, for
    /// example because `#` is not the last level.
    InvalidTopicFilter(TopicError),
}

impl fmt::Display for DecodeError {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeError::Incomplete { needed } => {
                write!(
                    formatter,
                    "incomplete packet: at least {needed} more bytes needed"
                )
            }
            DecodeError::MalformedRemainingLength => {
                formatter.write_str("remaining length field is longer than four bytes")
            }
            DecodeError::UnknownPacketType(packet_type) => {
                write!(formatter, "reserved packet type {packet_type}")
            }
            DecodeError::InvalidFlags => {
                formatter.write_str("invalid fixed-header flags for the packet type")
            }
            DecodeError::RemainingLengthMismatch { expected, declared } => write!(
                formatter,
                "remaining length is {declared} but this packet type always has {expected}"
            ),
            DecodeError::FieldOverrunsPacket => {
                formatter.write_str("a field runs past the end of the packet")
            }
            DecodeError::TrailingBytes => {
                formatter.write_str("unexpected bytes after the last field of the packet")
            }
            DecodeError::InvalidUtf8 => formatter.write_str("string is not valid UTF-8"),
            DecodeError::NullCharacter => {
                formatter.write_str("string contains the null character U+0000")
            }
            DecodeError::InvalidQoS => formatter.write_str("QoS 3 is not a valid QoS level"),
            DecodeError::ReservedBitsSet => formatter.write_str("a reserved bit is set"),
            DecodeError::ZeroPacketIdentifier => formatter.write_str("packet identifier is 0"),
            DecodeError::InvalidProtocolName => {
                formatter.write_str("CONNECT protocol name is not \"MQTT\"")
            }
            DecodeError::UnsupportedProtocolLevel(level) => {
                write!(
                    formatter,
                    "unsupported protocol level {level} (only 4, MQTT 3.1.1, is supported)"
                )
            }
            DecodeError::InvalidConnectFlags => {
                formatter.write_str("CONNECT flags contradict each other")
            }
            DecodeError::InvalidConnectReturnCode(code) => {
                write!(formatter, "reserved CONNACK return code {code}")
            }
            DecodeError::SessionPresentOnRefusedConnection => {
                formatter.write_str("CONNACK refuses the connection but says a session is present")
            }
            DecodeError::InvalidSubAckReturnCode(code) => {
                write!(formatter, "invalid SUBACK return code {code:#04x}")
            }
            DecodeError::EmptyPayload => {
                formatter.write_str("SUBSCRIBE, UNSUBSCRIBE or SUBACK packet has no entries")
            }
            DecodeError::InvalidTopicName(error) => {
                write!(formatter, "invalid topic name: {error}")
            }
            DecodeError::InvalidTopicFilter(error) => {
                write!(formatter, "invalid topic filter: {error}")
            }
        }
    }
}

impl core::error::Error for DecodeError {}

/// Why [`encode`] refused to write a packet.
///
/// Apart from [`BufferTooSmall`](EncodeError::BufferTooSmall), every variant
/// means the packet itself breaks a rule of MQTT 3.1.1; a broker would close
/// the connection on receiving it, so the codec refuses to send it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EncodeError {
    /// The output buffer is shorter than the packet. `needed` is the full
    /// size of the packet, the same as [`encoded_len`], not the shortfall.
    BufferTooSmall {
        /// The size of the whole encoded packet.
        needed: usize,
    },
    /// The variable header and payload together exceed
    /// [`MAX_REMAINING_LENGTH`] (268,435,455 bytes), the most the remaining
    /// length field can express.
    PayloadTooLarge,
    /// A string or binary field (client identifier, user name, password or
    /// will payload) exceeds 65,535 bytes, the most its two-byte length
    /// prefix can express.
    StringTooLong,
    /// A string field contains U+0000, which MQTT strings must not contain
    /// (section 1.5.3).
    NullCharacter,
    /// The topic name of a PUBLISH or of a last will is not valid.
    InvalidTopicName(TopicError),
    /// A topic filter of a SUBSCRIBE or UNSUBSCRIBE is not valid.
    InvalidTopicFilter(TopicError),
    /// A packet identifier is 0, which MQTT 3.1.1 forbids (section 2.3.1).
    ZeroPacketIdentifier,
    /// A PUBLISH has a packet identifier at QoS 0 or lacks one at QoS 1 or
    /// 2; the identifier exists exactly when there is an acknowledgement to
    /// match it with.
    PacketIdentifierMismatch,
    /// A QoS 0 PUBLISH has DUP set, which section 3.3.1.1 forbids: a message
    /// that is never acknowledged is never redelivered.
    DuplicateFlagWithQoS0,
    /// A CONNECT has a password but no user name, which MQTT 3.1.1 cannot
    /// express (section 3.1.2.9).
    PasswordWithoutUsername,
    /// A CONNACK return code is 6 or above, which MQTT 3.1.1 reserves. The
    /// value is the offending code.
    InvalidConnectReturnCode(u8),
    /// A CONNACK refuses the connection yet says a session is present,
    /// which section 3.2.2.2 forbids.
    SessionPresentOnRefusedConnection,
    /// A SUBACK return code is not 0x00, 0x01, 0x02 or 0x80. The value is
    /// the offending code.
    InvalidSubAckReturnCode(u8),
    /// A SUBSCRIBE or UNSUBSCRIBE has no topic filter, or a SUBACK no return
    /// code; MQTT 3.1.1 requires at least one.
    EmptyPayload,
}

impl fmt::Display for EncodeError {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EncodeError::BufferTooSmall { needed } => {
                write!(
                    formatter,
                    "output buffer too small: the packet needs {needed} bytes"
                )
            }
            EncodeError::PayloadTooLarge => {
                write!(
                    formatter,
                    "packet exceeds the maximum remaining length of {MAX_REMAINING_LENGTH} bytes"
                )
            }
            EncodeError::StringTooLong => {
                formatter.write_str("a string or binary field is longer than 65535 bytes")
            }
            EncodeError::NullCharacter => {
                formatter.write_str("string contains the null character U+0000")
            }
            EncodeError::InvalidTopicName(error) => {
                write!(formatter, "invalid topic name: {error}")
            }
            EncodeError::InvalidTopicFilter(error) => {
                write!(formatter, "invalid topic filter: {error}")
            }
            EncodeError::ZeroPacketIdentifier => formatter.write_str("packet identifier is 0"),
            EncodeError::PacketIdentifierMismatch => formatter
                .write_str("PUBLISH needs a packet identifier exactly when its QoS is above 0"),
            EncodeError::DuplicateFlagWithQoS0 => {
                formatter.write_str("a QoS 0 PUBLISH cannot have DUP set")
            }
            EncodeError::PasswordWithoutUsername => {
                formatter.write_str("CONNECT cannot carry a password without a user name")
            }
            EncodeError::InvalidConnectReturnCode(code) => {
                write!(formatter, "reserved CONNACK return code {code}")
            }
            EncodeError::SessionPresentOnRefusedConnection => formatter
                .write_str("CONNACK cannot refuse the connection and say a session is present"),
            EncodeError::InvalidSubAckReturnCode(code) => {
                write!(formatter, "invalid SUBACK return code {code:#04x}")
            }
            EncodeError::EmptyPayload => {
                formatter.write_str("SUBSCRIBE, UNSUBSCRIBE or SUBACK packet has no entries")
            }
        }
    }
}

impl core::error::Error for EncodeError {}

// ---------------------------------------------------------------------------
// Decoding
// ---------------------------------------------------------------------------

/// A bounds-checked cursor over the bytes of one packet. Every read fails
/// with [`DecodeError::FieldOverrunsPacket`] instead of running past the end,
/// which is what keeps decoding panic-free.
#[derive(Debug, Clone)]
struct Reader<'a> {
    bytes: &'a [u8],
}

impl<'a> Reader<'a> {
    const fn new(bytes: &'a [u8]) -> Self {
        Reader { bytes }
    }

    const fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    fn read_u8(&mut self) -> Result<u8, DecodeError> {
        let (&byte, rest) = self
            .bytes
            .split_first()
            .ok_or(DecodeError::FieldOverrunsPacket)?;
        self.bytes = rest;
        Ok(byte)
    }

    fn read_u16(&mut self) -> Result<u16, DecodeError> {
        let bytes = self.read_slice(2)?;
        match *bytes {
            [high, low] => Ok(u16::from_be_bytes([high, low])),
            _ => Err(DecodeError::FieldOverrunsPacket),
        }
    }

    fn read_slice(&mut self, length: usize) -> Result<&'a [u8], DecodeError> {
        let (taken, rest) = self
            .bytes
            .split_at_checked(length)
            .ok_or(DecodeError::FieldOverrunsPacket)?;
        self.bytes = rest;
        Ok(taken)
    }

    /// Reads binary data: a two-byte big-endian length and that many bytes.
    fn read_binary(&mut self) -> Result<&'a [u8], DecodeError> {
        let length = self.read_u16()?;
        self.read_slice(usize::from(length))
    }

    /// Reads a string: binary data that must be UTF-8 without U+0000.
    fn read_str(&mut self) -> Result<&'a str, DecodeError> {
        let bytes = self.read_binary()?;
        let text = core::str::from_utf8(bytes).map_err(|_| DecodeError::InvalidUtf8)?;
        // In valid UTF-8 a zero byte can only be the encoding of U+0000.
        if bytes.contains(&0) {
            return Err(DecodeError::NullCharacter);
        }
        Ok(text)
    }

    fn read_packet_id(&mut self) -> Result<u16, DecodeError> {
        match self.read_u16()? {
            0 => Err(DecodeError::ZeroPacketIdentifier),
            packet_id => Ok(packet_id),
        }
    }

    fn take_rest(&mut self) -> &'a [u8] {
        core::mem::take(&mut self.bytes)
    }

    /// Succeeds only when every byte of the packet has been read.
    const fn finish(&self) -> Result<(), DecodeError> {
        if self.bytes.is_empty() {
            Ok(())
        } else {
            Err(DecodeError::TrailingBytes)
        }
    }
}

/// What the fixed header of a packet says.
#[derive(Debug, Clone, Copy)]
struct FixedHeader {
    /// The first byte: packet type and flags.
    first_byte: u8,
    /// The length of the fixed header itself, 2 to 5 bytes.
    header_length: usize,
    /// The length of the variable header and payload.
    remaining_length: usize,
}

impl FixedHeader {
    const fn packet_type(&self) -> u8 {
        self.first_byte >> 4
    }

    const fn total_length(&self) -> usize {
        self.header_length + self.remaining_length
    }
}

/// Checks the first byte of a packet: a known type with the flags that type
/// requires.
fn check_first_byte(first_byte: u8) -> Result<(), DecodeError> {
    let flags = first_byte & 0x0F;
    match first_byte >> 4 {
        packet_type::PUBLISH => {
            let qos = QoS::try_from((flags >> 1) & 0b11)?;
            let dup = flags & 0b1000 != 0;
            if dup && qos == QoS::AtMostOnce {
                return Err(DecodeError::InvalidFlags);
            }
            Ok(())
        }
        packet_type::PUBREL | packet_type::SUBSCRIBE | packet_type::UNSUBSCRIBE => {
            if flags == FLAGS_0010 {
                Ok(())
            } else {
                Err(DecodeError::InvalidFlags)
            }
        }
        packet_type::CONNECT..=packet_type::DISCONNECT => {
            if flags == 0 {
                Ok(())
            } else {
                Err(DecodeError::InvalidFlags)
            }
        }
        reserved => Err(DecodeError::UnknownPacketType(reserved)),
    }
}

/// The remaining length that packets of this type always have, if the type
/// has a fixed size.
const fn fixed_remaining_length(packet_type: u8) -> Option<usize> {
    match packet_type {
        packet_type::CONNACK
        | packet_type::PUBACK
        | packet_type::PUBREC
        | packet_type::PUBREL
        | packet_type::PUBCOMP
        | packet_type::UNSUBACK => Some(2),
        packet_type::PINGREQ | packet_type::PINGRESP | packet_type::DISCONNECT => Some(0),
        _ => None,
    }
}

/// Parses and checks the fixed header at the front of `buffer`, which need
/// not hold the rest of the packet yet.
fn parse_fixed_header(buffer: &[u8]) -> Result<FixedHeader, DecodeError> {
    let Some((&first_byte, length_bytes)) = buffer.split_first() else {
        // Even the smallest packet is two bytes long.
        return Err(DecodeError::Incomplete { needed: 2 });
    };
    check_first_byte(first_byte)?;

    let mut remaining_length = 0usize;
    let mut field_length = None;
    for (index, &byte) in length_bytes.iter().take(4).enumerate() {
        remaining_length |= usize::from(byte & 0x7F) << (7 * index);
        if byte & 0x80 == 0 {
            field_length = Some(index + 1);
            break;
        }
    }
    let Some(field_length) = field_length else {
        if length_bytes.len() >= 4 {
            return Err(DecodeError::MalformedRemainingLength);
        }
        // The field continues beyond the bytes we have.
        return Err(DecodeError::Incomplete { needed: 1 });
    };

    let header = FixedHeader {
        first_byte,
        header_length: 1 + field_length,
        remaining_length,
    };
    if let Some(expected) = fixed_remaining_length(header.packet_type())
        && remaining_length != expected
    {
        return Err(DecodeError::RemainingLengthMismatch {
            expected,
            declared: remaining_length,
        });
    }
    Ok(header)
}

/// The total size in bytes of the packet at the front of `buffer`, as its
/// fixed header declares it, or `None` when the fixed header has not fully
/// arrived yet or is malformed.
///
/// A receiver with a bounded buffer calls this when [`decode`] reports
/// [`DecodeError::Incomplete`], to learn whether the packet can ever fit,
/// and skip it as it streams in if it cannot.
pub fn packet_length(buffer: &[u8]) -> Option<usize> {
    parse_fixed_header(buffer)
        .ok()
        .map(|header| header.total_length())
}

/// The QoS and packet id of a PUBLISH at the front of `buffer`, read from
/// its first bytes only: the fixed header, the topic length, the topic and
/// the packet id. `None` if `buffer` does not start a PUBLISH or is too
/// short to say.
///
/// A receiver that must skip a PUBLISH too large for its buffer still owes
/// the broker its PUBACK or PUBREC, in order (MQTT 3.1.1 §4.6); this is how
/// it learns what to acknowledge.
pub fn peek_publish(buffer: &[u8]) -> Option<(QoS, Option<u16>)> {
    let header = parse_fixed_header(buffer).ok()?;
    if header.packet_type() != 3 {
        return None;
    }
    let qos = QoS::try_from((header.first_byte >> 1) & 0b11).ok()?;
    if qos == QoS::AtMostOnce {
        return Some((qos, None));
    }
    let variable = buffer.get(header.header_length..)?;
    let topic_length = usize::from(u16::from_be_bytes([*variable.first()?, *variable.get(1)?]));
    let id_at = 2 + topic_length;
    let packet_id = u16::from_be_bytes([*variable.get(id_at)?, *variable.get(id_at + 1)?]);
    Some((qos, Some(packet_id)))
}

/// Decodes the one packet at the front of `buffer`.
///
/// On success it returns the packet, borrowing from `buffer`, and the number
/// of bytes it occupied; bytes after it are left alone, so a caller with
/// several packets in its buffer loops, advancing by that number each time.
/// If the buffer holds only part of a packet the answer is
/// [`DecodeError::Incomplete`]; any other error means the bytes are not
/// valid MQTT 3.1.1 and the connection should be closed.
///
/// Non-minimal encodings of the remaining length (such as `0x80 0x00` for 0)
/// are accepted, as the specification does not forbid them.
pub fn decode(buffer: &[u8]) -> Result<(Packet<'_>, usize), DecodeError> {
    let header = parse_fixed_header(buffer)?;
    let total_length = header.total_length();
    let Some(body) = buffer.get(header.header_length..total_length) else {
        return Err(DecodeError::Incomplete {
            needed: total_length.saturating_sub(buffer.len()),
        });
    };
    let mut reader = Reader::new(body);
    let packet = decode_body(header.first_byte, &mut reader)?;
    reader.finish()?;
    Ok((packet, total_length))
}

/// Decodes the variable header and payload of a packet whose first byte has
/// already been checked.
fn decode_body<'a>(first_byte: u8, reader: &mut Reader<'a>) -> Result<Packet<'a>, DecodeError> {
    let packet = match first_byte >> 4 {
        packet_type::CONNECT => Packet::Connect(decode_connect(reader)?),
        packet_type::CONNACK => {
            let acknowledge_flags = reader.read_u8()?;
            if acknowledge_flags & 0xFE != 0 {
                return Err(DecodeError::ReservedBitsSet);
            }
            let session_present = acknowledge_flags & 0x01 != 0;
            let return_code = ConnectReturnCode::try_from(reader.read_u8()?)?;
            if session_present && return_code != ConnectReturnCode::Accepted {
                return Err(DecodeError::SessionPresentOnRefusedConnection);
            }
            Packet::ConnAck(ConnAck {
                session_present,
                return_code: return_code.as_u8(),
            })
        }
        packet_type::PUBLISH => {
            let qos = QoS::try_from((first_byte >> 1) & 0b11)?;
            let topic = reader.read_str()?;
            topic::validate_topic_name(topic).map_err(DecodeError::InvalidTopicName)?;
            let packet_id = match qos {
                QoS::AtMostOnce => None,
                QoS::AtLeastOnce | QoS::ExactlyOnce => Some(reader.read_packet_id()?),
            };
            Packet::Publish(Publish {
                dup: first_byte & 0b1000 != 0,
                qos,
                retain: first_byte & 0b0001 != 0,
                topic,
                packet_id,
                payload: reader.take_rest(),
            })
        }
        packet_type::PUBACK => Packet::PubAck(reader.read_packet_id()?),
        packet_type::PUBREC => Packet::PubRec(reader.read_packet_id()?),
        packet_type::PUBREL => Packet::PubRel(reader.read_packet_id()?),
        packet_type::PUBCOMP => Packet::PubComp(reader.read_packet_id()?),
        packet_type::SUBSCRIBE => {
            let packet_id = reader.read_packet_id()?;
            let bytes = reader.take_rest();
            let mut entries = Reader::new(bytes);
            let mut count = 0usize;
            while !entries.is_empty() {
                read_subscribe_entry(&mut entries)?;
                count += 1;
            }
            if count == 0 {
                return Err(DecodeError::EmptyPayload);
            }
            Packet::Subscribe(Subscribe {
                packet_id,
                filters: SubscribeFilters::Encoded(EncodedSubscribeFilters { bytes, count }),
            })
        }
        packet_type::SUBACK => {
            let packet_id = reader.read_packet_id()?;
            let return_codes = reader.take_rest();
            if return_codes.is_empty() {
                return Err(DecodeError::EmptyPayload);
            }
            if let Some(&code) = return_codes
                .iter()
                .find(|&&code| !is_valid_suback_code(code))
            {
                return Err(DecodeError::InvalidSubAckReturnCode(code));
            }
            Packet::SubAck(SubAck {
                packet_id,
                return_codes,
            })
        }
        packet_type::UNSUBSCRIBE => {
            let packet_id = reader.read_packet_id()?;
            let bytes = reader.take_rest();
            let mut entries = Reader::new(bytes);
            let mut count = 0usize;
            while !entries.is_empty() {
                let filter = entries.read_str()?;
                topic::validate_filter(filter).map_err(DecodeError::InvalidTopicFilter)?;
                count += 1;
            }
            if count == 0 {
                return Err(DecodeError::EmptyPayload);
            }
            Packet::Unsubscribe(Unsubscribe {
                packet_id,
                filters: UnsubscribeFilters::Encoded(EncodedUnsubscribeFilters { bytes, count }),
            })
        }
        packet_type::UNSUBACK => Packet::UnsubAck(reader.read_packet_id()?),
        packet_type::PINGREQ => Packet::PingReq,
        packet_type::PINGRESP => Packet::PingResp,
        packet_type::DISCONNECT => Packet::Disconnect,
        // `check_first_byte` has already rejected the reserved types; this
        // arm only keeps the match total without a panic.
        reserved => return Err(DecodeError::UnknownPacketType(reserved)),
    };
    Ok(packet)
}

/// Reads and validates one `(filter, requested QoS)` entry of a SUBSCRIBE
/// payload.
fn read_subscribe_entry<'a>(reader: &mut Reader<'a>) -> Result<(&'a str, QoS), DecodeError> {
    let filter = reader.read_str()?;
    topic::validate_filter(filter).map_err(DecodeError::InvalidTopicFilter)?;
    let requested = reader.read_u8()?;
    if requested & 0b1111_1100 != 0 {
        return Err(DecodeError::ReservedBitsSet);
    }
    Ok((filter, QoS::try_from(requested)?))
}

/// Decodes the variable header and payload of a CONNECT packet.
fn decode_connect<'a>(reader: &mut Reader<'a>) -> Result<Connect<'a>, DecodeError> {
    let protocol_name = reader.read_binary()?;
    let is_mqtt_3_1 = protocol_name == MQTT_3_1_PROTOCOL_NAME;
    if protocol_name != PROTOCOL_NAME.as_bytes() && !is_mqtt_3_1 {
        return Err(DecodeError::InvalidProtocolName);
    }
    let protocol_level = reader.read_u8()?;
    if is_mqtt_3_1 || protocol_level != PROTOCOL_LEVEL {
        return Err(DecodeError::UnsupportedProtocolLevel(protocol_level));
    }

    let flags = reader.read_u8()?;
    if flags & connect_flag::RESERVED != 0 {
        return Err(DecodeError::ReservedBitsSet);
    }
    let has_will = flags & connect_flag::WILL != 0;
    let will_qos_bits = (flags & connect_flag::WILL_QOS_MASK) >> connect_flag::WILL_QOS_SHIFT;
    let will_retain = flags & connect_flag::WILL_RETAIN != 0;
    let has_username = flags & connect_flag::USERNAME != 0;
    let has_password = flags & connect_flag::PASSWORD != 0;
    if !has_will && (will_qos_bits != 0 || will_retain) {
        return Err(DecodeError::InvalidConnectFlags);
    }
    if has_password && !has_username {
        return Err(DecodeError::InvalidConnectFlags);
    }
    let will_qos = QoS::try_from(will_qos_bits)?;

    let keep_alive_seconds = reader.read_u16()?;
    let client_id = reader.read_str()?;
    let will = if has_will {
        let topic = reader.read_str()?;
        topic::validate_topic_name(topic).map_err(DecodeError::InvalidTopicName)?;
        let payload = reader.read_binary()?;
        Some(LastWill {
            topic,
            payload,
            qos: will_qos,
            retain: will_retain,
        })
    } else {
        None
    };
    let username = if has_username {
        Some(reader.read_str()?)
    } else {
        None
    };
    let password = if has_password {
        Some(reader.read_binary()?)
    } else {
        None
    };

    Ok(Connect {
        client_id,
        keep_alive_seconds,
        clean_session: flags & connect_flag::CLEAN_SESSION != 0,
        will,
        username,
        password,
    })
}

const fn is_valid_suback_code(code: u8) -> bool {
    matches!(code, 0x00 | 0x01 | 0x02 | SUBACK_FAILURE)
}

// ---------------------------------------------------------------------------
// Encoding
// ---------------------------------------------------------------------------

/// A bounds-checked cursor over the output buffer. `encode` sizes the
/// buffer exactly beforehand, so the checks never fail in practice; they
/// exist so that a mistake in that sizing is an error, not a panic.
#[derive(Debug)]
struct Writer<'a> {
    out: &'a mut [u8],
    position: usize,
}

impl Writer<'_> {
    fn write_bytes(&mut self, bytes: &[u8]) -> Result<(), EncodeError> {
        let end = self.position.saturating_add(bytes.len());
        let destination = self
            .out
            .get_mut(self.position..end)
            .ok_or(EncodeError::BufferTooSmall { needed: end })?;
        destination.copy_from_slice(bytes);
        self.position = end;
        Ok(())
    }

    fn write_u8(&mut self, byte: u8) -> Result<(), EncodeError> {
        self.write_bytes(&[byte])
    }

    fn write_u16(&mut self, value: u16) -> Result<(), EncodeError> {
        self.write_bytes(&value.to_be_bytes())
    }

    /// Writes binary data with its two-byte length prefix.
    fn write_binary(&mut self, bytes: &[u8]) -> Result<(), EncodeError> {
        let length = u16::try_from(bytes.len()).map_err(|_| EncodeError::StringTooLong)?;
        self.write_u16(length)?;
        self.write_bytes(bytes)
    }

    fn write_str(&mut self, text: &str) -> Result<(), EncodeError> {
        self.write_binary(text.as_bytes())
    }

    /// Writes the remaining length as the variable-length integer of section
    /// 2.2.3: seven bits per byte, least significant first, the high bit
    /// saying that another byte follows.
    fn write_remaining_length(&mut self, mut value: usize) -> Result<(), EncodeError> {
        loop {
            let mut byte = (value & 0x7F) as u8;
            value >>= 7;
            if value > 0 {
                byte |= 0x80;
            }
            self.write_u8(byte)?;
            if value == 0 {
                return Ok(());
            }
        }
    }
}

/// The number of bytes the remaining-length field takes for `value`.
const fn remaining_length_field_len(value: usize) -> usize {
    match value {
        0..=127 => 1,
        128..=16_383 => 2,
        16_384..=2_097_151 => 3,
        _ => 4,
    }
}

/// The size of a length-prefixed string or binary field.
const fn field_len(length: usize) -> usize {
    length.saturating_add(2)
}

/// The remaining length of `packet`: its variable header and payload.
fn remaining_length(packet: &Packet<'_>) -> usize {
    match packet {
        Packet::Connect(connect) => {
            // Protocol name, level, flags and keepalive.
            let mut length = field_len(PROTOCOL_NAME.len()) + 1 + 1 + 2;
            length = length.saturating_add(field_len(connect.client_id.len()));
            if let Some(will) = &connect.will {
                length = length
                    .saturating_add(field_len(will.topic.len()))
                    .saturating_add(field_len(will.payload.len()));
            }
            if let Some(username) = connect.username {
                length = length.saturating_add(field_len(username.len()));
            }
            if let Some(password) = connect.password {
                length = length.saturating_add(field_len(password.len()));
            }
            length
        }
        Packet::ConnAck(_)
        | Packet::PubAck(_)
        | Packet::PubRec(_)
        | Packet::PubRel(_)
        | Packet::PubComp(_)
        | Packet::UnsubAck(_) => 2,
        Packet::Publish(publish) => {
            let packet_id_length = if publish.packet_id.is_some() { 2 } else { 0 };
            field_len(publish.topic.len())
                .saturating_add(packet_id_length)
                .saturating_add(publish.payload.len())
        }
        Packet::Subscribe(subscribe) => subscribe.filters.encoded_len().saturating_add(2),
        Packet::SubAck(ack) => ack.return_codes.len().saturating_add(2),
        Packet::Unsubscribe(unsubscribe) => unsubscribe.filters.encoded_len().saturating_add(2),
        Packet::PingReq | Packet::PingResp | Packet::Disconnect => 0,
    }
}

/// The exact number of bytes [`encode`] writes for `packet`.
///
/// Use it to reserve room in a transmit buffer before encoding. For a packet
/// that [`encode`] refuses, the number is what the packet would take, which
/// for one beyond [`MAX_REMAINING_LENGTH`] is not a size MQTT can express.
pub fn encoded_len(packet: &Packet<'_>) -> usize {
    let remaining = remaining_length(packet);
    remaining
        .saturating_add(1)
        .saturating_add(remaining_length_field_len(remaining))
}

/// The first byte of `packet`: its type in the high nibble, its flags in
/// the low one.
fn first_byte(packet: &Packet<'_>) -> u8 {
    let (packet_type, flags) = match packet {
        Packet::Connect(_) => (packet_type::CONNECT, 0),
        Packet::ConnAck(_) => (packet_type::CONNACK, 0),
        Packet::Publish(publish) => {
            let flags = (u8::from(publish.dup) << 3)
                | (publish.qos.as_u8() << 1)
                | u8::from(publish.retain);
            (packet_type::PUBLISH, flags)
        }
        Packet::PubAck(_) => (packet_type::PUBACK, 0),
        Packet::PubRec(_) => (packet_type::PUBREC, 0),
        Packet::PubRel(_) => (packet_type::PUBREL, FLAGS_0010),
        Packet::PubComp(_) => (packet_type::PUBCOMP, 0),
        Packet::Subscribe(_) => (packet_type::SUBSCRIBE, FLAGS_0010),
        Packet::SubAck(_) => (packet_type::SUBACK, 0),
        Packet::Unsubscribe(_) => (packet_type::UNSUBSCRIBE, FLAGS_0010),
        Packet::UnsubAck(_) => (packet_type::UNSUBACK, 0),
        Packet::PingReq => (packet_type::PINGREQ, 0),
        Packet::PingResp => (packet_type::PINGRESP, 0),
        Packet::Disconnect => (packet_type::DISCONNECT, 0),
    };
    (packet_type << 4) | flags
}

/// Checks a string field: length and no U+0000.
fn check_string(text: &str) -> Result<(), EncodeError> {
    check_binary(text.as_bytes())?;
    if text.as_bytes().contains(&0) {
        return Err(EncodeError::NullCharacter);
    }
    Ok(())
}

/// Checks a binary field: its length must fit the two-byte prefix.
const fn check_binary(bytes: &[u8]) -> Result<(), EncodeError> {
    if bytes.len() > MAX_FIELD_LENGTH {
        return Err(EncodeError::StringTooLong);
    }
    Ok(())
}

const fn check_packet_id(packet_id: u16) -> Result<(), EncodeError> {
    if packet_id == 0 {
        return Err(EncodeError::ZeroPacketIdentifier);
    }
    Ok(())
}

/// Checks every rule of MQTT 3.1.1 that `packet` could break, so that
/// [`encode`] never writes a packet that [`decode`] would reject.
fn validate_for_encoding(packet: &Packet<'_>) -> Result<(), EncodeError> {
    match packet {
        Packet::Connect(connect) => {
            check_string(connect.client_id)?;
            if let Some(will) = &connect.will {
                topic::validate_topic_name(will.topic).map_err(EncodeError::InvalidTopicName)?;
                check_binary(will.payload)?;
            }
            if let Some(username) = connect.username {
                check_string(username)?;
            }
            if let Some(password) = connect.password {
                check_binary(password)?;
                if connect.username.is_none() {
                    return Err(EncodeError::PasswordWithoutUsername);
                }
            }
        }
        Packet::ConnAck(ack) => {
            if ConnectReturnCode::try_from(ack.return_code).is_err() {
                return Err(EncodeError::InvalidConnectReturnCode(ack.return_code));
            }
            if ack.session_present && ack.return_code != 0 {
                return Err(EncodeError::SessionPresentOnRefusedConnection);
            }
        }
        Packet::Publish(publish) => {
            topic::validate_topic_name(publish.topic).map_err(EncodeError::InvalidTopicName)?;
            match (publish.qos, publish.packet_id) {
                (QoS::AtMostOnce, None) => {
                    if publish.dup {
                        return Err(EncodeError::DuplicateFlagWithQoS0);
                    }
                }
                (QoS::AtMostOnce, Some(_)) | (QoS::AtLeastOnce | QoS::ExactlyOnce, None) => {
                    return Err(EncodeError::PacketIdentifierMismatch);
                }
                (QoS::AtLeastOnce | QoS::ExactlyOnce, Some(packet_id)) => {
                    check_packet_id(packet_id)?
                }
            }
        }
        Packet::PubAck(packet_id)
        | Packet::PubRec(packet_id)
        | Packet::PubRel(packet_id)
        | Packet::PubComp(packet_id)
        | Packet::UnsubAck(packet_id) => check_packet_id(*packet_id)?,
        Packet::Subscribe(subscribe) => {
            check_packet_id(subscribe.packet_id)?;
            match subscribe.filters {
                SubscribeFilters::List(list) => {
                    if list.is_empty() {
                        return Err(EncodeError::EmptyPayload);
                    }
                    for (filter, _) in list {
                        topic::validate_filter(filter).map_err(EncodeError::InvalidTopicFilter)?;
                    }
                }
                // Validated when it was decoded, and immutable since.
                SubscribeFilters::Encoded(encoded) => {
                    if encoded.is_empty() {
                        return Err(EncodeError::EmptyPayload);
                    }
                }
            }
        }
        Packet::SubAck(ack) => {
            check_packet_id(ack.packet_id)?;
            if ack.return_codes.is_empty() {
                return Err(EncodeError::EmptyPayload);
            }
            if let Some(&code) = ack
                .return_codes
                .iter()
                .find(|&&code| !is_valid_suback_code(code))
            {
                return Err(EncodeError::InvalidSubAckReturnCode(code));
            }
        }
        Packet::Unsubscribe(unsubscribe) => {
            check_packet_id(unsubscribe.packet_id)?;
            match unsubscribe.filters {
                UnsubscribeFilters::List(list) => {
                    if list.is_empty() {
                        return Err(EncodeError::EmptyPayload);
                    }
                    for filter in list {
                        topic::validate_filter(filter).map_err(EncodeError::InvalidTopicFilter)?;
                    }
                }
                UnsubscribeFilters::Encoded(encoded) => {
                    if encoded.is_empty() {
                        return Err(EncodeError::EmptyPayload);
                    }
                }
            }
        }
        Packet::PingReq | Packet::PingResp | Packet::Disconnect => {}
    }
    Ok(())
}

/// Encodes `packet` at the front of `out` and returns the number of bytes
/// written, which is always [`encoded_len`].
///
/// The checks run in this order: the size against
/// [`MAX_REMAINING_LENGTH`], then the rules of MQTT 3.1.1, then the room in
/// `out`. Nothing is written unless all pass, and the packet is complete
/// when they do: there is no partial output to clean up.
pub fn encode(packet: &Packet<'_>, out: &mut [u8]) -> Result<usize, EncodeError> {
    let remaining = remaining_length(packet);
    if remaining > MAX_REMAINING_LENGTH {
        return Err(EncodeError::PayloadTooLarge);
    }
    validate_for_encoding(packet)?;
    let total_length = encoded_len(packet);
    let Some(out) = out.get_mut(..total_length) else {
        return Err(EncodeError::BufferTooSmall {
            needed: total_length,
        });
    };

    let mut writer = Writer { out, position: 0 };
    writer.write_u8(first_byte(packet))?;
    writer.write_remaining_length(remaining)?;
    write_body(packet, &mut writer)?;
    debug_assert_eq!(
        writer.position, total_length,
        "encoded_len disagrees with encode"
    );
    Ok(writer.position)
}

/// Writes the variable header and payload of a packet already validated.
fn write_body(packet: &Packet<'_>, writer: &mut Writer<'_>) -> Result<(), EncodeError> {
    match packet {
        Packet::Connect(connect) => {
            writer.write_str(PROTOCOL_NAME)?;
            writer.write_u8(PROTOCOL_LEVEL)?;
            let mut flags = 0;
            if connect.clean_session {
                flags |= connect_flag::CLEAN_SESSION;
            }
            if let Some(will) = &connect.will {
                flags |= connect_flag::WILL | (will.qos.as_u8() << connect_flag::WILL_QOS_SHIFT);
                if will.retain {
                    flags |= connect_flag::WILL_RETAIN;
                }
            }
            if connect.username.is_some() {
                flags |= connect_flag::USERNAME;
            }
            if connect.password.is_some() {
                flags |= connect_flag::PASSWORD;
            }
            writer.write_u8(flags)?;
            writer.write_u16(connect.keep_alive_seconds)?;
            writer.write_str(connect.client_id)?;
            if let Some(will) = &connect.will {
                writer.write_str(will.topic)?;
                writer.write_binary(will.payload)?;
            }
            if let Some(username) = connect.username {
                writer.write_str(username)?;
            }
            if let Some(password) = connect.password {
                writer.write_binary(password)?;
            }
        }
        Packet::ConnAck(ack) => {
            writer.write_u8(u8::from(ack.session_present))?;
            writer.write_u8(ack.return_code)?;
        }
        Packet::Publish(publish) => {
            writer.write_str(publish.topic)?;
            if let Some(packet_id) = publish.packet_id {
                writer.write_u16(packet_id)?;
            }
            writer.write_bytes(publish.payload)?;
        }
        Packet::PubAck(packet_id)
        | Packet::PubRec(packet_id)
        | Packet::PubRel(packet_id)
        | Packet::PubComp(packet_id)
        | Packet::UnsubAck(packet_id) => writer.write_u16(*packet_id)?,
        Packet::Subscribe(subscribe) => {
            writer.write_u16(subscribe.packet_id)?;
            match subscribe.filters {
                SubscribeFilters::List(list) => {
                    for &(filter, qos) in list {
                        writer.write_str(filter)?;
                        writer.write_u8(qos.as_u8())?;
                    }
                }
                SubscribeFilters::Encoded(encoded) => writer.write_bytes(encoded.bytes)?,
            }
        }
        Packet::SubAck(ack) => {
            writer.write_u16(ack.packet_id)?;
            writer.write_bytes(ack.return_codes)?;
        }
        Packet::Unsubscribe(unsubscribe) => {
            writer.write_u16(unsubscribe.packet_id)?;
            match unsubscribe.filters {
                UnsubscribeFilters::List(list) => {
                    for filter in list {
                        writer.write_str(filter)?;
                    }
                }
                UnsubscribeFilters::Encoded(encoded) => writer.write_bytes(encoded.bytes)?,
            }
        }
        Packet::PingReq | Packet::PingResp | Packet::Disconnect => {}
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    extern crate std;

    use std::vec;
    use std::vec::Vec;

    use super::*;

    static TWO_FILTERS: [(&str, QoS); 2] = [("a/b", QoS::AtLeastOnce), ("c/d", QoS::ExactlyOnce)];
    static THREE_FILTERS: [(&str, QoS); 3] = [
        ("sensors/+/temperature", QoS::AtMostOnce),
        ("#", QoS::AtLeastOnce),
        ("$SYS/#", QoS::ExactlyOnce),
    ];
    static UNSUBSCRIBE_FILTERS: [&str; 2] = ["a/b", "c/d"];
    static LONG_PAYLOAD: [u8; 300] = [0xA5; 300];
    static LONGER_PAYLOAD: [u8; 20_000] = [0x5A; 20_000];

    /// One or more examples of every packet type, covering every optional
    /// field and every remaining-length field size up to three bytes.
    fn sample_packets() -> Vec<Packet<'static>> {
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

    fn encode_to_vec(packet: &Packet<'_>) -> Vec<u8> {
        let mut buffer = vec![0u8; encoded_len(packet)];
        let written = encode(packet, &mut buffer).expect("sample packets encode");
        assert_eq!(written, buffer.len());
        buffer
    }

    fn decode_all(bytes: &[u8]) -> Packet<'_> {
        let (packet, consumed) = decode(bytes).expect("valid bytes decode");
        assert_eq!(consumed, bytes.len());
        packet
    }

    /// Builds a CONNECT packet from raw parts, so that tests can break any
    /// one of them. The body must stay below 128 bytes.
    fn raw_connect(protocol_name: &[u8], level: u8, flags: u8, payload: &[u8]) -> Vec<u8> {
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

    #[test]
    fn qos_converts_to_and_from_u8() {
        for qos in [QoS::AtMostOnce, QoS::AtLeastOnce, QoS::ExactlyOnce] {
            assert_eq!(QoS::try_from(qos.as_u8()), Ok(qos));
            assert_eq!(u8::from(qos), qos.as_u8());
        }
        assert_eq!(QoS::try_from(3), Err(DecodeError::InvalidQoS));
        assert_eq!(QoS::try_from(255), Err(DecodeError::InvalidQoS));
    }

    #[test]
    fn connect_return_codes_convert() {
        for code in 0..=5u8 {
            let named = ConnectReturnCode::try_from(code).unwrap();
            assert_eq!(named.as_u8(), code);
            assert!(!std::format!("{named}").is_empty());
        }
        assert_eq!(
            ConnectReturnCode::try_from(6),
            Err(DecodeError::InvalidConnectReturnCode(6))
        );
        let refused = ConnAck {
            session_present: false,
            return_code: 4,
        };
        assert!(!refused.is_accepted());
        assert_eq!(
            refused.code(),
            Some(ConnectReturnCode::BadUsernameOrPassword)
        );
        assert_eq!(
            ConnAck {
                session_present: false,
                return_code: 9
            }
            .code(),
            None
        );
    }

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
    fn remaining_length_field_sizes_are_exact() {
        for (remaining, field) in [
            (0, 1),
            (127, 1),
            (128, 2),
            (16_383, 2),
            (16_384, 3),
            (2_097_151, 3),
            (2_097_152, 4),
            (MAX_REMAINING_LENGTH, 4),
        ] {
            assert_eq!(remaining_length_field_len(remaining), field, "{remaining}");
            let mut buffer = [0u8; 5];
            buffer[0] = 0x30;
            let mut writer = Writer {
                out: &mut buffer[1..],
                position: 0,
            };
            writer.write_remaining_length(remaining).unwrap();
            assert_eq!(writer.position, field);
            let header = parse_fixed_header(&buffer[..=field]).unwrap();
            assert_eq!(header.remaining_length, remaining);
            assert_eq!(header.header_length, 1 + field);
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
            0x82, 0x0E, 0x00, 0x0A, 0x00, 0x03, b'a', b'/', b'b', 0x01, 0x00, 0x03, b'c', b'/',
            b'd', 0x02,
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
                    0xA2, 0x0C, 0x00, 0x0A, 0x00, 0x03, b'a', b'/', b'b', 0x00, 0x03, b'c', b'/',
                    b'd',
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

    #[test]
    fn decoded_unsubscribe_filters_iterate() {
        let bytes = [
            0xA2, 0x0C, 0x00, 0x0A, 0x00, 0x03, b'a', b'/', b'b', 0x00, 0x03, b'c', b'/', b'#',
        ];
        let Packet::Unsubscribe(unsubscribe) = decode_all(&bytes) else {
            panic!("not an UNSUBSCRIBE");
        };
        assert_eq!(unsubscribe.filters.len(), 2);
        assert!(!unsubscribe.filters.is_empty());
        assert_eq!(
            unsubscribe.filters.into_iter().collect::<Vec<_>>(),
            ["a/b", "c/#"]
        );
        if let UnsubscribeFilters::Encoded(encoded) = unsubscribe.filters {
            assert_eq!(encoded.as_bytes(), &bytes[4..]);
            assert_eq!(encoded.len(), 2);
            assert!(!encoded.is_empty());
            assert_eq!(std::format!("{encoded:?}"), r#"["a/b", "c/#"]"#);
        }
    }

    #[test]
    fn suback_results_name_granted_levels() {
        let ack = SubAck {
            packet_id: 1,
            return_codes: &[0x00, 0x80, 0x02],
        };
        assert_eq!(
            ack.results().collect::<Vec<_>>(),
            [Some(QoS::AtMostOnce), None, Some(QoS::ExactlyOnce)]
        );
    }

    #[test]
    fn every_prefix_is_incomplete() {
        for packet in sample_packets() {
            let bytes = encode_to_vec(&packet);
            for length in 0..bytes.len() {
                match decode(&bytes[..length]) {
                    Err(DecodeError::Incomplete { needed }) => {
                        assert!(needed >= 1, "{packet:?} at {length}");
                        assert!(
                            length + needed <= bytes.len(),
                            "{packet:?} at {length}: {needed}"
                        );
                    }
                    other => panic!("{packet:?} prefix of {length} bytes gave {other:?}"),
                }
            }
        }
    }

    #[test]
    fn incomplete_is_exact_once_the_fixed_header_is_in() {
        let bytes = [
            0x32, 0x09, 0x00, 0x03, b'a', b'/', b'b', 0x00, 0x0A, b'h', b'i',
        ];
        for length in 2..bytes.len() {
            assert_eq!(
                decode(&bytes[..length]),
                Err(DecodeError::Incomplete {
                    needed: bytes.len() - length
                })
            );
        }
        assert_eq!(decode(&[]), Err(DecodeError::Incomplete { needed: 2 }));
        assert_eq!(
            decode(&[0x30, 0xFF, 0xFF, 0xFF, 0x7F]),
            Err(DecodeError::Incomplete {
                needed: MAX_REMAINING_LENGTH
            })
        );
        assert_eq!(
            packet_length(&[0x30, 0xFF, 0xFF, 0xFF, 0x7F]),
            Some(5 + MAX_REMAINING_LENGTH)
        );
        assert_eq!(packet_length(&[0x30, 0xFF]), None);
        assert_eq!(packet_length(&[0x00, 0x00]), None);
    }

    #[test]
    fn decode_consumes_only_the_first_packet() {
        let mut stream = Vec::new();
        let samples = sample_packets();
        for packet in &samples {
            stream.extend_from_slice(&encode_to_vec(packet));
        }
        let mut position = 0;
        for expected in &samples {
            let (packet, consumed) = decode(&stream[position..]).unwrap();
            assert_eq!(&packet, expected);
            position += consumed;
        }
        assert_eq!(position, stream.len());
    }

    #[test]
    fn non_minimal_remaining_length_is_accepted() {
        assert_eq!(decode(&[0xC0, 0x80, 0x00]), Ok((Packet::PingReq, 3)));
        assert_eq!(
            decode(&[0x40, 0x82, 0x80, 0x00, 0x00, 0x07]),
            Ok((Packet::PubAck(7), 6))
        );
    }

    #[test]
    fn encode_refuses_every_short_buffer() {
        for packet in sample_packets() {
            let needed = encoded_len(&packet);
            let mut buffer = vec![0u8; needed];
            for length in 0..needed {
                assert_eq!(
                    encode(&packet, &mut buffer[..length]),
                    Err(EncodeError::BufferTooSmall { needed }),
                    "{packet:?}"
                );
            }
            // A larger buffer is fine, and only the packet's bytes are used.
            let mut larger = vec![0xEEu8; needed + 3];
            assert_eq!(encode(&packet, &mut larger), Ok(needed));
            assert_eq!(&larger[needed..], &[0xEE; 3]);
        }
    }

    #[test]
    fn decode_errors_are_reported() {
        use DecodeError as E;
        let cases: Vec<(Vec<u8>, DecodeError)> = vec![
            // Fixed header.
            (
                vec![0x30, 0xFF, 0xFF, 0xFF, 0xFF],
                E::MalformedRemainingLength,
            ),
            (
                vec![0xC0, 0x80, 0x80, 0x80, 0x80, 0x00],
                E::MalformedRemainingLength,
            ),
            (vec![0x00, 0x00], E::UnknownPacketType(0)),
            (vec![0xF0, 0x00], E::UnknownPacketType(15)),
            (vec![0xC1, 0x00], E::InvalidFlags),
            (vec![0x60, 0x02, 0x00, 0x01], E::InvalidFlags),
            (
                vec![0x80, 0x06, 0x00, 0x01, 0x00, 0x01, b'a', 0x00],
                E::InvalidFlags,
            ),
            (
                vec![0xA0, 0x05, 0x00, 0x01, 0x00, 0x01, b'a'],
                E::InvalidFlags,
            ),
            (vec![0x38, 0x03, 0x00, 0x01, b'a'], E::InvalidFlags),
            (
                vec![0x36, 0x05, 0x00, 0x01, b'a', 0x00, 0x01],
                E::InvalidQoS,
            ),
            (
                vec![0x40, 0x03, 0x00, 0x01, 0x00],
                E::RemainingLengthMismatch {
                    expected: 2,
                    declared: 3,
                },
            ),
            (
                vec![0xC0, 0x01, 0x00],
                E::RemainingLengthMismatch {
                    expected: 0,
                    declared: 1,
                },
            ),
            (
                vec![0x20, 0x7F],
                E::RemainingLengthMismatch {
                    expected: 2,
                    declared: 127,
                },
            ),
            // Fields against the remaining length.
            (vec![0x30, 0x03, 0x00, 0x05, b'a'], E::FieldOverrunsPacket),
            (vec![0x30, 0x01, 0x00], E::FieldOverrunsPacket),
            (
                vec![0x32, 0x04, 0x00, 0x01, b'a', 0x00],
                E::FieldOverrunsPacket,
            ),
            (
                vec![0x82, 0x05, 0x00, 0x01, 0x00, 0x01, b'a'],
                E::FieldOverrunsPacket,
            ),
            (vec![0x90, 0x01, 0x00], E::FieldOverrunsPacket),
            (
                raw_connect(b"MQTT", 4, 0x02, &[0x00, 0x01, b'c', 0xAA]),
                E::TrailingBytes,
            ),
            (
                raw_connect(b"MQTT", 4, 0x02, &[0x00, 0x05, b'c']),
                E::FieldOverrunsPacket,
            ),
            (
                vec![0xA2, 0x06, 0x00, 0x01, 0x00, 0x01, b'a', 0x00],
                E::FieldOverrunsPacket,
            ),
            // Strings.
            (vec![0x30, 0x03, 0x00, 0x01, 0xFF], E::InvalidUtf8),
            (
                vec![0x30, 0x05, 0x00, 0x03, 0xED, 0xA0, 0x80],
                E::InvalidUtf8,
            ),
            (vec![0x30, 0x04, 0x00, 0x02, b'a', 0x00], E::NullCharacter),
            (
                raw_connect(b"MQTT", 4, 0x02, &[0x00, 0x01, 0x00]),
                E::NullCharacter,
            ),
            // Reserved bits and identifiers.
            (
                raw_connect(b"MQTT", 4, 0x03, &[0x00, 0x00]),
                E::ReservedBitsSet,
            ),
            (vec![0x20, 0x02, 0x02, 0x00], E::ReservedBitsSet),
            (
                vec![0x82, 0x06, 0x00, 0x01, 0x00, 0x01, b'a', 0x04],
                E::ReservedBitsSet,
            ),
            (
                vec![0x82, 0x06, 0x00, 0x01, 0x00, 0x01, b'a', 0x03],
                E::InvalidQoS,
            ),
            (
                raw_connect(
                    b"MQTT",
                    4,
                    0x1C,
                    &[0x00, 0x00, 0x00, 0x01, b'w', 0x00, 0x00],
                ),
                E::InvalidQoS,
            ),
            (vec![0x40, 0x02, 0x00, 0x00], E::ZeroPacketIdentifier),
            (vec![0x62, 0x02, 0x00, 0x00], E::ZeroPacketIdentifier),
            (
                vec![0x34, 0x05, 0x00, 0x01, b'a', 0x00, 0x00],
                E::ZeroPacketIdentifier,
            ),
            (
                vec![0x82, 0x06, 0x00, 0x00, 0x00, 0x01, b'a', 0x00],
                E::ZeroPacketIdentifier,
            ),
            (vec![0x90, 0x03, 0x00, 0x00, 0x00], E::ZeroPacketIdentifier),
            // CONNECT.
            (
                raw_connect(b"MQTX", 4, 0x02, &[0x00, 0x00]),
                E::InvalidProtocolName,
            ),
            (
                raw_connect(b"", 4, 0x02, &[0x00, 0x00]),
                E::InvalidProtocolName,
            ),
            (
                raw_connect(b"MQTT", 5, 0x02, &[0x00, 0x00]),
                E::UnsupportedProtocolLevel(5),
            ),
            (
                raw_connect(b"MQTT", 3, 0x02, &[0x00, 0x00]),
                E::UnsupportedProtocolLevel(3),
            ),
            (
                raw_connect(b"MQIsdp", 3, 0x02, &[0x00, 0x00]),
                E::UnsupportedProtocolLevel(3),
            ),
            (
                raw_connect(b"MQTT", 4, 0x0A, &[0x00, 0x00]),
                E::InvalidConnectFlags,
            ),
            (
                raw_connect(b"MQTT", 4, 0x22, &[0x00, 0x00]),
                E::InvalidConnectFlags,
            ),
            (
                raw_connect(b"MQTT", 4, 0x42, &[0x00, 0x00, 0x00, 0x01, b'p']),
                E::InvalidConnectFlags,
            ),
            (
                raw_connect(
                    b"MQTT",
                    4,
                    0x06,
                    &[0x00, 0x00, 0x00, 0x01, b'#', 0x00, 0x00],
                ),
                E::InvalidTopicName(TopicError::WildcardInTopicName),
            ),
            // CONNACK.
            (vec![0x20, 0x02, 0x00, 0x06], E::InvalidConnectReturnCode(6)),
            (
                vec![0x20, 0x02, 0x01, 0x05],
                E::SessionPresentOnRefusedConnection,
            ),
            // SUBSCRIBE, SUBACK, UNSUBSCRIBE.
            (
                vec![0x90, 0x03, 0x00, 0x01, 0x03],
                E::InvalidSubAckReturnCode(0x03),
            ),
            (
                vec![0x90, 0x04, 0x00, 0x01, 0x00, 0x81],
                E::InvalidSubAckReturnCode(0x81),
            ),
            (vec![0x82, 0x02, 0x00, 0x01], E::EmptyPayload),
            (vec![0xA2, 0x02, 0x00, 0x01], E::EmptyPayload),
            (vec![0x90, 0x02, 0x00, 0x01], E::EmptyPayload),
            (
                vec![0x30, 0x05, 0x00, 0x03, b'a', b'/', b'+'],
                E::InvalidTopicName(TopicError::WildcardInTopicName),
            ),
            (
                vec![0x30, 0x02, 0x00, 0x00],
                E::InvalidTopicName(TopicError::Empty),
            ),
            (
                vec![0x82, 0x07, 0x00, 0x01, 0x00, 0x02, b'a', b'#', 0x00],
                E::InvalidTopicFilter(TopicError::MultiLevelWildcardNotAlone),
            ),
            (
                vec![0xA2, 0x04, 0x00, 0x01, 0x00, 0x00],
                E::InvalidTopicFilter(TopicError::Empty),
            ),
        ];
        for (bytes, expected) in cases {
            assert_eq!(decode(&bytes), Err(expected), "{bytes:02x?}");
        }
    }

    #[test]
    fn encode_errors_are_reported() {
        use EncodeError as E;
        static TOO_LONG: [u8; MAX_FIELD_LENGTH + 1] = [b'x'; MAX_FIELD_LENGTH + 1];
        let too_long_text = core::str::from_utf8(&TOO_LONG).unwrap();
        let longest_filter = core::str::from_utf8(&TOO_LONG[..MAX_FIELD_LENGTH]).unwrap();
        let many_long_filters = vec![(longest_filter, QoS::AtMostOnce); 4097];

        let connect = Connect {
            client_id: "c",
            keep_alive_seconds: 30,
            clean_session: true,
            will: None,
            username: None,
            password: None,
        };
        let will = LastWill {
            topic: "w",
            payload: b"",
            qos: QoS::AtMostOnce,
            retain: false,
        };
        let publish = Publish {
            dup: false,
            qos: QoS::AtMostOnce,
            retain: false,
            topic: "t",
            packet_id: None,
            payload: b"",
        };
        let cases: Vec<(Packet<'_>, EncodeError)> = vec![
            (
                Packet::Subscribe(Subscribe {
                    packet_id: 1,
                    filters: SubscribeFilters::List(&many_long_filters),
                }),
                E::PayloadTooLarge,
            ),
            (
                Packet::Connect(Connect {
                    client_id: too_long_text,
                    ..connect
                }),
                E::StringTooLong,
            ),
            (
                Packet::Connect(Connect {
                    username: Some(too_long_text),
                    ..connect
                }),
                E::StringTooLong,
            ),
            (
                Packet::Connect(Connect {
                    username: Some("u"),
                    password: Some(&TOO_LONG),
                    ..connect
                }),
                E::StringTooLong,
            ),
            (
                Packet::Connect(Connect {
                    will: Some(LastWill {
                        payload: &TOO_LONG,
                        ..will
                    }),
                    ..connect
                }),
                E::StringTooLong,
            ),
            (
                Packet::Connect(Connect {
                    client_id: "a\0",
                    ..connect
                }),
                E::NullCharacter,
            ),
            (
                Packet::Connect(Connect {
                    username: Some("\0"),
                    ..connect
                }),
                E::NullCharacter,
            ),
            (
                Packet::Connect(Connect {
                    will: Some(LastWill { topic: "", ..will }),
                    ..connect
                }),
                E::InvalidTopicName(TopicError::Empty),
            ),
            (
                Packet::Connect(Connect {
                    password: Some(b"p"),
                    ..connect
                }),
                E::PasswordWithoutUsername,
            ),
            (
                Packet::Publish(Publish {
                    topic: "a/#",
                    ..publish
                }),
                E::InvalidTopicName(TopicError::WildcardInTopicName),
            ),
            (
                Packet::Publish(Publish {
                    topic: too_long_text,
                    ..publish
                }),
                E::InvalidTopicName(TopicError::TooLong),
            ),
            (
                Packet::Publish(Publish {
                    packet_id: Some(1),
                    ..publish
                }),
                E::PacketIdentifierMismatch,
            ),
            (
                Packet::Publish(Publish {
                    qos: QoS::AtLeastOnce,
                    ..publish
                }),
                E::PacketIdentifierMismatch,
            ),
            (
                Packet::Publish(Publish {
                    qos: QoS::ExactlyOnce,
                    packet_id: Some(0),
                    ..publish
                }),
                E::ZeroPacketIdentifier,
            ),
            (
                Packet::Publish(Publish {
                    dup: true,
                    ..publish
                }),
                E::DuplicateFlagWithQoS0,
            ),
            (Packet::PubAck(0), E::ZeroPacketIdentifier),
            (Packet::PubRec(0), E::ZeroPacketIdentifier),
            (Packet::PubRel(0), E::ZeroPacketIdentifier),
            (Packet::PubComp(0), E::ZeroPacketIdentifier),
            (Packet::UnsubAck(0), E::ZeroPacketIdentifier),
            (
                Packet::Subscribe(Subscribe {
                    packet_id: 0,
                    filters: SubscribeFilters::List(&TWO_FILTERS),
                }),
                E::ZeroPacketIdentifier,
            ),
            (
                Packet::Subscribe(Subscribe {
                    packet_id: 1,
                    filters: SubscribeFilters::List(&[("a#", QoS::AtMostOnce)]),
                }),
                E::InvalidTopicFilter(TopicError::MultiLevelWildcardNotAlone),
            ),
            (
                Packet::Subscribe(Subscribe {
                    packet_id: 1,
                    filters: SubscribeFilters::List(&[]),
                }),
                E::EmptyPayload,
            ),
            (
                Packet::Unsubscribe(Unsubscribe {
                    packet_id: 1,
                    filters: UnsubscribeFilters::List(&[""]),
                }),
                E::InvalidTopicFilter(TopicError::Empty),
            ),
            (
                Packet::Unsubscribe(Unsubscribe {
                    packet_id: 1,
                    filters: UnsubscribeFilters::List(&[]),
                }),
                E::EmptyPayload,
            ),
            (
                Packet::Unsubscribe(Unsubscribe {
                    packet_id: 0,
                    filters: UnsubscribeFilters::List(&["a"]),
                }),
                E::ZeroPacketIdentifier,
            ),
            (
                Packet::SubAck(SubAck {
                    packet_id: 1,
                    return_codes: &[],
                }),
                E::EmptyPayload,
            ),
            (
                Packet::SubAck(SubAck {
                    packet_id: 1,
                    return_codes: &[0x00, 0x03],
                }),
                E::InvalidSubAckReturnCode(0x03),
            ),
            (
                Packet::SubAck(SubAck {
                    packet_id: 0,
                    return_codes: &[0x00],
                }),
                E::ZeroPacketIdentifier,
            ),
            (
                Packet::ConnAck(ConnAck {
                    session_present: false,
                    return_code: 6,
                }),
                E::InvalidConnectReturnCode(6),
            ),
            (
                Packet::ConnAck(ConnAck {
                    session_present: true,
                    return_code: 1,
                }),
                E::SessionPresentOnRefusedConnection,
            ),
        ];
        let mut buffer = [0u8; 64];
        for (packet, expected) in cases {
            assert_eq!(encode(&packet, &mut buffer), Err(expected), "{expected:?}");
        }
        assert_eq!(
            encode(&Packet::PingReq, &mut []),
            Err(E::BufferTooSmall { needed: 2 })
        );
    }

    #[test]
    fn errors_display_a_message() {
        let decode_errors = [
            DecodeError::Incomplete { needed: 3 },
            DecodeError::MalformedRemainingLength,
            DecodeError::UnknownPacketType(0),
            DecodeError::InvalidFlags,
            DecodeError::RemainingLengthMismatch {
                expected: 2,
                declared: 3,
            },
            DecodeError::FieldOverrunsPacket,
            DecodeError::TrailingBytes,
            DecodeError::InvalidUtf8,
            DecodeError::NullCharacter,
            DecodeError::InvalidQoS,
            DecodeError::ReservedBitsSet,
            DecodeError::ZeroPacketIdentifier,
            DecodeError::InvalidProtocolName,
            DecodeError::UnsupportedProtocolLevel(3),
            DecodeError::InvalidConnectFlags,
            DecodeError::InvalidConnectReturnCode(6),
            DecodeError::SessionPresentOnRefusedConnection,
            DecodeError::InvalidSubAckReturnCode(3),
            DecodeError::EmptyPayload,
            DecodeError::InvalidTopicName(TopicError::Empty),
            DecodeError::InvalidTopicFilter(TopicError::Empty),
        ];
        for error in decode_errors {
            let text = std::format!("{error}");
            assert!(!text.is_empty());
            let _: &dyn core::error::Error = &error;
        }
        let encode_errors = [
            EncodeError::BufferTooSmall { needed: 3 },
            EncodeError::PayloadTooLarge,
            EncodeError::StringTooLong,
            EncodeError::NullCharacter,
            EncodeError::InvalidTopicName(TopicError::Empty),
            EncodeError::InvalidTopicFilter(TopicError::Empty),
            EncodeError::ZeroPacketIdentifier,
            EncodeError::PacketIdentifierMismatch,
            EncodeError::DuplicateFlagWithQoS0,
            EncodeError::PasswordWithoutUsername,
            EncodeError::InvalidConnectReturnCode(6),
            EncodeError::SessionPresentOnRefusedConnection,
            EncodeError::InvalidSubAckReturnCode(3),
            EncodeError::EmptyPayload,
        ];
        for error in encode_errors {
            let text = std::format!("{error}");
            assert!(!text.is_empty());
            let _: &dyn core::error::Error = &error;
        }
    }

    /// A xorshift64 generator: deterministic, so a failure reproduces, and
    /// no dependency on a random-number crate.
    struct XorShift(u64);

    impl XorShift {
        fn next(&mut self) -> u64 {
            let mut state = self.0;
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            self.0 = state;
            state
        }

        fn below(&mut self, bound: usize) -> usize {
            (self.next() % bound as u64) as usize
        }

        fn byte(&mut self) -> u8 {
            self.next().to_le_bytes()[0]
        }
    }

    /// Decodes `bytes`, which must not panic, and checks the promises that
    /// hold for any input: a decoded packet fits in the input, encodes to
    /// exactly `encoded_len` bytes, and decodes again to itself. Returns
    /// whether the input decoded, so that callers can check they reach past
    /// the first error.
    fn check_arbitrary_input(bytes: &[u8]) -> bool {
        match decode(bytes) {
            Ok((packet, consumed)) => {
                assert!(consumed <= bytes.len());
                assert_eq!(packet_length(bytes), Some(consumed));
                let mut buffer = vec![0u8; encoded_len(&packet)];
                let written = encode(&packet, &mut buffer).unwrap_or_else(|error| {
                    panic!("decoded packet {packet:?} from {bytes:02x?} does not encode: {error}")
                });
                assert_eq!(written, buffer.len());
                assert!(written <= consumed);
                assert_eq!(decode(&buffer), Ok((packet, written)));
                true
            }
            Err(DecodeError::Incomplete { needed }) => {
                assert!(needed >= 1);
                false
            }
            Err(_) => false,
        }
    }

    #[test]
    fn no_panic_on_every_two_byte_input() {
        let mut decoded = 0;
        for first in 0..=u8::MAX {
            for second in 0..=u8::MAX {
                decoded += usize::from(check_arbitrary_input(&[first, second]));
            }
        }
        // Exactly PINGREQ, PINGRESP and DISCONNECT fit in two bytes.
        assert_eq!(decoded, 3);
    }

    #[test]
    fn no_panic_on_short_inputs_of_every_packet_type() {
        // Every first byte and every remaining length up to 4, with bodies
        // drawn exhaustively from bytes that matter to the parser: small
        // lengths, QoS values, continuation bits, wildcards and separators.
        const ALPHABET: [u8; 11] = [
            0x00, 0x01, 0x02, 0x03, 0x04, 0x7F, 0x80, 0xFF, b'a', b'#', b'/',
        ];
        let mut decoded = 0;
        for first in 0..=u8::MAX {
            for remaining in 0..=4u8 {
                let body_length = usize::from(remaining);
                let combinations = ALPHABET.len().pow(u32::from(remaining));
                for combination in 0..combinations {
                    let mut input = [first, remaining, 0, 0, 0, 0];
                    let mut digits = combination;
                    for slot in &mut input[2..2 + body_length] {
                        *slot = ALPHABET[digits % ALPHABET.len()];
                        digits /= ALPHABET.len();
                    }
                    decoded += usize::from(check_arbitrary_input(&input[..2 + body_length]));
                }
            }
        }
        // The inputs must reach past the header checks, or the test proves
        // little; thousands of them are complete, valid packets.
        assert!(decoded > 1_000, "{decoded}");
    }

    #[test]
    fn no_panic_on_random_garbage() {
        let mut random = XorShift(0x9E37_79B9_7F4A_7C15);
        let mut buffer = [0u8; 96];
        let mut decoded = 0;
        for _ in 0..200_000 {
            let length = random.below(buffer.len() + 1);
            for byte in &mut buffer[..length] {
                *byte = random.byte();
            }
            // Steer half the inputs towards a valid first byte and a
            // matching remaining length, so decoding gets past the header.
            if length >= 2 && random.next().is_multiple_of(2) {
                buffer[0] = (buffer[0] & 0xF0).clamp(0x10, 0xE0) | [0, 0, 2, 2, 0][random.below(5)];
                buffer[1] = u8::try_from(length - 2).unwrap();
            }
            decoded += usize::from(check_arbitrary_input(&buffer[..length]));
        }
        assert!(decoded > 100, "{decoded}");
    }

    #[test]
    fn no_panic_on_mutated_valid_packets() {
        let mut random = XorShift(0x0123_4567_89AB_CDEF);
        let encoded: Vec<Vec<u8>> = sample_packets()
            .iter()
            .map(encode_to_vec)
            .filter(|bytes| bytes.len() < 512)
            .collect();
        let mut decoded = 0;
        for _ in 0..100_000 {
            let mut bytes = encoded[random.below(encoded.len())].clone();
            for _ in 0..=random.below(4) {
                match random.below(4) {
                    0 => {
                        let index = random.below(bytes.len());
                        bytes[index] ^= 1 << random.below(8);
                    }
                    1 => {
                        let index = random.below(bytes.len());
                        bytes[index] = random.byte();
                    }
                    2 => bytes.truncate(random.below(bytes.len() + 1)),
                    _ => bytes.push(random.byte()),
                }
                if bytes.is_empty() {
                    break;
                }
            }
            decoded += usize::from(check_arbitrary_input(&bytes));
        }
        assert!(decoded > 10_000, "{decoded}");
    }
}
