//! `expect:` steps: a message, an LED or pin level, or a blink rate.

use marked_yaml::Node;
use marked_yaml::types::{MarkedMappingNode, MarkedScalarNode};

use crate::raw::{location, quote, scalar_location};
use crate::scalar::decimal_number;
use crate::topic::validate_filter;
use crate::{
    BlinkExpectation, Expectation, LedExpectation, LedTiming, MessageExpectation, PartKind,
    PayloadMatch, PinExpectation, Publishers,
};

use super::*;

pub(crate) const BLINK_EXPECTATION_KEYS: &[&str] = &["led", "blinks", "tolerance", "for"];
/// A blink rate may be off by this fraction unless the step gives `tolerance:`.
const DEFAULT_BLINK_TOLERANCE: f64 = 0.1;
pub(crate) const MESSAGE_EXPECTATION_KEYS: &[&str] = &[
    "topic",
    "payload",
    "json",
    "matches",
    "qos",
    "retain",
    "count",
    "within",
    "since",
    "tolerance",
    "from",
    "each",
];
pub(crate) const LED_EXPECTATION_KEYS: &[&str] = &["led", "is", "within", "for"];
pub(crate) const PIN_EXPECTATION_KEYS: &[&str] = &["pin", "level"];
/// What `is:` of an LED expectation checks.
pub(crate) const LED_STATES: &[&str] = &["on", "off"];
/// What `level:` of a pin expectation checks.
pub(crate) const PIN_LEVELS: &[&str] = &["high", "low"];
/// The one value `since:` takes.
pub(crate) const SINCE_VALUES: &[&str] = &["start"];
/// The keys that say what an expectation is about, one of which it has.
pub(crate) const EXPECTATION_FORMS: &[&str] = &["topic", "led", "pin"];
/// A blink tolerance as written.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Tolerance {
    /// A fraction of the expected rate (`10%` is 0.1).
    Relative(f64),
    /// Hz.
    Absolute(f64),
}

impl Validator<'_> {
    pub(super) fn expect(&mut self, node: &Node) -> Option<Expectation> {
        let map = self.step_map(
            node,
            "expect",
            "`expect: { topic: blue/btn/0, payload: \"0\" }` or `expect: { led: green.led, is: on }`",
        )?;
        let mut forms: Vec<&MarkedScalarNode> = map
            .keys()
            .filter(|key| EXPECTATION_FORMS.contains(&key.as_str()))
            .collect();
        forms.sort_by_key(|key| scalar_location(key));
        match forms.as_slice() {
            [] => {
                let message = if map.get_node("is").is_some() {
                    "an LED expectation needs `led: device.part`, like `led: green.led`"
                } else if map.get_node("level").is_some() {
                    "a pin expectation needs `pin: device.gpioN`, like `pin: probe.gpio2`"
                } else if map
                    .keys()
                    .any(|key| MESSAGE_EXPECTATION_KEYS.contains(&key.as_str()))
                {
                    "a message expectation needs `topic:`, an MQTT filter (`#` matches every topic)"
                } else {
                    "`expect` needs `topic:` (a message), `led:` (an LED) or `pin:` (a GPIO pin)"
                };
                self.error(location(node), message);
                None
            }
            [form] => match form.as_str() {
                "topic" => self.message_expectation(map).map(Expectation::Message),
                "led" if map.get_node("blinks").is_some() => {
                    self.blink_expectation(map).map(Expectation::Blink)
                }
                "led" => self.led_expectation(map).map(Expectation::Led),
                _ => self.pin_expectation(map).map(Expectation::Pin),
            },
            [first, second, ..] => {
                self.error(
                    scalar_location(second),
                    format!(
                        "an expectation checks one thing, a message (`topic`), an LED (`led`) or a pin (`pin`), \
                         but this one has both '{}' and '{}'; split it into two expect steps",
                        first.as_str(),
                        second.as_str()
                    ),
                );
                None
            }
        }
    }

    fn message_expectation(&mut self, map: &MarkedMappingNode) -> Option<MessageExpectation> {
        self.unknown_keys(map, MESSAGE_EXPECTATION_KEYS, "in a message expectation");
        let filter_node = map.get_node("topic")?;
        let filter =
            self.text(filter_node, "topic")
                .and_then(|filter| match validate_filter(&filter) {
                    Ok(()) => Some(filter),
                    Err(error) => {
                        self.error(
                            location(filter_node),
                            format!("invalid topic filter {}: {error}", quote(&filter)),
                        );
                        None
                    }
                });
        let body = match self.alternatives(
            map,
            &["payload", "json", "matches"],
            "`payload`, `json` and `matches`",
        ) {
            Some(Some(("payload", value))) => self
                .payload_text(value, "payload")
                .map(|text| Some(PayloadMatch::Exact(text))),
            Some(Some(("json", value))) => {
                self.json(value).map(|json| Some(PayloadMatch::Json(json)))
            }
            Some(Some((_, value))) => self
                .regex(value)
                .map(|regex| Some(PayloadMatch::Regex(regex))),
            Some(None) => Some(None),
            None => None,
        };
        let qos = optional(map.get_node("qos").map(|node| self.qos(node)));
        let retain = optional(
            map.get_node("retain")
                .map(|node| self.boolean(node, "retain")),
        );
        let count = optional(map.get_node("count").map(|node| {
            self.unsigned(node, "count", u64::from(u32::MAX))
                .and_then(|count| u32::try_from(count).ok())
        }));
        let within = match map.get_node("within") {
            Some(node) => self.duration(node, "within"),
            None => Some(DEFAULT_WITHIN),
        };
        let since_start = match map.get_node("since") {
            Some(node) => self.choice(node, "since", SINCE_VALUES).map(|_| true),
            None => Some(false),
        };
        let tolerance = optional(map.get_node("tolerance").map(|node| {
            let tolerance = self.number(node, "tolerance", "0.01")?;
            if tolerance < 0.0 {
                self.error(
                    location(node),
                    format!("tolerance {tolerance} is negative; give 0 or more"),
                );
                return None;
            }
            Some(tolerance)
        }));
        if let (Some(key), None) = (key_named(map, "tolerance"), map.get_node("json")) {
            self.error(
                scalar_location(key),
                "`tolerance` applies to numbers in `json:`, and this expectation has no `json:`; \
                 remove `tolerance` or match the payload with `json:`",
            );
            return None;
        }
        let from = optional(map.get_node("from").map(|node| self.publishers(node)));
        let each = match map.get_node("each") {
            Some(node) => self.boolean(node, "each"),
            None => Some(false),
        };
        if let (Some(true), Some(key)) = (each, key_named(map, "each")) {
            let problem = match &from {
                Some(Some(Publishers::Fleet(_))) | None => None,
                Some(None) => Some(
                    "`each: true` asks something of every member of a fleet; add `from:` \
                     naming the fleet, like `from: probe`"
                        .to_string(),
                ),
                Some(Some(Publishers::Device(device))) => Some(format!(
                    "`each: true` asks something of every member of a fleet, and '{device}' \
                     is one device; name a fleet in `from`, or remove `each`"
                )),
            };
            if let Some(problem) = problem {
                self.error(scalar_location(key), problem);
                return None;
            }
        }
        Some(MessageExpectation {
            filter: filter?,
            body: body?,
            qos: qos?,
            retain: retain?,
            count: count?,
            within: within?,
            since_start: since_start?,
            tolerance: tolerance?,
            from: from?,
            each: each?,
        })
    }

    /// `from:`: a device (one hilt runs or an external one), one member of
    /// a fleet, or a fleet.
    fn publishers(&mut self, node: &Node) -> Option<Publishers> {
        let name = self.text(node, "from")?;
        if !self.devices_readable {
            return None;
        }
        let at = location(node);
        let Some(named) = self.lookup(&name) else {
            let message = self.unknown_device(&name);
            self.error(at, message);
            return None;
        };
        // An external device's messages come through hilt's link too (it
        // connects to hilt, which relays to the broker), so they carry its
        // name like a simulated device's.
        let known = &self.devices[named.entry()];
        if known.past_hilt {
            self.error(
                at,
                format!(
                    "device '{name}' connects to the broker itself (`connects_to: broker`), \
                     and hilt cannot tell which such client published a message, so `from` \
                     cannot name it; match its messages by topic, or connect it to hilt"
                ),
            );
            return None;
        }
        match (named, &known.fleet) {
            // A fleet whose count could not be read was reported there.
            (Named::Entry(_), Some(fleet)) if fleet.count == 0 => None,
            (Named::Entry(_), Some(fleet)) => Some(Publishers::Fleet(fleet.clone())),
            _ => Some(Publishers::Device(name)),
        }
    }

    fn blink_expectation(&mut self, map: &MarkedMappingNode) -> Option<BlinkExpectation> {
        // `is:` and `within:` belong to the steady-state LED expectation;
        // say so rather than only calling them unknown here.
        for (key, hint) in [
            (
                "is",
                "`blinks:` checks a rate and `is:` a steady state; split them into two expect steps",
            ),
            (
                "within",
                "a blink rate is measured over `for:` (default 2s); `within:` does not apply",
            ),
        ] {
            if let Some(key_node) = key_named(map, key) {
                self.error(scalar_location(key_node), hint);
            }
        }
        self.unknown_keys(
            map,
            &[BLINK_EXPECTATION_KEYS, &["is", "within"]].concat(),
            "in a blink expectation",
        );
        let led = self.part_of_kind(map.get_node("led")?, "`led:`", PartKind::Led, "node.led");
        let hz = map
            .get_node("blinks")
            .and_then(|value| self.frequency(value));
        let over = match map.get_node("for") {
            Some(value) => self.duration(value, "for"),
            None => Some(DEFAULT_BLINK_WINDOW),
        };
        let tolerance = match map.get_node("tolerance") {
            Some(value) => self.blink_tolerance(value),
            None => Some(Tolerance::Relative(DEFAULT_BLINK_TOLERANCE)),
        };
        let (hz, over, tolerance) = (hz?, over?, tolerance?);
        if over.is_zero() {
            self.error(
                location_of_map(map),
                "a blink rate is measured over a time; `for:` must be longer than zero",
            );
            return None;
        }
        let tolerance_hz = match tolerance {
            Tolerance::Absolute(hz) => hz,
            Tolerance::Relative(fraction) => fraction * hz,
        };
        Some(BlinkExpectation {
            led: led?,
            hz,
            tolerance_hz,
            over,
        })
    }

    /// A rate like `2hz`, `2.5Hz` or `2` (Hz), zero or more.
    fn frequency(&mut self, node: &Node) -> Option<f64> {
        let scalar = self.scalar(node, "blinks", "a rate, like 2hz")?;
        let text = scalar.as_str().trim();
        let number = text
            .strip_suffix("hz")
            .or_else(|| text.strip_suffix("Hz"))
            .or_else(|| text.strip_suffix("HZ"))
            .unwrap_or(text)
            .trim();
        match decimal_number(number) {
            Some(hz) if hz >= 0.0 && hz.is_finite() => Some(hz),
            _ => {
                self.error(
                    location(node),
                    format!(
                        "`blinks` must be a rate in Hz, zero or more, like 2hz or 0.5hz; got {}",
                        quote(text)
                    ),
                );
                None
            }
        }
    }

    /// `10%` (of the expected rate) or a number of Hz.
    fn blink_tolerance(&mut self, node: &Node) -> Option<Tolerance> {
        let scalar = self.scalar(node, "tolerance", "a tolerance, like 10% or 0.2")?;
        let text = scalar.as_str().trim();
        let parsed = match text.strip_suffix('%') {
            Some(percent) => {
                decimal_number(percent.trim()).map(|value| Tolerance::Relative(value / 100.0))
            }
            None => decimal_number(text).map(Tolerance::Absolute),
        };
        match parsed {
            Some(Tolerance::Relative(value) | Tolerance::Absolute(value))
                if value >= 0.0 && value.is_finite() =>
            {
                parsed
            }
            _ => {
                self.error(
                    location(node),
                    format!("`tolerance` of a blink rate is a percentage like 10% or a number of Hz like 0.2; got {}", quote(text)),
                );
                None
            }
        }
    }

    fn led_expectation(&mut self, map: &MarkedMappingNode) -> Option<LedExpectation> {
        self.unknown_keys(map, LED_EXPECTATION_KEYS, "in an LED expectation");
        let led = self.part_of_kind(map.get_node("led")?, "`led:`", PartKind::Led, "green.led");
        let on = match map.get_node("is") {
            Some(node) => self
                .choice(node, "is", LED_STATES)
                .map(|state| state == "on"),
            None => {
                self.error(
                    location_of_map(map),
                    "an LED expectation needs `is: on` or `is: off`",
                );
                None
            }
        };
        let timing = match self.alternatives(
            map,
            &["within", "for"],
            "`within` (becomes so within a time) and `for` (stays so for a time)",
        ) {
            Some(Some(("within", value))) => self.duration(value, "within").map(LedTiming::Within),
            Some(Some((_, value))) => self.duration(value, "for").map(LedTiming::For),
            Some(None) => Some(LedTiming::Now),
            None => None,
        };
        Some(LedExpectation {
            led: led?,
            on: on?,
            timing: timing?,
        })
    }

    fn pin_expectation(&mut self, map: &MarkedMappingNode) -> Option<PinExpectation> {
        self.unknown_keys(map, PIN_EXPECTATION_KEYS, "in a pin expectation");
        let pin = self.part_of_kind(map.get_node("pin")?, "`pin:`", PartKind::Pin, "probe.gpio2");
        let high = match map.get_node("level") {
            Some(node) => self
                .choice(node, "level", PIN_LEVELS)
                .map(|level| level == "high"),
            None => {
                self.error(
                    location_of_map(map),
                    "a pin expectation needs `level: high` or `level: low`",
                );
                None
            }
        };
        Some(PinExpectation {
            pin: pin?,
            high: high?,
        })
    }
}
