//! hilt's visual report: one self-contained HTML page per scenario run and
//! an index of them, for a person to look at rather than read.
//!
//! A page has the verdict (and the failure report) on top, then a sequence
//! diagram of the messages between the devices, the broker and the harness
//! in device time with the steps and the failing expectation marked where
//! they happened, timelines of every LED, button and pin that changed and
//! of the sensor values set, and message rates per topic. Everything is
//! inline (style, script, SVG): a page opens from disk, offline, and can be
//! sent as one file.
//!
//! A run's events go, as it runs, to a temporary file (JSON lines, through
//! the runner's [`EventSink`](hilt_runner::EventSink)); the page is drawn
//! from it afterwards in two streaming passes. A long run is aggregated
//! rather than drawn event by event (see `model.rs`), so
//! `thermometer_day`'s 1,440 messages or a remote-LED pair's 14,400 make
//! a page of a few hundred kilobytes.
//!
//! ```no_run
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let registry = hilt_runner::Registry::with_bundled_apps();
//! let scenario = hilt_runner::load("scenarios/remote-led/pair.yaml".as_ref(), &registry)
//!     .map_err(|diagnostics| diagnostics.to_string())?;
//! let report = hilt_report::HtmlReport::create("report".as_ref(), std::slice::from_ref(&scenario))?;
//! let (recording, events) = report.record()?;
//! let mut output = hilt_runner::Recording::verdict_only();
//! output.events = events;
//! let outcome = hilt_runner::run_scenario_with(&scenario, &registry, output);
//! let page = report.write_page(&scenario, recording, &outcome)?;
//! let index = report.write_index()?;
//! println!("open {} (index: {})", page.display(), index.display());
//! # Ok(())
//! # }
//! ```

#![warn(missing_docs)]

mod html;
mod index;
mod model;
mod record;
mod render;

use std::collections::HashMap;
use std::fs::File;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use hilt_runner::{EventOutput, RunOutcome, Verdict};
use hilt_scenario::Scenario;

use crate::model::FailureMark;
use crate::record::JsonLinesSink;
use crate::render::{PageHeading, Shown};

/// Why a report could not be written. Each names the path it is about.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// The report's folder cannot be created.
    #[error("cannot create the report folder {}: {source}", path.display())]
    CreateFolder {
        /// The folder.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// No temporary file for a run's events.
    #[error("cannot create a temporary file for a run's events: {0}")]
    TemporaryFile(#[source] std::io::Error),
    /// A run's events cannot be read back.
    #[error("cannot read back the events of {}: {source}", scenario.display())]
    ReadEvents {
        /// The scenario file.
        scenario: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A page cannot be written.
    #[error("cannot write {}: {source}", path.display())]
    WritePage {
        /// The page.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

/// Where a run's events are being recorded for its page: hand it back to
/// [`HtmlReport::write_page`] after the run.
#[derive(Debug)]
pub struct PageRecording {
    events: File,
}

/// One line of the index.
#[derive(Clone, Debug)]
struct IndexEntry {
    verdict: Shown,
    device_time: u64,
    messages: usize,
    page_bytes: u64,
}

/// A report being written into a folder: a page per scenario (written as
/// each run ends, from any thread) and, at the end, the index.
#[derive(Debug)]
pub struct HtmlReport {
    folder: PathBuf,
    /// The scenarios in the order given: file, name, page file name.
    scenarios: Vec<(PathBuf, String, String)>,
    page_of: HashMap<PathBuf, String>,
    written: Mutex<HashMap<PathBuf, IndexEntry>>,
}

/// The page file name for a scenario file: its path with `/` as `-`, in
/// characters safe in any file system and URL, and `.html`.
fn page_name(file: &Path) -> String {
    let without_extension = file.with_extension("");
    let mut name = String::new();
    for component in without_extension.components() {
        let std::path::Component::Normal(part) = component else {
            continue;
        };
        if !name.is_empty() {
            name.push('-');
        }
        for character in part.to_string_lossy().chars() {
            name.push(
                if character.is_ascii_alphanumeric() || matches!(character, '_' | '-' | '.') {
                    character
                } else {
                    '_'
                },
            );
        }
    }
    if name.is_empty() {
        name.push_str("scenario");
    }
    name
}

impl HtmlReport {
    /// Starts a report in `folder` (created if needed) for `scenarios`,
    /// each of which gets a page named after its file.
    pub fn create(folder: &Path, scenarios: &[Scenario]) -> Result<HtmlReport, ReportError> {
        std::fs::create_dir_all(folder).map_err(|source| ReportError::CreateFolder {
            path: folder.to_owned(),
            source,
        })?;
        let mut taken: HashMap<String, usize> = HashMap::new();
        let mut page_of = HashMap::new();
        let mut listed = Vec::new();
        for scenario in scenarios {
            if page_of.contains_key(&scenario.file) {
                continue;
            }
            let base = page_name(&scenario.file);
            let uses = taken.entry(base.clone()).or_insert(0);
            *uses += 1;
            let page = if *uses == 1 && base != "index" {
                format!("{base}.html")
            } else {
                format!("{base}-{uses}.html")
            };
            page_of.insert(scenario.file.clone(), page.clone());
            listed.push((scenario.file.clone(), scenario.name.clone(), page));
        }
        Ok(HtmlReport {
            folder: folder.to_owned(),
            scenarios: listed,
            page_of,
            written: Mutex::new(HashMap::new()),
        })
    }

    /// Where the page of `scenario` is (or will be) written.
    pub fn page_path(&self, scenario: &Scenario) -> PathBuf {
        let page = self
            .page_of
            .get(&scenario.file)
            .cloned()
            .unwrap_or_else(|| format!("{}.html", page_name(&scenario.file)));
        self.folder.join(page)
    }

    /// A place to record a run's events, and the
    /// [`EventOutput`] to put in its [`Recording`](hilt_runner::Recording).
    pub fn record(&self) -> Result<(PageRecording, EventOutput), ReportError> {
        let events = tempfile::tempfile().map_err(ReportError::TemporaryFile)?;
        let writer = events.try_clone().map_err(ReportError::TemporaryFile)?;
        Ok((
            PageRecording { events },
            EventOutput::Sink(Box::new(JsonLinesSink::new(writer))),
        ))
    }

    /// Draws the page of `scenario` from its run's `recording` and
    /// `outcome`; returns its path.
    pub fn write_page(
        &self,
        scenario: &Scenario,
        mut recording: PageRecording,
        outcome: &RunOutcome,
    ) -> Result<PathBuf, ReportError> {
        let (verdict, failure) = match &outcome.verdict {
            Verdict::Passed => (Shown::Passed, None),
            Verdict::Failed(failure) => (
                Shown::Failed,
                Some(FailureMark {
                    at: failure.at.as_micros(),
                    line: failure.line,
                    expected: failure.expected.clone(),
                }),
            ),
            Verdict::Error(_) => (Shown::Error, None),
        };
        let model = model::build(
            &mut recording.events,
            scenario,
            outcome.device_time.as_micros(),
            failure,
            model::LIMITS,
        )
        .map_err(|source| ReportError::ReadEvents {
            scenario: scenario.file.clone(),
            source,
        })?;
        let report = (!outcome.passed()).then(|| outcome.report());
        let file = scenario.file.display().to_string();
        let heading = PageHeading {
            name: &scenario.name,
            file: &file,
            about: scenario.about.as_deref(),
            verdict,
            report: report.as_deref(),
            index_href: "index.html",
        };
        let html = render::page(&heading, &model);
        let path = self.page_path(scenario);
        write_file(&path, &html)?;
        let entry = IndexEntry {
            verdict,
            device_time: outcome.device_time.as_micros(),
            messages: outcome.messages_routed,
            page_bytes: html.len() as u64,
        };
        self.written
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(scenario.file.clone(), entry);
        Ok(path)
    }

    /// Writes `index.html`, listing every scenario in the order given
    /// (those without a page as not run); returns its path.
    pub fn write_index(&self) -> Result<PathBuf, ReportError> {
        let written = self
            .written
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        let lines: Vec<index::Line<'_>> = self
            .scenarios
            .iter()
            .map(|(file, name, page)| index::Line {
                file,
                name,
                page,
                run: written.get(file).map(|entry| index::Run {
                    verdict: entry.verdict,
                    device_time: entry.device_time,
                    messages: entry.messages,
                    page_bytes: entry.page_bytes,
                }),
            })
            .collect();
        let path = self.folder.join("index.html");
        write_file(&path, &index::page(&lines))?;
        Ok(path)
    }
}

fn write_file(path: &Path, text: &str) -> Result<(), ReportError> {
    let write = || -> std::io::Result<()> {
        let mut file = std::io::BufWriter::new(File::create(path)?);
        file.write_all(text.as_bytes())?;
        file.flush()
    };
    write().map_err(|source| ReportError::WritePage {
        path: path.to_owned(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_names_follow_the_file_path() {
        assert_eq!(
            page_name(Path::new("scenarios/remote-led/pair.yaml")),
            "scenarios-remote-led-pair"
        );
        assert_eq!(page_name(Path::new("./a b/ü.yml")), "a_b-_");
        assert_eq!(page_name(Path::new("/abs/x.yaml")), "abs-x");
    }
}
