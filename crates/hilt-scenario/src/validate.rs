//! The validated layer: raw nodes checked against the language and turned
//! into the typed [`Scenario`].
//!
//! The validator never stops at the first problem. Each part of the file is
//! checked on its own and every problem is recorded with its place; a part
//! that fails yields `None`, and the scenario is built only when nothing
//! failed. Where one mistake would otherwise cause a cascade (a missing
//! `devices:` makes every step's device unknown), the later checks stay quiet.

use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

use marked_yaml::Node;
use marked_yaml::types::{MarkedMappingNode, MarkedScalarNode};

use crate::duration::parse_duration;
use crate::json::to_json;
use crate::raw::{
    CharacterIndex, describe, location, quote, quote_exactly, scalar_location, start_character,
};
use crate::scalar::{core_bool, decimal_number};
use crate::suggest::did_you_mean;
use crate::topic::{validate_filter, validate_topic_name};
use crate::{
    BlinkExpectation, BrokerAction, BrokerChoice, Catalog, ConfigEntry, ConfigMap, ConfigValue,
    Device, DeviceKind, DeviceRef, Diagnostic, Diagnostics, Expectation, LedExpectation, LedTiming,
    Location, MessageExpectation, NetworkChange, PartDescription, PartKind, PartRef, PartSetting,
    PartValue, PayloadMatch, PinExpectation, PublishAction, Scenario, Step, StepKind, TimeMode,
};

const TOP_LEVEL_KEYS: &[&str] = &[
    "name", "about", "time", "seed", "broker", "devices", "steps",
];
const DEVICE_KEYS: &[&str] = &["app", "client_id", "config", "parts", "external"];
const EXTERNAL_DEVICE_KEYS: &[&str] = &["external", "client_id"];
/// The steps this version runs, in the order the language page lists them.
const SUPPORTED_STEPS: &[&str] = &[
    "wait", "press", "release", "click", "set", "publish", "expect", "broker", "network", "reboot",
    "hang",
];
/// Steps of the language that this version recognises but cannot run yet.
const UNSUPPORTED_STEPS: &[&str] = &[];
const NETWORK_KEYS: &[&str] = &["device", "link", "latency", "drop"];
const BLINK_EXPECTATION_KEYS: &[&str] = &["led", "blinks", "tolerance", "for"];
/// A blink rate is measured over this long unless the step gives `for:`.
const DEFAULT_BLINK_WINDOW: Duration = Duration::from_secs(2);
/// A blink rate may be off by this fraction unless the step gives `tolerance:`.
const DEFAULT_BLINK_TOLERANCE: f64 = 0.1;
const PUBLISH_KEYS: &[&str] = &["topic", "payload", "json", "qos", "retain", "repeat"];
const MESSAGE_EXPECTATION_KEYS: &[&str] = &[
    "topic",
    "payload",
    "json",
    "matches",
    "qos",
    "retain",
    "count",
    "within",
    "since",
    "tolerance",
];
const LED_EXPECTATION_KEYS: &[&str] = &["led", "is", "within", "for"];
const PIN_EXPECTATION_KEYS: &[&str] = &["pin", "level"];
/// The longest client id accepted. MQTT 3.1.1 only promises 23 bytes, but
/// every broker hilt talks to takes more, and readable ids need the room.
const MAX_CLIENT_ID_LENGTH: usize = 64;
/// Deeper `config:` nesting than this is surely a mistake; the bound keeps
/// the conversion's recursion small.
const MAX_CONFIG_DEPTH: usize = 32;
/// The most publishes one `publish` step may repeat: a flood, not a hang.
const MAX_REPEAT: u64 = 100_000;
/// How long a message expectation waits when it gives no `within:`.
const DEFAULT_WITHIN: Duration = Duration::from_secs(1);

/// A blink tolerance as written.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Tolerance {
    /// A fraction of the expected rate (`10%` is 0.1).
    Relative(f64),
    /// Hz.
    Absolute(f64),
}

/// Validates a parsed file into a scenario, or returns every problem found.
pub(crate) fn validate(
    file: &Path,
    text: &str,
    root: &Node,
    catalog: &dyn Catalog,
) -> Result<Scenario, Diagnostics> {
    let mut validator = Validator {
        file,
        catalog,
        characters: CharacterIndex::new(text),
        problems: Vec::new(),
        devices: Vec::new(),
        devices_readable: true,
    };
    let scenario = validator.scenario(root);
    match scenario {
        Some(scenario) if validator.problems.is_empty() => Ok(scenario),
        _ => {
            if validator.problems.is_empty() {
                // Every failing check records a problem; this is a safety net
                // so that a failure can never come back without an explanation.
                validator.error(location(root), "the scenario is invalid");
            }
            Err(Diagnostics::sorted(validator.problems))
        }
    }
}

/// What the steps need to know about a device to check the parts they name.
#[derive(Debug)]
struct KnownDevice {
    name: String,
    external: bool,
    app: Option<String>,
    /// `None` when the app is unknown: the problem is reported once, at the
    /// device, and steps naming its parts are not checked further.
    parts: Option<Vec<PartDescription>>,
}

struct Validator<'a> {
    file: &'a Path,
    catalog: &'a dyn Catalog,
    characters: CharacterIndex,
    problems: Vec<Diagnostic>,
    devices: Vec<KnownDevice>,
    /// False when `devices:` is missing or unreadable; steps' device names
    /// are then not checked, to avoid one error per step for one mistake.
    devices_readable: bool,
}

impl Validator<'_> {
    fn error(&mut self, at: Location, message: impl Into<String>) {
        self.problems.push(Diagnostic::new(self.file, at, message));
    }

    // ---- the top level -------------------------------------------------

    fn scenario(&mut self, root: &Node) -> Option<Scenario> {
        let root_location = location(root);
        let Some(map) = root.as_mapping() else {
            self.error(
                root_location,
                "a scenario file is a YAML map with keys such as name, devices and steps",
            );
            return None;
        };
        self.unknown_keys(map, TOP_LEVEL_KEYS, "at the top level");

        let name = match map.get_node("name") {
            Some(node) => self.one_line_text(node, "name"),
            None => {
                self.error(
                    root_location,
                    "missing key 'name': every scenario needs a one-line name, like `name: remote LED pair`",
                );
                None
            }
        };
        let about = match map.get_node("about") {
            Some(node) => self
                .text(node, "about")
                .map(|text| Some(text).filter(|text| !text.is_empty())),
            None => Some(None),
        };
        let time = match map.get_node("time") {
            Some(node) => self
                .choice(node, "time", &["virtual", "real"])
                .map(|choice| {
                    if choice == "real" {
                        TimeMode::Real
                    } else {
                        TimeMode::Virtual
                    }
                }),
            None => Some(TimeMode::Virtual),
        };
        let seed = match map.get_node("seed") {
            Some(node) => self.unsigned(node, "seed", u64::MAX),
            None => Some(0),
        };
        let broker = match map.get_node("broker") {
            Some(node) => self.broker(node),
            None => Some(BrokerChoice::Embedded),
        };
        let devices = match map.get_node("devices") {
            Some(node) => self.devices(node),
            None => {
                self.devices_readable = false;
                self.error(
                    root_location,
                    "missing key 'devices': a scenario needs at least one device, like \
                     `devices: { probe: { app: thermometer } }`",
                );
                None
            }
        };
        let steps = match map.get_node("steps") {
            Some(node) => self.steps(node),
            None => {
                self.error(
                    root_location,
                    "missing key 'steps': list the scenario's steps under `steps:` \
                     (write `steps: []` for a scenario that only boots its devices)",
                );
                None
            }
        };

        if time == Some(TimeMode::Virtual) {
            self.check_virtual_time(map);
        }

        if let (Some(BrokerChoice::External { url, .. }), Some(steps)) = (&broker, &steps) {
            let url = url.clone();
            for step in steps {
                if let StepKind::Broker(_) = step.kind {
                    self.error(
                        step.location,
                        format!(
                            "a `broker` step stops and starts the embedded broker, but this scenario uses {url}; \
                             hilt cannot restart a broker it does not run"
                        ),
                    );
                }
            }
            if self
                .problems
                .iter()
                .any(|problem| problem.message.contains("hilt cannot restart"))
            {
                return None;
            }
        }
        Some(Scenario {
            file: self.file.to_path_buf(),
            name: name?,
            about: about?,
            time: time?,
            seed: seed?,
            broker: broker?,
            devices: devices?,
            steps: steps?,
        })
    }

    /// Virtual time is simulated inside hilt, so a device hilt does not run
    /// cannot follow it. (An external broker can: it only relays messages,
    /// and the runner supports it under virtual time.)
    fn check_virtual_time(&mut self, map: &MarkedMappingNode) {
        let how = if map.get_node("time").is_some() {
            "change `time: virtual` to `time: real`"
        } else {
            "add `time: real` at the top level"
        };
        let external: Vec<(String, Location)> = map
            .get_mapping("devices")
            .map(|devices| {
                devices
                    .iter()
                    .filter(|(_, body)| {
                        body.as_mapping()
                            .and_then(|body| body.get_scalar("external"))
                            .and_then(|flag| core_bool(flag.as_str()))
                            == Some(true)
                    })
                    .map(|(name, _)| (name.as_str().to_string(), scalar_location(name)))
                    .collect()
            })
            .unwrap_or_default();
        for (name, at) in external {
            self.error(
                at,
                format!(
                    "device '{name}' is external, and a device hilt does not run cannot follow \
                     virtual time; {how}"
                ),
            );
        }
    }

    fn broker(&mut self, node: &Node) -> Option<BrokerChoice> {
        match node {
            Node::Scalar(scalar) if scalar.as_str() == "embedded" => Some(BrokerChoice::Embedded),
            Node::Mapping(map) => {
                self.unknown_keys(map, &["url"], "in `broker`");
                let Some(url_node) = map.get_node("url") else {
                    self.error(
                        location(node),
                        "missing key 'url' in `broker`; write `broker: { url: mqtt://127.0.0.1:1883 }`",
                    );
                    return None;
                };
                let url = self.text(url_node, "url")?;
                match parse_broker_url(&url) {
                    Ok((host, port)) => Some(BrokerChoice::External { url, host, port }),
                    Err(reason) => {
                        self.error(
                            location(url_node),
                            format!("invalid broker url {}: {reason}", quote(&url)),
                        );
                        None
                    }
                }
            }
            _ => {
                self.error(
                    location(node),
                    format!(
                        "`broker` must be `embedded` or `{{ url: mqtt://host:port }}`; got {}",
                        describe(node)
                    ),
                );
                None
            }
        }
    }

    // ---- devices -------------------------------------------------------

    fn devices(&mut self, node: &Node) -> Option<Vec<Device>> {
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
            match self.device(name, body) {
                Some(device) => devices.push(device),
                None => failed = true,
            }
        }
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
            app: None,
            parts: None,
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
            self.devices.push(known);
            return None;
        };

        let external = match map.get_node("external") {
            Some(flag) => self.boolean(flag, "external"),
            None => Some(false),
        };
        let Some(external) = external else {
            // Whether the rest applies is unknown; steps naming this
            // device stay quiet since its parts are unknown.
            self.devices.push(known);
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
            self.devices.push(known);
            return Some(Device {
                name,
                location: at,
                client_id: client_id?,
                kind: DeviceKind::External,
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
            Some(node) => self.starting_parts(&known, node),
            None => Some(Vec::new()),
        };
        self.devices.push(known);

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
    fn check_device_name(&mut self, name: &str, at: Location) -> bool {
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
    /// scenario would fail in a confusing way at run time.
    fn check_unique_client_ids(&mut self, map: &MarkedMappingNode, devices: &[Device]) {
        let mut seen: HashMap<&str, (&str, Location)> = HashMap::new();
        for device in devices {
            let at = map
                .get_mapping(&device.name)
                .and_then(|body| body.get_node("client_id"))
                .map_or(device.location, location);
            if let Some((other, other_at)) = seen.get(device.client_id.as_str()) {
                self.error(
                    at,
                    format!(
                        "client id {} is already used by device '{other}' (line {}); \
                         the broker would disconnect one of them, so give each device its own `client_id`",
                        quote(&device.client_id),
                        other_at.line
                    ),
                );
            } else {
                seen.insert(&device.client_id, (&device.name, at));
            }
        }
    }

    fn app(&mut self, node: &Node) -> Option<String> {
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

    fn known_apps_text(&self) -> String {
        let names = self.catalog.app_names();
        if names.is_empty() {
            "no apps are registered".to_string()
        } else {
            format!("known apps: {}", names.join(", "))
        }
    }

    fn config(&mut self, node: &Node) -> Option<ConfigMap> {
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

    /// `parts:` of a device: the starting state of its simulated parts.
    fn starting_parts(&mut self, device: &KnownDevice, node: &Node) -> Option<Vec<PartSetting>> {
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
                match self.part_setting(
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

    // ---- parts ---------------------------------------------------------

    /// The kind of a device's part, or a reported problem.
    fn find_part(
        &mut self,
        device: &KnownDevice,
        parts: &[PartDescription],
        part: &str,
        at: Location,
    ) -> Option<PartKind> {
        if let Some(found) = parts.iter().find(|description| description.name == part) {
            return Some(found.kind);
        }
        let hint = did_you_mean(
            part,
            parts.iter().map(|description| description.name.as_str()),
        )
        .map(|close| format!("did you mean '{close}'? "))
        .unwrap_or_default();
        let names: Vec<&str> = parts
            .iter()
            .map(|description| description.name.as_str())
            .collect();
        self.error(
            at,
            format!(
                "device '{}' (app {}) has no part {}; {hint}its parts: {}",
                device.name,
                device.app.as_deref().unwrap_or("?"),
                quote(part),
                names.join(", ")
            ),
        );
        None
    }

    /// Resolves `device` and `part` for a step, or reports why it cannot be.
    /// `None` without a problem means the device's app is unknown, which
    /// was reported at the device.
    fn resolve(
        &mut self,
        device_name: &str,
        part: &str,
        at: Location,
        step: &str,
    ) -> Option<(PartRef, PartKind)> {
        if !self.devices_readable {
            return None;
        }
        let Some(index) = self
            .devices
            .iter()
            .position(|device| device.name == device_name)
        else {
            let names: Vec<&str> = self
                .devices
                .iter()
                .map(|device| device.name.as_str())
                .collect();
            let hint = did_you_mean(device_name, names.iter().copied())
                .map(|close| format!("did you mean '{close}'? "))
                .unwrap_or_default();
            let message = format!(
                "unknown device {}; {hint}devices in this file: {}",
                quote(device_name),
                names.join(", ")
            );
            self.error(at, message);
            return None;
        };
        let device = &self.devices[index];
        if device.external {
            let message = format!(
                "device '{device_name}' is external (hilt does not run it), so {step} cannot name it; \
                 only `publish` and message expectations can involve an external device"
            );
            self.error(at, message);
            return None;
        }
        let parts = device.parts.clone()?;
        let device = KnownDevice {
            name: device.name.clone(),
            external: false,
            app: device.app.clone(),
            parts: None,
        };
        let kind = self.find_part(&device, &parts, part, at)?;
        Some((
            PartRef {
                device: device_name.to_string(),
                part: part.to_string(),
                location: at,
            },
            kind,
        ))
    }

    /// A `device.part` naming a part of one kind, as `press:`, `led:` and
    /// `pin:` take.
    fn part_of_kind(
        &mut self,
        node: &Node,
        step: &str,
        wanted: PartKind,
        example: &str,
    ) -> Option<PartRef> {
        let text = self.text(node, step.trim_matches('`'))?;
        let at = location(node);
        let Some((device, part)) = split_two(&text) else {
            self.error(
                at,
                format!(
                    "{step} names a part as device.part, like `{example}`; got {}",
                    quote(&text)
                ),
            );
            return None;
        };
        let (target, kind) = self.resolve(device, part, at, step)?;
        if kind == wanted {
            return Some(target);
        }
        let alternatives: Vec<String> = self
            .devices
            .iter()
            .find(|known| known.name == device)
            .and_then(|known| known.parts.as_ref())
            .map(|parts| {
                parts
                    .iter()
                    .filter(|description| description.kind == wanted)
                    .map(|description| format!("{device}.{}", description.name))
                    .collect()
            })
            .unwrap_or_default();
        let which = if alternatives.is_empty() {
            format!("device '{device}' has none")
        } else {
            format!("device '{device}' has {}", alternatives.join(", "))
        };
        self.error(
            at,
            format!(
                "'{target}' is {}, but {step} needs {}; {which}",
                kind_name(kind),
                kind_name(wanted)
            ),
        );
        None
    }

    /// One `property: value` of a simulated part, checked against its kind.
    fn part_setting(
        &mut self,
        target: &PartRef,
        kind: PartKind,
        property: &str,
        property_at: Location,
        value: &Node,
    ) -> Option<PartSetting> {
        let properties: &[&str] = match kind {
            PartKind::Ds18b20 => &["temperature", "fault"],
            PartKind::Tsl2591 => &["lux", "fault"],
            PartKind::Button | PartKind::Led | PartKind::Pin => {
                let what_instead = match kind {
                    PartKind::Button => "; use press, release or click in steps",
                    _ => "; check it with expect in steps",
                };
                self.error(
                    property_at,
                    format!(
                        "'{target}' is {}, which has no properties to set{what_instead}",
                        kind_name(kind)
                    ),
                );
                return None;
            }
        };
        let value = match (kind, property) {
            (PartKind::Ds18b20, "temperature") => {
                let degrees = self.number(value, "temperature", "22.5")?;
                if !(-55.0..=125.0).contains(&degrees) {
                    self.error(
                        location(value),
                        format!(
                            "temperature {degrees} is outside what a DS18B20 measures \
                             (-55 to 125 degrees Celsius)"
                        ),
                    );
                    return None;
                }
                PartValue::Temperature(degrees)
            }
            (PartKind::Tsl2591, "lux") => {
                let lux = self.number(value, "lux", "300")?;
                if lux < 0.0 {
                    self.error(
                        location(value),
                        format!("lux {lux} is negative; light is 0 lux or more"),
                    );
                    return None;
                }
                PartValue::Lux(lux)
            }
            (PartKind::Ds18b20, "fault") => {
                self.fault(value, &["disconnected", "crc_error", "none"])?
            }
            (PartKind::Tsl2591, "fault") => self.fault(value, &["nack", "none"])?,
            _ => {
                let hint = did_you_mean(property, properties.iter().copied())
                    .map(|close| format!("did you mean '{close}'? "))
                    .unwrap_or_default();
                self.error(
                    property_at,
                    format!(
                        "{} has no property {}; {hint}it has {}",
                        kind_name(kind),
                        quote(property),
                        properties.join(" and ")
                    ),
                );
                return None;
            }
        };
        Some(PartSetting {
            target: target.clone(),
            value,
        })
    }

    fn fault(&mut self, value: &Node, faults: &[&str]) -> Option<PartValue> {
        let fault = self.choice(value, "fault", faults)?;
        Some(PartValue::Fault(
            (fault != "none").then(|| fault.to_string()),
        ))
    }

    // ---- steps ---------------------------------------------------------

    fn steps(&mut self, node: &Node) -> Option<Vec<Step>> {
        let Some(sequence) = node.as_sequence() else {
            self.error(
                location(node),
                format!(
                    "`steps` must be a list, one step per line starting with '- ' \
                     (or `steps: []` for none); got {}",
                    describe(node)
                ),
            );
            return None;
        };
        let steps: Vec<Option<Step>> = sequence.iter().map(|item| self.step(item)).collect();
        steps.into_iter().collect()
    }

    fn step(&mut self, item: &Node) -> Option<Step> {
        let at = start_character(item)
            .and_then(|index| self.characters.dash_before(index))
            .unwrap_or_else(|| location(item));
        let Some(map) = item.as_mapping() else {
            let message = match item {
                Node::Scalar(scalar) if is_step_key(scalar.as_str()) => format!(
                    "step '{0}' needs a value after a colon, like `- {0}: ...`",
                    scalar.as_str()
                ),
                _ => format!(
                    "a step is a map with one step key, like `- wait: 2s`; got {}",
                    describe(item)
                ),
            };
            self.error(location(item), message);
            return None;
        };

        let mut name = Some(None);
        let mut chosen: Option<(&MarkedScalarNode, &Node)> = None;
        let mut reported = false;
        for (key, value) in map.iter() {
            let key_text = key.as_str();
            if key_text == "name" {
                name = self.one_line_text(value, "name").map(Some);
            } else if is_step_key(key_text) {
                if let Some((first, _)) = chosen {
                    self.error(
                        scalar_location(key),
                        format!(
                            "a step has exactly one step key, but this one has both '{}' (line {}) \
                             and '{key_text}'; split it into two steps",
                            first.as_str(),
                            scalar_location(first).line
                        ),
                    );
                    reported = true;
                } else {
                    chosen = Some((key, value));
                }
            } else {
                self.unknown_step(key, map);
                reported = true;
            }
        }
        let Some((key, value)) = chosen else {
            if !reported {
                self.error(
                    at,
                    format!(
                        "this step has no step key; add one of {}",
                        SUPPORTED_STEPS.join(", ")
                    ),
                );
            }
            return None;
        };

        let kind = match key.as_str() {
            "wait" => self.duration(value, "wait").map(StepKind::Wait),
            "press" => self
                .part_of_kind(value, "`press`", PartKind::Button, "blue.button")
                .map(StepKind::Press),
            "release" => self
                .part_of_kind(value, "`release`", PartKind::Button, "blue.button")
                .map(StepKind::Release),
            "click" => self
                .part_of_kind(value, "`click`", PartKind::Button, "blue.button")
                .map(StepKind::Click),
            "set" => self.set(value).map(StepKind::Set),
            "publish" => self.publish(value).map(StepKind::Publish),
            "expect" => self.expect(value).map(StepKind::Expect),
            "broker" => self
                .choice(value, "broker", &["stop", "start", "restart"])
                .map(|action| match action {
                    "stop" => StepKind::Broker(BrokerAction::Stop),
                    "start" => StepKind::Broker(BrokerAction::Start),
                    _ => StepKind::Broker(BrokerAction::Restart),
                }),
            "network" => self.network(value).map(StepKind::Network),
            "reboot" => self
                .simulated_device(value, "`reboot`")
                .map(StepKind::Reboot),
            "hang" => self.simulated_device(value, "`hang`").map(StepKind::Hang),
            unsupported => {
                self.error(
                    scalar_location(key),
                    format!(
                        "the `{unsupported}` step is not supported yet by this version of hilt; \
                         remove the step, or run the scenario with a newer hilt"
                    ),
                );
                None
            }
        };
        if reported {
            return None;
        }
        Some(Step {
            location: at,
            name: name?,
            kind: kind?,
        })
    }

    fn unknown_step(&mut self, key: &MarkedScalarNode, step: &MarkedMappingNode) {
        let key_text = key.as_str();
        for (owner, keys) in [
            ("expect", MESSAGE_EXPECTATION_KEYS),
            ("expect", LED_EXPECTATION_KEYS),
            ("publish", PUBLISH_KEYS),
        ] {
            if step.get_node(owner).is_some() && keys.contains(&key_text) {
                self.error(
                    scalar_location(key),
                    format!(
                        "'{key_text}' is not a step key but belongs inside `{owner}`; \
                         indent it under `{owner}:` or move it into its {{ ... }}"
                    ),
                );
                return;
            }
        }
        let candidates = SUPPORTED_STEPS.iter().chain(UNSUPPORTED_STEPS).copied();
        let hint = did_you_mean(key_text, candidates)
            .map(|close| format!("did you mean '{close}'? "))
            .unwrap_or_default();
        self.error(
            scalar_location(key),
            format!(
                "unknown step {}; {hint}known steps: {} (plus `name:` to name a step)",
                quote(key_text),
                SUPPORTED_STEPS.join(", ")
            ),
        );
    }

    /// A device the harness runs, named alone (`reboot: probe`).
    fn simulated_device(&mut self, node: &Node, step: &str) -> Option<DeviceRef> {
        let name = self.text(node, step.trim_matches('`'))?;
        let at = location(node);
        if !self.devices_readable {
            return None;
        }
        let Some(device) = self.devices.iter().find(|device| device.name == name) else {
            let names: Vec<&str> = self
                .devices
                .iter()
                .map(|device| device.name.as_str())
                .collect();
            let hint = did_you_mean(&name, names.iter().copied())
                .map(|close| format!("did you mean '{close}'? "))
                .unwrap_or_default();
            let message = format!(
                "unknown device {}; {hint}devices in this file: {}",
                quote(&name),
                names.join(", ")
            );
            self.error(at, message);
            return None;
        };
        if device.external {
            self.error(
                at,
                format!(
                    "device '{name}' is external (hilt does not run it), so {step} cannot name it; \
                     only `publish` and message expectations can involve an external device"
                ),
            );
            return None;
        }
        Some(DeviceRef {
            device: name,
            location: at,
        })
    }

    fn network(&mut self, node: &Node) -> Option<NetworkChange> {
        let Some(map) = node.as_mapping() else {
            self.error(
                location(node),
                format!(
                    "`network` takes a map, like `network: {{ device: probe, link: down }}`; got {}",
                    describe(node)
                ),
            );
            return None;
        };
        self.unknown_keys(map, NETWORK_KEYS, "in a `network` step");
        let device = match map.get_node("device") {
            Some(value) => self.simulated_device(value, "`network`"),
            None => {
                self.error(
                    location_of_map(map),
                    "a `network` step needs `device:`, the device whose link changes",
                );
                None
            }
        };
        let link_up = optional(map.get_node("link").map(|value| {
            self.choice(value, "link", &["up", "down"])
                .map(|link| link == "up")
        }));
        let latency = optional(
            map.get_node("latency")
                .map(|value| self.duration(value, "latency")),
        );
        let drop = optional(
            map.get_node("drop")
                .map(|value| self.probability(value, "drop")),
        );
        if map.get_node("link").is_none()
            && map.get_node("latency").is_none()
            && map.get_node("drop").is_none()
        {
            self.error(
                location_of_map(map),
                "a `network` step changes something: give `link: up|down`, `latency:` or `drop:`",
            );
            return None;
        }
        Some(NetworkChange {
            device: device?,
            link_up: link_up?,
            latency: latency?,
            drop: drop?,
        })
    }

    /// A probability: a number from 0 to 1, or a percentage like `10%`.
    fn probability(&mut self, node: &Node, what: &str) -> Option<f64> {
        let scalar = self.scalar(node, what, "a probability, like 0.1 or 10%")?;
        let text = scalar.as_str().trim();
        let value = match text.strip_suffix('%') {
            Some(percent) => decimal_number(percent.trim()).map(|value| value / 100.0),
            None => decimal_number(text),
        };
        match value {
            Some(value) if (0.0..=1.0).contains(&value) => Some(value),
            _ => {
                self.error(
                    location(node),
                    format!("`{what}` must be a probability from 0 to 1 (or 0% to 100%), like 0.1 or 10%; got {}", quote(text)),
                );
                None
            }
        }
    }

    fn set(&mut self, node: &Node) -> Option<Vec<PartSetting>> {
        let Some(map) = node.as_mapping().filter(|map| !map.is_empty()) else {
            self.error(
                location(node),
                format!(
                    "`set` takes a map of device.part.property to values, like \
                     `set: {{ probe.ds18b20.temperature: -10.5 }}`; got {}",
                    describe(node)
                ),
            );
            return None;
        };
        let mut settings = Vec::new();
        let mut failed = false;
        for (key, value) in map.iter() {
            let at = scalar_location(key);
            let mut pieces = key.as_str().split('.');
            let (Some(device), Some(part), Some(property), None) =
                (pieces.next(), pieces.next(), pieces.next(), pieces.next())
            else {
                self.error(
                    at,
                    format!(
                        "`set` keys are device.part.property, like probe.ds18b20.temperature; got {}",
                        quote(key.as_str())
                    ),
                );
                failed = true;
                continue;
            };
            if [device, part, property]
                .iter()
                .any(|piece| piece.is_empty())
            {
                self.error(
                    at,
                    format!(
                        "`set` keys are device.part.property, like probe.ds18b20.temperature; got {}",
                        quote(key.as_str())
                    ),
                );
                failed = true;
                continue;
            }
            let Some((target, kind)) = self.resolve(device, part, at, "`set`") else {
                failed = true;
                continue;
            };
            match self.part_setting(&target, kind, property, at, value) {
                Some(setting) => settings.push(setting),
                None => failed = true,
            }
        }
        (!failed).then_some(settings)
    }

    fn publish(&mut self, node: &Node) -> Option<PublishAction> {
        let Some(map) = node.as_mapping() else {
            self.error(
                location(node),
                format!(
                    "`publish` takes a map, like `publish: {{ topic: green/btn/0, payload: \"0\" }}`; got {}",
                    describe(node)
                ),
            );
            return None;
        };
        self.unknown_keys(map, PUBLISH_KEYS, "in `publish`");
        let topic = match map.get_node("topic") {
            Some(node) => self.topic_name(node),
            None => {
                self.error(
                    location(node),
                    "missing key 'topic' in `publish`: say which topic to publish to",
                );
                None
            }
        };
        let payload =
            match self.alternatives(map, &["payload", "json"], "`payload` (text) and `json`") {
                Some(Some(("payload", value))) => {
                    self.payload_text(value, "payload").map(String::into_bytes)
                }
                Some(Some((_, value))) => {
                    self.json(value).map(|json| json.to_string().into_bytes())
                }
                Some(None) => Some(Vec::new()),
                None => None,
            };
        let qos = match map.get_node("qos") {
            Some(node) => self.qos(node),
            None => Some(0),
        };
        let retain = match map.get_node("retain") {
            Some(node) => self.boolean(node, "retain"),
            None => Some(false),
        };
        let repeat = match map.get_node("repeat") {
            Some(node) => self
                .whole_number(node, "repeat", 1, MAX_REPEAT)
                .map(|count| count as u32),
            None => Some(1),
        };
        Some(PublishAction {
            topic: topic?,
            payload: payload?,
            qos: qos?,
            retain: retain?,
            repeat: repeat?,
        })
    }

    fn topic_name(&mut self, node: &Node) -> Option<String> {
        let topic = self.text(node, "topic")?;
        let problem = match validate_topic_name(&topic) {
            Err(error) => Some(error.to_string()),
            Ok(()) if topic.starts_with('$') => {
                Some("topics starting with '$' are reserved for the broker".to_string())
            }
            Ok(()) => None,
        };
        match problem {
            None => Some(topic),
            Some(problem) => {
                self.error(
                    location(node),
                    format!("cannot publish to {}: {problem}", quote(&topic)),
                );
                None
            }
        }
    }

    fn expect(&mut self, node: &Node) -> Option<Expectation> {
        let Some(map) = node.as_mapping() else {
            self.error(
                location(node),
                format!(
                    "`expect` takes a map, like `expect: {{ topic: blue/btn/0, payload: \"0\" }}` \
                     or `expect: {{ led: green.led, is: on }}`; got {}",
                    describe(node)
                ),
            );
            return None;
        };
        let mut forms: Vec<&MarkedScalarNode> = map
            .keys()
            .filter(|key| ["topic", "led", "pin"].contains(&key.as_str()))
            .collect();
        forms.sort_by_key(|key| scalar_location(key));
        match forms.as_slice() {
            [] => {
                let message = if map.get_node("is").is_some() {
                    "an LED expectation needs `led: device.part`, like `led: green.led`"
                } else if map.get_node("level").is_some() {
                    "a pin expectation needs `pin: device.gpioN`, like `pin: probe.gpio2`"
                } else if map
                    .keys()
                    .any(|key| MESSAGE_EXPECTATION_KEYS.contains(&key.as_str()))
                {
                    "a message expectation needs `topic:`, an MQTT filter (`#` matches every topic)"
                } else {
                    "`expect` needs `topic:` (a message), `led:` (an LED) or `pin:` (a GPIO pin)"
                };
                self.error(location(node), message);
                None
            }
            [form] => match form.as_str() {
                "topic" => self.message_expectation(map).map(Expectation::Message),
                "led" if map.get_node("blinks").is_some() => {
                    self.blink_expectation(map).map(Expectation::Blink)
                }
                "led" => self.led_expectation(map).map(Expectation::Led),
                _ => self.pin_expectation(map).map(Expectation::Pin),
            },
            [first, second, ..] => {
                self.error(
                    scalar_location(second),
                    format!(
                        "an expectation checks one thing, a message (`topic`), an LED (`led`) or a pin (`pin`), \
                         but this one has both '{}' and '{}'; split it into two expect steps",
                        first.as_str(),
                        second.as_str()
                    ),
                );
                None
            }
        }
    }

    fn message_expectation(&mut self, map: &MarkedMappingNode) -> Option<MessageExpectation> {
        self.unknown_keys(map, MESSAGE_EXPECTATION_KEYS, "in a message expectation");
        let filter_node = map.get_node("topic")?;
        let filter =
            self.text(filter_node, "topic")
                .and_then(|filter| match validate_filter(&filter) {
                    Ok(()) => Some(filter),
                    Err(error) => {
                        self.error(
                            location(filter_node),
                            format!("invalid topic filter {}: {error}", quote(&filter)),
                        );
                        None
                    }
                });
        let body = match self.alternatives(
            map,
            &["payload", "json", "matches"],
            "`payload`, `json` and `matches`",
        ) {
            Some(Some(("payload", value))) => self
                .payload_text(value, "payload")
                .map(|text| Some(PayloadMatch::Exact(text))),
            Some(Some(("json", value))) => {
                self.json(value).map(|json| Some(PayloadMatch::Json(json)))
            }
            Some(Some((_, value))) => self
                .regex(value)
                .map(|regex| Some(PayloadMatch::Regex(regex))),
            Some(None) => Some(None),
            None => None,
        };
        let qos = optional(map.get_node("qos").map(|node| self.qos(node)));
        let retain = optional(
            map.get_node("retain")
                .map(|node| self.boolean(node, "retain")),
        );
        let count = optional(map.get_node("count").map(|node| {
            self.unsigned(node, "count", u64::from(u32::MAX))
                .and_then(|count| u32::try_from(count).ok())
        }));
        let within = match map.get_node("within") {
            Some(node) => self.duration(node, "within"),
            None => Some(DEFAULT_WITHIN),
        };
        let since_start = match map.get_node("since") {
            Some(node) => self.choice(node, "since", &["start"]).map(|_| true),
            None => Some(false),
        };
        let tolerance = optional(map.get_node("tolerance").map(|node| {
            let tolerance = self.number(node, "tolerance", "0.01")?;
            if tolerance < 0.0 {
                self.error(
                    location(node),
                    format!("tolerance {tolerance} is negative; give 0 or more"),
                );
                return None;
            }
            Some(tolerance)
        }));
        if let (Some(key), None) = (key_named(map, "tolerance"), map.get_node("json")) {
            self.error(
                scalar_location(key),
                "`tolerance` applies to numbers in `json:`, and this expectation has no `json:`; \
                 remove `tolerance` or match the payload with `json:`",
            );
            return None;
        }
        Some(MessageExpectation {
            filter: filter?,
            body: body?,
            qos: qos?,
            retain: retain?,
            count: count?,
            within: within?,
            since_start: since_start?,
            tolerance: tolerance?,
        })
    }

    fn blink_expectation(&mut self, map: &MarkedMappingNode) -> Option<BlinkExpectation> {
        // `is:` and `within:` belong to the steady-state LED expectation;
        // say so rather than only calling them unknown here.
        for (key, hint) in [
            (
                "is",
                "`blinks:` checks a rate and `is:` a steady state; split them into two expect steps",
            ),
            (
                "within",
                "a blink rate is measured over `for:` (default 2s); `within:` does not apply",
            ),
        ] {
            if let Some(key_node) = key_named(map, key) {
                self.error(scalar_location(key_node), hint);
            }
        }
        self.unknown_keys(
            map,
            &[BLINK_EXPECTATION_KEYS, &["is", "within"]].concat(),
            "in a blink expectation",
        );
        let led = self.part_of_kind(map.get_node("led")?, "`led:`", PartKind::Led, "node.led");
        let hz = map
            .get_node("blinks")
            .and_then(|value| self.frequency(value));
        let over = match map.get_node("for") {
            Some(value) => self.duration(value, "for"),
            None => Some(DEFAULT_BLINK_WINDOW),
        };
        let tolerance = match map.get_node("tolerance") {
            Some(value) => self.blink_tolerance(value),
            None => Some(Tolerance::Relative(DEFAULT_BLINK_TOLERANCE)),
        };
        let (hz, over, tolerance) = (hz?, over?, tolerance?);
        if over.is_zero() {
            self.error(
                location_of_map(map),
                "a blink rate is measured over a time; `for:` must be longer than zero",
            );
            return None;
        }
        let tolerance_hz = match tolerance {
            Tolerance::Absolute(hz) => hz,
            Tolerance::Relative(fraction) => fraction * hz,
        };
        Some(BlinkExpectation {
            led: led?,
            hz,
            tolerance_hz,
            over,
        })
    }

    /// A rate like `2hz`, `2.5Hz` or `2` (Hz), zero or more.
    fn frequency(&mut self, node: &Node) -> Option<f64> {
        let scalar = self.scalar(node, "blinks", "a rate, like 2hz")?;
        let text = scalar.as_str().trim();
        let number = text
            .strip_suffix("hz")
            .or_else(|| text.strip_suffix("Hz"))
            .or_else(|| text.strip_suffix("HZ"))
            .unwrap_or(text)
            .trim();
        match decimal_number(number) {
            Some(hz) if hz >= 0.0 && hz.is_finite() => Some(hz),
            _ => {
                self.error(
                    location(node),
                    format!(
                        "`blinks` must be a rate in Hz, zero or more, like 2hz or 0.5hz; got {}",
                        quote(text)
                    ),
                );
                None
            }
        }
    }

    /// `10%` (of the expected rate) or a number of Hz.
    fn blink_tolerance(&mut self, node: &Node) -> Option<Tolerance> {
        let scalar = self.scalar(node, "tolerance", "a tolerance, like 10% or 0.2")?;
        let text = scalar.as_str().trim();
        let parsed = match text.strip_suffix('%') {
            Some(percent) => {
                decimal_number(percent.trim()).map(|value| Tolerance::Relative(value / 100.0))
            }
            None => decimal_number(text).map(Tolerance::Absolute),
        };
        match parsed {
            Some(Tolerance::Relative(value) | Tolerance::Absolute(value))
                if value >= 0.0 && value.is_finite() =>
            {
                parsed
            }
            _ => {
                self.error(
                    location(node),
                    format!("`tolerance` of a blink rate is a percentage like 10% or a number of Hz like 0.2; got {}", quote(text)),
                );
                None
            }
        }
    }

    fn led_expectation(&mut self, map: &MarkedMappingNode) -> Option<LedExpectation> {
        self.unknown_keys(map, LED_EXPECTATION_KEYS, "in an LED expectation");
        let led = self.part_of_kind(map.get_node("led")?, "`led:`", PartKind::Led, "green.led");
        let on = match map.get_node("is") {
            Some(node) => self
                .choice(node, "is", &["on", "off"])
                .map(|state| state == "on"),
            None => {
                self.error(
                    location_of_map(map),
                    "an LED expectation needs `is: on` or `is: off`",
                );
                None
            }
        };
        let timing = match self.alternatives(
            map,
            &["within", "for"],
            "`within` (becomes so within a time) and `for` (stays so for a time)",
        ) {
            Some(Some(("within", value))) => self.duration(value, "within").map(LedTiming::Within),
            Some(Some((_, value))) => self.duration(value, "for").map(LedTiming::For),
            Some(None) => Some(LedTiming::Now),
            None => None,
        };
        Some(LedExpectation {
            led: led?,
            on: on?,
            timing: timing?,
        })
    }

    fn pin_expectation(&mut self, map: &MarkedMappingNode) -> Option<PinExpectation> {
        self.unknown_keys(map, PIN_EXPECTATION_KEYS, "in a pin expectation");
        let pin = self.part_of_kind(map.get_node("pin")?, "`pin:`", PartKind::Pin, "probe.gpio2");
        let high = match map.get_node("level") {
            Some(node) => self
                .choice(node, "level", &["high", "low"])
                .map(|level| level == "high"),
            None => {
                self.error(
                    location_of_map(map),
                    "a pin expectation needs `level: high` or `level: low`",
                );
                None
            }
        };
        Some(PinExpectation {
            pin: pin?,
            high: high?,
        })
    }

    // ---- values --------------------------------------------------------

    /// Reports every key of `map` that is not in `allowed`.
    fn unknown_keys(&mut self, map: &MarkedMappingNode, allowed: &[&str], context: &str) {
        for key in map.keys() {
            if !allowed.contains(&key.as_str()) {
                self.unknown_key(key, allowed, context);
            }
        }
    }

    fn unknown_key(&mut self, key: &MarkedScalarNode, allowed: &[&str], context: &str) {
        let hint = did_you_mean(key.as_str(), allowed.iter().copied())
            .map(|close| format!("did you mean '{close}'? "))
            .unwrap_or_default();
        self.error(
            scalar_location(key),
            format!(
                "unknown key {} {context}; {hint}expected one of {}",
                quote(key.as_str()),
                allowed.join(", ")
            ),
        );
    }

    /// Of keys that exclude each other, the one given (`Some(None)` when
    /// none is); a reported problem (`None`) when more than one is.
    fn alternatives<'m>(
        &mut self,
        map: &'m MarkedMappingNode,
        keys: &[&'static str],
        description: &str,
    ) -> Option<Option<(&'static str, &'m Node)>> {
        let mut present: Vec<(&'static str, Location, &'m Node)> = keys
            .iter()
            .filter_map(|key| {
                let key_node = key_named(map, key)?;
                Some((*key, scalar_location(key_node), map.get_node(key)?))
            })
            .collect();
        present.sort_by_key(|(_, at, _)| *at);
        match present.as_slice() {
            [] => Some(None),
            [(key, _, value)] => Some(Some((*key, *value))),
            [(first, _, _), rest @ ..] => {
                for (key, at, _) in rest {
                    self.error(
                        *at,
                        format!(
                            "{description} are alternatives, but this has both '{first}' and '{key}'; keep one"
                        ),
                    );
                }
                None
            }
        }
    }

    fn scalar<'n>(
        &mut self,
        node: &'n Node,
        what: &str,
        expected: &str,
    ) -> Option<&'n MarkedScalarNode> {
        match node {
            Node::Scalar(scalar) => Some(scalar),
            _ => {
                self.error(
                    location(node),
                    format!("`{what}` must be {expected}; got {}", describe(node)),
                );
                None
            }
        }
    }

    /// Any text, as written.
    fn text(&mut self, node: &Node, what: &str) -> Option<String> {
        self.scalar(node, what, "text")
            .map(|scalar| scalar.as_str().to_string())
    }

    /// `payload:` text; a map or list gets a hint towards `json:`.
    fn payload_text(&mut self, node: &Node, what: &str) -> Option<String> {
        match node {
            Node::Scalar(scalar) => Some(scalar.as_str().to_string()),
            _ => {
                self.error(
                    location(node),
                    format!(
                        "`{what}` is text, but this is {}; to send or match JSON, write it under `json:` instead",
                        describe(node)
                    ),
                );
                None
            }
        }
    }

    /// Non-empty text on one line, for names that appear in reports.
    fn one_line_text(&mut self, node: &Node, what: &str) -> Option<String> {
        let text = self.text(node, what)?;
        let trimmed = text.trim();
        if trimmed.is_empty() {
            self.error(
                location(node),
                format!("{what} is empty; give it some text"),
            );
            return None;
        }
        if trimmed.contains(['\n', '\r']) {
            self.error(
                location(node),
                format!("{what} must be one line; move longer text to `about:`"),
            );
            return None;
        }
        Some(trimmed.to_string())
    }

    /// One of a fixed set of words.
    fn choice<'o>(&mut self, node: &Node, what: &str, options: &[&'o str]) -> Option<&'o str> {
        let expected = match options {
            [only] => format!("`{only}`"),
            [first, second] => format!("{first} or {second}"),
            _ => format!("one of {}", options.join(", ")),
        };
        let scalar = self.scalar(node, what, &expected)?;
        if let Some(found) = options.iter().find(|option| **option == scalar.as_str()) {
            return Some(found);
        }
        let hint = did_you_mean(scalar.as_str(), options.iter().copied())
            .map(|close| format!(" (did you mean '{close}'?)"))
            .unwrap_or_default();
        self.error(
            location(node),
            format!("`{what}` must be {expected}; got {}{hint}", describe(node)),
        );
        None
    }

    fn boolean(&mut self, node: &Node, what: &str) -> Option<bool> {
        let scalar = self.scalar(node, what, "true or false")?;
        let value = core_bool(scalar.as_str());
        if value.is_none() {
            self.error(
                location(node),
                format!("`{what}` must be true or false; got {}", describe(node)),
            );
        }
        value
    }

    fn number(&mut self, node: &Node, what: &str, example: &str) -> Option<f64> {
        let expected = format!("a number, like {example}");
        let scalar = self.scalar(node, what, &expected)?;
        let value = decimal_number(scalar.as_str());
        if value.is_none() {
            self.error(
                location(node),
                format!("`{what}` must be {expected}; got {}", describe(node)),
            );
        }
        value
    }

    /// A whole number from 0 to `max`, written in decimal.
    fn unsigned(&mut self, node: &Node, what: &str, max: u64) -> Option<u64> {
        self.whole_number(node, what, 0, max)
    }

    /// A whole number from `min` to `max`, written in decimal.
    fn whole_number(&mut self, node: &Node, what: &str, min: u64, max: u64) -> Option<u64> {
        let expected = format!("a whole number from {min} to {max}");
        let scalar = self.scalar(node, what, &expected)?;
        let text = scalar.as_str();
        let value = if !text.is_empty() && text.bytes().all(|byte| byte.is_ascii_digit()) {
            text.parse::<u64>()
                .ok()
                .filter(|value| (min..=max).contains(value))
        } else {
            None
        };
        if value.is_none() {
            self.error(
                location(node),
                format!("`{what}` must be {expected}; got {}", describe(node)),
            );
        }
        value
    }

    fn qos(&mut self, node: &Node) -> Option<u8> {
        let scalar = self.scalar(node, "qos", "0, 1 or 2")?;
        match scalar.as_str() {
            "0" => Some(0),
            "1" => Some(1),
            "2" => Some(2),
            _ => {
                self.error(
                    location(node),
                    format!("`qos` must be 0, 1 or 2; got {}", describe(node)),
                );
                None
            }
        }
    }

    fn duration(&mut self, node: &Node, what: &str) -> Option<Duration> {
        let scalar = self.scalar(node, what, "a duration, like 2s or 1m30s")?;
        match parse_duration(scalar.as_str()) {
            Ok(duration) => Some(duration),
            Err(error) => {
                self.error(
                    location(node),
                    format!(
                        "invalid duration {} for `{what}`: {error}",
                        quote(scalar.as_str())
                    ),
                );
                None
            }
        }
    }

    fn json(&mut self, node: &Node) -> Option<serde_json::Value> {
        match to_json(node) {
            Ok(value) => Some(value),
            Err(problem) => {
                self.error(problem.location, problem.message);
                None
            }
        }
    }

    fn regex(&mut self, node: &Node) -> Option<regex::Regex> {
        let pattern = self
            .scalar(node, "matches", "a regular expression")?
            .as_str();
        match regex::Regex::new(pattern) {
            Ok(regex) => Some(regex),
            Err(error) => {
                // The regex crate's message spans lines, pointing into the
                // pattern; the last line says what is wrong.
                let text = error.to_string();
                let reason = text
                    .lines()
                    .last()
                    .unwrap_or("")
                    .trim_start_matches("error: ")
                    .to_string();
                self.error(
                    location(node),
                    format!(
                        "invalid regex {} in `matches`: {reason}",
                        quote_exactly(pattern)
                    ),
                );
                None
            }
        }
    }
}

/// Turns "absent" into `Some(None)` and keeps a failure as `None`.
fn optional<T>(value: Option<Option<T>>) -> Option<Option<T>> {
    match value {
        None => Some(None),
        Some(None) => None,
        Some(Some(value)) => Some(Some(value)),
    }
}

fn key_named<'m>(map: &'m MarkedMappingNode, name: &str) -> Option<&'m MarkedScalarNode> {
    map.keys().find(|key| key.as_str() == name)
}

fn location_of_map(map: &MarkedMappingNode) -> Location {
    let start = crate::raw::marker_location(map.span().start());
    map.keys()
        .next()
        .map(scalar_location)
        .map_or(start, |first| first.min(start))
}

fn is_step_key(key: &str) -> bool {
    SUPPORTED_STEPS.contains(&key) || UNSUPPORTED_STEPS.contains(&key)
}

/// `device.part`, both non-empty, exactly one dot.
fn split_two(text: &str) -> Option<(&str, &str)> {
    let (device, part) = text.split_once('.')?;
    (!device.is_empty() && !part.is_empty() && !part.contains('.')).then_some((device, part))
}

/// How messages name a kind of part, with its article.
fn kind_name(kind: PartKind) -> &'static str {
    match kind {
        PartKind::Button => "a button",
        PartKind::Led => "an LED",
        PartKind::Ds18b20 => "a DS18B20 temperature sensor",
        PartKind::Tsl2591 => "a TSL2591 light sensor",
        PartKind::Pin => "a GPIO pin",
    }
}

/// Why a client id is not accepted, if it is not.
fn client_id_problem(id: &str) -> Option<String> {
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

/// Splits `mqtt://host[:port]` into host and port (1883 by default), or says
/// what is wrong with it. The grammar is `hilt_grammar::broker`'s, which the
/// firmware image's `HILT_BROKER` is read with too.
pub fn parse_broker_url(url: &str) -> Result<(String, u16), String> {
    hilt_grammar::parse_broker_url(url)
        .map(|address| (address.host.to_string(), address.port))
        .map_err(|error| error.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broker_urls() {
        assert_eq!(
            parse_broker_url("mqtt://127.0.0.1:1883"),
            Ok(("127.0.0.1".to_string(), 1883))
        );
        assert_eq!(
            parse_broker_url("mqtt://broker.local"),
            Ok(("broker.local".to_string(), 1883))
        );
        assert_eq!(
            parse_broker_url("mqtt://[::1]:1884"),
            Ok(("::1".to_string(), 1884))
        );
        assert_eq!(
            parse_broker_url("mqtt://[::1]"),
            Ok(("::1".to_string(), 1883))
        );
        for bad in [
            "tcp://a:1",
            "mqtts://a:8883",
            "mqtt://",
            "mqtt://:1883",
            "mqtt://a:0",
            "mqtt://a:99999",
            "mqtt://a:x",
            "mqtt://a:1883/path",
            "mqtt://user@a:1883",
            "mqtt://[::1",
            "mqtt://[::1]x",
        ] {
            assert!(parse_broker_url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn client_ids() {
        assert_eq!(client_id_problem("esp32-bench"), None);
        assert_eq!(client_id_problem(&"a".repeat(64)), None);
        assert!(client_id_problem("").is_some());
        assert!(client_id_problem(&"a".repeat(65)).is_some());
        assert!(client_id_problem("a b").is_some());
        assert!(client_id_problem("é").is_some());
    }

    #[test]
    fn device_part_references() {
        assert_eq!(split_two("blue.button"), Some(("blue", "button")));
        assert_eq!(split_two("blue"), None);
        assert_eq!(split_two("blue."), None);
        assert_eq!(split_two(".button"), None);
        assert_eq!(split_two("a.b.c"), None);
    }
}
