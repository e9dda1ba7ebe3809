//! MQTT topic names (what a message is published to) and topic filters
//! (what an expectation listens to), checked by the rules of MQTT 3.1.1
//! section 4.7.
//!
//! The checks are here rather than borrowed from the firmware crate so that
//! the language does not depend on the firmware's MQTT client.

/// The longest topic MQTT can carry: its length is a 16-bit number.
const MAX_TOPIC_BYTES: usize = 65_535;

/// Why a text is not a valid topic name or filter.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TopicError {
    /// The empty string is neither a name nor a filter.
    #[error("a topic cannot be empty")]
    Empty,
    /// Longer than 65535 bytes.
    #[error("a topic can be at most 65535 bytes long")]
    TooLong,
    /// U+0000 is forbidden anywhere in a topic.
    #[error("a topic cannot contain the NUL character")]
    Nul,
    /// A `+` or `#` in a topic name; wildcards only make sense in filters.
    #[error(
        "a topic name cannot contain the wildcard '{wildcard}'; wildcards are for expect filters"
    )]
    WildcardInName { wildcard: char },
    /// `#` not alone in the last level, as in `a/#/b` or `a/b#`.
    #[error("'#' must be the whole last level, like a/#")]
    MultiLevelWildcardMisplaced,
    /// `+` sharing its level with other characters, as in `a/b+`.
    #[error("'+' must be a whole level, like a/+/c")]
    SingleLevelWildcardMisplaced,
}

fn check_common(topic: &str) -> Result<(), TopicError> {
    if topic.is_empty() {
        return Err(TopicError::Empty);
    }
    if topic.len() > MAX_TOPIC_BYTES {
        return Err(TopicError::TooLong);
    }
    if topic.contains('\0') {
        return Err(TopicError::Nul);
    }
    Ok(())
}

/// Checks a topic a message can be published to, such as `green/btn/0`.
pub fn validate_topic_name(name: &str) -> Result<(), TopicError> {
    check_common(name)?;
    match name.chars().find(|c| *c == '+' || *c == '#') {
        Some(wildcard) => Err(TopicError::WildcardInName { wildcard }),
        None => Ok(()),
    }
}

/// Checks a filter a subscription or expectation can use, such as
/// `devices/+/temperature/degrees` or `devices/#`.
pub fn validate_filter(filter: &str) -> Result<(), TopicError> {
    check_common(filter)?;
    let levels: Vec<&str> = filter.split('/').collect();
    let last = levels.len() - 1;
    for (index, level) in levels.iter().enumerate() {
        if level.contains('#') && (*level != "#" || index != last) {
            return Err(TopicError::MultiLevelWildcardMisplaced);
        }
        if level.contains('+') && *level != "+" {
            return Err(TopicError::SingleLevelWildcardMisplaced);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(validate_topic_name("green/btn/0"), Ok(()));
        assert_eq!(validate_topic_name("/"), Ok(()));
        assert_eq!(validate_topic_name("a//b"), Ok(()));
        assert_eq!(validate_topic_name("with space"), Ok(()));
        assert_eq!(validate_topic_name(""), Err(TopicError::Empty));
        assert_eq!(
            validate_topic_name("a/+/b"),
            Err(TopicError::WildcardInName { wildcard: '+' })
        );
        assert_eq!(
            validate_topic_name("a/#"),
            Err(TopicError::WildcardInName { wildcard: '#' })
        );
        assert_eq!(validate_topic_name("a\0b"), Err(TopicError::Nul));
        assert_eq!(
            validate_topic_name(&"a".repeat(65_536)),
            Err(TopicError::TooLong)
        );
    }

    #[test]
    fn filters() {
        for good in [
            "#",
            "+",
            "a/#",
            "a/+/b",
            "+/+",
            "/+",
            "+/#",
            "devices/+/temperature/degrees",
            "a",
        ] {
            assert_eq!(validate_filter(good), Ok(()), "{good}");
        }
        assert_eq!(validate_filter(""), Err(TopicError::Empty));
        assert_eq!(
            validate_filter("a/#/b"),
            Err(TopicError::MultiLevelWildcardMisplaced)
        );
        assert_eq!(
            validate_filter("a/b#"),
            Err(TopicError::MultiLevelWildcardMisplaced)
        );
        assert_eq!(
            validate_filter("a/b+"),
            Err(TopicError::SingleLevelWildcardMisplaced)
        );
        assert_eq!(
            validate_filter("a/++"),
            Err(TopicError::SingleLevelWildcardMisplaced)
        );
    }
}
