//! The board glue (hilt-board) run on the host against Mosquitto: the
//! host board is an `external: true` device of a real-time scenario, and
//! its serial log on stdout says what the glue did.
//!
//! Mosquitto runs on a free loopback port. With `CI` set (as in `.ci/run`,
//! which installs it) a missing Mosquitto fails these tests; elsewhere they
//! say they skipped and pass.

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use hilt_runner::{Registry, Verdict};

/// How long any one awaited line may take to come. Generous: only a
/// failing test waits this long.
const LINE_TIMEOUT: Duration = Duration::from_secs(20);

/// The Mosquitto binary, or `None` (after saying so) outside CI.
fn mosquitto_binary() -> Option<PathBuf> {
    let candidates = std::env::var_os("PATH")
        .map(|path| {
            std::env::split_paths(&path)
                .map(|folder| folder.join("mosquitto"))
                .collect::<Vec<_>>()
        })
        .unwrap_or_default();
    let found = candidates
        .into_iter()
        .chain([PathBuf::from("/usr/sbin/mosquitto")])
        .find(|path| path.is_file());
    if found.is_none() {
        assert!(
            std::env::var_os("CI").is_none(),
            "mosquitto is not installed, and CI is set: .ci/run installs it (apt-get install mosquitto)"
        );
        eprintln!(
            "note: mosquitto is not installed; the host board tests are skipped (they run in CI)"
        );
    }
    found
}

/// A free loopback port: the kernel picks one for a listener that is then
/// closed, and Mosquitto (which cannot report a port it chose itself)
/// listens there.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a loopback port is free")
        .port()
}

/// The lines a child process prints, one at a time, as they come.
struct Lines {
    receiver: Receiver<String>,
    seen: Vec<String>,
}

impl Lines {
    fn of(stream: impl std::io::Read + Send + 'static) -> Self {
        let (sender, receiver) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stream).lines() {
                let Ok(line) = line else { return };
                if sender.send(line).is_err() {
                    return;
                }
            }
        });
        Lines {
            receiver,
            seen: Vec::new(),
        }
    }

    /// Waits for the next line that `wanted` accepts; panics with every
    /// line seen when none comes within [`LINE_TIMEOUT`].
    fn wait_for(&mut self, what: &str, wanted: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + LINE_TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.receiver.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if wanted(&line) {
                        return line;
                    }
                }
                Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => panic!(
                    "no line {what} within {LINE_TIMEOUT:?}; lines so far:\n{}",
                    self.seen.join("\n")
                ),
            }
        }
    }
}

/// A private Mosquitto, stopped when dropped.
struct Mosquitto {
    child: Child,
}

impl Mosquitto {
    /// Starts Mosquitto on `port` and waits until it says it runs.
    fn start(binary: &Path, folder: &Path, port: u16) -> Self {
        let config = folder.join("mosquitto.conf");
        std::fs::write(
            &config,
            format!(
                "listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n\
                 log_dest stderr\nlog_type error\nlog_type warning\nlog_type notice\n\
                 log_type information\n"
            ),
        )
        .unwrap();
        let mut child = Command::new(binary)
            .arg("-c")
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("mosquitto starts");
        let mut lines = Lines::of(child.stderr.take().unwrap());
        lines.wait_for("saying Mosquitto runs", |line| {
            line.contains("mosquitto version") && line.contains("running")
        });
        // Its later log is not read; the thread drains it so that
        // Mosquitto never blocks on a full pipe.
        std::thread::spawn(move || while lines.receiver.recv().is_ok() {});
        Mosquitto { child }
    }

    /// Stops Mosquitto and waits until it has exited.
    fn stop(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Mosquitto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The host board, killed when dropped, and its serial log.
struct HostBoard {
    child: Child,
    serial: Lines,
}

impl HostBoard {
    fn start(port: u16, settings: &[(&str, &str)]) -> Self {
        let mut command = Command::new(env!("CARGO_BIN_EXE_hilt-board-host"));
        for (name, _) in std::env::vars() {
            if name.starts_with("HILT_") {
                command.env_remove(name);
            }
        }
        let mut child = command
            .env("HILT_BROKER", format!("127.0.0.1:{port}"))
            .envs(settings.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("the host board starts");
        let serial = Lines::of(child.stdout.take().unwrap());
        HostBoard { child, serial }
    }
}

impl Drop for HostBoard {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn run_scenario(text: &str) {
    let registry = Registry::with_bundled_apps();
    let scenario = hilt_scenario::parse(Path::new("host-board.yaml"), text, &registry)
        .unwrap_or_else(|diagnostics| panic!("{diagnostics}"));
    let outcome = hilt_runner::run_scenario(&scenario, &registry);
    assert!(
        matches!(outcome.verdict, Verdict::Passed),
        "{}\n{}",
        outcome.report(),
        outcome.transcript.render()
    );
}

fn temporary_folder(name: &str) -> PathBuf {
    let folder =
        std::env::temp_dir().join(format!("hilt-board-host-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&folder).unwrap();
    folder
}

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
    let connected = board.serial.wait_for("saying the link is up", |line| {
        line.contains("link: connected")
    });
    assert_eq!(
        connected,
        format!("[hilt] log info link: connected to 127.0.0.1:{port}")
    );
    run_scenario(&format!(
        r#"
name: the host board's thermometer, through Mosquitto
time: real
broker: {{ url: "mqtt://127.0.0.1:{port}" }}
devices:
  probe:
    external: true
    client_id: probe
steps:
  - expect: {{ topic: devices/probe/temperature/degrees, json: {{ degrees: 21.5, unit: C }}, within: 5s }}
  - expect: {{ topic: devices/probe/temperature/degrees, count: 2, within: 2500ms }}
"#
    ));
    // What the scenario saw is what the serial mirror says was sent.
    let published = board.serial.wait_for("mirroring a publish", |line| {
        line.starts_with("[hilt] publish devices/probe/temperature/degrees ")
    });
    assert_eq!(
        published,
        r#"[hilt] publish devices/probe/temperature/degrees qos=0 retain=0 payload={"degrees": 21.5, "unit": "C"}"#
    );
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
    run_scenario(&format!(
        r#"
name: the host board's thermometer after Mosquitto came back
time: real
broker: {{ url: "mqtt://127.0.0.1:{port}" }}
devices:
  probe:
    external: true
    client_id: probe
steps:
  - expect: {{ topic: devices/probe/temperature/degrees, within: 3s }}
"#
    ));
    drop(board);
    mosquitto.stop();
    let _ = std::fs::remove_dir_all(folder);
}
