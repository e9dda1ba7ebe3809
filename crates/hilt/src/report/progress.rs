//! The progress display on a terminal: a bar for the suite (scenarios done,
//! passed and failed so far) and a line for each scenario running (device
//! time reached, messages so far, step), drawn by indicatif on standard
//! error. Only when standard error is a terminal and not `--quiet`: in CI
//! and pipes nothing is drawn and the output is the plain one.

use std::io::IsTerminal as _;
use std::path::Path;
use std::time::Duration;

use hilt_runner::{ProgressHook, RunProgress};
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::slashed;

/// How often the display is redrawn, and how often a run reports.
const TICK: Duration = Duration::from_millis(100);

/// The display of one `replay`.
#[derive(Debug)]
pub struct Progress {
    bars: MultiProgress,
    suite: ProgressBar,
}

impl Progress {
    /// A display for `scenarios` scenarios, or `None` when standard error
    /// is not a terminal (or `quiet`).
    pub fn start(scenarios: usize, quiet: bool) -> Option<Progress> {
        if quiet || !std::io::stderr().is_terminal() {
            return None;
        }
        let bars = MultiProgress::with_draw_target(ProgressDrawTarget::stderr());
        if bars.is_hidden() {
            return None;
        }
        let style = ProgressStyle::with_template(
            "{bar:30.cyan/blue} {pos}/{len} scenarios  {elapsed}  {msg}",
        )
        .expect("the template is valid")
        .progress_chars("=> ");
        let suite = bars.add(ProgressBar::new(scenarios as u64).with_style(style));
        suite.enable_steady_tick(TICK);
        Some(Progress { bars, suite })
    }

    /// A line for `file` while it runs; its hook reports to it. The line
    /// goes when the returned guard is dropped.
    pub fn scenario(&self, file: &Path) -> (ScenarioLine, ProgressHook) {
        let style = ProgressStyle::with_template("  {spinner} {prefix}  {msg}")
            .expect("the template is valid");
        let line = self
            .bars
            .insert_before(&self.suite, ProgressBar::new_spinner().with_style(style));
        line.set_prefix(slashed(file));
        line.set_message("starting");
        line.enable_steady_tick(TICK);
        let reporter = line.clone();
        let hook = ProgressHook::new(TICK, move |progress: RunProgress| {
            reporter.set_message(format!(
                "{} device time, {} messages, step {}/{}",
                progress.device_time, progress.messages, progress.steps_started, progress.steps
            ));
        });
        (ScenarioLine(line), hook)
    }

    /// A scenario is done; `tally` says how the suite stands.
    pub fn done(&self, tally: &str) {
        self.suite.inc(1);
        self.suite.set_message(tally.to_owned());
    }

    /// Runs `print` with the display out of the way, so that lines printed
    /// on the same terminal do not mix with it.
    pub fn suspend<R>(&self, print: impl FnOnce() -> R) -> R {
        self.bars.suspend(print)
    }

    /// Takes the display off the terminal.
    pub fn finish(self) {
        self.suite.finish_and_clear();
        let _ = self.bars.clear();
    }
}

/// A running scenario's line, taken off the display when dropped.
#[derive(Debug)]
pub struct ScenarioLine(ProgressBar);

impl Drop for ScenarioLine {
    fn drop(&mut self) {
        self.0.finish_and_clear();
    }
}
