//! `hilt wokwi` on every bundled scenario, on scenarios written to be
//! exported (`scenarios/wokwi`), and on scenarios that must be refused
//! (`tests/refused`). Each result is snapshotted; each exported file is
//! checked against Wokwi's scenario format and read back with two YAML
//! parsers; each exportable scenario also passes in hilt, and its
//! `wait-serial` texts are found, in order, in the serial lines of hilt's
//! run of it.

mod wokwi_format;

use std::path::{Path, PathBuf};

use hilt_runner::Registry;
use hilt_scenario::{DeviceKind, Scenario};
use hilt_wokwi::{Action, Export, ExportError, PartIds, Why};
use rstest::rstest;
use wokwi_format::Command;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn canonical(path: &Path) -> PathBuf {
    std::fs::canonicalize(path).unwrap_or_else(|error| panic!("{}: {error}", path.display()))
}

/// `path` relative to `base`, with `/`, so that reports and snapshots do not
/// depend on where the checkout lives.
fn relative(path: &Path, base: &Path) -> PathBuf {
    canonical(path)
        .strip_prefix(canonical(base))
        .map(Path::to_path_buf)
        .unwrap_or_else(|_| path.to_owned())
}

fn snapshot_name(path: &Path, base: &Path) -> String {
    relative(path, base)
        .with_extension("")
        .to_string_lossy()
        .replace(['/', '\\'], "__")
}

/// Loads `path`, naming it relative to the repository root.
fn load(path: &Path) -> Scenario {
    let registry = Registry::with_bundled_apps();
    let text = std::fs::read_to_string(path).expect("scenario file readable");
    hilt_scenario::parse(&relative(path, &root()), &text, &registry)
        .unwrap_or_else(|diagnostics| panic!("{diagnostics}"))
}

fn export(scenario: &Scenario) -> Result<Export, ExportError> {
    hilt_wokwi::export(
        scenario,
        &Registry::with_bundled_apps(),
        &PartIds::default(),
    )
}

fn simulated_devices(scenario: &Scenario) -> usize {
    scenario
        .devices
        .iter()
        .filter(|device| matches!(device.kind, DeviceKind::Simulated { .. }))
        .count()
}

/// The exported file is a Wokwi scenario, and both YAML parsers read back
/// exactly the steps that were exported.
fn assert_valid_wokwi(exported: &Export) {
    let yaml = exported.to_yaml();
    let checked = wokwi_format::check(&yaml)
        .unwrap_or_else(|problems| panic!("{}\n{yaml}", problems.join("\n")));
    assert_eq!(checked.name, exported.scenario.name);
    let expected: Vec<(Option<String>, Command)> = exported
        .scenario
        .steps
        .iter()
        .map(|step| (step.name.clone(), as_command(&step.action)))
        .collect();
    assert_eq!(checked.steps, expected, "{yaml}");

    // A second parser, marked-yaml (the one hilt's scenario language uses),
    // reads the same texts.
    let node = marked_yaml::parse_yaml(0, &yaml).unwrap_or_else(|error| panic!("{error}\n{yaml}"));
    let top = node.as_mapping().expect("a map");
    assert_eq!(
        top.get_scalar("name").map(|name| name.as_str()),
        Some(exported.scenario.name.as_str())
    );
    assert_eq!(
        top.get_scalar("version").map(|version| version.as_str()),
        Some("1")
    );
    let steps = top.get_sequence("steps").expect("steps");
    assert_eq!(steps.len(), exported.scenario.steps.len());
    for (node, step) in steps.iter().zip(&exported.scenario.steps) {
        let map = node.as_mapping().expect("a step is a map");
        match &step.action {
            Action::WaitSerial(text) => assert_eq!(
                map.get_scalar("wait-serial").map(|text| text.as_str()),
                Some(text.as_str())
            ),
            Action::Delay(duration) => assert_eq!(
                map.get_scalar("delay").map(|text| text.as_str()),
                Some(hilt_wokwi::wokwi_duration(*duration).as_str())
            ),
            Action::SetControl { part_id, .. } | Action::ExpectPin { part_id, .. } => {
                let arguments = map
                    .get_mapping("set-control")
                    .or_else(|| map.get_mapping("expect-pin"))
                    .expect("arguments");
                assert_eq!(
                    arguments.get_scalar("part-id").map(|id| id.as_str()),
                    Some(part_id.as_str())
                );
            }
        }
    }
}

fn as_command(action: &Action) -> Command {
    match action {
        Action::Delay(duration) => Command::Delay(hilt_wokwi::wokwi_duration(*duration)),
        Action::WaitSerial(text) => Command::WaitSerial(text.clone()),
        Action::SetControl {
            part_id,
            control,
            value,
        } => Command::SetControl {
            part_id: part_id.clone(),
            control: control.clone(),
            value: match value {
                hilt_wokwi::ControlValue::Integer(value) => *value as f64,
                hilt_wokwi::ControlValue::Real(value) => *value,
            },
        },
        Action::ExpectPin {
            part_id,
            pin,
            value,
        } => Command::ExpectPin {
            part_id: part_id.clone(),
            pin: pin.clone(),
            value: i64::from(*value),
        },
    }
}

/// Every bundled scenario gives a definite result: a valid Wokwi file, or
/// a refusal that names, for a single-device scenario, the line of each
/// step it refuses (and for more, that they are several or a fleet).
#[rstest]
fn bundled_scenario_is_exported_or_refused(#[files("../../scenarios/**/*.yaml")] path: PathBuf) {
    let scenario = load(&path);
    let name = snapshot_name(&path, &root().join("scenarios"));
    match export(&scenario) {
        Ok(exported) => {
            assert_valid_wokwi(&exported);
            insta::assert_snapshot!(name, exported.to_yaml());
        }
        Err(refused) => {
            assert!(!refused.refusals.is_empty());
            if simulated_devices(&scenario) == 1 {
                for refusal in &refusal_lines(&refused) {
                    assert!(refusal.is_some(), "{refused}");
                }
            } else {
                assert!(
                    refused.refusals.iter().any(|refusal| matches!(
                        refusal.why,
                        Why::SeveralDevices { .. } | Why::Fleet { .. }
                    )),
                    "{refused}"
                );
            }
            insta::assert_snapshot!(name, refused.to_string());
        }
    }
}

fn refusal_lines(refused: &ExportError) -> Vec<Option<usize>> {
    refused
        .refusals
        .iter()
        .map(|refusal| refusal.line)
        .collect()
}

/// Scenarios written for Wokwi export, pass in hilt, and say in Wokwi what
/// they say in hilt.
#[rstest]
fn wokwi_ready_scenario_exports(#[files("../../scenarios/wokwi/*.yaml")] path: PathBuf) {
    let scenario = load(&path);
    let exported = export(&scenario).unwrap_or_else(|refused| panic!("{refused}"));
    assert_valid_wokwi(&exported);
    insta::assert_snapshot!(
        format!(
            "ready__{}",
            snapshot_name(&path, &root().join("scenarios/wokwi"))
        ),
        exported.to_yaml()
    );

    let registry = Registry::with_bundled_apps();
    let outcome = hilt_runner::run_scenario(&scenario, &registry);
    assert!(outcome.passed(), "{}", outcome.report());
    assert_serial_waits_hold(&exported, &scenario.devices[0].name, &outcome);
}

/// Replays the Wokwi steps over the serial lines the board would have
/// printed in hilt's run: a `delay` lets the lines of its time go by, a
/// `wait-serial` must find its text in a later line, and time then moves to
/// that line. This is what wokwi-cli does with the board's real output.
fn assert_serial_waits_hold(exported: &Export, device: &str, outcome: &hilt_runner::RunOutcome) {
    let lines: Vec<(std::time::Duration, String)> = outcome
        .messages
        .iter()
        .filter(|message| message.source == device)
        .map(|message| {
            let mut line = String::new();
            hilt_firmware::serial_log::write_message_line(
                &mut line,
                hilt_firmware::serial_log::Direction::Publish,
                &message.topic,
                &message.payload,
                message.qos,
                message.retain,
            )
            .unwrap();
            line.push_str(hilt_wokwi::serial_line_end());
            (
                std::time::Duration::from_micros(message.at.as_micros()),
                line,
            )
        })
        .collect();
    let mut now = std::time::Duration::ZERO;
    let mut next = 0;
    let mut waits = 0;
    for step in &exported.scenario.steps {
        match &step.action {
            Action::Delay(duration) => {
                now += *duration;
                while next < lines.len() && lines[next].0 < now {
                    next += 1;
                }
            }
            Action::WaitSerial(text) => {
                let found = lines[next..]
                    .iter()
                    .position(|(_, line)| line.contains(text.as_str()))
                    .unwrap_or_else(|| {
                        panic!(
                            "{:?} is not printed after {now:?} in hilt's run:\n{}",
                            text,
                            outcome.transcript.render()
                        )
                    });
                now = now.max(lines[next + found].0);
                next += found + 1;
                waits += 1;
            }
            Action::SetControl { .. } | Action::ExpectPin { .. } => {}
        }
    }
    assert!(waits > 0, "a Wokwi-ready scenario checks some message");
}

/// Scenarios with steps Wokwi cannot check are refused, every step with its
/// line and reason.
#[rstest]
fn unexportable_scenario_is_refused(#[files("tests/refused/*.yaml")] path: PathBuf) {
    let scenario = load(&path);
    let refused = export(&scenario).expect_err("refused");
    insta::assert_snapshot!(
        snapshot_name(&path, &root().join("crates/hilt-wokwi/tests")),
        refused.to_string()
    );
}

/// The thermometer scenarios written for Wokwi export, so the Wokwi job has
/// a thermometer run; of the bundled ones none can (see their snapshots).
#[test]
fn the_wokwi_ready_thermometer_scenarios_export() {
    let folder = root().join("scenarios/wokwi");
    let mut exported = 0;
    for entry in std::fs::read_dir(&folder).unwrap() {
        let path = entry.unwrap().path();
        let scenario = load(&path);
        let DeviceKind::Simulated { app, .. } = &scenario.devices[0].kind else {
            continue;
        };
        if app == "thermometer" {
            let export = export(&scenario).unwrap_or_else(|refused| panic!("{refused}"));
            assert_eq!(export.app, "thermometer");
            exported += 1;
        }
    }
    assert!(exported >= 2, "{exported}");
}

#[test]
fn the_default_starting_temperature_is_hilts() {
    let clock = hilt_sim::clock::VirtualClock::new();
    let line = hilt_sim::onewire::OneWireLine::new(clock);
    let sensor = hilt_sim::ds18b20::Ds18b20Model::attach(&line, 1);
    assert_eq!(sensor.temperature(), hilt_wokwi::HILT_DS18B20_CELSIUS);
}

/// The part ids the export uses are those of the Wokwi wiring in
/// `diagram.json`, with the part types whose controls it sets, and the
/// pushbutton, LED and DS18B20 are wired to the GPIOs of `hilt_firmware::pins`.
#[test]
fn part_ids_match_the_diagram() {
    let path = root().join("diagram.json");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|error| panic!("{}: {error}", path.display()));
    let diagram: serde_json::Value = serde_json::from_str(&text).expect("diagram.json is JSON");
    let parts = diagram["parts"].as_array().expect("parts");
    let type_of = |id: &str| {
        parts
            .iter()
            .find(|part| part["id"] == id)
            .and_then(|part| part["type"].as_str())
            .unwrap_or_else(|| panic!("no part `{id}` in diagram.json"))
            .to_owned()
    };
    let ids = PartIds::default();
    assert_eq!(type_of(&ids.board), "board-esp32-c3-devkitm-1");
    assert_eq!(type_of(&ids.button), "wokwi-pushbutton");
    assert_eq!(type_of(&ids.ds18b20), "wokwi-ds18b20");
    assert_eq!(type_of(&ids.led), "wokwi-led");

    let connected = |part: &str, gpio: u8| {
        let board_pin = format!("{}:{gpio}", ids.board);
        diagram["connections"]
            .as_array()
            .expect("connections")
            .iter()
            .any(|connection| {
                let ends = [connection[0].as_str(), connection[1].as_str()];
                ends.contains(&Some(board_pin.as_str()))
                    && ends
                        .iter()
                        .flatten()
                        .any(|end| end.starts_with(&format!("{part}:")))
            })
    };
    let pins = hilt_firmware::pins::BUTTON;
    assert!(
        connected(&ids.button, pins.gpio),
        "button on GPIO{}",
        pins.gpio
    );
    let led = hilt_firmware::pins::LED;
    assert!(connected(&ids.led, led.gpio), "LED on GPIO{}", led.gpio);
    let one_wire = hilt_firmware::pins::ONE_WIRE;
    assert!(
        connected(&ids.ds18b20, one_wire.gpio),
        "DS18B20 on GPIO{}",
        one_wire.gpio
    );
}

/// With `Fidelity::Weakened` (`hilt wokwi --approximate`), a check Wokwi
/// cannot make exactly never refuses a scenario: each bundled single-device
/// scenario either exports (to a valid Wokwi scenario whose weakened checks
/// are listed) or is refused only for what Wokwi cannot do at all.
#[rstest]
fn bundled_scenario_exports_approximately_unless_wokwi_cannot_do_it(
    #[files("../../scenarios/**/*.yaml")] path: PathBuf,
) {
    let scenario = load(&path);
    if simulated_devices(&scenario) != 1 {
        return;
    }
    let registry = Registry::with_bundled_apps();
    let weakened = hilt_wokwi::export_with(
        &scenario,
        &registry,
        &PartIds::default(),
        hilt_wokwi::Fidelity::Weakened,
    );
    match weakened {
        Ok(exported) => {
            assert_valid_wokwi(&exported);
            // Whatever the faithful export refused is now listed instead.
            if let Err(faithful) = export(&scenario) {
                for refusal in &faithful.refusals {
                    let line = refusal.line.expect("message checks have a line");
                    assert!(
                        exported.approximations.iter().any(|a| a.line == line),
                        "{}:{line} was refused faithfully but is not listed as approximated",
                        path.display()
                    );
                }
            }
        }
        Err(refused) => {
            for refusal in &refused.refusals {
                assert!(
                    !matches!(
                        refusal.why,
                        Why::Wildcard { .. }
                            | Why::Count { .. }
                            | Why::Json
                            | Why::Regex { .. }
                            | Why::RetainWithoutQos
                            | Why::PayloadWithoutQosRetain
                            | Why::SinceStart { .. }
                            | Why::WindowOpenedEarlier { .. }
                    ),
                    "{}: weakened export still refused a message check: {refused}",
                    path.display()
                );
            }
        }
    }
}
