//! The hilt scenario language, version 1.
//!
//! A scenario file is YAML. This crate is the only one in hilt that knows
//! YAML: [`parse`] reads the text into marked nodes (every node knows its line
//! and column), then validates it into the typed [`Scenario`] of [`ast`]. A
//! [`Catalog`] answers which apps exist, which parts they have and whether a
//! device's `config:` is acceptable, so that a file naming an unknown app,
//! part or config key is rejected before anything runs.

pub mod ast;
pub use ast::*;

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
}
