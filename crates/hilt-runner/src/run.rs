//! Running one scenario: its steps in order against a [`World`], and the
//! verdict with a report a person can act on.

use std::path::PathBuf;
use std::sync::Arc;

use hilt_firmware::time::Instant;
// Steps are described by the scenario crate, in the same words as `hilt
// wokwi` where they agree; the world names a `set` through this module.
use hilt_scenario::describe::describe_message_expectation;
pub(crate) use hilt_scenario::describe::describe_part_value;
use hilt_scenario::{
    BrokerChoice, Expectation, LedExpectation, LedTiming, MessageExpectation, PartRef,
    PinExpectation, Scenario, Step, StepDescription, StepKind,
};

use crate::broker::EmbeddedBroker;
use crate::matching::message_fits;
use crate::registry::{Part, Registry};
use crate::transcript::{LoggedMessage, Transcript, format_time};
use crate::world::{HarnessError, World, after};

/// How long `click` holds the button down.
const CLICK_HOLD: std::time::Duration = std::time::Duration::from_millis(100);
/// How many messages or pin changes a failure report shows.
const SHOWN_IN_REPORT: usize = 8;

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
    /// The external broker's host name did not resolve.
    #[error("cannot resolve the broker address {url}")]
    UnresolvedBroker {
        /// The broker URL as the scenario or `--broker` gave it.
        url: String,
    },
    /// The harness itself could not go on (see [`HarnessError`]).
    #[error(transparent)]
    Harness(#[from] HarnessError),
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
    /// The record of the run, in device time.
    pub transcript: Transcript,
    /// Every message routed, in order.
    pub messages: Vec<LoggedMessage>,
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

/// Runs a validated scenario with the apps of `registry`.
pub fn run_scenario(scenario: &Scenario, registry: &Registry) -> RunOutcome {
    let mut outcome = RunOutcome::not_run(scenario);
    let (address, embedded) = match &scenario.broker {
        BrokerChoice::Embedded => {
            match EmbeddedBroker::start_with_capacity(connections_needed(scenario)) {
                Ok(broker) => (broker.address(), Some(broker)),
                Err(error) => {
                    outcome.verdict = Verdict::error(error);
                    return outcome;
                }
            }
        }
        BrokerChoice::External { host, port, url } => {
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
    run_in_world(scenario, registry, address, embedded)
}

/// Runs `scenario` against the broker at `address` (`embedded`, if the run
/// owns it) and fills in `outcome`.
fn run_in_world(
    scenario: &Scenario,
    registry: &Registry,
    address: std::net::SocketAddr,
    embedded: Option<EmbeddedBroker>,
) -> RunOutcome {
    let mut outcome = RunOutcome::not_run(scenario);
    let mut world = match World::new(address, embedded, scenario, registry) {
        Ok(world) => world,
        Err(error) => {
            outcome.verdict = Verdict::error(error);
            return outcome;
        }
    };
    let result = run_steps(&mut world, scenario);
    // A broker that panicked may have dropped anything at all, so whatever
    // the steps concluded, the run is the harness's error.
    let result = world.check_broker_health().and(result);
    outcome.verdict = match result {
        Ok(None) => Verdict::Passed,
        Ok(Some(failure)) => Verdict::Failed(failure),
        Err(error) => Verdict::error(error),
    };
    outcome.device_time = world.now();
    outcome.transcript = world.transcript().clone();
    outcome.messages = world.log().to_vec();
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
/// past the message the previous message expectation matched.
struct MessageWindow {
    first_index: usize,
}

fn run_steps(world: &mut World, scenario: &Scenario) -> Result<Option<Failure>, HarnessError> {
    let mut window = MessageWindow { first_index: 0 };
    // Let the devices boot and connect before the first step acts.
    world.run_until(Instant::BOOT)?;
    for step in &scenario.steps {
        let step_start = world.now();
        world.transcript_mut().step(
            step_start,
            step.location.line,
            &step.kind.describe(StepDescription::Transcript),
        );
        if step.kind.is_action() {
            window.first_index = world.log().len();
        }
        let failure = match &step.kind {
            StepKind::Wait(duration) => {
                world.run_until(after(step_start, *duration))?;
                None
            }
            StepKind::Press(part) => {
                world.set_button(&part.device, &part.part, true)?;
                None
            }
            StepKind::Release(part) => {
                world.set_button(&part.device, &part.part, false)?;
                None
            }
            StepKind::Click(part) => {
                world.set_button(&part.device, &part.part, true)?;
                world.run_until(after(step_start, CLICK_HOLD))?;
                world.set_button(&part.device, &part.part, false)?;
                None
            }
            StepKind::Set(settings) => {
                for setting in settings {
                    world.apply_part_value(
                        &setting.target.device,
                        &setting.target.part,
                        &setting.value,
                    )?;
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
                expect_message(world, scenario, step, expectation, &mut window)?
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
                world.change_network(change);
                None
            }
            StepKind::Reboot(device) => {
                world.power_cycle(&device.device)?;
                None
            }
            StepKind::Hang(device) => {
                world.hang(&device.device);
                None
            }
        };
        if let Some(failure) = failure {
            world
                .transcript_mut()
                .push(failure.at, format!("FAILED: expected {}", failure.expected));
            return Ok(Some(failure));
        }
    }
    Ok(None)
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

fn expect_message(
    world: &mut World,
    scenario: &Scenario,
    step: &Step,
    expectation: &MessageExpectation,
    window: &mut MessageWindow,
) -> Result<Option<Failure>, HarnessError> {
    let step_start = world.now();
    let deadline = after(step_start, expectation.within);
    let first_index = if expectation.since_start {
        0
    } else {
        window.first_index
    };
    let fits =
        |message: &LoggedMessage| message_fits(expectation, message) && message.at <= deadline;

    if let Some(count) = expectation.count {
        // The window holds what arrives during this step: messages logged
        // from now on (so nothing an earlier step saw or caused counts
        // twice), up to and including `within` after the step's start;
        // `since: start` widens it to the whole run.
        let first_index = if expectation.since_start {
            0
        } else {
            world.log().len()
        };
        world.run_until(deadline)?;
        let in_window: Vec<usize> = (first_index..world.log().len())
            .filter(|&index| fits(&world.log()[index]))
            .collect();
        if in_window.len() == count as usize {
            if let Some(last) = in_window.last() {
                window.first_index = last + 1;
            }
            return Ok(None);
        }
        let mut seen: Vec<String> = in_window
            .iter()
            .take(SHOWN_IN_REPORT)
            .map(|&index| world.log()[index].describe())
            .collect();
        if in_window.len() > SHOWN_IN_REPORT {
            seen.push(format!("… and {} more", in_window.len() - SHOWN_IN_REPORT));
        }
        let expected = format!(
            "exactly {count} message(s) {} {}, but {} arrived",
            describe_message_expectation(expectation),
            describe_count_window(expectation, step_start, deadline),
            in_window.len()
        );
        return Ok(Some(failure(scenario, step, expected, world.now(), seen)));
    }

    let found = world.run_until_or(deadline, |world| {
        world.log()[first_index.min(world.log().len())..]
            .iter()
            .any(fits)
    })?;
    if found {
        let index = (first_index..world.log().len())
            .find(|&index| fits(&world.log()[index]))
            .unwrap_or(first_index);
        window.first_index = index + 1;
        return Ok(None);
    }
    let expected = format!(
        "a message {} within {:?} (by {})",
        describe_message_expectation(expectation),
        expectation.within,
        deadline
    );
    let seen = nearest_messages(world.log(), first_index, expectation);
    Ok(Some(failure(scenario, step, expected, world.now(), seen)))
}

/// The messages most worth showing next to a failed message expectation:
/// those on matching topics in the window, else anything in the window,
/// else the latest messages on matching topics before it.
fn nearest_messages(
    log: &[LoggedMessage],
    first_index: usize,
    expectation: &MessageExpectation,
) -> Vec<String> {
    let on_topic = |message: &&LoggedMessage| {
        hilt_firmware::mqtt::topic::filter_matches(&expectation.filter, &message.topic)
    };
    let window = &log[first_index.min(log.len())..];
    let mut chosen: Vec<&LoggedMessage> = window
        .iter()
        .filter(on_topic)
        .take(SHOWN_IN_REPORT)
        .collect();
    let mut note = None;
    if chosen.is_empty() {
        chosen = window.iter().take(SHOWN_IN_REPORT).collect();
        if !chosen.is_empty() {
            note = Some(
                "(no message on a matching topic in the window; these arrived in it)".to_owned(),
            );
        }
    }
    if chosen.is_empty() {
        let earlier: Vec<&LoggedMessage> = log[..first_index.min(log.len())]
            .iter()
            .filter(on_topic)
            .collect();
        let skip = earlier.len().saturating_sub(SHOWN_IN_REPORT);
        chosen = earlier.into_iter().skip(skip).collect();
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
            run_in_world(&scenario, &registry, broker.address(), Some(broker))
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
