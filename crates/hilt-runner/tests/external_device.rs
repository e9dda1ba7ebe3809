//! External devices: devices hilt does not run (a real board, Wokwi,
//! another program) connect to hilt's listener, and hilt relays each
//! connection to the broker through a device link, as a simulated device's.
//! The devices here are stand-ins on threads of their own: the ecosystem's
//! client (rumqttc) and a bare client writing MQTT bytes over TCP. Each is
//! told where hilt listens through the run's `ListeningHook`, as the command
//! line prints it, and connects there; nothing waits on wall time except
//! the scenario itself.

mod support;

use std::cell::Cell;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::Duration;

use hilt_runner::broker::EmbeddedBroker;
use hilt_runner::{ListeningHook, Recording, Registry, RunOutcome, Verdict};
use support::{RawClient, Received};

/// Runs the scenario `text` while `device` runs on a thread of its own,
/// given the address hilt listens on once it listens. Returns the outcome
/// and that address. The device thread must end when hilt closes its
/// connection, which it does when the run ends.
fn run_with_device(
    text: &str,
    device: impl FnOnce(SocketAddr) + Send + 'static,
) -> (RunOutcome, Option<SocketAddr>) {
    let registry = Registry::with_bundled_apps();
    let scenario = hilt_scenario::parse(std::path::Path::new("bench.yaml"), text, &registry)
        .unwrap_or_else(|diagnostics| panic!("{diagnostics}"));
    let (address_sender, address_receiver) = std::sync::mpsc::channel();
    let device = std::thread::spawn(move || {
        if let Ok(address) = address_receiver.recv() {
            device(address);
        }
    });
    let listening = Rc::new(Cell::new(None));
    let mut recording = Recording::in_memory();
    recording.listening = Some(ListeningHook::new({
        let listening = Rc::clone(&listening);
        move |address| {
            listening.set(Some(address));
            let _ = address_sender.send(address);
        }
    }));
    let outcome = hilt_runner::run_scenario_with(&scenario, &registry, recording);
    device
        .join()
        .expect("the device thread ends when hilt closes its connection");
    (outcome, listening.get())
}

fn assert_passed(outcome: &RunOutcome) {
    assert!(
        matches!(outcome.verdict, Verdict::Passed),
        "{}\n{}",
        outcome.report(),
        outcome.transcript.render()
    );
}

/// A device on rumqttc's blocking client, as a host-side program would be:
/// keepalive 0 (as MicroPython's umqtt connects by default), it subscribes
/// to `bench/cmd`, publishes `up` on `bench/ready` at QoS 1, retained, once
/// subscribed, and answers `ping` with `pong` on `bench/reply`.
fn rumqttc_device(address: SocketAddr, client_id: &str) {
    let mut options =
        rumqttc::MqttOptions::new(client_id, address.ip().to_string(), address.port());
    options.set_keep_alive(Duration::ZERO);
    let (client, mut connection) = rumqttc::Client::new(options, 10);
    client
        .subscribe("bench/cmd", rumqttc::QoS::AtMostOnce)
        .unwrap();
    for event in connection.iter() {
        let Ok(event) = event else {
            // hilt closed the connection: the run is over.
            return;
        };
        match event {
            rumqttc::Event::Incoming(rumqttc::Packet::SubAck(_)) => client
                .try_publish("bench/ready", rumqttc::QoS::AtLeastOnce, true, "up")
                .unwrap(),
            rumqttc::Event::Incoming(rumqttc::Packet::Publish(publish))
                if publish.topic == "bench/cmd" && publish.payload.as_ref() == b"ping" =>
            {
                client
                    .try_publish("bench/reply", rumqttc::QoS::AtMostOnce, false, "pong")
                    .unwrap()
            }
            _ => {}
        }
    }
}

/// The scenario rumqttc_device is checked with, on `broker`.
fn attribution_scenario(broker: &str) -> String {
    format!(
        r#"
name: a device on the bench, relayed by hilt
time: real
broker: {broker}
devices:
  bench:
    external: true
    client_id: esp32-bench
steps:
  - wait: {{ connected: bench, within: 10s }}
  - expect: {{ topic: bench/ready, from: bench, payload: up, qos: 1, retain: true, since: start, within: 5s }}
  - publish: {{ topic: bench/cmd, payload: ping }}
  - expect: {{ topic: bench/reply, from: bench, payload: pong, qos: 0, retain: false, within: 5s }}
"#
    )
}

/// What attribution_scenario's run must show: the device's messages under
/// its name with the QoS and retain flag it sent, each logged once (by the
/// link, not again through the harness's `#` subscription).
fn assert_attributed(outcome: &RunOutcome) {
    assert_passed(outcome);
    let ready: Vec<_> = outcome
        .messages
        .iter()
        .filter(|message| message.topic == "bench/ready")
        .collect();
    assert_eq!(ready.len(), 1, "logged once: {ready:?}");
    assert_eq!(ready[0].source, "bench");
    assert_eq!((ready[0].qos, ready[0].retain), (1, true));
    assert!(
        outcome
            .messages
            .iter()
            .all(|message| message.source != "external"),
        "nothing of the relayed device is logged as external: {:?}",
        outcome.messages
    );
    let transcript = outcome.transcript.render();
    assert!(
        transcript.contains("bench CONNECT client id esp32-bench, keepalive 0s"),
        "{transcript}"
    );
    assert!(
        transcript.contains("external devices: connect to mqtt://127.0.0.1:"),
        "{transcript}"
    );
}

#[test]
fn a_relayed_device_is_attributed_with_the_qos_and_retain_it_sent() {
    let (outcome, address) = run_with_device(&attribution_scenario("embedded"), |address| {
        rumqttc_device(address, "esp32-bench")
    });
    assert_attributed(&outcome);
    let address = address.expect("hilt listened");
    assert!(
        address.ip().is_loopback() && address.port() != 0,
        "{address}"
    );
}

#[test]
fn a_device_is_relayed_over_tcp_to_a_broker_hilt_does_not_own() {
    let broker = EmbeddedBroker::start().unwrap();
    let url = format!("{{ url: \"mqtt://{}\" }}", broker.address());
    let (outcome, _) = run_with_device(&attribution_scenario(&url), |address| {
        rumqttc_device(address, "esp32-bench")
    });
    assert_attributed(&outcome);
    drop(broker);
}

/// Mosquitto, as CI installs it, on a free loopback port; `None` where it
/// is not installed (CI fails then instead).
fn start_mosquitto() -> Option<(std::process::Child, tempfile::TempDir, u16)> {
    let program = ["/usr/sbin/mosquitto", "/usr/bin/mosquitto"]
        .into_iter()
        .find(|path| std::path::Path::new(path).exists());
    let Some(program) = program else {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI installs Mosquitto (.ci/run), but it is not here"
        );
        return None;
    };
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("mosquitto.conf");
    std::fs::write(
        &config,
        format!(
            "listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n\
             log_dest stderr\nlog_type information\n"
        ),
    )
    .unwrap();
    let mut child = std::process::Command::new(program)
        .arg("-c")
        .arg(&config)
        .stdout(std::process::Stdio::null())
        // Unbuffered, so the line saying it runs comes when it runs.
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Mosquitto says when it runs, after its listener is open.
    let log = child.stderr.take().unwrap();
    let mut lines = std::io::BufRead::lines(std::io::BufReader::new(log));
    let running = lines.any(|line| line.is_ok_and(|line| line.contains("running")));
    assert!(running, "mosquitto did not start");
    // Keep draining its log so that it never blocks on a full pipe.
    std::thread::spawn(move || lines.for_each(drop));
    Some((child, dir, port))
}

#[test]
fn a_device_is_relayed_to_mosquitto() {
    let Some((mut mosquitto, _dir, port)) = start_mosquitto() else {
        eprintln!("Mosquitto is not installed here; not run");
        return;
    };
    let url = format!("{{ url: \"mqtt://127.0.0.1:{port}\" }}");
    let (outcome, _) = run_with_device(&attribution_scenario(&url), |address| {
        rumqttc_device(address, "esp32-bench")
    });
    mosquitto.kill().unwrap();
    mosquitto.wait().unwrap();
    assert_attributed(&outcome);
}

#[test]
fn a_cut_link_makes_the_broker_publish_the_relayed_devices_will() {
    let text = r#"
name: the bench board's WiFi goes
time: real
devices:
  bench: { external: true }
steps:
  - wait: { connected: bench, within: 10s }
  - network: { device: bench, link: down }
  - expect: { topic: bench/status, payload: lost, qos: 1, within: 5s }
"#;
    let (outcome, _) = run_with_device(text, |address| {
        let mut options =
            rumqttc::MqttOptions::new("bench", address.ip().to_string(), address.port());
        // hilt drops the connection 1.5 × this after the last packet.
        options.set_keep_alive(Duration::from_secs(1));
        options.set_last_will(rumqttc::LastWill::new(
            "bench/status",
            "lost",
            rumqttc::QoS::AtLeastOnce,
            false,
        ));
        let (_client, mut connection) = rumqttc::Client::new(options, 10);
        for event in connection.iter() {
            if event.is_err() {
                return;
            }
        }
    });
    assert_passed(&outcome);
    let will = outcome
        .messages
        .iter()
        .find(|message| message.topic == "bench/status")
        .unwrap();
    assert_eq!(will.source, "broker (will of bench)");
    let transcript = outcome.transcript.render();
    assert!(
        transcript.contains("bench's connection times out at the broker (1.5 × keepalive)")
            || transcript.contains("bench's old connection times out at the broker"),
        "{transcript}"
    );
}

#[test]
fn hilt_enforces_a_silent_devices_keepalive_and_closes_its_connection() {
    let text = r#"
name: the bench board stalls with its link up
time: real
devices:
  bench: { external: true }
steps:
  - wait: { connected: bench, within: 10s }
  - expect: { topic: bench/status, payload: stalled, retain: true, within: 5s }
"#;
    let (closed_sender, closed) = std::sync::mpsc::channel();
    let (outcome, _) = run_with_device(text, move |address| {
        let mut board = RawClient::open(address);
        board.send(&hilt_firmware::mqtt::codec::Packet::Connect(
            hilt_firmware::mqtt::codec::Connect {
                client_id: "bench",
                keep_alive_seconds: 1,
                clean_session: true,
                will: Some(hilt_firmware::mqtt::codec::LastWill {
                    topic: "bench/status",
                    payload: b"stalled",
                    qos: hilt_firmware::mqtt::codec::QoS::AtMostOnce,
                    retain: true,
                }),
                username: None,
                password: None,
            },
        ));
        board.expect_connack();
        // Silent from here on, with its link up: hilt closes the connection
        // 1.5s after the CONNECT, as a broker would.
        let _ = closed_sender.send(board.receive());
    });
    assert_passed(&outcome);
    assert_eq!(closed.recv().unwrap(), Received::Closed);
    let will = outcome
        .messages
        .iter()
        .find(|message| message.topic == "bench/status")
        .unwrap();
    assert_eq!(
        (will.source.as_str(), will.retain),
        ("broker (will of bench)", true)
    );
    let transcript = outcome.transcript.render();
    assert!(
        transcript.contains("bench CONNECT client id bench, keepalive 1s")
            && transcript.contains("bench's connection times out at the broker (1.5 × keepalive)")
            && transcript.contains("hilt closes bench's connection to hilt"),
        "{transcript}"
    );
}

#[test]
fn a_second_connection_takes_over_and_a_clean_disconnect_closes_the_relay() {
    let text = r#"
name: the bench board reconnects while its old connection lingers
time: real
devices:
  bench: { external: true }
steps:
  - expect: { topic: bench/status, payload: replaced, since: start, within: 10s }
  - expect: { topic: bench/bye, from: bench, within: 10s }
  - expect: { topic: bench/status, count: 0, within: 1s }
"#;
    let (ends_sender, ends) = std::sync::mpsc::channel();
    let (outcome, _) = run_with_device(text, move |address| {
        let mut first = RawClient::open(address);
        first.send(&hilt_firmware::mqtt::codec::Packet::Connect(
            hilt_firmware::mqtt::codec::Connect {
                client_id: "bench",
                keep_alive_seconds: 60,
                clean_session: true,
                will: Some(hilt_firmware::mqtt::codec::LastWill {
                    topic: "bench/status",
                    payload: b"replaced",
                    qos: hilt_firmware::mqtt::codec::QoS::AtMostOnce,
                    retain: false,
                }),
                username: None,
                password: None,
            },
        ));
        first.expect_connack();
        let mut second = RawClient::open(address);
        second.connect("bench", None);
        second.expect_connack();
        let first_end = first.receive();
        second.publish_qos0("bench/bye", b"bye");
        // RawClient::disconnect reads until hilt closes the connection,
        // which it does once the broker has closed its side.
        second.disconnect();
        let _ = ends_sender.send(first_end);
    });
    assert_passed(&outcome);
    assert_eq!(ends.recv().unwrap(), Received::Closed);
    let transcript = outcome.transcript.render();
    assert!(
        transcript.contains("bench closes its connection without DISCONNECT")
            && transcript.contains("bench DISCONNECT")
            && transcript.contains("bench's connection ends after its DISCONNECT"),
        "{transcript}"
    );
}

#[test]
fn a_device_that_never_connects_is_an_error_naming_it_and_the_address() {
    let text = r#"
name: nobody plugged the board in
time: real
devices:
  bench: { external: true, client_id: esp32-bench, connect_within: 300ms }
steps:
  - wait: 5s
"#;
    let started = std::time::Instant::now();
    let (outcome, address) = run_with_device(text, |_| {});
    let Verdict::Error(error) = &outcome.verdict else {
        panic!("expected an error: {}", outcome.report());
    };
    let address = address.unwrap();
    assert_eq!(
        error.to_string(),
        format!(
            "external device 'bench' (client id 'esp32-bench') did not connect within 300ms of \
             the start of the run; it should connect to mqtt://{address}"
        )
    );
    // It gave up at the deadline, not at the end of the 5s wait.
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[test]
fn a_device_missing_at_the_end_of_a_passing_run_is_an_error() {
    let text = r#"
name: the steps never needed the board
time: real
devices:
  bench: { external: true }
steps:
  - wait: 100ms
"#;
    let (outcome, _) = run_with_device(text, |_| {});
    let Verdict::Error(error) = &outcome.verdict else {
        panic!("expected an error: {}", outcome.report());
    };
    assert!(
        error.to_string().starts_with(
            "external device 'bench' (client id 'bench') did not connect during the run"
        ),
        "{error}"
    );
}

#[test]
fn an_unknown_client_id_is_refused_and_ends_the_run() {
    let text = r#"
name: the board was flashed with another client id
time: real
devices:
  bench: { external: true, client_id: esp32-bench }
steps:
  - wait: { connected: bench, within: 10s }
"#;
    let (refusal_sender, refusal) = std::sync::mpsc::channel();
    let (outcome, _) = run_with_device(text, move |address| {
        let mut board = RawClient::open(address);
        board.connect("esp32-typo", None);
        let _ = refusal_sender.send((board.receive(), board.receive()));
    });
    assert_eq!(
        refusal.recv().unwrap(),
        (Received::ConnAck { return_code: 2 }, Received::Closed)
    );
    let Verdict::Error(error) = &outcome.verdict else {
        panic!("expected an error: {}", outcome.report());
    };
    let error = error.to_string();
    assert!(error.contains("client id 'esp32-typo'"), "{error}");
    assert!(error.contains("bench is 'esp32-bench'"), "{error}");
    assert!(
        outcome
            .transcript
            .render()
            .contains("with client id 'esp32-typo', which no external device has: refused"),
        "{}",
        outcome.transcript.render()
    );
}

#[test]
fn waiting_for_a_device_to_connect_fails_at_its_line_when_it_does_not() {
    let text = r#"
name: the board is slow to boot
time: real
devices:
  bench: { external: true, connect_within: 1m }
steps:
  - wait: { connected: bench, within: 200ms }
"#;
    let (outcome, address) = run_with_device(text, |_| {});
    let Verdict::Failed(failure) = &outcome.verdict else {
        panic!("expected a failure: {}", outcome.report());
    };
    assert_eq!(failure.line, 7);
    assert_eq!(
        failure.expected,
        format!(
            "bench to connect to hilt at mqtt://{} within 200ms",
            address.unwrap()
        )
    );
}

/// A board the harness does not run, writing MQTT bytes itself: it
/// publishes a reading every 200ms and answers `ping` on `bench/cmd` with
/// `pong` on `bench/reply`.
fn stand_in_board(address: SocketAddr) {
    let mut board = RawClient::open(address);
    // The read timeout is the board's 200ms tick.
    board.set_read_timeout(Duration::from_millis(200));
    // Like a board's firmware, it does not wait for the CONNACK and SUBACK
    // before going on; they arrive among the other packets.
    board.connect("esp32-bench", None);
    board.send_subscribe("bench/cmd");
    loop {
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
fn a_scenario_checks_a_board_that_writes_its_own_bytes() {
    let text = r#"
name: a board on the bench
time: real
devices:
  bench:
    external: true
    client_id: esp32-bench
steps:
  - wait: { connected: bench, within: 10s }
  - expect: { topic: bench/temperature, from: bench, payload: "21.5", within: 2s }
  - publish: { topic: bench/cmd, payload: ping }
  - expect: { topic: bench/reply, from: bench, payload: pong, within: 2s }
  - expect: { topic: bench/temperature, within: 1s }
"#;
    let (outcome, _) = run_with_device(text, stand_in_board);
    assert_passed(&outcome);
    assert!(
        outcome
            .messages
            .iter()
            .any(|m| m.topic == "bench/reply" && m.payload == b"pong" && m.source == "bench")
    );
}

#[test]
fn a_device_may_connect_to_the_broker_itself_past_hilt() {
    let broker = EmbeddedBroker::start().unwrap();
    let address = broker.address();
    let board = std::thread::spawn(move || {
        // It reaches the broker directly, as a Wokwi simulation reaches a
        // public one, and stops when the broker goes away.
        let mut board = RawClient::open(address);
        board.connect("esp32-bench", None);
        board.expect_connack();
        // A reading every 200ms, the read timeout.
        board.set_read_timeout(Duration::from_millis(200));
        loop {
            board.publish_qos0("bench/temperature", b"21.5");
            if board.try_receive() == Some(Received::Closed) {
                return;
            }
        }
    });
    let text = format!(
        r#"
name: a board on the bench that connects to the broker itself
time: real
broker: {{ url: "mqtt://{address}" }}
devices:
  bench:
    external: true
    client_id: esp32-bench
    connects_to: broker
steps:
  - expect: {{ topic: bench/temperature, payload: "21.5", within: 5s }}
"#
    );
    let (outcome, listening) = run_with_device(&text, |_| {});
    drop(broker);
    board.join().unwrap();
    assert_passed(&outcome);
    assert_eq!(
        listening, None,
        "no device connects to hilt, so it does not listen"
    );
    // hilt saw it only through its own subscription.
    let reading = outcome
        .messages
        .iter()
        .find(|message| message.topic == "bench/temperature")
        .unwrap();
    assert_eq!(reading.source, "external");
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
