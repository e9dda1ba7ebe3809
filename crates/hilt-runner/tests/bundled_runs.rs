//! Properties of whole bundled runs: repeated runs agree, and a day of the
//! thermometer is a day of readings. (`scenarios.rs` runs each bundled file
//! as its own test.)

use std::path::{Path, PathBuf};

use hilt_runner::Registry;

/// Runs `path` with its path relative to the repository root, so reports
/// do not depend on where the checkout lives.
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
