//! Valid scenario files and the typed scenarios they must become.

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::TestCatalog;
use hilt_scenario::{
    BrokerChoice, ConfigValue, DeviceKind, Expectation, FlashPartition, Fleet, LedTiming, Location,
    PartRef, PartSetting, PartValue, PayloadMatch, Publishers, Scenario, StepKind, TimeMode, load,
    parse,
};
use rstest::rstest;
use serde_json::json;

fn relative(path: &Path) -> PathBuf {
    path.strip_prefix(env!("CARGO_MANIFEST_DIR"))
        .map(Path::to_path_buf)
        .unwrap_or_else(|_| path.to_path_buf())
}

fn load_valid(name: &str) -> Scenario {
    let path = PathBuf::from("tests/valid").join(name);
    match load(&path, &TestCatalog) {
        Ok(scenario) => scenario,
        Err(diagnostics) => panic!("{name} should be valid, but:\n{diagnostics}"),
    }
}

fn parse_text(text: &str) -> Scenario {
    match parse(Path::new("inline.yaml"), text, &TestCatalog) {
        Ok(scenario) => scenario,
        Err(diagnostics) => panic!("should be valid, but:\n{diagnostics}"),
    }
}

fn part_ref(device: &str, part: &str, line: usize, column: usize) -> PartRef {
    PartRef {
        device: device.to_string(),
        part: part.to_string(),
        location: Location { line, column },
    }
}

#[rstest]
fn every_valid_file_loads(#[files("tests/valid/*.yaml")] path: PathBuf) {
    let path = relative(&path);
    if let Err(diagnostics) = load(&path, &TestCatalog) {
        panic!("{} should be valid, but:\n{diagnostics}", path.display());
    }
}

#[test]
fn thermometer_top_level_and_device() {
    let scenario = load_valid("thermometer.yaml");
    assert_eq!(scenario.file, PathBuf::from("tests/valid/thermometer.yaml"));
    assert_eq!(scenario.name, "thermometer reports in Fahrenheit");
    assert_eq!(
        scenario.about.as_deref(),
        Some(
            "The probe publishes every minute; a disconnected sensor must not\n\
             stop it from reporting once the sensor is back.\n"
        )
    );
    assert_eq!(scenario.time, TimeMode::Virtual);
    assert_eq!(scenario.seed, 7);
    assert_eq!(scenario.broker, BrokerChoice::Embedded);

    assert_eq!(scenario.devices.len(), 1);
    let probe = &scenario.devices[0];
    assert_eq!(probe.name, "probe");
    assert_eq!(
        probe.location,
        Location {
            line: 10,
            column: 3
        }
    );
    assert_eq!(probe.client_id, "probe-1");
    let DeviceKind::Simulated { app, config, parts } = &probe.kind else {
        panic!("probe should be simulated: {:?}", probe.kind);
    };
    assert_eq!(app, "thermometer");
    let entries: Vec<(&str, &str, Location)> = config
        .entries
        .iter()
        .filter_map(|entry| match &entry.value {
            ConfigValue::Scalar { text, .. } => {
                Some((entry.key.as_str(), text.as_str(), entry.key_location))
            }
            _ => None,
        })
        .collect();
    assert_eq!(
        entries,
        vec![
            (
                "unit",
                "F",
                Location {
                    line: 14,
                    column: 7
                }
            ),
            (
                "interval",
                "60s",
                Location {
                    line: 15,
                    column: 7
                }
            ),
        ]
    );
    assert_eq!(
        parts,
        &vec![PartSetting {
            target: part_ref("probe", "ds18b20", 17, 7),
            value: PartValue::Temperature(22.5),
        }]
    );
}

#[test]
fn thermometer_steps() {
    let scenario = load_valid("thermometer.yaml");
    let steps = &scenario.steps;
    assert_eq!(steps.len(), 8);

    // A step's location is its `-`.
    assert_eq!(
        steps[0].location,
        Location {
            line: 20,
            column: 3
        }
    );
    assert_eq!(steps[0].name.as_deref(), Some("first reading"));
    let StepKind::Expect(Expectation::Message(first)) = &steps[0].kind else {
        panic!("{:?}", steps[0].kind);
    };
    assert_eq!(first.filter, "devices/+/temperature/degrees");
    assert!(
        matches!(&first.body, Some(PayloadMatch::Json(value)) if *value == json!({"unit": "F", "degrees": 72.5}))
    );
    assert_eq!(first.within, Duration::from_secs(61));
    assert_eq!((first.qos, first.retain, first.count), (None, None, None));
    assert!(!first.since_start);
    assert_eq!(first.tolerance, None);
    assert!(!steps[0].kind.is_action());

    assert_eq!(steps[1].name, None);
    let StepKind::Set(settings) = &steps[1].kind else {
        panic!("{:?}", steps[1].kind);
    };
    assert_eq!(
        settings,
        &vec![PartSetting {
            target: part_ref("probe", "ds18b20", 25, 12),
            value: PartValue::Temperature(-10.5),
        }]
    );
    assert!(steps[1].kind.is_action());
    let StepKind::Set(settings) = &steps[2].kind else {
        panic!("{:?}", steps[2].kind);
    };
    assert_eq!(
        settings[0].value,
        PartValue::Fault(Some("disconnected".to_string()))
    );
    assert!(
        matches!(steps[3].kind, StepKind::Wait(duration) if duration == Duration::from_secs(90))
    );
    let StepKind::Set(settings) = &steps[4].kind else {
        panic!("{:?}", steps[4].kind);
    };
    assert_eq!(settings[0].value, PartValue::Fault(None));

    let StepKind::Expect(Expectation::Message(tolerant)) = &steps[5].kind else {
        panic!("{:?}", steps[5].kind);
    };
    assert_eq!(tolerant.tolerance, Some(0.05));
    assert_eq!(tolerant.within, Duration::from_secs(120));

    let StepKind::Expect(Expectation::Message(counted)) = &steps[6].kind else {
        panic!("{:?}", steps[6].kind);
    };
    assert_eq!(counted.count, Some(3));
    assert_eq!(counted.within, Duration::ZERO);
    assert!(counted.since_start);
    assert!(counted.body.is_none());

    let StepKind::Expect(Expectation::Pin(pin)) = &steps[7].kind else {
        panic!("{:?}", steps[7].kind);
    };
    assert_eq!(pin.pin, part_ref("probe", "gpio4", 32, 20));
    assert!(pin.high);
}

#[test]
fn remote_led_actions() {
    let scenario = load_valid("remote_led.yaml");
    assert_eq!(scenario.about, None);
    assert_eq!(scenario.seed, 0);
    assert_eq!(scenario.time, TimeMode::Virtual);
    let names: Vec<(&str, &str)> = scenario
        .devices
        .iter()
        .map(|device| (device.name.as_str(), device.client_id.as_str()))
        .collect();
    assert_eq!(names, vec![("blue", "blue"), ("green", "green")]);

    let steps = &scenario.steps;
    assert_eq!(steps.len(), 15);
    assert!(
        matches!(&steps[0].kind, StepKind::Press(target) if *target == part_ref("blue", "button", 11, 12))
    );
    assert!(
        matches!(&steps[2].kind, StepKind::Release(target) if target.to_string() == "blue.button")
    );
    assert!(
        matches!(&steps[4].kind, StepKind::Click(target) if target.to_string() == "blue.button")
    );

    let StepKind::Publish(quoted) = &steps[8].kind else {
        panic!("{:?}", steps[8].kind);
    };
    assert_eq!(quoted.topic, "green/btn/0");
    assert_eq!(quoted.payload, b"0");
    assert_eq!((quoted.qos, quoted.retain), (0, false));

    let StepKind::Publish(json_publish) = &steps[9].kind else {
        panic!("{:?}", steps[9].kind);
    };
    assert_eq!(json_publish.topic, "cmd/blink");
    // Compact, in file order, quoted "1" kept a string, ~ is null.
    assert_eq!(
        String::from_utf8_lossy(&json_publish.payload),
        r#"{"hz":4,"name":"1","on":true,"list":[1,2.5,null]}"#
    );
    assert_eq!((json_publish.qos, json_publish.retain), (1, true));

    let StepKind::Publish(empty) = &steps[10].kind else {
        panic!("{:?}", steps[10].kind);
    };
    assert!(empty.payload.is_empty());
}

#[test]
fn remote_led_expectations() {
    let scenario = load_valid("remote_led.yaml");
    let steps = &scenario.steps;

    // `payload: "0"` and `payload: 1` are both text.
    for (index, text) in [(1, "0"), (3, "1")] {
        let StepKind::Expect(Expectation::Message(expectation)) = &steps[index].kind else {
            panic!("{:?}", steps[index].kind);
        };
        assert!(matches!(&expectation.body, Some(PayloadMatch::Exact(exact)) if exact == text));
        assert_eq!(expectation.within, Duration::from_secs(1));
    }

    let timings: Vec<(String, bool, LedTiming)> = steps[5..8]
        .iter()
        .map(|step| match &step.kind {
            StepKind::Expect(Expectation::Led(led)) => (led.led.to_string(), led.on, led.timing),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(
        timings,
        vec![
            (
                "green.led".to_string(),
                true,
                LedTiming::Within(Duration::from_millis(600))
            ),
            ("green.led".to_string(), true, LedTiming::Now),
            (
                "blue.led".to_string(),
                false,
                LedTiming::For(Duration::from_secs(2))
            ),
        ]
    );

    let StepKind::Expect(Expectation::Message(regex)) = &steps[11].kind else {
        panic!("{:?}", steps[11].kind);
    };
    let Some(PayloadMatch::Regex(regex)) = &regex.body else {
        panic!("{:?}", regex.body);
    };
    assert!(regex.is_match(r#"["lux-1", 300, 12.5]"#));
    assert!(!regex.is_match(r#"["lux-2", 300, 12.5]"#));

    let StepKind::Expect(Expectation::Message(retained)) = &steps[12].kind else {
        panic!("{:?}", steps[12].kind);
    };
    assert_eq!((retained.qos, retained.retain), (Some(1), Some(true)));

    let StepKind::Expect(Expectation::Message(none)) = &steps[13].kind else {
        panic!("{:?}", steps[13].kind);
    };
    assert_eq!(none.count, Some(0));
    assert_eq!(none.within, Duration::from_secs(5));

    let StepKind::Expect(Expectation::Pin(pin)) = &steps[14].kind else {
        panic!("{:?}", steps[14].kind);
    };
    assert_eq!(pin.pin.to_string(), "green.gpio9");
    assert!(!pin.high);
}

#[test]
fn external_devices_relayed_by_hilt() {
    let scenario = load_valid("external_relay.yaml");
    assert_eq!(scenario.broker, BrokerChoice::Embedded);
    assert_eq!(scenario.listen, Some("127.0.0.1:1883".parse().unwrap()));
    let DeviceKind::External {
        connect_within,
        through_hilt,
    } = scenario.devices[0].kind
    else {
        panic!("{:?}", scenario.devices[0].kind);
    };
    assert_eq!(connect_within, Duration::from_secs(60));
    assert!(through_hilt);
    let DeviceKind::External { connect_within, .. } = scenario.devices[1].kind else {
        panic!("{:?}", scenario.devices[1].kind);
    };
    assert_eq!(connect_within, hilt_scenario::DEFAULT_CONNECT_WITHIN);

    let StepKind::WaitConnected(wait) = &scenario.steps[0].kind else {
        panic!("{:?}", scenario.steps[0].kind);
    };
    assert_eq!(wait.device.device, "bench");
    assert_eq!(wait.within, Duration::from_secs(10));
    assert!(scenario.steps[0].kind.is_action());
    let StepKind::WaitConnected(wait) = &scenario.steps[1].kind else {
        panic!("{:?}", scenario.steps[1].kind);
    };
    assert_eq!(wait.within, Duration::from_secs(30));

    let StepKind::Expect(Expectation::Message(expectation)) = &scenario.steps[2].kind else {
        panic!("{:?}", scenario.steps[2].kind);
    };
    assert_eq!(
        expectation.from,
        Some(hilt_scenario::Publishers::Device("bench".to_string()))
    );
    let StepKind::Network(change) = &scenario.steps[4].kind else {
        panic!("{:?}", scenario.steps[4].kind);
    };
    assert_eq!(change.device.device, "bench");
    assert_eq!(change.link_up, Some(false));
}

#[test]
fn an_external_device_may_connect_to_the_broker_itself() {
    let scenario = load_valid("external_past_hilt.yaml");
    assert!(matches!(
        scenario.devices[0].kind,
        DeviceKind::External {
            through_hilt: false,
            ..
        }
    ));
    assert!(matches!(
        scenario.devices[1].kind,
        DeviceKind::External {
            through_hilt: true,
            ..
        }
    ));
}

#[test]
fn external_device_and_broker() {
    let scenario = load_valid("external.yaml");
    assert_eq!(scenario.time, TimeMode::Real);
    assert_eq!(
        scenario.broker,
        BrokerChoice::External {
            url: "mqtt://127.0.0.1:1884".to_string(),
            host: "127.0.0.1".to_string(),
            port: 1884,
            tls: false,
            ca: None,
            login: None,
        }
    );
    let bench = &scenario.devices[0];
    assert_eq!(bench.name, "bench-board");
    assert_eq!(bench.client_id, "esp32-bench");
    assert!(matches!(bench.kind, DeviceKind::External { .. }));

    let DeviceKind::Simulated { parts, config, .. } = &scenario.devices[1].kind else {
        panic!("{:?}", scenario.devices[1].kind);
    };
    assert_eq!(parts[0].value, PartValue::Lux(300.0));
    // No `config:` is an empty config placed at the device.
    assert!(config.entries.is_empty());
    assert_eq!(config.location, Location { line: 8, column: 3 });

    let StepKind::Set(settings) = &scenario.steps[2].kind else {
        panic!("{:?}", scenario.steps[2].kind);
    };
    let values: Vec<&PartValue> = settings.iter().map(|setting| &setting.value).collect();
    assert_eq!(
        values,
        vec![
            &PartValue::Lux(0.0),
            &PartValue::Fault(Some("nack".to_string()))
        ]
    );
}

#[test]
fn minimal_file_takes_the_defaults() {
    let scenario = load_valid("minimal.yaml");
    assert_eq!(scenario.name, "boots");
    assert_eq!(scenario.about, None);
    assert_eq!(scenario.time, TimeMode::Virtual);
    assert_eq!(scenario.seed, 0);
    assert_eq!(scenario.broker, BrokerChoice::Embedded);
    assert_eq!(scenario.devices[0].client_id, "probe");
    assert!(scenario.steps.is_empty());
}

#[test]
fn spec_examples_parse() {
    let scenario = load_valid("spec_examples.yaml");
    assert_eq!(scenario.devices.len(), 5);
    assert_eq!(scenario.steps.len(), 19);
}

#[test]
fn quoting_matters_only_inside_json() {
    let scenario = parse_text(
        "name: quoting\n\
         seed: \"42\"\n\
         devices: { probe: { app: thermometer } }\n\
         steps:\n\
         \x20 - publish: { topic: t, payload: 0, qos: \"1\", retain: \"true\" }\n\
         \x20 - publish: { topic: t, payload: \"0\" }\n\
         \x20 - publish: { topic: t, json: { a: 1, b: \"1\", c: 1.0, d: yes, e: 'null' } }\n",
    );
    assert_eq!(scenario.seed, 42);
    let payloads: Vec<String> = scenario
        .steps
        .iter()
        .map(|step| match &step.kind {
            StepKind::Publish(publish) => String::from_utf8_lossy(&publish.payload).into_owned(),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(
        payloads,
        vec!["0", "0", r#"{"a":1,"b":"1","c":1.0,"d":"yes","e":"null"}"#]
    );
    let StepKind::Publish(first) = &scenario.steps[0].kind else {
        panic!();
    };
    assert_eq!((first.qos, first.retain), (1, true));
}

#[test]
fn steps_in_flow_style_and_split_dash() {
    let scenario = parse_text(
        "name: flow\n\
         devices: { probe: { app: thermometer } }\n\
         steps: [ { wait: 1s }, { wait: 0 } ]\n",
    );
    assert_eq!(
        scenario.steps[0].location,
        Location {
            line: 3,
            column: 10
        }
    );
    assert!(matches!(scenario.steps[1].kind, StepKind::Wait(duration) if duration.is_zero()));

    let scenario = parse_text(
        "name: dash alone\n\
         devices: { probe: { app: thermometer } }\n\
         steps:\n\
         \x20 -\n\
         \x20   wait: 1.5s\n",
    );
    assert_eq!(scenario.steps[0].location, Location { line: 4, column: 3 });
    assert!(
        matches!(scenario.steps[0].kind, StepKind::Wait(duration) if duration == Duration::from_millis(1500))
    );
}

#[test]
fn client_ids_may_be_long() {
    let id = "a".repeat(64);
    let scenario = parse_text(&format!(
        "name: long id\ndevices: {{ probe: {{ app: thermometer, client_id: {id} }} }}\nsteps: []\n"
    ));
    assert_eq!(scenario.devices[0].client_id, id);
}

#[test]
fn external_broker_under_virtual_time() {
    let scenario = parse_text(
        "name: external broker\n\
         broker: { url: \"mqtt://[::1]\" }\n\
         devices: { probe: { app: thermometer } }\n\
         steps: []\n",
    );
    assert_eq!(scenario.time, TimeMode::Virtual);
    assert_eq!(
        scenario.broker,
        BrokerChoice::External {
            url: "mqtt://[::1]".to_string(),
            host: "::1".to_string(),
            port: 1883,
            tls: false,
            ca: None,
            login: None,
        }
    );
}

/// `mqtts://` with a CA file, which is found beside the scenario file;
/// `ca` without `mqtts://`, or naming no file, is reported at its line.
#[test]
fn an_mqtts_broker_with_the_ca_to_trust() {
    let folder = tempfile::tempdir().unwrap();
    std::fs::write(folder.path().join("ca.pem"), "not read by the validator\n").unwrap();
    let file = folder.path().join("tls.yaml");
    let write_and_load = |broker: &str| {
        std::fs::write(
            &file,
            format!(
                "name: over TLS\nbroker: {broker}\ndevices: {{ probe: {{ app: thermometer }} }}\nsteps: []\n"
            ),
        )
        .unwrap();
        load(&file, &TestCatalog)
    };
    let scenario = write_and_load("{ url: \"mqtts://broker.local\", ca: ca.pem }").unwrap();
    assert_eq!(
        scenario.broker,
        BrokerChoice::External {
            url: "mqtts://broker.local".to_string(),
            host: "broker.local".to_string(),
            port: 8883,
            tls: true,
            ca: Some(folder.path().join("ca.pem")),
            login: None,
        }
    );
    let problems = |broker: &str| write_and_load(broker).unwrap_err().to_string();
    let plain = problems("{ url: \"mqtt://broker.local\", ca: ca.pem }");
    assert!(
        plain.contains("tls.yaml:2:")
            && plain.contains("it needs `url: mqtts://host:port` beside it"),
        "{plain}"
    );
    let missing = problems("{ url: \"mqtts://broker.local\", ca: missing.pem }");
    assert!(
        missing.contains("tls.yaml:2:")
            && missing.contains("cannot read the CA file")
            && missing.contains("missing.pem"),
        "{missing}"
    );
}

#[test]
fn a_fleet_becomes_ordinary_devices_with_a_record_of_the_fleet() {
    let scenario = load_valid("fleet.yaml");
    let names: Vec<&str> = scenario
        .devices
        .iter()
        .map(|device| device.name.as_str())
        .collect();
    assert_eq!(
        names,
        vec![
            "probe-01", "probe-02", "probe-03", "probe-04", "probe-05", "probe-06", "probe-07",
            "probe-08", "probe-09", "probe-10", "probe-11", "probe-12", "single", "panel-1",
            "panel-2", "panel-3",
        ]
    );
    assert_eq!(
        scenario.fleets,
        vec![
            Fleet {
                name: "probe".to_string(),
                location: Location { line: 4, column: 3 },
                count: 12,
                first_device: 0,
            },
            Fleet {
                name: "panel".to_string(),
                location: Location {
                    line: 15,
                    column: 3
                },
                count: 3,
                first_device: 13,
            },
        ]
    );
    let members: Vec<&str> = scenario
        .devices_named("panel")
        .iter()
        .map(|device| device.name.as_str())
        .collect();
    assert_eq!(members, vec!["panel-1", "panel-2", "panel-3"]);
    assert_eq!(scenario.devices_named("single").len(), 1);
    assert!(scenario.devices_named("probe-7").is_empty());

    // Client ids and config text take the member's index as its name
    // writes it; every member is at the fleet's place in the file.
    let seventh = &scenario.devices[6];
    assert_eq!(seventh.client_id, "room-07");
    assert_eq!(seventh.location, Location { line: 4, column: 3 });
    let DeviceKind::Simulated { app, config, parts } = &seventh.kind else {
        panic!("{:?}", seventh.kind);
    };
    assert_eq!(app, "thermometer");
    let interval = config
        .entries
        .iter()
        .find(|entry| entry.key == "interval")
        .map(|entry| &entry.value);
    assert!(
        matches!(interval, Some(ConfigValue::Scalar { text, .. }) if text == "07s"),
        "{interval:?}"
    );
    assert_eq!(scenario.devices[14].client_id, "panel-2");
    let DeviceKind::Simulated { config, .. } = &scenario.devices[14].kind else {
        panic!();
    };
    assert!(
        matches!(&config.entries[0].value, ConfigValue::Scalar { text, .. } if text == "panel-2")
    );
    // Without `client_id:` a member's id is its name.
    assert_eq!(scenario.devices[13].client_id, "panel-1");

    // Each member draws its own temperature from the seed, within the
    // spread and in hundredths; the fixed fault follows it.
    let temperatures: Vec<f64> = scenario.devices[..12]
        .iter()
        .map(|device| match &device.kind {
            DeviceKind::Simulated { parts, .. } => {
                assert_eq!(parts[0].target.device, device.name);
                assert_eq!(parts[1].value, PartValue::Fault(None));
                match parts[0].value {
                    PartValue::Temperature(celsius) => celsius,
                    ref other => panic!("{other:?}"),
                }
            }
            other => panic!("{other:?}"),
        })
        .collect();
    assert!(
        temperatures
            .iter()
            .all(|celsius| (18.0..=24.0).contains(celsius)
                && ((celsius * 100.0).round() - celsius * 100.0).abs() < 1e-9),
        "{temperatures:?}"
    );
    let mut distinct = temperatures.clone();
    distinct.dedup();
    assert!(distinct.len() > 6, "{temperatures:?}");
    assert_eq!(parts.len(), 2);
    let DeviceKind::Simulated { parts, .. } = &scenario.devices[12].kind else {
        panic!();
    };
    assert!(
        matches!(parts[0].value, PartValue::Temperature(celsius) if (-10.0..=0.0).contains(&celsius))
    );

    // The same file gives the same values; another seed others.
    let again = load_valid("fleet.yaml");
    let drawn = |scenario: &Scenario| -> Vec<PartValue> {
        scenario
            .devices
            .iter()
            .filter_map(|device| match &device.kind {
                DeviceKind::Simulated { parts, .. } => parts.first().map(|part| part.value.clone()),
                DeviceKind::External { .. } => None,
            })
            .collect()
    };
    assert_eq!(drawn(&scenario), drawn(&again));
    let text = std::fs::read_to_string("tests/valid/fleet.yaml").unwrap();
    let reseeded = parse_text(&text.replace("seed: 42", "seed: 43"));
    assert_ne!(drawn(&scenario)[..12], drawn(&reseeded)[..12]);
}

#[test]
fn steps_name_a_fleet_or_one_member() {
    let scenario = load_valid("fleet.yaml");
    let steps = &scenario.steps;
    assert!(matches!(&steps[0].kind, StepKind::Press(part) if part.to_string() == "panel.button"));
    assert!(
        matches!(&steps[1].kind, StepKind::Release(part) if part.to_string() == "panel-2.button")
    );
    let StepKind::Set(settings) = &steps[3].kind else {
        panic!("{:?}", steps[3].kind);
    };
    let targets: Vec<String> = settings
        .iter()
        .map(|setting| setting.target.to_string())
        .collect();
    assert_eq!(targets, vec!["probe.ds18b20", "probe-07.ds18b20"]);
    assert!(matches!(&steps[4].kind, StepKind::Reboot(device) if device.device == "probe"));
    assert!(matches!(&steps[5].kind, StepKind::Hang(device) if device.device == "probe-03"));

    let message = |index: usize| match &steps[index].kind {
        StepKind::Expect(Expectation::Message(expectation)) => expectation.clone(),
        other => panic!("{other:?}"),
    };
    let every = message(8);
    assert!(every.each);
    let Some(Publishers::Fleet(fleet)) = &every.from else {
        panic!("{:?}", every.from);
    };
    assert_eq!((fleet.name.as_str(), fleet.count), ("probe", 12));
    assert!(fleet.member_index("probe-12") == Some(12));
    assert_eq!(fleet.member_index("probe-13"), None);
    assert_eq!(fleet.member_index("probe-7"), None);
    assert_eq!(fleet.member_index("probe-00"), None);
    let counted = message(9);
    assert_eq!((counted.each, counted.count), (true, Some(2)));
    let one = message(10);
    assert_eq!(one.from, Some(Publishers::Device("probe-07".to_string())));
    assert!(!one.each);
    assert!(one.from.as_ref().unwrap().includes("probe-07"));
    assert!(!one.from.as_ref().unwrap().includes("probe-06"));
    let single = message(11);
    assert_eq!(single.from, Some(Publishers::Device("single".to_string())));
    assert!(!single.each);
}

#[test]
fn panic_and_flash_steps() {
    let scenario = load_valid("fault_steps.yaml");
    let steps = &scenario.steps[scenario.steps.len() - 4..];
    let StepKind::Panic(plain) = &steps[0].kind else {
        panic!("{:?}", steps[0].kind);
    };
    assert_eq!(
        (plain.device.device.as_str(), &plain.place),
        ("probe", &None)
    );
    let StepKind::Panic(placed) = &steps[1].kind else {
        panic!("{:?}", steps[1].kind);
    };
    assert_eq!(placed.device.device, "blue");
    assert_eq!(placed.place.as_deref(), Some("src/apps/remote_led.rs:42"));
    assert!(matches!(
        &steps[2].kind,
        StepKind::Flash(damage)
            if damage.device.device == "blue" && damage.partition == FlashPartition::Settings
    ));
    assert!(matches!(
        &steps[3].kind,
        StepKind::Flash(damage)
            if damage.device.device == "probe" && damage.partition == FlashPartition::OtaData
    ));
}

#[test]
fn ten_thousand_members_are_named_with_five_digits() {
    let scenario = parse_text(
        "name: many\n\
         devices: { t: { app: thermometer, count: 10000, parts: { ds18b20: { temperature: { between: [18, 24] } } } } }\n\
         steps:\n\
         \x20 - set: { t-00500.ds18b20.temperature: 20 }\n\
         \x20 - expect: { topic: '#', from: t, each: true }\n",
    );
    assert_eq!(scenario.devices.len(), 10_000);
    assert_eq!(scenario.devices[0].name, "t-00001");
    assert_eq!(scenario.devices[9_999].client_id, "t-10000");
    let fleet = &scenario.fleets[0];
    assert_eq!(fleet.index_width(), 5);
    assert_eq!(fleet.member_index("t-10000"), Some(10_000));
}
