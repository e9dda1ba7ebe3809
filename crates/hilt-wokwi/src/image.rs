//! What the export needs to know about the firmware image that runs an app:
//! where it is built, how a scenario's `config:` becomes its build-time
//! settings, and which Wokwi part (and GPIO) stands for each of its parts.
//!
//! hilt's own image (firmware/) runs the bundled board apps, wired as
//! `hilt_firmware::pins` says ([`BundledImages`]); a user's app describes
//! its own image with a [`WokwiImage`] (its registration's
//! `SimulatedApp::wokwi_image`, in hilt-runner, whose `Registry` is an
//! [`Images`]).

use std::fmt;
use std::sync::Arc;

use hilt_firmware::apps::{AppSettings, BOARD_APPS};
use hilt_firmware::pins::{self, PinAssignment};
use hilt_firmware::settings::Settings;

use crate::error::Why;
use crate::parts::PartIds;

/// The serial line an image prints first when it panics: the banner of
/// esp-backtrace's panic handler (version 0.20, which firmware/ and the
/// `hilt init` image use, without its `colors` feature). A Wokwi run given it
/// as `--fail-text` (wokwi-ci-action's `fail_text`) fails at the panic
/// instead of waiting out its timeout.
pub const PANIC_TEXT: &str = "====================== PANIC ======================";

/// Makes an app's settings, at their defaults for a board with a client id.
type SettingsFor = dyn Fn(&str) -> Box<dyn Settings> + Send + Sync;

/// The firmware image of one app, as far as the export needs it.
#[derive(Clone)]
pub struct WokwiImage {
    /// Where and how it is built; the exported file's header says so.
    pub build: ImageBuild,
    /// The Wokwi parts of its `diagram.json`.
    pub wiring: Wiring,
    settings: Arc<SettingsFor>,
}

impl fmt::Debug for WokwiImage {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("WokwiImage")
            .field("build", &self.build)
            .field("wiring", &self.wiring)
            .finish_non_exhaustive()
    }
}

impl WokwiImage {
    /// An image built as `build` says, wired as `wiring` says, whose build
    /// reads the app's settings (`HILT_<KEY>`) with the settings type
    /// `settings` makes for a client id: the one the app's registration
    /// reads a scenario's `config:` with.
    pub fn new(
        build: ImageBuild,
        wiring: Wiring,
        settings: impl Fn(&str) -> Box<dyn Settings> + Send + Sync + 'static,
    ) -> Self {
        WokwiImage {
            build,
            wiring,
            settings: Arc::new(settings),
        }
    }

    /// hilt's own image (firmware/) running the bundled board app `app`,
    /// with the part ids `parts`; `None` for an app that image does not run.
    pub fn bundled(app: &str, parts: &PartIds) -> Option<Self> {
        if !BOARD_APPS.contains(&app) {
            return None;
        }
        // Every board app has settings (a hilt-firmware test checks it); the
        // prototype only stands in if that ever stopped being so.
        let prototype = AppSettings::new(app, "")?;
        let name = app.to_owned();
        Some(WokwiImage::new(
            ImageBuild::new(
                "firmware/",
                &format!("cargo build --release --no-default-features --features {app}"),
            )
            .with_elf("target/riscv32imc-unknown-none-elf/release/hilt-esp32c3"),
            Wiring::new(&parts.board)
                .with(pins::BUTTON, &parts.button)
                .with(pins::LED, &parts.led)
                .with(pins::ONE_WIRE, &parts.ds18b20),
            move |client_id| {
                Box::new(AppSettings::new(&name, client_id).unwrap_or_else(|| prototype.clone()))
            },
        ))
    }

    /// The app's settings, at their defaults for a board with `client_id`.
    pub fn settings(&self, client_id: &str) -> Box<dyn Settings> {
        (self.settings)(client_id)
    }
}

/// How an image is built, for the header of the exported file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImageBuild {
    /// The folder to build in, as the user knows it (`firmware/`, `image/`).
    pub folder: String,
    /// The command, run there after the `HILT_*` variables
    /// (`cargo build --release`).
    pub command: String,
    /// The ELF the command writes, relative to `folder`, when Wokwi is to
    /// load a copy of it whose name ends in `.elf` (see [`ImageBuild::with_elf`]).
    pub elf: Option<String>,
}

impl ImageBuild {
    pub fn new(folder: &str, command: &str) -> Self {
        ImageBuild {
            folder: folder.to_owned(),
            command: command.to_owned(),
            elf: None,
        }
    }

    /// The build writes its ELF at `path` (relative to the folder), a name
    /// without extension as cargo gives it, and `wokwi.toml` names a copy
    /// at `path.elf`: wokwi-cli names its upload after the extension, which
    /// is how Wokwi tells an ELF from a flash image. The exported header
    /// then says to make the copy after the build.
    pub fn with_elf(mut self, path: &str) -> Self {
        self.elf = Some(path.to_owned());
        self
    }

    /// The command that copies the ELF to the name `wokwi.toml` gives it,
    /// if the build needs one.
    pub fn copy_command(&self) -> Option<String> {
        self.elf.as_ref().map(|elf| format!("cp {elf} {elf}.elf"))
    }
}

/// The Wokwi wiring of an image: its `diagram.json`, as part ids and GPIOs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Wiring {
    /// The id of the `board-esp32-c3-devkitm-1`; LED and pin expectations
    /// read its GPIOs.
    pub board: String,
    /// The app's parts that Wokwi has, by their names in scenarios.
    pub parts: Vec<WiredPart>,
}

impl Wiring {
    /// The board with the part id `board`, and no parts yet.
    pub fn new(board: &str) -> Self {
        Wiring {
            board: board.to_owned(),
            parts: Vec::new(),
        }
    }

    /// Adds the app's part `pin.part`, on `pin.gpio`, which `diagram.json`
    /// calls `part_id`: a `wokwi-pushbutton` for a button, a `wokwi-led`
    /// for an LED, a `wokwi-ds18b20` for a DS18B20.
    pub fn with(mut self, pin: PinAssignment, part_id: &str) -> Self {
        self.parts.push(WiredPart {
            pin,
            part_id: part_id.to_owned(),
        });
        self
    }

    /// The part the app names `name`, if it is wired.
    pub fn part(&self, name: &str) -> Option<&WiredPart> {
        self.parts.iter().find(|part| part.pin.part == name)
    }
}

/// One of an app's parts in Wokwi.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WiredPart {
    /// The part's name in scenarios and its GPIO (the app's pin map).
    pub pin: PinAssignment,
    /// Its id in `diagram.json`.
    pub part_id: String,
}

/// Where the export finds the image of a scenario's app.
pub trait Images {
    /// The image that runs `app`, or why none does (the refusal).
    fn image(&self, app: &str) -> Result<WokwiImage, Why>;
}

/// hilt's own image (firmware/), which runs the bundled board apps.
#[derive(Clone, Debug, Default)]
pub struct BundledImages {
    /// The part ids of diagram.json (the wiring of firmware/).
    pub parts: PartIds,
}

impl Images for BundledImages {
    fn image(&self, app: &str) -> Result<WokwiImage, Why> {
        WokwiImage::bundled(app, &self.parts).ok_or_else(|| Why::AppNotInImage {
            app: app.to_owned(),
        })
    }
}
