//! Every bundled scenario under `scenarios/` is its own test, named by its
//! path: it must pass, and its transcript must match the snapshot in
//! `tests/snapshots/`. This is the one-test-per-file harness a project gets
//! from `hilt_runner::scenario_tests` (a `harness = false` target), with the
//! snapshot as an extra check.
//!
//! A transcript holds only device time, so a snapshot that matches on one
//! run and not the next means the runner lost determinism.

use std::path::{Path, PathBuf};

use hilt_runner::{Registry, ScenarioTests};

/// `scenarios/thermometer/thermometer_day.yaml` → `thermometer__thermometer_day`.
fn snapshot_name(path: &Path) -> String {
    let scenarios = canonical(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scenarios"));
    let path = canonical(path);
    let relative = path
        .strip_prefix(&scenarios)
        .expect("bundled scenarios live under scenarios/");
    relative
        .with_extension("")
        .to_string_lossy()
        .replace(['/', '\\'], "__")
}

fn canonical(path: &Path) -> PathBuf {
    std::fs::canonicalize(path).unwrap_or_else(|error| panic!("{}: {error}", path.display()))
}

fn main() {
    // `cargo test` runs a package's tests in its folder, crates/hilt-runner.
    ScenarioTests::new(Registry::with_bundled_apps())
        .folder("../../scenarios")
        .relative_to("../..")
        .also(|path, outcome| {
            insta::assert_snapshot!(snapshot_name(path), outcome.transcript.render());
        })
        .run()
}
