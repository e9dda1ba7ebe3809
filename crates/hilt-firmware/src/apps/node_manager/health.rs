//! Watchdog, crashes and safe mode: a crash counter kept in the platform's
//! retained memory across resets, safe mode after `safe_mode_after`
//! crashes in a row, and the counter cleared after `healthy_after` of
//! uptime.

use core::fmt::Write as _;

use embedded_hal::digital::OutputPin;
use embedded_storage::nor_flash::NorFlash;
use heapless::String;

use super::NodeManager;
use crate::app::TruncatingWriter;
use crate::app::{Context, LogLevel};
use crate::mqtt::codec::QoS;
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
/// Index of the word that says the MQTT round trip had stopped before the
/// reset: [`BROKER_LOST_MARK`] there means a watchdog reset that follows
/// was the broker's absence, not the firmware's failure.
pub const WORD_BROKER_LOST: usize = 3;
/// The value of [`WORD_BROKER_LOST`] while round trips are overdue.
pub const BROKER_LOST_MARK: u32 = 0x4C4F_5354; // "LOST"

/// The command id of the watchdog's own round trip, MQBoard's.
pub const WATCHDOG_ID: &str = "0F00D";

/// What the retained memory says about this boot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct BootRecord {
    pub(super) reset_cause: ResetCause,
    /// Consecutive crashes before this boot.
    pub(super) crashes: u32,
    /// Boots since the retained words were cleared.
    pub(super) boots: u32,
    /// A watchdog reset while the MQTT round trip had stopped
    /// (`watchdog_feed: mqtt`): the board lost the broker, and the reset
    /// was not counted as a crash.
    pub(super) reset_for_lost_broker: bool,
}

/// Reads the reset cause and updates the crash and boot counters in
/// retained memory: blank memory (anything without [`RETAINED_MAGIC`]) is
/// cleared, a crash adds one to the count, any other reset sets it to 0.
/// A watchdog reset after the MQTT round trip had stopped leaves the count
/// as it was: safe mode is for firmware that fails, and a broker outage
/// must not send a fleet of healthy boards into it.
pub(super) fn count_boot(platform: &mut impl Platform) -> BootRecord {
    let reset_cause = platform.reset_cause();
    let memory = platform.retained_memory();
    if memory.words[WORD_MAGIC] != RETAINED_MAGIC {
        memory.words = [0; 8];
        memory.words[WORD_MAGIC] = RETAINED_MAGIC;
    }
    let reset_for_lost_broker =
        reset_cause == ResetCause::Watchdog && memory.words[WORD_BROKER_LOST] == BROKER_LOST_MARK;
    memory.words[WORD_BROKER_LOST] = 0;
    memory.words[WORD_CRASHES] = if reset_for_lost_broker {
        memory.words[WORD_CRASHES]
    } else if reset_cause.is_crash() {
        memory.words[WORD_CRASHES].saturating_add(1)
    } else {
        0
    };
    memory.words[WORD_BOOTS] = memory.words[WORD_BOOTS].saturating_add(1);
    BootRecord {
        reset_cause,
        crashes: memory.words[WORD_CRASHES],
        boots: memory.words[WORD_BOOTS],
        reset_for_lost_broker,
    }
}

impl<L: OutputPin, P: Platform, F: NorFlash> NodeManager<L, P, F> {
    pub(super) fn announce_boot(&mut self, context: &mut Context<'_>) {
        if self.boot_announced {
            return;
        }
        self.boot_announced = true;
        let (boots, cause, crashes) = (self.boots, self.reset_cause.as_str(), self.crashes);
        let mut version: String<32> = String::new();
        let _ = TruncatingWriter(&mut version).write_str(self.firmware_version());
        self.log(
            context,
            LogLevel::Info,
            format_args!(
                "node-manager: boot {boots} since power-on, reset cause {cause}, firmware {version}"
            ),
        );
        self.announce_stored_settings(context);
        if self.reset_for_lost_broker {
            self.log(
                context,
                LogLevel::Warn,
                format_args!(
                    "node-manager: the watchdog reset the board after its MQTT round trip stopped; not counted as a crash"
                ),
            );
        }
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

    /// `watchdog_feed: mqtt`: sends the next ping through the broker when
    /// it is due, and marks a lost broker in retained memory once round
    /// trips are half a timeout overdue. Returns when to run again.
    pub(super) fn watchdog_round_trip(&mut self, context: &mut Context<'_>) -> Instant {
        let now = context.now;
        let timeout = self.config.watchdog_timeout;
        let ping_every = timeout / 4;
        if context.mqtt.is_connected() && now >= self.next_watchdog_ping_at {
            // QoS 0: a lost ping, or one the full transmit buffer refused,
            // is only a missed feed, and the next one follows a quarter
            // timeout later.
            let _ = context.publish(&self.watchdog_topic, b"", QoS::AtMostOnce, false);
            self.next_watchdog_ping_at = now + ping_every;
        }
        let overdue_at = self.last_round_trip + timeout / 2;
        if !self.broker_lost_marked && now >= overdue_at {
            self.broker_lost_marked = true;
            self.platform.retained_memory().words[WORD_BROKER_LOST] = BROKER_LOST_MARK;
        }
        let mut next = if context.mqtt.is_connected() {
            self.next_watchdog_ping_at.max(now)
        } else {
            now + ping_every
        };
        if !self.broker_lost_marked {
            next = next.min(overdue_at);
        }
        next
    }

    /// The watchdog's ping came back through the broker: the board and its
    /// link both work.
    pub(super) fn on_round_trip(&mut self, now: Instant) {
        self.feed_watchdog(now);
        self.last_round_trip = now;
        if core::mem::take(&mut self.broker_lost_marked) {
            self.platform.retained_memory().words[WORD_BROKER_LOST] = 0;
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
