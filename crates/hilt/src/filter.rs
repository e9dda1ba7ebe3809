//! `--filter PATTERN`: which scenario files `replay` and `check` take. A
//! file is taken when its path (as found, `/`-separated) or its scenario's
//! `name:` contains one of the patterns, as plain text (case-sensitive, no
//! wildcards: the same as cargo test's filter, and a path has characters
//! a glob would read as its own).

use std::path::{Path, PathBuf};

use hilt_runner::Registry;

/// The patterns of every `--filter`; a file is taken if any matches.
#[derive(Clone, Debug, Default)]
pub struct Filter {
    patterns: Vec<String>,
}

impl Filter {
    pub fn new(patterns: Vec<String>) -> Self {
        Filter { patterns }
    }

    /// Whether there is no pattern (every file is taken).
    pub fn is_empty(&self) -> bool {
        self.patterns.is_empty()
    }

    /// The patterns, as the user gave them, for messages.
    pub fn describe(&self) -> String {
        self.patterns
            .iter()
            .map(|pattern| format!("'{pattern}'"))
            .collect::<Vec<_>>()
            .join(" or ")
    }

    fn matches_text(&self, text: &str) -> bool {
        self.patterns
            .iter()
            .any(|pattern| text.contains(pattern.as_str()))
    }

    /// Whether `path` is taken by its path, or else by its scenario's name
    /// (the file is loaded for that; an invalid file has no name and is
    /// taken only by its path).
    pub fn takes(&self, path: &Path, registry: &Registry) -> bool {
        if self.is_empty() || self.matches_text(&crate::report::slashed(path)) {
            return true;
        }
        hilt_runner::load(path, registry).is_ok_and(|scenario| self.matches_text(&scenario.name))
    }

    /// The files of `files` taken, in their order.
    pub fn select(&self, files: Vec<PathBuf>, registry: &Registry) -> Vec<PathBuf> {
        if self.is_empty() {
            return files;
        }
        files
            .into_iter()
            .filter(|file| self.takes(file, registry))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn any_pattern_as_plain_text_in_the_slashed_path() {
        let registry = Registry::with_bundled_apps();
        let filter = Filter::new(vec!["led/pa".to_owned(), "[x]".to_owned()]);
        // Neither file exists, so only their paths can match.
        assert!(filter.takes(Path::new("./scenarios/remote-led/pair.yaml"), &registry));
        assert!(
            filter.takes(Path::new("odd/[x].yaml"), &registry),
            "no wildcards"
        );
        assert!(!filter.takes(Path::new("scenarios/remote-led/one.yaml"), &registry));
        assert!(!filter.takes(Path::new("x.yaml"), &registry));
        assert!(Filter::default().takes(Path::new("x.yaml"), &registry));
    }
}
