//! How the text of a YAML scalar is read as a number, boolean or null.
//!
//! marked-yaml keeps every scalar as text and records only whether it was
//! written plain or quoted. Outside `json:` the validator reads a scalar by
//! its text alone (`qos: "1"` is `qos: 1`, `payload: 0` is the text `0`).
//! Inside `json:` the YAML 1.2 core schema decides, so that `{v: 1}` is a
//! number and `{v: "1"}` a string; these functions are that schema.

/// `~`, `null`, `Null`, `NULL`, or nothing at all.
pub(crate) fn is_core_null(text: &str) -> bool {
    matches!(text, "" | "~" | "null" | "Null" | "NULL")
}

/// `true`, `True`, `TRUE`, `false`, `False`, `FALSE`; YAML 1.1's `yes`,
/// `on` and friends are plain text in 1.2, and so here.
pub(crate) fn core_bool(text: &str) -> Option<bool> {
    match text {
        "true" | "True" | "TRUE" => Some(true),
        "false" | "False" | "FALSE" => Some(false),
        _ => None,
    }
}

/// True for a decimal integer: `[-+]?[0-9]+`.
pub(crate) fn is_core_decimal_integer(text: &str) -> bool {
    let digits = text.strip_prefix(['-', '+']).unwrap_or(text);
    !digits.is_empty() && digits.bytes().all(|byte| byte.is_ascii_digit())
}

/// `0o17` or `0x1F`, as an unsigned number; `None` when the text is not one.
/// `Some(None)` when it is one but does not fit in 64 bits.
pub(crate) fn core_radix_integer(text: &str) -> Option<Option<u64>> {
    let (digits, radix) = if let Some(digits) = text.strip_prefix("0o") {
        (digits, 8)
    } else if let Some(digits) = text.strip_prefix("0x") {
        (digits, 16)
    } else {
        return None;
    };
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    Some(u64::from_str_radix(digits, radix).ok())
}

/// True for a decimal number with an optional fraction and exponent:
/// `[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?`.
pub(crate) fn is_core_decimal_float(text: &str) -> bool {
    let rest = text.strip_prefix(['-', '+']).unwrap_or(text);
    let whole_len = rest.bytes().take_while(u8::is_ascii_digit).count();
    let rest_after_whole = &rest[whole_len..];
    let (fraction_len, rest) = match rest_after_whole.strip_prefix('.') {
        Some(after_dot) => {
            let fraction_len = after_dot.bytes().take_while(u8::is_ascii_digit).count();
            (fraction_len, &after_dot[fraction_len..])
        }
        None => {
            if whole_len == 0 {
                return false;
            }
            (0, rest_after_whole)
        }
    };
    if whole_len == 0 && fraction_len == 0 {
        return false;
    }
    match rest.strip_prefix(['e', 'E']) {
        None => rest.is_empty(),
        Some(exponent) => is_core_decimal_integer(exponent),
    }
}

/// `.inf`, `-.Inf`, `.NAN` and the like, which JSON cannot carry.
pub(crate) fn is_core_infinity_or_nan(text: &str) -> bool {
    let unsigned = text.strip_prefix(['-', '+']).unwrap_or(text);
    matches!(unsigned, ".inf" | ".Inf" | ".INF") || matches!(text, ".nan" | ".NaN" | ".NAN")
}

/// A finite decimal number, as used for temperatures, lux and tolerances.
pub(crate) fn decimal_number(text: &str) -> Option<f64> {
    if !is_core_decimal_float(text) {
        return None;
    }
    text.parse::<f64>().ok().filter(|value| value.is_finite())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers() {
        for good in [
            "0", "-1", "+2", "22.5", "-10.5", ".5", "5.", "1e3", "1.5E-2", "-0.0",
        ] {
            assert!(decimal_number(good).is_some(), "{good}");
        }
        for bad in [
            "", ".", "-", "e3", "1e", "1e+", "0x10", "inf", ".inf", "NaN", "1_000", " 1", "1 ",
            "1e999", "22.5C",
        ] {
            assert_eq!(decimal_number(bad), None, "{bad}");
        }
    }

    #[test]
    fn radix_integers() {
        assert_eq!(core_radix_integer("0x1F"), Some(Some(31)));
        assert_eq!(core_radix_integer("0o17"), Some(Some(15)));
        assert_eq!(core_radix_integer("0x"), None);
        assert_eq!(core_radix_integer("0x1G"), None);
        assert_eq!(core_radix_integer("0x1FFFFFFFFFFFFFFFF"), Some(None));
        assert_eq!(core_radix_integer("17"), None);
    }

    #[test]
    fn specials() {
        assert!(is_core_null(""));
        assert!(is_core_null("~"));
        assert!(!is_core_null("nil"));
        assert_eq!(core_bool("True"), Some(true));
        assert_eq!(core_bool("yes"), None);
        assert!(is_core_infinity_or_nan("-.inf"));
        assert!(is_core_infinity_or_nan(".NaN"));
        assert!(!is_core_infinity_or_nan("-.nan"));
    }
}
