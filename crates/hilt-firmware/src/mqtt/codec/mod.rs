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
//!
//! The codec is split by what each part does: `packets` holds the packet
//! types, `filters` the topic-filter lists of SUBSCRIBE and UNSUBSCRIBE (one
//! generic list for both), `decode` and `encode` the two directions, each
//! with its error type, and the tests of each part sit beside it. Everything
//! callers use is re-exported here, so they name `codec::Packet`,
//! `codec::decode` and so on.

mod decode;
mod encode;
mod filters;
mod packets;
#[cfg(test)]
mod test_support;
#[cfg(test)]
mod tests;

pub use decode::{DecodeError, decode, packet_length, peek_publish};
pub use encode::{EncodeError, encode, encoded_len};
pub use filters::{
    EncodedFilterList, EncodedSubscribeFilters, EncodedUnsubscribeFilters, FilterEntry, FilterList,
    FilterListIter, SubscribeFilters, SubscribeFiltersIter, UnsubscribeFilters,
    UnsubscribeFiltersIter,
};
pub use packets::{
    ConnAck, Connect, ConnectReturnCode, LastWill, Packet, Publish, QoS, SubAck, Subscribe,
    Unsubscribe,
};

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
