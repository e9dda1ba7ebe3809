//! The simulated world of one run: the broker, the devices on their links,
//! the harness's own MQTT client, faults, and time.
//!
//! # How time can move without losing a message
//!
//! Device time only moves when nothing is in flight. The runner sits on every
//! device link (it is the device's TCP stack), so it sees each packet a device
//! sends before the broker does, and forwards the packets of an instant in
//! groups that are in flight together (`group.rs` says which may share a
//! group). For each packet it knows what the broker must send back and to whom, from its own
//! mirror of the broker's state (`broker_model.rs`):
//!
//! - CONNECT → CONNACK, plus what a resumed persistent session was kept;
//!   SUBSCRIBE → SUBACK plus the retained messages the new filters match
//!   (the runner keeps its own copy of the retained store); PUBLISH QoS 1/2
//!   → PUBACK/PUBREC; PUBREL → PUBCOMP; PINGREQ → PINGRESP; UNSUBSCRIBE →
//!   UNSUBACK; DISCONNECT → the broker closes the connection;
//! - PUBLISH → one delivery to every connection whose subscriptions match,
//!   and one to the harness's own client, which subscribes to `#`. That last
//!   delivery proves the broker has routed (and, if retained, stored) the
//!   message even when no device subscribes to it;
//! - a connection the runner drops without DISCONNECT → the will it carried,
//!   delivered like a publish from the broker itself.
//!
//! The runner waits (in wall time, bounded) until all of a group's have
//! arrived before it forwards the next group or moves device time. No two
//! packets of a group deliver to the same device, and what arrives is handed
//! to the devices in a fixed order: by the position of the packet that
//! caused it, then by arrival on one connection. ARCHITECTURE.md gives the
//! full argument.
//!
//! # Faults
//!
//! Faults are wrappers around the link, as smoltcp's `FaultInjector` wraps a
//! device: latency and loss delay packets (a lost TCP segment costs a
//! retransmission timeout, it does not vanish); `link: down` drops whatever
//! is sent either way without telling anyone. The broker then notices only
//! as a real one would, by keepalive: the runner plays the broker's
//! keepalive timer in device time (rumqttd's runs in wall time) and drops the
//! connection at 1.5 × keepalive after the last packet it heard, which makes
//! the broker publish the will. A device that resets (watchdog, software,
//! power) leaves its old connection behind in the same way; it is dropped at
//! its keepalive deadline or when the device connects again with the same
//! client id, whichever comes first.
//!
//! # Where things live
//!
//! - `group.rs`: the packets in flight together, and what arrives for them.
//! - `subscriptions.rs`: the broker model's subscriptions, indexed by topic.
//! - `mod.rs`: [`World`] itself. The devices and their firmware, the
//!   virtual-time loop, the fault steps (`broker:`, `network:`, `reboot:`,
//!   `hang:`), opening and closing device links, forwarding each device
//!   packet with what it owes awaited, and routing what the broker sends.
//! - `broker_model.rs`: `BrokerModel`, what the broker keeps and owes, with
//!   no sockets, threads or clock: the retained store, subscriptions per
//!   connection, persistent sessions and what they are kept while away,
//!   QoS 2 deliveries held until PUBREL, and where brokers differ (whether
//!   a repeated subscription brings retained messages again). Each of its
//!   methods takes a packet's facts and returns what is owed.
//! - `owed.rs`: what is owed, `Awaited` (a reply, a delivery or a close on
//!   one connection), and who published, `Publisher` (a connection, or the
//!   broker itself for a will).
//! - `link.rs`: a device's link. `LinkState` says where its connection
//!   stands at both ends (unconnected; open; disconnecting; dropped by the
//!   broker unheard by the device; orphaned, left behind by the device but
//!   still held by the broker), and `FaultInjector` wraps it with the
//!   link's faults, answering when each packet arrives and whether it is
//!   lost.
//! - `harness.rs`: the harness's own client: connecting it, its `#`
//!   subscription, an external broker's retained leftovers, and `publish:`
//!   steps with their QoS 2 handshake.
//! - `external.rs`: external devices, whose connections to hilt's listener
//!   are relayed to the broker through a device link like any other: the
//!   relay is the device's "firmware".

use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::time::Duration as WallDuration;

use hilt_firmware::app::Firmware;
use hilt_firmware::mqtt::codec::{self, Packet, Publish};
use hilt_firmware::platform::ResetCause;
use hilt_firmware::time::{Duration, Instant};
use hilt_scenario::{
    BrokerAction, ConfigMap, DeviceKind, FlashPartition, NetworkChange, PartValue,
};
use hilt_sim::clock::VirtualClock;
use std::cell::RefCell;
use std::rc::Rc;

mod broker_model;
mod device_tls;
mod external;
mod group;
mod harness;
mod link;
mod link_tls;
mod ota;
mod owed;
mod subscriptions;

use broker_model::BrokerModel;
use external::{ClientSide, ExternalDevice, PendingClient, RelayedClient};
use group::Group;
use harness::HarnessClient;
use link::{FaultInjector, Link, LinkState, Orphan, Will};
use link_tls::BrokerTls;
pub use link_tls::TlsSetupError;
use owed::{Awaited, Outstanding, Publisher};

use crate::broker::EmbeddedBroker;
use crate::connection::{ConnectionId, Hub, Inbound};
use crate::message_log::MessageLog;
use crate::progress::{ProgressHook, RunProgress};
use crate::registry::{Board, DeviceIdentity, Part, Registry};
use crate::transcript::{LoggedMessage, TranscriptSink, quote_payload};

/// How long the broker may take to do what a packet requires of it.
const BROKER_REPLY_TIMEOUT: WallDuration = WallDuration::from_secs(5);
/// Rounds at one instant before the runner decides a device is spinning.
const MAX_ROUNDS_PER_INSTANT: usize = 10_000;

/// Why the harness itself could not go on (not a failed expectation).
/// Each says what the run was waiting for or doing, in one sentence.
#[derive(Debug, thiserror::Error)]
pub enum HarnessError {
    /// An `ota` step could not do what it was asked.
    #[error("ota: {0}")]
    Ota(String),
    /// The broker's side of TLS (`broker: { tls: true }`) could not be set
    /// up: its test authority, a certificate, or rustls's settings.
    #[error("cannot set up the broker's TLS: {0}")]
    Tls(#[from] TlsSetupError),
    /// The harness's own client could not open a connection to the broker.
    #[error("cannot connect to the broker at {address}: {source}")]
    BrokerUnreachable {
        /// Where the broker was expected.
        address: SocketAddr,
        /// Why the connection failed.
        source: std::io::Error,
    },
    /// The broker did not send, within the wall-time bound, what a packet
    /// the runner forwarded requires of it.
    #[error(
        "the broker did not answer within {timeout:?}; still waiting for {waiting_for}{descriptors}"
    )]
    BrokerSilent {
        /// How long the runner waited.
        timeout: WallDuration,
        /// The replies, deliveries or closes still missing.
        waiting_for: String,
        /// If the process was out of file descriptors when it gave up, a
        /// parenthesis saying so, noted when the runner gave up.
        descriptors: String,
    },
    /// The thread that reads every broker connection could not be started.
    #[error("cannot start the thread that reads the broker connections: {0}")]
    Poller(std::io::Error),
    /// The broker closed the harness's own connection, which nothing does.
    #[error("the broker closed the harness's own connection: {0}")]
    HarnessDisconnected(String),
    /// Bytes could not be written to the broker.
    #[error("cannot write to the broker: {0}")]
    Write(std::io::Error),
    /// A device (or several, answering each other) keeps the world busy at
    /// one instant without end.
    #[error(
        "device '{device}' does not stop asking to run at {at}: its app returns a deadline that is not in the future, or devices answer each other's messages without end"
    )]
    Spinning {
        /// The device that worked last before the runner gave up.
        device: String,
        /// The instant that never ended.
        at: Instant,
    },
    /// A device wrote something that does not decode as MQTT 3.1.1.
    #[error("device '{device}' sent bytes that are not MQTT: {error}")]
    DeviceSentGarbage {
        /// The device.
        device: String,
        /// The codec's reason.
        error: String,
    },
    /// A device's app refused its configuration or parts when built.
    #[error("device '{device}' cannot be built: {problems}")]
    Build {
        /// The device.
        device: String,
        /// What its app's registration reported.
        problems: String,
    },
    /// A step acts on a part the device's board does not have: its app
    /// declares it, but the board built for the device has no such part
    /// (or not of that kind).
    #[error("device '{device}' has no {kind} named '{part}' (its board has {parts})")]
    NoSuchPart {
        /// The device.
        device: String,
        /// The part the step names.
        part: String,
        /// What the step needs it to be (`button`, `LED`, `part`).
        kind: &'static str,
        /// The parts the board does have, by name and kind.
        parts: String,
    },
    /// A step needs the broker (a harness publish) while it is stopped.
    #[error(
        "the step needs the broker, but it is stopped (a `broker: stop` step); add `broker: start` before it"
    )]
    BrokerStopped,
    /// The embedded broker did not come back after `broker: start`.
    #[error("the embedded broker could not be started again: {0}")]
    BrokerRestart(String),
    /// A thread of the embedded broker panicked: whatever it was doing
    /// (routing a message, accepting a connection) was not done.
    #[error("the embedded broker panicked, so this run cannot be trusted: {panics}")]
    BrokerPanicked {
        /// Each panic's message and location, separated by `; `.
        panics: String,
    },
    /// The broker closed a device's connection when nothing the runner
    /// forwarded called for it.
    #[error(
        "the broker closed {device}'s connection ({reason}) when nothing called for it; {hint}"
    )]
    UnexpectedClose {
        /// The device whose connection (or left-behind connection) closed.
        device: String,
        /// How the close was seen.
        reason: String,
        /// The likeliest cause.
        hint: String,
    },
    /// The broker refused the harness's own CONNECT: hilt's login (none,
    /// or `--broker-username`'s) is not one it lets in.
    #[error(
        "the broker refused hilt's own connection (CONNACK return code {return_code}: {meaning}); {hint}"
    )]
    HarnessRefused {
        /// The CONNACK return code, 1 to 5.
        return_code: u8,
        /// What MQTT 3.1.1 says the code means.
        meaning: &'static str,
        /// What to do about it.
        hint: &'static str,
    },
    /// The broker answered a device's CONNECT with a refusal.
    #[error("the broker refused {device}'s CONNECT (CONNACK return code {return_code}: {meaning})")]
    ConnectRefused {
        /// The device.
        device: String,
        /// The CONNACK return code, 1 to 5.
        return_code: u8,
        /// What MQTT 3.1.1 says the code means.
        meaning: &'static str,
    },
    /// hilt could not listen for external devices where it was asked to.
    #[error("cannot listen for external devices at {address}: {source}")]
    Listen {
        /// The address asked for.
        address: SocketAddr,
        /// Why binding failed.
        source: std::io::Error,
    },
    /// An external device did not connect to hilt in time.
    #[error(
        "external device '{device}' (client id '{client_id}') did not connect {when}; it should connect to mqtt://{address}"
    )]
    ExternalDeviceAbsent {
        /// The device.
        device: String,
        /// The client id its CONNECT must carry.
        client_id: String,
        /// Where hilt listens.
        address: SocketAddr,
        /// `within 30s of the start of the run`, or `during the run (12s)`.
        when: String,
    },
    /// A client connected to hilt's listener with a client id no external
    /// device of the scenario has; it was refused (CONNACK return code 2).
    #[error(
        "a client connected from {peer} with client id '{client_id}', which no external device of the scenario has ({known}); hilt refused it (CONNACK return code 2, identifier rejected)"
    )]
    UnknownClient {
        /// The client id its CONNECT carried.
        client_id: String,
        /// Where it connected from.
        peer: SocketAddr,
        /// The external devices and their client ids.
        known: String,
    },
    /// A device's TCP connection to a broker that should be listening failed.
    #[error("{device} cannot open a connection to the broker at {address}: {source}{}", crate::descriptors::hint_for(.source))]
    DeviceCannotConnect {
        /// The device.
        device: String,
        /// Where the broker listens.
        address: SocketAddr,
        /// Why the connection failed.
        source: std::io::Error,
    },
}

/// Who is on the other end of a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Endpoint {
    Harness,
    Device(usize),
    /// A connection device `usize` left behind (reset, cut link); the
    /// broker still thinks it is alive.
    Orphan(usize),
    /// A connection to hilt's listener whose CONNECT has not come yet.
    Pending,
    /// The connection external device `usize` opened to hilt (the client
    /// side of its relay; the broker side is its `Device` connection).
    ExternalClient(usize),
}

impl Endpoint {
    /// Whether this end of the connection is the broker (so that stopping
    /// the broker closes it).
    fn is_broker_side(self) -> bool {
        matches!(
            self,
            Endpoint::Harness | Endpoint::Device(_) | Endpoint::Orphan(_)
        )
    }
}

/// One device the harness runs.
struct SimulatedDevice {
    name: String,
    /// The device's own seed, from the scenario's: its parts' spreads, its
    /// link's losses and its TLS handshakes draw from it.
    seed: u64,
    identity: DeviceIdentity,
    app: String,
    config: ConfigMap,
    clock: VirtualClock,
    firmware: Box<dyn Firmware>,
    board: Board,
    /// The device's link to the broker: its connection at both ends, and
    /// the link's faults.
    link: FaultInjector,
    /// Packets from the broker, with the time they reach the device.
    inbound: VecDeque<(Instant, Vec<u8>)>,
    /// Packets to the broker, with the time they reach it.
    outbound: VecDeque<(Instant, Vec<u8>)>,
    next_poll_at: Instant,
    /// The main loop is stuck (`hang:`): nothing runs until a reset.
    hung: bool,
    /// How much of each board line's history is already in the transcript.
    line_cursors: Vec<usize>,
    /// For an external device, its relay's client side and its deadline to
    /// connect; its `firmware` is then the relay.
    external: Option<ExternalDevice>,
}

impl SimulatedDevice {
    /// Bytes from the broker reach the device at `arrives`: through the
    /// link's TLS when it has one.
    fn deliver(&mut self, arrives: Instant, bytes: &[u8]) {
        let bytes = match self
            .link
            .state
            .link_mut()
            .and_then(|link| link.tls.as_mut())
        {
            Some(tls) => tls.encrypt_for_device(bytes),
            None => bytes.to_vec(),
        };
        self.inbound.push_back((arrives, bytes));
    }

    /// The earliest instant this device has something to do.
    fn next_event_at(&self) -> Option<Instant> {
        // Runs on every turn of the virtual-time loop: no allocation.
        let running = (!self.hung).then(|| {
            let inbound = self.inbound.front().map(|(at, _)| *at);
            inbound.map_or(self.next_poll_at, |at| at.min(self.next_poll_at))
        });
        [
            running,
            self.outbound.front().map(|(at, _)| *at),
            self.link.state.broker_deadline(),
            self.board
                .platform_control()
                .and_then(|platform| platform.watchdog_deadline()),
            self.external
                .as_ref()
                .and_then(ExternalDevice::pending_deadline),
        ]
        .into_iter()
        .flatten()
        .min()
    }
}

/// How device time relates to the wall clock.
#[derive(Debug, Clone, Copy)]
enum Clocking {
    /// Jump from event to event.
    Virtual,
    /// Follow the wall clock from this instant (`time: real`).
    Real { started: std::time::Instant },
}

/// The simulated world; see the module documentation.
pub struct World {
    now: Instant,
    clocking: Clocking,
    broker_address: SocketAddr,
    /// The embedded broker, when the run uses one (`broker:` steps act on it).
    broker: Option<EmbeddedBroker>,
    registry: Registry,
    hub: Hub,
    /// The harness's own client.
    harness: HarnessClient,
    devices: Vec<SimulatedDevice>,
    /// How many connections devices have left behind (orphans), to number
    /// the next.
    orphans_made: u64,
    endpoints: BTreeMap<ConnectionId, Endpoint>,
    /// What the broker keeps (retained messages, subscriptions, sessions)
    /// and so owes after each packet.
    broker_model: BrokerModel,
    log: MessageLog,
    transcript: TranscriptSink,
    /// Told how far the run has got, for a progress display.
    progress: Option<ProgressHook>,
    /// How many steps have started, and how many there are, for `progress`.
    steps_started: usize,
    steps: usize,
    /// Where external devices connect, when the scenario has any.
    listening: Option<SocketAddr>,
    /// Connections to the listener that have not sent their CONNECT yet.
    pending_clients: BTreeMap<ConnectionId, PendingClient>,
    /// The harness's own login, and whether the broker asks for logins
    /// (from `BrokerAccess`; its TLS is the hub's).
    harness_login: Option<(String, String)>,
    broker_asks_for_login: bool,
    /// The broker's side of TLS, with `broker: { tls: true }`: the run's
    /// one test authority (`BrokerAccess::authority`), whose certificate
    /// the embedded broker presents too.
    broker_tls: Option<BrokerTls>,
    /// While an `ota` step runs: its reply topic and the replies not yet
    /// read.
    ota_replies: Option<(String, VecDeque<Vec<u8>>)>,
}

impl std::fmt::Debug for World {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("World")
            .field("now", &self.now)
            .finish_non_exhaustive()
    }
}

impl World {
    /// Connects the harness client to the broker at `broker_address` and
    /// builds (but does not yet run) the scenario's simulated devices.
    /// `broker` is the embedded broker, if the run owns one; `access` how
    /// hilt's connections reach it (TLS, the harness's login).
    pub fn new(
        broker_address: SocketAddr,
        broker: Option<EmbeddedBroker>,
        access: crate::connection::BrokerAccess,
        scenario: &hilt_scenario::Scenario,
        registry: &Registry,
    ) -> Result<World, HarnessError> {
        let clocking = match scenario.time {
            hilt_scenario::TimeMode::Virtual => Clocking::Virtual,
            hilt_scenario::TimeMode::Real => Clocking::Real {
                started: std::time::Instant::now(),
            },
        };
        // An external broker re-sends retained messages on a repeated
        // subscription, as MQTT 3.1.1 says; the embedded rumqttd does not.
        let broker_model = BrokerModel::new(broker.is_none());
        let mut hub = Hub::new().map_err(HarnessError::Poller)?;
        if let Some(tls) = access.tls {
            hub.use_tls(tls);
        }
        let mut world = World {
            now: Instant::BOOT,
            clocking,
            broker_address,
            broker,
            registry: registry.clone(),
            hub,
            harness: HarnessClient::default(),
            devices: Vec::new(),
            orphans_made: 0,
            ota_replies: None,
            endpoints: BTreeMap::new(),
            broker_model,
            log: MessageLog::default(),
            transcript: TranscriptSink::default(),
            progress: None,
            steps_started: 0,
            steps: scenario.steps.len(),
            listening: None,
            pending_clients: BTreeMap::new(),
            harness_login: access.harness_login,
            broker_asks_for_login: access.asks_for_login,
            broker_tls: match access.authority {
                Some(authority) => Some(BrokerTls::new(authority)?),
                None => None,
            },
        };
        world.connect_harness()?;
        let has_external = scenario.devices.iter().any(|device| {
            matches!(
                device.kind,
                DeviceKind::External {
                    through_hilt: true,
                    ..
                }
            )
        });
        if has_external {
            let address = scenario
                .listen
                .unwrap_or(SocketAddr::from(([127, 0, 0, 1], 0)));
            let bound = world
                .hub
                .listen(address)
                .map_err(|source| HarnessError::Listen { address, source })?;
            world.listening = Some(bound);
        }
        for (index, device) in scenario.devices.iter().enumerate() {
            // A device that connects to the broker itself is not hilt's to
            // relay: only the harness's `#` subscription sees its messages.
            if let DeviceKind::External {
                connect_within,
                through_hilt: true,
            } = &device.kind
            {
                world.add_external_device(index, device, *connect_within, scenario.seed);
                continue;
            }
            let DeviceKind::Simulated { app, config, parts } = &device.kind else {
                continue;
            };
            let clock = VirtualClock::new();
            let seed = scenario.seed.wrapping_mul(1_000).wrapping_add(index as u64);
            let mut board = Board::new(clock.clone(), seed);
            let identity = DeviceIdentity {
                name: device.name.clone(),
                client_id: device.client_id.clone(),
            };
            let firmware = build_firmware(registry, app, &identity, config, &mut board)?;
            let line_cursors = vec![1; board.lines().len()];
            let firmware = secure(firmware, world.broker_tls.as_ref(), seed);
            world.devices.push(SimulatedDevice {
                name: device.name.clone(),
                seed,
                identity,
                app: app.clone(),
                config: config.clone(),
                clock,
                firmware,
                board,
                link: FaultInjector::new(seed ^ 0x6E65_7477_6F72_6B21),
                inbound: VecDeque::new(),
                outbound: VecDeque::new(),
                next_poll_at: Instant::BOOT,
                hung: false,
                line_cursors,
                external: None,
            });
            for setting in parts {
                world.apply_part_value(&device.name, &setting.target.part, &setting.value)?;
            }
        }
        Ok(world)
    }

    /// An external device: a relay on a link of its own, and no parts.
    fn add_external_device(
        &mut self,
        index: usize,
        device: &hilt_scenario::Device,
        connect_within: std::time::Duration,
        seed: u64,
    ) {
        let clock = VirtualClock::new();
        let seed = seed.wrapping_mul(1_000).wrapping_add(index as u64);
        let board = Board::new(clock.clone(), seed);
        let side = Rc::new(RefCell::new(ClientSide::default()));
        self.devices.push(SimulatedDevice {
            name: device.name.clone(),
            seed,
            identity: DeviceIdentity {
                name: device.name.clone(),
                client_id: device.client_id.clone(),
            },
            app: String::new(),
            config: ConfigMap::default(),
            clock,
            firmware: Box::new(RelayedClient::new(Rc::clone(&side))),
            board,
            link: FaultInjector::new(seed ^ 0x6E65_7477_6F72_6B21),
            inbound: VecDeque::new(),
            outbound: VecDeque::new(),
            next_poll_at: Instant::BOOT,
            hung: false,
            line_cursors: Vec::new(),
            external: Some(ExternalDevice {
                side,
                client_id: device.client_id.clone(),
                connect_deadline: after(Instant::BOOT, connect_within),
                connect_within,
            }),
        });
    }

    pub fn now(&self) -> Instant {
        self.now
    }

    /// Where external devices connect to hilt, if the scenario has any.
    pub fn listening(&self) -> Option<SocketAddr> {
        self.listening
    }

    /// Whether the external device `name` is connected through hilt: its
    /// CONNECT was relayed and the broker accepted it.
    pub fn is_connected(&self, name: &str) -> bool {
        self.device_index(name)
            .and_then(|index| self.devices[index].external.as_ref())
            .is_some_and(|external| external.side.borrow().is_connected())
    }

    /// An error for the first external device that never connected during
    /// the run: a scenario whose device never came must not pass.
    pub fn check_external_devices_came(&self) -> Result<(), HarnessError> {
        for device in &self.devices {
            if let Some(external) = &device.external
                && !external.side.borrow().ever_connected()
            {
                return Err(self.absent(device, format!("during the run ({})", self.now)));
            }
        }
        Ok(())
    }

    fn absent(&self, device: &SimulatedDevice, when: String) -> HarnessError {
        HarnessError::ExternalDeviceAbsent {
            device: device.name.clone(),
            client_id: device.identity.client_id.clone(),
            address: self
                .listening
                .unwrap_or(SocketAddr::from(([127, 0, 0, 1], 0))),
            when,
        }
    }

    pub fn log(&self) -> &MessageLog {
        &self.log
    }

    pub fn log_mut(&mut self) -> &mut MessageLog {
        &mut self.log
    }

    pub fn transcript_mut(&mut self) -> &mut TranscriptSink {
        &mut self.transcript
    }

    /// Tells `progress` how far the run gets from now on.
    pub fn report_progress_to(&mut self, progress: Option<ProgressHook>) {
        self.progress = progress;
    }

    /// A step starts: told to the progress hook, if there is one.
    pub fn step_started(&mut self) {
        self.steps_started += 1;
        let progress = self.progress_now();
        if let Some(hook) = &mut self.progress {
            hook.step_started(progress);
        }
    }

    fn progress_now(&self) -> RunProgress {
        RunProgress {
            device_time: self.now,
            messages: self.log.len(),
            steps_started: self.steps_started,
            steps: self.steps,
        }
    }

    fn device_index(&self, name: &str) -> Option<usize> {
        self.devices.iter().position(|device| device.name == name)
    }

    // ----- parts ------------------------------------------------------------

    /// Applies a `set:` (or a starting `parts:` value) to a device's part.
    pub fn apply_part_value(
        &mut self,
        device: &str,
        part: &str,
        value: &PartValue,
    ) -> Result<(), HarnessError> {
        let part_state = self.board_part(device, part, "part", |_| true)?;
        {
            match (part_state, value) {
                // The validator keeps values within each part's range.
                (Part::Ds18b20(handle), PartValue::Temperature(celsius)) => {
                    let _ = handle.set_temperature(*celsius);
                }
                (Part::Ds18b20(handle), PartValue::Fault(fault)) => {
                    handle.set_fault(match fault.as_deref() {
                        Some("disconnected") => Some(hilt_sim::ds18b20::Ds18b20Fault::Disconnected),
                        Some("crc_error") => Some(hilt_sim::ds18b20::Ds18b20Fault::CrcError),
                        _ => None,
                    })
                }
                (Part::Tsl2591(handle), PartValue::Lux(lux)) => {
                    let _ = handle.set_lux(*lux);
                }
                (Part::Tsl2591(handle), PartValue::Fault(fault)) => {
                    handle.set_fault(match fault.as_deref() {
                        Some("nack") => Some(hilt_sim::tsl2591::Tsl2591Fault::Nack),
                        _ => None,
                    })
                }
                _ => {}
            }
        }
        self.transcript.part_value(self.now, device, part, value);
        Ok(())
    }

    /// Presses or releases a device's button.
    pub fn set_button(
        &mut self,
        device: &str,
        part: &str,
        pressed: bool,
    ) -> Result<(), HarnessError> {
        let now = self.now;
        let Part::Button(button) = self.board_part(device, part, "button", |part| {
            matches!(part, Part::Button(_))
        })?
        else {
            unreachable!("board_part checked the kind");
        };
        if let Some(index) = self.device_index(device) {
            self.devices[index].clock.advance_to(now);
        }
        if pressed {
            button.press()
        } else {
            button.release()
        }
        self.transcript.button(now, device, part, pressed);
        Ok(())
    }

    /// The part `part` of `device` if it is what `is_kind` accepts; otherwise
    /// the error naming the parts the board does have. A step acting on a
    /// part that is not there must not pass as if it had acted.
    pub fn board_part(
        &self,
        device: &str,
        part: &str,
        kind: &'static str,
        is_kind: impl Fn(&Part) -> bool,
    ) -> Result<&Part, HarnessError> {
        let board = self
            .device_index(device)
            .map(|index| &self.devices[index].board);
        if let Some(found) = board.and_then(|board| board.part(part))
            && is_kind(found)
        {
            return Ok(found);
        }
        let parts = board
            .map(|board| {
                board
                    .parts()
                    .iter()
                    .map(|(name, part)| {
                        format!("{name} ({})", crate::registry::kind_name(part.kind()))
                    })
                    .collect::<Vec<_>>()
                    .join(", ")
            })
            .filter(|parts| !parts.is_empty())
            .unwrap_or_else(|| "no parts".to_owned());
        Err(HarnessError::NoSuchPart {
            device: device.to_owned(),
            part: part.to_owned(),
            kind,
            parts,
        })
    }

    /// The raw line `gpioN` of a device.
    pub fn pin_line(&self, device: &str, pin: &str) -> Option<hilt_sim::gpio::PinLine> {
        self.devices[self.device_index(device)?]
            .board
            .lines()
            .iter()
            .find(|line| hilt_firmware::pins::gpio_name(line.gpio()).as_str() == pin)
            .cloned()
    }

    // ----- faults -----------------------------------------------------------

    /// `broker: stop | start | restart` on the embedded broker.
    /// `tls: …`: links that open from now on are presented `certificate`;
    /// those already open keep theirs, as a broker's do.
    pub fn present_certificate(
        &mut self,
        certificate: hilt_scenario::TlsCertificate,
    ) -> Result<(), HarnessError> {
        use crate::tls::ServerCertificate;
        use hilt_scenario::TlsCertificate;
        let Some(tls) = self.broker_tls.as_mut() else {
            return Ok(());
        };
        let kind = match certificate {
            TlsCertificate::Valid => ServerCertificate::Valid,
            TlsCertificate::Expired => ServerCertificate::Expired,
            TlsCertificate::WrongName => ServerCertificate::WrongName,
            TlsCertificate::UnknownAuthority => ServerCertificate::UnknownAuthority,
            TlsCertificate::Rotated => ServerCertificate::Rotated,
        };
        tls.present(kind)?;
        let what = match certificate {
            TlsCertificate::Valid => "a valid certificate",
            TlsCertificate::Expired => "an expired certificate",
            TlsCertificate::WrongName => "a certificate for another name (other.example)",
            TlsCertificate::UnknownAuthority => "a certificate from an authority no board trusts",
            TlsCertificate::Rotated => "a new certificate and key (rotated)",
        };
        self.transcript.push(
            self.now,
            format!("the broker's side presents {what} to links that open from now on"),
        );
        Ok(())
    }

    /// `broker: { revoke: user }`: the broker refuses `user` from now on and
    /// closes the connections that logged in as her, in device order.
    pub fn revoke_user(&mut self, user: &str) {
        if let Some(broker) = self.broker.as_mut() {
            broker.revoke(user);
        }
        self.transcript
            .push(self.now, format!("the broker revokes user {user}"));
        for index in 0..self.devices.len() {
            let logged_in_as_user = self.devices[index]
                .link
                .state
                .link()
                .is_some_and(|link| link.username.as_deref() == Some(user));
            if logged_in_as_user {
                let at = self.devices[index].clock.now().max(self.now);
                let name = &self.devices[index].name;
                let why = format!(
                    "{name} loses its link: the broker closes the connection of revoked user {user}"
                );
                self.broker_side_closes(index, at, why);
            }
        }
    }

    pub fn broker_action(&mut self, action: BrokerAction) -> Result<(), HarnessError> {
        match action {
            BrokerAction::Stop => self.stop_broker(),
            BrokerAction::Start => self.start_broker(),
            BrokerAction::Restart => {
                self.stop_broker()?;
                self.start_broker()
            }
        }
    }

    fn stop_broker(&mut self) -> Result<(), HarnessError> {
        let Some(broker) = self.broker.as_mut() else {
            return Ok(());
        };
        if !broker.is_running() {
            return Ok(());
        }
        // Every open connection will be closed by the broker going away.
        // The closes arrive in whatever order the sockets notice; they are
        // collected first and acted on in the order the connections were
        // made, so every run tells the devices in the same order.
        let mut open: Vec<ConnectionId> = self
            .endpoints
            .iter()
            .filter(|(_, endpoint)| endpoint.is_broker_side())
            .map(|(connection, _)| *connection)
            .collect();
        broker.stop();
        self.transcript.push(self.now, "broker stops");
        let mut closed = Vec::new();
        while !open.is_empty() {
            let Some(inbound) = self.hub.receive(BROKER_REPLY_TIMEOUT) else {
                return Err(HarnessError::broker_silent(
                    BROKER_REPLY_TIMEOUT,
                    format!("{} connections to close", open.len()),
                ));
            };
            match inbound {
                Inbound::Closed { connection, .. } if open.contains(&connection) => {
                    open.retain(|known| *known != connection);
                    closed.push(inbound);
                }
                other => self.route_inbound(other, &mut Outstanding::default(), None)?,
            }
        }
        closed.sort_by_key(Inbound::connection);
        for inbound in closed {
            let mut awaited = Outstanding::from(vec![Awaited::Close {
                connection: inbound.connection(),
            }]);
            self.route_inbound(inbound, &mut awaited, None)?;
        }
        // A stopped broker forgets its retained messages and sessions.
        self.broker_model.on_broker_stopped();
        Ok(())
    }

    fn start_broker(&mut self) -> Result<(), HarnessError> {
        let Some(broker) = self.broker.as_mut() else {
            return Ok(());
        };
        if broker.is_running() {
            return Ok(());
        }
        broker
            .start_again()
            .map_err(|error| HarnessError::BrokerRestart(error.to_string()))?;
        self.transcript.push(self.now, "broker starts");
        self.connect_harness()
    }

    /// `network: { device, link, latency, drop }`.
    pub fn change_network(&mut self, change: &NetworkChange) {
        let Some(index) = self.device_index(&change.device.device) else {
            return;
        };
        let link = &mut self.devices[index].link;
        let latency = change.latency.map(|latency| {
            Duration::from_nanos(u64::try_from(latency.as_nanos()).unwrap_or(u64::MAX))
        });
        link.change(change.link_up, latency, change.drop);
        let state = format!(
            "{} network: link {}, latency {:?}, drop {}",
            change.device.device,
            if link.is_up() { "up" } else { "down" },
            link.latency(),
            link.drop_probability()
        );
        self.transcript.push(self.now, state);
    }

    /// `reboot: device`: a power cycle.
    pub fn power_cycle(&mut self, device: &str) -> Result<(), HarnessError> {
        if let Some(index) = self.device_index(device) {
            self.reset_device(index, ResetCause::PowerOn)?;
        }
        Ok(())
    }

    /// `hang: device`: the main loop stops until a reset.
    pub fn hang(&mut self, device: &str) {
        if let Some(index) = self.device_index(device) {
            self.devices[index].hung = true;
            self.transcript.push(self.now, format!("{device} hangs"));
        }
    }

    /// `panic: device`: the firmware panics now at `place`. As on the chip,
    /// the panic handler records the place and the time since boot (where
    /// the app took the chip services that keep them) and the chip resets
    /// for a panic, keeping RTC memory.
    pub fn panic(&mut self, device: &str, place: &str) -> Result<(), HarnessError> {
        let Some(index) = self.device_index(device) else {
            return Ok(());
        };
        let now = self.now;
        let simulated = &mut self.devices[index];
        simulated.clock.advance_to(now);
        let said = match simulated.board.platform_control() {
            Some(platform) => {
                let at_ms = platform.panic_now(place);
                format!("{device} panics at {place}, {at_ms}ms after its boot")
            }
            None => format!(
                "{device} panics at {place} (its app takes no chip services, so nothing \
                 records it)"
            ),
        };
        self.transcript.push(now, said);
        self.reset_device(index, ResetCause::Panic)
    }

    /// `flash: { device, corrupt }`: the partition turns to garbage drawn
    /// from the device's seed (the same every run); the firmware finds it
    /// when it next reads there.
    pub fn corrupt_flash(&mut self, device: &str, partition: FlashPartition) {
        let Some(index) = self.device_index(device) else {
            return;
        };
        let range = match partition {
            FlashPartition::Settings => hilt_firmware::partitions::SETTINGS,
            FlashPartition::OtaData => hilt_firmware::partitions::OTA_DATA,
        };
        let simulated = &mut self.devices[index];
        // Each partition of a device gets garbage of its own.
        let seed = simulated.seed ^ u64::from(range.start);
        simulated.board.corrupt_flash(range.clone(), seed);
        self.transcript.push(
            self.now,
            format!(
                "{device}'s flash: the {} partition ({:#x}..{:#x}) turns to garbage",
                partition.as_str(),
                range.start,
                range.end
            ),
        );
    }

    /// The chip resets: the old connection is left behind, the firmware
    /// boots again on the same parts with what survives `cause`.
    fn reset_device(&mut self, index: usize, cause: ResetCause) -> Result<(), HarnessError> {
        let now = self.now;
        let device = &mut self.devices[index];
        device.clock.advance_to(now);
        device.link.state = match std::mem::replace(&mut device.link.state, LinkState::Unconnected)
        {
            LinkState::Open(link) | LinkState::Disconnecting(link) => {
                self.endpoints
                    .insert(link.connection.id(), Endpoint::Orphan(index));
                let sequence = self.orphans_made;
                self.orphans_made += 1;
                LinkState::Orphaned(Orphan { link, sequence })
            }
            // A connection left behind before stays at the broker.
            orphaned @ LinkState::Orphaned(_) => orphaned,
            // The firmware forgets the link it believed up.
            LinkState::DroppedUnheard | LinkState::Unconnected => LinkState::Unconnected,
        };
        device.inbound.clear();
        device.outbound.clear();
        device.hung = false;
        // Drop the old firmware first: its platform handle writes retained
        // memory back as it goes, as the chip keeps RTC memory.
        let old = std::mem::replace(&mut device.firmware, Box::new(hilt_firmware::app::Halted));
        drop(old);
        if let Some(platform) = device.board.platform_control() {
            platform.prepare_boot(cause);
        }
        let firmware = build_firmware(
            &self.registry,
            &device.app,
            &device.identity,
            &device.config,
            &mut device.board,
        )?;
        device.firmware = secure(firmware, self.broker_tls.as_ref(), device.seed);
        device.next_poll_at = device.clock.now();
        let name = device.name.clone();
        self.transcript
            .push(now, format!("{name} resets ({})", cause.as_str()));
        Ok(())
    }

    // ----- time ----------------------------------------------------------------

    /// Runs the world until `deadline`, then sets the time to it.
    pub fn run_until(&mut self, deadline: Instant) -> Result<(), HarnessError> {
        self.run_until_or(deadline, |_| false).map(|_| ())
    }

    /// Runs the world until `done` holds (checked after every instant with
    /// work) or `deadline` passes. Returns whether `done` held.
    pub fn run_until_or(
        &mut self,
        deadline: Instant,
        mut done: impl FnMut(&World) -> bool,
    ) -> Result<bool, HarnessError> {
        loop {
            if done(self) {
                return Ok(true);
            }
            if let Clocking::Real { started } = self.clocking {
                self.now = self.now.max(real_now(started).min(deadline));
            }
            let next = self.next_event_at().filter(|next| *next <= deadline);
            if let Clocking::Real { started } = self.clocking {
                // Wait in wall time for the next event, taking whatever the
                // broker sends meanwhile (messages of external devices).
                let target = next.unwrap_or(deadline);
                let wall_target = started + WallDuration::from_micros(target.as_micros());
                let wait = wall_target.saturating_duration_since(std::time::Instant::now());
                if !wait.is_zero()
                    && let Some(inbound) = self.hub.receive(wait)
                {
                    self.now = self.now.max(real_now(started));
                    self.route_inbound(inbound, &mut Outstanding::default(), None)?;
                    continue;
                }
            }
            match next {
                Some(next) => {
                    self.now = self.now.max(next);
                    self.run_instant()?;
                    if let Some(mut hook) = self.progress.take() {
                        hook.instant_ran(|| self.progress_now());
                        self.progress = Some(hook);
                    }
                }
                None => {
                    self.now = self.now.max(deadline);
                    return Ok(done(self));
                }
            }
        }
    }

    fn next_event_at(&self) -> Option<Instant> {
        self.devices
            .iter()
            .filter_map(SimulatedDevice::next_event_at)
            .min()
            .map(|next| next.max(self.now))
    }

    /// Runs everything due at `self.now` until nothing is.
    fn run_instant(&mut self) -> Result<(), HarnessError> {
        let mut last_worker = None;
        for _ in 0..MAX_ROUNDS_PER_INSTANT {
            self.drop_silent_connections()?;
            let mut worked = false;
            for index in 0..self.devices.len() {
                if self.run_device_events(index)? {
                    worked = true;
                    last_worker = Some(index);
                }
            }
            // What the devices sent goes to the broker together, once all
            // of them have run.
            worked |= self.forward_due_packets(0..self.devices.len())?;
            if !worked {
                return Ok(());
            }
        }
        // The devices that still had work in the last round keep each
        // other (or themselves) busy: a deadline that is never in the
        // future, or messages that cause messages without end.
        let spinning = last_worker
            .map(|index| self.devices[index].name.clone())
            .unwrap_or_default();
        Err(HarnessError::Spinning {
            device: spinning,
            at: self.now,
        })
    }

    /// The broker's keepalive in device time: connections silent for 1.5 ×
    /// keepalive (orphans, cut links, hung devices) are dropped, which makes
    /// the broker publish their wills.
    fn drop_silent_connections(&mut self) -> Result<(), HarnessError> {
        let now = self.now;
        // Connections left behind go first, in the order they were left.
        let mut expired_orphans: Vec<(u64, usize)> = self
            .devices
            .iter()
            .enumerate()
            .filter_map(
                |(index, device)| match device.link.state.orphan_deadline() {
                    Some((sequence, deadline)) if deadline <= now => Some((sequence, index)),
                    _ => None,
                },
            )
            .collect();
        expired_orphans.sort_unstable();
        for (sequence, index) in expired_orphans {
            // Waiting for an earlier will can have seen this one closed.
            let still_there = self.devices[index]
                .link
                .state
                .orphan_deadline()
                .is_some_and(|(current, _)| current == sequence);
            if !still_there {
                continue;
            }
            let Some(link) = self.devices[index].link.state.take_orphan() else {
                continue;
            };
            let name = self.devices[index].name.clone();
            let why = format!("{name}'s old connection times out at the broker (1.5 × keepalive)");
            self.drop_connection(link, &name, &why)?;
        }
        for index in 0..self.devices.len() {
            let expired = self.devices[index]
                .link
                .state
                .link()
                .and_then(Link::broker_deadline)
                .is_some_and(|deadline| deadline <= now);
            if !expired {
                continue;
            }
            // The device does not hear of it: its link is cut, or it hangs.
            let Some(link) = self.devices[index].link.state.broker_drops() else {
                continue;
            };
            let name = self.devices[index].name.clone();
            let why = format!("{name}'s connection times out at the broker (1.5 × keepalive)");
            self.drop_connection(link, &name, &why)?;
            // An external device whose link is up hears the broker close its
            // connection, as it would from a broker: hilt closes the client's.
            let device = &mut self.devices[index];
            if device.external.is_some() && device.link.is_up() {
                device.link.state = LinkState::Unconnected;
                device.inbound.clear();
                device.outbound.clear();
                device.firmware.link_down(now);
                self.transcript
                    .push(now, format!("hilt closes {name}'s connection to hilt"));
            }
        }
        Ok(())
    }

    /// Closes a connection without DISCONNECT, as the broker's keepalive
    /// or a takeover does, and waits for the will it carried.
    fn drop_connection(&mut self, link: Link, device: &str, why: &str) -> Result<(), HarnessError> {
        let connection = link.connection.id();
        self.endpoints.remove(&connection);
        self.broker_model.on_connection_closed(connection);
        link.connection.close();
        self.transcript.push(self.now, why);
        let Some(will) = link.will else {
            return Ok(());
        };
        let publish = Publish {
            dup: false,
            qos: will.qos,
            retain: will.retain,
            topic: &will.topic,
            packet_id: None,
            payload: &will.payload,
        };
        let awaited = self.broker_model.on_publish(Publisher::Broker, &publish);
        // Without the harness's client the broker is stopped: nothing owed
        // can arrive.
        let awaited = if self.harness.is_connected() {
            awaited
        } else {
            Vec::new()
        };
        self.record_message(LoggedMessage {
            at: self.now,
            source: format!("broker (will of {device})"),
            topic: will.topic,
            payload: will.payload,
            qos: will.qos.as_u8(),
            retain: will.retain,
        });
        self.await_all(awaited)
    }

    /// Runs one device's due events; returns whether anything happened.
    fn run_device_events(&mut self, index: usize) -> Result<bool, HarnessError> {
        let now = self.now;
        let mut worked = false;
        if let Some(external) = &self.devices[index].external
            && external
                .pending_deadline()
                .is_some_and(|deadline| deadline <= now)
        {
            let when = format!(
                "within {:?} of the start of the run",
                external.connect_within
            );
            return Err(self.absent(&self.devices[index], when));
        }
        let watchdog_bites = self.devices[index]
            .board
            .platform_control()
            .and_then(|platform| platform.watchdog_deadline())
            .is_some_and(|deadline| deadline <= now);
        if watchdog_bites {
            self.reset_device(index, ResetCause::Watchdog)?;
            return Ok(true);
        }
        let device = &self.devices[index];
        let inbound_due = device.inbound.front().is_some_and(|(at, _)| *at <= now);
        if device.hung || !(inbound_due || device.next_poll_at <= now) {
            return Ok(worked);
        }
        self.run_device(index)?;
        worked = true;
        // A software reset, or a simulated image's panic at boot.
        let reset_requested = self.devices[index]
            .board
            .platform_control()
            .and_then(|platform| platform.take_reset());
        if let Some(cause) = reset_requested {
            self.reset_device(index, cause)?;
        }
        // Power cut during a flash write (a scenario asked for it): the
        // write is left half done, and the board starts from power-on.
        let power_lost = self.devices[index]
            .board
            .flash_model()
            .is_some_and(hilt_sim::flash::FlashModel::take_power_loss);
        if power_lost {
            let name = self.devices[index].name.clone();
            self.transcript
                .push(self.now, format!("{name} loses power during a flash write"));
            self.reset_device(index, ResetCause::PowerOn)?;
        }
        Ok(worked)
    }

    fn run_device(&mut self, index: usize) -> Result<(), HarnessError> {
        let now = self.now;
        self.devices[index].clock.advance_to(now);
        let device_now = self.devices[index].clock.now();
        self.manage_link(index, device_now)?;

        let device = &mut self.devices[index];
        while device.inbound.front().is_some_and(|(at, _)| *at <= now) {
            let Some((at, mut bytes)) = device.inbound.pop_front() else {
                break;
            };
            let taken = device.firmware.receive(device_now, &bytes);
            if taken < bytes.len() {
                // The firmware's buffer is full: offer the rest after it runs.
                bytes.drain(..taken);
                device.inbound.push_front((at, bytes));
                break;
            }
        }
        let next_poll_at = device.firmware.poll(device_now);
        // The firmware's busy waits (1-Wire timing) moved its own clock on,
        // and only its own: devices are separate hardware, so one device's
        // wait does not delay the others. What it sent is timed by its
        // clock and forwarded when the world's time reaches it. A deadline
        // that is not in the future makes the device due again at once.
        let after = device.clock.now();
        device.next_poll_at = next_poll_at.max(after);

        self.transcribe_device_output(index);
        self.queue_transmit(index);
        self.manage_link(index, self.devices[index].clock.now())?;
        Ok(())
    }

    /// Opens the link a device asks for, or closes the one it wants closed.
    fn manage_link(&mut self, index: usize, device_now: Instant) -> Result<(), HarnessError> {
        if self.devices[index].firmware.wants_close() {
            // Anything queued (a DISCONNECT) goes out before the close.
            self.queue_transmit(index);
            self.forward_due_packets(index..index + 1)?;
            self.close_device_link(index, device_now)?;
        }
        let device = &self.devices[index];
        if device.link.state.firmware_believes_up() || !device.firmware.wants_link(device_now) {
            return Ok(());
        }
        let name = device.name.clone();
        if !device.link.is_up() {
            let device = &mut self.devices[index];
            device.firmware.link_down(device_now);
            device.next_poll_at = device.next_poll_at.min(device_now);
            self.transcript.push(
                device_now,
                format!("{name} cannot reach the broker: its network link is down"),
            );
            return Ok(());
        }
        // A device that connects again takes over its old session: the
        // broker drops the connection it left behind (and sends its will).
        // Client ids are unique in a scenario, so that connection is the
        // only one the broker keys by this device's client id.
        if let Some(orphan) = self.devices[index].link.state.take_orphan() {
            let why = format!("{name} connects again; the broker drops its old connection");
            self.drop_connection(orphan, &name, &why)?;
        }
        match self.open_connection() {
            Ok(connection) => {
                self.endpoints
                    .insert(connection.id(), Endpoint::Device(index));
                self.broker_model.on_connection_opened(connection.id());
                // An external device's bytes come from hilt's listener,
                // which reads its CONNECT to know who it is: it speaks plain
                // MQTT to hilt, so its link has no TLS to end.
                let tls = self
                    .broker_tls
                    .as_ref()
                    .filter(|_| self.devices[index].external.is_none())
                    .map(BrokerTls::accept)
                    .transpose()?;
                let device = &mut self.devices[index];
                device.link.open(
                    Link {
                        connection,
                        keep_alive: None,
                        will: None,
                        last_heard: device_now,
                        sent_login: false,
                        username: None,
                        refused: None,
                        tls,
                    },
                    device_now,
                );
                device.firmware.link_up(device_now);
                // CONNECT is waiting to go out.
                device.next_poll_at = device.next_poll_at.min(device_now);
                self.transcript.push(device_now, format!("{name} link up"));
            }
            // Refused because a `broker: stop` step stopped it: what the
            // scenario asked for.
            Err(error)
                if self
                    .broker
                    .as_ref()
                    .is_some_and(|broker| !broker.is_running()) =>
            {
                let device = &mut self.devices[index];
                device.firmware.link_down(device_now);
                device.next_poll_at = device.next_poll_at.min(device_now);
                self.transcript.push(
                    device_now,
                    format!("{name} cannot reach the broker: {}", error.kind()),
                );
            }
            // Any other failure is the harness's or the machine's (a broker
            // that vanished, no file descriptors left), not the scenario's.
            Err(source) => {
                return Err(HarnessError::DeviceCannotConnect {
                    device: name,
                    address: self.broker_address,
                    source,
                });
            }
        }
        Ok(())
    }

    /// Opens a connection to the broker: in process to the embedded broker
    /// (no socket, so a fleet is not bounded by the limit on open files),
    /// over TCP to an external one.
    fn open_connection(&mut self) -> std::io::Result<crate::connection::BrokerConnection> {
        match &self.broker {
            Some(broker) => {
                let stream = broker.connect_in_process()?;
                self.hub.adopt(stream)
            }
            None => self.hub.connect(self.broker_address),
        }
    }

    /// The device closes its side. With its network up the broker sees the
    /// close; with it down, the connection is left behind at the broker.
    fn close_device_link(&mut self, index: usize, device_now: Instant) -> Result<(), HarnessError> {
        let device = &mut self.devices[index];
        let name = device.name.clone();
        device.firmware.link_down(device_now);
        // Its timers changed (reconnect backoff): let it say when it next runs.
        device.next_poll_at = device.next_poll_at.min(device_now);
        device.inbound.clear();
        device.outbound.clear();
        match std::mem::replace(&mut device.link.state, LinkState::Unconnected) {
            LinkState::Open(link) | LinkState::Disconnecting(link) if device.link.is_up() => {
                self.endpoints.remove(&link.connection.id());
                self.broker_model.on_connection_closed(link.connection.id());
                if let Some(return_code) = link.refused {
                    link.connection.close();
                    self.transcript.push(
                        device_now,
                        format!(
                            "{name} refused by the broker: CONNACK return code {return_code} ({}); it closes its connection",
                            connect_refusal_meaning(return_code)
                        ),
                    );
                    return Ok(());
                }
                // After a DISCONNECT the will is already discarded.
                if link.will.is_none() {
                    link.connection.close();
                    self.transcript
                        .push(device_now, format!("{name} closes its connection"));
                } else {
                    self.drop_connection(
                        link,
                        &name,
                        &format!("{name} closes its connection without DISCONNECT"),
                    )?;
                }
            }
            LinkState::Open(link) | LinkState::Disconnecting(link) => {
                self.endpoints
                    .insert(link.connection.id(), Endpoint::Orphan(index));
                let sequence = self.orphans_made;
                self.orphans_made += 1;
                device.link.state = LinkState::Orphaned(Orphan { link, sequence });
                self.transcript.push(
                    device_now,
                    format!("{name} gives up its connection (the broker cannot hear it)"),
                );
            }
            other => {
                // A connection left behind before stays at the broker.
                if let LinkState::Orphaned(_) = other {
                    device.link.state = other;
                }
                self.transcript.push(
                    device_now,
                    format!("{name} gives up its connection, which the broker had already dropped"),
                );
            }
        }
        Ok(())
    }

    /// Log lines and pin changes of a device go into the transcript.
    fn transcribe_device_output(&mut self, index: usize) {
        let device = &mut self.devices[index];
        while let Some(line) = device.firmware.pop_log() {
            self.transcript.push(
                line.at,
                format!("{} log {}: {}", device.name, line.level.as_str(), line.text),
            );
        }
        for (line_index, line) in device.board.lines().iter().enumerate() {
            let cursor = &mut device.line_cursors[line_index];
            let changes = line.history_from(*cursor);
            if changes.is_empty() {
                // The usual case, on every run of a device: nothing to look up.
                continue;
            }
            *cursor += changes.len();
            let part = device.board.part_on_gpio(line.gpio());
            for change in changes {
                match &part {
                    Some((name, Part::Led(_))) => {
                        self.transcript
                            .led(change.at, &device.name, name, change.high);
                    }
                    // Button changes are the harness's own actions, already
                    // in the transcript.
                    Some((_, Part::Button(_))) => {}
                    _ => {
                        self.transcript
                            .pin(change.at, &device.name, line.gpio(), change.high);
                    }
                }
            }
        }
    }

    /// Moves what the firmware wrote into the device's outbound queue, each
    /// packet timed by the link's latency and losses; a cut link loses it.
    fn queue_transmit(&mut self, index: usize) {
        let device = &mut self.devices[index];
        let bytes = device.firmware.transmit_buffer().to_vec();
        device.firmware.consume_transmit(bytes.len());
        if bytes.is_empty() || !device.link.is_up() {
            return;
        }
        match device.link.state {
            LinkState::Open(_) | LinkState::Disconnecting(_) => {}
            // The firmware has no link to write to.
            LinkState::Unconnected | LinkState::Orphaned(_) => return,
            LinkState::DroppedUnheard => {
                // The broker dropped this connection while the device could
                // not hear it; now that packets get through, the broker's TCP
                // stack answers with a reset, and the device learns its link
                // is gone.
                let at = device.clock.now();
                device.link.state = LinkState::Unconnected;
                device.firmware.link_down(at);
                device.next_poll_at = device.next_poll_at.min(at);
                let name = device.name.clone();
                self.transcript.push(
                    at,
                    format!("{name} loses its link: connection reset by the broker"),
                );
                return;
            }
        }
        let sent_at = device.clock.now();
        let bytes = match self.end_device_tls(index, sent_at, bytes) {
            Some(plaintext) => plaintext,
            None => return,
        };
        let device = &mut self.devices[index];
        let mut offset = 0;
        while offset < bytes.len() {
            let length = match codec::decode(&bytes[offset..]) {
                Ok((_, length)) => length,
                // Checked again when forwarded; keep the rest together.
                Err(_) => bytes.len() - offset,
            };
            let Some(arrives) = device.link.outbound_arrival(sent_at) else {
                return;
            };
            device
                .outbound
                .push_back((arrives, bytes[offset..offset + length].to_vec()));
            offset += length;
        }
    }

    /// What device `index` sent at `sent_at`, as the broker's side reads it:
    /// over TLS, the MQTT inside (the handshake's answers go back to the
    /// device a round trip later); `None` when the TLS failed, and the
    /// broker's side closed the connection.
    fn end_device_tls(
        &mut self,
        index: usize,
        sent_at: Instant,
        bytes: Vec<u8>,
    ) -> Option<Vec<u8>> {
        let device = &mut self.devices[index];
        let Some(tls) = device
            .link
            .state
            .link_mut()
            .and_then(|link| link.tls.as_mut())
        else {
            return Some(bytes);
        };
        let outcome = tls.read_from_device(&bytes);
        let name = device.name.clone();
        if let Some(failure) = outcome.failure {
            self.tls_failed_at_broker(index, sent_at, &failure);
            return None;
        }
        if outcome.established {
            self.transcript.push(
                sent_at,
                format!("{name} TLS established with the broker's side (TLS 1.3)"),
            );
        }
        let device = &mut self.devices[index];
        if !outcome.reply.is_empty()
            && let Some(at_broker) = device.link.outbound_arrival(sent_at)
            && let Some(arrives) = device.link.inbound_arrival(at_broker)
        {
            device.inbound.push_back((arrives, outcome.reply));
        }
        Some(outcome.plaintext)
    }

    /// The broker's side of a device's TLS failed (a record it could not
    /// read, or the device's alert): it closes the connection, and the
    /// device's link goes down.
    fn tls_failed_at_broker(&mut self, index: usize, at: Instant, failure: &str) {
        let name = self.devices[index].name.clone();
        let why =
            format!("{name}'s TLS fails at the broker's side ({failure}); the connection closes");
        self.broker_side_closes(index, at, why);
    }

    /// The broker closes device `index`'s connection at `at` for a reason
    /// of its own (`why`, for the transcript). The device hears it when its
    /// network is up; with it down, the broker's close waits in the link
    /// as any other.
    fn broker_side_closes(&mut self, index: usize, at: Instant, why: String) {
        let device = &mut self.devices[index];
        if !device.link.is_up() {
            let reason = why.clone();
            self.broker_closed_device_link(index, &reason);
            return;
        }
        if let LinkState::Open(link) | LinkState::Disconnecting(link) =
            std::mem::replace(&mut device.link.state, LinkState::Unconnected)
        {
            self.endpoints.remove(&link.connection.id());
            self.broker_model.on_connection_closed(link.connection.id());
            link.connection.close();
        }
        let device = &mut self.devices[index];
        device.inbound.clear();
        device.outbound.clear();
        device.firmware.link_down(at);
        device.next_poll_at = device.next_poll_at.min(at);
        self.transcript.push(at, why);
    }

    /// Forwards every outbound packet of `devices` that has reached the
    /// broker by now, in device order, in groups that are in flight
    /// together (see `group.rs`), each group's consequences awaited before
    /// the next is sent. Returns whether any packet was forwarded.
    fn forward_due_packets(
        &mut self,
        devices: std::ops::Range<usize>,
    ) -> Result<bool, HarnessError> {
        let mut group = Group::default();
        let mut forwarded = false;
        for index in devices {
            while self.devices[index]
                .outbound
                .front()
                .is_some_and(|(at, _)| *at <= self.now)
            {
                let Some((at, bytes)) = self.devices[index].outbound.pop_front() else {
                    break;
                };
                forwarded = true;
                let Some(connection_id) = self.devices[index]
                    .link
                    .state
                    .link()
                    .map(|link| link.connection.id())
                else {
                    continue;
                };
                let (packet, _) =
                    codec::decode(&bytes).map_err(|error| HarnessError::DeviceSentGarbage {
                        device: self.devices[index].name.clone(),
                        error: error.to_string(),
                    })?;
                let delivers_to: Vec<ConnectionId> = self
                    .broker_model
                    .may_deliver_to(connection_id, &packet)
                    .into_iter()
                    .filter(|connection| {
                        !matches!(self.endpoints.get(connection), Some(Endpoint::Harness))
                    })
                    .collect();
                if !group.admits(&packet, &delivers_to) {
                    self.finish_group(&mut group)?;
                }
                // The previous group can have closed this device's link.
                if self.devices[index]
                    .link
                    .state
                    .link()
                    .map(|link| link.connection.id())
                    != Some(connection_id)
                {
                    continue;
                }
                let awaited = self.packet_consequences(index, connection_id, at, &packet);
                let device = &mut self.devices[index];
                let Some(link) = device.link.state.link_mut() else {
                    break;
                };
                link.last_heard = at;
                // An external device's CONNECT asks the broker for no
                // keepalive it would enforce; hilt enforces the device's own.
                let rewritten = device.external.as_ref().and_then(|_| {
                    external::with_keep_alive(&bytes, external::KEEPALIVE_TOWARD_BROKER)
                });
                if let Err(error) = link.connection.send(rewritten.as_deref().unwrap_or(&bytes)) {
                    let name = device.name.clone();
                    device.link.state = LinkState::Unconnected;
                    device.firmware.link_down(at);
                    self.transcript
                        .push(at, format!("{name} loses its link: {}", error.kind()));
                    self.endpoints.remove(&connection_id);
                    self.broker_model.on_connection_closed(connection_id);
                    break;
                }
                group.add(&packet, &delivers_to, awaited);
            }
        }
        self.finish_group(&mut group)?;
        Ok(forwarded)
    }

    /// Waits for everything a group of forwarded packets is owed, then hands
    /// what arrived to the devices in the group's order. Leaves the group
    /// empty.
    fn finish_group(&mut self, group: &mut Group) -> Result<(), HarnessError> {
        if group.is_empty() {
            return Ok(());
        }
        let mut outstanding = std::mem::take(&mut group.outstanding);
        self.await_outstanding(&mut outstanding, Some(group))?;
        for staged in group.take_staged() {
            // A link that closed meanwhile loses what was meant for it.
            if self.endpoints.get(&staged.connection) != Some(&Endpoint::Device(staged.device)) {
                continue;
            }
            let device = &mut self.devices[staged.device];
            // A cut link loses what the broker sends.
            if let Some(arrives) = device.link.inbound_arrival(self.now) {
                device.deliver(arrives, &staged.bytes);
            }
        }
        Ok(())
    }

    /// What the broker owes after `packet` from device `index` (the broker
    /// model's answer); also transcribes and logs what the device sent, and
    /// notes the keepalive, will and DISCONNECT on the device's link.
    fn packet_consequences(
        &mut self,
        index: usize,
        connection: ConnectionId,
        at: Instant,
        packet: &Packet<'_>,
    ) -> Vec<Awaited> {
        let name = self.devices[index].name.clone();
        match packet {
            Packet::Connect(connect) => {
                let will_text = match &connect.will {
                    Some(will) => format!(", will {} {}", will.topic, quote_payload(will.payload)),
                    None => String::new(),
                };
                // The password is a secret: the transcript says one was
                // sent, never what it was.
                let username_text = connect
                    .username
                    .map(|username| format!(", username {}", quote_payload(username.as_bytes())))
                    .unwrap_or_default();
                let password_text = if connect.password.is_some() {
                    ", password hidden"
                } else {
                    ""
                };
                self.transcript.push(
                    at,
                    format!(
                        "{name} CONNECT client id {}, keepalive {}s, clean session {}{username_text}{password_text}{will_text}",
                        connect.client_id, connect.keep_alive_seconds, connect.clean_session
                    ),
                );
                if let Some(link) = self.devices[index].link.state.link_mut() {
                    link.sent_login = connect.username.is_some() || connect.password.is_some();
                    link.username = connect.username.map(str::to_owned);
                    link.keep_alive = (connect.keep_alive_seconds > 0)
                        .then(|| Duration::from_secs(u64::from(connect.keep_alive_seconds)));
                    link.will = connect.will.as_ref().map(|will| Will {
                        topic: will.topic.to_owned(),
                        payload: will.payload.to_vec(),
                        qos: will.qos,
                        retain: will.retain,
                    });
                }
            }
            Packet::Publish(publish) => {
                self.record_message(LoggedMessage {
                    at,
                    source: name,
                    topic: publish.topic.to_owned(),
                    payload: publish.payload.to_vec(),
                    qos: publish.qos.as_u8(),
                    retain: publish.retain,
                });
            }
            Packet::Subscribe(subscribe) => {
                let filters: Vec<&str> =
                    subscribe.filters.iter().map(|(filter, _)| filter).collect();
                self.transcript.subscribe(at, &name, &filters);
            }
            Packet::Disconnect => {
                self.transcript.push(at, format!("{name} DISCONNECT"));
                // A clean disconnect discards the will, and the broker then
                // closes the connection (MQTT 3.1.1 §3.14.4). Waiting for
                // that close before closing our side matters: rumqttd fires
                // the will anyway if the connection ends before its router
                // has seen the DISCONNECT.
                self.devices[index].link.state.disconnect_sent();
            }
            // Every other packet is the broker model's alone. The device's
            // PUBREC, for one, is owed a PUBREL, awaited like any reply so
            // that it reaches the device at this instant in every run, not
            // whenever it happens to arrive.
            _ => {}
        }
        self.broker_model.on_packet(connection, packet)
    }

    /// Logs a message and puts it in the transcript. What it does to the
    /// broker's state is the broker model's business.
    fn record_message(&mut self, message: LoggedMessage) {
        if let Some((topic, replies)) = &mut self.ota_replies
            && *topic == message.topic
        {
            replies.push_back(message.payload.clone());
        }
        self.transcript.message(&message);
        self.log.push(self.now, message);
    }

    // ----- waiting for the broker ---------------------------------------------

    /// Waits until every awaited packet has arrived, routing each packet that
    /// arrives meanwhile to its device (or answering it, for the harness).
    fn await_all(&mut self, awaited: Vec<Awaited>) -> Result<(), HarnessError> {
        self.await_outstanding(&mut Outstanding::from(awaited), None)
    }

    /// Waits until nothing is outstanding. What arrives for a device is
    /// staged in `group` when there is one, else queued for it at once.
    fn await_outstanding(
        &mut self,
        outstanding: &mut Outstanding,
        mut group: Option<&mut Group>,
    ) -> Result<(), HarnessError> {
        while !outstanding.is_empty() {
            let Some(inbound) = self.hub.receive(BROKER_REPLY_TIMEOUT) else {
                self.check_broker_health()?;
                return Err(HarnessError::broker_silent(
                    BROKER_REPLY_TIMEOUT,
                    outstanding.to_string(),
                ));
            };
            self.route_inbound(inbound, outstanding, group.as_deref_mut())?;
        }
        // Whatever else has already arrived is taken now, at this instant,
        // rather than at some later, timing-dependent one.
        while let Some(inbound) = self.hub.try_receive() {
            self.route_inbound(inbound, outstanding, group.as_deref_mut())?;
        }
        Ok(())
    }

    /// Handles one packet or close from the broker: what it fulfils is no
    /// longer outstanding; a device's packet goes to the device (staged in
    /// `group`, if one is in flight).
    fn route_inbound(
        &mut self,
        inbound: Inbound,
        awaited: &mut Outstanding,
        group: Option<&mut Group>,
    ) -> Result<(), HarnessError> {
        match inbound {
            Inbound::Accepted { connection, peer } => {
                self.endpoints.insert(connection.id(), Endpoint::Pending);
                self.pending_clients.insert(
                    connection.id(),
                    PendingClient {
                        connection,
                        peer,
                        received: Vec::new(),
                    },
                );
            }
            Inbound::Packet { connection, bytes }
                if self.endpoints.get(&connection) == Some(&Endpoint::Pending) =>
            {
                self.pending_client_sent(connection, bytes)?;
            }
            Inbound::Packet { connection, bytes } => {
                if let Some(Endpoint::ExternalClient(index)) = self.endpoints.get(&connection) {
                    self.external_client_sent(*index, connection, &bytes);
                    return Ok(());
                }
                let Ok((packet, _)) = codec::decode(&bytes) else {
                    return Ok(());
                };
                if let (Packet::ConnAck(ack), Some(&Endpoint::Device(index))) =
                    (&packet, self.endpoints.get(&connection))
                    && refuses_credentials(ack.return_code)
                    && self.login_was_asked_or_given(index)
                {
                    // The broker's answer to a device's user name and
                    // password: what a scenario about credentials checks,
                    // so a line of the transcript, not a harness error.
                    // The device hears it in its turn, and the transcript
                    // says so when it closes (`close_device_link`), so the
                    // lines keep the devices' order whatever order the
                    // broker's answers arrive in. The broker closes the
                    // connection next; a refused client has no will and no
                    // keepalive.
                    let cause = awaited.take(connection, &packet);
                    awaited.add(cause.unwrap_or(0), vec![Awaited::Close { connection }]);
                    self.broker_model.on_connect_refused(connection);
                    if let Some(link) = self.devices[index].link.state.link_mut() {
                        link.will = None;
                        link.keep_alive = None;
                        link.refused = Some(ack.return_code);
                    }
                    self.hand_to_device(index, cause, connection, bytes, group);
                    return Ok(());
                }
                if let (Packet::ConnAck(ack), Some(Endpoint::Harness)) =
                    (&packet, self.endpoints.get(&connection))
                    && ack.return_code != 0
                {
                    let hint = if self.harness_login.is_some() {
                        "check the user name and password given with --broker-username and --broker-password"
                    } else {
                        "a broker that asks for logins needs one for hilt: --broker-username and --broker-password"
                    };
                    return Err(HarnessError::HarnessRefused {
                        return_code: ack.return_code,
                        meaning: connect_refusal_meaning(ack.return_code),
                        hint,
                    });
                }
                if let (Packet::ConnAck(ack), Some(Endpoint::Device(index))) =
                    (&packet, self.endpoints.get(&connection))
                    && ack.return_code != 0
                {
                    return Err(HarnessError::ConnectRefused {
                        device: self.devices[*index].name.clone(),
                        return_code: ack.return_code,
                        meaning: connect_refusal_meaning(ack.return_code),
                    });
                }
                let cause = awaited.take(connection, &packet);
                if cause.is_some() {
                    // Owed, and now here.
                } else if self.broker_model.take_early_delivery(connection, &packet) {
                    // A QoS 2 delivery from a broker that does not wait for
                    // PUBREL: expected, just earlier.
                } else if let (Some(Endpoint::Harness), Packet::Publish(publish)) =
                    (self.endpoints.get(&connection), &packet)
                {
                    // Not caused by anything the runner forwarded: a device
                    // the harness does not run, or a message the broker kept.
                    self.broker_model.on_external_publish(publish);
                    let message = LoggedMessage {
                        at: self.now,
                        source: "external".to_owned(),
                        topic: publish.topic.to_owned(),
                        payload: publish.payload.to_vec(),
                        qos: publish.qos.as_u8(),
                        retain: publish.retain,
                    };
                    self.record_message(message);
                }
                match self.endpoints.get(&connection).copied() {
                    Some(Endpoint::Device(index)) => {
                        self.hand_to_device(index, cause, connection, bytes, group);
                    }
                    Some(Endpoint::Harness) => {
                        if let Packet::PubRel(id) = packet {
                            self.harness.send(&Packet::PubComp(id))?;
                        }
                    }
                    // An orphan's or a closed connection's packets are lost;
                    // clients of the listener were handled above.
                    Some(Endpoint::Orphan(_) | Endpoint::Pending | Endpoint::ExternalClient(_))
                    | None => {}
                }
            }
            Inbound::Closed { connection, .. }
                if matches!(
                    self.endpoints.get(&connection),
                    Some(Endpoint::Pending | Endpoint::ExternalClient(_))
                ) =>
            {
                if let Some(Endpoint::ExternalClient(index)) = self.endpoints.remove(&connection) {
                    self.external_client_closed(index, connection);
                }
                self.pending_clients.remove(&connection);
            }
            Inbound::Closed { connection, reason } => {
                let was_awaited_close = awaited.awaits_close(connection);
                let was_awaited_connack = awaited.awaits_connack(connection);
                awaited.forget(connection);
                self.broker_model.on_connection_closed(connection);
                match self.endpoints.remove(&connection) {
                    Some(Endpoint::Harness) => {
                        self.harness.disconnected();
                        if !was_awaited_close {
                            return Err(HarnessError::HarnessDisconnected(reason));
                        }
                    }
                    Some(Endpoint::Device(index)) => {
                        let disconnecting =
                            matches!(self.devices[index].link.state, LinkState::Disconnecting(_));
                        let refused = self.devices[index].link.state.link().is_some_and(|link| {
                            link.connection.id() == connection && link.refused.is_some()
                        });
                        if refused {
                            // The close after a refused login, which the
                            // device has yet to hear of: the CONNACK is on
                            // its way to it (staged by connection), and it
                            // closes its own side in its turn.
                            self.endpoints.insert(connection, Endpoint::Device(index));
                        } else if disconnecting && self.devices[index].external.is_some() {
                            self.relay_disconnected(index);
                        } else if disconnecting {
                            // The close the device asked for: it closes
                            // its side next, in `close_device_link`.
                        } else if was_awaited_close || self.in_real_time() {
                            // A broker stop; or, in real time, the broker's
                            // own keepalive, which runs in the same time.
                            self.broker_closed_device_link(index, &reason);
                        } else {
                            return Err(self.unexpected_close(index, reason, was_awaited_connack));
                        }
                    }
                    Some(Endpoint::Orphan(index)) => {
                        if !(was_awaited_close || self.in_real_time()) {
                            self.check_broker_health()?;
                            return Err(HarnessError::UnexpectedClose {
                                device: self.devices[index].name.clone(),
                                reason,
                                hint: "it was the connection the device left behind, which the \
                                       runner closes itself at the broker's keepalive deadline"
                                    .to_owned(),
                            });
                        }
                        let state = &mut self.devices[index].link.state;
                        if matches!(state, LinkState::Orphaned(orphan) if orphan.link.connection.id() == connection)
                        {
                            *state = LinkState::Unconnected;
                        }
                    }
                    // Clients of the listener were handled above.
                    Some(Endpoint::Pending | Endpoint::ExternalClient(_)) | None => {}
                }
            }
        }
        Ok(())
    }

    fn in_real_time(&self) -> bool {
        matches!(self.clocking, Clocking::Real { .. })
    }

    /// Fails if the embedded broker panicked: whatever the run saw since is
    /// not the broker's considered behaviour.
    pub fn check_broker_health(&self) -> Result<(), HarnessError> {
        let panics = self
            .broker
            .as_ref()
            .map(EmbeddedBroker::panics)
            .unwrap_or_default();
        if panics.is_empty() {
            Ok(())
        } else {
            Err(HarnessError::BrokerPanicked {
                panics: panics.join("; "),
            })
        }
    }

    /// The error for a device connection the broker closed unasked, naming
    /// the likeliest cause.
    fn unexpected_close(
        &self,
        index: usize,
        reason: String,
        waiting_for_connack: bool,
    ) -> HarnessError {
        if let Err(panicked) = self.check_broker_health() {
            return panicked;
        }
        let hint = if waiting_for_connack {
            let limit = self
                .broker
                .as_ref()
                .map(|broker| format!(" (the embedded broker's is {})", broker.max_connections()))
                .unwrap_or_default();
            format!(
                "it closed it instead of answering the CONNECT: the broker may have reached its \
                 connection limit{limit}, or refused the client id or keepalive"
            )
        } else {
            "a device's connection closes only when the device disconnects, the broker stops, \
             or the runner drops it at the broker's keepalive deadline"
                .to_owned()
        };
        HarnessError::UnexpectedClose {
            device: self.devices[index].name.clone(),
            reason,
            hint,
        }
    }

    /// Whether device `index`'s CONNECT took part in a login: it sent a
    /// user name or password, or the embedded broker asks for them. Only
    /// then is a refusal (4, 5) the answer to credentials; a broker that
    /// refuses a device that neither gave nor was asked for any is not
    /// one hilt can trust, and that stays a harness error.
    fn login_was_asked_or_given(&self, index: usize) -> bool {
        let asked = self.broker_asks_for_login;
        let given = self.devices[index]
            .link
            .state
            .link()
            .is_some_and(|link| link.sent_login);
        asked || given
    }

    /// What the broker sent device `index`: staged by `cause` when a group
    /// is in flight, else queued for the device (a cut link loses it).
    fn hand_to_device(
        &mut self,
        index: usize,
        cause: Option<u32>,
        connection: ConnectionId,
        bytes: Vec<u8>,
        group: Option<&mut Group>,
    ) {
        match group {
            Some(group) => group.stage(cause, index, connection, bytes),
            None => {
                let device = &mut self.devices[index];
                if let Some(arrives) = device.link.inbound_arrival(self.now) {
                    device.deliver(arrives, &bytes);
                }
            }
        }
    }

    /// The broker closed a device's connection. The device hears of it if
    /// its network is up; otherwise it finds out by its own keepalive.
    fn broker_closed_device_link(&mut self, index: usize, reason: &str) {
        let at = self.devices[index].clock.now().max(self.now);
        let device = &mut self.devices[index];
        device.outbound.clear();
        let name = device.name.clone();
        if device.link.is_up() && device.link.state.firmware_believes_up() {
            device.link.state = LinkState::Unconnected;
            device.inbound.clear();
            device.firmware.link_down(at);
            // Its timers changed: let it say when it next needs to run.
            device.next_poll_at = device.next_poll_at.min(at);
            self.transcript
                .push(at, format!("{name} loses its link: {reason}"));
        } else {
            // The device keeps believing in a link it had; a connection it
            // left behind earlier is not this one, and stays.
            device.link.state.broker_drops();
            self.transcript.push(
                at,
                format!(
                    "the broker closes {name}'s connection ({reason}); the device cannot hear it"
                ),
            );
        }
    }
}

impl HarnessError {
    /// The broker said nothing for `timeout` while `waiting_for` was owed.
    /// When this process is out of file descriptors the broker's `accept`
    /// fails, which rumqttd only logs; that is noted now, while the
    /// descriptors are still held, not when the error is shown.
    pub(crate) fn broker_silent(timeout: WallDuration, waiting_for: String) -> HarnessError {
        HarnessError::BrokerSilent {
            timeout,
            waiting_for,
            descriptors: crate::descriptors::pressure()
                .map(|pressure| format!(" ({pressure})"))
                .unwrap_or_default(),
        }
    }
}

/// CONNACK return codes that answer a client's user name and password
/// (MQTT 3.1.1, 3.2.2.3): 4, bad user name or password; 5, not authorized.
fn refuses_credentials(return_code: u8) -> bool {
    matches!(return_code, 4 | 5)
}

/// What a CONNACK return code means (MQTT 3.1.1 §3.2.2.3).
fn connect_refusal_meaning(return_code: u8) -> &'static str {
    match return_code {
        1 => "unacceptable protocol version",
        2 => "client identifier rejected",
        3 => "server unavailable",
        4 => "bad user name or password",
        5 => "not authorized",
        _ => "not a code MQTT 3.1.1 defines",
    }
}

/// A board whose app asks for TLS gets it between its node and its link,
/// trusting the run's test authority (with no TLS on the broker's side it
/// trusts nothing, and its handshake fails, as a real board's would).
fn secure(
    firmware: Box<dyn Firmware>,
    broker_tls: Option<&BrokerTls>,
    seed: u64,
) -> Box<dyn Firmware> {
    let Some(options) = firmware.tls().cloned() else {
        return firmware;
    };
    let trusted = broker_tls
        .map(|tls| tls.trusted_by_boards.clone())
        .unwrap_or_default();
    Box::new(device_tls::TlsBoard::new(
        firmware,
        &options,
        trusted,
        seed ^ 0x746C_735F_7365_6564,
    ))
}

fn build_firmware(
    registry: &Registry,
    app: &str,
    identity: &DeviceIdentity,
    config: &ConfigMap,
    board: &mut Board,
) -> Result<Box<dyn Firmware>, HarnessError> {
    registry
        .build(app, identity, config, board)
        .map_err(|problems| HarnessError::Build {
            device: identity.name.clone(),
            problems: problems
                .iter()
                .map(|problem| format!("{}: {}", problem.location, problem.message))
                .collect::<Vec<_>>()
                .join("; "),
        })
}

/// Device time of a `time: real` run: wall time since it started.
fn real_now(started: std::time::Instant) -> Instant {
    Instant::from_micros(u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX))
}

/// Device time `duration` after `at`.
pub fn after(at: Instant, duration: std::time::Duration) -> Instant {
    at + Duration::from_nanos(u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX))
}
