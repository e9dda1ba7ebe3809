//! Encoding: a [`Packet`] into bytes. [`encode`] checks every rule of MQTT
//! 3.1.1 the packet could break before it writes anything, so the codec
//! never sends a packet it would itself refuse.

use core::fmt;

use super::decode::is_valid_suback_code;
use super::filters::{FilterEntry, FilterList};
use super::packets::{ConnectReturnCode, Packet, QoS};
use super::{
    FLAGS_0010, MAX_FIELD_LENGTH, MAX_REMAINING_LENGTH, PROTOCOL_LEVEL, PROTOCOL_NAME,
    connect_flag, packet_type,
};
use crate::mqtt::topic::{self, TopicError};

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
            validate_filters(&subscribe.filters)?;
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
            validate_filters(&unsubscribe.filters)?;
        }
        Packet::PingReq | Packet::PingResp | Packet::Disconnect => {}
    }
    Ok(())
}

/// Checks a SUBSCRIBE's or UNSUBSCRIBE's filters: at least one, and each a
/// valid topic filter.
fn validate_filters<'a, E: FilterEntry<'a>>(
    filters: &FilterList<'a, E>,
) -> Result<(), EncodeError> {
    match filters {
        FilterList::List(list) => {
            if list.is_empty() {
                return Err(EncodeError::EmptyPayload);
            }
            for entry in *list {
                topic::validate_filter(entry.filter()).map_err(EncodeError::InvalidTopicFilter)?;
            }
        }
        // Validated when it was decoded, and immutable since.
        FilterList::Encoded(encoded) => {
            if encoded.is_empty() {
                return Err(EncodeError::EmptyPayload);
            }
        }
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
            write_filters(&subscribe.filters, writer)?;
        }
        Packet::SubAck(ack) => {
            writer.write_u16(ack.packet_id)?;
            writer.write_bytes(ack.return_codes)?;
        }
        Packet::Unsubscribe(unsubscribe) => {
            writer.write_u16(unsubscribe.packet_id)?;
            write_filters(&unsubscribe.filters, writer)?;
        }
        Packet::PingReq | Packet::PingResp | Packet::Disconnect => {}
    }
    Ok(())
}

/// Writes a SUBSCRIBE's or UNSUBSCRIBE's filters: each filter, then its
/// requested QoS where the entry has one; a decoded list as it came.
fn write_filters<'a, E: FilterEntry<'a>>(
    filters: &FilterList<'a, E>,
    writer: &mut Writer<'_>,
) -> Result<(), EncodeError> {
    match filters {
        FilterList::List(list) => {
            for entry in *list {
                writer.write_str(entry.filter())?;
                if let Some(qos) = entry.requested_qos() {
                    writer.write_u8(qos.as_u8())?;
                }
            }
        }
        FilterList::Encoded(encoded) => writer.write_bytes(encoded.as_bytes())?,
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    extern crate std;

    use std::vec;
    use std::vec::Vec;

    use super::*;
    use crate::mqtt::codec::decode::parse_fixed_header;
    use crate::mqtt::codec::test_support::*;
    use crate::mqtt::codec::*;

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
    fn encode_errors_display_a_message() {
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
}
