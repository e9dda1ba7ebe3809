//! Which Wokwi part stands for each hilt part.

/// The part ids of `diagram.json`, the Wokwi wiring of the board that
/// `hilt_firmware::pins` describes. A test checks them against the file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PartIds {
    /// The ESP32-C3-DevKitM-1; LED and pin expectations read its GPIOs.
    pub board: String,
    /// The `wokwi-pushbutton` wired to `pins::BUTTON`.
    pub button: String,
    /// The `wokwi-led` wired to `pins::LED` (expectations read its GPIO on
    /// the board).
    pub led: String,
    /// The `wokwi-ds18b20` on `pins::ONE_WIRE`.
    pub ds18b20: String,
}

impl Default for PartIds {
    fn default() -> Self {
        PartIds {
            board: "esp".to_owned(),
            button: "btn1".to_owned(),
            led: "led1".to_owned(),
            ds18b20: "temp1".to_owned(),
        }
    }
}

/// The GPIO pins of Wokwi's `board-esp32-c3-devkitm-1`, by name (wokwi-cli
/// `packages/diagram-lint/src/registry/parts/board-esp32-c3-devkitm-1.json`).
pub const BOARD_PINS: [u8; 13] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 18, 19];
