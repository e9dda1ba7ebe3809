//! Whether a logged message fits a message expectation.

use hilt_firmware::mqtt::topic::filter_matches;
use hilt_scenario::{Fleet, MessageExpectation, PayloadMatch};
use serde_json::Value;

use crate::transcript::LoggedMessage;

/// Relative difference under which two JSON numbers are equal when the
/// expectation gives no `tolerance:`.
const DEFAULT_RELATIVE_TOLERANCE: f64 = 1e-9;

/// True when `message` fits every part of `expectation` but its time window.
pub fn message_fits(expectation: &MessageExpectation, message: &LoggedMessage) -> bool {
    if !filter_matches(&expectation.filter, &message.topic) {
        return false;
    }
    if expectation
        .from
        .as_ref()
        .is_some_and(|from| !from.includes(&message.source))
    {
        return false;
    }
    if expectation.qos.is_some_and(|qos| qos != message.qos) {
        return false;
    }
    if expectation
        .retain
        .is_some_and(|retain| retain != message.retain)
    {
        return false;
    }
    match &expectation.body {
        None => true,
        Some(PayloadMatch::Exact(text)) => message.payload == text.as_bytes(),
        Some(PayloadMatch::Regex(regex)) => match std::str::from_utf8(&message.payload) {
            Ok(text) => regex.is_match(text),
            Err(_) => false,
        },
        Some(PayloadMatch::Json(expected)) => {
            match serde_json::from_slice::<Value>(&message.payload) {
                Ok(actual) => json_subset(expected, &actual, expectation.tolerance),
                Err(_) => false,
            }
        }
    }
}

/// How many fitting messages each member of a fleet published: one counter
/// per member, found from the message's source in constant time. It owns a
/// copy of the fleet's record, so that the message log's trackers can keep
/// one for as long as their step needs it.
#[derive(Debug)]
pub struct MemberTally {
    fleet: Fleet,
    /// By member index - 1.
    heard: Vec<u32>,
    /// How many members have at least one message.
    members_heard: u32,
}

impl MemberTally {
    pub fn new(fleet: &Fleet) -> Self {
        MemberTally {
            fleet: fleet.clone(),
            heard: vec![0; fleet.count as usize],
            members_heard: 0,
        }
    }

    /// Which member (1-based) published `message`, if a member did.
    pub fn member_of(&self, message: &LoggedMessage) -> Option<u32> {
        self.fleet.member_index(&message.source)
    }

    /// Counts `message` for the member that published it (nothing for a
    /// message from anyone else).
    pub fn add(&mut self, message: &LoggedMessage) {
        if let Some(index) = self.member_of(message) {
            self.add_to(index);
        }
    }

    /// Counts one message for member `index` (1-based, as
    /// [`member_of`](Self::member_of) gives it).
    pub fn add_to(&mut self, index: u32) {
        let Some(heard) = (index as usize)
            .checked_sub(1)
            .and_then(|slot| self.heard.get_mut(slot))
        else {
            return;
        };
        if *heard == 0 {
            self.members_heard += 1;
        }
        *heard = heard.saturating_add(1);
    }

    pub fn every_member_heard(&self) -> bool {
        self.members_heard == self.fleet.count
    }

    /// The members, in order, whose count is not `count`, with theirs.
    pub fn members_not_at(&self, count: u32) -> Vec<(String, u32)> {
        self.members_where(|heard| heard != count)
    }

    /// The members, in order, that published nothing that fits.
    pub fn silent_members(&self) -> Vec<(String, u32)> {
        self.members_where(|heard| heard == 0)
    }

    fn members_where(&self, pick: impl Fn(u32) -> bool) -> Vec<(String, u32)> {
        (1..=self.fleet.count)
            .zip(&self.heard)
            .filter(|(_, heard)| pick(**heard))
            .map(|(index, heard)| (self.fleet.member_name(index), *heard))
            .collect()
    }
}

/// Every key of `expected` is in `actual` with an equal value; keys not
/// given are ignored; arrays match element by element with equal lengths.
pub fn json_subset(expected: &Value, actual: &Value, tolerance: Option<f64>) -> bool {
    match (expected, actual) {
        (Value::Object(expected), Value::Object(actual)) => expected.iter().all(|(key, value)| {
            actual
                .get(key)
                .is_some_and(|actual_value| json_subset(value, actual_value, tolerance))
        }),
        (Value::Array(expected), Value::Array(actual)) => {
            expected.len() == actual.len()
                && expected
                    .iter()
                    .zip(actual)
                    .all(|(expected, actual)| json_subset(expected, actual, tolerance))
        }
        (Value::Number(expected), Value::Number(actual)) => {
            match (expected.as_f64(), actual.as_f64()) {
                (Some(expected), Some(actual)) => numbers_equal(expected, actual, tolerance),
                _ => expected == actual,
            }
        }
        _ => expected == actual,
    }
}

fn numbers_equal(expected: f64, actual: f64, tolerance: Option<f64>) -> bool {
    let difference = (expected - actual).abs();
    match tolerance {
        Some(tolerance) => difference <= tolerance,
        None => difference <= DEFAULT_RELATIVE_TOLERANCE * expected.abs().max(actual.abs()),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn message_from(source: &str) -> LoggedMessage {
        LoggedMessage {
            at: hilt_firmware::time::Instant::BOOT,
            source: source.to_owned(),
            topic: "t".to_owned(),
            payload: Vec::new(),
            qos: 0,
            retain: false,
        }
    }

    #[test]
    fn a_tally_counts_each_member_and_ignores_everyone_else() {
        let fleet = Fleet {
            name: "probe".to_owned(),
            location: Default::default(),
            count: 12,
            first_device: 0,
        };
        let mut tally = MemberTally::new(&fleet);
        for source in (1..=12).map(|index| fleet.member_name(index)) {
            if source != "probe-07" {
                tally.add(&message_from(&source));
            }
        }
        // Not members: another device, a name of the wrong width, one past
        // the end, the broker publishing a will.
        for source in [
            "probe",
            "probe-7",
            "probe-13",
            "other-01",
            "broker (will of probe-07)",
        ] {
            tally.add(&message_from(source));
        }
        assert!(!tally.every_member_heard());
        assert_eq!(tally.silent_members(), vec![("probe-07".to_owned(), 0)]);
        tally.add(&message_from("probe-03"));
        assert_eq!(
            tally.members_not_at(1),
            vec![("probe-03".to_owned(), 2), ("probe-07".to_owned(), 0)]
        );
        tally.add(&message_from("probe-07"));
        assert!(tally.every_member_heard());
        assert!(tally.silent_members().is_empty());
    }

    #[test]
    fn objects_match_as_subsets() {
        let actual = json!({"degrees": 72.5, "unit": "F", "extra": [1, 2]});
        assert!(json_subset(&json!({"unit": "F"}), &actual, None));
        assert!(json_subset(
            &json!({"degrees": 72.5, "unit": "F"}),
            &actual,
            None
        ));
        assert!(!json_subset(&json!({"unit": "C"}), &actual, None));
        assert!(!json_subset(&json!({"missing": 1}), &actual, None));
    }

    #[test]
    fn arrays_match_element_by_element_with_equal_length() {
        let actual = json!(["lux-1", 12, 300.5]);
        assert!(json_subset(&json!(["lux-1", 12, 300.5]), &actual, None));
        assert!(!json_subset(&json!(["lux-1", 12]), &actual, None));
        assert!(!json_subset(&json!(["lux-2", 12, 300.5]), &actual, None));
    }

    #[test]
    fn numbers_compare_relatively_or_with_the_given_tolerance() {
        assert!(json_subset(&json!(72.5), &json!(72.500_000_000_01), None));
        assert!(!json_subset(&json!(72.5), &json!(72.51), None));
        assert!(json_subset(&json!(72.5), &json!(72.51), Some(0.05)));
        assert!(!json_subset(&json!(72.5), &json!(72.6), Some(0.05)));
        assert!(json_subset(&json!(1), &json!(1.0), None));
    }
}
