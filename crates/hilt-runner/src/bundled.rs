//! Registrations of the reference apps, made exactly as a user's own app
//! would be (see [`SimulatedApp`]).
//!
//! Each app's `config:` is read by the app's own settings type (its
//! `*Config`, which implements `hilt_firmware::settings::Settings`): the
//! same parser and limits the firmware image's build and the Wokwi export
//! use, so a value means the same in a scenario and on a board.
//!
//! The board apps' Wokwi image is hilt's own (firmware/, wired as
//! `hilt_firmware::pins` and diagram.json say); monitor has none.

use hilt_firmware::app::{Firmware, Log, LogLevel, LogLine, Node};
use hilt_firmware::apps::light_status::{LightStatus, LightStatusConfig};
use hilt_firmware::apps::monitor::{Monitor, MonitorConfig};
use hilt_firmware::apps::node_manager::{NodeManager, NodeManagerConfig};
use hilt_firmware::apps::remote_led::{RemoteLed, RemoteLedConfig};
use hilt_firmware::apps::sensor_data::{SensorData, SensorDataConfig};
use hilt_firmware::apps::thermometer::{Thermometer, ThermometerConfig};
use hilt_firmware::ds18b20::Ds18b20;
use hilt_firmware::onewire::OneWire;
use hilt_firmware::ota::image::{AppDescriptor, SimulatedBoot};
use hilt_firmware::ota::otadata;
use hilt_firmware::partitions::OTA_SLOTS;
use hilt_firmware::pins;
use hilt_firmware::platform::Platform;
use hilt_firmware::settings::Settings;
use hilt_firmware::time::Instant;
use hilt_firmware::tsl2591::Tsl2591;
use hilt_scenario::{PartDescription, PartKind};
use hilt_sim::image::flash_factory_image;
use hilt_sim::platform::SimPlatform;

use hilt_wokwi::{PartIds, WokwiImage};

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
        config.settings(&mut parsed);
        parsed
    }

    fn build(&self, config: ThermometerConfig, board: &mut Board) -> Box<dyn Firmware> {
        let master = board.ds18b20(pins::ONE_WIRE);
        let sensor = Ds18b20::new(OneWire::new(master, board.delay()));
        let boot = board.now();
        Box::new(Node::new(Thermometer::new(config, sensor, boot), boot))
    }

    fn wokwi_image(&self) -> Option<WokwiImage> {
        WokwiImage::bundled("thermometer", &PartIds::default())
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
        // `peer` is required, so the reader reports it when it is missing.
        let mut parsed = RemoteLedConfig::new(&device.client_id, "");
        with_device_name(&mut parsed, device);
        config.settings(&mut parsed);
        parsed
    }

    fn build(&self, config: RemoteLedConfig, board: &mut Board) -> Box<dyn Firmware> {
        let button = board.button(pins::BUTTON);
        let led = board.led(pins::LED);
        let boot = board.now();
        Box::new(Node::new(RemoteLed::new(config, button, led, boot), boot))
    }

    fn wokwi_image(&self) -> Option<WokwiImage> {
        WokwiImage::bundled("remote-led", &PartIds::default())
    }
}

/// Sets the keys whose default in a scenario is the device's name
/// (remote-led's `name`). A device name the key cannot take keeps the
/// app's own default, the client id, as on a board.
fn with_device_name(settings: &mut impl Settings, device: &DeviceIdentity) {
    for key in settings.keys() {
        if key.defaults_to_device_name {
            let _ = settings.set(key.name, &device.name);
        }
    }
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
        config.settings(&mut parsed);
        parsed
    }

    fn build(&self, config: SensorDataConfig, board: &mut Board) -> Box<dyn Firmware> {
        let sensor = Tsl2591::new(board.tsl2591(LIGHT_SENSOR));
        let boot = board.now();
        Box::new(Node::new(SensorData::new(config, sensor, boot), boot))
    }

    fn wokwi_image(&self) -> Option<WokwiImage> {
        WokwiImage::bundled("sensor-data", &PartIds::default())
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
        config.settings(&mut parsed);
        parsed
    }

    fn build(&self, config: LightStatusConfig, board: &mut Board) -> Box<dyn Firmware> {
        let led = board.led(pins::LED);
        let boot = board.now();
        Box::new(Node::new(LightStatus::new(config, led, boot), boot))
    }

    fn wokwi_image(&self) -> Option<WokwiImage> {
        WokwiImage::bundled("light-status", &PartIds::default())
    }
}

/// node-manager: remote log, commands with replies, sysinfo, a watchdog,
/// safe mode after repeated crashes, a crash log, settings kept in flash,
/// and an LED blinking at an MQTT-set rate.
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
        config.settings(&mut parsed);
        parsed
    }

    /// The board boots what its flash holds: at the first boot the
    /// factory image (this hilt's version) is flashed into slot 0, as over
    /// USB; at every boot the bootloader's logic (`otadata::boot`, with
    /// rollback) picks the slot, and that image's descriptor says what it
    /// does: run node-manager, panic, or hang.
    fn build(&self, config: NodeManagerConfig, board: &mut Board) -> Box<dyn Firmware> {
        let factory_fresh = board.flash_model().is_none();
        let mut flash = board.flash();
        if factory_fresh {
            flash_factory_image(&mut flash);
        }
        let decision = otadata::boot(&mut flash);
        let descriptor = AppDescriptor::read(&mut flash, OTA_SLOTS[decision.slot].start).ok();
        let led = board.led(pins::LED);
        let platform = board.platform();
        // The whole chip; the app keeps its settings in
        // `partitions::SETTINGS`, which survives resets and power cycles.
        let flash = board.flash();
        let boot = board.now();
        match descriptor.as_ref().map(|descriptor| descriptor.boots) {
            Some(SimulatedBoot::Crashes) => Box::new(StuckImage::new(
                platform,
                descriptor
                    .map(|descriptor| descriptor.version)
                    .unwrap_or_default(),
                SimulatedBoot::Crashes,
                config.watchdog_timeout,
                boot,
            )),
            Some(SimulatedBoot::Hangs) => Box::new(StuckImage::new(
                platform,
                descriptor
                    .map(|descriptor| descriptor.version)
                    .unwrap_or_default(),
                SimulatedBoot::Hangs,
                config.watchdog_timeout,
                boot,
            )),
            _ => Box::new(Node::new(
                NodeManager::with_flash(config, led, platform, flash, boot),
                boot,
            )),
        }
    }

    fn wokwi_image(&self) -> Option<WokwiImage> {
        WokwiImage::bundled("node-manager", &PartIds::default())
    }
}

/// The firmware of an image that never reaches its main loop: one that
/// panics at boot, or one whose loop is stuck (only the watchdog, armed at
/// boot as node-manager arms it, or the bootloader's when that is off,
/// resets it).
#[derive(Debug)]
struct StuckImage {
    platform: SimPlatform,
    boots: SimulatedBoot,
    log: Log,
    boot: Instant,
}

/// The watchdog of an image that hangs with node-manager's own turned off:
/// ESP-IDF's bootloader arms the RTC watchdog (9s) when rollback is on.
const BOOTLOADER_WATCHDOG: std::time::Duration = std::time::Duration::from_secs(9);

impl StuckImage {
    fn new(
        mut platform: SimPlatform,
        version: hilt_firmware::heapless::String<32>,
        boots: SimulatedBoot,
        watchdog_timeout: std::time::Duration,
        boot: Instant,
    ) -> StuckImage {
        let mut log = Log::default();
        match boots {
            SimulatedBoot::Hangs => {
                let timeout = if watchdog_timeout.is_zero() {
                    BOOTLOADER_WATCHDOG
                } else {
                    watchdog_timeout
                };
                platform.start_watchdog(timeout);
                log.write(
                    boot,
                    LogLevel::Error,
                    format_args!("firmware {version} hangs at boot (simulated image)"),
                );
            }
            _ => log.write(
                boot,
                LogLevel::Error,
                format_args!("firmware {version} panics at boot (simulated image)"),
            ),
        }
        StuckImage {
            platform,
            boots,
            log,
            boot,
        }
    }
}

impl Firmware for StuckImage {
    fn poll(&mut self, now: Instant) -> Instant {
        if self.boots == SimulatedBoot::Crashes {
            let at_ms = u32::try_from((now - self.boot).as_millis()).unwrap_or(u32::MAX);
            self.platform
                .panic("simulated image: panics at boot", at_ms);
        }
        now + std::time::Duration::from_secs(3600)
    }
    fn receive(&mut self, _now: Instant, bytes: &[u8]) -> usize {
        bytes.len()
    }
    fn transmit_buffer(&self) -> &[u8] {
        &[]
    }
    fn consume_transmit(&mut self, _count: usize) {}
    fn wants_link(&self, _now: Instant) -> bool {
        false
    }
    fn wants_close(&self) -> bool {
        false
    }
    fn link_up(&mut self, _now: Instant) {}
    fn link_down(&mut self, _now: Instant) {}
    fn pop_log(&mut self) -> Option<LogLine> {
        self.log.pop()
    }
    fn disconnect(&mut self) {}
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
        config.settings(&mut parsed);
        parsed
    }

    fn build(&self, config: MonitorConfig, board: &mut Board) -> Box<dyn Firmware> {
        Box::new(Node::new(Monitor::new(config), board.now()))
    }
}
