//! Durations as scenario files write them: `250us`, `500ms`, `2s`, `1m`,
//! `1h`, `24h`, and sums such as `1m30s`.
//!
//! The parser lives apart from the validator because apps need it too: a
//! [`Catalog`](crate::Catalog) checking a `config:` entry such as
//! `interval: 60s` should accept exactly what `wait:` accepts.
//!
//! The rules, chosen where the language page is silent:
//!
//! - units are `h`, `m`, `s`, `ms` and `us` (`µs` is accepted as a spelling
//!   of `us`); there are no days, write `24h` or `48h`;
//! - a sum lists each unit at most once, largest first (`1h30m`, not
//!   `30m1h`), so a slip such as `1m1m` is caught;
//! - a number may have a fraction (`1.5s` is `1500ms`) as long as the result
//!   is a whole number of nanoseconds;
//! - a bare `0` is zero, because "no time" needs no unit; any other number
//!   without a unit is an error, since `wait: 5` could mean 5s or 5ms;
//! - no spaces, no signs: negative durations do not exist.

use std::time::Duration;

const NANOS_PER_SECOND: u128 = 1_000_000_000;

/// The units, largest first, with their length in nanoseconds.
const UNITS: [(&str, u128); 5] = [
    ("h", 3_600 * NANOS_PER_SECOND),
    ("m", 60 * NANOS_PER_SECOND),
    ("s", NANOS_PER_SECOND),
    ("ms", 1_000_000),
    ("us", 1_000),
];

/// Why a text is not a duration.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DurationError {
    /// Nothing was written.
    #[error("it is empty; write a number with a unit, like 2s")]
    Empty,
    /// A leading `-`.
    #[error("durations cannot be negative; write a time from now, like 2s")]
    Negative,
    /// A number other than 0 with no unit after it.
    #[error("'{number}' has no unit; write it with one, like {number}s or {number}ms")]
    MissingUnit { number: String },
    /// A unit (or other text) with no number in front of it.
    #[error("expected a number before '{found}'; write a number with a unit, like 2s")]
    MissingNumber { found: String },
    /// A unit that is not one of `h`, `m`, `s`, `ms`, `us`.
    #[error("unknown unit '{unit}'; use h, m, s, ms or us, as in 1m30s")]
    UnknownUnit { unit: String },
    /// A character that has no place in a duration, such as a space.
    #[error("unexpected {found:?}; write a duration without spaces, like 1m30s")]
    UnexpectedCharacter { found: char },
    /// A unit repeated, or a larger unit after a smaller one.
    #[error("'{unit}' is out of order; give each unit once, largest first, like 1h30m")]
    UnitOrder { unit: String },
    /// A fraction that does not come out as whole nanoseconds.
    #[error("it is finer than one nanosecond; round it")]
    TooFine,
    /// More than about 584 years.
    #[error("it is too long (more than 584 years)")]
    Overflow,
}

/// Parses a duration such as `1m30s`.
pub fn parse_duration(text: &str) -> Result<Duration, DurationError> {
    if text.is_empty() {
        return Err(DurationError::Empty);
    }
    if text.starts_with('-') {
        return Err(DurationError::Negative);
    }
    if text.bytes().all(|byte| byte.is_ascii_digit()) {
        return if text.bytes().all(|byte| byte == b'0') {
            Ok(Duration::ZERO)
        } else {
            Err(DurationError::MissingUnit {
                number: text.to_string(),
            })
        };
    }

    let mut rest = text;
    let mut total: u128 = 0;
    // Index into UNITS of the smallest unit seen so far; the next must be smaller.
    let mut last_unit: Option<usize> = None;
    while !rest.is_empty() {
        let whole_len = rest.bytes().take_while(u8::is_ascii_digit).count();
        let (whole, after_whole) = rest.split_at(whole_len);
        let (fraction, after_number) = match after_whole.strip_prefix('.') {
            Some(after_dot) => {
                let fraction_len = after_dot.bytes().take_while(u8::is_ascii_digit).count();
                after_dot.split_at(fraction_len)
            }
            None => ("", after_whole),
        };
        let number_len = rest.len() - after_number.len();
        if whole.is_empty() && fraction.is_empty() {
            return Err(match rest.chars().next() {
                Some(found) if found.is_alphabetic() || found == '.' => {
                    DurationError::MissingNumber {
                        found: rest.chars().take_while(|c| !c.is_ascii_digit()).collect(),
                    }
                }
                Some(found) => DurationError::UnexpectedCharacter { found },
                None => DurationError::Empty,
            });
        }
        let unit_len: usize = after_number
            .chars()
            .take_while(|c| c.is_alphabetic())
            .map(char::len_utf8)
            .sum();
        let (unit, after_unit) = after_number.split_at(unit_len);
        if unit.is_empty() {
            return Err(match after_number.chars().next() {
                Some(found) => DurationError::UnexpectedCharacter { found },
                None => DurationError::MissingUnit {
                    number: rest[..number_len].to_string(),
                },
            });
        }
        let unit = if unit == "µs" { "us" } else { unit };
        let Some(unit_index) = UNITS.iter().position(|(name, _)| *name == unit) else {
            return Err(DurationError::UnknownUnit {
                unit: unit.to_string(),
            });
        };
        if last_unit.is_some_and(|last| unit_index <= last) {
            return Err(DurationError::UnitOrder {
                unit: unit.to_string(),
            });
        }
        last_unit = Some(unit_index);
        total = total
            .checked_add(nanoseconds(whole, fraction, UNITS[unit_index].1)?)
            .ok_or(DurationError::Overflow)?;
        rest = after_unit;
    }

    let seconds = u64::try_from(total / NANOS_PER_SECOND).map_err(|_| DurationError::Overflow)?;
    // The remainder is below 10^9, so it fits.
    let nanos = (total % NANOS_PER_SECOND) as u32;
    Ok(Duration::new(seconds, nanos))
}

/// `whole.fraction` times a unit, in nanoseconds.
fn nanoseconds(whole: &str, fraction: &str, unit: u128) -> Result<u128, DurationError> {
    let mut value: u128 = 0;
    for digit in whole.bytes() {
        value = value
            .checked_mul(10)
            .and_then(|value| value.checked_add(u128::from(digit - b'0')))
            .ok_or(DurationError::Overflow)?;
    }
    let mut total = value.checked_mul(unit).ok_or(DurationError::Overflow)?;
    let fraction = fraction.trim_end_matches('0');
    if !fraction.is_empty() {
        // A unit is at most 3.6e12 ns, so more than 13 significant fraction
        // digits can never come out whole.
        if fraction.len() > 13 {
            return Err(DurationError::TooFine);
        }
        let scale = 10u128.pow(fraction.len() as u32);
        let digits: u128 = fraction
            .bytes()
            .fold(0, |acc, digit| acc * 10 + u128::from(digit - b'0'));
        let scaled = digits * unit;
        if !scaled.is_multiple_of(scale) {
            return Err(DurationError::TooFine);
        }
        total = total
            .checked_add(scaled / scale)
            .ok_or(DurationError::Overflow)?;
    }
    Ok(total)
}

/// Writes a duration the way a scenario file would, largest unit first
/// (`1m30s`, `250us`, `0s`), so reports quote durations in the file's own terms.
///
/// What [`parse_duration`] reads back is the same duration.
pub fn format_duration(duration: Duration) -> String {
    if duration.is_zero() {
        return "0s".to_string();
    }
    let seconds = duration.as_secs();
    let nanos = duration.subsec_nanos();
    let mut text = String::new();
    let parts = [
        (seconds / 3_600, "h"),
        (seconds / 60 % 60, "m"),
        (seconds % 60, "s"),
        (u64::from(nanos / 1_000_000), "ms"),
    ];
    for (value, unit) in parts {
        if value > 0 {
            text.push_str(&format!("{value}{unit}"));
        }
    }
    let micros = nanos / 1_000 % 1_000;
    let rest_nanos = nanos % 1_000;
    if rest_nanos > 0 {
        let fraction = format!("{rest_nanos:03}");
        text.push_str(&format!("{micros}.{}us", fraction.trim_end_matches('0')));
    } else if micros > 0 {
        text.push_str(&format!("{micros}us"));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(text: &str, expected: Result<Duration, DurationError>) {
        assert_eq!(parse_duration(text), expected, "parsing {text:?}");
    }

    #[test]
    fn single_units() {
        check("250us", Ok(Duration::from_micros(250)));
        check("250µs", Ok(Duration::from_micros(250)));
        check("500ms", Ok(Duration::from_millis(500)));
        check("2s", Ok(Duration::from_secs(2)));
        check("1m", Ok(Duration::from_secs(60)));
        check("1h", Ok(Duration::from_secs(3_600)));
        check("24h", Ok(Duration::from_secs(86_400)));
        check("90s", Ok(Duration::from_secs(90)));
    }

    #[test]
    fn sums() {
        check("1m30s", Ok(Duration::from_secs(90)));
        check("1h1m1s1ms1us", Ok(Duration::new(3_661, 1_001_000)));
        check("2s500ms", Ok(Duration::from_millis(2_500)));
    }

    #[test]
    fn fractions() {
        check("1.5s", Ok(Duration::from_millis(1_500)));
        check("0.25ms", Ok(Duration::from_micros(250)));
        check("1.5us", Ok(Duration::from_nanos(1_500)));
        check("2.000s", Ok(Duration::from_secs(2)));
        check(".5s", Ok(Duration::from_millis(500)));
        check("1.s", Ok(Duration::from_secs(1)));
        check("0.0001us", Err(DurationError::TooFine));
        check("1.00000000000000000000001h", Err(DurationError::TooFine));
    }

    #[test]
    fn zero() {
        check("0", Ok(Duration::ZERO));
        check("000", Ok(Duration::ZERO));
        check("0s", Ok(Duration::ZERO));
        check("0ms", Ok(Duration::ZERO));
    }

    #[test]
    fn errors() {
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

    #[test]
    fn no_panic_on_odd_text() {
        for text in [
            "..", ".", "1.", "1..s", "µ", "1µ", "1é", "٣s", "1s\n", "\u{0}", "1.5.5s",
        ] {
            let _ = parse_duration(text);
        }
    }

    #[test]
    fn format_reads_back() {
        for text in [
            "0s",
            "250us",
            "500ms",
            "2s",
            "1m",
            "1h",
            "24h",
            "1m30s",
            "1h1m1s1ms1us",
            "1.5us",
            "2s0.001us",
        ] {
            let duration = match parse_duration(text) {
                Ok(duration) => duration,
                Err(error) => panic!("{text}: {error}"),
            };
            let written = format_duration(duration);
            assert_eq!(
                parse_duration(&written),
                Ok(duration),
                "{text} written as {written}"
            );
        }
        assert_eq!(format_duration(Duration::from_secs(90)), "1m30s");
        assert_eq!(format_duration(Duration::from_millis(1_500)), "1s500ms");
        assert_eq!(format_duration(Duration::from_nanos(1_500)), "1.5us");
        assert_eq!(format_duration(Duration::ZERO), "0s");
    }
}
