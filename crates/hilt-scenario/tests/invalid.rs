//! Malformed scenario files: each must be rejected with diagnostics that
//! give the line, the column and what to do. One snapshot per file, named
//! after it, holds the rendered diagnostics.

mod common;

use std::path::{Path, PathBuf};

use common::TestCatalog;
use hilt_scenario::load;
use rstest::rstest;

/// Paths relative to the crate, so that snapshots do not depend on where
/// the repository is checked out.
fn relative(path: &Path) -> PathBuf {
    path.strip_prefix(env!("CARGO_MANIFEST_DIR"))
        .map(Path::to_path_buf)
        .unwrap_or_else(|_| path.to_path_buf())
}

#[rstest]
fn invalid_file_is_rejected(#[files("tests/invalid/*.yaml")] path: PathBuf) {
    let path = relative(&path);
    let stem = path
        .file_stem()
        .map(|stem| stem.to_string_lossy().into_owned())
        .unwrap_or_default();
    let diagnostics = match load(&path, &TestCatalog) {
        Ok(scenario) => panic!(
            "{} should be rejected, but parsed as {scenario:#?}",
            path.display()
        ),
        Err(diagnostics) => diagnostics,
    };
    assert!(!diagnostics.is_empty());
    for diagnostic in &diagnostics {
        assert_eq!(diagnostic.file, path);
        assert!(
            diagnostic.location.line >= 1 && diagnostic.location.column >= 1,
            "no place in the file: {diagnostic}"
        );
        assert!(
            !diagnostic.message.contains('\n'),
            "not one line: {diagnostic}"
        );
    }
    let mut sorted = diagnostics.0.clone();
    sorted.sort_by_key(|diagnostic| diagnostic.location);
    assert_eq!(sorted, diagnostics.0, "diagnostics are sorted by place");

    insta::with_settings!({ omit_expression => true, input_file => &path }, {
        insta::assert_snapshot!(stem, diagnostics.to_string());
    });
}

#[test]
fn unreadable_file_is_a_diagnostic_without_a_place() {
    let path = Path::new("tests/no-such-file.yaml");
    let diagnostics = match load(path, &TestCatalog) {
        Ok(scenario) => panic!("parsed {scenario:?}"),
        Err(diagnostics) => diagnostics,
    };
    assert_eq!(diagnostics.len(), 1);
    assert_eq!(diagnostics.0[0].location.line, 0);
    let rendered = diagnostics.to_string();
    assert_eq!(rendered, "tests/no-such-file.yaml: no such file");
}
