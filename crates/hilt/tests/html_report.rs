//! `hilt replay --html DIR`: a page per scenario, an index, and a failing
//! scenario's report naming the page to open.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn repository_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn hilt(arguments: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_hilt"))
        .args(arguments)
        .current_dir(repository_root())
        // The plain output, even when the tests themselves run in GitHub
        // Actions (whose step summary they must not write to) or with
        // colours forced.
        .env_remove("GITHUB_ACTIONS")
        .env_remove("GITHUB_STEP_SUMMARY")
        .env_remove("CLICOLOR_FORCE")
        .output()
        .expect("the hilt binary runs")
}

#[test]
fn replay_with_html_writes_a_page_per_scenario_and_names_the_failing_one() {
    let folder = tempfile::tempdir().unwrap();
    let report = folder.path().join("report");
    let output = hilt(&[
        "replay",
        "-j",
        "2",
        "--html",
        report.to_str().unwrap(),
        "scenarios/remote-led/harness_publish_lights_led.yaml",
        "crates/hilt-runner/tests/fixtures/failing/wrong_temperature.yaml",
    ]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(1), "{stdout}");

    let failing = report.join("crates-hilt-runner-tests-fixtures-failing-wrong_temperature.html");
    let passing = report.join("scenarios-remote-led-harness_publish_lights_led.html");
    // The failure report ends by naming its page; a pass names none.
    let report_of_failure = stdout
        .split("FAIL  crates/hilt-runner/tests/fixtures/failing/wrong_temperature.yaml")
        .nth(1)
        .expect("the failing scenario is reported");
    assert!(
        report_of_failure.contains(&format!("    open {}\n", failing.display())),
        "{stdout}"
    );
    assert_eq!(stdout.matches("    open ").count(), 1, "{stdout}");
    let index = report.join("index.html");
    assert!(
        stdout.contains(&format!("HTML report: open {}", index.display())),
        "{stdout}"
    );

    let failing_page = std::fs::read_to_string(&failing).unwrap();
    assert!(failing_page.contains("<span class=\"verdict fail\">FAIL</span>"));
    assert!(failing_page.contains("id=\"failure\""));
    assert!(failing_page.contains("with JSON matching {&quot;degrees&quot;:72.6"));
    let passing_page = std::fs::read_to_string(&passing).unwrap();
    assert!(passing_page.contains("<span class=\"verdict pass\">PASS</span>"));
    let index_page = std::fs::read_to_string(&index).unwrap();
    assert!(
        index_page
            .contains("href=\"crates-hilt-runner-tests-fixtures-failing-wrong_temperature.html\"")
    );
    assert!(index_page.contains("href=\"scenarios-remote-led-harness_publish_lights_led.html\""));
    // Failures come first in the index.
    assert!(
        index_page.find("wrong_temperature.html").unwrap()
            < index_page.find("harness_publish_lights_led.html").unwrap()
    );
}

#[test]
fn an_unwritable_report_folder_is_one_plain_sentence() {
    let folder = tempfile::tempdir().unwrap();
    let blocker = folder.path().join("file");
    std::fs::write(&blocker, "not a folder").unwrap();
    let output = hilt(&[
        "replay",
        "--html",
        blocker.join("report").to_str().unwrap(),
        "scenarios/remote-led/harness_publish_lights_led.yaml",
    ]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.starts_with("hilt: cannot create the report folder "),
        "{stderr}"
    );
}

#[test]
fn html_goes_with_junit_and_json_lines_leaving_standard_output_to_json() {
    let folder = tempfile::tempdir().unwrap();
    let report = folder.path().join("report");
    let junit = folder.path().join("junit.xml");
    let output = hilt(&[
        "replay",
        "--format",
        "json",
        "--junit",
        junit.to_str().unwrap(),
        "--html",
        report.to_str().unwrap(),
        "scenarios/remote-led/harness_publish_lights_led.yaml",
        "crates/hilt-runner/tests/fixtures/failing/wrong_temperature.yaml",
    ]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stdout}{stderr}");
    // Every line of standard output is a JSON object: a scenario each and
    // the summary; the line naming the index went to standard error.
    let kinds: Vec<String> = stdout
        .lines()
        .map(|line| {
            let value: serde_json::Value =
                serde_json::from_str(line).unwrap_or_else(|error| panic!("{error}: {line}"));
            value["kind"].as_str().unwrap().to_owned()
        })
        .collect();
    assert_eq!(kinds, ["scenario", "scenario", "summary"], "{stdout}");
    let index = report.join("index.html");
    assert!(
        stderr.contains(&format!("HTML report: open {}", index.display())),
        "{stderr}"
    );
    assert!(index.is_file());
    assert!(
        report
            .join("crates-hilt-runner-tests-fixtures-failing-wrong_temperature.html")
            .is_file()
    );
    let junit_text = std::fs::read_to_string(&junit).unwrap();
    assert!(junit_text.contains("<failure"), "{junit_text}");
    assert!(
        junit_text.contains("name=\"harness_publish_lights_led.yaml\""),
        "{junit_text}"
    );
}
