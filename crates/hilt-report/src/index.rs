//! The report's `index.html`: every scenario with its verdict and a link to
//! its page, failures first.

use std::fmt::Write as _;
use std::path::Path;

use crate::html::{count, escape, size, time};
use crate::render::{SCRIPT, STYLE, Shown};

/// A scenario as the index lists it.
pub(crate) struct Line<'a> {
    pub file: &'a Path,
    pub name: &'a str,
    pub page: &'a str,
    /// `None` when it was not run (skipped).
    pub run: Option<Run>,
}

pub(crate) struct Run {
    pub verdict: Shown,
    pub device_time: u64,
    pub messages: usize,
    pub page_bytes: u64,
}

pub(crate) fn page(lines: &[Line<'_>]) -> String {
    let tally = |wanted: Shown| {
        lines
            .iter()
            .filter(|line| line.run.as_ref().is_some_and(|run| run.verdict == wanted))
            .count()
    };
    let (passed, failed, errors) = (
        tally(Shown::Passed),
        tally(Shown::Failed),
        tally(Shown::Error),
    );
    let not_run = lines.iter().filter(|line| line.run.is_none()).count();
    let mut html = String::new();
    let _ = write!(
        html,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>hilt report: {passed} passed, {failed} failed</title><style>{STYLE}</style></head>\n\
         <body data-script=\"not run\"><header><h1>hilt report</h1>\
         <ul class=\"facts\"><li><b>{passed}</b> passed</li><li><b>{failed}</b> failed</li>\
         <li><b>{errors}</b> errors</li><li><b>{not_run}</b> not run</li></ul></header>\
         <table class=\"index\"><tr><th>verdict</th><th>scenario</th><th>file</th>\
         <th>device time</th><th>messages</th><th>page</th></tr>\n"
    );
    // Failures and errors first, then the rest, each in the order given.
    let rank = |line: &Line<'_>| match line.run.as_ref().map(|run| run.verdict) {
        Some(Shown::Failed) => 0,
        Some(Shown::Error) => 1,
        Some(Shown::Passed) => 2,
        None => 3,
    };
    let mut ordered: Vec<&Line<'_>> = lines.iter().collect();
    ordered.sort_by_key(|line| rank(line));
    for line in ordered {
        match &line.run {
            Some(run) => {
                let _ = writeln!(
                    html,
                    "<tr><td><span class=\"verdict {}\">{}</span></td><td><a href=\"{}\">{}</a></td>\
                     <td><code>{}</code></td><td class=\"n\">{}</td><td class=\"n\">{}</td>\
                     <td class=\"n\">{}</td></tr>",
                    run.verdict.class(),
                    run.verdict.word(),
                    escape(line.page),
                    escape(line.name),
                    escape(&line.file.display().to_string()),
                    time(run.device_time),
                    count(run.messages),
                    size(run.page_bytes)
                );
            }
            None => {
                let _ = writeln!(
                    html,
                    "<tr><td><span class=\"verdict skip\">NOT RUN</span></td><td>{}</td>\
                     <td><code>{}</code></td><td></td><td></td><td></td></tr>",
                    escape(line.name),
                    escape(&line.file.display().to_string()),
                );
            }
        }
    }
    let _ = writeln!(
        html,
        "</table><footer>Written by <code>hilt replay --html</code>.</footer>\
         <script>{SCRIPT}</script></body></html>"
    );
    html
}
