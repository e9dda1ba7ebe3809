//! Every bundled scenario under `scenarios/` is its own test: it must pass,
//! and its transcript must match the snapshot in `tests/snapshots/`.
//!
//! A transcript holds only device time, so a snapshot that matches on one
//! run and not the next means the runner lost determinism.

use std::path::{Path, PathBuf};

use hilt_runner::{Registry, Verdict};
use rstest::rstest;

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

/// Runs `path` with its path relative to the repository root, so reports
/// and snapshots do not depend on where the checkout lives.
fn run_bundled(path: &Path) -> hilt_runner::RunOutcome {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let relative: PathBuf = path
        .strip_prefix(&root)
        .map(Path::to_path_buf)
        .unwrap_or_else(|_| path.to_owned());
    let registry = Registry::with_bundled_apps();
    let text = std::fs::read_to_string(path).expect("scenario file readable");
    let scenario = hilt_scenario::parse(&relative, &text, &registry)
        .unwrap_or_else(|diagnostics| panic!("{diagnostics}"));
    hilt_runner::run_scenario(&scenario, &registry)
}

fn canonical(path: &Path) -> PathBuf {
    std::fs::canonicalize(path).unwrap_or_else(|error| panic!("{}: {error}", path.display()))
}

#[rstest]
fn bundled_scenario_passes(#[files("../../scenarios/**/*.yaml")] path: PathBuf) {
    let outcome = run_bundled(&path);
    assert!(
        matches!(outcome.verdict, Verdict::Passed),
        "{}\n{}",
        outcome.report(),
        outcome.transcript.render()
    );
    insta::assert_snapshot!(snapshot_name(&path), outcome.transcript.render());
}

#[test]
fn two_runs_of_the_same_file_give_identical_transcripts() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scenarios");
    for file in ["remote-led/pair.yaml", "thermometer/sensor_faults.yaml"] {
        let first = run_bundled(&root.join(file));
        let second = run_bundled(&root.join(file));
        assert!(first.passed(), "{}", first.report());
        assert_eq!(
            first.transcript.render(),
            second.transcript.render(),
            "{file}"
        );
        assert_eq!(first.messages, second.messages, "{file}");
    }
}

#[test]
fn a_day_of_thermometer_readings_is_1440_messages() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../scenarios/thermometer/thermometer_day.yaml");
    let outcome = run_bundled(&path);
    assert!(outcome.passed(), "{}", outcome.report());
    let readings = outcome
        .messages
        .iter()
        .filter(|message| message.topic == "devices/probe/temperature/degrees")
        .count();
    assert_eq!(readings, 1440);
    assert!(outcome.device_time.as_secs() >= 24 * 3600);
}
