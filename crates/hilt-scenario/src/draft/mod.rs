//! A draft scenario from messages seen on a live broker, as `hilt record`
//! writes it: the devices heard, one expectation per message pattern.
//!
//! The recorder hands each message to a [`Draft`] as it arrives; the draft
//! keeps, per topic, the arrival times and the merged shape of the payloads
//! (not the payloads), and at the end writes scenario text. It is written
//! as text, not through a YAML library, so that its comments (what was
//! seen, what to edit) sit where they belong; every value is quoted so that
//! the language reads it back as written, and the tests parse every draft
//! back with [`crate::parse`].
//!
//! How the draft is inferred:
//!
//! - **Devices.** MQTT 3.1.1 does not tell a subscriber who published a
//!   message, so devices are guessed from topics: a topic's device is its
//!   first level ([`device_prefix`] says why). Each is an external device
//!   whose `client_id` is a placeholder for the user to fill in.
//! - **Patterns.** Topics of one device that differ in one numbered level
//!   (`reply/1`, `reply/2`) and carry payloads of one kind are one pattern,
//!   with `+` at that level.
//! - **Payloads.** Text that never changed is checked exactly (`payload:`);
//!   numbers by type; JSON objects and arrays by their keys, in order, and
//!   the types of their values, strings that never changed by their value
//!   (`matches:`, with the shape in words in a comment). Anything else is
//!   not checked.
//! - **Timing.** `within:` is one and a half times the longest gap between
//!   a pattern's messages, rounded up to a readable duration
//!   ([`within_for_gap`]). A pattern seen once is looked for from the start
//!   of the run (`since: start`).
//! - **Flags.** `retain: true` when every message came retained. `qos: 0`
//!   when every message came with QoS 0 (to the recorder's QoS 1
//!   subscription, so it was published with 0); a higher QoS as delivered
//!   does not tell how it was published, so it is only a comment.

mod patterns;
mod shape;

use std::collections::HashMap;
use std::fmt::Write as _;
use std::time::Duration;

pub use patterns::{DeviceNames, device_prefix, within_for_gap};

use crate::duration::format_duration;
use patterns::{Pattern, TopicSeen};
use shape::PayloadShape;

/// One message as a subscriber received it.
#[derive(Clone, Copy, Debug)]
pub struct Observed<'a> {
    /// When it arrived, since the recording started.
    pub at: Duration,
    pub topic: &'a str,
    pub payload: &'a [u8],
    /// The QoS it was delivered with.
    pub qos: u8,
    /// Whether it was delivered with the retain flag set.
    pub retain: bool,
}

/// Where and when a recording was made, for the draft's header.
#[derive(Clone, Copy, Debug)]
pub struct RecordingFacts<'a> {
    /// The broker, as `mqtt://host:port`.
    pub broker_url: &'a str,
    /// The topic filters subscribed to.
    pub filters: &'a [String],
    /// When it started, as text (`2026-12-02T15:59:03Z`).
    pub started: &'a str,
    /// How long it lasted.
    pub length: Duration,
}

/// What was seen, per device and topic, so far.
#[derive(Debug, Default)]
pub struct Draft {
    names: DeviceNames,
    devices: Vec<DeviceSeen>,
    /// Topic → (index in `devices`, index in its `topics`).
    topics: HashMap<String, (usize, usize)>,
    messages: usize,
}

#[derive(Debug)]
struct DeviceSeen {
    name: String,
    prefix: String,
    topics: Vec<TopicSeen>,
}

impl Draft {
    /// Adds a message; returns the name of the device it is attributed to.
    pub fn observe(&mut self, message: Observed<'_>) -> &str {
        self.messages += 1;
        let shape = PayloadShape::of(message.payload);
        let (device, topic) = match self.topics.get(message.topic) {
            Some(&found) => found,
            None => {
                let name = self.names.name_for(message.topic).to_string();
                let device = match self.devices.iter().position(|device| device.name == name) {
                    Some(device) => device,
                    None => {
                        self.devices.push(DeviceSeen {
                            name,
                            prefix: device_prefix(message.topic).to_string(),
                            topics: Vec::new(),
                        });
                        self.devices.len() - 1
                    }
                };
                let topics = &mut self.devices[device].topics;
                topics.push(TopicSeen {
                    topic: message.topic.to_string(),
                    arrivals: Vec::new(),
                    shape: shape.clone(),
                    qos: Some(message.qos),
                    retained: 0,
                });
                let found = (device, topics.len() - 1);
                self.topics.insert(message.topic.to_string(), found);
                found
            }
        };
        let device = &mut self.devices[device];
        let seen = &mut device.topics[topic];
        if !seen.arrivals.is_empty() {
            seen.shape = std::mem::replace(&mut seen.shape, PayloadShape::Any).merge(&shape);
        }
        seen.arrivals.push(message.at);
        if seen.qos != Some(message.qos) {
            seen.qos = None;
        }
        seen.retained += usize::from(message.retain);
        &device.name
    }

    /// How many messages were observed.
    pub fn messages(&self) -> usize {
        self.messages
    }

    /// The draft scenario's text; `None` when no message was seen, since a
    /// scenario needs a device.
    pub fn write(&self, facts: &RecordingFacts<'_>) -> Option<String> {
        if self.devices.is_empty() {
            return None;
        }
        let mut text = String::new();
        self.write_header(&mut text, facts);
        let mut steps = Vec::new();
        text.push_str("devices:\n");
        for (index, device) in self.devices.iter().enumerate() {
            let patterns = patterns::patterns(&device.topics);
            let messages: usize = device.topics.iter().map(|topic| topic.arrivals.len()).sum();
            let _ = writeln!(
                text,
                "  # Topics under {}: {} ({}).",
                comment(&device.prefix),
                plural(device.topics.len(), "topic"),
                plural(messages, "message")
            );
            let _ = writeln!(text, "  {}:", device.name);
            text.push_str("    external: true\n");
            let client_id = format!("TODO-{}", device.name);
            let client_id = if client_id.len() <= 64 {
                client_id
            } else {
                format!("TODO-device-{}", index + 1)
            };
            let _ = writeln!(
                text,
                "    client_id: {client_id}   # a placeholder: the board's own MQTT client id"
            );
            // The board was recorded on that broker, so it replays there;
            // pointed at hilt instead, it gets faults, waits and `from:`.
            text.push_str(
                "    connects_to: broker   # the board connects to the broker itself; \
                 remove to connect it to hilt\n",
            );
            for pattern in patterns {
                steps.push((device.name.as_str(), pattern));
            }
        }
        steps.sort_by_key(|(_, pattern)| pattern.arrivals.first().copied());
        text.push_str("\nsteps:\n");
        for (device, pattern) in &steps {
            write_expectation(&mut text, device, pattern);
        }
        Some(text)
    }

    fn write_header(&self, text: &mut String, facts: &RecordingFacts<'_>) {
        let topics: usize = self.devices.iter().map(|device| device.topics.len()).sum();
        let filters: Vec<String> = facts
            .filters
            .iter()
            .map(|filter| format!("`{}`", comment(filter)))
            .collect();
        let _ = writeln!(
            text,
            "# A draft scenario written by `hilt record` from {} on {},\n\
             # {} on {} seen in {} from {}.",
            comment(facts.broker_url),
            filters.join(", "),
            plural(self.messages, "message"),
            plural(topics, "topic"),
            readable(facts.length),
            comment(facts.started),
        );
        text.push_str(
            "#\n\
             # Before running it:\n\
             # - Give each device its board's MQTT client id. MQTT 3.1.1 does not tell\n\
             #   a subscriber which client published a message, so the devices below\n\
             #   are guessed from the first level of their topics, and their\n\
             #   client_id values are placeholders. Boards sharing a first level are\n\
             #   one device here: split it, one device per board.\n\
             # - Each expectation waits for the next message of one pattern, in the\n\
             #   order they were first seen. `within:` is 1.5 times the longest gap\n\
             #   seen between its messages, rounded up; the first waits from the start\n\
             #   of the run, so give it longer if the board needs time to connect.\n\
             # - `matches:` checks a JSON payload's keys (in the order seen) and the\n\
             #   types of their values, and text values that never changed; the\n\
             #   comment above it says what was seen. Use `json:` to check values.\n",
        );
        let _ = writeln!(
            text,
            "name: {}",
            quote(&format!("recorded from {}", facts.broker_url))
        );
        let _ = writeln!(
            text,
            "about: {}",
            quote(&format!(
                "drafted by hilt record from {}, {} seen from {}",
                facts.broker_url,
                plural(self.messages, "message"),
                facts.started
            ))
        );
        text.push_str("time: real          # external devices run in wall-clock time\n");
        let _ = writeln!(text, "broker: {{ url: {} }}\n", quote(facts.broker_url));
    }
}

fn write_expectation(text: &mut String, device: &str, pattern: &Pattern) {
    let count = pattern.arrivals.len();
    let gap = pattern.largest_gap();
    let timing = match gap {
        Some(gap) => format!(
            "{}, at most {} apart",
            plural(count, "message"),
            gap_text(gap)
        ),
        None => format!(
            "one message, {} after the recording started",
            readable(pattern.arrivals[0])
        ),
    };
    let _ = writeln!(
        text,
        "  # {} from {device}: {timing}.",
        comment(&pattern.filter)
    );
    if !pattern.varying.is_empty() {
        const SHOWN: usize = 8;
        let mut values: Vec<String> = pattern
            .varying
            .iter()
            .take(SHOWN)
            .map(|value| comment(value))
            .collect();
        if pattern.varying.len() > SHOWN {
            values.push(format!("and {} more", pattern.varying.len() - SHOWN));
        }
        let _ = writeln!(
            text,
            "  # `+` stood for {}; if these are separate boards, each needs a device.",
            values.join(", ")
        );
    }
    let _ = writeln!(text, "  # Payload: {}.", comment(&pattern.shape.describe()));
    match pattern.qos {
        Some(0) | None => {}
        Some(qos) => {
            let _ = writeln!(
                text,
                "  # Delivered with QoS {qos} to a QoS 1 subscription: published with 1 or 2\n  \
                 # (rumqttd delivers at the subscription's QoS, so with any); add `qos:` if known."
            );
        }
    }
    if pattern.retained == count {
        text.push_str(
            "  # Came retained: the broker held it when the recording subscribed. A run\n  \
             # counts only messages published while it runs, so the board must publish\n  \
             # it again then (as it does when it connects).\n",
        );
    }
    if pattern.retained > 0 && pattern.retained < count {
        let _ = writeln!(
            text,
            "  # {} of {count} came retained (those the broker kept when the recording\n  \
             # subscribed); a broker clears the flag on live messages.",
            pattern.retained
        );
    }
    let _ = writeln!(
        text,
        "  - name: {}",
        quote(&comment(&format!("{device} publishes {}", pattern.filter)))
    );
    text.push_str("    expect:\n");
    let _ = writeln!(text, "      topic: {}", quote(&pattern.filter));
    match &pattern.shape {
        PayloadShape::ConstantText(payload) => {
            let _ = writeln!(text, "      payload: {}", quote(payload));
        }
        shape => {
            if let Some(regex) = shape.pattern() {
                let _ = writeln!(text, "      matches: '{}'", regex.replace('\'', "''"));
            }
        }
    }
    if pattern.qos == Some(0) {
        text.push_str("      qos: 0\n");
    }
    if pattern.retained == count {
        text.push_str("      retain: true\n");
    }
    let within = match gap {
        Some(gap) => within_for_gap(gap),
        None => within_for_gap(pattern.arrivals[0]).max(Duration::from_secs(1)),
    };
    if gap.is_none() {
        text.push_str("      since: start\n");
    }
    let _ = writeln!(text, "      within: {}", readable(within));
}

/// A duration as the scenario language reads it, to the millisecond:
/// `150ms`, `1.5s`, `1m30s`, `2h`.
fn readable(duration: Duration) -> String {
    let millis = u64::try_from(duration.as_millis()).unwrap_or(u64::MAX);
    if millis < 1000 {
        format!("{millis}ms")
    } else if millis < 60_000 {
        let seconds = format!("{}.{:03}", millis / 1000, millis % 1000);
        format!("{}s", seconds.trim_end_matches('0').trim_end_matches('.'))
    } else {
        format_duration(Duration::from_millis(millis))
    }
}

/// A gap for a comment: to a tenth of a millisecond below a second, so
/// that `within:` can be told from it (100.4ms gives 200ms).
fn gap_text(gap: Duration) -> String {
    if gap < Duration::from_secs(1) {
        let text = format!("{:.1}", gap.as_secs_f64() * 1000.0);
        format!("{}ms", text.trim_end_matches(".0"))
    } else {
        readable(gap)
    }
}

fn plural(count: usize, noun: &str) -> String {
    if count == 1 {
        format!("1 {noun}")
    } else {
        format!("{count} {noun}s")
    }
}

/// Text as a YAML double-quoted scalar, with JSON's escapes (which are
/// YAML's too); every character a scenario file may not hold raw (controls,
/// U+FFFE, U+FFFF) is written as `\uXXXX`.
fn quote(text: &str) -> String {
    let mut quoted = String::with_capacity(text.len() + 2);
    quoted.push('"');
    for character in text.chars() {
        match character {
            '"' => quoted.push_str("\\\""),
            '\\' => quoted.push_str("\\\\"),
            '\n' => quoted.push_str("\\n"),
            '\t' => quoted.push_str("\\t"),
            c if c.is_control() || c == '\u{fffe}' || c == '\u{ffff}' => {
                let _ = write!(quoted, "\\u{:04X}", u32::from(c));
            }
            c => quoted.push(c),
        }
    }
    quoted.push('"');
    quoted
}

/// Text safe inside a `#` comment: one line, no control characters.
fn comment(text: &str) -> String {
    text.chars()
        .map(|character| {
            if character.is_control()
                || matches!(character, '\u{2028}' | '\u{2029}' | '\u{fffe}' | '\u{ffff}')
            {
                '?'
            } else {
                character
            }
        })
        .collect()
}

#[cfg(test)]
mod tests;
