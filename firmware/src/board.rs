//! The board: the pin map of [`hilt_firmware::pins`] turned into esp-hal
//! drivers, and the chosen app built on them exactly as the simulation
//! builds it (`crates/hilt-runner/src/bundled.rs`): the same config type with
//! the same defaults, set by the same parser, the same driver stack,
//! `Node::new(app, boot)`.
//!
//! # One source of truth for the pins
//!
//! esp-hal hands out each GPIO as its own singleton type (`GPIO4`), chosen at
//! compile time, while the pin map holds plain numbers. Rather than writing
//! `peripherals.GPIO4` next to a comment that says "the LED", [`Gpios`] puts
//! every GPIO the board exposes into an array indexed by its number, and each
//! part takes the pin whose number `pins::*` names. Changing a number in
//! `pins.rs` therefore moves the part on the real board, in the simulation
//! and (checked by `crates/hilt-runner/tests/wokwi_wiring.rs`) in Wokwi,
//! with nothing here to edit. The compile-time checks below refuse a map
//! that puts a part on a pin this board cannot give it, or two parts on
//! one pin.

use embedded_hal::digital::{InputPin, OutputPin};
use esp_hal::gpio::{
    AnyPin, DriveMode, Flex, Input, InputConfig, Level, Output, OutputConfig, Pull,
};
use esp_hal::peripherals::{FLASH, I2C0, RTC_TIMER};
use hilt_firmware::pins::{self, PinAssignment};
use hilt_firmware::settings::Settings;

use crate::settings;

/// GPIOs on an ESP32-C3 (GPIO0 to GPIO21).
const GPIO_COUNT: usize = 22;

/// Whether a GPIO is free for a part on an ESP32-C3-DevKitM-1: not GPIO11
/// (the flash supply, VDD_SPI, unless an eFuse is burnt), not GPIO12 to 17
/// (the SPI flash), not GPIO20/21 (UART0, which carries the serial log and
/// the flashing). GPIO18/19 (USB D-/D+) are allowed: the DevKitM-1 talks to
/// the host through its USB-UART bridge, not the chip's USB.
const fn usable(gpio: u8) -> bool {
    matches!(gpio, 0..=10 | 18 | 19)
}

/// True when every assignment is on a usable pin and no two share one.
const fn pin_map_fits(map: &[PinAssignment]) -> bool {
    let mut i = 0;
    while i < map.len() {
        if !usable(map[i].gpio) {
            return false;
        }
        let mut j = i + 1;
        while j < map.len() {
            if map[i].gpio == map[j].gpio {
                return false;
            }
            j += 1;
        }
        i += 1;
    }
    true
}

const _: () = assert!(
    pin_map_fits(&pins::ALL),
    "hilt_firmware::pins puts a part on a GPIO the ESP32-C3-DevKitM-1 cannot give it \
     (11, 12-17 or 20-21), or two parts on one GPIO"
);

/// Every GPIO the board exposes, taken by number; see the module documentation.
pub struct Gpios {
    pins: [Option<AnyPin<'static>>; GPIO_COUNT],
}

/// Moves the usable GPIO singletons out of esp-hal's `Peripherals` into a
/// [`Gpios`]; a macro because `Peripherals` is a struct of distinct types.
macro_rules! gpios {
    ($peripherals:ident) => {
        $crate::board::Gpios::from_array([
            Some($peripherals.GPIO0.into()),
            Some($peripherals.GPIO1.into()),
            Some($peripherals.GPIO2.into()),
            Some($peripherals.GPIO3.into()),
            Some($peripherals.GPIO4.into()),
            Some($peripherals.GPIO5.into()),
            Some($peripherals.GPIO6.into()),
            Some($peripherals.GPIO7.into()),
            Some($peripherals.GPIO8.into()),
            Some($peripherals.GPIO9.into()),
            Some($peripherals.GPIO10.into()),
            None, // GPIO11: flash supply
            None, // GPIO12..17: SPI flash
            None,
            None,
            None,
            None,
            None,
            Some($peripherals.GPIO18.into()),
            Some($peripherals.GPIO19.into()),
            None, // GPIO20/21: UART0, the serial log
            None,
        ])
    };
}
pub(crate) use gpios;

impl Gpios {
    pub fn from_array(pins: [Option<AnyPin<'static>>; GPIO_COUNT]) -> Self {
        Gpios { pins }
    }

    /// The pin a part is wired to.
    ///
    /// # Panics
    ///
    /// Never for the pin map as it is: the compile-time check above proves
    /// every assignment usable and distinct, so each pin is taken once.
    pub fn take(&mut self, assignment: PinAssignment) -> AnyPin<'static> {
        self.pins
            .get_mut(usize::from(assignment.gpio))
            .and_then(Option::take)
            .unwrap_or_else(|| {
                panic!(
                    "GPIO{} for {} is not free on this board",
                    assignment.gpio, assignment.part
                )
            })
    }
}

/// A push button to ground on the pin's internal pull-up: high released, low
/// pressed, as `pins::BUTTON` documents.
#[allow(dead_code)] // Used by the apps with a button.
pub fn button(pin: AnyPin<'static>) -> impl InputPin {
    Input::new(pin, InputConfig::default().with_pull(Pull::Up))
}

/// An LED through a resistor to ground: high lights it. Starts dark.
#[allow(dead_code)] // Used by the apps with an LED.
pub fn led(pin: AnyPin<'static>) -> impl OutputPin {
    Output::new(pin, Level::Low, OutputConfig::default())
}

/// The 1-Wire master pin: open drain with the pin's pull-up (the external
/// 4.7 kΩ pull-up of the DS18B20 wiring does the real work; the internal one
/// only keeps an unwired line from floating), input enabled so the master
/// reads the line, released (high) to start.
#[allow(dead_code)] // Used by the apps with a DS18B20.
pub fn one_wire(pin: AnyPin<'static>) -> Flex<'static> {
    let mut line = Flex::new(pin);
    line.set_high();
    line.apply_output_config(
        &OutputConfig::default()
            .with_drive_mode(DriveMode::OpenDrain)
            .with_pull(Pull::Up),
    );
    line.set_output_enable(true);
    line.set_input_enable(true);
    line
}

/// What the apps may be built from: the free GPIOs and the peripherals
/// behind the parts (an app takes what it needs and the rest stays unused).
pub struct Chip {
    pub gpios: Gpios,
    /// The I2C controller of the TSL2591 light sensor.
    #[allow(dead_code)] // Used by the apps with a light sensor.
    pub i2c: I2C0<'static>,
    /// The RTC, for the watchdog of the apps that own a `Platform`.
    #[allow(dead_code)] // Used by the apps with a platform.
    pub rtc_timer: RTC_TIMER<'static>,
    /// The SPI flash, for the apps that keep settings and take updates.
    #[allow(dead_code)] // Used by node-manager.
    pub flash: FLASH<'static>,
}

/// The app's config: its `*Config::new` defaults, then each setting the
/// build was given, through the app's own parser (`Settings::set`), as the
/// simulation reads a scenario's `config:`. A setting left unset keeps its
/// default, as a key a scenario leaves out does.
///
/// Parsing at boot, rather than having build.rs write each app's fields as
/// typed constants, keeps one parser and no second description of any
/// config type. It costs flash only for the parsers of settings that are
/// given (measured: the thermometer with `HILT_INTERVAL` set takes about
/// 9 KB more, mostly the duration parser's 128-bit arithmetic) and nothing
/// when none are.
fn configured<S: Settings>(mut config: S) -> S {
    for (key, value) in settings::APP_SETTINGS {
        // build.rs ran this same parser on these same pairs and stopped the
        // build on any refusal, so none can happen here.
        let _ = config.set(key, value);
    }
    config
}

#[cfg(feature = "thermometer")]
mod app {
    use esp_hal::delay::Delay;
    use hilt_firmware::app::{Firmware, Node};
    use hilt_firmware::apps::thermometer::{
        ReadingError, TemperatureSensor, Thermometer, ThermometerConfig,
    };
    use hilt_firmware::ds18b20::Ds18b20;
    use hilt_firmware::onewire::OneWire;
    use hilt_firmware::pins;
    use hilt_firmware::time::{Duration, Instant};

    use super::Chip;
    use crate::settings;

    /// The thermometer, configured as bundled.rs's `ThermometerApp`
    /// configures it from the same `config:` keys.
    pub fn build(mut chip: Chip, boot: Instant) -> impl Firmware {
        let config = super::configured(ThermometerConfig::new(settings::CLIENT_ID));
        let master = super::one_wire(chip.gpios.take(pins::ONE_WIRE));
        let sensor = Uninterrupted(Ds18b20::new(OneWire::new(master, Delay::new())));
        Node::new(Thermometer::new(config, sensor, boot), boot)
    }

    /// The DS18B20 with each of its bus transactions run with interrupts
    /// off.
    ///
    /// The bus bit-bangs time slots whose windows are a few microseconds
    /// wide (a read is sampled 15 µs into its slot). esp-rtos switches tasks
    /// and the WiFi driver takes interrupts at any moment, and a slot
    /// stretched by either reads or writes the wrong bit, which the
    /// scratchpad CRC then reports as `crc_mismatch`. So each transaction
    /// (about 1.2 ms to start a conversion, 7 ms to read the scratchpad, 70
    /// µs to ask whether the conversion is done) runs in a critical section:
    /// short enough for the WiFi driver, which buffers in hardware, and rare
    /// (twice a reading). The app and the driver are the core's, unchanged;
    /// in the simulation the same driver runs without this wrapper because
    /// simulated time cannot be interrupted.
    #[derive(Debug)]
    pub struct Uninterrupted<S>(pub S);

    impl<S: TemperatureSensor> TemperatureSensor for Uninterrupted<S> {
        fn start_conversion(&mut self) -> Result<Duration, ReadingError> {
            critical_section::with(|_| self.0.start_conversion())
        }

        fn conversion_done(&mut self) -> Result<bool, ReadingError> {
            critical_section::with(|_| self.0.conversion_done())
        }

        fn read_sixteenths(&mut self) -> Result<i16, ReadingError> {
            critical_section::with(|_| self.0.read_sixteenths())
        }
    }
}

// Only one app at a time: with the default thermometer and another app on,
// build.rs reports the clash and the other app's module stays out of the
// way of a second error.
#[cfg(all(feature = "remote-led", not(feature = "thermometer")))]
mod app {
    use hilt_firmware::app::{Firmware, Node};
    use hilt_firmware::apps::remote_led::{RemoteLed, RemoteLedConfig};
    use hilt_firmware::pins;
    use hilt_firmware::time::Instant;

    use super::Chip;
    use crate::settings;

    /// The remote LED, configured as bundled.rs's `RemoteLedApp`
    /// configures it from the same `config:` keys. `peer` is required, so
    /// the build has it among the settings.
    pub fn build(mut chip: Chip, boot: Instant) -> impl Firmware {
        let config = super::configured(RemoteLedConfig::new(settings::CLIENT_ID, ""));
        let button = super::button(chip.gpios.take(pins::BUTTON));
        let led = super::led(chip.gpios.take(pins::LED));
        Node::new(RemoteLed::new(config, button, led, boot), boot)
    }
}

#[cfg(all(feature = "sensor-data", not(feature = "thermometer")))]
mod app {
    use esp_hal::i2c::master::{Config, I2c};
    use hilt_firmware::app::{Firmware, Node};
    use hilt_firmware::apps::sensor_data::{SensorData, SensorDataConfig};
    use hilt_firmware::pins;
    use hilt_firmware::time::Instant;
    use hilt_firmware::tsl2591::Tsl2591;

    use super::Chip;
    use crate::settings;

    /// sensor-data with a TSL2591 on I2C (`pins::I2C_SDA`, `pins::I2C_SCL`,
    /// 100 kHz, the part's fixed address), configured from the same
    /// `config:` keys as in a scenario. The I2C controller times the bus
    /// itself, so unlike the 1-Wire bus it needs no critical section.
    pub fn build(mut chip: Chip, boot: Instant) -> impl Firmware {
        let config = super::configured(SensorDataConfig::new(settings::CLIENT_ID));
        let i2c = I2c::new(chip.i2c, Config::default())
            .expect("the default I2C configuration (100 kHz) is valid")
            .with_sda(chip.gpios.take(pins::I2C_SDA))
            .with_scl(chip.gpios.take(pins::I2C_SCL));
        Node::new(SensorData::new(config, Tsl2591::new(i2c), boot), boot)
    }
}

#[cfg(all(feature = "light-status", not(feature = "thermometer")))]
mod app {
    use hilt_firmware::app::{Firmware, Node};
    use hilt_firmware::apps::light_status::{LightStatus, LightStatusConfig};
    use hilt_firmware::pins;
    use hilt_firmware::time::Instant;

    use super::Chip;
    use crate::settings;

    /// light-status with the LED as the living-room light, configured from
    /// the same `config:` keys as in a scenario.
    pub fn build(mut chip: Chip, boot: Instant) -> impl Firmware {
        let config = super::configured(LightStatusConfig::new(settings::CLIENT_ID));
        let led = super::led(chip.gpios.take(pins::LED));
        Node::new(LightStatus::new(config, led, boot), boot)
    }
}

#[cfg(all(feature = "node-manager", not(feature = "thermometer")))]
mod app {
    use hilt_firmware::app::{Firmware, Node};
    use hilt_firmware::apps::node_manager::{NodeManager, NodeManagerConfig};
    use hilt_firmware::pins;
    use hilt_firmware::time::Instant;

    use super::Chip;
    use crate::platform::EspPlatform;
    use crate::settings;

    /// node-manager with the LED as its blinky, the chip's services (reset
    /// cause, RTC memory, RTC watchdog, software reset) as its platform and
    /// the SPI flash for its settings and updates (storage.rs), configured
    /// from the same `config:` keys as in a scenario.
    ///
    /// The flash is opened first: when a trial failed, opening it resets
    /// the chip into the other slot before anything else runs.
    pub fn build(mut chip: Chip, boot: Instant) -> impl Firmware {
        let flash = crate::storage::open(chip.flash);
        let config = super::configured(NodeManagerConfig::new(settings::CLIENT_ID));
        let led = super::led(chip.gpios.take(pins::LED));
        let platform = EspPlatform::new(chip.rtc_timer);
        Node::new(
            NodeManager::with_flash(config, led, platform, flash, boot),
            boot,
        )
    }
}

pub use app::build;
