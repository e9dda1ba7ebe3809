//! Scenario files that must fail, and files that must be rejected: the
//! report each produces is what a user reads, so it is asserted on.

use std::path::{Path, PathBuf};

use hilt_runner::{Registry, Verdict};
use rstest::rstest;

fn relative(path: &Path) -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    path.strip_prefix(root)
        .map(Path::to_path_buf)
        .unwrap_or_else(|_| path.to_owned())
}

/// The line each failing fixture's failing step is on, written in the file
/// as a comment `# fails at line N`.
fn declared_failing_line(text: &str) -> usize {
    text.lines()
        .find_map(|line| line.trim().strip_prefix("# fails at line "))
        .and_then(|number| number.trim().parse().ok())
        .expect("every failing fixture says '# fails at line N'")
}

#[rstest]
fn failing_fixture_fails_with_a_report(#[files("tests/fixtures/failing/*.yaml")] path: PathBuf) {
    let registry = Registry::with_bundled_apps();
    let text = std::fs::read_to_string(&path).unwrap();
    let scenario =
        hilt_scenario::parse(&relative(&path), &text, &registry).unwrap_or_else(|d| panic!("{d}"));
    let outcome = hilt_runner::run_scenario(&scenario, &registry);
    let Verdict::Failed(failure) = &outcome.verdict else {
        panic!("expected a failure, got {}", outcome.report());
    };
    assert_eq!(
        failure.line,
        declared_failing_line(&text),
        "{}",
        outcome.report()
    );
    let name = path.file_stem().unwrap().to_string_lossy().into_owned();
    insta::assert_snapshot!(format!("failing__{name}"), outcome.report());
}

#[rstest]
fn invalid_fixture_is_rejected_with_line_and_column(
    #[files("tests/fixtures/invalid/*.yaml")] path: PathBuf,
) {
    let registry = Registry::with_bundled_apps();
    let text = std::fs::read_to_string(&path).unwrap();
    let diagnostics = hilt_scenario::parse(&relative(&path), &text, &registry)
        .expect_err("the file must be rejected");
    for diagnostic in &diagnostics.0 {
        assert!(
            diagnostic.location.line > 0 && diagnostic.location.column > 0,
            "{diagnostic}"
        );
    }
    let name = path.file_stem().unwrap().to_string_lossy().into_owned();
    insta::assert_snapshot!(format!("invalid__{name}"), diagnostics.to_string());
}
