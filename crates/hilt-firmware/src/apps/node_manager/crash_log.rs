//! The crash log: the reason, time and place of the last watchdog reset or
//! panic, kept in retained memory across resets, published once on
//! `<prefix>/crash` after the next connect and cleared once the broker has
//! acknowledged it.
//!
//! While the app runs it keeps two things in retained memory, so that the
//! boot after a crash can say where the old one was: when it last fed the
//! watchdog ([`WORD_LAST_FEED`], milliseconds since boot), and the last app
//! call it entered (`poll`, `on_message`, `on_connected`) with whether that
//! poll had returned (the low byte of [`WORD_CRASH`]). The boot after a
//! watchdog reset or a panic turns them into a pending record: the reason
//! and the place in the second and third bytes of [`WORD_CRASH`], the time
//! in [`WORD_CRASH_AT`] and the boot that crashed in [`WORD_CRASH_BOOT`].
//! Any other reset leaves a pending record as it is, so a board that
//! resets before the broker acknowledged the message publishes it again.
//! A power cycle clears retained memory, and the record with it.

use core::fmt::Write as _;

use embedded_hal::digital::OutputPin;
use embedded_storage::nor_flash::NorFlash;
use heapless::String;

use super::{NodeManager, PAYLOAD_LEN};
use crate::app::{Context, LogLevel};
use crate::apps::json;
use crate::mqtt::codec::QoS;
use crate::mqtt::session::MAX_TOPIC_LEN;
use crate::platform::{PANIC_PLACE_LEN, Platform, ResetCause};
use crate::time::{Duration, Instant};

/// Index of the word holding when the watchdog was last fed, in
/// milliseconds since boot.
pub const WORD_LAST_FEED: usize = 4;
/// Index of the word holding the current activity (low byte) and the
/// pending crash's reason (second byte: 1 watchdog, 2 panic, 0 none) and
/// place (third byte, an activity).
pub const WORD_CRASH: usize = 5;
/// Index of the word holding the pending crash's time, in milliseconds
/// from the boot that crashed.
pub const WORD_CRASH_AT: usize = 6;
/// Index of the word holding the number of the boot that crashed (as
/// `boots` counts them).
pub const WORD_CRASH_BOOT: usize = 7;

const REASON_WATCHDOG: u32 = 1;
const REASON_PANIC: u32 = 2;

/// The app call the board was in (or had last returned from), one byte.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Activity {
    Poll = 1,
    Message = 2,
    Connected = 3,
}

/// Set on the activity byte once the poll returned: the board was in the
/// main loop (the network stack, or waiting), outside the app.
const RETURNED: u32 = 0x80;
/// The activity byte after the app asked for a reset (a reboot, or an
/// update to boot): its boot ended cleanly. A watchdog reset or a panic
/// reported at the next run of the app then happened in a boot that never
/// reached the app (an image stuck or panicking at boot), not in this one.
const RESET_BY_APP: u32 = 0x20;
/// The place of a watchdog reset after the MQTT round trip had stopped.
const BROKER_LOST: u32 = 0x40;

/// What a place byte means, as the `place` of the crash message.
fn place_text(place: u32) -> &'static str {
    match place {
        BROKER_LOST => "mqtt round trip (broker lost)",
        RESET_BY_APP => "at boot, before the app ran",
        1 => "in poll",
        2 => "in on_message",
        3 => "in on_connected",
        0x81 => "main loop, after poll",
        0x82 => "main loop, after on_message",
        0x83 => "main loop, after on_connected",
        _ => "unknown",
    }
}

/// A crash waiting to be published.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct CrashRecord {
    pub(super) reason: ResetCause,
    pub(super) at_ms: u32,
    pub(super) place: String<PANIC_PLACE_LEN>,
    pub(super) boot: u32,
}

/// What the crash log does this boot.
#[derive(Debug)]
pub(super) struct CrashLog {
    /// `<prefix>/crash`.
    topic: String<MAX_TOPIC_LEN>,
    /// The crash to publish, from retained memory.
    pending: Option<CrashRecord>,
    /// Published; cleared once the broker acknowledged it.
    sent: bool,
}

impl CrashLog {
    pub(super) fn new(topic: String<MAX_TOPIC_LEN>, pending: Option<CrashRecord>) -> Self {
        CrashLog {
            topic,
            pending,
            sent: false,
        }
    }
}

fn millis(duration: Duration) -> u32 {
    u32::try_from(duration.as_millis()).unwrap_or(u32::MAX)
}

/// At boot, after the crash counter was updated: turns a watchdog reset or
/// a panic into a pending record, keeps an older pending record through
/// any other reset, and returns the pending record, if any. `boots` counts
/// this boot; `watchdog_timeout` is the one the crashed boot armed (the
/// settings that set it are the same every boot).
pub(super) fn record_boot(
    platform: &mut impl Platform,
    reset_cause: ResetCause,
    reset_for_lost_broker: bool,
    boots: u32,
    watchdog_timeout: Duration,
) -> Option<CrashRecord> {
    let panic = platform.last_panic();
    let memory = platform.retained_memory();
    let activity = memory.words[WORD_CRASH] & 0xFF;
    // The boot that crashed never ran the app: it neither fed the watchdog
    // nor counted itself, so it had the number this boot now has.
    let never_ran_the_app = activity & !RETURNED == RESET_BY_APP;
    let (activity, last_feed, crashed_boot) = if never_ran_the_app {
        (RESET_BY_APP, 0, boots)
    } else {
        (
            activity,
            memory.words[WORD_LAST_FEED],
            boots.saturating_sub(1),
        )
    };
    let crash = match reset_cause {
        ResetCause::Watchdog => Some((
            REASON_WATCHDOG,
            last_feed.saturating_add(millis(watchdog_timeout)),
            if reset_for_lost_broker {
                BROKER_LOST
            } else {
                activity
            },
        )),
        ResetCause::Panic => Some((
            REASON_PANIC,
            panic.as_ref().map_or(last_feed, |panic| panic.at_ms),
            activity,
        )),
        _ => None,
    };
    if let Some((reason, at_ms, place)) = crash {
        memory.words[WORD_CRASH] = (reason << 8) | (place << 16);
        memory.words[WORD_CRASH_AT] = at_ms;
        memory.words[WORD_CRASH_BOOT] = crashed_boot;
    } else {
        memory.words[WORD_CRASH] &= !0xFF;
    }
    memory.words[WORD_LAST_FEED] = 0;

    let word = memory.words[WORD_CRASH];
    let reason = match (word >> 8) & 0xFF {
        REASON_WATCHDOG => ResetCause::Watchdog,
        REASON_PANIC => ResetCause::Panic,
        _ => return None,
    };
    let mut place = String::new();
    match (reason, panic) {
        (ResetCause::Panic, Some(panic)) => place = panic.place,
        _ => {
            let _ = place.push_str(place_text((word >> 16) & 0xFF));
        }
    }
    Some(CrashRecord {
        reason,
        at_ms: memory.words[WORD_CRASH_AT],
        place,
        boot: memory.words[WORD_CRASH_BOOT],
    })
}

impl<L: OutputPin, P: Platform, F: NorFlash> NodeManager<L, P, F> {
    /// Feeds the watchdog and notes when, for the crash log.
    pub(super) fn feed_watchdog(&mut self, now: Instant) {
        self.platform.feed_watchdog();
        self.platform.retained_memory().words[WORD_LAST_FEED] =
            millis(now.saturating_since(self.boot));
    }

    /// Notes the app call the board is entering, for the crash log.
    pub(super) fn enter(&mut self, activity: Activity) {
        let word = &mut self.platform.retained_memory().words[WORD_CRASH];
        *word = (*word & !0xFF) | activity as u32;
    }

    /// Notes that the app asked for a reset: this boot ends cleanly.
    pub(super) fn note_reset_by_app(&mut self) {
        let word = &mut self.platform.retained_memory().words[WORD_CRASH];
        *word = (*word & !0xFF) | RESET_BY_APP;
    }

    /// Notes that the poll returned: the board is back in the main loop.
    pub(super) fn leave(&mut self) {
        self.platform.retained_memory().words[WORD_CRASH] |= RETURNED;
    }

    /// After a connect: publishes the pending crash once (QoS 1; the
    /// session sends it again after a reconnect until it is acknowledged).
    pub(super) fn publish_crash(&mut self, context: &mut Context<'_>) {
        if self.crash_log.sent {
            return;
        }
        let Some(crash) = &self.crash_log.pending else {
            return;
        };
        let mut payload: String<PAYLOAD_LEN> = String::new();
        let _ = write!(
            payload,
            "{{\"reason\": \"{}\", \"at_ms\": {}, \"place\": ",
            crash.reason.as_str(),
            crash.at_ms
        );
        let _ = json::write_string(&mut payload, json::shown(&crash.place, PANIC_PLACE_LEN));
        let _ = write!(payload, ", \"boot\": {}}}", crash.boot);
        match context.publish(
            &self.crash_log.topic,
            payload.as_bytes(),
            QoS::AtLeastOnce,
            false,
        ) {
            Ok(()) => self.crash_log.sent = true,
            Err(error) => self.log(
                context,
                LogLevel::Warn,
                format_args!(
                    "node-manager: crash report not sent: {error}; trying again at the next connect"
                ),
            ),
        }
    }

    /// Clears the crash record once the broker acknowledged its message.
    pub(super) fn clear_crash_when_acknowledged(&mut self, context: &mut Context<'_>) {
        if !self.crash_log.sent || self.crash_log.pending.is_none() {
            return;
        }
        if context.mqtt.awaits_acknowledgement(&self.crash_log.topic) {
            return;
        }
        self.crash_log.pending = None;
        self.platform.retained_memory().words[WORD_CRASH] &= 0xFF;
        self.platform.clear_last_panic();
        self.log(
            context,
            LogLevel::Debug,
            format_args!("node-manager: crash report acknowledged; crash log cleared"),
        );
    }
}
