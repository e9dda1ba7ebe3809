//! The record of a run: every message routed, every part and pin change,
//! every firmware log line, each with its device time.
//!
//! Only device time appears here, never wall time, so two runs of the same
//! file produce the same transcript byte for byte.

use std::fmt::Write as _;

use hilt_firmware::time::Instant;

/// A message as published (by a device, the harness, or the broker on a
/// device's behalf), with its true QoS and retain flag as sent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoggedMessage {
    /// The device time it was published at.
    pub at: Instant,
    /// Device name, `harness`, or `broker`.
    pub source: String,
    /// Its topic.
    pub topic: String,
    /// Its payload, as bytes.
    pub payload: Vec<u8>,
    /// The QoS it was published with, 0 to 2.
    pub qos: u8,
    /// Whether it was published retained.
    pub retain: bool,
}

impl LoggedMessage {
    /// One line: `12.500000s  blue -> blue/btn/0 qos0 "1"`.
    pub fn describe(&self) -> String {
        let retain = if self.retain { " retain" } else { "" };
        format!(
            "{} {} -> {} qos{}{} {}",
            format_time(self.at),
            self.source,
            self.topic,
            self.qos,
            retain,
            quote_payload(&self.payload)
        )
    }
}

/// Device time as `SSSSS.ffffffs`, padded so columns line up.
pub fn format_time(at: Instant) -> String {
    format!("{:>13}", at.to_string())
}

/// How a payload is shown, here and in step descriptions and failure
/// reports (one definition, in the scenario crate's `describe`).
pub use hilt_scenario::describe::quote_payload;

/// The lines of a run, in the order they happened.
#[derive(Clone, Debug, Default)]
pub struct Transcript {
    lines: Vec<String>,
}

impl Transcript {
    /// Adds a line at device time `at`.
    pub(crate) fn push(&mut self, at: Instant, what: impl std::fmt::Display) {
        let mut line = format_time(at);
        let _ = write!(line, " {what}");
        self.lines.push(line);
    }

    /// A step header, not timed: `--- line 12: wait 2s`.
    pub(crate) fn step(&mut self, at: Instant, line: usize, description: &str) {
        self.lines.push(format!(
            "{} --- line {line}: {description}",
            format_time(at)
        ));
    }

    /// Every line, each starting with its device time.
    pub fn lines(&self) -> &[String] {
        &self.lines
    }

    /// The whole transcript as text, one line per entry.
    pub fn render(&self) -> String {
        let mut text = String::new();
        for line in &self.lines {
            text.push_str(line);
            text.push('\n');
        }
        text
    }
}
