//! Parts named by steps and starting states: `device.part` references,
//! resolved against the devices and checked for the kind of part a step
//! needs, and the values a part can be set to.

use marked_yaml::Node;

use crate::raw::{location, quote};
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
        let Some(index) = self
            .devices
            .iter()
            .position(|device| device.name == device_name)
        else {
            let names: Vec<&str> = self
                .devices
                .iter()
                .map(|device| device.name.as_str())
                .collect();
            let hint = did_you_mean(device_name, names.iter().copied())
                .map(|close| format!("did you mean '{close}'? "))
                .unwrap_or_default();
            let message = format!(
                "unknown device {}; {hint}devices in this file: {}",
                quote(device_name),
                names.join(", ")
            );
            self.error(at, message);
            return None;
        };
        let device = &self.devices[index];
        if device.external {
            let message = format!(
                "device '{device_name}' is external (hilt does not run it), so {step} cannot name it; \
                 only `publish` and message expectations can involve an external device"
            );
            self.error(at, message);
            return None;
        }
        let parts = device.parts.clone()?;
        let device = KnownDevice {
            name: device.name.clone(),
            external: false,
            app: device.app.clone(),
            parts: None,
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

    /// A `device.part` naming a part of one kind, as `press:`, `led:` and
    /// `pin:` take.
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
        if kind == wanted {
            return Some(target);
        }
        let alternatives: Vec<String> = self
            .devices
            .iter()
            .find(|known| known.name == device)
            .and_then(|known| known.parts.as_ref())
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
        let properties: &[&str] = match kind {
            PartKind::Ds18b20 => &["temperature", "fault"],
            PartKind::Tsl2591 => &["lux", "fault"],
            PartKind::Button | PartKind::Led | PartKind::Pin => {
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
        };
        let value = match (kind, property) {
            (PartKind::Ds18b20, "temperature") => {
                let degrees = self.number(value, "temperature", "22.5")?;
                if !(-55.0..=125.0).contains(&degrees) {
                    self.error(
                        location(value),
                        format!(
                            "temperature {degrees} is outside what a DS18B20 measures \
                             (-55 to 125 degrees Celsius)"
                        ),
                    );
                    return None;
                }
                PartValue::Temperature(degrees)
            }
            (PartKind::Tsl2591, "lux") => {
                let lux = self.number(value, "lux", "300")?;
                if lux < 0.0 {
                    self.error(
                        location(value),
                        format!("lux {lux} is negative; light is 0 lux or more"),
                    );
                    return None;
                }
                PartValue::Lux(lux)
            }
            (PartKind::Ds18b20, "fault") => {
                self.fault(value, &["disconnected", "crc_error", "none"])?
            }
            (PartKind::Tsl2591, "fault") => self.fault(value, &["nack", "none"])?,
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

    fn fault(&mut self, value: &Node, faults: &[&str]) -> Option<PartValue> {
        let fault = self.choice(value, "fault", faults)?;
        Some(PartValue::Fault(
            (fault != "none").then(|| fault.to_string()),
        ))
    }
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
    fn device_part_references() {
        assert_eq!(split_two("blue.button"), Some(("blue", "button")));
        assert_eq!(split_two("blue"), None);
        assert_eq!(split_two("blue."), None);
        assert_eq!(split_two(".button"), None);
        assert_eq!(split_two("a.b.c"), None);
    }
}
