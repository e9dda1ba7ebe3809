//! Exports a single-device hilt scenario as a Wokwi automation scenario: the
//! YAML file `wokwi-cli --scenario` (and `wokwi/wokwi-ci-action`) runs
//! against the real firmware image in Wokwi's simulator.
//!
//! A Wokwi scenario can do much less than a hilt one. It drives parts
//! (`set-control`), lets simulated time pass (`delay`), reads a pin at one
//! instant (`expect-pin`) and waits for text in the board's serial output
//! (`wait-serial`). The board prints one
//! [`serial_log`](hilt_firmware::serial_log) line for every MQTT
//! message it publishes or receives, so a message expectation becomes a wait
//! for that line. Everything else is refused, each step with its line and
//! the reason, rather than exported as a check that means something else.
//!
//! # The mapping
//!
//! | hilt step | Wokwi steps |
//! |---|---|
//! | device `parts:` starting temperature | `set-control` of the DS18B20's `temperature` before anything runs (hilt's default, 20 °C, when none is given) |
//! | `wait: d` | `delay: d` (`wait: 0` is nothing) |
//! | `press` / `release` of the button | `set-control` of the pushbutton's `pressed` to 1 / 0 |
//! | `click` | `pressed` 1, `delay: 100ms`, `pressed` 0 |
//! | `set: temperature` | `set-control` of the DS18B20's `temperature` (°C in both) |
//! | `set: fault: none` | nothing: no fault can have been set (fault steps are refused) |
//! | `expect: { led, is }` now | `expect-pin` of the LED's GPIO on the board, 1 for on |
//! | `expect: { led, is, within: d }` | **approximated**: `delay: d`, then `expect-pin`. Stricter than hilt: the LED must still be so at the end of the window, and later steps start up to `d` later |
//! | `expect: { led, is, for: d }` | **approximated by sampling**: `expect-pin` now and at most 100 more times, at least 100ms apart, the last at `d`; a change shorter than the gap is missed |
//! | `expect: { pin, level }` | `expect-pin` of that GPIO, 1 for high |
//! | message, topic only | `wait-serial` for the line's start, `[hilt] publish <topic> ` (`qos=<q> ` added when `qos:` is given, and `retain=<r> payload=` when `retain:` is too) |
//! | message, `payload:` (or `matches: '^text$'`) with `qos:` and `retain:` | `wait-serial` for the whole line and its newline |
//! | message, `matches: '^text'` with `qos:` and `retain:` | `wait-serial` for the line up to and including that start of the payload (no newline) |
//!
//! A message expectation waits for the board's own `publish` line: with one
//! device and no harness publishes, every message the broker routes was
//! published by that device. Its `within:` is not enforced (a `wait-serial`
//! has no deadline); the run as a whole is bounded by the timeout given to
//! `wokwi-cli`, for which the export suggests hilt's longest device time
//! for the scenario plus [`BOOT_ALLOWANCE`].
//!
//! The header of the file says how to build the image for the scenario's
//! device: its client id and `config:` as the `HILT_*` variables
//! firmware/build.rs reads (`# hilt-env:` lines), named and checked by the
//! app's settings type (`hilt_firmware::settings`) as the build checks
//! them, the app (`# hilt-app:`) and the suggested timeout
//! (`# hilt-timeout-ms:`), which CI reads.
//!
//! What the export knows about the image comes from an [`Images`]: hilt's
//! own image (firmware/, [`BundledImages`]) runs the bundled board apps,
//! wired as `hilt_firmware::pins` and diagram.json say; an app registered by
//! a user describes its own with a [`WokwiImage`] (hilt-runner's
//! `SimulatedApp::wokwi_image`; its `Registry` is an [`Images`], and
//! [`export_from`] takes one): where the image is built, its settings type,
//! and the Wokwi part and GPIO of each of its parts.
//!
//! Refused: more than one simulated device, external devices, an external
//! broker, `time: real`; a `config:` value that is a list or map (the image
//! takes one text per setting), and an app, a `config:` key or value, a
//! missing required key or a client id the image build would refuse; apps
//! with a TSL2591 (Wokwi has none), and
//! setting its lux or fault; DS18B20 faults (Wokwi's part has only a
//! `temperature` control); harness `publish`; `blinks:`; `broker`,
//! `network`, `reboot` and `hang`; topic filters with wildcards; `count:`; `json:`;
//! other regexes; a payload without `qos:` and `retain:` (they sit between
//! topic and payload in the line, and a `wait-serial` matches one unbroken
//! piece of text); `since: start` once time has passed; and a message
//! expectation whose hilt window opened before time passed in an earlier
//! step (after a `wait`, a `click` or an approximated LED expectation),
//! since a `wait-serial` only sees output from its own start.
//!
//! # The Wokwi format
//!
//! Read from wokwi-cli's source (github.com/wokwi/wokwi-cli):
//! `packages/cli/src/TestScenario.ts` (top-level `name`, `version: 1`,
//! `author`, `steps`; a step is a map of `name` plus one command key),
//! `packages/cli/src/commands/simulate.ts` (the command keys, and the
//! simulation starting paused when a scenario is given),
//! `packages/cli/src/scenario/DelayCommand.ts` and `utils/parseTime.ts`
//! (`delay` takes a string with one of the units `ns`, `us`, `ms`, `s`),
//! `scenario/SetControlCommand.ts` (`part-id`, `control` (now also `name`),
//! numeric `value`), `scenario/ExpectPinCommand.ts` (`part-id`, `pin` (now
//! also `name`), `value` compared with 0 or 1 at that instant),
//! `scenario/WaitSerialCommand.ts` with `packages/client/src/APIClient.ts`
//! (`waitForSerialBytes`: a pause point on the exact bytes, in the serial
//! output from the step's start on). `control:` and `pin:` are the spellings
//! Wokwi's documentation uses and every wokwi-cli version accepts. The
//! DS18B20's `temperature` control is in wokwi-docs
//! `docs/parts/wokwi-ds18b20.md`; the board's pin names in wokwi-cli
//! `packages/diagram-lint/src/registry/parts/board-esp32-c3-devkitm-1.json`.

mod error;
mod export;
mod image;
mod isolate;
mod parts;
mod wokwi;

pub use error::{ExportError, Refusal, Why};
pub use export::{
    Approximation, BOOT_ALLOWANCE, CLICK_HOLD, Export, Fidelity, HILT_DS18B20_CELSIUS, MAX_SAMPLES,
    MIN_SAMPLE_GAP, export, export_from, export_with, serial_line_end,
};
pub use image::{BundledImages, ImageBuild, Images, PANIC_TEXT, WiredPart, Wiring, WokwiImage};
pub use isolate::{MAX_CLIENT_SUFFIX_LEN, SuffixError, with_client_suffix};
pub use parts::{BOARD_PINS, PartIds};
pub use wokwi::{Action, ControlValue, WokwiScenario, WokwiStep, wokwi_duration};
