//! "Did you mean" hints for misspelt keys, steps, devices, parts and apps.
//!
//! A plain edit distance (strsim's optimal string alignment) is enough: the
//! candidate lists are short and the typical slip is one or two letters
//! (`stpes`, `relase`, `tempreature`).

/// The candidate closest to `word`, if it is close enough to be a likely
/// misspelling. Case is ignored, so `Wait` suggests `wait`.
///
/// Public so that an app's own `config:` checks can suggest keys the way
/// the language's own messages do.
pub fn did_you_mean<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let word_lower = word.to_lowercase();
    let word_len = word_lower.chars().count();
    let allowed = (word_len / 3).max(1);
    candidates
        .into_iter()
        .filter(|candidate| *candidate != word)
        .map(|candidate| {
            (
                edit_distance(&word_lower, &candidate.to_lowercase()),
                candidate,
            )
        })
        .filter(|(distance, candidate)| {
            *distance <= allowed && *distance < word_len.max(candidate.chars().count())
        })
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, candidate)| candidate)
}

/// Levenshtein distance, with a swap of two neighbouring letters counted as
/// one edit (optimal string alignment), since swaps are the commonest typo.
/// Counted in characters, not bytes.
fn edit_distance(a: &str, b: &str) -> usize {
    strsim::osa_distance(a, b)
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOP: [&str; 7] = [
        "name", "about", "time", "seed", "broker", "devices", "steps",
    ];

    #[test]
    fn close_misspellings_are_suggested() {
        assert_eq!(did_you_mean("step", TOP), Some("steps"));
        assert_eq!(did_you_mean("stpes", TOP), Some("steps"));
        assert_eq!(did_you_mean("devics", TOP), Some("devices"));
        assert_eq!(did_you_mean("Name", TOP), Some("name"));
        assert_eq!(
            did_you_mean("tempreature", ["temperature", "fault"]),
            Some("temperature")
        );
    }

    #[test]
    fn far_words_are_not() {
        assert_eq!(did_you_mean("colour", TOP), None);
        assert_eq!(did_you_mean("x", ["y"]), None);
        assert_eq!(did_you_mean("", TOP), None);
    }

    #[test]
    fn distances() {
        assert_eq!(edit_distance("", ""), 0);
        assert_eq!(edit_distance("abc", ""), 3);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("ab", "ba"), 1);
        // Optimal string alignment, not full Damerau: no edits inside a swap.
        assert_eq!(edit_distance("ca", "abc"), 3);
        // Characters, not bytes.
        assert_eq!(edit_distance("café", "cafe"), 1);
    }
}
