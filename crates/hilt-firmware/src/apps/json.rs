//! The little JSON the reference apps need, without an allocator.
//!
//! Writing: [`write_string`] puts a `&str` in quotes with JSON escapes, so a
//! configured name or a topic level that came from the network can never
//! break the document it is written into. Everything else is formatted with
//! `core::fmt` into `heapless::String`.
//!
//! Reading: [`parse_flat_object`] reads the one shape the apps accept, an
//! object of scalar values (`{"blinky_hz": 2.5, "log_level": "debug"}`).
//! serde-json-core would parse into a fixed struct, but the node-manager's
//! `set` must answer an unknown key or a bad value by name, and also reads
//! MQBoard's `key=value` form; both want the pairs one by one, which is
//! all this parser does.
//! Payloads come from the network, so the parser takes any bytes and answers
//! with an error, never a panic: it indexes only through `get`, and reads
//! string contents between ASCII quotes, which are always character
//! boundaries.

use core::fmt::{self, Write};

use heapless::Vec;

/// Writes `text` as a JSON string, quotes included.
pub(crate) fn write_string<W: Write>(out: &mut W, text: &str) -> fmt::Result {
    out.write_char('"')?;
    for character in text.chars() {
        match character {
            '"' => out.write_str("\\\"")?,
            '\\' => out.write_str("\\\\")?,
            '\n' => out.write_str("\\n")?,
            '\r' => out.write_str("\\r")?,
            '\t' => out.write_str("\\t")?,
            control if u32::from(control) < 0x20 => {
                write!(out, "\\u{:04x}", u32::from(control))?;
            }
            other => out.write_char(other)?,
        }
    }
    out.write_char('"')
}

/// At most `max_chars` characters of `text`, cut at a character boundary:
/// how text from the network is quoted in logs and replies.
pub(crate) fn shown(text: &str, max_chars: usize) -> &str {
    match text.char_indices().nth(max_chars) {
        Some((end, _)) => text.get(..end).unwrap_or(text),
        None => text,
    }
}

/// A payload quoted for a log line: UTF-8 cut to `max_chars`, or a marker.
pub(crate) fn shown_bytes(payload: &[u8], max_chars: usize) -> &str {
    match core::str::from_utf8(payload) {
        Ok(text) => shown(text, max_chars),
        Err(_) => "<not UTF-8>",
    }
}

/// A scalar value of a flat JSON object.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Value<'a> {
    /// The number's text, as it appeared (its syntax is the reader's to check).
    Number(&'a str),
    /// A string without escapes, quotes removed.
    String(&'a str),
    Bool(bool),
    Null,
}

/// Why a payload is not a flat JSON object.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ParseError {
    NotUtf8,
    /// Not the syntax of an object, or something after it.
    Syntax,
    /// Nested objects or arrays, or escapes in strings.
    Unsupported,
    /// More pairs than the caller has room for.
    TooManyPairs,
}

/// Trims `text` and reads it as a finite number (`4`, `2.5`, `-1e3`);
/// `None` for anything else, including `NaN` and `inf`.
pub(crate) fn parse_finite_f32(text: &str) -> Option<f32> {
    let text = text.trim();
    if text.is_empty()
        || !text
            .bytes()
            .all(|byte| byte.is_ascii_digit() || matches!(byte, b'.' | b'-' | b'+' | b'e' | b'E'))
    {
        return None;
    }
    text.parse::<f32>().ok().filter(|value| value.is_finite())
}

/// `text` trimmed, without one pair of surrounding double quotes.
pub(crate) fn unquoted(text: &str) -> &str {
    let text = text.trim();
    text.strip_prefix('"')
        .and_then(|rest| rest.strip_suffix('"'))
        .unwrap_or(text)
}

/// Reads `{"key": value, ...}` with scalar values into at most `N` pairs.
pub(crate) fn parse_flat_object<const N: usize>(
    payload: &[u8],
) -> Result<Vec<(&str, Value<'_>), N>, ParseError> {
    let text = core::str::from_utf8(payload).map_err(|_| ParseError::NotUtf8)?;
    let mut reader = Reader { text, position: 0 };
    let mut pairs = Vec::new();
    reader.skip_whitespace();
    reader.expect(b'{')?;
    reader.skip_whitespace();
    if reader.peek() == Some(b'}') {
        reader.position += 1;
    } else {
        loop {
            reader.skip_whitespace();
            let key = reader.string()?;
            reader.skip_whitespace();
            reader.expect(b':')?;
            reader.skip_whitespace();
            let value = reader.value()?;
            pairs
                .push((key, value))
                .map_err(|_| ParseError::TooManyPairs)?;
            reader.skip_whitespace();
            match reader.next() {
                Some(b',') => continue,
                Some(b'}') => break,
                _ => return Err(ParseError::Syntax),
            }
        }
    }
    reader.skip_whitespace();
    if reader.peek().is_some() {
        return Err(ParseError::Syntax);
    }
    Ok(pairs)
}

struct Reader<'a> {
    text: &'a str,
    position: usize,
}

impl<'a> Reader<'a> {
    fn peek(&self) -> Option<u8> {
        self.text.as_bytes().get(self.position).copied()
    }

    fn next(&mut self) -> Option<u8> {
        let byte = self.peek()?;
        self.position += 1;
        Some(byte)
    }

    fn expect(&mut self, wanted: u8) -> Result<(), ParseError> {
        match self.next() {
            Some(byte) if byte == wanted => Ok(()),
            _ => Err(ParseError::Syntax),
        }
    }

    fn skip_whitespace(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.position += 1;
        }
    }

    fn string(&mut self) -> Result<&'a str, ParseError> {
        self.expect(b'"')?;
        let start = self.position;
        loop {
            match self.next() {
                Some(b'"') => break,
                Some(b'\\') => return Err(ParseError::Unsupported),
                Some(byte) if byte < 0x20 => return Err(ParseError::Syntax),
                Some(_) => {}
                None => return Err(ParseError::Syntax),
            }
        }
        // Both ends are ASCII quotes, hence character boundaries.
        self.text
            .get(start..self.position - 1)
            .ok_or(ParseError::Syntax)
    }

    fn value(&mut self) -> Result<Value<'a>, ParseError> {
        match self.peek() {
            Some(b'"') => self.string().map(Value::String),
            Some(b'{' | b'[') => Err(ParseError::Unsupported),
            Some(b'-' | b'0'..=b'9') => {
                let start = self.position;
                while matches!(
                    self.peek(),
                    Some(b'0'..=b'9' | b'.' | b'-' | b'+' | b'e' | b'E')
                ) {
                    self.position += 1;
                }
                self.text
                    .get(start..self.position)
                    .map(Value::Number)
                    .ok_or(ParseError::Syntax)
            }
            _ => {
                for (word, value) in [
                    ("true", Value::Bool(true)),
                    ("false", Value::Bool(false)),
                    ("null", Value::Null),
                ] {
                    let rest = self.text.get(self.position..).unwrap_or("");
                    if rest.starts_with(word) {
                        self.position += word.len();
                        return Ok(value);
                    }
                }
                Err(ParseError::Syntax)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use std::vec::Vec as StdVec;

    use heapless::String;

    use super::*;

    fn escaped(text: &str) -> String<128> {
        let mut out = String::new();
        write_string(&mut out, text).unwrap();
        out
    }

    #[test]
    fn strings_are_escaped() {
        assert_eq!(escaped("lux-1"), "\"lux-1\"");
        assert_eq!(escaped("a\"b\\c"), "\"a\\\"b\\\\c\"");
        assert_eq!(escaped("line\nnext\u{1}"), "\"line\\nnext\\u0001\"");
        assert_eq!(escaped("grüße"), "\"grüße\"");
    }

    #[test]
    fn shown_cuts_at_character_boundaries() {
        assert_eq!(shown("abcdef", 3), "abc");
        assert_eq!(shown("ab", 3), "ab");
        assert_eq!(shown("ééé", 2), "éé");
        assert_eq!(shown_bytes(&[0xff, 0xfe], 5), "<not UTF-8>");
    }

    #[test]
    fn numbers_must_be_finite() {
        assert_eq!(parse_finite_f32(" 4 "), Some(4.0));
        assert_eq!(parse_finite_f32("2.5"), Some(2.5));
        assert_eq!(parse_finite_f32("-1e2"), Some(-100.0));
        for bad in ["", "NaN", "inf", "-inf", "1e99", "4hz", "0x10", "1..2", " "] {
            assert_eq!(parse_finite_f32(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn flat_objects_parse() {
        let pairs = parse_flat_object::<4>(
            br#" {"blinky_hz": 2.5, "log_level" : "debug", "x": true, "y": null} "#,
        )
        .unwrap();
        assert_eq!(
            pairs.as_slice(),
            &[
                ("blinky_hz", Value::Number("2.5")),
                ("log_level", Value::String("debug")),
                ("x", Value::Bool(true)),
                ("y", Value::Null),
            ]
        );
        assert!(parse_flat_object::<4>(b"{}").unwrap().is_empty());
    }

    #[test]
    fn malformed_objects_are_errors() {
        for (bad, error) in [
            (&b"{"[..], ParseError::Syntax),
            (b"", ParseError::Syntax),
            (b"{\"a\": 1,}", ParseError::Syntax),
            (b"{\"a\" 1}", ParseError::Syntax),
            (b"{\"a\": 1} x", ParseError::Syntax),
            (b"{\"a\": tru}", ParseError::Syntax),
            (b"{\"a\": [1]}", ParseError::Unsupported),
            (b"{\"a\": {\"b\": 1}}", ParseError::Unsupported),
            (b"{\"a\\\"\": 1}", ParseError::Unsupported),
            (b"{\"a\": \"unterminated}", ParseError::Syntax),
            (b"{\"a\": 1, \"b\": 2}", ParseError::TooManyPairs),
            (
                &[b'{', b'"', 0xff, b'"', b':', b'1', b'}'],
                ParseError::NotUtf8,
            ),
        ] {
            assert_eq!(
                parse_flat_object::<1>(bad),
                Err(error),
                "{:?}",
                std::string::String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn garbage_never_panics() {
        // A deterministic pseudo-random byte soup, biased towards the bytes
        // the parser cares about, plus every prefix of a valid document.
        let alphabet = b"{}[]\":,. -+0123456789eEtrufalsn\\\x00\xff\xc3\xa9ab";
        let mut state: u32 = 0x1234_5678;
        for length in 0..64 {
            for _ in 0..200 {
                let mut bytes = StdVec::with_capacity(length);
                for _ in 0..length {
                    state ^= state << 13;
                    state ^= state >> 17;
                    state ^= state << 5;
                    bytes.push(alphabet[(state as usize) % alphabet.len()]);
                }
                let _ = parse_flat_object::<4>(&bytes);
                if let Ok(text) = core::str::from_utf8(&bytes) {
                    let _ = parse_finite_f32(text);
                    let _ = unquoted(text);
                }
            }
        }
        let valid = br#"{"blinky_hz": 2.5, "log_level": "debug"}"#;
        for end in 0..valid.len() {
            assert!(parse_flat_object::<4>(&valid[..end]).is_err());
        }
    }
}
