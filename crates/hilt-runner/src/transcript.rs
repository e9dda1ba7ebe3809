//! The record of a run: every message routed, every part and pin change,
//! every firmware log line, each with its device time.
//!
//! Only device time appears here, never wall time, so two runs of the same
//! file produce the same transcript byte for byte.

use std::fmt::Write as _;
use std::io::Write as _;

use hilt_firmware::time::Instant;
use hilt_scenario::PartValue;

use crate::events::{EventOutput, EventSink, RunEvent};

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
        format!("{} {}", format_time(self.at), self.describe_without_time())
    }

    /// The line without its time: `blue -> blue/btn/0 qos0 "1"`.
    fn describe_without_time(&self) -> String {
        let retain = if self.retain { " retain" } else { "" };
        format!(
            "{} -> {} qos{}{} {}",
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

/// The transcript as the world writes it: kept, written, or neither; and
/// the same facts as [`RunEvent`]s to an [`EventSink`], if there is one.
pub(crate) struct TranscriptSink {
    kept: Option<Transcript>,
    writer: Option<std::io::BufWriter<Box<dyn std::io::Write>>>,
    /// The first write that failed; nothing is written after it.
    error: Option<std::io::Error>,
    events: Option<Box<dyn EventSink>>,
    /// The part values set before the run said where events go (a
    /// device's starting `parts:`), sent first when it does; `None` once
    /// it has said.
    early_part_values: Option<Vec<EarlyPartValue>>,
    /// The first event the sink refused; none is sent after it.
    events_error: Option<std::io::Error>,
}

/// A part value set before the event sink was known.
struct EarlyPartValue {
    at: Instant,
    device: String,
    part: String,
    value: PartValue,
}

impl Default for TranscriptSink {
    /// Kept in memory until the run says where it goes
    /// ([`TranscriptSink::send_to`], [`TranscriptSink::send_events_to`]).
    fn default() -> Self {
        TranscriptSink {
            kept: Some(Transcript::default()),
            writer: None,
            error: None,
            events: None,
            early_part_values: Some(Vec::new()),
            events_error: None,
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

    /// From now on the events go to `output`; the part values set so far
    /// go there first.
    pub(crate) fn send_events_to(&mut self, output: EventOutput) {
        let early = self.early_part_values.take().unwrap_or_default();
        if let EventOutput::Sink(sink) = output {
            self.events = Some(sink);
            for set in early {
                self.emit(&RunEvent::PartValue {
                    at: set.at,
                    device: &set.device,
                    part: &set.part,
                    value: &set.value,
                });
            }
        }
    }

    fn wanted(&self) -> bool {
        self.kept.is_some() || self.writer.is_some() || self.events.is_some()
    }

    fn emit(&mut self, event: &RunEvent<'_>) {
        if self.events_error.is_some() {
            return;
        }
        if let Some(sink) = &mut self.events
            && let Err(error) = sink.event(event)
        {
            self.events_error = Some(error);
        }
    }

    /// Writes the line `what` at `at` (nothing if nothing wants it);
    /// returns it and where its text starts after the time, for an event
    /// to borrow the text from.
    fn line(&mut self, at: Instant, what: impl std::fmt::Display) -> Option<(String, usize)> {
        if !self.wanted() {
            return None;
        }
        let mut line = format_time(at);
        let text_start = line.len() + 1;
        let _ = write!(line, " {what}");
        self.write_line(&line);
        Some((line, text_start))
    }

    /// Keeps `line` in memory if the transcript is kept.
    fn keep(&mut self, line: String) {
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

    /// Adds a line at device time `at` (a [`RunEvent::Note`]).
    pub(crate) fn push(&mut self, at: Instant, what: impl std::fmt::Display) {
        // Formatting is most of the cost of a line; skip it when the line
        // goes nowhere.
        let Some((line, text_start)) = self.line(at, what) else {
            return;
        };
        if self.events.is_some() {
            self.emit(&RunEvent::Note {
                at,
                text: &line[text_start..],
            });
        }
        self.keep(line);
    }

    /// Adds the line `what` at `at` and sends `event`.
    fn push_event(&mut self, at: Instant, what: impl std::fmt::Display, event: &RunEvent<'_>) {
        if let Some((line, _)) = self.line(at, what) {
            self.emit(event);
            self.keep(line);
        }
    }

    /// A step header: `--- line 12: wait 2s`.
    pub(crate) fn step(&mut self, at: Instant, line: usize, description: &str) {
        self.push_event(
            at,
            format_args!("--- line {line}: {description}"),
            &RunEvent::Step {
                at,
                line,
                description,
            },
        );
    }

    /// A published message: `blue -> blue/btn/0 qos0 "1"`.
    pub(crate) fn message(&mut self, message: &LoggedMessage) {
        if self.wanted() {
            self.push_event(
                message.at,
                message.describe_without_time(),
                &RunEvent::Message(message),
            );
        }
    }

    /// An expectation that did not hold: `FAILED: expected …`.
    pub(crate) fn failed(&mut self, at: Instant, expected: &str) {
        self.push_event(
            at,
            format_args!("FAILED: expected {expected}"),
            &RunEvent::Failed { at, expected },
        );
    }

    /// A part's value set: `probe.ds18b20 temperature = 22.5`.
    pub(crate) fn part_value(&mut self, at: Instant, device: &str, part: &str, value: &PartValue) {
        if let Some(early) = &mut self.early_part_values {
            early.push(EarlyPartValue {
                at,
                device: device.to_owned(),
                part: part.to_owned(),
                value: value.clone(),
            });
        }
        let shown = hilt_scenario::describe::describe_part_value(value);
        self.push_event(
            at,
            format_args!("{device}.{part} {shown}"),
            &RunEvent::PartValue {
                at,
                device,
                part,
                value,
            },
        );
    }

    /// A button pressed or released: `blue.button pressed`.
    pub(crate) fn button(&mut self, at: Instant, device: &str, part: &str, pressed: bool) {
        let verb = if pressed { "pressed" } else { "released" };
        self.push_event(
            at,
            format_args!("{device}.{part} {verb}"),
            &RunEvent::Button {
                at,
                device,
                part,
                pressed,
            },
        );
    }

    /// An LED going on or off: `green.led on`.
    pub(crate) fn led(&mut self, at: Instant, device: &str, part: &str, on: bool) {
        let state = if on { "on" } else { "off" };
        self.push_event(
            at,
            format_args!("{device}.{part} {state}"),
            &RunEvent::Led {
                at,
                device,
                part,
                on,
            },
        );
    }

    /// A GPIO line without a part changing level: `blue.gpio5 high`.
    pub(crate) fn pin(&mut self, at: Instant, device: &str, gpio: u8, high: bool) {
        let level = if high { "high" } else { "low" };
        self.push_event(
            at,
            format_args!("{device}.gpio{gpio} {level}"),
            &RunEvent::Pin {
                at,
                device,
                gpio,
                high,
            },
        );
    }

    /// A device's SUBSCRIBE: `blue SUBSCRIBE a/#, b`.
    pub(crate) fn subscribe(&mut self, at: Instant, device: &str, filters: &[&str]) {
        self.push_event(
            at,
            format_args!("{device} SUBSCRIBE {}", filters.join(", ")),
            &RunEvent::Subscribe {
                at,
                device,
                filters,
            },
        );
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

    /// Finishes the event sink; the first error sending events to it.
    pub(crate) fn finish_events(&mut self) -> Option<std::io::Error> {
        if let Some(mut sink) = self.events.take()
            && self.events_error.is_none()
            && let Err(error) = sink.finish()
        {
            self.events_error = Some(error);
        }
        self.events_error.take()
    }
}
