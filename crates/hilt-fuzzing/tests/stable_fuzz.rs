//! The fuzz targets on stable Rust, in CI: each target's function runs over
//! its committed seed corpus (`fuzz/corpus/<target>/`) and over a seeded,
//! deterministic mutation loop, and must never panic (the codec must also
//! round-trip every packet it decodes; see `hilt_fuzzing`).
//!
//! `HILT_FUZZ_ITERATIONS=200000 cargo test --release -p hilt-fuzzing`
//! runs longer loops; `HILT_FUZZ_BLESS=1` rewrites the generated seeds.
//! With nightly, `cargo +nightly fuzz run <target>` fuzzes with coverage.

mod common;

use std::path::PathBuf;

use common::scripts::random_script;
use common::seeds::{SCENARIO_SOURCES, app_seeds, codec_seeds, scenario_files};
use common::{
    corpus, corpus_dir, generation_loop, iterations, mutation_loop, on_big_stack, run_corpus,
    run_one,
};
use hilt_fuzzing::input::{AppScript, Flags, Payload};
use hilt_fuzzing::{
    AppKind, fuzz_app_messages, fuzz_mqtt_codec, fuzz_scenario_parser, run_app_messages,
};

// Defaults sized so the whole file takes well under 20 s in a debug build
// on a 2-core machine.
const SCENARIO_ITERATIONS: usize = 20_000;
const CODEC_ITERATIONS: usize = 200_000;
const APP_ITERATIONS: usize = 20_000;
const SCRIPT_ITERATIONS: usize = 5_000;

const SCENARIO_DICTIONARY: &[&[u8]] = &[
    b"name: ",
    b"about: ",
    b"devices:",
    b"steps:",
    b"broker: ",
    b"time: real",
    b"app: ",
    b"config: ",
    b"client_id: ",
    b"external",
    b"thermometer",
    b"remote-led",
    b"sensor-data",
    b"light-status",
    b"node-manager",
    b"monitor",
    b"- ",
    b"\n  ",
    b"\n    - ",
    b"expect: ",
    b"topic: ",
    b"payload: ",
    b"json: ",
    b"matches: ",
    b"within: ",
    b"for: ",
    b"since: start",
    b"count: ",
    b"qos: ",
    b"retain: true",
    b"tolerance: ",
    b"press: ",
    b"release: ",
    b"click: ",
    b"wait: ",
    b"set: ",
    b"publish: ",
    b"led: ",
    b"is: on",
    b"pin: ",
    b"level: high",
    b"reboot: ",
    b"broker: down",
    b"network: ",
    b"temperature: ",
    b"fault: ",
    b"lux: ",
    b"ds18b20",
    b"button",
    b"gpio4",
    b"tsl2591",
    b"1s",
    b"500ms",
    b"1m30s",
    b"0s",
    b"{ ",
    b" }",
    b"[",
    b"]",
    b", ",
    b": ",
    b"\"",
    b"'",
    b"&a ",
    b"*a",
    b"!!str ",
    b"---\n",
    b"...\n",
    b"# ",
    b"|\n",
    b">\n",
    b"~",
    b"null",
    b"1e400",
    b"-0",
    b"\\u0000",
    b"+",
    b"/#",
    b"\t",
    b"? ",
    b"\xef\xbb\xbf",
    b"\xc3\xa9",
    b"mqtt://127.0.0.1:1883",
];

const CODEC_DICTIONARY: &[&[u8]] = &[
    &[0x10],
    &[0x20, 0x02],
    &[0x30],
    &[0x32],
    &[0x34],
    &[0x3b],
    &[0x40, 0x02],
    &[0x50, 0x02],
    &[0x62, 0x02],
    &[0x70, 0x02],
    &[0x82],
    &[0x90],
    &[0xa2],
    &[0xb0, 0x02],
    &[0xc0, 0x00],
    &[0xd0, 0x00],
    &[0xe0, 0x00],
    &[0x00, 0x04, b'M', b'Q', b'T', b'T', 0x04],
    &[0x00, 0x06, b'M', b'Q', b'I', b's', b'd', b'p'],
    &[0x80],
    &[0xff, 0xff, 0xff, 0x7f],
    &[0x80, 0x80, 0x80, 0x80],
    &[0x00, 0x00],
    &[0x00, 0x01, b'#'],
    &[0x00, 0x01, b'+'],
    &[0x00, 0x01, 0x00],
    &[0xed, 0xa0, 0x80],
    &[0xc0, 0x80],
];

const APP_DICTIONARY: &[&[u8]] = &[
    &[0x00, 0x00],
    &[0x00, 0x81],
    &[0x06, 0x03, 0xe8],
    &[0x06, 0x13, 0x88],
    &[0x06, 0x80, 0x10],
    &[0x07],
    &[0x09],
    &[0x0b, 0x01],
    &[0x0b, 0x02],
    &[0x01, 0x00, 0x02, 0x00, 0x01, 0x00],
    &[0x03, 0x00, 0x00],
    &[0x05, 0x04, 0x00, 0x00],
    &[0x05, 0x02, 0xff, 0x00, 0x01],
    &[0x08, 0x00, 0x00, 0x01],
    &[0x0a, 0x00, 0x02, 0x00, 0x05],
    &[0x04, 0x00, 0x02, 0x30, 0x00],
    &[0x03, 0xff, 0x0b, 0xb8],
    b"esp32/test/mqb/cmd/",
    b"set",
    b"ping",
    b"sysinfo",
    b"reboot",
    b"blinky_hz=",
    b"{\"blinky_hz\": ",
    b"log_level",
    b"sysinfo_interval",
    b"on",
    b"off",
    b"true",
    b"#",
    b"+",
    b"/",
];

fn scenario_source_files() -> Vec<(PathBuf, Vec<u8>)> {
    scenario_files()
        .into_iter()
        .map(|(name, bytes)| (PathBuf::from(name), bytes))
        .collect()
}

fn bytes_of(entries: Vec<(PathBuf, Vec<u8>)>) -> Vec<Vec<u8>> {
    entries.into_iter().map(|(_, bytes)| bytes).collect()
}

#[test]
fn seed_corpus_is_current() {
    let bless = std::env::var_os("HILT_FUZZ_BLESS").is_some();
    let generated = [
        ("mqtt_codec", codec_seeds()),
        ("app_messages", app_seeds()),
        ("scenario_parser", scenario_files()),
    ];
    let mut stale = Vec::new();
    for (target, seeds) in generated {
        let dir = corpus_dir(target);
        for (name, bytes) in seeds {
            let path = dir.join(&name);
            if bless {
                std::fs::create_dir_all(&dir).expect("create the corpus folder");
                std::fs::write(&path, &bytes).expect("write a seed");
            } else if target != "scenario_parser" && std::fs::read(&path).ok() != Some(bytes) {
                // Scenario files change under others' hands; the parser's
                // tests read the live files as well, so stale copies are
                // only older seeds.
                stale.push(path.display().to_string());
            }
        }
    }
    assert!(
        stale.is_empty(),
        "generated seeds missing or changed (HILT_FUZZ_BLESS=1 cargo test -p hilt-fuzzing \
         --test stable_fuzz seed_corpus writes them):\n{}",
        stale.join("\n")
    );
}

#[test]
fn scenario_parser_over_the_corpus_and_every_scenario_file() {
    on_big_stack(|| {
        run_corpus(
            "scenario_parser",
            fuzz_scenario_parser,
            &corpus("scenario_parser"),
        );
        let live = scenario_source_files();
        assert!(
            live.len() > SCENARIO_SOURCES.len(),
            "found only {} scenario files",
            live.len()
        );
        run_corpus("scenario_parser", fuzz_scenario_parser, &live);
    });
}

#[test]
fn scenario_parser_mutations() {
    let mut seeds = bytes_of(corpus("scenario_parser"));
    seeds.extend(bytes_of(scenario_source_files()));
    mutation_loop(
        "scenario_parser",
        fuzz_scenario_parser,
        seeds,
        SCENARIO_DICTIONARY,
        0x5eed_0001,
        iterations(SCENARIO_ITERATIONS),
    );
}

#[test]
fn mqtt_codec_over_the_corpus() {
    run_corpus("mqtt_codec", fuzz_mqtt_codec, &corpus("mqtt_codec"));
}

#[test]
fn mqtt_codec_mutations() {
    mutation_loop(
        "mqtt_codec",
        fuzz_mqtt_codec,
        bytes_of(corpus("mqtt_codec")),
        CODEC_DICTIONARY,
        0x5eed_0002,
        iterations(CODEC_ITERATIONS),
    );
}

#[test]
fn app_messages_over_the_corpus() {
    on_big_stack(|| run_corpus("app_messages", fuzz_app_messages, &corpus("app_messages")));
}

#[test]
fn app_messages_mutations() {
    mutation_loop(
        "app_messages",
        fuzz_app_messages,
        bytes_of(corpus("app_messages")),
        APP_DICTIONARY,
        0x5eed_0003,
        iterations(APP_ITERATIONS),
    );
}

#[test]
fn app_messages_generated_scripts() {
    generation_loop(
        "app_messages",
        fuzz_app_messages,
        random_script,
        0x5eed_0004,
        iterations(SCRIPT_ITERATIONS),
    );
}

/// The harness must reach each app's message handling, or the fuzzing of
/// it fuzzes nothing: the crafted seeds are checked for what they do.
#[test]
fn crafted_scripts_reach_the_apps() {
    let seeds = app_seeds();
    let run = |name: &str| {
        let (_, bytes) = seeds
            .iter()
            .find(|(seed, _)| seed == &format!("{name}.bin"))
            .unwrap_or_else(|| panic!("no seed {name}"));
        run_app_messages(bytes)
    };

    let thermometer = run("thermometer-readings-and-faults");
    let readings = thermometer
        .published
        .iter()
        .filter(|(topic, _)| topic == "devices/fuzz/temperature/degrees")
        .count();
    assert!(readings >= 2, "{thermometer:#?}");
    assert!(
        thermometer.published(
            "devices/fuzz/temperature/error",
            b"{\"error\": \"sensor_missing\"}"
        ),
        "{thermometer:#?}"
    );

    let led = run("remote-led-peer-lights-led");
    assert_eq!(led.led_on, Some(true), "{led:#?}");
    assert!(led.published("fuzz/btn/0", b"1"), "{led:#?}");

    let sensor = run("sensor-data-request");
    assert!(
        sensor.published.iter().any(
            |(topic, payload)| topic == "fuzz/response" && payload.starts_with(b"[\"lux-1\", ")
        ),
        "{sensor:#?}"
    );

    let light = run("light-status-commands");
    assert!(
        light.published(
            "6b2f1c9e-3d7a-4e58-8c41-a9d2e07f5b13/home/living_room/light",
            b"0"
        ),
        "{light:#?}"
    );
    assert_eq!(
        light.led_on,
        Some(true),
        "' true ' turned it back on: {light:#?}"
    );

    let commands = run("node-manager-commands");
    assert!(
        commands.published("esp32/test/mqb/reply/1", b"{\"pong\": true}"),
        "{commands:#?}"
    );
    assert!(
        commands.published(
            "esp32/test/mqb/reply/6",
            b"{\"error\": \"unknown command 'bogus'\"}"
        ),
        "{commands:#?}"
    );
    assert!(
        !commands
            .published
            .iter()
            .any(|(topic, _)| topic == "esp32/test/mqb/reply/" || topic == "esp32/test/mqb/reply/7"),
        "commands without an id or verb are ignored: {commands:#?}"
    );

    let reboot = run("node-manager-reboot");
    assert!(reboot.resets >= 1, "{reboot:#?}");
    assert!(reboot.connects >= 2, "{reboot:#?}");

    let watchdog = run("node-manager-watchdog-and-safe-mode");
    assert!(watchdog.resets >= 3, "{watchdog:#?}");
    assert!(
        watchdog
            .published
            .iter()
            .any(|(topic, payload)| topic == "esp32/test/status"
                && String::from_utf8_lossy(payload).contains("\"safe_mode\": true")),
        "{watchdog:#?}"
    );

    let monitor = run("monitor-reports");
    assert!(
        monitor.published(
            "fuzz/seen",
            b"{\"topic\": \"anything/at/all\", \"payload\": \"hello\", \"qos\": 0, \"retain\": false}"
        ),
        "{monitor:#?}"
    );
    assert!(
        !monitor
            .published
            .iter()
            .any(|(_, payload)| String::from_utf8_lossy(payload).contains("\"fuzz/seen\"")),
        "the monitor ignores its own report topic: {monitor:#?}"
    );

    // Without the auto-broker nothing answers but the script.
    let quiet = run_app_messages(&AppScript::without_broker(AppKind::NodeManager, 0).into_bytes());
    assert!(quiet.published.is_empty(), "{quiet:#?}");
    assert_eq!(quiet.connects, 1, "{quiet:#?}");

    // An accepted CONNACK by hand is as good as the auto-broker's.
    let by_hand = run_app_messages(
        &AppScript::without_broker(AppKind::NodeManager, 0)
            .connack(false, 0)
            .publish(0, Flags::QOS1, 1, Payload::Known(17))
            .into_bytes(),
    );
    assert!(
        by_hand.published("esp32/test/mqb/reply/1", b"{\"pong\": true}"),
        "{by_hand:#?}"
    );
}

/// Every input is a script: empty, short and random ones run too.
#[test]
fn any_bytes_are_a_script() {
    for input in [
        &[][..],
        &[0],
        &[5, 0xff],
        &[4, 0, 6, 0xff, 0xff],
        &[4, 0, 4, 0xff, 0xff],
        &[255; 64],
    ] {
        run_one("app_messages", "a short input", fuzz_app_messages, input);
        run_one("mqtt_codec", "a short input", fuzz_mqtt_codec, input);
        run_one(
            "scenario_parser",
            "a short input",
            fuzz_scenario_parser,
            input,
        );
    }
}

/// Replays one saved input: `HILT_FUZZ_REPRODUCE=<target>:<path>`.
#[test]
fn reproduce() {
    let Ok(request) = std::env::var("HILT_FUZZ_REPRODUCE") else {
        return;
    };
    let (target, path) = request
        .split_once(':')
        .expect("HILT_FUZZ_REPRODUCE=<target>:<path>");
    let input = std::fs::read(path).unwrap_or_else(|error| panic!("{path}: {error}"));
    let function: fn(&[u8]) = match target {
        "scenario_parser" => fuzz_scenario_parser,
        "mqtt_codec" => fuzz_mqtt_codec,
        "app_messages" => fuzz_app_messages,
        other => panic!("no target {other}; use scenario_parser, mqtt_codec or app_messages"),
    };
    // Not caught: the panic and its backtrace are what you want to see.
    on_big_stack(move || function(&input));
}
