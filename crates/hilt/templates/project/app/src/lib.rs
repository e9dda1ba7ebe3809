//! The firmware app of {{name}}: a lamp with a push button.
//!
//! - Each press of the button toggles the lamp (an LED).
//! - Every change of the lamp, and its state after each connect, is
//!   published retained on `<client id>/lamp` as `on` or `off` (QoS 1).
//! - `on` or `off` on `<client id>/lamp/set` switches it; anything else is
//!   logged and ignored.
//!
//! It is `no_std` and allocation-free, written against embedded-hal only,
//! so the same code runs in hilt's simulation (the host crate registers it)
//! and on the ESP32-C3 (image/).
#![cfg_attr(not(test), no_std)]

use core::fmt::Write as _;

use hilt_firmware::app::{App, Context, LogLevel, Message};
use hilt_firmware::embedded_hal::digital::{InputPin, OutputPin};
use hilt_firmware::heapless::String;
use hilt_firmware::mqtt::codec::QoS;
use hilt_firmware::mqtt::session::SessionOptions;
use hilt_firmware::settings::{self, SettingError, SettingKey, Settings};
use hilt_firmware::time::{Duration, Instant};

pub mod pins;

/// How often the button is sampled.
pub const SAMPLE_EVERY: Duration = Duration::from_millis(20);

/// The lamp's settings: a scenario's `config:` keys, and `HILT_<KEY>` when
/// the image is built, both read by [`Settings::set`].
#[derive(Clone, Debug)]
pub struct LampConfig {
    /// The MQTT client id, which names the topics.
    pub client_id: String<32>,
    /// `initially_on`: the lamp at boot; off by default.
    pub initially_on: bool,
}

impl LampConfig {
    /// The defaults for a board with `client_id`.
    pub fn new(client_id: &str) -> Self {
        let mut id = String::new();
        for character in client_id.chars() {
            if id.push(character).is_err() {
                break;
            }
        }
        LampConfig {
            client_id: id,
            initially_on: false,
        }
    }
}

impl Settings for LampConfig {
    fn keys(&self) -> &'static [SettingKey] {
        const KEYS: &[SettingKey] = &[SettingKey::optional("initially_on")];
        KEYS
    }

    fn set<'v>(&mut self, key: &str, value: &'v str) -> Result<(), SettingError<'v>> {
        match key {
            "initially_on" => self.initially_on = settings::boolean(value)?,
            _ => return Err(SettingError::UnknownKey),
        }
        Ok(())
    }
}

/// The lamp; see the crate documentation.
#[derive(Debug)]
pub struct Lamp<Button, Led> {
    button: Button,
    led: Led,
    on: bool,
    was_pressed: bool,
    /// A change not yet published (the broker may be away).
    unpublished: bool,
    state_topic: String<64>,
    set_topic: String<64>,
    client_id: String<32>,
}

impl<Button: InputPin, Led: OutputPin> Lamp<Button, Led> {
    /// A lamp reading `button` and driving `led`.
    pub fn new(config: LampConfig, button: Button, led: Led) -> Self {
        let mut state_topic = String::new();
        let _ = write!(state_topic, "{}/lamp", config.client_id);
        let mut set_topic = String::new();
        let _ = write!(set_topic, "{}/lamp/set", config.client_id);
        let mut lamp = Lamp {
            button,
            led,
            on: config.initially_on,
            was_pressed: false,
            unpublished: true,
            state_topic,
            set_topic,
            client_id: config.client_id,
        };
        lamp.drive();
        lamp
    }

    /// Whether the lamp is on.
    pub fn is_on(&self) -> bool {
        self.on
    }

    /// Reads the button once: a new press toggles the lamp. Returns whether
    /// the lamp changed.
    pub fn sample(&mut self) -> bool {
        // A pin that cannot be read counts as released.
        let pressed = self.button.is_low().unwrap_or(false);
        let toggled = pressed && !self.was_pressed;
        self.was_pressed = pressed;
        if toggled {
            self.switch(!self.on);
        }
        toggled
    }

    fn switch(&mut self, on: bool) {
        if on != self.on {
            self.on = on;
            self.unpublished = true;
        }
        self.drive();
    }

    fn drive(&mut self) {
        let _ = if self.on {
            self.led.set_high()
        } else {
            self.led.set_low()
        };
    }

    fn publish_state(&mut self, context: &mut Context<'_>) {
        let payload: &[u8] = if self.on { b"on" } else { b"off" };
        if context
            .publish(&self.state_topic, payload, QoS::AtLeastOnce, true)
            .is_ok()
        {
            self.unpublished = false;
        }
    }
}

impl<Button: InputPin, Led: OutputPin> App for Lamp<Button, Led> {
    fn session_options(&self) -> SessionOptions {
        SessionOptions::new(&self.client_id)
    }

    fn on_connected(&mut self, context: &mut Context<'_>) {
        let _ = context.subscribe(&self.set_topic, QoS::AtLeastOnce);
        self.publish_state(context);
    }

    fn on_message(&mut self, context: &mut Context<'_>, message: &Message<'_>) {
        match message.payload {
            b"on" => self.switch(true),
            b"off" => self.switch(false),
            other => {
                context.log(
                    LogLevel::Warn,
                    format_args!("lamp: ignored {:?} on {}", other, message.topic),
                );
                return;
            }
        }
        if self.unpublished {
            self.publish_state(context);
        }
    }

    fn poll(&mut self, context: &mut Context<'_>) -> Instant {
        self.sample();
        if self.unpublished && context.mqtt.is_connected() {
            self.publish_state(context);
        }
        context.now + SAMPLE_EVERY
    }
}

#[cfg(test)]
mod tests {
    use embedded_hal_mock::eh1::digital::{Mock as PinMock, State, Transaction};

    use super::*;

    #[test]
    fn a_press_toggles_the_lamp_once_and_a_release_does_nothing() {
        let button = PinMock::new(&[
            Transaction::get(State::Low),  // pressed
            Transaction::get(State::Low),  // still held
            Transaction::get(State::High), // released
            Transaction::get(State::Low),  // pressed again
        ]);
        let led = PinMock::new(&[
            Transaction::set(State::Low),  // off at boot
            Transaction::set(State::High), // first press
            Transaction::set(State::Low),  // second press
        ]);
        let mut lamp = Lamp::new(LampConfig::new("lamp"), button, led);
        assert!(lamp.sample());
        assert!(lamp.is_on());
        assert!(!lamp.sample(), "holding the button is not another press");
        assert!(!lamp.sample());
        assert!(lamp.sample());
        assert!(!lamp.is_on());
        let Lamp {
            mut button,
            mut led,
            ..
        } = lamp;
        button.done();
        led.done();
    }

    #[test]
    fn initially_on_is_read_by_the_settings_parser() {
        let mut config = LampConfig::new("lamp");
        assert!(config.set("initially_on", "true").is_ok());
        assert!(config.initially_on);
        assert!(config.set("initially_on", "maybe").is_err());
        assert_eq!(config.set("colour", "red"), Err(SettingError::UnknownKey));
    }
}
