//! The host board: its settings, read as the image's build reads them, and
//! the chosen app built on hilt-sim's parts as the simulation builds it
//! (crates/hilt-runner/src/bundled.rs), kept on real time.

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use embedded_storage::nor_flash::NorFlash;

use hilt_firmware::app::{Firmware, LogLine, Node};
use hilt_firmware::apps::light_status::LightStatus;
use hilt_firmware::apps::node_manager::NodeManager;
use hilt_firmware::apps::remote_led::RemoteLed;
use hilt_firmware::apps::sensor_data::SensorData;
use hilt_firmware::apps::thermometer::Thermometer;
use hilt_firmware::apps::{AppSettings, BOARD_APPS};
use hilt_firmware::ds18b20::Ds18b20;
use hilt_firmware::onewire::OneWire;
use hilt_firmware::ota::otadata;
use hilt_firmware::partitions::FLASH_SIZE;
use hilt_firmware::pins;
use hilt_firmware::settings::{self, VariableReading};
use hilt_firmware::time::Instant;
use hilt_firmware::tsl2591::Tsl2591;
use hilt_grammar::parse_broker_address;
use hilt_sim::clock::{VirtualClock, VirtualDelay};
use hilt_sim::ds18b20::Ds18b20Model;
use hilt_sim::flash::FlashModel;
use hilt_sim::gpio::{Button, Led};
use hilt_sim::i2c::I2cBus;
use hilt_sim::image::flash_factory_image;
use hilt_sim::onewire::OneWireLine;
use hilt_sim::platform::PlatformControl;
use hilt_sim::tsl2591::Tsl2591Model;

/// The temperature of the simulated DS18B20, in °C: fixed, because the
/// point of the host board is the network glue, not the sensor.
pub const THERMOMETER_CELSIUS: f64 = 21.5;
/// The simulated DS18B20's serial number.
const DS18B20_SERIAL: u64 = 0x00B0_A4D0_0001;

/// What the board runs and where it connects.
#[derive(Debug)]
pub struct BoardSettings {
    pub app: &'static str,
    pub client_id: String,
    pub broker_host: String,
    pub broker_port: u16,
    pub app_settings: AppSettings,
    pub network: NetworkSettings,
    /// The DER certificate of the authority the board trusts for TLS,
    /// read from the file `HILT_TLS_CA` names (PEM or DER); required when
    /// the app's `HILT_TLS` is on, as the image's build requires it.
    pub tls_authority: Option<Vec<u8>>,
    /// The flash chip kept in a file between runs (`HILT_FLASH`,
    /// node-manager only); without it node-manager has no flash.
    pub flash: Option<FlashFile>,
}

/// The board's 4 MiB flash chip, kept in a file: read at start, written
/// back when the app resets the board, as a chip keeps its flash across a
/// reset. A host board stopped any other way (killed) loses what the app
/// wrote since its last reset.
#[derive(Debug)]
pub struct FlashFile {
    pub path: PathBuf,
    /// The whole chip as the file held it; `None` when there is no file
    /// yet: a chip fresh from the factory, which gets node-manager's factory
    /// image in its first slot as over USB.
    pub contents: Option<Vec<u8>>,
}

impl FlashFile {
    /// Reads `HILT_FLASH`; problems go to `problems`.
    fn from_env(
        variable: &impl Fn(&str) -> Option<String>,
        app: Option<&str>,
        problems: &mut Vec<String>,
    ) -> Option<FlashFile> {
        let path = PathBuf::from(variable("HILT_FLASH")?);
        if app.is_some_and(|app| app != "node-manager") {
            problems.push(format!(
                "HILT_FLASH={path:?}: only node-manager keeps settings and updates in flash"
            ));
            return None;
        }
        match std::fs::read(&path) {
            Ok(bytes) if bytes.len() == FLASH_SIZE as usize => Some(FlashFile {
                path,
                contents: Some(bytes),
            }),
            Ok(bytes) => {
                problems.push(format!(
                    "HILT_FLASH={path:?}: holds {} bytes, not a flash chip's {FLASH_SIZE} (4 MiB)",
                    bytes.len()
                ));
                None
            }
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => Some(FlashFile {
                path,
                contents: None,
            }),
            Err(error) => {
                problems.push(format!("HILT_FLASH={path:?}: cannot read it: {error}"));
                None
            }
        }
    }
}

/// The network stack the board runs on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NetworkSettings {
    /// The host kernel's TCP/IP stack (`HILT_NETWORK=kernel`, the default).
    Kernel,
    /// embassy-net, as on the chip, on a TAP device (`HILT_NETWORK=tap`).
    Tap(TapSettings),
}

/// embassy-net's static IPv4 configuration on a TAP device.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TapSettings {
    /// The TAP device (`HILT_TAP`, `tap0` by default), which must exist and
    /// be up, with the host's address on it.
    pub interface: String,
    /// The board's address and prefix length (`HILT_TAP_ADDRESS`,
    /// `192.168.69.2/24` by default).
    pub address: Ipv4Addr,
    pub prefix_length: u8,
    /// The default gateway (`HILT_TAP_GATEWAY`, `192.168.69.1` by default;
    /// `none` for none).
    pub gateway: Option<Ipv4Addr>,
    /// The DNS servers embassy-net asks (`HILT_TAP_DNS`, comma-separated,
    /// at most [`TapSettings::MAX_DNS_SERVERS`]; none by default).
    pub dns_servers: Vec<Ipv4Addr>,
}

impl TapSettings {
    /// As many as embassy-net's static configuration holds.
    pub const MAX_DNS_SERVERS: usize = 3;
}

impl NetworkSettings {
    /// Reads `HILT_NETWORK` and, for `tap`, the `HILT_TAP*` settings;
    /// problems go to `problems`.
    fn from_env(variable: &impl Fn(&str) -> Option<String>, problems: &mut Vec<String>) -> Self {
        match variable("HILT_NETWORK").as_deref() {
            None | Some("kernel") => NetworkSettings::Kernel,
            Some("tap") => {
                let interface = variable("HILT_TAP").unwrap_or_else(|| "tap0".to_owned());
                if interface.is_empty() || interface.len() >= 16 {
                    problems.push(format!(
                        "HILT_TAP={interface:?}: an interface name is 1 to 15 characters"
                    ));
                }
                let (address, prefix_length) = match variable("HILT_TAP_ADDRESS") {
                    None => (Ipv4Addr::new(192, 168, 69, 2), 24),
                    Some(text) => parse_cidr(&text).unwrap_or_else(|| {
                        problems.push(format!(
                            "HILT_TAP_ADDRESS={text:?}: not an IPv4 address with a prefix \
                             length, such as 192.168.69.2/24"
                        ));
                        (Ipv4Addr::UNSPECIFIED, 0)
                    }),
                };
                let gateway = match variable("HILT_TAP_GATEWAY").as_deref() {
                    None => Some(Ipv4Addr::new(192, 168, 69, 1)),
                    Some("none") => None,
                    Some(text) => match text.parse() {
                        Ok(gateway) => Some(gateway),
                        Err(_) => {
                            problems.push(format!(
                                "HILT_TAP_GATEWAY={text:?}: not an IPv4 address (or `none`)"
                            ));
                            None
                        }
                    },
                };
                let mut dns_servers = Vec::new();
                if let Some(text) = variable("HILT_TAP_DNS") {
                    for server in text.split(',').filter(|server| !server.is_empty()) {
                        match server.trim().parse() {
                            Ok(server) => dns_servers.push(server),
                            Err(_) => problems.push(format!(
                                "HILT_TAP_DNS={text:?}: {server:?} is not an IPv4 address"
                            )),
                        }
                    }
                    if dns_servers.len() > TapSettings::MAX_DNS_SERVERS {
                        problems.push(format!(
                            "HILT_TAP_DNS={text:?}: at most {} servers",
                            TapSettings::MAX_DNS_SERVERS
                        ));
                    }
                }
                NetworkSettings::Tap(TapSettings {
                    interface,
                    address,
                    prefix_length,
                    gateway,
                    dns_servers,
                })
            }
            Some(other) => {
                problems.push(format!(
                    "HILT_NETWORK={other:?}: `kernel` (the host's TCP) or `tap` (embassy-net \
                     on a TAP device)"
                ));
                NetworkSettings::Kernel
            }
        }
    }
}

/// `a.b.c.d/n`, with `n` at most 32.
fn parse_cidr(text: &str) -> Option<(Ipv4Addr, u8)> {
    let (address, prefix_length) = text.split_once('/')?;
    let prefix_length: u8 = prefix_length.parse().ok()?;
    (prefix_length <= 32).then_some((address.parse().ok()?, prefix_length))
}

impl BoardSettings {
    /// Reads `HILT_APP`, `HILT_BROKER`, `HILT_CLIENT_ID` and the app's
    /// `HILT_<KEY>` settings through `variable`; every problem found, each
    /// naming its variable, when any is wrong.
    pub fn from_env(variable: impl Fn(&str) -> Option<String>) -> Result<Self, Vec<String>> {
        let mut problems = Vec::new();
        let app = match variable("HILT_APP") {
            Some(name) => match BOARD_APPS.iter().find(|app| **app == name) {
                Some(app) => Some(*app),
                None => {
                    problems.push(format!(
                        "HILT_APP={name:?} is no board app; one of {}",
                        BOARD_APPS.join(", ")
                    ));
                    None
                }
            },
            None => {
                problems.push(format!(
                    "HILT_APP is not set: the app to run, one of {}",
                    BOARD_APPS.join(", ")
                ));
                None
            }
        };
        let client_id = match variable("HILT_CLIENT_ID") {
            Some(text) => {
                if let Err(error) = settings::client_id(&text) {
                    problems.push(format!("HILT_CLIENT_ID={text:?}: {error}"));
                }
                text
            }
            None => {
                problems.push(
                    "HILT_CLIENT_ID is not set: the board's MQTT client id, which also names \
                     its topics"
                        .to_owned(),
                );
                String::new()
            }
        };
        let mut broker = (String::new(), 1883);
        match variable("HILT_BROKER") {
            Some(text) => match parse_broker_address(&text) {
                Ok(address) if address.is_dns_name_or_ipv4() => {
                    broker = (address.host.to_owned(), address.port);
                }
                Ok(_) => problems.push(format!(
                    "HILT_BROKER={text:?}: the board reaches its broker by DNS name or IPv4 \
                     address"
                )),
                Err(error) => problems.push(format!("HILT_BROKER={text:?}: {error}")),
            },
            None => problems
                .push("HILT_BROKER is not set: the broker to connect to, as host:port".to_owned()),
        }
        let network = NetworkSettings::from_env(&variable, &mut problems);
        let mut app_settings = app.and_then(|app| AppSettings::new(app, &client_id));
        if let (Some(app), Some(app_settings)) = (app, app_settings.as_mut()) {
            settings::read_variables(
                app_settings,
                |key| variable(&key.variable().to_string()),
                |key, reading| match reading {
                    VariableReading::Unset | VariableReading::Accepted(_) => {}
                    VariableReading::Missing => problems.push(format!(
                        "{} is not set: the {app} app cannot run without `{}`",
                        key.variable(),
                        key.name
                    )),
                    VariableReading::Refused { value, error } => {
                        problems.push(format!("{}={value:?}: {error}", key.variable()));
                    }
                },
            );
        }
        let tls_authority = match variable("HILT_TLS_CA") {
            Some(path) => match read_authority(Path::new(&path)) {
                Ok(der) => Some(der),
                Err(problem) => {
                    problems.push(format!("HILT_TLS_CA={path:?}: {problem}"));
                    None
                }
            },
            None => None,
        };
        let tls_on =
            variable("HILT_TLS").is_some_and(|value| matches!(settings::boolean(&value), Ok(true)));
        if tls_on && variable("HILT_TLS_CA").is_none() {
            problems.push(
                "HILT_TLS is on but HILT_TLS_CA is not set: the file (PEM or DER) of the \
                 certificate authority the board trusts for its broker"
                    .to_owned(),
            );
        }
        let flash = FlashFile::from_env(&variable, app, &mut problems);
        match (app, app_settings) {
            (Some(app), Some(app_settings)) if problems.is_empty() => Ok(BoardSettings {
                app,
                client_id,
                broker_host: broker.0,
                broker_port: broker.1,
                app_settings,
                network,
                tls_authority,
                flash,
            }),
            _ => Err(problems),
        }
    }
}

/// The DER certificate in the file at `path`: a PEM `CERTIFICATE` (the
/// first, if there are several), or DER as it is.
pub fn read_authority(path: &Path) -> Result<Vec<u8>, String> {
    let bytes = std::fs::read(path).map_err(|error| format!("cannot read it: {error}"))?;
    if !bytes.trim_ascii_start().starts_with(b"-----BEGIN") {
        // A DER certificate is a SEQUENCE (as firmware/build.rs checks).
        return match bytes.first() {
            Some(0x30) => Ok(bytes),
            _ => Err("neither a PEM nor a DER certificate".to_owned()),
        };
    }
    let blocks = pem::parse_many(&bytes).map_err(|error| format!("not valid PEM: {error}"))?;
    blocks
        .into_iter()
        .find(|block| block.tag() == "CERTIFICATE")
        .map(|block| block.into_contents())
        .ok_or_else(|| "has no PEM CERTIFICATE block".to_owned())
}

/// The app of `settings` on simulated parts, booted at `boot`.
pub fn build(settings: &BoardSettings, boot: Instant) -> OnRealTime {
    let clock = VirtualClock::new();
    clock.advance_to(boot);
    let mut platform = None;
    let mut kept_flash = None;
    let node: Box<dyn Firmware> = match settings.app_settings.clone() {
        AppSettings::Thermometer(config) => {
            let line = OneWireLine::new(clock.clone());
            let sensor = Ds18b20Model::attach(&line, DS18B20_SERIAL);
            // Cannot fail: the temperature is within the part's range.
            let _ = sensor.set_temperature(THERMOMETER_CELSIUS);
            let master = Ds18b20::new(OneWire::new(
                line.master_pin(),
                VirtualDelay::new(clock.clone()),
            ));
            Box::new(Node::new(Thermometer::new(config, master, boot), boot))
        }
        AppSettings::RemoteLed(config) => {
            // A button nobody presses and an LED nobody looks at: the
            // messages are what the host board is for.
            let button = Button::new(pins::BUTTON.gpio, clock.clone());
            let led = Led::new(pins::LED.gpio, clock.clone());
            Box::new(Node::new(
                RemoteLed::new(
                    config,
                    button.line().input_pin(),
                    led.line().output_pin(),
                    boot,
                ),
                boot,
            ))
        }
        AppSettings::SensorData(config) => {
            let bus = I2cBus::new();
            Tsl2591Model::attach(&bus, clock.clone());
            let sensor = Tsl2591::new(bus.master());
            Box::new(Node::new(SensorData::new(config, sensor, boot), boot))
        }
        AppSettings::LightStatus(config) => {
            let led = Led::new(pins::LED.gpio, clock.clone());
            Box::new(Node::new(
                LightStatus::new(config, led.line().output_pin(), boot),
                boot,
            ))
        }
        AppSettings::NodeManager(config) => {
            let led = Led::new(pins::LED.gpio, clock.clone());
            let control = PlatformControl::new(clock.clone(), hilt_firmware::VERSION);
            let chip = control.firmware_handle();
            platform = Some(control);
            match &settings.flash {
                Some(file) => {
                    let model = boot_flash(file);
                    let app = NodeManager::with_flash(
                        config,
                        led.line().output_pin(),
                        chip,
                        model.handle(),
                        boot,
                    );
                    kept_flash = Some((model, file.path.clone()));
                    Box::new(Node::new(app, boot))
                }
                None => Box::new(Node::new(
                    NodeManager::new(config, led.line().output_pin(), chip, boot),
                    boot,
                )),
            }
        }
        AppSettings::Monitor(_) => unreachable!("BOARD_APPS has no monitor"),
    };
    OnRealTime {
        node,
        clock,
        platform,
        flash: kept_flash,
    }
}

/// The flash chip as the file holds it (or fresh from the factory), after
/// the bootloader's choice of app slot, with rollback: the steps the
/// simulation's boards take at every boot (`otadata::boot`). The host board
/// runs node-manager whatever the chosen image's descriptor says it does
/// at boot; its version is the one the app reports.
fn boot_flash(file: &FlashFile) -> FlashModel {
    let model = FlashModel::new(FLASH_SIZE as usize);
    let mut flash = model.handle();
    match &file.contents {
        // An erased chip takes any bytes, and the length is the chip's.
        Some(bytes) => {
            let _ = NorFlash::write(&mut flash, 0, bytes);
        }
        None => flash_factory_image(&mut flash),
    }
    otadata::boot(&mut flash);
    model
}

/// The app, with its simulated parts' clock kept on real time: each call
/// that hands the node the time first moves the parts' clock there, so a
/// DS18B20 conversion takes its 750 ms of wall time.
///
/// The chip's services of node-manager are simulated too; when the app
/// asks for a reset, or its watchdog bites, the host board says so and
/// stops (a chip would restart; the host build has nothing to restart it).
pub struct OnRealTime {
    node: Box<dyn Firmware>,
    clock: VirtualClock,
    platform: Option<PlatformControl>,
    /// node-manager's flash and the file it is kept in.
    flash: Option<(FlashModel, PathBuf)>,
}

impl std::fmt::Debug for OnRealTime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OnRealTime")
            .field("clock", &self.clock)
            .finish_non_exhaustive()
    }
}

/// The exit status of a host board whose app reset the (simulated) chip.
const RESET_EXIT_CODE: i32 = 3;

impl OnRealTime {
    fn at(&mut self, now: Instant) {
        self.clock.advance_to(now);
        if let Some(platform) = &self.platform {
            let cause = if platform.take_reset_request() {
                Some("software reset")
            } else if platform
                .watchdog_deadline()
                .is_some_and(|deadline| deadline <= now)
            {
                Some("watchdog reset")
            } else {
                None
            };
            if let Some(cause) = cause {
                if let Some((model, path)) = &self.flash {
                    keep_flash(model, path);
                }
                println!(
                    "{} log warn board: {cause}; the host board stops (a chip restarts here)",
                    hilt_firmware::serial_log::PREFIX
                );
                std::process::exit(RESET_EXIT_CODE);
            }
        }
    }
}

/// Writes the flash chip to its file (a new file renamed over the old, so
/// that a crash while writing leaves the old one whole), and says so.
fn keep_flash(model: &FlashModel, path: &Path) {
    let written = path.with_extension("partial");
    let result = std::fs::write(&written, model.contents(0, model.size()))
        .and_then(|()| std::fs::rename(&written, path));
    let prefix = hilt_firmware::serial_log::PREFIX;
    match result {
        Ok(()) => println!("{prefix} log info board: flash kept in {}", path.display()),
        Err(error) => println!(
            "{prefix} log error board: cannot keep the flash in {}: {error}",
            path.display()
        ),
    }
}

impl Firmware for OnRealTime {
    fn poll(&mut self, now: Instant) -> Instant {
        self.at(now);
        let next = self.node.poll(now);
        // A reset asked for in this poll stops the board now, not at the
        // next poll.
        self.at(now);
        next
    }

    fn receive(&mut self, now: Instant, bytes: &[u8]) -> usize {
        self.at(now);
        self.node.receive(now, bytes)
    }

    fn transmit_buffer(&self) -> &[u8] {
        self.node.transmit_buffer()
    }

    fn consume_transmit(&mut self, count: usize) {
        self.node.consume_transmit(count);
    }

    fn wants_link(&self, now: Instant) -> bool {
        self.node.wants_link(now)
    }

    fn wants_close(&self) -> bool {
        self.node.wants_close()
    }

    fn link_up(&mut self, now: Instant) {
        self.at(now);
        self.node.link_up(now);
    }

    fn link_down(&mut self, now: Instant) {
        self.at(now);
        self.node.link_down(now);
    }

    fn pop_log(&mut self) -> Option<LogLine> {
        self.node.pop_log()
    }

    fn disconnect(&mut self) {
        self.node.disconnect();
    }

    fn tls(&self) -> Option<&hilt_firmware::mqtt::session::TlsOptions> {
        self.node.tls()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(variables: &[(&str, &str)]) -> Result<BoardSettings, Vec<String>> {
        let base = [
            ("HILT_APP", "thermometer"),
            ("HILT_CLIENT_ID", "probe"),
            ("HILT_BROKER", "192.168.69.1:1883"),
        ];
        BoardSettings::from_env(|name| {
            variables
                .iter()
                .chain(base.iter())
                .find(|(key, _)| *key == name)
                .map(|(_, value)| (*value).to_owned())
        })
    }

    #[test]
    fn tls_needs_an_authority_that_can_be_read() {
        assert_eq!(
            settings(&[("HILT_TLS", "true")]).unwrap_err(),
            [
                "HILT_TLS is on but HILT_TLS_CA is not set: the file (PEM or DER) of the \
                 certificate authority the board trusts for its broker"
            ]
        );
        let problems = settings(&[
            ("HILT_TLS", "true"),
            ("HILT_TLS_CA", "/nonexistent/authority.pem"),
        ])
        .unwrap_err();
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(
            problems[0]
                .starts_with(r#"HILT_TLS_CA="/nonexistent/authority.pem": cannot read it: "#),
            "{problems:?}"
        );
        assert_eq!(settings(&[]).unwrap().tls_authority, None);
    }

    #[test]
    fn an_authority_in_pem_is_read_as_its_der() {
        let folder =
            std::env::temp_dir().join(format!("hilt-board-host-ca-{}", std::process::id()));
        std::fs::create_dir_all(&folder).unwrap();
        let der = vec![0x30, 0x03, 0x02, 0x01, 0x07];
        let pem_path = folder.join("authority.pem");
        std::fs::write(
            &pem_path,
            pem::encode(&pem::Pem::new("CERTIFICATE", der.clone())),
        )
        .unwrap();
        let der_path = folder.join("authority.der");
        std::fs::write(&der_path, &der).unwrap();
        assert_eq!(read_authority(&pem_path).unwrap(), der);
        assert_eq!(read_authority(&der_path).unwrap(), der);
        let text_path = folder.join("notes.txt");
        std::fs::write(&text_path, "not a certificate").unwrap();
        assert_eq!(
            read_authority(&text_path).unwrap_err(),
            "neither a PEM nor a DER certificate"
        );
        let key_path = folder.join("key.pem");
        std::fs::write(&key_path, pem::encode(&pem::Pem::new("PRIVATE KEY", der))).unwrap();
        assert_eq!(
            read_authority(&key_path).unwrap_err(),
            "has no PEM CERTIFICATE block"
        );
        let _ = std::fs::remove_dir_all(folder);
    }

    #[test]
    fn a_flash_file_is_for_node_manager_and_holds_a_whole_chip() {
        let folder =
            std::env::temp_dir().join(format!("hilt-board-host-flash-{}", std::process::id()));
        std::fs::create_dir_all(&folder).unwrap();
        let missing = folder.join("fresh.bin");
        let node_manager = [
            ("HILT_APP", "node-manager"),
            ("HILT_FLASH", missing.to_str().unwrap()),
        ];
        let fresh = settings(&node_manager).unwrap().flash.unwrap();
        assert_eq!((fresh.path, fresh.contents), (missing.clone(), None));

        let problems = settings(&[("HILT_FLASH", missing.to_str().unwrap())]).unwrap_err();
        assert_eq!(
            problems,
            [format!(
                "HILT_FLASH={missing:?}: only node-manager keeps settings and updates in flash"
            )]
        );

        let short = folder.join("short.bin");
        std::fs::write(&short, [0xFF; 4096]).unwrap();
        let problems = settings(&[
            ("HILT_APP", "node-manager"),
            ("HILT_FLASH", short.to_str().unwrap()),
        ])
        .unwrap_err();
        assert_eq!(
            problems,
            [format!(
                "HILT_FLASH={short:?}: holds 4096 bytes, not a flash chip's 4194304 (4 MiB)"
            )]
        );
        let _ = std::fs::remove_dir_all(folder);
    }

    #[test]
    fn the_kernel_network_is_the_default() {
        assert_eq!(settings(&[]).unwrap().network, NetworkSettings::Kernel);
        assert_eq!(
            settings(&[("HILT_NETWORK", "kernel")]).unwrap().network,
            NetworkSettings::Kernel
        );
    }

    #[test]
    fn a_tap_network_has_defaults_for_its_addresses() {
        assert_eq!(
            settings(&[("HILT_NETWORK", "tap")]).unwrap().network,
            NetworkSettings::Tap(TapSettings {
                interface: "tap0".to_owned(),
                address: Ipv4Addr::new(192, 168, 69, 2),
                prefix_length: 24,
                gateway: Some(Ipv4Addr::new(192, 168, 69, 1)),
                dns_servers: Vec::new(),
            })
        );
    }

    #[test]
    fn a_tap_network_takes_its_settings() {
        assert_eq!(
            settings(&[
                ("HILT_NETWORK", "tap"),
                ("HILT_TAP", "board1"),
                ("HILT_TAP_ADDRESS", "10.0.0.7/8"),
                ("HILT_TAP_GATEWAY", "none"),
                ("HILT_TAP_DNS", "10.0.0.1, 10.0.0.2"),
            ])
            .unwrap()
            .network,
            NetworkSettings::Tap(TapSettings {
                interface: "board1".to_owned(),
                address: Ipv4Addr::new(10, 0, 0, 7),
                prefix_length: 8,
                gateway: None,
                dns_servers: vec![Ipv4Addr::new(10, 0, 0, 1), Ipv4Addr::new(10, 0, 0, 2)],
            })
        );
    }

    #[test]
    fn bad_network_settings_are_each_named() {
        let problems = settings(&[
            ("HILT_NETWORK", "tap"),
            ("HILT_TAP", "a-name-far-too-long"),
            ("HILT_TAP_ADDRESS", "192.168.69.2/33"),
            ("HILT_TAP_GATEWAY", "gateway"),
            ("HILT_TAP_DNS", "1.1.1.1,2.2.2.2,3.3.3.3,4.4.4.4,dns"),
        ])
        .unwrap_err();
        assert_eq!(
            problems,
            [
                r#"HILT_TAP="a-name-far-too-long": an interface name is 1 to 15 characters"#,
                r#"HILT_TAP_ADDRESS="192.168.69.2/33": not an IPv4 address with a prefix length, such as 192.168.69.2/24"#,
                r#"HILT_TAP_GATEWAY="gateway": not an IPv4 address (or `none`)"#,
                r#"HILT_TAP_DNS="1.1.1.1,2.2.2.2,3.3.3.3,4.4.4.4,dns": "dns" is not an IPv4 address"#,
                r#"HILT_TAP_DNS="1.1.1.1,2.2.2.2,3.3.3.3,4.4.4.4,dns": at most 3 servers"#,
            ]
        );
        assert_eq!(
            settings(&[("HILT_NETWORK", "wifi")]).unwrap_err(),
            [
                r#"HILT_NETWORK="wifi": `kernel` (the host's TCP) or `tap` (embassy-net on a TAP device)"#
            ]
        );
    }
}
