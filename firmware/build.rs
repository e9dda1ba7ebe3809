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
//!    missing or malformed setting becomes a `compile_error!` naming the
//!    variable and showing an example instead.
//!
//! The app's settings are the `config:` keys the simulation reads for the
//! same app (`crates/hilt-runner/src/bundled.rs`), with the same defaults
//! and the same duration syntax (`hilt_scenario::duration`, so `interval:
//! 60s` in a scenario and `HILT_INTERVAL=60s` here mean the same).

use std::env;
use std::fmt::Write as _;
use std::fs;
use std::path::PathBuf;
use std::time::Duration;

use hilt_scenario::duration::parse_duration;

/// The MQTT client id limit of the firmware core's session
/// (`hilt_firmware::mqtt::session::MAX_CLIENT_ID_LEN`); a longer id would be
/// cut there, so it is refused here rather than changed behind the user's back.
const MAX_CLIENT_ID_LEN: usize = 64;

/// The reference apps this image can run, as Cargo features.
const APPS: &[&str] = &[
    "thermometer",
    "remote-led",
    // Other reference apps (sensor-data, light-status, node-manager) get a
    // feature here, in Cargo.toml and in src/board.rs once their modules
    // exist in crates/hilt-firmware/src/apps/.
];

/// Settings every app reads.
const COMMON: &[&str] = &[
    "HILT_WIFI_SSID",
    "HILT_WIFI_PASSWORD",
    "HILT_WIFI_CHANNEL",
    "HILT_BROKER",
    "HILT_CLIENT_ID",
    "HILT_KEEPALIVE",
];

fn main() {
    println!("cargo:rustc-link-arg-bins=-Tlinkall.x");
    println!("cargo:rerun-if-changed=build.rs");

    let mut settings = Settings::default();
    let app = settings.app();
    let mut known: Vec<&str> = COMMON.to_vec();
    for name in COMMON {
        println!("cargo:rerun-if-env-changed={name}");
    }

    settings.wifi();
    settings.broker();
    let client_id = settings.client_id();
    settings.duration(
        "HILT_KEEPALIVE",
        "KEEPALIVE_MICROS",
        "keepalive",
        Duration::from_secs(60),
    );
    match app {
        Some("thermometer") => {
            known.extend(["HILT_UNIT", "HILT_INTERVAL"]);
            settings.unit();
            settings.duration(
                "HILT_INTERVAL",
                "INTERVAL_MICROS",
                "interval",
                Duration::from_secs(60),
            );
        }
        Some("remote-led") => {
            known.extend(["HILT_PEER", "HILT_NAME", "HILT_PERIOD"]);
            settings.peer();
            settings.name(&client_id);
            settings.duration(
                "HILT_PERIOD",
                "PERIOD_MICROS",
                "period",
                Duration::from_millis(500),
            );
        }
        _ => {}
    }
    for name in &known {
        println!("cargo:rerun-if-env-changed={name}");
    }
    // A HILT_* variable the chosen app does not read is most likely a typo
    // or a setting meant for another app: say so, as the simulation reports
    // a `config:` key the app never read. A warning, not an error, because
    // a shell may well keep settings for several boards at once.
    for (name, _) in env::vars() {
        if name.starts_with("HILT_") && !known.contains(&name.as_str()) {
            println!(
                "cargo:warning={name} is set but the {} app does not read it (it reads {})",
                app.unwrap_or("chosen"),
                known.join(", ")
            );
        }
    }

    let out = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    fs::write(out.join("settings.rs"), settings.finish()).expect("OUT_DIR is writable");
}

/// The generated constants and the problems found on the way.
#[derive(Default)]
struct Settings {
    constants: String,
    errors: Vec<String>,
}

impl Settings {
    fn constant(&mut self, doc: &str, name: &str, ty: &str, value: &str) {
        let _ = writeln!(
            self.constants,
            "/// {doc}\npub const {name}: {ty} = {value};"
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
                self.error(format!(
                    "the features {} are all enabled, but the image runs one app; `thermometer` \
                     is the default, so choose another with \
                     `cargo build --release --no-default-features --features {}`",
                    several.join(", "),
                    several
                        .iter()
                        .find(|app| **app != "thermometer")
                        .unwrap_or(&several[0])
                ));
                None
            }
        }
    }

    fn wifi(&mut self) {
        let ssid = optional("HILT_WIFI_SSID").unwrap_or_else(|| "Wokwi-GUEST".to_owned());
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

        let password = optional("HILT_WIFI_PASSWORD").unwrap_or_default();
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
        let channel = match optional("HILT_WIFI_CHANNEL").as_deref() {
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
        const EXAMPLE: &str = "e.g. `HILT_BROKER=broker.hivemq.com:1883` (in Wokwi a public broker \
                               such as broker.hivemq.com:1883 or test.mosquitto.org:1883 is typical)";
        let (host, port) = match optional("HILT_BROKER") {
            None => {
                self.error(format!(
                    "HILT_BROKER is not set: the image needs the MQTT broker to connect to, as \
                     host:port; {EXAMPLE}"
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
                             to 65535; the port defaults to 1883), got {text:?}; {EXAMPLE}"
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

    fn client_id(&mut self) -> String {
        // Required rather than defaulted: the topics the board publishes on
        // are made from it, so the user has to know it, and on a public
        // broker a shared default would collide with other people's boards.
        let client_id = match optional("HILT_CLIENT_ID") {
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
        client_id
    }

    /// A duration setting, as the simulation's `ConfigReader::duration`
    /// reads it: the scenario language's syntax, longer than zero.
    fn duration(&mut self, variable: &str, constant: &str, key: &str, default: Duration) {
        let value = match optional(variable) {
            None => default,
            Some(text) => match parse_duration(&text) {
                Ok(duration) if !duration.is_zero() => duration,
                Ok(_) => {
                    self.error(format!(
                        "{variable} must be longer than zero; e.g. {variable}=60s"
                    ));
                    default
                }
                Err(error) => {
                    self.error(format!("{variable}={text:?} is not a duration: {error}"));
                    default
                }
            },
        };
        let micros = u64::try_from(value.as_micros()).unwrap_or(u64::MAX);
        self.constant(
            &format!("`{key}`, in microseconds ({variable})."),
            constant,
            "u64",
            &micros.to_string(),
        );
    }

    fn unit(&mut self) {
        let celsius = match optional("HILT_UNIT").as_deref() {
            None | Some("F" | "f") => false,
            Some("C" | "c") => true,
            Some(other) => {
                self.error(format!("HILT_UNIT={other:?} is not a unit; use C or F"));
                false
            }
        };
        self.constant(
            "`unit`: true for Celsius, false for Fahrenheit (the default).",
            "UNIT_CELSIUS",
            "bool",
            &celsius.to_string(),
        );
    }

    fn peer(&mut self) {
        let peer = match optional("HILT_PEER") {
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

    fn name(&mut self, client_id: &str) {
        let name = match optional("HILT_NAME") {
            None => client_id.to_owned(),
            Some(text) => {
                if let Err(problem) = topic_level(&text, MAX_CLIENT_ID_LEN) {
                    self.error(format!("HILT_NAME {problem}; e.g. `HILT_NAME=blue`"));
                }
                text
            }
        };
        self.constant(
            "`name`: the first level of the button topic; the client id by default.",
            "NAME",
            "&str",
            &format!("{name:?}"),
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

/// The variable's value; `None` when unset (an empty value counts as set,
/// so `HILT_WIFI_PASSWORD=` means an open network).
fn optional(name: &str) -> Option<String> {
    match env::var(name) {
        Ok(value) => Some(value),
        Err(env::VarError::NotPresent) => None,
        Err(env::VarError::NotUnicode(_)) => Some(String::from("\u{FFFD}")),
    }
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
