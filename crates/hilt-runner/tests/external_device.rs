//! `time: real` with an external broker and a device hilt does not run:
//! the recipe for checking a real board or a Wokwi simulation, tested with
//! a stand-in board on its own thread that speaks MQTT over TCP.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use hilt_firmware::mqtt::codec::{
    self, Connect, Packet, Publish, QoS, Subscribe, SubscribeFilters,
};
use hilt_runner::broker::EmbeddedBroker;
use hilt_runner::{Registry, Verdict};

fn send(stream: &mut TcpStream, packet: &Packet<'_>) {
    let mut buffer = vec![0; codec::encoded_len(packet)];
    let length = codec::encode(packet, &mut buffer).unwrap();
    stream.write_all(&buffer[..length]).unwrap();
}

/// A board the harness does not run: it publishes a reading every 200ms and
/// answers `ping` on `bench/cmd` with `pong` on `bench/reply`.
fn stand_in_board(address: SocketAddr, stop: Arc<AtomicBool>) {
    let mut stream = TcpStream::connect(address).unwrap();
    stream.set_nodelay(true).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    send(
        &mut stream,
        &Packet::Connect(Connect {
            client_id: "esp32-bench",
            keep_alive_seconds: 60,
            clean_session: true,
            will: None,
            username: None,
            password: None,
        }),
    );
    let filters = [("bench/cmd", QoS::AtMostOnce)];
    send(
        &mut stream,
        &Packet::Subscribe(Subscribe {
            packet_id: 1,
            filters: SubscribeFilters::List(&filters),
        }),
    );
    let mut pending = Vec::new();
    let mut chunk = [0u8; 1024];
    while !stop.load(Ordering::Relaxed) {
        let publish = |stream: &mut TcpStream, topic: &str, payload: &[u8]| {
            send(
                stream,
                &Packet::Publish(Publish {
                    dup: false,
                    qos: QoS::AtMostOnce,
                    retain: false,
                    topic,
                    packet_id: None,
                    payload,
                }),
            )
        };
        match stream.read(&mut chunk) {
            Ok(0) => return,
            Ok(read) => pending.extend_from_slice(&chunk[..read]),
            // The read timeout is the board's 200ms tick.
            Err(_) => {
                publish(&mut stream, "bench/temperature", b"21.5");
                continue;
            }
        }
        while let Ok((packet, length)) = codec::decode(&pending) {
            let ping = matches!(packet, Packet::Publish(p) if p.topic == "bench/cmd" && p.payload == b"ping");
            pending.drain(..length);
            if ping {
                publish(&mut stream, "bench/reply", b"pong");
            }
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
