//! node-manager's settings store on the modelled flash chip: a round trip,
//! a region of garbage, and torn writes from power cuts.

use hilt_firmware::apps::node_manager::{SettingsStore, StoreError};
use hilt_firmware::partitions::{FLASH_SIZE, SETTINGS};
use hilt_sim::flash::FlashModel;

/// What `set` accepts, as the app checks a stored value.
fn accepted(key: &str, value: &str) -> bool {
    match key {
        "blinky_hz" => value.parse::<f32>().is_ok(),
        "sysinfo_interval" => value.parse::<u64>().is_ok(),
        "log_level" => ["error", "warn", "info", "debug"].contains(&value),
        _ => false,
    }
}

fn loaded(model: &FlashModel) -> Result<Vec<(String, String)>, StoreError> {
    let mut store = SettingsStore::new(model.handle());
    store.load(accepted).map(|settings| {
        settings
            .iter()
            .map(|(key, value)| ((*key).to_owned(), value.as_str().to_owned()))
            .collect()
    })
}

fn pairs(expected: &[(&str, &str)]) -> Vec<(String, String)> {
    expected
        .iter()
        .map(|(key, value)| ((*key).to_owned(), (*value).to_owned()))
        .collect()
}

#[test]
fn settings_round_trip_and_the_newest_value_of_a_key_wins() {
    let model = FlashModel::new(FLASH_SIZE as usize);
    assert_eq!(loaded(&model), Ok(Vec::new()), "an erased region is empty");
    let mut store = SettingsStore::new(model.handle());
    store.store("blinky_hz", "4.0").unwrap();
    store.store("log_level", "debug").unwrap();
    store.store("blinky_hz", "2.5").unwrap();
    drop(store);
    assert_eq!(
        loaded(&model),
        Ok(pairs(&[("blinky_hz", "2.5"), ("log_level", "debug")]))
    );
    // Nothing outside the settings partition was touched.
    let before = model.contents(0, SETTINGS.start as usize);
    assert!(before.iter().all(|&byte| byte == 0xFF));
    let after = model.contents(SETTINGS.end as usize, 0x1000);
    assert!(after.iter().all(|&byte| byte == 0xFF));
}

#[test]
fn many_changes_fill_and_compact_the_region_without_losing_the_newest() {
    let model = FlashModel::new(FLASH_SIZE as usize);
    let mut store = SettingsStore::new(model.handle());
    for seconds in 0..2_000 {
        store
            .store("sysinfo_interval", &seconds.to_string())
            .unwrap();
    }
    store.store("log_level", "warn").unwrap();
    drop(store);
    assert_eq!(
        loaded(&model),
        Ok(pairs(&[
            ("sysinfo_interval", "1999"),
            ("log_level", "warn")
        ]))
    );
}

#[test]
fn garbage_in_the_region_is_reported_corrupt_and_erasing_starts_afresh() {
    let model = FlashModel::new(FLASH_SIZE as usize);
    let mut flash = model.handle();
    // A seeded pattern of bytes, as if another firmware had used the space.
    let mut state: u32 = 0x1234_5678;
    let garbage: Vec<u8> = (0..SETTINGS.end - SETTINGS.start)
        .map(|_| {
            state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            (state >> 24) as u8
        })
        .collect();
    embedded_storage::nor_flash::NorFlash::write(&mut flash, SETTINGS.start, &garbage).unwrap();
    let result = loaded(&model);
    assert!(
        matches!(result, Err(StoreError::Corrupted | StoreError::BadValue(_))),
        "{result:?}"
    );
    let mut store = SettingsStore::new(model.handle());
    store.erase().unwrap();
    store.store("log_level", "error").unwrap();
    drop(store);
    assert_eq!(loaded(&model), Ok(pairs(&[("log_level", "error")])));
}

#[test]
fn a_value_set_would_refuse_is_reported_as_bad() {
    let model = FlashModel::new(FLASH_SIZE as usize);
    let mut store = SettingsStore::new(model.handle());
    store.store("log_level", "loud").unwrap();
    drop(store);
    assert_eq!(loaded(&model), Err(StoreError::BadValue("log_level")));
}

/// A power cut during each flash operation of a `store` in turn: the store
/// afterwards holds either the old value or the new one, never garbage,
/// and takes new values again.
#[test]
fn a_power_cut_during_any_operation_of_a_write_keeps_the_old_or_the_new_value() {
    // How many operations one store takes on a store that already holds a
    // value, so that every one of them gets its cut.
    let probe = FlashModel::new(FLASH_SIZE as usize);
    let mut store = SettingsStore::new(probe.handle());
    store.store("blinky_hz", "1.0").unwrap();
    let before = probe.operations();
    store.store("blinky_hz", "3.0").unwrap();
    let operations = probe.operations() - before;
    assert!(operations >= 1);

    for cut_at in 0..operations {
        let model = FlashModel::new(FLASH_SIZE as usize);
        let mut store = SettingsStore::new(model.handle());
        store.store("blinky_hz", "1.0").unwrap();
        model.cut_power_during(cut_at);
        assert_eq!(
            store.store("blinky_hz", "3.0"),
            Err(StoreError::Flash),
            "cut during operation {cut_at}"
        );
        assert!(model.take_power_loss());
        drop(store);
        let after = loaded(&model).unwrap_or_else(|error| panic!("cut at {cut_at}: {error}"));
        assert!(
            after == pairs(&[("blinky_hz", "1.0")]) || after == pairs(&[("blinky_hz", "3.0")]),
            "cut at {cut_at}: {after:?}"
        );
        let mut store = SettingsStore::new(model.handle());
        store.store("blinky_hz", "5.0").unwrap();
        drop(store);
        assert_eq!(loaded(&model), Ok(pairs(&[("blinky_hz", "5.0")])));
    }
}

/// The same for a write that makes the store compact the region (erase a
/// page and move the items still current): cut at every one of its
/// operations.
#[test]
fn a_power_cut_while_the_store_compacts_loses_nothing_written_before() {
    // Finds the first write that takes more operations than a plain one
    // (an erase and moved items): the one that compacts.
    let probe = FlashModel::new(FLASH_SIZE as usize);
    let mut store = SettingsStore::new(probe.handle());
    store.store("log_level", "debug").unwrap();
    let mut plain = u64::MAX;
    let mut compacting = None;
    for seconds in 0..5_000u32 {
        let before = probe.operations();
        store
            .store("sysinfo_interval", &seconds.to_string())
            .unwrap();
        let operations = probe.operations() - before;
        if operations > plain {
            compacting = Some((seconds, operations));
            break;
        }
        plain = plain.min(operations);
    }
    let (compacting_write, operations) = compacting.expect("the region never compacted");

    for cut_at in 0..operations {
        let model = FlashModel::new(FLASH_SIZE as usize);
        let mut store = SettingsStore::new(model.handle());
        store.store("log_level", "debug").unwrap();
        for seconds in 0..compacting_write {
            store
                .store("sysinfo_interval", &seconds.to_string())
                .unwrap();
        }
        model.cut_power_during(cut_at);
        assert_eq!(
            store.store("sysinfo_interval", &compacting_write.to_string()),
            Err(StoreError::Flash)
        );
        assert!(model.take_power_loss());
        drop(store);
        let after = loaded(&model).unwrap_or_else(|error| panic!("cut at {cut_at}: {error}"));
        let old = (compacting_write - 1).to_string();
        let new = compacting_write.to_string();
        assert!(
            after == pairs(&[("sysinfo_interval", &old), ("log_level", "debug")])
                || after == pairs(&[("sysinfo_interval", &new), ("log_level", "debug")]),
            "cut at {cut_at} of {operations}: {after:?}"
        );
    }
}

/// A power cut during any operation of the first write to an erased region
/// (the format item, then the value): the region is then an empty store,
/// one holding the value, or one reported corrupt (written to, but not
/// marked), never a store with something else in it.
#[test]
fn a_power_cut_during_the_first_write_leaves_an_empty_a_complete_or_a_corrupt_store() {
    let probe = FlashModel::new(FLASH_SIZE as usize);
    SettingsStore::new(probe.handle())
        .store("log_level", "warn")
        .unwrap();
    let operations = probe.operations();
    let mut corrupt = 0;
    for cut_at in 0..operations {
        let model = FlashModel::new(FLASH_SIZE as usize);
        model.cut_power_during(cut_at);
        let mut store = SettingsStore::new(model.handle());
        assert_eq!(store.store("log_level", "warn"), Err(StoreError::Flash));
        assert!(model.take_power_loss());
        drop(store);
        match loaded(&model) {
            Ok(settings) => assert!(
                settings.is_empty() || settings == pairs(&[("log_level", "warn")]),
                "cut at {cut_at}: {settings:?}"
            ),
            Err(StoreError::Corrupted) => corrupt += 1,
            Err(error) => panic!("cut at {cut_at}: {error}"),
        }
    }
    assert!(corrupt > 0, "no cut left the region written but unmarked");
}
