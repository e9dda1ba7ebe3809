//! One test per scenario file, for a project's `cargo test`.
//!
//! A test target with `harness = false` whose `main` is one line:
//!
//! ```toml
//! [[test]]
//! name = "scenarios"
//! harness = false
//! ```
//!
//! ```no_run
//! // tests/scenarios.rs
//! fn main() {
//!     hilt_runner::scenario_tests("scenarios", hilt_runner::Registry::with_bundled_apps())
//! }
//! ```
//!
//! Every `*.yaml`/`*.yml` file under the folder becomes its own test, named
//! by its path (`scenarios/pump/dry_soil.yaml`), found when the tests run,
//! so a new file needs no rebuild. Each file is validated on its own: a
//! broken file fails its own test with its diagnostics, and the others
//! still run. The target takes libtest's options (`cargo test --test
//! scenarios -- dry_soil`, `--exact`, `--list`, `--test-threads`), through
//! libtest-mimic, so cargo-nextest runs, lists and partitions it as it
//! does `#[test]` functions.

// The examples show a whole `main`, which is what the reader writes.
#![allow(clippy::needless_doctest_main)]

use std::path::{Path, PathBuf};
use std::sync::Arc;

use libtest_mimic::{Arguments, Failed, Trial};

use crate::{Registry, RunOutcome};

/// A check run on a passed scenario's outcome, as well as the pass itself
/// (the bundled suite compares each transcript with a snapshot). It fails
/// the test by panicking, as an assertion does.
type ExtraCheck = dyn Fn(&Path, &RunOutcome) + Send + Sync;

/// One test per scenario file under some folders; see the module
/// documentation. [`scenario_tests`] is the common case.
#[derive(Clone)]
pub struct ScenarioTests {
    registry: Registry,
    folders: Vec<PathBuf>,
    relative_to: Option<PathBuf>,
    extra_check: Option<Arc<ExtraCheck>>,
}

impl std::fmt::Debug for ScenarioTests {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScenarioTests")
            .field("registry", &self.registry)
            .field("folders", &self.folders)
            .field("relative_to", &self.relative_to)
            .finish_non_exhaustive()
    }
}

/// The `main` of a `harness = false` test target: one test per scenario
/// file under `folder` (relative to the package, where `cargo test` runs
/// tests), run with the apps of `registry`. Exits with libtest's code.
pub fn scenario_tests(folder: impl AsRef<Path>, registry: Registry) -> ! {
    ScenarioTests::new(registry).folder(folder).run()
}

impl ScenarioTests {
    /// No folders yet; scenarios run with the apps of `registry`.
    pub fn new(registry: Registry) -> Self {
        ScenarioTests {
            registry,
            folders: Vec::new(),
            relative_to: None,
            extra_check: None,
        }
    }

    /// Adds the scenario files under `folder` (searched as
    /// [`crate::scenario_files`] searches, each folder's files sorted).
    pub fn folder(mut self, folder: impl AsRef<Path>) -> Self {
        self.folders.push(folder.as_ref().to_owned());
        self
    }

    /// Names tests, and writes paths in reports and transcripts, relative to
    /// `root` instead of as found (the bundled suite runs
    /// `../../scenarios` and reports `scenarios/...`).
    pub fn relative_to(mut self, root: impl AsRef<Path>) -> Self {
        self.relative_to = Some(root.as_ref().to_owned());
        self
    }

    /// Also runs `check` on each passed scenario (its path as found, and its
    /// outcome); `check` fails the test by panicking.
    pub fn also(mut self, check: impl Fn(&Path, &RunOutcome) + Send + Sync + 'static) -> Self {
        self.extra_check = Some(Arc::new(check));
        self
    }

    /// The tests, one per file, named by the file's path.
    pub fn trials(&self) -> Result<Vec<Trial>, crate::FindError> {
        let files = crate::scenario_files(&self.folders)?;
        Ok(files
            .into_iter()
            .map(|file| {
                let shown = self.shown(&file);
                let name = shown.to_string_lossy().replace('\\', "/");
                let this = self.clone();
                Trial::test(name, move || this.run_one(&file, &shown))
            })
            .collect())
    }

    /// Runs the tests as libtest would (reading its options from the
    /// command line) and exits with its code. A folder that cannot be
    /// searched, or holds no scenario, is one failing test saying so.
    pub fn run(self) -> ! {
        let arguments = Arguments::from_args();
        let trials = self.trials().unwrap_or_else(|error| {
            let message = error.to_string();
            vec![Trial::test("scenario folders", move || Err(message.into()))]
        });
        libtest_mimic::run(&arguments, trials).exit()
    }

    fn shown(&self, file: &Path) -> PathBuf {
        self.relative_to
            .as_ref()
            .and_then(|root| file.strip_prefix(root).ok())
            .map_or_else(|| file.to_owned(), Path::to_owned)
    }

    /// Validates `file` on its own and runs it: a failing test carries the
    /// diagnostics, or the report and the transcript.
    fn run_one(&self, file: &Path, shown: &Path) -> Result<(), Failed> {
        let mut scenario = crate::load(file, &self.registry).map_err(|diagnostics| {
            Failed::from(format!("invalid scenario file:\n{diagnostics}"))
        })?;
        scenario.file = shown.to_owned();
        let outcome = crate::run_scenario(&scenario, &self.registry);
        if !outcome.passed() {
            return Err(format!(
                "{}\ntranscript:\n{}",
                outcome.report(),
                outcome.transcript.render()
            )
            .into());
        }
        if let Some(check) = &self.extra_check {
            check(file, &outcome);
        }
        Ok(())
    }
}
