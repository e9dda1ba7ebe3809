//! `hilt record` as a user runs it: the built binary against hilt's
//! embedded broker on a loopback port, with a rumqttc client publishing as
//! a thermometer and a pair of numbered nodes would, ended by SIGINT (what
//! Ctrl-C sends), by `--duration`, or by the broker going away.

use std::io::{BufRead as _, BufReader, Read as _};
use std::path::Path;
use std::process::{Child, ChildStderr, ChildStdout, Command, ExitStatus, Stdio};
use std::time::Duration;

use hilt_runner::Registry;
use hilt_runner::broker::EmbeddedBroker;
use hilt_scenario::draft::within_for_gap;
use hilt_scenario::{
    DeviceKind, Expectation, MessageExpectation, PayloadMatch, Scenario, StepKind,
};
use rumqttc::{AsyncClient, Event, EventLoop, MqttOptions, Packet, QoS};

/// A running `hilt record`, its output read line by line as it comes.
struct Recorder {
    child: Child,
    stdout: BufReader<ChildStdout>,
    stderr: BufReader<ChildStderr>,
    /// What standard error said so far.
    said: String,
}

impl Recorder {
    fn start(broker: &str, arguments: &[&str]) -> Recorder {
        let mut child = Command::new(env!("CARGO_BIN_EXE_hilt"))
            .args(["record", "--broker", broker])
            .args(arguments)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("hilt starts");
        let stdout = BufReader::new(child.stdout.take().expect("piped"));
        let stderr = BufReader::new(child.stderr.take().expect("piped"));
        Recorder {
            child,
            stdout,
            stderr,
            said: String::new(),
        }
    }

    /// Reads standard error until the recorder says it has subscribed.
    fn wait_until_subscribed(&mut self) {
        loop {
            let mut line = String::new();
            let read = self.stderr.read_line(&mut line).expect("stderr reads");
            assert!(
                read > 0,
                "hilt record ended before subscribing:\n{}",
                self.said
            );
            self.said.push_str(&line);
            if line.starts_with("recording ") {
                return;
            }
        }
    }

    /// The next message line printed on standard output.
    fn next_line(&mut self) -> String {
        let mut line = String::new();
        let read = self.stdout.read_line(&mut line).expect("stdout reads");
        assert!(
            read > 0,
            "hilt record printed no more lines:\n{}",
            self.said
        );
        line.trim_end_matches('\n').to_string()
    }

    /// Sends SIGINT, as Ctrl-C in a terminal does.
    fn interrupt(&self) {
        let status = Command::new("kill")
            .args(["-INT", &self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success());
    }

    /// Waits for the end; the exit status and all of standard error.
    fn finish(mut self) -> (ExitStatus, String) {
        let status = self.child.wait().expect("hilt ends");
        self.stderr
            .read_to_string(&mut self.said)
            .expect("stderr reads");
        let mut rest = String::new();
        self.stdout.read_to_string(&mut rest).expect("stdout reads");
        assert_eq!(rest, "", "no message lines left unread");
        (status, self.said)
    }
}

/// A client of the broker at `port`, its event loop polled on its own task.
async fn client(port: u16, id: &str) -> AsyncClient {
    let (client, events) = AsyncClient::new(MqttOptions::new(id, "127.0.0.1", port), 16);
    tokio::spawn(drive(events));
    client
}

async fn drive(mut events: EventLoop) {
    while events.poll().await.is_ok() {}
}

/// Publishes `bench/status` retained with QoS 1 and returns once the broker
/// has acknowledged it (so it is stored before anyone subscribes).
async fn publish_retained_status(port: u16) {
    let (client, mut events) =
        AsyncClient::new(MqttOptions::new("status-setter", "127.0.0.1", port), 16);
    client
        .publish("bench/status", QoS::AtLeastOnce, true, "online")
        .await
        .expect("queued");
    loop {
        match events.poll().await.expect("the broker is up") {
            Event::Incoming(Packet::PubAck(_)) => break,
            _ => continue,
        }
    }
    client.disconnect().await.expect("queued");
    while events.poll().await.is_ok() {}
}

/// Every 100ms: a thermometer reading, then a reading of each of two
/// numbered nodes; `rounds` times.
async fn publish_readings(port: u16, rounds: usize) {
    let thermometer = client(port, "thermometer").await;
    let nodes = client(port, "nodes").await;
    let mut ticks = tokio::time::interval(Duration::from_millis(100));
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    for round in 0..rounds {
        ticks.tick().await;
        let degrees = 21.5 + round as f64 * 0.25;
        thermometer
            .publish(
                "bench/temperature",
                QoS::AtMostOnce,
                false,
                format!(r#"{{"degrees": {degrees}, "unit": "C"}}"#),
            )
            .await
            .expect("queued");
        for node in ["lab/node-01/reading", "lab/node-02/reading"] {
            nodes
                .publish(node, QoS::AtLeastOnce, false, format!("{}", 100 + round))
                .await
                .expect("queued");
        }
    }
}

/// The seconds a transcript line starts with.
fn seconds(line: &str) -> Duration {
    let text = line.trim_start();
    let end = text.find("s ").expect("a time");
    Duration::from_secs_f64(text[..end].parse().expect("a number of seconds"))
}

/// The longest gap between the lines whose topic is one of `topics`.
fn largest_gap(lines: &[String], topics: &[&str]) -> Duration {
    let times: Vec<Duration> = lines
        .iter()
        .filter(|line| {
            topics
                .iter()
                .any(|topic| line.contains(&format!(" -> {topic} ")))
        })
        .map(|line| seconds(line))
        .collect();
    times
        .windows(2)
        .map(|pair| pair[1] - pair[0])
        .max()
        .expect("two lines at least")
}

fn load(path: &Path) -> Scenario {
    match hilt_scenario::load(path, &Registry::new()) {
        Ok(scenario) => scenario,
        Err(diagnostics) => panic!(
            "the draft is invalid:\n{diagnostics}\n{}",
            std::fs::read_to_string(path).unwrap_or_default()
        ),
    }
}

fn message_expectations(scenario: &Scenario) -> Vec<&MessageExpectation> {
    scenario
        .steps
        .iter()
        .filter_map(|step| match &step.kind {
            StepKind::Expect(Expectation::Message(expectation)) => Some(expectation),
            _ => None,
        })
        .collect()
}

/// `within:` is 1.5 times the largest gap rounded up; the transcript's
/// times are whole microseconds, so the gap it shows may be 1us short.
fn assert_within_fits(within: Duration, gap: Duration) {
    assert!(
        within == within_for_gap(gap) || within == within_for_gap(gap + Duration::from_micros(1)),
        "within {within:?} for a largest gap of {gap:?}"
    );
    assert!(
        within >= Duration::from_millis(150),
        "gaps of 100ms at least"
    );
}

#[test]
fn a_recording_ended_by_ctrl_c_writes_a_transcript_and_a_draft_that_validates() {
    let broker = EmbeddedBroker::start().expect("the broker starts");
    let port = broker.address().port();
    let url = format!("mqtt://127.0.0.1:{port}");
    let runtime = tokio::runtime::Runtime::new().expect("a runtime");
    runtime.block_on(publish_retained_status(port));

    let folder = tempfile::tempdir().expect("a temporary folder");
    let out = folder.path().join("bench");
    let mut recorder = Recorder::start(&url, &["--out", out.to_str().expect("UTF-8")]);
    recorder.wait_until_subscribed();
    const ROUNDS: usize = 6;
    let publisher = runtime.spawn(publish_readings(port, ROUNDS));
    let printed: Vec<String> = (0..1 + 3 * ROUNDS).map(|_| recorder.next_line()).collect();
    runtime.block_on(publisher).expect("the publisher ends");
    recorder.interrupt();
    let (status, said) = recorder.finish();
    assert!(status.success(), "exit {status:?}:\n{said}");
    assert!(said.contains("recorded 19 messages in"), "{said}");
    assert!(said.contains("(stopped by Ctrl-C)"), "{said}");

    // The transcript is what was printed, in the replay's line format.
    let transcript =
        std::fs::read_to_string(out.join("transcript.txt")).expect("the transcript is written");
    let lines: Vec<String> = transcript.lines().map(str::to_string).collect();
    assert_eq!(lines, printed);
    let line_format =
        regex::Regex::new(r#"^ *\d+\.\d{6}s (bench|lab) -> \S+ qos[012]( retain)? ".*"$"#)
            .expect("a regex");
    for line in &lines {
        assert!(line_format.is_match(line), "{line:?}");
    }
    // The retained status came first, flagged as the broker delivered it.
    assert!(
        lines[0].ends_with(r#"s bench -> bench/status qos1 retain "online""#),
        "{}",
        lines[0]
    );
    let readings: Vec<&String> = lines
        .iter()
        .filter(|line| line.contains(" -> bench/temperature "))
        .collect();
    assert_eq!(readings.len(), ROUNDS);
    assert!(
        readings[0].ends_with(r#""{\"degrees\": 21.5, \"unit\": \"C\"}""#),
        "{}",
        readings[0]
    );
    assert!(
        readings[5].ends_with(r#""{\"degrees\": 22.75, \"unit\": \"C\"}""#),
        "{}",
        readings[5]
    );

    // The draft: a valid scenario with the devices and patterns heard.
    let scenario = load(&out.join("scenario.yaml"));
    assert_eq!(scenario.time, hilt_scenario::TimeMode::Real);
    assert!(
        matches!(&scenario.broker, hilt_scenario::BrokerChoice::External { url: written, .. } if *written == url)
    );
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
    assert_eq!(devices, [("bench", "TODO-bench"), ("lab", "TODO-lab")]);
    let expectations = message_expectations(&scenario);
    let filters: Vec<&str> = expectations
        .iter()
        .map(|expectation| expectation.filter.as_str())
        .collect();
    // In the order each pattern was first seen; the thermometer and the
    // nodes are separate clients, so which of them came first varies.
    let first_seen = |topic: &str| {
        lines
            .iter()
            .position(|line| line.contains(&format!(" -> {topic} ")))
            .expect("seen")
    };
    let readings_first = first_seen("bench/temperature");
    let nodes_first = first_seen("lab/node-01/reading").min(first_seen("lab/node-02/reading"));
    let expected = if readings_first < nodes_first {
        ["bench/status", "bench/temperature", "lab/+/reading"]
    } else {
        ["bench/status", "lab/+/reading", "bench/temperature"]
    };
    assert_eq!(filters, expected);
    let expectation = |filter: &str| {
        expectations[filters
            .iter()
            .position(|written| *written == filter)
            .expect("written")]
    };

    let status = expectations[0];
    assert!(matches!(&status.body, Some(PayloadMatch::Exact(text)) if text == "online"));
    assert_eq!(status.retain, Some(true));
    assert!(
        status.since_start,
        "seen once, so looked for from the start"
    );
    assert_eq!(status.within, Duration::from_secs(1));

    let temperature = expectation("bench/temperature");
    let Some(PayloadMatch::Regex(shape)) = &temperature.body else {
        panic!("JSON readings are matched by shape: {:?}", temperature.body);
    };
    assert!(shape.is_match(r#"{"degrees": -4.5, "unit": "C"}"#));
    assert!(!shape.is_match(r#"{"degrees": -4.5, "unit": "F"}"#));
    assert_eq!(temperature.retain, None);
    assert!(!temperature.since_start);
    assert_within_fits(
        temperature.within,
        largest_gap(&lines, &["bench/temperature"]),
    );

    let nodes = expectation("lab/+/reading");
    let Some(PayloadMatch::Regex(number)) = &nodes.body else {
        panic!("numbers are matched by type: {:?}", nodes.body);
    };
    assert!(number.is_match("117") && !number.is_match("high"));
    assert_within_fits(
        nodes.within,
        largest_gap(&lines, &["lab/node-01/reading", "lab/node-02/reading"]),
    );
    let draft = std::fs::read_to_string(out.join("scenario.yaml")).expect("the draft");
    assert!(
        draft.contains("# `+` stood for node-01, node-02;"),
        "{draft}"
    );
    assert!(draft.contains(&format!("from {url} on `#`")), "{draft}");
}

#[test]
fn a_broker_that_goes_away_ends_the_recording_with_what_was_captured() {
    let mut broker = EmbeddedBroker::start().expect("the broker starts");
    let port = broker.address().port();
    let url = format!("mqtt://127.0.0.1:{port}");
    let folder = tempfile::tempdir().expect("a temporary folder");
    let transcript = folder.path().join("seen.txt");
    let draft = folder.path().join("drafts/seen.yaml");
    let mut recorder = Recorder::start(
        &url,
        &[
            "--topic",
            "lab/#",
            "--transcript",
            transcript.to_str().expect("UTF-8"),
            "--scenario",
            draft.to_str().expect("UTF-8"),
        ],
    );
    recorder.wait_until_subscribed();
    let runtime = tokio::runtime::Runtime::new().expect("a runtime");
    let publisher = runtime.spawn(publish_readings(port, 2));
    let printed: Vec<String> = (0..4).map(|_| recorder.next_line()).collect();
    runtime.block_on(publisher).expect("the publisher ends");
    assert!(broker.stop(), "the broker was running");
    let (status, said) = recorder.finish();
    assert_eq!(status.code(), Some(2), "{said}");
    assert!(
        said.contains(&format!("hilt: the broker at {url} went away after")),
        "{said}"
    );
    assert!(said.contains("recorded 4 messages in"), "{said}");
    let written = std::fs::read_to_string(&transcript).expect("the transcript is written");
    assert_eq!(written.lines().collect::<Vec<_>>(), printed);
    // Only `lab/#` was subscribed to: no thermometer readings.
    assert!(
        printed
            .iter()
            .all(|line| line.contains(" lab -> lab/node-0")),
        "{printed:?}"
    );
    let scenario = load(&draft);
    assert_eq!(message_expectations(&scenario)[0].filter, "lab/+/reading");
}

#[test]
fn a_duration_ends_the_recording_and_nothing_seen_drafts_nothing() {
    let broker = EmbeddedBroker::start().expect("the broker starts");
    let url = format!("mqtt://127.0.0.1:{}", broker.address().port());
    let folder = tempfile::tempdir().expect("a temporary folder");
    let out = folder.path().join("quiet");
    let recorder = Recorder::start(
        &url,
        &[
            "--duration",
            "200ms",
            "--quiet",
            "--out",
            out.to_str().expect("UTF-8"),
        ],
    );
    let (status, said) = recorder.finish();
    assert!(status.success(), "{said}");
    assert!(
        said.contains("recording ") && said.contains(" for 200ms"),
        "{said}"
    );
    assert!(said.contains("recorded 0 messages in"), "{said}");
    assert!(said.contains("(the duration elapsed)"), "{said}");
    assert!(
        said.contains("no messages seen, so no draft scenario written"),
        "{said}"
    );
    assert_eq!(
        std::fs::read_to_string(out.join("transcript.txt")).expect("written"),
        ""
    );
    assert!(!out.join("scenario.yaml").exists());
}

#[test]
fn an_unreachable_broker_is_a_clear_error() {
    // A port nobody listens on: bound, then released.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("a free port")
        .local_addr()
        .expect("an address")
        .port();
    let url = format!("mqtt://127.0.0.1:{port}");
    let folder = tempfile::tempdir().expect("a temporary folder");
    let out = folder.path().join("never");
    let recorder = Recorder::start(&url, &["--out", out.to_str().expect("UTF-8")]);
    let (status, said) = recorder.finish();
    assert_eq!(status.code(), Some(2), "{said}");
    assert!(
        said.contains(&format!("hilt: cannot reach the broker at {url}: ")),
        "{said}"
    );
    assert!(
        said.contains("nothing recorded; no files written"),
        "{said}"
    );
    assert!(!out.exists(), "no folder made for nothing");
}

#[test]
fn existing_files_are_never_overwritten() {
    let folder = tempfile::tempdir().expect("a temporary folder");
    std::fs::write(folder.path().join("transcript.txt"), "keep me").expect("written");
    // Refused before any connection is tried (nothing listens on port 1).
    let recorder = Recorder::start(
        "mqtt://127.0.0.1:1",
        &["--out", folder.path().to_str().expect("UTF-8")],
    );
    let (status, said) = recorder.finish();
    assert_eq!(status.code(), Some(2), "{said}");
    assert!(
        said.contains("transcript.txt exists already; remove it or choose another --out"),
        "{said}"
    );
    assert_eq!(
        std::fs::read_to_string(folder.path().join("transcript.txt")).expect("kept"),
        "keep me"
    );
}
