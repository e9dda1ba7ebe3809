//! The chip services of [`hilt_firmware::platform::Platform`] over esp-hal:
//! the reset cause, memory that survives a reset, the RTC watchdog, a
//! software reset and heap figures. The simulation implements the same
//! trait in `crates/hilt-sim/src/platform.rs`.
//!
//! It also turns a panic into a reset the next boot can name: the panic
//! handler (esp-backtrace) prints the message and backtrace, this module
//! marks the panic in RTC memory before that and resets the chip after it,
//! and the next boot reads the mark to report [`ResetCause::Panic`] rather
//! than a plain software reset. Without it a panicked board would spin
//! forever with interrupts off.

// Only the node-manager owns a platform; the panic hooks serve every app.
#![cfg_attr(not(feature = "node-manager"), allow(dead_code))]

use esp_hal::peripherals::RTC_TIMER;
use esp_hal::rtc_cntl::{Rtc, RwdtStage, SocResetReason};
use hilt_firmware::platform::{MemoryFigures, Platform, ResetCause, RetainedMemory};
use hilt_firmware::time::Duration;
use portable_atomic::{AtomicU32, Ordering};

/// What [`PANIC_MARK`] holds when the last reset followed a panic.
const PANICKED: u32 = 0x5041_4E43; // "PANC"

/// The retained words, in RTC fast memory that keeps its contents across a
/// reset but not a power cycle (and is not zeroed at boot, hence
/// `persistent`). Atomics because they are statics a panic handler may
/// touch too; the C3 does their loads and stores natively.
#[esp_hal::ram(unstable(rtc_fast, persistent))]
static RETAINED: [AtomicU32; 8] = [const { AtomicU32::new(0) }; 8];

/// Set by the panic handler just before the reset it causes.
#[esp_hal::ram(unstable(rtc_fast, persistent))]
static PANIC_MARK: AtomicU32 = AtomicU32::new(0);

/// Called by esp-backtrace's panic handler before it prints the panic.
#[unsafe(no_mangle)]
fn custom_pre_backtrace() {
    PANIC_MARK.store(PANICKED, Ordering::Relaxed);
}

/// Called by esp-backtrace's panic handler after it printed the panic.
#[unsafe(no_mangle)]
fn custom_halt() -> ! {
    esp_hal::system::software_reset()
}

/// Why the chip started, with a panic told apart from a requested reset.
/// Reads and clears the panic mark, so call it once per boot.
fn boot_reset_cause() -> ResetCause {
    let panicked = PANIC_MARK.swap_relaxed_free(0) == PANICKED;
    match esp_hal::system::reset_reason() {
        Some(SocResetReason::ChipPowerOn) => ResetCause::PowerOn,
        Some(SocResetReason::CoreSw | SocResetReason::Cpu0Sw) if panicked => ResetCause::Panic,
        Some(SocResetReason::CoreSw | SocResetReason::Cpu0Sw) => ResetCause::Software,
        Some(
            SocResetReason::CoreMwdt0
            | SocResetReason::CoreMwdt1
            | SocResetReason::CoreRtcWdt
            | SocResetReason::Cpu0Mwdt0
            | SocResetReason::Cpu0Mwdt1
            | SocResetReason::Cpu0RtcWdt
            | SocResetReason::SysRtcWdt
            | SocResetReason::SysSuperWdt,
        ) => ResetCause::Watchdog,
        Some(SocResetReason::SysBrownOut) => ResetCause::Brownout,
        _ => ResetCause::Other,
    }
}

/// Load-then-store, since the C3 has no atomic read-modify-write; nothing
/// else writes the mark while the firmware runs normally.
trait SwapRelaxedFree {
    fn swap_relaxed_free(&self, value: u32) -> u32;
}

impl SwapRelaxedFree for AtomicU32 {
    fn swap_relaxed_free(&self, value: u32) -> u32 {
        let old = self.load(Ordering::Relaxed);
        self.store(value, Ordering::Relaxed);
        old
    }
}

/// The ESP32-C3's chip services; see the module documentation.
pub struct EspPlatform {
    rtc: Rtc<'static>,
    reset_cause: ResetCause,
    /// The app's view of the retained words; written through to RTC memory
    /// whenever the app had it lent out and hands control back (each feed
    /// of the watchdog, i.e. each poll, and before a reset).
    retained: RetainedMemory,
}

impl EspPlatform {
    /// The platform of this boot. After a power-on the retained words hold
    /// whatever the RAM powered up with, so they are cleared, as the trait
    /// promises.
    pub fn new(rtc_timer: RTC_TIMER<'static>) -> Self {
        let reset_cause = boot_reset_cause();
        let mut retained = RetainedMemory::default();
        if reset_cause != ResetCause::PowerOn {
            for (word, stored) in retained.words.iter_mut().zip(&RETAINED) {
                *word = stored.load(Ordering::Relaxed);
            }
        }
        let mut platform = EspPlatform {
            rtc: Rtc::new(rtc_timer),
            reset_cause,
            retained,
        };
        platform.store_retained();
        platform
    }

    fn store_retained(&mut self) {
        for (word, stored) in self.retained.words.iter().zip(&RETAINED) {
            stored.store(*word, Ordering::Relaxed);
        }
    }
}

impl Platform for EspPlatform {
    fn reset_cause(&self) -> ResetCause {
        self.reset_cause
    }

    fn retained_memory(&mut self) -> &mut RetainedMemory {
        &mut self.retained
    }

    fn start_watchdog(&mut self, timeout: Duration) {
        let micros = u64::try_from(timeout.as_micros()).unwrap_or(u64::MAX);
        let rwdt = &mut self.rtc.rwdt;
        rwdt.set_timeout(
            RwdtStage::Stage0,
            esp_hal::time::Duration::from_micros(micros),
        );
        rwdt.enable();
        rwdt.feed();
        self.store_retained();
    }

    fn feed_watchdog(&mut self) {
        self.rtc.rwdt.feed();
        self.store_retained();
    }

    fn request_reset(&mut self) {
        self.store_retained();
        esp_hal::system::software_reset()
    }

    /// Free heap, from esp-alloc. The largest block is an upper bound: the
    /// most free bytes in one heap region, since the allocator does not
    /// report fragmentation.
    fn memory(&self) -> MemoryFigures {
        let stats = esp_alloc::HEAP.stats();
        let largest = stats
            .region_stats
            .iter()
            .flatten()
            .map(|region| region.free)
            .max()
            .unwrap_or(0);
        MemoryFigures {
            free_bytes: u32::try_from(esp_alloc::HEAP.free()).unwrap_or(u32::MAX),
            largest_free_block: u32::try_from(largest).unwrap_or(u32::MAX),
        }
    }

    fn firmware_version(&self) -> &str {
        env!("CARGO_PKG_VERSION")
    }
}
