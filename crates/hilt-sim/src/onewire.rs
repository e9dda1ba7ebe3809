//! A simulated 1-Wire line: an open-drain wire with a pull-up, a master pin
//! for the firmware, and slaves that are behavioural models of devices.
//!
//! The line is high unless somebody pulls it low (wired-AND). The firmware
//! drives it through [`OneWireMasterPin`], the same embedded-hal traits as an
//! ESP32-C3 open-drain pin, and its `DelayNs` (a
//! [`VirtualDelay`](crate::clock::VirtualDelay)) moves the device's
//! [`VirtualClock`] between the pin calls. So the line never sees a call
//! sequence; it sees edges with device timestamps, as a real device does:
//!
//! - Every change of the master's drive is handed to every slave with the
//!   clock's time ([`OneWireSlave::master_pulled_low`] and
//!   [`OneWireSlave::master_released`]). A slave works out from the length
//!   of each low pulse whether it was a reset, a 1 or a 0, exactly as a
//!   DS18B20 does, using the datasheet windows in [`timing`].
//! - When the master reads the pin, the level is computed for the current
//!   time: a slave that answers a read slot with 0 holds the line low for a
//!   while after the master's falling edge, and a presence pulse starts some
//!   time after the master releases a reset pulse, so the same master code
//!   reads a 0 if it samples early enough and a 1 if it samples too late.
//!
//! A master that does nonsense (pulses of odd lengths, reading while it holds
//! the line low, never resetting) gets the answers a real line would give;
//! nothing here panics on it.

use std::cell::RefCell;
use std::convert::Infallible;
use std::fmt;
use std::rc::Rc;

use crate::clock::VirtualClock;

/// The timing windows a simulated 1-Wire slave uses, from the DS18B20
/// datasheet (standard speed), in nanoseconds of device time.
///
/// Where the datasheet gives a window, the model picks a typical point
/// inside it, so a master that keeps to the datasheet works and one that
/// relies on luck (sampling a read slot 40 µs in, say) fails as it may on a
/// real part.
pub mod timing {
    /// One microsecond in nanoseconds.
    pub const MICROSECOND: u64 = 1_000;
    /// A low pulse this long or longer is a reset (tRSTL min 480 µs).
    pub const RESET_MIN: u64 = 480 * MICROSECOND;
    /// A write slot's low pulse longer than this is not a bit: write-0 low
    /// time is 60 to 120 µs (tLOW0), so a low between this and [`RESET_MIN`]
    /// is neither and a slave drops out until the next reset.
    pub const SLOT_LOW_MAX: u64 = 120 * MICROSECOND;
    /// Where in a write slot the slave samples the line: the datasheet
    /// window is 15 to 60 µs after the falling edge; 30 µs is typical. A
    /// master low pulse shorter than this is a 1, longer is a 0.
    pub const WRITE_SAMPLE_POINT: u64 = 30 * MICROSECOND;
    /// How long a slave sending 0 in a read slot holds the line low after
    /// the master's falling edge. The master must sample within 15 µs
    /// (tRDV); parts typically let go between 15 and 60 µs.
    pub const READ_ZERO_HOLD: u64 = 30 * MICROSECOND;
    /// From the release of a reset pulse to the start of the presence pulse
    /// (tPDHIGH, 15 to 60 µs).
    pub const PRESENCE_DELAY: u64 = 30 * MICROSECOND;
    /// Length of the presence pulse (tPDLOW, 60 to 240 µs).
    pub const PRESENCE_LENGTH: u64 = 120 * MICROSECOND;
}

/// What a low pulse of the master was, judged by its length the way a
/// slave judges it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MasterPulse {
    /// A write-1 slot, or the start of a read slot (released before the
    /// sample point).
    One,
    /// A write-0 slot (still low at the sample point).
    Zero,
    /// A reset pulse.
    Reset,
    /// Too long for a slot, too short for a reset.
    Invalid,
}

impl MasterPulse {
    /// Classifies a low pulse of `low_nanos` nanoseconds.
    pub fn from_low_time(low_nanos: u64) -> Self {
        if low_nanos >= timing::RESET_MIN {
            MasterPulse::Reset
        } else if low_nanos > timing::SLOT_LOW_MAX {
            MasterPulse::Invalid
        } else if low_nanos >= timing::WRITE_SAMPLE_POINT {
            MasterPulse::Zero
        } else {
            MasterPulse::One
        }
    }
}

/// A device model on a [`OneWireLine`].
///
/// The line calls it with the device time of each master edge, in order, and
/// asks it whether it holds the line low at the moment the master samples.
/// Times never run backwards between calls.
pub trait OneWireSlave: fmt::Debug {
    /// The master started pulling the line low at `at_nanos`.
    fn master_pulled_low(&mut self, at_nanos: u64);
    /// The master let go of the line at `at_nanos`.
    fn master_released(&mut self, at_nanos: u64);
    /// Whether the slave holds the line low at `at_nanos`.
    fn pulls_low_at(&mut self, at_nanos: u64) -> bool;
}

#[derive(Debug)]
struct LineState {
    clock: VirtualClock,
    master_pulls_low: bool,
    slaves: Vec<Rc<RefCell<dyn OneWireSlave>>>,
    master_low_pulses: u64,
}

/// A simulated 1-Wire line; clones share the line.
#[derive(Clone, Debug)]
pub struct OneWireLine {
    state: Rc<RefCell<LineState>>,
}

impl OneWireLine {
    /// A line with no devices, timed by `clock`, released (high).
    pub fn new(clock: VirtualClock) -> Self {
        OneWireLine {
            state: Rc::new(RefCell::new(LineState {
                clock,
                master_pulls_low: false,
                slaves: Vec::new(),
                master_low_pulses: 0,
            })),
        }
    }

    /// The clock that times the line.
    pub fn clock(&self) -> VirtualClock {
        self.state.borrow().clock.clone()
    }

    /// The pin the firmware's 1-Wire master drives. Every master pin of a
    /// line is the same pin: they share one drive state.
    pub fn master_pin(&self) -> OneWireMasterPin {
        OneWireMasterPin { line: self.clone() }
    }

    /// Connects a device model to the line.
    pub fn attach(&self, slave: Rc<RefCell<dyn OneWireSlave>>) {
        self.state.borrow_mut().slaves.push(slave);
    }

    /// The number of devices attached.
    pub fn device_count(&self) -> usize {
        self.state.borrow().slaves.len()
    }

    /// The line level now: high unless the master or a device pulls it low.
    pub fn is_high(&self) -> bool {
        let state = self.state.borrow();
        if state.master_pulls_low {
            return false;
        }
        let now = state.clock.now_nanos();
        !state
            .slaves
            .iter()
            .any(|slave| slave.borrow_mut().pulls_low_at(now))
    }

    /// Whether the master pulls the line low.
    pub fn master_pulls_low(&self) -> bool {
        self.state.borrow().master_pulls_low
    }

    /// How many times the master has pulled the line low: one per time slot
    /// or reset, a measure of bus traffic.
    pub fn master_low_pulses(&self) -> u64 {
        self.state.borrow().master_low_pulses
    }

    fn drive_master(&self, pull_low: bool) {
        let mut state = self.state.borrow_mut();
        if state.master_pulls_low == pull_low {
            // No edge: an open-drain pin set to the level it has changes
            // nothing on the wire.
            return;
        }
        state.master_pulls_low = pull_low;
        let now = state.clock.now_nanos();
        if pull_low {
            state.master_low_pulses = state.master_low_pulses.saturating_add(1);
        }
        for slave in &state.slaves {
            let mut slave = slave.borrow_mut();
            if pull_low {
                slave.master_pulled_low(now);
            } else {
                slave.master_released(now);
            }
        }
    }
}

/// The firmware's end of a [`OneWireLine`]: an open-drain pin.
///
/// `set_low` pulls the line low, `set_high` lets go (the pull-up raises the
/// line unless a device holds it low), and `is_high` reads the line itself.
#[derive(Debug)]
pub struct OneWireMasterPin {
    line: OneWireLine,
}

impl OneWireMasterPin {
    /// The line this pin drives.
    pub fn line(&self) -> &OneWireLine {
        &self.line
    }
}

impl embedded_hal::digital::ErrorType for OneWireMasterPin {
    type Error = Infallible;
}

impl embedded_hal::digital::OutputPin for OneWireMasterPin {
    fn set_low(&mut self) -> Result<(), Self::Error> {
        self.line.drive_master(true);
        Ok(())
    }

    fn set_high(&mut self) -> Result<(), Self::Error> {
        self.line.drive_master(false);
        Ok(())
    }
}

impl embedded_hal::digital::InputPin for OneWireMasterPin {
    fn is_high(&mut self) -> Result<bool, Self::Error> {
        Ok(self.line.is_high())
    }

    fn is_low(&mut self) -> Result<bool, Self::Error> {
        Ok(!self.line.is_high())
    }
}

#[cfg(test)]
mod tests {
    use embedded_hal::digital::{InputPin, OutputPin};

    use super::*;

    /// A slave that records the edges it sees and holds the line low in one
    /// fixed window.
    #[derive(Debug, Default)]
    struct RecordingSlave {
        edges: Vec<(bool, u64)>,
        low_window: Option<(u64, u64)>,
    }

    impl OneWireSlave for RecordingSlave {
        fn master_pulled_low(&mut self, at_nanos: u64) {
            self.edges.push((true, at_nanos));
        }
        fn master_released(&mut self, at_nanos: u64) {
            self.edges.push((false, at_nanos));
        }
        fn pulls_low_at(&mut self, at_nanos: u64) -> bool {
            self.low_window
                .is_some_and(|(from, until)| (from..until).contains(&at_nanos))
        }
    }

    #[test]
    fn an_empty_line_is_high_and_follows_the_master() {
        let line = OneWireLine::new(VirtualClock::new());
        let mut pin = line.master_pin();
        assert_eq!(pin.is_high(), Ok(true));
        pin.set_low().unwrap();
        assert_eq!(pin.is_high(), Ok(false));
        assert_eq!(pin.is_low(), Ok(true));
        pin.set_high().unwrap();
        assert_eq!(pin.is_high(), Ok(true));
        assert_eq!(line.master_low_pulses(), 1);
    }

    #[test]
    fn slaves_see_master_edges_with_device_time_and_no_repeats() {
        let clock = VirtualClock::new();
        let line = OneWireLine::new(clock.clone());
        let slave = Rc::new(RefCell::new(RecordingSlave::default()));
        line.attach(slave.clone());
        let mut pin = line.master_pin();
        clock.advance_nanos(1_000);
        pin.set_low().unwrap();
        pin.set_low().unwrap();
        clock.advance_nanos(6_000);
        pin.set_high().unwrap();
        pin.set_high().unwrap();
        assert_eq!(slave.borrow().edges, vec![(true, 1_000), (false, 7_000)]);
    }

    #[test]
    fn the_line_is_the_wired_and_of_master_and_slaves_at_the_sample_time() {
        let clock = VirtualClock::new();
        let line = OneWireLine::new(clock.clone());
        let slave = Rc::new(RefCell::new(RecordingSlave {
            low_window: Some((10_000, 20_000)),
            ..RecordingSlave::default()
        }));
        line.attach(slave);
        assert_eq!(line.device_count(), 1);
        assert!(line.is_high());
        clock.advance_nanos(10_000);
        assert!(!line.is_high());
        clock.advance_nanos(10_000);
        assert!(line.is_high());
    }

    #[test]
    fn master_pulses_are_judged_by_the_datasheet_windows() {
        let micros = |us: u64| us * timing::MICROSECOND;
        assert_eq!(MasterPulse::from_low_time(0), MasterPulse::One);
        assert_eq!(MasterPulse::from_low_time(micros(6)), MasterPulse::One);
        assert_eq!(MasterPulse::from_low_time(micros(15)), MasterPulse::One);
        assert_eq!(MasterPulse::from_low_time(micros(60)), MasterPulse::Zero);
        assert_eq!(MasterPulse::from_low_time(micros(120)), MasterPulse::Zero);
        assert_eq!(
            MasterPulse::from_low_time(micros(200)),
            MasterPulse::Invalid
        );
        assert_eq!(MasterPulse::from_low_time(micros(480)), MasterPulse::Reset);
        assert_eq!(MasterPulse::from_low_time(u64::MAX), MasterPulse::Reset);
    }
}
