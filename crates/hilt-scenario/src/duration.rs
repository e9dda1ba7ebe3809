//! Durations as scenario files write them: `250us`, `500ms`, `2s`, `1m`,
//! `1h`, `24h`, and sums such as `1m30s`.
//!
//! The grammar itself is `hilt_grammar::duration` (its module documentation
//! has the rules), shared with the firmware core and the image's build
//! script so that `interval: 60s` in a scenario and `HILT_INTERVAL=60s` in
//! a build are read by the same code. This module keeps the language's own
//! face of it: an error that owns its text, as the rest of the language's
//! errors do, and durations written back as `String`s.
//!
//! The parser lives apart from the validator because apps need it too: a
//! [`Catalog`](crate::Catalog) checking a `config:` entry such as
//! `interval: 60s` should accept exactly what `wait:` accepts.

use std::fmt;
use std::time::Duration;

use hilt_grammar::duration as grammar;

/// Why a text is not a duration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DurationError {
    /// Nothing was written.
    Empty,
    /// A leading `-`.
    Negative,
    /// A number other than 0 with no unit after it.
    MissingUnit { number: String },
    /// A unit (or other text) with no number in front of it.
    MissingNumber { found: String },
    /// A unit that is not one of `h`, `m`, `s`, `ms`, `us`.
    UnknownUnit { unit: String },
    /// A character that has no place in a duration, such as a space.
    UnexpectedCharacter { found: char },
    /// A unit repeated, or a larger unit after a smaller one.
    UnitOrder { unit: String },
    /// A fraction that does not come out as whole nanoseconds.
    TooFine,
    /// More than about 584 years.
    Overflow,
}

impl DurationError {
    /// The grammar's error, which holds the messages.
    fn as_grammar(&self) -> grammar::DurationError<'_> {
        match self {
            DurationError::Empty => grammar::DurationError::Empty,
            DurationError::Negative => grammar::DurationError::Negative,
            DurationError::MissingUnit { number } => grammar::DurationError::MissingUnit { number },
            DurationError::MissingNumber { found } => {
                grammar::DurationError::MissingNumber { found }
            }
            DurationError::UnknownUnit { unit } => grammar::DurationError::UnknownUnit { unit },
            DurationError::UnexpectedCharacter { found } => {
                grammar::DurationError::UnexpectedCharacter { found: *found }
            }
            DurationError::UnitOrder { unit } => grammar::DurationError::UnitOrder { unit },
            DurationError::TooFine => grammar::DurationError::TooFine,
            DurationError::Overflow => grammar::DurationError::Overflow,
        }
    }
}

impl From<grammar::DurationError<'_>> for DurationError {
    fn from(error: grammar::DurationError<'_>) -> Self {
        match error {
            grammar::DurationError::Empty => DurationError::Empty,
            grammar::DurationError::Negative => DurationError::Negative,
            grammar::DurationError::MissingUnit { number } => DurationError::MissingUnit {
                number: number.to_string(),
            },
            grammar::DurationError::MissingNumber { found } => DurationError::MissingNumber {
                found: found.to_string(),
            },
            grammar::DurationError::UnknownUnit { unit } => DurationError::UnknownUnit {
                unit: unit.to_string(),
            },
            grammar::DurationError::UnexpectedCharacter { found } => {
                DurationError::UnexpectedCharacter { found }
            }
            grammar::DurationError::UnitOrder { unit } => DurationError::UnitOrder {
                unit: unit.to_string(),
            },
            grammar::DurationError::TooFine => DurationError::TooFine,
            grammar::DurationError::Overflow => DurationError::Overflow,
        }
    }
}

impl fmt::Display for DurationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.as_grammar().fmt(f)
    }
}

impl std::error::Error for DurationError {}

/// Parses a duration such as `1m30s`.
pub fn parse_duration(text: &str) -> Result<Duration, DurationError> {
    grammar::parse_duration(text).map_err(DurationError::from)
}

/// Writes a duration the way a scenario file would, largest unit first
/// (`1m30s`, `250us`, `0s`), so reports quote durations in the file's own terms.
///
/// What [`parse_duration`] reads back is the same duration.
pub fn format_duration(duration: Duration) -> String {
    grammar::WrittenDuration(duration).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(text: &str, expected: Result<Duration, DurationError>) {
        assert_eq!(parse_duration(text), expected, "parsing {text:?}");
    }

    /// The grammar's own tests cover what parses; these check that every
    /// error arrives here as this crate's owned `DurationError`.
    #[test]
    fn errors() {
        check("250ms", Ok(Duration::from_millis(250)));
        check("0.0001us", Err(DurationError::TooFine));
        check("", Err(DurationError::Empty));
        check("-1s", Err(DurationError::Negative));
        check(
            "5",
            Err(DurationError::MissingUnit {
                number: "5".to_string(),
            }),
        );
        check(
            "1m30",
            Err(DurationError::MissingUnit {
                number: "30".to_string(),
            }),
        );
        check(
            "s",
            Err(DurationError::MissingNumber {
                found: "s".to_string(),
            }),
        );
        check(
            "2d",
            Err(DurationError::UnknownUnit {
                unit: "d".to_string(),
            }),
        );
        check(
            "2S",
            Err(DurationError::UnknownUnit {
                unit: "S".to_string(),
            }),
        );
        check(
            "2sec",
            Err(DurationError::UnknownUnit {
                unit: "sec".to_string(),
            }),
        );
        check(
            "1m 30s",
            Err(DurationError::UnexpectedCharacter { found: ' ' }),
        );
        check(
            "+1s",
            Err(DurationError::UnexpectedCharacter { found: '+' }),
        );
        check(
            "30s1m",
            Err(DurationError::UnitOrder {
                unit: "m".to_string(),
            }),
        );
        check(
            "1m1m",
            Err(DurationError::UnitOrder {
                unit: "m".to_string(),
            }),
        );
        check(
            "99999999999999999999999999999999999999999h",
            Err(DurationError::Overflow),
        );
        check("9999999999999999999h", Err(DurationError::Overflow));
    }

    /// The grammar tests its own round trip; this checks the wrapper.
    #[test]
    fn format_duration_is_the_grammars_written_form() {
        assert_eq!(format_duration(Duration::from_secs(90)), "1m30s");
        assert_eq!(parse_duration("1m30s"), Ok(Duration::from_secs(90)));
    }
}
