//! The messages of runs as CSV rows: the harness's counterpart of the
//! sensor-data tutorial's host-side logger, which appended a row per message
//! to a CSV file.
//!
//! Columns: `scenario` (file), `device_time_s` (seconds with microseconds),
//! `source` (device, `harness`, `external`, or the broker for a will),
//! `topic`, `qos`, `retain` (0/1), `payload` (as text; bytes that are not
//! UTF-8 are replaced). The `csv` crate does the quoting.

use std::fs::File;
use std::io::{Read, Write};
use std::path::Path;

use crate::run::RunOutcome;
use crate::transcript::LoggedMessage;

/// The columns of one message's row.
fn row(file: &str, message: &LoggedMessage) -> [String; 7] {
    let micros = message.at.as_micros();
    [
        file.to_owned(),
        format!("{}.{:06}", micros / 1_000_000, micros % 1_000_000),
        message.source.clone(),
        message.topic.clone(),
        message.qos.to_string(),
        if message.retain { "1" } else { "0" }.to_owned(),
        String::from_utf8_lossy(&message.payload).into_owned(),
    ]
}

/// The rows of one run, written as its messages are routed (no header):
/// the streaming counterpart of [`MessageWriter::write_run`], for a run
/// whose messages should not all be held in memory. The rows can be
/// appended to a [`MessageWriter`]'s file with [`MessageWriter::append_rows`].
pub struct MessageRows {
    file: String,
    /// Boxed: the writer's buffer state is large, and a `MessageRows`
    /// travels inside an enum of otherwise small outputs.
    writer: Box<::csv::Writer<Box<dyn Write>>>,
}

impl std::fmt::Debug for MessageRows {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MessageRows")
            .field("file", &self.file)
            .finish_non_exhaustive()
    }
}

impl MessageRows {
    /// Rows of the run of `scenario_file`, written to `output` (buffered).
    pub fn new(scenario_file: &Path, output: Box<dyn Write>) -> Self {
        MessageRows {
            file: scenario_file.display().to_string(),
            writer: Box::new(
                ::csv::WriterBuilder::new()
                    .has_headers(false)
                    .from_writer(output),
            ),
        }
    }

    /// One message's row.
    pub(crate) fn write(&mut self, message: &LoggedMessage) -> Result<(), CsvError> {
        Ok(self.writer.write_record(row(&self.file, message))?)
    }

    /// Flushes what is buffered.
    pub(crate) fn flush(&mut self) -> Result<(), CsvError> {
        self.writer.flush().map_err(|error| CsvError(error.into()))
    }
}

/// Writes the messages of one or more runs to a CSV file.
#[derive(Debug)]
pub struct MessageWriter {
    file: File,
}

/// Why a CSV file could not be written.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct CsvError(#[from] ::csv::Error);

impl MessageWriter {
    /// Creates (or truncates) `path` and writes the header row.
    pub fn create(path: &Path) -> Result<Self, CsvError> {
        let file = File::create(path).map_err(|error| CsvError(error.into()))?;
        let mut writer = ::csv::Writer::from_writer(&file);
        writer.write_record([
            "scenario",
            "device_time_s",
            "source",
            "topic",
            "qos",
            "retain",
            "payload",
        ])?;
        writer.flush().map_err(|error| CsvError(error.into()))?;
        drop(writer);
        Ok(MessageWriter { file })
    }

    /// One row per message the run logged, in order.
    pub fn write_run(&mut self, outcome: &RunOutcome) -> Result<(), CsvError> {
        let file = outcome.file.display().to_string();
        let mut writer = ::csv::WriterBuilder::new()
            .has_headers(false)
            .from_writer(&self.file);
        for message in &outcome.messages {
            writer.write_record(row(&file, message))?;
        }
        writer.flush().map_err(|error| CsvError(error.into()))
    }

    /// Appends rows a [`MessageRows`] wrote (read back from `rows`), as
    /// they are.
    pub fn append_rows(&mut self, rows: &mut impl Read) -> Result<(), CsvError> {
        std::io::copy(rows, &mut self.file)
            .map(|_| ())
            .map_err(|error| CsvError(error.into()))
    }

    /// Flushes the file (every row is written by the time the call that
    /// wrote it returns; this is kept for callers that end with it).
    pub fn finish(mut self) -> Result<(), CsvError> {
        self.file.flush().map_err(|error| CsvError(error.into()))
    }
}
