//! The report's pages in a real headless browser (Debian's `chromium`):
//! each renders, its script runs to the end without an exception, nothing
//! is logged to the console, and a screenshot of a failing scenario's page
//! is kept for CI to upload.
//!
//! With `CI` set (as in `.ci/run`, which installs chromium) a missing
//! browser fails the test; elsewhere the test says it skipped and passes.

use std::path::{Path, PathBuf};
use std::process::Command;

use hilt_report::HtmlReport;
use hilt_runner::{Recording, Registry};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

/// Runs the scenario files (relative to the workspace) and writes their
/// report into `folder`; returns each page's path and the index's.
fn report(folder: &Path, files: &[&str]) -> (Vec<PathBuf>, PathBuf) {
    let registry = Registry::with_bundled_apps();
    let scenarios: Vec<_> = files
        .iter()
        .map(|file| {
            hilt_runner::load(&workspace().join(file), &registry)
                .unwrap_or_else(|diagnostics| panic!("{diagnostics}"))
        })
        .collect();
    let report = HtmlReport::create(folder, &scenarios).unwrap();
    let mut pages = Vec::new();
    for scenario in &scenarios {
        let (recording, events) = report.record().unwrap();
        let mut output = Recording::verdict_only();
        output.events = events;
        let outcome = hilt_runner::run_scenario_with(scenario, &registry, output);
        assert!(outcome.recording_error.is_none());
        pages.push(report.write_page(scenario, recording, &outcome).unwrap());
    }
    (pages, report.write_index().unwrap())
}

/// The browser to use, or `None` (after saying so) outside CI.
fn chromium() -> Option<PathBuf> {
    let found = ["chromium", "chromium-browser"].iter().find_map(|name| {
        Command::new(name)
            .arg("--version")
            .output()
            .ok()
            .filter(|output| output.status.success())
            .map(|_| PathBuf::from(name))
    });
    if found.is_none() {
        assert!(
            std::env::var_os("CI").is_none(),
            "chromium is not installed, and CI is set: .ci/run installs it (apt-get install chromium)"
        );
        eprintln!("note: chromium is not installed; the browser test is skipped (it runs in CI)");
    }
    found
}

/// What the browser made of a page: the DOM after its script ran, and the
/// console lines it logged.
struct Rendered {
    dom: String,
    console: Vec<String>,
}

fn render(browser: &Path, page: &Path, screenshot: Option<&Path>) -> Rendered {
    let profile = tempfile::tempdir().unwrap();
    let mut command = Command::new(browser);
    command.args([
        "--headless",
        "--disable-gpu",
        "--no-sandbox",
        "--hide-scrollbars",
        "--enable-logging=stderr",
        "--v=0",
        "--window-size=1400,1000",
    ]);
    command.arg(format!("--user-data-dir={}", profile.path().display()));
    match screenshot {
        Some(path) => command.arg(format!("--screenshot={}", path.display())),
        None => command.arg("--dump-dom"),
    };
    let url = format!("file://{}", page.canonicalize().unwrap().display());
    let output = command.arg(&url).output().expect("chromium runs");
    assert!(
        output.status.success(),
        "chromium failed on {url}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let console = String::from_utf8_lossy(&output.stderr)
        .lines()
        .filter(|line| line.contains(":CONSOLE") || line.contains("Uncaught"))
        .map(str::to_owned)
        .collect();
    Rendered {
        dom: String::from_utf8_lossy(&output.stdout).into_owned(),
        console,
    }
}

const PASSING: &str = "scenarios/remote-led/pair.yaml";
const FAILING: &str = "crates/hilt-runner/tests/fixtures/failing/led_goes_off_too_soon.yaml";

#[test]
fn pages_render_in_chromium_without_console_errors_and_the_failure_is_photographed() {
    let Some(browser) = chromium() else {
        return;
    };
    let folder = tempfile::tempdir().unwrap();
    let (pages, index) = report(folder.path(), &[PASSING, FAILING]);
    for page in pages.iter().chain([&index]) {
        let rendered = render(&browser, page, None);
        assert!(
            rendered.dom.contains("data-script=\"ok\""),
            "the script of {} did not finish: {}",
            page.display(),
            rendered
                .dom
                .split_once("data-script=")
                .map_or("no data-script attribute", |(_, rest)| &rest
                    [..rest.len().min(120)])
        );
        assert!(
            rendered.console.is_empty(),
            "{} logged to the console:\n{}",
            page.display(),
            rendered.console.join("\n")
        );
    }
    // The failing page names its failure, links the place it happened and
    // marks the failing step.
    let failing = std::fs::read_to_string(&pages[1]).unwrap();
    assert!(failing.contains("id=\"failure\""));
    assert!(failing.contains("FAILED: expected LED blue.led on for 1s"));
    assert!(failing.contains("class=\"step failing\""));

    let shots = std::env::var_os("HILT_REPORT_SCREENSHOTS")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace().join("target/hilt-report-screenshots"));
    std::fs::create_dir_all(&shots).unwrap();
    let shot = shots.join("failing-scenario.png");
    let _ = std::fs::remove_file(&shot);
    let rendered = render(&browser, &pages[1], Some(&shot));
    assert!(
        rendered.console.is_empty(),
        "{}",
        rendered.console.join("\n")
    );
    let png = std::fs::read(&shot).expect("chromium wrote the screenshot");
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "not a PNG");
    // A blank 1400×1000 page compresses to a few kilobytes; a drawn one
    // does not.
    assert!(png.len() > 40_000, "screenshot of {} bytes", png.len());
    println!("screenshot of the failing page: {}", shot.display());
}

#[test]
fn pages_fetch_nothing_from_the_network() {
    let folder = tempfile::tempdir().unwrap();
    let (pages, index) = report(folder.path(), &[FAILING]);
    for page in pages.iter().chain([&index]) {
        let html = std::fs::read_to_string(page).unwrap().to_lowercase();
        for reference in [
            "src=\"http",
            "href=\"http",
            "url(http",
            "<link",
            "@import",
            "src=\"//",
        ] {
            assert!(
                !html.contains(reference),
                "{} refers to something outside itself: {reference}",
                page.display()
            );
        }
    }
}
