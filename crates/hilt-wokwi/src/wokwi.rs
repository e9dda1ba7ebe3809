//! A Wokwi automation scenario and its YAML text.
//!
//! The YAML is written by hand rather than with a YAML library. The
//! structure is fixed and small (four top-level keys, a list of steps that
//! are each one command with a scalar or a flat map), and writing it this
//! way lets every string be double-quoted with YAML 1.2 escapes. wokwi-cli
//! reads the file with the npm `yaml` package (YAML 1.2), and a quoted
//! string can never be resolved to a number, a boolean or null there,
//! whatever its text. The emitter of yaml-rust2, the maintained YAML crate
//! this workspace already has, leaves a string plain when it thinks that is
//! safe, and gets some cases wrong for a YAML 1.2 reader (`0o17` stays plain
//! and reads back as the integer 15; DEL and ESC are written raw, which YAML
//! forbids); it also cannot write the header comments. The tests read every
//! generated file back with two YAML parsers.

use std::fmt::Write as _;
use std::time::Duration;

/// A whole Wokwi scenario.
#[derive(Clone, Debug, PartialEq)]
pub struct WokwiScenario {
    /// `name:`, shown by wokwi-cli in every log line of the run.
    pub name: String,
    /// Comment lines written above the YAML (without their `# `).
    pub header: Vec<String>,
    pub steps: Vec<WokwiStep>,
}

/// One step: a command, with the `name:` wokwi-cli prints when it starts.
#[derive(Clone, Debug, PartialEq)]
pub struct WokwiStep {
    pub name: Option<String>,
    pub action: Action,
}

/// The commands hilt exports to.
#[derive(Clone, Debug, PartialEq)]
pub enum Action {
    /// `delay: 500ms`: let simulated time pass.
    Delay(Duration),
    /// `set-control: { part-id, control, value }`.
    SetControl {
        part_id: String,
        control: String,
        value: ControlValue,
    },
    /// `expect-pin: { part-id, pin, value }`: the pin reads `value` (0 or 1)
    /// now; the run fails at once otherwise.
    ExpectPin {
        part_id: String,
        pin: String,
        value: u8,
    },
    /// `wait-serial: text`: wait until these exact bytes appear in the
    /// serial output printed from now on.
    WaitSerial(String),
}

/// A `set-control` value; wokwi-cli passes it on as a JSON number.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum ControlValue {
    Integer(i64),
    /// Finite; temperatures.
    Real(f64),
}

impl std::fmt::Display for ControlValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ControlValue::Integer(value) => write!(f, "{value}"),
            // `{}` of an f64 never uses an exponent: `22.5`, `-0.0625`, `30`,
            // each a YAML 1.2 number.
            ControlValue::Real(value) => write!(f, "{value}"),
        }
    }
}

/// A duration as Wokwi's `parseTime` reads it: a whole number and the
/// largest of its units `s`, `ms`, `us`, `ns` that keeps it whole. Wokwi has
/// no minutes or hours, so `1m` is `60s`.
pub fn wokwi_duration(duration: Duration) -> String {
    let nanos = duration.as_nanos();
    if nanos.is_multiple_of(1_000_000_000) {
        format!("{}s", nanos / 1_000_000_000)
    } else if nanos.is_multiple_of(1_000_000) {
        format!("{}ms", nanos / 1_000_000)
    } else if nanos.is_multiple_of(1_000) {
        format!("{}us", nanos / 1_000)
    } else {
        format!("{nanos}ns")
    }
}

impl WokwiScenario {
    /// The YAML file: header comments, `name`, `version: 1`, `steps`.
    pub fn to_yaml(&self) -> String {
        let mut out = String::new();
        for line in &self.header {
            if line.is_empty() {
                out.push_str("#\n");
            } else {
                let _ = writeln!(out, "# {}", one_line(line));
            }
        }
        let _ = writeln!(out, "name: {}", quoted(&self.name));
        out.push_str("version: 1\n");
        if self.steps.is_empty() {
            out.push_str("steps: []\n");
            return out;
        }
        out.push_str("steps:\n");
        for step in &self.steps {
            let mut lead = "  - ";
            if let Some(name) = &step.name {
                let _ = writeln!(out, "{lead}name: {}", quoted(name));
                lead = "    ";
            }
            match &step.action {
                Action::Delay(duration) => {
                    let _ = writeln!(out, "{lead}delay: {}", quoted(&wokwi_duration(*duration)));
                }
                Action::WaitSerial(text) => {
                    let _ = writeln!(out, "{lead}wait-serial: {}", quoted(text));
                }
                Action::SetControl {
                    part_id,
                    control,
                    value,
                } => {
                    let _ = writeln!(out, "{lead}set-control:");
                    let _ = writeln!(out, "      part-id: {}", quoted(part_id));
                    let _ = writeln!(out, "      control: {}", quoted(control));
                    let _ = writeln!(out, "      value: {value}");
                }
                Action::ExpectPin {
                    part_id,
                    pin,
                    value,
                } => {
                    let _ = writeln!(out, "{lead}expect-pin:");
                    let _ = writeln!(out, "      part-id: {}", quoted(part_id));
                    let _ = writeln!(out, "      pin: {}", quoted(pin));
                    let _ = writeln!(out, "      value: {value}");
                }
            }
        }
        out
    }
}

/// `text` as a YAML double-quoted scalar. `"` and `\` are escaped, and so is
/// every character YAML does not allow raw or that a reader could take for a
/// line break (C0 and C1 controls, DEL, U+2028, U+2029, the BOM and the
/// non-characters U+FFFE and U+FFFF).
pub(crate) fn quoted(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for character in text.chars() {
        match character {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            character if needs_escape(character) => {
                // Every character needs_escape flags is in the BMP.
                let _ = write!(out, "\\u{:04X}", u32::from(character));
            }
            character => out.push(character),
        }
    }
    out.push('"');
    out
}

fn needs_escape(character: char) -> bool {
    character.is_control()
        || matches!(
            character,
            '\u{2028}' | '\u{2029}' | '\u{FEFF}' | '\u{FFFE}' | '\u{FFFF}'
        )
}

/// A comment line cannot hold a line break; anything that could be one, or
/// is not allowed raw in YAML, becomes a blank.
fn one_line(text: &str) -> String {
    text.chars()
        .map(|character| {
            if needs_escape(character) {
                ' '
            } else {
                character
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_use_the_largest_whole_unit_wokwi_knows() {
        assert_eq!(wokwi_duration(Duration::from_secs(86_400)), "86400s");
        assert_eq!(wokwi_duration(Duration::from_millis(1_500)), "1500ms");
        assert_eq!(wokwi_duration(Duration::from_micros(250)), "250us");
        assert_eq!(wokwi_duration(Duration::from_nanos(7)), "7ns");
        assert_eq!(wokwi_duration(Duration::ZERO), "0s");
    }

    #[test]
    fn quoting_escapes_what_yaml_cannot_hold_raw() {
        assert_eq!(quoted(r#"a "b" \c"#), r#""a \"b\" \\c""#);
        assert_eq!(quoted("x\n"), r#""x\n""#);
        assert_eq!(
            quoted("\u{1b}\u{7f}\u{85}\u{2028}"),
            r#""\u001B\u007F\u0085\u2028""#
        );
        assert_eq!(quoted("0o17"), r#""0o17""#);
        assert_eq!(quoted("°C"), "\"°C\"");
    }
}
