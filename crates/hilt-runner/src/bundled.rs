//! Registrations of the reference apps, made exactly as a user's own app
//! would be (see [`SimulatedApp`]).

use hilt_firmware::app::{Firmware, Node};
use hilt_firmware::apps::remote_led::{RemoteLed, RemoteLedConfig};
use hilt_firmware::apps::thermometer::{Thermometer, ThermometerConfig, Unit};
use hilt_firmware::ds18b20::Ds18b20;
use hilt_firmware::onewire::OneWire;
use hilt_firmware::pins;
use hilt_scenario::{PartDescription, PartKind};

use crate::registry::{Board, ConfigReader, DeviceIdentity, Registry, SimulatedApp};

/// Adds every reference app to `registry`.
pub fn register_all(registry: &mut Registry) {
    registry.register("thermometer", ThermometerApp);
    registry.register("remote-led", RemoteLedApp);
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
