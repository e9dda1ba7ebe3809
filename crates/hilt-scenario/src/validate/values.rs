//! Single values and the keys of maps: text, choices, numbers, QoS, JSON
//! and regexes, each checked with a message that names the key and shows an
//! example, and unknown keys with a suggestion.

use marked_yaml::Node;
use marked_yaml::types::{MarkedMappingNode, MarkedScalarNode};

use crate::Location;
use crate::json::to_json;
use crate::raw::{describe, location, quote, quote_exactly, scalar_location};
use crate::scalar::{core_bool, decimal_number};
use crate::suggest::did_you_mean;

use super::*;

impl Validator<'_> {
    /// Reports every key of `map` that is not in `allowed`.
    pub(super) fn unknown_keys(
        &mut self,
        map: &MarkedMappingNode,
        allowed: &[&str],
        context: &str,
    ) {
        for key in map.keys() {
            if !allowed.contains(&key.as_str()) {
                self.unknown_key(key, allowed, context);
            }
        }
    }

    pub(super) fn unknown_key(&mut self, key: &MarkedScalarNode, allowed: &[&str], context: &str) {
        let hint = did_you_mean(key.as_str(), allowed.iter().copied())
            .map(|close| format!("did you mean '{close}'? "))
            .unwrap_or_default();
        self.error(
            scalar_location(key),
            format!(
                "unknown key {} {context}; {hint}expected one of {}",
                quote(key.as_str()),
                allowed.join(", ")
            ),
        );
    }

    /// Of keys that exclude each other, the one given (`Some(None)` when
    /// none is); a reported problem (`None`) when more than one is.
    pub(super) fn alternatives<'m>(
        &mut self,
        map: &'m MarkedMappingNode,
        keys: &[&'static str],
        description: &str,
    ) -> Option<Option<(&'static str, &'m Node)>> {
        let mut present: Vec<(&'static str, Location, &'m Node)> = keys
            .iter()
            .filter_map(|key| {
                let key_node = key_named(map, key)?;
                Some((*key, scalar_location(key_node), map.get_node(key)?))
            })
            .collect();
        present.sort_by_key(|(_, at, _)| *at);
        match present.as_slice() {
            [] => Some(None),
            [(key, _, value)] => Some(Some((*key, *value))),
            [(first, _, _), rest @ ..] => {
                for (key, at, _) in rest {
                    self.error(
                        *at,
                        format!(
                            "{description} are alternatives, but this has both '{first}' and '{key}'; keep one"
                        ),
                    );
                }
                None
            }
        }
    }

    pub(super) fn scalar<'n>(
        &mut self,
        node: &'n Node,
        what: &str,
        expected: &str,
    ) -> Option<&'n MarkedScalarNode> {
        match node {
            Node::Scalar(scalar) => Some(scalar),
            _ => {
                self.error(
                    location(node),
                    format!("`{what}` must be {expected}; got {}", describe(node)),
                );
                None
            }
        }
    }

    /// Any text, as written.
    pub(super) fn text(&mut self, node: &Node, what: &str) -> Option<String> {
        self.scalar(node, what, "text")
            .map(|scalar| scalar.as_str().to_string())
    }

    /// `payload:` text; a map or list gets a hint towards `json:`.
    pub(super) fn payload_text(&mut self, node: &Node, what: &str) -> Option<String> {
        match node {
            Node::Scalar(scalar) => Some(scalar.as_str().to_string()),
            _ => {
                self.error(
                    location(node),
                    format!(
                        "`{what}` is text, but this is {}; to send or match JSON, write it under `json:` instead",
                        describe(node)
                    ),
                );
                None
            }
        }
    }

    /// Non-empty text on one line, for names that appear in reports.
    pub(super) fn one_line_text(&mut self, node: &Node, what: &str) -> Option<String> {
        let text = self.text(node, what)?;
        let trimmed = text.trim();
        if trimmed.is_empty() {
            self.error(
                location(node),
                format!("{what} is empty; give it some text"),
            );
            return None;
        }
        if trimmed.contains(['\n', '\r']) {
            self.error(
                location(node),
                format!("{what} must be one line; move longer text to `about:`"),
            );
            return None;
        }
        Some(trimmed.to_string())
    }

    /// One of a fixed set of words.
    pub(super) fn choice<'o>(
        &mut self,
        node: &Node,
        what: &str,
        options: &[&'o str],
    ) -> Option<&'o str> {
        let expected = match options {
            [only] => format!("`{only}`"),
            [first, second] => format!("{first} or {second}"),
            _ => format!("one of {}", options.join(", ")),
        };
        let scalar = self.scalar(node, what, &expected)?;
        if let Some(found) = options.iter().find(|option| **option == scalar.as_str()) {
            return Some(found);
        }
        let hint = did_you_mean(scalar.as_str(), options.iter().copied())
            .map(|close| format!(" (did you mean '{close}'?)"))
            .unwrap_or_default();
        self.error(
            location(node),
            format!("`{what}` must be {expected}; got {}{hint}", describe(node)),
        );
        None
    }

    pub(super) fn boolean(&mut self, node: &Node, what: &str) -> Option<bool> {
        let scalar = self.scalar(node, what, "true or false")?;
        let value = core_bool(scalar.as_str());
        if value.is_none() {
            self.error(
                location(node),
                format!("`{what}` must be true or false; got {}", describe(node)),
            );
        }
        value
    }

    pub(super) fn number(&mut self, node: &Node, what: &str, example: &str) -> Option<f64> {
        let expected = format!("a number, like {example}");
        let scalar = self.scalar(node, what, &expected)?;
        let value = decimal_number(scalar.as_str());
        if value.is_none() {
            self.error(
                location(node),
                format!("`{what}` must be {expected}; got {}", describe(node)),
            );
        }
        value
    }

    /// A whole number from 0 to `max`, written in decimal.
    pub(super) fn unsigned(&mut self, node: &Node, what: &str, max: u64) -> Option<u64> {
        self.whole_number(node, what, 0, max)
    }

    /// A whole number from `min` to `max`, written in decimal.
    pub(super) fn whole_number(
        &mut self,
        node: &Node,
        what: &str,
        min: u64,
        max: u64,
    ) -> Option<u64> {
        let expected = format!("a whole number from {min} to {max}");
        let scalar = self.scalar(node, what, &expected)?;
        let text = scalar.as_str();
        let value = if !text.is_empty() && text.bytes().all(|byte| byte.is_ascii_digit()) {
            text.parse::<u64>()
                .ok()
                .filter(|value| (min..=max).contains(value))
        } else {
            None
        };
        if value.is_none() {
            self.error(
                location(node),
                format!("`{what}` must be {expected}; got {}", describe(node)),
            );
        }
        value
    }

    pub(super) fn qos(&mut self, node: &Node) -> Option<u8> {
        let scalar = self.scalar(node, "qos", "0, 1 or 2")?;
        match scalar.as_str() {
            "0" => Some(0),
            "1" => Some(1),
            "2" => Some(2),
            _ => {
                self.error(
                    location(node),
                    format!("`qos` must be 0, 1 or 2; got {}", describe(node)),
                );
                None
            }
        }
    }

    pub(super) fn json(&mut self, node: &Node) -> Option<serde_json::Value> {
        match to_json(node) {
            Ok(value) => Some(value),
            Err(problem) => {
                self.error(problem.location, problem.message);
                None
            }
        }
    }

    pub(super) fn regex(&mut self, node: &Node) -> Option<regex::Regex> {
        let pattern = self
            .scalar(node, "matches", "a regular expression")?
            .as_str();
        match regex::Regex::new(pattern) {
            Ok(regex) => Some(regex),
            Err(error) => {
                // The regex crate's message spans lines, pointing into the
                // pattern; the last line says what is wrong.
                let text = error.to_string();
                let reason = text
                    .lines()
                    .last()
                    .unwrap_or("")
                    .trim_start_matches("error: ")
                    .to_string();
                self.error(
                    location(node),
                    format!(
                        "invalid regex {} in `matches`: {reason}",
                        quote_exactly(pattern)
                    ),
                );
                None
            }
        }
    }
}

/// Turns "absent" into `Some(None)` and keeps a failure as `None`.
pub(super) fn optional<T>(value: Option<Option<T>>) -> Option<Option<T>> {
    match value {
        None => Some(None),
        Some(None) => None,
        Some(Some(value)) => Some(Some(value)),
    }
}

pub(super) fn key_named<'m>(
    map: &'m MarkedMappingNode,
    name: &str,
) -> Option<&'m MarkedScalarNode> {
    map.keys().find(|key| key.as_str() == name)
}

pub(super) fn location_of_map(map: &MarkedMappingNode) -> Location {
    let start = crate::raw::marker_location(map.span().start());
    map.keys()
        .next()
        .map(scalar_location)
        .map_or(start, |first| first.min(start))
}
