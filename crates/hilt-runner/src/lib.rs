//! Runs hilt scenarios.
//!
//! # The API
//!
//! What a user of hilt needs, all at the crate root:
//!
//! - [`Registry`] names the firmware apps scenarios can use;
//!   [`Registry::with_bundled_apps`] has the reference apps, and
//!   [`Registry::register`] adds your own, an implementation of
//!   [`SimulatedApp`] that builds it on a [`Board`] of simulated parts
//!   (reading its `config:` through a [`ConfigReader`]).
//! - [`scenario_tests`] turns a folder into one test per scenario file (the
//!   `main` of a `harness = false` test target; [`ScenarioTests`] for more
//!   than one folder or an extra check per file).
//! - [`run_paths`] validates and runs files and folders; [`scenario_files`]
//!   and [`load`] find and validate them; [`run_scenario`] runs one.
//! - A [`RunOutcome`] holds the [`Verdict`] (passed, a [`Failure`] with what
//!   was seen instead, or a [`RunError`] when the harness could not run the
//!   file), the [`Transcript`] and every [`LoggedMessage`].
//! - [`bundled`] has the reference apps' registrations, to register a few
//!   under other names; [`csv`] writes messages as rows; [`broker`] starts
//!   the embedded broker on its own, for a device hilt does not run.
//!
//! Everything else is how it works, and not API: the TCP connections (one
//! per device link, each read by a thread that splits the stream into
//! packets), the world (devices, links and their faults, the harness's own
//! client and virtual time; its module documentation explains how time
//! moves without losing a message), steps and expectations.
//!
//! To run your own scenario folder from a test:
//!
//! ```no_run
//! let registry = hilt_runner::Registry::with_bundled_apps();
//! let outcomes = hilt_runner::run_paths(&["scenarios"], &registry).expect("valid scenarios");
//! for outcome in &outcomes {
//!     assert!(outcome.passed(), "{}", outcome.report());
//! }
//! ```

#![warn(missing_docs)]

pub mod broker;
pub mod bundled;
mod connection;
pub mod csv;
mod descriptors;
pub mod events;
mod matching;
mod message_log;
mod progress;
mod recording;
mod registry;
mod run;
mod scenario_tests;
pub mod tls;
mod transcript;
mod world;

use std::path::{Path, PathBuf};

pub use descriptors::DescriptorShortage;
pub use events::{EventOutput, EventSink, RunEvent};
pub use message_log::MessageOutput;
pub use progress::{DEFAULT_INTERVAL as DEFAULT_PROGRESS_INTERVAL, ProgressHook, RunProgress};
pub use recording::{ListeningHook, Recording};
pub use registry::{Board, ConfigReader, DeviceIdentity, Part, Registry, SimulatedApp};
pub use run::{
    Failure, RecordingError, RunError, RunOutcome, Verdict, run_scenario, run_scenario_with,
};
pub use scenario_tests::{ScenarioTests, scenario_tests};
pub use transcript::{LoggedMessage, Transcript, TranscriptOutput};
pub use world::HarnessError;

/// Why scenario files could not be found or read. Each is one sentence,
/// starting with the path it is about.
#[derive(Debug, thiserror::Error)]
pub enum FindError {
    /// A path given, or a folder met on the way, cannot be read; `problem`
    /// says why (`no such file`).
    #[error("{}: {problem}", path.display())]
    Unreadable {
        /// The path that cannot be read.
        path: PathBuf,
        /// Why, in a few words.
        problem: String,
    },
    /// A folder given holds no `*.yaml` or `*.yml` file at any depth.
    #[error("{}: no scenario files (*.yaml, *.yml) found", .0.display())]
    Empty(PathBuf),
    /// A symbolic link inside a folder leads back to that folder or one
    /// above it, so searching it would never end.
    #[error(
        "{}: a symbolic link back to the folder {} it is in (a loop); remove it, \
         or name the folders to search one by one",
        path.display(),
        folder.display()
    )]
    Loop {
        /// The link.
        path: PathBuf,
        /// The folder it leads back to.
        folder: PathBuf,
    },
}

impl FindError {
    fn unreadable(path: &Path, error: &std::io::Error) -> Self {
        FindError::Unreadable {
            path: path.to_owned(),
            problem: hilt_scenario::file_problem(path, error),
        }
    }
}

/// Every scenario file named by `paths`: files as given, folders searched
/// recursively for `*.yaml` and `*.yml`, each folder's files sorted by name.
///
/// Nothing is opened here but folders. A path that is not a folder is
/// returned as it is, even a FIFO or a device, for [`load`] to refuse with a
/// diagnostic; a `*.yaml` entry of a folder is returned whatever it is, so
/// that a FIFO or a broken link among the scenarios is reported, not
/// skipped. Symbolic links to folders are followed, but one leading back
/// to a folder being searched is an error.
pub fn scenario_files<P: AsRef<Path>>(paths: &[P]) -> Result<Vec<PathBuf>, FindError> {
    let mut files = Vec::new();
    for path in paths {
        let path = path.as_ref();
        // `metadata` follows links and opens nothing, so it cannot block.
        let metadata =
            std::fs::metadata(path).map_err(|error| FindError::unreadable(path, &error))?;
        if metadata.is_dir() {
            let before = files.len();
            collect_yaml(path, &mut files, &mut Vec::new())?;
            if files.len() == before {
                return Err(FindError::Empty(path.to_owned()));
            }
        } else {
            files.push(path.to_owned());
        }
    }
    Ok(files)
}

/// `searching`: the folders being searched, outermost first, as canonical
/// paths, to notice a link back to one of them.
fn collect_yaml(
    folder: &Path,
    files: &mut Vec<PathBuf>,
    searching: &mut Vec<PathBuf>,
) -> Result<(), FindError> {
    let unreadable = |error: std::io::Error| FindError::unreadable(folder, &error);
    let canonical = std::fs::canonicalize(folder).map_err(unreadable)?;
    if let Some(outer) = searching.iter().find(|outer| **outer == canonical) {
        return Err(FindError::Loop {
            path: folder.to_owned(),
            folder: outer.clone(),
        });
    }
    let mut entries: Vec<PathBuf> = std::fs::read_dir(folder)
        .map_err(unreadable)?
        .map(|entry| entry.map(|entry| entry.path()))
        .collect::<Result<_, _>>()
        .map_err(unreadable)?;
    entries.sort();
    searching.push(canonical);
    for entry in entries {
        if entry.is_dir() {
            collect_yaml(&entry, files, searching)?;
        } else if entry
            .extension()
            .is_some_and(|extension| extension == "yaml" || extension == "yml")
        {
            files.push(entry);
        }
    }
    searching.pop();
    Ok(())
}

/// Loads and validates one scenario file against the apps of `registry`.
pub fn load(
    path: &Path,
    registry: &Registry,
) -> Result<hilt_scenario::Scenario, hilt_scenario::Diagnostics> {
    hilt_scenario::load(path, registry)
}

/// Validates every scenario under `paths`, then runs them one after another.
/// Nothing runs if any file is invalid: the error lists every invalid file.
/// For one test per file, each validated on its own so that one broken
/// file fails only its own test, use [`scenario_tests`] instead.
pub fn run_paths<P: AsRef<Path>>(
    paths: &[P],
    registry: &Registry,
) -> Result<Vec<RunOutcome>, RunPathsError> {
    let files = scenario_files(paths)?;
    let mut scenarios = Vec::new();
    let mut problems = Vec::new();
    for file in &files {
        match load(file, registry) {
            Ok(scenario) => scenarios.push(scenario),
            Err(diagnostics) => problems.push(diagnostics),
        }
    }
    if !problems.is_empty() {
        return Err(RunPathsError::Invalid(problems));
    }
    Ok(scenarios
        .iter()
        .map(|scenario| run_scenario(scenario, registry))
        .collect())
}

/// Why [`run_paths`] ran nothing.
#[derive(Debug, thiserror::Error)]
pub enum RunPathsError {
    /// The files could not be found or read.
    #[error(transparent)]
    Find(#[from] FindError),
    /// Some files are invalid; each entry is one file's diagnostics.
    #[error("{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"))]
    Invalid(Vec<hilt_scenario::Diagnostics>),
}
