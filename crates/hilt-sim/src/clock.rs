//! The virtual clock of one simulated device, and the `DelayNs` that moves it.

use std::cell::Cell;
use std::rc::Rc;

use hilt_firmware::time::Instant;

/// Device time in nanoseconds since boot, shared by every part of a device.
///
/// Clones share the same time. The runner moves it forward to the next
/// deadline; the firmware's busy waits ([`VirtualDelay`]) move it too, which
/// is how a bit-banged 1-Wire transaction costs device time and no wall time.
#[derive(Clone, Debug, Default)]
pub struct VirtualClock {
    nanos: Rc<Cell<u64>>,
}

impl VirtualClock {
    /// A clock at boot (time zero).
    pub fn new() -> Self {
        Self::default()
    }

    /// Nanoseconds since boot.
    pub fn now_nanos(&self) -> u64 {
        self.nanos.get()
    }

    /// The current time as the firmware sees it (microseconds since boot).
    pub fn now(&self) -> Instant {
        Instant::from_micros(self.nanos.get() / 1_000)
    }

    /// Moves time forward by `nanos`.
    pub fn advance_nanos(&self, nanos: u64) {
        self.nanos.set(self.nanos.get().saturating_add(nanos));
    }

    /// Moves time forward to `instant`; an instant in the past changes nothing,
    /// because device time never runs backwards.
    pub fn advance_to(&self, instant: Instant) {
        let target = instant.as_micros().saturating_mul(1_000);
        if target > self.nanos.get() {
            self.nanos.set(target);
        }
    }
}

/// An `embedded_hal::delay::DelayNs` that advances the virtual clock instead
/// of spinning.
#[derive(Clone, Debug)]
pub struct VirtualDelay {
    clock: VirtualClock,
}

impl VirtualDelay {
    pub fn new(clock: VirtualClock) -> Self {
        VirtualDelay { clock }
    }
}

impl embedded_hal::delay::DelayNs for VirtualDelay {
    fn delay_ns(&mut self, ns: u32) {
        self.clock.advance_nanos(u64::from(ns));
    }
}
