//! The board: the pin map of app/src/pins.rs turned into esp-hal drivers,
//! and the app built on them exactly as the simulation builds it (the
//! registration in src/lib.rs): the same config type with the same
//! defaults, set by the same parser, `Node::new(app, boot)`.
//!
//! esp-hal hands out each GPIO as its own singleton type (`GPIO4`), while
//! the pin map holds plain numbers, so [`Gpios`] puts every GPIO the board
//! exposes into an array indexed by its number and each part takes the pin
//! its `PinAssignment` names. The compile-time check below refuses a map
//! that puts a part on a pin this board cannot give it, or two parts on
//! one pin.

use embedded_hal::digital::{InputPin, OutputPin};
use esp_hal::gpio::{AnyPin, Input, InputConfig, Level, Output, OutputConfig, Pull};
use hilt_firmware::app::{Firmware, Node};
use hilt_firmware::pins::PinAssignment;
use hilt_firmware::settings::Settings;
use hilt_firmware::time::Instant;
use {{crate}}_app::{Lamp, LampConfig, pins};

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
    "app/src/pins.rs puts a part on a GPIO the ESP32-C3-DevKitM-1 cannot give it \
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
pub fn button(pin: AnyPin<'static>) -> impl InputPin {
    Input::new(pin, InputConfig::default().with_pull(Pull::Up))
}

/// An LED through a resistor to ground: high lights it. Starts dark.
pub fn led(pin: AnyPin<'static>) -> impl OutputPin {
    Output::new(pin, Level::Low, OutputConfig::default())
}

/// What the app may be built from: the free GPIOs.
pub struct Chip {
    pub gpios: Gpios,
}

/// The app's config: its defaults, then each setting the build was given,
/// through the app's own parser (`Settings::set`), as the simulation reads
/// a scenario's `config:`.
fn configured<S: Settings>(mut config: S) -> S {
    for (key, value) in settings::APP_SETTINGS {
        // build.rs ran this same parser on these same pairs and stopped the
        // build on any refusal, so none can happen here.
        let _ = config.set(key, value);
    }
    config
}

/// The lamp, on the button and LED of the pin map.
pub fn build(mut chip: Chip, boot: Instant) -> impl Firmware {
    let config = configured(LampConfig::new(settings::CLIENT_ID));
    let button = button(chip.gpios.take(pins::BUTTON));
    let led = led(chip.gpios.take(pins::LED));
    Node::new(Lamp::new(config, button, led), boot)
}
