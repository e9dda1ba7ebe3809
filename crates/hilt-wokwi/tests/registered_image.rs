//! An app registered by a user is exported for the image its registration
//! describes (`SimulatedApp::wokwi_image`): that image's build, settings
//! and Wokwi wiring, found through the `Registry` as `hilt wokwi` finds it.

use std::path::Path;

use hilt_firmware::app::Firmware;
use hilt_firmware::apps::remote_led::RemoteLedConfig;
use hilt_firmware::pins::PinAssignment;
use hilt_runner::bundled::RemoteLedApp;
use hilt_runner::{Board, ConfigReader, DeviceIdentity, Registry, SimulatedApp};
use hilt_scenario::PartDescription;
use hilt_wokwi::{
    Action, ExportError, Fidelity, ImageBuild, Images, Why, Wiring, WokwiImage, export_from,
};

/// remote-led's firmware under another name, on a board of the user's own:
/// the button is `push` in its diagram, the LED `lamp` on GPIO7.
#[derive(Debug)]
struct OwnBoard;

impl SimulatedApp for OwnBoard {
    type Config = RemoteLedConfig;

    fn parts(&self) -> Vec<PartDescription> {
        RemoteLedApp.parts()
    }

    fn parse_config(
        &self,
        device: &DeviceIdentity,
        config: &mut ConfigReader<'_>,
    ) -> RemoteLedConfig {
        RemoteLedApp.parse_config(device, config)
    }

    fn build(&self, config: RemoteLedConfig, board: &mut Board) -> Box<dyn Firmware> {
        RemoteLedApp.build(config, board)
    }

    fn wokwi_image(&self) -> Option<WokwiImage> {
        Some(WokwiImage::new(
            ImageBuild::new("board/", "cargo build --release")
                .with_elf("target/riscv32imc-unknown-none-elf/release/own-board"),
            Wiring::new("chip")
                .with(hilt_firmware::pins::BUTTON, "push")
                .with(
                    PinAssignment {
                        part: "led",
                        gpio: 7,
                    },
                    "lamp",
                ),
            |client_id| Box::new(RemoteLedConfig::new(client_id, "")),
        ))
    }
}

/// A registration without an image.
#[derive(Debug)]
struct NoImage;

impl SimulatedApp for NoImage {
    type Config = RemoteLedConfig;

    fn parts(&self) -> Vec<PartDescription> {
        RemoteLedApp.parts()
    }

    fn parse_config(
        &self,
        device: &DeviceIdentity,
        config: &mut ConfigReader<'_>,
    ) -> RemoteLedConfig {
        RemoteLedApp.parse_config(device, config)
    }

    fn build(&self, config: RemoteLedConfig, board: &mut Board) -> Box<dyn Firmware> {
        RemoteLedApp.build(config, board)
    }
}

fn registry() -> Registry {
    let mut registry = Registry::with_bundled_apps();
    registry.register("own-board", OwnBoard);
    registry.register("no-image", NoImage);
    registry
}

fn export(app: &str, steps: &str) -> Result<hilt_wokwi::Export, ExportError> {
    let text = format!(
        "name: own\ndevices:\n  blue:\n    app: {app}\n    config: {{ peer: green }}\nsteps:\n{steps}"
    );
    let registry = registry();
    let scenario = hilt_scenario::parse(Path::new("own.yaml"), &text, &registry)
        .unwrap_or_else(|diagnostics| panic!("{diagnostics:?}"));
    export_from(&scenario, &registry, &registry, Fidelity::Faithful)
}

#[test]
fn a_registered_image_gives_its_build_settings_and_wiring() {
    let exported = export(
        "own-board",
        "  - press: blue.button\n  - expect: { led: blue.led, is: off }\n",
    )
    .unwrap_or_else(|refused| panic!("{refused}"));
    let yaml = exported.to_yaml();
    assert!(
        yaml.contains(
            "the `own-board` image, built in board/ with\n\
             #   HILT_CLIENT_ID=blue HILT_PEER=green HILT_BROKER=<host:port> cargo build --release\n\
             #   cp target/riscv32imc-unknown-none-elf/release/own-board \
             target/riscv32imc-unknown-none-elf/release/own-board.elf\n\
             # Then: wokwi-cli --scenario <this file> --timeout "
        ),
        "{yaml}"
    );
    assert!(
        yaml.contains(
            " --fail-text '====================== PANIC ======================' <folder of wokwi.toml>\n"
        ),
        "{yaml}"
    );
    assert_eq!(
        exported.build_env,
        [
            ("HILT_CLIENT_ID".to_owned(), "blue".to_owned()),
            ("HILT_PEER".to_owned(), "green".to_owned()),
        ]
    );
    let actions: Vec<&Action> = exported
        .scenario
        .steps
        .iter()
        .map(|step| &step.action)
        .collect();
    assert!(
        matches!(
            actions[..],
            [
                Action::SetControl { part_id: button, .. },
                Action::ExpectPin { part_id: board, pin, value: 0 },
            ] if button == "push" && board == "chip" && pin == "7"
        ),
        "{actions:?}"
    );
}

#[test]
fn a_registered_image_checks_config_with_its_settings_type() {
    let text = "name: own\ndevices:\n  blue:\n    app: own-board\n    \
                config: { peer: green, period: 0s }\nsteps:\n  - wait: 1s\n";
    // The registry's own check would refuse the file first; the export
    // must refuse the value by itself too.
    struct AnyConfig(Registry);
    impl hilt_scenario::Catalog for AnyConfig {
        fn app_names(&self) -> Vec<String> {
            self.0.app_names()
        }
        fn parts(&self, app: &str) -> Option<Vec<PartDescription>> {
            self.0.parts(app)
        }
        fn check_config(
            &self,
            _app: &str,
            _config: &hilt_scenario::ConfigMap,
        ) -> Vec<hilt_scenario::ConfigProblem> {
            Vec::new()
        }
    }
    let catalog = AnyConfig(registry());
    let scenario = hilt_scenario::parse(Path::new("own.yaml"), text, &catalog).expect("parses");
    let refused = export_from(&scenario, &catalog, &catalog.0, Fidelity::Faithful)
        .expect_err("a zero period is refused");
    assert!(
        matches!(
            &refused.refusals[..],
            [hilt_wokwi::Refusal { line: Some(5), why: Why::SettingRefused { variable, .. } }]
                if variable == "HILT_PERIOD"
        ),
        "{refused}"
    );
}

#[test]
fn a_part_the_wiring_lacks_is_refused_with_the_wired_ones() {
    let mut registry = Registry::new();
    #[derive(Debug)]
    struct ButtonOnly;
    impl SimulatedApp for ButtonOnly {
        type Config = RemoteLedConfig;
        fn parts(&self) -> Vec<PartDescription> {
            RemoteLedApp.parts()
        }
        fn parse_config(
            &self,
            device: &DeviceIdentity,
            config: &mut ConfigReader<'_>,
        ) -> RemoteLedConfig {
            RemoteLedApp.parse_config(device, config)
        }
        fn build(&self, config: RemoteLedConfig, board: &mut Board) -> Box<dyn Firmware> {
            RemoteLedApp.build(config, board)
        }
        fn wokwi_image(&self) -> Option<WokwiImage> {
            Some(WokwiImage::new(
                ImageBuild::new("board/", "cargo build --release"),
                Wiring::new("chip").with(hilt_firmware::pins::BUTTON, "push"),
                |client_id| Box::new(RemoteLedConfig::new(client_id, "")),
            ))
        }
    }
    registry.register("button-only", ButtonOnly);
    let text = "name: own\ndevices:\n  blue:\n    app: button-only\n    config: { peer: green }\n\
                steps:\n  - expect: { led: blue.led, is: on }\n";
    let scenario = hilt_scenario::parse(Path::new("own.yaml"), text, &registry).expect("parses");
    let refused =
        export_from(&scenario, &registry, &registry, Fidelity::Faithful).expect_err("refused");
    assert_eq!(
        refused.to_string(),
        "own.yaml: cannot be exported to a Wokwi scenario (1 problem):\n\
         own.yaml:7: `blue.led` is not on the board: the image's Wokwi wiring has no part of \
         this kind"
    );
}

#[test]
fn an_app_without_an_image_is_refused_naming_those_with_one() {
    let refused = export("no-image", "  - wait: 1s\n").expect_err("refused");
    assert_eq!(
        refused.to_string(),
        "own.yaml: cannot be exported to a Wokwi scenario (1 problem):\n\
         own.yaml:3: the `no-image` app has no Wokwi image: its registration \
         (`SimulatedApp::wokwi_image`) gives none (the apps with one: light-status, \
         node-manager, own-board, remote-led, sensor-data, thermometer)"
    );
    assert!(registry().image("monitor").is_err());
    assert!(registry().image("thermometer").is_ok());
}

#[test]
fn only_an_image_that_names_its_elf_gets_a_copy_line() {
    let plain = ImageBuild::new("board/", "cargo build --release");
    assert_eq!(plain.copy_command(), None);
    assert_eq!(
        plain.with_elf("target/x/release/board").copy_command(),
        Some("cp target/x/release/board target/x/release/board.elf".to_owned())
    );
}
