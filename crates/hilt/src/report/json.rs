//! `--format json`: one JSON object per line, one per scenario file in
//! file order (invalid files first, as they are found before anything
//! runs), then one summary. The schema is documented in
//! docs/report-formats.md; every object carries [`SCHEMA_VERSION`], which
//! changes only when a field is removed or changes meaning.

use serde::Serialize;

use super::{Entry, EntryKind, Totals, slashed};

/// The version of the schema in docs/report-formats.md.
pub const SCHEMA_VERSION: u32 = 1;

/// One scenario file.
#[derive(Debug, Serialize)]
struct ScenarioLine<'a> {
    version: u32,
    kind: &'static str,
    file: String,
    name: Option<&'a str>,
    /// passed, failed, error, skipped or invalid.
    status: &'static str,
    device_time_us: Option<u64>,
    device_time: Option<String>,
    wall_time_s: Option<f64>,
    messages: Option<usize>,
    failure: Option<FailureObject<'a>>,
    error: Option<String>,
    skipped_reason: Option<&'a str>,
    diagnostics: Vec<DiagnosticObject<'a>>,
}

#[derive(Debug, Serialize)]
struct FailureObject<'a> {
    file: String,
    line: usize,
    step_name: Option<&'a str>,
    expected: &'a str,
    gave_up_at_us: u64,
    gave_up_at: String,
    seen: &'a [String],
    report: String,
}

#[derive(Debug, Serialize)]
struct DiagnosticObject<'a> {
    file: String,
    /// 0 when the problem is with the file as a whole.
    line: usize,
    column: usize,
    message: &'a str,
}

/// The last line.
#[derive(Debug, Serialize)]
struct SummaryLine {
    version: u32,
    kind: &'static str,
    passed: usize,
    failed: usize,
    errors: usize,
    invalid: usize,
    skipped: usize,
    wall_time_s: f64,
    exit_code: u8,
}

/// `entry` as one line of JSON, with its newline.
pub fn scenario_line(entry: &Entry<'_>) -> String {
    let mut line = ScenarioLine {
        version: SCHEMA_VERSION,
        kind: "scenario",
        file: slashed(entry.file),
        name: entry.name,
        status: "passed",
        device_time_us: None,
        device_time: None,
        wall_time_s: None,
        messages: None,
        failure: None,
        error: None,
        skipped_reason: None,
        diagnostics: Vec::new(),
    };
    match &entry.kind {
        EntryKind::Ran { outcome, wall, .. } => {
            line.device_time_us = Some(outcome.device_time.as_micros());
            line.device_time = Some(outcome.device_time.to_string());
            line.wall_time_s = Some(wall.as_secs_f64());
            line.messages = Some(outcome.messages_routed);
            match &outcome.verdict {
                hilt_runner::Verdict::Passed => {}
                hilt_runner::Verdict::Failed(failure) => {
                    line.status = "failed";
                    line.failure = Some(FailureObject {
                        file: slashed(&failure.file),
                        line: failure.line,
                        step_name: failure.step_name.as_deref(),
                        expected: &failure.expected,
                        gave_up_at_us: failure.at.as_micros(),
                        gave_up_at: failure.at.to_string(),
                        seen: &failure.seen,
                        report: outcome.report(),
                    });
                }
                hilt_runner::Verdict::Error(error) => {
                    line.status = "error";
                    line.error = Some(error.to_string());
                }
            }
        }
        EntryKind::Skipped { reason } => {
            line.status = "skipped";
            line.skipped_reason = Some(reason);
        }
        EntryKind::Invalid { diagnostics } => {
            line.status = "invalid";
            line.diagnostics = diagnostics
                .iter()
                .map(|diagnostic| DiagnosticObject {
                    file: slashed(&diagnostic.file),
                    line: diagnostic.location.line,
                    column: diagnostic.location.column,
                    message: &diagnostic.message,
                })
                .collect();
        }
    }
    to_line(&line)
}

/// The summary as one line of JSON, with its newline.
pub fn summary_line(totals: &Totals) -> String {
    to_line(&SummaryLine {
        version: SCHEMA_VERSION,
        kind: "summary",
        passed: totals.passed,
        failed: totals.failed,
        errors: totals.errors,
        invalid: totals.invalid,
        skipped: totals.skipped,
        wall_time_s: totals.wall.as_secs_f64(),
        exit_code: totals.exit_code,
    })
}

fn to_line(value: &impl Serialize) -> String {
    // Serializing these plain structs of strings and numbers cannot fail
    // (no maps with non-string keys, no failing Serialize impls).
    let mut text = serde_json::to_string(value).expect("plain data serializes");
    text.push('\n');
    text
}
