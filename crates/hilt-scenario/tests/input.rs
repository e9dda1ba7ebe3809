//! A scenario file is read whole or rejected: characters YAML forbids are
//! errors at their place, nothing after any character is silently lost, and
//! only regular files of a bounded size are read.

mod common;

use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Duration;

use common::TestCatalog;
use hilt_scenario::{
    Diagnostics, Location, MAX_FILE_BYTES, PayloadMatch, Scenario, StepKind, load, parse,
};

const HEADER: &str = "name: characters\ndevices:\n  probe: { app: thermometer }\nsteps:\n";

/// Every character YAML 1.2 leaves out of its printable set (§5.1).
fn forbidden_by_yaml(character: char) -> bool {
    let code = u32::from(character);
    !(code == 0x9
        || code == 0xA
        || code == 0xD
        || (0x20..=0x7E).contains(&code)
        || code == 0x85
        || (0xA0..=0xD7FF).contains(&code)
        || (0xE000..=0xFFFD).contains(&code)
        || (0x10000..=0x10FFFF).contains(&code))
}

/// Every character up to U+02FF, and the unusual ones above it that a
/// parser might treat specially.
fn characters_to_try() -> Vec<char> {
    (0u32..=0x2FF)
        .chain([
            0x2028, 0x2029, 0x200B, 0xFEFF, 0xFFFD, 0xFFFE, 0xFFFF, 0x1F600, 0x10FFFF,
        ])
        .filter_map(char::from_u32)
        .collect()
}

fn parse_text(text: &str) -> Result<Scenario, Diagnostics> {
    parse(Path::new("input.yaml"), text, &TestCatalog)
}

/// The character as it sits in a step on line 5, in each kind of place a
/// character can be: a comment, plain text, single and double quotes.
fn step_holding(character: char) -> Vec<String> {
    vec![
        format!("  - wait: 1s # a{character}b\n"),
        format!("  - publish: {{ topic: a, payload: a{character}b }}\n"),
        format!("  - publish: {{ topic: a, payload: 'a{character}b' }}\n"),
        format!("  - publish: {{ topic: a, payload: \"a{character}b\" }}\n"),
    ]
}

#[test]
fn every_character_yaml_forbids_is_an_error_at_its_place_naming_it() {
    for character in characters_to_try()
        .into_iter()
        .filter(|c| forbidden_by_yaml(*c))
    {
        let code = format!("U+{:04X}", u32::from(character));
        for step in step_holding(character) {
            let text = format!("{HEADER}{step}  - wait: 3s\n");
            let column = step.chars().position(|c| c == character).unwrap() + 1;
            let diagnostics = match parse_text(&text) {
                Ok(_) => panic!("{code} was accepted in {step:?}"),
                Err(diagnostics) => diagnostics,
            };
            assert_eq!(diagnostics.len(), 1, "{code} in {step:?}: {diagnostics}");
            let diagnostic = &diagnostics.0[0];
            assert_eq!(
                diagnostic.location,
                Location { line: 5, column },
                "{code} in {step:?}: {diagnostic}"
            );
            assert!(
                diagnostic.message.starts_with(&code),
                "{code} in {step:?}: {diagnostic}"
            );
        }
    }
}

#[test]
fn nothing_after_any_character_is_silently_dropped() {
    for character in characters_to_try() {
        let code = format!("U+{:04X}", u32::from(character));
        for (place, step) in step_holding(character).into_iter().enumerate() {
            // A last step that a file cut short would lose.
            let text = format!("{HEADER}{step}  - wait: 3s\n");
            match parse_text(&text) {
                Ok(scenario) => {
                    assert!(!forbidden_by_yaml(character), "{code} accepted in {step:?}");
                    assert_eq!(scenario.steps.len(), 2, "{code} in {step:?}");
                    assert!(
                        matches!(
                            scenario.steps[1].kind,
                            StepKind::Wait(wait) if wait == Duration::from_secs(3)
                        ),
                        "{code} in {step:?}"
                    );
                    // In a value, the character and what follows it are kept.
                    if let StepKind::Publish(publish) = &scenario.steps[0].kind {
                        let payload = String::from_utf8_lossy(&publish.payload);
                        // (`"a\b"` is an escape, a backspace.)
                        let escape = place == 3 && character == '\\';
                        if place > 0 && !character.is_whitespace() && !escape {
                            assert!(payload.ends_with('b'), "{code}: payload {payload:?}");
                        }
                    }
                }
                Err(diagnostics) => {
                    for diagnostic in &diagnostics {
                        assert!(diagnostic.location.line >= 1, "{diagnostic}");
                    }
                    if forbidden_by_yaml(character) {
                        assert!(diagnostics.to_string().contains(&code), "{diagnostics}");
                    }
                }
            }
        }
    }
}

#[test]
fn a_nul_in_a_comment_no_longer_ends_the_file() {
    // Before the check, the parser took the NUL for the end of the text and
    // the file passed without its later steps.
    let text = format!("{HEADER}  - wait: 1s # \0\n  - wait: 2s\n  - bogus: 1\n");
    let diagnostics = parse_text(&text).expect_err("the file must be rejected");
    assert_eq!(
        diagnostics.to_string(),
        "input.yaml:5:16: U+0000 (NUL), a control character YAML does not allow in a file; \
         delete it, or if a value needs it, write it as the escape \"\\u0000\" inside double quotes"
    );
}

#[test]
fn an_escaped_control_character_in_double_quotes_is_fine() {
    let text = format!("{HEADER}  - publish: {{ topic: a, payload: \"a\\u0000b\\x07\" }}\n");
    let scenario = parse_text(&text).unwrap_or_else(|diagnostics| panic!("{diagnostics}"));
    let StepKind::Publish(publish) = &scenario.steps[0].kind else {
        panic!("{:?}", scenario.steps[0].kind);
    };
    assert_eq!(publish.payload, b"a\0b\x07");
}

#[test]
fn a_byte_order_mark_at_the_start_is_skipped() {
    let text = format!("\u{feff}{HEADER}  - expect: {{ topic: a, matches: '(' }}\n");
    let diagnostics = parse_text(&text).expect_err("the regex is invalid");
    // Columns count from after the mark, as editors show them.
    assert_eq!(
        diagnostics.to_string(),
        "input.yaml:5:34: invalid regex '(' in `matches`: unclosed group"
    );
    let scenario = parse_text(&format!(
        "\u{feff}{HEADER}  - expect: {{ topic: a, matches: '^a' }}\n"
    ))
    .unwrap_or_else(|diagnostics| panic!("{diagnostics}"));
    assert_eq!(scenario.name, "characters");
    assert!(matches!(
        &scenario.steps[0].kind,
        StepKind::Expect(hilt_scenario::Expectation::Message(message))
            if matches!(&message.body, Some(PayloadMatch::Regex(regex)) if regex.as_str() == "^a")
    ));
}

// ---- files ------------------------------------------------------------

/// An empty folder of this test's own under the target's temporary folder.
fn scratch(name: &str) -> PathBuf {
    let folder = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("hilt-scenario-input")
        .join(name);
    let _ = std::fs::remove_dir_all(&folder);
    std::fs::create_dir_all(&folder).unwrap();
    folder
}

/// `load`, on a thread, so that a regression that blocks fails the test
/// instead of hanging it.
fn load_promptly(path: &Path) -> Result<Scenario, Diagnostics> {
    let (sender, receiver) = mpsc::channel();
    let owned = path.to_owned();
    std::thread::spawn(move || {
        let _ = sender.send(load(&owned, &TestCatalog));
    });
    receiver
        .recv_timeout(Duration::from_secs(20))
        .unwrap_or_else(|_| panic!("loading {} blocked", path.display()))
}

/// The one whole-file diagnostic loading `path` gives.
fn refusal(path: &Path) -> String {
    let diagnostics = match load_promptly(path) {
        Ok(scenario) => panic!("{} was accepted: {scenario:?}", path.display()),
        Err(diagnostics) => diagnostics,
    };
    assert_eq!(diagnostics.len(), 1, "{diagnostics}");
    assert_eq!(diagnostics.0[0].location.line, 0, "{diagnostics}");
    diagnostics.to_string()
}

#[test]
fn a_file_over_the_limit_is_refused_unread() {
    let folder = scratch("too_large");
    let path = folder.join("large.yaml");
    // Sparse: its size says it is too large; nothing needs reading to know.
    std::fs::File::create(&path)
        .unwrap()
        .set_len(MAX_FILE_BYTES + 1)
        .unwrap();
    assert_eq!(
        refusal(&path),
        format!(
            "{}: the file is 4194305 bytes, more than the 4 MiB (4194304 bytes) a scenario \
             file may be; a scenario is a few kilobytes of YAML, so check that this is the \
             file you meant",
            path.display()
        )
    );
}

#[test]
fn a_file_of_exactly_the_limit_is_read() {
    let folder = scratch("at_the_limit");
    let path = folder.join("large.yaml");
    let mut text = format!("{HEADER}  - wait: 1s\n#");
    let padding = usize::try_from(MAX_FILE_BYTES).unwrap() - text.len() - 1;
    text.push_str(&"x".repeat(padding));
    text.push('\n');
    assert_eq!(text.len() as u64, MAX_FILE_BYTES);
    std::fs::write(&path, &text).unwrap();
    let scenario = load_promptly(&path).unwrap_or_else(|diagnostics| panic!("{diagnostics}"));
    assert_eq!(scenario.steps.len(), 1);
}

#[cfg(unix)]
#[test]
fn a_fifo_is_refused_without_blocking() {
    let folder = scratch("fifo");
    let path = folder.join("x.yaml");
    let made = std::process::Command::new("mkfifo")
        .arg(&path)
        .status()
        .expect("mkfifo runs");
    assert!(made.success());
    assert_eq!(
        refusal(&path),
        format!(
            "{}: a FIFO (named pipe), not a regular file; hilt reads scenarios only from \
             regular files",
            path.display()
        )
    );
}

#[cfg(unix)]
#[test]
fn a_device_is_refused_without_reading_it() {
    for device in ["/dev/zero", "/dev/null", "/dev/urandom"] {
        assert_eq!(
            refusal(Path::new(device)),
            format!(
                "{device}: a character device, not a regular file; hilt reads scenarios only \
                 from regular files"
            )
        );
    }
}

#[test]
fn a_folder_is_refused() {
    let folder = scratch("folder");
    assert_eq!(
        refusal(&folder),
        format!(
            "{}: a folder, not a scenario file; name the folder itself to run every *.yaml in it",
            folder.display()
        )
    );
}

#[test]
fn a_missing_file_is_one_plain_sentence() {
    let folder = scratch("missing");
    let path = folder.join("absent.yaml");
    assert_eq!(refusal(&path), format!("{}: no such file", path.display()));
}

#[cfg(unix)]
#[test]
fn symbolic_links_that_loop_or_lead_nowhere_are_named_as_such() {
    let folder = scratch("links");
    let first = folder.join("first.yaml");
    let second = folder.join("second.yaml");
    std::os::unix::fs::symlink("second.yaml", &first).unwrap();
    std::os::unix::fs::symlink("first.yaml", &second).unwrap();
    assert_eq!(
        refusal(&first),
        format!(
            "{}: a symbolic link that leads back to itself (a loop); point it at a real file",
            first.display()
        )
    );
    let dangling = folder.join("dangling.yaml");
    std::os::unix::fs::symlink("gone.yaml", &dangling).unwrap();
    assert_eq!(
        refusal(&dangling),
        format!(
            "{}: a symbolic link to {}, which does not exist",
            dangling.display(),
            folder.join("gone.yaml").display()
        )
    );
    // A link to a real file reads it.
    let real = folder.join("real.yaml");
    std::fs::write(&real, format!("{HEADER}  - wait: 1s\n")).unwrap();
    let link = folder.join("link.yaml");
    std::os::unix::fs::symlink("real.yaml", &link).unwrap();
    assert!(load_promptly(&link).is_ok());
}
