//! The `devices:` map: each device's app, client id, `config:` and
//! starting parts, and the client ids they share a broker with.

use std::collections::{HashMap, HashSet};

use marked_yaml::Node;
use marked_yaml::types::{MarkedMappingNode, MarkedScalarNode};

use crate::raw::{describe, location, quote, scalar_location};
use crate::suggest::did_you_mean;
use crate::{ConfigEntry, ConfigMap, ConfigValue, Device, DeviceKind, Location, PartRef};

use super::parts::StartingSetting;

use super::*;

pub(crate) const DEVICE_KEYS: &[&str] = &["app", "client_id", "config", "parts", "external"];
pub(crate) const EXTERNAL_DEVICE_KEYS: &[&str] =
    &["external", "client_id", "connect_within", "connects_to"];
/// Where an external device connects: to hilt (which relays it), or to the
/// broker itself.
pub(crate) const CONNECTS_TO: &[&str] = &["hilt", "broker"];
/// The longest client id accepted. MQTT 3.1.1 only promises 23 bytes, but
/// every broker hilt talks to takes more, and readable ids need the room.
pub(crate) const MAX_CLIENT_ID_LENGTH: usize = 64;
/// Deeper `config:` nesting than this is surely a mistake; the bound keeps
/// the conversion's recursion small.
const MAX_CONFIG_DEPTH: usize = 32;

impl Validator<'_> {
    pub(super) fn devices(&mut self, node: &Node) -> Option<Vec<Device>> {
        let Some(map) = node.as_mapping() else {
            self.devices_readable = false;
            self.error(
                location(node),
                format!(
                    "`devices` must be a map from device names to devices, like \
                     `devices: {{ probe: {{ app: thermometer }} }}`; got {}",
                    describe(node)
                ),
            );
            return None;
        };
        if map.is_empty() {
            self.devices_readable = false;
            self.error(
                location(node),
                "`devices` is empty; a scenario needs at least one device",
            );
            return None;
        }
        let mut devices = Vec::new();
        let mut failed = false;
        for (name, body) in map.iter() {
            let is_fleet = body
                .as_mapping()
                .is_some_and(|body| body.get_node("count").is_some());
            let entry = if is_fleet {
                self.fleet(name, body, devices.len())
            } else {
                self.device(name, body).map(|device| vec![device])
            };
            match entry {
                Some(entry) => devices.extend(entry),
                None => failed = true,
            }
        }
        self.check_names_are_not_members(map);
        // Among the devices that are fine, so one bad device does not hide
        // a clash between two others.
        self.check_unique_client_ids(map, &devices);
        (!failed).then_some(devices)
    }

    fn device(&mut self, name_key: &MarkedScalarNode, body: &Node) -> Option<Device> {
        let name = name_key.as_str().to_string();
        let at = scalar_location(name_key);
        let mut known = KnownDevice {
            name: name.clone(),
            external: false,
            past_hilt: false,
            app: None,
            parts: None,
            fleet: None,
        };
        let name_ok = self.check_device_name(&name, at);

        let Some(map) = body.as_mapping() else {
            self.error(
                location(body),
                format!(
                    "device '{name}' must be a map, like `{name}: {{ app: thermometer }}` \
                     or `{name}: {{ external: true }}`; got {}",
                    describe(body)
                ),
            );
            self.remember(known);
            return None;
        };

        let external = match map.get_node("external") {
            Some(flag) => self.boolean(flag, "external"),
            None => Some(false),
        };
        let Some(external) = external else {
            // Whether the rest applies is unknown; steps naming this
            // device stay quiet since its parts are unknown.
            self.remember(known);
            return None;
        };
        known.external = external;
        if known.external {
            for (key, _) in map.iter() {
                let key_text = key.as_str();
                if ["app", "config", "parts"].contains(&key_text) {
                    self.error(
                        scalar_location(key),
                        format!(
                            "device '{name}' is external (hilt does not run it), so it cannot \
                             have `{key_text}`; remove `{key_text}`, or remove `external: true`"
                        ),
                    );
                } else if !EXTERNAL_DEVICE_KEYS.contains(&key_text) {
                    self.unknown_key(
                        key,
                        EXTERNAL_DEVICE_KEYS,
                        &format!("in external device '{name}'"),
                    );
                }
            }
        } else {
            self.unknown_keys(map, DEVICE_KEYS, &format!("in device '{name}'"));
        }

        let client_id = self.client_id(map, &name, at);

        if known.external {
            let connects_to = optional(
                map.get_node("connects_to")
                    .map(|node| self.choice(node, "connects_to", CONNECTS_TO)),
            );
            let past_hilt = connects_to == Some(Some("broker"));
            if past_hilt && !self.broker_url {
                let at = map.get_node("connects_to").map_or(at, location);
                self.error(
                    at,
                    format!(
                        "device '{name}' connects to the broker itself, which needs \
                         `broker: {{ url: ... }}`: the embedded broker listens on a private \
                         port; remove `connects_to: broker` and connect the device to hilt"
                    ),
                );
            }
            known.past_hilt = past_hilt;
            self.remember(known);
            let connect_within = optional(
                map.get_node("connect_within")
                    .map(|node| self.duration(node, "connect_within")),
            );
            if past_hilt && let Some(node) = map.get_node("connect_within") {
                self.error(
                    location(node),
                    format!(
                        "device '{name}' connects to the broker itself (`connects_to: broker`), \
                         so hilt cannot see it connect; remove `connect_within`"
                    ),
                );
            }
            let connects_to = connects_to?;
            return Some(Device {
                name,
                location: at,
                client_id: client_id?,
                kind: DeviceKind::External {
                    connect_within: connect_within?.unwrap_or(crate::DEFAULT_CONNECT_WITHIN),
                    through_hilt: connects_to != Some("broker"),
                },
            })
            .filter(|_| name_ok);
        }

        let app = match map.get_node("app") {
            Some(node) => self.app(node),
            None => {
                self.error(
                    at,
                    format!(
                        "device '{name}' needs `app:` naming the firmware it runs ({}), \
                         or `external: true` for a device hilt does not run",
                        self.known_apps_text()
                    ),
                );
                None
            }
        };
        known.app = app.clone();
        known.parts = app.as_deref().and_then(|app| self.catalog.parts(app));

        let config = match map.get_node("config") {
            Some(node) => self.config(node),
            None => Some(ConfigMap {
                location: at,
                entries: Vec::new(),
            }),
        };
        if let (Some(app), Some(config)) = (&app, &config) {
            for problem in self.catalog.check_config(app, config) {
                self.error(problem.location, problem.message);
            }
        }

        let parts = match map.get_node("parts") {
            Some(node) => self.starting_parts(&known, node).map(|settings| {
                settings
                    .iter()
                    .map(|setting| setting.for_device(&name, self.seed, 1))
                    .collect()
            }),
            None => Some(Vec::new()),
        };
        self.remember(known);

        if !name_ok {
            return None;
        }
        Some(Device {
            name,
            location: at,
            client_id: client_id?,
            kind: DeviceKind::Simulated {
                app: app?,
                config: config?,
                parts: parts?,
            },
        })
    }

    /// Device names appear in steps as `device.part`, so a dot would make
    /// them ambiguous; the other limits keep them easy to type and to grep.
    pub(super) fn check_device_name(&mut self, name: &str, at: Location) -> bool {
        if !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return true;
        }
        self.error(
            at,
            format!(
                "device name {} can only use letters, digits, '-' and '_', \
                 since steps name parts as device.part",
                quote(name)
            ),
        );
        false
    }

    fn client_id(
        &mut self,
        map: &MarkedMappingNode,
        name: &str,
        name_at: Location,
    ) -> Option<String> {
        match map.get_node("client_id") {
            Some(node) => {
                let id = self.text(node, "client_id")?;
                match client_id_problem(&id) {
                    None => Some(id),
                    Some(problem) => {
                        self.error(
                            location(node),
                            format!("client_id {} {problem}", quote(&id)),
                        );
                        None
                    }
                }
            }
            None => match client_id_problem(name) {
                None => Some(name.to_string()),
                // A bad device name was already reported; a long one is
                // only a problem because it doubles as the client id.
                Some(problem) => {
                    if name.len() > MAX_CLIENT_ID_LENGTH {
                        self.error(
                            name_at,
                            format!(
                                "device name {} doubles as its MQTT client id, which {problem}; \
                                 give the device a shorter `client_id:`",
                                quote(name)
                            ),
                        );
                    }
                    None
                }
            },
        }
    }

    /// Two clients with one id make the broker disconnect the first, so the
    /// scenario would fail in a confusing way at run time. A fleet's
    /// members are checked one by one (a set of ids, so 10,000 members
    /// cost 10,000 look-ups), but a clash is reported once per entry.
    fn check_unique_client_ids(&mut self, map: &MarkedMappingNode, devices: &[Device]) {
        let mut seen: HashMap<&str, (&str, Location)> = HashMap::with_capacity(devices.len());
        let mut problems = Vec::new();
        let mut reported_entries = HashSet::new();
        for device in devices {
            let member_of = self
                .lookup(&device.name)
                .filter(|named| matches!(named, Named::Member(..)))
                .map(|named| self.devices[named.entry()].name.as_str());
            let entry_name = member_of.unwrap_or(&device.name);
            let at = map
                .get_mapping(entry_name)
                .and_then(|body| body.get_node("client_id"))
                .map_or(device.location, location);
            if let Some((other, other_at)) = seen.get(device.client_id.as_str()) {
                if !reported_entries.insert(entry_name) {
                    continue;
                }
                let whose = match member_of {
                    Some(fleet) => {
                        format!(", the id of member '{}' of fleet '{fleet}',", device.name)
                    }
                    None => String::new(),
                };
                problems.push((
                    at,
                    format!(
                        "client id {}{whose} is already used by device '{other}' (line {}); \
                         the broker would disconnect one of them, so give each device its own `client_id`",
                        quote(&device.client_id),
                        other_at.line
                    ),
                ));
            } else {
                seen.insert(&device.client_id, (&device.name, at));
            }
        }
        for (at, message) in problems {
            self.error(at, message);
        }
    }

    /// A device or fleet named like a member of a fleet (`probe-07` beside
    /// a fleet `probe` of 20) would make `probe-07.button` ambiguous.
    fn check_names_are_not_members(&mut self, map: &MarkedMappingNode) {
        let mut problems = Vec::new();
        for (name, _) in map.iter() {
            let Some((fleet_name, _)) = name.as_str().rsplit_once('-') else {
                continue;
            };
            let Some(fleet) = self
                .device_index
                .get(fleet_name)
                .and_then(|&entry| self.devices[entry].fleet.as_ref())
            else {
                continue;
            };
            if let Some(index) = fleet.member_index(name.as_str()) {
                problems.push((
                    scalar_location(name),
                    format!(
                        "device name {} is also the name of member {index} of fleet \
                         '{fleet_name}' (line {}); rename one of them",
                        quote(name.as_str()),
                        fleet.location.line
                    ),
                ));
            }
        }
        for (at, message) in problems {
            self.error(at, message);
        }
    }

    pub(super) fn app(&mut self, node: &Node) -> Option<String> {
        let app = self.text(node, "app")?;
        if self.catalog.parts(&app).is_some() {
            return Some(app);
        }
        let names = self.catalog.app_names();
        let hint = did_you_mean(&app, names.iter().map(String::as_str))
            .map(|close| format!("did you mean '{close}'? "))
            .unwrap_or_default();
        self.error(
            location(node),
            format!(
                "unknown app {}; {hint}{}",
                quote(&app),
                self.known_apps_text()
            ),
        );
        None
    }

    pub(super) fn known_apps_text(&self) -> String {
        let names = self.catalog.app_names();
        if names.is_empty() {
            "no apps are registered".to_string()
        } else {
            format!("known apps: {}", names.join(", "))
        }
    }

    pub(super) fn config(&mut self, node: &Node) -> Option<ConfigMap> {
        match node {
            Node::Mapping(_) => match self.config_value(node, 0)? {
                ConfigValue::Mapping(map) => Some(map),
                _ => None,
            },
            // `config:` with nothing after it is an empty config.
            Node::Scalar(scalar) if scalar.as_str().is_empty() && scalar.may_coerce() => {
                Some(ConfigMap {
                    location: location(node),
                    entries: Vec::new(),
                })
            }
            _ => {
                self.error(
                    location(node),
                    format!(
                        "`config` must be a map of the app's settings, like `config: {{ unit: F }}`; got {}",
                        describe(node)
                    ),
                );
                None
            }
        }
    }

    fn config_value(&mut self, node: &Node, depth: usize) -> Option<ConfigValue> {
        if depth > MAX_CONFIG_DEPTH {
            self.error(
                location(node),
                format!("`config` is nested more than {MAX_CONFIG_DEPTH} levels deep"),
            );
            return None;
        }
        match node {
            Node::Scalar(scalar) => Some(ConfigValue::Scalar {
                text: scalar.as_str().to_string(),
                location: scalar_location(scalar),
            }),
            Node::Sequence(sequence) => {
                let items: Vec<Option<ConfigValue>> = sequence
                    .iter()
                    .map(|item| self.config_value(item, depth + 1))
                    .collect();
                Some(ConfigValue::Sequence {
                    items: items.into_iter().collect::<Option<Vec<_>>>()?,
                    location: location(node),
                })
            }
            Node::Mapping(map) => {
                let mut entries = Vec::new();
                let mut failed = false;
                for (key, value) in map.iter() {
                    match self.config_value(value, depth + 1) {
                        Some(value) => entries.push(ConfigEntry {
                            key: key.as_str().to_string(),
                            key_location: scalar_location(key),
                            value,
                        }),
                        None => failed = true,
                    }
                }
                (!failed).then(|| {
                    ConfigValue::Mapping(ConfigMap {
                        location: location(node),
                        entries,
                    })
                })
            }
        }
    }

    /// `parts:` of a device or fleet: the starting state of its simulated
    /// parts, spreads still to be drawn.
    pub(super) fn starting_parts(
        &mut self,
        device: &KnownDevice,
        node: &Node,
    ) -> Option<Vec<StartingSetting>> {
        let Some(map) = node.as_mapping() else {
            self.error(
                location(node),
                format!(
                    "`parts` must be a map from part names to settings, like \
                     `parts: {{ ds18b20: {{ temperature: 22.5 }} }}`; got {}",
                    describe(node)
                ),
            );
            return None;
        };
        let mut settings = Vec::new();
        let mut failed = false;
        for (part_key, properties) in map.iter() {
            let part_at = scalar_location(part_key);
            let kind = match &device.parts {
                Some(parts) => match self.find_part(device, parts, part_key.as_str(), part_at) {
                    Some(kind) => Some(kind),
                    None => {
                        failed = true;
                        continue;
                    }
                },
                // The unknown app was reported; the settings cannot be checked.
                None => None,
            };
            let Some(properties) = properties.as_mapping() else {
                self.error(
                    location(properties),
                    format!(
                        "part '{}' must be a map of properties, like `{{ temperature: 22.5 }}`; got {}",
                        part_key.as_str(),
                        describe(properties)
                    ),
                );
                failed = true;
                continue;
            };
            let Some(kind) = kind else {
                failed = true;
                continue;
            };
            let target = PartRef {
                device: device.name.clone(),
                part: part_key.as_str().to_string(),
                location: part_at,
            };
            for (property, value) in properties.iter() {
                match self.starting_setting(
                    &target,
                    kind,
                    property.as_str(),
                    scalar_location(property),
                    value,
                ) {
                    Some(setting) => settings.push(setting),
                    None => failed = true,
                }
            }
        }
        (!failed).then_some(settings)
    }
}

/// Why a client id is not accepted, if it is not.
pub(super) fn client_id_problem(id: &str) -> Option<String> {
    if id.is_empty() {
        return Some("is empty; MQTT needs a name for each client".to_string());
    }
    if id.len() > MAX_CLIENT_ID_LENGTH {
        return Some(format!("is longer than {MAX_CLIENT_ID_LENGTH} characters"));
    }
    id.chars()
        .find(|c| !c.is_ascii_graphic())
        .map(|c| format!("contains {c:?}; use printable ASCII without spaces"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_ids() {
        assert_eq!(client_id_problem("esp32-bench"), None);
        assert_eq!(client_id_problem(&"a".repeat(64)), None);
        assert!(client_id_problem("").is_some());
        assert!(client_id_problem(&"a".repeat(65)).is_some());
        assert!(client_id_problem("a b").is_some());
        assert!(client_id_problem("é").is_some());
    }
}
