//! The scenario language as a JSON Schema (draft-07), for editors.
//!
//! An editor with a YAML language server (VS Code's Red Hat YAML extension,
//! Neovim's yamlls, …) completes keys and enum values from it, shows each
//! key's description on hover, and marks unknown keys, values of the wrong
//! type and missing keys as the file is written. `hilt schema` prints it,
//! and `docs/scenario.schema.json` holds it for the bundled apps.
//!
//! It is generated from the validator's own tables (the keys of every map,
//! the step names, the values of `time`, `broker`, `link`, `is`, `level`,
//! `since`, the properties and faults of each kind of part, the limits)
//! and from the [`Catalog`] (the apps, their parts and their `config:`
//! keys), so it cannot drift from what `hilt check` accepts. A key the
//! validator gains without a schema here panics when the schema is made,
//! which the tests do.
//!
//! The schema checks a file's shape, not everything the validator does: a
//! device a step names must exist, a regex must compile, a duration must
//! fit, a value must suit the app. What it accepts, `hilt check` may still
//! refuse; what it refuses, `hilt check` refuses too. Values are read by
//! their text in the language (`qos: "1"` is `qos: 1`), so wherever the
//! language takes a number, duration or boolean the schema takes the YAML
//! number or boolean and its quoted text alike.

use serde_json::{Map, Value, json};

use crate::validate::devices::{
    CONNECTS_TO, DEVICE_KEYS, EXTERNAL_DEVICE_KEYS, MAX_CLIENT_ID_LENGTH,
};
use crate::validate::expectations::{
    BLINK_EXPECTATION_KEYS, EXPECTATION_FORMS, LED_EXPECTATION_KEYS, LED_STATES,
    MESSAGE_EXPECTATION_KEYS, PIN_EXPECTATION_KEYS, PIN_LEVELS, SINCE_VALUES,
};
use crate::validate::fleets::{FLEET_KEYS, MAX_FLEET_MEMBERS};
use crate::validate::parts::{MAX_TEMPERATURE, MIN_TEMPERATURE, SPREAD_KEYS, faults, properties};
use crate::validate::steps::{
    BROKER_ACTIONS, BYTE_SIZE_PATTERN, FLASH_KEYS, LINK_STATES, MAX_REPEAT, NETWORK_KEYS, OTA_KEYS,
    PANIC_KEYS, PUBLISH_KEYS, SUPPORTED_STEPS, WAIT_CONNECTED_KEYS,
};
use crate::validate::{BROKER_KEYS, EMBEDDED_BROKER, TIME_MODES, TOP_LEVEL_KEYS};
use crate::{Catalog, FlashPartition, MAX_PANIC_PLACE_LEN, PartKind};

/// The JSON Schema dialect: draft-07, the newest yaml-language-server
/// supports fully.
pub const DIALECT: &str = "http://json-schema.org/draft-07/schema#";

/// A duration of the language (`250us`, `1m30s`, `1.5s`): each unit at
/// most once, largest first. The schema also takes a bare `0`, and leaves
/// the limits (a nanosecond, 584 years) to the validator.
pub const DURATION_PATTERN: &str = r"^(?:0+|(?:(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)h)?(?:(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)m)?(?:(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)s)?(?:(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)ms)?(?:(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:us|µs))?)$";
/// A decimal number as the language reads one from text (`22.5`, `-10.5`,
/// `.5`, `1e3`).
pub const DECIMAL_PATTERN: &str = r"^[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?$";
/// A whole number as text: decimal digits, no sign.
const WHOLE_NUMBER_PATTERN: &str = "^[0-9]+$";
/// Device names: steps write `device.part`, so no dots.
const DEVICE_NAME_PATTERN: &str = "^[A-Za-z0-9_-]+$";
/// `device.part`, as `press`, `led:` and `pin:` name a part.
const PART_REFERENCE_PATTERN: &str = r"^[^.]+\.[^.]+$";
/// Where hilt listens for external devices: an IPv4 address and port, or
/// an IPv6 address in brackets and a port; the validator checks the rest.
const LISTEN_PATTERN: &str = r"^(?:[0-9]{1,3}(?:\.[0-9]{1,3}){3}|\[[0-9A-Fa-f:.]+\]):[0-9]{1,5}$";
/// A topic to publish to: no wildcards, not one of the broker's `$` topics.
const TOPIC_NAME_PATTERN: &str = "^[^$+#][^+#]*$";
/// A topic filter: `+` only as a whole level, `#` only as the whole last.
const TOPIC_FILTER_PATTERN: &str = r"^(?:#|(?:\+|[^+#/]*)(?:/(?:\+|[^+#/]*))*(?:/#)?)$";
/// A probability: 0 to 1, or a percentage.
const PROBABILITY_PATTERN: &str = r"^\s*(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)\s*%?\s*$";
/// A blink rate in Hz: `2hz`, `2.5Hz`, `2`.
const RATE_PATTERN: &str =
    r"^\s*(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?\s*(?:hz|Hz|HZ)?\s*$";
/// A blink tolerance: a percentage of the rate or a number of Hz.
const BLINK_TOLERANCE_PATTERN: &str =
    r"^\s*(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?\s*%?\s*$";
/// The spellings of true and false the language takes (the YAML 1.2 core
/// schema's); quoted, they are text an editor would not call a boolean.
pub(crate) const TRUE_SPELLINGS: &[&str] = &["true", "True", "TRUE"];
pub(crate) const FALSE_SPELLINGS: &[&str] = &["false", "False", "FALSE"];
/// Every kind of part, for the properties `set` may name.
const PART_KINDS: [PartKind; 5] = [
    PartKind::Button,
    PartKind::Led,
    PartKind::Ds18b20,
    PartKind::Tsl2591,
    PartKind::Pin,
];

/// The JSON Schema of a scenario file whose devices run the apps of
/// `catalog`, as a JSON value.
///
/// # Panics
///
/// When the validator has a key this module has no schema for: a slip
/// when the language grows, which the crate's tests catch.
pub fn scenario_schema(catalog: &dyn Catalog) -> Value {
    let apps = catalog.app_names();
    let mut definitions = Map::new();
    definitions.insert("device".into(), device_dispatch());
    definitions.insert("simulated_device".into(), simulated_device(catalog, &apps));
    definitions.insert("fleet".into(), fleet(catalog, &apps));
    definitions.insert("external_device".into(), external_device());
    definitions.insert("step".into(), step());
    definitions.insert("expectation".into(), expectation());

    let mut properties = Map::new();
    for key in TOP_LEVEL_KEYS {
        properties.insert((*key).into(), top_level_key(key));
    }
    json!({
        "$schema": DIALECT,
        "$comment": "Generated by `hilt schema` from hilt's scenario validator and app registry; \
                     do not edit. The language is documented in docs/scenario-language.md.",
        "title": "hilt scenario",
        "description": "A hilt scenario: the devices that take part, the firmware app each one runs, \
                        the starting state of their parts, and steps: actions on the world and \
                        expectations about what the devices publish and show.",
        "type": "object",
        "properties": properties,
        "required": ["name", "devices", "steps"],
        "additionalProperties": false,
        "definitions": definitions,
    })
}

/// [`scenario_schema`] as `hilt schema` prints it: pretty JSON and a
/// final newline.
pub fn scenario_schema_text(catalog: &dyn Catalog) -> String {
    let mut text = serde_json::to_string_pretty(&scenario_schema(catalog))
        .expect("a JSON value always serializes");
    text.push('\n');
    text
}

// ---- values ------------------------------------------------------------

fn described(description: &str, mut schema: Value) -> Value {
    if let Value::Object(map) = &mut schema {
        map.insert("description".into(), Value::from(description));
    }
    schema
}

/// Text: any scalar, since the language reads values by their text.
fn text() -> Value {
    json!({ "type": ["string", "number", "boolean"] })
}

/// One line of text that is not blank.
fn one_line_text() -> Value {
    json!({ "type": ["string", "number", "boolean"], "pattern": r"^[^\r\n]*\S[^\r\n]*\n?$" })
}

fn choice(options: &[&str]) -> Value {
    json!({ "enum": options })
}

fn boolean() -> Value {
    let spellings: Vec<Value> = [true, false]
        .into_iter()
        .map(Value::from)
        .chain(
            TRUE_SPELLINGS
                .iter()
                .chain(FALSE_SPELLINGS)
                .map(|spelling| Value::from(*spelling)),
        )
        .collect();
    json!({ "enum": spellings })
}

fn true_value() -> Value {
    let spellings: Vec<Value> = std::iter::once(Value::from(true))
        .chain(TRUE_SPELLINGS.iter().map(|spelling| Value::from(*spelling)))
        .collect();
    json!({ "enum": spellings })
}

/// A whole number from `min` to `max`, as a YAML integer or its text.
fn whole_number(min: u64, max: u64) -> Value {
    json!({
        "type": ["integer", "string"],
        "minimum": min,
        "maximum": max,
        "pattern": WHOLE_NUMBER_PATTERN,
    })
}

/// A decimal number within bounds, as a YAML number or its text.
fn number(minimum: Option<f64>, maximum: Option<f64>) -> Value {
    let mut schema = json!({ "type": ["number", "string"], "pattern": DECIMAL_PATTERN });
    if let Some(minimum) = minimum {
        schema["minimum"] = json!(minimum);
    }
    if let Some(maximum) = maximum {
        schema["maximum"] = json!(maximum);
    }
    schema
}

fn duration() -> Value {
    json!({
        "type": ["string", "integer"],
        "minLength": 1,
        "pattern": DURATION_PATTERN,
        "minimum": 0,
        "maximum": 0,
    })
}

fn qos() -> Value {
    json!({ "enum": [0, 1, 2, "0", "1", "2"] })
}

fn device_name() -> Value {
    json!({ "type": ["string", "integer"], "pattern": DEVICE_NAME_PATTERN })
}

fn part_reference(example: &str) -> Value {
    json!({
        "type": "string",
        "pattern": PART_REFERENCE_PATTERN,
        "examples": [example],
    })
}

fn client_id() -> Value {
    json!({
        "type": ["string", "number"],
        "pattern": format!("^[!-~]{{1,{MAX_CLIENT_ID_LENGTH}}}$"),
    })
}

fn temperature() -> Value {
    number(Some(MIN_TEMPERATURE), Some(MAX_TEMPERATURE))
}

fn lux() -> Value {
    number(Some(0.0), None)
}

/// A map with exactly these keys allowed, each described by `schema_of`.
fn object_of(keys: &[&str], schema_of: impl Fn(&str) -> Value) -> Value {
    let properties: Map<String, Value> = keys
        .iter()
        .map(|key| ((*key).to_string(), schema_of(key)))
        .collect();
    json!({ "type": "object", "properties": properties, "additionalProperties": false })
}

fn reference(definition: &str) -> Value {
    json!({ "$ref": format!("#/definitions/{definition}") })
}

fn no_schema(what: &str, key: &str) -> ! {
    panic!("the validator takes {what} `{key}`, and schema.rs has no schema for it; add one")
}

// ---- the top level -----------------------------------------------------

fn top_level_key(key: &str) -> Value {
    match key {
        "name" => described(
            "The scenario's name, one line, shown in reports.",
            one_line_text(),
        ),
        "about" => described(
            "Free text about the scenario; may span lines.",
            json!({ "type": ["string", "number", "boolean", "null"] }),
        ),
        "time" => {
            let mut schema = described(
                "virtual (the default): device time is simulated, and a run's transcript is the \
                 same byte for byte every time. real: wall time, for devices hilt does not run \
                 (a real board, Wokwi) and soak runs.",
                choice(TIME_MODES),
            );
            schema["default"] = json!(TIME_MODES[0]);
            schema
        }
        "seed" => {
            let mut schema = described(
                "Every random choice (dropped packets, spreads of starting values) is drawn from \
                 this seed; 0 without it.",
                whole_number(0, u64::MAX),
            );
            schema["default"] = json!(0);
            schema
        }
        "broker" => {
            let mut map = object_of(BROKER_KEYS, |key| match key {
                "url" => described(
                    "mqtt://host:port (port 1883 by default; IPv6 hosts in brackets), or \
                     mqtts://host:port for TLS (port 8883 by default). Users, paths and \
                     queries are not supported.",
                    json!({ "type": "string", "pattern": "^mqtts?://" }),
                ),
                "ca" => described(
                    "With an mqtts:// url: the certificate authority to trust for the \
                     broker's certificate, a PEM file relative to the scenario file. \
                     Without it, the broker's certificate must chain to a public root.",
                    json!({ "type": "string", "minLength": 1 }),
                ),
                "listen" => described(
                    "Where hilt accepts external devices' connections, which it relays to \
                     the broker: an IP address and a port (127.0.0.1:1883, [::1]:1883; port \
                     0 takes a free one). By default a free port on 127.0.0.1.",
                    json!({ "type": "string", "pattern": LISTEN_PATTERN }),
                ),
                "users" => described(
                    "Who may connect to the embedded broker: user names and their passwords \
                     (`{ alice: s3cret }`). A device without them, or with wrong ones, is \
                     refused with CONNACK 4. Not with url.",
                    json!({
                        "type": "object",
                        "additionalProperties": { "type": ["string", "number", "boolean"] },
                    }),
                ),
                "tls" => described(
                    "The broker's side speaks TLS: hilt makes a test certificate authority \
                     for the run, which simulated boards trust, and each link ends its \
                     device's TLS with a certificate from it (the MQTT inside stays visible). \
                     Boards need `tls: true` in their config.",
                    boolean(),
                ),
                other => no_schema("the broker key", other),
            });
            map["anyOf"] = json!([
                { "required": ["url"] },
                { "required": ["listen"] },
                { "required": ["users"] },
                { "required": ["tls"] },
            ]);
            map["not"] = json!({ "required": ["url", "users"] });
            map["dependencies"] = json!({ "ca": ["url"] });
            described(
                "embedded (the default): hilt runs its own MQTT broker. { url: mqtt://host:port \
                 }: use a broker that is already running (mqtts:// for TLS, with ca: the \
                 authority to trust). listen: where external devices \
                 connect to hilt. users: who may connect to the embedded broker. tls: the \
                 broker's side speaks TLS.",
                json!({ "oneOf": [{ "const": EMBEDDED_BROKER }, map] }),
            )
        }
        "devices" => described(
            "The devices that take part, by name (letters, digits, '-' and '_'). A device runs an \
             app; `external: true` is one hilt does not run; `count:` makes a fleet.",
            json!({
                "type": "object",
                "minProperties": 1,
                "propertyNames": { "pattern": DEVICE_NAME_PATTERN },
                "additionalProperties": reference("device"),
            }),
        ),
        "steps" => described(
            "The steps, run in order: actions change the world, expectations check it. \
             `steps: []` only boots the devices.",
            json!({ "type": "array", "items": reference("step") }),
        ),
        other => no_schema("the top-level key", other),
    }
}

// ---- devices -------------------------------------------------------------

/// A `devices:` entry is a fleet when it has `count:`, an external device
/// when `external: true`, otherwise a device hilt runs, as the validator
/// decides.
fn device_dispatch() -> Value {
    json!({
        "type": "object",
        "if": { "required": ["count"] },
        "then": reference("fleet"),
        "else": {
            "if": { "required": ["external"], "properties": { "external": true_value() } },
            "then": reference("external_device"),
            "else": reference("simulated_device"),
        },
    })
}

fn device_key(key: &str, apps: &[String]) -> Value {
    match key {
        "app" => described("The firmware app the device runs.", json!({ "enum": apps })),
        "client_id" => described(
            "The MQTT client id: 1 to 64 printable ASCII characters without spaces; the device's \
             name by default. A fleet's may use {index} and {name}.",
            client_id(),
        ),
        "config" => described(
            "The app's settings; the app checks them, and unknown keys are an error. Values \
             reach the app as text. A fleet's text may use {index} and {name}.",
            json!({ "type": ["object", "null"] }),
        ),
        "parts" => described(
            "The starting state of the device's simulated parts, by part name.",
            json!({ "type": "object" }),
        ),
        "external" => described(
            "true: a device hilt does not run (a real board, Wokwi, another process). It \
             connects to hilt, which relays it to the broker; `publish`, message expectations, \
             `network` and `wait: { connected }` may involve it, and it needs `time: real`.",
            boolean(),
        ),
        "connect_within" => described(
            "An external device must connect to hilt this long after the run starts, or the \
             run is an error naming it; 30s by default.",
            duration(),
        ),
        "connects_to" => described(
            "hilt (the default): the external device connects to hilt, which relays it to the \
             broker. broker: it connects to the broker itself (only with broker: { url }), so \
             hilt cannot wait for it, fault its link or tell its messages apart.",
            choice(CONNECTS_TO),
        ),
        "count" => described(
            "Makes this entry a fleet of that many devices of one app, named \
             <fleet>-<index> (probe-01 … probe-20).",
            whole_number(1, MAX_FLEET_MEMBERS),
        ),
        other => no_schema("the device key", other),
    }
}

/// Per app, its `config:` keys and its parts, chosen by `app:`.
fn per_app(catalog: &dyn Catalog, apps: &[String]) -> Value {
    let cases: Vec<Value> = apps
        .iter()
        .map(|app| {
            let mut then = json!({
                "properties": {
                    "config": app_config(catalog, app),
                    "parts": app_parts(catalog, app),
                },
            });
            let required_config = catalog
                .config_keys(app)
                .is_some_and(|keys| keys.iter().any(|key| key.required));
            if required_config {
                then["required"] = json!(["config"]);
            }
            json!({
                "if": { "properties": { "app": { "const": app } }, "required": ["app"] },
                "then": then,
            })
        })
        .collect();
    Value::Array(cases)
}

fn app_config(catalog: &dyn Catalog, app: &str) -> Value {
    let Some(keys) = catalog.config_keys(app) else {
        return json!({ "type": ["object", "null"] });
    };
    let properties: Map<String, Value> = keys
        .iter()
        .map(|key| {
            let description = format!(
                "A setting of the {app} app{}; see the app's documentation for its values \
                 and default.",
                if key.required { " (required)" } else { "" }
            );
            (key.name.clone(), described(&description, text()))
        })
        .collect();
    let required: Vec<&str> = keys
        .iter()
        .filter(|key| key.required)
        .map(|key| key.name.as_str())
        .collect();
    let mut schema = json!({
        "type": if required.is_empty() { json!(["object", "null"]) } else { json!("object") },
        "properties": properties,
        "additionalProperties": false,
    });
    if !required.is_empty() {
        schema["required"] = json!(required);
    }
    schema
}

fn app_parts(catalog: &dyn Catalog, app: &str) -> Value {
    let parts = catalog.parts(app).unwrap_or_default();
    let properties: Map<String, Value> = parts
        .iter()
        .map(|part| (part.name.clone(), part_kind(part.kind)))
        .collect();
    json!({ "type": "object", "properties": properties, "additionalProperties": false })
}

fn part_kind(kind: PartKind) -> Value {
    let what = match kind {
        PartKind::Button => "A button; press, release and click act on it in steps.",
        PartKind::Led => "An LED; expectations check it in steps.",
        PartKind::Pin => "A raw GPIO pin; pin expectations check its level.",
        PartKind::Ds18b20 => "A DS18B20 temperature sensor.",
        PartKind::Tsl2591 => "A TSL2591 light sensor.",
    };
    let mut schema = object_of(properties(kind), |property| {
        starting_property(kind, property)
    });
    if properties(kind).is_empty() {
        return described(&format!("{what} It has no properties to set."), schema);
    }
    schema = described(what, schema);
    schema
}

/// A property of a part in `parts:`: a value as `set` takes, or for a
/// number a spread to draw it from.
fn starting_property(kind: PartKind, property: &str) -> Value {
    let single = property_value(kind, property);
    if !matches!(property, "temperature" | "lux") {
        return described(property_description(property), single);
    }
    let mut spread = object_of(SPREAD_KEYS, |key| match key {
        "between" => described(
            "[low, high]: each device draws its own value, uniform between the ends and \
             rounded to hundredths, from the scenario's seed.",
            json!({ "type": "array", "items": single.clone(), "minItems": 2, "maxItems": 2 }),
        ),
        other => no_schema("the spread key", other),
    });
    spread["required"] = json!(["between"]);
    described(
        &format!(
            "{} Or a spread to draw it from: {{ between: [low, high] }}.",
            property_description(property)
        ),
        json!({ "anyOf": [single, spread] }),
    )
}

/// A property of a part as `set` takes it.
fn part_property(kind: PartKind, property: &str) -> Value {
    described(
        property_description(property),
        property_value(kind, property),
    )
}

fn property_description(property: &str) -> &'static str {
    match property {
        "temperature" => "Degrees Celsius as the sensor reads them, -55 to 125.",
        "lux" => "Lux, 0 or more.",
        "fault" => "A fault of the sensor; none clears it.",
        other => no_schema("the part property", other),
    }
}

fn property_value(kind: PartKind, property: &str) -> Value {
    match property {
        "temperature" => temperature(),
        "lux" => lux(),
        "fault" => choice(faults(kind)),
        other => no_schema("the part property", other),
    }
}

fn simulated_device(catalog: &dyn Catalog, apps: &[String]) -> Value {
    // `count` is listed so that editors offer it; an entry with it is a
    // fleet (see `device_dispatch`).
    let keys: Vec<&str> = DEVICE_KEYS.iter().copied().chain(["count"]).collect();
    let mut schema = described(
        "A device hilt runs: an app on simulated parts.",
        object_of(&keys, |key| device_key(key, apps)),
    );
    schema["required"] = json!(["app"]);
    schema["allOf"] = per_app(catalog, apps);
    schema
}

fn fleet(catalog: &dyn Catalog, apps: &[String]) -> Value {
    let mut schema = described(
        "A fleet: `count` devices of one app, named <fleet>-<index>. Steps may name one member \
         or the whole fleet.",
        object_of(FLEET_KEYS, |key| device_key(key, apps)),
    );
    schema["required"] = json!(["app", "count"]);
    schema["allOf"] = per_app(catalog, apps);
    schema
}

fn external_device() -> Value {
    let mut schema = described(
        "A device hilt does not run; only its client id is known.",
        object_of(EXTERNAL_DEVICE_KEYS, |key| device_key(key, &[])),
    );
    schema["required"] = json!(["external"]);
    schema
}

// ---- steps -----------------------------------------------------------------

fn step() -> Value {
    let mut properties = Map::new();
    properties.insert(
        "name".into(),
        described(
            "The step's name, one line, shown in reports.",
            one_line_text(),
        ),
    );
    for step in SUPPORTED_STEPS {
        properties.insert((*step).into(), step_value(step));
    }
    let one_of: Vec<Value> = SUPPORTED_STEPS
        .iter()
        .map(|step| json!({ "required": [step] }))
        .collect();
    json!({
        "description": "A step: exactly one step key, and an optional name.",
        "type": "object",
        "properties": properties,
        "additionalProperties": false,
        "oneOf": one_of,
    })
}

fn step_value(step: &str) -> Value {
    match step {
        "wait" => {
            let mut connected = object_of(WAIT_CONNECTED_KEYS, |key| match key {
                "connected" => described("The external device to wait for.", device_name()),
                "within" => described("How long to wait at most; 30s by default.", duration()),
                other => no_schema("the wait key", other),
            });
            connected["required"] = json!(["connected"]);
            described(
                "Let time pass, like 2s or 1m30s (0 does nothing); or { connected: device, \
                 within: 10s }: wait until an external device has connected through hilt.",
                json!({ "oneOf": [duration(), connected] }),
            )
        }
        "press" => described(
            "Hold a button down: device.part, or fleet.part for every member.",
            part_reference("blue.button"),
        ),
        "release" => described(
            "Let a button go: device.part.",
            part_reference("blue.button"),
        ),
        "click" => described(
            "Press a button, hold it 100ms, release it: device.part.",
            part_reference("blue.button"),
        ),
        "set" => set_step(),
        "publish" => publish_step(),
        "expect" => reference("expectation"),
        "broker" => described(
            "Stop, start or restart the embedded broker; a restart loses sessions and \
             retained messages. { revoke: user } makes it forget a user of `broker: { users }`: \
             her connections close and her logins are refused.",
            // if/then/else rather than oneOf, so that a misspelt action
            // is reported as not one of the actions.
            json!({
                "if": { "type": "object" },
                "then": {
                    "properties": { "revoke": { "type": "string" } },
                    "required": ["revoke"],
                    "additionalProperties": false,
                },
                "else": choice(BROKER_ACTIONS),
            }),
        ),
        "tls" => described(
            "The certificate the broker's side presents to links that open from now on \
             (needs `broker: { tls: true }`): valid, expired, wrong_name (for another name), \
             unknown_authority (from an authority boards do not trust), rotated (a new \
             certificate and key from the trusted authority).",
            choice(crate::TlsCertificate::SPELLINGS),
        ),
        "network" => network_step(),
        "ota" => ota_step(),
        "reboot" => described(
            "Power-cycle a device (or every member of a fleet): the firmware starts from \
             scratch.",
            device_name(),
        ),
        "hang" => described(
            "Stop a device's main loop: nothing of its firmware runs until a reset (its \
             watchdog, or reboot).",
            device_name(),
        ),
        "panic" => panic_step(),
        "flash" => flash_step(),
        other => no_schema("the step", other),
    }
}

fn panic_step() -> Value {
    let mut place = one_line_text();
    place["maxLength"] = json!(MAX_PANIC_PLACE_LEN);
    let mut with_place = object_of(PANIC_KEYS, |key| match key {
        "device" => described(
            "The device (or fleet) whose firmware panics.",
            device_name(),
        ),
        "place" => described(
            "The file:line the panic handler records; by default the scenario file's name \
             and the step's line.",
            place.clone(),
        ),
        other => no_schema("the panic key", other),
    });
    with_place["required"] = json!(["device"]);
    described(
        "Make a device's firmware panic now: the panic handler records the place and the \
         time, and the chip resets for a panic (RTC memory stays). A device, or { device, \
         place }.",
        json!({ "oneOf": [device_name(), with_place] }),
    )
}

fn flash_step() -> Value {
    let mut schema = described(
        "Turn one partition of a device's flash to garbage, as bit rot or a foreign tool \
         would; the firmware finds it when it next reads there (typically at its next boot).",
        object_of(FLASH_KEYS, |key| match key {
            "device" => described(
                "The device (or fleet) whose flash is damaged.",
                device_name(),
            ),
            "corrupt" => described(
                "The partition: settings (node-manager's stored settings) or otadata (which \
                 app slot the bootloader starts).",
                choice(FlashPartition::SPELLINGS),
            ),
            other => no_schema("the flash key", other),
        }),
    );
    schema["required"] = json!(["device", "corrupt"]);
    schema
}

fn set_step() -> Value {
    let mut pattern_properties = Map::new();
    let mut names: Vec<&str> = Vec::new();
    for kind in PART_KINDS {
        for property in properties(kind) {
            if !names.contains(property) {
                names.push(property);
            }
        }
    }
    for name in &names {
        // A fault's values are those of every kind that has faults: the
        // part a key names is known only from the file's devices.
        let mut faults_of_any: Vec<&str> = Vec::new();
        for kind in PART_KINDS {
            if properties(kind).contains(name) && *name == "fault" {
                for fault in faults(kind) {
                    if !faults_of_any.contains(fault) {
                        faults_of_any.push(fault);
                    }
                }
            }
        }
        let schema = match *name {
            "fault" => described(
                "A fault of the sensor; none clears it. DS18B20: disconnected, crc_error; \
                 TSL2591: nack.",
                choice(&faults_of_any),
            ),
            _ => {
                let kind = PART_KINDS
                    .into_iter()
                    .find(|kind| properties(*kind).contains(name))
                    .unwrap_or(PartKind::Button);
                part_property(kind, name)
            }
        };
        pattern_properties.insert(format!(r"^[^.]+\.[^.]+\.{name}$"), schema);
    }
    described(
        "Change simulated parts: device.part.property: value, applied in the order written. \
         A fleet's name sets every member.",
        json!({
            "type": "object",
            "minProperties": 1,
            "propertyNames": { "pattern": format!(r"^[^.]+\.[^.]+\.(?:{})$", names.join("|")) },
            "patternProperties": pattern_properties,
            "examples": [{ "probe.ds18b20.temperature": -10.5 }],
        }),
    )
}

fn publish_step() -> Value {
    let mut schema = described(
        "Publish a message from the harness's own MQTT client.",
        object_of(PUBLISH_KEYS, |key| match key {
            "topic" => described(
                "The topic to publish to: no wildcards (+, #), not starting with $.",
                json!({ "type": ["string", "number"], "minLength": 1, "pattern": TOPIC_NAME_PATTERN }),
            ),
            "payload" => described(
                "The payload as text; empty without it. payload and json are alternatives.",
                json!({ "type": ["string", "number", "boolean", "null"] }),
            ),
            "json" => described(
                "A payload written as YAML and sent as compact JSON, keys in the order written.",
                json!({}),
            ),
            "qos" => {
                let mut schema = described("0, 1 or 2; 0 by default.", qos());
                schema["default"] = json!(0);
                schema
            }
            "retain" => {
                let mut schema = described("Publish retained; false by default.", boolean());
                schema["default"] = json!(false);
                schema
            }
            "repeat" => described(
                "Publish the same message this many times (1 to 100,000), each taken by the \
                 devices before the next: a flood in one line.",
                whole_number(1, MAX_REPEAT),
            ),
            other => no_schema("the publish key", other),
        }),
    );
    schema["required"] = json!(["topic"]);
    schema["not"] = json!({ "required": ["payload", "json"] });
    schema
}

fn ota_step() -> Value {
    let size = |text: &str| {
        described(
            text,
            json!({ "type": ["integer", "string"], "minimum": 1, "pattern": BYTE_SIZE_PATTERN }),
        )
    };
    let mut schema = described(
        "Push a firmware image to a node-manager board over MQTT (MQBoard's OTA protocol, the \
         sender hilt ota uses): a simulated image of this version that runs, crashes or hangs \
         at boot. The step ends when the board has answered the last chunk, refused the update \
         or gone silent; expectations check its replies and status.",
        object_of(OTA_KEYS, |key| match key {
            "device" => described("The board to update.", device_name()),
            "prefix" => described(
                "The board's topic prefix; its config: prefix (or esp32/test) by default.",
                json!({ "type": "string", "minLength": 1 }),
            ),
            "id" => described(
                "The command id, in the command and reply topics; ota by default.",
                json!({ "type": "string", "minLength": 1 }),
            ),
            "version" => described(
                "The version the image's app descriptor says.",
                json!({ "type": ["string", "number"] }),
            ),
            "boots" => described(
                "What the image does at boot: runs, crashes (panics), hangs (the watchdog resets it); runs by default.",
                choice(crate::OtaBoots::SPELLINGS),
            ),
            "size" => {
                size("Bytes in the image (1 to 1966080): 4096, 64KiB, 1MiB; 64KiB by default.")
            }
            "chunk" => size("Bytes of image per MQTT message (1 to 1900); 1KiB by default."),
            "corrupt" => described(
                "The topic names another SHA-256 than the image's; false by default.",
                boolean(),
            ),
            "power_cut_at_chunk" => described(
                "Cut the board's power during the first flash erase or write after chunk N is sent; random picks N from the device's seed.",
                json!({ "anyOf": [{ "type": "integer", "minimum": 0 }, { "const": "random" }] }),
            ),
            "broker_restart_at_chunk" => described(
                "Restart the broker once chunk N is sent; the sender goes on after it.",
                json!({ "type": "integer", "minimum": 0 }),
            ),
            other => no_schema("the ota key", other),
        }),
    );
    schema["required"] = json!(["device", "version"]);
    schema
}

fn network_step() -> Value {
    let mut schema = described(
        "Change a device's link: cut it (link: down), restore it, or add latency and loss.",
        object_of(NETWORK_KEYS, |key| match key {
            "device" => described("The device (or fleet) whose link changes.", device_name()),
            "link" => described(
                "down cuts the device off without telling either side, as a WiFi loss does; up \
                 restores it.",
                choice(LINK_STATES),
            ),
            "latency" => described("Added to every packet, each way.", duration()),
            "drop" => described(
                "The probability a packet is lost, 0.1 or 10%; a lost packet costs a TCP \
                 retransmission timeout.",
                json!({
                    "type": ["number", "string"],
                    "minimum": 0,
                    "maximum": 1,
                    "pattern": PROBABILITY_PATTERN,
                }),
            ),
            other => no_schema("the network key", other),
        }),
    );
    schema["required"] = json!(["device"]);
    schema["anyOf"] = json!([
        { "required": ["link"] },
        { "required": ["latency"] },
        { "required": ["drop"] },
    ]);
    schema
}

// ---- expectations --------------------------------------------------------

/// One of the forms of `expect:`, told apart as the validator does: by
/// `topic`, `pin` or `led` (with `blinks`, a blink rate).
fn expectation() -> Value {
    let forms: Vec<Value> = EXPECTATION_FORMS
        .iter()
        .flat_map(|form| match *form {
            "topic" => vec![message_expectation()],
            "led" => vec![led_expectation(), blink_expectation()],
            "pin" => vec![pin_expectation()],
            other => no_schema("the expectation form", other),
        })
        .collect();
    json!({
        "description": "Check the world: a message arrives (topic), an LED is on or off or \
                        blinks (led), or a pin has a level (pin).",
        "type": "object",
        "oneOf": forms,
    })
}

fn expectation_key(key: &str) -> Value {
    match key {
        "topic" => described(
            "An MQTT topic filter; + matches one level, # the rest.",
            json!({ "type": ["string", "number"], "minLength": 1, "pattern": TOPIC_FILTER_PATTERN }),
        ),
        "payload" => described(
            "The exact payload text. payload, json and matches are alternatives.",
            json!({ "type": ["string", "number", "boolean", "null"] }),
        ),
        "json" => described(
            "A JSON payload that contains this: every key given must be there with an equal \
             value; keys not given are ignored.",
            json!({}),
        ),
        "matches" => described(
            "A regular expression (Rust's regex syntax) searched in the payload; write it in \
             single quotes.",
            text(),
        ),
        "qos" => described(
            "The QoS the message was published with, checked when given.",
            qos(),
        ),
        "retain" => described(
            "Whether the message was retained, checked when given.",
            boolean(),
        ),
        "count" => described(
            "Exactly this many fitting messages in the window (0: none).",
            whole_number(0, u64::from(u32::MAX)),
        ),
        "within" => {
            let mut schema = described(
                "How long to wait; 1s by default for messages. For an LED: becomes so within \
                 this time.",
                duration(),
            );
            schema["default"] = json!("1s");
            schema
        }
        "since" => described(
            "start: look at every message of the run, not only those after the latest action.",
            choice(SINCE_VALUES),
        ),
        "tolerance" => described(
            "How far numbers in json: may differ, 0 or more; only with json.",
            number(Some(0.0), None),
        ),
        "from" => described(
            "Only messages published by this device, member or fleet fit.",
            device_name(),
        ),
        "each" => described(
            "true: every member of the fleet named in from must publish a fitting message (with \
             count: exactly that many each).",
            boolean(),
        ),
        "led" => described(
            "The LED to check: device.part.",
            part_reference("green.led"),
        ),
        "is" => described("on or off.", choice(LED_STATES)),
        "for" => described("Stays so for this long.", duration()),
        "pin" => described(
            "The pin to check: device.gpioN.",
            part_reference("probe.gpio2"),
        ),
        "level" => described("high or low.", choice(PIN_LEVELS)),
        "blinks" => described(
            "A blink rate: full on-off cycles per second, like 2hz; 0 means it does not change.",
            json!({ "type": ["number", "string"], "minimum": 0, "pattern": RATE_PATTERN }),
        ),
        other => no_schema("the expectation key", other),
    }
}

fn message_expectation() -> Value {
    let mut schema = described(
        "A message arrives: after the latest action (or the previous match), within `within`.",
        object_of(MESSAGE_EXPECTATION_KEYS, expectation_key),
    );
    schema["required"] = json!(["topic"]);
    schema["not"] = json!({
        "anyOf": [
            { "required": ["payload", "json"] },
            { "required": ["payload", "matches"] },
            { "required": ["json", "matches"] },
        ],
    });
    schema["dependencies"] = json!({ "tolerance": ["json"] });
    schema["if"] = json!({ "required": ["each"], "properties": { "each": true_value() } });
    schema["then"] = json!({ "required": ["from"] });
    schema
}

fn led_expectation() -> Value {
    let mut schema = described(
        "An LED is on or off: now, within a time, or for a time.",
        object_of(LED_EXPECTATION_KEYS, expectation_key),
    );
    schema["required"] = json!(["led", "is"]);
    schema["not"] = json!({ "required": ["within", "for"] });
    schema
}

fn blink_expectation() -> Value {
    described(
        "An LED blinks at a rate, measured over `for` (2s by default).",
        {
            let mut schema = object_of(BLINK_EXPECTATION_KEYS, |key| match key {
                "tolerance" => described(
                    "How far the rate may be off: a percentage of it (10% by default) or a \
                     number of Hz.",
                    json!({
                        "type": ["number", "string"],
                        "minimum": 0,
                        "pattern": BLINK_TOLERANCE_PATTERN,
                    }),
                ),
                "for" => described(
                    "How long the rate is measured, from the step's start; 2s by default.",
                    duration(),
                ),
                other => expectation_key(other),
            });
            schema["required"] = json!(["led", "blinks"]);
            schema
        },
    )
}

fn pin_expectation() -> Value {
    let mut schema = described(
        "A raw pin has a level, now.",
        object_of(PIN_EXPECTATION_KEYS, expectation_key),
    );
    schema["required"] = json!(["pin", "level"]);
    schema
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scalar::{core_bool, decimal_number};
    use crate::{ConfigMap, ConfigProblem, PartDescription};

    struct OneApp;

    impl Catalog for OneApp {
        fn app_names(&self) -> Vec<String> {
            vec!["door/bell".to_string()]
        }
        fn parts(&self, _app: &str) -> Option<Vec<PartDescription>> {
            Some(vec![PartDescription {
                name: "button".to_string(),
                kind: PartKind::Button,
            }])
        }
        fn check_config(&self, _app: &str, _config: &ConfigMap) -> Vec<ConfigProblem> {
            Vec::new()
        }
    }

    /// The duration pattern accepts what the grammar parses and refuses
    /// what it refuses, but for the limits it leaves to the validator.
    #[test]
    fn the_duration_pattern_follows_the_grammar() {
        let pattern = regex::Regex::new(DURATION_PATTERN).unwrap();
        let cases = [
            "0",
            "00",
            "2s",
            "500ms",
            "250us",
            "250µs",
            "1m",
            "1h",
            "24h",
            "1m30s",
            "1h30m",
            "1.5s",
            ".5s",
            "1.s",
            "1h2m3s4ms5us",
            "5",
            "1m1m",
            "30m1h",
            "2 s",
            "-1s",
            "1d",
            "s",
            "ms",
            "1sm",
            "1.5.5s",
            "",
            "1e3s",
            "1S",
            "1hh",
        ];
        for case in cases {
            let schema_accepts = !case.is_empty() && pattern.is_match(case);
            let grammar_accepts = crate::duration::parse_duration(case).is_ok();
            assert_eq!(schema_accepts, grammar_accepts, "duration {case:?}");
        }
        // What the schema leaves to the validator: finer than a nanosecond.
        assert!(pattern.is_match("0.0000000001s"));
        assert!(crate::duration::parse_duration("0.0000000001s").is_err());
    }

    #[test]
    fn the_decimal_pattern_follows_the_reader() {
        let pattern = regex::Regex::new(DECIMAL_PATTERN).unwrap();
        for case in [
            "22.5", "-10.5", ".5", "1e3", "+1", "1.", "0x1F", ".inf", ".nan", "", "1e", "e3",
            "1.2.3", " 1", "1_000",
        ] {
            assert_eq!(
                pattern.is_match(case),
                decimal_number(case).is_some(),
                "number {case:?}"
            );
        }
    }

    #[test]
    fn boolean_spellings_are_the_readers() {
        for spelling in TRUE_SPELLINGS {
            assert_eq!(core_bool(spelling), Some(true));
        }
        for spelling in FALSE_SPELLINGS {
            assert_eq!(core_bool(spelling), Some(false));
        }
        for other in ["yes", "no", "on", "off", "1", "tRUE"] {
            assert_eq!(core_bool(other), None);
        }
    }

    #[test]
    fn topic_patterns_follow_the_topic_rules() {
        let filter = regex::Regex::new(TOPIC_FILTER_PATTERN).unwrap();
        for case in [
            "a/+/c", "a/#", "#", "+", "a/b", "/", "+/+", "a//b", "a/#/b", "a/b+", "a#", "#/a",
        ] {
            assert_eq!(
                filter.is_match(case),
                crate::topic::validate_filter(case).is_ok(),
                "filter {case:?}"
            );
        }
        let name = regex::Regex::new(TOPIC_NAME_PATTERN).unwrap();
        for case in ["a/b", "a/+", "a/#", "$SYS/x", "x$"] {
            let accepted =
                crate::topic::validate_topic_name(case).is_ok() && !case.starts_with('$');
            assert_eq!(name.is_match(case), accepted, "topic {case:?}");
        }
    }

    /// Every table of the validator has a schema (or making it panics),
    /// and an app's name is a value, whatever it holds.
    #[test]
    fn a_schema_is_made_for_any_catalog() {
        let schema = scenario_schema(&OneApp);
        let device = &schema["definitions"]["simulated_device"];
        assert_eq!(device["properties"]["app"]["enum"], json!(["door/bell"]));
        let case = &device["allOf"][0];
        assert_eq!(case["if"]["properties"]["app"]["const"], json!("door/bell"));
        // Without config keys from the catalog, `config:` stays open.
        assert_eq!(
            case["then"]["properties"]["config"],
            json!({ "type": ["object", "null"] })
        );
        let step = &schema["definitions"]["step"];
        for name in SUPPORTED_STEPS {
            assert!(step["properties"].get(*name).is_some(), "step {name}");
        }
    }
}
