//! Whether a logged message fits a message expectation.

use hilt_firmware::mqtt::topic::filter_matches;
use hilt_scenario::{MessageExpectation, PayloadMatch};
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
