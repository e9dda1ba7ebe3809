//! What the host board's tests share: a private Mosquitto, the host board
//! as a child process and its serial log, and running a scenario.

// Each test binary uses some of these.
#![allow(dead_code)]

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
pub fn mosquitto_binary() -> Option<PathBuf> {
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
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a loopback port is free")
        .port()
}

/// The lines a child process prints, one at a time, as they come.
pub struct Lines {
    pub receiver: Receiver<String>,
    pub seen: Vec<String>,
}

impl Lines {
    pub fn of(stream: impl std::io::Read + Send + 'static) -> Self {
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
    pub fn wait_for(&mut self, what: &str, wanted: impl Fn(&str) -> bool) -> String {
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

impl Lines {
    /// Waits for the glue's line saying the link is up, and checks that it
    /// names the broker at `address` (`host:port`).
    pub fn expect_link_up_to(&mut self, address: &str) {
        let connected = self.wait_for("saying the link is up", |line| {
            line.contains("link: connected")
        });
        assert_eq!(
            connected,
            format!("[hilt] log info link: connected to {address}")
        );
    }

    /// Waits for the serial mirror of the thermometer's next publish, and
    /// checks it is the host board's reading (21.5 °C, `HILT_UNIT=C`): what
    /// a scenario saw is what the board says it sent.
    pub fn expect_reading_mirrored(&mut self) {
        let published = self.wait_for("mirroring a publish", |line| {
            line.starts_with("[hilt] publish devices/probe/temperature/degrees ")
        });
        assert_eq!(
            published,
            r#"[hilt] publish devices/probe/temperature/degrees qos=0 retain=0 payload={"degrees": 21.5, "unit": "C"}"#
        );
    }
}

/// The steps that check the host board's thermometer readings: 21.5 °C in
/// Celsius, one a second.
pub const THERMOMETER_STEPS: &str = "  - expect: { topic: devices/probe/temperature/degrees, json: { degrees: 21.5, unit: C }, within: 5s }
  - expect: { topic: devices/probe/temperature/degrees, count: 2, within: 2500ms }";

/// A real-time scenario named `name` whose one device is the host board
/// `probe`, connected to Mosquitto at 127.0.0.1:`port` itself, with
/// `steps` (YAML list items, one per line).
pub fn probe_scenario(name: &str, port: u16, steps: &str) -> String {
    format!(
        r#"
name: {name}
time: real
broker: {{ url: "mqtt://127.0.0.1:{port}" }}
devices:
  probe:
    external: true
    client_id: probe
    # The board connects to Mosquitto itself, past hilt's listener.
    connects_to: broker
steps:
{steps}
"#
    )
}

/// A private Mosquitto, stopped when dropped.
pub struct Mosquitto {
    child: Child,
}

impl Mosquitto {
    /// Starts Mosquitto on loopback `port` and waits until it says it runs.
    pub fn start(binary: &Path, folder: &Path, port: u16) -> Self {
        Self::start_with(binary, folder, &format!("listener {port} 127.0.0.1\n"))
    }

    /// Starts Mosquitto with `settings` (its listeners, say) and waits
    /// until it says it runs.
    pub fn start_with(binary: &Path, folder: &Path, settings: &str) -> Self {
        let config = folder.join("mosquitto.conf");
        std::fs::write(
            &config,
            format!(
                "{settings}allow_anonymous true\npersistence false\n\
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
    pub fn stop(mut self) {
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
pub struct HostBoard {
    child: Child,
    pub serial: Lines,
}

impl HostBoard {
    /// The board on the kernel's TCP, its broker on loopback `port`.
    pub fn start(port: u16, settings: &[(&str, &str)]) -> Self {
        let broker = format!("127.0.0.1:{port}");
        let mut all = vec![("HILT_BROKER", broker.as_str())];
        all.extend_from_slice(settings);
        Self::start_with(&all)
    }

    /// The board with `settings` and no other `HILT_` variable.
    pub fn start_with(settings: &[(&str, &str)]) -> Self {
        let mut command = Command::new(env!("CARGO_BIN_EXE_hilt-board-host"));
        for (name, _) in std::env::vars() {
            if name.starts_with("HILT_") {
                command.env_remove(name);
            }
        }
        let mut child = command
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

pub fn run_scenario(text: &str) {
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

pub fn temporary_folder(name: &str) -> PathBuf {
    let folder =
        std::env::temp_dir().join(format!("hilt-board-host-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&folder).unwrap();
    folder
}
