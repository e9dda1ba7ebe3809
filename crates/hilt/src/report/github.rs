//! GitHub Actions: an `::error` workflow command for every invalid file and
//! every failing step (shown on the file's line in a pull request), and a
//! Markdown table appended to `$GITHUB_STEP_SUMMARY`.
//!
//! The escaping is GitHub's own (the actions toolkit's `escapeData` and
//! `escapeProperty`): `%`, CR and LF in messages, and also `:` and `,` in
//! properties.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use super::{Entry, EntryKind, Totals, slashed};

/// Most rows the step summary's table lists; beyond this only the
/// scenarios that did not pass are listed (GitHub caps a summary at 1 MiB).
const MOST_SUMMARY_ROWS: usize = 300;

/// Escapes a workflow command's message.
pub fn escape_data(text: &str) -> String {
    text.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// Escapes a workflow command's property value (`file=`, `title=`).
pub fn escape_property(text: &str) -> String {
    escape_data(text).replace(':', "%3A").replace(',', "%2C")
}

/// One `::error` line: on `file`, at `line` and `column` when known (0 is
/// "not known", as in a diagnostic about the whole file).
pub fn error_annotation(
    file: &Path,
    line: usize,
    column: usize,
    title: &str,
    message: &str,
) -> String {
    let mut properties = format!("file={}", escape_property(&slashed(file)));
    if line > 0 {
        let _ = write!(properties, ",line={line}");
        if column > 0 {
            let _ = write!(properties, ",col={column}");
        }
    }
    let _ = write!(properties, ",title={}", escape_property(title));
    format!("::error {properties}::{}\n", escape_data(message))
}

/// The annotations for one entry: nothing for a scenario that passed or
/// was skipped.
pub fn annotations(entry: &Entry<'_>) -> String {
    match &entry.kind {
        EntryKind::Ran { outcome, .. } => match &outcome.verdict {
            hilt_runner::Verdict::Passed => String::new(),
            hilt_runner::Verdict::Failed(failure) => {
                // The failure's text starts with `file:line: `, which the
                // annotation's properties already say.
                let text = failure.to_string();
                let prefix = format!("{}:{}: ", failure.file.display(), failure.line);
                let message = text.strip_prefix(&prefix).unwrap_or(&text).trim_end();
                error_annotation(
                    &failure.file,
                    failure.line,
                    0,
                    &format!("hilt: {} failed", outcome.name),
                    message,
                )
            }
            hilt_runner::Verdict::Error(error) => error_annotation(
                entry.file,
                0,
                0,
                &format!("hilt: {} could not run", outcome.name),
                &error.to_string(),
            ),
        },
        EntryKind::Skipped { .. } => String::new(),
        EntryKind::Invalid { diagnostics } => diagnostics
            .iter()
            .map(|diagnostic| {
                error_annotation(
                    &diagnostic.file,
                    diagnostic.location.line,
                    diagnostic.location.column,
                    "hilt: invalid scenario file",
                    &diagnostic.message,
                )
            })
            .collect(),
    }
}

/// One row of the step summary's table.
#[derive(Debug)]
struct Row {
    passed: bool,
    status: &'static str,
    file: PathBuf,
    name: String,
    device_time: String,
    details: String,
}

/// The step summary, gathered as entries come and appended to the file
/// at the end.
#[derive(Debug)]
pub struct StepSummary {
    path: PathBuf,
    rows: Vec<Row>,
}

impl StepSummary {
    /// A summary to append to `path` (`$GITHUB_STEP_SUMMARY`).
    pub fn new(path: PathBuf) -> Self {
        StepSummary {
            path,
            rows: Vec::new(),
        }
    }

    /// Adds `entry`'s row.
    pub fn add(&mut self, entry: &Entry<'_>) {
        let (passed, status, device_time, details) = match &entry.kind {
            EntryKind::Ran { outcome, .. } => match &outcome.verdict {
                hilt_runner::Verdict::Passed => (
                    true,
                    "✅ passed",
                    outcome.device_time.to_string(),
                    String::new(),
                ),
                hilt_runner::Verdict::Failed(failure) => (
                    false,
                    "❌ failed",
                    outcome.device_time.to_string(),
                    format!("line {}: expected {}", failure.line, failure.expected),
                ),
                hilt_runner::Verdict::Error(error) => (
                    false,
                    "⚠️ error",
                    outcome.device_time.to_string(),
                    error.to_string(),
                ),
            },
            EntryKind::Skipped { reason, .. } => {
                (true, "⏭️ skipped", String::new(), (*reason).to_owned())
            }
            EntryKind::Invalid { diagnostics } => (
                false,
                "🚫 invalid",
                String::new(),
                diagnostics
                    .iter()
                    .map(|diagnostic| {
                        format!(
                            "{}:{}: {}",
                            diagnostic.location.line,
                            diagnostic.location.column,
                            diagnostic.message
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("\n"),
            ),
        };
        self.rows.push(Row {
            passed,
            status,
            file: entry.file.to_path_buf(),
            name: entry.name.unwrap_or_default().to_owned(),
            device_time,
            details,
        });
    }

    /// The Markdown appended to the summary file.
    pub fn markdown(&self, totals: &Totals) -> String {
        let mut text = String::from("## hilt replay\n\n");
        let _ = writeln!(
            text,
            "| passed | failed | errors | invalid | skipped | wall time |\n\
             | ---: | ---: | ---: | ---: | ---: | ---: |\n\
             | {} | {} | {} | {} | {} | {:.3}s |\n",
            totals.passed,
            totals.failed,
            totals.errors,
            totals.invalid,
            totals.skipped,
            totals.wall.as_secs_f64()
        );
        let all = self.rows.len() <= MOST_SUMMARY_ROWS;
        let listed: Vec<&Row> = self
            .rows
            .iter()
            .filter(|row| all || !row.passed)
            .take(MOST_SUMMARY_ROWS)
            .collect();
        if !listed.is_empty() {
            text.push_str(
                "| result | scenario | file | device time | details |\n\
                 | --- | --- | --- | ---: | --- |\n",
            );
            for row in &listed {
                let _ = writeln!(
                    text,
                    "| {} | {} | `{}` | {} | {} |",
                    row.status,
                    cell(&row.name),
                    cell(&slashed(&row.file)).replace('`', "'"),
                    row.device_time,
                    cell(&row.details)
                );
            }
        }
        let unlisted = self.rows.len() - listed.len();
        if unlisted > 0 {
            let _ = writeln!(
                text,
                "\n{unlisted} more scenarios are not listed (the table lists at most \
                 {MOST_SUMMARY_ROWS}; passing ones are left out of a larger suite)."
            );
        }
        text.push('\n');
        text
    }

    /// Appends the summary to its file.
    pub fn write(&self, totals: &Totals) -> std::io::Result<()> {
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)?;
        file.write_all(self.markdown(totals).as_bytes())
    }

    /// The file the summary goes to.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Text made safe for one cell of a Markdown table: no line breaks, no
/// column bars, no HTML.
fn cell(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('|', "\\|")
        .replace("\r\n", "<br>")
        .replace('\n', "<br>")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_and_properties_are_escaped_as_github_says() {
        assert_eq!(escape_data("50% done\r\nnext"), "50%25 done%0D%0Anext");
        assert_eq!(
            escape_property("a:b,c%\n"),
            "a%3Ab%2Cc%25%0A",
            "properties also escape : and ,"
        );
        assert_eq!(
            error_annotation(Path::new("./dir/a,b.yaml"), 3, 7, "t: x", "one\ntwo: 5%"),
            "::error file=dir/a%2Cb.yaml,line=3,col=7,title=t%3A x::one%0Atwo: 5%25\n"
        );
        assert_eq!(
            error_annotation(Path::new("a.yaml"), 0, 0, "t", "m"),
            "::error file=a.yaml,title=t::m\n",
            "a whole-file problem has no line"
        );
    }

    #[test]
    fn table_cells_keep_to_one_line_and_one_column() {
        assert_eq!(cell("a|b\nc <d>"), "a\\|b<br>c &lt;d&gt;");
    }
}
