//! thermometer, after the tutorial "Get on the Good Foot with MicroPython on
//! the ESP32": a DS18B20 read every interval and published as
//! `{"degrees": 72.5, "unit": "F"}` on `devices/<client_id>/temperature/degrees`.
//!
//! The tutorial's loop reads, publishes, then sleeps `interval`. Here a
//! reading starts every `interval` from boot (the first one at boot), the
//! DS18B20 converts for its datasheet time while the app keeps serving MQTT,
//! and the result is published when the conversion is done.
//!
//! A failed reading (sensor missing, bad CRC) is never turned into a number:
//! the app publishes `{"error": "sensor_missing"}` or
//! `{"error": "crc_mismatch"}` on `devices/<client_id>/temperature/error`
//! and tries again at the next interval.
//!
//! The first reading is due about 0.75 s after boot, which on a real network
//! often comes before the broker's CONNACK (DNS, TCP and the MQTT handshake
//! take longer). A reading taken before the first CONNACK is therefore kept,
//! the latest one only, and published right after that CONNACK, instead of
//! being dropped. Readings taken during a later outage are dropped as the
//! tutorial's loop drops them: a stale temperature sent after a reconnect,
//! without a time, would read as a current one.
//!
//! Degrees are formatted from the sensor's sixteenths of a degree in exact
//! fixed point (ten-thousandths), so 22.5 °C is always `72.5` °F, never
//! `72.49999`.

use core::fmt::Write as _;

use embedded_hal::delay::DelayNs;
use embedded_hal::digital::{InputPin, OutputPin};
use heapless::String;

use crate::app::{App, Context, LogLevel, Message};
use crate::ds18b20::{Ds18b20, Ds18b20Error};
use crate::mqtt::codec::QoS;
use crate::mqtt::session::{MAX_CLIENT_ID_LEN, MAX_TOPIC_LEN, SessionOptions, truncated};
use crate::settings::{self, Credentials, SettingError, SettingKey, Settings, Tls};
use crate::time::{Duration, Instant};

/// Which scale to publish.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unit {
    Celsius,
    Fahrenheit,
}

impl Unit {
    /// `F` or `C`, either case.
    fn from_setting(value: &str) -> Result<Unit, SettingError<'_>> {
        match value {
            "F" | "f" => Ok(Unit::Fahrenheit),
            "C" | "c" => Ok(Unit::Celsius),
            _ => Err(SettingError::NotOneOf {
                value,
                what: "a unit",
                choices: "C or F",
            }),
        }
    }

    fn letter(self) -> &'static str {
        match self {
            Unit::Celsius => "C",
            Unit::Fahrenheit => "F",
        }
    }
}

/// The thermometer's settings; `config:` in a scenario, `HILT_<KEY>` in an
/// image build, read by [`Settings::set`].
#[derive(Clone, Debug)]
pub struct ThermometerConfig {
    pub client_id: String<MAX_CLIENT_ID_LEN>,
    /// `unit`: F by default, as in the tutorial.
    pub unit: Unit,
    /// `interval`: 60s by default.
    pub interval: Duration,
    /// `keepalive`: 60s by default.
    pub keep_alive: Duration,
    /// `username` and `password`: sent in CONNECT when given.
    pub credentials: Credentials,
    /// `tls` and `tls_server_name`: TLS 1.3 to the broker when on.
    pub tls: Tls,
}

impl ThermometerConfig {
    pub fn new(client_id: &str) -> Self {
        ThermometerConfig {
            client_id: truncated(client_id),
            unit: Unit::Fahrenheit,
            interval: Duration::from_secs(60),
            keep_alive: Duration::from_secs(60),
            credentials: Credentials::default(),
            tls: Tls::default(),
        }
    }

    /// The keys, in the order their problems are reported.
    pub const KEYS: &'static [SettingKey] = &[
        SettingKey::optional("unit"),
        SettingKey::optional("interval"),
        SettingKey::optional("keepalive"),
        Credentials::USERNAME,
        Credentials::PASSWORD,
        Tls::ENABLED,
        Tls::SERVER_NAME,
    ];
}

impl Settings for ThermometerConfig {
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
            "unit" => self.unit = Unit::from_setting(value)?,
            "interval" => self.interval = settings::positive_duration(value)?,
            "keepalive" => self.keep_alive = settings::keep_alive(value)?,
            _ => return Err(SettingError::UnknownKey),
        }
        Ok(())
    }
}

/// Why a reading failed, in the words of the error report.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReadingError {
    /// No presence pulse: the sensor is not on the bus.
    SensorMissing,
    /// The scratchpad failed its CRC: a noisy or broken line.
    CrcMismatch,
    /// The pin itself reported an error.
    Bus,
}

impl ReadingError {
    fn code(self) -> &'static str {
        match self {
            ReadingError::SensorMissing => "sensor_missing",
            ReadingError::CrcMismatch => "crc_mismatch",
            ReadingError::Bus => "bus_error",
        }
    }
}

/// What the thermometer needs from its sensor: a conversion it can wait
/// for without blocking, then the result in sixteenths of a degree Celsius.
pub trait TemperatureSensor {
    /// Starts a conversion; returns how long it takes.
    fn start_conversion(&mut self) -> Result<Duration, ReadingError>;
    /// True once the conversion has finished.
    fn conversion_done(&mut self) -> Result<bool, ReadingError>;
    /// Reads the finished conversion, in 1/16 °C.
    fn read_sixteenths(&mut self) -> Result<i16, ReadingError>;
}

impl<P, D> TemperatureSensor for Ds18b20<P, D>
where
    P: InputPin + OutputPin,
    D: DelayNs,
{
    fn start_conversion(&mut self) -> Result<Duration, ReadingError> {
        Ds18b20::start_conversion(self).map_err(reading_error)
    }

    fn conversion_done(&mut self) -> Result<bool, ReadingError> {
        Ds18b20::conversion_done(self).map_err(reading_error)
    }

    fn read_sixteenths(&mut self) -> Result<i16, ReadingError> {
        self.read_temperature()
            .map(|temperature| temperature.sixteenths())
            .map_err(reading_error)
    }
}

fn reading_error<E>(error: Ds18b20Error<E>) -> ReadingError {
    match error {
        Ds18b20Error::SensorMissing => ReadingError::SensorMissing,
        Ds18b20Error::CrcMismatch { .. } => ReadingError::CrcMismatch,
        _ => ReadingError::Bus,
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// Waiting for the next reading to start.
    Idle,
    /// A conversion runs until `ready_at`; if the sensor is not done then,
    /// it is asked again `checks_left` more times.
    Converting { ready_at: Instant, checks_left: u8 },
}

/// How often to ask a sensor that is still converting after its datasheet
/// time. The datasheet time counts from the end of the Convert T command,
/// which the app only knows as "the poll that sent it", so the first check
/// can come a few milliseconds early.
const CONVERSION_CHECKS: u8 = 5;
/// Pause between those checks.
const CONVERSION_CHECK_INTERVAL: Duration = Duration::from_millis(10);

/// The thermometer app; see the module documentation.
#[derive(Debug)]
pub struct Thermometer<S> {
    config: ThermometerConfig,
    sensor: S,
    degrees_topic: String<MAX_TOPIC_LEN>,
    error_topic: String<MAX_TOPIC_LEN>,
    phase: Phase,
    next_reading_at: Instant,
    /// A reading (1/16 °C) taken before the first CONNACK, to publish right
    /// after it; one slot, so a newer reading replaces an older one.
    pending_reading: Option<i16>,
    /// True once a CONNACK has been accepted since boot.
    ever_connected: bool,
}

impl<S: TemperatureSensor> Thermometer<S> {
    /// A thermometer whose first reading starts at `boot`.
    pub fn new(config: ThermometerConfig, sensor: S, boot: Instant) -> Self {
        let mut degrees_topic = String::new();
        let _ = write!(
            degrees_topic,
            "devices/{}/temperature/degrees",
            config.client_id
        );
        let mut error_topic = String::new();
        let _ = write!(
            error_topic,
            "devices/{}/temperature/error",
            config.client_id
        );
        Thermometer {
            config,
            sensor,
            degrees_topic,
            error_topic,
            phase: Phase::Idle,
            next_reading_at: boot,
            pending_reading: None,
            ever_connected: false,
        }
    }

    pub fn sensor_mut(&mut self) -> &mut S {
        &mut self.sensor
    }

    /// The topic readings are published on.
    pub fn degrees_topic(&self) -> &str {
        &self.degrees_topic
    }

    fn schedule_next_reading(&mut self, now: Instant) {
        // Keep to the boot-aligned grid even if a poll came late, so that
        // a day holds exactly 86400s / interval readings.
        while self.next_reading_at <= now {
            self.next_reading_at = self.next_reading_at + self.config.interval;
            if self.config.interval.is_zero() {
                break;
            }
        }
        self.phase = Phase::Idle;
    }

    fn report_error(&mut self, context: &mut Context<'_>, error: ReadingError) {
        context.log(
            LogLevel::Warn,
            format_args!("thermometer: reading failed: {}", error.code()),
        );
        let mut payload: String<64> = String::new();
        let _ = write!(payload, "{{\"error\": \"{}\"}}", error.code());
        if let Err(publish_error) = context.publish(
            &self.error_topic,
            payload.as_bytes(),
            QoS::AtMostOnce,
            false,
        ) {
            context.log(
                LogLevel::Warn,
                format_args!("thermometer: error report not sent: {publish_error}"),
            );
        }
    }

    /// Publishes a reading, or keeps it for the first CONNACK if the
    /// session has not connected since boot.
    fn publish_or_keep_reading(&mut self, context: &mut Context<'_>, sixteenths: i16) {
        if !self.ever_connected && !context.mqtt.is_connected() {
            self.pending_reading = Some(sixteenths);
        } else {
            self.publish_reading(context, sixteenths);
        }
    }

    fn publish_reading(&mut self, context: &mut Context<'_>, sixteenths: i16) {
        let mut payload: String<64> = String::new();
        let _ = write!(payload, "{{\"degrees\": ");
        let ten_thousandths = match self.config.unit {
            Unit::Celsius => i32::from(sixteenths) * 625,
            // F = C × 9/5 + 32, in ten-thousandths: exact for every sixteenth.
            Unit::Fahrenheit => i32::from(sixteenths) * 1125 + 320_000,
        };
        write_fixed_point(&mut payload, ten_thousandths);
        let _ = write!(payload, ", \"unit\": \"{}\"}}", self.config.unit.letter());
        if let Err(error) = context.publish(
            &self.degrees_topic,
            payload.as_bytes(),
            QoS::AtMostOnce,
            false,
        ) {
            context.log(
                LogLevel::Warn,
                format_args!("thermometer: reading not sent: {error}"),
            );
        }
    }
}

/// Writes ten-thousandths as a decimal with trailing zeros trimmed and at
/// least one digit after the point: 725000 → `72.5`, -5550000 → `-555.0`.
fn write_fixed_point<const N: usize>(out: &mut String<N>, ten_thousandths: i32) {
    let sign = if ten_thousandths < 0 { "-" } else { "" };
    let magnitude = ten_thousandths.unsigned_abs();
    let mut fraction = magnitude % 10_000;
    let mut digits = 4;
    while digits > 1 && fraction.is_multiple_of(10) {
        fraction /= 10;
        digits -= 1;
    }
    let _ = write!(out, "{sign}{}.{fraction:0digits$}", magnitude / 10_000);
}

impl<S: TemperatureSensor> App for Thermometer<S> {
    fn session_options(&self) -> SessionOptions {
        let mut options = SessionOptions::new(&self.config.client_id);
        options.keep_alive = self.config.keep_alive;
        self.config.credentials.apply(&mut options);
        self.config.tls.apply(&mut options);
        options
    }

    fn on_connected(&mut self, context: &mut Context<'_>) {
        context.log(LogLevel::Info, format_args!("thermometer: connected"));
        self.ever_connected = true;
        if let Some(sixteenths) = self.pending_reading.take() {
            self.publish_reading(context, sixteenths);
        }
    }

    fn on_message(&mut self, context: &mut Context<'_>, message: &Message<'_>) {
        // The thermometer subscribes to nothing; say so if the broker
        // delivers anyway (e.g. a persistent session from older firmware).
        context.log(
            LogLevel::Debug,
            format_args!("thermometer: ignored message on {}", message.topic),
        );
    }

    fn poll(&mut self, context: &mut Context<'_>) -> Instant {
        let now = context.now;
        if self.phase == Phase::Idle && now >= self.next_reading_at {
            match self.sensor.start_conversion() {
                Ok(conversion_time) => {
                    self.phase = Phase::Converting {
                        ready_at: now + conversion_time,
                        checks_left: CONVERSION_CHECKS,
                    }
                }
                Err(error) => {
                    self.report_error(context, error);
                    self.schedule_next_reading(now);
                }
            }
        }
        if let Phase::Converting {
            ready_at,
            checks_left,
        } = self.phase
            && now >= ready_at
        {
            match self.sensor.conversion_done() {
                Ok(false) if checks_left > 0 => {
                    self.phase = Phase::Converting {
                        ready_at: now + CONVERSION_CHECK_INTERVAL,
                        checks_left: checks_left - 1,
                    };
                }
                // Done, or out of patience: the scratchpad read (and its
                // CRC) decides whether there is a reading.
                Ok(_) => {
                    match self.sensor.read_sixteenths() {
                        Ok(sixteenths) => self.publish_or_keep_reading(context, sixteenths),
                        Err(error) => self.report_error(context, error),
                    }
                    self.schedule_next_reading(now);
                }
                Err(error) => {
                    self.report_error(context, error);
                    self.schedule_next_reading(now);
                }
            }
        }
        match self.phase {
            Phase::Converting { ready_at, .. } => ready_at,
            Phase::Idle => self.next_reading_at,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apps::test_harness::{Harness, at};

    /// A sensor that always converts in 750 ms to the same temperature.
    #[derive(Debug)]
    struct FixedSensor {
        sixteenths: i16,
    }

    impl TemperatureSensor for FixedSensor {
        fn start_conversion(&mut self) -> Result<Duration, ReadingError> {
            Ok(Duration::from_millis(750))
        }
        fn conversion_done(&mut self) -> Result<bool, ReadingError> {
            Ok(true)
        }
        fn read_sixteenths(&mut self) -> Result<i16, ReadingError> {
            Ok(self.sixteenths)
        }
    }

    fn thermometer(sixteenths: i16) -> Harness<Thermometer<FixedSensor>> {
        let mut config = ThermometerConfig::new("probe");
        config.unit = Unit::Celsius;
        config.interval = Duration::from_secs(10);
        Harness::new(Thermometer::new(
            config,
            FixedSensor { sixteenths },
            Instant::BOOT,
        ))
    }

    #[test]
    fn a_reading_taken_before_the_first_connack_is_published_after_it() {
        let mut harness = thermometer(360);
        // The broker cannot be reached until well after the first reading
        // (0.75 s after boot).
        harness.broker_up = false;
        harness.run_until(at(3.0));
        assert!(harness.sent.is_empty(), "{:?}", harness.sent);
        harness.broker_up = true;
        harness.run_until(at(9.0));
        let sent = harness.sent_on("devices/probe/temperature/degrees");
        assert_eq!(sent.len(), 1, "{sent:?}");
        assert_eq!(sent[0].payload, "{\"degrees\": 22.5, \"unit\": \"C\"}");
        assert!(sent[0].at > at(3.0), "sent at {}", sent[0].at);
        // The next reading follows the boot-aligned grid as before.
        harness.run_until(at(11.0));
        assert_eq!(
            harness.sent_on("devices/probe/temperature/degrees").len(),
            2
        );
    }

    #[test]
    fn readings_during_a_later_outage_are_not_kept() {
        let mut harness = thermometer(360);
        harness.run_until(at(1.0));
        assert_eq!(
            harness.sent_on("devices/probe/temperature/degrees").len(),
            1
        );
        harness.broker_up = false;
        harness.cut_link();
        // The reading at 10.75 s falls in the outage and is dropped.
        harness.run_until(at(12.0));
        harness.broker_up = true;
        harness.run_until(at(19.0));
        assert_eq!(
            harness.sent_on("devices/probe/temperature/degrees").len(),
            1
        );
        harness.run_until(at(21.0));
        assert_eq!(
            harness.sent_on("devices/probe/temperature/degrees").len(),
            2
        );
    }

    fn formatted(ten_thousandths: i32) -> String<32> {
        let mut out = String::new();
        write_fixed_point(&mut out, ten_thousandths);
        out
    }

    #[test]
    fn fixed_point_trims_trailing_zeros_but_keeps_one_decimal() {
        assert_eq!(formatted(725_000), "72.5");
        assert_eq!(formatted(0), "0.0");
        assert_eq!(formatted(-105_000), "-10.5");
        assert_eq!(formatted(717_125), "71.7125");
        assert_eq!(formatted(-625), "-0.0625");
        assert_eq!(formatted(1_250_000), "125.0");
    }

    #[test]
    fn fahrenheit_conversion_is_exact_for_sixteenths() {
        // 22.5 °C = 360 sixteenths → 72.5 °F; -40 °C = -40 °F.
        assert_eq!(formatted(360 * 1125 + 320_000), "72.5");
        assert_eq!(formatted(-640 * 1125 + 320_000), "-40.0");
        // -55 °C → -67 °F; 125 °C → 257 °F.
        assert_eq!(formatted(-880 * 1125 + 320_000), "-67.0");
        assert_eq!(formatted(2000 * 1125 + 320_000), "257.0");
    }
}
