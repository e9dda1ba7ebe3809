//! The shape of the payloads seen on one topic: constant text, numbers,
//! or a JSON object or array whose keys and value types are kept, merged
//! over every payload so that what varies is told from what does not.

use serde_json::Value;

/// A number written as JSON or as plain text (`21.5`, `-3`, `1e3`): its
/// type, not its value, since a reading varies.
pub(crate) const NUMBER_PATTERN: &str = "-?[0-9][0-9.eE+-]*";
/// A JSON string, escapes included.
const STRING_PATTERN: &str = r#""(?:[^"\\]|\\.)*""#;
/// Deeper than this is described as "anything", keeping the recursion bounded.
const MAX_DEPTH: usize = 16;

/// What the payloads of a topic (or of a pattern of topics) have in common.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum PayloadShape {
    /// Every payload was this same text.
    ConstantText(String),
    /// Every payload was a plain number (as text, or a bare JSON number).
    Number { low: f64, high: f64 },
    /// Every payload was a JSON object or array, of this shape.
    Json(JsonShape),
    /// Anything else: text that varies, bytes that are not UTF-8, or a mix
    /// of kinds. Not checked.
    Any,
}

/// The merged shape of JSON values.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum JsonShape {
    Null,
    /// `Some` while every value was the same boolean.
    Bool(Option<bool>),
    /// The range seen, for the comment; checked by type only.
    Number {
        low: f64,
        high: f64,
    },
    /// `Some` while every value was the same string.
    Text(Option<String>),
    /// Keys in the order they were written, the same in every value.
    Object(Vec<(String, JsonShape)>),
    /// Elements in order, the same count in every value.
    Array(Vec<JsonShape>),
    /// Values of different kinds, or objects with different keys.
    Mixed,
}

impl PayloadShape {
    /// The shape of one payload.
    pub(crate) fn of(payload: &[u8]) -> PayloadShape {
        let Ok(text) = std::str::from_utf8(payload) else {
            return PayloadShape::Any;
        };
        // serde_json keeps keys in the order written (preserve_order), so
        // the shape keeps the publisher's order.
        match serde_json::from_str::<Value>(text) {
            Ok(value @ (Value::Object(_) | Value::Array(_))) => {
                PayloadShape::Json(JsonShape::of(&value, 0))
            }
            Ok(Value::Number(number)) => match number.as_f64() {
                Some(number) => PayloadShape::Number {
                    low: number,
                    high: number,
                },
                None => PayloadShape::ConstantText(text.to_string()),
            },
            _ => PayloadShape::ConstantText(text.to_string()),
        }
    }

    /// The shape both `self` and `other` fit.
    pub(crate) fn merge(self, other: &PayloadShape) -> PayloadShape {
        use PayloadShape::*;
        match (self, other) {
            (ConstantText(a), ConstantText(b)) if a == *b => ConstantText(a),
            (Number { low, high }, Number { low: l, high: h }) => Number {
                low: low.min(*l),
                high: high.max(*h),
            },
            (Json(a), Json(b)) => match a.merge(b) {
                JsonShape::Mixed => Any,
                merged => Json(merged),
            },
            _ => Any,
        }
    }

    /// Whether topics with these shapes carry the same kind of message, so
    /// that they may become one pattern (`a/1`, `a/2` as `a/+`): both
    /// numbers, both text, or JSON with the same keys.
    pub(crate) fn same_kind(&self, other: &PayloadShape) -> bool {
        use PayloadShape::*;
        match (self, other) {
            (ConstantText(_) | Any, ConstantText(_) | Any) | (Number { .. }, Number { .. }) => true,
            (Json(a), Json(b)) => a.clone().merge(b) != JsonShape::Mixed,
            _ => false,
        }
    }

    /// A regular expression every payload seen matches, searched as
    /// `matches:` does; `None` for [`PayloadShape::ConstantText`] (checked
    /// exactly instead) and [`PayloadShape::Any`].
    pub(crate) fn pattern(&self) -> Option<String> {
        match self {
            PayloadShape::Number { .. } => Some(format!(r"^\s*{NUMBER_PATTERN}\s*$")),
            PayloadShape::Json(shape) => Some(format!(r"^\s*{}\s*$", shape.pattern())),
            PayloadShape::ConstantText(_) | PayloadShape::Any => None,
        }
    }

    /// The shape in words, for a comment: `{"degrees": number (21.5 to
    /// 22.4), "unit": "C"}`.
    pub(crate) fn describe(&self) -> String {
        match self {
            PayloadShape::ConstantText(text) => format!("always {text:?}"),
            PayloadShape::Number { low, high } => format!("a number, {}", range(*low, *high)),
            PayloadShape::Json(shape) => format!("JSON {}", shape.describe()),
            PayloadShape::Any => "text that varies (not checked)".to_string(),
        }
    }
}

fn range(low: f64, high: f64) -> String {
    if low == high {
        format!("always {low}")
    } else {
        format!("{low} to {high}")
    }
}

impl JsonShape {
    fn of(value: &Value, depth: usize) -> JsonShape {
        if depth > MAX_DEPTH {
            return JsonShape::Mixed;
        }
        match value {
            Value::Null => JsonShape::Null,
            Value::Bool(value) => JsonShape::Bool(Some(*value)),
            Value::Number(number) => {
                let number = number.as_f64().unwrap_or(f64::NAN);
                JsonShape::Number {
                    low: number,
                    high: number,
                }
            }
            Value::String(text) => JsonShape::Text(Some(text.clone())),
            Value::Array(items) => JsonShape::Array(
                items
                    .iter()
                    .map(|item| JsonShape::of(item, depth + 1))
                    .collect(),
            ),
            Value::Object(map) => JsonShape::Object(
                map.iter()
                    .map(|(key, value)| (key.clone(), JsonShape::of(value, depth + 1)))
                    .collect(),
            ),
        }
    }

    fn merge(self, other: &JsonShape) -> JsonShape {
        use JsonShape::*;
        match (self, other) {
            (Null, Null) => Null,
            (Bool(a), Bool(b)) => Bool(if a == *b { a } else { None }),
            (Number { low, high }, Number { low: l, high: h }) => Number {
                low: low.min(*l),
                high: high.max(*h),
            },
            (Text(a), Text(b)) => Text(if a == *b { a } else { None }),
            (Object(a), Object(b))
                if a.len() == b.len() && a.iter().zip(b).all(|((x, _), (y, _))| x == y) =>
            {
                Object(
                    a.into_iter()
                        .zip(b)
                        .map(|((key, mine), (_, theirs))| (key, mine.merge(theirs)))
                        .collect(),
                )
            }
            (Array(a), Array(b)) if a.len() == b.len() => Array(
                a.into_iter()
                    .zip(b)
                    .map(|(mine, theirs)| mine.merge(theirs))
                    .collect(),
            ),
            _ => Mixed,
        }
    }

    /// A regular expression for this shape as JSON text, with any spacing
    /// between tokens: constant strings and booleans literally, numbers and
    /// varying strings by type.
    fn pattern(&self) -> String {
        match self {
            JsonShape::Null => "null".to_string(),
            JsonShape::Bool(Some(value)) => value.to_string(),
            JsonShape::Bool(None) => "(?:true|false)".to_string(),
            JsonShape::Number { .. } => NUMBER_PATTERN.to_string(),
            JsonShape::Text(Some(text)) if is_plain(text) => {
                format!("\"{}\"", regex::escape(text))
            }
            JsonShape::Text(_) => STRING_PATTERN.to_string(),
            JsonShape::Object(pairs) if pairs.is_empty() => r"\{\s*\}".to_string(),
            JsonShape::Object(pairs) => {
                let pairs: Vec<String> = pairs
                    .iter()
                    .map(|(key, value)| {
                        format!(r#"{}\s*:\s*{}"#, key_pattern(key), value.pattern())
                    })
                    .collect();
                format!(r"\{{\s*{}\s*\}}", pairs.join(r"\s*,\s*"))
            }
            JsonShape::Array(items) if items.is_empty() => r"\[\s*\]".to_string(),
            JsonShape::Array(items) => {
                let items: Vec<String> = items.iter().map(JsonShape::pattern).collect();
                format!(r"\[\s*{}\s*\]", items.join(r"\s*,\s*"))
            }
            JsonShape::Mixed => ".+?".to_string(),
        }
    }

    fn describe(&self) -> String {
        match self {
            JsonShape::Null => "null".to_string(),
            JsonShape::Bool(Some(value)) => value.to_string(),
            JsonShape::Bool(None) => "true or false".to_string(),
            JsonShape::Number { low, high } if low == high => format!("number ({low})"),
            JsonShape::Number { low, high } => format!("number ({low} to {high})"),
            JsonShape::Text(Some(text)) => format!("{text:?}"),
            JsonShape::Text(None) => "text".to_string(),
            JsonShape::Object(pairs) => {
                let pairs: Vec<String> = pairs
                    .iter()
                    .map(|(key, value)| format!("{key:?}: {}", value.describe()))
                    .collect();
                format!("{{{}}}", pairs.join(", "))
            }
            JsonShape::Array(items) => {
                let items: Vec<String> = items.iter().map(JsonShape::describe).collect();
                format!("[{}]", items.join(", "))
            }
            JsonShape::Mixed => "anything".to_string(),
        }
    }
}

/// A key as JSON writes it, escaped for a regex. A key needing JSON escapes
/// is written as serde_json escapes it, which a device may do differently;
/// such keys are rare.
fn key_pattern(key: &str) -> String {
    let written = serde_json::to_string(key).unwrap_or_else(|_| format!("\"{key}\""));
    regex::escape(&written)
}

/// Text that JSON writes as itself between quotes, whatever the writer:
/// printable ASCII without `"` or `\`.
fn is_plain(text: &str) -> bool {
    text.chars()
        .all(|character| (' '..='~').contains(&character) && character != '"' && character != '\\')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shape_of(payloads: &[&str]) -> PayloadShape {
        let mut shapes = payloads
            .iter()
            .map(|payload| PayloadShape::of(payload.as_bytes()));
        let first = shapes.next().expect("at least one payload");
        shapes.fold(first, |merged, next| merged.merge(&next))
    }

    fn matches(shape: &PayloadShape, payload: &str) -> bool {
        let pattern = shape.pattern().expect("a pattern");
        regex::Regex::new(&pattern)
            .expect("the pattern compiles")
            .is_match(payload)
    }

    #[test]
    fn json_objects_keep_keys_and_types() {
        let shape = shape_of(&[
            r#"{"degrees": 21.5, "unit": "C"}"#,
            r#"{"degrees":22,"unit":"C"}"#,
        ]);
        assert_eq!(
            shape.describe(),
            r#"JSON {"degrees": number (21.5 to 22), "unit": "C"}"#
        );
        assert!(matches(&shape, r#"{"degrees": -3.25, "unit": "C"}"#));
        assert!(matches(&shape, r#"{ "degrees" : 1e3 , "unit" : "C" }"#));
        // The constant string is checked, the key set and the types too.
        assert!(!matches(&shape, r#"{"degrees": 21.5, "unit": "F"}"#));
        assert!(!matches(&shape, r#"{"degrees": "warm", "unit": "C"}"#));
        assert!(!matches(&shape, r#"{"degrees": 21.5}"#));
        assert!(!matches(
            &shape,
            r#"{"degrees": 21.5, "unit": "C", "extra": 1}"#
        ));
    }

    #[test]
    fn varying_strings_and_booleans_are_matched_by_type() {
        let shape = shape_of(&[
            r#"{"id": "a", "on": true, "tags": [1, "x"]}"#,
            r#"{"id": "b\"q", "on": false, "tags": [2, "x"]}"#,
        ]);
        assert!(matches(
            &shape,
            r#"{"id": "zz", "on": true, "tags": [7, "x"]}"#
        ));
        assert!(!matches(
            &shape,
            r#"{"id": 3, "on": true, "tags": [7, "x"]}"#
        ));
        assert!(!matches(&shape, r#"{"id": "zz", "on": true, "tags": [7]}"#));
    }

    #[test]
    fn objects_with_other_keys_are_any() {
        assert_eq!(shape_of(&[r#"{"a": 1}"#, r#"{"b": 1}"#]), PayloadShape::Any);
        assert_eq!(shape_of(&[r#"{"a": 1}"#, "online"]), PayloadShape::Any);
    }

    #[test]
    fn text_is_constant_numeric_or_any() {
        assert_eq!(
            shape_of(&["online", "online"]),
            PayloadShape::ConstantText("online".to_string())
        );
        assert_eq!(shape_of(&["online", "offline"]), PayloadShape::Any);
        let numbers = shape_of(&["21.5", "-3", "1e2"]);
        assert_eq!(
            numbers,
            PayloadShape::Number {
                low: -3.0,
                high: 100.0
            }
        );
        assert!(matches(&numbers, "42.125"));
        assert!(!matches(&numbers, "warm"));
        // A JSON string or boolean on its own is text to the scenario.
        assert_eq!(
            shape_of(&["true"]),
            PayloadShape::ConstantText("true".to_string())
        );
        assert_eq!(PayloadShape::of(&[0xff, 0xfe]), PayloadShape::Any);
    }

    #[test]
    fn same_kind_decides_what_may_merge() {
        let reading = PayloadShape::of(br#"{"v": 1}"#);
        assert!(reading.same_kind(&PayloadShape::of(br#"{"v": 2}"#)));
        assert!(!reading.same_kind(&PayloadShape::of(br#"{"w": 2}"#)));
        assert!(!reading.same_kind(&PayloadShape::of(b"1")));
        assert!(PayloadShape::of(b"on").same_kind(&PayloadShape::of(b"off")));
    }
}
