//! The host board on embassy-net and a TAP device (`HILT_NETWORK=tap`):
//! the image's IP stack (embassy-net, smoltcp) and hilt-board's adapter to
//! it, the code the ESP32-C3 runs below the glue, against Mosquitto, with
//! the board an `external: true` device of a real-time scenario.
//!
//! Each test re-runs itself in a new user and network namespace
//! (`unshare -rn`, which needs no privileges), where it creates `tap0` with
//! the host's address 192.168.69.1/24 and starts Mosquitto on that address
//! and on loopback; the board is 192.168.69.2. The DNS tests add a small
//! DNS server on the host's address, which embassy-net's DNS socket asks.
//! The namespace is fresh, so the fixed ports are free, and it goes away
//! with the test.
//!
//! With `CI` set (as in `.ci/run`, which installs Mosquitto and iproute2) a
//! missing Mosquitto, `unshare` or TAP device fails these tests; elsewhere
//! they say they skipped and pass.

mod support;

use std::net::{Ipv4Addr, UdpSocket};
use std::path::Path;
use std::process::{Command, Output};
use std::sync::mpsc::{self, Receiver};
use std::time::Duration;

use simple_dns::rdata::{A, RData};
use simple_dns::{CLASS, Packet, PacketFlag, RCODE, ResourceRecord};

use support::{
    HostBoard, Mosquitto, THERMOMETER_STEPS, mosquitto_binary, probe_scenario, run_scenario,
    temporary_folder,
};

/// Set in the copy of a test that runs inside the namespace.
const INSIDE: &str = "HILT_TAP_TEST_INSIDE";
/// Mosquitto's port, on the TAP device's host address and on loopback.
const PORT: u16 = 1883;
/// The host's end of the TAP device; the board is 192.168.69.2/24, the host
/// board's default.
const HOST_ADDRESS: &str = "192.168.69.1";

/// Skips (returning false, after saying why) or, with `CI` set, fails.
fn unavailable(reason: &str) -> bool {
    assert!(
        std::env::var_os("CI").is_none(),
        "{reason}, and CI is set: .ci/run installs what the TAP tests need"
    );
    eprintln!("note: {reason}; the TAP tests are skipped (they run in CI)");
    false
}

fn describe(output: &Output) -> String {
    format!(
        "{}\nstdout:\n{}\nstderr:\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// Whether a user and network namespace with a TAP device can be made here.
fn namespaces_work() -> bool {
    match Command::new("unshare")
        .args(["-rn", "ip", "tuntap", "add", "dev", "tap0", "mode", "tap"])
        .output()
    {
        Ok(output) if output.status.success() => true,
        Ok(output) => unavailable(&format!(
            "no TAP device in a user and network namespace (`unshare -rn ip tuntap add`): {}",
            describe(&output)
        )),
        Err(error) => unavailable(&format!("`unshare` cannot be run: {error}")),
    }
}

/// Runs `body` in a new user and network namespace: outside one, re-runs
/// this test there (`unshare -rn`) and checks that it passed; inside,
/// runs it.
fn in_namespace(test: &str, body: impl FnOnce(&Path)) {
    let Some(mosquitto) = mosquitto_binary() else {
        return;
    };
    if std::env::var_os(INSIDE).is_some() {
        body(&mosquitto);
        return;
    }
    if !namespaces_work() {
        return;
    }
    let output = Command::new("unshare")
        .arg("-rn")
        .arg(std::env::current_exe().expect("the test binary's path"))
        .args(["--exact", test, "--nocapture", "--test-threads=1"])
        .env(INSIDE, "1")
        .output()
        .expect("unshare runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    // The copy ran exactly this test, and it passed.
    assert!(
        output.status.success() && stdout.contains(&format!("test {test} ... ok")),
        "the test failed in its namespace: {}",
        describe(&output)
    );
}

/// Inside the namespace: `tap0` with the host's address, and loopback, up.
fn set_up_tap() {
    for arguments in [
        &["tuntap", "add", "dev", "tap0", "mode", "tap"][..],
        &["addr", "add", &format!("{HOST_ADDRESS}/24"), "dev", "tap0"],
        &["link", "set", "tap0", "up"],
        &["link", "set", "lo", "up"],
    ] {
        let output = Command::new("ip")
            .args(arguments)
            .output()
            .expect("ip runs");
        assert!(
            output.status.success(),
            "ip {arguments:?}: {}",
            describe(&output)
        );
    }
}

/// Mosquitto on the TAP device's host address, for the board, and on
/// loopback, for the scenario. It stays root: the namespace maps no other
/// user to switch to.
fn start_mosquitto(binary: &Path, folder: &Path) -> Mosquitto {
    Mosquitto::start_with(
        binary,
        folder,
        &format!("user root\nlistener {PORT} {HOST_ADDRESS}\nlistener {PORT} 127.0.0.1\n"),
    )
}

fn start_board(settings: &[(&str, &str)]) -> HostBoard {
    let broker = format!("{HOST_ADDRESS}:{PORT}");
    let mut all = vec![
        ("HILT_NETWORK", "tap"),
        ("HILT_TAP", "tap0"),
        ("HILT_BROKER", broker.as_str()),
    ];
    all.extend_from_slice(settings);
    HostBoard::start_with(&all)
}

/// The name the test DNS server knows: the broker, at the host's address.
const BROKER_NAME: &str = "broker.hilt.test";

/// A DNS server on the TAP device's host address, port 53, for
/// embassy-net's DNS socket: it answers [`BROKER_NAME`] with the host's
/// address and any other name with NXDOMAIN, and sends every name it was
/// asked down the returned channel.
fn start_dns_server() -> Receiver<String> {
    let socket = UdpSocket::bind((HOST_ADDRESS, 53)).expect("port 53 is free in the namespace");
    let (asked, names) = mpsc::channel();
    std::thread::spawn(move || {
        let mut buffer = [0; 512];
        loop {
            let Ok((length, from)) = socket.recv_from(&mut buffer) else {
                return;
            };
            let Ok(query) = Packet::parse(&buffer[..length]) else {
                continue;
            };
            let mut reply = Packet::new_reply(query.id());
            reply.set_flags(PacketFlag::RECURSION_AVAILABLE);
            for question in &query.questions {
                let name = question.qname.to_string();
                if name == BROKER_NAME {
                    reply.answers.push(ResourceRecord::new(
                        question.qname.clone(),
                        CLASS::IN,
                        60,
                        RData::A(A::from(HOST_ADDRESS.parse::<Ipv4Addr>().unwrap())),
                    ));
                } else {
                    *reply.rcode_mut() = RCODE::NameError;
                }
                reply.questions.push(question.clone());
                let _ = asked.send(name);
            }
            if let Ok(bytes) = reply.build_bytes_vec() {
                let _ = socket.send_to(&bytes, from);
            }
        }
    });
    names
}

#[test]
fn the_board_finds_its_broker_by_dns_over_embassy_net() {
    in_namespace(
        "the_board_finds_its_broker_by_dns_over_embassy_net",
        |binary| {
            set_up_tap();
            let asked = start_dns_server();
            let folder = temporary_folder("tap-dns");
            let mosquitto = start_mosquitto(binary, &folder);
            let broker = format!("{BROKER_NAME}:{PORT}");
            let mut board = start_board(&[
                ("HILT_BROKER", broker.as_str()),
                ("HILT_TAP_DNS", HOST_ADDRESS),
                ("HILT_APP", "thermometer"),
                ("HILT_CLIENT_ID", "probe"),
                ("HILT_INTERVAL", "1s"),
            ]);
            board
                .serial
                .expect_link_up_to(&format!("{HOST_ADDRESS}:{PORT}"));
            assert_eq!(
                asked.recv_timeout(Duration::from_secs(1)).as_deref(),
                Ok(BROKER_NAME)
            );
            run_scenario(&probe_scenario(
                "the host board's thermometer, its broker found by DNS over embassy-net",
                PORT,
                "  - expect: { topic: devices/probe/temperature/degrees, within: 3s }",
            ));
            drop(board);
            mosquitto.stop();
            let _ = std::fs::remove_dir_all(folder);
        },
    );
}

#[test]
fn an_unknown_broker_name_is_reported_over_embassy_net() {
    in_namespace(
        "an_unknown_broker_name_is_reported_over_embassy_net",
        |_| {
            set_up_tap();
            let asked = start_dns_server();
            let mut board = start_board(&[
                ("HILT_BROKER", "nowhere.hilt.test:1883"),
                ("HILT_TAP_DNS", HOST_ADDRESS),
                ("HILT_APP", "thermometer"),
                ("HILT_CLIENT_ID", "probe"),
            ]);
            let refused = board.serial.wait_for("saying it cannot connect", |line| {
                line.contains("link: cannot connect")
            });
            assert_eq!(
                refused,
                "[hilt] log warn link: cannot connect: DNS lookup of the broker failed"
            );
            assert_eq!(
                asked.recv_timeout(Duration::from_secs(1)).as_deref(),
                Ok("nowhere.hilt.test")
            );
        },
    );
}

#[test]
fn the_thermometer_publishes_over_embassy_net_on_a_tap_device() {
    in_namespace(
        "the_thermometer_publishes_over_embassy_net_on_a_tap_device",
        |binary| {
            set_up_tap();
            let folder = temporary_folder("tap-thermometer");
            let mosquitto = start_mosquitto(binary, &folder);
            let mut board = start_board(&[
                ("HILT_APP", "thermometer"),
                ("HILT_CLIENT_ID", "probe"),
                ("HILT_UNIT", "C"),
                ("HILT_INTERVAL", "1s"),
            ]);
            let started = board.serial.wait_for("naming the network", |line| {
                line.contains("hilt-board-host")
            });
            assert!(
                started.ends_with(", over embassy-net on tap0 as 192.168.69.2/24"),
                "{started}"
            );
            board
                .serial
                .expect_link_up_to(&format!("{HOST_ADDRESS}:{PORT}"));
            run_scenario(&probe_scenario(
                "the host board's thermometer, over embassy-net on a TAP device",
                PORT,
                THERMOMETER_STEPS,
            ));
            board.serial.expect_reading_mirrored();
            drop(board);
            mosquitto.stop();
            let _ = std::fs::remove_dir_all(folder);
        },
    );
}

#[test]
fn remote_led_hears_its_peer_over_embassy_net_on_a_tap_device() {
    in_namespace(
        "remote_led_hears_its_peer_over_embassy_net_on_a_tap_device",
        |binary| {
            set_up_tap();
            let folder = temporary_folder("tap-remote-led");
            let mosquitto = start_mosquitto(binary, &folder);
            let mut board = start_board(&[
                ("HILT_APP", "remote-led"),
                ("HILT_CLIENT_ID", "blue"),
                ("HILT_PEER", "green"),
            ]);
            board.serial.wait_for("saying the link is up", |line| {
                line.contains("link: connected")
            });
            run_scenario(&format!(
                r#"
name: the host board's remote LED, over embassy-net on a TAP device
time: real
broker: {{ url: "mqtt://127.0.0.1:{PORT}" }}
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
            // The scenario's publish came in through smoltcp and the
            // adapter's read half.
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
        },
    );
}

#[test]
fn the_board_reconnects_over_embassy_net_when_mosquitto_comes_back() {
    in_namespace(
        "the_board_reconnects_over_embassy_net_when_mosquitto_comes_back",
        |binary| {
            set_up_tap();
            let folder = temporary_folder("tap-reconnect");
            let mosquitto = start_mosquitto(binary, &folder);
            let mut board = start_board(&[
                ("HILT_APP", "thermometer"),
                ("HILT_CLIENT_ID", "probe"),
                ("HILT_INTERVAL", "1s"),
            ]);
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
            // The kernel closes a killed Mosquitto's sockets with a FIN, or
            // a RST when bytes from the board were still unread; smoltcp
            // reports either.
            assert!(
                [
                    "[hilt] log info link: ended: closed by the broker",
                    "[hilt] log info link: ended: read failed (connection reset)",
                ]
                .contains(&ended.as_str()),
                "{ended}"
            );

            let mosquitto = start_mosquitto(binary, &folder);
            board
                .serial
                .wait_for("saying the link is up again", |line| {
                    line.contains("link: connected")
                });
            board.serial.wait_for("saying the session is back", |line| {
                line == "[hilt] log info thermometer: connected"
            });
            run_scenario(&probe_scenario(
                "the host board's thermometer after Mosquitto came back, over a TAP device",
                PORT,
                "  - expect: { topic: devices/probe/temperature/degrees, within: 3s }",
            ));
            drop(board);
            mosquitto.stop();
            let _ = std::fs::remove_dir_all(folder);
        },
    );
}
