//! Problems found in a scenario file, each tied to a place in it.
//!
//! A user fixes a scenario in an editor, so every problem carries the file,
//! the line and the column in the `file:line:column: message` form that
//! editors and terminals turn into links. Validation collects every problem
//! it can find in one pass, so that one run shows everything to fix.

use std::fmt;
use std::path::{Path, PathBuf};

use crate::Location;

/// One problem in a scenario file.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{}", Rendered(self))]
pub struct Diagnostic {
    /// The file as the caller named it, so that messages match what the user typed.
    pub file: PathBuf,
    /// Where the problem is, 1-based. Line 0 means the file as a whole (it
    /// could not be read), and is then left out of the message.
    pub location: Location,
    /// What is wrong and what to do about it, one line.
    pub message: String,
}

impl Diagnostic {
    /// A problem at a place in the file.
    pub fn new(file: &Path, location: Location, message: impl Into<String>) -> Self {
        Diagnostic {
            file: file.to_path_buf(),
            location,
            message: message.into(),
        }
    }

    /// A problem with the file as a whole, such as not being readable.
    pub fn whole_file(file: &Path, message: impl Into<String>) -> Self {
        Diagnostic::new(file, Location::default(), message)
    }
}

/// Renders a diagnostic; a separate type so the `thiserror` attribute stays short.
struct Rendered<'a>(&'a Diagnostic);

impl fmt::Display for Rendered<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let diagnostic = self.0;
        if diagnostic.location.line == 0 {
            write!(f, "{}: {}", diagnostic.file.display(), diagnostic.message)
        } else {
            write!(
                f,
                "{}:{}: {}",
                diagnostic.file.display(),
                diagnostic.location,
                diagnostic.message
            )
        }
    }
}

/// Every problem found in one scenario file, sorted by place.
///
/// Never empty when returned as an error. Displayed one diagnostic per line.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{}", RenderedAll(&self.0))]
pub struct Diagnostics(pub Vec<Diagnostic>);

impl Diagnostics {
    /// Sorts by place (stable, so problems at one place keep the order they
    /// were found in) and drops exact repeats.
    pub(crate) fn sorted(mut diagnostics: Vec<Diagnostic>) -> Self {
        diagnostics.sort_by_key(|diagnostic| diagnostic.location);
        diagnostics.dedup();
        Diagnostics(diagnostics)
    }

    /// The diagnostics in order of place.
    pub fn iter(&self) -> std::slice::Iter<'_, Diagnostic> {
        self.0.iter()
    }

    /// How many problems were found.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Never true for diagnostics returned by [`parse`](crate::parse) or
    /// [`load`](crate::load); there for completeness next to `len`.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl<'a> IntoIterator for &'a Diagnostics {
    type Item = &'a Diagnostic;
    type IntoIter = std::slice::Iter<'a, Diagnostic>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

struct RenderedAll<'a>(&'a [Diagnostic]);

impl fmt::Display for RenderedAll<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (index, diagnostic) in self.0.iter().enumerate() {
            if index > 0 {
                writeln!(f)?;
            }
            write!(f, "{diagnostic}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_file_line_column_message() {
        let diagnostic = Diagnostic::new(
            Path::new("scenarios/a.yaml"),
            Location { line: 3, column: 7 },
            "unknown key 'step'",
        );
        assert_eq!(
            diagnostic.to_string(),
            "scenarios/a.yaml:3:7: unknown key 'step'"
        );
    }

    #[test]
    fn whole_file_problems_have_no_line() {
        let diagnostic = Diagnostic::whole_file(Path::new("a.yaml"), "cannot read it");
        assert_eq!(diagnostic.to_string(), "a.yaml: cannot read it");
    }

    #[test]
    fn sorted_by_place_one_per_line() {
        let file = Path::new("a.yaml");
        let all = Diagnostics::sorted(vec![
            Diagnostic::new(file, Location { line: 9, column: 1 }, "second"),
            Diagnostic::new(file, Location { line: 2, column: 5 }, "first"),
            Diagnostic::new(file, Location { line: 9, column: 1 }, "second"),
        ]);
        assert_eq!(all.to_string(), "a.yaml:2:5: first\na.yaml:9:1: second");
    }
}
