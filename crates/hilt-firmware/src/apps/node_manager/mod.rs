//! node-manager, after MQBoard (the MicroPython MQTT micro-framework for
//! nodes managed from a distance): a board run from a distance over
//! its one MQTT connection, with everything under one `prefix`
//! (`esp32/test`).
//!
//! **Topics** (`<p>` is the prefix):
//!
//! | topic | direction | QoS | payload |
//! |---|---|---|---|
//! | `<p>/status` | out, retained | 1 | `{"state": "online", "safe_mode": false, "reset_cause": "power_on", "crashes": 0, "firmware_version": "0.1.0"}` after every connect; the last will is `{"state": "offline"}` (retained, QoS 1) |
//! | `<p>/log` | out | 0 | one log line per message, e.g. `I 11214 node-manager: connected, logging to esp32/test/log` |
//! | `<p>/sysinfo` | out | 0 | the sysinfo object below, every `sysinfo_interval` (60s) from boot |
//! | `<p>/crash` | out | 1 | the last crash, once after the next connect: `{"reason": "watchdog", "at_ms": 13000, "place": "main loop, after poll", "boot": 1}` |
//! | `<p>/mqb/cmd/<verb>/<id>` | in (`<p>/mqb/cmd/#`) | 1 | a command; levels after `<id>` are ignored (MQBoard puts a sequence number there) |
//! | `<p>/mqb/reply/<id>` | out | 1 | the command's JSON reply |
//! | `<p>/blinky/hz` | in | 0 | the blink rate, a number: `4`, `2.5`, `0` (off) |
//!
//! **Commands.** `ping` → `{"pong": true}`. `sysinfo` →
//! `{"uptime": 61, "free_bytes": 101424, "largest_free_block": 94752,
//! "reset_cause": "power_on", "firmware_version": "0.1.0", "safe_mode": false,
//! "crashes": 0, "boots": 1, "connects": 1, "log_lines_dropped": 0,
//! "settings_store": "ok"}`
//! (uptime in whole seconds since boot; memory from the platform; `crashes`
//! are the consecutive crashes before this boot, `boots` the boots since
//! power-on; `settings_store` what the settings store held at boot: `ok`,
//! `corrupt`, `unreadable`, or `none` without flash). `reboot` → `{"rebooting": true}`, then, once the broker has
//! acknowledged the reply (or after 2s without that), the app asks the
//! platform for a software reset; the will then marks the board offline.
//! `set` changes settings at run time, and on a board with flash
//! ([`NodeManager::with_flash`]) keeps them across resets and power cycles
//! (below), with the
//! payload either a JSON object `{"blinky_hz": 2.5, "log_level": "debug"}`
//! or one `key=value` (`blinky_hz=4`). Keys: `blinky_hz` (a number from 0
//! to [`MAX_BLINKY_HZ`]), `sysinfo_interval` (whole seconds, 0 = off, at
//! most a day; `30` or `30s`), `log_level` (`error`, `warn`, `info`,
//! `debug`). Every pair is checked before any is applied; the reply is
//! `{"ok": true, "blinky_hz": 2.5, "log_level": "debug"}` or
//! `{"error": "..."}`. Any other verb gets
//! `{"error": "unknown command 'xyz'"}`. A command topic without a verb or
//! an id, or with an id too long for a reply topic, is logged and ignored.
//!
//! **Remote log.** What the app logs ([`NodeManager::log`]) goes to the
//! device log and, if at least as important as `log_level` (`info`), to
//! `<p>/log` as `<E|W|I|D> <milliseconds since boot> <text>`, like MQBoard's
//! console. Lines wait in a buffer of [`LOG_BUFFER_LINES`] lines while the
//! board is offline (or the transmit buffer is full); when it is full the
//! oldest line is dropped and counted, and the next flush first publishes
//! `W <ms> node-manager: ... 5 log lines dropped while offline`. The buffer
//! is flushed, in order, after every connect. Lines of the MQTT session
//! itself stay in the device log.
//!
//! **Watchdog, crashes and safe mode.** At boot the app arms the watchdog
//! with `watchdog_timeout` (8s; zero: no watchdog) and feeds it on every
//! poll, and asks to be polled at least every half timeout. It keeps a
//! crash counter in the platform's retained memory, `words[0]` =
//! [`RETAINED_MAGIC`] (anything else means blank, e.g. after power-on, and
//! the words are cleared), `words[1]` = consecutive crashes, `words[2]` =
//! boots since the words were cleared. A boot after a crash (watchdog or
//! panic) adds one to the counter; any other reset cause sets it to 0.
//! With `safe_mode_after` (3; zero: never) or more consecutive crashes the
//! board boots into safe mode: only MQTT, the status, the remote log and
//! the command handler run (no blinky, no periodic sysinfo, the LED stays
//! dark; `set` still records values), and status and sysinfo say
//! `"safe_mode": true`. Once the app has run `healthy_after` (60s) since
//! boot without a reset, it sets the counter back to 0, so that crashes
//! far apart never add up to safe mode; a board in safe mode stays in it
//! until its next reset (e.g. a `reboot` command).
//!
//! With `watchdog_feed: mqtt` (MQBoard's way) the loop does not feed the
//! watchdog; a round trip through the broker does. Every quarter of
//! `watchdog_timeout` while connected the board publishes an empty QoS 0
//! message to its own command topic `<p>/mqb/cmd/ping/`[`WATCHDOG_ID`]; when
//! the broker hands it back (the board subscribes to `<p>/mqb/cmd/#`), the
//! board feeds the watchdog and sends no reply. A board that has lost the
//! broker, or whose network stack hangs while its loop runs on, is then
//! reset by the watchdog. Such a reset is not a crash: once round trips
//! are half a timeout overdue the app marks it in retained memory
//! (`words[3]` = [`BROKER_LOST_MARK`]), and the next boot leaves the crash
//! counter as it was and logs why it reset. The first round trip after
//! boot must come within `watchdog_timeout`, so choose a timeout longer
//! than joining the network and connecting take.
//!
//! **Settings that survive.** Each setting `set` applies is also written to
//! a sequential-storage map in the flash's settings partition
//! ([`crate::partitions::SETTINGS`]; the item format is in
//! `stored_settings.rs`). At boot, after the `config:` defaults and before
//! anything else, the stored ones replace them, and the first poll logs
//! `settings from flash: blinky_hz=4.0, log_level=debug`. A region that
//! holds garbage, or one a power cut left written but not yet marked as the
//! store's, means the defaults: the board logs (and publishes) `W ...
//! settings store corrupted; using the defaults and starting a new store`,
//! sysinfo says `"settings_store": "corrupt"`, and the region is erased so
//! the next `set` is kept. A power cut during a later write loses at most
//! that write (sequential-storage skips the torn item). The blink rate from
//! `<p>/blinky/hz` is not stored.
//!
//! **Crash log.** The boot after a watchdog reset or a panic publishes
//! the crash once on `<p>/crash` (QoS 1, not retained) after connecting:
//! `reason` (`watchdog` or `panic`), `at_ms` (milliseconds from the boot
//! that crashed to the crash: for a watchdog reset, its last feed plus
//! `watchdog_timeout`), `place` and `boot` (the number of the boot that
//! crashed, as `boots` counts). For a panic, `place` is the panic's
//! `file:line` when the platform recorded it ([`Platform::last_panic`]),
//! else, as for a watchdog reset, the app call the board was in: `in poll`,
//! `in on_message`, `in on_connected`, or `main loop, after poll` when it
//! was outside the app (the network stack, or a hang between polls); a
//! watchdog reset for a lost broker says `mqtt round trip (broker lost)`.
//! The record lives in retained memory (`words[4]`: the last feed,
//! `words[5..8]`: the activity and the pending crash; see `crash_log.rs`),
//! so a power cycle forgets it; it is cleared once the broker acknowledged
//! the message, and a reset before that publishes it again.
//!
//! **Blinky.** The LED toggles at `blinky_hz` (1 Hz: on 500ms, off 500ms),
//! starting lit at boot; a new rate restarts the pattern, lit, at once.
//! 0 turns it off (dark). The rate comes from `<p>/blinky/hz` or `set`;
//! anything that is not a number from 0 to [`MAX_BLINKY_HZ`] is logged and
//! ignored.

mod blinky;
mod commands;
mod crash_log;
#[cfg(test)]
mod crash_log_tests;
mod health;
mod ota;
mod remote_log;
mod settings;
mod status;
mod stored_settings;
#[cfg(test)]
mod stored_settings_tests;
#[cfg(test)]
mod tests;

use core::fmt::Write as _;

use embedded_hal::digital::OutputPin;
use embedded_storage::nor_flash::NorFlash;
use heapless::{String, Vec};

use self::commands::Reboot;
use self::crash_log::{Activity, CrashLog};
use self::health::BootRecord;
use self::remote_log::{FLUSH_RETRY, RemoteLog};
use self::stored_settings::SettingsState;
use crate::app::{App, Context, LogLevel, Message};
use crate::apps::json;
use crate::mqtt::codec::QoS;
use crate::mqtt::session::{MAX_TOPIC_LEN, SessionOptions, Will, truncated};
use crate::ota::NoFlash;
use crate::platform::{Platform, ResetCause};
use crate::time::{Duration, Instant};

pub use self::blinky::MAX_BLINKY_HZ;
pub use self::commands::MAX_SYSINFO_INTERVAL;
pub use self::crash_log::{WORD_CRASH, WORD_CRASH_AT, WORD_CRASH_BOOT, WORD_LAST_FEED};
pub use self::health::{
    BROKER_LOST_MARK, RETAINED_MAGIC, WATCHDOG_ID, WORD_BOOTS, WORD_BROKER_LOST, WORD_CRASHES,
    WORD_MAGIC,
};
pub use self::remote_log::LOG_BUFFER_LINES;
pub use self::settings::{DEFAULT_PREFIX, MAX_PREFIX_LEN, NodeManagerConfig, WatchdogFeed};
pub use self::stored_settings::{STORED_KEYS, SettingsStore, StoreError, StoredSetting, block_on};

/// The longest the app sleeps when nothing else is due.
const IDLE_POLL: Duration = Duration::from_secs(60);
/// Room for a reply, a status or a sysinfo payload (the session queues at
/// most 512 bytes of payload).
const PAYLOAD_LEN: usize = 512;
/// Characters of network text (verbs, keys, values) quoted back.
const QUOTED_CHARS: usize = 32;

/// The node-manager app; see the module documentation.
#[derive(Debug)]
pub struct NodeManager<L, P, F: NorFlash = NoFlash> {
    config: NodeManagerConfig,
    led: L,
    platform: P,
    boot: Instant,
    reset_cause: ResetCause,
    /// Consecutive crashes before this boot.
    crashes: u32,
    boots: u32,
    safe_mode: bool,
    /// The crash counter has been cleared after `healthy_after`.
    healthy: bool,
    /// This boot followed a watchdog reset for a lost broker.
    reset_for_lost_broker: bool,
    /// `watchdog_feed: mqtt`: when the last round trip came back (boot at
    /// first), when the next ping is due, and whether the lost broker has
    /// been marked in retained memory.
    last_round_trip: Instant,
    next_watchdog_ping_at: Instant,
    broker_lost_marked: bool,
    /// `<prefix>/mqb/cmd/ping/<WATCHDOG_ID>`.
    watchdog_topic: String<MAX_TOPIC_LEN>,
    boot_announced: bool,
    was_connected: bool,
    status_topic: String<MAX_TOPIC_LEN>,
    log_topic: String<MAX_TOPIC_LEN>,
    sysinfo_topic: String<MAX_TOPIC_LEN>,
    blinky_topic: String<MAX_TOPIC_LEN>,
    command_filter: String<MAX_TOPIC_LEN>,
    /// `<prefix>/mqb/cmd/`.
    command_prefix: String<MAX_TOPIC_LEN>,
    /// `<prefix>/mqb/reply/`.
    reply_prefix: String<MAX_TOPIC_LEN>,
    remote_log: RemoteLog,
    led_on: bool,
    led_failed: bool,
    next_toggle_at: Option<Instant>,
    next_sysinfo_at: Option<Instant>,
    reboot: Reboot,
    /// Firmware updates: the flash, the running image and its trial.
    updates: self::ota::Updates<F>,
    /// Settings kept in flash (none without flash), and what was in it at
    /// boot.
    settings_store: Option<stored_settings::SettingsStore<F>>,
    settings_state: SettingsState,
    crash_log: CrashLog,
}

impl<L: OutputPin, P: Platform> NodeManager<L, P, NoFlash> {
    /// A board without flash, booting at `boot`: `ota` is refused and
    /// nothing `set` changes is kept; see [`NodeManager::with_flash`].
    pub fn new(config: NodeManagerConfig, led: L, platform: P, boot: Instant) -> Self {
        NodeManager::boot(config, led, platform, NoFlash, false, boot)
    }
}

impl<L: OutputPin, P: Platform, F: NorFlash + Clone> NodeManager<L, P, F> {
    /// A board booting at `boot` on `flash`, the whole chip
    /// (`crate::partitions`): the settings kept in its `settings` partition
    /// are read over `config`; its OTA data and app slots give the running
    /// image (whose descriptor gives the firmware version), and updates go
    /// to the other slot. The settings store and the updates each use a
    /// handle of their own (`flash.clone()`) on their own partitions, as
    /// ESP-IDF's partition API does; a flash handle is cheap to clone.
    pub fn with_flash(
        config: NodeManagerConfig,
        led: L,
        platform: P,
        flash: F,
        boot: Instant,
    ) -> Self {
        NodeManager::boot(config, led, platform, flash, true, boot)
    }

    /// Reads the settings kept in flash (when `keeps_settings`), the reset
    /// cause, updates the crash counter and the crash log in retained
    /// memory, decides on safe mode, arms the watchdog and starts blinking
    /// (unless in safe mode).
    fn boot(
        mut config: NodeManagerConfig,
        led: L,
        mut platform: P,
        flash: F,
        keeps_settings: bool,
        boot: Instant,
    ) -> Self {
        let (settings_store, settings_state) =
            stored_settings::open(keeps_settings.then(|| flash.clone()), &mut config);
        let BootRecord {
            reset_cause,
            crashes,
            boots,
            reset_for_lost_broker,
        } = health::count_boot(&mut platform);
        let crash = crash_log::record_boot(
            &mut platform,
            reset_cause,
            reset_for_lost_broker,
            boots,
            config.watchdog_timeout,
        );
        let safe_mode = config.safe_mode_after > 0 && crashes >= config.safe_mode_after;
        if !config.watchdog_timeout.is_zero() {
            platform.start_watchdog(config.watchdog_timeout);
        }

        let topic = |suffix: &str| {
            let mut topic: String<MAX_TOPIC_LEN> = String::new();
            let _ = write!(topic, "{}/{suffix}", config.prefix);
            topic
        };
        let next_sysinfo_at = (!safe_mode && !config.sysinfo_interval.is_zero())
            .then(|| boot + config.sysinfo_interval);
        let crash_topic = topic("crash");
        let mut app = NodeManager {
            status_topic: topic("status"),
            log_topic: topic("log"),
            sysinfo_topic: topic("sysinfo"),
            blinky_topic: topic("blinky/hz"),
            command_filter: topic("mqb/cmd/#"),
            watchdog_topic: {
                let mut topic = topic("mqb/cmd/ping/");
                let _ = topic.push_str(WATCHDOG_ID);
                topic
            },
            command_prefix: topic("mqb/cmd/"),
            reply_prefix: topic("mqb/reply/"),
            config,
            led,
            platform,
            boot,
            reset_cause,
            crashes,
            boots,
            safe_mode,
            healthy: false,
            reset_for_lost_broker,
            last_round_trip: boot,
            next_watchdog_ping_at: boot,
            broker_lost_marked: false,
            boot_announced: false,
            was_connected: false,
            remote_log: RemoteLog::default(),
            led_on: false,
            led_failed: false,
            next_toggle_at: None,
            next_sysinfo_at,
            reboot: Reboot::None,
            updates: self::ota::Updates::at_boot(flash),
            settings_store,
            settings_state,
            crash_log: CrashLog::new(crash_topic, crash),
        };
        app.restart_blink(boot);
        app
    }

    pub fn config(&self) -> &NodeManagerConfig {
        &self.config
    }

    pub fn led(&self) -> &L {
        &self.led
    }

    pub fn platform(&self) -> &P {
        &self.platform
    }

    pub fn platform_mut(&mut self) -> &mut P {
        &mut self.platform
    }

    /// True when the board booted into safe mode.
    pub fn safe_mode(&self) -> bool {
        self.safe_mode
    }

    /// Consecutive crashes before this boot.
    pub fn crashes(&self) -> u32 {
        self.crashes
    }

    pub fn reset_cause(&self) -> ResetCause {
        self.reset_cause
    }

    /// The blink rate now, in Hz (0: off).
    pub fn blinky_hz(&self) -> f32 {
        self.config.blinky_hz
    }

    /// Log lines waiting to be published.
    pub fn log_lines_buffered(&self) -> usize {
        self.remote_log.lines.len()
    }

    /// Log lines dropped from the full buffer since boot.
    pub fn log_lines_dropped(&self) -> u32 {
        self.remote_log.dropped_total
    }

    /// `<prefix>/status`.
    pub fn status_topic(&self) -> &str {
        &self.status_topic
    }

    /// `<prefix>/log`.
    pub fn log_topic(&self) -> &str {
        &self.log_topic
    }

    /// `<prefix>/sysinfo`.
    pub fn sysinfo_topic(&self) -> &str {
        &self.sysinfo_topic
    }

    /// `<prefix>/blinky/hz`.
    pub fn blinky_topic(&self) -> &str {
        &self.blinky_topic
    }
}

impl<L: OutputPin, P: Platform, F: NorFlash> App for NodeManager<L, P, F> {
    fn session_options(&self) -> SessionOptions {
        let mut options = SessionOptions::new(&self.config.client_id);
        options.keep_alive = self.config.keep_alive;
        self.config.credentials.apply(&mut options);
        self.config.tls.apply(&mut options);
        options.will = Some(Will {
            topic: truncated(&self.status_topic),
            payload: Vec::from_slice(b"{\"state\": \"offline\"}").unwrap_or_default(),
            qos: QoS::AtLeastOnce,
            retain: true,
        });
        options
    }

    fn on_connected(&mut self, context: &mut Context<'_>) {
        self.enter(Activity::Connected);
        self.announce_boot(context);
        self.was_connected = true;
        let mut subscribed = context.subscribe(&self.command_filter, QoS::AtLeastOnce);
        if subscribed.is_ok() && !self.safe_mode {
            subscribed = context.subscribe(&self.blinky_topic, QoS::AtMostOnce);
        }
        if let Err(error) = subscribed {
            self.log(
                context,
                LogLevel::Error,
                format_args!("node-manager: cannot subscribe: {error}"),
            );
        }
        let status = self.status_payload();
        if let Err(error) = context.publish(
            &self.status_topic,
            status.as_bytes(),
            QoS::AtLeastOnce,
            true,
        ) {
            self.log(
                context,
                LogLevel::Warn,
                format_args!("node-manager: status not sent: {error}"),
            );
        }
        self.publish_crash(context);
        let log_topic = self.log_topic.clone();
        self.log(
            context,
            LogLevel::Info,
            format_args!("node-manager: connected, logging to {log_topic}"),
        );
    }

    fn on_message(&mut self, context: &mut Context<'_>, message: &Message<'_>) {
        self.enter(Activity::Message);
        if self.config.watchdog_feed == WatchdogFeed::Mqtt
            && message.topic == self.watchdog_topic.as_str()
        {
            self.on_round_trip(context.now);
            return;
        }
        if message.topic == self.blinky_topic.as_str() {
            if self.safe_mode {
                self.log(
                    context,
                    LogLevel::Info,
                    format_args!("node-manager: blinky rate ignored in safe mode"),
                );
            } else {
                self.on_blinky_rate(context, message.payload);
            }
            return;
        }
        if let Some(rest) = message.topic.strip_prefix(self.command_prefix.as_str()) {
            self.on_command(context, message.topic, rest, message.payload);
            return;
        }
        self.log(
            context,
            LogLevel::Debug,
            format_args!(
                "node-manager: ignored message on {}",
                json::shown(message.topic, 64)
            ),
        );
    }

    fn poll(&mut self, context: &mut Context<'_>) -> Instant {
        let now = context.now;
        self.enter(Activity::Poll);
        let watchdog = !self.config.watchdog_timeout.is_zero();
        let watchdog_ping_at = match self.config.watchdog_feed {
            _ if !watchdog => None,
            WatchdogFeed::Loop => {
                self.feed_watchdog(now);
                None
            }
            WatchdogFeed::Mqtt => Some(self.watchdog_round_trip(context)),
        };
        self.announce_boot(context);

        if self.was_connected && !context.mqtt.is_connected() {
            self.was_connected = false;
            self.log(
                context,
                LogLevel::Warn,
                format_args!("node-manager: MQTT connection lost; buffering the log"),
            );
        }

        let healthy_at = self.boot + self.config.healthy_after;
        self.clear_crashes_when_healthy(context, healthy_at);
        self.clear_crash_when_acknowledged(context);

        self.blink(now);
        if core::mem::take(&mut self.led_failed) {
            self.log(
                context,
                LogLevel::Error,
                format_args!("node-manager: LED pin failed"),
            );
        }
        self.periodic_sysinfo(context);
        let trial_deadline = self.run_trial(context);

        if let Reboot::Pending { deadline } = self.reboot
            && (context.mqtt.queued_messages() == 0 || now >= deadline)
        {
            self.log(
                context,
                LogLevel::Warn,
                format_args!("node-manager: resetting now"),
            );
            // A commanded reboot is a clean one: the last log lines go out,
            // then DISCONNECT, so the broker discards the will instead of
            // announcing the board offline.
            self.flush_log(context);
            context.mqtt.disconnect();
            self.reboot = Reboot::Requested;
            self.note_reset_by_app();
            self.platform.request_reset();
        }

        self.flush_log(context);

        let mut next = now + IDLE_POLL;
        if watchdog {
            next = next.min(now + self.config.watchdog_timeout / 2);
        }
        for deadline in [
            self.next_toggle_at,
            self.next_sysinfo_at,
            (!self.healthy).then_some(healthy_at),
            trial_deadline,
            watchdog_ping_at,
            match self.reboot {
                Reboot::Pending { deadline } => Some(deadline),
                _ => None,
            },
            (self.remote_log.blocked && context.mqtt.is_connected()).then(|| now + FLUSH_RETRY),
        ]
        .into_iter()
        .flatten()
        {
            next = next.min(deadline);
        }
        self.leave();
        next
    }
}
