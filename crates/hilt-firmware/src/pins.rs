//! The board's pin map: which GPIO each part is wired to.
//!
//! This is the one place the assignment lives. The ESP32-C3 image takes its
//! pins from here, the simulation names raw pins (`gpio4`) from here, and a
//! test checks `diagram.json` (the Wokwi wiring) against it.
//!
//! The button sits on GPIO9 because that is the BOOT button of an
//! ESP32-C3-DevKitM-1, so a bare board can be pressed without wiring; GPIO9
//! is a strapping pin, which the button's pull-up keeps high at reset.

/// A part's connection to the board.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PinAssignment {
    /// The part's name in scenarios (`button`, `led`, ...).
    pub part: &'static str,
    /// ESP32-C3 GPIO number.
    pub gpio: u8,
}

/// Push button, active low (pressed pulls the pin to ground), internal pull-up.
pub const BUTTON: PinAssignment = PinAssignment {
    part: "button",
    gpio: 9,
};
/// LED through a resistor to ground; high is lit.
pub const LED: PinAssignment = PinAssignment {
    part: "led",
    gpio: 4,
};
/// 1-Wire data line of the DS18B20, open drain with a 4.7 kΩ pull-up.
pub const ONE_WIRE: PinAssignment = PinAssignment {
    part: "ds18b20",
    gpio: 3,
};
/// I2C data line of the TSL2591 light sensor.
pub const I2C_SDA: PinAssignment = PinAssignment {
    part: "tsl2591.sda",
    gpio: 5,
};
/// I2C clock line of the TSL2591 light sensor.
pub const I2C_SCL: PinAssignment = PinAssignment {
    part: "tsl2591.scl",
    gpio: 6,
};

/// Every assignment, for tools that check wiring against this map.
pub const ALL: [PinAssignment; 5] = [BUTTON, LED, ONE_WIRE, I2C_SDA, I2C_SCL];

/// The raw pin name scenarios use for a GPIO, e.g. `gpio4`.
pub fn gpio_name(gpio: u8) -> heapless::String<8> {
    let mut name = heapless::String::new();
    let _ = core::fmt::write(&mut name, format_args!("gpio{gpio}"));
    name
}
