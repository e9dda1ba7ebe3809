//! Where things live in the board's 4 MiB flash: the ESP-IDF partition
//! table hilt's image is flashed with, as offsets and sizes the firmware
//! core uses on the chip (through esp-storage) and in the simulation
//! (through hilt-sim's flash model) alike.
//!
//! ```text
//! # Name,   Type, SubType,   Offset,   Size
//! settings, data, undefined, 0x9000,   0x4000
//! otadata,  data, ota,       0xd000,   0x2000
//! phy_init, data, phy,       0xf000,   0x1000
//! ota_0,    app,  ota_0,     0x10000,  0x1E0000
//! ota_1,    app,  ota_1,     0x1F0000, 0x1E0000
//! ```
//!
//! `settings` takes the place ESP-IDF's default table gives `nvs`, as a data
//! partition of subtype `undefined` (0x06, ESP-IDF's "unspecified data"),
//! since it holds a sequential-storage map rather than NVS pages that ESP-IDF
//! tools would try to read. The table is `firmware/partitions.csv`, which
//! espflash flashes; `tests/partition_table.rs` checks it against these
//! constants with espflash's own parser.

use core::ops::Range;

/// The flash chip's size.
pub const FLASH_SIZE: u32 = 0x40_0000;
/// Erase sector size of the chip.
pub const SECTOR_SIZE: u32 = 0x1000;
/// Settings that survive a reset (a sequential-storage map).
pub const SETTINGS: Range<u32> = 0x9000..0xD000;
/// The two OTA data entries the bootloader reads to pick the app slot.
pub const OTA_DATA: Range<u32> = 0xD000..0xF000;
/// The two app slots.
pub const OTA_SLOTS: [Range<u32>; 2] = [0x1_0000..0x1F_0000, 0x1F_0000..0x3D_0000];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partitions_are_sector_aligned_apart_and_inside_the_chip() {
        let mut all = [
            SETTINGS,
            OTA_DATA,
            OTA_SLOTS[0].clone(),
            OTA_SLOTS[1].clone(),
        ];
        all.sort_by_key(|range| range.start);
        for pair in all.windows(2) {
            assert!(pair[0].end <= pair[1].start, "{pair:?}");
        }
        for range in all {
            assert_eq!(range.start % SECTOR_SIZE, 0, "{range:?}");
            assert_eq!(range.end % SECTOR_SIZE, 0, "{range:?}");
            assert!(range.end <= FLASH_SIZE, "{range:?}");
        }
    }
}
