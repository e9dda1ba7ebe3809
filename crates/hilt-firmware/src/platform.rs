//! What the chip offers an app besides pins and buses: the reset cause,
//! memory that survives a reset, the watchdog, a software reset, memory
//! figures and the firmware version.
//!
//! An app that needs these owns a [`Platform`], as a driver owns its pin.
//! The ESP32-C3 image implements it over esp-hal (reset reason, RTC fast
//! memory, the RTC watchdog); the simulation implements it over state the
//! runner keeps across the device's resets.

/// Why the chip last started.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ResetCause {
    /// Power was applied (or cycled): retained memory is blank.
    PowerOn,
    /// The watchdog was not fed in time: the main loop hung.
    Watchdog,
    /// The firmware asked for a reset (e.g. a `reboot` command).
    Software,
    /// The firmware panicked.
    Panic,
    /// The supply voltage dropped.
    Brownout,
    /// Anything else the chip reports.
    Other,
}

impl ResetCause {
    /// The name used in status messages: `power_on`, `watchdog`, ...
    pub fn as_str(self) -> &'static str {
        match self {
            ResetCause::PowerOn => "power_on",
            ResetCause::Watchdog => "watchdog",
            ResetCause::Software => "software",
            ResetCause::Panic => "panic",
            ResetCause::Brownout => "brownout",
            ResetCause::Other => "other",
        }
    }

    /// True for resets that mean the firmware failed (watchdog, panic).
    pub fn is_crash(self) -> bool {
        matches!(self, ResetCause::Watchdog | ResetCause::Panic)
    }
}

/// The words of memory that survive a reset but not a power cycle (the
/// ESP32's RTC fast memory). Apps decide what they mean; the node-manager
/// keeps its crash counter here.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RetainedMemory {
    pub words: [u32; 8],
}

/// Free memory as the platform reports it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MemoryFigures {
    /// Bytes free in the heap or the app's memory pool.
    pub free_bytes: u32,
    /// The largest block that could be allocated now.
    pub largest_free_block: u32,
}

/// Longest panic place kept, in bytes.
pub const PANIC_PLACE_LEN: usize = 64;

/// Where and when the firmware last panicked, as the panic handler
/// recorded it in memory that survives a reset (but not a power cycle).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PanicRecord {
    /// The panic's source location, `file:line`; a path too long for
    /// [`PANIC_PLACE_LEN`] keeps its end (`...rc/apps/foo.rs:12`).
    pub place: heapless::String<PANIC_PLACE_LEN>,
    /// Milliseconds from the boot that panicked to the panic.
    pub at_ms: u32,
}

impl PanicRecord {
    /// A panic at `place`, cut to its last [`PANIC_PLACE_LEN`] bytes (the
    /// end of a path names the file).
    pub fn new(place: &str, at_ms: u32) -> PanicRecord {
        let mut place_kept = heapless::String::new();
        let _ = place_kept.push_str(tail(place, PANIC_PLACE_LEN));
        PanicRecord {
            place: place_kept,
            at_ms,
        }
    }

    /// A panic at `file:line`, as a panic handler reads it from the panic's
    /// location; a long path keeps its end and the whole line number.
    pub fn at(file: &str, line: u32, at_ms: u32) -> PanicRecord {
        let mut line_text: heapless::String<11> = heapless::String::new();
        let _ = core::fmt::Write::write_fmt(&mut line_text, format_args!(":{line}"));
        let mut place = heapless::String::new();
        let _ = place.push_str(tail(file, PANIC_PLACE_LEN - line_text.len()));
        let _ = place.push_str(&line_text);
        PanicRecord { place, at_ms }
    }
}

/// The last `most` bytes of `text`, or a little fewer so as not to split a
/// character.
fn tail(text: &str, most: usize) -> &str {
    let mut start = text.len().saturating_sub(most);
    while !text.is_char_boundary(start) {
        start += 1;
    }
    &text[start..]
}

/// Services of the chip an app may use; see the module documentation.
pub trait Platform {
    /// Why the chip last started.
    fn reset_cause(&self) -> ResetCause;
    /// Memory that survives a reset (blank after power-on).
    fn retained_memory(&mut self) -> &mut RetainedMemory;
    /// Arms the watchdog: unless fed again within `timeout`, the chip
    /// resets with [`ResetCause::Watchdog`]. Arming again changes the timeout.
    fn start_watchdog(&mut self, timeout: crate::time::Duration);
    /// Tells the watchdog the main loop is alive.
    fn feed_watchdog(&mut self);
    /// Asks for a software reset; the platform performs it once the current
    /// poll returns (on a board, at once).
    fn request_reset(&mut self);
    /// Free memory now.
    fn memory(&self) -> MemoryFigures;
    /// The firmware version string, e.g. `0.1.0`.
    fn firmware_version(&self) -> &str;
    /// The last panic's place and time, kept across resets until
    /// [`Platform::clear_last_panic`]; `None` when there was none since
    /// power-on or the platform cannot tell (the default).
    fn last_panic(&self) -> Option<PanicRecord> {
        None
    }
    /// Forgets the last panic, once the app has reported it.
    fn clear_last_panic(&mut self) {}
}

#[cfg(test)]
mod panic_record_tests {
    extern crate std;

    use super::{PANIC_PLACE_LEN, PanicRecord};

    #[test]
    fn a_short_place_is_kept_whole() {
        let record = PanicRecord::at("src/apps/thermometer.rs", 88, 1500);
        assert_eq!(record.place.as_str(), "src/apps/thermometer.rs:88");
        assert_eq!(record.at_ms, 1500);
    }

    #[test]
    fn a_long_path_keeps_its_end_and_the_whole_line_number() {
        let file = "/home/runner/.cargo/registry/src/index.crates.io/some-crate-1.2.3/src/deeply/nested/module.rs";
        let record = PanicRecord::at(file, 4_294_967_295, 0);
        assert_eq!(record.place.len(), PANIC_PLACE_LEN);
        assert!(
            record.place.ends_with("nested/module.rs:4294967295"),
            "{}",
            record.place
        );
    }

    #[test]
    fn a_cut_never_splits_a_character() {
        // 81 bytes: the last 64 would start inside an 'é', so the cut moves
        // one byte on and keeps 63.
        let place = std::format!("{}a", "é".repeat(40));
        let record = PanicRecord::new(&place, 0);
        assert_eq!(record.place.len(), PANIC_PLACE_LEN - 1);
        assert!(record.place.starts_with('é') && record.place.ends_with("éa"));
    }
}
