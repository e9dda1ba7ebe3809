//! The chip services of [`hilt_firmware::platform::Platform`] over esp-hal:
//! the reset cause, memory that survives a reset, the RTC watchdog, a
//! software reset and heap figures. The simulation implements the same
//! trait in `crates/hilt-sim/src/platform.rs`.
//!
//! It also turns a panic into a reset the next boot can name: the panic
//! handler below records the panic's place (`file:line`) and time in RTC
//! memory, prints the message and a backtrace (esp-backtrace's, as its own
//! handler would) and resets the chip; the next boot reads the record to
//! report [`ResetCause::Panic`] rather than a plain software reset, and
//! node-manager's crash log names the place. Without it a panicked board
//! would spin forever with interrupts off.

// Only the node-manager owns a platform; the panic hooks serve every app.
#![cfg_attr(not(feature = "node-manager"), allow(dead_code))]

use esp_hal::peripherals::RTC_TIMER;
use esp_hal::rtc_cntl::{Rtc, RwdtStage, SocResetReason};
use hilt_firmware::platform::{
    MemoryFigures, PANIC_PLACE_LEN, PanicRecord, Platform, ResetCause, RetainedMemory,
};
use hilt_firmware::time::Duration;
use portable_atomic::{AtomicU32, Ordering};

/// What [`PANIC_MARK`] holds when the last reset followed a panic.
const PANICKED: u32 = 0x5041_4E43; // "PANC"
/// The top half of [`FORWARDED_CAUSE`] when it holds a cause.
const FORWARDED: u32 = 0x4657_0000; // "FW"

/// The retained words, in RTC fast memory that keeps its contents across a
/// reset but not a power cycle (and is not zeroed at boot, hence
/// `persistent`). Atomics because they are statics a panic handler may
/// touch too; the C3 does their loads and stores natively.
#[esp_hal::ram(unstable(rtc_fast, persistent))]
static RETAINED: [AtomicU32; 8] = [const { AtomicU32::new(0) }; 8];

/// Set by the panic handler just before the reset it causes.
#[esp_hal::ram(unstable(rtc_fast, persistent))]
static PANIC_MARK: AtomicU32 = AtomicU32::new(0);

/// The last panic's place, `file:line` as UTF-8 in
/// [`PANIC_PLACE_LEN`] bytes (four to a word), its length, and the
/// milliseconds from boot to the panic; valid while [`PANIC_RECORDED`]
/// holds [`PANICKED`], until the app has reported it.
#[esp_hal::ram(unstable(rtc_fast, persistent))]
static PANIC_PLACE: [AtomicU32; PANIC_PLACE_LEN / 4] =
    [const { AtomicU32::new(0) }; PANIC_PLACE_LEN / 4];
#[esp_hal::ram(unstable(rtc_fast, persistent))]
static PANIC_PLACE_BYTES: AtomicU32 = AtomicU32::new(0);
#[esp_hal::ram(unstable(rtc_fast, persistent))]
static PANIC_AT_MS: AtomicU32 = AtomicU32::new(0);
#[esp_hal::ram(unstable(rtc_fast, persistent))]
static PANIC_RECORDED: AtomicU32 = AtomicU32::new(0);

/// A reset cause carried over one extra software reset (see
/// [`reset_keeping_cause`]): [`FORWARDED`] with the cause's code.
#[esp_hal::ram(unstable(rtc_fast, persistent))]
static FORWARDED_CAUSE: AtomicU32 = AtomicU32::new(0);

/// The firmware's panic handler: records the place, prints the panic as
/// esp-backtrace's handler does (the same banner, which Wokwi runs watch
/// for), and resets the chip.
#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    PANIC_MARK.store(PANICKED, Ordering::Relaxed);
    match info.location() {
        Some(location) => {
            let at_ms = u32::try_from(
                esp_hal::time::Instant::now()
                    .duration_since_epoch()
                    .as_millis(),
            )
            .unwrap_or(u32::MAX);
            store_panic_record(&PanicRecord::at(location.file(), location.line(), at_ms));
        }
        // No place to record: an older, unreported record must not be
        // taken for this panic's.
        None => PANIC_RECORDED.store(0, Ordering::Relaxed),
    }
    esp_println::println!("");
    esp_println::println!("====================== PANIC ======================");
    esp_println::println!("{}", info);
    esp_println::println!("");
    esp_println::println!("Backtrace:");
    esp_println::println!("");
    for frame in esp_backtrace::Backtrace::capture().frames() {
        esp_println::println!("0x{:x}", frame.program_counter());
    }
    esp_hal::system::software_reset()
}

fn store_panic_record(record: &PanicRecord) {
    let mut words = [0u32; PANIC_PLACE_LEN / 4];
    for (index, byte) in record.place.bytes().enumerate() {
        words[index / 4] |= u32::from(byte) << (8 * (index % 4));
    }
    for (word, stored) in words.iter().zip(&PANIC_PLACE) {
        stored.store(*word, Ordering::Relaxed);
    }
    PANIC_PLACE_BYTES.store(record.place.len() as u32, Ordering::Relaxed);
    PANIC_AT_MS.store(record.at_ms, Ordering::Relaxed);
    PANIC_RECORDED.store(PANICKED, Ordering::Relaxed);
}

/// The recorded panic, if there is one and it reads back as a place.
fn load_panic_record() -> Option<PanicRecord> {
    if PANIC_RECORDED.load(Ordering::Relaxed) != PANICKED {
        return None;
    }
    let mut bytes = [0u8; PANIC_PLACE_LEN];
    for (index, byte) in bytes.iter_mut().enumerate() {
        *byte = (PANIC_PLACE[index / 4].load(Ordering::Relaxed) >> (8 * (index % 4))) as u8;
    }
    let length = (PANIC_PLACE_BYTES.load(Ordering::Relaxed) as usize).min(PANIC_PLACE_LEN);
    let place = core::str::from_utf8(&bytes[..length]).ok()?;
    Some(PanicRecord::new(place, PANIC_AT_MS.load(Ordering::Relaxed)))
}

/// Resets the chip at once, and has the next boot report this boot's reset
/// cause rather than a software reset: for the extra reset into the other
/// app slot after a rollback (storage.rs), which is not a new event.
#[cfg_attr(not(feature = "node-manager"), allow(dead_code))]
pub fn reset_keeping_cause() -> ! {
    let code = match boot_reset_cause() {
        ResetCause::PowerOn => 0,
        ResetCause::Watchdog => 1,
        ResetCause::Software => 2,
        ResetCause::Panic => 3,
        ResetCause::Brownout => 4,
        ResetCause::Other => 5,
    };
    FORWARDED_CAUSE.store(FORWARDED | code, Ordering::Relaxed);
    esp_hal::system::software_reset()
}

/// The cause an extra reset carried over, read once.
fn forwarded_cause() -> Option<ResetCause> {
    let word = FORWARDED_CAUSE.swap_relaxed_free(0);
    if word & 0xFFFF_0000 != FORWARDED {
        return None;
    }
    Some(match word & 0xFFFF {
        0 => ResetCause::PowerOn,
        1 => ResetCause::Watchdog,
        2 => ResetCause::Software,
        3 => ResetCause::Panic,
        4 => ResetCause::Brownout,
        _ => ResetCause::Other,
    })
}

/// Why the chip started, with a panic told apart from a requested reset.
/// Reads and clears the panic mark, so call it once per boot.
fn boot_reset_cause() -> ResetCause {
    let panicked = PANIC_MARK.swap_relaxed_free(0) == PANICKED;
    let forwarded = forwarded_cause();
    match esp_hal::system::reset_reason() {
        Some(SocResetReason::ChipPowerOn) => ResetCause::PowerOn,
        Some(SocResetReason::CoreSw | SocResetReason::Cpu0Sw) => match forwarded {
            Some(cause) => cause,
            None if panicked => ResetCause::Panic,
            None => ResetCause::Software,
        },
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
    /// The last panic the handler recorded, until the app reported it.
    last_panic: Option<PanicRecord>,
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
        // A power cycle forgets the panic, as it forgets the retained words.
        let last_panic = if reset_cause == ResetCause::PowerOn {
            PANIC_RECORDED.store(0, Ordering::Relaxed);
            None
        } else {
            load_panic_record()
        };
        let mut platform = EspPlatform {
            rtc: Rtc::new(rtc_timer),
            reset_cause,
            retained,
            last_panic,
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

    fn last_panic(&self) -> Option<PanicRecord> {
        self.last_panic.clone()
    }

    fn clear_last_panic(&mut self) {
        PANIC_RECORDED.store(0, Ordering::Relaxed);
        self.last_panic = None;
    }
}
