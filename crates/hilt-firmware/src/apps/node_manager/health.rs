//! Watchdog, crashes and safe mode: a crash counter kept in the platform's
//! retained memory across resets, safe mode after `safe_mode_after`
//! crashes in a row, and the counter cleared after `healthy_after` of
//! uptime.

use core::fmt::Write as _;

use embedded_hal::digital::OutputPin;
use heapless::String;

use super::NodeManager;
use crate::app::TruncatingWriter;
use crate::app::{Context, LogLevel};
use crate::platform::{Platform, ResetCause};
use crate::time::Instant;

/// `words[0]` of the retained memory when the other words are the app's.
pub const RETAINED_MAGIC: u32 = 0x4E4D_4752; // "NMGR"
/// Index of the magic word in the retained memory.
pub const WORD_MAGIC: usize = 0;
/// Index of the consecutive-crash counter.
pub const WORD_CRASHES: usize = 1;
/// Index of the boot counter.
pub const WORD_BOOTS: usize = 2;

/// What the retained memory says about this boot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct BootRecord {
    pub(super) reset_cause: ResetCause,
    /// Consecutive crashes before this boot.
    pub(super) crashes: u32,
    /// Boots since the retained words were cleared.
    pub(super) boots: u32,
}

/// Reads the reset cause and updates the crash and boot counters in
/// retained memory: blank memory (anything without [`RETAINED_MAGIC`]) is
/// cleared, a crash adds one to the count, any other reset sets it to 0.
pub(super) fn count_boot(platform: &mut impl Platform) -> BootRecord {
    let reset_cause = platform.reset_cause();
    let memory = platform.retained_memory();
    if memory.words[WORD_MAGIC] != RETAINED_MAGIC {
        memory.words = [0; 8];
        memory.words[WORD_MAGIC] = RETAINED_MAGIC;
    }
    memory.words[WORD_CRASHES] = if reset_cause.is_crash() {
        memory.words[WORD_CRASHES].saturating_add(1)
    } else {
        0
    };
    memory.words[WORD_BOOTS] = memory.words[WORD_BOOTS].saturating_add(1);
    BootRecord {
        reset_cause,
        crashes: memory.words[WORD_CRASHES],
        boots: memory.words[WORD_BOOTS],
    }
}

impl<L: OutputPin, P: Platform> NodeManager<L, P> {
    pub(super) fn announce_boot(&mut self, context: &mut Context<'_>) {
        if self.boot_announced {
            return;
        }
        self.boot_announced = true;
        let (boots, cause, crashes) = (self.boots, self.reset_cause.as_str(), self.crashes);
        let mut version: String<32> = String::new();
        let _ = TruncatingWriter(&mut version).write_str(self.platform.firmware_version());
        self.log(
            context,
            LogLevel::Info,
            format_args!(
                "node-manager: boot {boots} since power-on, reset cause {cause}, firmware {version}"
            ),
        );
        if self.safe_mode {
            self.log(
                context,
                LogLevel::Warn,
                format_args!(
                    "node-manager: SAFE MODE after {crashes} consecutive crashes: only MQTT and commands run"
                ),
            );
        } else if crashes > 0 {
            self.log(
                context,
                LogLevel::Warn,
                format_args!("node-manager: {crashes} consecutive crashes before this boot"),
            );
        }
    }

    /// Once the app has run `healthy_after` (due at `healthy_at`), clears
    /// the crash counter, so that crashes far apart never add up to safe
    /// mode.
    pub(super) fn clear_crashes_when_healthy(
        &mut self,
        context: &mut Context<'_>,
        healthy_at: Instant,
    ) {
        if !self.healthy && context.now >= healthy_at {
            self.healthy = true;
            let memory = self.platform.retained_memory();
            let before = memory.words[WORD_CRASHES];
            memory.words[WORD_CRASHES] = 0;
            if before > 0 {
                self.log(
                    context,
                    LogLevel::Info,
                    format_args!(
                        "node-manager: healthy for {}s, crash counter cleared (was {before})",
                        self.config.healthy_after.as_secs()
                    ),
                );
            }
        }
    }
}
