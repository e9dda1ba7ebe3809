//! remote-led: two boards, each lighting the other's LED, after the tutorial
//! "Secrets of MicroPython: MQTT on ESP32".
//!
//! Every `period` (500ms) the board publishes its button level as text on
//! `<name>/btn/0`: `"1"` while released, `"0"` while pressed (the button is
//! active low, as the tutorial's GPIO0 is). It subscribes to `<peer>/btn/0`
//! and lights its LED while the peer's last message is `"0"`, darkens it on
//! `"1"`. Any other payload is logged and ignored; the LED keeps its state.

use core::fmt::Write as _;

use embedded_hal::digital::{InputPin, OutputPin};
use heapless::String;

use crate::app::{App, Context, LogLevel, Message};
use crate::mqtt::codec::QoS;
use crate::mqtt::session::{MAX_CLIENT_ID_LEN, MAX_TOPIC_LEN, SessionOptions, truncated};
use crate::settings::{self, Credentials, SettingError, SettingKey, Settings, Tls};
use crate::time::{Duration, Instant};

/// The remote LED's settings; `config:` in a scenario, `HILT_<KEY>` in an
/// image build, read by [`Settings::set`].
#[derive(Clone, Debug)]
pub struct RemoteLedConfig {
    pub client_id: String<MAX_CLIENT_ID_LEN>,
    /// `name`: the first level of this board's button topic; the client id
    /// by default, as in the tutorial where both are `blue` (in a scenario,
    /// the device's name).
    pub name: String<MAX_CLIENT_ID_LEN>,
    /// `peer`: the board whose button drives this board's LED.
    pub peer: String<MAX_CLIENT_ID_LEN>,
    /// `period`: how often the button level is published; 500ms.
    pub period: Duration,
    /// `keepalive`: 60s, as in the tutorial.
    pub keep_alive: Duration,
    /// `username` and `password`: sent in CONNECT when given.
    pub credentials: Credentials,
    /// `tls` and `tls_server_name`: TLS 1.3 to the broker when on.
    pub tls: Tls,
}

impl RemoteLedConfig {
    pub fn new(client_id: &str, peer: &str) -> Self {
        RemoteLedConfig {
            client_id: truncated(client_id),
            name: truncated(client_id),
            peer: truncated(peer),
            period: Duration::from_millis(500),
            keep_alive: Duration::from_secs(60),
            credentials: Credentials::default(),
            tls: Tls::default(),
        }
    }

    /// The keys, in the order their problems are reported.
    pub const KEYS: &'static [SettingKey] = &[
        SettingKey::required("peer").naming_a_board(),
        SettingKey::device_name("name").naming_a_board(),
        SettingKey::optional("period"),
        SettingKey::optional("keepalive"),
        Credentials::USERNAME,
        Credentials::PASSWORD,
        Tls::ENABLED,
        Tls::SERVER_NAME,
    ];
}

impl Settings for RemoteLedConfig {
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
            "peer" => self.peer = settings::topic_level(value)?,
            "name" => self.name = settings::topic_level(value)?,
            "period" => self.period = settings::positive_duration(value)?,
            "keepalive" => self.keep_alive = settings::keep_alive(value)?,
            _ => return Err(SettingError::UnknownKey),
        }
        Ok(())
    }
}

/// The remote-LED app; see the module documentation.
#[derive(Debug)]
pub struct RemoteLed<Button, Led> {
    config: RemoteLedConfig,
    button: Button,
    led: Led,
    button_topic: String<MAX_TOPIC_LEN>,
    peer_topic: String<MAX_TOPIC_LEN>,
    next_publish_at: Instant,
}

impl<Button: InputPin, Led: OutputPin> RemoteLed<Button, Led> {
    /// A board that publishes first at `boot` with its LED dark.
    pub fn new(config: RemoteLedConfig, button: Button, mut led: Led, boot: Instant) -> Self {
        let mut button_topic = String::new();
        let _ = write!(button_topic, "{}/btn/0", config.name);
        let mut peer_topic = String::new();
        let _ = write!(peer_topic, "{}/btn/0", config.peer);
        // A pin that cannot be driven shows up again in on_message's log.
        let _ = led.set_low();
        RemoteLed {
            config,
            button,
            led,
            button_topic,
            peer_topic,
            next_publish_at: boot,
        }
    }

    pub fn button_topic(&self) -> &str {
        &self.button_topic
    }
}

impl<Button: InputPin, Led: OutputPin> App for RemoteLed<Button, Led> {
    fn session_options(&self) -> SessionOptions {
        let mut options = SessionOptions::new(&self.config.client_id);
        options.keep_alive = self.config.keep_alive;
        self.config.credentials.apply(&mut options);
        self.config.tls.apply(&mut options);
        options
    }

    fn on_connected(&mut self, context: &mut Context<'_>) {
        if let Err(error) = context.subscribe(&self.peer_topic, QoS::AtMostOnce) {
            context.log(
                LogLevel::Error,
                format_args!("remote-led: cannot subscribe: {error}"),
            );
        }
    }

    fn on_message(&mut self, context: &mut Context<'_>, message: &Message<'_>) {
        if message.topic != self.peer_topic.as_str() {
            return;
        }
        let lit = match message.payload {
            b"0" => true,
            b"1" => false,
            other => {
                let shown = core::str::from_utf8(other).unwrap_or("<not UTF-8>");
                let shown = shown.get(..32).unwrap_or(shown);
                context.log(
                    LogLevel::Warn,
                    format_args!(
                        "remote-led: ignored payload {shown:?} ({} bytes) on {}",
                        other.len(),
                        message.topic
                    ),
                );
                return;
            }
        };
        let result = if lit {
            self.led.set_high()
        } else {
            self.led.set_low()
        };
        if result.is_err() {
            context.log(LogLevel::Error, format_args!("remote-led: LED pin failed"));
        }
    }

    fn poll(&mut self, context: &mut Context<'_>) -> Instant {
        let now = context.now;
        if now >= self.next_publish_at {
            let level: &[u8] = match self.button.is_high() {
                Ok(true) => b"1",
                Ok(false) => b"0",
                Err(_) => {
                    context.log(
                        LogLevel::Error,
                        format_args!("remote-led: button pin failed"),
                    );
                    b"1"
                }
            };
            // Offline: the level is stale in 500ms anyway, so it is dropped,
            // as the tutorial's umqtt.simple would.
            let _ = context.publish(&self.button_topic, level, QoS::AtMostOnce, false);
            while self.next_publish_at <= now && !self.config.period.is_zero() {
                self.next_publish_at = self.next_publish_at + self.config.period;
            }
        }
        self.next_publish_at
    }
}
