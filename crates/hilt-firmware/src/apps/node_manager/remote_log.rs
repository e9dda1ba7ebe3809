//! The remote log: what the app logs goes to the device log and, if
//! important enough, to `<prefix>/log`, buffered while the board is offline.

use core::fmt::{self, Write as _};

use embedded_hal::digital::OutputPin;
use embedded_storage_async::nor_flash::NorFlash;
use heapless::{Deque, String};

use super::NodeManager;
use crate::app::TruncatingWriter;
use crate::app::{Context, LOG_LINE_LEN, LogLevel};
use crate::mqtt::codec::QoS;
use crate::platform::Platform;
use crate::time::Duration;

/// Remote log lines kept while offline; older lines are dropped and counted.
pub const LOG_BUFFER_LINES: usize = 16;
/// How soon to try again when the transmit buffer had no room for the log.
pub(super) const FLUSH_RETRY: Duration = Duration::from_millis(10);

/// The remote log's buffer; see the module documentation.
#[derive(Debug, Default)]
pub(super) struct RemoteLog {
    pub(super) lines: Deque<String<LOG_LINE_LEN>, LOG_BUFFER_LINES>,
    /// Dropped since the last notice was published.
    pub(super) dropped: u32,
    /// Dropped since boot.
    pub(super) dropped_total: u32,
    /// The last flush stopped on a full transmit buffer.
    pub(super) blocked: bool,
}

impl RemoteLog {
    pub(super) fn push(&mut self, line: String<LOG_LINE_LEN>) {
        if self.lines.is_full() {
            self.lines.pop_front();
            self.dropped = self.dropped.saturating_add(1);
            self.dropped_total = self.dropped_total.saturating_add(1);
        }
        let _ = self.lines.push_back(line);
    }
}

fn level_letter(level: LogLevel) -> char {
    match level {
        LogLevel::Error => 'E',
        LogLevel::Warn => 'W',
        LogLevel::Info => 'I',
        LogLevel::Debug => 'D',
    }
}

impl<L: OutputPin, P: Platform, F: NorFlash> NodeManager<L, P, F> {
    /// Writes a line to the device log and, if `level` is at least as
    /// important as `log_level`, to the remote log.
    pub fn log(
        &mut self,
        context: &mut Context<'_>,
        level: LogLevel,
        arguments: fmt::Arguments<'_>,
    ) {
        context.log(level, arguments);
        if level <= self.config.log_level {
            // The backlog first, so a new line never pushes out an old one
            // that could be sent now.
            self.flush_log(context);
            let mut line = String::new();
            let millis = context.now.saturating_since(self.boot).as_millis();
            let _ = write!(
                TruncatingWriter(&mut line),
                "{} {millis} {arguments}",
                level_letter(level)
            );
            self.remote_log.push(line);
        }
        self.flush_log(context);
    }

    /// Publishes the buffered log, oldest first, as far as the link allows.
    pub(super) fn flush_log(&mut self, context: &mut Context<'_>) {
        self.remote_log.blocked = false;
        if !context.mqtt.is_connected() {
            return;
        }
        if self.remote_log.dropped > 0 {
            let dropped = self.remote_log.dropped;
            let mut notice: String<LOG_LINE_LEN> = String::new();
            let _ = write!(
                notice,
                "W {} node-manager: ... {dropped} log line{} dropped while offline",
                context.now.saturating_since(self.boot).as_millis(),
                if dropped == 1 { "" } else { "s" }
            );
            if context
                .publish(&self.log_topic, notice.as_bytes(), QoS::AtMostOnce, false)
                .is_err()
            {
                self.remote_log.blocked = true;
                return;
            }
            self.remote_log.dropped = 0;
        }
        while let Some(line) = self.remote_log.lines.front() {
            if context
                .publish(&self.log_topic, line.as_bytes(), QoS::AtMostOnce, false)
                .is_err()
            {
                self.remote_log.blocked = true;
                return;
            }
            self.remote_log.lines.pop_front();
        }
    }
}
