//! A fixed catalog of apps for the tests, standing in for the runner's
//! registry of firmware apps.

use hilt_scenario::duration::parse_duration;
use hilt_scenario::{
    Catalog, ConfigKey, ConfigMap, ConfigProblem, ConfigValue, PartDescription, PartKind,
};

#[derive(Debug)]
pub struct TestCatalog;

fn part(name: &str, kind: PartKind) -> PartDescription {
    PartDescription {
        name: name.to_string(),
        kind,
    }
}

/// The config keys each test app takes; none is required.
fn known_keys(app: &str) -> &'static [&'static str] {
    match app {
        "thermometer" => &["unit", "interval"],
        "remote-led" => &["peer"],
        _ => &[],
    }
}

impl Catalog for TestCatalog {
    fn config_keys(&self, app: &str) -> Option<Vec<ConfigKey>> {
        self.parts(app)?;
        Some(
            known_keys(app)
                .iter()
                .map(|name| ConfigKey {
                    name: (*name).to_string(),
                    required: false,
                })
                .collect(),
        )
    }

    fn app_names(&self) -> Vec<String> {
        vec![
            "thermometer".to_string(),
            "remote-led".to_string(),
            "light-sensor".to_string(),
        ]
    }

    fn parts(&self, app: &str) -> Option<Vec<PartDescription>> {
        match app {
            "thermometer" => Some(vec![
                part("ds18b20", PartKind::Ds18b20),
                part("gpio4", PartKind::Pin),
            ]),
            "remote-led" => Some(vec![
                part("button", PartKind::Button),
                part("led", PartKind::Led),
                part("gpio9", PartKind::Pin),
                part("gpio8", PartKind::Pin),
            ]),
            "light-sensor" => Some(vec![part("tsl2591", PartKind::Tsl2591)]),
            _ => None,
        }
    }

    fn check_config(&self, app: &str, config: &ConfigMap) -> Vec<ConfigProblem> {
        let known = known_keys(app);
        let mut problems = Vec::new();
        for entry in &config.entries {
            if !known.contains(&entry.key.as_str()) {
                problems.push(ConfigProblem {
                    location: entry.key_location,
                    message: format!(
                        "unknown config key '{}' for app {app}; expected one of {}",
                        entry.key,
                        known.join(", ")
                    ),
                });
                continue;
            }
            let ConfigValue::Scalar { text, location } = &entry.value else {
                problems.push(ConfigProblem {
                    location: entry.value.location(),
                    message: format!("config key '{}' takes a single value", entry.key),
                });
                continue;
            };
            let problem = match entry.key.as_str() {
                "unit" if text != "C" && text != "F" => {
                    Some(format!("unit must be C or F; got '{text}'"))
                }
                "interval" => parse_duration(text)
                    .err()
                    .map(|error| format!("invalid interval '{text}': {error}")),
                _ => None,
            };
            if let Some(message) = problem {
                problems.push(ConfigProblem {
                    location: *location,
                    message,
                });
            }
        }
        problems
    }
}
