//! The three readers of an app's settings accept and refuse the same values:
//!
//! - the simulation: a scenario with `config: { <key>: <value> }`, checked by
//!   `Registry::with_bundled_apps()` (bundled.rs's `parse_config`);
//! - the firmware image's build: `HILT_<KEY>=<value>`, read by
//!   `hilt_firmware::settings::read_variables` into the app's
//!   `AppSettings`, exactly as firmware/build.rs reads the environment;
//! - the Wokwi export: the same scenario (checked by a catalog that accepts
//!   any `config:`, so the export's own check is what is tested), whose
//!   header writes the `HILT_*` settings the image is built with.
//!
//! Keys an app does not take are left out of the table: the simulation and
//! the export refuse them, while the image build only warns, since a shell
//! may hold the settings of several boards at once.

use std::collections::BTreeMap;
use std::path::Path;

use hilt_firmware::apps::AppSettings;
use hilt_firmware::settings::{self, VariableReading};
use hilt_runner::Registry;
use hilt_scenario::{Catalog, ConfigMap, ConfigProblem, PartDescription, Scenario};
use hilt_wokwi::{ExportError, Fidelity, PartIds, Why};

/// How a value is written in the scenario file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Written {
    /// In double quotes, with YAML escapes: the text exactly.
    Quoted,
    /// As a plain scalar (`qos: 1`, `initially_on: true`), which YAML would
    /// type as a number or a boolean; the settings see the text as written.
    Plain,
}

use Written::{Plain, Quoted};

/// (app, key, value, how it is written, accepted?)
type Case = (&'static str, &'static str, &'static str, Written, bool);

const CASES: &[Case] = &[
    ("thermometer", "unit", "F", Plain, true),
    ("thermometer", "unit", "c", Quoted, true),
    ("thermometer", "unit", "K", Plain, false),
    ("thermometer", "unit", "", Quoted, false),
    ("thermometer", "interval", "10s", Plain, true),
    ("thermometer", "interval", "1m30s", Plain, true),
    ("thermometer", "interval", "1.5s", Plain, true),
    ("thermometer", "interval", "0s", Plain, false),
    ("thermometer", "interval", "5", Plain, false),
    ("thermometer", "interval", "soon", Plain, false),
    ("thermometer", "interval", "1m 30s", Quoted, false),
    ("thermometer", "keepalive", "5s", Plain, true),
    ("thermometer", "keepalive", "-1s", Quoted, false),
    ("remote-led", "peer", "green", Plain, true),
    ("remote-led", "peer", "a/b", Quoted, false),
    ("remote-led", "peer", "a+", Quoted, false),
    ("remote-led", "peer", "a\tb", Quoted, false),
    ("remote-led", "peer", "", Quoted, false),
    (
        "remote-led",
        "peer",
        "p123456789012345678901234567890123456789012345678901234567890123",
        Plain,
        true,
    ),
    (
        "remote-led",
        "peer",
        "p1234567890123456789012345678901234567890123456789012345678901234",
        Plain,
        false,
    ),
    ("remote-led", "name", "blue", Plain, true),
    ("remote-led", "name", "#", Quoted, false),
    ("remote-led", "period", "500ms", Plain, true),
    ("remote-led", "period", "0", Plain, false),
    ("sensor-data", "sensor_id", "lux-2", Plain, true),
    ("sensor-data", "sensor_id", "a\"b", Quoted, false),
    (
        "sensor-data",
        "sensor_id",
        "s1234567890123456789012345678901",
        Plain,
        true,
    ),
    (
        "sensor-data",
        "sensor_id",
        "s12345678901234567890123456789012",
        Plain,
        false,
    ),
    ("sensor-data", "topic", "lab/lux", Plain, true),
    ("sensor-data", "topic", "lab/+", Quoted, false),
    ("sensor-data", "topic", "", Quoted, false),
    (
        "sensor-data",
        "topic",
        "t123456789012345678901234567890123456789012345678901234567890123",
        Plain,
        true,
    ),
    (
        "sensor-data",
        "topic",
        "t1234567890123456789012345678901234567890123456789012345678901234",
        Plain,
        false,
    ),
    ("sensor-data", "interval", "0s", Plain, true),
    ("sensor-data", "interval", "0", Plain, true),
    ("sensor-data", "interval", "2x", Plain, false),
    ("sensor-data", "qos", "0", Plain, true),
    ("sensor-data", "qos", "2", Plain, true),
    ("sensor-data", "qos", "3", Plain, false),
    ("sensor-data", "qos", "01", Quoted, false),
    ("sensor-data", "decimals", "0", Plain, true),
    ("sensor-data", "decimals", "6", Plain, true),
    ("sensor-data", "decimals", "7", Plain, false),
    ("sensor-data", "decimals", "-1", Plain, false),
    (
        "light-status",
        "uuid",
        "3f2504e0-4f89-11d3-9a0c-0305e82c3301",
        Plain,
        true,
    ),
    ("light-status", "uuid", "lamp/3", Quoted, false),
    ("light-status", "initially_on", "true", Plain, true),
    ("light-status", "initially_on", "False", Plain, true),
    ("light-status", "initially_on", "TRUE", Plain, true),
    ("light-status", "initially_on", "yes", Plain, false),
    ("light-status", "initially_on", "1", Plain, false),
    ("light-status", "max_link_attempts", "1", Plain, true),
    (
        "light-status",
        "max_link_attempts",
        "4294967295",
        Plain,
        true,
    ),
    (
        "light-status",
        "max_link_attempts",
        "4294967296",
        Plain,
        false,
    ),
    ("light-status", "max_link_attempts", "0", Plain, false),
    ("light-status", "connect_timeout", "10s", Plain, true),
    ("light-status", "restart_delay", "0s", Plain, false),
    ("node-manager", "prefix", "plant/node-3", Plain, true),
    ("node-manager", "prefix", "a/#", Quoted, false),
    (
        "node-manager",
        "prefix",
        "p1234567890123456789012345678901234567890123456789012345678901234",
        Plain,
        false,
    ),
    ("node-manager", "blinky_hz", "0", Plain, true),
    ("node-manager", "blinky_hz", "2.5", Plain, true),
    ("node-manager", "blinky_hz", "50", Plain, true),
    ("node-manager", "blinky_hz", "1e1", Plain, true),
    ("node-manager", "blinky_hz", "50.5", Plain, false),
    ("node-manager", "blinky_hz", "-1", Plain, false),
    ("node-manager", "blinky_hz", ".nan", Plain, false),
    ("node-manager", "blinky_hz", "NaN", Quoted, false),
    ("node-manager", "blinky_hz", "inf", Quoted, false),
    ("node-manager", "log_level", "debug", Plain, true),
    ("node-manager", "log_level", "DEBUG", Plain, false),
    ("node-manager", "log_level", "loud", Plain, false),
    ("node-manager", "watchdog_timeout", "0s", Plain, true),
    ("node-manager", "watchdog_timeout", "8s", Plain, true),
    ("node-manager", "sysinfo_interval", "0s", Plain, true),
    ("node-manager", "safe_mode_after", "0", Plain, true),
    ("node-manager", "safe_mode_after", "-1", Plain, false),
    ("node-manager", "healthy_after", "0s", Plain, false),
];

/// The app needs these whatever the case is about.
fn required_settings(app: &str, key: &str) -> Vec<(&'static str, &'static str)> {
    if app == "remote-led" && key != "peer" {
        vec![("peer", "green")]
    } else {
        Vec::new()
    }
}

/// `text` as a YAML double-quoted scalar.
fn double_quoted(text: &str) -> String {
    let mut quoted = String::from("\"");
    for character in text.chars() {
        match character {
            '"' => quoted.push_str("\\\""),
            '\\' => quoted.push_str("\\\\"),
            character if character.is_control() => {
                quoted.push_str(&format!("\\x{:02x}", u32::from(character)));
            }
            character => quoted.push(character),
        }
    }
    quoted.push('"');
    quoted
}

fn scenario_text(case: &Case) -> String {
    let &(app, key, value, written, _) = case;
    let value = match written {
        Quoted => double_quoted(value),
        Plain => value.to_owned(),
    };
    let mut config = format!("\n      {key}: {value}");
    for (key, value) in required_settings(app, key) {
        config.push_str(&format!("\n      {key}: {value}"));
    }
    format!(
        "name: one setting\ndevices:\n  board:\n    app: {app}\n    config:{config}\nsteps:\n  - wait: 1s\n"
    )
}

fn parse(case: &Case, catalog: &dyn Catalog) -> Result<Scenario, String> {
    hilt_scenario::parse(Path::new("case.yaml"), &scenario_text(case), catalog)
        .map_err(|diagnostics| diagnostics.to_string())
}

/// The simulation: the bundled registry checks the scenario's `config:`.
fn simulation_accepts(case: &Case) -> bool {
    match parse(case, &Registry::with_bundled_apps()) {
        Ok(_) => true,
        Err(diagnostics) => {
            let (_, key, ..) = case;
            assert!(
                diagnostics.contains(&format!("'{key}': ")),
                "{case:?} was refused for another reason:\n{diagnostics}"
            );
            false
        }
    }
}

/// The image build: `HILT_<KEY>` variables read as firmware/build.rs reads
/// the environment.
fn image_build_accepts(case: &Case) -> bool {
    let &(app, key, value, ..) = case;
    let mut variables = BTreeMap::new();
    variables.insert(settings::VariableName(key).to_string(), value);
    for (key, value) in required_settings(app, key) {
        variables.insert(settings::VariableName(key).to_string(), value);
    }
    let Some(mut app_settings) = AppSettings::new(app, "board") else {
        panic!("{app} has no settings");
    };
    let mut accepted = true;
    settings::read_variables(
        &mut app_settings,
        |key| variables.get(&key.variable().to_string()).copied(),
        |_, reading| {
            if matches!(
                reading,
                VariableReading::Missing | VariableReading::Refused { .. }
            ) {
                accepted = false;
            }
        },
    );
    accepted
}

/// The bundled apps and parts, with any `config:` taken: the export's own
/// check of the settings is then the only one.
struct AnyConfig(Registry);

impl Catalog for AnyConfig {
    fn app_names(&self) -> Vec<String> {
        self.0.app_names()
    }

    fn parts(&self, app: &str) -> Option<Vec<PartDescription>> {
        self.0.parts(app)
    }

    fn check_config(&self, _app: &str, _config: &ConfigMap) -> Vec<ConfigProblem> {
        Vec::new()
    }
}

fn is_about_settings(why: &Why) -> bool {
    matches!(
        why,
        Why::SettingRefused { .. } | Why::UnknownSetting { .. } | Why::MissingSetting { .. }
    )
}

/// The Wokwi export: accepted when it refuses nothing about the settings
/// (sensor-data is refused anyway, for its TSL2591), and then the header's
/// settings hold the value as the scenario writes it.
fn export_accepts(case: &Case) -> bool {
    let &(_, key, value, ..) = case;
    let catalog = AnyConfig(Registry::with_bundled_apps());
    let scenario = parse(case, &catalog).unwrap_or_else(|diagnostics| panic!("{diagnostics}"));
    let refusals =
        match hilt_wokwi::export_with(&scenario, &catalog, &PartIds::default(), Fidelity::Weakened)
        {
            Ok(exported) => {
                let variable = settings::VariableName(key).to_string();
                assert!(
                    exported
                        .build_env
                        .contains(&(variable.clone(), value.to_owned())),
                    "{case:?}: {variable}={value} missing from {:?}",
                    exported.build_env
                );
                return true;
            }
            Err(ExportError { refusals, .. }) => refusals,
        };
    !refusals
        .iter()
        .any(|refusal| is_about_settings(&refusal.why))
}

#[test]
fn the_simulation_the_image_build_and_the_wokwi_export_agree_on_every_value() {
    let mut disagreements = Vec::new();
    for case in CASES {
        let expected = case.4;
        let seen = [
            ("simulation", simulation_accepts(case)),
            ("image build", image_build_accepts(case)),
            ("Wokwi export", export_accepts(case)),
        ];
        for (reader, accepted) in seen {
            if accepted != expected {
                disagreements.push(format!(
                    "{reader} {} {case:?}",
                    if accepted { "accepts" } else { "refuses" }
                ));
            }
        }
    }
    assert!(disagreements.is_empty(), "{}", disagreements.join("\n"));
}

#[test]
fn a_missing_required_setting_is_refused_by_all_three() {
    let text = "name: no peer\ndevices:\n  board: { app: remote-led }\nsteps:\n  - wait: 1s\n";
    let diagnostics =
        hilt_scenario::parse(Path::new("case.yaml"), text, &Registry::with_bundled_apps())
            .unwrap_err()
            .to_string();
    assert!(diagnostics.contains("config needs 'peer'"), "{diagnostics}");

    let mut readings = Vec::new();
    settings::read_variables(
        &mut AppSettings::new("remote-led", "board").unwrap(),
        |_| None::<&str>,
        |key, reading| readings.push((key.name, reading == VariableReading::Missing)),
    );
    assert!(readings.contains(&("peer", true)), "{readings:?}");

    let catalog = AnyConfig(Registry::with_bundled_apps());
    let scenario = hilt_scenario::parse(Path::new("case.yaml"), text, &catalog).unwrap();
    let refused = hilt_wokwi::export(&scenario, &catalog, &PartIds::default()).unwrap_err();
    assert!(
        refused.refusals.iter().any(
            |refusal| matches!(&refusal.why, Why::MissingSetting { key, .. } if key == "peer")
        ),
        "{refused}"
    );
}

#[test]
fn the_export_names_the_board_as_the_simulation_does() {
    // The simulation publishes on <device name>/btn/0; an image would use
    // the client id unless the export says otherwise.
    let text = "name: named\ndevices:\n  blue:\n    app: remote-led\n    client_id: board-7\n    \
                config: { peer: green }\nsteps:\n  - wait: 1s\n";
    let registry = Registry::with_bundled_apps();
    let scenario = hilt_scenario::parse(Path::new("case.yaml"), text, &registry).unwrap();
    let exported = hilt_wokwi::export(&scenario, &registry, &PartIds::default()).unwrap();
    assert_eq!(
        exported.build_env,
        [
            ("HILT_CLIENT_ID".to_owned(), "board-7".to_owned()),
            ("HILT_PEER".to_owned(), "green".to_owned()),
            ("HILT_NAME".to_owned(), "blue".to_owned()),
        ]
    );
}

#[test]
fn the_export_refuses_an_app_the_image_does_not_have() {
    let text = "name: sub\ndevices:\n  watcher: { app: monitor }\nsteps:\n  - wait: 1s\n";
    let registry = Registry::with_bundled_apps();
    let scenario = hilt_scenario::parse(Path::new("case.yaml"), text, &registry).unwrap();
    let refused = hilt_wokwi::export(&scenario, &registry, &PartIds::default()).unwrap_err();
    assert_eq!(
        refused.to_string(),
        "case.yaml: cannot be exported to a Wokwi scenario (1 problem):\n\
         case.yaml:3: the firmware image has no `monitor` app (it runs thermometer, \
         remote-led, sensor-data, light-status, node-manager); only a board app can be \
         built for Wokwi"
    );
}
