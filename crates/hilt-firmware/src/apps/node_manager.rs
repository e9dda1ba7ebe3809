//! node-manager (seed 004, after MQBoard): a board run from a distance over
//! its one MQTT connection, with everything under one `prefix`
//! (`esp32/test`).
//!
//! **Topics** (`<p>` is the prefix):
//!
//! | topic | direction | QoS | payload |
//! |---|---|---|---|
//! | `<p>/status` | out, retained | 1 | `{"state": "online", "safe_mode": false, "reset_cause": "power_on", "crashes": 0, "firmware_version": "0.1.0"}` after every connect; the last will is `{"state": "offline"}` (retained, QoS 1) |
//! | `<p>/log` | out | 0 | one log line per message, e.g. `I 11214 node-manager: connected, logging to esp32/test/log` |
//! | `<p>/sysinfo` | out | 0 | the sysinfo object below, every `sysinfo_interval` (60s) from boot |
//! | `<p>/mqb/cmd/<verb>/<id>` | in (`<p>/mqb/cmd/#`) | 1 | a command; levels after `<id>` are ignored (MQBoard puts a sequence number there) |
//! | `<p>/mqb/reply/<id>` | out | 1 | the command's JSON reply |
//! | `<p>/blinky/hz` | in | 0 | the blink rate, a number: `4`, `2.5`, `0` (off) |
//!
//! **Commands.** `ping` → `{"pong": true}`. `sysinfo` →
//! `{"uptime": 61, "free_bytes": 101424, "largest_free_block": 94752,
//! "reset_cause": "power_on", "firmware_version": "0.1.0", "safe_mode": false,
//! "crashes": 0, "boots": 1, "connects": 1, "log_lines_dropped": 0}`
//! (uptime in whole seconds since boot; memory from the platform; `crashes`
//! are the consecutive crashes before this boot, `boots` the boots since
//! power-on). `reboot` → `{"rebooting": true}`, then, once the broker has
//! acknowledged the reply (or after 2s without that), the app asks the
//! platform for a software reset; the will then marks the board offline.
//! `set` changes settings at run time (not kept across a reset), with the
//! payload either a JSON object `{"blinky_hz": 2.5, "log_level": "debug"}`
//! or one `key=value` (`blinky_hz=4`). Keys: `blinky_hz` (a number from 0
//! to [`MAX_BLINKY_HZ`]), `sysinfo_interval` (whole seconds, 0 = off, at
//! most a day; `30` or `30s`), `log_level` (`error`, `warn`, `info`,
//! `debug`). Every pair is checked before any is applied; the reply is
//! `{"ok": true, "blinky_hz": 2.5, "log_level": "debug"}` or
//! `{"error": "..."}`. Any other verb gets
//! `{"error": "unknown command 'xyz'"}`. A command topic without a verb or
//! an id, or with an id too long for a reply topic, is logged and ignored.
//!
//! **Remote log.** What the app logs ([`NodeManager::log`]) goes to the
//! device log and, if at least as important as `log_level` (`info`), to
//! `<p>/log` as `<E|W|I|D> <milliseconds since boot> <text>`, like MQBoard's
//! console. Lines wait in a buffer of [`LOG_BUFFER_LINES`] lines while the
//! board is offline (or the transmit buffer is full); when it is full the
//! oldest line is dropped and counted, and the next flush first publishes
//! `W <ms> node-manager: ... 5 log lines dropped while offline`. The buffer
//! is flushed, in order, after every connect. Lines of the MQTT session
//! itself stay in the device log.
//!
//! **Watchdog, crashes and safe mode.** At boot the app arms the watchdog
//! with `watchdog_timeout` (8s; zero: no watchdog) and feeds it on every
//! poll, and asks to be polled at least every half timeout. It keeps a
//! crash counter in the platform's retained memory, `words[0]` =
//! [`RETAINED_MAGIC`] (anything else means blank, e.g. after power-on, and
//! the words are cleared), `words[1]` = consecutive crashes, `words[2]` =
//! boots since the words were cleared. A boot after a crash (watchdog or
//! panic) adds one to the counter; any other reset cause sets it to 0.
//! With `safe_mode_after` (3; zero: never) or more consecutive crashes the
//! board boots into safe mode: only MQTT, the status, the remote log and
//! the command handler run (no blinky, no periodic sysinfo, the LED stays
//! dark; `set` still records values), and status and sysinfo say
//! `"safe_mode": true`. Once the app has run `healthy_after` (60s) since
//! boot without a reset, it sets the counter back to 0, so that crashes
//! far apart never add up to safe mode; a board in safe mode stays in it
//! until its next reset (e.g. a `reboot` command).
//!
//! **Blinky.** The LED toggles at `blinky_hz` (1 Hz: on 500ms, off 500ms),
//! starting lit at boot; a new rate restarts the pattern, lit, at once.
//! 0 turns it off (dark). The rate comes from `<p>/blinky/hz` or `set`;
//! anything that is not a number from 0 to [`MAX_BLINKY_HZ`] is logged and
//! ignored.

use core::fmt::{self, Write as _};

use embedded_hal::digital::OutputPin;
use heapless::{Deque, String, Vec};

use crate::app::{App, Context, LOG_LINE_LEN, LogLevel, Message, TruncatingWriter};
use crate::apps::json::{self, Value};
use crate::mqtt::codec::QoS;
use crate::mqtt::session::{MAX_CLIENT_ID_LEN, MAX_TOPIC_LEN, SessionOptions, Will, truncated};
use crate::mqtt::topic::validate_topic_name;
use crate::platform::{Platform, ResetCause};
use crate::time::{Duration, Instant};

/// Longest prefix kept; longer ones are cut.
pub const MAX_PREFIX_LEN: usize = 64;
/// MQBoard's example prefix.
pub const DEFAULT_PREFIX: &str = "esp32/test";
/// Remote log lines kept while offline; older lines are dropped and counted.
pub const LOG_BUFFER_LINES: usize = 16;
/// The fastest blink rate accepted (10ms on, 10ms off).
pub const MAX_BLINKY_HZ: f32 = 50.0;
/// The longest `sysinfo_interval` accepted by `set`.
pub const MAX_SYSINFO_INTERVAL: Duration = Duration::from_secs(86_400);
/// `words[0]` of the retained memory when the other words are the app's.
pub const RETAINED_MAGIC: u32 = 0x4E4D_4752; // "NMGR"
/// Index of the magic word in the retained memory.
pub const WORD_MAGIC: usize = 0;
/// Index of the consecutive-crash counter.
pub const WORD_CRASHES: usize = 1;
/// Index of the boot counter.
pub const WORD_BOOTS: usize = 2;

/// How long a `reboot` waits for the broker to acknowledge its reply.
const REBOOT_GRACE: Duration = Duration::from_secs(2);
/// How soon to try again when the transmit buffer had no room for the log.
const FLUSH_RETRY: Duration = Duration::from_millis(10);
/// The longest the app sleeps when nothing else is due.
const IDLE_POLL: Duration = Duration::from_secs(60);
/// Settings one `set` may change at once.
const MAX_SET_PAIRS: usize = 4;
/// Room for a reply, a status or a sysinfo payload (the session queues at
/// most 512 bytes of payload).
const PAYLOAD_LEN: usize = 512;
/// Characters of network text (verbs, keys, values) quoted back.
const QUOTED_CHARS: usize = 32;

/// The node manager's settings; `config:` in a scenario.
#[derive(Clone, Debug)]
pub struct NodeManagerConfig {
    pub client_id: String<MAX_CLIENT_ID_LEN>,
    /// `prefix`: the first levels of every topic; `esp32/test`.
    pub prefix: String<MAX_PREFIX_LEN>,
    /// `keepalive`: 60s.
    pub keep_alive: Duration,
    /// `sysinfo_interval`: 60s; zero turns periodic sysinfo off.
    pub sysinfo_interval: Duration,
    /// `blinky_hz`: 1 Hz; 0 is off.
    pub blinky_hz: f32,
    /// `log_level`: the least important level published on `<prefix>/log`;
    /// info.
    pub log_level: LogLevel,
    /// `watchdog_timeout`: 8s; zero: the watchdog is not armed.
    pub watchdog_timeout: Duration,
    /// `safe_mode_after`: consecutive crashes that send the board into safe
    /// mode; 3. Zero: never.
    pub safe_mode_after: u32,
    /// `healthy_after`: run time after which the crash counter is cleared;
    /// 60s.
    pub healthy_after: Duration,
}

impl NodeManagerConfig {
    pub fn new(client_id: &str) -> Self {
        NodeManagerConfig {
            client_id: truncated(client_id),
            prefix: truncated(DEFAULT_PREFIX),
            keep_alive: Duration::from_secs(60),
            sysinfo_interval: Duration::from_secs(60),
            blinky_hz: 1.0,
            log_level: LogLevel::Info,
            watchdog_timeout: Duration::from_secs(8),
            safe_mode_after: 3,
            healthy_after: Duration::from_secs(60),
        }
    }
}

/// Half a blink period, or `None` for a rate that means "off" (0, or
/// anything that is not a usable rate).
fn half_period(hz: f32) -> Option<Duration> {
    if !(hz.is_finite() && hz > 0.0) {
        return None;
    }
    let micros = 500_000.0 / hz.min(MAX_BLINKY_HZ);
    // `as` saturates; a rate within bounds gives at least 10ms.
    Some(Duration::from_micros((micros as u64).max(1)))
}

/// A blink rate from text: a number from 0 to [`MAX_BLINKY_HZ`].
fn parse_blinky_hz(text: &str) -> Option<f32> {
    json::parse_finite_f32(json::unquoted(text)).filter(|hz| (0.0..=MAX_BLINKY_HZ).contains(hz))
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

fn level_letter(level: LogLevel) -> char {
    match level {
        LogLevel::Error => 'E',
        LogLevel::Warn => 'W',
        LogLevel::Info => 'I',
        LogLevel::Debug => 'D',
    }
}

/// One change a `set` command asks for.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Setting {
    BlinkyHz(f32),
    SysinfoInterval(Duration),
    LogLevel(LogLevel),
}

type ErrorText = String<160>;

fn error_text(arguments: fmt::Arguments<'_>) -> ErrorText {
    let mut text = String::new();
    let _ = TruncatingWriter(&mut text).write_fmt(arguments);
    text
}

/// `{"error": "<text>"}`.
fn error_payload(text: &str) -> String<PAYLOAD_LEN> {
    let mut payload = String::new();
    let _ = payload.push_str("{\"error\": ");
    let _ = json::write_string(&mut payload, text);
    let _ = payload.push('}');
    payload
}

/// Why a `set` was refused; borrows the payload it quotes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum SetError<'a> {
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

fn setting<'a>(key: &'a str, value: &'a str) -> Result<Setting, SetError<'a>> {
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

/// The remote log's buffer; see the module documentation.
#[derive(Debug, Default)]
struct RemoteLog {
    lines: Deque<String<LOG_LINE_LEN>, LOG_BUFFER_LINES>,
    /// Dropped since the last notice was published.
    dropped: u32,
    /// Dropped since boot.
    dropped_total: u32,
    /// The last flush stopped on a full transmit buffer.
    blocked: bool,
}

impl RemoteLog {
    fn push(&mut self, line: String<LOG_LINE_LEN>) {
        if self.lines.is_full() {
            self.lines.pop_front();
            self.dropped = self.dropped.saturating_add(1);
            self.dropped_total = self.dropped_total.saturating_add(1);
        }
        let _ = self.lines.push_back(line);
    }
}

/// Where a `reboot` command is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Reboot {
    None,
    /// The reply is out; reset once it is acknowledged or at `deadline`.
    Pending {
        deadline: Instant,
    },
    /// The platform has been asked to reset.
    Requested,
}

/// The node-manager app; see the module documentation.
#[derive(Debug)]
pub struct NodeManager<L, P> {
    config: NodeManagerConfig,
    led: L,
    platform: P,
    boot: Instant,
    reset_cause: ResetCause,
    /// Consecutive crashes before this boot.
    crashes: u32,
    boots: u32,
    safe_mode: bool,
    /// The crash counter has been cleared after `healthy_after`.
    healthy: bool,
    boot_announced: bool,
    was_connected: bool,
    status_topic: String<MAX_TOPIC_LEN>,
    log_topic: String<MAX_TOPIC_LEN>,
    sysinfo_topic: String<MAX_TOPIC_LEN>,
    blinky_topic: String<MAX_TOPIC_LEN>,
    command_filter: String<MAX_TOPIC_LEN>,
    /// `<prefix>/mqb/cmd/`.
    command_prefix: String<MAX_TOPIC_LEN>,
    /// `<prefix>/mqb/reply/`.
    reply_prefix: String<MAX_TOPIC_LEN>,
    remote_log: RemoteLog,
    led_on: bool,
    led_failed: bool,
    next_toggle_at: Option<Instant>,
    next_sysinfo_at: Option<Instant>,
    reboot: Reboot,
}

impl<L: OutputPin, P: Platform> NodeManager<L, P> {
    /// A board booting at `boot`: reads the reset cause, updates the crash
    /// counter in retained memory, decides on safe mode, arms the watchdog
    /// and starts blinking (unless in safe mode).
    pub fn new(config: NodeManagerConfig, led: L, mut platform: P, boot: Instant) -> Self {
        let reset_cause = platform.reset_cause();
        let memory = platform.retained_memory();
        if memory.words[WORD_MAGIC] != RETAINED_MAGIC {
            memory.words = [0; 8];
            memory.words[WORD_MAGIC] = RETAINED_MAGIC;
        }
        memory.words[WORD_CRASHES] = if reset_cause.is_crash() {
            memory.words[WORD_CRASHES].saturating_add(1)
        } else {
            0
        };
        memory.words[WORD_BOOTS] = memory.words[WORD_BOOTS].saturating_add(1);
        let crashes = memory.words[WORD_CRASHES];
        let boots = memory.words[WORD_BOOTS];
        let safe_mode = config.safe_mode_after > 0 && crashes >= config.safe_mode_after;
        if !config.watchdog_timeout.is_zero() {
            platform.start_watchdog(config.watchdog_timeout);
        }

        let topic = |suffix: &str| {
            let mut topic: String<MAX_TOPIC_LEN> = String::new();
            let _ = write!(topic, "{}/{suffix}", config.prefix);
            topic
        };
        let next_sysinfo_at = (!safe_mode && !config.sysinfo_interval.is_zero())
            .then(|| boot + config.sysinfo_interval);
        let mut app = NodeManager {
            status_topic: topic("status"),
            log_topic: topic("log"),
            sysinfo_topic: topic("sysinfo"),
            blinky_topic: topic("blinky/hz"),
            command_filter: topic("mqb/cmd/#"),
            command_prefix: topic("mqb/cmd/"),
            reply_prefix: topic("mqb/reply/"),
            config,
            led,
            platform,
            boot,
            reset_cause,
            crashes,
            boots,
            safe_mode,
            healthy: false,
            boot_announced: false,
            was_connected: false,
            remote_log: RemoteLog::default(),
            led_on: false,
            led_failed: false,
            next_toggle_at: None,
            next_sysinfo_at,
            reboot: Reboot::None,
        };
        app.restart_blink(boot);
        app
    }

    pub fn config(&self) -> &NodeManagerConfig {
        &self.config
    }

    pub fn led(&self) -> &L {
        &self.led
    }

    pub fn platform(&self) -> &P {
        &self.platform
    }

    pub fn platform_mut(&mut self) -> &mut P {
        &mut self.platform
    }

    /// True when the board booted into safe mode.
    pub fn safe_mode(&self) -> bool {
        self.safe_mode
    }

    /// Consecutive crashes before this boot.
    pub fn crashes(&self) -> u32 {
        self.crashes
    }

    pub fn reset_cause(&self) -> ResetCause {
        self.reset_cause
    }

    /// The blink rate now, in Hz (0: off).
    pub fn blinky_hz(&self) -> f32 {
        self.config.blinky_hz
    }

    /// Log lines waiting to be published.
    pub fn log_lines_buffered(&self) -> usize {
        self.remote_log.lines.len()
    }

    /// Log lines dropped from the full buffer since boot.
    pub fn log_lines_dropped(&self) -> u32 {
        self.remote_log.dropped_total
    }

    /// `<prefix>/status`.
    pub fn status_topic(&self) -> &str {
        &self.status_topic
    }

    /// `<prefix>/log`.
    pub fn log_topic(&self) -> &str {
        &self.log_topic
    }

    /// `<prefix>/sysinfo`.
    pub fn sysinfo_topic(&self) -> &str {
        &self.sysinfo_topic
    }

    /// `<prefix>/blinky/hz`.
    pub fn blinky_topic(&self) -> &str {
        &self.blinky_topic
    }

    /// Writes a line to the device log and, if `level` is at least as
    /// important as `log_level`, to the remote log.
    pub fn log(
        &mut self,
        context: &mut Context<'_>,
        level: LogLevel,
        arguments: fmt::Arguments<'_>,
    ) {
        context.log(level, arguments);
        if level <= self.config.log_level {
            // The backlog first, so a new line never pushes out an old one
            // that could be sent now.
            self.flush_log(context);
            let mut line = String::new();
            let millis = context.now.saturating_since(self.boot).as_millis();
            let _ = write!(
                TruncatingWriter(&mut line),
                "{} {millis} {arguments}",
                level_letter(level)
            );
            self.remote_log.push(line);
        }
        self.flush_log(context);
    }

    /// Publishes the buffered log, oldest first, as far as the link allows.
    fn flush_log(&mut self, context: &mut Context<'_>) {
        self.remote_log.blocked = false;
        if !context.mqtt.is_connected() {
            return;
        }
        if self.remote_log.dropped > 0 {
            let dropped = self.remote_log.dropped;
            let mut notice: String<LOG_LINE_LEN> = String::new();
            let _ = write!(
                notice,
                "W {} node-manager: ... {dropped} log line{} dropped while offline",
                context.now.saturating_since(self.boot).as_millis(),
                if dropped == 1 { "" } else { "s" }
            );
            if context
                .publish(&self.log_topic, notice.as_bytes(), QoS::AtMostOnce, false)
                .is_err()
            {
                self.remote_log.blocked = true;
                return;
            }
            self.remote_log.dropped = 0;
        }
        while let Some(line) = self.remote_log.lines.front() {
            if context
                .publish(&self.log_topic, line.as_bytes(), QoS::AtMostOnce, false)
                .is_err()
            {
                self.remote_log.blocked = true;
                return;
            }
            self.remote_log.lines.pop_front();
        }
    }

    fn announce_boot(&mut self, context: &mut Context<'_>) {
        if self.boot_announced {
            return;
        }
        self.boot_announced = true;
        let (boots, cause, crashes) = (self.boots, self.reset_cause.as_str(), self.crashes);
        let mut version: String<32> = String::new();
        let _ = TruncatingWriter(&mut version).write_str(self.platform.firmware_version());
        self.log(
            context,
            LogLevel::Info,
            format_args!(
                "node-manager: boot {boots} since power-on, reset cause {cause}, firmware {version}"
            ),
        );
        if self.safe_mode {
            self.log(
                context,
                LogLevel::Warn,
                format_args!(
                    "node-manager: SAFE MODE after {crashes} consecutive crashes: only MQTT and commands run"
                ),
            );
        } else if crashes > 0 {
            self.log(
                context,
                LogLevel::Warn,
                format_args!("node-manager: {crashes} consecutive crashes before this boot"),
            );
        }
    }

    fn set_led(&mut self, on: bool) {
        self.led_on = on;
        let result = if on {
            self.led.set_high()
        } else {
            self.led.set_low()
        };
        // Logged (once) at the next poll; a blink must not spam the log.
        if result.is_err() {
            self.led_failed = true;
        }
    }

    /// Starts the blink pattern for the configured rate, lit, at `now`.
    fn restart_blink(&mut self, now: Instant) {
        match half_period(self.config.blinky_hz).filter(|_| !self.safe_mode) {
            Some(half) => {
                self.set_led(true);
                self.next_toggle_at = Some(now + half);
            }
            None => {
                self.set_led(false);
                self.next_toggle_at = None;
            }
        }
    }

    fn set_blinky_hz(&mut self, context: &mut Context<'_>, hz: f32) {
        self.config.blinky_hz = hz;
        if self.safe_mode {
            self.log(
                context,
                LogLevel::Info,
                format_args!(
                    "node-manager: blinky rate {hz} Hz recorded; the LED stays dark in safe mode"
                ),
            );
            return;
        }
        self.restart_blink(context.now);
        self.log(
            context,
            LogLevel::Info,
            format_args!("node-manager: blinky at {hz} Hz"),
        );
    }

    fn status_payload(&self) -> String<PAYLOAD_LEN> {
        let mut payload = String::new();
        let _ = write!(
            payload,
            "{{\"state\": \"online\", \"safe_mode\": {}, \"reset_cause\": \"{}\", \"crashes\": {}, \"firmware_version\": ",
            self.safe_mode,
            self.reset_cause.as_str(),
            self.crashes
        );
        let _ = json::write_string(
            &mut payload,
            json::shown(self.platform.firmware_version(), QUOTED_CHARS),
        );
        let _ = payload.push('}');
        payload
    }

    fn sysinfo_payload(&self, context: &Context<'_>) -> String<PAYLOAD_LEN> {
        let memory = self.platform.memory();
        let mut payload = String::new();
        let _ = write!(
            payload,
            "{{\"uptime\": {}, \"free_bytes\": {}, \"largest_free_block\": {}, \"reset_cause\": \"{}\", \"firmware_version\": ",
            context.now.saturating_since(self.boot).as_secs(),
            memory.free_bytes,
            memory.largest_free_block,
            self.reset_cause.as_str(),
        );
        let _ = json::write_string(
            &mut payload,
            json::shown(self.platform.firmware_version(), QUOTED_CHARS),
        );
        let _ = write!(
            payload,
            ", \"safe_mode\": {}, \"crashes\": {}, \"boots\": {}, \"connects\": {}, \"log_lines_dropped\": {}}}",
            self.safe_mode,
            self.crashes,
            self.boots,
            context.mqtt.statistics().connects,
            self.remote_log.dropped_total
        );
        payload
    }

    fn on_blinky_rate(&mut self, context: &mut Context<'_>, payload: &[u8]) {
        match core::str::from_utf8(payload).ok().and_then(parse_blinky_hz) {
            Some(hz) => self.set_blinky_hz(context, hz),
            None => self.log(
                context,
                LogLevel::Warn,
                format_args!(
                    "node-manager: ignored blinky rate {:?} ({} bytes): want a number from 0 to {MAX_BLINKY_HZ}",
                    json::shown_bytes(payload, QUOTED_CHARS),
                    payload.len()
                ),
            ),
        }
    }

    fn on_command(&mut self, context: &mut Context<'_>, topic: &str, rest: &str, payload: &[u8]) {
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

    fn blink(&mut self, now: Instant) {
        let (Some(at), Some(half)) = (self.next_toggle_at, half_period(self.config.blinky_hz))
        else {
            return;
        };
        if now < at {
            return;
        }
        self.set_led(!self.led_on);
        let mut next = at;
        while next <= now {
            next = next + half;
        }
        self.next_toggle_at = Some(next);
    }

    fn periodic_sysinfo(&mut self, context: &mut Context<'_>) {
        let Some(at) = self.next_sysinfo_at else {
            return;
        };
        let now = context.now;
        if now < at {
            return;
        }
        let mut next = at;
        while next <= now {
            next = next + self.config.sysinfo_interval;
        }
        self.next_sysinfo_at = Some(next);
        let payload = self.sysinfo_payload(context);
        if let Err(error) = context.publish(
            &self.sysinfo_topic,
            payload.as_bytes(),
            QoS::AtMostOnce,
            false,
        ) {
            self.log(
                context,
                LogLevel::Debug,
                format_args!("node-manager: sysinfo not sent: {error}"),
            );
        }
    }
}

impl<L: OutputPin, P: Platform> App for NodeManager<L, P> {
    fn session_options(&self) -> SessionOptions {
        let mut options = SessionOptions::new(&self.config.client_id);
        options.keep_alive = self.config.keep_alive;
        options.will = Some(Will {
            topic: truncated(&self.status_topic),
            payload: Vec::from_slice(b"{\"state\": \"offline\"}").unwrap_or_default(),
            qos: QoS::AtLeastOnce,
            retain: true,
        });
        options
    }

    fn on_connected(&mut self, context: &mut Context<'_>) {
        self.announce_boot(context);
        self.was_connected = true;
        let mut subscribed = context.subscribe(&self.command_filter, QoS::AtLeastOnce);
        if subscribed.is_ok() && !self.safe_mode {
            subscribed = context.subscribe(&self.blinky_topic, QoS::AtMostOnce);
        }
        if let Err(error) = subscribed {
            self.log(
                context,
                LogLevel::Error,
                format_args!("node-manager: cannot subscribe: {error}"),
            );
        }
        let status = self.status_payload();
        if let Err(error) = context.publish(
            &self.status_topic,
            status.as_bytes(),
            QoS::AtLeastOnce,
            true,
        ) {
            self.log(
                context,
                LogLevel::Warn,
                format_args!("node-manager: status not sent: {error}"),
            );
        }
        let log_topic = self.log_topic.clone();
        self.log(
            context,
            LogLevel::Info,
            format_args!("node-manager: connected, logging to {log_topic}"),
        );
    }

    fn on_message(&mut self, context: &mut Context<'_>, message: &Message<'_>) {
        if message.topic == self.blinky_topic.as_str() {
            if self.safe_mode {
                self.log(
                    context,
                    LogLevel::Info,
                    format_args!("node-manager: blinky rate ignored in safe mode"),
                );
            } else {
                self.on_blinky_rate(context, message.payload);
            }
            return;
        }
        if let Some(rest) = message.topic.strip_prefix(self.command_prefix.as_str()) {
            self.on_command(context, message.topic, rest, message.payload);
            return;
        }
        self.log(
            context,
            LogLevel::Debug,
            format_args!(
                "node-manager: ignored message on {}",
                json::shown(message.topic, 64)
            ),
        );
    }

    fn poll(&mut self, context: &mut Context<'_>) -> Instant {
        let now = context.now;
        let watchdog = !self.config.watchdog_timeout.is_zero();
        if watchdog {
            self.platform.feed_watchdog();
        }
        self.announce_boot(context);

        if self.was_connected && !context.mqtt.is_connected() {
            self.was_connected = false;
            self.log(
                context,
                LogLevel::Warn,
                format_args!("node-manager: MQTT connection lost; buffering the log"),
            );
        }

        let healthy_at = self.boot + self.config.healthy_after;
        if !self.healthy && now >= healthy_at {
            self.healthy = true;
            let memory = self.platform.retained_memory();
            let before = memory.words[WORD_CRASHES];
            memory.words[WORD_CRASHES] = 0;
            if before > 0 {
                self.log(
                    context,
                    LogLevel::Info,
                    format_args!(
                        "node-manager: healthy for {}s, crash counter cleared (was {before})",
                        self.config.healthy_after.as_secs()
                    ),
                );
            }
        }

        self.blink(now);
        if core::mem::take(&mut self.led_failed) {
            self.log(
                context,
                LogLevel::Error,
                format_args!("node-manager: LED pin failed"),
            );
        }
        self.periodic_sysinfo(context);

        if let Reboot::Pending { deadline } = self.reboot
            && (context.mqtt.queued_messages() == 0 || now >= deadline)
        {
            self.log(
                context,
                LogLevel::Warn,
                format_args!("node-manager: resetting now"),
            );
            // A commanded reboot is a clean one: the last log lines go out,
            // then DISCONNECT, so the broker discards the will instead of
            // announcing the board offline.
            self.flush_log(context);
            context.mqtt.disconnect();
            self.reboot = Reboot::Requested;
            self.platform.request_reset();
        }

        self.flush_log(context);

        let mut next = now + IDLE_POLL;
        if watchdog {
            next = next.min(now + self.config.watchdog_timeout / 2);
        }
        for deadline in [
            self.next_toggle_at,
            self.next_sysinfo_at,
            (!self.healthy).then_some(healthy_at),
            match self.reboot {
                Reboot::Pending { deadline } => Some(deadline),
                _ => None,
            },
            (self.remote_log.blocked && context.mqtt.is_connected()).then(|| now + FLUSH_RETRY),
        ]
        .into_iter()
        .flatten()
        {
            next = next.min(deadline);
        }
        next
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use std::string::String as StdString;
    use std::vec::Vec as StdVec;

    use super::*;
    use crate::apps::test_harness::{FakePin, Harness, at};
    use crate::platform::{MemoryFigures, RetainedMemory};

    #[derive(Debug)]
    struct FakePlatform {
        cause: ResetCause,
        memory: RetainedMemory,
        watchdog: Option<Duration>,
        feeds: u32,
        reset_requests: u32,
    }

    impl FakePlatform {
        fn booted_by(cause: ResetCause, memory: RetainedMemory) -> Self {
            FakePlatform {
                cause,
                memory,
                watchdog: None,
                feeds: 0,
                reset_requests: 0,
            }
        }
    }

    impl Platform for FakePlatform {
        fn reset_cause(&self) -> ResetCause {
            self.cause
        }
        fn retained_memory(&mut self) -> &mut RetainedMemory {
            &mut self.memory
        }
        fn start_watchdog(&mut self, timeout: Duration) {
            self.watchdog = Some(timeout);
        }
        fn feed_watchdog(&mut self) {
            self.feeds += 1;
        }
        fn request_reset(&mut self) {
            self.reset_requests += 1;
        }
        fn memory(&self) -> MemoryFigures {
            MemoryFigures {
                free_bytes: 101_424,
                largest_free_block: 94_752,
            }
        }
        fn firmware_version(&self) -> &str {
            "0.1.0"
        }
    }

    type Manager = NodeManager<FakePin, FakePlatform>;

    fn boot_with(config: NodeManagerConfig, platform: FakePlatform) -> Harness<Manager> {
        Harness::new(NodeManager::new(
            config,
            FakePin::default(),
            platform,
            Instant::BOOT,
        ))
    }

    fn harness() -> Harness<Manager> {
        boot_with(
            NodeManagerConfig::new("esp32-test-mqtest"),
            FakePlatform::booted_by(ResetCause::PowerOn, RetainedMemory::default()),
        )
    }

    /// Sends a command and returns the payloads of its replies.
    fn command(
        harness: &mut Harness<Manager>,
        verb_and_id: &str,
        payload: &[u8],
    ) -> StdVec<StdString> {
        let topic = std::format!("esp32/test/mqb/cmd/{verb_and_id}");
        harness.deliver(&topic, payload);
        let id = verb_and_id.split('/').nth(1).unwrap_or("");
        let reply_topic = std::format!("esp32/test/mqb/reply/{id}");
        harness
            .sent_on(&reply_topic)
            .into_iter()
            .map(|sent| {
                assert_eq!(sent.qos, QoS::AtLeastOnce);
                sent.payload
            })
            .collect()
    }

    fn log_lines(harness: &Harness<Manager>) -> StdVec<StdString> {
        harness
            .sent_on("esp32/test/log")
            .into_iter()
            .map(|sent| sent.payload)
            .collect()
    }

    #[test]
    fn connects_with_an_offline_will_and_a_retained_online_status() {
        let mut harness = harness();
        harness.run_until(at(1.0));
        let will = harness.wills[0].clone().unwrap();
        assert_eq!(
            (
                will.topic.as_str(),
                will.payload.as_str(),
                will.qos,
                will.retain
            ),
            (
                "esp32/test/status",
                "{\"state\": \"offline\"}",
                QoS::AtLeastOnce,
                true
            )
        );
        let status = harness.sent_on("esp32/test/status");
        assert_eq!(status.len(), 1);
        assert_eq!(
            status[0].payload,
            "{\"state\": \"online\", \"safe_mode\": false, \"reset_cause\": \"power_on\", \"crashes\": 0, \"firmware_version\": \"0.1.0\"}"
        );
        assert!(status[0].retain);
        assert_eq!(status[0].qos, QoS::AtLeastOnce);
        assert_eq!(
            harness.subscriptions,
            [
                ("esp32/test/mqb/cmd/#".into(), QoS::AtLeastOnce),
                ("esp32/test/blinky/hz".into(), QoS::AtMostOnce)
            ]
        );
    }

    #[test]
    fn ping_sysinfo_and_unknown_commands_are_answered() {
        let mut harness = harness();
        harness.run_until(at(61.5));
        assert_eq!(command(&mut harness, "ping/42", b""), ["{\"pong\": true}"]);
        assert_eq!(
            command(&mut harness, "sysinfo/7", b""),
            [
                "{\"uptime\": 61, \"free_bytes\": 101424, \"largest_free_block\": 94752, \"reset_cause\": \"power_on\", \"firmware_version\": \"0.1.0\", \"safe_mode\": false, \"crashes\": 0, \"boots\": 1, \"connects\": 1, \"log_lines_dropped\": 0}"
            ]
        );
        assert_eq!(
            command(&mut harness, "xyz/9", b""),
            ["{\"error\": \"unknown command 'xyz'\"}"]
        );
        // A verb full of JSON's special characters still gives valid JSON.
        assert_eq!(
            command(&mut harness, "a\"b\\c/10", b""),
            ["{\"error\": \"unknown command 'a\\\"b\\\\c'\"}"]
        );
        // MQBoard puts a sequence number after the id: it is ignored.
        assert_eq!(
            command(&mut harness, "ping/0F00D/0", b""),
            ["{\"pong\": true}"]
        );
        assert!(
            log_lines(&harness)
                .iter()
                .any(|l| l.contains("command ping (id 42)"))
        );
    }

    #[test]
    fn malformed_command_topics_are_logged_and_ignored() {
        let mut harness = harness();
        harness.run_until(at(1.0));
        let before = harness.sent.len();
        for topic in [
            "esp32/test/mqb/cmd/ping",
            "esp32/test/mqb/cmd/ping/",
            "esp32/test/mqb/cmd//5",
            "esp32/test/mqb/cmd/",
        ] {
            harness.deliver(topic, b"");
        }
        let long_id = std::format!("esp32/test/mqb/cmd/ping/{}", "x".repeat(200));
        harness.deliver(&long_id, b"");
        let replies = harness.sent[before..]
            .iter()
            .filter(|sent| sent.topic.contains("/mqb/reply/"))
            .count();
        assert_eq!(replies, 0);
        let ignored = log_lines(&harness)
            .iter()
            .filter(|line| line.contains("ignored"))
            .count();
        assert_eq!(ignored, 5);
    }

    #[test]
    fn reboot_replies_first_then_requests_a_reset_once() {
        let mut harness = harness();
        harness.run_until(at(3.0));
        assert_eq!(
            command(&mut harness, "reboot/1", b""),
            ["{\"rebooting\": true}"]
        );
        // The harness acknowledged the reply at once, so the reset follows
        // in the same instant, after the reply went out.
        assert_eq!(harness.app().platform().reset_requests, 1);
        harness.run_until(at(10.0));
        assert_eq!(harness.app().platform().reset_requests, 1);
        assert!(harness.logged("resetting now"));
    }

    #[test]
    fn reboot_waits_for_the_acknowledgement_at_most_two_seconds() {
        let mut harness = harness();
        harness.run_until(at(3.0));
        harness.broker.acknowledges_publishes = false;
        assert_eq!(
            command(&mut harness, "reboot/1", b""),
            ["{\"rebooting\": true}"]
        );
        harness.run_until(at(4.9));
        assert_eq!(
            harness.app().platform().reset_requests,
            0,
            "waiting for PUBACK"
        );
        harness.run_until(at(5.0));
        assert_eq!(harness.app().platform().reset_requests, 1);
    }

    #[test]
    fn set_changes_settings_in_either_syntax() {
        let mut harness = harness();
        harness.run_until(at(1.0));
        assert_eq!(
            command(
                &mut harness,
                "set/1",
                b"{\"blinky_hz\": 2.5, \"log_level\": \"debug\"}"
            ),
            ["{\"ok\": true, \"blinky_hz\": 2.5, \"log_level\": \"debug\"}"]
        );
        assert_eq!(harness.app().blinky_hz(), 2.5);
        assert_eq!(harness.app().config().log_level, LogLevel::Debug);
        assert_eq!(
            command(&mut harness, "set/2", b"sysinfo_interval=30"),
            ["{\"ok\": true, \"sysinfo_interval\": 30}"]
        );
        assert_eq!(
            command(&mut harness, "set/3", b" blinky_hz = \"4\" "),
            ["{\"ok\": true, \"blinky_hz\": 4}"]
        );
        assert_eq!(
            command(&mut harness, "set/4", b"{\"sysinfo_interval\": \"45s\"}"),
            ["{\"ok\": true, \"sysinfo_interval\": 45}"]
        );
        assert_eq!(
            harness.app().config().sysinfo_interval,
            Duration::from_secs(45)
        );
        // The new interval counts from the set.
        let now = harness.now;
        harness.run_for(Duration::from_secs(46));
        let sysinfo = harness.sent_on("esp32/test/sysinfo");
        assert_eq!(sysinfo.len(), 1);
        assert_eq!(sysinfo[0].at, now + Duration::from_secs(45));
    }

    #[test]
    fn set_refuses_bad_keys_values_and_payloads_and_changes_nothing() {
        let mut harness = harness();
        harness.run_until(at(1.0));
        for (payload, error) in [
            (&b"{\"colour\": 1}"[..], "unknown key 'colour'"),
            (
                b"{\"blinky_hz\": 3, \"blinky_hz\": 99}",
                "blinky_hz must be a number from 0 to 50, not '99'",
            ),
            (b"blinky_hz=fast", "not 'fast'"),
            (b"blinky_hz=NaN", "not 'NaN'"),
            (b"blinky_hz=-1", "not '-1'"),
            (
                b"sysinfo_interval=1.5",
                "sysinfo_interval must be whole seconds",
            ),
            (
                b"sysinfo_interval=999999",
                "sysinfo_interval must be whole seconds",
            ),
            (
                b"log_level=loud",
                "log_level must be error, warn, info or debug",
            ),
            (b"", "malformed set payload"),
            (b"{\"blinky_hz\": [1]}", "malformed set payload"),
            (b"{}", "nothing to set"),
            (&[0xff, 0xfe], "malformed set payload"),
            (
                b"{\"a\": 1, \"b\": 2, \"c\": 3, \"d\": 4, \"e\": 5}",
                "at most 4 settings",
            ),
        ] {
            let id = harness.sent.len();
            let replies = command(&mut harness, &std::format!("set/r{id}"), payload);
            assert_eq!(replies.len(), 1, "{payload:?}");
            assert!(
                replies[0].starts_with("{\"error\": \"") && replies[0].contains(error),
                "{payload:?}: {}",
                replies[0]
            );
        }
        assert_eq!(harness.app().blinky_hz(), 1.0, "nothing applied");
        assert_eq!(
            harness.app().config().sysinfo_interval,
            Duration::from_secs(60)
        );
        assert_eq!(harness.app().config().log_level, LogLevel::Info);
    }

    #[test]
    fn blinks_at_one_hz_and_at_the_rate_set_over_mqtt() {
        let mut harness = harness();
        let lit_at = |harness: &mut Harness<Manager>, seconds: f64| {
            harness.run_until(at(seconds));
            harness.app().led().high
        };
        assert!(lit_at(&mut harness, 0.25));
        assert!(!lit_at(&mut harness, 0.75));
        assert!(lit_at(&mut harness, 1.25));
        assert!(!lit_at(&mut harness, 1.75));

        harness.run_until(at(2.0));
        harness.deliver("esp32/test/blinky/hz", b"4");
        assert_eq!(harness.app().blinky_hz(), 4.0);
        assert!(lit_at(&mut harness, 2.1));
        assert!(!lit_at(&mut harness, 2.2));
        assert!(lit_at(&mut harness, 2.3));

        harness.deliver("esp32/test/blinky/hz", b"2.5");
        let writes = harness.app().led().writes;
        harness.run_until(at(4.3));
        assert_eq!(
            harness.app().led().writes - writes,
            10,
            "a toggle every 200ms"
        );

        for garbage in [&b"fast"[..], b"NaN", b"inf", b"-1", b"100", b"", &[0xff]] {
            harness.deliver("esp32/test/blinky/hz", garbage);
        }
        assert_eq!(harness.app().blinky_hz(), 2.5, "garbage changes nothing");
        assert!(harness.logged("ignored blinky rate \"fast\""));

        harness.deliver("esp32/test/blinky/hz", b"0");
        let writes = harness.app().led().writes;
        assert!(!lit_at(&mut harness, 10.0));
        assert_eq!(
            harness.app().led().writes,
            writes,
            "off means dark and still"
        );
    }

    #[test]
    fn periodic_sysinfo_every_interval() {
        let mut harness = harness();
        harness.run_until(at(181.0));
        let sysinfo = harness.sent_on("esp32/test/sysinfo");
        assert_eq!(
            sysinfo.iter().map(|s| s.at).collect::<StdVec<_>>(),
            [at(60.0), at(120.0), at(180.0)]
        );
        assert!(sysinfo[1].payload.starts_with("{\"uptime\": 120, "));
        assert!(
            sysinfo
                .iter()
                .all(|s| s.qos == QoS::AtMostOnce && !s.retain)
        );
    }

    #[test]
    fn the_watchdog_is_armed_at_boot_and_fed_on_every_poll() {
        let mut config = NodeManagerConfig::new("n");
        config.blinky_hz = 0.0;
        config.sysinfo_interval = Duration::ZERO;
        let mut harness = boot_with(
            config,
            FakePlatform::booted_by(ResetCause::PowerOn, RetainedMemory::default()),
        );
        assert_eq!(
            harness.app().platform().watchdog,
            Some(Duration::from_secs(8))
        );
        while harness.now < at(300.0) {
            let next = harness.step();
            assert_eq!(
                harness.app().platform().feeds,
                harness.polls,
                "fed on every poll"
            );
            assert!(
                next - harness.now <= Duration::from_secs(4),
                "polled at least every 4s"
            );
            harness.now = next.max(harness.now);
        }
        assert!(harness.polls >= 75);
    }

    #[test]
    fn crashes_are_counted_across_resets_and_three_in_a_row_mean_safe_mode() {
        let config = NodeManagerConfig::new("n");
        let boot = |cause: ResetCause, memory: RetainedMemory| {
            let app = NodeManager::new(
                config.clone(),
                FakePin::default(),
                FakePlatform::booted_by(cause, memory),
                Instant::BOOT,
            );
            (app.crashes(), app.safe_mode(), app.platform().memory)
        };
        // Power-on: blank memory (here: garbage) is initialised.
        let garbage = RetainedMemory {
            words: [7, 7, 7, 7, 7, 7, 7, 7],
        };
        let (crashes, safe, memory) = boot(ResetCause::PowerOn, garbage);
        assert_eq!((crashes, safe), (0, false));
        assert_eq!(memory.words, [RETAINED_MAGIC, 0, 1, 0, 0, 0, 0, 0]);

        let (crashes, safe, memory) = boot(ResetCause::Watchdog, memory);
        assert_eq!((crashes, safe), (1, false));
        let (crashes, safe, memory) = boot(ResetCause::Panic, memory);
        assert_eq!((crashes, safe), (2, false));
        let (crashes, safe, memory) = boot(ResetCause::Watchdog, memory);
        assert_eq!((crashes, safe), (3, true));
        assert_eq!(memory.words[WORD_BOOTS], 4);
        let (crashes, safe, memory) = boot(ResetCause::Watchdog, memory);
        assert_eq!((crashes, safe), (4, true));
        // A software reset (the reboot command) starts over.
        let (crashes, safe, memory) = boot(ResetCause::Software, memory);
        assert_eq!((crashes, safe), (0, false));
        let (crashes, _, memory) = boot(ResetCause::Panic, memory);
        assert_eq!(crashes, 1);
        let (crashes, _, _) = boot(ResetCause::Brownout, memory);
        assert_eq!(crashes, 0);
    }

    #[test]
    fn safe_mode_runs_only_mqtt_and_commands_and_says_so() {
        let memory = RetainedMemory {
            words: [RETAINED_MAGIC, 2, 3, 0, 0, 0, 0, 0],
        };
        let mut harness = boot_with(
            NodeManagerConfig::new("n"),
            FakePlatform::booted_by(ResetCause::Watchdog, memory),
        );
        assert!(harness.app().safe_mode());
        harness.run_until(at(59.0));
        let status = harness.sent_on("esp32/test/status");
        assert!(status[0].payload.contains("\"safe_mode\": true"));
        assert!(status[0].payload.contains("\"reset_cause\": \"watchdog\""));
        assert!(status[0].payload.contains("\"crashes\": 3"));
        assert_eq!(
            harness.subscriptions,
            [("esp32/test/mqb/cmd/#".into(), QoS::AtLeastOnce)],
            "no blinky subscription"
        );
        assert!(!harness.app().led().high);
        assert_eq!(harness.app().led().writes, 1, "dark from boot, no blinking");
        assert!(
            log_lines(&harness)
                .iter()
                .any(|l| l.contains("SAFE MODE after 3"))
        );
        assert!(
            harness.app().platform().feeds > 0,
            "the watchdog still runs"
        );

        // Commands still work; set records but does not blink.
        assert!(command(&mut harness, "sysinfo/1", b"")[0].contains("\"safe_mode\": true"));
        assert_eq!(
            command(&mut harness, "set/2", b"blinky_hz=5"),
            ["{\"ok\": true, \"blinky_hz\": 5}"]
        );
        harness.run_until(at(125.0));
        assert_eq!(harness.app().led().writes, 1);
        assert!(harness.sent_on("esp32/test/sysinfo").is_empty());
        // Healthy for 60s: the counter is cleared, the mode stays.
        assert_eq!(harness.app().platform().memory.words[WORD_CRASHES], 0);
        assert!(harness.app().safe_mode());
        assert!(harness.logged("crash counter cleared (was 3)"));
    }

    #[test]
    fn the_crash_counter_is_cleared_only_after_healthy_after() {
        let memory = RetainedMemory {
            words: [RETAINED_MAGIC, 1, 2, 0, 0, 0, 0, 0],
        };
        let mut harness = boot_with(
            NodeManagerConfig::new("n"),
            FakePlatform::booted_by(ResetCause::Panic, memory),
        );
        harness.run_until(at(59.9));
        assert_eq!(harness.app().platform().memory.words[WORD_CRASHES], 2);
        harness.run_until(at(60.0));
        assert_eq!(harness.app().platform().memory.words[WORD_CRASHES], 0);
        assert_eq!(harness.app().crashes(), 2, "what this boot saw");
    }

    #[test]
    fn the_log_is_published_with_level_and_time_and_filtered_by_level() {
        let mut harness = harness();
        harness.run_until(at(1.0));
        let lines = log_lines(&harness);
        assert_eq!(
            lines,
            [
                "I 0 node-manager: boot 1 since power-on, reset cause power_on, firmware 0.1.0",
                "I 0 node-manager: connected, logging to esp32/test/log",
            ]
        );
        // A debug line is not published at the default level...
        harness.deliver("esp32/test/somewhere", b"");
        assert_eq!(log_lines(&harness).len(), 2);
        assert!(harness.logged("ignored message on esp32/test/somewhere"));
        // ...but is after `set log_level=debug`.
        command(&mut harness, "set/1", b"log_level=debug");
        harness.deliver("esp32/test/elsewhere", b"");
        assert!(
            log_lines(&harness)
                .last()
                .unwrap()
                .starts_with("D 1000 node-manager: ignored message on esp32/test/elsewhere")
        );
    }

    #[test]
    fn the_log_is_buffered_offline_with_a_drop_count_and_flushed_on_reconnect() {
        let mut config = NodeManagerConfig::new("n");
        config.sysinfo_interval = Duration::from_secs(1);
        config.log_level = LogLevel::Debug;
        let mut harness = boot_with(
            config,
            FakePlatform::booted_by(ResetCause::PowerOn, RetainedMemory::default()),
        );
        harness.run_until(at(0.5));
        let online_lines = log_lines(&harness).len();

        harness.broker_up = false;
        harness.cut_link();
        // One "connection lost" line, then a "sysinfo not sent" line a
        // second: 1 + 20 lines for a buffer of 16.
        harness.run_until(at(20.5));
        assert_eq!(harness.app().log_lines_buffered(), LOG_BUFFER_LINES);
        assert_eq!(harness.app().log_lines_dropped(), 5);
        assert_eq!(
            log_lines(&harness).len(),
            online_lines,
            "nothing sent offline"
        );

        // The broker is back, but the session's backoff retries at 32.5s (1, 1, 2, 4, 8, 16s after the cut).
        harness.broker_up = true;
        harness.run_until(at(32.4));
        assert_eq!(harness.app().log_lines_dropped(), 17);
        harness.run_until(at(35.0));
        let lines = log_lines(&harness);
        let flushed = &lines[online_lines..];
        assert_eq!(
            flushed[0],
            "W 32500 node-manager: ... 17 log lines dropped while offline"
        );
        // The oldest lines went; the newest 16 follow in order, then what
        // was logged on reconnecting.
        assert!(
            flushed[1].starts_with("D 17000 node-manager: sysinfo not sent"),
            "{}",
            flushed[1]
        );
        assert!(flushed[16].starts_with("D 32000 "), "{}", flushed[16]);
        assert_eq!(
            flushed[17],
            "I 32500 node-manager: connected, logging to esp32/test/log"
        );
        assert_eq!(harness.app().log_lines_buffered(), 0);
        assert!(
            harness
                .sent_on("esp32/test/sysinfo")
                .last()
                .unwrap()
                .payload
                .contains("\"log_lines_dropped\": 17")
        );
    }

    #[test]
    fn garbage_commands_and_rates_never_panic() {
        let mut harness = harness();
        harness.run_until(at(1.0));
        let mut state: u32 = 0x9E37_79B9;
        let alphabet = b"{}[]\":,.=- +0123456789eblinky_hzsysinfo_intervallog_level\\\xff\x00";
        for round in 0..300 {
            let mut payload = StdVec::new();
            for _ in 0..(round % 40) {
                state ^= state << 13;
                state ^= state >> 17;
                state ^= state << 5;
                payload.push(alphabet[(state as usize) % alphabet.len()]);
            }
            harness.deliver(&std::format!("esp32/test/mqb/cmd/set/g{round}"), &payload);
            harness.deliver("esp32/test/blinky/hz", &payload);
        }
        let hz = harness.app().blinky_hz();
        assert!((0.0..=MAX_BLINKY_HZ).contains(&hz));
        harness.run_for(Duration::from_secs(5));
    }
}
