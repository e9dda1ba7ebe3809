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
//!    variable and says what is wrong.
//!
//! An app's settings are its `config:` keys in a scenario, as
//! `HILT_<KEY>` (`interval` is `HILT_INTERVAL`), read by the very code the
//! simulation reads a scenario's `config:` with:
//! `hilt_firmware::settings::read_variables` feeds each variable to the
//! app's settings type (`hilt_firmware::apps::AppSettings`, the app's
//! `*Config`), whose `Settings::set` is the one parser and whose limits are
//! the app's own constants. The accepted `(key, value)` pairs become
//! `APP_SETTINGS`, which the board applies at boot through the same
//! `Settings::set` onto the app's `*Config::new` defaults (board.rs); so no
//! default, parser or limit is written twice, and a setting left unset
//! keeps the default a scenario that leaves the key out gets.
//!
//! With `HILT_TLS=true` (the apps' `tls` setting) the image speaks TLS 1.3
//! to its broker, and `HILT_TLS_CA` must name the file (PEM or DER) of the
//! certificate authority it trusts: its DER is written to
//! `$OUT_DIR/tls_authority.der` for the image to embed, and the build sets
//! the `hilt_tls` cfg. `BUILD_UNIX_SECONDS`, the time of the build, is the
//! clock certificates are checked against (src/tls.rs says why).
//!
//! `HILT_BROKER` is read with `hilt_grammar::parse_broker_address`, the
//! grammar of a scenario's `broker: { url: ... }`. The build-dependencies
//! are hilt-firmware and hilt-grammar, both `no_std` and small: building an
//! image compiles no YAML parser.

use std::env;
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};

use hilt_firmware::apps::{AppSettings, BOARD_APPS};
use hilt_firmware::settings::{self, SettingKey, Tls, VariableReading};
use hilt_grammar::parse_broker_address;

const BROKER_EXAMPLE: &str = "e.g. `HILT_BROKER=broker.hivemq.com:1883` (in Wokwi a public \
                              broker such as broker.hivemq.com:1883 or test.mosquitto.org:1883 \
                              is typical)";

fn main() {
    println!("cargo:rustc-link-arg-bins=-Tlinkall.x");
    println!("cargo:rerun-if-changed=build.rs");

    let mut build = Build::default();
    let app = build.app();
    build.wifi();
    build.broker();
    let client_id = build.client_id();
    let tls = build.app_settings(app, &client_id);
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    build.tls(tls, &out);

    // A HILT_* variable the chosen app does not read is most likely a typo
    // or a setting meant for another app: say so, as the simulation reports
    // a `config:` key the app never read. A warning, not an error, because
    // a shell may well keep settings for several boards at once.
    for (name, _) in env::vars() {
        if name.starts_with("HILT_") && !build.read.contains(&name) {
            println!(
                "cargo:warning={name} is set but the {} app does not read it (it reads {})",
                app.unwrap_or("chosen"),
                build.read.join(", ")
            );
        }
    }

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

    /// The one app chosen by Cargo features.
    fn app(&mut self) -> Option<&'static str> {
        let chosen: Vec<&'static str> = BOARD_APPS
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
                    BOARD_APPS.join(", ")
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
                     topics (devices/<client id>/... for the thermometer, <client id>/btn/0 for \
                     remote-led); e.g. `HILT_CLIENT_ID=probe`"
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
    /// its settings type; the accepted ones become `APP_SETTINGS` (none
    /// when no single app is chosen, which is reported already). True when
    /// they turn TLS on.
    fn app_settings(&mut self, app: Option<&'static str>, client_id: &str) -> bool {
        let mut tls = false;
        let mut accepted: Vec<String> = Vec::new();
        let mut problems = Vec::new();
        match app.and_then(|app| Some((app, AppSettings::new(app, client_id)?))) {
            Some((app, mut app_settings)) => settings::read_variables(
                &mut app_settings,
                |key| self.var(&key.variable().to_string()),
                |key, reading| match reading {
                    VariableReading::Unset => {}
                    VariableReading::Accepted(value) => {
                        if key.name == Tls::ENABLED.name {
                            tls = settings::boolean(value).unwrap_or(false);
                        }
                        accepted.push(format!("({:?}, {value:?})", key.name));
                    }
                    VariableReading::Missing => problems.push(missing(app, key)),
                    // A secret (`password`) is never shown, not even when
                    // it is refused.
                    VariableReading::Refused { error, .. } if key.secret => {
                        problems.push(format!("{}: {error}", key.variable()));
                    }
                    VariableReading::Refused { value, error } => {
                        problems.push(format!("{}={value:?}: {error}", key.variable()));
                    }
                },
            ),
            None => {
                if let Some(app) = app {
                    problems.push(format!(
                        "the firmware core has no settings for the app {app}"
                    ));
                }
            }
        }
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
        tls
    }

    /// With TLS on: the authority's certificate from `HILT_TLS_CA`, as DER
    /// in `out`, the `hilt_tls` cfg, and the build's time.
    fn tls(&mut self, on: bool, out: &Path) {
        println!("cargo:rustc-check-cfg=cfg(hilt_tls)");
        let path = self.var("HILT_TLS_CA");
        let seconds = build_time();
        self.constant(
            "When the image was built, in seconds since 1970: the lower bound of the time \
             that certificates are checked against.",
            "BUILD_UNIX_SECONDS",
            "u64",
            &seconds.to_string(),
        );
        let Some(path) = path.clone().filter(|_| on) else {
            if on {
                self.error(
                    "HILT_TLS is on but HILT_TLS_CA is not set: the file (PEM or DER) of the \
                     certificate authority that issued the broker's certificate, e.g. \
                     `HILT_TLS_CA=ca.pem`"
                        .to_owned(),
                );
            } else if path.is_some() {
                println!(
                    "cargo:warning=HILT_TLS_CA is set but HILT_TLS is not on: the image speaks plain MQTT"
                );
            }
            return;
        };
        println!("cargo:rerun-if-changed={path}");
        match read_authority(Path::new(&path)) {
            Ok(der) => {
                fs::write(out.join("tls_authority.der"), der).expect("OUT_DIR is writable");
                println!("cargo:rustc-cfg=hilt_tls");
            }
            Err(problem) => self.error(format!("HILT_TLS_CA={path:?}: {problem}")),
        }
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

/// The DER certificate in the file at `path`: a PEM `CERTIFICATE` (the
/// first, if there are several), or DER as it is.
fn read_authority(path: &Path) -> Result<Vec<u8>, String> {
    let bytes = fs::read(path).map_err(|error| format!("cannot read it: {error}"))?;
    if !bytes.trim_ascii_start().starts_with(b"-----BEGIN") {
        // A DER certificate is a SEQUENCE; anything else is no certificate
        // the board could use, and would only fail at its first handshake.
        return match bytes.first() {
            Some(0x30) => Ok(bytes),
            _ => Err("neither a PEM nor a DER certificate".to_owned()),
        };
    }
    let blocks = pem::parse_many(&bytes).map_err(|error| format!("not valid PEM: {error}"))?;
    blocks
        .into_iter()
        .find(|block| block.tag() == "CERTIFICATE")
        .map(pem::Pem::into_contents)
        .ok_or_else(|| "the file has no PEM CERTIFICATE block".to_owned())
}

/// Now, in seconds since 1970, or `SOURCE_DATE_EPOCH` when set, so that a
/// reproducible build stays reproducible.
fn build_time() -> u64 {
    println!("cargo:rerun-if-env-changed=SOURCE_DATE_EPOCH");
    env::var("SOURCE_DATE_EPOCH")
        .ok()
        .and_then(|text| text.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |since| since.as_secs())
        })
}

/// Why a required setting is needed, with an example.
fn missing(app: &str, key: &SettingKey) -> String {
    let variable = key.variable();
    match (app, key.name) {
        ("remote-led", "peer") => format!(
            "{variable} is not set: the remote-led app lights its LED from the button of \
             the board named by {variable} (it subscribes to <peer>/btn/0); e.g. \
             `HILT_CLIENT_ID=blue {variable}=green` for one board and \
             `HILT_CLIENT_ID=green {variable}=blue` for the other"
        ),
        _ => format!(
            "{variable} is not set: the {app} app cannot run without `{}`",
            key.name
        ),
    }
}

/// The environment variable Cargo sets for an enabled feature.
fn feature_variable(feature: &str) -> String {
    format!("CARGO_FEATURE_{}", feature.to_uppercase().replace('-', "_"))
}
