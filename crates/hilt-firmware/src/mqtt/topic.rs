//! Topic names and topic filters, as MQTT 3.1.1 defines them in section 4.7.
//!
//! A PUBLISH packet names one concrete topic, while a subscription is a
//! filter that may contain wildcards. The client needs [`filter_matches`]
//! because a received PUBLISH does not say which subscription it arrived
//! through: an application with several subscriptions has to match the topic
//! against its own filters to decide who handles the message.
//!
//! The validators exist so that a bad topic is reported where it is built,
//! with an error that says what is wrong, rather than as a broker silently
//! closing the connection. The codec uses them too, so it never sends or
//! accepts a packet whose topic the specification calls malformed.

use core::fmt;

/// The longest topic name or filter, in bytes. MQTT strings carry a two-byte
/// length prefix, so nothing longer can be put on the wire.
pub const MAX_TOPIC_LENGTH: usize = u16::MAX as usize;

/// Why a topic name or topic filter is not valid under MQTT 3.1.1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TopicError {
    /// The name or filter is empty. MQTT 3.1.1 requires topic names and
    /// filters to be at least one character long (section 4.7.3).
    Empty,
    /// The name or filter is longer than 65,535 bytes, the most that the
    /// two-byte length prefix of an MQTT string can describe.
    TooLong,
    /// The name or filter contains U+0000, which no MQTT string may contain
    /// (section 1.5.3), because C-based brokers treat it as the end of the
    /// string.
    NullCharacter,
    /// A topic name contains `+` or `#`. Wildcards belong in filters only:
    /// a published message goes to exactly one concrete topic (section 4.7.1).
    WildcardInTopicName,
    /// A `#` shares its level with other characters, as in `sport/tennis#`.
    /// The multi-level wildcard must occupy a whole level by itself.
    MultiLevelWildcardNotAlone,
    /// A `#` is followed by further levels, as in `sport/#/ranking`. It
    /// matches everything below its position, so nothing may come after it.
    MultiLevelWildcardNotLast,
    /// A `+` shares its level with other characters, as in `sport+`. The
    /// single-level wildcard must occupy a whole level by itself.
    SingleLevelWildcardNotAlone,
}

impl fmt::Display for TopicError {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        let message = match self {
            TopicError::Empty => "topic is empty",
            TopicError::TooLong => "topic is longer than 65535 bytes",
            TopicError::NullCharacter => "topic contains the null character U+0000",
            TopicError::WildcardInTopicName => "topic name contains a wildcard ('+' or '#')",
            TopicError::MultiLevelWildcardNotAlone => {
                "'#' must occupy a whole topic level by itself"
            }
            TopicError::MultiLevelWildcardNotLast => "'#' must be the last level of a topic filter",
            TopicError::SingleLevelWildcardNotAlone => {
                "'+' must occupy a whole topic level by itself"
            }
        };
        formatter.write_str(message)
    }
}

impl core::error::Error for TopicError {}

/// Checks the rules that topic names and topic filters share: not empty, at
/// most 65,535 bytes, and no U+0000.
fn validate_common(topic: &str) -> Result<(), TopicError> {
    if topic.is_empty() {
        return Err(TopicError::Empty);
    }
    if topic.len() > MAX_TOPIC_LENGTH {
        return Err(TopicError::TooLong);
    }
    // In valid UTF-8 a zero byte can only be the encoding of U+0000.
    if topic.as_bytes().contains(&0) {
        return Err(TopicError::NullCharacter);
    }
    Ok(())
}

/// Checks that `name` is a valid topic name, the kind a PUBLISH packet or a
/// last will carries.
///
/// A topic name must be non-empty, at most 65,535 bytes long, free of U+0000
/// and free of the wildcards `+` and `#`.
pub fn validate_topic_name(name: &str) -> Result<(), TopicError> {
    validate_common(name)?;
    if name.bytes().any(|byte| byte == b'+' || byte == b'#') {
        return Err(TopicError::WildcardInTopicName);
    }
    Ok(())
}

/// Checks that `filter` is a valid topic filter, the kind a SUBSCRIBE or
/// UNSUBSCRIBE packet carries.
///
/// A topic filter must be non-empty, at most 65,535 bytes long and free of
/// U+0000. A `+` must fill a whole level; a `#` must fill a whole level and be
/// the last level.
pub fn validate_filter(filter: &str) -> Result<(), TopicError> {
    validate_common(filter)?;
    let mut levels = filter.split('/').peekable();
    while let Some(level) = levels.next() {
        if level.contains('#') {
            if level != "#" {
                return Err(TopicError::MultiLevelWildcardNotAlone);
            }
            if levels.peek().is_some() {
                return Err(TopicError::MultiLevelWildcardNotLast);
            }
        }
        if level.contains('+') && level != "+" {
            return Err(TopicError::SingleLevelWildcardNotAlone);
        }
    }
    Ok(())
}

/// Whether the topic name `topic` matches the topic filter `filter`, by the
/// rules of MQTT 3.1.1 section 4.7.
///
/// Levels are separated by `/` and compared exactly, so an empty level is a
/// level too. `+` matches exactly one level, which may be empty. `#` matches
/// the rest of the topic, including the parent level itself, so `sport/#`
/// matches `sport` as well as `sport/tennis/player1`. A topic starting with
/// `$` (such as `$SYS/...`) is not matched by a filter starting with a
/// wildcard (section 4.7.2), because those topics are the broker's own and
/// an application subscribing to `#` does not expect them.
///
/// Both arguments are expected to be valid (see [`validate_filter`] and
/// [`validate_topic_name`]); for invalid ones the answer is unspecified, but
/// the function never panics.
pub fn filter_matches(filter: &str, topic: &str) -> bool {
    if topic.starts_with('$') && (filter.starts_with('+') || filter.starts_with('#')) {
        return false;
    }
    let mut filter_levels = filter.split('/');
    let mut topic_levels = topic.split('/');
    loop {
        match (filter_levels.next(), topic_levels.next()) {
            (Some("#"), _) => return true,
            (Some("+"), Some(_)) => {}
            (Some(filter_level), Some(topic_level)) => {
                if filter_level != topic_level {
                    return false;
                }
            }
            (None, None) => return true,
            (Some(_), None) | (None, Some(_)) => return false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 65,536 ASCII bytes: one more than a topic may hold.
    static TOO_LONG: [u8; MAX_TOPIC_LENGTH + 1] = [b'a'; MAX_TOPIC_LENGTH + 1];

    fn too_long() -> &'static str {
        core::str::from_utf8(&TOO_LONG).unwrap()
    }

    fn longest() -> &'static str {
        core::str::from_utf8(&TOO_LONG[..MAX_TOPIC_LENGTH]).unwrap()
    }

    #[test]
    fn valid_topic_names_are_accepted() {
        for name in [
            "a",
            "/",
            "sport/tennis/player1",
            "/finance",
            "finance/",
            "$SYS/broker",
            "a//b",
            " ",
            "ünïcode/✓",
        ] {
            assert_eq!(validate_topic_name(name), Ok(()), "{name}");
        }
        assert_eq!(validate_topic_name(longest()), Ok(()));
    }

    #[test]
    fn invalid_topic_names_are_rejected() {
        assert_eq!(validate_topic_name(""), Err(TopicError::Empty));
        assert_eq!(validate_topic_name(too_long()), Err(TopicError::TooLong));
        assert_eq!(validate_topic_name("a\0b"), Err(TopicError::NullCharacter));
        assert_eq!(
            validate_topic_name("sport/+"),
            Err(TopicError::WildcardInTopicName)
        );
        assert_eq!(
            validate_topic_name("sport/#"),
            Err(TopicError::WildcardInTopicName)
        );
        assert_eq!(
            validate_topic_name("a#b"),
            Err(TopicError::WildcardInTopicName)
        );
    }

    #[test]
    fn valid_filters_are_accepted() {
        for filter in [
            "#",
            "+",
            "sport/tennis/#",
            "sport/+/player1",
            "+/+",
            "/+",
            "+/tennis/#",
            "sport/#",
            "$SYS/#",
            "a//b",
            "/",
        ] {
            assert_eq!(validate_filter(filter), Ok(()), "{filter}");
        }
        assert_eq!(validate_filter(longest()), Ok(()));
    }

    #[test]
    fn invalid_filters_are_rejected() {
        assert_eq!(validate_filter(""), Err(TopicError::Empty));
        assert_eq!(validate_filter(too_long()), Err(TopicError::TooLong));
        assert_eq!(validate_filter("a/\0"), Err(TopicError::NullCharacter));
        assert_eq!(
            validate_filter("sport/tennis#"),
            Err(TopicError::MultiLevelWildcardNotAlone)
        );
        assert_eq!(
            validate_filter("##"),
            Err(TopicError::MultiLevelWildcardNotAlone)
        );
        assert_eq!(
            validate_filter("sport/#/ranking"),
            Err(TopicError::MultiLevelWildcardNotLast)
        );
        assert_eq!(
            validate_filter("#/"),
            Err(TopicError::MultiLevelWildcardNotLast)
        );
        assert_eq!(
            validate_filter("sport+"),
            Err(TopicError::SingleLevelWildcardNotAlone)
        );
        assert_eq!(
            validate_filter("sport/+tennis"),
            Err(TopicError::SingleLevelWildcardNotAlone)
        );
        assert_eq!(
            validate_filter("++"),
            Err(TopicError::SingleLevelWildcardNotAlone)
        );
    }

    /// The examples of MQTT 3.1.1 sections 4.7.1 and 4.7.2.
    #[test]
    fn specification_examples_match() {
        let cases: &[(&str, &str, bool)] = &[
            ("sport/tennis/player1/#", "sport/tennis/player1", true),
            (
                "sport/tennis/player1/#",
                "sport/tennis/player1/ranking",
                true,
            ),
            (
                "sport/tennis/player1/#",
                "sport/tennis/player1/score/wimbledon",
                true,
            ),
            ("sport/#", "sport", true),
            ("#", "sport/tennis", true),
            ("#", "/", true),
            ("sport/tennis/+", "sport/tennis/player1", true),
            ("sport/tennis/+", "sport/tennis/player2", true),
            ("sport/tennis/+", "sport/tennis/player1/ranking", false),
            ("sport/+", "sport", false),
            ("sport/+", "sport/", true),
            ("+/+", "/finance", true),
            ("/+", "/finance", true),
            ("+", "/finance", false),
            ("+/tennis/#", "sport/tennis/player1", true),
            ("+/tennis/#", "sport/football", false),
            ("sport/tennis", "sport/tennis", true),
            ("sport/tennis", "sport/Tennis", false),
            ("sport/tennis", "sport/tennis/", false),
            ("sport/tennis/", "sport/tennis", false),
            ("sport", "sport/tennis", false),
        ];
        for &(filter, topic, expected) in cases {
            assert_eq!(
                filter_matches(filter, topic),
                expected,
                "{filter} vs {topic}"
            );
        }
    }

    #[test]
    fn dollar_topics_are_not_matched_by_leading_wildcards() {
        assert!(!filter_matches("#", "$SYS/broker/clients"));
        assert!(!filter_matches("+/monitor/Clients", "$SYS/monitor/Clients"));
        assert!(filter_matches("$SYS/#", "$SYS/monitor/Clients"));
        assert!(filter_matches("$SYS/monitor/+", "$SYS/monitor/Clients"));
        assert!(filter_matches("$SYS", "$SYS"));
        // Only a leading `$` is special.
        assert!(filter_matches("#", "a/$SYS"));
        assert!(filter_matches("a/+", "a/$b"));
    }

    #[test]
    fn invalid_arguments_do_not_panic() {
        for filter in ["", "#/a", "a#", "++", "/", "\0"] {
            for topic in ["", "a", "/", "$", "+", "#"] {
                let _ = filter_matches(filter, topic);
            }
        }
    }

    #[test]
    fn errors_display_a_message() {
        use core::fmt::Write;
        let errors = [
            TopicError::Empty,
            TopicError::TooLong,
            TopicError::NullCharacter,
            TopicError::WildcardInTopicName,
            TopicError::MultiLevelWildcardNotAlone,
            TopicError::MultiLevelWildcardNotLast,
            TopicError::SingleLevelWildcardNotAlone,
        ];
        for error in errors {
            let mut text = heapless::String::<128>::new();
            write!(text, "{error}").unwrap();
            assert!(!text.is_empty());
        }
    }
}
