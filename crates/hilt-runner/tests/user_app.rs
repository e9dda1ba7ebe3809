//! How a user runs their own firmware app under hilt: write the app against
//! the firmware core (`App`, embedded-hal pins), describe how the simulation
//! builds it (`SimulatedApp`), register it, and run a folder of scenarios
//! from a `#[test]`. The bundled apps are registered exactly this way.

use embedded_hal::digital::{InputPin, OutputPin};
use hilt_firmware::app::{App, Context, Firmware, LogLevel, Message, Node};
use hilt_firmware::mqtt::codec::QoS;
use hilt_firmware::mqtt::session::SessionOptions;
use hilt_firmware::pins;
use hilt_firmware::time::{Duration, Instant};
use hilt_runner::{Board, ConfigReader, DeviceIdentity, Registry, SimulatedApp};
use hilt_scenario::{PartDescription, PartKind};

// ---- the user's firmware: no_std-style code, embedded-hal only ------------

/// A doorbell: a press publishes `ring` (QoS 1) on `<id>/doorbell`; `on` or
/// `off` on `<id>/light` switches the porch light.
struct Doorbell<B, L> {
    client_id: String,
    button: B,
    light: L,
    was_pressed: bool,
}

const SAMPLE_EVERY: Duration = Duration::from_millis(20);

impl<B: InputPin, L: OutputPin> App for Doorbell<B, L> {
    fn session_options(&self) -> SessionOptions {
        SessionOptions::new(&self.client_id)
    }

    fn on_connected(&mut self, context: &mut Context<'_>) {
        let topic = format!("{}/light", self.client_id);
        let _ = context.subscribe(&topic, QoS::AtLeastOnce);
    }

    fn on_message(&mut self, context: &mut Context<'_>, message: &Message<'_>) {
        let _ = match message.payload {
            b"on" => self.light.set_high(),
            b"off" => self.light.set_low(),
            _ => {
                context.log(
                    LogLevel::Warn,
                    format_args!("doorbell: ignored {:?}", message.payload),
                );
                Ok(())
            }
        };
    }

    fn poll(&mut self, context: &mut Context<'_>) -> Instant {
        let pressed = self.button.is_low().unwrap_or(false);
        if pressed && !self.was_pressed {
            let topic = format!("{}/doorbell", self.client_id);
            let _ = context.publish(&topic, b"ring", QoS::AtLeastOnce, false);
        }
        self.was_pressed = pressed;
        context.now + SAMPLE_EVERY
    }
}

// ---- the user's registration: how the simulation builds it ---------------

struct DoorbellApp;

impl SimulatedApp for DoorbellApp {
    /// The client id: the device's, from the scenario.
    type Config = String;

    fn parts(&self) -> Vec<PartDescription> {
        vec![
            PartDescription {
                name: "button".into(),
                kind: PartKind::Button,
            },
            PartDescription {
                name: "led".into(),
                kind: PartKind::Led,
            },
        ]
    }

    fn parse_config(&self, device: &DeviceIdentity, _config: &mut ConfigReader<'_>) -> String {
        // No settings: any key under `config:` is reported as unknown.
        device.client_id.clone()
    }

    fn build(&self, client_id: String, board: &mut Board) -> Box<dyn Firmware> {
        let app = Doorbell {
            client_id,
            button: board.button(pins::BUTTON),
            light: board.led(pins::LED),
            was_pressed: false,
        };
        Box::new(Node::new(app, board.now()))
    }
}

// ---- the user's test -------------------------------------------------------

#[test]
fn my_scenarios_pass() {
    let mut registry = Registry::with_bundled_apps();
    registry.register("doorbell", DoorbellApp);
    let folder = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/user_scenarios");
    let outcomes =
        hilt_runner::run_paths(&[folder], &registry).unwrap_or_else(|error| panic!("{error}"));
    assert_eq!(outcomes.len(), 1);
    for outcome in &outcomes {
        assert!(outcome.passed(), "{}", outcome.report());
    }
}
