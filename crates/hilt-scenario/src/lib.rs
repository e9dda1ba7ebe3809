//! The hilt scenario language, version 1.
//!
//! A scenario file is YAML. This crate is the only one in hilt that knows
//! YAML, and it reads a file in two layers:
//!
//! 1. the raw layer (`raw`) parses the text with marked-yaml into nodes that
//!    each know their line and column, and turns YAML syntax errors into
//!    diagnostics that say where and what to do;
//! 2. the validated layer (`validate`) checks those nodes against the
//!    language and builds the typed [`Scenario`] of [`ast`], collecting every
//!    problem it finds rather than stopping at the first.
//!
//! A [`Catalog`] answers which apps exist, which parts they have and whether
//! a device's `config:` is acceptable, so that a file naming an unknown app,
//! part or config key is rejected before anything runs. Every problem is a
//! [`Diagnostic`] that renders as `file:line:column: message`.
//!
//! [`schema`] writes the language as a JSON Schema, for editors; [`draft`]
//! writes a draft scenario from messages seen on a live broker (`hilt record`).
//!
//! [`duration`] and [`topic`] are public because apps checking their own
//! `config:` and the runner writing reports need the same rules.

use std::path::Path;

pub mod ast;
pub mod describe;
mod diagnostic;
pub mod draft;
pub mod duration;
mod file;
mod json;
mod raw;
mod scalar;
pub mod schema;
mod suggest;
pub mod topic;
mod validate;

pub use validate::{BrokerUrl, parse_broker_url, parse_listen_address};

pub use ast::*;
pub use describe::StepDescription;
pub use diagnostic::{Diagnostic, Diagnostics};
pub use file::{MAX_FILE_BYTES, file_problem};
pub use suggest::did_you_mean;

/// Parses and validates scenario text.
///
/// `file` is used only in diagnostics and in [`Scenario::file`]; pass the path
/// as the user gave it so messages point where they expect.
///
/// A byte order mark at the start is skipped. Any character YAML does not
/// allow (the C0 controls but tab, line feed and carriage return; DEL; the
/// C1 controls but NEL; U+FFFE and U+FFFF) is an error at its place, found
/// before the YAML is parsed, so that nothing after it can be lost.
pub fn parse(file: &Path, text: &str, catalog: &dyn Catalog) -> Result<Scenario, Diagnostics> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let root = raw::read(file, text)?;
    validate::validate(file, text, &root, catalog)
}

/// Reads a scenario file, then parses and validates it like [`parse`].
///
/// Only a regular file of at most [`MAX_FILE_BYTES`] is read: anything else
/// at `path` (a folder, a FIFO, a device, a socket) is refused without being
/// opened, and a larger file unread. A file that cannot be read, or is not
/// UTF-8, is reported as a diagnostic like any other problem.
pub fn load(path: &Path, catalog: &dyn Catalog) -> Result<Scenario, Diagnostics> {
    let text = file::read_scenario_text(path)?;
    parse(path, &text, catalog)
}

/// The kind of a simulated part, which decides what steps may name it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PartKind {
    /// `press`, `release`, `click`.
    Button,
    /// `expect: { led: .. }`.
    Led,
    /// `set: temperature`, `set: fault` (`disconnected`, `crc_error`, `none`).
    Ds18b20,
    /// `set: lux`, `set: fault` (`nack`, `none`).
    Tsl2591,
    /// A raw GPIO (`gpio2`): `expect: { pin: .., level: .. }`.
    Pin,
}

/// A part a device of some app has, by name (`button`, `led`, `ds18b20`, `gpio2`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PartDescription {
    pub name: String,
    pub kind: PartKind,
}

/// A problem in an app's `config:`, found by the app's own registration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigProblem {
    pub location: Location,
    pub message: String,
}

/// What the validator needs to know about the firmware apps that can run.
///
/// The runner implements this from its registry of apps; tests can implement
/// it with a fixed list.
pub trait Catalog {
    /// Names of all registered apps, for "unknown app" messages.
    fn app_names(&self) -> Vec<String>;
    /// The parts of a device running `app`, or `None` when no such app exists.
    fn parts(&self, app: &str) -> Option<Vec<PartDescription>>;
    /// Checks a device's `config:` for `app`; unknown keys are problems.
    fn check_config(&self, app: &str, config: &ConfigMap) -> Vec<ConfigProblem>;
    /// The keys `app`'s `config:` takes, for the JSON Schema editors check
    /// files with ([`schema::scenario_schema`]); `None` (the default) when
    /// the catalog cannot tell, and the schema then leaves `config:` open.
    fn config_keys(&self, app: &str) -> Option<Vec<ConfigKey>> {
        let _ = app;
        None
    }
}

/// A key an app's `config:` takes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigKey {
    /// The key as a scenario writes it (`interval`).
    pub name: String,
    /// The app cannot run without it (remote-led's `peer`).
    pub required: bool,
}
