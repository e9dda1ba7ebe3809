//! The MQTT 3.1.1 control packets as types: each borrows its
//! variable-length fields from the buffer it was decoded from, or from the
//! caller that builds it for encoding.

use core::fmt;

use super::decode::DecodeError;
use super::filters::{SubscribeFilters, UnsubscribeFilters};

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

/// A SUBACK packet: the broker's answer to SUBSCRIBE (section 3.9).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SubAck<'a> {
    /// The packet identifier of the SUBSCRIBE being answered.
    pub packet_id: u16,
    /// One code per filter, in the order of the SUBSCRIBE: 0, 1 or 2 is the
    /// granted QoS, [`SUBACK_FAILURE`](super::SUBACK_FAILURE) (0x80) a refusal.
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

#[cfg(test)]
mod tests {
    extern crate std;

    use std::vec::Vec;

    use super::*;

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
}
