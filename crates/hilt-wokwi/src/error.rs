//! Why a scenario, or one of its steps, cannot be exported.

use std::path::PathBuf;

/// The scenario cannot be exported: every refusal, in file order.
#[derive(Debug, thiserror::Error)]
#[error("{}", render(.file, .refusals))]
pub struct ExportError {
    /// The scenario file, as given.
    pub file: PathBuf,
    /// At least one.
    pub refusals: Vec<Refusal>,
}

fn render(file: &std::path::Path, refusals: &[Refusal]) -> String {
    let file = file.display();
    let mut lines = vec![format!(
        "{file}: cannot be exported to a Wokwi scenario ({} problem{}):",
        refusals.len(),
        if refusals.len() == 1 { "" } else { "s" }
    )];
    for refusal in refusals {
        match refusal.line {
            Some(line) => lines.push(format!("{file}:{line}: {}", refusal.why)),
            None => lines.push(format!("{file}: {}", refusal.why)),
        }
    }
    lines.join("\n")
}

/// One thing that cannot be exported, at the line of its step (or device).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    /// `None` for settings of the whole file that carry no place
    /// (`time:`, `broker:`).
    pub line: Option<usize>,
    pub why: Why,
}

/// The reasons, each saying what Wokwi lacks.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Why {
    #[error(
        "a Wokwi scenario runs one board, and this scenario has {count} simulated devices; \
         export a scenario with one device"
    )]
    SeveralDevices { count: usize },
    #[error(
        "`{name}` is a fleet (`count: {count}`); a Wokwi scenario runs one board, so export \
         a scenario with one ordinary device, without `count:`"
    )]
    Fleet { name: String, count: u32 },
    #[error(
        "`{device}` is an external device; a Wokwi scenario runs one board of hilt's and \
         cannot act for other MQTT clients"
    )]
    ExternalDevice { device: String },
    #[error(
        "the scenario names the broker {url}; in Wokwi the board connects to the broker \
         its image was built for"
    )]
    ExternalBroker { url: String },
    #[error(
        "`time: real` is for boards hilt does not run; export the `time: virtual` scenario \
         of the board's app"
    )]
    RealTime,
    #[error(
        "`publish` from the harness: a Wokwi scenario cannot publish MQTT messages \
         (it drives parts and reads the board's serial output)"
    )]
    Publish,
    #[error(
        "`{part}.fault: {fault}`: Wokwi's DS18B20 has only a `temperature` control; it \
         cannot be disconnected or made to fail its CRC"
    )]
    Fault { part: String, fault: String },
    #[error(
        "`config: {key}` is a list or a map; the firmware image takes each setting as one \
         `HILT_*` text at build time"
    )]
    ConfigNotText { key: String },
    #[error(
        "the firmware image has no `{app}` app (it runs {}); only a board app can be \
         built for Wokwi",
        hilt_firmware::apps::BOARD_APPS.join(", ")
    )]
    AppNotInImage { app: String },
    #[error(
        "the `{app}` app has no Wokwi image: its registration (`SimulatedApp::wokwi_image`) \
         gives none{}",
        if .with_images.is_empty() { String::new() } else {
            format!(" (the apps with one: {})", .with_images.join(", "))
        }
    )]
    NoWokwiImage {
        app: String,
        with_images: Vec<String>,
    },
    #[error(
        "`config: {key}`: the `{app}` image has no such setting, so the build would not \
         read it"
    )]
    UnknownSetting { app: String, key: String },
    #[error(
        "the `{app}` image cannot be built without `config: {key}` ({}), which this device \
         does not give",
        hilt_firmware::settings::VariableName(.key)
    )]
    MissingSetting { app: String, key: String },
    #[error(
        "{variable}{} would stop the image build: {reason}",
        .value.as_ref().map(|value| format!("={value:?}")).unwrap_or_default()
    )]
    SettingRefused {
        variable: String,
        /// The value as written; `None` for a secret, which is never shown.
        value: Option<String>,
        reason: String,
    },
    #[error(
        "client id {client_id:?} would stop the image build, which also names topics by \
         it: {reason}"
    )]
    ClientIdNotForImage { client_id: String, reason: String },
    #[error(
        "the `{app}` app reads its `{part}`, which Wokwi does not have; in Wokwi the app would \
         see a missing sensor where hilt simulates one"
    )]
    PartNotInWokwi { app: String, part: String },
    #[error(
        "`{setting}`: no Wokwi part stands for it (Wokwi has no TSL2591, and diagram.json wires \
         only the button, the LED and the DS18B20)"
    )]
    NoWokwiPart { setting: String },
    #[error(
        "`{part}` is not on the board: the image's Wokwi wiring has {} of this kind",
        if .known.is_empty() { "no part".to_owned() } else { format!("only {}", .known.join(", ")) }
    )]
    NotOnPinMap {
        part: String,
        /// The wired parts of that kind, each in backquotes.
        known: Vec<String>,
    },
    #[error("`{part}`: GPIO{gpio} is not a pin of Wokwi's ESP32-C3-DevKitM-1")]
    PinNotOnBoard { part: String, gpio: String },
    #[error(
        "`blinks:` measures a rate from every change of the LED; Wokwi's `expect-pin` reads \
         the level at one instant"
    )]
    Blink,
    #[error("`{step}` steps have no Wokwi automation step")]
    FaultStep { step: &'static str },
    #[error(
        "the topic filter `{filter}` has wildcards; a Wokwi `wait-serial` waits for one exact \
         piece of text, which cannot stand for every topic a filter matches"
    )]
    Wildcard { filter: String },
    #[error(
        "`count: {count}` checks how many messages arrive in a window; a Wokwi `wait-serial` \
         can only wait for one more line, and no Wokwi step checks that a line did not appear"
    )]
    Count { count: u32 },
    #[error(
        "`json:` matches keys of the parsed payload whatever its spacing, key order or number \
         format; a Wokwi `wait-serial` matches exact text (write the exact `payload:`, with \
         `qos:` and `retain:`)"
    )]
    Json,
    #[error(
        "`matches: '{pattern}'` is not plain text anchored at the start (`^text` or \
         `^text$`); a Wokwi `wait-serial` matches exact text"
    )]
    Regex { pattern: String },
    #[error(
        "a payload check needs `qos:` and `retain:` too: the serial line is `[hilt] publish \
         <topic> qos=<q> retain=<r> payload=<payload>`, and a Wokwi `wait-serial` matches one \
         unbroken piece of it"
    )]
    PayloadWithoutQosRetain,
    #[error(
        "`retain:` without `qos:`: `qos=` comes between the topic and `retain=` in the serial \
         line, and a Wokwi `wait-serial` matches one unbroken piece of it; give `qos:` too"
    )]
    RetainWithoutQos,
    #[error(
        "`since: start` looks back at messages from before this step, but time has passed \
         since the start (line {line}); a Wokwi `wait-serial` sees only serial output from \
         the moment it starts"
    )]
    SinceStart { line: usize },
    #[error(
        "this expectation also takes messages that arrived during the {what} at line {line}; \
         a Wokwi `wait-serial` sees only serial output from the moment it starts (put the \
         expectation before it, or an action between them)"
    )]
    WindowOpenedEarlier { line: usize, what: &'static str },
}
