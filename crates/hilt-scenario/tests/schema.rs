//! The JSON Schema (`hilt_scenario::schema`) as an editor uses it: files
//! are read as a YAML language server reads them (YAML 1.2 core types, so
//! `qos: 1` is a number and `payload: "0"` a string) and checked with a
//! real JSON Schema validator.
//!
//! - Every bundled scenario and every valid fixture fits: the published
//!   schema (docs/scenario.schema.json, the bundled apps') for the files
//!   that run the bundled apps, the test catalog's schema for this crate's
//!   corpus.
//! - The invalid files whose mistake is one of shape (an unknown key, a
//!   value of the wrong type or outside its set, a missing key) are
//!   refused. Every invalid file is listed here, as one the schema refuses
//!   or as one whose mistake only the validator can see, so a new one is
//!   sorted too.

mod common;

use std::path::{Path, PathBuf};

use common::TestCatalog;
use serde_json::{Map, Value};
use yaml_rust2::{Yaml, YamlLoader};

fn repository_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A YAML file as a JSON value, with the YAML 1.2 core schema's types.
fn load_yaml(path: &Path) -> Value {
    let text =
        std::fs::read_to_string(path).unwrap_or_else(|error| panic!("{}: {error}", path.display()));
    let text = text.strip_prefix('\u{feff}').unwrap_or(&text);
    let documents = YamlLoader::load_from_str(text)
        .unwrap_or_else(|error| panic!("{}: not YAML: {error}", path.display()));
    documents.first().map_or(Value::Null, to_json)
}

fn to_json(yaml: &Yaml) -> Value {
    match yaml {
        Yaml::Real(text) => text
            .parse::<f64>()
            .ok()
            .and_then(serde_json::Number::from_f64)
            .map_or_else(|| Value::String(text.clone()), Value::Number),
        Yaml::Integer(number) => Value::from(*number),
        Yaml::String(text) => Value::String(text.clone()),
        Yaml::Boolean(flag) => Value::Bool(*flag),
        Yaml::Array(items) => Value::Array(items.iter().map(to_json).collect()),
        Yaml::Hash(entries) => {
            let map: Map<String, Value> = entries
                .iter()
                .map(|(key, value)| (key_text(key), to_json(value)))
                .collect();
            Value::Object(map)
        }
        Yaml::Null => Value::Null,
        Yaml::Alias(_) | Yaml::BadValue => panic!("unexpected YAML node {yaml:?}"),
    }
}

/// A map key as the JSON text an editor sees.
fn key_text(key: &Yaml) -> String {
    match key {
        Yaml::String(text) | Yaml::Real(text) => text.clone(),
        Yaml::Integer(number) => number.to_string(),
        Yaml::Boolean(flag) => flag.to_string(),
        Yaml::Null => "null".to_string(),
        other => panic!("unexpected YAML key {other:?}"),
    }
}

fn published_schema() -> Value {
    let path = repository_root().join("docs/scenario.schema.json");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|error| panic!("{}: {error}", path.display()));
    serde_json::from_str(&text).expect("docs/scenario.schema.json is JSON")
}

fn validator(schema: &Value) -> jsonschema::Validator {
    assert!(
        jsonschema::meta::is_valid(schema),
        "the schema itself is not a valid JSON Schema"
    );
    jsonschema::draft7::new(schema).expect("the schema compiles")
}

/// The schema's complaints about a file, one line each.
fn problems(validator: &jsonschema::Validator, path: &Path) -> Vec<String> {
    let instance = load_yaml(path);
    validator
        .iter_errors(&instance)
        .map(|error| format!("{} at {}", error, error.instance_path()))
        .collect()
}

/// Every `*.yaml` under `folder`, sorted.
fn yaml_files(folder: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut folders = vec![folder.to_path_buf()];
    while let Some(folder) = folders.pop() {
        for entry in std::fs::read_dir(&folder)
            .unwrap_or_else(|error| panic!("{}: {error}", folder.display()))
        {
            let path = entry.expect("a folder entry").path();
            if path.is_dir() {
                folders.push(path);
            } else if path
                .extension()
                .is_some_and(|extension| extension == "yaml")
            {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

fn assert_all_fit(validator: &jsonschema::Validator, files: &[PathBuf]) {
    let misfits: Vec<String> = files
        .iter()
        .filter_map(|path| {
            let problems = problems(validator, path);
            (!problems.is_empty())
                .then(|| format!("{}:\n  {}", path.display(), problems.join("\n  ")))
        })
        .collect();
    assert!(
        misfits.is_empty(),
        "valid files the schema refuses:\n{}",
        misfits.join("\n")
    );
}

#[test]
fn every_bundled_scenario_and_runner_fixture_fits_the_published_schema() {
    let validator = validator(&published_schema());
    let root = repository_root();
    let mut files = yaml_files(&root.join("scenarios"));
    let bundled = files.len();
    // Files that fail when run are valid files.
    files.extend(yaml_files(
        &root.join("crates/hilt-runner/tests/fixtures/failing"),
    ));
    assert!(bundled >= 29, "only {bundled} bundled scenarios found");
    assert!(files.len() > bundled, "no runner fixtures found");
    assert_all_fit(&validator, &files);
}

#[test]
fn every_valid_file_of_the_corpus_fits_the_test_catalogs_schema() {
    let validator = validator(&hilt_scenario::schema::scenario_schema(&TestCatalog));
    let files = yaml_files(&Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/valid"));
    assert!(files.len() >= 8, "only {} valid files found", files.len());
    assert_all_fit(&validator, &files);
}

/// Invalid files whose every mistake, or one of them, is one of shape.
const REFUSED_BY_THE_SCHEMA: &[&str] = &[
    "bad_broker_url",
    "broker_users_mistakes",
    "broker_users_with_url",
    "bad_duration",
    "bad_top_level_values",
    "broker_map_empty",
    "bad_topic_filter",
    "blink_contradictions",
    "bom_then_problem",
    "connects_to_mistakes",
    "count_negative",
    "device_bad_name",
    "duplicate_client_id",
    "empty_file",
    "expect_two_forms",
    "external_with_app",
    "fault_step_mistakes",
    "fleet_counts",
    "fleet_expectations",
    "fleet_spreads",
    "led_within_and_for",
    "level_middle",
    "many_problems",
    "missing_app",
    "missing_name",
    "no_devices",
    "panic_and_flash_mistakes",
    "payload_and_json",
    "press_wrong_kind",
    "publish_repeat_zero",
    "publish_wildcard",
    "qos_3",
    "set_out_of_range",
    "since_wrong",
    "step_not_a_map",
    "steps_with_nothing",
    "tolerance_without_json",
    "top_level_list",
    "two_step_keys",
    "unknown_app",
    "unknown_config_key",
    "unknown_step",
    "unknown_top_key",
    "wait_connected_mistakes",
    "within_outside_expect",
];

/// Invalid files whose mistakes only the validator sees, and why.
const LEFT_TO_THE_VALIDATOR: &[(&str, &str)] = &[
    ("anchors", "YAML: anchors and aliases"),
    ("control_characters", "YAML: characters YAML does not allow"),
    ("deep_flow_lists", "YAML: nesting depth"),
    ("deep_nesting", "YAML: nesting depth"),
    ("duplicate_key", "YAML: a key given twice"),
    ("not_utf8", "YAML: not UTF-8"),
    ("nul_in_comment", "YAML: characters YAML does not allow"),
    ("nul_in_quoted_text", "YAML: characters YAML does not allow"),
    ("regex_in_double_quotes", "YAML: an unknown escape"),
    ("second_document", "YAML: a second document"),
    ("tab_indentation", "YAML: a tab indents"),
    ("text_after_single_quotes", "YAML: text after quotes"),
    ("yaml_bad_indentation", "YAML: indentation"),
    ("yaml_unclosed_quote", "YAML: an unclosed quote"),
    (
        "bad_json_value",
        "json: takes any value; .inf is refused when converted",
    ),
    ("bad_regex", "whether a regex compiles"),
    ("regex_backslashes", "whether a regex compiles"),
    (
        "broker_step_with_external_broker",
        "a step checked against the broker choice",
    ),
    (
        "external_needs_real_time",
        "a device checked against the time mode",
    ),
    ("external_press", "which devices are external"),
    (
        "fault_steps_on_external_device",
        "which devices are external",
    ),
    ("fleet_clashes", "names and client ids across devices"),
    (
        "past_hilt_steps",
        "which external devices connect to the broker itself",
    ),
    ("fleet_patterns", "placeholders and client ids of members"),
    ("fleet_steps", "which names are fleets"),
    ("unknown_device", "which devices the file has"),
    ("unknown_part", "which parts a named device has"),
];

#[test]
fn structural_mistakes_of_the_corpus_are_refused() {
    let validator = validator(&hilt_scenario::schema::scenario_schema(&TestCatalog));
    let folder = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/invalid");
    let mut unsorted = Vec::new();
    for path in yaml_files(&folder) {
        let name = path.file_stem().unwrap().to_string_lossy().into_owned();
        let refused = REFUSED_BY_THE_SCHEMA.contains(&name.as_str());
        let left = LEFT_TO_THE_VALIDATOR.iter().any(|(left, _)| *left == name);
        assert!(!(refused && left), "{name} is in both lists");
        if !refused && !left {
            unsorted.push(name);
            continue;
        }
        if refused {
            assert!(
                !problems(&validator, &path).is_empty(),
                "the schema accepts {}, whose mistakes are of shape",
                path.display()
            );
        }
    }
    assert!(
        unsorted.is_empty(),
        "sort these invalid files into REFUSED_BY_THE_SCHEMA or LEFT_TO_THE_VALIDATOR: {unsorted:?}"
    );
    for name in REFUSED_BY_THE_SCHEMA
        .iter()
        .chain(LEFT_TO_THE_VALIDATOR.iter().map(|(name, _)| name))
    {
        assert!(
            folder.join(format!("{name}.yaml")).exists(),
            "{name}.yaml is listed but not in tests/invalid"
        );
    }
}

/// The runner's invalid fixtures run the bundled apps: a missing required
/// `config:` key, an unknown one, an unknown app and fault steps with
/// wrong values are refused by the published schema.
#[test]
fn the_published_schema_refuses_the_runners_structural_mistakes() {
    let validator = validator(&published_schema());
    let folder = repository_root().join("crates/hilt-runner/tests/fixtures/invalid");
    for (name, expected) in [
        ("missing_peer", "\"config\" is a required property"),
        (
            "unknown_config_key",
            "Additional properties are not allowed",
        ),
        ("unknown_app_and_part", "\"thermometr\" is not one of"),
        ("bad_fault_steps", "\"pause\" is not one of"),
    ] {
        let problems = problems(&validator, &folder.join(format!("{name}.yaml")));
        assert!(
            problems.iter().any(|problem| problem.contains(expected)),
            "{name}: expected a problem containing {expected:?}, got {problems:#?}"
        );
    }
}

/// What a file gets wrong, the schema points at: the step, the key.
#[test]
fn the_schema_points_at_the_mistake() {
    let validator = validator(&hilt_scenario::schema::scenario_schema(&TestCatalog));
    let folder = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/invalid");
    for (name, place) in [
        ("unknown_top_key", ""),
        ("qos_3", "/steps/0/publish/qos"),
        ("device_bad_name", "/devices"),
        ("unknown_config_key", "/devices/probe/config"),
        ("fleet_counts", "/devices/none/count"),
    ] {
        let problems = problems(&validator, &folder.join(format!("{name}.yaml")));
        assert!(
            problems
                .iter()
                .any(|problem| problem.ends_with(&format!(" at {place}"))
                    || problem.contains(&format!(" at {place}/"))),
            "{name}: expected a problem at {place:?}, got {problems:#?}"
        );
    }
}
