//! A run's own client ids and topics, for Wokwi runs on a shared broker.
//!
//! A Wokwi simulation reaches the broker over the internet, usually a
//! public one. Two CI runs of the same scenario at once (two pushes, two
//! forks, anyone else's board called `blue`) would take over each other's
//! MQTT sessions, since a broker keeps one session per client id, and
//! would see each other's messages. [`with_client_suffix`] gives every
//! board of a scenario a run-specific suffix: its client id, every setting
//! that names a board ([`SettingKey::names_a_board`], e.g. remote-led's
//! `peer`), and every topic level of the steps that is one of those names.
//! The export then writes the suffixed ids into its `# hilt-env:` lines, so
//! the image built from them and the scenario Wokwi checks agree.
//!
//! Payloads are not rewritten: a name inside a message body stays as the
//! scenario wrote it.
//!
//! [`SettingKey::names_a_board`]: hilt_firmware::settings::SettingKey::names_a_board

use std::collections::BTreeMap;

use hilt_scenario::ast::{ConfigEntry, ConfigValue, DeviceKind, Expectation, Scenario, StepKind};

use crate::image::Images;

/// The longest suffix: a client id of 8 characters with it still fits the
/// 23 bytes every MQTT 3.1.1 broker must accept.
pub const MAX_CLIENT_SUFFIX_LEN: usize = 15;

/// Why a suffix cannot be used.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SuffixError {
    #[error("the client id suffix is empty")]
    Empty,
    #[error(
        "the client id suffix {suffix:?} is longer than {MAX_CLIENT_SUFFIX_LEN} characters; \
         client ids must stay within the 23 bytes every broker accepts"
    )]
    TooLong { suffix: String },
    #[error(
        "the client id suffix {suffix:?} may hold only letters, digits, '-' and '_', \
         since it becomes part of client ids and topic levels"
    )]
    NotPlain { suffix: String },
}

/// `scenario` with `suffix` appended to every board's client id, to every
/// setting naming a board, and to every topic level of its steps that is
/// one of those names. Boards whose app has no image keep their settings
/// unchanged (the export refuses them anyway).
pub fn with_client_suffix(
    scenario: &Scenario,
    images: &dyn Images,
    suffix: &str,
) -> Result<Scenario, SuffixError> {
    check_suffix(suffix)?;
    let mut renamed = scenario.clone();
    // Old name -> new name, for the topics.
    let mut names: BTreeMap<String, String> = BTreeMap::new();
    for device in &mut renamed.devices {
        let new_client_id = format!("{}{suffix}", device.client_id);
        names.insert(device.client_id.clone(), new_client_id.clone());
        let DeviceKind::Simulated { app, config, .. } = &mut device.kind else {
            device.client_id = new_client_id;
            continue;
        };
        let Ok(image) = images.image(app) else {
            device.client_id = new_client_id;
            continue;
        };
        let settings = image.settings(&device.client_id);
        for key in settings.keys().iter().filter(|key| key.names_a_board) {
            match config
                .entries
                .iter_mut()
                .find(|entry| entry.key == key.name)
            {
                Some(ConfigEntry {
                    value: ConfigValue::Scalar { text, .. },
                    ..
                }) => {
                    let new_name = format!("{text}{suffix}");
                    names.insert(text.clone(), new_name.clone());
                    *text = new_name;
                }
                // A value that is not one text is refused by the export.
                Some(_) => {}
                // A scenario's default for such a key is the device's name,
                // and an image's the client id; written out, both boards
                // get the same suffixed name.
                None if key.defaults_to_device_name => {
                    let new_name = format!("{}{suffix}", device.name);
                    names.insert(device.name.clone(), new_name.clone());
                    config.entries.push(ConfigEntry {
                        key: key.name.to_owned(),
                        key_location: device.location,
                        value: ConfigValue::Scalar {
                            text: new_name,
                            location: device.location,
                        },
                    });
                }
                None => {}
            }
        }
        device.client_id = new_client_id;
    }
    for step in &mut renamed.steps {
        match &mut step.kind {
            StepKind::Publish(publish) => publish.topic = renamed_levels(&publish.topic, &names),
            StepKind::Expect(Expectation::Message(expectation)) => {
                expectation.filter = renamed_levels(&expectation.filter, &names);
            }
            _ => {}
        }
    }
    Ok(renamed)
}

fn check_suffix(suffix: &str) -> Result<(), SuffixError> {
    if suffix.is_empty() {
        return Err(SuffixError::Empty);
    }
    if suffix.chars().count() > MAX_CLIENT_SUFFIX_LEN {
        return Err(SuffixError::TooLong {
            suffix: suffix.to_owned(),
        });
    }
    if !suffix
        .chars()
        .all(|character| character.is_ascii_alphanumeric() || matches!(character, '-' | '_'))
    {
        return Err(SuffixError::NotPlain {
            suffix: suffix.to_owned(),
        });
    }
    Ok(())
}

/// `topic` with every level that is a key of `names` replaced by its value.
fn renamed_levels(topic: &str, names: &BTreeMap<String, String>) -> String {
    topic
        .split('/')
        .map(|level| names.get(level).map_or(level, String::as_str))
        .collect::<Vec<_>>()
        .join("/")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_whole_levels_that_name_a_board_are_renamed() {
        let names = BTreeMap::from([
            ("blue".to_owned(), "blue-r7".to_owned()),
            ("probe".to_owned(), "probe-r7".to_owned()),
        ]);
        assert_eq!(renamed_levels("blue/btn/0", &names), "blue-r7/btn/0");
        assert_eq!(
            renamed_levels("devices/probe/temperature/degrees", &names),
            "devices/probe-r7/temperature/degrees"
        );
        assert_eq!(renamed_levels("bluebird/+/#", &names), "bluebird/+/#");
        assert_eq!(renamed_levels("+/btn/0", &names), "+/btn/0");
    }

    #[test]
    fn a_suffix_is_short_plain_text() {
        assert_eq!(check_suffix("-r123-1"), Ok(()));
        assert_eq!(check_suffix(""), Err(SuffixError::Empty));
        assert!(matches!(
            check_suffix("-this-is-far-too-long"),
            Err(SuffixError::TooLong { .. })
        ));
        for bad in ["/x", "+", "#", "a b", "é"] {
            assert!(
                matches!(check_suffix(bad), Err(SuffixError::NotPlain { .. })),
                "{bad}"
            );
        }
    }
}
