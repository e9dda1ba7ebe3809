//! The messages of runs as CSV rows: the harness's counterpart of the
//! sensor-data tutorial's host-side logger, which appended a row per message
//! to a CSV file.
//!
//! Columns: `scenario` (file), `device_time_s` (seconds with microseconds),
//! `source` (device, `harness`, `external`, or the broker for a will),
//! `topic`, `qos`, `retain` (0/1), `payload` (as text; bytes that are not
//! UTF-8 are replaced). The `csv` crate does the quoting.

use std::fs::File;
use std::path::Path;

use crate::run::RunOutcome;

/// Writes the messages of one or more runs to a CSV file.
#[derive(Debug)]
pub struct MessageWriter {
    writer: ::csv::Writer<File>,
}

/// Why a CSV file could not be written.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct CsvError(#[from] ::csv::Error);

impl MessageWriter {
    /// Creates (or truncates) `path` and writes the header row.
    pub fn create(path: &Path) -> Result<Self, CsvError> {
        let mut writer = ::csv::Writer::from_path(path)?;
        writer.write_record([
            "scenario",
            "device_time_s",
            "source",
            "topic",
            "qos",
            "retain",
            "payload",
        ])?;
        Ok(MessageWriter { writer })
    }

    /// One row per message the run logged, in order.
    pub fn write_run(&mut self, outcome: &RunOutcome) -> Result<(), CsvError> {
        let file = outcome.file.display().to_string();
        for message in &outcome.messages {
            let micros = message.at.as_micros();
            self.writer.write_record([
                file.as_str(),
                &format!("{}.{:06}", micros / 1_000_000, micros % 1_000_000),
                &message.source,
                &message.topic,
                &message.qos.to_string(),
                if message.retain { "1" } else { "0" },
                &String::from_utf8_lossy(&message.payload),
            ])?;
        }
        Ok(())
    }

    /// Flushes the file.
    pub fn finish(mut self) -> Result<(), CsvError> {
        self.writer.flush().map_err(|error| CsvError(error.into()))
    }
}
