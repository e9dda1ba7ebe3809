//! How hilt's simulation builds the app of app/: its parts, its `config:`,
//! and the app on a board of simulated parts. The project's command line
//! (src/main.rs) and its scenario tests (tests/scenarios.rs) both use
//! [`registry`].

use hilt::prelude::*;
use {{crate}}_app::{Lamp, LampConfig, pins};

/// The lamp, as the simulation builds it.
#[derive(Debug)]
pub struct LampApp;

impl SimulatedApp for LampApp {
    type Config = LampConfig;

    /// What scenarios may name (`kitchen.button`, `kitchen.led`): exactly
    /// the parts `build` makes, or the device is refused with both names.
    fn parts(&self) -> Vec<PartDescription> {
        vec![
            PartDescription {
                name: pins::BUTTON.part.into(),
                kind: PartKind::Button,
            },
            PartDescription {
                name: pins::LED.part.into(),
                kind: PartKind::Led,
            },
        ]
    }

    /// The device's `config:`, read by the app's own settings parser (the
    /// one the image build reads `HILT_<KEY>` with).
    fn parse_config(&self, device: &DeviceIdentity, config: &mut ConfigReader<'_>) -> LampConfig {
        let mut parsed = LampConfig::new(&device.client_id);
        config.settings(&mut parsed);
        parsed
    }

    fn build(&self, config: LampConfig, board: &mut Board) -> Box<dyn Firmware> {
        let lamp = Lamp::new(config, board.button(pins::BUTTON), board.led(pins::LED));
        Box::new(Node::new(lamp, board.now()))
    }

    /// The image of image/, for `cargo run -- wokwi scenarios/lamp.yaml`:
    /// where it is built (and the ELF that image/wokwi.toml loads a `.elf`
    /// copy of), the settings its build reads (`HILT_<KEY>`, by
    /// the same parser as `config:`), and the Wokwi part on each pin of
    /// app/src/pins.rs, as image/diagram.json wires them.
    fn wokwi_image(&self) -> Option<WokwiImage> {
        Some(WokwiImage::new(
            ImageBuild::new("image/", "cargo build --release")
                .with_elf("target/riscv32imc-unknown-none-elf/release/{{name}}-image"),
            Wiring::new("esp")
                .with(pins::BUTTON, "btn1")
                .with(pins::LED, "led1"),
            |client_id| Box::new(LampConfig::new(client_id)),
        ))
    }
}

/// The apps this project's scenarios can name: `lamp`, and hilt's bundled
/// reference apps (a `monitor` device is handy for watching topics).
pub fn registry() -> Registry {
    let mut registry = Registry::with_bundled_apps();
    registry.register("lamp", LampApp);
    registry
}
