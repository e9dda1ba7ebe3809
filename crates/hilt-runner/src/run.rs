//! Running one scenario: its steps in order against a [`World`], and the
//! verdict with a report a person can act on.

use std::path::PathBuf;
use std::sync::Arc;

use hilt_firmware::time::Instant;
// Steps are described by the scenario crate, in the same words as `hilt
// wokwi` where they agree.
use hilt_scenario::describe::describe_message_expectation;
use hilt_scenario::{
    BrokerChoice, Expectation, Fleet, LedExpectation, LedTiming, MessageExpectation, PartRef,
    PinExpectation, Publishers, Scenario, Step, StepDescription, StepKind,
};

use crate::broker::EmbeddedBroker;
use crate::connection::BrokerAccess;
use crate::matching::{MemberTally, message_fits};
use crate::message_log::{EachTallied, MessageLog, Retention, SHOWN_IN_REPORT, TrackerId};
use crate::recording::Recording;
use crate::registry::{Part, Registry};
use crate::tls::{ClientTls, TestAuthority};
use crate::transcript::{LoggedMessage, Transcript, format_time};
use crate::world::{HarnessError, World, after};

/// How long `click` holds the button down.
const CLICK_HOLD: std::time::Duration = std::time::Duration::from_millis(100);

/// The end of a run.
#[derive(Clone, Debug)]
pub enum Verdict {
    /// Every expectation held.
    Passed,
    /// An expectation did not hold.
    Failed(Failure),
    /// The harness could not run the scenario. Shared, so that an outcome
    /// stays cheap to clone while the error keeps its type.
    Error(Arc<RunError>),
}

/// Why the harness could not run a scenario to a verdict of its own. None
/// of these says anything about the firmware: the run is void.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The embedded broker did not start.
    #[error(transparent)]
    BrokerStart(#[from] crate::broker::BrokerStartError),
    /// The run's test certificate authority, or hilt's TLS toward the
    /// broker, could not be made (an unreadable `--broker-ca`, say).
    #[error("{0}")]
    Tls(String),
    /// The external broker's host name did not resolve.
    #[error("cannot resolve the broker address {url}")]
    UnresolvedBroker {
        /// The broker URL as the scenario or `--broker` gave it.
        url: String,
    },
    /// The harness itself could not go on (see [`HarnessError`]).
    #[error(transparent)]
    Harness(#[from] HarnessError),
    /// The process may not open enough files for the scenario's devices.
    #[error(transparent)]
    Descriptors(#[from] crate::descriptors::DescriptorShortage),
}

impl Verdict {
    fn error(error: impl Into<RunError>) -> Verdict {
        Verdict::Error(Arc::new(error.into()))
    }
}

/// A failed expectation, with what was seen instead.
#[derive(Clone, Debug)]
pub struct Failure {
    /// The scenario file.
    pub file: PathBuf,
    /// Line of the failing step.
    pub line: usize,
    /// The step's `name:`, if it has one.
    pub step_name: Option<String>,
    /// What the step expected, in words.
    pub expected: String,
    /// Device time when the expectation gave up.
    pub at: Instant,
    /// The nearest messages or pin states actually seen, with device times.
    pub seen: Vec<String>,
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}: ", self.file.display(), self.line)?;
        if let Some(name) = &self.step_name {
            write!(f, "step '{name}': ")?;
        }
        writeln!(f, "expected {} (gave up at {})", self.expected, self.at)?;
        if self.seen.is_empty() {
            writeln!(f, "  seen: nothing")?;
        } else {
            writeln!(f, "  seen instead:")?;
            for line in &self.seen {
                writeln!(f, "    {line}")?;
            }
        }
        Ok(())
    }
}

/// Everything a run produced.
#[derive(Clone, Debug)]
pub struct RunOutcome {
    /// The scenario file.
    pub file: PathBuf,
    /// The scenario's `name:`.
    pub name: String,
    /// Passed, failed (with the report), or not run to the end.
    pub verdict: Verdict,
    /// Device time at the end of the run.
    pub device_time: Instant,
    /// The record of the run, in device time; empty unless the
    /// [`Recording`] kept it in memory ([`run_scenario`] does).
    pub transcript: Transcript,
    /// Every message routed, in order; empty unless the [`Recording`]
    /// kept them in memory ([`run_scenario`] does).
    pub messages: Vec<LoggedMessage>,
    /// How many messages were routed, whether or not they were kept.
    pub messages_routed: usize,
    /// The first error writing the transcript or the messages to the
    /// outputs the [`Recording`] named; nothing was written after it. The
    /// verdict does not depend on it.
    pub recording_error: Option<Arc<RecordingError>>,
}

/// Why a run's transcript or messages could not be written.
#[derive(Debug, thiserror::Error)]
pub enum RecordingError {
    /// Writing the transcript failed.
    #[error("cannot write the transcript: {0}")]
    Transcript(#[source] std::io::Error),
    /// Writing the messages' CSV rows failed.
    #[error("cannot write the messages: {0}")]
    Messages(#[source] crate::csv::CsvError),
    /// The event sink refused an event.
    #[error("cannot record the run's events: {0}")]
    Events(#[source] std::io::Error),
}

impl RunOutcome {
    /// The outcome of `scenario` before anything ran: passed so far, at
    /// boot, with nothing recorded.
    fn not_run(scenario: &Scenario) -> RunOutcome {
        RunOutcome {
            file: scenario.file.clone(),
            name: scenario.name.clone(),
            verdict: Verdict::Passed,
            device_time: Instant::BOOT,
            transcript: Transcript::default(),
            messages: Vec::new(),
            messages_routed: 0,
            recording_error: None,
        }
    }

    /// Whether every expectation held.
    pub fn passed(&self) -> bool {
        matches!(self.verdict, Verdict::Passed)
    }

    /// A one-paragraph report: `PASS`, or `FAIL`/`ERROR` with the details.
    pub fn report(&self) -> String {
        match &self.verdict {
            Verdict::Passed => format!(
                "PASS {} ({}; {} device time)\n",
                self.file.display(),
                self.name,
                self.device_time
            ),
            Verdict::Failed(failure) => {
                format!("FAIL {} ({})\n{failure}", self.file.display(), self.name)
            }
            Verdict::Error(error) => {
                format!("ERROR {} ({})\n  {error}\n", self.file.display(), self.name)
            }
        }
    }
}

/// Runs a validated scenario with the apps of `registry`, keeping its
/// transcript and every message in the outcome.
pub fn run_scenario(scenario: &Scenario, registry: &Registry) -> RunOutcome {
    run_scenario_with(scenario, registry, Recording::in_memory())
}

/// Runs a validated scenario with the apps of `registry`, sending its
/// transcript and messages where `recording` says as the run goes.
pub fn run_scenario_with(
    scenario: &Scenario,
    registry: &Registry,
    recording: Recording,
) -> RunOutcome {
    let mut outcome = RunOutcome::not_run(scenario);
    let embedded_broker = matches!(scenario.broker, BrokerChoice::Embedded);
    if let Err(shortage) =
        crate::descriptors::make_room_for(scenario.devices.len(), embedded_broker)
    {
        outcome.verdict = Verdict::error(shortage);
        return outcome;
    }
    let mut access = BrokerAccess::default();
    // One authority per run: the embedded broker's certificate is from
    // it, and so are the device side's.
    if scenario.broker_tls {
        match TestAuthority::generate("hilt test authority") {
            Ok(authority) => access.authority = Some(authority),
            Err(error) => {
                outcome.verdict = Verdict::error(RunError::Tls(error.to_string()));
                return outcome;
            }
        }
    }
    let (address, embedded) = match &scenario.broker {
        BrokerChoice::Embedded => {
            let users = (!scenario.broker_users.is_empty()).then(|| {
                scenario
                    .broker_users
                    .iter()
                    .map(|user| (user.name.clone(), user.password.clone()))
                    .collect()
            });
            let started = match &access.authority {
                Some(authority) => {
                    EmbeddedBroker::start_with_tls(connections_needed(scenario), users, authority)
                }
                None => EmbeddedBroker::start_with_users(connections_needed(scenario), users),
            };
            match started {
                Ok(broker) => {
                    access.tls = broker.client_tls().cloned();
                    access.harness_login = broker
                        .harness_login()
                        .map(|(name, password)| (name.to_owned(), password.to_owned()));
                    access.asks_for_login = broker.requires_login();
                    (broker.address(), Some(broker))
                }
                Err(error) => {
                    outcome.verdict = Verdict::error(error);
                    return outcome;
                }
            }
        }
        BrokerChoice::External {
            host,
            port,
            url,
            tls,
            ca,
            login,
        } => {
            if *tls {
                let client = match ca {
                    Some(ca) => ClientTls::trusting_file(ca, host),
                    None => ClientTls::trusting_public_roots(host),
                };
                match client {
                    Ok(client) => access.tls = Some(client),
                    Err(error) => {
                        outcome.verdict = Verdict::error(RunError::Tls(error.to_string()));
                        return outcome;
                    }
                }
            }
            access.harness_login = login
                .as_ref()
                .map(|login| (login.name.clone(), login.password.clone()));
            // The scenario's users are expected to exist on that broker.
            access.asks_for_login = !scenario.broker_users.is_empty();
            match std::net::ToSocketAddrs::to_socket_addrs(&(host.as_str(), *port))
                .map(|mut a| a.next())
            {
                Ok(Some(address)) => (address, None),
                _ => {
                    outcome.verdict =
                        Verdict::error(RunError::UnresolvedBroker { url: url.clone() });
                    return outcome;
                }
            }
        }
    };
    run_in_world(scenario, registry, address, embedded, access, recording)
}

/// Runs `scenario` against the broker at `address` (`embedded`, if the run
/// owns it) and fills in `outcome`.
fn run_in_world(
    scenario: &Scenario,
    registry: &Registry,
    address: std::net::SocketAddr,
    embedded: Option<EmbeddedBroker>,
    access: BrokerAccess,
    recording: Recording,
) -> RunOutcome {
    let mut outcome = RunOutcome::not_run(scenario);
    let mut world = match World::new(address, embedded, access, scenario, registry) {
        Ok(world) => world,
        Err(error) => {
            outcome.verdict = Verdict::error(error);
            return outcome;
        }
    };
    world.transcript_mut().send_to(recording.transcript);
    world.transcript_mut().send_events_to(recording.events);
    world.log_mut().send_to(recording.messages);
    world.report_progress_to(recording.progress);
    if let Some(address) = world.listening() {
        let note = if address.ip().is_loopback() {
            ""
        } else {
            " (not a loopback address: other machines can connect too)"
        };
        world.transcript_mut().push(
            Instant::BOOT,
            format!("external devices: connect to mqtt://{address}{note}"),
        );
        if let Some(hook) = recording.listening {
            hook.call(address);
        }
    }
    let result = run_steps(&mut world, scenario);
    // A scenario whose external device never came does not pass, even when
    // nothing it checked needed the device.
    let result = result.and_then(|failure| match failure {
        None => world.check_external_devices_came().map(|()| None),
        failure => Ok(failure),
    });
    // A broker that panicked may have dropped anything at all, so whatever
    // the steps concluded, the run is the harness's error.
    let result = world.check_broker_health().and(result);
    outcome.verdict = match result {
        Ok(None) => Verdict::Passed,
        Ok(Some(failure)) => Verdict::Failed(failure),
        Err(error) => Verdict::error(error),
    };
    outcome.device_time = world.now();
    outcome.messages_routed = world.log().len();
    let (transcript, transcript_error) = world.transcript_mut().finish();
    let events_error = world.transcript_mut().finish_events();
    let (messages, messages_error) = world.log_mut().finish();
    outcome.transcript = transcript;
    outcome.messages = messages;
    outcome.recording_error = transcript_error
        .map(RecordingError::Transcript)
        .or(messages_error.map(RecordingError::Messages))
        .or(events_error.map(RecordingError::Events))
        .map(Arc::new);
    outcome
}

/// How many connections the embedded broker must accept at once for
/// `scenario`: each device's link, the one it may have left behind (a reset,
/// a cut link), and one the broker may still be closing; plus the harness's
/// own client and its readiness probes. Sized from the scenario, so that a
/// fleet never meets the limit and a small run does not pay for a large one.
fn connections_needed(scenario: &Scenario) -> usize {
    scenario.devices.len().saturating_mul(3).saturating_add(16)
}

/// Where message expectations look: from the latest action step, or just
/// past the message the previous message expectation matched (a number
/// counted from the start of the run).
struct MessageWindow {
    first_index: usize,
}

/// A message expectation that reads the window: neither `count:` (which
/// counts what arrives during its own step) nor `since: start`. An `each:`
/// without them reads it too, tallying members as it goes.
fn reads_window(step: &Step) -> bool {
    matches!(&step.kind, StepKind::Expect(Expectation::Message(expectation))
        if expectation.count.is_none() && !expectation.since_start)
}

/// The fleet whose every member `expectation` asks about (`each: true`).
fn each_member_of(expectation: &MessageExpectation) -> Option<&Fleet> {
    match &expectation.from {
        Some(Publishers::Fleet(fleet)) if expectation.each => Some(fleet),
        _ => None,
    }
}

/// What the steps need of the message log, worked out before the run
/// (ARCHITECTURE.md, "Memory in a long run").
struct MessagePlan {
    /// The tracker gathering what each `since: start` step needs, which
    /// sees every message from the start (per member with `each:`).
    since_start: Vec<Option<TrackerId>>,
    /// Every message is kept until this step has run: a `since: start`
    /// step moves the window back to just past its match, which can be
    /// any message of the run, and a later step before the next action
    /// reads from there.
    keep_everything_through: Option<usize>,
}

impl MessagePlan {
    fn new(steps: &[Step], log: &mut MessageLog) -> MessagePlan {
        let mut since_start = Vec::with_capacity(steps.len());
        let mut keep_everything_through = None;
        for (index, step) in steps.iter().enumerate() {
            let tracker = match &step.kind {
                StepKind::Expect(Expectation::Message(expectation)) => {
                    // An `each:` report names members, not messages.
                    if reads_window(step) && each_member_of(expectation).is_none() {
                        log.remember_earlier(&expectation.filter);
                    }
                    expectation
                        .since_start
                        .then(|| log.track(expectation, None))
                }
                _ => None,
            };
            if tracker.is_some()
                && steps[index + 1..]
                    .iter()
                    .take_while(|later| !later.kind.is_action())
                    .any(reads_window)
            {
                keep_everything_through = Some(index);
            }
            since_start.push(tracker);
        }
        MessagePlan {
            since_start,
            keep_everything_through,
        }
    }

    /// The messages to keep while step `index` runs: those from the
    /// window's start if a step reading the window comes before the next
    /// action, else none. `count` is the tracker of step `index` if it is
    /// a `count:` without `since: start` (with `each:` too): the next
    /// window starts after its last fitting message.
    fn retention(
        &self,
        steps: &[Step],
        index: usize,
        window: &MessageWindow,
        count: Option<TrackerId>,
    ) -> Retention {
        if self
            .keep_everything_through
            .is_some_and(|last| index <= last)
        {
            return Retention::Everything;
        }
        for (later, step) in steps.iter().enumerate().skip(index) {
            if later > index && step.kind.is_action() {
                return Retention::Nothing;
            }
            if reads_window(step) {
                return match count {
                    Some(tracker) if later > index => Retention::AfterLastFit {
                        tracker,
                        floor: window.first_index,
                    },
                    _ => Retention::From(window.first_index),
                };
            }
        }
        Retention::Nothing
    }
}

fn run_steps(world: &mut World, scenario: &Scenario) -> Result<Option<Failure>, HarnessError> {
    let mut window = MessageWindow { first_index: 0 };
    let plan = MessagePlan::new(&scenario.steps, world.log_mut());
    let retention = plan.retention(&scenario.steps, 0, &window, None);
    world.log_mut().retain(retention);
    // Let the devices boot and connect before the first step acts.
    world.run_until(Instant::BOOT)?;
    for (index, step) in scenario.steps.iter().enumerate() {
        world.step_started();
        let step_start = world.now();
        world.transcript_mut().step(
            step_start,
            step.location.line,
            &step.kind.describe(StepDescription::Transcript),
        );
        if step.kind.is_action() {
            window.first_index = world.log().len();
        }
        // A `count:` counts what arrives from now on, as it arrives.
        let tracker = match &step.kind {
            StepKind::Expect(Expectation::Message(expectation)) => {
                let deadline = after(step_start, expectation.within);
                match plan.since_start[index] {
                    Some(tracker) => {
                        world.log_mut().fix_deadline(tracker, deadline);
                        Some(tracker)
                    }
                    None if expectation.count.is_some() => {
                        Some(world.log_mut().track(expectation, Some(deadline)))
                    }
                    None => None,
                }
            }
            _ => None,
        };
        let counting = tracker.filter(|_| plan.since_start[index].is_none());
        let retention = plan.retention(&scenario.steps, index, &window, counting);
        world.log_mut().retain(retention);
        let failure = match &step.kind {
            StepKind::Wait(duration) => {
                world.run_until(after(step_start, *duration))?;
                None
            }
            StepKind::WaitConnected(wait) => {
                let name = wait.device.device.as_str();
                let connected = world.run_until_or(after(step_start, wait.within), |world| {
                    world.is_connected(name)
                })?;
                (!connected).then(|| {
                    let address = world
                        .listening()
                        .map(|address| format!(" at mqtt://{address}"))
                        .unwrap_or_default();
                    failure(
                        scenario,
                        step,
                        format!(
                            "{name} to connect to hilt{address} within {:?}",
                            wait.within
                        ),
                        world.now(),
                        Vec::new(),
                    )
                })
            }
            StepKind::Press(part) => {
                for device in each_device(scenario, &part.device) {
                    world.set_button(device, &part.part, true)?;
                }
                None
            }
            StepKind::Release(part) => {
                for device in each_device(scenario, &part.device) {
                    world.set_button(device, &part.part, false)?;
                }
                None
            }
            StepKind::Click(part) => {
                for device in each_device(scenario, &part.device) {
                    world.set_button(device, &part.part, true)?;
                }
                world.run_until(after(step_start, CLICK_HOLD))?;
                for device in each_device(scenario, &part.device) {
                    world.set_button(device, &part.part, false)?;
                }
                None
            }
            StepKind::Set(settings) => {
                for setting in settings {
                    for device in each_device(scenario, &setting.target.device) {
                        world.apply_part_value(device, &setting.target.part, &setting.value)?;
                    }
                }
                None
            }
            StepKind::Publish(publish) => {
                for _ in 0..publish.repeat {
                    world.harness_publish(
                        &publish.topic,
                        &publish.payload,
                        publish.qos,
                        publish.retain,
                    )?;
                    // The devices take each message (and acknowledge it)
                    // before the next: a broker holds back deliveries to a
                    // client with too many unacknowledged ones.
                    world.run_until(world.now())?;
                }
                None
            }
            StepKind::Expect(Expectation::Message(expectation)) => {
                expect_message(world, scenario, step, expectation, &mut window, tracker)?
            }
            StepKind::Expect(Expectation::Led(expectation)) => {
                expect_led(world, scenario, step, expectation)?
            }
            StepKind::Expect(Expectation::Pin(expectation)) => {
                expect_pin(world, scenario, step, expectation)
            }
            StepKind::Expect(Expectation::Blink(expectation)) => {
                expect_blink(world, scenario, step, expectation)?
            }
            StepKind::Broker(action) => {
                world.broker_action(*action)?;
                None
            }
            StepKind::Network(change) => {
                for device in each_device(scenario, &change.device.device) {
                    let mut one = change.clone();
                    one.device.device = device.to_owned();
                    world.change_network(&one);
                }
                None
            }
            StepKind::Reboot(named) => {
                for device in each_device(scenario, &named.device) {
                    world.power_cycle(device)?;
                }
                None
            }
            StepKind::Tls(certificate) => {
                world.present_certificate(*certificate)?;
                None
            }
            StepKind::Revoke(user) => {
                world.revoke_user(user);
                None
            }
            StepKind::Ota(push) => {
                let prefix = match &push.prefix {
                    Some(prefix) => prefix.clone(),
                    None => world.device_prefix(&push.device.device),
                };
                world.ota_push(push, &prefix)?;
                None
            }
            StepKind::Hang(named) => {
                for device in each_device(scenario, &named.device) {
                    world.hang(device);
                }
                None
            }
            StepKind::Panic(panic) => {
                let place = match &panic.place {
                    Some(place) => place.clone(),
                    None => step_place(scenario, step),
                };
                for device in each_device(scenario, &panic.device.device) {
                    world.panic(device, &place)?;
                }
                None
            }
            StepKind::Flash(damage) => {
                for device in each_device(scenario, &damage.device.device) {
                    world.corrupt_flash(device, damage.partition);
                }
                None
            }
        };
        if let Some(tracker) = tracker {
            world.log_mut().untrack(tracker);
        }
        if let Some(failure) = failure {
            world.transcript_mut().failed(failure.at, &failure.expected);
            return Ok(Some(failure));
        }
    }
    Ok(None)
}

/// The place a `panic` step without `place:` has the panic handler record:
/// the scenario file's name and the step's line (`panics.yaml:12`), in the
/// `file:line` form of a panic's place. The name alone, so that the record
/// is the same wherever the file is run from.
fn step_place(scenario: &Scenario, step: &Step) -> String {
    let file = scenario.file.file_name().map_or_else(
        || scenario.file.to_string_lossy(),
        |name| name.to_string_lossy(),
    );
    format!("{file}:{}", step.location.line)
}

/// The devices a step naming `name` acts on: every member of the fleet
/// `name`, in order, or the one device `name`.
fn each_device<'s>(scenario: &'s Scenario, name: &'s str) -> impl Iterator<Item = &'s str> {
    let members = scenario.fleet(name).map(|_| scenario.devices_named(name));
    let single = members.is_none().then_some(name);
    members
        .into_iter()
        .flatten()
        .map(|device| device.name.as_str())
        .chain(single)
}

fn failure(
    scenario: &Scenario,
    step: &Step,
    expected: String,
    at: Instant,
    seen: Vec<String>,
) -> Failure {
    Failure {
        file: scenario.file.clone(),
        line: step.location.line,
        step_name: step.name.clone(),
        expected,
        at,
        seen,
    }
}

/// `tracker`: what gathered the messages of a `count:` or `since: start`
/// expectation as they arrived; the others read the window.
fn expect_message(
    world: &mut World,
    scenario: &Scenario,
    step: &Step,
    expectation: &MessageExpectation,
    window: &mut MessageWindow,
    tracker: Option<TrackerId>,
) -> Result<Option<Failure>, HarnessError> {
    let step_start = world.now();
    let deadline = after(step_start, expectation.within);

    if let Some(fleet) = each_member_of(expectation) {
        return expect_each_member(world, scenario, step, expectation, fleet, window, tracker);
    }
    if let Some(count) = expectation.count {
        // The window holds what arrives during this step: messages logged
        // from now on (so nothing an earlier step saw or caused counts
        // twice), up to and including `within` after the step's start;
        // `since: start` widens it to the whole run. The tracker counts
        // them as they arrive.
        world.run_until(deadline)?;
        let counted = match tracker {
            Some(tracker) => world.log_mut().finish_count(tracker, deadline),
            None => unreachable_tracker(),
        };
        if counted.count == count as usize {
            if let Some(last) = counted.last {
                window.first_index = last + 1;
            }
            return Ok(None);
        }
        let mut seen: Vec<String> = counted.first.iter().map(LoggedMessage::describe).collect();
        if counted.count > SHOWN_IN_REPORT {
            seen.push(format!("… and {} more", counted.count - SHOWN_IN_REPORT));
        }
        let expected = format!(
            "exactly {count} message(s) {} {}, but {} arrived",
            describe_message_expectation(expectation),
            describe_count_window(expectation, step_start, deadline),
            counted.count
        );
        return Ok(Some(failure(scenario, step, expected, world.now(), seen)));
    }

    let expected = || {
        format!(
            "a message {} within {:?} (by {})",
            describe_message_expectation(expectation),
            expectation.within,
            deadline
        )
    };
    if expectation.since_start {
        let Some(tracker) = tracker else {
            return Ok(unreachable_tracker());
        };
        let found = world.run_until_or(deadline, |world| {
            world.log().first_fit(tracker, deadline).is_some()
        })?;
        if let Some(index) = world.log().first_fit(tracker, deadline).filter(|_| found) {
            window.first_index = index + 1;
            return Ok(None);
        }
        let seen = nearest_since_start(world.log(), tracker);
        return Ok(Some(failure(scenario, step, expected(), world.now(), seen)));
    }

    let first_index = window.first_index;
    let fits =
        |message: &LoggedMessage| message_fits(expectation, message) && message.at <= deadline;
    // Each message is looked at once: one that did not fit does not start
    // fitting later.
    let mut looked_at = first_index;
    let mut fitting = None;
    world.run_until_or(deadline, |world| {
        let log = world.log();
        if let Some((index, _)) = log.from(looked_at).find(|(_, message)| fits(message)) {
            fitting = Some(index);
            return true;
        }
        looked_at = log.len();
        false
    })?;
    if let Some(index) = fitting {
        window.first_index = index + 1;
        return Ok(None);
    }
    let seen = nearest_messages(world.log(), first_index, expectation);
    Ok(Some(failure(scenario, step, expected(), world.now(), seen)))
}

/// Every `count:` and `since: start` step has a tracker (`run_steps` makes
/// them, of the kind its `each:` asks for); without one the step is taken
/// as holding nothing.
fn unreachable_tracker<T: Default>() -> T {
    debug_assert!(false, "a count or since: start step without its tracker");
    T::default()
}

/// `each: true`: every member of `fleet` publishes a fitting message in the
/// window (with `count: N`, exactly N each). Each message is looked at
/// once, tallying per member, so the work grows with the messages, not
/// with members × messages. A `count:` or a `since: start` is tallied by
/// its `tracker` as messages arrive, like any `count:` or `since: start`
/// (so the run keeps no messages for it); the others read the window.
fn expect_each_member(
    world: &mut World,
    scenario: &Scenario,
    step: &Step,
    expectation: &MessageExpectation,
    fleet: &Fleet,
    window: &mut MessageWindow,
    tracker: Option<TrackerId>,
) -> Result<Option<Failure>, HarnessError> {
    let step_start = world.now();
    let deadline = after(step_start, expectation.within);

    if let Some(count) = expectation.count {
        // The same window as a `count:` of the whole (see `expect_message`).
        world.run_until(deadline)?;
        let tallied = tracker.and_then(|tracker| world.log_mut().finish_each(tracker, deadline));
        let Some(tallied) = tallied else {
            return Ok(unreachable_tracker());
        };
        let off = tallied.tally.members_not_at(count);
        if off.is_empty() {
            if let Some(last) = tallied.last {
                window.first_index = last + 1;
            }
            return Ok(None);
        }
        let expected = format!(
            "exactly {count} message(s) {} {}, but {} of its {} members did not",
            describe_message_expectation(expectation),
            describe_count_window(expectation, step_start, deadline),
            off.len(),
            fleet.count
        );
        let seen = members_report(&off);
        return Ok(Some(failure(scenario, step, expected, world.now(), seen)));
    }

    let heard = if expectation.since_start {
        // The tracker has seen every message from the start; the step is
        // met when the last member's first fitting message has arrived.
        let Some(tracker) = tracker else {
            return Ok(unreachable_tracker());
        };
        world.run_until_or(deadline, |world| world.log().every_member_heard(tracker))?;
        match world.log_mut().finish_each(tracker, deadline) {
            Some(tallied) => tallied,
            None => return Ok(unreachable_tracker()),
        }
    } else {
        let fits =
            |message: &LoggedMessage| message_fits(expectation, message) && message.at <= deadline;
        let mut tally = MemberTally::new(fleet);
        let mut looked_at = window.first_index;
        let mut completed_at = None;
        world.run_until_or(deadline, |world| {
            let log = world.log();
            for (number, message) in log.from(looked_at) {
                if fits(message) {
                    tally.add(message);
                    if tally.every_member_heard() {
                        completed_at = Some(number);
                        return true;
                    }
                }
            }
            looked_at = log.len();
            false
        })?;
        EachTallied {
            tally,
            last: completed_at,
        }
    };
    if let Some(number) = heard.last {
        window.first_index = number + 1;
        return Ok(None);
    }
    let silent = heard.tally.silent_members();
    let expected = format!(
        "a message {} within {:?} (by {deadline}), but {} of its {} members published none",
        describe_message_expectation(expectation),
        expectation.within,
        silent.len(),
        fleet.count
    );
    let seen = members_report(&silent);
    Ok(Some(failure(scenario, step, expected, world.now(), seen)))
}

/// The first few members a fleet expectation failed on, with how many
/// fitting messages each published, and how many more there are.
fn members_report(members: &[(String, u32)]) -> Vec<String> {
    let mut seen: Vec<String> = members
        .iter()
        .take(SHOWN_IN_REPORT)
        .map(|(member, heard)| format!("{member} published {heard}"))
        .collect();
    if members.len() > SHOWN_IN_REPORT {
        seen.push(format!(
            "… and {} more members",
            members.len() - SHOWN_IN_REPORT
        ));
    }
    seen
}

/// The messages most worth showing next to a failed message expectation:
/// those on matching topics in the window, else anything in the window,
/// else the latest messages on matching topics before it.
fn nearest_messages(
    log: &MessageLog,
    first_index: usize,
    expectation: &MessageExpectation,
) -> Vec<String> {
    let on_topic = |message: &&LoggedMessage| {
        hilt_firmware::mqtt::topic::filter_matches(&expectation.filter, &message.topic)
    };
    let window = || log.from(first_index).map(|(_, message)| message);
    let mut chosen: Vec<&LoggedMessage> = window().filter(on_topic).take(SHOWN_IN_REPORT).collect();
    let mut note = None;
    if chosen.is_empty() {
        chosen = window().take(SHOWN_IN_REPORT).collect();
        if !chosen.is_empty() {
            note = Some(
                "(no message on a matching topic in the window; these arrived in it)".to_owned(),
            );
        }
    }
    if chosen.is_empty() {
        chosen = log.latest_on_topic_before(&expectation.filter, first_index);
        if !chosen.is_empty() {
            note = Some(
                "(nothing arrived in the window; the latest earlier messages on matching topics)"
                    .to_owned(),
            );
        }
    }
    let mut seen: Vec<String> = note.into_iter().collect();
    seen.extend(chosen.iter().map(|message| message.describe()));
    seen
}

/// [`nearest_messages`] for a `since: start` expectation, whose window is
/// the whole run, from what its tracker kept.
fn nearest_since_start(log: &MessageLog, tracker: TrackerId) -> Vec<String> {
    let on_topic = log.first_on_topic(tracker);
    if !on_topic.is_empty() {
        return on_topic.iter().map(LoggedMessage::describe).collect();
    }
    let first = log.first_of_run();
    if first.is_empty() {
        return Vec::new();
    }
    std::iter::once(
        "(no message on a matching topic in the window; these arrived in it)".to_owned(),
    )
    .chain(first.iter().map(LoggedMessage::describe))
    .collect()
}

fn expect_led(
    world: &mut World,
    scenario: &Scenario,
    step: &Step,
    expectation: &LedExpectation,
) -> Result<Option<Failure>, HarnessError> {
    let led = &expectation.led;
    let line = find_led_line(world, led)?;
    let step_start = world.now();
    let wanted = if expectation.on { "on" } else { "off" };
    let held = match expectation.timing {
        LedTiming::Now => line.is_high() == expectation.on,
        LedTiming::Within(duration) => {
            let deadline = after(step_start, duration);
            world.run_until_or(deadline, |_| {
                line.is_high() == expectation.on
                    || line
                        .history()
                        .iter()
                        .any(|change| change.at >= step_start && change.high == expectation.on)
            })?
        }
        LedTiming::For(duration) => {
            let deadline = after(step_start, duration);
            let was_right = line.is_high() == expectation.on;
            world.run_until_or(deadline, |_| line.is_high() != expectation.on)?;
            was_right && line.is_high() == expectation.on && world.now() >= deadline
        }
    };
    if held {
        return Ok(None);
    }
    let timing = match expectation.timing {
        LedTiming::Now => "now".to_owned(),
        LedTiming::Within(duration) => format!("within {duration:?}"),
        LedTiming::For(duration) => format!("for {duration:?}"),
    };
    let expected = format!("LED {led} {wanted} {timing}");
    let seen = latest_changes(&line.history(), led, "on", "off");
    Ok(Some(failure(scenario, step, expected, world.now(), seen)))
}

/// Measures the rate from the number of changes over the window (two per
/// on-off cycle), which halves the counting error of counting cycles.
/// Runs the world through the whole window.
fn expect_blink(
    world: &mut World,
    scenario: &Scenario,
    step: &Step,
    expectation: &hilt_scenario::BlinkExpectation,
) -> Result<Option<Failure>, HarnessError> {
    let led = &expectation.led;
    let line = find_led_line(world, led)?;
    let start = world.now();
    let end = after(start, expectation.over);
    world.run_until(end)?;
    let changes: Vec<_> = line
        .history()
        .into_iter()
        .filter(|change| change.at > start && change.at <= end)
        .collect();
    let seconds = expectation.over.as_secs_f64();
    let measured = changes.len() as f64 / 2.0 / seconds;
    if (measured - expectation.hz).abs() <= expectation.tolerance_hz + f64::EPSILON {
        return Ok(None);
    }
    let expected = format!(
        "LED {led} blinking at {} Hz (± {} Hz) over {:?}, but it changed {} times: {measured:.3} Hz",
        expectation.hz,
        expectation.tolerance_hz,
        expectation.over,
        changes.len()
    );
    let seen = latest_changes(&changes, led, "on", "off");
    Ok(Some(failure(scenario, step, expected, world.now(), seen)))
}

/// A device's LED line, or a harness error naming what is missing (the
/// registry's check of an app's parts makes that impossible for a device
/// that was built).
fn find_led_line(world: &World, led: &PartRef) -> Result<hilt_sim::gpio::PinLine, HarnessError> {
    match world.board_part(&led.device, &led.part, "LED", |part| {
        matches!(part, Part::Led(_))
    })? {
        Part::Led(led) => Ok(led.line().clone()),
        _ => unreachable!("board_part checked the kind"),
    }
}

/// The last few level changes of a line, for a failure report.
fn latest_changes(
    changes: &[hilt_sim::gpio::LevelChange],
    name: &PartRef,
    high: &str,
    low: &str,
) -> Vec<String> {
    let skip = changes.len().saturating_sub(SHOWN_IN_REPORT);
    changes
        .iter()
        .skip(skip)
        .map(|change| {
            let level = if change.high { high } else { low };
            format!("{} {name} {level}", format_time(change.at))
        })
        .collect()
}

fn expect_pin(
    world: &World,
    scenario: &Scenario,
    step: &Step,
    expectation: &PinExpectation,
) -> Option<Failure> {
    let pin = &expectation.pin;
    let wanted = if expectation.high { "high" } else { "low" };
    let Some(line) = world.pin_line(&pin.device, &pin.part) else {
        return Some(failure(
            scenario,
            step,
            format!("pin {pin} {wanted}, but the device has no such line"),
            world.now(),
            Vec::new(),
        ));
    };
    if line.is_high() == expectation.high {
        return None;
    }
    let seen = latest_changes(&line.history(), pin, "high", "low");
    Some(failure(
        scenario,
        step,
        format!("pin {pin} {wanted}"),
        world.now(),
        seen,
    ))
}

/// The window a `count:` was counted in: from the step's start, or with
/// `since: start` from the start of the run, up to the deadline.
fn describe_count_window(
    expectation: &MessageExpectation,
    step_start: Instant,
    deadline: Instant,
) -> String {
    if expectation.since_start {
        format!(
            "between {} (the start of the run, as `since: start` asks) and {deadline}",
            Instant::BOOT
        )
    } else {
        format!("between {step_start} and {deadline}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A run whose steps all held is still an error if the broker panicked
    /// meanwhile: it may have dropped anything. (Its panic is stood in for
    /// by a thread with the broker's name; `broker.rs` records by name.)
    #[test]
    fn a_broker_panic_turns_a_passing_run_into_an_error() {
        let registry = Registry::with_bundled_apps();
        let text = "\
name: passes on its own
devices:
  probe: { app: thermometer }
steps:
  - expect: { topic: devices/probe/temperature/degrees, within: 2s }
";
        let scenario =
            hilt_scenario::parse(std::path::Path::new("panic.yaml"), text, &registry).unwrap();
        let run = |broker: EmbeddedBroker| {
            run_in_world(
                &scenario,
                &registry,
                broker.address(),
                Some(broker),
                BrokerAccess::default(),
                Recording::in_memory(),
            )
        };

        let healthy = run(EmbeddedBroker::start().unwrap());
        assert!(healthy.passed(), "{}", healthy.report());

        let broker = EmbeddedBroker::start().unwrap();
        let stand_in = std::thread::Builder::new()
            .name(format!("hilt-broker-{}", broker.number()))
            .spawn(|| panic!("a task of the broker panicked"))
            .unwrap();
        assert!(stand_in.join().is_err());
        let outcome = run(broker);
        let Verdict::Error(error) = &outcome.verdict else {
            panic!("expected a harness error: {}", outcome.report());
        };
        let error = error.to_string();
        assert!(
            error.starts_with(
                "the embedded broker panicked, so this run cannot be trusted: a task of the broker panicked at "
            ),
            "{error}"
        );
    }
}
