//! sensor-data, after the MicroPython workshop chapter "Messaging with MQTT"
//! (its ThingFlow sensor and umqtt client): a light sensor sampled every interval and
//! published as ThingFlow's `["lux-1", 624, 284.13]` on `sensor-data`, plus
//! the tutorial's pull pattern, a request answered with a fresh sample.
//!
//! **Periodic samples.** A measurement starts every `interval` (2s) from
//! boot, the first one at boot, on a boot-aligned grid. The sensor
//! integrates while the app keeps serving MQTT; when the time the sensor
//! asked for has passed, the app reads it and publishes
//! `["<sensor_id>", <seconds>, <lux>]` on `topic` (`sensor-data`) with the
//! configured QoS (0 by default, as in the tutorial). `<seconds>` is the
//! whole seconds since boot at the moment the value was read (the board has
//! no real-time clock; the tutorial's server rewrites it). `<lux>` has a
//! fixed number of decimals, `decimals` (2 by default: the TSL2591's
//! resolution at its default gain, and stable text for scenarios), e.g.
//! `284.13`, `0.00`. An `interval` of zero turns periodic samples off.
//!
//! **Requests.** Any message on `<client_id>/request`, whatever its payload,
//! asks for a fresh sample: if no measurement is running one starts at once,
//! and when it is read the same array goes to `<client_id>/response` (with
//! the configured QoS). A value is never reused: every answer comes from a
//! measurement read after the request arrived. Requests arriving while a
//! measurement runs (periodic or for an earlier request) are answered,
//! together and with one response, by that measurement; a periodic sample
//! due while a measurement runs also shares it, so the sensor only ever has
//! one measurement in flight.
//!
//! **Failures.** A sensor error (`LightSensorError`: `nack`, `saturated`, `not_ready`, `wrong_device`,
//! `bus_error`) or a reading that is not a finite number (`invalid_reading`)
//! is never published as a value. The app logs a warning and publishes
//! `{"sensor": "lux-1", "error": "nack"}` on `<client_id>/response` if a
//! request was waiting for it, and on `<topic>/error` (`sensor-data/error`)
//! if it was a periodic sample; the next interval tries again.
//!
//! Publishing needs a connection for QoS 0: a sample taken offline is
//! dropped (and logged), as the tutorial's umqtt would. QoS 1 and 2 samples
//! are queued by the session and sent after reconnecting, up to its queue.

use core::fmt::Write as _;

use heapless::String;

use crate::app::{App, Context, LogLevel, Message};
use crate::apps::json;
use crate::mqtt::codec::QoS;
use crate::mqtt::session::{MAX_CLIENT_ID_LEN, MAX_TOPIC_LEN, SessionOptions, truncated};
use crate::sensors::{LightSensor, LightSensorError};
use crate::settings::{self, Credentials, SettingError, SettingKey, Settings, Tls};
use crate::time::{Duration, Instant};

/// Longest sensor id; the `sensor_id` setting refuses a longer one rather
/// than cut it.
pub const MAX_SENSOR_ID_LEN: usize = 32;
/// Most decimals `decimals` may ask for: the setting refuses more, and a
/// config given more in code is published with this many.
pub const MAX_DECIMALS: u8 = 6;
/// The tutorial's topic.
pub const DEFAULT_TOPIC: &str = "sensor-data";
/// The tutorial's sensor id.
pub const DEFAULT_SENSOR_ID: &str = "lux-1";

/// How long the app sleeps when it has nothing scheduled (periodic samples
/// off, no measurement running); the session's own deadlines still apply.
const IDLE_POLL: Duration = Duration::from_secs(3600);

/// The sensor-data app's settings; `config:` in a scenario, `HILT_<KEY>` in
/// an image build, read by [`Settings::set`].
#[derive(Clone, Debug)]
pub struct SensorDataConfig {
    pub client_id: String<MAX_CLIENT_ID_LEN>,
    /// `sensor_id`: the first element of every array; `lux-1`.
    pub sensor_id: String<MAX_SENSOR_ID_LEN>,
    /// `topic`: where periodic samples go; `sensor-data`. Errors go to
    /// `<topic>/error`.
    pub topic: String<MAX_TOPIC_LEN>,
    /// `interval`: 2s (the tutorial's REPL session; its main loop uses 5s).
    /// Zero: no periodic samples, requests only.
    pub interval: Duration,
    /// `qos`: of samples, responses and error reports; 0 as in the tutorial.
    pub qos: QoS,
    /// `decimals`: digits after the point of the lux value; 2.
    pub decimals: u8,
    /// `keepalive`: 60s.
    pub keep_alive: Duration,
    /// `username` and `password`: sent in CONNECT when given.
    pub credentials: Credentials,
    /// `tls` and `tls_server_name`: TLS 1.3 to the broker when on.
    pub tls: Tls,
}

impl SensorDataConfig {
    pub fn new(client_id: &str) -> Self {
        SensorDataConfig {
            client_id: truncated(client_id),
            sensor_id: truncated(DEFAULT_SENSOR_ID),
            topic: truncated(DEFAULT_TOPIC),
            interval: Duration::from_secs(2),
            qos: QoS::AtMostOnce,
            decimals: 2,
            keep_alive: Duration::from_secs(60),
            credentials: Credentials::default(),
            tls: Tls::default(),
        }
    }

    /// The keys, in the order their problems are reported.
    pub const KEYS: &'static [SettingKey] = &[
        SettingKey::optional("sensor_id"),
        SettingKey::optional("topic"),
        SettingKey::optional("interval"),
        SettingKey::optional("qos"),
        SettingKey::optional("decimals"),
        SettingKey::optional("keepalive"),
        Credentials::USERNAME,
        Credentials::PASSWORD,
        Tls::ENABLED,
        Tls::SERVER_NAME,
    ];
}

impl Settings for SensorDataConfig {
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
            "sensor_id" => self.sensor_id = sensor_id(value)?,
            "topic" => self.topic = settings::topic_name(value)?,
            "interval" => self.interval = settings::duration_or_zero(value)?,
            "qos" => self.qos = settings::qos(value)?,
            "decimals" => self.decimals = decimals(value)?,
            "keepalive" => self.keep_alive = settings::keep_alive(value)?,
            _ => return Err(SettingError::UnknownKey),
        }
        Ok(())
    }
}

/// 1 to [`MAX_SENSOR_ID_LEN`] bytes without `"`: the id is published
/// inside a JSON string, which a quote would end.
fn sensor_id(value: &str) -> Result<String<MAX_SENSOR_ID_LEN>, SettingError<'_>> {
    let refused = SettingError::NotASensorId {
        max: MAX_SENSOR_ID_LEN,
    };
    if value.is_empty() || value.contains('"') {
        return Err(refused);
    }
    String::try_from(value).map_err(|_| refused)
}

/// 0 to [`MAX_DECIMALS`] digits after the point.
fn decimals(value: &str) -> Result<u8, SettingError<'_>> {
    value
        .parse::<u8>()
        .ok()
        .filter(|decimals| *decimals <= MAX_DECIMALS)
        .ok_or(SettingError::NotDecimals {
            value,
            max: MAX_DECIMALS,
        })
}

/// A measurement in flight and who is waiting for it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Running {
    ready_at: Instant,
    /// Publish the result on the data topic.
    periodic: bool,
    /// Publish the result on the response topic.
    request: bool,
}

/// Why a sample has no value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum SampleError {
    Sensor(LightSensorError),
    /// The sensor answered NaN or an infinity.
    InvalidReading,
}

impl SampleError {
    fn code(self) -> &'static str {
        match self {
            SampleError::Sensor(error) => error.code(),
            SampleError::InvalidReading => "invalid_reading",
        }
    }
}

/// The sensor-data app; see the module documentation.
#[derive(Debug)]
pub struct SensorData<S> {
    config: SensorDataConfig,
    sensor: S,
    boot: Instant,
    error_topic: String<MAX_TOPIC_LEN>,
    request_topic: String<MAX_TOPIC_LEN>,
    response_topic: String<MAX_TOPIC_LEN>,
    /// When the next periodic sample is due; `None` with a zero interval.
    next_sample_at: Option<Instant>,
    running: Option<Running>,
    measurements_started: u32,
}

impl<S: LightSensor> SensorData<S> {
    /// An app whose first periodic sample starts at `boot`.
    pub fn new(config: SensorDataConfig, sensor: S, boot: Instant) -> Self {
        let mut error_topic = String::new();
        let _ = write!(error_topic, "{}/error", config.topic);
        let mut request_topic = String::new();
        let _ = write!(request_topic, "{}/request", config.client_id);
        let mut response_topic = String::new();
        let _ = write!(response_topic, "{}/response", config.client_id);
        let next_sample_at = (!config.interval.is_zero()).then_some(boot);
        SensorData {
            config,
            sensor,
            boot,
            error_topic,
            request_topic,
            response_topic,
            next_sample_at,
            running: None,
            measurements_started: 0,
        }
    }

    pub fn sensor(&self) -> &S {
        &self.sensor
    }

    pub fn sensor_mut(&mut self) -> &mut S {
        &mut self.sensor
    }

    /// The topic periodic samples are published on.
    pub fn data_topic(&self) -> &str {
        &self.config.topic
    }

    /// `<topic>/error`: failed periodic samples.
    pub fn error_topic(&self) -> &str {
        &self.error_topic
    }

    /// `<client_id>/request`.
    pub fn request_topic(&self) -> &str {
        &self.request_topic
    }

    /// `<client_id>/response`.
    pub fn response_topic(&self) -> &str {
        &self.response_topic
    }

    /// Measurements started since boot.
    pub fn measurements_started(&self) -> u32 {
        self.measurements_started
    }

    /// Starts a measurement for whoever is waiting, or hands a sensor that
    /// refuses to start straight to the error reports.
    fn start(&mut self, context: &mut Context<'_>, periodic: bool, request: bool) {
        self.measurements_started = self.measurements_started.wrapping_add(1);
        match self.sensor.start_measurement() {
            Ok(integration) => {
                self.running = Some(Running {
                    ready_at: context.now + integration,
                    periodic,
                    request,
                });
            }
            Err(error) => self.deliver(context, Err(SampleError::Sensor(error)), periodic, request),
        }
    }

    /// Reads the running measurement if it is due.
    fn finish_if_due(&mut self, context: &mut Context<'_>) {
        let Some(running) = self.running else {
            return;
        };
        if context.now < running.ready_at {
            return;
        }
        self.running = None;
        let result = match self.sensor.read_lux() {
            Ok(lux) if lux.is_finite() => Ok(lux),
            Ok(_) => Err(SampleError::InvalidReading),
            Err(error) => Err(SampleError::Sensor(error)),
        };
        self.deliver(context, result, running.periodic, running.request);
    }

    fn deliver(
        &mut self,
        context: &mut Context<'_>,
        result: Result<f32, SampleError>,
        periodic: bool,
        request: bool,
    ) {
        let mut payload: String<128> = String::new();
        match result {
            Ok(lux) => {
                let seconds = context.now.saturating_since(self.boot).as_secs();
                let decimals = usize::from(self.config.decimals.min(MAX_DECIMALS));
                let _ = payload.push('[');
                let _ = json::write_string(&mut payload, &self.config.sensor_id);
                let _ = write!(payload, ", {seconds}, {lux:.decimals$}]");
            }
            Err(error) => {
                context.log(
                    LogLevel::Warn,
                    format_args!(
                        "sensor-data: {} sample failed: {}",
                        self.config.sensor_id,
                        error.code()
                    ),
                );
                let _ = payload.push_str("{\"sensor\": ");
                let _ = json::write_string(&mut payload, &self.config.sensor_id);
                let _ = write!(payload, ", \"error\": \"{}\"}}", error.code());
            }
        }
        let qos = self.config.qos;
        if periodic {
            let topic = if result.is_ok() {
                &self.config.topic
            } else {
                &self.error_topic
            };
            publish_or_log(context, topic, &payload, qos);
        }
        if request {
            publish_or_log(context, &self.response_topic, &payload, qos);
        }
    }

    fn advance_schedule(&mut self, now: Instant) {
        if let Some(next) = self.next_sample_at.as_mut() {
            // Keep to the boot-aligned grid even after a late poll.
            while *next <= now {
                *next = *next + self.config.interval;
            }
        }
    }
}

fn publish_or_log(context: &mut Context<'_>, topic: &str, payload: &str, qos: QoS) {
    if let Err(error) = context.publish(topic, payload.as_bytes(), qos, false) {
        context.log(
            LogLevel::Warn,
            format_args!("sensor-data: not sent on {topic}: {error}"),
        );
    }
}

impl<S: LightSensor> App for SensorData<S> {
    fn session_options(&self) -> SessionOptions {
        let mut options = SessionOptions::new(&self.config.client_id);
        options.keep_alive = self.config.keep_alive;
        self.config.credentials.apply(&mut options);
        self.config.tls.apply(&mut options);
        options
    }

    fn on_connected(&mut self, context: &mut Context<'_>) {
        if let Err(error) = context.subscribe(&self.request_topic, QoS::AtMostOnce) {
            context.log(
                LogLevel::Error,
                format_args!("sensor-data: cannot subscribe: {error}"),
            );
        }
        context.log(LogLevel::Info, format_args!("sensor-data: connected"));
    }

    fn on_message(&mut self, context: &mut Context<'_>, message: &Message<'_>) {
        if message.topic != self.request_topic.as_str() {
            context.log(
                LogLevel::Debug,
                format_args!("sensor-data: ignored message on {}", message.topic),
            );
            return;
        }
        context.log(
            LogLevel::Info,
            format_args!("sensor-data: request for a fresh sample"),
        );
        match self.running.as_mut() {
            // Read after this request arrived: fresh, and answers it.
            Some(running) => running.request = true,
            None => {
                self.start(context, false, true);
                self.finish_if_due(context);
            }
        }
    }

    fn poll(&mut self, context: &mut Context<'_>) -> Instant {
        let now = context.now;
        self.finish_if_due(context);
        if let Some(next) = self.next_sample_at
            && now >= next
        {
            self.advance_schedule(now);
            match self.running.as_mut() {
                Some(running) => running.periodic = true,
                None => self.start(context, true, false),
            }
        }
        // A sensor that needs no integration time is read at once.
        self.finish_if_due(context);
        let idle = now + IDLE_POLL;
        let next_sample = self.next_sample_at.unwrap_or(idle);
        match self.running {
            Some(running) => running.ready_at.min(next_sample),
            None => next_sample,
        }
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use std::string::String as StdString;
    use std::vec::Vec as StdVec;

    use super::*;
    use crate::apps::test_harness::{Harness, at};

    /// A sensor with a settable light level and injectable failures.
    #[derive(Debug)]
    struct FakeSensor {
        lux: f32,
        integration: Duration,
        start_error: Option<LightSensorError>,
        read_error: Option<LightSensorError>,
        starts: u32,
        reads: u32,
        /// A measurement has started and not been read yet.
        running: bool,
    }

    impl FakeSensor {
        fn new(lux: f32) -> Self {
            FakeSensor {
                lux,
                integration: Duration::from_millis(100),
                start_error: None,
                read_error: None,
                starts: 0,
                reads: 0,
                running: false,
            }
        }
    }

    impl LightSensor for FakeSensor {
        fn start_measurement(&mut self) -> Result<Duration, LightSensorError> {
            assert!(!self.running, "one measurement at a time");
            self.starts += 1;
            if let Some(error) = self.start_error {
                return Err(error);
            }
            self.running = true;
            Ok(self.integration)
        }

        fn read_lux(&mut self) -> Result<f32, LightSensorError> {
            assert!(self.running, "read only after a start");
            self.running = false;
            self.reads += 1;
            match self.read_error {
                Some(error) => Err(error),
                None => Ok(self.lux),
            }
        }
    }

    fn harness(config: SensorDataConfig, lux: f32) -> Harness<SensorData<FakeSensor>> {
        Harness::new(SensorData::new(config, FakeSensor::new(lux), Instant::BOOT))
    }

    fn payloads(sent: &[crate::apps::test_harness::Sent]) -> StdVec<StdString> {
        sent.iter().map(|sent| sent.payload.clone()).collect()
    }

    #[test]
    fn samples_every_interval_as_the_tutorial_array() {
        let mut harness = harness(SensorDataConfig::new("esp8266"), 284.1312);
        harness.run_until(at(6.5));
        let sent = harness.sent_on("sensor-data");
        assert_eq!(
            payloads(&sent),
            [
                "[\"lux-1\", 0, 284.13]",
                "[\"lux-1\", 2, 284.13]",
                "[\"lux-1\", 4, 284.13]",
                "[\"lux-1\", 6, 284.13]",
            ]
        );
        // Read when the integration time has passed, every 2s from boot.
        let times: StdVec<Instant> = sent.iter().map(|sent| sent.at).collect();
        assert_eq!(times, [at(0.1), at(2.1), at(4.1), at(6.1)]);
        assert!(sent.iter().all(|s| s.qos == QoS::AtMostOnce && !s.retain));
        assert_eq!(
            harness.subscriptions,
            [("esp8266/request".into(), QoS::AtMostOnce)]
        );
    }

    #[test]
    fn qos_sensor_id_topic_and_decimals_come_from_the_config() {
        for qos in [QoS::AtMostOnce, QoS::AtLeastOnce, QoS::ExactlyOnce] {
            let mut config = SensorDataConfig::new("esp8266");
            config.qos = qos;
            config.sensor_id = truncated("lux-\"2\"");
            config.topic = truncated("lab/light");
            config.decimals = 4;
            config.interval = Duration::from_secs(5);
            let mut harness = harness(config, 77.0304);
            harness.run_until(at(5.5));
            let sent = harness.sent_on("lab/light");
            assert_eq!(
                payloads(&sent),
                [
                    "[\"lux-\\\"2\\\"\", 0, 77.0304]",
                    "[\"lux-\\\"2\\\"\", 5, 77.0304]"
                ]
            );
            assert!(sent.iter().all(|s| s.qos == qos));
            assert_eq!(
                harness.app().session_options().keep_alive,
                Duration::from_secs(60)
            );
        }
    }

    #[test]
    fn whole_seconds_count_from_boot_when_the_value_is_read() {
        let mut sensor = FakeSensor::new(1.0);
        sensor.integration = Duration::from_millis(600);
        let mut config = SensorDataConfig::new("esp8266");
        config.interval = Duration::from_millis(1700);
        let mut harness = Harness::new(SensorData::new(config, sensor, Instant::BOOT));
        harness.run_until(at(5.2));
        // Read at 0.6, 2.3, 4.0 and 5.7 (not yet): seconds 0, 2, 4.
        assert_eq!(
            payloads(&harness.sent_on("sensor-data")),
            [
                "[\"lux-1\", 0, 1.00]",
                "[\"lux-1\", 2, 1.00]",
                "[\"lux-1\", 4, 1.00]"
            ]
        );
    }

    #[test]
    fn a_request_gets_a_fresh_sample_never_the_last_one() {
        let mut config = SensorDataConfig::new("esp8266");
        config.qos = QoS::AtLeastOnce;
        let mut harness = harness(config, 10.0);
        harness.run_until(at(1.0));
        assert_eq!(
            payloads(&harness.sent_on("sensor-data")),
            ["[\"lux-1\", 0, 10.00]"]
        );
        assert_eq!(harness.app().measurements_started(), 1);

        // The light changes; the cached 10.00 must not be the answer.
        harness.app_mut().sensor_mut().lux = 20.0;
        harness.deliver("esp8266/request", b"");
        assert_eq!(harness.app().measurements_started(), 2, "a new measurement");
        assert!(
            harness.sent_on("esp8266/response").is_empty(),
            "not before it is read"
        );
        harness.run_until(at(1.1));
        let responses = harness.sent_on("esp8266/response");
        assert_eq!(payloads(&responses), ["[\"lux-1\", 1, 20.00]"]);
        assert_eq!(responses[0].at, at(1.1));
        assert_eq!(responses[0].qos, QoS::AtLeastOnce);
        // The request's measurement is not a periodic sample.
        assert_eq!(harness.sent_on("sensor-data").len(), 1);
        harness.run_until(at(2.5));
        assert_eq!(harness.sent_on("sensor-data").len(), 2);
        assert_eq!(harness.sent_on("esp8266/response").len(), 1);
    }

    #[test]
    fn requests_during_a_measurement_share_it() {
        let mut harness = harness(SensorDataConfig::new("esp8266"), 5.0);
        harness.run_until(at(2.0)); // the periodic sample starts, ready at 2.1
        harness.now = at(2.02);
        harness.deliver("esp8266/request", b"first");
        harness.now = at(2.05);
        harness.deliver("esp8266/request", b"second");
        harness.deliver("esp8266/request", b"third");
        harness.run_until(at(2.2));
        // All three are answered, once, by the measurement read at 2.1.
        let responses = harness.sent_on("esp8266/response");
        assert_eq!(payloads(&responses), ["[\"lux-1\", 2, 5.00]"]);
        assert_eq!(responses[0].at, at(2.1));
        assert_eq!(harness.sent_on("sensor-data")[1].at, at(2.1));
        assert_eq!(harness.app().sensor().starts, 2);

        // A request after that one was read starts a new measurement.
        harness.deliver("esp8266/request", b"fourth");
        harness.run_until(at(2.5));
        let responses = harness.sent_on("esp8266/response");
        assert_eq!(responses.len(), 2);
        assert_eq!(responses[1].at, at(2.3));
        assert_eq!(harness.app().sensor().starts, 3);
    }

    #[test]
    fn a_periodic_sample_due_during_a_request_shares_its_measurement() {
        let mut harness = harness(SensorDataConfig::new("esp8266"), 5.0);
        harness.run_until(at(1.95));
        harness.deliver("esp8266/request", b"");
        harness.run_until(at(2.2));
        // The request's measurement, started at 1.95 and read at 2.05,
        // also serves the sample due at 2.0.
        assert_eq!(harness.app().sensor().starts, 2);
        let sample = harness.sent_on("sensor-data");
        assert_eq!(sample.len(), 2);
        assert_eq!(sample[1].at, at(2.05));
        assert_eq!(harness.sent_on("esp8266/response")[0].at, at(2.05));
    }

    #[test]
    fn a_nack_gives_an_error_response_not_a_stale_value() {
        let mut harness = harness(SensorDataConfig::new("esp8266"), 42.0);
        harness.run_until(at(1.0));
        assert_eq!(harness.sent_on("sensor-data").len(), 1);

        harness.app_mut().sensor_mut().start_error = Some(LightSensorError::Nack);
        harness.deliver("esp8266/request", b"");
        assert_eq!(
            payloads(&harness.sent_on("esp8266/response")),
            ["{\"sensor\": \"lux-1\", \"error\": \"nack\"}"]
        );
        assert!(harness.logged("sample failed: nack"));

        // Failing at read time is reported the same way.
        harness.app_mut().sensor_mut().start_error = None;
        harness.app_mut().sensor_mut().read_error = Some(LightSensorError::Saturated);
        harness.deliver("esp8266/request", b"");
        harness.run_for(Duration::from_millis(150));
        assert_eq!(
            payloads(&harness.sent_on("esp8266/response"))[1],
            "{\"sensor\": \"lux-1\", \"error\": \"saturated\"}"
        );
        assert!(
            !harness
                .sent
                .iter()
                .any(|s| s.topic.ends_with("response") && s.payload.contains("42")),
            "the old value is never an answer"
        );
    }

    #[test]
    fn failed_periodic_samples_go_to_the_error_topic_and_sampling_goes_on() {
        let mut harness = harness(SensorDataConfig::new("esp8266"), 3.5);
        harness.app_mut().sensor_mut().start_error = Some(LightSensorError::Nack);
        harness.run_until(at(3.0));
        assert_eq!(
            payloads(&harness.sent_on("sensor-data/error")),
            [
                "{\"sensor\": \"lux-1\", \"error\": \"nack\"}",
                "{\"sensor\": \"lux-1\", \"error\": \"nack\"}"
            ]
        );
        assert!(harness.sent_on("sensor-data").is_empty());
        harness.app_mut().sensor_mut().start_error = None;
        harness.run_until(at(4.5));
        assert_eq!(
            payloads(&harness.sent_on("sensor-data")),
            ["[\"lux-1\", 4, 3.50]"]
        );

        harness.app_mut().sensor_mut().lux = f32::NAN;
        harness.run_until(at(6.5));
        assert_eq!(
            harness.sent_on("sensor-data/error").last().unwrap().payload,
            "{\"sensor\": \"lux-1\", \"error\": \"invalid_reading\"}"
        );
    }

    #[test]
    fn a_zero_interval_only_answers_requests() {
        let mut config = SensorDataConfig::new("esp8266");
        config.interval = Duration::ZERO;
        let mut sensor = FakeSensor::new(9.0);
        sensor.integration = Duration::ZERO;
        let mut harness = Harness::new(SensorData::new(config, sensor, Instant::BOOT));
        harness.run_until(at(100.0));
        assert!(harness.sent_on("sensor-data").is_empty());
        harness.deliver("esp8266/request", b"");
        assert_eq!(
            payloads(&harness.sent_on("esp8266/response")),
            ["[\"lux-1\", 100, 9.00]"]
        );
    }

    #[test]
    fn offline_samples_are_dropped_and_logged_then_resume() {
        let mut harness = harness(SensorDataConfig::new("esp8266"), 1.0);
        harness.broker_up = false;
        harness.run_until(at(4.5));
        assert!(harness.sent.is_empty());
        assert!(harness.logged("not connected"));
        harness.broker_up = true;
        harness.run_until(at(8.5));
        assert!(!harness.sent_on("sensor-data").is_empty());
    }

    #[test]
    fn other_topics_are_ignored() {
        let mut harness = harness(SensorDataConfig::new("esp8266"), 1.0);
        harness.run_until(at(1.0));
        harness.deliver("someone/else/request", b"x");
        assert_eq!(harness.app().measurements_started(), 1);
    }
}
