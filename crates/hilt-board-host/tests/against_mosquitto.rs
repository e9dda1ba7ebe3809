//! The board glue (hilt-board) run on the host against Mosquitto: the
//! host board is an `external: true` device of a real-time scenario, and
//! its serial log on stdout says what the glue did.
//!
//! Mosquitto runs on a free loopback port. With `CI` set (as in `.ci/run`,
//! which installs it) a missing Mosquitto fails these tests; elsewhere they
//! say they skipped and pass.

mod support;

use support::{
    HostBoard, Mosquitto, THERMOMETER_STEPS, free_port, mosquitto_binary, probe_scenario,
    run_scenario, temporary_folder,
};

#[test]
fn the_thermometer_publishes_through_the_glue_to_mosquitto() {
    let Some(binary) = mosquitto_binary() else {
        return;
    };
    let folder = temporary_folder("thermometer");
    let port = free_port();
    let mosquitto = Mosquitto::start(&binary, &folder, port);
    let mut board = HostBoard::start(
        port,
        &[
            ("HILT_APP", "thermometer"),
            ("HILT_CLIENT_ID", "probe"),
            ("HILT_UNIT", "C"),
            // A reading a second: the DS18B20 converts for 750 ms, so this
            // is about as often as the app can read.
            ("HILT_INTERVAL", "1s"),
        ],
    );
    board.serial.expect_link_up_to(&format!("127.0.0.1:{port}"));
    run_scenario(&probe_scenario(
        "the host board's thermometer, through Mosquitto",
        port,
        THERMOMETER_STEPS,
    ));
    board.serial.expect_reading_mirrored();
    drop(board);
    mosquitto.stop();
    let _ = std::fs::remove_dir_all(folder);
}

/// The board connects to hilt's listener, and hilt relays it to Mosquitto
/// through a device link: its messages are its own (`from: probe`), with
/// the QoS it sent, and hilt waits for it to connect.
#[test]
fn the_thermometer_reaches_mosquitto_through_hilts_listener() {
    let Some(binary) = mosquitto_binary() else {
        return;
    };
    let folder = temporary_folder("thermometer-relayed");
    let broker_port = free_port();
    let listen_port = free_port();
    let mosquitto = Mosquitto::start(&binary, &folder, broker_port);
    // Nothing listens at `listen_port` until the run starts: the board's
    // first attempts are refused, and its session backs off and retries,
    // as a board started before the test harness would.
    let mut board = HostBoard::start(
        listen_port,
        &[
            ("HILT_APP", "thermometer"),
            ("HILT_CLIENT_ID", "probe"),
            ("HILT_UNIT", "C"),
            ("HILT_INTERVAL", "1s"),
        ],
    );
    run_scenario(&format!(
        r#"
name: the host board's thermometer, relayed by hilt to Mosquitto
time: real
broker: {{ url: "mqtt://127.0.0.1:{broker_port}", listen: "127.0.0.1:{listen_port}" }}
devices:
  probe:
    external: true
    client_id: probe
steps:
  - wait: {{ connected: probe, within: 20s }}
  - expect: {{ topic: devices/probe/temperature/degrees, from: probe, qos: 0, json: {{ degrees: 21.5, unit: C }}, within: 5s }}
  - expect: {{ topic: devices/probe/temperature/degrees, from: probe, count: 2, within: 2500ms }}
"#
    ));
    board
        .serial
        .expect_link_up_to(&format!("127.0.0.1:{listen_port}"));
    drop(board);
    mosquitto.stop();
    let _ = std::fs::remove_dir_all(folder);
}

#[test]
fn remote_led_hears_its_peer_through_the_glue() {
    let Some(binary) = mosquitto_binary() else {
        return;
    };
    let folder = temporary_folder("remote-led");
    let port = free_port();
    let mosquitto = Mosquitto::start(&binary, &folder, port);
    let mut board = HostBoard::start(
        port,
        &[
            ("HILT_APP", "remote-led"),
            ("HILT_CLIENT_ID", "blue"),
            ("HILT_PEER", "green"),
        ],
    );
    board.serial.wait_for("saying the link is up", |line| {
        line.contains("link: connected")
    });
    run_scenario(&format!(
        r#"
name: the host board's remote LED, through Mosquitto
time: real
broker: {{ url: "mqtt://127.0.0.1:{port}" }}
devices:
  blue:
    external: true
    client_id: blue
    # The board connects to Mosquitto itself, past hilt's listener.
    connects_to: broker
steps:
  - expect: {{ topic: blue/btn/0, payload: "1", within: 3s }}
  - publish: {{ topic: green/btn/0, payload: "0" }}
  - expect: {{ topic: blue/btn/0, payload: "1", within: 2s }}
"#
    ));
    // The scenario's publish came in over the glue's read half, and the
    // mirror logged it before the app acted on it.
    let received = board
        .serial
        .wait_for("mirroring the peer's message", |line| {
            line.starts_with("[hilt] received ")
        });
    assert_eq!(
        received,
        "[hilt] received green/btn/0 qos=0 retain=0 payload=0"
    );
    drop(board);
    mosquitto.stop();
    let _ = std::fs::remove_dir_all(folder);
}

#[test]
fn the_board_reconnects_when_mosquitto_comes_back() {
    let Some(binary) = mosquitto_binary() else {
        return;
    };
    let folder = temporary_folder("reconnect");
    let port = free_port();
    let mosquitto = Mosquitto::start(&binary, &folder, port);
    let mut board = HostBoard::start(
        port,
        &[
            ("HILT_APP", "thermometer"),
            ("HILT_CLIENT_ID", "probe"),
            ("HILT_INTERVAL", "1s"),
        ],
    );
    board.serial.wait_for("saying the link is up", |line| {
        line.contains("link: connected")
    });
    board.serial.wait_for("mirroring a publish", |line| {
        line.starts_with("[hilt] publish ")
    });

    mosquitto.stop();
    let ended = board
        .serial
        .wait_for("saying the link ended", |line| line.contains("link: ended"));
    // The kernel closes a killed Mosquitto's sockets: with a FIN, or with a
    // RST when bytes from the board were still unread.
    assert!(
        [
            "[hilt] log info link: ended: closed by the broker",
            "[hilt] log info link: ended: read failed (connection reset)",
        ]
        .contains(&ended.as_str()),
        "{ended}"
    );

    let mosquitto = Mosquitto::start(&binary, &folder, port);
    board
        .serial
        .wait_for("saying the link is up again", |line| {
            line.contains("link: connected")
        });
    board.serial.wait_for("saying the session is back", |line| {
        line == "[hilt] log info thermometer: connected"
    });
    // And the broker hears the board again: a scenario sees its readings.
    run_scenario(&probe_scenario(
        "the host board's thermometer after Mosquitto came back",
        port,
        "  - expect: { topic: devices/probe/temperature/degrees, within: 3s }",
    ));
    drop(board);
    mosquitto.stop();
    let _ = std::fs::remove_dir_all(folder);
}
