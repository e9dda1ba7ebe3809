//! From topics to devices and message patterns: which device a topic
//! belongs to, which topics of a device are one pattern (`reply/1`,
//! `reply/2` as `reply/+`), and how long a pattern's messages are waited for.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Duration;

use super::shape::PayloadShape;

/// The prefix naming a topic's device: its first level
/// (`devices/probe/temperature/degrees` → `devices`, `esp32/test/status` →
/// `esp32`).
///
/// A board puts its topics under one base topic, so the first level never
/// splits one board into two devices; a finer rule would (the levels before
/// a leaf such as `status` make `esp32/test/status` and `esp32/temperature`
/// two devices), and a device in a draft that never connects fails the
/// run. Boards sharing a root (`devices/room-01/…`, `devices/room-02/…`)
/// become one device whose expectations use `+`, which the draft's
/// comments point out. It depends on the topic alone, so the transcript,
/// written as messages arrive, and the draft, written at the end, agree.
pub fn device_prefix(topic: &str) -> &str {
    topic.split('/').next().unwrap_or(topic)
}

/// Names devices by their topics' prefixes, each prefix its own name, in
/// the order they are first seen. The recorder's transcript and the draft
/// both name devices through one of these, so they agree.
#[derive(Debug, Default)]
pub struct DeviceNames {
    by_prefix: HashMap<String, String>,
    taken: HashSet<String>,
}

impl DeviceNames {
    /// The name of `topic`'s device: its prefix (see [`device_prefix`])
    /// with any character a device name cannot hold
    /// as `_`; `-2`, `-3`… when another prefix already has that name.
    pub fn name_for(&mut self, topic: &str) -> &str {
        let prefix = device_prefix(topic);
        if !self.by_prefix.contains_key(prefix) {
            let base = sanitize(prefix);
            let mut name = base.clone();
            let mut suffix = 2;
            while self.taken.contains(&name) {
                name = format!("{base}-{suffix}");
                suffix += 1;
            }
            self.taken.insert(name.clone());
            self.by_prefix.insert(prefix.to_string(), name);
        }
        &self.by_prefix[prefix]
    }
}

fn sanitize(prefix: &str) -> String {
    let name: String = prefix
        .chars()
        .map(|character| match character {
            c if c.is_ascii_alphanumeric() || c == '-' || c == '_' => c,
            _ => '_',
        })
        .collect();
    // A name starting with `-` would read as a YAML list item.
    if name.is_empty() || name.starts_with('-') {
        format!("device{name}")
    } else {
        name
    }
}

/// What was seen on one topic.
#[derive(Clone, Debug)]
pub(crate) struct TopicSeen {
    pub(crate) topic: String,
    /// When each message arrived, since the recording started.
    pub(crate) arrivals: Vec<Duration>,
    pub(crate) shape: PayloadShape,
    /// `Some` while every message came with this QoS.
    pub(crate) qos: Option<u8>,
    /// How many came with the retain flag set.
    pub(crate) retained: usize,
}

/// Topics of one device that are one pattern.
#[derive(Clone, Debug)]
pub(crate) struct Pattern {
    /// The filter: a topic, or one with `+` where the topics differ.
    pub(crate) filter: String,
    /// The values the `+` level took, sorted; empty for a single topic.
    pub(crate) varying: Vec<String>,
    /// Every arrival, sorted.
    pub(crate) arrivals: Vec<Duration>,
    pub(crate) shape: PayloadShape,
    pub(crate) qos: Option<u8>,
    pub(crate) retained: usize,
}

impl Pattern {
    fn of(topic: &TopicSeen) -> Pattern {
        Pattern {
            filter: topic.topic.clone(),
            varying: Vec::new(),
            arrivals: topic.arrivals.clone(),
            shape: topic.shape.clone(),
            qos: topic.qos,
            retained: topic.retained,
        }
    }

    /// The longest time between two of its messages; `None` for one message.
    pub(crate) fn largest_gap(&self) -> Option<Duration> {
        self.arrivals
            .windows(2)
            .map(|pair| pair[1].saturating_sub(pair[0]))
            .max()
    }
}

/// The same level with its digits left out: `room-07` and `room-12` are
/// siblings, `status` and `log` are not, and a level without digits is
/// nobody's sibling.
fn numbered_stem(level: &str) -> Option<String> {
    if !level.contains(|character: char| character.is_ascii_digit()) {
        return None;
    }
    // Each run of digits is one `#`, so `node-9` and `node-10` are siblings.
    let mut stem = String::new();
    for character in level.chars() {
        if !character.is_ascii_digit() {
            stem.push(character);
        } else if !stem.ends_with('#') {
            stem.push('#');
        }
    }
    Some(stem)
}

/// Makes one device's topics into patterns. Topics with the same number of
/// levels that differ in one level only, where that level is numbered
/// alike (`reply/1`, `reply/2`; `node-01`, `node-02`) and their payloads
/// are of one kind, become one pattern with `+` there. Each topic joins at
/// most one pattern, the last level tried first. Patterns come in the order
/// of their first message.
pub(crate) fn patterns(topics: &[TopicSeen]) -> Vec<Pattern> {
    let mut taken = vec![false; topics.len()];
    let mut patterns = Vec::new();
    let most_levels = topics
        .iter()
        .map(|topic| topic.topic.split('/').count())
        .max()
        .unwrap_or(0);
    for position in (0..most_levels).rev() {
        // Candidates keyed by their other levels and the numbered stem.
        let mut groups: BTreeMap<(Vec<&str>, String), Vec<usize>> = BTreeMap::new();
        for (index, topic) in topics.iter().enumerate() {
            if taken[index] {
                continue;
            }
            let levels: Vec<&str> = topic.topic.split('/').collect();
            let Some(stem) = levels.get(position).and_then(|level| numbered_stem(level)) else {
                continue;
            };
            let mut others = levels.clone();
            others[position] = "+";
            groups.entry((others, stem)).or_default().push(index);
        }
        for ((others, _), members) in groups {
            // Split by payload kind: the first member's kind, then the rest.
            let mut left = members;
            while left.len() > 1 {
                let first = left[0];
                let (alike, rest): (Vec<usize>, Vec<usize>) = left
                    .iter()
                    .partition(|&&index| topics[index].shape.same_kind(&topics[first].shape));
                left = rest;
                if alike.len() < 2 {
                    continue;
                }
                let mut pattern = Pattern::of(&topics[alike[0]]);
                pattern.filter = others.join("/");
                for &index in &alike {
                    taken[index] = true;
                    let topic = &topics[index];
                    let level = topic.topic.split('/').nth(position).unwrap_or_default();
                    pattern.varying.push(level.to_string());
                    if index != alike[0] {
                        pattern.arrivals.extend_from_slice(&topic.arrivals);
                        pattern.shape = pattern.shape.merge(&topic.shape);
                        if pattern.qos != topic.qos {
                            pattern.qos = None;
                        }
                        pattern.retained += topic.retained;
                    }
                }
                pattern.varying.sort();
                pattern.arrivals.sort();
                patterns.push(pattern);
            }
        }
    }
    for (index, topic) in topics.iter().enumerate() {
        if !taken[index] {
            patterns.push(Pattern::of(topic));
        }
    }
    patterns.sort_by_key(|pattern| pattern.arrivals.first().copied());
    patterns
}

/// Readable durations to round `within:` up to; past the last, whole hours.
const READABLE: &[Duration] = &[
    Duration::from_millis(10),
    Duration::from_millis(20),
    Duration::from_millis(50),
    Duration::from_millis(100),
    Duration::from_millis(150),
    Duration::from_millis(200),
    Duration::from_millis(250),
    Duration::from_millis(300),
    Duration::from_millis(500),
    Duration::from_millis(750),
    Duration::from_secs(1),
    Duration::from_millis(1500),
    Duration::from_secs(2),
    Duration::from_secs(3),
    Duration::from_secs(5),
    Duration::from_secs(10),
    Duration::from_secs(15),
    Duration::from_secs(20),
    Duration::from_secs(30),
    Duration::from_secs(45),
    Duration::from_secs(60),
    Duration::from_secs(90),
    Duration::from_secs(2 * 60),
    Duration::from_secs(3 * 60),
    Duration::from_secs(5 * 60),
    Duration::from_secs(10 * 60),
    Duration::from_secs(15 * 60),
    Duration::from_secs(20 * 60),
    Duration::from_secs(30 * 60),
    Duration::from_secs(45 * 60),
    Duration::from_secs(60 * 60),
    Duration::from_secs(90 * 60),
    Duration::from_secs(2 * 3600),
    Duration::from_secs(3 * 3600),
    Duration::from_secs(6 * 3600),
    Duration::from_secs(12 * 3600),
    Duration::from_secs(24 * 3600),
];

/// The `within:` for messages that came at most `largest_gap` apart: one
/// and a half times the gap, so that a late message still fits, rounded up
/// to a readable duration (`150ms`, `1s`, `1m30s`, `2h`).
pub fn within_for_gap(largest_gap: Duration) -> Duration {
    let wanted = largest_gap.saturating_mul(3) / 2;
    match READABLE.iter().find(|&&readable| readable >= wanted) {
        Some(readable) => *readable,
        None => {
            let hours = wanted.as_secs().div_ceil(3600);
            Duration::from_secs(hours.saturating_mul(3600))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seen(topic: &str, arrivals_ms: &[u64], payload: &str) -> TopicSeen {
        TopicSeen {
            topic: topic.to_string(),
            arrivals: arrivals_ms
                .iter()
                .map(|ms| Duration::from_millis(*ms))
                .collect(),
            shape: PayloadShape::of(payload.as_bytes()),
            qos: Some(0),
            retained: 0,
        }
    }

    #[test]
    fn device_prefixes() {
        assert_eq!(device_prefix("esp32/test/status"), "esp32");
        assert_eq!(device_prefix("esp32/temperature"), "esp32");
        assert_eq!(
            device_prefix("devices/probe/temperature/degrees"),
            "devices"
        );
        assert_eq!(device_prefix("sensor-data"), "sensor-data");
        assert_eq!(device_prefix("/x/status"), "");
    }

    #[test]
    fn device_names_are_unique_and_valid() {
        let mut names = DeviceNames::default();
        assert_eq!(names.name_for("esp32/test/status"), "esp32");
        assert_eq!(names.name_for("esp32/log"), "esp32");
        assert_eq!(names.name_for("lamp.3/x"), "lamp_3");
        assert_eq!(names.name_for("lamp_3/x"), "lamp_3-2");
        assert_eq!(names.name_for("lamp.3/y"), "lamp_3");
        assert_eq!(names.name_for("/a/status"), "device");
        assert_eq!(names.name_for("-a/status"), "device-a");
        assert_eq!(names.name_for("ünï/x"), "_n_");
    }

    #[test]
    fn numbered_levels_become_a_wildcard() {
        let topics = [
            seen("devices/room-01/temperature", &[100, 1100], r#"{"t": 1}"#),
            seen("devices/room-02/temperature", &[150, 1150], r#"{"t": 2}"#),
            seen("devices/room-02/status", &[0], "online"),
            seen("devices/hall/temperature", &[200], r#"{"t": 2}"#),
        ];
        let patterns = patterns(&topics);
        let filters: Vec<&str> = patterns
            .iter()
            .map(|pattern| pattern.filter.as_str())
            .collect();
        // In order of first arrival; `hall` has no digits, so it stays apart.
        assert_eq!(
            filters,
            [
                "devices/room-02/status",
                "devices/+/temperature",
                "devices/hall/temperature"
            ]
        );
        assert_eq!(patterns[1].varying, ["room-01", "room-02"]);
        assert_eq!(
            patterns[1].largest_gap(),
            Some(Duration::from_millis(950)),
            "the arrivals of both topics, merged"
        );
    }

    #[test]
    fn different_payloads_or_levels_do_not_merge() {
        let topics = [
            seen("a/reply/1", &[0], r#"{"ok": true}"#),
            seen("a/reply/2", &[10], "plain text"),
            seen("a/status", &[20], "online"),
            seen("a/log", &[30], "hello"),
            seen("a/1/x/1", &[40], "1"),
            seen("a/2/x/2", &[50], "1"),
        ];
        let filters: Vec<String> = patterns(&topics)
            .into_iter()
            .map(|pattern| pattern.filter)
            .collect();
        assert_eq!(
            filters,
            [
                "a/reply/1",
                "a/reply/2",
                "a/status",
                "a/log",
                "a/1/x/1",
                "a/2/x/2"
            ]
        );
    }

    #[test]
    fn a_wildcard_in_the_last_level_first() {
        let topics = [
            seen("n/mqb/reply/1", &[0], "ok"),
            seen("n/mqb/reply/2", &[10], "ok"),
            seen("n/mqb/reply/3", &[20], "ok"),
        ];
        let patterns = patterns(&topics);
        assert_eq!(patterns.len(), 1);
        assert_eq!(patterns[0].filter, "n/mqb/reply/+");
        assert_eq!(patterns[0].varying, ["1", "2", "3"]);
        assert_eq!(
            patterns[0].shape,
            PayloadShape::ConstantText("ok".to_string())
        );
    }

    #[test]
    fn within_is_rounded_up_readably() {
        let ms = Duration::from_millis;
        assert_eq!(within_for_gap(ms(0)), ms(10));
        assert_eq!(within_for_gap(ms(100)), ms(150));
        assert_eq!(within_for_gap(ms(101)), ms(200));
        assert_eq!(within_for_gap(ms(1000)), ms(1500));
        assert_eq!(
            within_for_gap(Duration::from_secs(60)),
            Duration::from_secs(90)
        );
        assert_eq!(
            within_for_gap(Duration::from_secs(61)),
            Duration::from_secs(120)
        );
        assert_eq!(
            within_for_gap(Duration::from_secs(20 * 3600)),
            Duration::from_secs(30 * 3600)
        );
        assert_eq!(
            crate::duration::format_duration(within_for_gap(Duration::from_secs(61))),
            "2m"
        );
    }
}
