//! The simulated world of one run: the broker, the devices on their links,
//! the harness's own MQTT client, and virtual time.
//!
//! # How time can move without losing a message
//!
//! Device time only moves when nothing is in flight. The runner sits on every
//! device link (it is the device's TCP stack), so it sees each packet a device
//! sends before the broker does, and forwards packets one at a time. For each
//! packet it knows what the broker must send back and to whom:
//!
//! - CONNECT → CONNACK; SUBSCRIBE → SUBACK plus the retained messages the new
//!   filters match (the runner keeps its own copy of the retained store);
//!   PUBLISH QoS 1/2 → PUBACK/PUBREC; PUBREL → PUBCOMP; PINGREQ → PINGRESP;
//! - PUBLISH → one delivery to every connection whose subscriptions match,
//!   and one to the harness's own client, which subscribes to `#`. That last
//!   delivery proves the broker has routed (and, if retained, stored) the
//!   message even when no device subscribes to it.
//!
//! The runner waits (in wall time, bounded) until all of those have arrived
//! before it forwards the next packet or moves device time. With one packet
//! in flight at a time, no publish can overtake another (rumqttd reorders
//! QoS 0 publishes of different connections, and a backlog on one filter can
//! be overtaken by another), and what arrives is handed to the devices in a
//! fixed order: by device, then by arrival on that device's connection.
//! Anything the broker sends that was not predicted (a will, a duplicate for
//! overlapping filters) is taken at the next wait, at the current time.

use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::time::Duration as WallDuration;

use hilt_firmware::app::Firmware;
use hilt_firmware::mqtt::codec::{
    self, Connect, Packet, Publish, QoS, Subscribe, SubscribeFilters,
};
use hilt_firmware::mqtt::topic::filter_matches;
use hilt_firmware::time::{Duration, Instant};
use hilt_scenario::{DeviceKind, PartValue};
use hilt_sim::clock::VirtualClock;

use crate::connection::{BrokerConnection, ConnectionId, Hub, Inbound};
use crate::registry::{Board, DeviceIdentity, Part, Registry};
use crate::transcript::{LoggedMessage, Transcript, quote_payload};

/// How long the broker may take to do what a packet requires of it.
const BROKER_REPLY_TIMEOUT: WallDuration = WallDuration::from_secs(5);
/// Rounds at one instant before the runner decides a device is spinning.
const MAX_ROUNDS_PER_INSTANT: usize = 10_000;
/// The harness client's id on the broker.
pub const HARNESS_CLIENT_ID: &str = "hilt-harness";

/// Why the harness itself could not go on (not a failed expectation).
#[derive(Debug, thiserror::Error)]
pub enum HarnessError {
    #[error("cannot connect to the broker at {address}: {source}")]
    BrokerUnreachable {
        address: SocketAddr,
        source: std::io::Error,
    },
    #[error("the broker did not answer within {timeout:?}; still waiting for {waiting_for}")]
    BrokerSilent {
        timeout: WallDuration,
        waiting_for: String,
    },
    #[error("the broker closed the harness's own connection: {0}")]
    HarnessDisconnected(String),
    #[error("cannot write to the broker: {0}")]
    Write(std::io::Error),
    #[error(
        "device '{device}' does not stop asking to run at {at}; its app returns a deadline that is not in the future"
    )]
    Spinning { device: String, at: Instant },
    #[error("device '{device}' sent bytes that are not MQTT: {error}")]
    DeviceSentGarbage { device: String, error: String },
    #[error("device '{device}' cannot be built: {problems}")]
    Build { device: String, problems: String },
}

/// A packet the broker owes us.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Awaited {
    /// A control packet of `kind` (CONNACK, PUBACK, ...) on `connection`.
    Reply {
        connection: ConnectionId,
        kind: ReplyKind,
        packet_id: Option<u16>,
    },
    /// A PUBLISH of `topic` with `payload` on `connection`.
    Delivery {
        connection: ConnectionId,
        topic: String,
        payload: Vec<u8>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ReplyKind {
    ConnAck,
    PubAck,
    PubRec,
    PubComp,
    SubAck,
    UnsubAck,
    PingResp,
}

impl std::fmt::Display for Awaited {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Awaited::Reply {
                connection, kind, ..
            } => write!(f, "{kind:?} on connection {connection}"),
            Awaited::Delivery {
                connection, topic, ..
            } => {
                write!(f, "delivery of '{topic}' on connection {connection}")
            }
        }
    }
}

/// Who is on the other end of a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Endpoint {
    Harness,
    Device(usize),
}

/// One device the harness runs.
struct SimulatedDevice {
    name: String,
    clock: VirtualClock,
    firmware: Box<dyn Firmware>,
    board: Board,
    link: Option<BrokerConnection>,
    /// Packets from the broker not yet handed to the firmware.
    inbound: VecDeque<Vec<u8>>,
    next_poll_at: Instant,
    /// How much of each board line's history is already in the transcript.
    line_cursors: Vec<usize>,
}

/// The retained store as the broker must have it.
#[derive(Debug, Clone)]
struct Retained {
    payload: Vec<u8>,
}

/// The simulated world; see the module documentation.
pub struct World {
    now: Instant,
    broker_address: SocketAddr,
    hub: Hub,
    harness: BrokerConnection,
    harness_packet_id: u16,
    devices: Vec<SimulatedDevice>,
    endpoints: BTreeMap<ConnectionId, Endpoint>,
    subscriptions: BTreeMap<ConnectionId, Vec<String>>,
    retained: BTreeMap<String, Retained>,
    log: Vec<LoggedMessage>,
    transcript: Transcript,
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
    pub fn new(
        broker_address: SocketAddr,
        scenario: &hilt_scenario::Scenario,
        registry: &Registry,
    ) -> Result<World, HarnessError> {
        let mut hub = Hub::default();
        let harness =
            hub.connect(broker_address)
                .map_err(|source| HarnessError::BrokerUnreachable {
                    address: broker_address,
                    source,
                })?;
        let mut world = World {
            now: Instant::BOOT,
            broker_address,
            hub,
            harness_packet_id: 1,
            endpoints: BTreeMap::from([(harness.id(), Endpoint::Harness)]),
            harness,
            devices: Vec::new(),
            subscriptions: BTreeMap::new(),
            retained: BTreeMap::new(),
            log: Vec::new(),
            transcript: Transcript::default(),
        };
        world.connect_harness()?;
        for (index, device) in scenario.devices.iter().enumerate() {
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
            let firmware =
                registry
                    .build(app, &identity, config, &mut board)
                    .map_err(|problems| HarnessError::Build {
                        device: device.name.clone(),
                        problems: problems
                            .iter()
                            .map(|problem| format!("{}: {}", problem.location, problem.message))
                            .collect::<Vec<_>>()
                            .join("; "),
                    })?;
            let line_cursors = vec![1; board.lines().len()];
            world.devices.push(SimulatedDevice {
                name: device.name.clone(),
                clock,
                firmware,
                board,
                link: None,
                inbound: VecDeque::new(),
                next_poll_at: Instant::BOOT,
                line_cursors,
            });
            for setting in parts {
                world.apply_part_value(&device.name, &setting.target.part, &setting.value);
            }
        }
        Ok(world)
    }

    pub fn now(&self) -> Instant {
        self.now
    }

    pub fn log(&self) -> &[LoggedMessage] {
        &self.log
    }

    pub fn transcript(&self) -> &Transcript {
        &self.transcript
    }

    pub fn transcript_mut(&mut self) -> &mut Transcript {
        &mut self.transcript
    }

    fn connect_harness(&mut self) -> Result<(), HarnessError> {
        let harness_id = self.harness.id();
        self.send_harness(&Packet::Connect(Connect {
            client_id: HARNESS_CLIENT_ID,
            // rumqttd refuses keepalive 0, and enforces keepalive in wall
            // time; the longest one keeps the harness's idle client alive.
            keep_alive_seconds: u16::MAX,
            clean_session: true,
            will: None,
            username: None,
            password: None,
        }))?;
        self.await_all(vec![Awaited::Reply {
            connection: harness_id,
            kind: ReplyKind::ConnAck,
            packet_id: None,
        }])?;
        let packet_id = self.next_harness_packet_id();
        let filters = [("#", QoS::AtMostOnce)];
        self.send_harness(&Packet::Subscribe(Subscribe {
            packet_id,
            filters: SubscribeFilters::List(&filters),
        }))?;
        self.subscriptions.insert(harness_id, vec!["#".to_owned()]);
        let mut awaited = vec![Awaited::Reply {
            connection: harness_id,
            kind: ReplyKind::SubAck,
            packet_id: Some(packet_id),
        }];
        // Retained messages left on an external broker by earlier runs come
        // to us now; they are not part of this run.
        awaited.extend(self.retained_deliveries(harness_id, &["#".to_owned()]));
        self.await_all(awaited)
    }

    fn next_harness_packet_id(&mut self) -> u16 {
        let id = self.harness_packet_id;
        self.harness_packet_id = self.harness_packet_id.checked_add(1).unwrap_or(1);
        id
    }

    fn send_harness(&mut self, packet: &Packet<'_>) -> Result<(), HarnessError> {
        let mut buffer = vec![0u8; codec::encoded_len(packet)];
        let length = codec::encode(packet, &mut buffer).map_err(|error| {
            HarnessError::Write(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                error.to_string(),
            ))
        })?;
        self.harness
            .send(&buffer[..length])
            .map_err(HarnessError::Write)
    }

    // ----- the harness's own actions -----------------------------------------

    /// Publishes from the harness client (a `publish:` step) and waits until
    /// the broker has delivered it everywhere it must go.
    pub fn harness_publish(
        &mut self,
        topic: &str,
        payload: &[u8],
        qos: u8,
        retain: bool,
    ) -> Result<(), HarnessError> {
        let qos = QoS::try_from(qos).unwrap_or(QoS::AtMostOnce);
        let packet_id = (qos != QoS::AtMostOnce).then(|| self.next_harness_packet_id());
        let harness_id = self.harness.id();
        self.send_harness(&Packet::Publish(Publish {
            dup: false,
            qos,
            retain,
            topic,
            packet_id,
            payload,
        }))?;
        let message = LoggedMessage {
            at: self.now,
            source: "harness".to_owned(),
            topic: topic.to_owned(),
            payload: payload.to_vec(),
            qos: qos.as_u8(),
            retain,
        };
        let mut awaited = self.publish_consequences(harness_id, &message, packet_id);
        self.record_message(message);
        if qos == QoS::ExactlyOnce {
            // Our side of QoS 2: PUBREC first, then PUBREL → PUBCOMP.
            let pubrec_position = awaited.iter().position(|a| {
                matches!(
                    a,
                    Awaited::Reply {
                        kind: ReplyKind::PubRec,
                        ..
                    }
                )
            });
            if let Some(position) = pubrec_position {
                let pubrec = awaited.remove(position);
                self.await_all(vec![pubrec])?;
            }
            let id = packet_id.unwrap_or(1);
            self.send_harness(&Packet::PubRel(id))?;
            awaited.push(Awaited::Reply {
                connection: harness_id,
                kind: ReplyKind::PubComp,
                packet_id: Some(id),
            });
        }
        self.await_all(awaited)
    }

    /// Applies a `set:` (or a starting `parts:` value) to a device's part.
    pub fn apply_part_value(&mut self, device: &str, part: &str, value: &PartValue) {
        let Some(device_state) = self.devices.iter().find(|d| d.name == device) else {
            return;
        };
        let Some((_, part_state)) = device_state
            .board
            .parts()
            .iter()
            .find(|(name, _)| name == part)
        else {
            return;
        };
        if let (Part::Ds18b20(handle), value) = (part_state, value) {
            match value {
                // The validator keeps temperatures within the part's range.
                PartValue::Temperature(celsius) => {
                    let _ = handle.set_temperature(*celsius);
                }
                PartValue::Fault(fault) => handle.set_fault(match fault.as_deref() {
                    Some("disconnected") => Some(hilt_sim::ds18b20::Ds18b20Fault::Disconnected),
                    Some("crc_error") => Some(hilt_sim::ds18b20::Ds18b20Fault::CrcError),
                    _ => None,
                }),
                PartValue::Lux(_) => {}
            }
        }
        let shown = crate::run::describe_part_value(value);
        self.transcript
            .push(self.now, format!("{device}.{part} {shown}"));
    }

    /// Presses or releases a device's button.
    pub fn set_button(&mut self, device: &str, part: &str, pressed: bool) {
        let now = self.now;
        if let Some(device_state) = self.devices.iter_mut().find(|d| d.name == device) {
            device_state.clock.advance_to(now);
            if let Some((_, Part::Button(button))) = device_state
                .board
                .parts()
                .iter()
                .find(|(name, _)| name == part)
            {
                if pressed {
                    button.press()
                } else {
                    button.release()
                }
            }
        }
        let verb = if pressed { "pressed" } else { "released" };
        self.transcript.push(now, format!("{device}.{part} {verb}"));
    }

    /// Whether a device's LED is lit at `at` (from its line's history).
    pub fn led_history(&self, device: &str, part: &str) -> Option<hilt_sim::gpio::PinLine> {
        let device_state = self.devices.iter().find(|d| d.name == device)?;
        match device_state
            .board
            .parts()
            .iter()
            .find(|(name, _)| name == part)?
        {
            (_, Part::Led(led)) => Some(led.line().clone()),
            _ => None,
        }
    }

    /// The raw line `gpioN` of a device.
    pub fn pin_line(&self, device: &str, pin: &str) -> Option<hilt_sim::gpio::PinLine> {
        let device_state = self.devices.iter().find(|d| d.name == device)?;
        device_state
            .board
            .lines()
            .iter()
            .find(|line| hilt_firmware::pins::gpio_name(line.gpio()).as_str() == pin)
            .cloned()
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
            match self.next_event_at() {
                Some(next) if next <= deadline => {
                    self.now = self.now.max(next);
                    self.run_instant()?;
                }
                _ => {
                    self.now = self.now.max(deadline);
                    return Ok(done(self));
                }
            }
        }
    }

    fn next_event_at(&self) -> Option<Instant> {
        self.devices
            .iter()
            .map(|device| {
                if device.inbound.is_empty() {
                    device.next_poll_at
                } else {
                    self.now
                }
            })
            .min()
    }

    fn is_due(&self, index: usize) -> bool {
        let device = &self.devices[index];
        !device.inbound.is_empty() || device.next_poll_at <= self.now
    }

    /// Runs every device with work at `self.now` until none has any.
    fn run_instant(&mut self) -> Result<(), HarnessError> {
        for _ in 0..MAX_ROUNDS_PER_INSTANT {
            let due: Vec<usize> = (0..self.devices.len())
                .filter(|&index| self.is_due(index))
                .collect();
            if due.is_empty() {
                return Ok(());
            }
            for index in due {
                self.run_device(index)?;
            }
        }
        let spinning = (0..self.devices.len())
            .find(|&index| self.is_due(index))
            .unwrap_or(0);
        Err(HarnessError::Spinning {
            device: self
                .devices
                .get(spinning)
                .map(|d| d.name.clone())
                .unwrap_or_default(),
            at: self.now,
        })
    }

    fn run_device(&mut self, index: usize) -> Result<(), HarnessError> {
        let now = self.now;
        self.devices[index].clock.advance_to(now);
        let device_now = self.devices[index].clock.now();
        self.manage_link(index, device_now)?;

        let device = &mut self.devices[index];
        while let Some(mut bytes) = device.inbound.pop_front() {
            let taken = device.firmware.receive(device_now, &bytes);
            if taken < bytes.len() {
                // The firmware's buffer is full: offer the rest after it runs.
                bytes.drain(..taken);
                device.inbound.push_front(bytes);
                break;
            }
        }
        let next_poll_at = device.firmware.poll(device_now);
        // The firmware's busy waits (1-Wire timing) moved its clock on; the
        // world's time follows, since the device used that time. A deadline
        // that is not in the future makes the device due again at once.
        let after = device.clock.now();
        device.next_poll_at = next_poll_at.max(after);
        self.now = self.now.max(after);

        self.transcribe_device_output(index);
        self.forward_transmit(index)?;
        self.manage_link(index, self.devices[index].clock.now())?;
        Ok(())
    }

    /// Opens the link a device asks for, or closes the one it wants closed.
    fn manage_link(&mut self, index: usize, device_now: Instant) -> Result<(), HarnessError> {
        if self.devices[index].firmware.wants_close() {
            // Anything queued (a DISCONNECT) goes out before the close.
            self.forward_transmit(index)?;
            self.close_device_link(index, device_now, "closes its connection");
        }
        let device = &mut self.devices[index];
        if device.link.is_none() && device.firmware.wants_link(device_now) {
            match self.hub.connect(self.broker_address) {
                Ok(connection) => {
                    self.endpoints
                        .insert(connection.id(), Endpoint::Device(index));
                    let device = &mut self.devices[index];
                    device.link = Some(connection);
                    device.firmware.link_up(device_now);
                    let name = device.name.clone();
                    self.transcript.push(device_now, format!("{name} link up"));
                }
                Err(error) => {
                    let device = &mut self.devices[index];
                    device.firmware.link_down(device_now);
                    let name = device.name.clone();
                    self.transcript.push(
                        device_now,
                        format!("{name} cannot reach the broker: {}", error.kind()),
                    );
                }
            }
        }
        Ok(())
    }

    fn close_device_link(&mut self, index: usize, device_now: Instant, why: &str) {
        let device = &mut self.devices[index];
        if let Some(connection) = device.link.take() {
            self.subscriptions.remove(&connection.id());
            self.endpoints.remove(&connection.id());
            connection.close();
        }
        device.inbound.clear();
        device.firmware.link_down(device_now);
        let name = device.name.clone();
        self.transcript.push(device_now, format!("{name} {why}"));
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
            *cursor += changes.len();
            let part = device
                .board
                .parts()
                .iter()
                .find(|(_, part)| match part {
                    Part::Led(led) => led.line().gpio() == line.gpio(),
                    Part::Button(button) => button.line().gpio() == line.gpio(),
                    Part::Ds18b20(_) => false,
                })
                .map(|(name, part)| (name.clone(), matches!(part, Part::Led(_))));
            for change in changes {
                match &part {
                    Some((name, true)) => {
                        let state = if change.high { "on" } else { "off" };
                        self.transcript
                            .push(change.at, format!("{}.{name} {state}", device.name));
                    }
                    // Button changes are the harness's own actions, already
                    // in the transcript.
                    Some((_, false)) => {}
                    None => {
                        let level = if change.high { "high" } else { "low" };
                        self.transcript.push(
                            change.at,
                            format!("{}.gpio{} {level}", device.name, line.gpio()),
                        );
                    }
                }
            }
        }
    }

    /// Sends what a device wrote to its link, packet by packet, each with
    /// its consequences awaited.
    fn forward_transmit(&mut self, index: usize) -> Result<(), HarnessError> {
        let device = &mut self.devices[index];
        let bytes = device.firmware.transmit_buffer().to_vec();
        device.firmware.consume_transmit(bytes.len());
        if bytes.is_empty() {
            return Ok(());
        }
        let Some(connection_id) = device.link.as_ref().map(BrokerConnection::id) else {
            // No link: the bytes are lost, as on a dead socket.
            return Ok(());
        };
        let at = device.clock.now();
        let mut offset = 0;
        while offset < bytes.len() {
            let (packet, length) = codec::decode(&bytes[offset..]).map_err(|error| {
                HarnessError::DeviceSentGarbage {
                    device: self.devices[index].name.clone(),
                    error: error.to_string(),
                }
            })?;
            let awaited = self.packet_consequences(index, connection_id, at, &packet);
            let packet_bytes = &bytes[offset..offset + length];
            offset += length;
            let device = &mut self.devices[index];
            let Some(link) = device.link.as_mut() else {
                break;
            };
            if let Err(error) = link.send(packet_bytes) {
                let reason = format!("loses its link: {}", error.kind());
                self.close_device_link(index, at, &reason);
                break;
            }
            self.await_all(awaited)?;
            if self.devices[index].link.is_none() {
                break;
            }
        }
        Ok(())
    }

    /// What the broker owes after `packet` from device `index`; also logs
    /// publishes and tracks subscriptions and retained messages.
    fn packet_consequences(
        &mut self,
        index: usize,
        connection: ConnectionId,
        at: Instant,
        packet: &Packet<'_>,
    ) -> Vec<Awaited> {
        let reply = |kind, packet_id| {
            vec![Awaited::Reply {
                connection,
                kind,
                packet_id,
            }]
        };
        match packet {
            Packet::Connect(connect) => {
                let name = self.devices[index].name.clone();
                let will = match &connect.will {
                    Some(will) => format!(", will {} {}", will.topic, quote_payload(will.payload)),
                    None => String::new(),
                };
                self.transcript.push(
                    at,
                    format!(
                        "{name} CONNECT client id {}, keepalive {}s, clean session {}{will}",
                        connect.client_id, connect.keep_alive_seconds, connect.clean_session
                    ),
                );
                reply(ReplyKind::ConnAck, None)
            }
            Packet::Publish(publish) => {
                let message = LoggedMessage {
                    at,
                    source: self.devices[index].name.clone(),
                    topic: publish.topic.to_owned(),
                    payload: publish.payload.to_vec(),
                    qos: publish.qos.as_u8(),
                    retain: publish.retain,
                };
                let awaited = self.publish_consequences(connection, &message, publish.packet_id);
                self.record_message(message);
                awaited
            }
            Packet::PubRel(id) => reply(ReplyKind::PubComp, Some(*id)),
            Packet::Subscribe(subscribe) => {
                let filters: Vec<String> = subscribe
                    .filters
                    .iter()
                    .map(|(filter, _)| filter.to_owned())
                    .collect();
                let name = self.devices[index].name.clone();
                self.transcript
                    .push(at, format!("{name} SUBSCRIBE {}", filters.join(", ")));
                let mut awaited = reply(ReplyKind::SubAck, Some(subscribe.packet_id));
                awaited.extend(self.retained_deliveries(connection, &filters));
                let known = self.subscriptions.entry(connection).or_default();
                for filter in filters {
                    if !known.contains(&filter) {
                        known.push(filter);
                    }
                }
                awaited
            }
            Packet::Unsubscribe(unsubscribe) => {
                if let Some(known) = self.subscriptions.get_mut(&connection) {
                    for filter in unsubscribe.filters.iter() {
                        known.retain(|existing| existing != filter);
                    }
                }
                reply(ReplyKind::UnsubAck, Some(unsubscribe.packet_id))
            }
            Packet::PingReq => reply(ReplyKind::PingResp, None),
            Packet::Disconnect => {
                let name = self.devices[index].name.clone();
                self.transcript.push(at, format!("{name} DISCONNECT"));
                Vec::new()
            }
            // Acknowledgements of what the broker delivered: nothing comes back
            // except PUBREL after our PUBREC, which the device handles when it
            // arrives.
            _ => Vec::new(),
        }
    }

    /// The acknowledgement and deliveries a PUBLISH from `from` must cause.
    fn publish_consequences(
        &self,
        from: ConnectionId,
        message: &LoggedMessage,
        packet_id: Option<u16>,
    ) -> Vec<Awaited> {
        let mut awaited = Vec::new();
        match message.qos {
            1 => awaited.push(Awaited::Reply {
                connection: from,
                kind: ReplyKind::PubAck,
                packet_id,
            }),
            2 => awaited.push(Awaited::Reply {
                connection: from,
                kind: ReplyKind::PubRec,
                packet_id,
            }),
            _ => {}
        }
        for (connection, filters) in &self.subscriptions {
            if filters
                .iter()
                .any(|filter| filter_matches(filter, &message.topic))
            {
                awaited.push(Awaited::Delivery {
                    connection: *connection,
                    topic: message.topic.clone(),
                    payload: message.payload.clone(),
                });
            }
        }
        awaited
    }

    /// Retained messages the broker sends on a new subscription to `filters`.
    fn retained_deliveries(&self, connection: ConnectionId, filters: &[String]) -> Vec<Awaited> {
        self.retained
            .iter()
            .filter(|(topic, _)| filters.iter().any(|filter| filter_matches(filter, topic)))
            .map(|(topic, retained)| Awaited::Delivery {
                connection,
                topic: topic.clone(),
                payload: retained.payload.clone(),
            })
            .collect()
    }

    fn record_message(&mut self, message: LoggedMessage) {
        if message.retain {
            if message.payload.is_empty() {
                self.retained.remove(&message.topic);
            } else {
                self.retained.insert(
                    message.topic.clone(),
                    Retained {
                        payload: message.payload.clone(),
                    },
                );
            }
        }
        self.transcript
            .push(message.at, describe_without_time(&message));
        self.log.push(message);
    }

    // ----- waiting for the broker ---------------------------------------------

    /// Waits until every awaited packet has arrived, routing each packet that
    /// arrives meanwhile to its device (or answering it, for the harness).
    fn await_all(&mut self, mut awaited: Vec<Awaited>) -> Result<(), HarnessError> {
        while !awaited.is_empty() {
            let Some(inbound) = self.hub.receive(BROKER_REPLY_TIMEOUT) else {
                return Err(HarnessError::BrokerSilent {
                    timeout: BROKER_REPLY_TIMEOUT,
                    waiting_for: awaited
                        .iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join(", "),
                });
            };
            self.route_inbound(inbound, &mut awaited)?;
        }
        // Whatever else has already arrived is taken now, at this instant,
        // rather than at some later, timing-dependent one.
        while let Some(inbound) = self.hub.try_receive() {
            self.route_inbound(inbound, &mut awaited)?;
        }
        Ok(())
    }

    fn route_inbound(
        &mut self,
        inbound: Inbound,
        awaited: &mut Vec<Awaited>,
    ) -> Result<(), HarnessError> {
        match inbound {
            Inbound::Packet { connection, bytes } => {
                let Ok((packet, _)) = codec::decode(&bytes) else {
                    return Ok(());
                };
                if let Some(position) = awaited.iter().position(|a| fulfils(a, connection, &packet))
                {
                    awaited.remove(position);
                } else if let (Some(Endpoint::Harness), Packet::Publish(publish)) =
                    (self.endpoints.get(&connection), &packet)
                {
                    // Not caused by anything the runner forwarded: a will, or
                    // a message the broker kept for this session.
                    let message = LoggedMessage {
                        at: self.now,
                        source: "broker".to_owned(),
                        topic: publish.topic.to_owned(),
                        payload: publish.payload.to_vec(),
                        qos: publish.qos.as_u8(),
                        retain: publish.retain,
                    };
                    self.record_message(message);
                }
                match self.endpoints.get(&connection) {
                    Some(Endpoint::Device(index)) => self.devices[*index].inbound.push_back(bytes),
                    Some(Endpoint::Harness) => {
                        if let Packet::PubRel(id) = packet {
                            self.send_harness(&Packet::PubComp(id))?;
                        }
                    }
                    // A connection already closed: its packets are lost.
                    None => {}
                }
            }
            Inbound::Closed { connection, reason } => {
                awaited.retain(|a| !matches!(a, Awaited::Reply { connection: c, .. } | Awaited::Delivery { connection: c, .. } if *c == connection));
                match self.endpoints.get(&connection).copied() {
                    Some(Endpoint::Harness) => {
                        return Err(HarnessError::HarnessDisconnected(reason));
                    }
                    Some(Endpoint::Device(index)) => {
                        let at = self.devices[index].clock.now().max(self.now);
                        self.close_device_link(index, at, &format!("loses its link: {reason}"));
                    }
                    None => {}
                }
            }
        }
        Ok(())
    }
}

fn fulfils(awaited: &Awaited, connection: ConnectionId, packet: &Packet<'_>) -> bool {
    match awaited {
        Awaited::Reply {
            connection: expected,
            kind,
            packet_id,
        } => {
            if *expected != connection {
                return false;
            }
            let (actual_kind, actual_id) = match packet {
                Packet::ConnAck(_) => (ReplyKind::ConnAck, None),
                Packet::PubAck(id) => (ReplyKind::PubAck, Some(*id)),
                Packet::PubRec(id) => (ReplyKind::PubRec, Some(*id)),
                Packet::PubComp(id) => (ReplyKind::PubComp, Some(*id)),
                Packet::SubAck(ack) => (ReplyKind::SubAck, Some(ack.packet_id)),
                Packet::UnsubAck(id) => (ReplyKind::UnsubAck, Some(*id)),
                Packet::PingResp => (ReplyKind::PingResp, None),
                _ => return false,
            };
            *kind == actual_kind && (packet_id.is_none() || *packet_id == actual_id)
        }
        Awaited::Delivery {
            connection: expected,
            topic,
            payload,
        } => match packet {
            Packet::Publish(publish) => {
                *expected == connection
                    && publish.topic == topic
                    && publish.payload == payload.as_slice()
            }
            _ => false,
        },
    }
}

fn describe_without_time(message: &LoggedMessage) -> String {
    let retain = if message.retain { " retain" } else { "" };
    format!(
        "{} -> {} qos{}{} {}",
        message.source,
        message.topic,
        message.qos,
        retain,
        quote_payload(&message.payload)
    )
}

/// Device time `duration` after `at`.
pub fn after(at: Instant, duration: std::time::Duration) -> Instant {
    at + Duration::from_nanos(u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX))
}
