//! Decoding: bytes from the network into a [`Packet`] that borrows them.
//! Nothing here panics or reads past the packet its fixed header announced;
//! every way the bytes can break MQTT 3.1.1 is its own [`DecodeError`].

use core::fmt;

use super::filters::{EncodedFilterList, FilterList};
use super::packets::{
    ConnAck, Connect, ConnectReturnCode, LastWill, Packet, Publish, QoS, SubAck, Subscribe,
    Unsubscribe,
};
use super::{
    FLAGS_0010, MQTT_3_1_PROTOCOL_NAME, PROTOCOL_LEVEL, PROTOCOL_NAME, SUBACK_FAILURE,
    connect_flag, packet_type,
};
use crate::mqtt::topic::{self, TopicError};

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

/// A bounds-checked cursor over the bytes of one packet. Every read fails
/// with [`DecodeError::FieldOverrunsPacket`] instead of running past the end,
/// which is what keeps decoding panic-free.
#[derive(Debug, Clone)]
pub(super) struct Reader<'a> {
    bytes: &'a [u8],
}

impl<'a> Reader<'a> {
    pub(super) const fn new(bytes: &'a [u8]) -> Self {
        Reader { bytes }
    }

    /// The bytes not read yet.
    pub(super) const fn rest(&self) -> &'a [u8] {
        self.bytes
    }

    pub(super) fn read_u8(&mut self) -> Result<u8, DecodeError> {
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
    pub(super) fn read_str(&mut self) -> Result<&'a str, DecodeError> {
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
pub(super) struct FixedHeader {
    /// The first byte: packet type and flags.
    first_byte: u8,
    /// The length of the fixed header itself, 2 to 5 bytes.
    pub(super) header_length: usize,
    /// The length of the variable header and payload.
    pub(super) remaining_length: usize,
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
pub(super) fn parse_fixed_header(buffer: &[u8]) -> Result<FixedHeader, DecodeError> {
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
            let filters = EncodedFilterList::read(reader.take_rest())?;
            Packet::Subscribe(Subscribe {
                packet_id,
                filters: FilterList::Encoded(filters),
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
            let filters = EncodedFilterList::read(reader.take_rest())?;
            Packet::Unsubscribe(Unsubscribe {
                packet_id,
                filters: FilterList::Encoded(filters),
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

pub(super) const fn is_valid_suback_code(code: u8) -> bool {
    matches!(code, 0x00 | 0x01 | 0x02 | SUBACK_FAILURE)
}

#[cfg(test)]
mod tests {
    extern crate std;

    use std::vec;
    use std::vec::Vec;

    use super::*;
    use crate::mqtt::codec::test_support::*;
    use crate::mqtt::codec::*;

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
    fn decode_errors_display_a_message() {
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
