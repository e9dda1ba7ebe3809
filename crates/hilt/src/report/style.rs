//! Colours for `replay`'s labels on a terminal. Whether standard output
//! takes them is anstream's decision, the one clap makes for its help: not
//! when it is not a terminal, not when NO_COLOR is set to anything but the
//! empty string, not for TERM=dumb; CLICOLOR_FORCE forces them.

use anstyle::{AnsiColor, Style};

/// Paints `replay`'s labels, or leaves them plain.
#[derive(Clone, Copy, Debug)]
pub struct Palette {
    enabled: bool,
}

/// What a label says about its scenario.
#[derive(Clone, Copy, Debug)]
pub enum Tone {
    Good,
    Bad,
    Warning,
}

impl Palette {
    /// Colours if standard output takes them.
    pub fn for_stdout() -> Self {
        let choice = anstream::AutoStream::choice(&std::io::stdout());
        Palette {
            enabled: choice != anstream::ColorChoice::Never,
        }
    }

    /// No colours.
    pub fn plain() -> Self {
        Palette { enabled: false }
    }

    /// `text` in the colour of `tone`, if colours are on.
    pub fn paint(self, tone: Tone, text: &str) -> String {
        if !self.enabled {
            return text.to_owned();
        }
        let colour = match tone {
            Tone::Good => AnsiColor::Green,
            Tone::Bad => AnsiColor::Red,
            Tone::Warning => AnsiColor::Yellow,
        };
        let style = Style::new().fg_color(Some(colour.into())).bold();
        format!("{style}{text}{style:#}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_unless_enabled() {
        assert_eq!(
            Palette { enabled: false }.paint(Tone::Bad, "FAIL "),
            "FAIL "
        );
        let painted = Palette { enabled: true }.paint(Tone::Bad, "FAIL ");
        assert!(
            painted.starts_with("\u{1b}[") && painted.contains("FAIL "),
            "{painted:?}"
        );
        assert!(painted.ends_with("\u{1b}[0m"), "{painted:?}");
    }
}
