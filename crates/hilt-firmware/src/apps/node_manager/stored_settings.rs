//! Settings that survive a reset: what `set` changes is kept in the
//! board's flash, in the `settings` partition
//! ([`crate::partitions::SETTINGS`]), as a sequential-storage map, and read
//! back at boot over the `config:` defaults.
//!
//! **Item format.** The region is this store's when it holds the item
//! [`FORMAT_KEY`] = [`FORMAT_VERSION`] (`format` = `1`), written before the
//! first setting; an erased region is an empty store. One map item per
//! setting. The key is the setting's
//! name as `set` spells it (`blinky_hz`, `sysinfo_interval`, `log_level`),
//! stored as sequential-storage stores a `heapless::String`: its length as
//! a little-endian `u16`, then the UTF-8 bytes. The value is the setting in
//! the text `set` accepts, at most [`VALUE_LEN`] bytes: `blinky_hz` as Rust
//! writes an `f32` with `{:?}` (`2.5`, `4.0`, `1e-5`), `sysinfo_interval`
//! in whole seconds (`30`), `log_level` by name (`debug`). sequential-storage
//! adds its own item header (length and CRC) and page markers, and keeps
//! only the newest item of a key. Reading a value back goes through the same
//! parser as `set`, so a stored value means what the command meant.
//!
//! **Corruption.** sequential-storage repairs what a power cut leaves
//! (a torn item is skipped: the key keeps its older value), but it reads a
//! region of garbage as an empty map. So the store checks for itself: a
//! region that is neither erased nor marked with the format item, a format
//! it does not know, or a value `set` would refuse is corrupt, and the app
//! then uses its defaults, says so, and erases the region.
//!
//! sequential-storage's API is async over embedded-storage-async. The
//! store takes the board's blocking flash (the one the updates use, on the
//! chip esp-storage, in the simulation hilt-sim's flash model), lends it to
//! sequential-storage through [`AsyncFlash`], whose operations complete at
//! once, and [`block_on`] polls each future with a no-op waker until it is
//! ready. (embassy-embedded-hal's `BlockingAsync` is the same adapter; it
//! is a few lines, and that crate would bring embassy-sync and more into
//! the firmware core.)

use core::fmt::{self, Write as _};
use core::future::Future;
use core::pin::pin;
use core::task::{Context as TaskContext, Poll, Waker};

use embedded_storage::nor_flash::NorFlash;
use heapless::{String, Vec};
use sequential_storage::cache::{Cache, Uncached};
use sequential_storage::map::{MapConfig, MapStorage};

use embedded_hal::digital::OutputPin;

use super::commands::{Setting, setting};
use super::{NodeManager, NodeManagerConfig};
use crate::app::{Context, LogLevel};
use crate::partitions;
use crate::platform::Platform;

/// The settings `set` changes and the store keeps, in the order they are
/// read at boot.
pub const STORED_KEYS: [&str; 3] = ["blinky_hz", "sysinfo_interval", "log_level"];
/// Longest key (`sysinfo_interval`).
pub const KEY_LEN: usize = 16;
/// Longest value text.
pub const VALUE_LEN: usize = 16;
/// sequential-storage's working buffer: a key (2 + 16 bytes) and a value
/// (16), with room to round up to flash words.
const BUFFER_LEN: usize = 64;
/// How often a flash future that is not ready is polled again before the
/// store gives up on it; flash that completes at once never needs a
/// second poll.
const MAX_POLLS: u32 = 1_000_000;

/// The key of the item that marks the region as this store's.
pub const FORMAT_KEY: &str = "format";
/// Its value: the version of this item format.
pub const FORMAT_VERSION: &str = "1";

type Key = String<KEY_LEN>;
type Map<'f, F> = MapStorage<Key, AsyncFlash<'f, F>, Cache<Uncached, Uncached, Uncached, Key>>;

/// The board's blocking flash as sequential-storage's async flash: every
/// operation is done when it is called.
#[derive(Debug)]
pub struct AsyncFlash<'f, F>(pub &'f mut F);

impl<F: NorFlash> embedded_storage_async::nor_flash::ErrorType for AsyncFlash<'_, F> {
    type Error = F::Error;
}

impl<F: NorFlash> embedded_storage_async::nor_flash::ReadNorFlash for AsyncFlash<'_, F> {
    const READ_SIZE: usize = F::READ_SIZE;

    async fn read(&mut self, offset: u32, bytes: &mut [u8]) -> Result<(), Self::Error> {
        self.0.read(offset, bytes)
    }

    fn capacity(&self) -> usize {
        self.0.capacity()
    }
}

impl<F: NorFlash> embedded_storage_async::nor_flash::NorFlash for AsyncFlash<'_, F> {
    const WRITE_SIZE: usize = F::WRITE_SIZE;
    const ERASE_SIZE: usize = F::ERASE_SIZE;

    async fn erase(&mut self, from: u32, to: u32) -> Result<(), Self::Error> {
        self.0.erase(from, to)
    }

    async fn write(&mut self, offset: u32, bytes: &[u8]) -> Result<(), Self::Error> {
        self.0.write(offset, bytes)
    }
}

fn key(name: &str) -> Key {
    String::try_from(name).unwrap_or_default()
}

/// A stored setting: its key and its value as text.
pub type StoredSetting = (&'static str, String<VALUE_LEN>);

/// Why the store could not be read or written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StoreError {
    /// The flash refused an operation (or lost power during it).
    Flash,
    /// The region does not hold a readable map: garbage, or damage the
    /// store could not repair.
    Corrupted,
    /// A stored value is not one `set` would accept.
    BadValue(&'static str),
    /// The region is full, even after the store compacted it.
    Full,
    /// The value does not fit an item.
    TooLong,
    /// A flash operation never completed.
    Stalled,
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreError::Flash => f.write_str("flash error"),
            StoreError::Corrupted => f.write_str("corrupted"),
            StoreError::BadValue(key) => write!(f, "bad stored value for {key}"),
            StoreError::Full => f.write_str("full"),
            StoreError::TooLong => f.write_str("value too long"),
            StoreError::Stalled => f.write_str("flash operation never completed"),
        }
    }
}

impl<E> From<sequential_storage::Error<E>> for StoreError {
    fn from(error: sequential_storage::Error<E>) -> Self {
        match error {
            sequential_storage::Error::Storage { .. } => StoreError::Flash,
            sequential_storage::Error::FullStorage => StoreError::Full,
            sequential_storage::Error::ItemTooBig
            | sequential_storage::Error::BufferTooSmall(_)
            | sequential_storage::Error::BufferTooBig => StoreError::TooLong,
            _ => StoreError::Corrupted,
        }
    }
}

/// Runs a future of a flash operation to completion, polling it with a
/// no-op waker: see the module documentation.
pub fn block_on<T>(future: impl Future<Output = T>) -> Result<T, StoreError> {
    let mut future = pin!(future);
    let mut context = TaskContext::from_waker(Waker::noop());
    for _ in 0..MAX_POLLS {
        if let Poll::Ready(output) = future.as_mut().poll(&mut context) {
            return Ok(output);
        }
    }
    Err(StoreError::Stalled)
}

/// The settings store on `flash`; see the module documentation.
pub struct SettingsStore<F: NorFlash> {
    flash: F,
    /// The format item is in the region.
    marked: bool,
}

impl<F: NorFlash> fmt::Debug for SettingsStore<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SettingsStore")
            .field("range", &partitions::SETTINGS)
            .finish()
    }
}

impl<F: NorFlash> SettingsStore<F> {
    /// The store in `partitions::SETTINGS` of `flash`, the whole chip.
    pub fn new(flash: F) -> Self {
        SettingsStore {
            flash,
            marked: false,
        }
    }

    /// The map over the region, for one operation (nothing is cached
    /// between operations, so the map is cheap to make).
    fn map(&mut self) -> Map<'_, F> {
        MapStorage::new(
            AsyncFlash(&mut self.flash),
            MapConfig::new(partitions::SETTINGS),
            Cache::new_uncached(),
        )
    }

    /// True when every byte of the region reads erased (`0xFF`).
    fn region_is_erased(&mut self) -> Result<bool, StoreError> {
        let mut chunk = [0u8; BUFFER_LEN];
        for offset in partitions::SETTINGS.step_by(BUFFER_LEN) {
            self.flash
                .read(offset, &mut chunk)
                .map_err(|_| StoreError::Flash)?;
            if chunk.iter().any(|&byte| byte != 0xFF) {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// Every stored setting, checked with `check` (the `set` parser: true
    /// when it accepts the value for the key). An empty (erased) region
    /// has none.
    pub fn load(
        &mut self,
        check: impl Fn(&str, &str) -> bool,
    ) -> Result<Vec<StoredSetting, { STORED_KEYS.len() }>, StoreError> {
        let mut settings = Vec::new();
        let mut buffer = [0u8; BUFFER_LEN];
        if self.region_is_erased()? {
            return Ok(settings);
        }
        let format = block_on(
            self.map()
                .fetch_item::<&[u8]>(&mut buffer, &key(FORMAT_KEY)),
        )??;
        if format != Some(FORMAT_VERSION.as_bytes()) {
            return Err(StoreError::Corrupted);
        }
        self.marked = true;
        for key_name in STORED_KEYS {
            let fetched = block_on(self.map().fetch_item::<&[u8]>(&mut buffer, &key(key_name)))??;
            let Some(bytes) = fetched else {
                continue;
            };
            let value = core::str::from_utf8(bytes)
                .ok()
                .filter(|value| check(key_name, value))
                .and_then(|value| String::try_from(value).ok())
                .ok_or(StoreError::BadValue(key_name))?;
            // Cannot overflow: at most one value per key.
            let _ = settings.push((key_name, value));
        }
        Ok(settings)
    }

    /// Keeps `value` for `key` (one of [`STORED_KEYS`]), replacing the
    /// stored one.
    pub fn store(&mut self, key_name: &str, value: &str) -> Result<(), StoreError> {
        let key = Key::try_from(key_name).map_err(|_| StoreError::TooLong)?;
        if value.len() > VALUE_LEN {
            return Err(StoreError::TooLong);
        }
        let mut buffer = [0u8; BUFFER_LEN];
        if !self.marked {
            let format = self::key(FORMAT_KEY);
            block_on(
                self.map()
                    .store_item(&mut buffer, &format, &FORMAT_VERSION.as_bytes()),
            )??;
            self.marked = true;
        }
        block_on(self.map().store_item(&mut buffer, &key, &value.as_bytes()))??;
        Ok(())
    }

    /// Erases the region: a fresh, empty store.
    pub fn erase(&mut self) -> Result<(), StoreError> {
        self.marked = false;
        block_on(self.map().erase_all())??;
        Ok(())
    }

    /// The flash back, e.g. to inspect it in a test.
    pub fn into_flash(self) -> F {
        self.flash
    }
}

/// What the store held at boot.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum SettingsState {
    /// The board has no flash for settings.
    NoFlash,
    /// These were read and applied (none: an empty store).
    Loaded(Vec<StoredSetting, { STORED_KEYS.len() }>),
    /// The region held garbage or a bad value: the defaults are used and
    /// the region was erased (the error, and whether erasing failed).
    Corrupt(StoreError, Option<StoreError>),
    /// The flash could not be read: the defaults are used, the region is
    /// left alone.
    Unreadable(StoreError),
}

impl SettingsState {
    /// The `settings_store` field of sysinfo.
    pub(super) fn as_str(&self) -> &'static str {
        match self {
            SettingsState::NoFlash => "none",
            SettingsState::Loaded(_) => "ok",
            SettingsState::Corrupt(..) => "corrupt",
            SettingsState::Unreadable(_) => "unreadable",
        }
    }
}

/// The text a setting is stored as: see the module documentation.
fn stored_text(setting: Setting) -> (&'static str, String<VALUE_LEN>) {
    let mut text = String::new();
    let key = match setting {
        Setting::BlinkyHz(hz) => {
            let _ = write!(text, "{hz:?}");
            "blinky_hz"
        }
        Setting::SysinfoInterval(interval) => {
            let _ = write!(text, "{}", interval.as_secs());
            "sysinfo_interval"
        }
        Setting::LogLevel(level) => {
            let _ = text.push_str(level.as_str());
            "log_level"
        }
    };
    (key, text)
}

/// Applies a setting read from the store to the boot's configuration.
fn apply(config: &mut NodeManagerConfig, setting: Setting) {
    match setting {
        Setting::BlinkyHz(hz) => config.blinky_hz = hz,
        Setting::SysinfoInterval(interval) => config.sysinfo_interval = interval,
        Setting::LogLevel(level) => config.log_level = level,
    }
}

/// At boot, before the app runs: reads the store on `flash` and applies
/// what it holds over `config`. A corrupt store leaves `config` as it was
/// and is erased, so that later `set`s are kept again.
pub(super) fn open<F: NorFlash>(
    flash: Option<F>,
    config: &mut NodeManagerConfig,
) -> (Option<SettingsStore<F>>, SettingsState) {
    let Some(flash) = flash else {
        return (None, SettingsState::NoFlash);
    };
    let mut store = SettingsStore::new(flash);
    let state = match store.load(|key, value| setting(key, value).is_ok()) {
        Ok(loaded) => {
            for (key, value) in &loaded {
                if let Ok(parsed) = setting(key, value) {
                    apply(config, parsed);
                }
            }
            SettingsState::Loaded(loaded)
        }
        Err(error @ (StoreError::Flash | StoreError::Stalled)) => SettingsState::Unreadable(error),
        Err(error) => SettingsState::Corrupt(error, store.erase().err()),
    };
    (Some(store), state)
}

impl<L: OutputPin, P: Platform, F: NorFlash> NodeManager<L, P, F> {
    /// Logs, once after boot, what the store gave.
    pub(super) fn announce_stored_settings(&mut self, context: &mut Context<'_>) {
        match &self.settings_state {
            SettingsState::NoFlash => {}
            SettingsState::Loaded(loaded) => {
                if loaded.is_empty() {
                    return;
                }
                let mut text: String<96> = String::new();
                for (index, (key, value)) in loaded.iter().enumerate() {
                    let separator = if index == 0 { "" } else { ", " };
                    let _ = write!(text, "{separator}{key}={value}");
                }
                self.log(
                    context,
                    LogLevel::Info,
                    format_args!("node-manager: settings from flash: {text}"),
                );
            }
            SettingsState::Corrupt(error, erase_error) => {
                let (error, erase_error) = (*error, *erase_error);
                self.log(
                    context,
                    LogLevel::Warn,
                    format_args!(
                        "node-manager: settings store {error}; using the defaults and starting a new store"
                    ),
                );
                if let Some(erase_error) = erase_error {
                    self.log(
                        context,
                        LogLevel::Error,
                        format_args!("node-manager: settings store not erased: {erase_error}"),
                    );
                }
            }
            SettingsState::Unreadable(error) => {
                let error = *error;
                self.log(
                    context,
                    LogLevel::Warn,
                    format_args!(
                        "node-manager: settings store unreadable ({error}); using the defaults"
                    ),
                );
            }
        }
    }

    /// Keeps a setting `set` applied, so it survives a reset.
    pub(super) fn persist(&mut self, context: &mut Context<'_>, setting: Setting) {
        let Some(store) = self.settings_store.as_mut() else {
            return;
        };
        let (key, text) = stored_text(setting);
        if let Err(error) = store.store(key, &text) {
            self.log(
                context,
                LogLevel::Warn,
                format_args!("node-manager: {key} not kept across resets: settings store {error}"),
            );
        }
    }
}
