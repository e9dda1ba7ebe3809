//! Durations as scenario files write them: `250us`, `500ms`, `2s`, `1m`,
//! `1h`, `24h`, and sums such as `1m30s`.
//!
//! The rules, chosen where the scenario language page is silent:
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

use core::fmt;
use core::time::Duration;

const NANOS_PER_SECOND: u128 = 1_000_000_000;

/// The units, largest first, with their length in nanoseconds.
const UNITS: [(&str, u128); 5] = [
    ("h", 3_600 * NANOS_PER_SECOND),
    ("m", 60 * NANOS_PER_SECOND),
    ("s", NANOS_PER_SECOND),
    ("ms", 1_000_000),
    ("us", 1_000),
];

/// Why a text is not a duration; borrows the piece of the text it names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DurationError<'a> {
    /// Nothing was written.
    Empty,
    /// A leading `-`.
    Negative,
    /// A number other than 0 with no unit after it.
    MissingUnit { number: &'a str },
    /// A unit (or other text) with no number in front of it.
    MissingNumber { found: &'a str },
    /// A unit that is not one of `h`, `m`, `s`, `ms`, `us`.
    UnknownUnit { unit: &'a str },
    /// A character that has no place in a duration, such as a space.
    UnexpectedCharacter { found: char },
    /// A unit repeated, or a larger unit after a smaller one.
    UnitOrder { unit: &'a str },
    /// A fraction that does not come out as whole nanoseconds.
    TooFine,
    /// More than about 584 years.
    Overflow,
}

impl fmt::Display for DurationError<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DurationError::Empty => f.write_str("it is empty; write a number with a unit, like 2s"),
            DurationError::Negative => {
                f.write_str("durations cannot be negative; write a time from now, like 2s")
            }
            DurationError::MissingUnit { number } => write!(
                f,
                "'{number}' has no unit; write it with one, like {number}s or {number}ms"
            ),
            DurationError::MissingNumber { found } => write!(
                f,
                "expected a number before '{found}'; write a number with a unit, like 2s"
            ),
            DurationError::UnknownUnit { unit } => write!(
                f,
                "unknown unit '{unit}'; use h, m, s, ms or us, as in 1m30s"
            ),
            DurationError::UnexpectedCharacter { found } => write!(
                f,
                "unexpected {found:?}; write a duration without spaces, like 1m30s"
            ),
            DurationError::UnitOrder { unit } => write!(
                f,
                "'{unit}' is out of order; give each unit once, largest first, like 1h30m"
            ),
            DurationError::TooFine => f.write_str("it is finer than one nanosecond; round it"),
            DurationError::Overflow => f.write_str("it is too long (more than 584 years)"),
        }
    }
}

impl core::error::Error for DurationError<'_> {}

/// Parses a duration such as `1m30s`.
pub fn parse_duration(text: &str) -> Result<Duration, DurationError<'_>> {
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
            Err(DurationError::MissingUnit { number: text })
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
                    let found_len: usize = rest
                        .chars()
                        .take_while(|c| !c.is_ascii_digit())
                        .map(char::len_utf8)
                        .sum();
                    DurationError::MissingNumber {
                        found: &rest[..found_len],
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
                    number: &rest[..number_len],
                },
            });
        }
        let unit = if unit == "µs" { "us" } else { unit };
        let Some(unit_index) = UNITS.iter().position(|(name, _)| *name == unit) else {
            return Err(DurationError::UnknownUnit { unit });
        };
        if last_unit.is_some_and(|last| unit_index <= last) {
            return Err(DurationError::UnitOrder { unit });
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
fn nanoseconds(whole: &str, fraction: &str, unit: u128) -> Result<u128, DurationError<'static>> {
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

/// A duration written the way a scenario file would write it, largest unit
/// first (`1m30s`, `250us`, `0s`), so reports quote durations in the file's
/// own terms.
///
/// What [`parse_duration`] reads back is the same duration.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WrittenDuration(pub Duration);

impl fmt::Display for WrittenDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let duration = self.0;
        if duration.is_zero() {
            return f.write_str("0s");
        }
        let seconds = duration.as_secs();
        let nanos = duration.subsec_nanos();
        let parts = [
            (seconds / 3_600, "h"),
            (seconds / 60 % 60, "m"),
            (seconds % 60, "s"),
            (u64::from(nanos / 1_000_000), "ms"),
        ];
        for (value, unit) in parts {
            if value > 0 {
                write!(f, "{value}{unit}")?;
            }
        }
        let micros = nanos / 1_000 % 1_000;
        let rest_nanos = nanos % 1_000;
        if rest_nanos > 0 {
            // The nanoseconds as the three digits after the point, without
            // trailing zeros: 500 is `.5`, 50 is `.05`.
            let (mut digits, mut width) = (rest_nanos, 3);
            while digits % 10 == 0 {
                digits /= 10;
                width -= 1;
            }
            write!(f, "{micros}.{digits:0width$}us")?;
        } else if micros > 0 {
            write!(f, "{micros}us")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    extern crate std;

    use std::string::{String, ToString};

    use super::*;

    fn check(text: &str, expected: Result<Duration, DurationError<'_>>) {
        assert_eq!(parse_duration(text), expected, "parsing {text:?}");
    }

    fn written(duration: Duration) -> String {
        WrittenDuration(duration).to_string()
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
        check("5", Err(DurationError::MissingUnit { number: "5" }));
        check("1m30", Err(DurationError::MissingUnit { number: "30" }));
        check("s", Err(DurationError::MissingNumber { found: "s" }));
        check("ms5", Err(DurationError::MissingNumber { found: "ms" }));
        check("2d", Err(DurationError::UnknownUnit { unit: "d" }));
        check("2S", Err(DurationError::UnknownUnit { unit: "S" }));
        check("2sec", Err(DurationError::UnknownUnit { unit: "sec" }));
        check(
            "1m 30s",
            Err(DurationError::UnexpectedCharacter { found: ' ' }),
        );
        check(
            "+1s",
            Err(DurationError::UnexpectedCharacter { found: '+' }),
        );
        check("30s1m", Err(DurationError::UnitOrder { unit: "m" }));
        check("1m1m", Err(DurationError::UnitOrder { unit: "m" }));
        check("1us1µs", Err(DurationError::UnitOrder { unit: "us" }));
        check(
            "99999999999999999999999999999999999999999h",
            Err(DurationError::Overflow),
        );
        check("9999999999999999999h", Err(DurationError::Overflow));
    }

    #[test]
    fn messages() {
        let message = |text| parse_duration(text).unwrap_err().to_string();
        assert_eq!(
            message("2x"),
            "unknown unit 'x'; use h, m, s, ms or us, as in 1m30s"
        );
        assert_eq!(
            message("5"),
            "'5' has no unit; write it with one, like 5s or 5ms"
        );
        assert_eq!(
            message("1m 30s"),
            "unexpected ' '; write a duration without spaces, like 1m30s"
        );
        assert_eq!(
            message("soon"),
            "expected a number before 'soon'; write a number with a unit, like 2s"
        );
    }

    #[test]
    fn no_panic_on_odd_text() {
        for text in [
            "..", ".", "1.", "1..s", "µ", "1µ", "1é", "٣s", "1s\n", "\u{0}", "1.5.5s", "é5",
        ] {
            let _ = parse_duration(text);
        }
    }

    #[test]
    fn written_reads_back() {
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
            "0.05us",
        ] {
            let duration = match parse_duration(text) {
                Ok(duration) => duration,
                Err(error) => panic!("{text}: {error}"),
            };
            let written = written(duration);
            assert_eq!(
                parse_duration(&written),
                Ok(duration),
                "{text} written as {written}"
            );
        }
        assert_eq!(written(Duration::from_secs(90)), "1m30s");
        assert_eq!(written(Duration::from_millis(1_500)), "1s500ms");
        assert_eq!(written(Duration::from_nanos(1_500)), "1.5us");
        assert_eq!(written(Duration::from_nanos(50)), "0.05us");
        assert_eq!(written(Duration::from_nanos(2_001)), "2.001us");
        assert_eq!(written(Duration::ZERO), "0s");
    }
}
