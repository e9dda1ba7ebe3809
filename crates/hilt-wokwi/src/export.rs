//! hilt steps → Wokwi steps; the mapping table is in the crate documentation.

use std::time::Duration;

use hilt_firmware::serial_log::{self, Direction};
use hilt_firmware::settings;
use hilt_scenario::describe::describe_setting;
use hilt_scenario::{
    BrokerChoice, Catalog, ConfigValue, Device, DeviceKind, Expectation, LedTiming,
    MessageExpectation, PartKind, PartRef, PartSetting, PartValue, PayloadMatch, Scenario, Step,
    StepDescription, StepKind, TimeMode,
};

use crate::error::{ExportError, Refusal, Why};
use crate::image::{BundledImages, Images, PANIC_TEXT, WiredPart, WokwiImage};
use crate::parts::{BOARD_PINS, PartIds};
use crate::wokwi::{Action, ControlValue, WokwiScenario, WokwiStep, wokwi_duration};

/// How long hilt's `click` holds the button (the language's "press, hold
/// 100ms, release"; hilt-runner's `CLICK_HOLD`).
pub const CLICK_HOLD: Duration = Duration::from_millis(100);

/// The DS18B20 temperature hilt's simulated sensor starts at when a
/// scenario gives none (hilt-sim's `Ds18b20Model`; a test keeps them equal).
/// Wokwi's part starts at its `temperature` attribute instead, so the export
/// always sets it.
pub const HILT_DS18B20_CELSIUS: f64 = 20.0;

/// `for:` is sampled at most this many times after its first check...
pub const MAX_SAMPLES: u32 = 100;
/// ...and no closer together than this.
pub const MIN_SAMPLE_GAP: Duration = Duration::from_millis(100);

/// Added to hilt's longest device time for the suggested `wokwi-cli
/// --timeout`: in Wokwi the board boots for real and joins WiFi and the
/// broker before it publishes anything, which hilt's simulation skips.
pub const BOOT_ALLOWANCE: Duration = Duration::from_secs(30);

/// What ends each serial log line: the image's serial glue
/// (firmware/src/serial.rs, `Line::end`) writes `\n` alone, as esp-println's
/// `println!` does.
pub fn serial_line_end() -> &'static str {
    "\n"
}

/// An exported scenario and what a runner of it needs to know.
#[derive(Clone, Debug)]
pub struct Export {
    pub scenario: WokwiScenario,
    /// The one device's app: the cargo feature of the firmware image.
    pub app: String,
    /// The `HILT_*` variables to build the image with (firmware/build.rs)
    /// so that the board is the scenario's device: its client id and each
    /// `config:` key as `HILT_<KEY>`, with the value as the file writes it
    /// (checked by the app's own settings parser, as the build checks it),
    /// plus a setting whose default in a scenario is the device's name when
    /// that name is not the client id (remote-led's `name`). The broker
    /// (`HILT_BROKER`) and WiFi are the Wokwi setup's, not the scenario's,
    /// and are not here.
    pub build_env: Vec<(String, String)>,
    /// The `HILT_*` variables of secret settings (`password`) the scenario
    /// gives: checked like the others, but never written; the image build
    /// takes them from its own environment (a CI secret), and the header's
    /// `# hilt-secret:` lines name them.
    pub secret_env: Vec<String>,
    /// hilt's longest device time for the scenario plus [`BOOT_ALLOWANCE`]:
    /// the `--timeout` to give wokwi-cli.
    pub timeout: Duration,
    /// Steps exported with other semantics than hilt's.
    pub approximations: Vec<Approximation>,
}

/// A step exported with other semantics than hilt's.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Approximation {
    /// The step's line in the scenario file.
    pub line: usize,
    /// How the Wokwi steps differ, in a sentence.
    pub note: String,
}

impl Export {
    /// The Wokwi scenario file.
    pub fn to_yaml(&self) -> String {
        self.scenario.to_yaml()
    }
}

/// How strictly message expectations are exported.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Fidelity {
    /// Every check means in Wokwi what it means in hilt, or the step is
    /// refused.
    #[default]
    Faithful,
    /// Checks Wokwi cannot make exactly are made weaker or left out, each
    /// listed as an approximation: a JSON subset, a regex, a count or a
    /// missing `qos`/`retain` become "a message on that topic"; a wildcard
    /// topic, `count: 0` or a message that may have come before Wokwi could
    /// see it is not checked. What Wokwi cannot do at all (harness
    /// publishes, faults, several devices) is still refused.
    Weakened,
}

/// Exports `scenario`, whose devices run apps of `catalog`, for hilt's own
/// image (the bundled board apps) with the Wokwi part ids `parts`. Every
/// step that cannot be exported faithfully is refused; the error lists them
/// all.
pub fn export(
    scenario: &Scenario,
    catalog: &dyn Catalog,
    parts: &PartIds,
) -> Result<Export, ExportError> {
    export_with(scenario, catalog, parts, Fidelity::Faithful)
}

/// [`export`] with a choice of [`Fidelity`].
pub fn export_with(
    scenario: &Scenario,
    catalog: &dyn Catalog,
    parts: &PartIds,
    fidelity: Fidelity,
) -> Result<Export, ExportError> {
    let images = BundledImages {
        parts: parts.clone(),
    };
    export_from(scenario, catalog, &images, fidelity)
}

/// [`export_with`] for the image `images` has for the device's app: hilt's
/// own ([`BundledImages`]) or the one a user's app registers (hilt-runner's
/// `Registry` is an [`Images`]).
pub fn export_from(
    scenario: &Scenario,
    catalog: &dyn Catalog,
    images: &dyn Images,
    fidelity: Fidelity,
) -> Result<Export, ExportError> {
    let mut refusals = Vec::new();
    if scenario.time == TimeMode::Real {
        refusals.push(Refusal {
            line: None,
            why: Why::RealTime,
        });
    }
    if let BrokerChoice::External { url, .. } = &scenario.broker {
        refusals.push(Refusal {
            line: None,
            why: Why::ExternalBroker { url: url.clone() },
        });
    }
    // Even a fleet of one: its steps may name the fleet, which is no board.
    if !scenario.fleets.is_empty() {
        refusals.extend(scenario.fleets.iter().map(|fleet| Refusal {
            line: Some(fleet.location.line),
            why: Why::Fleet {
                name: fleet.name.clone(),
                count: fleet.count,
            },
        }));
        return Err(error(scenario, refusals));
    }
    let mut simulated = Vec::new();
    for device in &scenario.devices {
        match &device.kind {
            DeviceKind::External { .. } => refusals.push(Refusal {
                line: Some(device.location.line),
                why: Why::ExternalDevice {
                    device: device.name.clone(),
                },
            }),
            DeviceKind::Simulated { app, parts, .. } => simulated.push((device, app, parts)),
        }
    }
    let Some(&(device, app, starting)) = simulated.first() else {
        return Err(error(scenario, refusals));
    };
    if let Some((second, ..)) = simulated.get(1) {
        refusals.push(Refusal {
            line: Some(second.location.line),
            why: Why::SeveralDevices {
                count: simulated.len(),
            },
        });
        return Err(error(scenario, refusals));
    }

    let app_parts = catalog.parts(app).unwrap_or_default();
    let image = match images.image(app) {
        Ok(image) => image,
        Err(why) => {
            // Without an image there is no wiring to map the steps to.
            if let Err(error) = settings::client_id(&device.client_id) {
                refusals.push(Refusal {
                    line: Some(device.location.line),
                    why: Why::ClientIdNotForImage {
                        client_id: device.client_id.clone(),
                        reason: error.to_string(),
                    },
                });
            }
            refusals.push(Refusal {
                line: Some(device.location.line),
                why,
            });
            return Err(error(scenario, refusals));
        }
    };
    let mut exporter = Exporter {
        fidelity,
        image: &image,
        app_parts: &app_parts,
        steps: Vec::new(),
        refusals,
        approximations: Vec::new(),
        window: Window::Fresh,
        time_passed_at: None,
        longest: Duration::ZERO,
    };
    let (build_env, secret_env) = exporter.build_env(device, app);
    for part in &app_parts {
        // The Wokwi board would answer the app's sensor with silence.
        if part.kind == PartKind::Tsl2591 {
            exporter.refuse(
                device.location.line,
                Why::PartNotInWokwi {
                    app: app.clone(),
                    part: part.name.clone(),
                },
            );
        }
    }
    exporter.starting_state(starting, &device.name);
    for step in &scenario.steps {
        exporter.step(step);
    }
    if !exporter.refusals.is_empty() {
        return Err(error(scenario, exporter.refusals));
    }

    let timeout = exporter.longest + BOOT_ALLOWANCE;
    let scenario_out = WokwiScenario {
        name: scenario.name.clone(),
        header: header(
            scenario,
            device,
            app,
            &image,
            (&build_env, &secret_env),
            timeout,
            &exporter.approximations,
        ),
        steps: exporter.steps,
    };
    Ok(Export {
        scenario: scenario_out,
        app: app.clone(),
        build_env,
        secret_env,
        timeout,
        approximations: exporter.approximations,
    })
}

fn error(scenario: &Scenario, mut refusals: Vec<Refusal>) -> ExportError {
    // Settings of the whole file first, then by line; stable, so the
    // refusals of one step stay in the order found.
    refusals.sort_by_key(|refusal| refusal.line);
    ExportError {
        file: scenario.file.clone(),
        refusals,
    }
}

fn header(
    scenario: &Scenario,
    device: &Device,
    app: &str,
    image: &WokwiImage,
    (build_env, secret_env): (&[(String, String)], &[String]),
    timeout: Duration,
    approximations: &[Approximation],
) -> Vec<String> {
    let settings: Vec<String> = build_env
        .iter()
        .map(|(name, value)| format!("{name}={}", shell_word(value)))
        .collect();
    // A secret is passed on from the build's environment, by name.
    let passed_on: Vec<String> = secret_env
        .iter()
        .map(|name| format!("{name}=\"${name}\""))
        .collect();
    let mut lines = vec![
        format!(
            "Wokwi automation scenario, exported by `hilt wokwi` from {}.",
            scenario.file.display()
        ),
        "Export it again rather than editing it.".to_owned(),
        String::new(),
        format!(
            "The board is the scenario's device `{}`: the `{app}` image, built in {} with",
            device.name, image.build.folder
        ),
        format!(
            "  {} HILT_BROKER=<host:port> {}",
            settings
                .iter()
                .chain(&passed_on)
                .cloned()
                .collect::<Vec<_>>()
                .join(" "),
            image.build.command
        ),
    ];
    if !secret_env.is_empty() {
        lines.push(format!(
            "  ({} from the environment: a secret, so not written here)",
            secret_env.join(", ")
        ));
    }
    if let Some(copy) = image.build.copy_command() {
        lines.push(format!("  {copy}"));
    }
    lines.extend([
        format!(
            "Then: wokwi-cli --scenario <this file> --timeout {} --fail-text {} <folder of wokwi.toml>",
            timeout.as_millis(),
            shell_word(PANIC_TEXT)
        ),
        format!("hilt-app: {app}"),
    ]);
    lines.extend(
        settings
            .iter()
            .map(|setting| format!("hilt-env: {setting}")),
    );
    lines.extend(secret_env.iter().map(|name| format!("hilt-secret: {name}")));
    lines.push(format!("hilt-timeout-ms: {}", timeout.as_millis()));
    if !approximations.is_empty() {
        lines.push(String::new());
        lines.push("Approximated (the hilt-wokwi crate documents the mapping):".to_owned());
        lines.extend(
            approximations.iter().map(|approximation| {
                format!("  line {}: {}", approximation.line, approximation.note)
            }),
        );
    }
    lines
}

/// `text` as one shell word: as is when it is plain, else single-quoted.
fn shell_word(text: &str) -> String {
    let plain = !text.is_empty()
        && text
            .chars()
            .all(|character| character.is_ascii_alphanumeric() || "_-.,:/@%+".contains(character));
    if plain {
        text.to_owned()
    } else {
        format!("'{}'", text.replace('\'', r"'\''"))
    }
}

/// Where hilt's message window stands against Wokwi's, which opens when a
/// `wait-serial` starts.
#[derive(Clone, Copy, Debug)]
enum Window {
    /// No simulated time has passed since hilt's window opened (at the
    /// latest action, or just after the previous matched message).
    Fresh,
    /// Time passed in the step at this line since hilt's window opened.
    Stale { line: usize, what: &'static str },
}

struct Exporter<'a> {
    fidelity: Fidelity,
    /// The image of the device's app: its settings and its Wokwi wiring.
    image: &'a WokwiImage,
    /// The device's parts, as the app declares them.
    app_parts: &'a [hilt_scenario::PartDescription],
    steps: Vec<WokwiStep>,
    refusals: Vec<Refusal>,
    approximations: Vec<Approximation>,
    window: Window,
    /// The first step that let simulated time pass, for `since: start`.
    time_passed_at: Option<usize>,
    /// hilt's longest device time for the steps so far.
    longest: Duration,
}

impl Exporter<'_> {
    /// `HILT_CLIENT_ID` and `HILT_<KEY>` for each `config:` key, named and
    /// checked by the app's settings type (`hilt_firmware::settings`), the
    /// one firmware/build.rs reads them with: a value the image build would
    /// refuse, a key the image does not have, and a key whose value is not
    /// one text are refused here, at their line.
    /// Secret settings (`password`) are checked the same way, but only
    /// their variables' names are returned, in the second list.
    fn build_env(&mut self, device: &Device, app: &str) -> (Vec<(String, String)>, Vec<String>) {
        let mut env = vec![("HILT_CLIENT_ID".to_owned(), device.client_id.clone())];
        let mut secrets = Vec::new();
        if let Err(error) = settings::client_id(&device.client_id) {
            self.refuse(
                device.location.line,
                Why::ClientIdNotForImage {
                    client_id: device.client_id.clone(),
                    reason: error.to_string(),
                },
            );
        }
        let DeviceKind::Simulated { config, .. } = &device.kind else {
            return (env, secrets);
        };
        let mut settings = self.image.settings(&device.client_id);
        for entry in &config.entries {
            let ConfigValue::Scalar { text, .. } = &entry.value else {
                self.refuse(
                    entry.key_location.line,
                    Why::ConfigNotText {
                        key: entry.key.clone(),
                    },
                );
                continue;
            };
            let Some(key) = settings.keys().iter().find(|key| key.name == entry.key) else {
                self.refuse(
                    entry.key_location.line,
                    Why::UnknownSetting {
                        app: app.to_owned(),
                        key: entry.key.clone(),
                    },
                );
                continue;
            };
            match settings.set(key.name, text) {
                Ok(()) if key.secret => secrets.push(key.variable().to_string()),
                Ok(()) => env.push((key.variable().to_string(), text.clone())),
                Err(error) => self.refuse(
                    entry.key_location.line,
                    Why::SettingRefused {
                        variable: key.variable().to_string(),
                        value: if key.secret { None } else { Some(text.clone()) },
                        reason: error.to_string(),
                    },
                ),
            }
        }
        let given = |name: &str| config.entries.iter().any(|entry| entry.key == name);
        for key in settings.keys() {
            if given(key.name) {
                continue;
            }
            if key.required {
                self.refuse(
                    device.location.line,
                    Why::MissingSetting {
                        app: app.to_owned(),
                        key: key.name.to_owned(),
                    },
                );
            } else if key.defaults_to_device_name
                && device.name != device.client_id
                && settings.set(key.name, &device.name).is_ok()
            {
                // The simulation names the board by its device name; an
                // image would use the client id, so the export says which.
                env.push((key.variable().to_string(), device.name.clone()));
            }
        }
        (env, secrets)
    }

    fn push(&mut self, name: Option<String>, action: Action) {
        self.steps.push(WokwiStep { name, action });
    }

    fn refuse(&mut self, line: usize, why: Why) {
        self.refusals.push(Refusal {
            line: Some(line),
            why,
        });
    }

    /// A check Wokwi cannot make exactly: refused when faithful, noted as an
    /// approximation (`weaker`, a sentence) when weakened. True if weakened.
    fn weaken(&mut self, line: usize, why: Why, weaker: &str) -> bool {
        match self.fidelity {
            Fidelity::Faithful => {
                self.refuse(line, why);
                false
            }
            Fidelity::Weakened => {
                self.approximations.push(Approximation {
                    line,
                    note: format!("{weaker} ({why})"),
                });
                true
            }
        }
    }

    fn time_passes(&mut self, line: usize, what: &'static str, longest: Duration) {
        self.longest += longest;
        if longest.is_zero() {
            return;
        }
        self.time_passed_at.get_or_insert(line);
        self.window = Window::Stale { line, what };
    }

    /// The device's `parts:`, set before the board runs (the simulation
    /// starts paused when wokwi-cli is given a scenario).
    fn starting_state(&mut self, settings: &[PartSetting], device: &str) {
        let unset: Vec<WiredPart> = self
            .wired_of_kind(PartKind::Ds18b20)
            .into_iter()
            .filter(|wired| {
                !settings.iter().any(|setting| {
                    setting.target.part == wired.pin.part
                        && matches!(setting.value, PartValue::Temperature(_))
                })
            })
            .collect();
        for wired in unset {
            self.push(
                Some(format!(
                    "starting state: {device}.{}.temperature = {HILT_DS18B20_CELSIUS} °C (hilt's default)",
                    wired.pin.part
                )),
                temperature(&wired, HILT_DS18B20_CELSIUS),
            );
        }
        for setting in settings {
            let name = format!("starting state: {}", describe_setting(setting));
            self.setting(setting, Some(name));
        }
    }

    /// The kind of the app's part `name`, as the app declares it.
    fn kind_of(&self, name: &str) -> Option<PartKind> {
        self.app_parts
            .iter()
            .find(|part| part.name == name)
            .map(|part| part.kind)
    }

    /// The wired parts that the app declares as `kind`, in wiring order.
    fn wired_of_kind(&self, kind: PartKind) -> Vec<WiredPart> {
        self.image
            .wiring
            .parts
            .iter()
            .filter(|wired| self.kind_of(wired.pin.part) == Some(kind))
            .cloned()
            .collect()
    }

    fn setting(&mut self, setting: &PartSetting, name: Option<String>) {
        let line = setting.target.location.line;
        match &setting.value {
            PartValue::Temperature(celsius) => {
                if let Some(wired) = self.wired(&setting.target, PartKind::Ds18b20) {
                    self.push(name, temperature(&wired, *celsius));
                }
            }
            PartValue::Fault(None) => {}
            PartValue::Fault(Some(fault))
                if self.kind_of(&setting.target.part) == Some(PartKind::Ds18b20) =>
            {
                self.refuse(
                    line,
                    Why::Fault {
                        part: setting.target.to_string(),
                        fault: fault.clone(),
                    },
                )
            }
            PartValue::Fault(Some(_)) | PartValue::Lux(_) => self.refuse(
                line,
                Why::NoWokwiPart {
                    setting: describe_setting(setting),
                },
            ),
        }
    }

    /// The Wokwi part for the app's part `part`, of `kind`; refused when
    /// the image's wiring has none of that name.
    fn wired(&mut self, part: &PartRef, kind: PartKind) -> Option<WiredPart> {
        let wired = self.wired_of_kind(kind);
        if let Some(found) = wired.iter().find(|wired| wired.pin.part == part.part) {
            return Some(found.clone());
        }
        let known: Vec<String> = wired
            .iter()
            .map(|wired| format!("`{}`", wired.pin.part))
            .collect();
        self.refuse(
            part.location.line,
            Why::NotOnPinMap {
                part: part.to_string(),
                known,
            },
        );
        None
    }

    fn button(&mut self, name: Option<String>, part: &PartRef, pressed: bool) -> bool {
        let Some(wired) = self.wired(part, PartKind::Button) else {
            return false;
        };
        self.push(
            name,
            Action::SetControl {
                part_id: wired.part_id,
                control: "pressed".to_owned(),
                value: ControlValue::Integer(i64::from(pressed)),
            },
        );
        true
    }

    fn expect_gpio(&mut self, name: Option<String>, gpio: u8, high: bool) {
        self.push(
            name,
            Action::ExpectPin {
                part_id: self.image.wiring.board.clone(),
                pin: gpio.to_string(),
                value: u8::from(high),
            },
        );
    }

    fn step(&mut self, step: &Step) {
        let line = step.location.line;
        let name = Some(match &step.name {
            Some(name) => format!("line {line}: {name}"),
            None => format!(
                "line {line}: {}",
                step.kind.describe(StepDescription::WokwiName {
                    duration: wokwi_duration
                })
            ),
        });
        match &step.kind {
            StepKind::Wait(duration) => {
                if !duration.is_zero() {
                    self.push(name, Action::Delay(*duration));
                }
                // The window opens as the wait starts, so messages during
                // it are in the next expectation's window.
                self.window = Window::Fresh;
                self.time_passes(line, "wait", *duration);
            }
            StepKind::Press(part) => {
                self.button(name, part, true);
                self.window = Window::Fresh;
            }
            StepKind::Release(part) => {
                self.button(name, part, false);
                self.window = Window::Fresh;
            }
            StepKind::Click(part) => {
                if self.button(name, part, true) {
                    self.push(None, Action::Delay(CLICK_HOLD));
                    self.button(None, part, false);
                }
                self.window = Window::Fresh;
                self.time_passes(line, "click", CLICK_HOLD);
            }
            StepKind::Set(settings) => {
                let mut name = name;
                for setting in settings {
                    self.setting(setting, name.take());
                }
                self.window = Window::Fresh;
            }
            StepKind::Publish(_) => {
                self.refuse(line, Why::Publish);
                self.window = Window::Fresh;
            }
            StepKind::Expect(Expectation::Message(expectation)) => {
                self.message(line, name, expectation);
            }
            StepKind::Expect(Expectation::Led(expectation)) => {
                if let Some(wired) = self.wired(&expectation.led, PartKind::Led) {
                    self.led(
                        line,
                        name,
                        wired.pin.gpio,
                        expectation.on,
                        expectation.timing,
                    );
                }
            }
            StepKind::Expect(Expectation::Pin(expectation)) => {
                match board_gpio(&expectation.pin.part) {
                    Some(gpio) => self.expect_gpio(name, gpio, expectation.high),
                    None => self.refuse(
                        line,
                        Why::PinNotOnBoard {
                            part: expectation.pin.to_string(),
                            gpio: expectation.pin.part.trim_start_matches("gpio").to_owned(),
                        },
                    ),
                }
            }
            StepKind::Expect(Expectation::Blink(_)) => self.refuse(line, Why::Blink),
            StepKind::Broker(_) => self.fault_step(line, "broker"),
            StepKind::Network(_) => self.fault_step(line, "network"),
            StepKind::Reboot(_) => self.fault_step(line, "reboot"),
            StepKind::Hang(_) => self.fault_step(line, "hang"),
            StepKind::Panic(_) => self.fault_step(line, "panic"),
            StepKind::Flash(_) => self.fault_step(line, "flash"),
            StepKind::Tls(_) => self.fault_step(line, "tls"),
            StepKind::Revoke(_) => self.fault_step(line, "broker"),
            StepKind::Ota(_) => self.fault_step(line, "ota"),
            // It names an external device, which is refused above; the step
            // is refused too, as hilt's own relay is what it waits on.
            StepKind::WaitConnected(_) => self.fault_step(line, "wait: { connected }"),
        }
    }

    fn fault_step(&mut self, line: usize, step: &'static str) {
        self.refuse(line, Why::FaultStep { step });
        // An action all the same: hilt's message window opens here.
        self.window = Window::Fresh;
    }

    fn led(&mut self, line: usize, name: Option<String>, gpio: u8, on: bool, timing: LedTiming) {
        let state = if on { "on" } else { "off" };
        match timing {
            LedTiming::Now => self.expect_gpio(name, gpio, on),
            LedTiming::Within(window) if window.is_zero() => self.expect_gpio(name, gpio, on),
            LedTiming::Within(window) => {
                self.push(name, Action::Delay(window));
                self.expect_gpio(None, gpio, on);
                self.approximations.push(Approximation {
                    line,
                    note: format!(
                        "`is: {state}, within: {}` is checked once, at the end of the {} \
                         (stricter: the LED must still be {state} then)",
                        wokwi_duration(window),
                        wokwi_duration(window)
                    ),
                });
                self.time_passes(line, "LED expectation", window);
            }
            LedTiming::For(span) => {
                let samples = sample_times(span);
                self.expect_gpio(name, gpio, on);
                let mut previous = Duration::ZERO;
                for at in &samples {
                    self.push(None, Action::Delay(*at - previous));
                    self.expect_gpio(None, gpio, on);
                    previous = *at;
                }
                if !span.is_zero() {
                    self.approximations.push(Approximation {
                        line,
                        note: format!(
                            "`is: {state}, for: {}` is checked {} times, every {} (a change \
                             between two checks is missed)",
                            wokwi_duration(span),
                            samples.len() + 1,
                            wokwi_duration(samples.first().copied().unwrap_or_default())
                        ),
                    });
                }
                self.time_passes(line, "LED expectation", span);
            }
        }
    }

    fn message(&mut self, line: usize, name: Option<String>, expectation: &MessageExpectation) {
        let before = self.refusals.len();
        let mut text = self.serial_text(line, expectation);
        let skipped = "not checked: the message may come before Wokwi starts waiting";
        if expectation.since_start {
            if let Some(earlier) = self.time_passed_at
                && self.weaken(line, Why::SinceStart { line: earlier }, skipped)
            {
                text = None;
            }
        } else if let Window::Stale {
            line: earlier,
            what,
        } = self.window
            && self.weaken(
                line,
                Why::WindowOpenedEarlier {
                    line: earlier,
                    what,
                },
                skipped,
            )
        {
            text = None;
        }
        if let Some(text) = text
            && self.refusals.len() == before
        {
            self.push(name, Action::WaitSerial(text));
        }
        // The match opens the next window; waiting took time.
        self.longest += expectation.within;
        self.window = Window::Fresh;
        if !expectation.within.is_zero() {
            self.time_passed_at.get_or_insert(line);
        }
    }

    /// The text to wait for, or `None` with the refusals recorded (or, when
    /// weakened, with nothing to check).
    fn serial_text(&mut self, line: usize, expectation: &MessageExpectation) -> Option<String> {
        let before = self.refusals.len();
        let filter = &expectation.filter;
        // Below, a weakened check falls back to "a message on the topic".
        let mut topic_only = false;
        if filter.contains(['+', '#'])
            && self.weaken(
                line,
                Why::Wildcard {
                    filter: filter.clone(),
                },
                "not checked: a serial line names one topic",
            )
        {
            return None;
        }
        match expectation.count {
            Some(0)
                if self.weaken(
                    line,
                    Why::Count { count: 0 },
                    "not checked: Wokwi cannot wait for something not to happen",
                ) =>
            {
                return None;
            }
            Some(0) => {}
            Some(count) => {
                topic_only |= self.weaken(
                    line,
                    Why::Count { count },
                    "checked as one message on the topic",
                );
            }
            None => {}
        }
        // What the payload must be: all of it, or its start.
        let payload: Option<(Vec<u8>, bool)> = match &expectation.body {
            None => None,
            Some(PayloadMatch::Exact(text)) => Some((text.as_bytes().to_vec(), true)),
            Some(PayloadMatch::Json(_)) => {
                topic_only |= self.weaken(line, Why::Json, "the payload is not checked");
                None
            }
            Some(PayloadMatch::Regex(regex)) => match anchored_literal(regex.as_str()) {
                Some(literal) => Some(literal),
                None => {
                    topic_only |= self.weaken(
                        line,
                        Why::Regex {
                            pattern: regex.as_str().to_owned(),
                        },
                        "the payload is not checked",
                    );
                    None
                }
            },
        };
        if topic_only {
            return (self.refusals.len() == before).then(|| line_start(filter));
        }
        let text = match (payload, expectation.qos, expectation.retain) {
            (None, None, None) => Some(line_start(filter)),
            (None, None, Some(_)) => self
                .weaken(
                    line,
                    Why::RetainWithoutQos,
                    "the retain flag is not checked",
                )
                .then(|| line_start(filter)),
            (None, Some(qos), retain) => {
                let whole = message_line(filter, b"", qos, retain.unwrap_or(false));
                let cut = match retain {
                    // Up to and including `payload=`.
                    Some(_) => whole.len(),
                    // Up to and including `qos=<q> `.
                    None => whole.rfind("retain=").unwrap_or(whole.len()),
                };
                Some(whole[..cut].to_owned())
            }
            (Some((payload, whole)), Some(qos), Some(retain)) => {
                let mut text = message_line(filter, &payload, qos, retain);
                if whole {
                    text.push_str(serial_line_end());
                }
                Some(text)
            }
            (Some(_), _, _) => self
                .weaken(
                    line,
                    Why::PayloadWithoutQosRetain,
                    "the payload is not checked",
                )
                .then(|| line_start(filter)),
        };
        text.filter(|_| self.refusals.len() == before)
    }
}

/// Sets the DS18B20 `wired` to `celsius`.
fn temperature(wired: &WiredPart, celsius: f64) -> Action {
    Action::SetControl {
        part_id: wired.part_id.clone(),
        control: "temperature".to_owned(),
        value: ControlValue::Real(celsius),
    }
}

/// `[hilt] publish <topic> `: the start of every line for `topic`.
fn line_start(topic: &str) -> String {
    let mut text = String::new();
    let _ = serial_log::write_line_prefix(&mut text, Direction::Publish, topic);
    text
}

/// The whole line (without its end) the board prints when it publishes.
fn message_line(topic: &str, payload: &[u8], qos: u8, retain: bool) -> String {
    let mut text = String::new();
    let _ =
        serial_log::write_message_line(&mut text, Direction::Publish, topic, payload, qos, retain);
    text
}

/// For `^text$` the text and `true`, for `^text` the text and `false`;
/// `None` for any other regex. Escaped characters count as text (`\.` is a
/// dot); classes, repetitions, alternations, flags that widen a match, and
/// multi-line anchors do not.
fn anchored_literal(pattern: &str) -> Option<(Vec<u8>, bool)> {
    use regex_syntax::hir::{HirKind, Look};
    let hir = regex_syntax::parse(pattern).ok()?;
    let items = match hir.kind() {
        HirKind::Concat(items) => items.as_slice(),
        _ => std::slice::from_ref(&hir),
    };
    let (first, rest) = items.split_first()?;
    if *first.kind() != HirKind::Look(Look::Start) {
        return None;
    }
    let (whole, middle) = match rest.split_last() {
        Some((last, middle)) if *last.kind() == HirKind::Look(Look::End) => (true, middle),
        _ => (false, rest),
    };
    match middle {
        [] => Some((Vec::new(), whole)),
        [only] => match only.kind() {
            HirKind::Literal(literal) => Some((literal.0.to_vec(), whole)),
            _ => None,
        },
        _ => None,
    }
}

/// `gpio4` → 4, if the board has that pin.
fn board_gpio(part: &str) -> Option<u8> {
    let gpio: u8 = part.strip_prefix("gpio")?.parse().ok()?;
    BOARD_PINS.contains(&gpio).then_some(gpio)
}

/// When `for:` is checked after its first check: evenly, at least
/// [`MIN_SAMPLE_GAP`] apart, at most [`MAX_SAMPLES`] times, the last at
/// `span`.
fn sample_times(span: Duration) -> Vec<Duration> {
    if span.is_zero() {
        return Vec::new();
    }
    let nanos = span.as_nanos();
    let count = nanos
        .div_ceil(MIN_SAMPLE_GAP.as_nanos())
        .clamp(1, u128::from(MAX_SAMPLES));
    (1..=count)
        .map(|index| {
            let at = nanos * index / count;
            Duration::from_nanos(u64::try_from(at).unwrap_or(u64::MAX))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_text_anchored_at_the_start_is_a_literal() {
        let exact = |pattern: &str| anchored_literal(pattern);
        assert_eq!(
            exact(r#"^\{"degrees": 72\.5, "unit": "F"\}$"#),
            Some((br#"{"degrees": 72.5, "unit": "F"}"#.to_vec(), true))
        );
        assert_eq!(exact("^on"), Some((b"on".to_vec(), false)));
        assert_eq!(exact("^$"), Some((Vec::new(), true)));
        assert_eq!(exact("on$"), None);
        assert_eq!(exact("on"), None);
        assert_eq!(exact(r"^\d+$"), None);
        assert_eq!(exact("(?i)^on$"), None);
        assert_eq!(exact("(?m)^on$"), None);
        assert_eq!(exact("^(on|off)$"), None);
    }

    #[test]
    fn for_is_sampled_at_most_every_100ms_and_at_most_100_times() {
        assert_eq!(sample_times(Duration::from_secs(2)).len(), 20);
        assert_eq!(
            sample_times(Duration::from_secs(2)).last(),
            Some(&Duration::from_secs(2))
        );
        assert_eq!(
            sample_times(Duration::from_millis(150)),
            vec![Duration::from_millis(75), Duration::from_millis(150)]
        );
        let day = sample_times(Duration::from_secs(86_400));
        assert_eq!(day.len(), 100);
        assert_eq!(day[0], Duration::from_secs(864));
        assert!(sample_times(Duration::ZERO).is_empty());
    }

    #[test]
    fn board_pins_are_wokwis() {
        assert_eq!(board_gpio("gpio4"), Some(4));
        assert_eq!(board_gpio("gpio19"), Some(19));
        assert_eq!(board_gpio("gpio11"), None);
        assert_eq!(board_gpio("led"), None);
    }
}
