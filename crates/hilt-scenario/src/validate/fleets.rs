//! Fleets: a `devices:` entry with `count:` declares that many devices of
//! one app (an addition to the language). Each member becomes an ordinary
//! [`Device`], named `<fleet>-<index>`, with its client id and `config:`
//! text filled in from `{index}` and `{name}`, and its spreads of starting
//! values drawn from the scenario's seed.

use marked_yaml::Node;
use marked_yaml::types::MarkedScalarNode;

use crate::raw::{location, quote, scalar_location};
use crate::{ConfigEntry, ConfigMap, ConfigValue, Device, DeviceKind, Fleet, Location};

use super::devices::{MAX_CLIENT_ID_LENGTH, client_id_problem};
use super::*;

pub(crate) const FLEET_KEYS: &[&str] = &["app", "count", "client_id", "config", "parts"];
/// The most members one fleet may have: the ten thousand
/// thermometers. The bound keeps a typo (`count: 1000000`) from building a
/// million devices before anything is reported.
pub(crate) const MAX_FLEET_MEMBERS: u64 = 10_000;
/// The placeholders a fleet's text may use.
pub(crate) const PLACEHOLDERS: &[&str] = &["index", "name"];

impl Validator<'_> {
    /// A fleet entry: its members, in order, or `None` after reporting why
    /// not. `first_device` is where its first member goes in the
    /// scenario's devices.
    pub(super) fn fleet(
        &mut self,
        name_key: &MarkedScalarNode,
        body: &Node,
        first_device: usize,
    ) -> Option<Vec<Device>> {
        let name = name_key.as_str().to_string();
        let at = scalar_location(name_key);
        let map = body.as_mapping()?;
        let name_ok = self.check_device_name(&name, at);
        for key in map.keys() {
            if key.as_str() == "external" {
                self.error(
                    scalar_location(key),
                    format!(
                        "'{name}' is a fleet (it has `count:`), and a fleet is of devices hilt \
                         runs; declare external devices one by one, without `count:`"
                    ),
                );
            } else if !FLEET_KEYS.contains(&key.as_str()) {
                self.unknown_key(key, FLEET_KEYS, &format!("in fleet '{name}'"));
            }
        }

        let count = map.get_node("count").and_then(|node| {
            self.whole_number(node, "count", 1, MAX_FLEET_MEMBERS)
                .map(|count| count as u32)
        });
        let app = match map.get_node("app") {
            Some(node) => self.app(node),
            // `external` was reported above; asking for an app too would
            // be the same mistake twice.
            None if map.get_node("external").is_some() => None,
            None => {
                self.error(
                    at,
                    format!(
                        "fleet '{name}' needs `app:` naming the firmware its devices run ({})",
                        self.known_apps_text()
                    ),
                );
                None
            }
        };
        // A count of 0 stands for one that could not be read: steps naming
        // members of it are then not checked (see `Validator::lookup`).
        let fleet = Fleet {
            name: name.clone(),
            location: at,
            count: count.unwrap_or(0),
            first_device,
        };
        let known = KnownDevice {
            name: name.clone(),
            external: false,
            past_hilt: false,
            app: app.clone(),
            parts: app
                .as_deref()
                .and_then(|app| self.catalog.parts(app))
                .filter(|_| count.is_some()),
            fleet: Some(fleet.clone()),
        };

        let client_id = self.fleet_client_id(map, &fleet);
        let config = match map.get_node("config") {
            Some(node) => self
                .config(node)
                .filter(|config| self.placeholders_known(config)),
            None => Some(ConfigMap {
                location: at,
                entries: Vec::new(),
            }),
        };
        if let (Some(app), Some(config), Some(_)) = (&app, &config, count) {
            self.check_fleet_config(app, config, &fleet);
        }
        let parts = match map.get_node("parts") {
            Some(node) => self.starting_parts(&known, node),
            None => Some(Vec::new()),
        };
        self.remember(known);
        if !name_ok {
            return None;
        }
        let (count, app, client_id, config, parts) = (count?, app?, client_id?, config?, parts?);

        let members = (1..=count)
            .map(|index| {
                let member = fleet.member_name(index);
                let padded = fleet.padded_index(index);
                Device {
                    client_id: fill_in(&client_id, &member, &padded),
                    location: at,
                    kind: DeviceKind::Simulated {
                        app: app.clone(),
                        config: fill_in_config(&config, &member, &padded),
                        parts: parts
                            .iter()
                            .map(|setting| setting.for_device(&member, self.seed, index))
                            .collect(),
                    },
                    name: member,
                }
            })
            .collect();
        self.fleets.push(fleet);
        Some(members)
    }

    /// The fleet's client id pattern (`{name}` by default), checked once,
    /// for its first member: every member's id has the same length.
    fn fleet_client_id(
        &mut self,
        map: &marked_yaml::types::MarkedMappingNode,
        fleet: &Fleet,
    ) -> Option<String> {
        let (pattern, at) = match map.get_node("client_id") {
            Some(node) => (self.text(node, "client_id")?, location(node)),
            None => ("{name}".to_string(), fleet.location),
        };
        if !self.placeholders_in(&pattern, at) {
            return None;
        }
        if fleet.count > 1 && !pattern.contains("{index}") && !pattern.contains("{name}") {
            self.error(
                at,
                format!(
                    "every member of fleet '{}' would have the client id {}, and the broker \
                     disconnects a client when another connects with its id; put `{{index}}` \
                     or `{{name}}` in the fleet's `client_id`",
                    fleet.name,
                    quote(&pattern)
                ),
            );
            return None;
        }
        if fleet.count == 0 {
            return Some(pattern);
        }
        let member = fleet.member_name(1);
        let first = fill_in(&pattern, &member, &fleet.padded_index(1));
        let Some(problem) = client_id_problem(&first) else {
            return Some(pattern);
        };
        let message = if map.get_node("client_id").is_some() {
            format!(
                "client_id {} gives member '{member}' the id {}, which {problem}",
                quote(&pattern),
                quote(&first)
            )
        } else if first.len() > MAX_CLIENT_ID_LENGTH {
            format!(
                "member names such as '{member}' double as the members' MQTT client ids, which \
                 {problem}; give the fleet a shorter name or a `client_id:` pattern"
            )
        } else {
            // A bad name was reported as such.
            return None;
        };
        self.error(at, message);
        None
    }

    /// Reports every `{word}` in `text` that is not a placeholder a fleet
    /// fills in; true when there is none.
    fn placeholders_in(&mut self, text: &str, at: Location) -> bool {
        let unknown: Vec<&str> = placeholders(text)
            .filter(|word| !PLACEHOLDERS.contains(word))
            .collect();
        for word in &unknown {
            let hint = crate::suggest::did_you_mean(word, PLACEHOLDERS.iter().copied())
                .map(|close| format!("did you mean '{{{close}}}'? "))
                .unwrap_or_default();
            self.error(
                at,
                format!(
                    "unknown placeholder '{{{word}}}' in {}; {hint}a fleet's text can use \
                     {{index}} (the member's number, as in its name) and {{name}} (its name)",
                    quote(text)
                ),
            );
        }
        unknown.is_empty()
    }

    /// Checks the placeholders in every text of a fleet's `config:`.
    fn placeholders_known(&mut self, config: &ConfigMap) -> bool {
        let mut all_known = true;
        for entry in &config.entries {
            all_known &= self.placeholders_in_value(&entry.value);
        }
        all_known
    }

    fn placeholders_in_value(&mut self, value: &ConfigValue) -> bool {
        match value {
            ConfigValue::Scalar { text, location } => self.placeholders_in(text, *location),
            ConfigValue::Sequence { items, .. } => {
                // Every item is checked, so that every unknown one is reported.
                let mut all_known = true;
                for item in items {
                    all_known &= self.placeholders_in_value(item);
                }
                all_known
            }
            ConfigValue::Mapping(map) => self.placeholders_known(map),
        }
    }

    /// The app checks the members' `config:`. Without placeholders every
    /// member's is the same and is checked once; with them, each member's
    /// is checked until one has problems, which are reported once, naming
    /// that member.
    fn check_fleet_config(&mut self, app: &str, config: &ConfigMap, fleet: &Fleet) {
        if !map_has_placeholders(config) {
            for problem in self.catalog.check_config(app, config) {
                self.error(problem.location, problem.message);
            }
            return;
        }
        for index in 1..=fleet.count {
            let member = fleet.member_name(index);
            let filled = fill_in_config(config, &member, &fleet.padded_index(index));
            let problems = self.catalog.check_config(app, &filled);
            if problems.is_empty() {
                continue;
            }
            for problem in problems {
                self.error(
                    problem.location,
                    format!("for fleet member '{member}': {}", problem.message),
                );
            }
            return;
        }
    }
}

/// The words between braces in `text` (`{index}` gives `index`): runs of
/// letters, digits and `_`; other braces are text.
fn placeholders(text: &str) -> impl Iterator<Item = &str> {
    text.match_indices('{').filter_map(move |(start, _)| {
        let rest = &text[start + 1..];
        let end = rest.find('}')?;
        let word = &rest[..end];
        (!word.is_empty() && word.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
            .then_some(word)
    })
}

/// `text` with `{name}` and `{index}` filled in for one member.
fn fill_in(text: &str, member: &str, padded_index: &str) -> String {
    if !text.contains('{') {
        return text.to_string();
    }
    text.replace("{name}", member)
        .replace("{index}", padded_index)
}

fn fill_in_config(config: &ConfigMap, member: &str, padded_index: &str) -> ConfigMap {
    ConfigMap {
        location: config.location,
        entries: config
            .entries
            .iter()
            .map(|entry| ConfigEntry {
                key: entry.key.clone(),
                key_location: entry.key_location,
                value: fill_in_value(&entry.value, member, padded_index),
            })
            .collect(),
    }
}

fn fill_in_value(value: &ConfigValue, member: &str, padded_index: &str) -> ConfigValue {
    match value {
        ConfigValue::Scalar { text, location } => ConfigValue::Scalar {
            text: fill_in(text, member, padded_index),
            location: *location,
        },
        ConfigValue::Sequence { items, location } => ConfigValue::Sequence {
            items: items
                .iter()
                .map(|item| fill_in_value(item, member, padded_index))
                .collect(),
            location: *location,
        },
        ConfigValue::Mapping(map) => {
            ConfigValue::Mapping(fill_in_config(map, member, padded_index))
        }
    }
}

fn map_has_placeholders(config: &ConfigMap) -> bool {
    config
        .entries
        .iter()
        .any(|entry| value_has_placeholders(&entry.value))
}

fn value_has_placeholders(value: &ConfigValue) -> bool {
    match value {
        ConfigValue::Scalar { text, .. } => placeholders(text).next().is_some(),
        ConfigValue::Sequence { items, .. } => items.iter().any(value_has_placeholders),
        ConfigValue::Mapping(map) => map_has_placeholders(map),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_words_in_braces() {
        let found: Vec<&str> = placeholders("a-{index}-{name}-{ x }-{}-{idx").collect();
        assert_eq!(found, vec!["index", "name"]);
        assert_eq!(placeholders("{indx}").collect::<Vec<_>>(), vec!["indx"]);
        assert_eq!(
            fill_in("t-{index}/{name}", "probe-07", "07"),
            "t-07/probe-07"
        );
        assert_eq!(fill_in("plain", "probe-07", "07"), "plain");
    }
}
