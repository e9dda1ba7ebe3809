//! The raw layer: scenario text read into marked-yaml nodes.
//!
//! Every node keeps the line and column it came from, so the validator can
//! point at the exact place of each problem. This module also turns YAML
//! syntax errors into diagnostics that say what to do, and rejects the YAML
//! features a scenario has no use for (several documents, anchors, tags),
//! since a file using them almost certainly does not mean what it says.

use std::path::Path;

use marked_yaml::loader::DuplicateKeyInner;
use marked_yaml::types::MarkedScalarNode;
use marked_yaml::{LoadError, LoaderOptions, Marker, Node};
use yaml_rust2::parser::{Event, Parser};
use yaml_rust2::scanner::ScanError;

use crate::{Diagnostic, Diagnostics, Location};

/// Reads scenario text into a node tree whose top level is a mapping.
///
/// `text` must not start with a byte order mark; [`crate::parse`] removes one.
pub(crate) fn read(file: &Path, text: &str) -> Result<Node, Diagnostics> {
    // Before any parsing: the YAML parser takes a NUL for the end of the
    // text, so whatever followed one would silently vanish.
    check_characters(file, text)?;
    let options = LoaderOptions::default()
        .error_on_duplicate_keys(true)
        // Records which scalars were quoted, which `json:` needs.
        .prevent_coercion(true)
        .toplevel_mapping();
    // First, with yaml-rust2's event parser (a state machine, no recursion):
    // one document, and no nesting deep enough to overflow the stack of the
    // loader below, which recurses once per level.
    let one = |diagnostic| Diagnostics(vec![diagnostic]);
    check_single_document(file, text).map_err(one)?;
    let mut root = marked_yaml::parse_yaml_with_options(0, text, options)
        .map_err(|error| one(load_error(file, text, &error)))?;
    point_empty_values_at_their_keys(&mut root);
    Ok(root)
}

/// Whether YAML 1.2 forbids `character` in a file: it is outside the
/// printable set (§5.1), which leaves out the C0 controls but tab, line feed
/// and carriage return, DEL, the C1 controls but NEL (U+0085), and the
/// noncharacters U+FFFE and U+FFFF. Such a character can still be written
/// as an escape inside double quotes (`"\u0007"`).
pub(crate) fn is_forbidden(character: char) -> bool {
    match character {
        '\t' | '\n' | '\r' | '\u{85}' => false,
        '\0'..='\u{1f}' | '\u{7f}'..='\u{9f}' => true,
        '\u{fffe}' | '\u{ffff}' => true,
        _ => false,
    }
}

/// The most forbidden characters reported one by one; a binary file has
/// thousands.
const MOST_FORBIDDEN_REPORTED: usize = 10;

/// Rejects every character YAML does not allow, each at its line and column
/// (lines counted as the YAML parser counts them: CR LF, CR or LF ends one).
fn check_characters(file: &Path, text: &str) -> Result<(), Diagnostics> {
    if !text.chars().any(is_forbidden) {
        return Ok(());
    }
    let mut found: Vec<(Location, char)> = Vec::new();
    let mut total = 0usize;
    let mut location = Location { line: 1, column: 1 };
    let mut characters = text.chars().peekable();
    while let Some(character) = characters.next() {
        if is_forbidden(character) {
            total += 1;
            if found.len() < MOST_FORBIDDEN_REPORTED {
                found.push((location, character));
            }
        }
        let line_break = match character {
            '\r' => {
                characters.next_if_eq(&'\n');
                true
            }
            '\n' => true,
            _ => false,
        };
        location = if line_break {
            Location {
                line: location.line + 1,
                column: 1,
            }
        } else {
            Location {
                line: location.line,
                column: location.column + 1,
            }
        };
    }
    let last = found.len().saturating_sub(1);
    let diagnostics = found
        .into_iter()
        .enumerate()
        .map(|(index, (at, character))| {
            let mut message = forbidden_message(character);
            if index == last && total > MOST_FORBIDDEN_REPORTED {
                let more = total - MOST_FORBIDDEN_REPORTED;
                message.push_str(&format!(" ({more} more such characters follow)"));
            }
            Diagnostic::new(file, at, message)
        })
        .collect();
    Err(Diagnostics(diagnostics))
}

/// What is wrong with a forbidden character, naming it by code point.
fn forbidden_message(character: char) -> String {
    let code = u32::from(character);
    let what = match control_name(character) {
        Some(name) => format!("U+{code:04X} ({name}), a control character"),
        None if character == '\u{fffe}' || character == '\u{ffff}' => {
            format!("U+{code:04X}, a noncharacter")
        }
        None => format!("U+{code:04X}, a C1 control character"),
    };
    format!(
        "{what} YAML does not allow in a file; delete it, or if a value needs it, \
         write it as the escape \"\\u{code:04X}\" inside double quotes"
    )
}

/// The ASCII name of a C0 control character or DEL.
fn control_name(character: char) -> Option<&'static str> {
    const C0: [&str; 32] = [
        "NUL", "SOH", "STX", "ETX", "EOT", "ENQ", "ACK", "BEL", "BS", "TAB", "LF", "VT", "FF",
        "CR", "SO", "SI", "DLE", "DC1", "DC2", "DC3", "DC4", "NAK", "SYN", "ETB", "CAN", "EM",
        "SUB", "ESC", "FS", "GS", "RS", "US",
    ];
    match character {
        '\u{7f}' => Some("DEL"),
        _ => C0.get(usize::try_from(u32::from(character)).ok()?).copied(),
    }
}

/// A key written with nothing after it (`steps:` at the end of a file) has
/// an empty value that marked-yaml places where the parser next found
/// something, often lines further on. Such a value is placed at its key,
/// so that a problem with it is reported on the key's line.
fn point_empty_values_at_their_keys(node: &mut Node) {
    match node {
        Node::Mapping(mapping) => {
            for (key, value) in mapping.iter_mut() {
                match value {
                    Node::Scalar(scalar) if scalar.as_str().is_empty() && scalar.may_coerce() => {
                        let start = key.span().start().copied();
                        if start.is_some() {
                            scalar.span_mut().set_start(start);
                        }
                    }
                    _ => point_empty_values_at_their_keys(value),
                }
            }
        }
        Node::Sequence(sequence) => sequence
            .iter_mut()
            .for_each(point_empty_values_at_their_keys),
        Node::Scalar(_) => {}
    }
}

fn load_error(file: &Path, text: &str, error: &LoadError) -> Diagnostic {
    match error {
        LoadError::TopLevelMustBeMapping(marker) | LoadError::TopLevelMustBeSequence(marker) => {
            Diagnostic::new(
                file,
                marker_location(Some(marker)),
                "a scenario file is a YAML map with keys such as name, devices and steps; \
                 this one's top level is not a map",
            )
        }
        LoadError::UnexpectedAnchor(marker) => Diagnostic::new(
            file,
            marker_location(Some(marker)),
            "YAML anchors and aliases (&name, *name) are not supported in scenario files; \
             write the value out in full",
        ),
        LoadError::MappingKeyMustBeScalar(marker) => Diagnostic::new(
            file,
            marker_location(Some(marker)),
            "a map key must be plain text, not a map or a list",
        ),
        LoadError::UnexpectedTag(marker) => Diagnostic::new(
            file,
            marker_location(Some(marker)),
            "YAML tags such as !!str are not supported in scenario files; \
             quote a value to keep it as text",
        ),
        LoadError::DuplicateKey(inner) => {
            let DuplicateKeyInner { prev_key, key } = inner.as_ref();
            let first = scalar_location(prev_key);
            Diagnostic::new(
                file,
                scalar_location(key),
                format!(
                    "duplicate key '{}' (first given at line {}, column {}); keep only one",
                    key.as_str(),
                    first.line,
                    first.column
                ),
            )
        }
        LoadError::ScanError(_, scan_error) => scan_diagnostic(file, text, scan_error),
    }
}

/// A YAML syntax error, reworded to say what to do where the wording of the
/// YAML parser is known to puzzle people.
fn scan_diagnostic(file: &Path, text: &str, error: &ScanError) -> Diagnostic {
    let marker = error.marker();
    let mut location = Location {
        line: marker.line(),
        column: marker.col() + 1,
    };
    let info = error.info();
    let advice = if info.contains("tab") {
        // The parser points just past the tab; point at the tab itself.
        if let Some(column) = first_tab_column(text, location.line) {
            location.column = column;
        }
        "a tab is used for indentation; YAML indents with spaces only, so replace the tab with spaces"
            .to_string()
    } else {
        match info {
            "mapping values are not allowed in this context" => {
                "unexpected ':' here; check this line's indentation, \
                 or quote a value that contains ': '"
                    .to_string()
            }
            "invalid indentation in quoted scalar" => {
                "quoted text runs on into the next lines; check that it has its closing quote"
                    .to_string()
            }
            "while scanning a quoted scalar, found unexpected end of stream" => {
                "quoted text that is never closed; add the closing quote".to_string()
            }
            "while parsing a quoted scalar, found unknown escape character" => {
                "unknown escape in double-quoted text; write \\\\ for a backslash, \
                 or use single quotes (no escapes), as for regexes like '^\\d+$'"
                    .to_string()
            }
            "while parsing a block mapping, did not find expected key" => {
                "expected a `key: value` line here; check this line's indentation".to_string()
            }
            "while parsing a block collection, did not find expected '-' indicator" => {
                "expected a list item (`- ...`) here; check this line's indentation".to_string()
            }
            "block sequence entries are not allowed in this context" => {
                "a list item (`- `) cannot start here; put the list on the lines below its key"
                    .to_string()
            }
            "simple key expect ':'" => {
                "expected ':' after a key; a map entry is written `key: value`".to_string()
            }
            "while parsing a flow mapping, did not find expected ',' or '}'" => {
                "a `{ ... }` map is not closed, or lacks a ',' between entries".to_string()
            }
            "while parsing a flow sequence, expected ',' or ']'" => {
                "a `[ ... ]` list is not closed, or lacks a ',' between items".to_string()
            }
            "invalid indentation" | "invalid indentation in flow construct" => {
                "invalid indentation; line this up with the other keys of its map".to_string()
            }
            // yaml-rust2 says "double-quoted" after single quotes too.
            "invalid trailing content after double-quoted scalar" => {
                let quotes = match quote_before(text, marker.index()) {
                    Some('\'') => "single-quoted",
                    Some('"') => "double-quoted",
                    _ => "quoted",
                };
                format!(
                    "unexpected text after {quotes} text; a quoted value ends at its closing \
                     quote, so quote the whole value or remove what follows"
                )
            }
            // yaml-rust2 counts `[` and `{` levels in a byte, and stops at 256
            // before the nesting check below sees the first of them.
            "recursion limit exceeded" => return too_deep(file, location),
            other => format!("{other}; check the YAML syntax here"),
        }
    };
    Diagnostic::new(file, location, format!("invalid YAML: {advice}"))
}

/// The last character before character index `index` that is not a space
/// or tab: the closing quote, for text found after a quoted scalar.
fn quote_before(text: &str, index: usize) -> Option<char> {
    let before: Vec<char> = text.chars().take(index).collect();
    before
        .into_iter()
        .rev()
        .find(|character| *character != ' ' && *character != '\t')
}

/// Lists and maps nested deeper than [`MAX_NESTING`].
fn too_deep(file: &Path, location: Location) -> Diagnostic {
    Diagnostic::new(
        file,
        location,
        format!(
            "lists and maps are nested more than {MAX_NESTING} deep here; \
             a scenario needs a handful of levels, so this is surely a mistake"
        ),
    )
}

/// The 1-based column of the first tab in the leading whitespace of a line.
fn first_tab_column(text: &str, line: usize) -> Option<usize> {
    let line_text = text.lines().nth(line.checked_sub(1)?)?;
    line_text
        .chars()
        .take_while(|c| c.is_whitespace())
        .position(|c| c == '\t')
        .map(|index| index + 1)
}

/// marked-yaml reads only the first YAML document and ignores the rest, so
/// this second pass over the events finds a second document or trailing
/// garbage, which would otherwise be silently dropped.
fn check_single_document(file: &Path, text: &str) -> Result<(), Diagnostic> {
    let mut parser = Parser::new_from_str(text);
    let mut documents = 0usize;
    let mut depth = 0usize;
    loop {
        match parser.next_token() {
            Ok((Event::StreamEnd, _)) => return Ok(()),
            Ok((Event::SequenceStart(..) | Event::MappingStart(..), marker)) => {
                depth += 1;
                if depth > MAX_NESTING {
                    return Err(too_deep(
                        file,
                        Location {
                            line: marker.line(),
                            column: marker.col() + 1,
                        },
                    ));
                }
            }
            Ok((Event::SequenceEnd | Event::MappingEnd, _)) => depth = depth.saturating_sub(1),
            Ok((Event::DocumentStart, marker)) => {
                documents += 1;
                if documents > 1 {
                    return Err(Diagnostic::new(
                        file,
                        Location {
                            line: marker.line(),
                            column: marker.col() + 1,
                        },
                        "a second YAML document starts here, but a scenario file holds one; \
                         remove the `---` and what follows, or move it to a file of its own",
                    ));
                }
            }
            Ok(_) => {}
            Err(error) => return Err(scan_diagnostic(file, text, &error)),
        }
    }
}

/// How deep lists and maps may nest. The loader recurses once per level; a
/// scenario needs well under ten.
const MAX_NESTING: usize = 64;

/// The location of a marker, or 1:1 when marked-yaml has none (it always
/// has one for parsed nodes; this keeps the validator panic-free regardless).
pub(crate) fn marker_location(marker: Option<&Marker>) -> Location {
    marker.map_or(Location { line: 1, column: 1 }, |marker| Location {
        line: marker.line(),
        column: marker.column(),
    })
}

pub(crate) fn scalar_location(scalar: &MarkedScalarNode) -> Location {
    marker_location(scalar.span().start())
}

/// Where a node starts, as a user would point at it.
///
/// For a block mapping marked-yaml records where the parser noticed the
/// mapping (after the first key's colon), so the first key's position is
/// used when it comes earlier.
pub(crate) fn location(node: &Node) -> Location {
    let start = marker_location(node.span().start());
    match node {
        Node::Mapping(mapping) => mapping
            .keys()
            .next()
            .map(scalar_location)
            .map_or(start, |first_key| first_key.min(start)),
        _ => start,
    }
}

/// The character index (not byte index) where a node starts, as [`location`].
pub(crate) fn start_character(node: &Node) -> Option<usize> {
    let start = node.span().start().map(Marker::character);
    match node {
        Node::Mapping(mapping) => {
            let first_key = mapping
                .keys()
                .next()
                .and_then(|key| key.span().start())
                .map(Marker::character);
            match (start, first_key) {
                (Some(start), Some(first_key)) => Some(start.min(first_key)),
                (start, first_key) => start.or(first_key),
            }
        }
        _ => start,
    }
}

/// A short description of a node for "expected X, got Y" messages.
pub(crate) fn describe(node: &Node) -> String {
    match node {
        Node::Mapping(mapping) if mapping.is_empty() => "an empty map".to_string(),
        Node::Mapping(_) => "a map".to_string(),
        Node::Sequence(sequence) if sequence.is_empty() => "an empty list".to_string(),
        Node::Sequence(_) => "a list".to_string(),
        Node::Scalar(scalar) if scalar.as_str().is_empty() && scalar.may_coerce() => {
            "nothing".to_string()
        }
        Node::Scalar(scalar) => quote(scalar.as_str()),
    }
}

/// Quotes user text for a message, shortened and on one line.
pub(crate) fn quote(text: &str) -> String {
    const LONGEST: usize = 40;
    let mut shown: String = text.chars().take(LONGEST).collect();
    if text.chars().count() > LONGEST {
        shown.push('…');
    }
    let shown = shown.escape_debug().to_string();
    format!("'{shown}'")
}

/// Quotes user text for a message exactly as it is, for text whose every
/// character matters, such as a regex: no shortening, and nothing escaped
/// but the control characters that would break the line (`\n`, `\t`).
pub(crate) fn quote_exactly(text: &str) -> String {
    let mut shown = String::with_capacity(text.len() + 2);
    shown.push('\'');
    for character in text.chars() {
        if character.is_control() {
            shown.extend(character.escape_default());
        } else {
            shown.push(character);
        }
    }
    shown.push('\'');
    shown
}

/// Maps character indexes to lines and columns, for places marked-yaml
/// does not record, such as the `-` that starts a step.
#[derive(Debug)]
pub(crate) struct CharacterIndex {
    characters: Vec<char>,
    /// The character index where each line starts.
    line_starts: Vec<usize>,
}

impl CharacterIndex {
    pub(crate) fn new(text: &str) -> Self {
        let characters: Vec<char> = text.chars().collect();
        let mut line_starts = vec![0];
        for (index, character) in characters.iter().enumerate() {
            if *character == '\n' {
                line_starts.push(index + 1);
            }
        }
        CharacterIndex {
            characters,
            line_starts,
        }
    }

    pub(crate) fn location(&self, index: usize) -> Location {
        let line = self.line_starts.partition_point(|start| *start <= index);
        let line_start = self
            .line_starts
            .get(line.saturating_sub(1))
            .copied()
            .unwrap_or(0);
        Location {
            line: line.max(1),
            column: index.saturating_sub(line_start) + 1,
        }
    }

    /// The `- ` list marker before `index`, skipping blanks and line breaks.
    pub(crate) fn dash_before(&self, index: usize) -> Option<Location> {
        let before = self.characters.get(..index)?;
        let position = before.iter().rposition(|c| !c.is_whitespace())?;
        (before[position] == '-').then(|| self.location(position))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn character_index_lines_and_columns() {
        let index = CharacterIndex::new("ab\n- x: 1\n-\n  y: 2\n");
        assert_eq!(index.location(0), Location { line: 1, column: 1 });
        assert_eq!(index.location(4), Location { line: 2, column: 2 });
        assert_eq!(index.dash_before(5), Some(Location { line: 2, column: 1 }));
        // `y` is at character 14; its dash is on the line before.
        assert_eq!(index.dash_before(14), Some(Location { line: 3, column: 1 }));
        assert_eq!(index.dash_before(1), None);
        assert_eq!(index.dash_before(1000), None);
    }

    #[test]
    fn regexes_are_quoted_exactly() {
        assert_eq!(quote_exactly(r"^\d+(\.\d+)?$"), r"'^\d+(\.\d+)?$'");
        assert_eq!(quote_exactly("it's"), "'it's'");
        assert_eq!(quote_exactly("a\nb\tc"), r"'a\nb\tc'");
        let long = format!("^{}$", "x".repeat(60));
        assert_eq!(quote_exactly(&long), format!("'{long}'"));
    }

    #[test]
    fn forbidden_characters_are_placed_and_counted_past_the_first_ten() {
        let text = format!("a: b\r\nc: \u{7f}\rd: {}\n", "\0".repeat(11));
        let diagnostics = check_characters(Path::new("f.yaml"), &text).unwrap_err();
        assert_eq!(diagnostics.len(), 10);
        assert_eq!(diagnostics.0[0].location, Location { line: 2, column: 4 });
        assert!(diagnostics.0[0].message.starts_with("U+007F (DEL), "));
        assert_eq!(diagnostics.0[1].location, Location { line: 3, column: 4 });
        assert_eq!(
            diagnostics.0[9].location,
            Location {
                line: 3,
                column: 12
            }
        );
        assert!(
            diagnostics.0[9]
                .message
                .ends_with(" (2 more such characters follow)"),
            "{}",
            diagnostics.0[9]
        );
        assert!(check_characters(Path::new("f.yaml"), "a: \t\u{85}\u{a0}\u{fffd}é\n").is_ok());
    }

    #[test]
    fn quotes_are_short_and_single_line() {
        assert_eq!(quote("a\nb"), "'a\\nb'");
        assert_eq!(quote(&"x".repeat(50)), format!("'{}…'", "x".repeat(40)));
    }
}
