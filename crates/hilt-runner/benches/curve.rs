//! `cargo bench -p hilt-runner --bench curve`: how a run's cost grows with
//! the number of devices and the length of the run, next to what the same
//! embedded broker does on its own, all measured in one run.
//!
//! Each cell (a number of thermometers × a length of device time) is a
//! generated scenario run in a child process of this bench (it runs itself
//! with `--cell DEVICES SECONDS`), so that the peak resident memory it
//! reports (VmHWM) is that cell's alone. A cell that fails prints its
//! error's first line; one that takes longer than the budget is stopped
//! and reported as such. Neither stops the bench.
//!
//! Settings, from the environment:
//! - `HILT_BENCH_CELLS`: the cells, as `DEVICESxLENGTH` separated by commas
//!   (`1x1h,100x1h,1x30d`; lengths in `h` or `d`). Default: one device for
//!   1 h, 1 day and 30 days; 100 devices for 1 h and 1 day; 1,000 and
//!   10,000 devices for 1 h.
//! - `HILT_BENCH_BUDGET`: seconds of wall time a cell may take (120).
//! - `HILT_BENCH_INTERVAL`: seconds between a thermometer's readings (60,
//!   the app's default).
//! - `HILT_BENCH_BROKER_MESSAGES`: messages per raw broker figure (20,000).
//!
//! Not a test: nothing here asserts a figure. The machines are shared and
//! noisy; compare the figures of one run.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use hilt_firmware::mqtt::codec::{
    self, Connect, Packet, Publish, QoS, Subscribe, SubscribeFilters,
};
use hilt_runner::broker::EmbeddedBroker;
use hilt_runner::{Recording, Registry, Verdict};

const DEFAULT_CELLS: &str = "1x1h,1x1d,1x30d,100x1h,100x1d,1000x1h,10000x1h";

fn main() {
    let arguments: Vec<String> = std::env::args().collect();
    if let Some(position) = arguments.iter().position(|argument| argument == "--cell") {
        let devices = arguments[position + 1]
            .parse()
            .expect("a number of devices");
        let seconds = arguments[position + 2]
            .parse()
            .expect("a number of seconds");
        run_cell(devices, seconds);
        return;
    }
    let cells = setting("HILT_BENCH_CELLS", DEFAULT_CELLS.to_owned());
    let budget = Duration::from_secs(setting("HILT_BENCH_BUDGET", 120));
    let interval: u64 = setting("HILT_BENCH_INTERVAL", 60);
    let broker_messages: usize = setting("HILT_BENCH_BROKER_MESSAGES", 20_000);

    println!(
        "Thermometers reading every {interval}s, each cell in its own process (budget {}s).",
        budget.as_secs()
    );
    println!(
        "{:>8} {:>12} {:>10} {:>9} {:>11} {:>16} {:>10}",
        "devices", "device time", "messages", "wall", "messages/s", "device-s per s", "peak RSS"
    );
    for cell in cells
        .split(',')
        .map(str::trim)
        .filter(|cell| !cell.is_empty())
    {
        let Some((devices, seconds)) = parse_cell(cell) else {
            println!("{cell:>8}  not a cell (DEVICESxLENGTH, e.g. 100x1h or 1x30d)");
            continue;
        };
        let length = describe_length(seconds);
        match measure_cell(devices, seconds, budget) {
            CellResult::Ran {
                messages,
                wall,
                peak_kb,
            } => {
                let wall_s = wall.as_secs_f64();
                println!(
                    "{:>8} {:>12} {:>10} {:>8.2}s {:>11.0} {:>16.0} {:>7.1} MB",
                    devices,
                    length,
                    messages,
                    wall_s,
                    messages as f64 / wall_s,
                    (devices as f64 * seconds as f64) / wall_s,
                    peak_kb as f64 / 1024.0
                );
            }
            CellResult::Failed(reason) => {
                println!("{devices:>8} {length:>12}  failed: {reason}");
            }
            CellResult::OverBudget => {
                println!(
                    "{devices:>8} {length:>12}  skipped: still running after the {}s budget (stopped)",
                    budget.as_secs()
                );
            }
        }
    }

    println!();
    println!(
        "The raw broker: {broker_messages} publishes through a fresh embedded broker, publisher -> subscriber."
    );
    println!("{:<34} {:>12}", "", "messages/s");
    for (label, qos, window) in [
        ("one at a time, QoS 0", QoS::AtMostOnce, 1),
        ("one at a time, QoS 1", QoS::AtLeastOnce, 1),
        ("10 in flight, QoS 0", QoS::AtMostOnce, 10),
        ("10 in flight, QoS 1", QoS::AtLeastOnce, 10),
        ("100 in flight, QoS 0", QoS::AtMostOnce, 100),
        ("100 in flight, QoS 1", QoS::AtLeastOnce, 100),
    ] {
        match raw_broker_rate(broker_messages, qos, window) {
            Ok(rate) => println!("{label:<34} {rate:>12.0}"),
            Err(error) => println!("{label:<34} failed: {error}"),
        }
    }
    println!();
    println!("device-s per s: device time replayed per second of wall time, summed over devices.");
    println!(
        "QoS 1 one at a time waits for the delivery and the publisher's PUBACK; windowed, \
         each delivery lets the next publish go (every message must arrive)."
    );
}

fn setting<T: std::str::FromStr>(name: &str, default: T) -> T {
    match std::env::var(name) {
        Ok(value) => value
            .parse()
            .unwrap_or_else(|_| panic!("{name}={value} cannot be read")),
        Err(_) => default,
    }
}

fn parse_cell(cell: &str) -> Option<(usize, u64)> {
    let (devices, length) = cell.split_once('x')?;
    let devices = devices.parse().ok()?;
    let seconds = if let Some(hours) = length.strip_suffix('h') {
        hours.parse::<u64>().ok()? * 3600
    } else {
        length.strip_suffix('d')?.parse::<u64>().ok()? * 86_400
    };
    Some((devices, seconds))
}

fn describe_length(seconds: u64) -> String {
    if seconds.is_multiple_of(86_400) {
        format!("{} d", seconds / 86_400)
    } else {
        format!("{} h", seconds / 3600)
    }
}

enum CellResult {
    Ran {
        messages: usize,
        wall: Duration,
        peak_kb: u64,
    },
    Failed(String),
    OverBudget,
}

/// Runs one cell in a child process, stopping it after `budget`.
fn measure_cell(devices: usize, seconds: u64, budget: Duration) -> CellResult {
    let executable = std::env::current_exe().expect("the bench's own path");
    let child = Command::new(executable)
        .args(["--cell", &devices.to_string(), &seconds.to_string()])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let mut child = match child {
        Ok(child) => child,
        Err(error) => return CellResult::Failed(format!("cannot start a child: {error}")),
    };
    // Read both pipes on threads, so that a child writing much to either
    // never blocks on a full pipe.
    let mut stdout = child.stdout.take().expect("piped");
    let mut stderr = child.stderr.take().expect("piped");
    let out = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stdout.read_to_string(&mut text);
        text
    });
    let err = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        text
    });
    let started = Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Some(status),
            Ok(None) if started.elapsed() < budget => {
                std::thread::sleep(Duration::from_millis(50));
            }
            Ok(None) => {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
            Err(error) => return CellResult::Failed(format!("cannot wait for the child: {error}")),
        }
    };
    let out = out.join().unwrap_or_default();
    let err = err.join().unwrap_or_default();
    let Some(status) = status else {
        return CellResult::OverBudget;
    };
    if let Some(line) = out.lines().find_map(|line| line.strip_prefix("CELL ")) {
        let fields: Vec<&str> = line.split_whitespace().collect();
        if let ["ok", messages, wall_micros, peak_kb] = fields[..] {
            return CellResult::Ran {
                messages: messages.parse().unwrap_or(0),
                wall: Duration::from_micros(wall_micros.parse().unwrap_or(0)),
                peak_kb: peak_kb.parse().unwrap_or(0),
            };
        }
        if let Some(reason) = line.strip_prefix("failed ") {
            return CellResult::Failed(reason.to_owned());
        }
    }
    // A panic or a signal: the first line that says something.
    let first = err
        .lines()
        .chain(out.lines())
        .find(|line| !line.trim().is_empty())
        .unwrap_or("no output");
    CellResult::Failed(format!("{status}: {first}"))
}

/// `count` thermometers, declared one per entry, each reading every
/// `interval` seconds, for `seconds` of device time; the run ends by
/// looking for a reading anywhere in it.
fn generate_scenario(devices: usize, seconds: u64, interval: u64) -> String {
    let mut text = format!("name: {devices} thermometers for {seconds}s\ndevices:\n");
    // One entry per device until the fleet syntax (`count:`) lands; then
    // this becomes a single entry with `count: {devices}`.
    for index in 0..devices {
        text.push_str(&format!(
            "  t{index:05}:\n    app: thermometer\n    config: {{ interval: {interval}s }}\n    parts:\n      ds18b20: {{ temperature: 22.5 }}\n"
        ));
    }
    text.push_str(&format!(
        "steps:\n  - wait: {}h\n  - expect: {{ topic: devices/+/temperature/degrees, since: start }}\n",
        seconds / 3600
    ));
    text
}

/// The child's side: runs one cell and prints `CELL ok MESSAGES
/// WALL_MICROSECONDS VMHWM_KB` or `CELL failed REASON`.
fn run_cell(devices: usize, seconds: u64) {
    let interval: u64 = setting("HILT_BENCH_INTERVAL", 60);
    let registry = Registry::with_bundled_apps();
    let text = generate_scenario(devices, seconds, interval);
    let path = std::path::Path::new("generated.yaml");
    let scenario = match hilt_scenario::parse(path, &text, &registry) {
        Ok(scenario) => scenario,
        Err(diagnostics) => {
            println!("CELL failed {}", first_line(&diagnostics.to_string()));
            return;
        }
    };
    drop(text);
    let started = Instant::now();
    let outcome = hilt_runner::run_scenario_with(&scenario, &registry, Recording::verdict_only());
    let wall = started.elapsed();
    match &outcome.verdict {
        Verdict::Passed => println!(
            "CELL ok {} {} {}",
            outcome.messages_routed,
            wall.as_micros(),
            status_field("VmHWM:")
        ),
        Verdict::Failed(failure) => {
            println!("CELL failed {}", first_line(&failure.to_string()));
        }
        Verdict::Error(error) => println!("CELL failed {}", first_line(&error.to_string())),
    }
}

fn first_line(text: &str) -> &str {
    text.lines().next().unwrap_or("")
}

/// A figure of this process from Linux's /proc/self/status, in kB.
fn status_field(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix(field))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|value| value.parse().ok())
        .unwrap_or(0)
}

/// Publishes `count` messages from one connection to a subscriber through
/// a fresh embedded broker, with at most `window` of them not yet
/// delivered, and returns messages per second.
fn raw_broker_rate(count: usize, qos: QoS, window: usize) -> Result<f64, String> {
    let broker = EmbeddedBroker::start().map_err(|error| error.to_string())?;
    let mut subscriber = RawConnection::open(broker.address(), "bench-subscriber")?;
    let filters = [("bench/#", qos)];
    subscriber.send(&Packet::Subscribe(Subscribe {
        packet_id: 1,
        filters: SubscribeFilters::List(&filters),
    }))?;
    subscriber.wait_for(|packet| matches!(packet, Packet::SubAck(_)))?;
    let mut publisher = RawConnection::open(broker.address(), "bench-publisher")?;

    // The subscriber counts deliveries on its own thread (acknowledging
    // QoS 1 ones); each one lets the publisher send another.
    let (delivered, deliveries) = mpsc::channel::<Result<(), String>>();
    let reader = std::thread::spawn(move || {
        let mut received = 0;
        while received < count {
            let mut acknowledge = None;
            let result = subscriber.wait_for(|packet| match packet {
                Packet::Publish(publish) => {
                    acknowledge = publish.packet_id;
                    true
                }
                _ => false,
            });
            if let Err(error) = result {
                let _ = delivered.send(Err(error));
                return;
            }
            if let Some(packet_id) = acknowledge
                && let Err(error) = subscriber.send(&Packet::PubAck(packet_id))
            {
                let _ = delivered.send(Err(error));
                return;
            }
            received += 1;
            if delivered.send(Ok(())).is_err() {
                return;
            }
        }
    });

    let started = Instant::now();
    let mut in_flight = 0;
    let mut packet_id: u16 = 0;
    let mut unacknowledged = 0;
    for index in 0..count {
        if in_flight == window {
            deliveries
                .recv()
                .map_err(|_| "the subscriber stopped".to_owned())??;
            in_flight -= 1;
        }
        let payload = index.to_string();
        let id = (qos != QoS::AtMostOnce).then(|| {
            packet_id = packet_id % u16::MAX + 1;
            packet_id
        });
        publisher.send(&Packet::Publish(Publish {
            dup: false,
            qos,
            retain: false,
            topic: "bench/curve",
            packet_id: id,
            payload: payload.as_bytes(),
        }))?;
        in_flight += 1;
        if id.is_some() {
            unacknowledged += 1;
            // One at a time, the PUBACK is part of the round trip; in a
            // window, take those that have arrived, so the broker never
            // blocks on a full socket.
            if window == 1 {
                publisher.wait_for(|packet| matches!(packet, Packet::PubAck(_)))?;
                unacknowledged -= 1;
            } else {
                unacknowledged -= publisher.take_available_acks()?;
            }
        }
    }
    while in_flight > 0 {
        deliveries
            .recv()
            .map_err(|_| "the subscriber stopped".to_owned())??;
        in_flight -= 1;
    }
    while unacknowledged > 0 {
        publisher.wait_for(|packet| matches!(packet, Packet::PubAck(_)))?;
        unacknowledged -= 1;
    }
    let elapsed = started.elapsed();
    let _ = reader.join();
    Ok(count as f64 / elapsed.as_secs_f64())
}

/// A client connection set up as the runner's own are: TCP_NODELAY, and an
/// immediate ACK after every read.
struct RawConnection {
    stream: TcpStream,
    pending: Vec<u8>,
}

impl RawConnection {
    fn open(address: std::net::SocketAddr, client_id: &str) -> Result<RawConnection, String> {
        let stream = TcpStream::connect(address).map_err(|error| error.to_string())?;
        stream
            .set_nodelay(true)
            .map_err(|error| error.to_string())?;
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .map_err(|error| error.to_string())?;
        let mut connection = RawConnection {
            stream,
            pending: Vec::new(),
        };
        connection.send(&Packet::Connect(Connect {
            client_id,
            keep_alive_seconds: 600,
            clean_session: true,
            will: None,
            username: None,
            password: None,
        }))?;
        connection.wait_for(|packet| matches!(packet, Packet::ConnAck(_)))?;
        Ok(connection)
    }

    fn send(&mut self, packet: &Packet<'_>) -> Result<(), String> {
        let mut buffer = vec![0; codec::encoded_len(packet)];
        let length = codec::encode(packet, &mut buffer).map_err(|error| format!("{error:?}"))?;
        self.stream
            .write_all(&buffer[..length])
            .map_err(|error| format!("the broker does not take bytes: {error}"))
    }

    /// Decodes what is buffered, calling `wanted` on each packet until it
    /// says yes; whether it did.
    fn decode_buffered(&mut self, wanted: &mut impl FnMut(&Packet<'_>) -> bool) -> bool {
        while let Ok((packet, length)) = codec::decode(&self.pending) {
            let found = wanted(&packet);
            self.pending.drain(..length);
            if found {
                return true;
            }
        }
        false
    }

    fn read_some(&mut self) -> Result<(), String> {
        let mut chunk = [0u8; 16 * 1024];
        let read = self
            .stream
            .read(&mut chunk)
            .map_err(|error| format!("nothing from the broker: {error}"))?;
        if read == 0 {
            return Err("the broker closed a bench connection".to_owned());
        }
        let _ = socket2::SockRef::from(&self.stream).set_tcp_quickack(true);
        self.pending.extend_from_slice(&chunk[..read]);
        Ok(())
    }

    fn wait_for(&mut self, mut wanted: impl FnMut(&Packet<'_>) -> bool) -> Result<(), String> {
        loop {
            if self.decode_buffered(&mut wanted) {
                return Ok(());
            }
            self.read_some()?;
        }
    }

    /// The PUBACKs that have arrived, without waiting for more.
    fn take_available_acks(&mut self) -> Result<usize, String> {
        self.stream
            .set_nonblocking(true)
            .map_err(|error| error.to_string())?;
        let mut chunk = [0u8; 16 * 1024];
        let result = match self.stream.read(&mut chunk) {
            Ok(0) => Err("the broker closed a bench connection".to_owned()),
            Ok(read) => {
                self.pending.extend_from_slice(&chunk[..read]);
                Ok(())
            }
            Err(error) if error.kind() == std::io::ErrorKind::WouldBlock => Ok(()),
            Err(error) => Err(error.to_string()),
        };
        self.stream
            .set_nonblocking(false)
            .map_err(|error| error.to_string())?;
        result?;
        let mut acknowledged = 0;
        self.decode_buffered(&mut |packet| {
            if matches!(packet, Packet::PubAck(_)) {
                acknowledged += 1;
            }
            false
        });
        Ok(acknowledged)
    }
}
