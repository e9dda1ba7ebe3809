//! light-status: the "smart home" client of the Eduponics Mini article
//! "Basic MQTT client". Every topic
//! carries the device's UUID, so that many boards can share a public broker.
//!
//! **Topics and payloads.**
//! - `<uuid>/home/living_room/light`: every `interval` (1s) from boot the
//!   light status, as the tutorial's `light_status` integer: `1` (on) or
//!   `0` (off), QoS 0, not retained. The light starts on (`initially_on`),
//!   like the tutorial's `light_status = 1`.
//! - `<uuid>/living_room/light` (subscribed, QoS 0): sets the light, whose
//!   LED follows at once; the next periodic status reports it. Accepted,
//!   ignoring ASCII case, surrounding whitespace and one pair of JSON
//!   quotes: `1`/`0`, `on`/`off`, `true`/`false`. Anything else is logged
//!   and ignored; the light keeps its state.
//! - `<uuid>/home/living_room/status`: `online`, retained, QoS 1, published
//!   after every connect; the session's last will puts `offline` there
//!   (retained, QoS 1) when the board drops off without a DISCONNECT.
//!
//! **Bring-up and restart.** The tutorial's boot waits for WiFi in a loop
//! of 10 one-second tries, and its main script, when the MQTT connection
//! fails, prints an error, sleeps 5s and resets the board to start over.
//! Here the bounded wait is the session's `connect_timeout` (10s for the
//! link and CONNACK), and the restart is the session's reconnect with a
//! fixed delay: `reconnect_initial_delay` = `reconnect_max_delay` =
//! `restart_delay` (5s), so every failed attempt or lost link is followed
//! by a new attempt 5s later, with no backoff. A reset would only run the
//! same bring-up again, so the app does not reset the chip. It watches the
//! session from `poll` (which, while offline, runs at least every half
//! restart delay, so it sees every failure), logs each failed attempt
//! ("connection timeout, try again", as the tutorial prints), and after
//! `max_link_attempts` (10) consecutive failures logs once, as an error,
//! that it gives up on a quick connection and keeps retrying every 5s.
//! [`LightStatus::failed_link_attempts`] reports the count; a successful
//! connect logs how many attempts failed before it and resets it.

use core::fmt::Write as _;

use embedded_hal::digital::OutputPin;
use heapless::{String, Vec};

use crate::app::{App, Context, LogLevel, Message};
use crate::apps::json;
use crate::mqtt::codec::QoS;
use crate::mqtt::session::{
    MAX_CLIENT_ID_LEN, MAX_TOPIC_LEN, SessionOptions, SessionState, Will, truncated,
};
use crate::settings::{self, Credentials, SettingError, SettingKey, Settings, Tls};
use crate::time::{Duration, Instant};

/// Longest UUID (or other topic prefix); the `uuid` setting refuses a longer
/// one rather than cut it.
pub const MAX_UUID_LEN: usize = 64;
/// The example UUID every board gets unless its config names its own. The
/// tutorial asks for a generated one per device: set `uuid`.
pub const DEFAULT_UUID: &str = "6b2f1c9e-3d7a-4e58-8c41-a9d2e07f5b13";

/// The shortest pause between looks at the session while offline.
const LINK_WATCH_MIN: Duration = Duration::from_millis(100);

/// The light-status app's settings; `config:` in a scenario, `HILT_<KEY>`
/// in an image build, read by [`Settings::set`].
#[derive(Clone, Debug)]
pub struct LightStatusConfig {
    pub client_id: String<MAX_CLIENT_ID_LEN>,
    /// `uuid`: the first level of every topic; [`DEFAULT_UUID`].
    pub uuid: String<MAX_UUID_LEN>,
    /// `interval`: how often the status is published; 1s.
    pub interval: Duration,
    /// `initially_on`: the light at boot; on, as the tutorial's status 1.
    pub initially_on: bool,
    /// `keepalive`: 60s (the tutorial's umqtt uses none, which rumqttd
    /// refuses).
    pub keep_alive: Duration,
    /// `username` and `password`: sent in CONNECT when given.
    pub credentials: Credentials,
    /// `tls` and `tls_server_name`: TLS 1.3 to the broker when on.
    pub tls: Tls,
    /// `connect_timeout`: the bounded wait for the link and CONNACK; 10s,
    /// the tutorial's 10 one-second WiFi tries.
    pub connect_timeout: Duration,
    /// `restart_delay`: the fixed wait before trying again after a failed
    /// attempt or a lost link; 5s, the tutorial's sleep before its reset.
    pub restart_delay: Duration,
    /// `max_link_attempts`: consecutive failed attempts after which the app
    /// reports that it is giving up on a quick connection; 10.
    pub max_link_attempts: u32,
}

impl LightStatusConfig {
    pub fn new(client_id: &str) -> Self {
        LightStatusConfig {
            client_id: truncated(client_id),
            uuid: truncated(DEFAULT_UUID),
            interval: Duration::from_secs(1),
            initially_on: true,
            keep_alive: Duration::from_secs(60),
            credentials: Credentials::default(),
            tls: Tls::default(),
            connect_timeout: Duration::from_secs(10),
            restart_delay: Duration::from_secs(5),
            max_link_attempts: 10,
        }
    }

    /// The keys, in the order their problems are reported.
    pub const KEYS: &'static [SettingKey] = &[
        SettingKey::optional("uuid"),
        SettingKey::optional("interval"),
        SettingKey::optional("initially_on"),
        SettingKey::optional("keepalive"),
        Credentials::USERNAME,
        Credentials::PASSWORD,
        Tls::ENABLED,
        Tls::SERVER_NAME,
        SettingKey::optional("connect_timeout"),
        SettingKey::optional("restart_delay"),
        SettingKey::optional("max_link_attempts"),
    ];

    /// The config with `uuid` as topic prefix.
    pub fn with_uuid(mut self, uuid: &str) -> Self {
        self.uuid = truncated(uuid);
        self
    }
}

impl Settings for LightStatusConfig {
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
            "uuid" => self.uuid = settings::topic_level(value)?,
            "interval" => self.interval = settings::positive_duration(value)?,
            "initially_on" => self.initially_on = settings::boolean(value)?,
            "keepalive" => self.keep_alive = settings::keep_alive(value)?,
            "connect_timeout" => self.connect_timeout = settings::positive_duration(value)?,
            "restart_delay" => self.restart_delay = settings::positive_duration(value)?,
            "max_link_attempts" => self.max_link_attempts = settings::whole_number(value, 1)?,
            _ => return Err(SettingError::UnknownKey),
        }
        Ok(())
    }
}

/// True for the canonical 8-4-4-4-12 hexadecimal form,
/// e.g. `6b2f1c9e-3d7a-4e58-8c41-a9d2e07f5b13`; a config reader can use it
/// to warn about a `uuid` that is not one (any topic-safe text works).
pub fn is_canonical_uuid(text: &str) -> bool {
    let bytes = text.as_bytes();
    bytes.len() == 36
        && bytes.iter().enumerate().all(|(index, byte)| match index {
            8 | 13 | 18 | 23 => *byte == b'-',
            _ => byte.is_ascii_hexdigit(),
        })
}

/// What a command payload asks for; `None` if it is not understood.
fn parse_light_command(payload: &[u8]) -> Option<bool> {
    let text = core::str::from_utf8(payload).ok()?;
    let word = json::unquoted(text);
    const ON: [&str; 3] = ["1", "on", "true"];
    const OFF: [&str; 3] = ["0", "off", "false"];
    if ON.iter().any(|on| word.eq_ignore_ascii_case(on)) {
        Some(true)
    } else if OFF.iter().any(|off| word.eq_ignore_ascii_case(off)) {
        Some(false)
    } else {
        None
    }
}

/// What `poll` last saw of the link.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum LinkWatch {
    /// Connected since the last `on_connected`.
    Up,
    /// Not connected; the retry instant of the last failure seen.
    Down { last_retry_at: Option<Instant> },
}

/// The light-status app; see the module documentation.
#[derive(Debug)]
pub struct LightStatus<Led> {
    config: LightStatusConfig,
    led: Led,
    light_on: bool,
    light_topic: String<MAX_TOPIC_LEN>,
    command_topic: String<MAX_TOPIC_LEN>,
    status_topic: String<MAX_TOPIC_LEN>,
    next_publish_at: Instant,
    link: LinkWatch,
    failed_link_attempts: u32,
}

impl<Led: OutputPin> LightStatus<Led> {
    /// A board that publishes its first status at `boot`, with its LED set
    /// to `initially_on`.
    pub fn new(config: LightStatusConfig, led: Led, boot: Instant) -> Self {
        let mut light_topic = String::new();
        let _ = write!(light_topic, "{}/home/living_room/light", config.uuid);
        let mut command_topic = String::new();
        let _ = write!(command_topic, "{}/living_room/light", config.uuid);
        let mut status_topic = String::new();
        let _ = write!(status_topic, "{}/home/living_room/status", config.uuid);
        let mut app = LightStatus {
            light_on: config.initially_on,
            config,
            led,
            light_topic,
            command_topic,
            status_topic,
            next_publish_at: boot,
            link: LinkWatch::Down {
                last_retry_at: None,
            },
            failed_link_attempts: 0,
        };
        // A pin that cannot be driven shows up again in on_message's log.
        let _ = app.drive_led();
        app
    }

    fn drive_led(&mut self) -> Result<(), Led::Error> {
        if self.light_on {
            self.led.set_high()
        } else {
            self.led.set_low()
        }
    }

    pub fn led(&self) -> &Led {
        &self.led
    }

    /// Whether the light is on (what the status reports).
    pub fn light_on(&self) -> bool {
        self.light_on
    }

    /// `<uuid>/home/living_room/light`: the periodic status.
    pub fn light_topic(&self) -> &str {
        &self.light_topic
    }

    /// `<uuid>/living_room/light`: commands.
    pub fn command_topic(&self) -> &str {
        &self.command_topic
    }

    /// `<uuid>/home/living_room/status`: `online` / `offline` (the will).
    pub fn status_topic(&self) -> &str {
        &self.status_topic
    }

    /// Consecutive failed link attempts since the last connect.
    pub fn failed_link_attempts(&self) -> u32 {
        self.failed_link_attempts
    }

    /// Counts failures from what the session shows: a new `Disconnected`
    /// with a retry still ahead follows a failed attempt or a lost link.
    fn watch_link(&mut self, context: &mut Context<'_>) {
        let now = context.now;
        match (context.mqtt.state(), self.link) {
            (SessionState::Connected, _) => {}
            (SessionState::Disconnected { retry_at }, LinkWatch::Up) => {
                self.link = LinkWatch::Down {
                    last_retry_at: Some(retry_at),
                };
                context.log(
                    LogLevel::Warn,
                    format_args!(
                        "light-status: lost the MQTT broker, reconnecting in {}ms",
                        retry_at.saturating_since(now).as_millis()
                    ),
                );
            }
            (SessionState::Disconnected { retry_at }, LinkWatch::Down { last_retry_at })
                if retry_at > now && last_retry_at != Some(retry_at) =>
            {
                self.link = LinkWatch::Down {
                    last_retry_at: Some(retry_at),
                };
                self.failed_link_attempts = self.failed_link_attempts.saturating_add(1);
                context.log(
                    LogLevel::Warn,
                    format_args!(
                        "light-status: failed to connect to MQTT broker (attempt {}), connection timeout, try again in {}ms",
                        self.failed_link_attempts,
                        retry_at.saturating_since(now).as_millis()
                    ),
                );
                if self.failed_link_attempts == self.config.max_link_attempts {
                    context.log(
                        LogLevel::Error,
                        format_args!(
                            "light-status: giving up after {} attempts; retrying every {}ms",
                            self.failed_link_attempts,
                            self.config.restart_delay.as_millis()
                        ),
                    );
                }
            }
            _ => {}
        }
    }
}

impl<Led: OutputPin> App for LightStatus<Led> {
    fn session_options(&self) -> SessionOptions {
        let mut options = SessionOptions::new(&self.config.client_id);
        options.keep_alive = self.config.keep_alive;
        self.config.credentials.apply(&mut options);
        self.config.tls.apply(&mut options);
        options.connect_timeout = self.config.connect_timeout;
        options.reconnect_initial_delay = self.config.restart_delay;
        options.reconnect_max_delay = self.config.restart_delay;
        options.will = Some(Will {
            topic: truncated(&self.status_topic),
            payload: Vec::from_slice(b"offline").unwrap_or_default(),
            qos: QoS::AtLeastOnce,
            retain: true,
        });
        options
    }

    fn on_connected(&mut self, context: &mut Context<'_>) {
        if self.failed_link_attempts > 0 {
            context.log(
                LogLevel::Info,
                format_args!(
                    "light-status: connected after {} failed attempts",
                    self.failed_link_attempts
                ),
            );
        } else {
            context.log(LogLevel::Info, format_args!("light-status: connected"));
        }
        self.failed_link_attempts = 0;
        self.link = LinkWatch::Up;
        if let Err(error) = context.subscribe(&self.command_topic, QoS::AtMostOnce) {
            context.log(
                LogLevel::Error,
                format_args!("light-status: cannot subscribe: {error}"),
            );
        }
        if let Err(error) = context.publish(&self.status_topic, b"online", QoS::AtLeastOnce, true) {
            context.log(
                LogLevel::Warn,
                format_args!("light-status: online status not sent: {error}"),
            );
        }
    }

    fn on_message(&mut self, context: &mut Context<'_>, message: &Message<'_>) {
        if message.topic != self.command_topic.as_str() {
            context.log(
                LogLevel::Debug,
                format_args!("light-status: ignored message on {}", message.topic),
            );
            return;
        }
        let Some(on) = parse_light_command(message.payload) else {
            context.log(
                LogLevel::Warn,
                format_args!(
                    "light-status: ignored payload {:?} ({} bytes) on {}",
                    json::shown_bytes(message.payload, 32),
                    message.payload.len(),
                    message.topic
                ),
            );
            return;
        };
        self.light_on = on;
        context.log(
            LogLevel::Info,
            format_args!("light-status: light {}", if on { "on" } else { "off" }),
        );
        if self.drive_led().is_err() {
            context.log(
                LogLevel::Error,
                format_args!("light-status: LED pin failed"),
            );
        }
    }

    fn poll(&mut self, context: &mut Context<'_>) -> Instant {
        let now = context.now;
        self.watch_link(context);
        if now >= self.next_publish_at {
            let status: &[u8] = if self.light_on { b"1" } else { b"0" };
            // Offline: a status is stale within a second anyway, so it is
            // dropped (the tutorial's publish would raise and restart).
            if context.mqtt.is_connected()
                && let Err(error) =
                    context.publish(&self.light_topic, status, QoS::AtMostOnce, false)
            {
                context.log(
                    LogLevel::Warn,
                    format_args!("light-status: status not sent: {error}"),
                );
            }
            while self.next_publish_at <= now && !self.config.interval.is_zero() {
                self.next_publish_at = self.next_publish_at + self.config.interval;
            }
            if self.config.interval.is_zero() {
                self.next_publish_at = now + Duration::from_secs(1);
            }
        }
        if context.mqtt.is_connected() {
            self.next_publish_at
        } else {
            // Offline, look at the session often enough to see every failed
            // attempt, whatever the interval.
            let watch = (self.config.restart_delay / 2).max(LINK_WATCH_MIN);
            self.next_publish_at.min(now + watch)
        }
    }
}

#[cfg(test)]
mod tests {
    extern crate std;

    use super::*;
    use crate::apps::test_harness::{FakePin, Harness, at};

    const UUID: &str = "0f8fad5b-d9cb-469f-a165-70867728950e";

    fn harness() -> Harness<LightStatus<FakePin>> {
        let config = LightStatusConfig::new("eduponics").with_uuid(UUID);
        Harness::new(LightStatus::new(config, FakePin::default(), Instant::BOOT))
    }

    fn light_topic() -> std::string::String {
        std::format!("{UUID}/home/living_room/light")
    }

    fn statuses(harness: &Harness<LightStatus<FakePin>>) -> std::vec::Vec<std::string::String> {
        harness
            .sent_on(&light_topic())
            .into_iter()
            .map(|sent| sent.payload)
            .collect()
    }

    #[test]
    fn connects_with_an_offline_will_and_announces_online_retained() {
        let mut harness = harness();
        harness.run_until(at(0.0));
        let status_topic = std::format!("{UUID}/home/living_room/status");
        let will = harness.wills[0].clone().expect("a last will");
        assert_eq!(
            (
                will.topic.as_str(),
                will.payload.as_str(),
                will.qos,
                will.retain
            ),
            (status_topic.as_str(), "offline", QoS::AtLeastOnce, true)
        );
        let online = harness.sent_on(&status_topic);
        assert_eq!(online.len(), 1);
        assert_eq!(
            (online[0].payload.as_str(), online[0].qos, online[0].retain),
            ("online", QoS::AtLeastOnce, true)
        );
        assert_eq!(
            harness.subscriptions,
            [(std::format!("{UUID}/living_room/light"), QoS::AtMostOnce)]
        );
        // After a lost link the board announces itself again.
        harness.cut_link();
        harness.run_until(at(5.0));
        assert_eq!(harness.sent_on(&status_topic).len(), 2);
        assert_eq!(harness.wills.len(), 2);
    }

    #[test]
    fn publishes_the_status_every_second_and_follows_commands() {
        let mut harness = harness();
        assert!(harness.app().led().high, "on at boot, as light_status = 1");
        harness.run_until(at(2.5));
        assert_eq!(statuses(&harness), ["1", "1", "1"]);
        let sent = harness.sent_on(&light_topic());
        assert_eq!(
            sent.iter().map(|s| s.at).collect::<std::vec::Vec<_>>(),
            [at(0.0), at(1.0), at(2.0)]
        );
        assert!(sent.iter().all(|s| s.qos == QoS::AtMostOnce && !s.retain));

        let command = std::format!("{UUID}/living_room/light");
        harness.deliver(&command, b"0");
        assert!(!harness.app().led().high);
        harness.run_until(at(3.5));
        assert_eq!(statuses(&harness).last().unwrap(), "0");

        for (payload, lit) in [
            (&b"on"[..], true),
            (b" OFF\n", false),
            (b"\"on\"", true),
            (b"false", false),
            (b"1", true),
        ] {
            harness.deliver(&command, payload);
            assert_eq!(harness.app().led().high, lit, "{payload:?}");
            assert_eq!(harness.app().light_on(), lit);
        }
    }

    #[test]
    fn garbage_is_ignored_and_logged() {
        let mut harness = harness();
        harness.run_until(at(0.5));
        let command = std::format!("{UUID}/living_room/light");
        let writes = harness.app().led().writes;
        for garbage in [
            &b""[..],
            b"2",
            b"onn",
            b"{\"light\": 1}",
            &[0xff, 0x00, 0xc3],
            &[b'x'; 600],
        ] {
            harness.deliver(&command, garbage);
        }
        assert!(harness.app().led().high, "the light keeps its state");
        assert_eq!(harness.app().led().writes, writes);
        assert!(harness.logged("ignored payload \"onn\""));
        assert!(harness.logged("<not UTF-8>"));
        // A message on some other topic does nothing either.
        harness.deliver(&light_topic(), b"0");
        assert!(harness.app().led().high);
    }

    #[test]
    fn session_options_map_the_tutorial_bring_up_and_restart() {
        let harness = harness();
        let options = harness.app().session_options();
        assert_eq!(options.client_id, "eduponics");
        assert_eq!(options.connect_timeout, Duration::from_secs(10));
        assert_eq!(options.reconnect_initial_delay, Duration::from_secs(5));
        assert_eq!(options.reconnect_max_delay, Duration::from_secs(5));
        assert_eq!(options.keep_alive, Duration::from_secs(60));
    }

    #[test]
    fn retries_every_five_seconds_and_gives_up_after_ten_attempts() {
        let mut harness = harness();
        harness.broker_up = false;
        harness.run_until(at(44.0));
        // Attempts at 0, 5, ..., 40: nine failures so far, no backoff.
        assert_eq!(harness.link_attempts, 9);
        assert_eq!(harness.app().failed_link_attempts(), 9);
        assert!(!harness.logged("giving up"));
        harness.run_until(at(46.0));
        assert_eq!(harness.app().failed_link_attempts(), 10);
        assert!(harness.logged("giving up after 10 attempts"));
        assert!(harness.logged("connection timeout, try again"));
        assert!(statuses(&harness).is_empty(), "nothing published offline");

        harness.run_until(at(56.0));
        assert_eq!(harness.link_attempts, 12, "still retrying every 5s");
        harness.broker_up = true;
        harness.run_until(at(61.0));
        assert_eq!(harness.app().failed_link_attempts(), 0);
        assert!(harness.logged("connected after 12 failed attempts"));
        assert_eq!(statuses(&harness), ["1", "1"]);
    }

    #[test]
    fn failures_are_counted_even_with_an_interval_longer_than_the_restart_delay() {
        let mut config = LightStatusConfig::new("eduponics").with_uuid(UUID);
        config.interval = Duration::from_secs(30);
        let mut harness = Harness::new(LightStatus::new(config, FakePin::default(), Instant::BOOT));
        harness.broker_up = false;
        harness.run_until(at(29.0));
        assert_eq!(harness.link_attempts, 6);
        assert_eq!(harness.app().failed_link_attempts(), 6);
    }

    #[test]
    fn a_lost_link_is_not_a_failed_attempt() {
        let mut harness = harness();
        harness.run_until(at(2.0));
        harness.cut_link();
        assert!(harness.logged("lost the MQTT broker"));
        assert_eq!(harness.app().failed_link_attempts(), 0);
        harness.run_until(at(7.5));
        assert_eq!(harness.link_attempts, 2, "reconnected 5s after the loss");
        assert!(harness.node.session().is_connected());
    }

    #[test]
    fn canonical_uuids_are_recognised() {
        assert!(is_canonical_uuid(DEFAULT_UUID));
        assert!(is_canonical_uuid(UUID));
        assert!(!is_canonical_uuid("0f8fad5b-d9cb-469f-a165-70867728950"));
        assert!(!is_canonical_uuid("0f8fad5b-d9cb-469f-a165x70867728950e"));
        assert!(!is_canonical_uuid("zf8fad5b-d9cb-469f-a165-70867728950e"));
    }
}
