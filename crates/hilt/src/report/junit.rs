//! `--junit FILE`: a JUnit XML report written by quick-junit (nextest's
//! writer). One `<testsuite>` per folder, one `<testcase>` per scenario
//! file: `classname` is its folder, `name` its file name, `time` the wall
//! time of its run. A failed expectation is a `<failure>` (its first line
//! the message, the whole report the body), a harness error or an invalid
//! file an `<error>`, a scenario not run `<skipped>`; the transcript is the
//! `<system-out>`, cut in the middle when longer than [`SYSTEM_OUT_HEAD`] +
//! [`SYSTEM_OUT_TAIL`] bytes.

use std::fs::File;
use std::io::{Read as _, Seek as _, SeekFrom};
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use quick_junit::{NonSuccessKind, Property, Report, TestCase, TestCaseStatus, TestSuite};

use super::{Entry, EntryKind, Totals, slashed};

/// How much of the start of a long transcript goes into `<system-out>`.
pub const SYSTEM_OUT_HEAD: u64 = 16 * 1024;
/// How much of the end of a long transcript goes into `<system-out>`
/// (more than of the start: a failure is at the end).
pub const SYSTEM_OUT_TAIL: u64 = 48 * 1024;

/// The report, gathered as entries come and written at the end. Each test
/// case holds at most 64 KiB of transcript.
#[derive(Debug)]
pub struct Junit {
    path: PathBuf,
    /// Test suites by folder, in the order folders first appear.
    suites: Vec<TestSuite>,
}

impl Junit {
    /// A report to write to `path`.
    pub fn new(path: PathBuf) -> Self {
        Junit {
            path,
            suites: Vec::new(),
        }
    }

    /// Adds `entry`'s test case.
    pub fn add(&mut self, entry: &Entry<'_>) -> std::io::Result<()> {
        let folder = match entry.file.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => slashed(parent),
            _ => ".".to_owned(),
        };
        let file_name = entry.file.file_name().map_or_else(
            || slashed(entry.file),
            |name| name.to_string_lossy().into_owned(),
        );
        let status = match &entry.kind {
            EntryKind::Ran { outcome, .. } => match &outcome.verdict {
                hilt_runner::Verdict::Passed => TestCaseStatus::success(),
                hilt_runner::Verdict::Failed(failure) => {
                    let mut status = TestCaseStatus::non_success(NonSuccessKind::Failure);
                    let text = failure.to_string();
                    status
                        .set_message(text.lines().next().unwrap_or_default())
                        .set_type("expectation")
                        .set_description(outcome.report());
                    status
                }
                hilt_runner::Verdict::Error(error) => {
                    let mut status = TestCaseStatus::non_success(NonSuccessKind::Error);
                    status
                        .set_message(error.to_string())
                        .set_type("harness")
                        .set_description(outcome.report());
                    status
                }
            },
            EntryKind::Skipped { reason } => {
                let mut status = TestCaseStatus::skipped();
                status.set_message(*reason);
                status
            }
            EntryKind::Invalid { diagnostics } => {
                let mut status = TestCaseStatus::non_success(NonSuccessKind::Error);
                status
                    .set_message(
                        diagnostics
                            .iter()
                            .next()
                            .map(ToString::to_string)
                            .unwrap_or_default(),
                    )
                    .set_type("invalid")
                    .set_description(diagnostics.to_string());
                status
            }
        };
        let mut case = TestCase::new(file_name, status);
        case.set_classname(folder.clone());
        if let Some(name) = entry.name {
            case.add_property(Property::new("scenario", name));
        }
        if let EntryKind::Ran {
            outcome,
            wall,
            transcript,
        } = &entry.kind
        {
            case.set_time(*wall);
            case.add_property(Property::new(
                "device_time",
                outcome.device_time.to_string(),
            ));
            if let Some(transcript) = transcript {
                case.set_system_out_lossy(capped(transcript, entry.file)?);
            }
        }
        let suite = match self
            .suites
            .iter_mut()
            .position(|suite| suite.name.as_str() == folder)
        {
            Some(index) => &mut self.suites[index],
            None => {
                self.suites.push(TestSuite::new(folder));
                self.suites.last_mut().expect("just pushed")
            }
        };
        if let EntryKind::Ran { wall, .. } = &entry.kind {
            let time = suite.time.unwrap_or_default() + *wall;
            suite.set_time(time);
        }
        suite.add_test_case(case);
        Ok(())
    }

    /// Writes the report to its file.
    pub fn write(self, totals: &Totals) -> anyhow::Result<()> {
        let mut report = Report::new("hilt replay");
        report.set_time(totals.wall);
        report.add_test_suites(self.suites);
        let file = File::create(&self.path)
            .with_context(|| format!("cannot write {}", self.path.display()))?;
        let mut writer = std::io::BufWriter::new(file);
        report
            .serialize(&mut writer)
            .with_context(|| format!("cannot write {}", self.path.display()))?;
        std::io::Write::flush(&mut writer)
            .with_context(|| format!("cannot write {}", self.path.display()))
    }
}

/// The transcript spilled to `file`, whole when short, else its start and
/// its end with a line between saying how much was left out.
fn capped(mut file: &File, scenario: &Path) -> std::io::Result<Vec<u8>> {
    let length = file.metadata()?.len();
    file.rewind()?;
    if length <= SYSTEM_OUT_HEAD + SYSTEM_OUT_TAIL {
        let mut text = Vec::new();
        file.read_to_end(&mut text)?;
        return Ok(text);
    }
    let mut text = Vec::new();
    file.take(SYSTEM_OUT_HEAD).read_to_end(&mut text)?;
    let left_out = length - SYSTEM_OUT_HEAD - SYSTEM_OUT_TAIL;
    text.extend_from_slice(
        format!(
            "\n[hilt: {left_out} bytes of the transcript left out here; \
             `hilt transcript {}` prints it whole]\n",
            slashed(scenario)
        )
        .as_bytes(),
    );
    file.seek(SeekFrom::Start(length - SYSTEM_OUT_TAIL))?;
    file.take(SYSTEM_OUT_TAIL).read_to_end(&mut text)?;
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write as _;

    #[test]
    fn a_long_transcript_keeps_its_start_and_end() {
        let mut file = tempfile::tempfile().unwrap();
        let total = (SYSTEM_OUT_HEAD + SYSTEM_OUT_TAIL) as usize + 1000;
        let bytes: Vec<u8> = (0..total).map(|index| b'a' + (index % 26) as u8).collect();
        file.write_all(&bytes).unwrap();
        let text = capped(&file, Path::new("a/b.yaml")).unwrap();
        let head = SYSTEM_OUT_HEAD as usize;
        let tail = SYSTEM_OUT_TAIL as usize;
        assert_eq!(&text[..head], &bytes[..head]);
        assert_eq!(&text[text.len() - tail..], &bytes[total - tail..]);
        let middle = String::from_utf8_lossy(&text[head..text.len() - tail]).into_owned();
        assert!(
            middle.contains("1000 bytes of the transcript left out")
                && middle.contains("hilt transcript a/b.yaml"),
            "{middle}"
        );

        let mut short = tempfile::tempfile().unwrap();
        short.write_all(b"whole\n").unwrap();
        assert_eq!(capped(&short, Path::new("x.yaml")).unwrap(), b"whole\n");
    }
}
