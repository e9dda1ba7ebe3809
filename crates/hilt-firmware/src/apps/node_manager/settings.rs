//! node-manager's settings: `config:` in a scenario, `HILT_<KEY>` in an
//! image build, both read by [`Settings::set`]. The `set` command changes
//! some of them at run time with its own, more forgiving grammar
//! (`commands.rs`).

use heapless::String;

use super::MAX_BLINKY_HZ;
use crate::app::LogLevel;
use crate::mqtt::session::{MAX_CLIENT_ID_LEN, truncated};
use crate::settings::{self, Credentials, SettingError, SettingKey, Settings, Tls};
use crate::time::Duration;

/// Longest prefix; a longer one is refused (it could not be kept whole).
pub const MAX_PREFIX_LEN: usize = 64;
/// MQBoard's example prefix.
pub const DEFAULT_PREFIX: &str = "esp32/test";

/// The node manager's settings; `config:` in a scenario, `HILT_<KEY>` in
/// an image build, read by [`Settings::set`].
#[derive(Clone, Debug)]
pub struct NodeManagerConfig {
    pub client_id: String<MAX_CLIENT_ID_LEN>,
    /// `prefix`: the first levels of every topic; `esp32/test`.
    pub prefix: String<MAX_PREFIX_LEN>,
    /// `keepalive`: 60s.
    pub keep_alive: Duration,
    /// `username` and `password`: sent in CONNECT when given.
    pub credentials: Credentials,
    /// `tls` and `tls_server_name`: TLS 1.3 to the broker when on.
    pub tls: Tls,
    /// `sysinfo_interval`: 60s; zero turns periodic sysinfo off.
    pub sysinfo_interval: Duration,
    /// `blinky_hz`: 1 Hz; 0 is off.
    pub blinky_hz: f32,
    /// `log_level`: the least important level published on `<prefix>/log`;
    /// info.
    pub log_level: LogLevel,
    /// `watchdog_timeout`: 8s; zero: the watchdog is not armed.
    pub watchdog_timeout: Duration,
    /// `watchdog_feed`: what feeds the watchdog; `loop` (every poll of the
    /// app) or `mqtt` (a round trip through the broker, as MQBoard does).
    pub watchdog_feed: WatchdogFeed,
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
            credentials: Credentials::default(),
            tls: Tls::default(),
            sysinfo_interval: Duration::from_secs(60),
            blinky_hz: 1.0,
            log_level: LogLevel::Info,
            watchdog_timeout: Duration::from_secs(8),
            watchdog_feed: WatchdogFeed::Loop,
            safe_mode_after: 3,
            healthy_after: Duration::from_secs(60),
        }
    }
    /// The keys, in the order their problems are reported.
    pub const KEYS: &'static [SettingKey] = &[
        SettingKey::optional("prefix"),
        SettingKey::optional("keepalive"),
        Credentials::USERNAME,
        Credentials::PASSWORD,
        Tls::ENABLED,
        Tls::SERVER_NAME,
        SettingKey::optional("sysinfo_interval"),
        SettingKey::optional("blinky_hz"),
        SettingKey::optional("log_level"),
        SettingKey::optional("watchdog_timeout"),
        SettingKey::optional("watchdog_feed"),
        SettingKey::optional("safe_mode_after"),
        SettingKey::optional("healthy_after"),
    ];
}

impl Settings for NodeManagerConfig {
    fn keys(&self) -> &'static [SettingKey] {
        Self::KEYS
    }

    fn set<'v>(&mut self, key: &str, value: &'v str) -> Result<(), SettingError<'v>> {
        if let Some(result) = self.credentials.set(key, value) {
            return result;
        }
        if let Some(result) = self.tls.set(key, value) {
            return result;
        }
        match key {
            "prefix" => self.prefix = settings::topic_name(value)?,
            "keepalive" => self.keep_alive = settings::keep_alive(value)?,
            "sysinfo_interval" => self.sysinfo_interval = settings::duration_or_zero(value)?,
            "blinky_hz" => self.blinky_hz = blinky_hz(value)?,
            "log_level" => self.log_level = log_level(value)?,
            "watchdog_timeout" => self.watchdog_timeout = settings::duration_or_zero(value)?,
            "watchdog_feed" => self.watchdog_feed = watchdog_feed(value)?,
            "safe_mode_after" => self.safe_mode_after = settings::whole_number(value, 0)?,
            "healthy_after" => self.healthy_after = settings::positive_duration(value)?,
            _ => return Err(SettingError::UnknownKey),
        }
        Ok(())
    }
}

/// What keeps the watchdog from resetting the board.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WatchdogFeed {
    /// Every poll of the app feeds it: only a hung main loop resets the
    /// board.
    Loop,
    /// Only a message the board sent itself through the broker and got
    /// back feeds it, so a board that has lost the broker (a wedged WiFi
    /// stack, a dead socket nobody noticed) is reset too. MQBoard's
    /// watchdog works this way.
    Mqtt,
}

impl WatchdogFeed {
    pub fn as_str(self) -> &'static str {
        match self {
            WatchdogFeed::Loop => "loop",
            WatchdogFeed::Mqtt => "mqtt",
        }
    }
}

/// `loop` or `mqtt`, in lower case as a scenario writes it.
fn watchdog_feed(value: &str) -> Result<WatchdogFeed, SettingError<'_>> {
    [WatchdogFeed::Loop, WatchdogFeed::Mqtt]
        .into_iter()
        .find(|feed| feed.as_str() == value)
        .ok_or(SettingError::NotOneOf {
            value,
            what: "a watchdog feed",
            choices: "loop or mqtt",
        })
}

/// A blink rate from 0 (off) to [`MAX_BLINKY_HZ`], as Rust writes an
/// `f32` (`2.5`, `1e1`).
fn blinky_hz(value: &str) -> Result<f32, SettingError<'_>> {
    value
        .parse::<f32>()
        .ok()
        .filter(|hz| hz.is_finite() && (0.0..=MAX_BLINKY_HZ).contains(hz))
        .ok_or(SettingError::NotABlinkRate {
            value,
            max: MAX_BLINKY_HZ,
        })
}

/// `error`, `warn`, `info` or `debug`, in lower case as a scenario writes
/// it.
fn log_level(value: &str) -> Result<LogLevel, SettingError<'_>> {
    [
        LogLevel::Error,
        LogLevel::Warn,
        LogLevel::Info,
        LogLevel::Debug,
    ]
    .into_iter()
    .find(|level| level.as_str() == value)
    .ok_or(SettingError::NotOneOf {
        value,
        what: "a log level",
        choices: "error, warn, info or debug",
    })
}
