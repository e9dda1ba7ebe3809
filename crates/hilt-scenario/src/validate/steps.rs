//! The `steps:` list: which step each item is, and the action steps
//! (`press`, `set`, `publish`, `network`, `reboot`, ...). Expectations are in
//! `expectations`.

use marked_yaml::Node;
use marked_yaml::types::{MarkedMappingNode, MarkedScalarNode};

use crate::raw::{describe, location, quote, scalar_location, start_character};
use crate::scalar::decimal_number;
use crate::suggest::did_you_mean;
use crate::topic::validate_topic_name;
use crate::{
    BrokerAction, ConnectedWait, DEFAULT_CONNECT_WITHIN, DeviceRef, FlashCorruption,
    FlashPartition, MAX_PANIC_PLACE_LEN, NetworkChange, OtaBoots, OtaPush, PanicAction, PartKind,
    PartSetting, PowerCut, PublishAction, Step, StepKind, TlsCertificate,
};

use super::expectations::{LED_EXPECTATION_KEYS, MESSAGE_EXPECTATION_KEYS};
use super::*;

/// The steps this version runs, in the order the language page lists them.
pub(crate) const SUPPORTED_STEPS: &[&str] = &[
    "wait", "press", "release", "click", "set", "publish", "expect", "broker", "network", "reboot",
    "hang", "panic", "flash", "tls", "ota",
];
/// Steps of the language that this version recognises but cannot run yet.
const UNSUPPORTED_STEPS: &[&str] = &[];
/// The keys of `wait: { connected: probe, within: 10s }`.
pub(crate) const WAIT_CONNECTED_KEYS: &[&str] = &["connected", "within"];
pub(crate) const NETWORK_KEYS: &[&str] = &["device", "link", "latency", "drop"];
pub(crate) const PUBLISH_KEYS: &[&str] = &["topic", "payload", "json", "qos", "retain", "repeat"];
/// The keys of `panic: { device: node, place: "src/app.rs:42" }`.
pub(crate) const PANIC_KEYS: &[&str] = &["device", "place"];
/// The keys of `flash: { device: node, corrupt: settings }`.
pub(crate) const FLASH_KEYS: &[&str] = &["device", "corrupt"];
/// The keys of an `ota` step.
pub(crate) const OTA_KEYS: &[&str] = &[
    "device",
    "prefix",
    "id",
    "version",
    "boots",
    "size",
    "chunk",
    "corrupt",
    "power_cut_at_chunk",
    "broker_restart_at_chunk",
];
/// The largest image an `ota` step makes: an app slot's size.
pub(crate) const MAX_OTA_SIZE: u64 = 0x1E_0000;
/// The largest chunk: node-manager's receive buffer holds 2 KiB with the
/// topic.
pub(crate) const MAX_OTA_CHUNK: u64 = 1900;
/// What a `broker` step does.
pub(crate) const BROKER_ACTIONS: &[&str] = &["stop", "start", "restart"];
/// What `link:` of a `network` step sets.
pub(crate) const LINK_STATES: &[&str] = &["up", "down"];
/// Which devices a step may name.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Runs {
    /// Only devices hilt runs (`reboot`, `hang`, `panic`, `flash`).
    ByHilt,
    /// Only external devices (`wait: { connected }`).
    Outside,
    /// Either (`network`: an external device's link is hilt's too).
    Either,
}
/// The most publishes one `publish` step may repeat: a flood, not a hang.
pub(crate) const MAX_REPEAT: u64 = 100_000;

/// `4096`, `512B`, `64KiB`, `1MiB`: whole bytes.
pub(crate) fn parse_byte_size(text: &str) -> Option<u64> {
    let (digits, unit) = match text.find(|character: char| !character.is_ascii_digit()) {
        Some(at) => text.split_at(at),
        None => (text, ""),
    };
    let multiplier = match unit.trim() {
        "" | "B" => 1,
        "KiB" => 1024,
        "MiB" => 1024 * 1024,
        _ => return None,
    };
    if digits.is_empty() {
        return None;
    }
    digits.parse::<u64>().ok()?.checked_mul(multiplier)
}

/// The pattern of a size in the JSON Schema, as `parse_byte_size` reads it.
pub(crate) const BYTE_SIZE_PATTERN: &str = r"^[0-9]+ ?(B|KiB|MiB)?$";

impl Validator<'_> {
    pub(super) fn steps(&mut self, node: &Node) -> Option<Vec<Step>> {
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
            "wait" if value.as_mapping().is_some() => {
                self.wait_connected(value).map(StepKind::WaitConnected)
            }
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
            "broker" if value.as_mapping().is_some() => self.revoke(value).map(StepKind::Revoke),
            "tls" => self
                .choice(value, "tls", TlsCertificate::SPELLINGS)
                .and_then(TlsCertificate::from_spelling)
                .map(StepKind::Tls),
            "broker" => self
                .choice(value, "broker", BROKER_ACTIONS)
                .map(|action| match action {
                    "stop" => StepKind::Broker(BrokerAction::Stop),
                    "start" => StepKind::Broker(BrokerAction::Start),
                    _ => StepKind::Broker(BrokerAction::Restart),
                }),
            "network" => self.network(value).map(StepKind::Network),
            "reboot" => self
                .named_device(value, "`reboot`", Runs::ByHilt)
                .map(StepKind::Reboot),
            "hang" => self
                .named_device(value, "`hang`", Runs::ByHilt)
                .map(StepKind::Hang),
            "panic" if value.as_mapping().is_some() => self.panic(value).map(StepKind::Panic),
            "panic" => self
                .named_device(value, "`panic`", Runs::ByHilt)
                .map(|device| {
                    StepKind::Panic(PanicAction {
                        device,
                        place: None,
                    })
                }),
            "flash" => self.flash(value).map(StepKind::Flash),
            "ota" => self.ota(value).map(StepKind::Ota),
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

    /// `broker: { revoke: alice }`: one user name.
    fn revoke(&mut self, node: &Node) -> Option<String> {
        let map = node.as_mapping()?;
        self.unknown_keys(map, &["revoke"], "in `broker: { revoke }`");
        let Some(user) = map.get_node("revoke") else {
            self.error(
                location(node),
                "a `broker` step with a mapping revokes a user: `broker: { revoke: alice }`",
            );
            return None;
        };
        self.text(user, "revoke")
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

    /// A device named alone (`reboot: probe`), which `runs` says the step
    /// may name; a fleet's name stands for every member.
    fn named_device(&mut self, node: &Node, step: &str, runs: Runs) -> Option<DeviceRef> {
        let name = self.text(node, step.trim_matches('`'))?;
        let at = location(node);
        if !self.devices_readable {
            return None;
        }
        let Some(named) = self.lookup(&name) else {
            let message = self.unknown_device(&name);
            self.error(at, message);
            return None;
        };
        let device = &self.devices[named.entry()];
        match runs {
            Runs::ByHilt if device.external => {
                self.error(
                    at,
                    format!(
                        "device '{name}' is external (hilt does not run it), so {step} cannot \
                         name it; only `publish`, message expectations, `network` and \
                         `wait: {{ connected: {name} }}` can involve an external device"
                    ),
                );
                return None;
            }
            Runs::Outside | Runs::Either if device.past_hilt => {
                self.error(
                    at,
                    format!(
                        "device '{name}' connects to the broker itself (`connects_to: broker`), \
                         so hilt cannot see its connection and {step} cannot name it; connect \
                         it to hilt instead"
                    ),
                );
                return None;
            }
            Runs::Outside if !device.external => {
                self.error(
                    at,
                    format!(
                        "device '{name}' is one hilt runs, and it connects when its firmware \
                         says; {step} waits for an external device (`external: true`) to \
                         connect to hilt"
                    ),
                );
                return None;
            }
            _ => {}
        }
        Some(DeviceRef {
            device: name,
            location: at,
        })
    }

    /// `wait: { connected: probe, within: 10s }`: until the external
    /// device has connected through hilt (its CONNECT accepted by the
    /// broker), at most `within` (30s unless given).
    fn wait_connected(&mut self, node: &Node) -> Option<ConnectedWait> {
        let map = self.step_map(node, "wait", "`wait: { connected: probe, within: 10s }`")?;
        self.unknown_keys(map, WAIT_CONNECTED_KEYS, "in a `wait` step");
        let device = match map.get_node("connected") {
            Some(value) => self.named_device(value, "`wait: { connected }`", Runs::Outside),
            None => {
                self.error(
                    location_of_map(map),
                    "a `wait` step with a map waits for an external device to connect; give \
                     `connected:` naming it, or write `wait: 2s` to let time pass",
                );
                None
            }
        };
        let within = optional(
            map.get_node("within")
                .map(|value| self.duration(value, "within")),
        );
        Some(ConnectedWait {
            device: device?,
            within: within?.unwrap_or(DEFAULT_CONNECT_WITHIN),
        })
    }

    fn network(&mut self, node: &Node) -> Option<NetworkChange> {
        let map = self.step_map(node, "network", "`network: { device: probe, link: down }`")?;
        self.unknown_keys(map, NETWORK_KEYS, "in a `network` step");
        let device = match map.get_node("device") {
            Some(value) => self.named_device(value, "`network`", Runs::Either),
            None => {
                self.error(
                    location_of_map(map),
                    "a `network` step needs `device:`, the device whose link changes",
                );
                None
            }
        };
        let link_up = optional(map.get_node("link").map(|value| {
            self.choice(value, "link", LINK_STATES)
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

    /// `panic: { device: node, place: "src/app.rs:42" }`: the place is
    /// optional, one line of at most what the panic record holds.
    fn panic(&mut self, node: &Node) -> Option<PanicAction> {
        let map = node.as_mapping()?;
        self.unknown_keys(map, PANIC_KEYS, "in a `panic` step");
        let device = match map.get_node("device") {
            Some(value) => self.named_device(value, "`panic`", Runs::ByHilt),
            None => {
                self.error(
                    location_of_map(map),
                    "a `panic` step needs `device:`, the device whose firmware panics \
                     (or write `panic: node`)",
                );
                None
            }
        };
        let place = optional(map.get_node("place").map(|value| {
            let place = self.one_line_text(value, "place")?;
            if place.len() > MAX_PANIC_PLACE_LEN {
                self.error(
                    location(value),
                    format!(
                        "`place` is {} bytes, but the chip's panic record holds at most \
                         {MAX_PANIC_PLACE_LEN}; shorten it, like src/app.rs:42",
                        place.len()
                    ),
                );
                return None;
            }
            Some(place)
        }));
        Some(PanicAction {
            device: device?,
            place: place?,
        })
    }

    /// `flash: { device: node, corrupt: settings }`.
    fn flash(&mut self, node: &Node) -> Option<FlashCorruption> {
        let map = self.step_map(
            node,
            "flash",
            "`flash: { device: node, corrupt: settings }`",
        )?;
        self.unknown_keys(map, FLASH_KEYS, "in a `flash` step");
        let device = match map.get_node("device") {
            Some(value) => self.named_device(value, "`flash`", Runs::ByHilt),
            None => {
                self.error(
                    location_of_map(map),
                    "a `flash` step needs `device:`, the board whose flash is damaged",
                );
                None
            }
        };
        let partition = match map.get_node("corrupt") {
            Some(value) => self
                .choice(value, "corrupt", FlashPartition::SPELLINGS)
                .and_then(FlashPartition::from_spelling),
            None => {
                self.error(
                    location_of_map(map),
                    format!(
                        "a `flash` step needs `corrupt:`, the partition that turns to garbage: \
                         {}",
                        FlashPartition::SPELLINGS.join(" or ")
                    ),
                );
                None
            }
        };
        Some(FlashCorruption {
            device: device?,
            partition: partition?,
        })
    }

    fn ota(&mut self, node: &Node) -> Option<OtaPush> {
        let map = self.step_map(
            node,
            "ota",
            "`ota: { device: node, version: 0.2.0, boots: runs, size: 64KiB }`",
        )?;
        self.unknown_keys(map, OTA_KEYS, "in an `ota` step");
        let device = match map.get_node("device") {
            Some(value) => self.named_device(value, "`ota`", Runs::ByHilt),
            None => {
                self.error(
                    location_of_map(map),
                    "an `ota` step needs `device:`, the board to update",
                );
                None
            }
        };
        let version = match map.get_node("version") {
            Some(value) => self.one_line_text(value, "version"),
            None => {
                self.error(
                    location_of_map(map),
                    "an `ota` step needs `version:`, the version the new image says it is",
                );
                None
            }
        };
        let prefix = optional(
            map.get_node("prefix")
                .map(|value| self.one_line_text(value, "prefix")),
        );
        let id = optional(
            map.get_node("id")
                .map(|value| self.one_line_text(value, "id")),
        );
        let boots = optional(map.get_node("boots").map(|value| {
            self.choice(value, "boots", OtaBoots::SPELLINGS)
                .map(|spelling| match spelling {
                    "crashes" => OtaBoots::Crashes,
                    "hangs" => OtaBoots::Hangs,
                    _ => OtaBoots::Runs,
                })
        }));
        let size = optional(
            map.get_node("size")
                .map(|value| self.byte_size(value, "size", 1, MAX_OTA_SIZE)),
        );
        let chunk = optional(
            map.get_node("chunk")
                .map(|value| self.byte_size(value, "chunk", 1, MAX_OTA_CHUNK)),
        );
        let corrupt = optional(
            map.get_node("corrupt")
                .map(|value| self.boolean(value, "corrupt")),
        );
        let power_cut = optional(map.get_node("power_cut_at_chunk").map(|value| {
            if value
                .as_scalar()
                .is_some_and(|scalar| scalar.as_str() == "random")
            {
                Some(PowerCut::Random)
            } else {
                self.whole_number(value, "power_cut_at_chunk", 0, u64::from(u16::MAX))
                    .map(PowerCut::AtChunk)
            }
        }));
        let broker_restart_at_chunk =
            optional(map.get_node("broker_restart_at_chunk").map(|value| {
                self.whole_number(value, "broker_restart_at_chunk", 0, u64::from(u16::MAX))
            }));
        let size = size?.unwrap_or(64 * 1024);
        let chunk = chunk?.unwrap_or(1024);
        if size.div_ceil(chunk) > 0x8000 {
            self.error(
                location_of_map(map),
                format!("an image of {size} bytes in chunks of {chunk} needs more than 32768 chunks; use larger chunks"),
            );
            return None;
        }
        Some(OtaPush {
            device: device?,
            prefix: prefix?,
            id: id?.unwrap_or_else(|| "ota".to_owned()),
            version: version?,
            boots: boots?.unwrap_or(OtaBoots::Runs),
            size,
            chunk,
            corrupt: corrupt?.unwrap_or(false),
            power_cut: power_cut?,
            broker_restart_at_chunk: broker_restart_at_chunk?,
        })
    }

    /// A number of bytes: `4096`, `64KiB`, `1MiB`, `512B`.
    fn byte_size(&mut self, node: &Node, what: &str, min: u64, max: u64) -> Option<u64> {
        let scalar = self.scalar(node, what, "a size, like 1024 or 64KiB")?;
        let value = parse_byte_size(scalar.as_str().trim());
        match value {
            Some(value) if (min..=max).contains(&value) => Some(value),
            _ => {
                self.error(
                    location(node),
                    format!(
                        "`{what}` must be a size from {min} to {max} bytes, like 1024, 64KiB or 1MiB; got {}",
                        quote(scalar.as_str())
                    ),
                );
                None
            }
        }
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
        let map = self.step_map(
            node,
            "publish",
            "`publish: { topic: green/btn/0, payload: \"0\" }`",
        )?;
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
}

pub(super) fn is_step_key(key: &str) -> bool {
    SUPPORTED_STEPS.contains(&key) || UNSUPPORTED_STEPS.contains(&key)
}
