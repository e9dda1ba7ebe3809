//! `time: real` with an external broker and a device hilt does not run:
//! the recipe for checking a real board or a Wokwi simulation, tested with
//! a stand-in board on its own thread that speaks MQTT over TCP.

mod support;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use hilt_runner::broker::EmbeddedBroker;
use hilt_runner::{Registry, Verdict};
use support::{RawClient, Received};

/// A board the harness does not run: it publishes a reading every 200ms and
/// answers `ping` on `bench/cmd` with `pong` on `bench/reply`.
fn stand_in_board(address: SocketAddr, stop: Arc<AtomicBool>) {
    let mut board = RawClient::open(address);
    // The read timeout is the board's 200ms tick.
    board.set_read_timeout(Duration::from_millis(200));
    // Like a board's firmware, it does not wait for the CONNACK and SUBACK
    // before going on; they arrive among the other packets.
    board.connect("esp32-bench", None);
    board.send_subscribe("bench/cmd");
    while !stop.load(Ordering::Relaxed) {
        match board.try_receive() {
            None => board.publish_qos0("bench/temperature", b"21.5"),
            Some(Received::Closed) => return,
            Some(Received::Publish { topic, payload })
                if topic == "bench/cmd" && payload == b"ping" =>
            {
                board.publish_qos0("bench/reply", b"pong");
            }
            Some(_) => {}
        }
    }
}

#[test]
fn a_scenario_checks_a_device_hilt_does_not_run() {
    let broker = EmbeddedBroker::start().unwrap();
    let address = broker.address();
    let stop = Arc::new(AtomicBool::new(false));
    let board = std::thread::spawn({
        let stop = Arc::clone(&stop);
        move || stand_in_board(address, stop)
    });
    let text = format!(
        r#"
name: a board on the bench, through a broker hilt does not own
time: real
broker: {{ url: "mqtt://127.0.0.1:{port}" }}
devices:
  bench:
    external: true
    client_id: esp32-bench
steps:
  - expect: {{ topic: bench/temperature, payload: "21.5", within: 2s }}
  - publish: {{ topic: bench/cmd, payload: ping }}
  - expect: {{ topic: bench/reply, payload: pong, within: 2s }}
  - expect: {{ topic: bench/temperature, within: 1s }}
"#,
        port = address.port()
    );
    let registry = Registry::with_bundled_apps();
    let scenario = hilt_scenario::parse(std::path::Path::new("bench.yaml"), &text, &registry)
        .unwrap_or_else(|diagnostics| panic!("{diagnostics}"));
    let outcome = hilt_runner::run_scenario(&scenario, &registry);
    stop.store(true, Ordering::Relaxed);
    board.join().unwrap();
    assert!(
        matches!(outcome.verdict, Verdict::Passed),
        "{}\n{}",
        outcome.report(),
        outcome.transcript.render()
    );
    let sources: Vec<&str> = outcome
        .messages
        .iter()
        .map(|message| message.source.as_str())
        .collect();
    assert!(
        sources.contains(&"external"),
        "the board's messages are logged as external: {sources:?}"
    );
    assert!(
        outcome
            .messages
            .iter()
            .any(|m| m.topic == "bench/reply" && m.payload == b"pong")
    );
    drop(broker);
}

#[test]
fn a_missing_answer_from_an_external_device_fails_in_wall_time() {
    let broker = EmbeddedBroker::start().unwrap();
    let text = format!(
        r#"
name: nobody answers
time: real
broker: {{ url: "mqtt://127.0.0.1:{port}" }}
devices:
  bench: {{ external: true }}
steps:
  - publish: {{ topic: bench/cmd, payload: ping }}
  - expect: {{ topic: bench/reply, within: 300ms }}
"#,
        port = broker.address().port()
    );
    let registry = Registry::with_bundled_apps();
    let scenario =
        hilt_scenario::parse(std::path::Path::new("silent.yaml"), &text, &registry).unwrap();
    let started = std::time::Instant::now();
    let outcome = hilt_runner::run_scenario(&scenario, &registry);
    let Verdict::Failed(failure) = &outcome.verdict else {
        panic!("expected a failure: {}", outcome.report());
    };
    assert_eq!(failure.line, 9);
    // Real time: the 300ms were waited, not skipped.
    assert!(started.elapsed() >= Duration::from_millis(300));
}

#[test]
fn simulated_devices_run_in_wall_time_under_time_real() {
    let text = r#"
name: a soak run in wall time
time: real
devices:
  probe:
    app: thermometer
    config: { unit: C, interval: 1s }
    parts:
      ds18b20: { temperature: 19 }
steps:
  - expect: { topic: devices/probe/temperature/degrees, json: { degrees: 19.0 } }
  - expect: { topic: devices/probe/temperature/degrees, count: 2, within: 2s }
"#;
    let registry = Registry::with_bundled_apps();
    let scenario =
        hilt_scenario::parse(std::path::Path::new("soak.yaml"), text, &registry).unwrap();
    let started = std::time::Instant::now();
    let outcome = hilt_runner::run_scenario(&scenario, &registry);
    assert!(
        matches!(outcome.verdict, Verdict::Passed),
        "{}\n{}",
        outcome.report(),
        outcome.transcript.render()
    );
    // The second step waited its two seconds of wall time instead of skipping them.
    assert!(started.elapsed() >= Duration::from_secs(2));
}
