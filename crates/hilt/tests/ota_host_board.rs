//! `hilt ota` end to end against node-manager itself: the host board
//! (hilt-board-host, the image's board glue on the host) runs node-manager
//! with its flash chip kept in a file, connected over TCP to the embedded
//! broker, and the `hilt` binary pushes it an update. The board takes it,
//! resets (the host board stops with exit code 3 and keeps its flash, as a
//! chip restarts), and started again boots the new image on trial and
//! marks it valid once healthy.

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::time::Duration;

use hilt_firmware::ota::image::SimulatedBoot;
use hilt_firmware::partitions::FLASH_SIZE;
use hilt_runner::broker::EmbeddedBroker;
use hilt_sim::image::simulated_image;

const PREFIX: &str = "lab/host-node";
/// How long any one thing the test waits for may take.
const PATIENCE: Duration = Duration::from_secs(60);

/// hilt-board-host, built beside the `hilt` binary (a workspace test run
/// builds both; `cargo test -p hilt` alone builds it here).
fn host_board_binary() -> PathBuf {
    let hilt = Path::new(env!("CARGO_BIN_EXE_hilt"));
    let binary = hilt.with_file_name(format!("hilt-board-host{}", std::env::consts::EXE_SUFFIX));
    if !binary.exists() {
        let mut build = Command::new(env!("CARGO"));
        build.args(["build", "--quiet", "-p", "hilt-board-host"]);
        if hilt.parent().and_then(Path::file_name) == Some("release".as_ref()) {
            build.arg("--release");
        }
        let status = build.status().expect("cargo runs");
        assert!(status.success(), "cargo could not build hilt-board-host");
    }
    binary
}

/// A running host board and the lines of its serial log.
struct HostBoard {
    child: Child,
    lines: Receiver<String>,
    seen: Vec<String>,
}

impl HostBoard {
    fn start(port: u16, flash: &Path) -> HostBoard {
        let mut child = Command::new(host_board_binary())
            .env("HILT_APP", "node-manager")
            .env("HILT_BROKER", format!("127.0.0.1:{port}"))
            .env("HILT_CLIENT_ID", "host-node")
            .env("HILT_PREFIX", PREFIX)
            .env("HILT_HEALTHY_AFTER", "1s")
            .env("HILT_FLASH", flash)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("the host board starts");
        let stdout = child.stdout.take().unwrap();
        let (sender, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if sender.send(line).is_err() {
                    break;
                }
            }
        });
        HostBoard {
            child,
            lines,
            seen: Vec::new(),
        }
    }

    /// The next serial line `wanted` accepts.
    fn wait_for(&mut self, what: &str, wanted: impl Fn(&str) -> bool) -> String {
        loop {
            match self.lines.recv_timeout(PATIENCE) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if wanted(&line) {
                        return line;
                    }
                }
                Err(_) => panic!(
                    "the host board printed no line {what}; its log:\n{}",
                    self.log()
                ),
            }
        }
    }

    /// Waits until the board stops by itself (its stdout ends, and with it
    /// the reader's channel), and returns its exit status.
    fn wait_until_it_stops(&mut self) -> ExitStatus {
        loop {
            match self.lines.recv_timeout(PATIENCE) {
                Ok(line) => self.seen.push(line),
                Err(RecvTimeoutError::Disconnected) => break,
                Err(RecvTimeoutError::Timeout) => {
                    panic!("the host board did not stop; its log:\n{}", self.log())
                }
            }
        }
        self.child.wait().expect("the host board is waited for")
    }

    /// The log so far, each line cut to 200 characters (the chunks of an
    /// update are mirrored whole).
    fn log(&self) -> String {
        self.seen
            .iter()
            .map(|line| line.chars().take(200).collect::<String>())
            .collect::<Vec<_>>()
            .join("\n")
    }
}

impl Drop for HostBoard {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A status the board published (retained, QoS 1), as its serial log
/// mirrors it.
fn is_status(line: &str, fields: &[&str]) -> bool {
    line.starts_with(&format!(
        "[hilt] publish {PREFIX}/status qos=1 retain=1 payload="
    )) && fields.iter().all(|field| line.contains(field))
}

#[test]
fn hilt_ota_updates_node_manager_on_the_host_board_which_boots_the_new_firmware() {
    let broker = EmbeddedBroker::start().expect("the broker starts");
    let port = broker.address().port();
    let folder = tempfile::tempdir().unwrap();
    let flash = folder.path().join("flash.bin");
    let image_path = folder.path().join("node-manager-0.9.0.bin");
    std::fs::write(
        &image_path,
        simulated_image("node-manager", "0.9.0", SimulatedBoot::Runs, 24_000),
    )
    .unwrap();

    let mut board = HostBoard::start(port, &flash);
    let factory = format!("\"firmware_version\": \"{}\"", hilt_firmware::VERSION);
    board.wait_for("with the factory firmware's status", |line| {
        is_status(line, &["\"state\": \"online\"", &factory])
    });

    let output = Command::new(env!("CARGO_BIN_EXE_hilt"))
        .args([
            "ota",
            "--broker",
            &format!("mqtt://127.0.0.1:{port}"),
            "--prefix",
            PREFIX,
        ])
        .arg(&image_path)
        .args(["--id", "up1", "--chunk", "1000"])
        .output()
        .expect("hilt runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("the board took firmware 0.9.0"), "{stdout}");

    // The board replied from its own flash, then reset to boot the update.
    board.wait_for("with the final reply", |line| {
        line.starts_with(&format!("[hilt] publish {PREFIX}/mqb/reply/up1 "))
            && line.contains("\"ok\": true")
            && line.contains("\"version\": \"0.9.0\"")
    });
    let status = board.wait_until_it_stops();
    assert_eq!(status.code(), Some(3), "{}", board.log());
    assert!(
        board.seen.iter().any(|line| line.contains("flash kept in")),
        "{}",
        board.log()
    );
    assert_eq!(
        std::fs::metadata(&flash).unwrap().len(),
        u64::from(FLASH_SIZE)
    );
    drop(board);

    // Started again, as a chip restarts: the new image runs on trial, and
    // once healthy (connected, and 1s of uptime) marks itself valid.
    let mut board = HostBoard::start(port, &flash);
    board.wait_for("with the new firmware on trial", |line| {
        is_status(
            line,
            &[
                "\"reset_cause\": \"power_on\"",
                "\"firmware_version\": \"0.9.0\"",
                "\"trial\": true",
            ],
        )
    });
    board.wait_for("saying it marked the firmware valid", |line| {
        line == "[hilt] log info node-manager: firmware 0.9.0 healthy after its trial, marked valid"
    });
    let valid = board.wait_for("with the status after the trial", |line| {
        is_status(line, &["\"firmware_version\": \"0.9.0\""])
    });
    assert!(!valid.contains("trial"), "{valid}");
}
