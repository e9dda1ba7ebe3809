//! Parts named by steps and starting states: `device.part` references,
//! resolved against the devices and checked for the kind of part a step
//! needs, and the values a part can be set to.

use marked_yaml::Node;
use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::{RngCore, SeedableRng};

use crate::raw::{describe, location, quote};
use crate::suggest::did_you_mean;
use crate::{Location, PartDescription, PartKind, PartRef, PartSetting, PartValue};

use super::*;

impl Validator<'_> {
    /// The kind of a device's part, or a reported problem.
    pub(super) fn find_part(
        &mut self,
        device: &KnownDevice,
        parts: &[PartDescription],
        part: &str,
        at: Location,
    ) -> Option<PartKind> {
        if let Some(found) = parts.iter().find(|description| description.name == part) {
            return Some(found.kind);
        }
        let hint = did_you_mean(
            part,
            parts.iter().map(|description| description.name.as_str()),
        )
        .map(|close| format!("did you mean '{close}'? "))
        .unwrap_or_default();
        let names: Vec<&str> = parts
            .iter()
            .map(|description| description.name.as_str())
            .collect();
        self.error(
            at,
            format!(
                "device '{}' (app {}) has no part {}; {hint}its parts: {}",
                device.name,
                device.app.as_deref().unwrap_or("?"),
                quote(part),
                names.join(", ")
            ),
        );
        None
    }

    /// Resolves `device` and `part` for a step, or reports why it cannot be.
    /// `None` without a problem means the device's app is unknown, which
    /// was reported at the device.
    pub(super) fn resolve(
        &mut self,
        device_name: &str,
        part: &str,
        at: Location,
        step: &str,
    ) -> Option<(PartRef, PartKind)> {
        if !self.devices_readable {
            return None;
        }
        let Some(named) = self.lookup(device_name) else {
            let message = self.unknown_device(device_name);
            self.error(at, message);
            return None;
        };
        let device = &self.devices[named.entry()];
        if device.external {
            let message = format!(
                "device '{device_name}' is external (hilt does not run it), so {step} cannot name it; \
                 only `publish`, message expectations, `network` and \
                 `wait: {{ connected: {device_name} }}` can involve an external device"
            );
            self.error(at, message);
            return None;
        }
        let parts = device.parts.clone()?;
        let device = KnownDevice {
            name: device_name.to_string(),
            external: false,
            past_hilt: false,
            app: device.app.clone(),
            parts: None,
            fleet: None,
        };
        let kind = self.find_part(&device, &parts, part, at)?;
        Some((
            PartRef {
                device: device_name.to_string(),
                part: part.to_string(),
                location: at,
            },
            kind,
        ))
    }

    /// Why `name` names no device, with the names there are: a fleet is
    /// listed once, by its first and last member.
    pub(super) fn unknown_device(&self, name: &str) -> String {
        if let Some((fleet_name, digits)) = name.rsplit_once('-') {
            let fleet = self
                .device_index
                .get(fleet_name)
                .and_then(|&entry| self.devices[entry].fleet.as_ref());
            if let Some(fleet) = fleet.filter(|_| digits.bytes().all(|b| b.is_ascii_digit())) {
                return format!(
                    "unknown device {}; fleet '{fleet_name}' has the members {} to {}, \
                     each numbered with {} digit(s)",
                    quote(name),
                    fleet.member_name(1),
                    fleet.member_name(fleet.count),
                    fleet.index_width()
                );
            }
        }
        let names: Vec<String> = self
            .devices
            .iter()
            .map(|known| match &known.fleet {
                Some(fleet) if fleet.count > 0 => format!(
                    "{} (a fleet: {} to {})",
                    known.name,
                    fleet.member_name(1),
                    fleet.member_name(fleet.count)
                ),
                _ => known.name.clone(),
            })
            .collect();
        let hint = did_you_mean(name, self.devices.iter().map(|known| known.name.as_str()))
            .map(|close| format!("did you mean '{close}'? "))
            .unwrap_or_default();
        format!(
            "unknown device {}; {hint}devices in this file: {}",
            quote(name),
            names.join(", ")
        )
    }

    /// A `device.part` naming a part of one kind, as `press:`, `led:` and
    /// `pin:` take. `press`, `release` and `click` may name a fleet's part,
    /// meaning every member's; an LED or pin expectation checks one device.
    pub(super) fn part_of_kind(
        &mut self,
        node: &Node,
        step: &str,
        wanted: PartKind,
        example: &str,
    ) -> Option<PartRef> {
        let text = self.text(node, step.trim_matches('`'))?;
        let at = location(node);
        let Some((device, part)) = split_two(&text) else {
            self.error(
                at,
                format!(
                    "{step} names a part as device.part, like `{example}`; got {}",
                    quote(&text)
                ),
            );
            return None;
        };
        let (target, kind) = self.resolve(device, part, at, step)?;
        let named = self.lookup(device)?;
        if let (Named::Entry(entry), false) = (named, wanted == PartKind::Button)
            && let Some(fleet) = &self.devices[entry].fleet
        {
            let message = format!(
                "'{device}' is a fleet of {} devices, and {step} checks one device; \
                 name one member, like `{}.{part}`",
                fleet.count,
                fleet.member_name(1)
            );
            self.error(at, message);
            return None;
        }
        if kind == wanted {
            return Some(target);
        }
        let alternatives: Vec<String> = self.devices[named.entry()]
            .parts
            .as_ref()
            .map(|parts| {
                parts
                    .iter()
                    .filter(|description| description.kind == wanted)
                    .map(|description| format!("{device}.{}", description.name))
                    .collect()
            })
            .unwrap_or_default();
        let which = if alternatives.is_empty() {
            format!("device '{device}' has none")
        } else {
            format!("device '{device}' has {}", alternatives.join(", "))
        };
        self.error(
            at,
            format!(
                "'{target}' is {}, but {step} needs {}; {which}",
                kind_name(kind),
                kind_name(wanted)
            ),
        );
        None
    }

    /// One `property: value` of a simulated part, checked against its kind.
    pub(super) fn part_setting(
        &mut self,
        target: &PartRef,
        kind: PartKind,
        property: &str,
        property_at: Location,
        value: &Node,
    ) -> Option<PartSetting> {
        let properties = properties(kind);
        if properties.is_empty() {
            let what_instead = match kind {
                PartKind::Button => "; use press, release or click in steps",
                _ => "; check it with expect in steps",
            };
            self.error(
                property_at,
                format!(
                    "'{target}' is {}, which has no properties to set{what_instead}",
                    kind_name(kind)
                ),
            );
            return None;
        }
        if let (Node::Mapping(map), "temperature" | "lux") = (value, property)
            && key_named(map, "between").is_some()
        {
            self.error(
                location(value),
                format!(
                    "a spread (`{{ between: [low, high] }}`) draws starting values, so it \
                     belongs under a device's `parts:`; `set` takes one {property}"
                ),
            );
            return None;
        }
        let value = match (kind, property) {
            (PartKind::Ds18b20, "temperature") | (PartKind::Tsl2591, "lux") => {
                self.part_number(kind, value)?
            }
            (PartKind::Ds18b20 | PartKind::Tsl2591, "fault") => self.fault(value, faults(kind))?,
            _ => {
                let hint = did_you_mean(property, properties.iter().copied())
                    .map(|close| format!("did you mean '{close}'? "))
                    .unwrap_or_default();
                self.error(
                    property_at,
                    format!(
                        "{} has no property {}; {hint}it has {}",
                        kind_name(kind),
                        quote(property),
                        properties.join(" and ")
                    ),
                );
                return None;
            }
        };
        Some(PartSetting {
            target: target.clone(),
            value,
        })
    }

    /// A temperature or a lux reading, within what the part measures.
    fn part_number(&mut self, kind: PartKind, value: &Node) -> Option<PartValue> {
        if kind == PartKind::Tsl2591 {
            let lux = self.number(value, "lux", "300")?;
            if lux < 0.0 {
                self.error(
                    location(value),
                    format!("lux {lux} is negative; light is 0 lux or more"),
                );
                return None;
            }
            return Some(PartValue::Lux(lux));
        }
        let degrees = self.number(value, "temperature", "22.5")?;
        if !(MIN_TEMPERATURE..=MAX_TEMPERATURE).contains(&degrees) {
            self.error(
                location(value),
                format!(
                    "temperature {degrees} is outside what a DS18B20 measures \
                     (-55 to 125 degrees Celsius)"
                ),
            );
            return None;
        }
        Some(PartValue::Temperature(degrees))
    }

    /// One `property: value` of a device's starting `parts:`: a value, as
    /// `set` takes, or for a number a spread to draw it from,
    /// `{ between: [low, high] }`.
    pub(super) fn starting_setting(
        &mut self,
        target: &PartRef,
        kind: PartKind,
        property: &str,
        property_at: Location,
        value: &Node,
    ) -> Option<StartingSetting> {
        let numeric = matches!(
            (kind, property),
            (PartKind::Ds18b20, "temperature") | (PartKind::Tsl2591, "lux")
        );
        let Some(map) = value.as_mapping().filter(|_| numeric) else {
            let setting = self.part_setting(target, kind, property, property_at, value)?;
            return Some(StartingSetting {
                target: setting.target,
                property: property.to_string(),
                value: StartingValue::Fixed(setting.value),
            });
        };
        let example = format!("`{property}: {{ between: [18, 24] }}`");
        self.unknown_keys(map, SPREAD_KEYS, &format!("in a spread of `{property}`"));
        let Some(ends) = map.get_node("between") else {
            self.error(
                location(value),
                format!("`{property}` is a number, or a spread to draw it from, like {example}"),
            );
            return None;
        };
        let items = match ends.as_sequence() {
            Some(items) if items.len() == 2 => items,
            _ => {
                self.error(
                    location(ends),
                    format!(
                        "`between` takes two numbers, the lowest and the highest value, like \
                         {example}; got {}",
                        describe(ends)
                    ),
                );
                return None;
            }
        };
        let low = self.part_number(kind, &items[0]);
        let high = self.part_number(kind, &items[1]);
        let (low, high) = match (low?, high?) {
            (PartValue::Temperature(low), PartValue::Temperature(high))
            | (PartValue::Lux(low), PartValue::Lux(high)) => (low, high),
            _ => return None,
        };
        if low > high {
            self.error(
                location(ends),
                format!("`between: [{low}, {high}]` is empty; write the lower value first"),
            );
            return None;
        }
        Some(StartingSetting {
            target: target.clone(),
            property: property.to_string(),
            value: StartingValue::Between {
                low,
                high,
                lux: kind == PartKind::Tsl2591,
            },
        })
    }

    fn fault(&mut self, value: &Node, faults: &[&str]) -> Option<PartValue> {
        let fault = self.choice(value, "fault", faults)?;
        Some(PartValue::Fault(
            (fault != "none").then(|| fault.to_string()),
        ))
    }
}

/// The coldest and the warmest a DS18B20 measures, in degrees Celsius.
pub(crate) const MIN_TEMPERATURE: f64 = -55.0;
pub(crate) const MAX_TEMPERATURE: f64 = 125.0;
/// The keys of a spread of starting values, `{ between: [low, high] }`.
pub(crate) const SPREAD_KEYS: &[&str] = &["between"];

/// The properties `set` and `parts:` may give a part of `kind`; buttons,
/// LEDs and pins have none.
pub(crate) fn properties(kind: PartKind) -> &'static [&'static str] {
    match kind {
        PartKind::Ds18b20 => &["temperature", "fault"],
        PartKind::Tsl2591 => &["lux", "fault"],
        PartKind::Button | PartKind::Led | PartKind::Pin => &[],
    }
}

/// The values `fault:` takes on a part of `kind` (`none` clears a fault).
pub(crate) fn faults(kind: PartKind) -> &'static [&'static str] {
    match kind {
        PartKind::Ds18b20 => &["disconnected", "crc_error", "none"],
        PartKind::Tsl2591 => &["nack", "none"],
        PartKind::Button | PartKind::Led | PartKind::Pin => &[],
    }
}

/// A starting value of a device's part before it is given to a device:
/// fleets draw a spread once per member.
#[derive(Clone, Debug)]
pub(super) struct StartingSetting {
    /// The part, on the device (or fleet) entry that gives it.
    pub target: PartRef,
    pub property: String,
    pub value: StartingValue,
}

#[derive(Clone, Debug)]
pub(super) enum StartingValue {
    Fixed(PartValue),
    /// `{ between: [low, high] }`, of a temperature or (`lux`) a lux value.
    Between {
        low: f64,
        high: f64,
        lux: bool,
    },
}

impl StartingSetting {
    /// The setting for `device`, member `index` (1-based; an ordinary
    /// device is 1) of the entry; a spread is drawn from `seed`.
    pub fn for_device(&self, device: &str, seed: u64, index: u32) -> PartSetting {
        let value = match &self.value {
            StartingValue::Fixed(value) => value.clone(),
            StartingValue::Between { low, high, lux } => {
                let stream = format!(
                    "{}.{}.{}",
                    self.target.device, self.target.part, self.property
                );
                let drawn = draw_between(seed, &stream, index, *low, *high);
                if *lux {
                    PartValue::Lux(drawn)
                } else {
                    PartValue::Temperature(drawn)
                }
            }
        };
        PartSetting {
            target: PartRef {
                device: device.to_string(),
                ..self.target.clone()
            },
            value,
        }
    }
}

/// Draw number `index` (1-based) of the spread `stream` (`probe.ds18b20.
/// temperature`): uniform in `[low, high]`, rounded to hundredths.
///
/// ChaCha8 seeded with the scenario's seed, one stream per spread (the
/// FNV-1a hash of its name), and one 64-bit word per member at a fixed
/// place in it: so a member's value depends on nothing but the seed, the
/// spread and its index, and a fleet that grows keeps its first members'
/// values. ChaCha's output is fixed by its specification, so the values
/// stay the same across platforms and versions of the crate.
pub(super) fn draw_between(seed: u64, stream: &str, index: u32, low: f64, high: f64) -> f64 {
    let mut random = ChaCha8Rng::seed_from_u64(seed);
    random.set_stream(fnv1a(stream));
    random.set_word_pos(2 * u128::from(index.saturating_sub(1)));
    // The 53 high bits make a uniform fraction in [0, 1).
    let fraction = (random.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
    let value = low + (high - low) * fraction;
    ((value * 100.0).round() / 100.0).clamp(low, high)
}

/// The 64-bit FNV-1a hash: small, and the same everywhere (unlike the
/// standard library's hasher, which may change between Rust versions).
fn fnv1a(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// `device.part`, both non-empty, exactly one dot.
fn split_two(text: &str) -> Option<(&str, &str)> {
    let (device, part) = text.split_once('.')?;
    (!device.is_empty() && !part.is_empty() && !part.contains('.')).then_some((device, part))
}

/// How messages name a kind of part, with its article.
pub(super) fn kind_name(kind: PartKind) -> &'static str {
    match kind {
        PartKind::Button => "a button",
        PartKind::Led => "an LED",
        PartKind::Ds18b20 => "a DS18B20 temperature sensor",
        PartKind::Tsl2591 => "a TSL2591 light sensor",
        PartKind::Pin => "a GPIO pin",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spreads_are_drawn_from_the_seed_within_their_ends() {
        let draws: Vec<f64> = (1..=200)
            .map(|index| draw_between(7, "probe.ds18b20.temperature", index, 18.0, 24.0))
            .collect();
        assert!(draws.iter().all(|value| (18.0..=24.0).contains(value)));
        // Hundredths, and spread over the range rather than stuck at one end.
        assert!(
            draws
                .iter()
                .all(|value| ((value * 100.0).round() - value * 100.0).abs() < 1e-6)
        );
        assert!(draws.iter().any(|value| *value < 19.0));
        assert!(draws.iter().any(|value| *value > 23.0));
        // The same seed, spread and index give the same value; another
        // seed or spread another sequence.
        assert_eq!(
            draws[6],
            draw_between(7, "probe.ds18b20.temperature", 7, 18.0, 24.0)
        );
        let other_seed: Vec<f64> = (1..=200)
            .map(|index| draw_between(8, "probe.ds18b20.temperature", index, 18.0, 24.0))
            .collect();
        let other_stream: Vec<f64> = (1..=200)
            .map(|index| draw_between(7, "room.ds18b20.temperature", index, 18.0, 24.0))
            .collect();
        assert_ne!(draws, other_seed);
        assert_ne!(draws, other_stream);
        assert_eq!(draw_between(1, "x", 1, 5.0, 5.0), 5.0);
    }

    #[test]
    fn fnv1a_matches_its_published_test_vectors() {
        assert_eq!(fnv1a(""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a("a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a("foobar"), 0x8594_4171_f739_67e8);
    }

    #[test]
    fn device_part_references() {
        assert_eq!(split_two("blue.button"), Some(("blue", "button")));
        assert_eq!(split_two("blue"), None);
        assert_eq!(split_two("blue."), None);
        assert_eq!(split_two(".button"), None);
        assert_eq!(split_two("a.b.c"), None);
    }
}
