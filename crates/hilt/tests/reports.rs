//! `hilt replay`'s reports read back by tools that know nothing of hilt:
//! JUnit XML by roxmltree, JSON lines by serde_json, GitHub annotations
//! and the step summary as GitHub reads them; colours, --quiet and
//! --filter.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn repository_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// `hilt` in `folder`, with none of the variables that change its output
/// unless `environment` sets them.
fn hilt_in(folder: &Path, arguments: &[&str], environment: &[(&str, &str)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_hilt"));
    command
        .args(arguments)
        .current_dir(folder)
        .env_remove("GITHUB_ACTIONS")
        .env_remove("GITHUB_STEP_SUMMARY")
        .env_remove("NO_COLOR")
        .env_remove("CLICOLOR_FORCE")
        .env_remove("CLICOLOR");
    for (name, value) in environment {
        command.env(name, value);
    }
    command.output().expect("the hilt binary runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A folder `mixed/` with a passing scenario in `good/`, and a failing
/// one and an invalid one in `bad/`.
fn mixed_folder() -> tempfile::TempDir {
    let folder = tempfile::tempdir().unwrap();
    let root = repository_root();
    for (from, to) in [
        ("scenarios/remote-led/pair.yaml", "mixed/good/pair.yaml"),
        (
            "crates/hilt-runner/tests/fixtures/failing/wrong_temperature.yaml",
            "mixed/bad/wrong_temperature.yaml",
        ),
        (
            "crates/hilt-runner/tests/fixtures/invalid/unknown_config_key.yaml",
            "mixed/bad/unknown_config_key.yaml",
        ),
    ] {
        let target = folder.path().join(to);
        std::fs::create_dir_all(target.parent().unwrap()).unwrap();
        std::fs::copy(root.join(from), target).unwrap();
    }
    folder
}

fn test_case<'a, 'input>(
    document: &'a roxmltree::Document<'input>,
    name: &str,
) -> roxmltree::Node<'a, 'input> {
    document
        .descendants()
        .find(|node| node.has_tag_name("testcase") && node.attribute("name") == Some(name))
        .unwrap_or_else(|| panic!("a testcase named {name}"))
}

fn child<'a, 'input>(
    node: roxmltree::Node<'a, 'input>,
    tag: &str,
) -> Option<roxmltree::Node<'a, 'input>> {
    node.children().find(|child| child.has_tag_name(tag))
}

#[test]
fn junit_of_a_mixed_folder_reads_back_with_an_independent_parser() {
    let folder = mixed_folder();
    let report = folder.path().join("junit.xml");
    let output = hilt_in(
        folder.path(),
        &[
            "replay",
            "--keep-going",
            "--junit",
            report.to_str().unwrap(),
            "mixed",
        ],
        &[],
    );
    assert_eq!(output.status.code(), Some(2), "{}", text(&output.stderr));
    let xml = std::fs::read_to_string(&report).unwrap();
    let document = roxmltree::Document::parse(&xml).expect("well-formed XML");
    let root = document.root_element();
    assert_eq!(root.tag_name().name(), "testsuites");
    assert_eq!(root.attribute("tests"), Some("3"));
    assert_eq!(root.attribute("failures"), Some("1"));
    assert_eq!(root.attribute("errors"), Some("1"));
    let suites: Vec<_> = root
        .children()
        .filter(|node| node.has_tag_name("testsuite"))
        .map(|node| node.attribute("name").unwrap().to_owned())
        .collect();
    assert_eq!(suites, ["mixed/bad", "mixed/good"], "a suite per folder");

    let passed = test_case(&document, "pair.yaml");
    assert_eq!(passed.attribute("classname"), Some("mixed/good"));
    let time: f64 = passed.attribute("time").unwrap().parse().unwrap();
    assert!(time > 0.0, "{time}");
    assert!(child(passed, "failure").is_none() && child(passed, "error").is_none());
    let out = child(passed, "system-out")
        .and_then(|node| node.text())
        .unwrap();
    assert!(out.contains("--- line"), "the transcript: {out}");

    let failed = test_case(&document, "wrong_temperature.yaml");
    assert_eq!(failed.attribute("classname"), Some("mixed/bad"));
    let failure = child(failed, "failure").expect("a <failure>");
    let message = failure.attribute("message").unwrap();
    assert!(
        message.starts_with("mixed/bad/wrong_temperature.yaml:10: expected a message on"),
        "{message}"
    );
    let body = failure.text().unwrap();
    assert!(
        body.contains("seen instead") && body.contains("72.5"),
        "{body}"
    );
    let out = child(failed, "system-out")
        .and_then(|node| node.text())
        .unwrap();
    assert!(out.contains("FAILED: expected a message"), "{out}");

    let invalid = test_case(&document, "unknown_config_key.yaml");
    let error = child(invalid, "error").expect("an <error>");
    assert_eq!(error.attribute("type"), Some("invalid"));
    assert!(
        error
            .attribute("message")
            .unwrap()
            .starts_with("mixed/bad/unknown_config_key.yaml:6:7: unknown config key 'units'"),
        "{:?}",
        error.attribute("message")
    );
    assert!(invalid.attribute("time").is_none(), "it never ran");
}

#[test]
fn without_keep_going_the_valid_files_are_reported_as_not_run() {
    let folder = mixed_folder();
    let report = folder.path().join("junit.xml");
    let output = hilt_in(
        folder.path(),
        &["replay", "--junit", report.to_str().unwrap(), "mixed"],
        &[],
    );
    assert_eq!(output.status.code(), Some(2));
    assert!(
        text(&output.stdout).is_empty(),
        "nothing ran: {}",
        text(&output.stdout)
    );
    let xml = std::fs::read_to_string(&report).unwrap();
    let document = roxmltree::Document::parse(&xml).unwrap();
    for name in ["pair.yaml", "wrong_temperature.yaml"] {
        let skipped = child(test_case(&document, name), "skipped").expect("<skipped>");
        assert!(
            skipped
                .attribute("message")
                .unwrap()
                .contains("--keep-going"),
            "{xml}"
        );
    }
    assert!(child(test_case(&document, "unknown_config_key.yaml"), "error").is_some());
}

#[test]
fn json_lines_of_a_mixed_folder_follow_the_documented_schema() {
    let folder = mixed_folder();
    let output = hilt_in(
        folder.path(),
        &["replay", "--keep-going", "--format", "json", "mixed"],
        // JSON is all standard output says, even in GitHub Actions.
        &[("GITHUB_ACTIONS", "true")],
    );
    assert_eq!(output.status.code(), Some(2), "{}", text(&output.stderr));
    let stdout = text(&output.stdout);
    let lines: Vec<serde_json::Value> = stdout
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|error| panic!("{error}: {line}")))
        .collect();
    assert_eq!(lines.len(), 4, "three files and a summary: {stdout}");
    assert!(lines.iter().all(|line| line["version"] == 1));
    let by_file = |file: &str| {
        lines
            .iter()
            .find(|line| line["file"] == file)
            .unwrap_or_else(|| panic!("{file} in {stdout}"))
    };
    let invalid = by_file("mixed/bad/unknown_config_key.yaml");
    assert_eq!(invalid["kind"], "scenario");
    assert_eq!(invalid["status"], "invalid");
    assert_eq!(invalid["diagnostics"][0]["line"], 6);
    assert_eq!(invalid["diagnostics"][0]["column"], 7);
    assert!(invalid["name"].is_null() && invalid["failure"].is_null());

    let failed = by_file("mixed/bad/wrong_temperature.yaml");
    assert_eq!(failed["status"], "failed");
    assert_eq!(failed["failure"]["line"], 10);
    assert_eq!(failed["failure"]["gave_up_at_us"], 3_000_000);
    assert!(
        failed["failure"]["seen"][0]
            .as_str()
            .unwrap()
            .contains("72.5")
    );
    assert_eq!(failed["device_time_us"], 3_000_000);

    let passed = by_file("mixed/good/pair.yaml");
    assert_eq!(passed["status"], "passed");
    assert!(passed["messages"].as_u64().unwrap() > 0);
    assert!(passed["wall_time_s"].as_f64().unwrap() > 0.0);

    let summary = lines.last().unwrap();
    assert_eq!(summary["kind"], "summary");
    assert_eq!(
        (
            &summary["passed"],
            &summary["failed"],
            &summary["invalid"],
            &summary["exit_code"]
        ),
        (
            &serde_json::json!(1),
            &serde_json::json!(1),
            &serde_json::json!(1),
            &serde_json::json!(2)
        )
    );
    assert!(!stdout.contains("::error"), "no annotations in JSON");
}

#[test]
fn github_actions_gets_annotations_and_a_step_summary() {
    let folder = mixed_folder();
    let summary = folder.path().join("summary.md");
    std::fs::write(&summary, "earlier step\n").unwrap();
    let output = hilt_in(
        folder.path(),
        &["replay", "--keep-going", "mixed"],
        &[
            ("GITHUB_ACTIONS", "true"),
            ("GITHUB_STEP_SUMMARY", summary.to_str().unwrap()),
        ],
    );
    assert_eq!(output.status.code(), Some(2));
    let stdout = text(&output.stdout);
    let annotations: Vec<&str> = stdout
        .lines()
        .filter(|line| line.starts_with("::error "))
        .collect();
    assert_eq!(annotations.len(), 2, "{stdout}");
    assert!(
        annotations.contains(
            &"::error file=mixed/bad/unknown_config_key.yaml,line=6,col=7,\
              title=hilt%3A invalid scenario file::unknown config key 'units' for app \
              thermometer; did you mean 'unit'? expected one of unit, interval, keepalive, \
              username, password, tls, tls_server_name"
        ),
        "{stdout}"
    );
    let failure = annotations
        .iter()
        .find(|line| line.contains("wrong_temperature"))
        .unwrap();
    // The scenario's name has a comma, which a property escapes; the
    // message's line breaks are escaped too, so it is one line.
    assert!(
        failure.starts_with(
            "::error file=mixed/bad/wrong_temperature.yaml,line=10,\
             title=hilt%3A an edited expectation - the reading is 72.5%2C not 72.6 failed::\
             expected a message on"
        ),
        "{failure}"
    );
    assert!(failure.contains("%0A  seen instead:%0A"), "{failure}");
    assert!(
        stdout.contains("PASS  mixed/good/pair.yaml"),
        "the plain lines too"
    );

    let markdown = std::fs::read_to_string(&summary).unwrap();
    assert!(
        markdown.starts_with("earlier step\n## hilt replay"),
        "appended: {markdown}"
    );
    assert!(markdown.contains("| 1 | 1 | 0 | 1 | 0 |"), "{markdown}");
    assert!(
        markdown.contains("| ❌ failed | an edited expectation - the reading is 72.5, not 72.6 | `mixed/bad/wrong_temperature.yaml` | 3.000000s | line 10: expected"),
        "{markdown}"
    );
    assert!(markdown.contains("| 🚫 invalid |"), "{markdown}");

    // --format github does the same outside GitHub Actions, and without
    // GITHUB_STEP_SUMMARY writes no summary.
    let explicit = hilt_in(
        folder.path(),
        &["replay", "--keep-going", "--format", "github", "mixed"],
        &[],
    );
    assert_eq!(
        text(&explicit.stdout)
            .lines()
            .filter(|line| line.starts_with("::error "))
            .count(),
        2
    );
}

#[test]
fn pipes_get_plain_output_and_colours_follow_no_color() {
    let root = repository_root();
    let arguments = ["replay", "scenarios/remote-led/pair.yaml"];
    let plain = hilt_in(&root, &arguments, &[]);
    assert_eq!(plain.status.code(), Some(0));
    let stdout = text(&plain.stdout);
    assert!(
        stdout.starts_with("PASS  scenarios/remote-led/pair.yaml  "),
        "{stdout}"
    );
    assert!(
        !stdout.contains('\u{1b}'),
        "no colours in a pipe: {stdout:?}"
    );
    assert!(
        plain.stderr.is_empty(),
        "no progress display: {}",
        text(&plain.stderr)
    );

    let forced = hilt_in(&root, &arguments, &[("CLICOLOR_FORCE", "1")]);
    assert!(
        text(&forced.stdout).starts_with("\u{1b}["),
        "{:?}",
        text(&forced.stdout)
    );
    let refused = hilt_in(
        &root,
        &arguments,
        &[("CLICOLOR_FORCE", "1"), ("NO_COLOR", "1")],
    );
    assert!(!text(&refused.stdout).contains('\u{1b}'), "NO_COLOR wins");
    let empty = hilt_in(
        &root,
        &arguments,
        &[("CLICOLOR_FORCE", "1"), ("NO_COLOR", "")],
    );
    assert!(
        text(&empty.stdout).contains('\u{1b}'),
        "an empty NO_COLOR does not count"
    );
}

#[test]
fn quiet_prints_only_what_did_not_pass_and_the_summary() {
    let folder = mixed_folder();
    let output = hilt_in(
        folder.path(),
        &[
            "replay",
            "--quiet",
            "--filter",
            "mixed/good",
            "--filter",
            "temperature",
            "mixed",
        ],
        &[],
    );
    assert_eq!(output.status.code(), Some(1), "{}", text(&output.stderr));
    let stdout = text(&output.stdout);
    assert!(!stdout.contains("PASS "), "{stdout}");
    assert!(
        stdout.contains("FAIL  mixed/bad/wrong_temperature.yaml"),
        "{stdout}"
    );
    assert!(stdout.contains("1 passed, 1 failed, 0 errors"), "{stdout}");
}

#[test]
fn filter_takes_files_by_path_or_name_and_leaves_the_rest_uncounted() {
    let folder = mixed_folder();
    // By path: only the passing file, so the invalid one is not even read.
    let by_path = hilt_in(
        folder.path(),
        &["replay", "--filter", "good/", "mixed"],
        &[],
    );
    let stdout = text(&by_path.stdout);
    assert_eq!(
        by_path.status.code(),
        Some(0),
        "{stdout}{}",
        text(&by_path.stderr)
    );
    assert!(
        stdout.contains("filter 'good/': 1 of 3 scenario files"),
        "{stdout}"
    );
    assert!(
        stdout.contains("1 passed, 0 failed, 0 errors (1 scenarios"),
        "{stdout}"
    );
    // By the scenario's name, for check too.
    let by_name = hilt_in(
        folder.path(),
        &["check", "--filter", "the reading is 72.5", "mixed"],
        &[],
    );
    let stdout = text(&by_name.stdout);
    assert_eq!(by_name.status.code(), Some(0), "{stdout}");
    assert!(
        stdout.contains("ok mixed/bad/wrong_temperature.yaml"),
        "{stdout}"
    );
    assert!(stdout.contains("1 valid scenario files"), "{stdout}");
    // Nothing taken: said, and nothing run.
    let none = hilt_in(
        folder.path(),
        &["replay", "--filter", "nothing such", "mixed"],
        &[],
    );
    assert_eq!(none.status.code(), Some(0));
    assert!(text(&none.stdout).contains("takes none of the 3 scenario files"));
}

#[test]
fn verbose_and_json_together_are_a_usage_error() {
    let output = hilt_in(
        &repository_root(),
        &[
            "replay",
            "--verbose",
            "--format",
            "json",
            "scenarios/remote-led/pair.yaml",
        ],
        &[],
    );
    assert_eq!(output.status.code(), Some(2));
    assert!(
        text(&output.stderr).contains("--verbose"),
        "{}",
        text(&output.stderr)
    );
    assert!(output.stdout.is_empty());
}

/// Every file `hilt replay` can write, for a scenario whose devices and
/// broker have passwords, searched for them: none may hold one. The
/// scenario is run passing and failing (a failure report quotes messages
/// and steps), with JSON lines, JUnit, CSV and HTML.
#[test]
fn no_report_holds_a_password() {
    const PASSWORDS: [&str; 2] = ["correct-horse", "battery-staple"];
    let folder = tempfile::tempdir().unwrap();
    let scenario = std::fs::read_to_string(
        repository_root().join("scenarios/security/wrong_credentials_back_off.yaml"),
    )
    .unwrap();
    std::fs::write(folder.path().join("passes.yaml"), &scenario).unwrap();
    // Failing: the good board's reading in Celsius, which it is not.
    let failing = scenario.replace("json: { unit: F }", "json: { unit: C }");
    assert_ne!(failing, scenario);
    std::fs::write(folder.path().join("fails.yaml"), failing).unwrap();
    let output = hilt_in(
        folder.path(),
        &[
            "replay",
            "--keep-going",
            "--format",
            "json",
            "--junit",
            "junit.xml",
            "--csv",
            "messages.csv",
            "--html",
            "html",
            "passes.yaml",
            "fails.yaml",
        ],
        &[],
    );
    assert_eq!(output.status.code(), Some(1), "{}", text(&output.stderr));
    let mut written = vec![
        ("stdout".to_owned(), text(&output.stdout)),
        ("stderr".to_owned(), text(&output.stderr)),
    ];
    let mut folders = vec![folder.path().to_path_buf()];
    while let Some(current) = folders.pop() {
        for entry in std::fs::read_dir(&current).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                folders.push(path);
            } else if path
                .extension()
                .is_some_and(|extension| extension != "yaml")
            {
                written.push((
                    path.display().to_string(),
                    std::fs::read_to_string(&path).unwrap(),
                ));
            }
        }
    }
    let names: Vec<&str> = written.iter().map(|(name, _)| name.as_str()).collect();
    for expected in ["junit.xml", "messages.csv", "index.html"] {
        assert!(
            names.iter().any(|name| name.ends_with(expected)),
            "{expected} was written: {names:?}"
        );
    }
    assert!(
        written
            .iter()
            .any(|(_, contents)| contents.contains("password hidden")),
        "some output shows the CONNECT with its password hidden"
    );
    for (name, contents) in &written {
        for password in PASSWORDS {
            assert!(
                !contents.contains(password),
                "{name} holds the password {password}"
            );
        }
    }
}
