//! Small helpers for writing HTML and SVG by hand.
//!
//! Escaping is five replacements, written here rather than taken from a
//! crate: the page is plain text in a template, and a templating engine
//! would be the larger dependency for the few places that interpolate.

use std::fmt::Write as _;

/// `text` with the characters HTML gives meaning to escaped, for element
/// content and quoted attribute values alike.
pub(crate) fn escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for character in text.chars() {
        match character {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&#39;"),
            other => escaped.push(other),
        }
    }
    escaped
}

/// `text` cut to `characters` characters, with an ellipsis when cut.
pub(crate) fn cut(text: &str, characters: usize) -> String {
    if text.chars().count() <= characters {
        return text.to_owned();
    }
    let mut short: String = text.chars().take(characters.saturating_sub(1)).collect();
    short.push('…');
    short
}

/// Device time in microseconds, compactly: `12.5s`, `4m 05.5s`,
/// `3h 04m 05s`, `2d 03h 04m`.
pub(crate) fn time(micros: u64) -> String {
    let seconds = micros / 1_000_000;
    let fraction = micros % 1_000_000;
    let (days, hours, minutes, secs) = (
        seconds / 86_400,
        seconds / 3_600 % 24,
        seconds / 60 % 60,
        seconds % 60,
    );
    let mut shown = String::new();
    if days > 0 {
        let _ = write!(shown, "{days}d {hours:02}h {minutes:02}m");
    } else if hours > 0 {
        let _ = write!(shown, "{hours}h {minutes:02}m {secs:02}s");
    } else {
        let seconds_text = if fraction == 0 {
            format!("{secs}")
        } else {
            let digits = format!("{fraction:06}");
            format!("{secs}.{}", digits.trim_end_matches('0'))
        };
        if minutes > 0 {
            let padded = if secs < 10 {
                format!("0{seconds_text}")
            } else {
                seconds_text
            };
            let _ = write!(shown, "{minutes}m {padded}s");
        } else {
            let _ = write!(shown, "{seconds_text}s");
        }
    }
    shown
}

/// A count with thousands separated: `14,400`.
pub(crate) fn count(number: usize) -> String {
    let digits = number.to_string();
    let mut grouped = String::new();
    for (index, digit) in digits.chars().enumerate() {
        if index > 0 && (digits.len() - index).is_multiple_of(3) {
            grouped.push(',');
        }
        grouped.push(digit);
    }
    grouped
}

/// A byte count as people read it: `812 B`, `64.2 kB`, `1.3 MB`.
pub(crate) fn size(bytes: u64) -> String {
    if bytes < 1_000 {
        format!("{bytes} B")
    } else if bytes < 1_000_000 {
        format!("{:.1} kB", bytes as f64 / 1e3)
    } else {
        format!("{:.1} MB", bytes as f64 / 1e6)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_read_as_a_person_would_write_them() {
        assert_eq!(time(0), "0s");
        assert_eq!(time(12_500_000), "12.5s");
        assert_eq!(time(245_500_000), "4m 05.5s");
        assert_eq!(time(11_045_000_000), "3h 04m 05s");
        assert_eq!(time(183_840_000_000), "2d 03h 04m");
    }

    #[test]
    fn text_is_escaped_and_cut() {
        assert_eq!(
            escape("<a href=\"x\">&'"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
        assert_eq!(cut("abcdef", 4), "abc…");
        assert_eq!(cut("abc", 4), "abc");
        assert_eq!(count(14_400), "14,400");
        assert_eq!(count(999), "999");
        assert_eq!(size(64_200), "64.2 kB");
    }
}
