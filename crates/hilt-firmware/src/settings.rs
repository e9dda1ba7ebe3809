//! An app's settings, read from `key = text` pairs by one parser.
//!
//! Each reference app has one settings type, its `*Config` (in the app's
//! module), which implements [`Settings`]: the keys it takes and
//! [`Settings::set`], the one parser of their values. Three readers feed it
//! the same pairs, so what one accepts the others accept:
//!
//! - the simulation: a scenario's `config: { interval: 10s }`, each value
//!   as the text the file writes (YAML numbers and booleans included:
//!   `qos: 1` arrives as `"1"`), through `ConfigReader::settings` in
//!   hilt-runner;
//! - the firmware image's build script: `HILT_INTERVAL=10s`, through
//!   [`read_variables`], which `firmware/build.rs` calls with a lookup of
//!   the environment;
//! - the Wokwi export (hilt-wokwi), which writes the `HILT_*` variables a
//!   scenario's device needs and refuses a value the image build would.
//!
//! The limits are the app modules' own constants (such as
//! `node_manager::MAX_BLINKY_HZ`), so a value the app cannot hold is
//! refused rather than cut behind the user's back.

use core::fmt;

use heapless::String;
use hilt_grammar::duration::{DurationError, parse_duration};

use crate::mqtt::codec::QoS;
use crate::mqtt::session::{
    MAX_CLIENT_ID_LEN, MAX_CREDENTIAL_LEN, MAX_SERVER_NAME_LEN, SessionOptions, TlsOptions,
};
use crate::mqtt::topic::{TopicError, validate_filter, validate_topic_name};
use crate::time::Duration;

/// The longest topic name a setting may give (sensor-data's `topic`,
/// node-manager's `prefix`, monitor's `report_topic`): apps make their
/// topics by appending to it, and the session's topics hold 128 bytes.
pub const MAX_TOPIC_SETTING_LEN: usize = 64;

/// One key an app's settings take.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SettingKey {
    /// The key as a scenario's `config:` writes it (`interval`).
    pub name: &'static str,
    /// The app cannot run without it (remote-led's `peer`): a scenario must
    /// give it, and so must the image build.
    pub required: bool,
    /// In a scenario its default is the device's name (remote-led's
    /// `name`); an image has no device name and keeps the app's default,
    /// the client id, so the Wokwi export writes it when the two differ.
    pub defaults_to_device_name: bool,
    /// Its value is a board's name, which the board's topics are made of
    /// (remote-led's `name` and `peer`): giving every board of a run a
    /// suffix (`hilt wokwi --client-suffix`) gives these values the same
    /// one, so the run's topics are its own.
    pub names_a_board: bool,
    /// Its value is a secret (`password`): what hilt writes (transcripts,
    /// reports, exported files, build messages) never shows it.
    pub secret: bool,
}

impl SettingKey {
    /// A key the app has a default for.
    pub const fn optional(name: &'static str) -> Self {
        SettingKey {
            name,
            required: false,
            defaults_to_device_name: false,
            names_a_board: false,
            secret: false,
        }
    }

    /// A key the app cannot do without.
    pub const fn required(name: &'static str) -> Self {
        SettingKey {
            required: true,
            ..SettingKey::optional(name)
        }
    }

    /// A key whose default in a scenario is the device's name.
    pub const fn device_name(name: &'static str) -> Self {
        SettingKey {
            defaults_to_device_name: true,
            ..SettingKey::optional(name)
        }
    }

    /// The same key, whose value names a board (see
    /// [`SettingKey::names_a_board`]).
    pub const fn naming_a_board(self) -> Self {
        SettingKey {
            names_a_board: true,
            ..self
        }
    }

    /// The same key, whose value is a secret (see [`SettingKey::secret`]).
    pub const fn secret(self) -> Self {
        SettingKey {
            secret: true,
            ..self
        }
    }

    /// The build-time variable the image reads this key from (`HILT_INTERVAL`).
    pub fn variable(&self) -> VariableName<'static> {
        VariableName(self.name)
    }
}

/// `HILT_<KEY>`: the key in capitals, `-` as `_`, after `HILT_`; written
/// as text by its `Display`, so naming a variable allocates nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VariableName<'a>(pub &'a str);

impl fmt::Display for VariableName<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("HILT_")?;
        for character in self.0.chars() {
            let character = match character {
                '-' => '_',
                other => other.to_ascii_uppercase(),
            };
            fmt::Write::write_char(f, character)?;
        }
        Ok(())
    }
}

/// An app's settings: the keys it takes and the one parser of their values.
pub trait Settings {
    /// Every key, in the order their problems are reported.
    fn keys(&self) -> &'static [SettingKey];

    /// Sets `key` from its text. A key not in [`Settings::keys`] is
    /// [`SettingError::UnknownKey`]; a refused value leaves the setting as
    /// it was.
    fn set<'v>(&mut self, key: &str, value: &'v str) -> Result<(), SettingError<'v>>;
}

/// Why a setting's value was refused; borrows the value it quotes. The
/// `Display` is the message a scenario's diagnostic and the image build
/// show after naming the key.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum SettingError<'v> {
    /// The app has no setting of that name.
    UnknownKey,
    /// Not a duration (`60s`, `500ms`, `1m30s`).
    NotADuration(DurationError<'v>),
    /// Zero, for a duration that must pass.
    ZeroDuration,
    /// Not one of a few spellings: `what` names the kind ("a unit"),
    /// `choices` lists the spellings ("C or F").
    NotOneOf {
        value: &'v str,
        what: &'static str,
        choices: &'static str,
    },
    /// Not `true` or `false` (or `True`, `TRUE`, ...).
    NotABoolean { value: &'v str },
    /// Not a whole number of at least `minimum`.
    NotAWholeNumber { value: &'v str, minimum: u32 },
    /// Not a number of decimals from 0 to `max`.
    NotDecimals { value: &'v str, max: u8 },
    /// Not a blink rate from 0 (off) to `max` Hz.
    NotABlinkRate { value: &'v str, max: f32 },
    /// Not one topic level of at most `max` bytes.
    NotATopicLevel { value: &'v str, max: usize },
    /// Not a topic name (a wildcard, an empty text).
    NotATopicName { value: &'v str, error: TopicError },
    /// Not a topic filter.
    NotATopicFilter { value: &'v str, error: TopicError },
    /// A topic longer than the app can build on.
    TopicTooLong { value: &'v str, max: usize },
    /// Not a sensor id (1 to `max` bytes, no `"`, which would end the
    /// JSON string it is published in).
    NotASensorId { max: usize },
    /// Not a user name or password: longer than `max` bytes or holding a
    /// NUL. The value is not quoted, since it may be a secret.
    NotACredential { max: usize },
    /// Not a host name a certificate could carry, or longer than `max`.
    NotAServerName { value: &'v str, max: usize },
}

impl fmt::Display for SettingError<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SettingError::UnknownKey => f.write_str("is not a setting of this app"),
            SettingError::NotADuration(error) => error.fmt(f),
            SettingError::ZeroDuration => f.write_str("must be longer than zero"),
            SettingError::NotOneOf {
                value,
                what,
                choices,
            } => write!(f, "'{value}' is not {what}; use {choices}"),
            SettingError::NotABoolean { value } => write!(f, "'{value}' is not true or false"),
            SettingError::NotAWholeNumber { value, minimum: 0 } => {
                write!(f, "'{value}' is not a whole number")
            }
            SettingError::NotAWholeNumber { value, minimum: 1 } => {
                write!(f, "'{value}' is not a whole number above zero")
            }
            SettingError::NotAWholeNumber { value, minimum } => {
                write!(f, "'{value}' is not a whole number from {minimum}")
            }
            SettingError::NotDecimals { value, max } => {
                write!(f, "'{value}' is not a number of decimals from 0 to {max}")
            }
            SettingError::NotABlinkRate { value, max } => {
                write!(f, "'{value}' is not a rate from 0 to {max} Hz")
            }
            SettingError::NotATopicLevel { value, max } => write!(
                f,
                "'{value}' must be one topic level (no '/', '+', '#' or control characters, \
                 at most {max} bytes)"
            ),
            SettingError::NotATopicName { value, error } => {
                write!(f, "'{value}' is not a topic name: {error}")
            }
            SettingError::NotATopicFilter { value, error } => {
                write!(f, "'{value}' is not a topic filter: {error}")
            }
            SettingError::TopicTooLong { value, max } => {
                write!(f, "'{value}' is longer than {max} bytes")
            }
            SettingError::NotASensorId { max } => {
                write!(f, "must be 1 to {max} characters without quotes")
            }
            SettingError::NotAServerName { value, max } => write!(
                f,
                "'{value}' is not a host name of at most {max} bytes (letters, digits, '-' and '.')"
            ),
            SettingError::NotACredential { max } => {
                write!(f, "must be at most {max} bytes, without NUL characters")
            }
        }
    }
}

impl core::error::Error for SettingError<'_> {}

/// What the image build made of one setting's variable.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum VariableReading<'v> {
    /// Not set: the app keeps its default.
    Unset,
    /// Set, and accepted.
    Accepted(&'v str),
    /// Not set, but the app cannot run without it.
    Missing,
    /// Set, and refused.
    Refused {
        value: &'v str,
        error: SettingError<'v>,
    },
}

/// Reads every setting of `settings` from its build-time variable
/// ([`SettingKey::variable`]), as the firmware image's build script does:
/// `lookup` finds a key's variable, `reading` hears what became of each
/// key, in the order of [`Settings::keys`].
///
/// The build script turns the readings into its generated settings and
/// its `compile_error!`s; tests call this with a table instead of the
/// environment.
pub fn read_variables<S, V>(
    settings: &mut S,
    mut lookup: impl FnMut(&SettingKey) -> Option<V>,
    mut reading: impl FnMut(&SettingKey, VariableReading<'_>),
) where
    S: Settings + ?Sized,
    V: AsRef<str>,
{
    for key in settings.keys() {
        let value = lookup(key);
        let outcome = match value.as_ref().map(AsRef::as_ref) {
            None if key.required => VariableReading::Missing,
            None => VariableReading::Unset,
            Some(value) => match settings.set(key.name, value) {
                Ok(()) => VariableReading::Accepted(value),
                Err(error) => VariableReading::Refused { value, error },
            },
        };
        reading(key, outcome);
    }
}

/// The `username` and `password` settings every board app takes, sent in
/// CONNECT when given (a broker with a password file or a user list asks
/// for them).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Credentials {
    pub username: Option<String<MAX_CREDENTIAL_LEN>>,
    pub password: Option<String<MAX_CREDENTIAL_LEN>>,
}

impl Credentials {
    /// The two keys, for an app's [`Settings::keys`]; `password` is
    /// [`SettingKey::secret`].
    pub const USERNAME: SettingKey = SettingKey::optional("username");
    pub const PASSWORD: SettingKey = SettingKey::optional("password").secret();

    /// Sets `username` or `password`; `None` for any other key, which the
    /// app then reads itself.
    pub fn set<'v>(&mut self, key: &str, value: &'v str) -> Option<Result<(), SettingError<'v>>> {
        let field = match key {
            "username" => &mut self.username,
            "password" => &mut self.password,
            _ => return None,
        };
        Some(credential(value).map(|value| *field = Some(value)))
    }

    /// Puts them into the session's options.
    pub fn apply(&self, options: &mut SessionOptions) {
        options.username.clone_from(&self.username);
        options.password.clone_from(&self.password);
    }
}

/// The `tls` and `tls_server_name` settings every board app takes: whether
/// the link to the broker runs over TLS 1.3, and the name the broker's
/// certificate must carry (the broker's host name when not given). The
/// certificate authority to trust is not a setting: the chip image has it
/// built in, and a simulation trusts the run's own test authority.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Tls {
    pub enabled: bool,
    pub server_name: Option<String<MAX_SERVER_NAME_LEN>>,
}

impl Tls {
    /// The two keys, for an app's [`Settings::keys`].
    pub const ENABLED: SettingKey = SettingKey::optional("tls");
    pub const SERVER_NAME: SettingKey = SettingKey::optional("tls_server_name");

    /// Sets `tls` or `tls_server_name`; `None` for any other key.
    pub fn set<'v>(&mut self, key: &str, value: &'v str) -> Option<Result<(), SettingError<'v>>> {
        match key {
            "tls" => Some(boolean(value).map(|enabled| self.enabled = enabled)),
            "tls_server_name" => Some(server_name(value).map(|name| self.server_name = Some(name))),
            _ => None,
        }
    }

    /// Puts them into the session's options, where the board's network
    /// glue (and the simulation's link) read how to open the link.
    pub fn apply(&self, options: &mut SessionOptions) {
        options.tls = self.enabled.then(|| TlsOptions {
            server_name: self.server_name.clone(),
        });
    }
}

/// A DNS name a certificate can be issued for: 1 to
/// [`MAX_SERVER_NAME_LEN`] bytes of letters, digits, `-` and `.`, no empty
/// label. (An IP address is a name too: its digits and dots pass.)
pub fn server_name(value: &str) -> Result<String<MAX_SERVER_NAME_LEN>, SettingError<'_>> {
    let labels_ok = value.split('.').all(|label| {
        !label.is_empty()
            && label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
    });
    if !labels_ok {
        return Err(SettingError::NotAServerName {
            value,
            max: MAX_SERVER_NAME_LEN,
        });
    }
    String::try_from(value).map_err(|_| SettingError::NotAServerName {
        value,
        max: MAX_SERVER_NAME_LEN,
    })
}

/// A user name or password: at most [`MAX_CREDENTIAL_LEN`] bytes, no NUL
/// (MQTT strings cannot hold one). Empty is allowed; some brokers take an
/// empty password.
pub fn credential(value: &str) -> Result<String<MAX_CREDENTIAL_LEN>, SettingError<'_>> {
    if value.contains('\0') {
        return Err(SettingError::NotACredential {
            max: MAX_CREDENTIAL_LEN,
        });
    }
    String::try_from(value).map_err(|_| SettingError::NotACredential {
        max: MAX_CREDENTIAL_LEN,
    })
}

/// A duration that must pass: `60s`, `500ms`, `1m30s`.
pub fn positive_duration(value: &str) -> Result<Duration, SettingError<'_>> {
    match parse_duration(value) {
        Ok(duration) if duration.is_zero() => Err(SettingError::ZeroDuration),
        Ok(duration) => Ok(duration),
        Err(error) => Err(SettingError::NotADuration(error)),
    }
}

/// A duration where zero means "off" (sensor-data's `interval: 0s`:
/// requests only).
pub fn duration_or_zero(value: &str) -> Result<Duration, SettingError<'_>> {
    parse_duration(value).map_err(SettingError::NotADuration)
}

/// An MQTT keep alive: a duration, where zero turns keep alive off (no
/// pings, and the broker never times the connection out), as MicroPython's
/// umqtt connects by default.
pub fn keep_alive(value: &str) -> Result<Duration, SettingError<'_>> {
    duration_or_zero(value)
}

/// `true` or `false`, in the three spellings YAML's core schema gives
/// them.
pub fn boolean(value: &str) -> Result<bool, SettingError<'_>> {
    match value {
        "true" | "True" | "TRUE" => Ok(true),
        "false" | "False" | "FALSE" => Ok(false),
        _ => Err(SettingError::NotABoolean { value }),
    }
}

/// QoS `0`, `1` or `2`.
pub fn qos(value: &str) -> Result<QoS, SettingError<'_>> {
    match value {
        "0" => Ok(QoS::AtMostOnce),
        "1" => Ok(QoS::AtLeastOnce),
        "2" => Ok(QoS::ExactlyOnce),
        _ => Err(SettingError::NotOneOf {
            value,
            what: "a QoS",
            choices: "0, 1 or 2",
        }),
    }
}

/// A whole number of at least `minimum`.
pub fn whole_number(value: &str, minimum: u32) -> Result<u32, SettingError<'_>> {
    value
        .parse::<u32>()
        .ok()
        .filter(|number| *number >= minimum)
        .ok_or(SettingError::NotAWholeNumber { value, minimum })
}

/// One topic level of at most `N` bytes (remote-led's `peer` and `name`,
/// light-status's `uuid`, the client id): not empty, no `/`, `+` or `#`,
/// no control characters, which would also break the board's serial log
/// lines.
pub fn topic_level<const N: usize>(value: &str) -> Result<String<N>, SettingError<'_>> {
    let refused = SettingError::NotATopicLevel { value, max: N };
    if value.is_empty() || value.contains(['/', '+', '#']) || value.contains(char::is_control) {
        return Err(refused);
    }
    String::try_from(value).map_err(|_| refused)
}

/// The board's MQTT client id, which also names its topics: one topic
/// level of at most [`MAX_CLIENT_ID_LEN`] bytes. (A scenario checks its
/// devices' client ids by MQTT's rules; an image also builds topics from
/// it.)
pub fn client_id(value: &str) -> Result<String<MAX_CLIENT_ID_LEN>, SettingError<'_>> {
    topic_level(value)
}

/// A topic name (no wildcards, not empty) of at most
/// [`MAX_TOPIC_SETTING_LEN`] bytes (or `N`, if smaller).
pub fn topic_name<const N: usize>(value: &str) -> Result<String<N>, SettingError<'_>> {
    validate_topic_name(value).map_err(|error| SettingError::NotATopicName { value, error })?;
    let max = MAX_TOPIC_SETTING_LEN.min(N);
    if value.len() > max {
        return Err(SettingError::TopicTooLong { value, max });
    }
    String::try_from(value).map_err(|_| SettingError::TopicTooLong { value, max })
}

/// A topic filter (wildcards allowed) of at most `N` bytes.
pub fn topic_filter<const N: usize>(value: &str) -> Result<String<N>, SettingError<'_>> {
    validate_filter(value).map_err(|error| SettingError::NotATopicFilter { value, error })?;
    String::try_from(value).map_err(|_| SettingError::TopicTooLong { value, max: N })
}

#[cfg(test)]
mod tests {
    extern crate std;

    use std::string::ToString;
    use std::vec::Vec;

    use super::*;

    #[test]
    fn variable_names_are_the_keys_in_capitals() {
        assert_eq!(
            SettingKey::optional("interval").variable().to_string(),
            "HILT_INTERVAL"
        );
        assert_eq!(
            VariableName("max_link-attempts").to_string(),
            "HILT_MAX_LINK_ATTEMPTS"
        );
    }

    #[test]
    fn durations() {
        assert_eq!(positive_duration("1m30s"), Ok(Duration::from_secs(90)));
        assert_eq!(positive_duration("0s"), Err(SettingError::ZeroDuration));
        assert_eq!(duration_or_zero("0"), Ok(Duration::ZERO));
        assert_eq!(keep_alive("0"), Ok(Duration::ZERO));
        assert_eq!(keep_alive("0s"), Ok(Duration::ZERO));
        assert_eq!(keep_alive("90s"), Ok(Duration::from_secs(90)));
        assert!(keep_alive("soon").is_err());
        assert_eq!(
            positive_duration("soon").unwrap_err().to_string(),
            "expected a number before 'soon'; write a number with a unit, like 2s"
        );
    }

    #[test]
    fn topics() {
        assert_eq!(topic_level::<8>("green").as_deref(), Ok("green"));
        for refused in ["", "a/b", "a+", "#", "a\tb", "123456789"] {
            assert_eq!(
                topic_level::<8>(refused),
                Err(SettingError::NotATopicLevel {
                    value: refused,
                    max: 8
                }),
                "{refused:?}"
            );
        }
        assert_eq!(topic_name::<128>("a/b/c").as_deref(), Ok("a/b/c"));
        let long = "a".repeat(MAX_TOPIC_SETTING_LEN + 1);
        assert_eq!(
            topic_name::<128>(&long).unwrap_err().to_string(),
            std::format!("'{long}' is longer than 64 bytes")
        );
        assert!(matches!(
            topic_name::<128>("a/+"),
            Err(SettingError::NotATopicName { .. })
        ));
        assert_eq!(topic_filter::<16>("a/+/#").as_deref(), Ok("a/+/#"));
        assert!(matches!(
            topic_filter::<16>("a/#/b"),
            Err(SettingError::NotATopicFilter { .. })
        ));
        assert_eq!(
            topic_filter::<4>("a/b/c"),
            Err(SettingError::TopicTooLong {
                value: "a/b/c",
                max: 4
            })
        );
    }

    #[test]
    fn messages_quote_the_value() {
        assert_eq!(
            qos("3").unwrap_err().to_string(),
            "'3' is not a QoS; use 0, 1 or 2"
        );
        assert_eq!(
            boolean("yes").unwrap_err().to_string(),
            "'yes' is not true or false"
        );
        assert_eq!(
            whole_number("0", 1).unwrap_err().to_string(),
            "'0' is not a whole number above zero"
        );
        assert_eq!(
            whole_number("-1", 0).unwrap_err().to_string(),
            "'-1' is not a whole number"
        );
    }

    /// Two keys, one required: enough to see every kind of reading.
    #[derive(Debug, Default)]
    struct Pair {
        peer: Option<String<8>>,
        period: Option<Duration>,
    }

    const PAIR_KEYS: &[SettingKey] =
        &[SettingKey::required("peer"), SettingKey::optional("period")];

    impl Settings for Pair {
        fn keys(&self) -> &'static [SettingKey] {
            PAIR_KEYS
        }

        fn set<'v>(&mut self, key: &str, value: &'v str) -> Result<(), SettingError<'v>> {
            match key {
                "peer" => self.peer = Some(topic_level(value)?),
                "period" => self.period = Some(positive_duration(value)?),
                _ => return Err(SettingError::UnknownKey),
            }
            Ok(())
        }
    }

    fn readings(variables: &[(&str, &str)]) -> Vec<(&'static str, std::string::String)> {
        let mut found = Vec::new();
        read_variables(
            &mut Pair::default(),
            |key| {
                let name = key.variable().to_string();
                variables
                    .iter()
                    .find(|(variable, _)| *variable == name)
                    .map(|(_, value)| *value)
            },
            |key, reading| found.push((key.name, std::format!("{reading:?}"))),
        );
        found
    }

    #[test]
    fn variables_are_read_by_key_in_order() {
        assert_eq!(
            readings(&[("HILT_PERIOD", "2s"), ("HILT_PEER", "green")]),
            [
                ("peer", "Accepted(\"green\")".to_string()),
                ("period", "Accepted(\"2s\")".to_string())
            ]
        );
        assert_eq!(
            readings(&[("HILT_PERIOD", "0s")]),
            [
                ("peer", "Missing".to_string()),
                (
                    "period",
                    "Refused { value: \"0s\", error: ZeroDuration }".to_string()
                )
            ]
        );
        assert_eq!(readings(&[("HILT_PEER", "g")])[1].1, "Unset");
    }
}
