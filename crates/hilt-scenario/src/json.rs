//! `json:` values: YAML written in the scenario, turned into JSON.
//!
//! Plain scalars follow the YAML 1.2 core schema (`1` is a number, `true` a
//! boolean, `~` null), quoted and block scalars are always strings, so a user
//! can say `{v: "1"}` to mean the string. Map keys are always strings, since
//! JSON has no other kind.

use marked_yaml::Node;
use serde_json::{Map, Number, Value};

use crate::Location;
use crate::raw::{location, scalar_location};
use crate::scalar::{
    core_bool, core_radix_integer, is_core_decimal_float, is_core_decimal_integer,
    is_core_infinity_or_nan, is_core_null,
};

/// Deeper than this is surely a mistake, and stopping keeps the recursion bounded.
const MAX_DEPTH: usize = 64;

/// A value that cannot be JSON, with where it is.
#[derive(Debug)]
pub(crate) struct JsonProblem {
    pub(crate) location: Location,
    pub(crate) message: String,
}

/// Converts a YAML node to JSON, or says where and why it cannot be.
pub(crate) fn to_json(node: &Node) -> Result<Value, JsonProblem> {
    convert(node, 0)
}

fn convert(node: &Node, depth: usize) -> Result<Value, JsonProblem> {
    if depth > MAX_DEPTH {
        return Err(JsonProblem {
            location: location(node),
            message: format!("`json` is nested more than {MAX_DEPTH} levels deep"),
        });
    }
    match node {
        Node::Mapping(mapping) => {
            let mut object = Map::new();
            for (key, value) in mapping.iter() {
                object.insert(key.as_str().to_string(), convert(value, depth + 1)?);
            }
            Ok(Value::Object(object))
        }
        Node::Sequence(sequence) => sequence
            .iter()
            .map(|item| convert(item, depth + 1))
            .collect::<Result<Vec<_>, _>>()
            .map(Value::Array),
        Node::Scalar(scalar) => {
            let text = scalar.as_str();
            // marked-yaml marks quoted and block scalars as not coercible.
            if !scalar.may_coerce() {
                return Ok(Value::String(text.to_string()));
            }
            let problem = |message: String| JsonProblem {
                location: scalar_location(scalar),
                message,
            };
            if is_core_null(text) {
                return Ok(Value::Null);
            }
            if let Some(value) = core_bool(text) {
                return Ok(Value::Bool(value));
            }
            if is_core_decimal_integer(text) {
                if let Ok(value) = text.parse::<i64>() {
                    return Ok(Value::from(value));
                }
                if let Ok(value) = text.parse::<u64>() {
                    return Ok(Value::from(value));
                }
                return Err(problem(format!(
                    "the number {text} is too large to compare exactly; quote it to compare it as text"
                )));
            }
            if let Some(value) = core_radix_integer(text) {
                return match value {
                    Some(value) => Ok(Value::from(value)),
                    None => Err(problem(format!(
                        "the number {text} is too large to compare exactly; quote it to compare it as text"
                    ))),
                };
            }
            if is_core_decimal_float(text) {
                return text
                    .parse::<f64>()
                    .ok()
                    .and_then(Number::from_f64)
                    .map(Value::Number)
                    .ok_or_else(|| {
                        problem(format!(
                            "the number {text} is too large for JSON; quote it to compare it as text"
                        ))
                    });
            }
            if is_core_infinity_or_nan(text) {
                return Err(problem(format!(
                    "JSON has no infinity or NaN, so {text} cannot be matched; quote it to mean the text"
                )));
            }
            Ok(Value::String(text.to_string()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use marked_yaml::{LoaderOptions, parse_yaml_with_options};
    use serde_json::json;

    fn convert_text(yaml: &str) -> Result<Value, JsonProblem> {
        let options = LoaderOptions::default().prevent_coercion(true);
        let root = match parse_yaml_with_options(0, yaml, options) {
            Ok(root) => root,
            Err(error) => panic!("{error}"),
        };
        let value = root
            .as_mapping()
            .and_then(|mapping| mapping.get_node("json"))
            .cloned();
        match value {
            Some(value) => to_json(&value),
            None => panic!("no json key in {yaml}"),
        }
    }

    #[test]
    fn core_schema_for_plain_scalars() {
        let value = convert_text(
            "json: {i: 1, n: -2, f: 2.5, e: 1e3, h: 0x10, t: true, F: False, z: ~, e2: , s: text, big: 18446744073709551615}",
        );
        assert_eq!(
            value.ok(),
            Some(json!({
                "i": 1, "n": -2, "f": 2.5, "e": 1000.0, "h": 16, "t": true, "F": false,
                "z": null, "e2": null, "s": "text", "big": 18446744073709551615u64
            }))
        );
    }

    #[test]
    fn quoted_scalars_stay_strings() {
        let value = convert_text("json:\n  v: \"1\"\n  w: 'true'\n  x: \"\"\n  y: |\n    block\n");
        assert_eq!(
            value.ok(),
            Some(json!({"v": "1", "w": "true", "x": "", "y": "block\n"}))
        );
    }

    #[test]
    fn keys_are_strings_and_order_is_kept() {
        let value = convert_text("json: {b: [1, [2]], 1: x, a: {}}");
        let text = value.ok().map(|value| value.to_string());
        assert_eq!(text.as_deref(), Some(r#"{"b":[1,[2]],"1":"x","a":{}}"#));
    }

    #[test]
    fn values_json_cannot_carry() {
        for yaml in [
            "json: .inf",
            "json: [.nan]",
            "json: 99999999999999999999",
            "json: 1e999",
        ] {
            let problem = convert_text(yaml).err();
            assert!(problem.is_some(), "{yaml}");
        }
    }
}
