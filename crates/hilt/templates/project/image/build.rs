//! Build script of the ESP32-C3 image.
//!
//! Two jobs:
//!
//! 1. Link with esp-hal's linker script (`-Tlinkall.x`).
//! 2. Turn the `HILT_*` environment variables into checked constants in
//!    `$OUT_DIR/settings.rs` (included by `src/settings.rs`): the WiFi
//!    network, the broker (`HILT_BROKER`, read with the scenario language's
//!    own grammar), the client id, and each of the app's settings as
//!    `HILT_<KEY>`, read by the app's own parser (`LampConfig`'s
//!    `Settings::set`), the one a scenario's `config:` is read with. A
//!    missing or malformed setting stops the build with a message naming it.
//!
//! Adapted from hilt's own image (firmware/build.rs in hilt's repository),
//! for one app instead of a choice by Cargo feature.

use std::env;
use std::fmt::Write as _;
use std::fs;
use std::path::PathBuf;

use hilt_firmware::settings::{self, SettingKey, VariableReading};
use hilt_grammar::parse_broker_address;
use {{crate}}_app::LampConfig;

/// The app's name, for messages.
const APP: &str = "lamp";

const BROKER_EXAMPLE: &str = "e.g. `HILT_BROKER=broker.hivemq.com:1883` (in Wokwi a public \
                              broker such as broker.hivemq.com:1883 or test.mosquitto.org:1883 \
                              is typical)";

fn main() {
    println!("cargo:rustc-link-arg-bins=-Tlinkall.x");
    println!("cargo:rerun-if-changed=build.rs");

    let mut build = Build::default();
    build.constant("The app this image runs.", "APP", "&str", &format!("{APP:?}"));
    build.wifi();
    build.broker();
    let client_id = build.client_id();
    build.app_settings(&client_id);

    // A HILT_* variable the chosen app does not read is most likely a typo
    // or a setting meant for another app: say so, as the simulation reports
    // a `config:` key the app never read. A warning, not an error, because
    // a shell may well keep settings for several boards at once.
    for (name, _) in env::vars() {
        if name.starts_with("HILT_") && !build.read.contains(&name) {
            println!(
                "cargo:warning={name} is set but the {APP} app does not read it (it reads {})",
                build.read.join(", ")
            );
        }
    }

    let out = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    fs::write(out.join("settings.rs"), build.finish()).expect("OUT_DIR is writable");
}

/// The generated constants, the variables read, and the problems found.
#[derive(Default)]
struct Build {
    constants: String,
    read: Vec<String>,
    errors: Vec<String>,
}

impl Build {
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
                // The board looks its broker up by DNS `A` record, so an
                // address the grammar takes (an IPv6 one) may still be one
                // it cannot reach.
                let problem = match parse_broker_address(&text) {
                    Ok(address) if address.is_dns_name_or_ipv4() => {
                        Ok((address.host.to_owned(), address.port))
                    }
                    Ok(_) => Err("the board reaches its broker by DNS name or IPv4 address".into()),
                    Err(error) => Err(error.to_string()),
                };
                match problem {
                    Ok(address) => address,
                    Err(reason) => {
                        self.error(format!(
                            "HILT_BROKER must be host:port (a DNS name or an IPv4 address, port 1 \
                             to 65535; the port defaults to 1883; mqtt:// in front is allowed), \
                             got {text:?}: {reason}; {BROKER_EXAMPLE}"
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
        // Required rather than defaulted: the topics of most apps are made
        // from it, so the user has to know it, and on a public broker a
        // shared default would collide with other people's boards.
        let client_id = match self.var("HILT_CLIENT_ID") {
            None => {
                self.error(
                    "HILT_CLIENT_ID is not set: the board's MQTT client id, which also names its \
                     topics (<client id>/lamp); e.g. `HILT_CLIENT_ID=kitchen`"
                        .to_owned(),
                );
                String::new()
            }
            Some(text) => {
                if let Err(error) = settings::client_id(&text) {
                    self.error(format!(
                        "HILT_CLIENT_ID={text:?}: {error}; e.g. `HILT_CLIENT_ID=probe`"
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

    /// The app's own settings, `HILT_<KEY>` for each of its keys, read by
    /// its settings type; the accepted ones become `APP_SETTINGS`.
    fn app_settings(&mut self, client_id: &str) {
        let mut accepted: Vec<String> = Vec::new();
        let mut problems = Vec::new();
        let mut app_settings = LampConfig::new(client_id);
        settings::read_variables(
            &mut app_settings,
            |key| self.var(&key.variable().to_string()),
            |key, reading| match reading {
                VariableReading::Unset => {}
                VariableReading::Accepted(value) => {
                    accepted.push(format!("({:?}, {value:?})", key.name));
                }
                VariableReading::Missing => problems.push(missing(key)),
                // A secret (a password) is never shown, not even when it
                // is refused.
                VariableReading::Refused { error, .. } if key.secret => {
                    problems.push(format!("{}: {error}", key.variable()));
                }
                VariableReading::Refused { value, error } => {
                    problems.push(format!("{}={value:?}: {error}", key.variable()));
                }
            },
        );
        for problem in problems {
            self.error(problem);
        }
        let pairs = format!("&[{}]", accepted.join(", "));
        self.constant(
            "The app's `config:` keys the build was given (`HILT_<KEY>`) and accepted, as \
             (key, value); each is set at boot with the app's own parser, the others keep \
             the app's defaults.",
            "APP_SETTINGS",
            "&[(&str, &str)]",
            &pairs,
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

/// Why a required setting is needed.
fn missing(key: &SettingKey) -> String {
    format!(
        "{} is not set: the {APP} app cannot run without `{}`",
        key.variable(),
        key.name
    )
}
