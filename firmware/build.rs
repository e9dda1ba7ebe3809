//! Build script of the ESP32-C3 image.
//!
//! Two jobs:
//!
//! 1. Link with esp-hal's linker script (`-Tlinkall.x`), which places the
//!    code, the RAM sections and the vector table where the ESP32-C3 ROM
//!    bootloader expects them.
//! 2. Turn the `HILT_*` environment variables into checked constants in
//!    `$OUT_DIR/settings.rs` (included by `src/settings.rs`). Everything is
//!    checked here, at build time, because a board that boots with a broker
//!    address pointing nowhere fails silently on a desk or in Wokwi; a
//!    missing or malformed setting becomes a `compile_error!` that names the
//!    variable and shows an example instead.
//!
//! An app's settings are its `config:` keys in a scenario, as
//! `HILT_<KEY>` (`interval` is `HILT_INTERVAL`), read with the same rules:
//! durations with the scenario language's own parser
//! (`hilt_scenario::duration`), limits and checks from the firmware core
//! itself (a build-dependency here). A setting left unset is `None`, and
//! the board then keeps the default of the app's `*Config::new`, exactly as
//! a scenario that leaves the key out; so no default is written twice.

use std::env;
use std::fmt::Write as _;
use std::fs;
use std::path::PathBuf;
use std::time::Duration;

use hilt_firmware::apps::{light_status, node_manager, sensor_data};
use hilt_firmware::mqtt::session::MAX_CLIENT_ID_LEN;
use hilt_firmware::mqtt::topic::validate_topic_name;
use hilt_scenario::duration::parse_duration;

/// The longest topic name (or topic prefix) setting; topics are made by
/// appending to it, and the session's topics hold 128 bytes.
const MAX_TOPIC_NAME_SETTING_LEN: usize = 64;

/// The reference apps this image can run, as Cargo features. (The `monitor`
/// app is left out: it is the scenarios' `mosquitto_sub`, subscribed to `#`,
/// and has nothing to do on a board.)
const APPS: &[&str] = &[
    "thermometer",
    "remote-led",
    "sensor-data",
    "light-status",
    "node-manager",
];

const BROKER_EXAMPLE: &str = "e.g. `HILT_BROKER=broker.hivemq.com:1883` (in Wokwi a public \
                              broker such as broker.hivemq.com:1883 or test.mosquitto.org:1883 \
                              is typical)";

fn main() {
    println!("cargo:rustc-link-arg-bins=-Tlinkall.x");
    println!("cargo:rerun-if-changed=build.rs");

    let mut settings = Settings::default();
    let app = settings.app();
    settings.wifi();
    settings.broker();
    settings.client_id();
    settings.duration("keepalive", "KEEPALIVE", Zero::Refused);
    match app {
        Some("thermometer") => {
            settings.choice(
                "unit",
                "UNIT",
                "hilt_firmware::apps::thermometer::Unit",
                &[
                    ("C", "Celsius"),
                    ("c", "Celsius"),
                    ("F", "Fahrenheit"),
                    ("f", "Fahrenheit"),
                ],
            );
            settings.duration("interval", "INTERVAL", Zero::Refused);
        }
        Some("remote-led") => {
            settings.peer();
            settings.text("name", "NAME", |text| topic_level(text, MAX_CLIENT_ID_LEN));
            settings.duration("period", "PERIOD", Zero::Refused);
        }
        Some("sensor-data") => {
            settings.text("sensor_id", "SENSOR_ID", |text| {
                bounded(text, sensor_data::MAX_SENSOR_ID_LEN)?;
                if text.contains('"') {
                    return Err(format!("is {text:?}, but it must not contain quotes"));
                }
                Ok(())
            });
            settings.text("topic", "TOPIC", topic_name);
            settings.duration("interval", "INTERVAL", Zero::Allowed("no periodic samples"));
            settings.choice(
                "qos",
                "QOS",
                "hilt_firmware::mqtt::codec::QoS",
                &[
                    ("0", "AtMostOnce"),
                    ("1", "AtLeastOnce"),
                    ("2", "ExactlyOnce"),
                ],
            );
            settings.number::<u8>("decimals", "DECIMALS", 0..=sensor_data::MAX_DECIMALS);
        }
        Some("light-status") => {
            settings.text("uuid", "UUID", |text| {
                topic_level(text, light_status::MAX_UUID_LEN)
            });
            settings.duration("interval", "INTERVAL", Zero::Refused);
            settings.flag("initially_on", "INITIALLY_ON");
            settings.duration("connect_timeout", "CONNECT_TIMEOUT", Zero::Refused);
            settings.duration("restart_delay", "RESTART_DELAY", Zero::Refused);
            settings.number::<u32>("max_link_attempts", "MAX_LINK_ATTEMPTS", 1..=u32::MAX);
        }
        Some("node-manager") => {
            settings.text("prefix", "PREFIX", topic_name);
            settings.duration("sysinfo_interval", "SYSINFO_INTERVAL", Zero::Allowed("off"));
            settings.blinky_hz();
            settings.choice(
                "log_level",
                "LOG_LEVEL",
                "hilt_firmware::app::LogLevel",
                &[
                    ("error", "Error"),
                    ("warn", "Warn"),
                    ("info", "Info"),
                    ("debug", "Debug"),
                ],
            );
            settings.duration(
                "watchdog_timeout",
                "WATCHDOG_TIMEOUT",
                Zero::Allowed("no watchdog"),
            );
            settings.number::<u32>("safe_mode_after", "SAFE_MODE_AFTER", 0..=u32::MAX);
            settings.duration("healthy_after", "HEALTHY_AFTER", Zero::Refused);
        }
        _ => {}
    }

    // A HILT_* variable the chosen app does not read is most likely a typo
    // or a setting meant for another app: say so, as the simulation reports
    // a `config:` key the app never read. A warning, not an error, because
    // a shell may well keep settings for several boards at once.
    for (name, _) in env::vars() {
        if name.starts_with("HILT_") && !settings.read.contains(&name) {
            println!(
                "cargo:warning={name} is set but the {} app does not read it (it reads {})",
                app.unwrap_or("chosen"),
                settings.read.join(", ")
            );
        }
    }

    let out = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    fs::write(out.join("settings.rs"), settings.finish()).expect("OUT_DIR is writable");
}

/// Whether a duration setting may be zero, and what zero means then.
enum Zero {
    Refused,
    Allowed(&'static str),
}

/// The generated constants, the variables read, and the problems found.
#[derive(Default)]
struct Settings {
    constants: String,
    read: Vec<String>,
    errors: Vec<String>,
}

impl Settings {
    /// Reads a variable, and asks Cargo to build again when it changes.
    fn var(&mut self, name: &str) -> Option<String> {
        println!("cargo:rerun-if-env-changed={name}");
        self.read.push(name.to_owned());
        match env::var(name) {
            Ok(value) => Some(value),
            Err(env::VarError::NotPresent) => None,
            Err(env::VarError::NotUnicode(_)) => {
                self.error(format!("{name} is not valid UTF-8"));
                None
            }
        }
    }

    fn constant(&mut self, doc: &str, name: &str, ty: &str, value: &str) {
        let _ = writeln!(
            self.constants,
            "/// {doc}\n#[allow(dead_code)]\npub const {name}: {ty} = {value};"
        );
    }

    fn error(&mut self, message: String) {
        self.errors.push(message);
    }

    /// The one app chosen by Cargo features.
    fn app(&mut self) -> Option<&'static str> {
        let chosen: Vec<&'static str> = APPS
            .iter()
            .copied()
            .filter(|app| env::var_os(feature_variable(app)).is_some())
            .collect();
        match chosen.as_slice() {
            [app] => {
                self.constant(
                    "The reference app this image runs.",
                    "APP",
                    "&str",
                    &format!("{app:?}"),
                );
                Some(app)
            }
            [] => {
                self.error(format!(
                    "no app chosen: enable exactly one of the features {}, e.g. \
                     `cargo build --release --no-default-features --features remote-led`",
                    APPS.join(", ")
                ));
                None
            }
            several => {
                let other = several
                    .iter()
                    .find(|app| **app != "thermometer")
                    .unwrap_or(&several[0]);
                self.error(format!(
                    "the features {} are all enabled, but the image runs one app; `thermometer` \
                     is the default, so choose another with \
                     `cargo build --release --no-default-features --features {other}`",
                    several.join(", "),
                ));
                None
            }
        }
    }

    fn wifi(&mut self) {
        let ssid = self
            .var("HILT_WIFI_SSID")
            .unwrap_or_else(|| "Wokwi-GUEST".to_owned());
        if ssid.is_empty() || ssid.len() > 32 {
            self.error(format!(
                "HILT_WIFI_SSID must be 1 to 32 bytes, got {} bytes; e.g. HILT_WIFI_SSID=Wokwi-GUEST",
                ssid.len()
            ));
        }
        self.constant(
            "The WiFi network to join.",
            "WIFI_SSID",
            "&str",
            &format!("{ssid:?}"),
        );

        let password = self.var("HILT_WIFI_PASSWORD").unwrap_or_default();
        let hex_key = password.len() == 64 && password.bytes().all(|byte| byte.is_ascii_hexdigit());
        if !(password.is_empty() || (8..=63).contains(&password.len()) || hex_key) {
            self.error(
                "HILT_WIFI_PASSWORD must be empty (an open network such as Wokwi-GUEST), a WPA2 \
                 passphrase of 8 to 63 characters, or 64 hex digits"
                    .to_owned(),
            );
        }
        self.constant(
            "The WiFi password; empty for an open network.",
            "WIFI_PASSWORD",
            "&str",
            &format!("{password:?}"),
        );

        // Wokwi's simulated access point is on channel 6; telling the
        // station saves it a scan of every channel before it associates.
        let channel = match self.var("HILT_WIFI_CHANNEL").as_deref() {
            None | Some("") if ssid == "Wokwi-GUEST" => Some(6),
            None | Some("" | "auto") => None,
            Some(text) => match text.parse::<u8>() {
                Ok(channel @ 1..=14) => Some(channel),
                _ => {
                    self.error(format!(
                        "HILT_WIFI_CHANNEL must be a channel from 1 to 14 or `auto`, got {text:?}; \
                         e.g. HILT_WIFI_CHANNEL=6 (Wokwi-GUEST's channel)"
                    ));
                    None
                }
            },
        };
        self.constant(
            "The access point's channel, if known; `None` scans for it.",
            "WIFI_CHANNEL",
            "Option<u8>",
            &format!("{channel:?}"),
        );
    }

    fn broker(&mut self) {
        let (host, port) = match self.var("HILT_BROKER") {
            None => {
                self.error(format!(
                    "HILT_BROKER is not set: the image needs the MQTT broker to connect to, as \
                     host:port; {BROKER_EXAMPLE}"
                ));
                (String::new(), 1883)
            }
            Some(text) => {
                let (host, port) = match text.rsplit_once(':') {
                    Some((host, port)) => (host, port.parse::<u16>().ok().filter(|port| *port > 0)),
                    None => (text.as_str(), Some(1883)),
                };
                let host_ok = !host.is_empty()
                    && host.len() <= 253
                    && host
                        .bytes()
                        .all(|byte| byte.is_ascii_alphanumeric() || byte == b'.' || byte == b'-');
                match port {
                    Some(port) if host_ok => (host.to_owned(), port),
                    _ => {
                        self.error(format!(
                            "HILT_BROKER must be host:port (a DNS name or an IPv4 address, port 1 \
                             to 65535; the port defaults to 1883), got {text:?}; {BROKER_EXAMPLE}"
                        ));
                        (String::new(), 1883)
                    }
                }
            }
        };
        self.constant(
            "The MQTT broker's DNS name or IPv4 address.",
            "BROKER_HOST",
            "&str",
            &format!("{host:?}"),
        );
        self.constant(
            "The MQTT broker's TCP port.",
            "BROKER_PORT",
            "u16",
            &port.to_string(),
        );
    }

    fn client_id(&mut self) {
        // Required rather than defaulted: the topics of most apps are made
        // from it, so the user has to know it, and on a public broker a
        // shared default would collide with other people's boards.
        let client_id = match self.var("HILT_CLIENT_ID") {
            None => {
                self.error(
                    "HILT_CLIENT_ID is not set: the board's MQTT client id, which also names its \
                     topics (devices/<client id>/... for the thermometer, <client id>/btn/0 for \
                     remote-led); e.g. `HILT_CLIENT_ID=probe`"
                        .to_owned(),
                );
                String::new()
            }
            Some(text) => {
                if let Err(problem) = topic_level(&text, MAX_CLIENT_ID_LEN) {
                    self.error(format!(
                        "HILT_CLIENT_ID {problem}; e.g. `HILT_CLIENT_ID=probe`"
                    ));
                }
                text
            }
        };
        self.constant(
            "The MQTT client id, which also names the app's topics.",
            "CLIENT_ID",
            "&str",
            &format!("{client_id:?}"),
        );
    }

    fn peer(&mut self) {
        let peer = match self.var("HILT_PEER") {
            None => {
                self.error(
                    "HILT_PEER is not set: the remote-led app lights its LED from the button of \
                     the board named by HILT_PEER (it subscribes to <peer>/btn/0); e.g. \
                     `HILT_CLIENT_ID=blue HILT_PEER=green` for one board and \
                     `HILT_CLIENT_ID=green HILT_PEER=blue` for the other"
                        .to_owned(),
                );
                String::new()
            }
            Some(text) => {
                if let Err(problem) = topic_level(&text, MAX_CLIENT_ID_LEN) {
                    self.error(format!("HILT_PEER {problem}; e.g. `HILT_PEER=green`"));
                }
                text
            }
        };
        self.constant(
            "`peer`: the board whose button drives the LED.",
            "PEER",
            "&str",
            &format!("{peer:?}"),
        );
    }

    /// An optional text setting, checked by `check`.
    fn text(&mut self, key: &str, name: &str, check: impl Fn(&str) -> Result<(), String>) {
        let variable = format!("HILT_{name}");
        let value = self.var(&variable).and_then(|text| match check(&text) {
            Ok(()) => Some(text),
            Err(problem) => {
                self.error(format!("{variable} {problem}"));
                None
            }
        });
        self.constant(
            &format!("`{key}` ({variable}); `None` keeps the app's default."),
            name,
            "Option<&str>",
            &format!("{value:?}"),
        );
    }

    /// An optional duration setting, as the simulation's
    /// `ConfigReader::duration` reads it: the scenario language's syntax.
    fn duration(&mut self, key: &str, name: &str, zero: Zero) {
        let variable = format!("HILT_{name}");
        let value = self
            .var(&variable)
            .and_then(|text| match parse_duration(&text) {
                Ok(duration) if duration.is_zero() && matches!(zero, Zero::Refused) => {
                    self.error(format!(
                        "{variable} must be longer than zero; e.g. {variable}=60s"
                    ));
                    None
                }
                Ok(duration) => Some(duration),
                Err(error) => {
                    self.error(format!("{variable}={text:?} is not a duration: {error}"));
                    None
                }
            });
        let micros =
            value.map(|duration: Duration| u64::try_from(duration.as_micros()).unwrap_or(u64::MAX));
        let zero_means = match zero {
            Zero::Refused => String::new(),
            Zero::Allowed(meaning) => format!(" Zero: {meaning}."),
        };
        self.constant(
            &format!(
                "`{key}` ({variable}), in microseconds; `None` keeps the app's default.{zero_means}"
            ),
            &format!("{name}_MICROS"),
            "Option<u64>",
            &format!("{micros:?}"),
        );
    }

    /// An optional setting with a fixed set of spellings, generated as a
    /// value of the core's own type.
    fn choice(&mut self, key: &str, name: &str, ty: &str, choices: &[(&str, &str)]) {
        let variable = format!("HILT_{name}");
        let value = self.var(&variable).and_then(|text| {
            let found = choices.iter().find(|(spelling, _)| *spelling == text);
            if found.is_none() {
                let spellings: Vec<&str> = choices.iter().map(|(spelling, _)| *spelling).collect();
                self.error(format!(
                    "{variable}={text:?} is not one of {}",
                    spellings.join(", ")
                ));
            }
            found.map(|(_, variant)| format!("{ty}::{variant}"))
        });
        let value = match value {
            Some(variant) => format!("Some({variant})"),
            None => "None".to_owned(),
        };
        self.constant(
            &format!("`{key}` ({variable}); `None` keeps the app's default."),
            name,
            &format!("Option<{ty}>"),
            &value,
        );
    }

    /// An optional whole number within `range`.
    fn number<T>(&mut self, key: &str, name: &str, range: std::ops::RangeInclusive<T>)
    where
        T: std::str::FromStr + PartialOrd + std::fmt::Display + std::fmt::Debug,
    {
        let variable = format!("HILT_{name}");
        let value = self
            .var(&variable)
            .and_then(|text| match text.parse::<T>() {
                Ok(number) if range.contains(&number) => Some(number),
                _ => {
                    self.error(format!(
                        "{variable}={text:?} must be a whole number from {} to {}",
                        range.start(),
                        range.end()
                    ));
                    None
                }
            });
        self.constant(
            &format!("`{key}` ({variable}); `None` keeps the app's default."),
            name,
            &format!("Option<{}>", std::any::type_name::<T>()),
            &format!("{value:?}"),
        );
    }

    /// An optional yes/no setting.
    fn flag(&mut self, key: &str, name: &str) {
        let variable = format!("HILT_{name}");
        let value = self.var(&variable).and_then(|text| match text.as_str() {
            "true" | "True" | "TRUE" => Some(true),
            "false" | "False" | "FALSE" => Some(false),
            _ => {
                self.error(format!("{variable}={text:?} must be true or false"));
                None
            }
        });
        self.constant(
            &format!("`{key}` ({variable}); `None` keeps the app's default."),
            name,
            "Option<bool>",
            &format!("{value:?}"),
        );
    }

    /// node-manager's `blinky_hz`: a number from 0 (off) to the app's maximum.
    fn blinky_hz(&mut self) {
        let variable = "HILT_BLINKY_HZ";
        let max = node_manager::MAX_BLINKY_HZ;
        let value = self
            .var(variable)
            .and_then(|text| match text.parse::<f32>() {
                Ok(hz) if hz.is_finite() && (0.0..=max).contains(&hz) => Some(hz),
                _ => {
                    self.error(format!(
                        "{variable}={text:?} must be a number from 0 (off) to {max}"
                    ));
                    None
                }
            });
        self.constant(
            &format!("`blinky_hz` ({variable}); `None` keeps the app's default."),
            "BLINKY_HZ",
            "Option<f32>",
            &format!("{value:?}"),
        );
    }

    fn finish(self) -> String {
        let mut text =
            String::from("// Generated by build.rs from the HILT_* environment variables.\n\n");
        for error in &self.errors {
            let _ = writeln!(text, "compile_error!({error:?});");
        }
        text.push_str(&self.constants);
        text
    }
}

/// The environment variable Cargo sets for an enabled feature.
fn feature_variable(feature: &str) -> String {
    format!("CARGO_FEATURE_{}", feature.to_uppercase().replace('-', "_"))
}

/// One topic level: not empty, no `/`, `+` or `#`, at most `max` bytes; the
/// rule the simulation applies to `peer` and `name` (bundled.rs), so a
/// setting that works in a scenario works on the board.
fn topic_level(text: &str, max: usize) -> Result<(), String> {
    if text.is_empty()
        || text.contains(['/', '+', '#'])
        || text.len() > max
        || text.contains(char::is_control)
    {
        return Err(format!(
            "is {text:?}, but it must be one topic level (not empty, no '/', '+', '#' or control \
             characters, at most {max} bytes)"
        ));
    }
    Ok(())
}

/// A topic name the core accepts (no wildcards, not empty), at most 64
/// bytes, so that the topics an app makes from it fit its buffers; the
/// rule bundled.rs applies to `topic` and `prefix`.
fn topic_name(text: &str) -> Result<(), String> {
    bounded(text, MAX_TOPIC_NAME_SETTING_LEN)?;
    validate_topic_name(text)
        .map_err(|error| format!("is {text:?}, not a valid topic name ({error:?})"))
}

/// Text of 1 to `max` bytes: the core would cut a longer one, so it is
/// refused rather than changed behind the user's back.
fn bounded(text: &str, max: usize) -> Result<(), String> {
    if text.is_empty() || text.len() > max {
        return Err(format!(
            "is {} bytes long, but it must be 1 to {max} bytes",
            text.len()
        ));
    }
    Ok(())
}
