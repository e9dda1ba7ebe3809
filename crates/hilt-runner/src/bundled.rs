//! Registrations of the reference apps, made exactly as a user's own app
//! would be (see [`SimulatedApp`]).

use hilt_firmware::app::LogLevel;
use hilt_firmware::app::{Firmware, Node};
use hilt_firmware::apps::light_status::{LightStatus, LightStatusConfig};
use hilt_firmware::apps::monitor::{Monitor, MonitorConfig};
use hilt_firmware::apps::node_manager::{NodeManager, NodeManagerConfig};
use hilt_firmware::apps::remote_led::{RemoteLed, RemoteLedConfig};
use hilt_firmware::apps::sensor_data::{SensorData, SensorDataConfig};
use hilt_firmware::apps::thermometer::{Thermometer, ThermometerConfig, Unit};
use hilt_firmware::ds18b20::Ds18b20;
use hilt_firmware::mqtt::codec::QoS;
use hilt_firmware::mqtt::session::truncated;
use hilt_firmware::onewire::OneWire;
use hilt_firmware::pins;
use hilt_firmware::tsl2591::Tsl2591;
use hilt_scenario::{PartDescription, PartKind};

use crate::registry::{Board, ConfigReader, DeviceIdentity, Registry, SimulatedApp};

/// Adds every reference app to `registry`.
pub fn register_all(registry: &mut Registry) {
    registry.register("thermometer", ThermometerApp);
    registry.register("remote-led", RemoteLedApp);
    registry.register("sensor-data", SensorDataApp);
    registry.register("light-status", LightStatusApp);
    registry.register("node-manager", NodeManagerApp);
    registry.register("monitor", MonitorApp);
}

fn part(name: &str, kind: PartKind) -> PartDescription {
    PartDescription {
        name: name.to_owned(),
        kind,
    }
}

fn raw_pin(gpio: u8) -> PartDescription {
    part(pins::gpio_name(gpio).as_str(), PartKind::Pin)
}

/// thermometer: a DS18B20 read every `interval`, published in `unit`.
#[derive(Debug)]
pub struct ThermometerApp;

impl SimulatedApp for ThermometerApp {
    type Config = ThermometerConfig;

    fn parts(&self) -> Vec<PartDescription> {
        vec![part(pins::ONE_WIRE.part, PartKind::Ds18b20)]
    }

    fn parse_config(
        &self,
        device: &DeviceIdentity,
        config: &mut ConfigReader<'_>,
    ) -> ThermometerConfig {
        let mut parsed = ThermometerConfig::new(&device.client_id);
        parsed.unit = config.value("unit", Unit::Fahrenheit, |text| match text {
            "F" | "f" => Ok(Unit::Fahrenheit),
            "C" | "c" => Ok(Unit::Celsius),
            other => Err(format!("'{other}' is not a unit; use C or F")),
        });
        parsed.interval = config.duration("interval", parsed.interval);
        parsed.keep_alive = config.duration("keepalive", parsed.keep_alive);
        parsed
    }

    fn build(&self, config: ThermometerConfig, board: &mut Board) -> Box<dyn Firmware> {
        let master = board.ds18b20(pins::ONE_WIRE);
        let sensor = Ds18b20::new(OneWire::new(master, board.delay()));
        let boot = board.now();
        Box::new(Node::new(Thermometer::new(config, sensor, boot), boot))
    }
}

/// remote-led: publishes its button, lights its LED from the peer's.
#[derive(Debug)]
pub struct RemoteLedApp;

impl SimulatedApp for RemoteLedApp {
    type Config = RemoteLedConfig;

    fn parts(&self) -> Vec<PartDescription> {
        vec![
            part(pins::BUTTON.part, PartKind::Button),
            part(pins::LED.part, PartKind::Led),
            raw_pin(pins::BUTTON.gpio),
            raw_pin(pins::LED.gpio),
        ]
    }

    fn parse_config(
        &self,
        device: &DeviceIdentity,
        config: &mut ConfigReader<'_>,
    ) -> RemoteLedConfig {
        let peer = config.required("peer", String::new(), topic_level);
        let mut parsed = RemoteLedConfig::new(&device.client_id, &peer);
        let name = config.value("name", device.name.clone(), topic_level);
        parsed.name = hilt_firmware::mqtt::session::truncated(&name);
        parsed.period = config.duration("period", parsed.period);
        parsed.keep_alive = config.duration("keepalive", parsed.keep_alive);
        parsed
    }

    fn build(&self, config: RemoteLedConfig, board: &mut Board) -> Box<dyn Firmware> {
        let button = board.button(pins::BUTTON);
        let led = board.led(pins::LED);
        let boot = board.now();
        Box::new(Node::new(RemoteLed::new(config, button, led, boot), boot))
    }
}

/// A single topic level: no `/`, no wildcards, not empty.
fn topic_level(text: &str) -> Result<String, String> {
    if text.is_empty() || text.contains(['/', '+', '#']) || text.len() > 64 {
        return Err(format!(
            "'{text}' must be one topic level (no '/', '+' or '#', at most 64 bytes)"
        ));
    }
    Ok(text.to_owned())
}

/// The part name of the TSL2591 in scenarios.
const LIGHT_SENSOR: &str = "tsl2591";

/// sensor-data: a TSL2591 sampled every `interval`, published as
/// `["lux-1", <seconds>, <lux>]`, and sampled fresh on request.
#[derive(Debug)]
pub struct SensorDataApp;

impl SimulatedApp for SensorDataApp {
    type Config = SensorDataConfig;

    fn parts(&self) -> Vec<PartDescription> {
        vec![part(LIGHT_SENSOR, PartKind::Tsl2591)]
    }

    fn parse_config(
        &self,
        device: &DeviceIdentity,
        config: &mut ConfigReader<'_>,
    ) -> SensorDataConfig {
        let mut parsed = SensorDataConfig::new(&device.client_id);
        let sensor_id = config.value("sensor_id", parsed.sensor_id.to_string(), |text| {
            if text.is_empty() || text.len() > 32 || text.contains('"') {
                Err("must be 1 to 32 characters without quotes".to_owned())
            } else {
                Ok(text.to_owned())
            }
        });
        parsed.sensor_id = truncated(&sensor_id);
        let topic = config.value("topic", parsed.topic.to_string(), topic_name);
        parsed.topic = truncated(&topic);
        parsed.interval = config.value("interval", parsed.interval, duration_or_zero);
        parsed.qos = config.value("qos", parsed.qos, qos);
        parsed.decimals = config.value("decimals", parsed.decimals, |text| {
            match text.parse::<u8>() {
                Ok(decimals) if decimals <= 6 => Ok(decimals),
                _ => Err(format!("'{text}' is not a number of decimals from 0 to 6")),
            }
        });
        parsed.keep_alive = config.duration("keepalive", parsed.keep_alive);
        parsed
    }

    fn build(&self, config: SensorDataConfig, board: &mut Board) -> Box<dyn Firmware> {
        let sensor = Tsl2591::new(board.tsl2591(LIGHT_SENSOR));
        let boot = board.now();
        Box::new(Node::new(SensorData::new(config, sensor, boot), boot))
    }
}

/// light-status: UUID-prefixed status, a light set over MQTT, a retained
/// `online` and a last will `offline`.
#[derive(Debug)]
pub struct LightStatusApp;

impl SimulatedApp for LightStatusApp {
    type Config = LightStatusConfig;

    fn parts(&self) -> Vec<PartDescription> {
        vec![part(pins::LED.part, PartKind::Led), raw_pin(pins::LED.gpio)]
    }

    fn parse_config(
        &self,
        device: &DeviceIdentity,
        config: &mut ConfigReader<'_>,
    ) -> LightStatusConfig {
        let mut parsed = LightStatusConfig::new(&device.client_id);
        let uuid = config.value("uuid", parsed.uuid.to_string(), topic_level);
        parsed.uuid = truncated(&uuid);
        parsed.interval = config.duration("interval", parsed.interval);
        parsed.initially_on = config.value("initially_on", parsed.initially_on, boolean);
        parsed.keep_alive = config.duration("keepalive", parsed.keep_alive);
        parsed.connect_timeout = config.duration("connect_timeout", parsed.connect_timeout);
        parsed.restart_delay = config.duration("restart_delay", parsed.restart_delay);
        parsed.max_link_attempts =
            config.value("max_link_attempts", parsed.max_link_attempts, |text| {
                text.parse::<u32>()
                    .ok()
                    .filter(|attempts| *attempts > 0)
                    .ok_or_else(|| format!("'{text}' is not a whole number above zero"))
            });
        parsed
    }

    fn build(&self, config: LightStatusConfig, board: &mut Board) -> Box<dyn Firmware> {
        let led = board.led(pins::LED);
        let boot = board.now();
        Box::new(Node::new(LightStatus::new(config, led, boot), boot))
    }
}

/// node-manager: remote log, commands with replies, sysinfo, a watchdog,
/// safe mode after repeated crashes, and an LED blinking at an MQTT-set rate.
#[derive(Debug)]
pub struct NodeManagerApp;

impl SimulatedApp for NodeManagerApp {
    type Config = NodeManagerConfig;

    fn parts(&self) -> Vec<PartDescription> {
        vec![part(pins::LED.part, PartKind::Led), raw_pin(pins::LED.gpio)]
    }

    fn parse_config(
        &self,
        device: &DeviceIdentity,
        config: &mut ConfigReader<'_>,
    ) -> NodeManagerConfig {
        let mut parsed = NodeManagerConfig::new(&device.client_id);
        let prefix = config.value("prefix", parsed.prefix.to_string(), topic_name);
        parsed.prefix = truncated(&prefix);
        parsed.keep_alive = config.duration("keepalive", parsed.keep_alive);
        parsed.sysinfo_interval = config.value(
            "sysinfo_interval",
            parsed.sysinfo_interval,
            duration_or_zero,
        );
        parsed.blinky_hz = config.value("blinky_hz", parsed.blinky_hz, |text| {
            text.parse::<f32>()
                .ok()
                .filter(|hz| hz.is_finite() && (0.0..=50.0).contains(hz))
                .ok_or_else(|| format!("'{text}' is not a rate from 0 to 50 Hz"))
        });
        parsed.log_level = config.value("log_level", parsed.log_level, |text| match text {
            "error" => Ok(LogLevel::Error),
            "warn" => Ok(LogLevel::Warn),
            "info" => Ok(LogLevel::Info),
            "debug" => Ok(LogLevel::Debug),
            other => Err(format!(
                "'{other}' is not a log level; use error, warn, info or debug"
            )),
        });
        parsed.watchdog_timeout = config.value(
            "watchdog_timeout",
            parsed.watchdog_timeout,
            duration_or_zero,
        );
        parsed.safe_mode_after = config.value("safe_mode_after", parsed.safe_mode_after, |text| {
            text.parse::<u32>()
                .map_err(|_| format!("'{text}' is not a whole number"))
        });
        parsed.healthy_after = config.duration("healthy_after", parsed.healthy_after);
        parsed
    }

    fn build(&self, config: NodeManagerConfig, board: &mut Board) -> Box<dyn Firmware> {
        let led = board.led(pins::LED);
        let platform = board.platform();
        let boot = board.now();
        Box::new(Node::new(
            NodeManager::new(config, led, platform, boot),
            boot,
        ))
    }
}

/// monitor: subscribes to `filter` and reports each message it receives on
/// `<client_id>/seen`, the scenario's `mosquitto_sub -v`.
#[derive(Debug)]
pub struct MonitorApp;

impl SimulatedApp for MonitorApp {
    type Config = MonitorConfig;

    fn parts(&self) -> Vec<PartDescription> {
        Vec::new()
    }

    fn parse_config(
        &self,
        device: &DeviceIdentity,
        config: &mut ConfigReader<'_>,
    ) -> MonitorConfig {
        let mut parsed = MonitorConfig::new(&device.client_id);
        let filter = config.value("filter", parsed.filter.to_string(), |text| {
            hilt_scenario::topic::validate_filter(text)
                .map(|()| text.to_owned())
                .map_err(|error| format!("'{text}' is not a topic filter: {error}"))
        });
        parsed.filter = truncated(&filter);
        parsed.qos = config.value("qos", parsed.qos, qos);
        let report_topic =
            config.value("report_topic", parsed.report_topic.to_string(), topic_name);
        parsed.report_topic = truncated(&report_topic);
        parsed.clean_session = config.value("clean_session", parsed.clean_session, boolean);
        parsed
    }

    fn build(&self, config: MonitorConfig, board: &mut Board) -> Box<dyn Firmware> {
        Box::new(Node::new(Monitor::new(config), board.now()))
    }
}

/// A topic name of one or more levels: no wildcards, no empty text.
fn topic_name(text: &str) -> Result<String, String> {
    hilt_scenario::topic::validate_topic_name(text)
        .map(|()| text.to_owned())
        .map_err(|error| format!("'{text}' is not a topic name: {error}"))
        .and_then(|name| {
            if name.len() > 64 {
                Err(format!("'{text}' is longer than 64 bytes"))
            } else {
                Ok(name)
            }
        })
}

/// QoS `0`, `1` or `2`.
fn qos(text: &str) -> Result<QoS, String> {
    match text {
        "0" => Ok(QoS::AtMostOnce),
        "1" => Ok(QoS::AtLeastOnce),
        "2" => Ok(QoS::ExactlyOnce),
        other => Err(format!("'{other}' is not a QoS; use 0, 1 or 2")),
    }
}

/// A duration where zero means "off" (`interval: 0s`: requests only).
fn duration_or_zero(text: &str) -> Result<std::time::Duration, String> {
    hilt_scenario::duration::parse_duration(text).map_err(|error| error.to_string())
}

fn boolean(text: &str) -> Result<bool, String> {
    match text {
        "true" | "True" | "TRUE" => Ok(true),
        "false" | "False" | "FALSE" => Ok(false),
        other => Err(format!("'{other}' is not true or false")),
    }
}
