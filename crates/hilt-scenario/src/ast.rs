//! The typed, validated form of a scenario file.
//!
//! Every value here has passed validation: durations are parsed, device and
//! part names resolve, regexes compile. The runner never sees YAML.

use std::path::PathBuf;
use std::time::Duration;

/// A place in a scenario file, 1-based, as editors count.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Location {
    pub line: usize,
    pub column: usize,
}

impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.line, self.column)
    }
}

/// A whole, validated scenario file.
#[derive(Clone, Debug)]
pub struct Scenario {
    /// The file it was read from, as given (used in every report).
    pub file: PathBuf,
    pub name: String,
    pub about: Option<String>,
    pub time: TimeMode,
    /// Seed for every random choice of the run; 0 when the file gives none.
    pub seed: u64,
    pub broker: BrokerChoice,
    /// `broker: { listen: "127.0.0.1:1883" }` (an addition): where hilt
    /// accepts the connections of external devices, which it relays to the
    /// broker. `None`: a free port on 127.0.0.1, chosen when the run starts.
    /// Only a scenario with external devices listens at all.
    pub listen: Option<std::net::SocketAddr>,
    /// `broker: { users: { alice: s3cret } }` (an addition): who may
    /// connect to the embedded broker. Empty: anyone (no credentials asked).
    pub broker_users: Vec<BrokerUser>,
    /// `broker: { tls: true }` (an addition): the broker's side speaks TLS.
    /// hilt makes a test certificate authority for the run, which every
    /// simulated board trusts; each link ends its device's TLS with a
    /// certificate that authority issued (the MQTT inside stays visible),
    /// and hilt's own connection to the broker is TLS as well.
    pub broker_tls: bool,
    /// Devices in file order; names are unique. A fleet's members are
    /// here as ordinary devices, one after another, where the fleet is
    /// written.
    pub devices: Vec<Device>,
    /// The fleets (`count:` entries) in file order, each a record of which
    /// of `devices` are its members.
    pub fleets: Vec<Fleet>,
    pub steps: Vec<Step>,
}

impl Scenario {
    /// The fleet named `name`, if there is one.
    pub fn fleet(&self, name: &str) -> Option<&Fleet> {
        self.fleets.iter().find(|fleet| fleet.name == name)
    }

    /// The devices a step naming `name` acts on: every member of the fleet
    /// `name`, or the one device `name`; empty when there is neither.
    pub fn devices_named(&self, name: &str) -> &[Device] {
        if let Some(fleet) = self.fleet(name) {
            return self
                .devices
                .get(fleet.first_device..fleet.first_device + fleet.count as usize)
                .unwrap_or_default();
        }
        match self.devices.iter().position(|device| device.name == name) {
            Some(index) => std::slice::from_ref(&self.devices[index]),
            None => &[],
        }
    }
}

/// Many devices of one app, declared once with `count:` (an addition to
/// the language). Its members are ordinary [`Device`]s named
/// `<name>-<index>`, the index from 1 to `count`, zero-padded to the width
/// of `count` (`probe-01` … `probe-20`), so that they sort in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fleet {
    pub name: String,
    /// Where the fleet's name is written.
    pub location: Location,
    /// How many members, at least 1.
    pub count: u32,
    /// The index in [`Scenario::devices`] of the first member; the others
    /// follow it.
    pub first_device: usize,
}

impl Fleet {
    /// How many digits an index is written with: those of `count`.
    pub fn index_width(&self) -> usize {
        self.count.to_string().len()
    }

    /// The index as a member's name writes it, zero-padded (`07`).
    pub fn padded_index(&self, index: u32) -> String {
        format!("{index:0width$}", width = self.index_width())
    }

    /// The name of member `index` (1-based): `probe-07`.
    pub fn member_name(&self, index: u32) -> String {
        format!("{}-{}", self.name, self.padded_index(index))
    }

    /// Which member `device` is (1-based), if it is one; O(1), without
    /// a list of names.
    pub fn member_index(&self, device: &str) -> Option<u32> {
        let digits = device.strip_prefix(self.name.as_str())?.strip_prefix('-')?;
        if digits.len() != self.index_width() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let index: u32 = digits.parse().ok()?;
        (1..=self.count).contains(&index).then_some(index)
    }
}

/// Whose messages a message expectation looks at (`from:`, an addition).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Publishers {
    /// One device, by name (a fleet member is one too).
    Device(String),
    /// Every member of a fleet.
    Fleet(Fleet),
}

impl Publishers {
    /// The name `from:` gave.
    pub fn name(&self) -> &str {
        match self {
            Publishers::Device(name) => name,
            Publishers::Fleet(fleet) => &fleet.name,
        }
    }

    /// Whether a message logged with source `device` is theirs.
    pub fn includes(&self, device: &str) -> bool {
        match self {
            Publishers::Device(name) => name == device,
            Publishers::Fleet(fleet) => fleet.member_index(device).is_some(),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimeMode {
    Virtual,
    Real,
}

/// A user of the embedded broker. The password is a secret: its `Debug`
/// does not show it, and nothing hilt writes does.
#[derive(Clone, PartialEq, Eq)]
pub struct BrokerUser {
    pub name: String,
    pub password: String,
}

impl std::fmt::Debug for BrokerUser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BrokerUser")
            .field("name", &self.name)
            .field("password", &"(hidden)")
            .finish()
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BrokerChoice {
    /// The in-process broker the runner starts (rumqttd).
    Embedded,
    /// A broker already running elsewhere, e.g. `mqtt://127.0.0.1:1883`.
    External {
        url: String,
        host: String,
        port: u16,
        /// `mqtts://`: hilt's own connections to it speak TLS.
        tls: bool,
        /// The certificate authority (a PEM file) hilt trusts for the
        /// broker's certificate over TLS: `broker: { ca }`, relative to
        /// the scenario file, or `--broker-ca`. `None`: the broker's
        /// certificate must chain to one of the Mozilla roots (a public
        /// broker's).
        ca: Option<PathBuf>,
        /// The user name and password hilt's own client logs in with
        /// (`--broker-username`, `--broker-password`); never from a file.
        /// `None`: it sends none.
        login: Option<BrokerUser>,
    },
}

#[derive(Clone, Debug)]
pub struct Device {
    pub name: String,
    pub location: Location,
    pub client_id: String,
    pub kind: DeviceKind,
}

#[derive(Clone, Debug)]
pub enum DeviceKind {
    /// A device the harness runs: a registered firmware app on simulated parts.
    Simulated {
        app: String,
        config: ConfigMap,
        /// Starting state of parts, applied before the device boots.
        parts: Vec<PartSetting>,
    },
    /// A device the harness does not run (real board, Wokwi, other
    /// process). It connects to hilt's listener, which relays its
    /// connection to the broker through the same link as a simulated
    /// device's.
    External {
        /// `connect_within:` (an addition): the run is an error if the
        /// device has not connected this long after the run starts; 30s
        /// unless the file says otherwise.
        connect_within: Duration,
        /// True (`connects_to: hilt`, the default): the device connects to
        /// hilt's listener and is relayed. False (`connects_to: broker`,
        /// only with `broker: { url }`): it connects to the broker itself,
        /// past hilt, as a Wokwi simulation reaching a public broker must;
        /// hilt then sees its messages only through its own subscription
        /// (logged as `external`), and cannot apply faults to it, wait for
        /// it or tell its messages apart.
        through_hilt: bool,
    },
}

/// How long an external device may take to connect, and how long
/// `wait: { connected }` waits, unless the file says otherwise.
pub const DEFAULT_CONNECT_WITHIN: Duration = Duration::from_secs(30);

/// An app's `config:` mapping, kept as text with locations so that the app's
/// registration can parse it and report errors at the right place.
#[derive(Clone, Debug, Default)]
pub struct ConfigMap {
    pub location: Location,
    pub entries: Vec<ConfigEntry>,
}

#[derive(Clone, Debug)]
pub struct ConfigEntry {
    pub key: String,
    pub key_location: Location,
    pub value: ConfigValue,
}

#[derive(Clone, Debug)]
pub enum ConfigValue {
    /// A scalar as written (numbers, booleans and strings are all text here).
    Scalar {
        text: String,
        location: Location,
    },
    Sequence {
        items: Vec<ConfigValue>,
        location: Location,
    },
    Mapping(ConfigMap),
}

impl ConfigValue {
    pub fn location(&self) -> Location {
        match self {
            ConfigValue::Scalar { location, .. } | ConfigValue::Sequence { location, .. } => {
                *location
            }
            ConfigValue::Mapping(map) => map.location,
        }
    }
}

/// One step of the scenario.
#[derive(Clone, Debug)]
pub struct Step {
    /// Where the step starts (the `-` of the list item).
    pub location: Location,
    /// The optional `name:` the author gave it.
    pub name: Option<String>,
    pub kind: StepKind,
}

#[derive(Clone, Debug)]
pub enum StepKind {
    Wait(Duration),
    /// `wait: { connected: probe, within: 10s }` (an addition): until the
    /// external device has connected through hilt.
    WaitConnected(ConnectedWait),
    Press(PartRef),
    Release(PartRef),
    /// Press, hold 100ms, release.
    Click(PartRef),
    Set(Vec<PartSetting>),
    Publish(PublishAction),
    Expect(Expectation),
    /// `broker: stop | start | restart`: the embedded broker goes away and
    /// comes back, losing what a real restart loses.
    Broker(BrokerAction),
    /// `network: { device, link, latency, drop }`: changes one device's link.
    Network(NetworkChange),
    /// `reboot: device`: a power cycle; only what survives power loss stays.
    Reboot(DeviceRef),
    /// `hang: device` (an addition to the language): the device's main loop
    /// stops, as if stuck in a loop; only a watchdog or a reboot ends it.
    Hang(DeviceRef),
    /// `panic: device` or `panic: { device, place }` (an addition): the
    /// device's firmware panics now; the chip's panic handler records the
    /// place and the time, and the chip resets for a panic.
    Panic(PanicAction),
    /// `flash: { device, corrupt: settings }` (an addition): garbage over
    /// one partition of the device's flash, as bit rot or a foreign tool
    /// leaves it; the firmware finds it when it next reads there.
    Flash(FlashCorruption),
    /// `tls: expired` (an addition; needs `broker: { tls: true }`): from now
    /// on the broker's side presents this certificate to links that open.
    Tls(TlsCertificate),
    /// `broker: { revoke: alice }` (an addition; needs `broker: { users }`):
    /// the embedded broker forgets the user, closes the connections that
    /// logged in as her and refuses her from then on.
    Revoke(String),
    /// `ota: { device, version, boots, size, chunk, ... }` (an addition): the
    /// harness pushes a firmware image to node-manager over MQTT with the
    /// sender `hilt ota` uses.
    Ota(OtaPush),
}

/// `panic:`: the firmware of a device hilt runs panics now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PanicAction {
    pub device: DeviceRef,
    /// The `file:line` the panic handler records; without it, the
    /// scenario file's name and the step's line (`panics.yaml:12`), the
    /// place that made the firmware panic.
    pub place: Option<String>,
}

/// The longest `place:` of a `panic` step: what the chip's panic record
/// holds (`hilt_firmware::platform::PANIC_PLACE_LEN`).
pub const MAX_PANIC_PLACE_LEN: usize = 64;

/// `flash:`: one partition of a device's flash turns to garbage.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FlashCorruption {
    pub device: DeviceRef,
    pub partition: FlashPartition,
}

/// A partition of the board's flash a `flash` step can damage, named as
/// in the partition table (`hilt_firmware::partitions`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FlashPartition {
    /// node-manager's stored settings.
    Settings,
    /// The OTA data the bootloader picks the app slot by.
    OtaData,
}

impl FlashPartition {
    /// The spellings, in the order the language page lists them.
    pub const SPELLINGS: &'static [&'static str] = &["settings", "otadata"];

    /// The spelling a scenario uses.
    pub fn as_str(self) -> &'static str {
        match self {
            FlashPartition::Settings => "settings",
            FlashPartition::OtaData => "otadata",
        }
    }

    /// The partition a spelling names.
    pub fn from_spelling(spelling: &str) -> Option<FlashPartition> {
        Some(match spelling {
            "settings" => FlashPartition::Settings,
            "otadata" => FlashPartition::OtaData,
            _ => return None,
        })
    }
}

/// What a simulated image does at boot (`boots:` of an `ota` step).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OtaBoots {
    Runs,
    Crashes,
    Hangs,
}

impl OtaBoots {
    /// The spellings, in the order the language page lists them.
    pub const SPELLINGS: &'static [&'static str] = &["runs", "crashes", "hangs"];
}

/// Where an `ota` step cuts the board's power.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PowerCut {
    /// During the first flash operation after chunk N is sent.
    AtChunk(u64),
    /// At a chunk chosen from the device's seed (the same every run).
    Random,
}

/// `ota:`: one firmware update pushed to a device over MQTT.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OtaPush {
    pub device: DeviceRef,
    /// The board's topic prefix; the device's `config: prefix` (or
    /// node-manager's default) when absent.
    pub prefix: Option<String>,
    /// The command id (`<prefix>/mqb/cmd/ota/<id>/...`).
    pub id: String,
    /// The version in the image's app descriptor.
    pub version: String,
    pub boots: OtaBoots,
    /// Bytes in the image.
    pub size: u64,
    /// Bytes of image per chunk.
    pub chunk: u64,
    /// The topic names another SHA-256 than the image's.
    pub corrupt: bool,
    pub power_cut: Option<PowerCut>,
    /// The broker restarts once chunk N has been sent.
    pub broker_restart_at_chunk: Option<u64>,
}

/// The certificate a `tls:` step has the broker's side present.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TlsCertificate {
    /// Issued by the run's authority for the broker's name: boards accept it.
    Valid,
    /// Issued by the run's authority, but its validity has ended.
    Expired,
    /// Issued by the run's authority for another name.
    WrongName,
    /// For the broker's name, from an authority no board trusts.
    UnknownAuthority,
    /// A new certificate and key from the run's authority.
    Rotated,
}

impl TlsCertificate {
    /// The spellings, in the order the language page lists them.
    pub const SPELLINGS: &'static [&'static str] = &[
        "valid",
        "expired",
        "wrong_name",
        "unknown_authority",
        "rotated",
    ];

    /// The spelling a scenario uses.
    pub fn as_str(self) -> &'static str {
        match self {
            TlsCertificate::Valid => "valid",
            TlsCertificate::Expired => "expired",
            TlsCertificate::WrongName => "wrong_name",
            TlsCertificate::UnknownAuthority => "unknown_authority",
            TlsCertificate::Rotated => "rotated",
        }
    }

    /// The certificate a spelling names.
    pub fn from_spelling(spelling: &str) -> Option<TlsCertificate> {
        Some(match spelling {
            "valid" => TlsCertificate::Valid,
            "expired" => TlsCertificate::Expired,
            "wrong_name" => TlsCertificate::WrongName,
            "unknown_authority" => TlsCertificate::UnknownAuthority,
            "rotated" => TlsCertificate::Rotated,
            _ => return None,
        })
    }
}

impl StepKind {
    /// True for steps that change the world (they reset the message window).
    pub fn is_action(&self) -> bool {
        !matches!(self, StepKind::Expect(_))
    }
}

/// `wait: { connected: probe, within: 10s }`: the external device's
/// CONNECT, relayed by hilt, is accepted by the broker within `within`
/// (the step fails otherwise).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConnectedWait {
    pub device: DeviceRef,
    pub within: Duration,
}

/// A device named by a step.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeviceRef {
    pub device: String,
    pub location: Location,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BrokerAction {
    Stop,
    Start,
    Restart,
}

/// What a `network:` step changes; absent fields stay as they are.
#[derive(Clone, Debug, PartialEq)]
pub struct NetworkChange {
    pub device: DeviceRef,
    /// `link: up` (true) or `link: down` (false): down cuts the device off
    /// without telling either side, as a WiFi loss does.
    pub link_up: Option<bool>,
    /// `latency:` added to every packet each way.
    pub latency: Option<Duration>,
    /// `drop:` the probability (0..=1) that a packet is lost; a lost packet
    /// breaks the TCP connection, as a link too bad to retransmit over does.
    pub drop: Option<f64>,
}

/// `device.part`, e.g. `blue.button`, `probe.gpio2`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PartRef {
    pub device: String,
    pub part: String,
    pub location: Location,
}

impl std::fmt::Display for PartRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}", self.device, self.part)
    }
}

/// `device.part.property: value`, already checked against the part's kind.
#[derive(Clone, Debug, PartialEq)]
pub struct PartSetting {
    pub target: PartRef,
    pub value: PartValue,
}

#[derive(Clone, Debug, PartialEq)]
pub enum PartValue {
    /// DS18B20 `temperature`, degrees Celsius, -55..=125.
    Temperature(f64),
    /// TSL2591 `lux`, >= 0.
    Lux(f64),
    /// `fault`: a part-specific fault name (`disconnected`, `crc_error`,
    /// `nack`), or `None` to clear it.
    Fault(Option<String>),
}

#[derive(Clone, Debug, PartialEq)]
pub struct PublishAction {
    pub topic: String,
    pub payload: Vec<u8>,
    pub qos: u8,
    pub retain: bool,
    /// `repeat:` (an addition): publish this many times in a row, each one
    /// delivered before the next, at the same device time; 1 by default.
    /// A flood without a hundred lines of YAML.
    pub repeat: u32,
}

#[derive(Clone, Debug)]
pub enum Expectation {
    Message(MessageExpectation),
    Led(LedExpectation),
    Pin(PinExpectation),
    /// `expect: { led: .., blinks: 2hz, tolerance: 10%, for: 3s }` (an
    /// addition to the language, after Renode's LED tester).
    Blink(BlinkExpectation),
}

/// The LED blinks at `hz` (full on-off cycles per second) within the
/// tolerance, measured over `over` from the step's start; `hz: 0` means it
/// does not change at all.
#[derive(Clone, Debug, PartialEq)]
pub struct BlinkExpectation {
    pub led: PartRef,
    pub hz: f64,
    /// Allowed difference in Hz (a `%` tolerance is converted).
    pub tolerance_hz: f64,
    pub over: Duration,
}

#[derive(Clone, Debug)]
pub struct MessageExpectation {
    /// An MQTT topic filter; `+` and `#` allowed, already validated.
    pub filter: String,
    pub body: Option<PayloadMatch>,
    pub qos: Option<u8>,
    pub retain: Option<bool>,
    /// `Some(n)`: exactly n fitting messages in the window.
    pub count: Option<u32>,
    /// How long to wait; 1s unless the file says otherwise.
    pub within: Duration,
    /// `since: start`: look at the whole run, not only after the last action.
    pub since_start: bool,
    /// Absolute tolerance for numbers in `json:` matching.
    pub tolerance: Option<f64>,
    /// `from:` (an addition): only messages these devices published fit.
    pub from: Option<Publishers>,
    /// `each: true` (an addition): `from:` names a fleet, and every member
    /// must publish a fitting message in the window (with `count: N`,
    /// exactly N each), rather than the fleet as a whole.
    pub each: bool,
}

#[derive(Clone, Debug)]
pub enum PayloadMatch {
    /// `payload:` exact text.
    Exact(String),
    /// `json:` subset match.
    Json(serde_json::Value),
    /// `matches:` a regex on the payload text.
    Regex(regex::Regex),
}

#[derive(Clone, Debug)]
pub struct LedExpectation {
    pub led: PartRef,
    pub on: bool,
    pub timing: LedTiming,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LedTiming {
    /// Right now.
    Now,
    /// Becomes so within the duration.
    Within(Duration),
    /// Is so now and stays so for the duration.
    For(Duration),
}

#[derive(Clone, Debug)]
pub struct PinExpectation {
    pub pin: PartRef,
    pub high: bool,
}
