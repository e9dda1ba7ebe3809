//! The partition table the ESP32-C3 image is flashed with
//! (`firmware/partitions.csv`, given to espflash) and the offsets the
//! firmware core uses (`hilt_firmware::partitions`) must name the same
//! flash. This reads the CSV with esp-idf-part, the parser espflash itself
//! uses, so a table espflash would refuse fails here too.

use esp_idf_part::{AppType, DataType, PartitionTable, SubType, Type};
use hilt_firmware::partitions::{FLASH_SIZE, OTA_DATA, OTA_SLOTS, SETTINGS};

fn table() -> PartitionTable {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../firmware/partitions.csv");
    let csv = std::fs::read_to_string(path).expect("firmware/partitions.csv is readable");
    PartitionTable::try_from_str(csv).expect("espflash's parser accepts firmware/partitions.csv")
}

/// Offset and size of the partition with this name.
fn range_of(table: &PartitionTable, name: &str) -> std::ops::Range<u32> {
    let partition = table
        .find(name)
        .unwrap_or_else(|| panic!("firmware/partitions.csv has no `{name}` partition"));
    partition.offset()..partition.offset() + partition.size()
}

#[test]
fn the_flashed_table_places_every_partition_where_the_core_looks() {
    let table = table();
    assert_eq!(range_of(&table, "settings"), SETTINGS);
    assert_eq!(range_of(&table, "otadata"), OTA_DATA);
    assert_eq!(range_of(&table, "ota_0"), OTA_SLOTS[0]);
    assert_eq!(range_of(&table, "ota_1"), OTA_SLOTS[1]);
    for partition in table.partitions() {
        assert!(
            partition.offset() + partition.size() <= FLASH_SIZE,
            "{} ends past the 4 MiB flash",
            partition.name()
        );
    }
}

#[test]
fn the_bootloader_finds_the_ota_data_and_both_app_slots_by_type() {
    let table = table();
    let kind = |name: &str| {
        let partition = table.find(name).expect("the partition exists");
        (partition.ty(), partition.subtype())
    };
    assert_eq!(kind("otadata"), (Type::Data, SubType::Data(DataType::Ota)));
    assert_eq!(kind("ota_0"), (Type::App, SubType::App(AppType::Ota_0)));
    assert_eq!(kind("ota_1"), (Type::App, SubType::App(AppType::Ota_1)));
    // No factory app: the bootloader would prefer it over the OTA slots
    // when the OTA data is blank, and updates could never replace it.
    assert!(
        table
            .find_by_subtype(Type::App, SubType::App(AppType::Factory))
            .is_none()
    );
}
