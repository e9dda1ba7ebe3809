//! A part named one way in an app's `parts()` and built under another name
//! is refused with both names, when the file is checked and when the device
//! is built; a step acting on a part a board does not have is an error,
//! never a step that passes having done nothing.

use std::path::Path;

use hilt_firmware::app::{App, Context, Firmware, Message, Node};
use hilt_firmware::mqtt::session::SessionOptions;
use hilt_firmware::pins::PinAssignment;
use hilt_firmware::time::{Duration, Instant};
use hilt_runner::{Board, ConfigReader, DeviceIdentity, Registry, SimulatedApp, Verdict};
use hilt_scenario::{PartDescription, PartKind};

/// An app that does nothing but hold its pins.
struct Idle<P> {
    _pins: P,
}

impl<P> App for Idle<P> {
    fn session_options(&self) -> SessionOptions {
        SessionOptions::new("idle")
    }

    fn on_connected(&mut self, _context: &mut Context<'_>) {}

    fn on_message(&mut self, _context: &mut Context<'_>, _message: &Message<'_>) {}

    fn poll(&mut self, context: &mut Context<'_>) -> Instant {
        context.now + Duration::from_secs(60)
    }
}

/// A plant-watering node whose registration declares `pump` (an LED) and
/// `moisture` (a button), and builds them as `pump_led` and `moisture`,
/// or as the names it is given.
struct Plant {
    led_built_as: &'static str,
    button_built_as: Option<&'static str>,
}

impl SimulatedApp for Plant {
    type Config = ();

    fn parts(&self) -> Vec<PartDescription> {
        vec![
            PartDescription {
                name: "moisture".into(),
                kind: PartKind::Button,
            },
            PartDescription {
                name: "pump".into(),
                kind: PartKind::Led,
            },
        ]
    }

    fn parse_config(&self, _device: &DeviceIdentity, _config: &mut ConfigReader<'_>) {}

    fn build(&self, _config: (), board: &mut Board) -> Box<dyn Firmware> {
        let led = board.led(PinAssignment {
            part: self.led_built_as,
            gpio: 4,
        });
        let button = self.button_built_as.map(|name| {
            board.button(PinAssignment {
                part: name,
                gpio: 9,
            })
        });
        Box::new(Node::new(
            Idle {
                _pins: (led, button),
            },
            board.now(),
        ))
    }
}

const SCENARIO: &str = "\
name: water when dry
devices:
  bed:
    app: plant
steps:
  - press: bed.moisture
  - expect: { led: bed.pump, is: off, for: 1s }
";

fn registry(app: Plant) -> Registry {
    let mut registry = Registry::new();
    registry.register("plant", app);
    registry
}

#[test]
fn a_part_built_under_another_name_is_refused_when_the_file_is_checked() {
    let registry = registry(Plant {
        led_built_as: "pump_led",
        button_built_as: Some("moisture"),
    });
    let diagnostics = hilt_scenario::parse(Path::new("plant.yaml"), SCENARIO, &registry)
        .expect_err("the app's parts and build disagree");
    let text = diagnostics.to_string();
    assert!(text.contains("plant.yaml:3:3: "), "{text}");
    assert!(
        text.contains(
            "app 'plant': its parts() and build() disagree: parts() declares LED 'pump', \
             which build() did not create; build() created LED 'pump_led', which parts() \
             does not declare"
        ),
        "{text}"
    );
}

#[test]
fn a_part_of_the_wrong_kind_is_refused_with_both_kinds() {
    let registry = registry(Plant {
        led_built_as: "moisture",
        button_built_as: None,
    });
    let text = hilt_scenario::parse(Path::new("plant.yaml"), SCENARIO, &registry)
        .expect_err("moisture is built as an LED")
        .to_string();
    assert!(
        text.contains("parts() declares 'moisture' as a button, but build() made it an LED"),
        "{text}"
    );
    assert!(
        text.contains("parts() declares LED 'pump', which build() did not create"),
        "{text}"
    );
}

#[test]
fn a_device_whose_parts_disagree_is_not_built_even_if_the_file_was_checked_elsewhere() {
    // Checked against a registration whose parts agree...
    let checked_with = registry(Plant {
        led_built_as: "pump",
        button_built_as: Some("moisture"),
    });
    let scenario = hilt_scenario::parse(Path::new("plant.yaml"), SCENARIO, &checked_with)
        .unwrap_or_else(|diagnostics| panic!("{diagnostics}"));
    assert!(hilt_runner::run_scenario(&scenario, &checked_with).passed());
    // ... and run with one that slipped.
    let slipped = registry(Plant {
        led_built_as: "pump_led",
        button_built_as: Some("moisture"),
    });
    let outcome = hilt_runner::run_scenario(&scenario, &slipped);
    let Verdict::Error(error) = &outcome.verdict else {
        panic!("expected a harness error, got {}", outcome.report());
    };
    let text = error.to_string();
    assert!(text.starts_with("device 'bed' cannot be built: "), "{text}");
    assert!(
        text.contains("parts() declares LED 'pump', which build() did not create"),
        "{text}"
    );
}

/// Declares and builds nothing, so its registration is consistent, but a
/// file checked against [`Plant`] names parts it does not have.
struct Bare;

impl SimulatedApp for Bare {
    type Config = ();

    fn parts(&self) -> Vec<PartDescription> {
        Vec::new()
    }

    fn parse_config(&self, _device: &DeviceIdentity, _config: &mut ConfigReader<'_>) {}

    fn build(&self, _config: (), board: &mut Board) -> Box<dyn Firmware> {
        Box::new(Node::new(Idle { _pins: () }, board.now()))
    }
}

#[test]
fn pressing_a_button_the_board_does_not_have_is_an_error_not_a_silent_step() {
    let checked_with = registry(Plant {
        led_built_as: "pump",
        button_built_as: Some("moisture"),
    });
    let scenario = hilt_scenario::parse(Path::new("plant.yaml"), SCENARIO, &checked_with)
        .unwrap_or_else(|diagnostics| panic!("{diagnostics}"));
    let mut bare = Registry::new();
    bare.register("plant", Bare);
    let outcome = hilt_runner::run_scenario(&scenario, &bare);
    let Verdict::Error(error) = &outcome.verdict else {
        panic!("expected a harness error, got {}", outcome.report());
    };
    assert_eq!(
        error.to_string(),
        "device 'bed' has no button named 'moisture' (its board has no parts)"
    );
    assert!(
        !outcome.transcript.render().contains("bed.moisture pressed"),
        "the transcript must not say it was pressed:\n{}",
        outcome.transcript.render()
    );
}
