//! The validated layer: raw nodes checked against the language and turned
//! into the typed [`Scenario`].
//!
//! The validator never stops at the first problem. Each part of the file is
//! checked on its own and every problem is recorded with its place; a part
//! that fails yields `None`, and the scenario is built only when nothing
//! failed. Where one mistake would otherwise cause a cascade (a missing
//! `devices:` makes every step's device unknown), the later checks stay quiet.
//!
//! The checks live beside what they check: `devices` (the `devices:` map),
//! `parts` (`device.part` references and part values), `steps` (the step
//! list and the action steps), `expectations` (`expect:`) and `values`
//! (single values and map keys). This file holds the top level, the
//! validator's state, durations and broker urls.

use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

use marked_yaml::Node;
use marked_yaml::types::MarkedMappingNode;

use crate::duration::parse_duration;
use crate::raw::{CharacterIndex, describe, location, quote, scalar_location};
use crate::scalar::core_bool;
use crate::{
    BrokerChoice, BrokerUser, Catalog, Diagnostic, Diagnostics, Fleet, Location, PartDescription,
    Scenario, StepKind, TimeMode,
};

pub(crate) mod devices;
pub(crate) mod expectations;
pub(crate) mod fleets;
pub(crate) mod parts;
pub(crate) mod steps;
mod values;

use values::{key_named, location_of_map, optional};

pub(crate) const TOP_LEVEL_KEYS: &[&str] = &[
    "name", "about", "time", "seed", "broker", "devices", "steps",
];
/// The values of `time:`, the default first.
pub(crate) const TIME_MODES: &[&str] = &["virtual", "real"];
/// `broker:` is `embedded` (the default) or a map with these keys.
pub(crate) const EMBEDDED_BROKER: &str = "embedded";
pub(crate) const BROKER_KEYS: &[&str] = &["url", "listen", "users", "tls"];
/// A blink rate is measured over this long unless the step gives `for:`.
const DEFAULT_BLINK_WINDOW: Duration = Duration::from_secs(2);
/// How long a message expectation waits when it gives no `within:`.
const DEFAULT_WITHIN: Duration = Duration::from_secs(1);

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
        device_index: HashMap::new(),
        fleets: Vec::new(),
        seed: 0,
        devices_readable: true,
        broker_url: false,
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
    /// An external device that connects to the broker itself, past hilt
    /// (`connects_to: broker`): hilt sees neither its connection nor who
    /// published what.
    past_hilt: bool,
    app: Option<String>,
    /// `None` when the app is unknown: the problem is reported once, at the
    /// device, and steps naming its parts are not checked further.
    parts: Option<Vec<PartDescription>>,
    /// `Some` when the entry is a fleet (`count:`); its members are not
    /// entries of their own, but are found through it.
    fleet: Option<Fleet>,
}

/// What a name in a step stands for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Named {
    /// An ordinary device (or a whole fleet) by its entry's name.
    Entry(usize),
    /// One member of the fleet at this entry, by its 1-based index.
    Member(usize, u32),
}

impl Named {
    fn entry(self) -> usize {
        match self {
            Named::Entry(entry) | Named::Member(entry, _) => entry,
        }
    }
}

struct Validator<'a> {
    file: &'a Path,
    catalog: &'a dyn Catalog,
    characters: CharacterIndex,
    problems: Vec<Diagnostic>,
    /// One per entry of `devices:` (a fleet is one entry), in file order.
    devices: Vec<KnownDevice>,
    /// Entry names to their place in `devices`, so that a name is found in
    /// constant time however many devices a file declares.
    device_index: HashMap<String, usize>,
    /// The fleets read so far, for the scenario.
    fleets: Vec<Fleet>,
    /// The scenario's `seed` (0 until it is read, or when it is invalid),
    /// from which spreads of starting values are drawn.
    seed: u64,
    /// False when `devices:` is missing or unreadable; steps' device names
    /// are then not checked, to avoid one error per step for one mistake.
    devices_readable: bool,
    /// Whether `broker:` names a broker hilt does not run, which an
    /// external device may reach without hilt (`connects_to: broker`).
    broker_url: bool,
}

impl Validator<'_> {
    fn error(&mut self, at: Location, message: impl Into<String>) {
        self.problems.push(Diagnostic::new(self.file, at, message));
    }

    /// Records an entry of `devices:` for the steps to find.
    fn remember(&mut self, known: KnownDevice) {
        self.device_index
            .insert(known.name.clone(), self.devices.len());
        self.devices.push(known);
    }

    /// What `name` stands for: an entry (device or fleet) or a fleet's member.
    fn lookup(&self, name: &str) -> Option<Named> {
        if let Some(&entry) = self.device_index.get(name) {
            return Some(Named::Entry(entry));
        }
        let (fleet_name, _) = name.rsplit_once('-')?;
        let &entry = self.device_index.get(fleet_name)?;
        let fleet = self.devices[entry].fleet.as_ref()?;
        if fleet.count == 0 {
            // Its count could not be read (that was reported): any number
            // may be a member, and steps naming one are not checked.
            return Some(Named::Member(entry, 0));
        }
        let index = fleet.member_index(name)?;
        Some(Named::Member(entry, index))
    }

    /// The map a step key takes, or `None` after reporting what `node` is
    /// instead: "`{step}` takes a map, like {example}; got …".
    fn step_map<'node>(
        &mut self,
        node: &'node Node,
        step: &str,
        example: &str,
    ) -> Option<&'node MarkedMappingNode> {
        let map = node.as_mapping();
        if map.is_none() {
            self.error(
                location(node),
                format!(
                    "`{step}` takes a map, like {example}; got {}",
                    describe(node)
                ),
            );
        }
        map
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
            Some(node) => self.choice(node, "time", TIME_MODES).map(|choice| {
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
        // Spreads in `parts:` are drawn from it (an invalid seed is
        // reported; 0 stands in so the devices are still checked).
        self.seed = seed.unwrap_or(0);
        let (broker, listen, broker_users, broker_tls) = match map.get_node("broker") {
            Some(node) => match self.broker(node) {
                Some((broker, listen, users, tls)) => {
                    (Some(broker), Some(listen), Some(users), Some(tls))
                }
                None => (None, None, None, None),
            },
            None => (
                Some(BrokerChoice::Embedded),
                Some(None),
                Some(Vec::new()),
                Some(false),
            ),
        };
        self.broker_url = matches!(broker, Some(BrokerChoice::External { .. }));
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

        if let (Some(steps), Some(tls), Some(users)) = (&steps, broker_tls, &broker_users) {
            for step in steps {
                match &step.kind {
                    StepKind::Tls(_) if !tls => self.error(
                        step.location,
                        "a `tls` step changes the certificate the broker's side presents, but \
                         this scenario's broker does not speak TLS; add `broker: { tls: true }`",
                    ),
                    StepKind::Revoke(user) if !users.iter().any(|known| &known.name == user) => {
                        let known: Vec<&str> =
                            users.iter().map(|user| user.name.as_str()).collect();
                        self.error(
                            step.location,
                            if known.is_empty() {
                                format!(
                                    "`revoke: {user}` needs the embedded broker to know users; \
                                     add `broker: {{ users: {{ {user}: … }} }}`"
                                )
                            } else {
                                format!(
                                    "`revoke: {user}` names no user of the broker; it knows {}",
                                    known.join(", ")
                                )
                            },
                        );
                    }
                    _ => {}
                }
            }
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
            listen: listen?,
            broker_users: broker_users?,
            broker_tls: broker_tls?,
            devices: devices?,
            fleets: std::mem::take(&mut self.fleets),
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
                        let body = body.as_mapping();
                        // A fleet cannot be external; that is reported there.
                        body.and_then(|body| body.get_scalar("external"))
                            .and_then(|flag| core_bool(flag.as_str()))
                            == Some(true)
                            && body.is_some_and(|body| body.get_node("count").is_none())
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

    /// `broker:`: `embedded`, or a map of `url:` (a broker hilt does not
    /// run) and `listen:` (where external devices connect to hilt), each
    /// optional; with neither the map says nothing and is an error.
    #[allow(clippy::type_complexity)]
    fn broker(
        &mut self,
        node: &Node,
    ) -> Option<(
        BrokerChoice,
        Option<std::net::SocketAddr>,
        Vec<BrokerUser>,
        bool,
    )> {
        match node {
            Node::Scalar(scalar) if scalar.as_str() == EMBEDDED_BROKER => {
                Some((BrokerChoice::Embedded, None, Vec::new(), false))
            }
            Node::Mapping(map) => {
                self.unknown_keys(map, BROKER_KEYS, "in `broker`");
                let url_node = map.get_node("url");
                let listen_node = map.get_node("listen");
                let users_node = map.get_node("users");
                let tls_node = map.get_node("tls");
                if url_node.is_none()
                    && listen_node.is_none()
                    && users_node.is_none()
                    && tls_node.is_none()
                {
                    self.error(
                        location(node),
                        "`broker` needs 'url' (a broker hilt does not run), 'listen' (where \
                         external devices connect to hilt), 'users' (who may connect to the \
                         embedded broker) or 'tls' (the broker's side speaks TLS), like \
                         `broker: { url: mqtt://127.0.0.1:1883 }`",
                    );
                    return None;
                }
                let tls = match tls_node {
                    None => Some(false),
                    Some(tls_node) => match tls_node
                        .as_scalar()
                        .and_then(|scalar| core_bool(scalar.as_str()))
                    {
                        Some(tls) => Some(tls),
                        None => {
                            self.error(
                                location(tls_node),
                                format!("`tls` must be true or false; got {}", describe(tls_node)),
                            );
                            None
                        }
                    },
                };
                let users = match users_node {
                    None => Some(Vec::new()),
                    Some(_) if url_node.is_some() => {
                        self.error(
                            location(users_node.expect("checked")),
                            "`users` sets who may connect to the embedded broker, but this \
                             scenario uses a broker hilt does not run; give that broker its \
                             users (Mosquitto: a password_file) instead",
                        );
                        // Reported; the rest of the file is still checked
                        // against the broker it names.
                        Some(Vec::new())
                    }
                    Some(users_node) => self.broker_users(users_node),
                };
                let broker = match url_node {
                    None => Some(BrokerChoice::Embedded),
                    Some(url_node) => {
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
                };
                let listen = match listen_node {
                    None => Some(None),
                    Some(listen_node) => {
                        let text = self.text(listen_node, "listen")?;
                        match parse_listen_address(&text) {
                            Ok(address) => Some(Some(address)),
                            Err(reason) => {
                                self.error(
                                    location(listen_node),
                                    format!("invalid listen address {}: {reason}", quote(&text)),
                                );
                                None
                            }
                        }
                    }
                };
                Some((broker?, listen?, users?, tls?))
            }
            _ => {
                self.error(
                    location(node),
                    format!(
                        "`broker` must be `embedded` or `{{ url: mqtt://host:port }}` and/or \
                         `{{ listen: 127.0.0.1:1883 }}`; got {}",
                        describe(node)
                    ),
                );
                None
            }
        }
    }

    /// `users: { alice: s3cret, bob: hunter2 }`: user names and their
    /// passwords, each one text. A password is never quoted in a problem.
    fn broker_users(&mut self, node: &Node) -> Option<Vec<BrokerUser>> {
        let Node::Mapping(map) = node else {
            self.error(
                location(node),
                format!(
                    "`users` must map user names to passwords, like \
                     `users: {{ alice: s3cret }}`; got {}",
                    describe(node)
                ),
            );
            return None;
        };
        let mut users = Vec::new();
        let mut valid = true;
        for (key, value) in map.iter() {
            let name = key.as_str().to_owned();
            match value {
                Node::Scalar(password) if !password.as_str().contains('\0') => {
                    users.push(BrokerUser {
                        name,
                        password: password.as_str().to_owned(),
                    });
                }
                Node::Scalar(_) => {
                    valid = false;
                    self.error(
                        location(value),
                        format!(
                            "the password of user {} holds a NUL character",
                            quote(&name)
                        ),
                    );
                }
                other => {
                    valid = false;
                    self.error(
                        location(other),
                        format!(
                            "the password of user {} must be one text; got {}",
                            quote(&name),
                            describe(other)
                        ),
                    );
                }
            }
        }
        valid.then_some(users)
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
}

/// Reads where hilt listens for external devices: an IP address and a
/// port (`127.0.0.1:1883`, `[::1]:1883`, `0.0.0.0:1883`; port 0 takes a
/// free one). A name such as `localhost` is refused, since which address
/// it binds would depend on the machine's resolver.
pub fn parse_listen_address(text: &str) -> Result<std::net::SocketAddr, String> {
    text.parse().map_err(|_| {
        "expected an IP address and a port, like 127.0.0.1:1883 or [::1]:1883".to_string()
    })
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

    /// hilt-grammar tests every form of the URL; this checks what the
    /// wrapper adds: an owned host, and the grammar's message as the error.
    #[test]
    fn broker_urls_come_from_the_grammar() {
        assert_eq!(
            parse_broker_url("mqtt://[::1]"),
            Ok(("::1".to_string(), 1883))
        );
        let error = hilt_grammar::parse_broker_url("tcp://a:1").unwrap_err();
        assert_eq!(parse_broker_url("tcp://a:1"), Err(error.to_string()));
    }
}
