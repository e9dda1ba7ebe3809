//! The chip services of a simulated device: reset cause, retained (RTC)
//! memory, the watchdog, software reset and memory figures.
//!
//! The firmware owns a [`SimPlatform`] as its
//! `hilt_firmware::platform::Platform`; the runner holds the device's
//! [`PlatformControl`], which reads the watchdog deadline and reset requests
//! and prepares each boot. Retained memory lives in the firmware's handle
//! while it runs (the trait lends it out mutably) and is written back when
//! the handle is dropped, which is exactly when the chip resets.

use std::cell::RefCell;
use std::rc::Rc;

use hilt_firmware::platform::{MemoryFigures, PanicRecord, Platform, ResetCause, RetainedMemory};
use hilt_firmware::time::{Duration, Instant};

use crate::clock::VirtualClock;

/// The memory a simulated ESP32-C3 reports free: 400 KiB of SRAM less what
/// a small image and the WiFi stack use.
pub const SIMULATED_MEMORY: MemoryFigures = MemoryFigures {
    free_bytes: 214_016,
    largest_free_block: 131_072,
};

#[derive(Debug)]
struct PlatformState {
    reset_cause: ResetCause,
    /// Retained memory between boots (the running firmware has its copy).
    retained: RetainedMemory,
    /// Timeout and last feed, once the firmware armed the watchdog.
    watchdog: Option<(Duration, Instant)>,
    reset_requested: bool,
    /// Why the requested reset happens: software, or a simulated panic.
    requested_cause: ResetCause,
    /// The last panic's place and time, as the chip's panic handler keeps
    /// it in RTC memory: across resets, until the firmware clears it or
    /// the power goes.
    last_panic: Option<PanicRecord>,
    /// When the current boot started, for the time of a panic.
    booted_at: Instant,
}

/// The runner's side of one device's chip services.
#[derive(Clone, Debug)]
pub struct PlatformControl {
    clock: VirtualClock,
    firmware_version: String,
    state: Rc<RefCell<PlatformState>>,
}

impl PlatformControl {
    /// A chip that has just been powered on.
    pub fn new(clock: VirtualClock, firmware_version: &str) -> Self {
        let booted_at = clock.now();
        PlatformControl {
            clock,
            firmware_version: firmware_version.to_owned(),
            state: Rc::new(RefCell::new(PlatformState {
                reset_cause: ResetCause::PowerOn,
                retained: RetainedMemory::default(),
                watchdog: None,
                reset_requested: false,
                requested_cause: ResetCause::Software,
                last_panic: None,
                booted_at,
            })),
        }
    }

    /// The handle the firmware of the current boot owns.
    pub fn firmware_handle(&self) -> SimPlatform {
        let retained = self.state.borrow().retained;
        SimPlatform {
            clock: self.clock.clone(),
            firmware_version: self.firmware_version.clone(),
            state: Rc::clone(&self.state),
            retained,
        }
    }

    /// Prepares the next boot after a reset for `cause`: the watchdog is
    /// disarmed (the boot ROM does that) and retained memory survives
    /// unless the power went. Call it after the old firmware was dropped,
    /// with the clock at the boot's instant.
    pub fn prepare_boot(&self, cause: ResetCause) {
        let mut state = self.state.borrow_mut();
        state.reset_cause = cause;
        state.booted_at = self.clock.now();
        state.watchdog = None;
        state.reset_requested = false;
        if cause == ResetCause::PowerOn {
            state.retained = RetainedMemory::default();
            state.last_panic = None;
        }
    }

    /// Records a panic of the running firmware at `place` (`file:line`),
    /// `at_ms` after its boot, as the chip's panic handler does before it
    /// resets the chip; follow it with a reset for [`ResetCause::Panic`].
    /// A place longer than the record keeps its end.
    pub fn record_panic(&self, place: &str, at_ms: u32) {
        self.state.borrow_mut().last_panic = Some(PanicRecord::new(place, at_ms));
    }

    /// The running firmware panics now at `place` (a scenario's `panic:`
    /// step): the place and the milliseconds since this boot started are
    /// recorded as [`PlatformControl::record_panic`] does; follow it with a
    /// reset for [`ResetCause::Panic`]. Returns the milliseconds recorded.
    pub fn panic_now(&self, place: &str) -> u32 {
        let booted_at = self.state.borrow().booted_at;
        let at_ms = u32::try_from(self.clock.now().saturating_since(booted_at).as_millis())
            .unwrap_or(u32::MAX);
        self.record_panic(place, at_ms);
        at_ms
    }

    /// When the watchdog bites unless fed, if it is armed.
    pub fn watchdog_deadline(&self) -> Option<Instant> {
        self.state
            .borrow()
            .watchdog
            .map(|(timeout, fed_at)| fed_at + timeout)
    }

    /// True once the firmware asked for a software reset; asking clears it.
    pub fn take_reset_request(&self) -> bool {
        std::mem::take(&mut self.state.borrow_mut().reset_requested)
    }

    /// The reset the firmware asked for, if it did (software, or a
    /// simulated panic); asking clears it.
    pub fn take_reset(&self) -> Option<ResetCause> {
        let mut state = self.state.borrow_mut();
        std::mem::take(&mut state.reset_requested).then_some(state.requested_cause)
    }

    /// Retained memory as of the last reset.
    pub fn retained_at_last_reset(&self) -> RetainedMemory {
        self.state.borrow().retained
    }
}

/// The firmware's side of the chip services; not `Clone`, since one boot
/// has one.
#[derive(Debug)]
pub struct SimPlatform {
    clock: VirtualClock,
    firmware_version: String,
    state: Rc<RefCell<PlatformState>>,
    retained: RetainedMemory,
}

impl Drop for SimPlatform {
    /// The chip resets: what the firmware left in retained memory stays.
    fn drop(&mut self) {
        self.state.borrow_mut().retained = self.retained;
    }
}

impl SimPlatform {
    /// The firmware panics at `place`, `at_ms` after boot: the place is
    /// recorded, and the chip resets with [`ResetCause::Panic`] once
    /// the current poll returns (a simulated image that crashes at boot).
    pub fn panic(&mut self, place: &str, at_ms: u32) {
        let mut state = self.state.borrow_mut();
        // As the chip's panic handler keeps it in RTC memory.
        state.last_panic = Some(PanicRecord::new(place, at_ms));
        state.reset_requested = true;
        state.requested_cause = ResetCause::Panic;
    }
}

impl Platform for SimPlatform {
    fn reset_cause(&self) -> ResetCause {
        self.state.borrow().reset_cause
    }

    fn retained_memory(&mut self) -> &mut RetainedMemory {
        &mut self.retained
    }

    fn start_watchdog(&mut self, timeout: Duration) {
        let now = self.clock.now();
        self.state.borrow_mut().watchdog = Some((timeout, now));
    }

    fn feed_watchdog(&mut self) {
        let now = self.clock.now();
        if let Some((_, fed_at)) = self.state.borrow_mut().watchdog.as_mut() {
            *fed_at = now;
        }
    }

    fn request_reset(&mut self) {
        let mut state = self.state.borrow_mut();
        state.reset_requested = true;
        state.requested_cause = ResetCause::Software;
    }

    fn memory(&self) -> MemoryFigures {
        SIMULATED_MEMORY
    }

    fn firmware_version(&self) -> &str {
        &self.firmware_version
    }

    fn last_panic(&self) -> Option<PanicRecord> {
        self.state.borrow().last_panic.clone()
    }

    fn clear_last_panic(&mut self) {
        self.state.borrow_mut().last_panic = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hilt_firmware::platform::PANIC_PLACE_LEN;

    #[test]
    fn retained_memory_survives_a_reset_but_not_a_power_cycle() {
        let clock = VirtualClock::new();
        let control = PlatformControl::new(clock, "0.1.0");
        let mut firmware = control.firmware_handle();
        firmware.retained_memory().words[1] = 2;
        drop(firmware);
        control.prepare_boot(ResetCause::Watchdog);
        let mut firmware = control.firmware_handle();
        assert_eq!(firmware.reset_cause(), ResetCause::Watchdog);
        assert_eq!(firmware.retained_memory().words[1], 2);
        drop(firmware);
        control.prepare_boot(ResetCause::PowerOn);
        let mut firmware = control.firmware_handle();
        assert_eq!(firmware.retained_memory().words[1], 0);
    }

    #[test]
    fn a_recorded_panic_survives_resets_until_cleared_or_a_power_cycle() {
        let control = PlatformControl::new(VirtualClock::new(), "0.1.0");
        drop(control.firmware_handle());
        let long_path = format!("{}/src/apps/crashy.rs:17", "x".repeat(100));
        control.record_panic(&long_path, 1_234);
        control.prepare_boot(ResetCause::Panic);
        let firmware = control.firmware_handle();
        let record = firmware.last_panic().unwrap();
        assert_eq!(record.at_ms, 1_234);
        assert_eq!(record.place.len(), PANIC_PLACE_LEN);
        assert!(record.place.ends_with("/src/apps/crashy.rs:17"));
        drop(firmware);
        control.prepare_boot(ResetCause::Software);
        let mut firmware = control.firmware_handle();
        assert!(firmware.last_panic().is_some());
        firmware.clear_last_panic();
        assert_eq!(firmware.last_panic(), None);
        drop(firmware);
        control.record_panic("src/main.rs:1", 5);
        control.prepare_boot(ResetCause::PowerOn);
        assert_eq!(control.firmware_handle().last_panic(), None);
    }

    #[test]
    fn a_panic_now_is_timed_from_the_start_of_the_current_boot() {
        let clock = VirtualClock::new();
        let control = PlatformControl::new(clock.clone(), "0.1.0");
        drop(control.firmware_handle());
        clock.advance_nanos(2_000_000_000);
        control.prepare_boot(ResetCause::Software);
        let firmware = control.firmware_handle();
        clock.advance_nanos(1_500_000_000);
        assert_eq!(control.panic_now("steps.yaml:7"), 1_500);
        let record = firmware.last_panic().unwrap();
        assert_eq!(
            (record.place.as_str(), record.at_ms),
            ("steps.yaml:7", 1_500)
        );
    }

    #[test]
    fn the_watchdog_deadline_follows_the_last_feed() {
        let clock = VirtualClock::new();
        let control = PlatformControl::new(clock.clone(), "0.1.0");
        let mut firmware = control.firmware_handle();
        assert_eq!(control.watchdog_deadline(), None);
        firmware.start_watchdog(Duration::from_secs(8));
        assert_eq!(
            control.watchdog_deadline(),
            Some(Instant::from_millis(8_000))
        );
        clock.advance_nanos(3_000_000_000);
        firmware.feed_watchdog();
        assert_eq!(
            control.watchdog_deadline(),
            Some(Instant::from_millis(11_000))
        );
        firmware.request_reset();
        assert!(control.take_reset_request());
        assert!(!control.take_reset_request());
    }
}
