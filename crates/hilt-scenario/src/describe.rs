//! Steps and their parts in one line, for people: the runner's transcript
//! headers and failure reports, and the names of the steps `hilt wokwi`
//! writes.
//!
//! The two readers want different amounts of detail, so a step is described
//! in one of two [`StepDescription`]s. What they share (how a button, a part
//! setting, a reboot or a hang is named) is written once here; where they
//! differ, the difference is spelled out in [`StepKind::describe`] next to
//! the part they share, so that neither can drift by accident.

use std::time::Duration;

use crate::ast::{
    BrokerAction, Expectation, LedTiming, MessageExpectation, PartSetting, PartValue, PayloadMatch,
    StepKind,
};

/// Which one-line description of a step is wanted.
#[derive(Clone, Copy, Debug)]
pub enum StepDescription {
    /// The header of the step in a run's transcript (`--- line 12: wait
    /// 2s`): everything the step asks, payloads quoted, durations as Rust's
    /// `Debug` writes them (`1.5s`, `100ms`).
    Transcript,
    /// The name of an exported Wokwi automation step: short, since the
    /// step's own fields follow it, with durations written by `duration`, as
    /// the automation file writes them everywhere else.
    WokwiName { duration: fn(Duration) -> String },
}

impl StepKind {
    /// The step in one line, in the chosen description.
    pub fn describe(&self, description: StepDescription) -> String {
        use StepDescription::{Transcript, WokwiName};
        match (self, description) {
            (StepKind::Wait(duration), Transcript) => format!("wait {duration:?}"),
            (StepKind::Wait(duration), WokwiName { duration: written }) => {
                format!("wait {}", written(*duration))
            }
            (StepKind::WaitConnected(wait), Transcript) => format!(
                "wait for {} to connect, within {:?}",
                wait.device.device, wait.within
            ),
            (StepKind::WaitConnected(wait), WokwiName { duration: written }) => format!(
                "wait for {} to connect, within {}",
                wait.device.device,
                written(wait.within)
            ),
            (StepKind::Press(part), _) => format!("press {part}"),
            (StepKind::Release(part), _) => format!("release {part}"),
            (StepKind::Click(part), _) => format!("click {part}"),
            (StepKind::Set(settings), _) => format!(
                "set {}",
                settings
                    .iter()
                    .map(describe_setting)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            (StepKind::Publish(publish), Transcript) => format!(
                "publish {} {}",
                publish.topic,
                quote_payload(&publish.payload)
            ),
            (StepKind::Publish(publish), WokwiName { .. }) => {
                format!("publish on {}", publish.topic)
            }
            (StepKind::Expect(expectation), _) => describe_expectation(expectation, description),
            (StepKind::Broker(action), Transcript) => format!(
                "broker {}",
                match action {
                    BrokerAction::Stop => "stop",
                    BrokerAction::Start => "start",
                    BrokerAction::Restart => "restart",
                }
            ),
            // Wokwi has no broker of hilt's to stop; the step is refused, and
            // its name only has to say which step it was.
            (StepKind::Broker(_), WokwiName { .. }) => "broker".to_owned(),
            (StepKind::Network(change), Transcript) => {
                let mut parts = Vec::new();
                if let Some(up) = change.link_up {
                    parts.push(format!("link {}", if up { "up" } else { "down" }));
                }
                if let Some(latency) = change.latency {
                    parts.push(format!("latency {latency:?}"));
                }
                if let Some(drop) = change.drop {
                    parts.push(format!("drop {drop}"));
                }
                format!("network {}: {}", change.device.device, parts.join(", "))
            }
            // Refused by the export as well, for the same reason.
            (StepKind::Network(_), WokwiName { .. }) => "network".to_owned(),
            (StepKind::Reboot(device), _) => format!("reboot {}", device.device),
            (StepKind::Hang(device), _) => format!("hang {}", device.device),
            (StepKind::Panic(panic), _) => match &panic.place {
                Some(place) => format!("panic {} at {place}", panic.device.device),
                None => format!("panic {}", panic.device.device),
            },
            (StepKind::Flash(damage), _) => format!(
                "flash {}: corrupt {}",
                damage.device.device,
                damage.partition.as_str()
            ),
            (StepKind::Tls(certificate), _) => format!("tls {}", certificate.as_str()),
            (StepKind::Revoke(user), _) => format!("broker revokes {user}"),
            (StepKind::Ota(push), _) => format!(
                "ota {} version {} ({} bytes)",
                push.device.device, push.version, push.size
            ),
        }
    }
}

fn describe_expectation(expectation: &Expectation, description: StepDescription) -> String {
    use StepDescription::{Transcript, WokwiName};
    match (expectation, description) {
        (Expectation::Message(expectation), Transcript) => match expectation.count {
            Some(count) => format!(
                "expect {count} message(s) {}",
                describe_message_expectation(expectation)
            ),
            None => format!(
                "expect a message {}",
                describe_message_expectation(expectation)
            ),
        },
        // Wokwi waits for one serial line, so there is never a count; the
        // topic and payload are shown as the scenario file wrote them.
        (Expectation::Message(expectation), WokwiName { .. }) => {
            let body = match &expectation.body {
                None => String::new(),
                Some(PayloadMatch::Exact(text)) => format!(" with payload {text:?}"),
                Some(PayloadMatch::Json(json)) => format!(" with JSON matching {json}"),
                Some(PayloadMatch::Regex(regex)) => format!(" with payload matching {regex}"),
            };
            format!("expect a message on {}{body}", expectation.filter)
        }
        (Expectation::Led(expectation), Transcript) => format!(
            "expect LED {} {}",
            expectation.led,
            on_or_off(expectation.on)
        ),
        // A Wokwi step checks the pin at one moment, so its name says when.
        (Expectation::Led(expectation), WokwiName { duration }) => {
            let state = on_or_off(expectation.on);
            match expectation.timing {
                LedTiming::Now => format!("expect {} {state}", expectation.led),
                LedTiming::Within(window) => format!(
                    "expect {} {state} within {}",
                    expectation.led,
                    duration(window)
                ),
                LedTiming::For(span) => {
                    format!("expect {} {state} for {}", expectation.led, duration(span))
                }
            }
        }
        (Expectation::Pin(expectation), Transcript) => format!(
            "expect pin {} {}",
            expectation.pin,
            high_or_low(expectation.high)
        ),
        (Expectation::Pin(expectation), WokwiName { .. }) => {
            format!(
                "expect {} {}",
                expectation.pin,
                high_or_low(expectation.high)
            )
        }
        (Expectation::Blink(expectation), Transcript) => format!(
            "expect LED {} blinking at {} Hz (± {} Hz) for {:?}",
            expectation.led, expectation.hz, expectation.tolerance_hz, expectation.over
        ),
        // Refused by the export: Wokwi cannot count edges.
        (Expectation::Blink(expectation), WokwiName { .. }) => {
            format!("expect {} to blink", expectation.led)
        }
    }
}

fn on_or_off(on: bool) -> &'static str {
    if on { "on" } else { "off" }
}

fn high_or_low(high: bool) -> &'static str {
    if high { "high" } else { "low" }
}

/// What a message expectation asks for, after "expect a message": `on
/// 'topic' with payload "x", qos 1, retained (tolerance 0.5)`. Failure
/// reports use it too, so that they name the expectation as the transcript
/// header did.
pub fn describe_message_expectation(expectation: &MessageExpectation) -> String {
    let mut text = format!("on '{}'", expectation.filter);
    match &expectation.body {
        Some(PayloadMatch::Exact(payload)) => text.push_str(&format!(
            " with payload {}",
            quote_payload(payload.as_bytes())
        )),
        Some(PayloadMatch::Json(json)) => text.push_str(&format!(" with JSON matching {json}")),
        Some(PayloadMatch::Regex(regex)) => {
            text.push_str(&format!(" with payload matching /{regex}/"))
        }
        None => {}
    }
    if let Some(qos) = expectation.qos {
        text.push_str(&format!(", qos {qos}"));
    }
    if let Some(retain) = expectation.retain {
        text.push_str(if retain {
            ", retained"
        } else {
            ", not retained"
        });
    }
    if let Some(tolerance) = expectation.tolerance {
        text.push_str(&format!(" (tolerance {tolerance})"));
    }
    match (&expectation.from, expectation.each) {
        (Some(from), true) => text.push_str(&format!(", from each member of {}", from.name())),
        (Some(from), false) => text.push_str(&format!(", from {}", from.name())),
        (None, _) => {}
    }
    text
}

/// `temperature = 22.5 °C`, `fault = none`: what a `set` makes a part read.
pub fn describe_part_value(value: &PartValue) -> String {
    match value {
        PartValue::Temperature(celsius) => format!("temperature = {celsius} °C"),
        PartValue::Lux(lux) => format!("lux = {lux}"),
        PartValue::Fault(Some(fault)) => format!("fault = {fault}"),
        PartValue::Fault(None) => "fault = none".to_owned(),
    }
}

/// `probe.ds18b20.temperature = 22.5 °C`: one setting of a `set` step.
pub fn describe_setting(setting: &PartSetting) -> String {
    format!("{}.{}", setting.target, describe_part_value(&setting.value))
}

/// A payload shown as a quoted string with escapes, cut at 200 characters.
pub fn quote_payload(payload: &[u8]) -> String {
    const SHOWN: usize = 200;
    let text = String::from_utf8_lossy(payload);
    let mut shown: String = text.chars().take(SHOWN).collect();
    if text.chars().count() > SHOWN {
        shown.push('…');
    }
    format!("{shown:?}")
}
