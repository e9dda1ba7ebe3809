//! A checker for Wokwi automation scenarios, written from wokwi-cli's
//! source (github.com/wokwi/wokwi-cli, `packages/cli/src`): wokwi-cli has no
//! JSON schema for scenarios, only the checks in its code.
//!
//! - `TestScenario.ts` `validate()`: `name` a string, `version` exactly 1,
//!   `steps` an array of objects whose keys are `name` or a command;
//!   `IScenarioDefinition` adds an optional `author`.
//! - `commands/simulate.ts`: the commands registered (`delay`,
//!   `expect-chip-output`, `expect-pin`, `set-control`, `wait-serial`,
//!   `write-serial`, `take-screenshot`, `touch`, `touch-press`,
//!   `touch-release`, `touch-move`). `executeStep` runs only the first
//!   command key it finds, so a step with two would silently drop one; this
//!   checker requires exactly one.
//! - `scenario/DelayCommand.ts` + `utils/parseTime.ts`: a string (a number
//!   is an error) matching `^(\d+(\.\d*)?)\s*(ns|us|ms|s)$|^0(\.?0*)$`,
//!   case-insensitive.
//! - `scenario/SetControlCommand.ts`: `part-id`, `name` or the older
//!   `control`, a numeric `value`.
//! - `scenario/ExpectPinCommand.ts`: `part-id`, `name` or the older `pin`,
//!   and `value` compared with `!==` against 0 or 1, so anything but the
//!   numbers 0 and 1 can never pass.
//! - `scenario/WaitSerialCommand.ts`: the text to wait for, a string.
//!
//! It is stricter than wokwi-cli where wokwi-cli would accept a file that
//! cannot work: unknown top-level keys and unknown argument keys are errors,
//! and only the four commands `hilt wokwi` writes are accepted.

use yaml_rust2::{Yaml, YamlLoader};

/// The four commands hilt exports to, with their arguments as read back.
#[derive(Clone, Debug, PartialEq)]
pub enum Command {
    Delay(String),
    WaitSerial(String),
    SetControl {
        part_id: String,
        control: String,
        value: f64,
    },
    ExpectPin {
        part_id: String,
        pin: String,
        value: i64,
    },
}

/// A checked scenario, as a YAML 1.2 reader sees it.
#[derive(Clone, Debug, PartialEq)]
pub struct Checked {
    pub name: String,
    pub steps: Vec<(Option<String>, Command)>,
}

/// Parses `text` and checks it is a Wokwi scenario; all problems at once.
pub fn check(text: &str) -> Result<Checked, Vec<String>> {
    let documents = YamlLoader::load_from_str(text).map_err(|error| vec![error.to_string()])?;
    let [document] = documents.as_slice() else {
        return Err(vec![format!(
            "expected one YAML document, found {}",
            documents.len()
        )]);
    };
    let mut problems = Vec::new();
    let Yaml::Hash(top) = document else {
        return Err(vec!["the scenario must be a map".to_owned()]);
    };
    for key in top.keys() {
        match key.as_str() {
            Some("name" | "version" | "author" | "steps") => {}
            _ => problems.push(format!("unknown top-level key {key:?}")),
        }
    }
    let name = match top.get(&key("name")) {
        Some(Yaml::String(name)) => name.clone(),
        other => {
            problems.push(format!("`name` must be a string, found {other:?}"));
            String::new()
        }
    };
    if top.get(&key("version")) != Some(&Yaml::Integer(1)) {
        problems.push(format!(
            "`version` must be 1, found {:?}",
            top.get(&key("version"))
        ));
    }
    if let Some(author) = top.get(&key("author"))
        && !matches!(author, Yaml::String(_))
    {
        problems.push(format!("`author` must be a string, found {author:?}"));
    }
    let mut steps = Vec::new();
    match top.get(&key("steps")) {
        Some(Yaml::Array(items)) => {
            for (index, item) in items.iter().enumerate() {
                match step(item) {
                    Ok(step) => steps.push(step),
                    Err(problem) => problems.push(format!("step {}: {problem}", index + 1)),
                }
            }
        }
        other => problems.push(format!("`steps` must be a list, found {other:?}")),
    }
    if problems.is_empty() {
        Ok(Checked { name, steps })
    } else {
        Err(problems)
    }
}

fn key(name: &str) -> Yaml {
    Yaml::String(name.to_owned())
}

fn step(item: &Yaml) -> Result<(Option<String>, Command), String> {
    let Yaml::Hash(map) = item else {
        return Err(format!("a step must be a map, found {item:?}"));
    };
    let mut name = None;
    let mut commands = Vec::new();
    for (field, value) in map {
        match field.as_str() {
            Some("name") => match value {
                Yaml::String(text) => name = Some(text.clone()),
                other => return Err(format!("`name` must be a string, found {other:?}")),
            },
            Some(command @ ("delay" | "wait-serial" | "set-control" | "expect-pin")) => {
                commands.push(parse_command(command, value)?);
            }
            _ => return Err(format!("unknown step key {field:?}")),
        }
    }
    match <[Command; 1]>::try_from(commands) {
        Ok([command]) => Ok((name, command)),
        Err(commands) => Err(format!(
            "a step needs exactly one command, found {}",
            commands.len()
        )),
    }
}

fn parse_command(command: &str, value: &Yaml) -> Result<Command, String> {
    match command {
        "delay" => match value {
            Yaml::String(text) if is_wokwi_time(text) => Ok(Command::Delay(text.clone())),
            other => Err(format!(
                "`delay` must be a time with units, found {other:?}"
            )),
        },
        "wait-serial" => match value {
            Yaml::String(text) if !text.is_empty() => Ok(Command::WaitSerial(text.clone())),
            other => Err(format!("`wait-serial` must be text, found {other:?}")),
        },
        "set-control" => {
            let args = arguments(value, &["part-id", "control", "value"], "name", "control")?;
            let value = match args.value {
                Yaml::Integer(number) => *number as f64,
                Yaml::Real(_) => args.value.as_f64().ok_or("bad real")?,
                other => {
                    return Err(format!(
                        "`set-control` value must be a number, found {other:?}"
                    ));
                }
            };
            Ok(Command::SetControl {
                part_id: args.part_id,
                control: args.alias,
                value,
            })
        }
        "expect-pin" => {
            let args = arguments(value, &["part-id", "pin", "value"], "name", "pin")?;
            match args.value {
                Yaml::Integer(number @ (0 | 1)) => Ok(Command::ExpectPin {
                    part_id: args.part_id,
                    pin: args.alias,
                    value: *number,
                }),
                other => Err(format!(
                    "`expect-pin` value must be 0 or 1, found {other:?}"
                )),
            }
        }
        _ => unreachable!("only known commands are parsed"),
    }
}

struct Arguments<'a> {
    part_id: String,
    /// `control` / `pin`, or their newer spelling `name`.
    alias: String,
    value: &'a Yaml,
}

fn arguments<'a>(
    value: &'a Yaml,
    allowed: &[&str],
    new_spelling: &str,
    old_spelling: &str,
) -> Result<Arguments<'a>, String> {
    let Yaml::Hash(map) = value else {
        return Err(format!("arguments must be a map, found {value:?}"));
    };
    for field in map.keys() {
        let known = field
            .as_str()
            .is_some_and(|field| allowed.contains(&field) || field == new_spelling);
        if !known {
            return Err(format!("unknown argument {field:?}"));
        }
    }
    let text = |name: &str| match map.get(&key(name)) {
        Some(Yaml::String(text)) if !text.is_empty() => Some(text.clone()),
        _ => None,
    };
    let part_id = text("part-id").ok_or("`part-id` must be text")?;
    let alias = match (text(new_spelling), text(old_spelling)) {
        (Some(alias), None) | (None, Some(alias)) => alias,
        _ => {
            return Err(format!(
                "exactly one of `{new_spelling}` and `{old_spelling}` is needed"
            ));
        }
    };
    let value = map.get(&key("value")).ok_or("`value` is missing")?;
    Ok(Arguments {
        part_id,
        alias,
        value,
    })
}

/// wokwi-cli's `parseTimeRegex`: `^(\d+(\.\d*)?)\s*(ns|us|ms|s)$|^0(\.?0*)$`, case-insensitive.
pub fn is_wokwi_time(text: &str) -> bool {
    let text = text.trim();
    let zero = text.strip_prefix('0').is_some_and(|rest| {
        rest.strip_prefix('.')
            .unwrap_or(rest)
            .chars()
            .all(|c| c == '0')
    });
    if zero {
        return true;
    }
    let lower = text.to_ascii_lowercase();
    let Some(number) = ["ns", "us", "ms", "s"]
        .iter()
        .find_map(|unit| lower.strip_suffix(unit))
    else {
        return false;
    };
    let number = number.trim_end();
    let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
    !whole.is_empty()
        && whole.chars().all(|c| c.is_ascii_digit())
        && fraction.chars().all(|c| c.is_ascii_digit())
}

#[test]
fn the_checker_knows_wokwis_rules() {
    let good = "name: x\nversion: 1\nauthor: me\nsteps:\n  - delay: 100ms\n  - name: n\n    wait-serial: hi\n  - set-control: { part-id: btn1, control: pressed, value: 1 }\n  - expect-pin: { part-id: esp, name: '4', value: 0 }\n";
    let checked = check(good).unwrap();
    assert_eq!(checked.steps.len(), 4);
    let bad = [
        ("name: x\nversion: 2\nsteps: []\n", "`version` must be 1"),
        ("version: 1\nsteps: []\n", "`name` must be a string"),
        (
            "name: x\nversion: 1\nsteps: []\nextra: 1\n",
            "unknown top-level key",
        ),
        (
            "name: x\nversion: 1\nsteps:\n  - delay: 100\n",
            "time with units",
        ),
        (
            "name: x\nversion: 1\nsteps:\n  - delay: 1m\n",
            "time with units",
        ),
        (
            "name: x\nversion: 1\nsteps:\n  - delay: 1s\n    wait-serial: a\n",
            "exactly one command",
        ),
        (
            "name: x\nversion: 1\nsteps:\n  - name: only\n",
            "exactly one command",
        ),
        (
            "name: x\nversion: 1\nsteps:\n  - wait: 1s\n",
            "unknown step key",
        ),
        (
            "name: x\nversion: 1\nsteps:\n  - expect-pin: { part-id: esp, pin: '4', value: '1' }\n",
            "0 or 1",
        ),
        (
            "name: x\nversion: 1\nsteps:\n  - expect-pin: { part-id: esp, pin: '4', value: 2 }\n",
            "0 or 1",
        ),
        (
            "name: x\nversion: 1\nsteps:\n  - set-control: { part-id: b, value: 1 }\n",
            "exactly one of",
        ),
        (
            "name: x\nversion: 1\nsteps:\n  - set-control: { part-id: b, control: pressed, value: on }\n",
            "must be a number",
        ),
    ];
    for (text, problem) in bad {
        let problems = check(text).expect_err(text);
        assert!(
            problems.iter().any(|found| found.contains(problem)),
            "{text}: {problems:?}"
        );
    }
    for time in ["1ns", "1.5ms", "100.ms", "2 s", "0", "0.000", "10US"] {
        assert!(is_wokwi_time(time), "{time}");
    }
    for time in ["15.2", "1m", "1h", "-1s", ".5s", "1e3ms", ""] {
        assert!(!is_wokwi_time(time), "{time}");
    }
}
