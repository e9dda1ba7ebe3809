//! Registering firmware apps so scenarios can run them.
//!
//! A user's own app is registered exactly as the bundled ones are: implement
//! [`SimulatedApp`] (parse the device's `config:`, then build the app on a
//! [`Board`] of simulated parts) and add it to a [`Registry`].
//!
//! `crates/hilt-runner/tests/user_app.rs` is a complete example: a small
//! doorbell app written against the firmware core, registered, and run
//! against its own scenario folder from a `#[test]`.

use std::collections::BTreeMap;
use std::sync::Arc;

use hilt_firmware::app::Firmware;
use hilt_firmware::pins::PinAssignment;
use hilt_firmware::settings::Settings;
use hilt_firmware::time::Instant;
use hilt_scenario::{
    Catalog, ConfigKey, ConfigMap, ConfigProblem, ConfigValue, Location, PartDescription, PartKind,
};
use hilt_sim::clock::{VirtualClock, VirtualDelay};
use hilt_sim::ds18b20::{Ds18b20Handle, Ds18b20Model};
use hilt_sim::flash::{FlashModel, SimFlash};
use hilt_sim::gpio::{Button, Led, PinLine, SimInputPin, SimOutputPin};
use hilt_sim::i2c::{I2cBus, I2cMaster};
use hilt_sim::onewire::{OneWireLine, OneWireMasterPin};
use hilt_sim::platform::{PlatformControl, SimPlatform};
use hilt_sim::tsl2591::{Tsl2591Handle, Tsl2591Model};
use hilt_wokwi::{Images, WokwiImage};

/// Who a device is, for apps whose defaults depend on it.
#[derive(Clone, Debug)]
pub struct DeviceIdentity {
    /// The device's name in the scenario (`blue`).
    pub name: String,
    /// Its MQTT client id (`client_id:`, the name by default).
    pub client_id: String,
}

/// A firmware app the runner can boot on simulated parts.
pub trait SimulatedApp: Send + Sync + 'static {
    /// The app's parsed `config:`.
    type Config;

    /// The parts a device running this app has, by scenario name.
    ///
    /// They must be exactly the parts [`build`](Self::build) makes on the
    /// [`Board`] (the `part` of each `PinAssignment` it passes, or the name
    /// it gives a sensor), plus any raw pins (`gpio4`) wired by them. A
    /// device whose app declares a part its build does not make, or makes
    /// a part it does not declare, is refused with both names, when the
    /// file is checked and again when the device is built.
    fn parts(&self) -> Vec<PartDescription>;

    /// Reads the device's `config:`. Problems go into the reader, which
    /// also reports keys the app never asked for.
    fn parse_config(&self, device: &DeviceIdentity, config: &mut ConfigReader<'_>) -> Self::Config;

    /// Builds the firmware on a board of simulated parts. The app's boot
    /// instant is `board.now()`.
    fn build(&self, config: Self::Config, board: &mut Board) -> Box<dyn Firmware>;

    /// The app's ESP32-C3 image, for `hilt wokwi`: where it is built, its
    /// settings type (the one [`parse_config`](Self::parse_config) reads
    /// `config:` with, and the image's build reads `HILT_<KEY>` with), and
    /// the Wokwi part and GPIO of each part (its `diagram.json`). `None`,
    /// the default, when the app has no image; its scenarios are then not
    /// exported.
    fn wokwi_image(&self) -> Option<WokwiImage> {
        None
    }
}

/// The object-safe face of a [`SimulatedApp`].
trait ErasedApp: Send + Sync {
    fn parts(&self) -> Vec<PartDescription>;
    fn config_keys(&self, app: &str) -> Vec<ConfigKey>;
    fn wokwi_image(&self) -> Option<WokwiImage>;
    fn check_config(
        &self,
        app: &str,
        device: &DeviceIdentity,
        config: &ConfigMap,
    ) -> Vec<ConfigProblem>;
    fn build(
        &self,
        app: &str,
        device: &DeviceIdentity,
        config: &ConfigMap,
        board: &mut Board,
    ) -> Result<Box<dyn Firmware>, Vec<ConfigProblem>>;
}

impl<A: SimulatedApp> ErasedApp for A {
    fn parts(&self) -> Vec<PartDescription> {
        SimulatedApp::parts(self)
    }

    /// The keys the app asks its reader for when reading an empty
    /// `config:`, the way it reads every device's: a key it asks only
    /// when another is given would be missed, and none of the bundled
    /// apps has one.
    fn config_keys(&self, app: &str) -> Vec<ConfigKey> {
        let empty = ConfigMap {
            location: Location { line: 1, column: 1 },
            entries: Vec::new(),
        };
        let device = DeviceIdentity {
            name: "device".to_owned(),
            client_id: "device".to_owned(),
        };
        let mut reader = ConfigReader::for_app(&empty, app);
        let _ = self.parse_config(&device, &mut reader);
        reader
            .asked
            .iter()
            .map(|name| ConfigKey {
                name: name.clone(),
                required: reader.required.contains(name),
            })
            .collect()
    }

    fn wokwi_image(&self) -> Option<WokwiImage> {
        SimulatedApp::wokwi_image(self)
    }

    fn check_config(
        &self,
        app: &str,
        device: &DeviceIdentity,
        config: &ConfigMap,
    ) -> Vec<ConfigProblem> {
        let mut reader = ConfigReader::for_app(config, app);
        let parsed = self.parse_config(device, &mut reader);
        let problems = reader.finish();
        if !problems.is_empty() {
            return problems;
        }
        // A trial build on a board of its own, so that a part named one way
        // in `parts()` and built under another name is reported when the
        // file is checked, not first when a step cannot find it.
        let mut board = Board::new(VirtualClock::new(), 0);
        let _firmware = SimulatedApp::build(self, parsed, &mut board);
        parts_problems(app, &SimulatedApp::parts(self), &board, config.location)
    }

    fn build(
        &self,
        app: &str,
        device: &DeviceIdentity,
        config: &ConfigMap,
        board: &mut Board,
    ) -> Result<Box<dyn Firmware>, Vec<ConfigProblem>> {
        let mut reader = ConfigReader::for_app(config, app);
        let parsed = self.parse_config(device, &mut reader);
        let problems = reader.finish();
        if !problems.is_empty() {
            return Err(problems);
        }
        let firmware = SimulatedApp::build(self, parsed, board);
        let problems = parts_problems(app, &SimulatedApp::parts(self), board, config.location);
        if !problems.is_empty() {
            return Err(problems);
        }
        Ok(firmware)
    }
}

/// The name a scenario gives a kind of part, for messages.
pub(crate) fn kind_name(kind: PartKind) -> &'static str {
    match kind {
        PartKind::Button => "button",
        PartKind::Led => "LED",
        PartKind::Ds18b20 => "DS18B20",
        PartKind::Tsl2591 => "TSL2591",
        PartKind::Pin => "pin",
    }
}

/// "a button", "an LED".
fn with_article(kind: PartKind) -> String {
    let article = if kind == PartKind::Led { "an" } else { "a" };
    format!("{article} {}", kind_name(kind))
}

/// Where the parts an app declares (`parts()`, what scenarios may name) and
/// the parts its `build()` made on `board` disagree, as one problem naming
/// both sides; none when they agree.
///
/// A declared part its build did not make would let a step press a button
/// nothing is wired to; a part it made under a name it does not declare
/// can never be named by a scenario. Raw pins (`gpio4`) are declared as
/// [`PartKind::Pin`] and made by any part on that GPIO; a built part's own
/// line need not be declared as a pin.
fn parts_problems(
    app: &str,
    declared: &[PartDescription],
    board: &Board,
    location: Location,
) -> Vec<ConfigProblem> {
    let built: Vec<(&str, PartKind)> = board
        .parts()
        .iter()
        .map(|(name, part)| (name.as_str(), part.kind()))
        .collect();
    let mut wrong = Vec::new();
    for part in declared {
        if part.kind == PartKind::Pin {
            let made = board
                .lines()
                .iter()
                .any(|line| hilt_firmware::pins::gpio_name(line.gpio()).as_str() == part.name);
            if !made {
                wrong.push(format!(
                    "parts() declares pin '{}', but build() wires nothing to it",
                    part.name
                ));
            }
            continue;
        }
        match built.iter().find(|(name, _)| *name == part.name) {
            None => wrong.push(format!(
                "parts() declares {} '{}', which build() did not create",
                kind_name(part.kind),
                part.name
            )),
            Some((_, kind)) if *kind != part.kind => wrong.push(format!(
                "parts() declares '{}' as {}, but build() made it {}",
                part.name,
                with_article(part.kind),
                with_article(*kind)
            )),
            Some(_) => {}
        }
    }
    for (name, kind) in &built {
        if !declared.iter().any(|part| part.name == *name) {
            wrong.push(format!(
                "build() created {} '{name}', which parts() does not declare",
                kind_name(*kind)
            ));
        }
    }
    if wrong.is_empty() {
        return Vec::new();
    }
    vec![ConfigProblem {
        location,
        message: format!(
            "app '{app}': its parts() and build() disagree: {} (a part is named by the \
             `part` of the PinAssignment build() gives the Board, or the name it passes)",
            wrong.join("; ")
        ),
    }]
}

/// The apps scenarios can name, by name.
#[derive(Clone, Default)]
pub struct Registry {
    apps: BTreeMap<String, Arc<dyn ErasedApp>>,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry")
            .field("apps", &self.apps.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl Registry {
    /// A registry with no apps.
    pub fn new() -> Self {
        Self::default()
    }

    /// A registry with the reference apps (thermometer, remote-led, ...).
    pub fn with_bundled_apps() -> Self {
        let mut registry = Registry::new();
        crate::bundled::register_all(&mut registry);
        registry
    }

    /// Adds (or replaces) an app under `name`.
    pub fn register<A: SimulatedApp>(&mut self, name: &str, app: A) -> &mut Self {
        self.apps.insert(name.to_owned(), Arc::new(app));
        self
    }

    /// Boots the firmware of `app` for a device on `board`.
    pub(crate) fn build(
        &self,
        app: &str,
        device: &DeviceIdentity,
        config: &ConfigMap,
        board: &mut Board,
    ) -> Result<Box<dyn Firmware>, Vec<ConfigProblem>> {
        match self.apps.get(app) {
            Some(registered) => registered.build(app, device, config, board),
            None => Err(vec![ConfigProblem {
                location: config.location,
                message: format!("no app named '{app}' is registered"),
            }]),
        }
    }
}

impl Catalog for Registry {
    fn app_names(&self) -> Vec<String> {
        self.apps.keys().cloned().collect()
    }

    fn parts(&self, app: &str) -> Option<Vec<PartDescription>> {
        self.apps.get(app).map(|registered| registered.parts())
    }

    fn config_keys(&self, app: &str) -> Option<Vec<ConfigKey>> {
        self.apps
            .get(app)
            .map(|registered| registered.config_keys(app))
    }

    fn check_config(&self, app: &str, config: &ConfigMap) -> Vec<ConfigProblem> {
        // Identity-dependent defaults cannot be wrong, so a placeholder
        // identity is enough to check the keys and values.
        let device = DeviceIdentity {
            name: "device".to_owned(),
            client_id: "device".to_owned(),
        };
        self.apps
            .get(app)
            .map(|registered| registered.check_config(app, &device, config))
            .unwrap_or_default()
    }
}

/// The images of the registered apps, by their registrations'
/// [`SimulatedApp::wokwi_image`], for [`hilt_wokwi::export_from`].
impl Images for Registry {
    fn image(&self, app: &str) -> Result<WokwiImage, hilt_wokwi::Why> {
        if let Some(image) = self
            .apps
            .get(app)
            .and_then(|registered| registered.wokwi_image())
        {
            return Ok(image);
        }
        let with_images = self
            .apps
            .iter()
            .filter(|(_, registered)| registered.wokwi_image().is_some())
            .map(|(name, _)| name.clone())
            .collect();
        Err(hilt_wokwi::Why::NoWokwiImage {
            app: app.to_owned(),
            with_images,
        })
    }
}

/// Reads an app's `config:` and collects problems with their locations.
///
/// Every key the app asks for is remembered, so that a key it never asked
/// for is reported with the keys it does take, and the closest of them.
#[derive(Debug)]
pub struct ConfigReader<'a> {
    config: &'a ConfigMap,
    used: Vec<bool>,
    problems: Vec<ConfigProblem>,
    /// The keys the app asked for, in the order it asked.
    asked: Vec<String>,
    /// Those of them it cannot do without.
    required: Vec<String>,
    /// The app's name, for messages.
    app: Option<String>,
}

impl<'a> ConfigReader<'a> {
    /// A reader of one device's `config:` map.
    pub fn new(config: &'a ConfigMap) -> Self {
        ConfigReader {
            config,
            used: vec![false; config.entries.len()],
            problems: Vec::new(),
            asked: Vec::new(),
            required: Vec::new(),
            app: None,
        }
    }

    /// A reader for the `config:` of a device running `app`.
    pub(crate) fn for_app(config: &'a ConfigMap, app: &str) -> Self {
        ConfigReader {
            app: Some(app.to_owned()),
            ..ConfigReader::new(config)
        }
    }

    fn ask(&mut self, key: &str) {
        if !self.asked.iter().any(|asked| asked == key) {
            self.asked.push(key.to_owned());
        }
    }

    /// The scalar text of `key`, if given; a non-scalar is a problem.
    pub fn text(&mut self, key: &str) -> Option<(&'a str, Location)> {
        self.ask(key);
        let index = self
            .config
            .entries
            .iter()
            .position(|entry| entry.key == key)?;
        self.used[index] = true;
        match &self.config.entries[index].value {
            ConfigValue::Scalar { text, location } => Some((text.as_str(), *location)),
            other => {
                self.problems.push(ConfigProblem {
                    location: other.location(),
                    message: format!("'{key}' must be a single value"),
                });
                None
            }
        }
    }

    /// Parses `key` with `parse`, or returns `default` when it is absent or
    /// wrong (a wrong value is recorded as a problem).
    pub fn value<T>(
        &mut self,
        key: &str,
        default: T,
        parse: impl FnOnce(&str) -> Result<T, String>,
    ) -> T {
        let Some((text, location)) = self.text(key) else {
            return default;
        };
        match parse(text) {
            Ok(value) => value,
            Err(message) => {
                self.problems.push(ConfigProblem {
                    location,
                    message: format!("'{key}': {message}"),
                });
                default
            }
        }
    }

    /// A required key; its absence is a problem at the `config:` mapping.
    pub fn required<T>(
        &mut self,
        key: &str,
        fallback: T,
        parse: impl FnOnce(&str) -> Result<T, String>,
    ) -> T {
        self.ask(key);
        if !self.required.iter().any(|required| required == key) {
            self.required.push(key.to_owned());
        }
        if !self.config.entries.iter().any(|entry| entry.key == key) {
            self.problems.push(ConfigProblem {
                location: self.config.location,
                message: format!("config needs '{key}'"),
            });
            return fallback;
        }
        self.value(key, fallback, parse)
    }

    /// A duration such as `60s`, `500ms` or `1m30s`, greater than zero.
    pub fn duration(&mut self, key: &str, default: std::time::Duration) -> std::time::Duration {
        self.value(key, default, |text| {
            hilt_firmware::settings::positive_duration(text).map_err(|error| error.to_string())
        })
    }

    /// Reads every key of an app's settings through their own parser
    /// ([`Settings::set`], the one the firmware image's build and the Wokwi
    /// export use too), each value as the text the file writes. A refused
    /// value is a problem at its place (`'unit': 'K' is not a unit; use C
    /// or F`) and leaves the setting at its default; a required key that is
    /// missing is a problem at the `config:` mapping.
    pub fn settings<S: Settings + ?Sized>(&mut self, settings: &mut S) {
        for key in settings.keys() {
            let set = |text: &str| {
                settings
                    .set(key.name, text)
                    .map_err(|error| error.to_string())
            };
            if key.required {
                self.required(key.name, (), set);
            } else {
                self.value(key.name, (), set);
            }
        }
    }

    /// Records a problem the app found itself.
    pub fn problem(&mut self, location: Location, message: String) {
        self.problems.push(ConfigProblem { location, message });
    }

    /// All problems, including one per key the app never read, with the
    /// keys it does take (and the closest, when one is close).
    pub fn finish(mut self) -> Vec<ConfigProblem> {
        let app = self
            .app
            .as_deref()
            .map(|app| format!(" for app {app}"))
            .unwrap_or_default();
        let allowed = if self.asked.is_empty() {
            "this app takes no config keys".to_owned()
        } else {
            format!("expected one of {}", self.asked.join(", "))
        };
        for (entry, used) in self.config.entries.iter().zip(&self.used) {
            if !used {
                let hint =
                    hilt_scenario::did_you_mean(&entry.key, self.asked.iter().map(String::as_str))
                        .map(|close| format!("did you mean '{close}'? "))
                        .unwrap_or_default();
                self.problems.push(ConfigProblem {
                    location: entry.key_location,
                    message: format!(
                        "unknown config key '{}'{app}; {hint}{allowed}",
                        entry.key.escape_debug()
                    ),
                });
            }
        }
        self.problems
    }
}

/// A simulated part the runner can act on and look at.
#[derive(Clone, Debug)]
pub enum Part {
    /// A push button (active low), which steps press and release.
    Button(Button),
    /// An LED, whose line expectations watch.
    Led(Led),
    /// A DS18B20 temperature sensor, which `set:` steps change.
    Ds18b20(Ds18b20Handle),
    /// A TSL2591 light sensor, which `set:` steps change.
    Tsl2591(Tsl2591Handle),
}

impl Part {
    /// The kind of part this is, as scenarios and [`SimulatedApp::parts`]
    /// name it.
    pub fn kind(&self) -> PartKind {
        match self {
            Part::Button(_) => PartKind::Button,
            Part::Led(_) => PartKind::Led,
            Part::Ds18b20(_) => PartKind::Ds18b20,
            Part::Tsl2591(_) => PartKind::Tsl2591,
        }
    }
}

/// The simulated board one device's firmware is built on: its clock, its
/// parts, and every GPIO line by number.
#[derive(Debug)]
pub struct Board {
    clock: VirtualClock,
    parts: Vec<(String, Part)>,
    lines: Vec<PinLine>,
    /// 1-Wire lines by the name of the part on them.
    one_wire_lines: Vec<(String, OneWireLine)>,
    /// Created when the firmware first asks for it; survives resets.
    platform: Option<PlatformControl>,
    /// The I2C bus, once a part on it exists.
    i2c_bus: Option<I2cBus>,
    ds18b20_serial: u64,
    /// The flash chip, made when the firmware first asks for it; it keeps
    /// its contents across resets and power cycles, as the chip's does.
    flash: Option<FlashModel>,
}

impl Board {
    /// A board whose parts will take their serial numbers from `seed`.
    pub fn new(clock: VirtualClock, seed: u64) -> Self {
        Board {
            clock,
            parts: Vec::new(),
            lines: Vec::new(),
            one_wire_lines: Vec::new(),
            platform: None,
            i2c_bus: None,
            ds18b20_serial: seed,
            flash: None,
        }
    }

    /// The board's flash chip (4 MiB, erased at first; see
    /// `hilt_firmware::partitions`), as this boot's firmware owns it.
    pub fn flash(&mut self) -> SimFlash {
        self.flash
            .get_or_insert_with(|| FlashModel::new(hilt_firmware::partitions::FLASH_SIZE as usize))
            .handle()
    }

    /// Garbage from `seed` over `range` of the flash chip (made now if the
    /// firmware never asked for it: a board has its chip all the same).
    pub fn corrupt_flash(&mut self, range: std::ops::Range<u32>, seed: u64) {
        let chip = self
            .flash
            .get_or_insert_with(|| FlashModel::new(hilt_firmware::partitions::FLASH_SIZE as usize));
        // Only a range past the chip's end is refused, and the partitions
        // lie inside it (`hilt_firmware::partitions`' test checks that).
        let _ = chip.corrupt(range.start as usize..range.end as usize, seed);
    }

    /// The runner's side of the flash chip, once the firmware asked for it.
    pub fn flash_model(&self) -> Option<&FlashModel> {
        self.flash.as_ref()
    }

    /// The device's clock.
    pub fn clock(&self) -> VirtualClock {
        self.clock.clone()
    }

    /// The current device time, for the app's boot instant.
    pub fn now(&self) -> Instant {
        self.clock.now()
    }

    /// A `DelayNs` that advances the device's clock.
    pub fn delay(&self) -> VirtualDelay {
        VirtualDelay::new(self.clock.clone())
    }

    /// The part named `name` in scenarios.
    pub fn part(&self, name: &str) -> Option<&Part> {
        self.parts
            .iter()
            .find(|(part_name, _)| part_name == name)
            .map(|(_, part)| part)
    }

    /// The part wired to `gpio`, with its name, if a part is.
    pub fn part_on_gpio(&self, gpio: u8) -> Option<(String, Part)> {
        self.parts
            .iter()
            .find(|(_, part)| match part {
                Part::Led(led) => led.line().gpio() == gpio,
                Part::Button(button) => button.line().gpio() == gpio,
                Part::Ds18b20(_) | Part::Tsl2591(_) => false,
            })
            .cloned()
    }

    /// The chip services (reset cause, retained memory, watchdog) the
    /// firmware of this boot owns. Ask once per build.
    pub fn platform(&mut self) -> SimPlatform {
        let clock = self.clock.clone();
        self.platform
            .get_or_insert_with(|| PlatformControl::new(clock, hilt_firmware::VERSION))
            .firmware_handle()
    }

    /// The runner's side of the chip services, once the firmware asked for them.
    pub fn platform_control(&self) -> Option<&PlatformControl> {
        self.platform.as_ref()
    }

    /// The push button at `pin`, and the input pin the firmware reads it by.
    /// Asking again (after a reboot) returns the same button.
    pub fn button(&mut self, pin: PinAssignment) -> SimInputPin {
        if let Some(Part::Button(button)) = self.part(pin.part) {
            return button.line().input_pin();
        }
        let button = Button::new(pin.gpio, self.clock.clone());
        let input = button.line().input_pin();
        self.lines.push(button.line().clone());
        self.parts.push((pin.part.to_owned(), Part::Button(button)));
        input
    }

    /// The LED at `pin`, and the output pin the firmware drives it by.
    pub fn led(&mut self, pin: PinAssignment) -> SimOutputPin {
        if let Some(Part::Led(led)) = self.part(pin.part) {
            return led.line().output_pin();
        }
        let led = Led::new(pin.gpio, self.clock.clone());
        let output = led.line().output_pin();
        self.lines.push(led.line().clone());
        self.parts.push((pin.part.to_owned(), Part::Led(led)));
        output
    }

    /// A DS18B20 on a 1-Wire line at `pin`, and the open-drain pin the
    /// firmware's 1-Wire master drives.
    pub fn ds18b20(&mut self, pin: PinAssignment) -> OneWireMasterPin {
        if let Some((_, line)) = self
            .one_wire_lines
            .iter()
            .find(|(name, _)| name == pin.part)
        {
            return line.master_pin();
        }
        let line = OneWireLine::new(self.clock.clone());
        let handle = Ds18b20Model::attach(&line, self.ds18b20_serial);
        self.ds18b20_serial = self.ds18b20_serial.wrapping_add(1);
        let master = line.master_pin();
        self.one_wire_lines.push((pin.part.to_owned(), line));
        self.parts
            .push((pin.part.to_owned(), Part::Ds18b20(handle)));
        master
    }

    /// A TSL2591 light sensor on the board's I2C bus, and the bus master the
    /// firmware's driver owns. `part` names it in scenarios (`tsl2591`).
    pub fn tsl2591(&mut self, part: &str) -> I2cMaster {
        if let Some(bus) = &self.i2c_bus
            && self.part(part).is_some()
        {
            return bus.master();
        }
        let bus = self.i2c_bus.get_or_insert_with(I2cBus::new).clone();
        let handle = Tsl2591Model::attach(&bus, self.clock.clone());
        self.parts.push((part.to_owned(), Part::Tsl2591(handle)));
        bus.master()
    }

    /// Parts by scenario name.
    pub fn parts(&self) -> &[(String, Part)] {
        &self.parts
    }

    /// GPIO lines the runner can watch (`gpio4`), by number.
    pub fn lines(&self) -> &[PinLine] {
        &self.lines
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(keys: &[&str]) -> ConfigMap {
        let at = |column| Location { line: 3, column };
        ConfigMap {
            location: at(5),
            entries: keys
                .iter()
                .enumerate()
                .map(|(index, key)| hilt_scenario::ConfigEntry {
                    key: (*key).to_owned(),
                    key_location: at(10 * (index + 1)),
                    value: ConfigValue::Scalar {
                        text: "1".to_owned(),
                        location: at(10 * (index + 1) + 5),
                    },
                })
                .collect(),
        }
    }

    fn messages(problems: Vec<ConfigProblem>) -> Vec<String> {
        problems
            .into_iter()
            .map(|problem| problem.message)
            .collect()
    }

    #[test]
    fn unknown_keys_list_the_keys_asked_for_and_the_closest() {
        let config = config(&["intervl", "colour", "unit"]);
        let mut reader = ConfigReader::for_app(&config, "thermometer");
        let _ = reader.text("unit");
        let _ = reader.duration("interval", std::time::Duration::from_secs(1));
        let _ = reader.required("peer", String::new(), |text| Ok(text.to_owned()));
        assert_eq!(
            messages(reader.finish()),
            [
                "config needs 'peer'",
                "unknown config key 'intervl' for app thermometer; did you mean 'interval'? \
                 expected one of unit, interval, peer",
                "unknown config key 'colour' for app thermometer; expected one of unit, interval, peer",
            ]
        );
    }

    #[test]
    fn an_app_that_asks_for_nothing_says_so() {
        let config = config(&["speed"]);
        let reader = ConfigReader::new(&config);
        assert_eq!(
            messages(reader.finish()),
            ["unknown config key 'speed'; this app takes no config keys"]
        );
    }

    #[test]
    fn the_registry_checks_config_keys_against_the_app() {
        let registry = Registry::with_bundled_apps();
        let problems = registry.check_config("remote-led", &config(&["peer", "pear"]));
        assert_eq!(
            messages(problems),
            [
                "unknown config key 'pear' for app remote-led; did you mean 'peer'? \
              expected one of peer, name, period, keepalive, username, password, tls, \
              tls_server_name"
            ]
        );
    }

    /// The keys the schema offers are the keys each app's settings type
    /// takes, in its order, required where it is.
    #[test]
    fn config_keys_are_the_settings_keys() {
        use hilt_firmware::apps::AppSettings;
        let registry = Registry::with_bundled_apps();
        for app in registry.app_names() {
            let settings = AppSettings::new(&app, "device").expect("a reference app");
            let expected: Vec<ConfigKey> = settings
                .keys()
                .iter()
                .map(|key| ConfigKey {
                    name: key.name.to_owned(),
                    required: key.required,
                })
                .collect();
            assert_eq!(registry.config_keys(&app), Some(expected), "{app}");
        }
        assert_eq!(registry.config_keys("no-such-app"), None);
    }
}
