//! A run's events as JSON lines in a temporary file: written by an
//! [`EventSink`] as the run goes, read back one at a time when the page is
//! drawn.

use std::fs::File;
use std::io::{BufRead as _, BufReader, BufWriter, Seek as _, Write as _};

use hilt_runner::{EventSink, RunEvent};
use hilt_scenario::PartValue;
use hilt_scenario::describe::quote_payload;
use serde::{Deserialize, Serialize};

/// One event as it is stored: owned, times in microseconds of device time.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub(crate) enum Recorded {
    Step {
        at: u64,
        line: usize,
        description: String,
    },
    Message {
        at: u64,
        source: String,
        topic: String,
        /// The payload as text when it is printable UTF-8, else as the
        /// transcript quotes it; cut at 200 characters either way.
        payload: String,
        qos: u8,
        retain: bool,
    },
    Subscribe {
        at: u64,
        device: String,
        filters: Vec<String>,
    },
    Value {
        at: u64,
        device: String,
        part: String,
        /// `temperature`, `lux` or `fault`.
        quantity: String,
        /// The number, for a temperature or lux.
        number: Option<f64>,
        /// The value in words (`22.5 °C`, `disconnected`, `none`).
        shown: String,
    },
    /// A button, LED or bare pin changing state.
    Level {
        at: u64,
        device: String,
        /// The part's name, or `gpioN`.
        line: String,
        what: LevelKind,
        high: bool,
    },
    Failed {
        at: u64,
        expected: String,
    },
    Note {
        at: u64,
        text: String,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum LevelKind {
    Button,
    Led,
    Pin,
}

impl Recorded {
    pub(crate) fn at(&self) -> u64 {
        match self {
            Recorded::Step { at, .. }
            | Recorded::Message { at, .. }
            | Recorded::Subscribe { at, .. }
            | Recorded::Value { at, .. }
            | Recorded::Level { at, .. }
            | Recorded::Failed { at, .. }
            | Recorded::Note { at, .. } => *at,
        }
    }

    pub(crate) fn from_event(event: &RunEvent<'_>) -> Recorded {
        let at = event.at().as_micros();
        match *event {
            RunEvent::Step {
                line, description, ..
            } => Recorded::Step {
                at,
                line,
                description: description.to_owned(),
            },
            RunEvent::Message(message) => Recorded::Message {
                at,
                source: message.source.clone(),
                topic: message.topic.clone(),
                payload: shown_payload(&message.payload),
                qos: message.qos,
                retain: message.retain,
            },
            RunEvent::Subscribe {
                device, filters, ..
            } => Recorded::Subscribe {
                at,
                device: device.to_owned(),
                filters: filters.iter().map(|filter| (*filter).to_owned()).collect(),
            },
            RunEvent::PartValue {
                device,
                part,
                value,
                ..
            } => {
                let (quantity, number, shown) = match value {
                    PartValue::Temperature(celsius) => {
                        ("temperature", Some(*celsius), format!("{celsius} °C"))
                    }
                    PartValue::Lux(lux) => ("lux", Some(*lux), format!("{lux} lx")),
                    PartValue::Fault(fault) => (
                        "fault",
                        None,
                        fault.clone().unwrap_or_else(|| "none".to_owned()),
                    ),
                };
                Recorded::Value {
                    at,
                    device: device.to_owned(),
                    part: part.to_owned(),
                    quantity: quantity.to_owned(),
                    number,
                    shown,
                }
            }
            RunEvent::Button {
                device,
                part,
                pressed,
                ..
            } => Recorded::Level {
                at,
                device: device.to_owned(),
                line: part.to_owned(),
                what: LevelKind::Button,
                high: pressed,
            },
            RunEvent::Led {
                device, part, on, ..
            } => Recorded::Level {
                at,
                device: device.to_owned(),
                line: part.to_owned(),
                what: LevelKind::Led,
                high: on,
            },
            RunEvent::Pin {
                device, gpio, high, ..
            } => Recorded::Level {
                at,
                device: device.to_owned(),
                line: format!("gpio{gpio}"),
                what: LevelKind::Pin,
                high,
            },
            RunEvent::Failed { expected, .. } => Recorded::Failed {
                at,
                expected: expected.to_owned(),
            },
            RunEvent::Note { text, .. } => Recorded::Note {
                at,
                text: text.to_owned(),
            },
        }
    }
}

/// A payload as a page shows it: as it is when it is printable text (a
/// JSON reading reads better without the transcript's escapes), quoted
/// with escapes otherwise.
fn shown_payload(payload: &[u8]) -> String {
    match std::str::from_utf8(payload) {
        Ok(text) if !text.chars().any(char::is_control) => {
            if text.chars().count() > 200 {
                let mut cut: String = text.chars().take(199).collect();
                cut.push('…');
                cut
            } else {
                text.to_owned()
            }
        }
        _ => quote_payload(payload),
    }
}

/// Writes each event as one JSON line to a file.
pub(crate) struct JsonLinesSink {
    writer: BufWriter<File>,
}

impl JsonLinesSink {
    pub(crate) fn new(file: File) -> JsonLinesSink {
        JsonLinesSink {
            writer: BufWriter::new(file),
        }
    }
}

impl EventSink for JsonLinesSink {
    fn event(&mut self, event: &RunEvent<'_>) -> std::io::Result<()> {
        serde_json::to_writer(&mut self.writer, &Recorded::from_event(event))?;
        self.writer.write_all(b"\n")
    }

    fn finish(&mut self) -> std::io::Result<()> {
        self.writer.flush()
    }
}

/// Reads the events of `file` from its start, one at a time, calling
/// `each` with every one.
pub(crate) fn for_each_recorded(
    file: &mut File,
    mut each: impl FnMut(Recorded),
) -> std::io::Result<()> {
    file.rewind()?;
    let mut reader = BufReader::new(&*file);
    let mut line = String::new();
    while reader.read_line(&mut line)? > 0 {
        let recorded: Recorded = serde_json::from_str(line.trim_end())
            .map_err(|error| std::io::Error::new(std::io::ErrorKind::InvalidData, error))?;
        each(recorded);
        line.clear();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use hilt_firmware::time::Instant;

    #[test]
    fn events_come_back_as_they_were_written() {
        let file = tempfile::tempfile().unwrap();
        let mut sink = JsonLinesSink::new(file.try_clone().unwrap());
        let message = hilt_runner::LoggedMessage {
            at: Instant::from_millis(1_500),
            source: "blue".to_owned(),
            topic: "blue/btn/0".to_owned(),
            payload: b"1".to_vec(),
            qos: 1,
            retain: true,
        };
        sink.event(&RunEvent::Message(&message)).unwrap();
        sink.event(&RunEvent::PartValue {
            at: Instant::BOOT,
            device: "probe",
            part: "ds18b20",
            value: &PartValue::Temperature(-3.5),
        })
        .unwrap();
        sink.event(&RunEvent::Pin {
            at: Instant::from_micros(7),
            device: "probe",
            gpio: 5,
            high: true,
        })
        .unwrap();
        sink.finish().unwrap();
        let mut read = Vec::new();
        let mut file = file;
        for_each_recorded(&mut file, |recorded| read.push(recorded)).unwrap();
        assert_eq!(
            read,
            [
                Recorded::Message {
                    at: 1_500_000,
                    source: "blue".to_owned(),
                    topic: "blue/btn/0".to_owned(),
                    payload: "1".to_owned(),
                    qos: 1,
                    retain: true,
                },
                Recorded::Value {
                    at: 0,
                    device: "probe".to_owned(),
                    part: "ds18b20".to_owned(),
                    quantity: "temperature".to_owned(),
                    number: Some(-3.5),
                    shown: "-3.5 °C".to_owned(),
                },
                Recorded::Level {
                    at: 7,
                    device: "probe".to_owned(),
                    line: "gpio5".to_owned(),
                    what: LevelKind::Pin,
                    high: true,
                },
            ]
        );
    }
}
