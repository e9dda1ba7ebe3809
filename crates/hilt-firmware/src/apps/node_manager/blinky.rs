//! Blinky: the LED toggles at `blinky_hz`, a rate `<prefix>/blinky/hz` and
//! the `set` command change.

use embedded_hal::digital::OutputPin;
use embedded_storage_async::nor_flash::NorFlash;

use super::{NodeManager, QUOTED_CHARS};
use crate::app::{Context, LogLevel};
use crate::apps::json;
use crate::platform::Platform;
use crate::time::{Duration, Instant};

/// The fastest blink rate accepted (10ms on, 10ms off).
pub const MAX_BLINKY_HZ: f32 = 50.0;

/// Half a blink period, or `None` for a rate that means "off" (0, or
/// anything that is not a usable rate).
fn half_period(hz: f32) -> Option<Duration> {
    if !(hz.is_finite() && hz > 0.0) {
        return None;
    }
    let micros = 500_000.0 / hz.min(MAX_BLINKY_HZ);
    // `as` saturates; a rate within bounds gives at least 10ms.
    Some(Duration::from_micros((micros as u64).max(1)))
}

/// A blink rate from text: a number from 0 to [`MAX_BLINKY_HZ`].
pub(super) fn parse_blinky_hz(text: &str) -> Option<f32> {
    json::parse_finite_f32(json::unquoted(text)).filter(|hz| (0.0..=MAX_BLINKY_HZ).contains(hz))
}

impl<L: OutputPin, P: Platform, F: NorFlash> NodeManager<L, P, F> {
    fn set_led(&mut self, on: bool) {
        self.led_on = on;
        let result = if on {
            self.led.set_high()
        } else {
            self.led.set_low()
        };
        // Logged (once) at the next poll; a blink must not spam the log.
        if result.is_err() {
            self.led_failed = true;
        }
    }

    /// Starts the blink pattern for the configured rate, lit, at `now`.
    pub(super) fn restart_blink(&mut self, now: Instant) {
        match half_period(self.config.blinky_hz).filter(|_| !self.safe_mode) {
            Some(half) => {
                self.set_led(true);
                self.next_toggle_at = Some(now + half);
            }
            None => {
                self.set_led(false);
                self.next_toggle_at = None;
            }
        }
    }

    pub(super) fn set_blinky_hz(&mut self, context: &mut Context<'_>, hz: f32) {
        self.config.blinky_hz = hz;
        if self.safe_mode {
            self.log(
                context,
                LogLevel::Info,
                format_args!(
                    "node-manager: blinky rate {hz} Hz recorded; the LED stays dark in safe mode"
                ),
            );
            return;
        }
        self.restart_blink(context.now);
        self.log(
            context,
            LogLevel::Info,
            format_args!("node-manager: blinky at {hz} Hz"),
        );
    }

    pub(super) fn on_blinky_rate(&mut self, context: &mut Context<'_>, payload: &[u8]) {
        match core::str::from_utf8(payload).ok().and_then(parse_blinky_hz) {
            Some(hz) => self.set_blinky_hz(context, hz),
            None => self.log(
                context,
                LogLevel::Warn,
                format_args!(
                    "node-manager: ignored blinky rate {:?} ({} bytes): want a number from 0 to {MAX_BLINKY_HZ}",
                    json::shown_bytes(payload, QUOTED_CHARS),
                    payload.len()
                ),
            ),
        }
    }

    pub(super) fn blink(&mut self, now: Instant) {
        let (Some(at), Some(half)) = (self.next_toggle_at, half_period(self.config.blinky_hz))
        else {
            return;
        };
        if now < at {
            return;
        }
        self.set_led(!self.led_on);
        let mut next = at;
        while next <= now {
            next = next + half;
        }
        self.next_toggle_at = Some(next);
    }
}
