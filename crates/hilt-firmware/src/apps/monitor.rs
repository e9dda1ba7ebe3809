//! monitor: a board that subscribes to a topic filter and reports every
//! message it receives, the scenario's `mosquitto_sub -v`.
//!
//! It exists so that scenarios can check what a subscriber sees, not only
//! what was published: retained messages delivered to a late subscriber
//! (reboot the monitor to make it subscribe again), the QoS a broker
//! delivers with, messages a persistent session kept while it was away.
//! Each message is reported on `<client_id>/seen` (configurable) as
//! `{"topic": "...", "payload": "...", "qos": 1, "retain": true}`; a payload
//! that is not UTF-8 is reported as `"<N bytes, not UTF-8>"`. Messages on
//! the report topic itself are ignored, so a filter like `#` cannot loop.

use core::fmt::Write as _;

use heapless::String;

use crate::app::{App, Context, LogLevel, Message};
use crate::apps::json;
use crate::mqtt::codec::QoS;
use crate::mqtt::session::{MAX_CLIENT_ID_LEN, MAX_TOPIC_LEN, SessionOptions, truncated};
use crate::settings::{self, Credentials, SettingError, SettingKey, Settings, Tls};
use crate::time::{Duration, Instant};

/// Longest report: topic, payload and the JSON around them.
const REPORT_LEN: usize = 640;
/// Payload characters copied into a report.
const REPORTED_PAYLOAD_CHARS: usize = 256;

/// The monitor's settings; `config:` in a scenario, read by
/// [`Settings::set`]. (The monitor runs in the simulation only.)
#[derive(Clone, Debug)]
pub struct MonitorConfig {
    pub client_id: String<MAX_CLIENT_ID_LEN>,
    /// `filter`: what to subscribe to; `#`.
    pub filter: String<MAX_TOPIC_LEN>,
    /// `qos`: the subscription's QoS; 0.
    pub qos: QoS,
    /// `report_topic`: where reports go; `<client_id>/seen`.
    pub report_topic: String<MAX_TOPIC_LEN>,
    /// `clean_session`: false keeps the subscription and queued QoS 1/2
    /// messages at the broker while the monitor is away; true.
    pub clean_session: bool,
    /// `username` and `password`: sent in CONNECT when given.
    pub credentials: Credentials,
    /// `tls` and `tls_server_name`: TLS 1.3 to the broker when on.
    pub tls: Tls,
}

impl MonitorConfig {
    pub fn new(client_id: &str) -> Self {
        let mut report_topic = String::new();
        let _ = write!(report_topic, "{client_id}/seen");
        MonitorConfig {
            client_id: truncated(client_id),
            filter: truncated("#"),
            qos: QoS::AtMostOnce,
            report_topic,
            clean_session: true,
            credentials: Credentials::default(),
            tls: Tls::default(),
        }
    }

    /// The keys, in the order their problems are reported.
    pub const KEYS: &'static [SettingKey] = &[
        SettingKey::optional("filter"),
        SettingKey::optional("qos"),
        SettingKey::optional("report_topic"),
        SettingKey::optional("clean_session"),
        Credentials::USERNAME,
        Credentials::PASSWORD,
        Tls::ENABLED,
        Tls::SERVER_NAME,
    ];
}

impl Settings for MonitorConfig {
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
            "filter" => self.filter = settings::topic_filter(value)?,
            "qos" => self.qos = settings::qos(value)?,
            "report_topic" => self.report_topic = settings::topic_name(value)?,
            "clean_session" => self.clean_session = settings::boolean(value)?,
            _ => return Err(SettingError::UnknownKey),
        }
        Ok(())
    }
}

/// The monitor app; see the module documentation.
#[derive(Debug)]
pub struct Monitor {
    config: MonitorConfig,
}

impl Monitor {
    pub fn new(config: MonitorConfig) -> Self {
        Monitor { config }
    }
}

impl App for Monitor {
    fn session_options(&self) -> SessionOptions {
        let mut options = SessionOptions::new(&self.config.client_id);
        options.clean_session = self.config.clean_session;
        self.config.credentials.apply(&mut options);
        self.config.tls.apply(&mut options);
        options
    }

    fn on_connected(&mut self, context: &mut Context<'_>) {
        if let Err(error) = context.subscribe(&self.config.filter, self.config.qos) {
            context.log(
                LogLevel::Error,
                format_args!("monitor: cannot subscribe: {error}"),
            );
        }
    }

    fn on_message(&mut self, context: &mut Context<'_>, message: &Message<'_>) {
        if message.topic == self.config.report_topic.as_str() {
            return;
        }
        let mut report: String<REPORT_LEN> = String::new();
        let written = (|| -> core::fmt::Result {
            report.write_str("{\"topic\": ")?;
            json::write_string(&mut report, json::shown(message.topic, MAX_TOPIC_LEN))?;
            report.write_str(", \"payload\": ")?;
            match core::str::from_utf8(message.payload) {
                Ok(text) => {
                    json::write_string(&mut report, json::shown(text, REPORTED_PAYLOAD_CHARS))?
                }
                Err(_) => write!(report, "\"<{} bytes, not UTF-8>\"", message.payload.len())?,
            }
            write!(
                report,
                ", \"qos\": {}, \"retain\": {}}}",
                message.qos.as_u8(),
                message.retain
            )
        })();
        if written.is_err() {
            context.log(
                LogLevel::Warn,
                format_args!("monitor: report too long, dropped"),
            );
            return;
        }
        if let Err(error) = context.publish(
            &self.config.report_topic,
            report.as_bytes(),
            QoS::AtMostOnce,
            false,
        ) {
            context.log(
                LogLevel::Warn,
                format_args!("monitor: report not sent: {error}"),
            );
        }
    }

    fn poll(&mut self, context: &mut Context<'_>) -> Instant {
        // Nothing of its own to do; the session's deadlines still apply.
        context.now + Duration::from_secs(3600)
    }
}
