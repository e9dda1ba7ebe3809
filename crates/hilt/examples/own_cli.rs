//! The README's "Your own firmware app" example, compiled: an app, its
//! registration and the project's own `hilt`, with one import.
//! `cargo run -p hilt --example own_cli -- check <files>`.

use hilt::prelude::*;

/// The user's firmware: no_std-style code against embedded-hal.
struct Doorbell<B, L> {
    client_id: String,
    button: B,
    light: L,
    was_pressed: bool,
}

impl<B: InputPin, L: OutputPin> App for Doorbell<B, L> {
    fn session_options(&self) -> SessionOptions {
        SessionOptions::new(&self.client_id)
    }
    fn on_connected(&mut self, _context: &mut Context<'_>) {}
    fn on_message(&mut self, _context: &mut Context<'_>, message: &Message<'_>) {
        let _ = if message.payload == b"on" {
            self.light.set_high()
        } else {
            self.light.set_low()
        };
    }
    fn poll(&mut self, context: &mut Context<'_>) -> Instant {
        let pressed = self.button.is_low().unwrap_or(false);
        if pressed && !self.was_pressed {
            let topic = format!("{}/doorbell", self.client_id);
            let _ = context.publish(&topic, b"ring", QoS::AtLeastOnce, false);
        }
        self.was_pressed = pressed;
        context.now + Duration::from_millis(20)
    }
}

/// How the simulation builds it.
struct DoorbellApp;

const BUTTON: PinAssignment = PinAssignment {
    part: "button",
    gpio: 9,
};
const LIGHT: PinAssignment = PinAssignment {
    part: "led",
    gpio: 4,
};

impl SimulatedApp for DoorbellApp {
    type Config = String;
    fn parts(&self) -> Vec<PartDescription> {
        vec![
            PartDescription {
                name: BUTTON.part.into(),
                kind: PartKind::Button,
            },
            PartDescription {
                name: LIGHT.part.into(),
                kind: PartKind::Led,
            },
        ]
    }
    fn parse_config(&self, device: &DeviceIdentity, _config: &mut ConfigReader<'_>) -> String {
        device.client_id.clone()
    }
    fn build(&self, client_id: String, board: &mut Board) -> Box<dyn Firmware> {
        let app = Doorbell {
            client_id,
            button: board.button(BUTTON),
            light: board.led(LIGHT),
            was_pressed: false,
        };
        Box::new(Node::new(app, board.now()))
    }
}

fn registry() -> Registry {
    let mut registry = Registry::with_bundled_apps(); // or Registry::new() for yours only
    registry.register("doorbell", DoorbellApp);
    registry
}

fn main() {
    hilt::main_with(registry())
}
