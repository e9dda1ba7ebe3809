//! Broker addresses: `host:port`, or the same behind `mqtt://` or `mqtts://`.
//!
//! A scenario names its broker as a URL (`broker: { url:
//! mqtt://127.0.0.1:1883 }`, `hilt replay --broker mqtts://...`), which
//! [`parse_broker_url`] reads. The firmware image is built with
//! `HILT_BROKER=broker.hivemq.com:1883`, which [`parse_broker_address`]
//! reads; it takes the `mqtt://` form too, so a URL copied from a scenario
//! works there. Both are the one grammar:
//!
//! - a scheme: `mqtt://` (plain TCP) or, in a URL only, `mqtts://` (MQTT
//!   over TLS: hilt's own connections to a broker). A board's address has
//!   no `mqtts://`, since whether a board speaks TLS is its `tls` setting;
//! - a host: a DNS name, an IPv4 address, or an IPv6 address in brackets
//!   (`[::1]`); no user, path or query;
//! - an optional `:port`, 1 to 65535; when left out [`DEFAULT_MQTT_PORT`],
//!   or [`DEFAULT_MQTTS_PORT`] after `mqtts://`.

use core::fmt;

/// MQTT's registered port, used when an address gives none.
pub const DEFAULT_MQTT_PORT: u16 = 1883;

/// MQTT over TLS's registered port, used when an `mqtts://` URL gives none.
pub const DEFAULT_MQTTS_PORT: u16 = 8883;

/// The longest DNS name, in bytes.
const MAX_DNS_NAME_LEN: usize = 253;

/// A broker's host and port; the host borrows the address text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BrokerAddress<'a> {
    /// The DNS name or IP address, without the brackets of an IPv6 address.
    pub host: &'a str,
    pub port: u16,
    /// Whether the address came as `mqtts://`: the connection speaks TLS.
    pub tls: bool,
}

impl BrokerAddress<'_> {
    /// True when the host is a DNS name or an IPv4 address (letters, digits,
    /// dots and dashes, at most 253 bytes): what a board that resolves its
    /// broker by DNS `A` record can connect to. An IPv6 address is not.
    pub fn is_dns_name_or_ipv4(&self) -> bool {
        !self.host.is_empty()
            && self.host.len() <= MAX_DNS_NAME_LEN
            && self
                .host
                .bytes()
                .all(|byte| byte.is_ascii_alphanumeric() || byte == b'.' || byte == b'-')
    }
}

/// Why a text is not a broker address; borrows the piece it quotes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BrokerAddressError<'a> {
    /// `mqtts://` where a board's address was expected: a board turns TLS
    /// on with its `tls` setting, not with the address.
    Tls,
    /// A URL was expected and the text does not start with `mqtt://` or
    /// `mqtts://`.
    NotMqttUrl,
    /// Another scheme in front of an address (`tcp://`).
    OtherScheme,
    /// `[::1` without its `]`.
    UnclosedIpv6,
    /// Something other than `:port` after an IPv6 address's `]`.
    AfterIpv6 { after: &'a str },
    /// Nothing before the port.
    MissingHost,
    /// A user, a path or a query. `url` says whether the text was a URL,
    /// so the message shows the form the user wrote.
    NotHostAndPort { url: bool },
    /// A port that is not a number from 1 to 65535.
    BadPort { port: &'a str },
}

impl fmt::Display for BrokerAddressError<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BrokerAddressError::Tls => {
                f.write_str(
                    "a board's broker address takes no mqtts://; write host:port and turn TLS on with the app's `tls` setting",
                )
            }
            BrokerAddressError::NotMqttUrl => {
                f.write_str(
                    "write it as mqtt://host:port or mqtts://host:port, like mqtt://127.0.0.1:1883",
                )
            }
            BrokerAddressError::OtherScheme => {
                f.write_str("write it as host:port or mqtt://host:port, like 127.0.0.1:1883")
            }
            BrokerAddressError::UnclosedIpv6 => {
                f.write_str("an IPv6 address needs its closing ']'")
            }
            BrokerAddressError::AfterIpv6 { after } => {
                write!(f, "unexpected {} after the address", Quoted(after))
            }
            BrokerAddressError::MissingHost => f.write_str("the host is missing"),
            BrokerAddressError::NotHostAndPort { url: true } => {
                f.write_str("only mqtt(s)://host:port is supported, without user, path or query")
            }
            BrokerAddressError::NotHostAndPort { url: false } => {
                f.write_str("only host:port is supported, without user, path or query")
            }
            BrokerAddressError::BadPort { port } => write!(
                f,
                "the port {} is not a number from 1 to 65535",
                Quoted(port)
            ),
        }
    }
}

impl core::error::Error for BrokerAddressError<'_> {}

/// `mqtt://host[:port]` or `mqtts://host[:port]`, as a scenario's
/// `broker: { url: ... }` and the CLI's `--broker` write it.
pub fn parse_broker_url(url: &str) -> Result<BrokerAddress<'_>, BrokerAddressError<'_>> {
    if let Some(rest) = url.strip_prefix("mqtt://") {
        host_and_port(rest, true, false)
    } else if let Some(rest) = url.strip_prefix("mqtts://") {
        host_and_port(rest, true, true)
    } else {
        Err(BrokerAddressError::NotMqttUrl)
    }
}

/// `host[:port]` or `mqtt://host[:port]`, as the image's `HILT_BROKER`
/// holds it.
pub fn parse_broker_address(text: &str) -> Result<BrokerAddress<'_>, BrokerAddressError<'_>> {
    if text.starts_with("mqtts://") {
        return Err(BrokerAddressError::Tls);
    }
    if text.starts_with("mqtt://") {
        return parse_broker_url(text);
    }
    if text.contains("://") {
        return Err(BrokerAddressError::OtherScheme);
    }
    host_and_port(text, false, false)
}

/// What follows the scheme: `host`, `host:port`, `[v6]` or `[v6]:port`.
fn host_and_port(
    rest: &str,
    url: bool,
    tls: bool,
) -> Result<BrokerAddress<'_>, BrokerAddressError<'_>> {
    let (host, port) = if let Some(bracketed) = rest.strip_prefix('[') {
        // An IPv6 address: [::1]:1883
        let (host, after) = bracketed
            .split_once(']')
            .ok_or(BrokerAddressError::UnclosedIpv6)?;
        let port = match after {
            "" => None,
            _ => Some(
                after
                    .strip_prefix(':')
                    .ok_or(BrokerAddressError::AfterIpv6 { after })?,
            ),
        };
        (host, port)
    } else {
        match rest.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (rest, None),
        }
    };
    if host.is_empty() {
        return Err(BrokerAddressError::MissingHost);
    }
    if host.contains(['/', '@', '?', '#', ' '])
        || port.is_some_and(|port| port.contains(['/', '?', '#']))
    {
        return Err(BrokerAddressError::NotHostAndPort { url });
    }
    let port = match port {
        None if tls => DEFAULT_MQTTS_PORT,
        None => DEFAULT_MQTT_PORT,
        Some(port) => port
            .parse::<u16>()
            .ok()
            .filter(|port| *port != 0)
            .ok_or(BrokerAddressError::BadPort { port })?,
    };
    Ok(BrokerAddress { host, port, tls })
}

/// User text in a message: in single quotes, escaped as Rust's `{:?}`
/// escapes it, cut after 40 characters with `…`; the scenario language's
/// way of quoting, so its broker messages read as the rest of its
/// diagnostics.
struct Quoted<'a>(&'a str);

impl fmt::Display for Quoted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const LONGEST: usize = 40;
        let text = self.0;
        let end = text
            .char_indices()
            .nth(LONGEST)
            .map_or(text.len(), |(index, _)| index);
        let more = if end < text.len() { "…" } else { "" };
        write!(f, "'{}{more}'", text[..end].escape_debug())
    }
}

#[cfg(test)]
mod tests {
    extern crate std;

    use std::string::ToString;

    use super::*;

    fn address(host: &str, port: u16) -> BrokerAddress<'_> {
        BrokerAddress {
            host,
            port,
            tls: false,
        }
    }

    fn tls_address(host: &str, port: u16) -> BrokerAddress<'_> {
        BrokerAddress {
            host,
            port,
            tls: true,
        }
    }

    #[test]
    fn urls() {
        assert_eq!(
            parse_broker_url("mqtt://127.0.0.1:1883"),
            Ok(address("127.0.0.1", 1883))
        );
        assert_eq!(
            parse_broker_url("mqtt://broker.local"),
            Ok(address("broker.local", 1883))
        );
        assert_eq!(
            parse_broker_url("mqtt://[::1]:1884"),
            Ok(address("::1", 1884))
        );
        assert_eq!(parse_broker_url("mqtt://[::1]"), Ok(address("::1", 1883)));
        assert_eq!(
            parse_broker_url("mqtts://broker.local"),
            Ok(tls_address("broker.local", 8883))
        );
        assert_eq!(
            parse_broker_url("mqtts://127.0.0.1:18883"),
            Ok(tls_address("127.0.0.1", 18883))
        );
        for bad in [
            "tcp://a:1",
            "a:1",
            "mqtts://",
            "mqtts://a:0",
            "mqtts://user@a",
            "mqtt://",
            "mqtt://:1883",
            "mqtt://a:0",
            "mqtt://a:99999",
            "mqtt://a:x",
            "mqtt://a:",
            "mqtt://a:1883/path",
            "mqtt://user@a:1883",
            "mqtt://[::1",
            "mqtt://[::1]x",
        ] {
            assert!(parse_broker_url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn addresses_with_or_without_the_scheme() {
        assert_eq!(
            parse_broker_address("broker.hivemq.com:1883"),
            Ok(address("broker.hivemq.com", 1883))
        );
        assert_eq!(
            parse_broker_address("broker.hivemq.com"),
            Ok(address("broker.hivemq.com", 1883))
        );
        assert_eq!(
            parse_broker_address("mqtt://10.0.0.2:1884"),
            Ok(address("10.0.0.2", 1884))
        );
        assert_eq!(
            parse_broker_address("mqtts://a:8883"),
            Err(BrokerAddressError::Tls)
        );
        assert_eq!(
            parse_broker_address("tcp://a:1883"),
            Err(BrokerAddressError::OtherScheme)
        );
        assert_eq!(
            parse_broker_address("a:1883/x"),
            Err(BrokerAddressError::NotHostAndPort { url: false })
        );
        assert_eq!(
            parse_broker_address(":1883"),
            Err(BrokerAddressError::MissingHost)
        );
        assert_eq!(
            parse_broker_address("a:0"),
            Err(BrokerAddressError::BadPort { port: "0" })
        );
    }

    #[test]
    fn only_names_and_ipv4_addresses_resolve_on_a_board() {
        let resolvable = |text: &str| parse_broker_address(text).unwrap().is_dns_name_or_ipv4();
        assert!(resolvable("broker.hivemq.com:1883"));
        assert!(resolvable("192.168.1.10"));
        assert!(!resolvable("[::1]:1883"));
        assert!(!resolvable("a:b:1883"));
        let too_long = std::format!("{}:1883", "a".repeat(254));
        assert!(!resolvable(&too_long));
    }

    #[test]
    fn messages() {
        let message = |url: &str| parse_broker_url(url).unwrap_err().to_string();
        assert_eq!(
            parse_broker_address("mqtts://broker.local:8883")
                .unwrap_err()
                .to_string(),
            "a board's broker address takes no mqtts://; write host:port and turn TLS on with the app's `tls` setting"
        );
        assert_eq!(
            message("tcp://a"),
            "write it as mqtt://host:port or mqtts://host:port, like mqtt://127.0.0.1:1883"
        );
        assert_eq!(message("mqtt://[::1]x"), "unexpected 'x' after the address");
        assert_eq!(
            message("mqtt://a:99999"),
            "the port '99999' is not a number from 1 to 65535"
        );
        assert_eq!(
            message(&std::format!("mqtt://a:{}\n", "9".repeat(45))),
            std::format!(
                "the port '{}…' is not a number from 1 to 65535",
                "9".repeat(40)
            )
        );
        assert_eq!(
            message("mqtt://a:\t"),
            "the port '\\t' is not a number from 1 to 65535"
        );
    }
}
