//! GPIO lines, and the buttons and LEDs on them.
//!
//! A [`PinLine`] is one wire of one device: its level and the device time of
//! every change. The firmware holds a [`SimInputPin`] or [`SimOutputPin`] on it
//! (the same embedded-hal traits as an esp-hal pin); the runner holds the
//! line, or a [`Button`] that drives it, and reads the history to check LED
//! expectations and to write the transcript.

use std::cell::RefCell;
use std::convert::Infallible;
use std::rc::Rc;

use hilt_firmware::time::Instant;

use crate::clock::VirtualClock;

/// One level change of a line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LevelChange {
    pub at: Instant,
    pub high: bool,
}

#[derive(Debug)]
struct LineState {
    high: bool,
    /// Every change, oldest first; the first entry is the level at creation.
    history: Vec<LevelChange>,
}

/// One GPIO line of a device; clones share the line.
#[derive(Clone, Debug)]
pub struct PinLine {
    gpio: u8,
    clock: VirtualClock,
    state: Rc<RefCell<LineState>>,
}

impl PinLine {
    /// A line at `high` from the clock's current time.
    pub fn new(gpio: u8, clock: VirtualClock, high: bool) -> Self {
        let at = clock.now();
        PinLine {
            gpio,
            clock,
            state: Rc::new(RefCell::new(LineState {
                high,
                history: vec![LevelChange { at, high }],
            })),
        }
    }

    pub fn gpio(&self) -> u8 {
        self.gpio
    }

    pub fn is_high(&self) -> bool {
        self.state.borrow().high
    }

    /// Drives the line; a change is recorded with the current device time.
    pub fn set_high(&self, high: bool) {
        let mut state = self.state.borrow_mut();
        if state.high != high {
            state.high = high;
            let at = self.clock.now();
            state.history.push(LevelChange { at, high });
        }
    }

    /// Every change since the line was created, oldest first.
    pub fn history(&self) -> Vec<LevelChange> {
        self.state.borrow().history.clone()
    }

    /// Changes from index `from` on, for readers that keep their place.
    pub fn history_from(&self, from: usize) -> Vec<LevelChange> {
        self.state
            .borrow()
            .history
            .get(from..)
            .map(<[_]>::to_vec)
            .unwrap_or_default()
    }

    /// The level the line had at `at`, from its history.
    pub fn level_at(&self, at: Instant) -> bool {
        let state = self.state.borrow();
        state
            .history
            .iter()
            .take_while(|change| change.at <= at)
            .last()
            .map_or(state.history[0].high, |change| change.high)
    }

    /// An input pin the firmware reads this line through.
    pub fn input_pin(&self) -> SimInputPin {
        SimInputPin { line: self.clone() }
    }

    /// An output pin the firmware drives this line through.
    pub fn output_pin(&self) -> SimOutputPin {
        SimOutputPin { line: self.clone() }
    }
}

/// The firmware's view of a line it reads (a button).
#[derive(Clone, Debug)]
pub struct SimInputPin {
    line: PinLine,
}

impl embedded_hal::digital::ErrorType for SimInputPin {
    type Error = Infallible;
}

impl embedded_hal::digital::InputPin for SimInputPin {
    fn is_high(&mut self) -> Result<bool, Infallible> {
        Ok(self.line.is_high())
    }

    fn is_low(&mut self) -> Result<bool, Infallible> {
        Ok(!self.line.is_high())
    }
}

/// The firmware's view of a line it drives (an LED).
#[derive(Clone, Debug)]
pub struct SimOutputPin {
    line: PinLine,
}

impl embedded_hal::digital::ErrorType for SimOutputPin {
    type Error = Infallible;
}

impl embedded_hal::digital::OutputPin for SimOutputPin {
    fn set_low(&mut self) -> Result<(), Infallible> {
        self.line.set_high(false);
        Ok(())
    }

    fn set_high(&mut self) -> Result<(), Infallible> {
        self.line.set_high(true);
        Ok(())
    }
}

impl embedded_hal::digital::StatefulOutputPin for SimOutputPin {
    fn is_set_high(&mut self) -> Result<bool, Infallible> {
        Ok(self.line.is_high())
    }

    fn is_set_low(&mut self) -> Result<bool, Infallible> {
        Ok(!self.line.is_high())
    }
}

/// A push button wired active low with a pull-up: released reads high,
/// pressed pulls the line to ground. Bounce-free, like Wokwi's with
/// `bounce: 0`.
#[derive(Clone, Debug)]
pub struct Button {
    line: PinLine,
}

impl Button {
    /// A released button on a new line.
    pub fn new(gpio: u8, clock: VirtualClock) -> Self {
        Button {
            line: PinLine::new(gpio, clock, true),
        }
    }

    pub fn press(&self) {
        self.line.set_high(false);
    }

    pub fn release(&self) {
        self.line.set_high(true);
    }

    pub fn is_pressed(&self) -> bool {
        !self.line.is_high()
    }

    pub fn line(&self) -> &PinLine {
        &self.line
    }
}

/// An LED from a GPIO through a resistor to ground: lit while the line is high.
#[derive(Clone, Debug)]
pub struct Led {
    line: PinLine,
}

impl Led {
    /// A dark LED on a new line.
    pub fn new(gpio: u8, clock: VirtualClock) -> Self {
        Led {
            line: PinLine::new(gpio, clock, false),
        }
    }

    pub fn is_on(&self) -> bool {
        self.line.is_high()
    }

    pub fn line(&self) -> &PinLine {
        &self.line
    }
}

#[cfg(test)]
mod tests {
    use embedded_hal::digital::{InputPin, OutputPin};

    use super::*;

    #[test]
    fn output_pin_changes_are_recorded_with_device_time() {
        let clock = VirtualClock::new();
        let led = Led::new(4, clock.clone());
        let mut pin = led.line().output_pin();
        clock.advance_nanos(1_500_000_000);
        pin.set_high().unwrap();
        pin.set_high().unwrap(); // no change, no record
        clock.advance_nanos(500_000_000);
        pin.set_low().unwrap();
        let history = led.line().history();
        assert_eq!(
            history,
            vec![
                LevelChange {
                    at: Instant::from_micros(0),
                    high: false
                },
                LevelChange {
                    at: Instant::from_millis(1_500),
                    high: true
                },
                LevelChange {
                    at: Instant::from_millis(2_000),
                    high: false
                },
            ]
        );
        assert!(led.line().level_at(Instant::from_millis(1_999)));
        assert!(!led.line().level_at(Instant::from_millis(2_000)));
    }

    #[test]
    fn button_is_active_low() {
        let clock = VirtualClock::new();
        let button = Button::new(9, clock);
        let mut pin = button.line().input_pin();
        assert!(pin.is_high().unwrap());
        button.press();
        assert!(pin.is_low().unwrap());
        assert!(button.is_pressed());
        button.release();
        assert!(pin.is_high().unwrap());
    }
}
