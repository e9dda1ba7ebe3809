//! Driving a reference app's firmware with a script of broker packets.
//!
//! [`run_app_messages`] builds the chosen app exactly as the runner does
//! (`hilt_runner::bundled`, on a [`Board`] of simulated parts with its own
//! [`VirtualClock`]) and plays the role of the runner and the broker: it
//! opens the link when the node asks, feeds it the packets the script (see
//! [`crate::input`]) makes, polls it whenever it is due while time moves,
//! resets it when its platform asks or its watchdog runs out, and reads
//! every byte it transmits.
//!
//! The node must never panic, and everything it transmits must decode with
//! its own codec as a whole number of packets (a property checked here).
//! With the auto-broker on (the default) the firmware core's
//! [`FakeBroker`] also answers the node as a well-behaved broker would:
//! CONNACK for CONNECT, SUBACK granting what was asked, PUBACK, PUBREC,
//! PUBREL, PUBCOMP and PINGRESP, so that a short script reaches the app's
//! message handling; the script's own packets come on top, including the
//! ones a broker would never send.

use hilt_firmware::app::LogLevel;
use hilt_firmware::app::{Firmware, Halted};
use hilt_firmware::apps::light_status::{DEFAULT_UUID, LightStatusConfig};
use hilt_firmware::apps::monitor::MonitorConfig;
use hilt_firmware::apps::node_manager::NodeManagerConfig;
use hilt_firmware::apps::remote_led::RemoteLedConfig;
use hilt_firmware::apps::sensor_data::SensorDataConfig;
use hilt_firmware::apps::thermometer::{ThermometerConfig, Unit};
use hilt_firmware::fake_broker::{FakeBroker, decode_all, take_transmitted};
use hilt_firmware::mqtt::codec::{Packet, QoS};
use hilt_firmware::mqtt::session::truncated;
use hilt_firmware::pins;
use hilt_firmware::platform::ResetCause;
use hilt_firmware::time::{Duration, Instant};
use hilt_runner::Part;
use hilt_runner::bundled::{
    LightStatusApp, MonitorApp, NodeManagerApp, RemoteLedApp, SensorDataApp, ThermometerApp,
};
use hilt_runner::{Board, SimulatedApp};
use hilt_sim::clock::VirtualClock;
use hilt_sim::ds18b20::Ds18b20Fault;
use hilt_sim::tsl2591::Tsl2591Fault;

use crate::input::{OP_COUNT, Reader, op};

/// The client id of the device under test.
pub const CLIENT_ID: &str = "fuzz";
/// The remote-led's peer (unless the variant makes it its own peer).
pub const PEER: &str = "peer";
/// A second light-status UUID, for the variant that uses it.
pub const SHORT_UUID: &str = "u";

/// Ops run from one input at most; the rest of a longer input is ignored.
pub const MAX_OPS: usize = 512;
/// Polls of the node from one input at most; the script stops after.
pub const MAX_POLLS: usize = 4096;
/// Polls one time step may take before time jumps to its end.
const MAX_POLLS_PER_STEP: usize = 64;
/// Rounds of "deliver what the broker owes, poll" at one instant.
const MAX_ROUNDS: usize = 16;
/// Publishes the node made that the echo op can send back.
const REMEMBERED_PUBLISHES: usize = 8;
/// Packet ids the node used that acknowledgements can name.
const REMEMBERED_IDS: usize = 16;
/// Publishes and log lines kept in the [`Outcome`].
const KEPT: usize = 256;

/// The reference apps, as the registry names them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AppKind {
    Thermometer,
    RemoteLed,
    SensorData,
    LightStatus,
    NodeManager,
    Monitor,
}

impl AppKind {
    /// Every app, in the order the first input byte chooses them.
    pub const ALL: [AppKind; 6] = [
        AppKind::Thermometer,
        AppKind::RemoteLed,
        AppKind::SensorData,
        AppKind::LightStatus,
        AppKind::NodeManager,
        AppKind::Monitor,
    ];

    /// The app the byte chooses.
    pub fn from_byte(byte: u8) -> AppKind {
        Self::ALL[usize::from(byte) % Self::ALL.len()]
    }

    /// The byte that chooses this app.
    pub fn index(self) -> u8 {
        Self::ALL
            .iter()
            .position(|kind| *kind == self)
            .map_or(0, |index| index as u8)
    }

    /// The app's name in scenarios and the registry.
    pub fn name(self) -> &'static str {
        match self {
            AppKind::Thermometer => "thermometer",
            AppKind::RemoteLed => "remote-led",
            AppKind::SensorData => "sensor-data",
            AppKind::LightStatus => "light-status",
            AppKind::NodeManager => "node-manager",
            AppKind::Monitor => "monitor",
        }
    }

    /// Topics the app subscribes to, publishes on, or could mistake for
    /// its own: what ops 1 and 3 publish on.
    pub fn topics(self) -> &'static [&'static str] {
        match self {
            AppKind::Thermometer => &[
                "devices/fuzz/temperature/degrees",
                "devices/fuzz/temperature/error",
                "devices/fuzz/temperature",
                "fuzz",
            ],
            AppKind::RemoteLed => &["peer/btn/0", "fuzz/btn/0", "peer/btn/1", "peer/btn"],
            AppKind::SensorData => &[
                "fuzz/request",
                "fuzz/response",
                "sensor-data",
                "sensor-data/error",
                "fuzz/request/x",
            ],
            AppKind::LightStatus => &[
                "6b2f1c9e-3d7a-4e58-8c41-a9d2e07f5b13/living_room/light",
                "6b2f1c9e-3d7a-4e58-8c41-a9d2e07f5b13/home/living_room/light",
                "6b2f1c9e-3d7a-4e58-8c41-a9d2e07f5b13/home/living_room/status",
                "6b2f1c9e-3d7a-4e58-8c41-a9d2e07f5b13/living_room",
                "u/living_room/light",
            ],
            AppKind::NodeManager => &[
                "esp32/test/mqb/cmd/ping/1",
                "esp32/test/mqb/cmd/sysinfo/2",
                "esp32/test/mqb/cmd/reboot/3",
                "esp32/test/mqb/cmd/set/4",
                "esp32/test/mqb/cmd/set/5/77",
                "esp32/test/mqb/cmd/bogus/6",
                "esp32/test/mqb/cmd/ping",
                "esp32/test/mqb/cmd/",
                "esp32/test/mqb/cmd//7",
                "esp32/test/blinky/hz",
                "esp32/test/status",
                "esp32/test/log",
            ],
            AppKind::Monitor => &[
                "anything/at/all",
                "fuzz/seen",
                "a/b/c",
                "peer/btn/0",
                "\u{fc}/\u{f1}",
                "$SYS/broker/uptime",
            ],
        }
    }

    /// Payloads the app understands, or nearly does: what a payload
    /// selector of `4n` picks.
    pub fn payloads(self) -> &'static [&'static [u8]] {
        match self {
            AppKind::Thermometer => &[b"{\"degrees\": 72.5, \"unit\": \"F\"}", b"", b"0"],
            AppKind::RemoteLed => &[b"0", b"1", b"", b"00", b" 0", b"\0", b"\xff"],
            AppKind::SensorData => &[b"", b"now", b"{}", b"\xff\xfe"],
            AppKind::LightStatus => &[
                b"1",
                b"0",
                b"on",
                b"off",
                b"ON",
                b" true ",
                b"\"false\"",
                b"2",
                b"{\"on\": true}",
                b"\"",
                b"\"\"",
                b"'1'",
            ],
            AppKind::NodeManager => &[
                b"{\"blinky_hz\": 2.5, \"log_level\": \"debug\"}",
                b"blinky_hz=4",
                b"sysinfo_interval=30s",
                b"log_level=warn",
                b"{\"sysinfo_interval\": 0}",
                b"{}",
                b"{\"a\":1,\"b\":2,\"c\":3,\"d\":4,\"e\":5}",
                b"=",
                b"4",
                b"2.5",
                b"0",
                b"50",
                b"50.0001",
                b"-1",
                b"NaN",
                b"1e39",
                b"\"3\"",
                b"",
                b"{\"blinky_hz\": \"1\", \"blinky_hz\": 1e-45}",
                b"{\"log_level\": null}",
            ],
            AppKind::Monitor => &[b"hello", b"\"quoted\\\"\"", b"\x01\x02\n\t", b"\xff\xfe"],
        }
    }
}

/// What a run did, for tests that check the harness reaches the apps.
#[derive(Clone)]
pub struct Outcome {
    /// The app the input chose.
    pub app: AppKind,
    /// Ops run.
    pub ops: usize,
    /// Polls of the node.
    pub polls: usize,
    /// CONNECT packets the node sent.
    pub connects: u32,
    /// Resets (asked for, by the watchdog, or by the script).
    pub resets: u32,
    /// The first PUBLISH packets the node sent: topic and payload.
    pub published: Vec<(String, Vec<u8>)>,
    /// The first lines of the device log.
    pub log: Vec<String>,
    /// The LED at the end, for apps that have one.
    pub led_on: Option<bool>,
}

impl std::fmt::Debug for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Payloads as text: they are mostly JSON and words.
        let published: Vec<(&str, String)> = self
            .published
            .iter()
            .map(|(topic, payload)| {
                (
                    topic.as_str(),
                    String::from_utf8_lossy(payload).into_owned(),
                )
            })
            .collect();
        f.debug_struct("Outcome")
            .field("app", &self.app)
            .field("ops", &self.ops)
            .field("polls", &self.polls)
            .field("connects", &self.connects)
            .field("resets", &self.resets)
            .field("published", &published)
            .field("log", &self.log)
            .field("led_on", &self.led_on)
            .finish()
    }
}

impl Outcome {
    /// Whether the node published `payload` on `topic`.
    pub fn published(&self, topic: &str, payload: &[u8]) -> bool {
        self.published
            .iter()
            .any(|(sent_topic, sent_payload)| sent_topic == topic && sent_payload == payload)
    }

    /// Whether the device log has a line containing `text`.
    pub fn logged(&self, text: &str) -> bool {
        self.log.iter().any(|line| line.contains(text))
    }
}

/// A reference app's settings, kept to build it again after a reset.
#[derive(Clone, Debug)]
enum AppConfig {
    Thermometer(ThermometerConfig),
    RemoteLed(RemoteLedConfig),
    SensorData(SensorDataConfig),
    LightStatus(LightStatusConfig),
    NodeManager(NodeManagerConfig),
    Monitor(MonitorConfig),
}

fn pick<T: Copy>(choices: &[T], bits: u8) -> T {
    choices[usize::from(bits) % choices.len()]
}

const fn secs(seconds: u64) -> Duration {
    Duration::from_secs(seconds)
}

const fn millis(millis: u64) -> Duration {
    Duration::from_millis(millis)
}

impl AppConfig {
    /// The app's config in `variant` (7 bits); every value is one a
    /// scenario's `config:` could give.
    fn new(kind: AppKind, variant: u8) -> AppConfig {
        let v = variant;
        match kind {
            AppKind::Thermometer => {
                let mut config = ThermometerConfig::new(CLIENT_ID);
                config.unit = if v & 1 == 1 {
                    Unit::Celsius
                } else {
                    Unit::Fahrenheit
                };
                config.interval = pick(&[secs(60), secs(1), millis(750), secs(3600)], v >> 1);
                config.keep_alive = pick(&[secs(60), secs(5)], v >> 3);
                AppConfig::Thermometer(config)
            }
            AppKind::RemoteLed => {
                let peer = if v & 1 == 1 { CLIENT_ID } else { PEER };
                let mut config = RemoteLedConfig::new(CLIENT_ID, peer);
                config.period = pick(&[millis(500), millis(10), secs(60), millis(1)], v >> 1);
                config.keep_alive = pick(&[secs(60), secs(5)], v >> 3);
                AppConfig::RemoteLed(config)
            }
            AppKind::SensorData => {
                let mut config = SensorDataConfig::new(CLIENT_ID);
                config.qos = pick(
                    &[
                        QoS::AtMostOnce,
                        QoS::AtLeastOnce,
                        QoS::ExactlyOnce,
                        QoS::AtMostOnce,
                    ],
                    v,
                );
                config.interval = pick(&[secs(2), secs(0), millis(100), secs(60)], v >> 2);
                config.decimals = pick(&[2, 0, 6, 3], v >> 4);
                config.keep_alive = pick(&[secs(60), secs(5)], v >> 6);
                AppConfig::SensorData(config)
            }
            AppKind::LightStatus => {
                let mut config = LightStatusConfig::new(CLIENT_ID);
                config.initially_on = v & 1 == 0;
                config.interval = pick(&[secs(1), millis(100)], v >> 1);
                config.restart_delay = pick(&[secs(5), millis(100)], v >> 2);
                config.connect_timeout = pick(&[secs(10), secs(1)], v >> 3);
                config.max_link_attempts = pick(&[10, 1], v >> 4);
                config.uuid = truncated(pick(&[DEFAULT_UUID, SHORT_UUID], v >> 5));
                config.keep_alive = pick(&[secs(60), secs(5)], v >> 6);
                AppConfig::LightStatus(config)
            }
            AppKind::NodeManager => {
                let mut config = NodeManagerConfig::new(CLIENT_ID);
                config.watchdog_timeout = pick(&[secs(8), secs(0), secs(1), secs(8)], v);
                config.safe_mode_after = pick(&[3, 1, 0, 3], v >> 2);
                config.blinky_hz = pick(&[1.0, 50.0, 0.0, 2.5], v >> 4);
                if v & 0x40 != 0 {
                    config.log_level = LogLevel::Debug;
                    config.sysinfo_interval = secs(1);
                    config.healthy_after = secs(5);
                }
                AppConfig::NodeManager(config)
            }
            AppKind::Monitor => {
                let mut config = MonitorConfig::new(CLIENT_ID);
                config.qos = pick(
                    &[
                        QoS::AtMostOnce,
                        QoS::AtLeastOnce,
                        QoS::ExactlyOnce,
                        QoS::AtMostOnce,
                    ],
                    v,
                );
                config.clean_session = v & 4 == 0;
                config.filter = truncated(pick(&["#", "a/+/c", "peer/btn/0", "$SYS/#"], v >> 3));
                AppConfig::Monitor(config)
            }
        }
    }

    /// Builds the firmware as the runner's registration does.
    fn build(&self, board: &mut Board) -> Box<dyn Firmware> {
        match self.clone() {
            AppConfig::Thermometer(config) => ThermometerApp.build(config, board),
            AppConfig::RemoteLed(config) => RemoteLedApp.build(config, board),
            AppConfig::SensorData(config) => SensorDataApp.build(config, board),
            AppConfig::LightStatus(config) => LightStatusApp.build(config, board),
            AppConfig::NodeManager(config) => NodeManagerApp.build(config, board),
            AppConfig::Monitor(config) => MonitorApp.build(config, board),
        }
    }
}

/// The harness: runner, broker and script player for one device.
struct Driver {
    kind: AppKind,
    config: AppConfig,
    clock: VirtualClock,
    board: Board,
    firmware: Box<dyn Firmware>,
    /// The node's link is up.
    link: bool,
    /// The node's next poll.
    next_poll_at: Instant,
    /// Answers the node while the auto-broker is on; what it owes is
    /// delivered at the next round.
    broker: FakeBroker,
    /// Packet ids the node used lately.
    packet_ids: Vec<u16>,
    /// The node's last publishes, for the echo op.
    remembered: Vec<(Vec<u8>, Vec<u8>)>,
    polls: usize,
    outcome: Outcome,
}

/// Runs the script in `data` (see [`crate::input`]) against the app it
/// chooses. Panics only if the code under test panics, or the node
/// transmits bytes its own codec rejects.
pub fn run_app_messages(data: &[u8]) -> Outcome {
    let mut reader = Reader::new(data);
    let kind = AppKind::from_byte(reader.u8());
    let variant = reader.u8();
    let mut driver = Driver::new(kind, variant >> 1, variant & 1 == 0);
    driver.run();
    while !reader.is_empty() && driver.outcome.ops < MAX_OPS && driver.polls < MAX_POLLS {
        driver.outcome.ops += 1;
        driver.step(&mut reader);
    }
    driver.finish()
}

/// A PUBLISH assembled by hand, so that any topic and flags go out.
fn raw_publish(first_nibble: u8, topic: &[u8], packet_id: Option<u16>, payload: &[u8]) -> Vec<u8> {
    let topic = &topic[..topic.len().min(usize::from(u16::MAX))];
    let mut body = Vec::with_capacity(topic.len() + payload.len() + 4);
    body.extend((topic.len() as u16).to_be_bytes());
    body.extend(topic);
    if let Some(id) = packet_id {
        body.extend(id.to_be_bytes());
    }
    body.extend(payload);
    let mut packet = vec![0x30 | (first_nibble & 0x0f)];
    let mut remaining = body.len();
    loop {
        let digit = (remaining % 128) as u8;
        remaining /= 128;
        if remaining == 0 {
            packet.push(digit);
            break;
        }
        packet.push(digit | 0x80);
    }
    packet.extend(body);
    packet
}

impl Driver {
    fn new(kind: AppKind, variant: u8, auto_broker: bool) -> Driver {
        let clock = VirtualClock::new();
        let mut board = Board::new(clock.clone(), 0x0028_ff64_1e3c_5a01);
        let config = AppConfig::new(kind, variant);
        let firmware = config.build(&mut board);
        let mut broker = FakeBroker::new();
        broker.answers = auto_broker;
        Driver {
            kind,
            config,
            next_poll_at: clock.now(),
            clock,
            board,
            firmware,
            link: false,
            broker,
            packet_ids: Vec::new(),
            remembered: Vec::new(),
            polls: 0,
            outcome: Outcome {
                app: kind,
                ops: 0,
                polls: 0,
                connects: 0,
                resets: 0,
                published: Vec::new(),
                log: Vec::new(),
                led_on: None,
            },
        }
    }

    fn now(&self) -> Instant {
        self.clock.now()
    }

    fn step(&mut self, reader: &mut Reader<'_>) {
        match reader.u8() % OP_COUNT {
            op::CONNACK => {
                let flags = reader.u8();
                let code = flags >> 1;
                let return_code = code.saturating_sub(64);
                // By hand: codes above 5 are not encodable, only sendable.
                self.deliver(&[0x20, 0x02, flags & 1, return_code]);
            }
            op::PUBLISH_KNOWN => {
                let topic = pick(self.kind.topics(), reader.u8());
                self.publish(reader, topic.as_bytes());
            }
            op::PUBLISH_TOPIC => {
                let topic = reader.short_bytes();
                self.publish(reader, topic);
            }
            op::PUBLISH_CHANGED => {
                let topic = pick(self.kind.topics(), reader.u8());
                let how = reader.u8() % 5;
                let text = reader.short_bytes();
                let topic = changed_topic(topic.as_bytes(), how, text);
                self.publish(reader, &topic);
            }
            op::RAW => {
                let bytes = reader.long_bytes();
                self.deliver(bytes);
            }
            op::ACK => self.acknowledge(reader),
            op::ADVANCE => {
                let value = reader.u16();
                let step = if value & 0x8000 != 0 {
                    Duration::from_micros(u64::from(value & 0x7fff))
                } else {
                    millis(u64::from(value & 0x0fff) << ((value >> 12) & 7))
                };
                self.advance(step);
            }
            op::LINK_DROP => {
                if self.link {
                    self.link = false;
                    self.broker.forget_owed();
                    let now = self.now();
                    self.firmware.link_down(now);
                }
                self.run();
            }
            op::PART => {
                let which = reader.u8();
                let value = reader.u16();
                self.act_on_part(which, value);
                self.run();
            }
            op::AUTO_BROKER => self.broker.answers = !self.broker.answers,
            op::ECHO => {
                let index = reader.u8();
                let (flags, packet_id) = publish_flags(reader);
                if !self.remembered.is_empty() {
                    let (topic, payload) =
                        self.remembered[usize::from(index) % self.remembered.len()].clone();
                    let packet = raw_publish(flags, &topic, packet_id, &payload);
                    self.deliver(&packet);
                }
            }
            op::RESET => {
                let cause = pick(
                    &[
                        ResetCause::PowerOn,
                        ResetCause::Software,
                        ResetCause::Watchdog,
                        ResetCause::Panic,
                        ResetCause::Brownout,
                        ResetCause::Other,
                    ],
                    reader.u8(),
                );
                self.reset(cause);
                self.run();
            }
            _ => {}
        }
    }

    /// The rest of a PUBLISH op: flags, packet id, payload; then delivery.
    fn publish(&mut self, reader: &mut Reader<'_>, topic: &[u8]) {
        let (flags, packet_id) = publish_flags(reader);
        let selector = reader.u8();
        let filler;
        let payload: &[u8] = match selector % 4 {
            0 => pick(self.kind.payloads(), selector >> 2),
            1 => reader.short_bytes(),
            2 => reader.long_bytes(),
            _ => {
                let byte = reader.u8();
                filler = vec![byte; usize::from(reader.u16())];
                &filler
            }
        };
        let packet = raw_publish(flags, topic, packet_id, payload);
        self.deliver(&packet);
    }

    fn acknowledge(&mut self, reader: &mut Reader<'_>) {
        let kind = reader.u8() % 8;
        let which = reader.u8();
        let id = if which >= 0xf0 {
            reader.u16()
        } else if self.packet_ids.is_empty() {
            u16::from(which)
        } else {
            self.packet_ids[usize::from(which) % self.packet_ids.len()]
        };
        let [high, low] = id.to_be_bytes();
        let bytes = match kind {
            0 => vec![0x40, 0x02, high, low],
            1 => vec![0x50, 0x02, high, low],
            2 => vec![0x62, 0x02, high, low],
            3 => vec![0x70, 0x02, high, low],
            4 => {
                let count = 1 + reader.u8() % 4;
                let mut bytes = vec![0x90, 2 + count, high, low];
                for _ in 0..count {
                    let code = reader.u8();
                    bytes.push(pick(&[0, 1, 2, 0x80, code], code));
                }
                bytes
            }
            5 => vec![0xb0, 0x02, high, low],
            6 => vec![0xd0, 0x00],
            _ => vec![0x20, 0x02, 0x00, 0x00],
        };
        self.deliver(&bytes);
    }

    /// Bytes from the broker: over the link if it is up (opening it first
    /// if the node wants one), dropped if it is not, as TCP would.
    fn deliver(&mut self, bytes: &[u8]) {
        self.run();
        if !self.link {
            return;
        }
        self.feed(bytes);
        self.run();
    }

    /// Hands bytes to the node, running it when its buffer is full.
    fn feed(&mut self, bytes: &[u8]) {
        let mut offset = 0;
        let mut stalls = 0;
        while offset < bytes.len() && stalls < 4 && self.link {
            let now = self.now();
            let taken = self.firmware.receive(now, &bytes[offset..]);
            offset += taken;
            if offset < bytes.len() {
                if taken == 0 {
                    stalls += 1;
                }
                self.poll();
                self.drain_transmit();
            }
        }
    }

    fn poll(&mut self) {
        let now = self.now();
        let next = self.firmware.poll(now);
        self.polls += 1;
        // Busy waits (1-Wire timing) moved the clock; a deadline that is
        // not in the future makes the node due again at once.
        self.next_poll_at = next.max(self.now());
    }

    /// Runs the node at the current time until it has nothing left to do
    /// now: link changes, owed bytes, a poll, its output, resets.
    fn run(&mut self) {
        for _ in 0..MAX_ROUNDS {
            if self.watchdog_expired() {
                self.reset(ResetCause::Watchdog);
            }
            self.manage_link();
            if self.link && !self.broker.owes_nothing() {
                let owed = self.broker.take_owed();
                self.feed(&owed);
            }
            self.poll();
            self.drain_transmit();
            self.drain_log();
            let reset_requested = self
                .board
                .platform_control()
                .is_some_and(|platform| platform.take_reset_request());
            if reset_requested {
                self.reset(ResetCause::Software);
                continue;
            }
            self.manage_link();
            if self.broker.owes_nothing() && self.next_poll_at > self.now() {
                break;
            }
        }
    }

    fn watchdog_expired(&self) -> bool {
        self.board
            .platform_control()
            .and_then(|platform| platform.watchdog_deadline())
            .is_some_and(|deadline| deadline <= self.now())
    }

    fn manage_link(&mut self) {
        let now = self.now();
        if self.link && self.firmware.wants_close() {
            // A DISCONNECT goes out before the close.
            self.drain_transmit();
            self.link = false;
            self.broker.forget_owed();
            self.firmware.link_down(now);
        }
        if !self.link && self.firmware.wants_link(now) {
            self.link = true;
            self.broker.forget_owed();
            self.firmware.link_up(now);
        }
    }

    /// Moves time on by `step`, running the node at each of its deadlines
    /// (and its watchdog's) on the way, up to a bound of polls.
    fn advance(&mut self, step: Duration) {
        let target = self.now() + step;
        for _ in 0..MAX_POLLS_PER_STEP {
            let watchdog = self
                .board
                .platform_control()
                .and_then(|platform| platform.watchdog_deadline());
            let next = watchdog.map_or(self.next_poll_at, |deadline| {
                deadline.min(self.next_poll_at)
            });
            if next > target || self.polls >= MAX_POLLS {
                break;
            }
            self.clock.advance_to(next);
            self.run();
            if self.now() >= target {
                break;
            }
        }
        self.clock.advance_to(target);
        self.run();
    }

    /// Reads everything the node transmitted; each byte must belong to a
    /// packet its own codec decodes.
    fn drain_transmit(&mut self) {
        let bytes = take_transmitted(self.firmware.as_mut());
        match decode_all(&bytes) {
            Ok(packets) => {
                if self.link {
                    for packet in &packets {
                        self.on_sent(packet);
                    }
                }
            }
            Err((error, rest)) => panic!(
                "{} transmitted bytes its own codec rejects ({error}): {rest:02x?}",
                self.kind.name()
            ),
        }
    }

    /// What the broker sees from the node: the script remembers what it can
    /// send back, and the broker owes its answer.
    fn on_sent(&mut self, packet: &Packet<'_>) {
        match packet {
            Packet::Connect(_) => self.outcome.connects += 1,
            Packet::Publish(publish) => {
                if self.outcome.published.len() < KEPT {
                    self.outcome
                        .published
                        .push((publish.topic.to_owned(), publish.payload.to_vec()));
                }
                if self.remembered.len() == REMEMBERED_PUBLISHES {
                    self.remembered.remove(0);
                }
                self.remembered
                    .push((publish.topic.as_bytes().to_vec(), publish.payload.to_vec()));
                if let Some(id) = publish.packet_id {
                    self.remember_id(id);
                }
            }
            Packet::Subscribe(subscribe) => self.remember_id(subscribe.packet_id),
            Packet::Unsubscribe(unsubscribe) => self.remember_id(unsubscribe.packet_id),
            _ => {}
        }
        self.broker.receive(packet);
    }

    fn remember_id(&mut self, id: u16) {
        if !self.packet_ids.contains(&id) {
            if self.packet_ids.len() == REMEMBERED_IDS {
                self.packet_ids.remove(0);
            }
            self.packet_ids.push(id);
        }
    }

    fn drain_log(&mut self) {
        while let Some(line) = self.firmware.pop_log() {
            if self.outcome.log.len() < KEPT {
                self.outcome.log.push(line.text.as_str().to_owned());
            }
        }
    }

    fn act_on_part(&mut self, which: u8, value: u16) {
        let parts = self.board.parts();
        if parts.is_empty() {
            return;
        }
        let (_, part) = &parts[usize::from(which) % parts.len()];
        match part {
            Part::Button(button) => {
                if value & 1 == 1 {
                    button.press();
                } else {
                    button.release();
                }
            }
            Part::Led(_) => {}
            Part::Ds18b20(sensor) => match value % 8 {
                0 => sensor.set_fault(Some(Ds18b20Fault::Disconnected)),
                1 => sensor.set_fault(Some(Ds18b20Fault::CrcError)),
                2 => sensor.set_fault(Some(Ds18b20Fault::PresenceOnly)),
                3 => sensor.set_fault(Some(Ds18b20Fault::ShortedToGround)),
                4 => sensor.set_fault(None),
                _ => {
                    // Out of range is refused by the model, which is fine.
                    let _ = sensor.set_temperature(-60.0 + f64::from(value >> 3) / 16.0);
                }
            },
            Part::Tsl2591(sensor) => match value % 4 {
                0 => sensor.set_fault(Some(Tsl2591Fault::Nack)),
                1 => sensor.set_fault(None),
                _ => {
                    let _ = sensor.set_lux(f64::from(value >> 2) * 10.0);
                }
            },
        }
    }

    /// The chip resets: the old firmware goes (writing back its retained
    /// memory), the new one boots on the same parts.
    fn reset(&mut self, cause: ResetCause) {
        self.outcome.resets += 1;
        self.link = false;
        self.broker.forget_owed();
        drop(std::mem::replace(&mut self.firmware, Box::new(Halted)));
        if let Some(platform) = self.board.platform_control() {
            platform.prepare_boot(cause);
        }
        self.firmware = self.config.build(&mut self.board);
        self.next_poll_at = self.now();
    }

    fn finish(mut self) -> Outcome {
        self.drain_log();
        self.outcome.polls = self.polls;
        self.outcome.led_on = match self.board.part(pins::LED.part) {
            Some(Part::Led(led)) => Some(led.is_on()),
            _ => None,
        };
        self.outcome
    }
}

/// The fixed-header nibble and packet id of a PUBLISH op.
fn publish_flags(reader: &mut Reader<'_>) -> (u8, Option<u16>) {
    let flags = reader.u8();
    let id = reader.u16();
    if flags & 0x80 != 0 {
        let nibble = flags & 0x0f;
        let qos = (nibble >> 1) & 3;
        (nibble, (qos != 0).then_some(id))
    } else {
        let qos = ((flags >> 1) & 3) % 3;
        let dup = qos != 0 && flags & 0x08 != 0;
        let nibble = (u8::from(dup) << 3) | (qos << 1) | (flags & 1);
        (nibble, (qos != 0).then_some(id.max(1)))
    }
}

/// A known topic changed by op 3.
fn changed_topic(topic: &[u8], how: u8, text: &[u8]) -> Vec<u8> {
    let last_slash = topic.iter().rposition(|byte| *byte == b'/');
    let first_slash = topic.iter().position(|byte| *byte == b'/');
    let mut changed = Vec::with_capacity(topic.len() + text.len() + 1);
    match how {
        0 => {
            let keep = last_slash.map_or(0, |slash| slash + 1);
            changed.extend(&topic[..keep]);
            changed.extend(text);
        }
        1 => {
            changed.extend(topic);
            changed.push(b'/');
            changed.extend(text);
        }
        2 => changed.extend(&topic[..last_slash.unwrap_or(0)]),
        3 => {
            changed.extend(text);
            changed.extend(&topic[first_slash.unwrap_or(topic.len())..]);
        }
        _ => {
            let split = last_slash.unwrap_or(topic.len());
            changed.extend(&topic[..split]);
            changed.push(b'/');
            changed.extend(text);
            changed.extend(&topic[split..]);
        }
    }
    changed
}
