//! Commands: `<prefix>/mqb/cmd/<verb>/<id>` answered on
//! `<prefix>/mqb/reply/<id>`, and the `set` command's own grammar.

use core::fmt::{self, Write as _};

use embedded_hal::digital::OutputPin;
use embedded_storage::nor_flash::NorFlash;
use heapless::{String, Vec};

use super::blinky::parse_blinky_hz;
use super::{MAX_BLINKY_HZ, NodeManager, PAYLOAD_LEN, QUOTED_CHARS};
use crate::app::TruncatingWriter;
use crate::app::{Context, LogLevel};
use crate::apps::json::{self, Value};
use crate::mqtt::codec::QoS;
use crate::mqtt::session::{MAX_TOPIC_LEN, truncated};
use crate::mqtt::topic::validate_topic_name;
use crate::platform::Platform;
use crate::time::{Duration, Instant};

/// The longest `sysinfo_interval` accepted by `set`.
pub const MAX_SYSINFO_INTERVAL: Duration = Duration::from_secs(86_400);

/// How long a `reboot` waits for the broker to acknowledge its reply.
pub(super) const REBOOT_GRACE: Duration = Duration::from_secs(2);
/// Settings one `set` may change at once.
const MAX_SET_PAIRS: usize = 4;

/// Where a `reboot` command is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Reboot {
    None,
    /// The reply is out; reset once it is acknowledged or at `deadline`.
    Pending {
        deadline: Instant,
    },
    /// The platform has been asked to reset.
    Requested,
}

fn parse_log_level(text: &str) -> Option<LogLevel> {
    let text = json::unquoted(text);
    [
        LogLevel::Error,
        LogLevel::Warn,
        LogLevel::Info,
        LogLevel::Debug,
    ]
    .into_iter()
    .find(|level| text.eq_ignore_ascii_case(level.as_str()))
}

/// Whole seconds, `30` or `30s`, up to [`MAX_SYSINFO_INTERVAL`].
fn parse_interval(text: &str) -> Option<Duration> {
    let text = json::unquoted(text);
    let digits = text.strip_suffix('s').unwrap_or(text);
    if digits.is_empty() || !digits.bytes().all(|byte| byte.is_ascii_digit()) {
        return None;
    }
    let seconds = digits.parse::<u64>().ok()?;
    let interval = Duration::from_secs(seconds);
    (interval <= MAX_SYSINFO_INTERVAL).then_some(interval)
}

/// One change a `set` command asks for.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) enum Setting {
    BlinkyHz(f32),
    SysinfoInterval(Duration),
    LogLevel(LogLevel),
}

pub(super) type ErrorText = String<160>;

pub(super) fn error_text(arguments: fmt::Arguments<'_>) -> ErrorText {
    let mut text = String::new();
    let _ = TruncatingWriter(&mut text).write_fmt(arguments);
    text
}

/// `{"error": "<text>"}`.
pub(super) fn error_payload(text: &str) -> String<PAYLOAD_LEN> {
    let mut payload = String::new();
    let _ = payload.push_str("{\"error\": ");
    let _ = json::write_string(&mut payload, text);
    let _ = payload.push('}');
    payload
}

/// Why a `set` was refused; borrows the payload it quotes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum SetError<'a> {
    Malformed,
    TooManyPairs,
    NothingToSet,
    UnknownKey(&'a str),
    BlinkyHz(&'a str),
    SysinfoInterval(&'a str),
    LogLevel(&'a str),
}

impl fmt::Display for SetError<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let shown = |text| json::shown(text, QUOTED_CHARS);
        match *self {
            SetError::Malformed => {
                f.write_str("malformed set payload; use {\"key\": value} or key=value")
            }
            SetError::TooManyPairs => write!(f, "at most {MAX_SET_PAIRS} settings at once"),
            SetError::NothingToSet => f.write_str("nothing to set"),
            SetError::UnknownKey(key) => write!(
                f,
                "unknown key '{}'; settable: blinky_hz, sysinfo_interval, log_level",
                shown(key)
            ),
            SetError::BlinkyHz(value) => write!(
                f,
                "blinky_hz must be a number from 0 to {MAX_BLINKY_HZ}, not '{}'",
                shown(value)
            ),
            SetError::SysinfoInterval(value) => write!(
                f,
                "sysinfo_interval must be whole seconds from 0 to {}, not '{}'",
                MAX_SYSINFO_INTERVAL.as_secs(),
                shown(value)
            ),
            SetError::LogLevel(value) => write!(
                f,
                "log_level must be error, warn, info or debug, not '{}'",
                shown(value)
            ),
        }
    }
}

pub(super) fn setting<'a>(key: &'a str, value: &'a str) -> Result<Setting, SetError<'a>> {
    match key {
        "blinky_hz" => parse_blinky_hz(value)
            .map(Setting::BlinkyHz)
            .ok_or(SetError::BlinkyHz(value)),
        "sysinfo_interval" => parse_interval(value)
            .map(Setting::SysinfoInterval)
            .ok_or(SetError::SysinfoInterval(value)),
        "log_level" => parse_log_level(value)
            .map(Setting::LogLevel)
            .ok_or(SetError::LogLevel(value)),
        other => Err(SetError::UnknownKey(other)),
    }
}

/// Reads a `set` payload: `{"key": value, ...}` or `key=value`. Every pair
/// is checked before anything is applied.
fn parse_settings(payload: &[u8]) -> Result<Vec<Setting, MAX_SET_PAIRS>, SetError<'_>> {
    let text = core::str::from_utf8(payload).map_err(|_| SetError::Malformed)?;
    let text = text.trim();
    let mut settings = Vec::new();
    if text.starts_with('{') {
        let pairs = json::parse_flat_object::<MAX_SET_PAIRS>(text.as_bytes()).map_err(|error| {
            if error == json::ParseError::TooManyPairs {
                SetError::TooManyPairs
            } else {
                SetError::Malformed
            }
        })?;
        for (key, value) in pairs {
            let value = match value {
                Value::Number(text) | Value::String(text) => text,
                Value::Bool(true) => "true",
                Value::Bool(false) => "false",
                Value::Null => "null",
            };
            // Cannot overflow: as many settings as pairs.
            let _ = settings.push(setting(key, value)?);
        }
    } else {
        let (key, value) = text.split_once('=').ok_or(SetError::Malformed)?;
        let _ = settings.push(setting(key.trim(), value.trim())?);
    }
    if settings.is_empty() {
        return Err(SetError::NothingToSet);
    }
    Ok(settings)
}

impl<L: OutputPin, P: Platform, F: NorFlash> NodeManager<L, P, F> {
    pub(super) fn on_command(
        &mut self,
        context: &mut Context<'_>,
        topic: &str,
        rest: &str,
        payload: &[u8],
    ) {
        let mut levels = rest.split('/');
        let verb = levels.next().unwrap_or("");
        let id = levels.next().unwrap_or("");
        if verb.is_empty() || id.is_empty() {
            let command_prefix = self.command_prefix.clone();
            self.log(
                context,
                LogLevel::Warn,
                format_args!(
                    "node-manager: ignored command on {}: want {command_prefix}<verb>/<id>",
                    json::shown(topic, 64),
                ),
            );
            return;
        }
        let mut reply_topic: String<MAX_TOPIC_LEN> = String::new();
        if write!(reply_topic, "{}{id}", self.reply_prefix).is_err()
            || validate_topic_name(&reply_topic).is_err()
        {
            self.log(
                context,
                LogLevel::Warn,
                format_args!(
                    "node-manager: ignored {} command: id {:?} does not fit a reply topic",
                    json::shown(verb, QUOTED_CHARS),
                    json::shown(id, QUOTED_CHARS)
                ),
            );
            return;
        }
        if verb == "ota" {
            // Every chunk is a command: logged by the update itself, not
            // one line per chunk.
            let sha = levels.next().unwrap_or("");
            self.on_ota(context, &reply_topic, id, sha, payload);
            return;
        }
        self.log(
            context,
            LogLevel::Info,
            format_args!(
                "node-manager: command {} (id {})",
                json::shown(verb, QUOTED_CHARS),
                json::shown(id, QUOTED_CHARS)
            ),
        );
        let reply: String<PAYLOAD_LEN> = match verb {
            "ping" => truncated("{\"pong\": true}"),
            "sysinfo" => self.sysinfo_payload(context),
            "reboot" => truncated("{\"rebooting\": true}"),
            "set" => self.set(context, payload),
            other => error_payload(&error_text(format_args!(
                "unknown command '{}'",
                json::shown(other, QUOTED_CHARS)
            ))),
        };
        if let Err(error) = context.publish(&reply_topic, reply.as_bytes(), QoS::AtLeastOnce, false)
        {
            self.log(
                context,
                LogLevel::Warn,
                format_args!("node-manager: reply on {reply_topic} not sent: {error}"),
            );
        }
        if verb == "reboot" && self.reboot == Reboot::None {
            self.reboot = Reboot::Pending {
                deadline: context.now + REBOOT_GRACE,
            };
            self.log(
                context,
                LogLevel::Warn,
                format_args!("node-manager: rebooting on command"),
            );
        }
    }

    fn set(&mut self, context: &mut Context<'_>, payload: &[u8]) -> String<PAYLOAD_LEN> {
        let settings = match parse_settings(payload) {
            Ok(settings) => settings,
            Err(error) => {
                let text = error_text(format_args!("{error}"));
                self.log(
                    context,
                    LogLevel::Warn,
                    format_args!("node-manager: set refused: {text}"),
                );
                return error_payload(&text);
            }
        };
        let mut reply: String<PAYLOAD_LEN> = truncated("{\"ok\": true");
        for setting in settings {
            self.persist(context, setting);
            match setting {
                Setting::BlinkyHz(hz) => {
                    self.set_blinky_hz(context, hz);
                    let _ = write!(reply, ", \"blinky_hz\": {hz}");
                }
                Setting::SysinfoInterval(interval) => {
                    self.config.sysinfo_interval = interval;
                    self.next_sysinfo_at =
                        (!self.safe_mode && !interval.is_zero()).then(|| context.now + interval);
                    let _ = write!(reply, ", \"sysinfo_interval\": {}", interval.as_secs());
                    self.log(
                        context,
                        LogLevel::Info,
                        format_args!("node-manager: sysinfo every {}s", interval.as_secs()),
                    );
                }
                Setting::LogLevel(level) => {
                    self.config.log_level = level;
                    let _ = write!(reply, ", \"log_level\": \"{}\"", level.as_str());
                    self.log(
                        context,
                        LogLevel::Info,
                        format_args!("node-manager: log level {}", level.as_str()),
                    );
                }
            }
        }
        let _ = reply.push('}');
        reply
    }
}
