//! The board's pin map: which GPIO each part is wired to, and the part's
//! name in scenarios. The simulation (the host crate's registration) and
//! the image (image/src/board.rs) both wire the parts from here, and
//! image/diagram.json wires Wokwi's the same way.

use hilt_firmware::pins::PinAssignment;

/// The push button, active low (pressed pulls the pin to ground), with the
/// pin's pull-up: GPIO9, the DevKitM-1's BOOT button.
pub const BUTTON: PinAssignment = PinAssignment {
    part: "button",
    gpio: 9,
};

/// The lamp: an LED through a resistor to ground; high lights it.
pub const LED: PinAssignment = PinAssignment {
    part: "led",
    gpio: 4,
};

/// Every part, for the image's check that no two share a pin.
pub const ALL: [PinAssignment; 2] = [BUTTON, LED];
