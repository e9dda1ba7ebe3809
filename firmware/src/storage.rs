//! The board's flash for node-manager: esp-storage behind the NOR flash
//! traits, the ESP-IDF partition table checked against the one the firmware
//! core uses, and the bootloader's rollback steps taken at the start.
//!
//! node-manager keeps its settings in the `settings` partition and writes
//! updates to the app slot it does not run from, through the same
//! `embedded_storage::nor_flash::NorFlash` calls the simulation's flash
//! model answers. Its settings store and its updates each hold a handle of
//! their own, so the one `FlashStorage` lives in a critical-section mutex
//! and each handle is an embassy-embedded-hal `BlockingPartition` over the
//! whole chip (cheap to clone, as the core asks).
//!
//! **The partition table.** The image is flashed with `partitions.csv`
//! (`cargo run` passes it to espflash). A board flashed with another table
//! (espflash's default one has a single factory app and NVS where the
//! settings go, and Wokwi flashes that default) would have its NVS
//! overwritten and could never start an update, so the flash is only used
//! when the table on the chip places `settings`, `otadata`, `ota_0` and
//! `ota_1` where `hilt_firmware::partitions` says. Otherwise the board runs
//! with an empty flash handle: `set` is not kept (sysinfo says
//! `"settings_store": "unreadable"`) and `ota` is refused, and the serial log
//! says why.
//!
//! **Rollback.** espflash's prebuilt bootloader is ESP-IDF's default build,
//! without `CONFIG_BOOTLOADER_APP_ROLLBACK_ENABLE`: it starts a new image
//! and never puts it on trial. So the first thing the image does is take
//! those steps itself, with the very code the simulation runs as its
//! bootloader's (`otadata::boot_from_app`): a new image goes on trial; an
//! image whose trial it started at an earlier boot and which never marked
//! itself valid is aborted, and the chip resets into the other slot (which
//! the bootloader then starts, since it never selects an aborted entry),
//! keeping the reset cause of the crash for the boot that follows. With a
//! bootloader built with rollback, which takes the steps before the image
//! runs, nothing is done twice (see `boot_from_app`).

use core::cell::RefCell;
use core::fmt;
use core::ops::Range;

use embassy_embedded_hal::flash::partition::BlockingPartition;
use embassy_sync::blocking_mutex::Mutex;
use embassy_sync::blocking_mutex::raw::CriticalSectionRawMutex;
use esp_bootloader_esp_idf::partitions::{self, PARTITION_TABLE_MAX_LEN, PartitionTable};
use esp_hal::peripherals::FLASH;
use esp_storage::FlashStorage;
use hilt_firmware::app::LogLevel;
use hilt_firmware::ota::otadata;
use hilt_firmware::partitions::{FLASH_SIZE, OTA_DATA, OTA_SLOTS, SETTINGS};
use static_cell::StaticCell;

use crate::{platform, serial};

/// A handle on the board's flash, as node-manager takes it.
pub type BoardFlash = BlockingPartition<'static, CriticalSectionRawMutex, FlashStorage<'static>>;

/// The partitions node-manager uses, by the names `partitions.csv` gives
/// them, and where the firmware core expects each.
fn expected() -> [(&'static str, Range<u32>); 4] {
    [
        ("settings", SETTINGS),
        ("otadata", OTA_DATA),
        ("ota_0", OTA_SLOTS[0].clone()),
        ("ota_1", OTA_SLOTS[1].clone()),
    ]
}

/// Opens the flash: checks the partition table, takes the rollback steps
/// (resetting into the other slot when a trial failed) and returns the
/// handle node-manager is built with; a handle over no bytes at all when
/// the table is not `partitions.csv`'s.
pub fn open(flash: FLASH<'static>) -> BoardFlash {
    static FLASH_STORAGE: StaticCell<
        Mutex<CriticalSectionRawMutex, RefCell<FlashStorage<'static>>>,
    > = StaticCell::new();
    let mut storage = FlashStorage::new(flash);
    let layout = check_layout(&mut storage);
    if let Ok(booted_slot) = layout {
        take_rollback_steps(&mut storage, booted_slot);
    }
    let storage = FLASH_STORAGE.init(Mutex::new(RefCell::new(storage)));
    match layout {
        Ok(_) => BlockingPartition::new(storage, 0, FLASH_SIZE),
        Err(problem) => {
            serial::log(
                LogLevel::Warn,
                format_args!(
                    "flash: {problem}, so this board was not flashed with partitions.csv; \
                     settings are not kept and updates are refused"
                ),
            );
            BlockingPartition::new(storage, 0, 0)
        }
    }
}

/// Reads the partition table: the app slot the bootloader started (when
/// the chip can tell), or why the flash is not hilt's layout.
fn check_layout(storage: &mut FlashStorage<'static>) -> Result<Option<usize>, TableProblem> {
    let mut table_bytes = [0u8; PARTITION_TABLE_MAX_LEN];
    let table = partitions::read_partition_table(storage, &mut table_bytes)
        .map_err(|_| TableProblem::Unreadable)?;
    check_table(&table)?;
    Ok(booted_slot(&table))
}

/// The bootloader's rollback steps (see the module documentation); resets
/// into the old slot when a trial failed and the bootloader started the
/// new one.
fn take_rollback_steps(storage: &mut FlashStorage<'static>, booted_slot: Option<usize>) {
    let decision = otadata::boot_from_app(storage);
    if let Some(rolled_back) = decision.rolled_back {
        serial::log(
            LogLevel::Warn,
            format_args!(
                "flash: the image in ota_{rolled_back} never marked itself valid in its trial; \
                 rolled back to ota_{}",
                decision.slot
            ),
        );
        if booted_slot.is_some_and(|booted| booted != decision.slot) {
            platform::reset_keeping_cause();
        }
    } else if decision.trial {
        serial::log(
            LogLevel::Info,
            format_args!(
                "flash: ota_{} runs on trial until it is healthy",
                decision.slot
            ),
        );
    }
}

/// Why the flash on this board is not used.
#[derive(Clone, Copy, Debug)]
enum TableProblem {
    Unreadable,
    Missing(&'static str),
    Elsewhere(&'static str),
}

/// True when every partition node-manager uses is where the core expects it.
fn check_table(table: &PartitionTable<'_>) -> Result<(), TableProblem> {
    for (name, range) in expected() {
        let entry = table
            .iter()
            .find(|entry| entry.label_as_str() == name)
            .ok_or(TableProblem::Missing(name))?;
        if entry.offset() != range.start || entry.offset() + entry.len() != range.end {
            return Err(TableProblem::Elsewhere(name));
        }
    }
    Ok(())
}

/// The app slot the bootloader started, when the chip can tell.
fn booted_slot(table: &PartitionTable<'_>) -> Option<usize> {
    let booted = table.booted_partition().ok().flatten()?;
    OTA_SLOTS
        .iter()
        .position(|slot| slot.start == booted.offset())
}

impl fmt::Display for TableProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TableProblem::Unreadable => f.write_str("the partition table is unreadable"),
            TableProblem::Missing(name) => {
                write!(f, "the partition table has no `{name}` partition")
            }
            TableProblem::Elsewhere(name) => {
                write!(f, "`{name}` is not where partitions.csv puts it")
            }
        }
    }
}
