//! The record of a run: every message routed, every part and pin change,
//! every firmware log line, each with its device time.
//!
//! Only device time appears here, never wall time, so two runs of the same
//! file produce the same transcript byte for byte.

use std::fmt::Write as _;
use std::io::Write as _;

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

/// Where a run's transcript goes as the run goes (see
/// [`Recording`](crate::Recording)).
pub enum TranscriptOutput {
    /// Nowhere: no failure report shows the transcript, so a run that
    /// nobody reads the transcript of keeps none of it.
    Discard,
    /// Into [`RunOutcome::transcript`](crate::RunOutcome::transcript), whole.
    Memory,
    /// To a writer, line by line as it happens (buffered), so that a long
    /// run's transcript never has to fit in memory.
    Writer(Box<dyn std::io::Write>),
}

impl std::fmt::Debug for TranscriptOutput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            TranscriptOutput::Discard => "Discard",
            TranscriptOutput::Memory => "Memory",
            TranscriptOutput::Writer(_) => "Writer(..)",
        })
    }
}

/// The transcript as the world writes it: kept, written, or neither.
pub(crate) struct TranscriptSink {
    kept: Option<Transcript>,
    writer: Option<std::io::BufWriter<Box<dyn std::io::Write>>>,
    /// The first write that failed; nothing is written after it.
    error: Option<std::io::Error>,
}

impl Default for TranscriptSink {
    /// Kept in memory until the run says where it goes
    /// ([`TranscriptSink::send_to`]).
    fn default() -> Self {
        TranscriptSink {
            kept: Some(Transcript::default()),
            writer: None,
            error: None,
        }
    }
}

impl TranscriptSink {
    /// From now on the transcript goes to `output`; what was recorded so
    /// far goes there first.
    pub(crate) fn send_to(&mut self, output: TranscriptOutput) {
        let so_far = self.kept.take().unwrap_or_default();
        match output {
            TranscriptOutput::Discard => {}
            TranscriptOutput::Memory => self.kept = Some(so_far),
            TranscriptOutput::Writer(writer) => {
                self.writer = Some(std::io::BufWriter::new(writer));
                for line in so_far.lines {
                    self.write_line(&line);
                }
            }
        }
    }

    fn wanted(&self) -> bool {
        self.kept.is_some() || self.writer.is_some()
    }

    fn record(&mut self, line: String) {
        self.write_line(&line);
        if let Some(kept) = &mut self.kept {
            kept.lines.push(line);
        }
    }

    fn write_line(&mut self, line: &str) {
        if self.error.is_some() {
            return;
        }
        if let Some(writer) = &mut self.writer
            && let Err(error) = writer
                .write_all(line.as_bytes())
                .and_then(|()| writer.write_all(b"\n"))
        {
            self.error = Some(error);
        }
    }

    /// Adds a line at device time `at`.
    pub(crate) fn push(&mut self, at: Instant, what: impl std::fmt::Display) {
        // Formatting is most of the cost of a line; skip it when the line
        // goes nowhere.
        if !self.wanted() {
            return;
        }
        let mut line = format_time(at);
        let _ = write!(line, " {what}");
        self.record(line);
    }

    /// A step header, not timed: `--- line 12: wait 2s`.
    pub(crate) fn step(&mut self, at: Instant, line: usize, description: &str) {
        if !self.wanted() {
            return;
        }
        self.record(format!(
            "{} --- line {line}: {description}",
            format_time(at)
        ));
    }

    /// Flushes the writer; the transcript kept in memory (empty unless it
    /// was asked for) and the first error writing it.
    pub(crate) fn finish(&mut self) -> (Transcript, Option<std::io::Error>) {
        if let Some(mut writer) = self.writer.take()
            && self.error.is_none()
            && let Err(error) = writer.flush()
        {
            self.error = Some(error);
        }
        (self.kept.take().unwrap_or_default(), self.error.take())
    }
}
