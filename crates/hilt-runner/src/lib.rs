//! Runs hilt scenarios.
//!
//! The layers, from the bottom up:
//!
//! - [`broker`]: the in-process rumqttd, on a runtime the runner owns.
//! - [`connection`]: real TCP connections to the broker, one per device
//!   link, each read by a thread that splits the stream into MQTT packets.
//! - [`registry`]: the firmware apps scenarios can name, and the simulated
//!   [`Board`] each device's app is built on. Register your
//!   own app here the way [`bundled`] registers the reference apps.
//! - [`world`]: devices, links and their faults, the harness's own client
//!   and virtual time; its module documentation explains how time moves
//!   without losing a message.
//! - [`run`]: steps, expectations, verdicts and reports; [`transcript`]: the
//!   record of a run; [`csv`]: its messages as rows.
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

pub mod broker;
pub mod bundled;
pub mod connection;
pub mod csv;
mod descriptors;
pub mod matching;
pub mod registry;
pub mod run;
pub mod transcript;
pub mod world;

use std::path::{Path, PathBuf};

pub use registry::{Board, ConfigReader, DeviceIdentity, Registry, SimulatedApp};
pub use run::{Failure, RunOutcome, Verdict, run_scenario};

/// Why scenario files could not be found or read. Each is one sentence,
/// starting with the path it is about.
#[derive(Debug, thiserror::Error)]
pub enum FindError {
    /// A path given, or a folder met on the way, cannot be read; `problem`
    /// says why (`no such file`).
    #[error("{}: {problem}", path.display())]
    Unreadable { path: PathBuf, problem: String },
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
    Loop { path: PathBuf, folder: PathBuf },
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
/// Nothing runs if any file is invalid.
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
    #[error(transparent)]
    Find(#[from] FindError),
    #[error("{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"))]
    Invalid(Vec<hilt_scenario::Diagnostics>),
}
