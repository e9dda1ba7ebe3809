//! No input may make the parser panic: every valid file is mangled in many
//! small ways (at every position a character deleted, and two of YAML's
//! special characters inserted in turn) and each result must parse or be
//! rejected with placed diagnostics.

mod common;

use std::path::{Path, PathBuf};

use common::TestCatalog;
use hilt_scenario::parse;
use rstest::rstest;

const INSERTS: &[&str] = &[
    ":", "-", "{", "}", "[", "]", "\"", "'", "\t", "\n", "#", "&a ", "*a", "!!", "%", "|", ">",
    ".", "---\n", "\u{feff}", "é",
];

fn check(text: &str) {
    if let Err(diagnostics) = parse(Path::new("fuzz.yaml"), text, &TestCatalog) {
        assert!(!diagnostics.is_empty());
        for diagnostic in &diagnostics {
            assert!(
                diagnostic.location.line >= 1 && diagnostic.location.column >= 1,
                "no place for {diagnostic} in:\n{text}"
            );
            // The validator's fallback when a check failed without saying why.
            assert_ne!(
                diagnostic.message, "the scenario is invalid",
                "unexplained failure in:\n{text}"
            );
        }
    }
}

/// One trial per file so they run in parallel; the file of the language
/// page's examples is left out as it is long and adds no new shapes.
#[rstest]
fn mangled_valid_files_never_panic(
    #[files("tests/valid/*.yaml")]
    #[exclude("spec_examples")]
    file: PathBuf,
) {
    let text = match std::fs::read_to_string(&file) {
        Ok(text) => text,
        Err(error) => panic!("{}: {error}", file.display()),
    };
    let boundaries: Vec<usize> = text
        .char_indices()
        .map(|(index, _)| index)
        .chain([text.len()])
        .collect();
    for (position, window) in boundaries.windows(2).enumerate() {
        let (start, end) = (window[0], window[1]);
        check(&format!("{}{}", &text[..start], &text[end..]));
        // Two inserts per position, cycling so that every insert meets
        // every kind of place without trying all of them everywhere.
        for insert in [
            INSERTS[position % INSERTS.len()],
            INSERTS[(position * 7 + 3) % INSERTS.len()],
        ] {
            check(&format!("{}{insert}{}", &text[..start], &text[start..]));
        }
    }
}

#[test]
fn odd_documents_never_panic() {
    for text in [
        "",
        "\n",
        "---",
        "---\n...\n",
        "...",
        "~",
        "null",
        "[]",
        "{}",
        "{}}",
        "a: 1\n---\n- b\n",
        "a: 1\n...\nb: 2\n",
        "%YAML 1.2\n---\nname: x\n",
        "? a\n: b\n",
        "? [a]\n: b\n",
        "a: &x 1\nb: *x\n",
        "a: *x\n",
        "name: !!binary aGk=\n",
        "\u{feff}name: bom\n",
        "\u{0}",
        "name: \"\\uD800\"\n",
        &"[".repeat(300),
        &"{a: ".repeat(300),
        &"- ".repeat(300),
        &format!(
            "name: deep\ndevices: {{ p: {{ app: thermometer, config: {} }} }}\nsteps: []\n",
            "[".repeat(200) + &"]".repeat(200)
        ),
        &format!(
            "name: deep\ndevices: {{ p: {{ app: thermometer }} }}\nsteps: [{{ publish: {{ topic: a, json: {} }} }}]\n",
            "[".repeat(200) + &"]".repeat(200)
        ),
        "name: x\ndevices: { p: { app: thermometer } }\nsteps: [{ expect: { topic: a, matches: '(((((((((((((((((((((a{1000}){1000}){1000})' } }]\n",
        "name: x\ndevices: { p: { app: thermometer } }\nsteps: [{ wait: 99999999999999999999999999999999999999999999h }]\n",
    ] {
        check(text);
    }
}
