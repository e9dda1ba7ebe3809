//! What `hilt replay` reports besides its plain lines: a JUnit file
//! (`--junit`), JSON lines (`--format json`), GitHub annotations and a step
//! summary (`--format github`, or `GITHUB_ACTIONS=true`), and on a
//! terminal colours and a progress display.
//!
//! `replay` hands every scenario file, in file order, to [`Reports`] as an
//! [`Entry`]: a run's outcome, a skip, or an invalid file's diagnostics.

pub mod github;
pub mod json;
pub mod junit;
pub mod progress;
pub mod style;

use std::fs::File;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context as _;
use hilt_runner::RunOutcome;
use hilt_scenario::Diagnostics;

/// What `replay` prints on standard output.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// A line per scenario and a summary (with GitHub annotations when
    /// GITHUB_ACTIONS=true).
    Human,
    /// One JSON object per line: one per scenario file, then a summary
    /// (docs/report-formats.md).
    Json,
    /// The human lines, GitHub `::error` annotations, and a Markdown table
    /// appended to $GITHUB_STEP_SUMMARY when it is set.
    Github,
}

/// What became of one scenario file.
#[derive(Debug)]
pub struct Entry<'a> {
    /// The file, as found.
    pub file: &'a Path,
    /// The scenario's `name:`, when the file was valid.
    pub name: Option<&'a str>,
    /// What happened to it.
    pub kind: EntryKind<'a>,
}

/// What happened to one scenario file.
#[derive(Debug)]
pub enum EntryKind<'a> {
    /// It ran to a verdict (or the harness could not run it).
    Ran {
        /// Its outcome; the transcript and messages in it are empty, the
        /// transcript having gone to `transcript`.
        outcome: &'a RunOutcome,
        /// Wall time the run took.
        wall: Duration,
        /// The transcript, spilled to a file as the run went, when a
        /// report wants it.
        transcript: Option<&'a File>,
    },
    /// It was not run.
    Skipped {
        /// Why, in words.
        reason: &'a str,
    },
    /// It is not a valid scenario.
    Invalid {
        /// Every problem found in it.
        diagnostics: &'a Diagnostics,
    },
}

/// The counts of a whole `replay`.
#[derive(Clone, Copy, Debug, Default)]
pub struct Totals {
    pub passed: usize,
    pub failed: usize,
    pub errors: usize,
    pub skipped: usize,
    pub invalid: usize,
    /// Wall time of the whole replay.
    pub wall: Duration,
    /// The exit code replay returns.
    pub exit_code: u8,
}

/// Which reports to make.
#[derive(Debug)]
pub struct ReportOptions {
    pub format: Format,
    /// `--junit FILE`.
    pub junit: Option<PathBuf>,
    /// Print GitHub annotations (`--format github`, or GITHUB_ACTIONS=true
    /// with the human format).
    pub github: bool,
    /// Where the step summary goes (`$GITHUB_STEP_SUMMARY`), when `github`.
    pub step_summary: Option<PathBuf>,
}

impl ReportOptions {
    /// The options for `format` and `junit` in an environment whose
    /// variables `variable` reads.
    pub fn from_environment(
        format: Format,
        junit: Option<PathBuf>,
        variable: impl Fn(&str) -> Option<String>,
    ) -> Self {
        let in_github_actions = variable("GITHUB_ACTIONS").as_deref() == Some("true");
        let github = match format {
            Format::Github => true,
            Format::Human => in_github_actions,
            // Standard output is JSON only.
            Format::Json => false,
        };
        let step_summary = variable("GITHUB_STEP_SUMMARY")
            .filter(|path| github && !path.is_empty())
            .map(PathBuf::from);
        ReportOptions {
            format,
            junit,
            github,
            step_summary,
        }
    }
}

/// The reports of one `replay`, fed entry by entry.
#[derive(Debug)]
pub struct Reports {
    format: Format,
    junit: Option<junit::Junit>,
    github: bool,
    summary: Option<github::StepSummary>,
}

impl Reports {
    pub fn new(options: ReportOptions) -> Self {
        Reports {
            format: options.format,
            junit: options.junit.map(junit::Junit::new),
            github: options.github,
            summary: options.step_summary.map(github::StepSummary::new),
        }
    }

    /// Whether the human lines go to standard output.
    pub fn human(&self) -> bool {
        self.format != Format::Json
    }

    /// Whether runs must spill their transcripts for a report.
    pub fn wants_transcripts(&self) -> bool {
        self.junit.is_some()
    }

    /// Takes `entry`; returns what to print on standard output for it
    /// besides its human line (annotations, or its JSON line).
    pub fn record(&mut self, entry: &Entry<'_>) -> anyhow::Result<String> {
        if let Some(junit) = &mut self.junit {
            junit.add(entry).with_context(|| {
                format!(
                    "cannot read back the transcript of {}",
                    entry.file.display()
                )
            })?;
        }
        if let Some(summary) = &mut self.summary {
            summary.add(entry);
        }
        let mut printed = String::new();
        if self.format == Format::Json {
            printed.push_str(&json::scenario_line(entry));
        }
        if self.github {
            printed.push_str(&github::annotations(entry));
        }
        Ok(printed)
    }

    /// Writes the report files; returns what to print on standard output
    /// at the end (the JSON summary line).
    pub fn finish(self, totals: &Totals) -> anyhow::Result<String> {
        if let Some(junit) = self.junit {
            junit.write(totals)?;
        }
        if let Some(summary) = &self.summary {
            summary.write(totals).with_context(|| {
                format!(
                    "cannot append the step summary to {}",
                    summary.path().display()
                )
            })?;
        }
        Ok(if self.format == Format::Json {
            json::summary_line(totals)
        } else {
            String::new()
        })
    }
}

/// A path as reports show it: `/`-separated, without a leading `./`.
pub fn slashed(path: &Path) -> String {
    let text = path.display().to_string().replace('\\', "/");
    match text.strip_prefix("./") {
        Some(rest) => rest.to_owned(),
        None => text,
    }
}
