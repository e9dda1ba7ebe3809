//! Drafts written from made-up recordings, parsed back with the validator.

use std::path::Path;
use std::time::Duration;

use super::*;
use crate::{
    Catalog, ConfigMap, ConfigProblem, DeviceKind, Expectation, MessageExpectation,
    PartDescription, PayloadMatch, Scenario, StepKind, TimeMode,
};

/// Knows no apps: a draft has external devices only.
struct NoApps;

impl Catalog for NoApps {
    fn app_names(&self) -> Vec<String> {
        Vec::new()
    }
    fn parts(&self, _app: &str) -> Option<Vec<PartDescription>> {
        None
    }
    fn check_config(&self, _app: &str, _config: &ConfigMap) -> Vec<ConfigProblem> {
        Vec::new()
    }
}

fn observe(
    draft: &mut Draft,
    at_ms: u64,
    topic: &str,
    payload: &str,
    qos: u8,
    retain: bool,
) -> String {
    draft
        .observe(Observed {
            at: Duration::from_millis(at_ms),
            topic,
            payload: payload.as_bytes(),
            qos,
            retain,
        })
        .to_string()
}

fn write(draft: &Draft) -> String {
    let filters = ["#".to_string()];
    draft
        .write(&RecordingFacts {
            broker_url: "mqtt://127.0.0.1:1883",
            filters: &filters,
            started: "2026-12-02T15:59:03Z",
            length: Duration::from_millis(2_500),
        })
        .expect("something was seen")
}

fn parse(text: &str) -> Scenario {
    match crate::parse(Path::new("draft.yaml"), text, &NoApps) {
        Ok(scenario) => scenario,
        Err(diagnostics) => panic!("the draft is invalid:\n{diagnostics}\n{text}"),
    }
}

fn expectations(scenario: &Scenario) -> Vec<&MessageExpectation> {
    scenario
        .steps
        .iter()
        .map(|step| match &step.kind {
            StepKind::Expect(Expectation::Message(expectation)) => expectation,
            other => panic!("a draft has message expectations only, not {other:?}"),
        })
        .collect()
}

/// A thermometer publishing every 100ms, a numbered fleet of rooms, and a
/// node-manager-like board with a retained status and numbered replies.
fn board_recording() -> Draft {
    let mut draft = Draft::default();
    assert_eq!(
        observe(&mut draft, 0, "esp32/test/status", "online", 1, true),
        "esp32"
    );
    for (index, at) in [50, 150, 260, 350].into_iter().enumerate() {
        let payload = format!(r#"{{"degrees": {}.5, "unit": "C"}}"#, 20 + index);
        let device = observe(
            &mut draft,
            at,
            "devices/probe/temperature/degrees",
            &payload,
            0,
            false,
        );
        assert_eq!(device, "devices");
    }
    observe(
        &mut draft,
        400,
        "devices/room-01/temperature/degrees",
        r#"{"degrees": 1, "unit": "C"}"#,
        0,
        false,
    );
    observe(
        &mut draft,
        1400,
        "devices/room-02/temperature/degrees",
        r#"{"degrees": 2, "unit": "C"}"#,
        0,
        false,
    );
    observe(&mut draft, 500, "esp32/test/mqb/reply/1", "pong", 1, false);
    observe(&mut draft, 900, "esp32/test/mqb/reply/2", "pong", 1, false);
    observe(
        &mut draft,
        950,
        "esp32/test/log",
        "it's \"warm\"\n",
        0,
        false,
    );
    draft
}

#[test]
fn a_recording_drafts_a_valid_scenario() {
    let draft = board_recording();
    assert_eq!(draft.messages(), 10);
    let text = write(&draft);
    let scenario = parse(&text);
    assert_eq!(scenario.time, TimeMode::Real);
    assert!(matches!(
        &scenario.broker,
        crate::BrokerChoice::External { port: 1883, .. }
    ));
    let devices: Vec<(&str, &str)> = scenario
        .devices
        .iter()
        .map(|device| {
            // Recorded on the broker, so it replays there, past hilt.
            assert!(matches!(
                device.kind,
                DeviceKind::External {
                    through_hilt: false,
                    ..
                }
            ));
            (device.name.as_str(), device.client_id.as_str())
        })
        .collect();
    assert_eq!(
        devices,
        [("esp32", "TODO-esp32"), ("devices", "TODO-devices")]
    );

    let expectations = expectations(&scenario);
    let summary: Vec<(&str, Duration, bool)> = expectations
        .iter()
        .map(|expectation| {
            (
                expectation.filter.as_str(),
                expectation.within,
                expectation.since_start,
            )
        })
        .collect();
    let ms = Duration::from_millis;
    assert_eq!(
        summary,
        [
            // Seen once, at 0: looked for since the start, for at least 1s.
            ("esp32/test/status", ms(1000), true),
            // At most 110ms apart: 165ms, rounded up to 200ms.
            ("devices/probe/temperature/degrees", ms(200), false),
            // The two rooms are one pattern; 1s apart.
            ("devices/+/temperature/degrees", ms(1500), false),
            ("esp32/test/mqb/reply/+", ms(750), false),
            ("esp32/test/log", ms(1500), true),
        ]
    );
    let status = expectations[0];
    assert!(matches!(&status.body, Some(PayloadMatch::Exact(text)) if text == "online"));
    assert_eq!((status.retain, status.qos), (Some(true), None));
    let readings = expectations[1];
    assert_eq!((readings.retain, readings.qos), (None, Some(0)));
    let Some(PayloadMatch::Regex(regex)) = &readings.body else {
        panic!("JSON readings are matched by shape: {:?}", readings.body);
    };
    assert!(regex.is_match(r#"{"degrees": 72.5, "unit": "C"}"#));
    assert!(!regex.is_match(r#"{"degrees": 72.5, "unit": "F"}"#));
    assert!(!regex.is_match(r#"{"unit": "C"}"#));
    let log = expectations[4];
    assert!(matches!(&log.body, Some(PayloadMatch::Exact(text)) if text == "it's \"warm\"\n"));
    // The comments say what to edit and what was seen.
    assert!(
        text.contains("MQTT 3.1.1 does not tell\n#   a subscriber which client published"),
        "{text}"
    );
    assert!(text.contains("# `+` stood for room-01, room-02;"), "{text}");
    assert!(
        text.contains(r#"# Payload: JSON {"degrees": number (20.5 to 23.5), "unit": "C"}."#),
        "{text}"
    );
    assert!(
        text.contains("# Delivered with QoS 1 to a QoS 1 subscription"),
        "{text}"
    );
    assert!(
        text.contains("  # Came retained: the broker held it when the recording subscribed."),
        "{text}"
    );
}

#[test]
fn the_draft_reads_well() {
    let mut draft = Draft::default();
    for at in [0, 1000, 2000] {
        observe(&mut draft, at, "lab/temp", "21.5", 0, false);
    }
    let text = write(&draft);
    parse(&text);
    let expected = r#"# A draft scenario written by `hilt record` from mqtt://127.0.0.1:1883 on `#`,
# 3 messages on 1 topic seen in 2.5s from 2026-12-02T15:59:03Z.
#
# Before running it:
# - Give each device its board's MQTT client id. MQTT 3.1.1 does not tell
#   a subscriber which client published a message, so the devices below
#   are guessed from the first level of their topics, and their
#   client_id values are placeholders. Boards sharing a first level are
#   one device here: split it, one device per board.
# - Each expectation waits for the next message of one pattern, in the
#   order they were first seen. `within:` is 1.5 times the longest gap
#   seen between its messages, rounded up; the first waits from the start
#   of the run, so give it longer if the board needs time to connect.
# - `matches:` checks a JSON payload's keys (in the order seen) and the
#   types of their values, and text values that never changed; the
#   comment above it says what was seen. Use `json:` to check values.
name: "recorded from mqtt://127.0.0.1:1883"
about: "drafted by hilt record from mqtt://127.0.0.1:1883, 3 messages seen from 2026-12-02T15:59:03Z"
time: real          # external devices run in wall-clock time
broker: { url: "mqtt://127.0.0.1:1883" }

devices:
  # Topics under lab: 1 topic (3 messages).
  lab:
    external: true
    client_id: TODO-lab   # a placeholder: the board's own MQTT client id
    connects_to: broker   # the board connects to the broker itself; remove to connect it to hilt

steps:
  # lab/temp from lab: 3 messages, at most 1s apart.
  # Payload: a number, always 21.5.
  - name: "lab publishes lab/temp"
    expect:
      topic: "lab/temp"
      matches: '^\s*-?[0-9][0-9.eE+-]*\s*$'
      qos: 0
      within: 1.5s
"#;
    assert_eq!(text, expected);
}

#[test]
fn durations_read_as_written() {
    let ms = Duration::from_millis;
    assert_eq!(readable(ms(150)), "150ms");
    assert_eq!(readable(ms(1000)), "1s");
    assert_eq!(readable(ms(1500)), "1.5s");
    assert_eq!(readable(ms(2250)), "2.25s");
    assert_eq!(readable(Duration::from_micros(2_250_700)), "2.25s");
    assert_eq!(readable(ms(90_000)), "1m30s");
    assert_eq!(readable(Duration::from_secs(7200)), "2h");
    assert_eq!(gap_text(Duration::from_micros(100_400)), "100.4ms");
    assert_eq!(gap_text(ms(100)), "100ms");
    assert_eq!(gap_text(ms(1500)), "1.5s");
    for text in ["150ms", "1.5s", "2.25s", "1m30s", "2h"] {
        let parsed = crate::duration::parse_duration(text).expect("the language reads it");
        assert_eq!(readable(parsed), text);
    }
}

#[test]
fn awkward_topics_and_payloads_stay_valid() {
    let mut draft = Draft::default();
    observe(
        &mut draft,
        0,
        "weird: topic/x y/status",
        "a\u{7f}b\u{1}c",
        2,
        false,
    );
    observe(&mut draft, 5, "-dash/x", "'quoted' \\ text", 0, true);
    observe(&mut draft, 6, "ünï/x", "", 0, false);
    observe(
        &mut draft,
        7,
        "line\nbreak/x",
        r#"{"k'ey": "v'al", "n": [1, {"deep": null}]}"#,
        0,
        false,
    );
    observe(
        &mut draft,
        9,
        "line\nbreak/x",
        r#"{"k'ey": "other", "n": [2, {"deep": null}]}"#,
        0,
        false,
    );
    let text = write(&draft);
    let scenario = parse(&text);
    let names: Vec<&str> = scenario
        .devices
        .iter()
        .map(|device| device.name.as_str())
        .collect();
    assert_eq!(names, ["weird__topic", "device-dash", "_n_", "line_break"]);
    let expectations = expectations(&scenario);
    assert!(
        matches!(&expectations[0].body, Some(PayloadMatch::Exact(text)) if text == "a\u{7f}b\u{1}c")
    );
    assert_eq!(expectations[0].filter, "weird: topic/x y/status");
    assert!(matches!(&expectations[2].body, Some(PayloadMatch::Exact(text)) if text.is_empty()));
    let Some(PayloadMatch::Regex(regex)) = &expectations[3].body else {
        panic!("matched by shape");
    };
    assert!(regex.is_match(r#"{"k'ey": "third", "n": [3, {"deep": null}]}"#));
}

#[test]
fn nothing_seen_writes_nothing() {
    let filters = ["#".to_string()];
    let facts = RecordingFacts {
        broker_url: "mqtt://127.0.0.1:1883",
        filters: &filters,
        started: "now",
        length: Duration::ZERO,
    };
    assert!(Draft::default().write(&facts).is_none());
}
