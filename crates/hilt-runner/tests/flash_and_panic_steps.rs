//! The `flash` and `panic` steps where the bundled scenarios do not take
//! them: garbage over the OTA data, a panic of an app that takes no chip
//! services, and the language's limit on a panic's place. (The bundled
//! `node-manager/corrupt_settings_store_falls_back.yaml` and
//! `node-manager/panic_is_reported.yaml` are the main cases.)

use std::path::Path;

use hilt_runner::{Registry, RunOutcome};

fn run(text: &str) -> RunOutcome {
    let registry = Registry::with_bundled_apps();
    let scenario = hilt_scenario::parse(Path::new("faults.yaml"), text, &registry)
        .unwrap_or_else(|diagnostics| panic!("{diagnostics}"));
    hilt_runner::run_scenario(&scenario, &registry)
}

#[test]
fn garbage_over_the_ota_data_boots_the_first_slot_again() {
    // Without a valid OTA data entry the bootloader starts slot 0, as
    // ESP-IDF's does: the factory image, although 0.2.0 had been taken
    // and marked valid in slot 1.
    let outcome = run("\
name: corrupt OTA data
devices:
  node:
    app: node-manager
    config: { prefix: lab/ota-9, healthy_after: 10s }
steps:
  - expect: { topic: lab/ota-9/status, json: { firmware_version: 0.1.0 } }
  - ota: { device: node, id: u1, version: 0.2.0, size: 16KiB }
  - expect: { topic: lab/ota-9/status, json: { firmware_version: 0.2.0, trial: true }, within: 3s }
  - expect: { topic: lab/ota-9/log, matches: firmware 0.2.0 healthy after its trial, within: 12s }
  - flash: { device: node, corrupt: otadata }
  - reboot: node
  - expect: { topic: lab/ota-9/status, json: { firmware_version: 0.1.0, reset_cause: power_on }, within: 3s }
");
    assert!(outcome.passed(), "{}", outcome.report());
    let transcript = outcome.transcript.render();
    assert!(
        transcript
            .contains("node's flash: the otadata partition (0xd000..0xf000) turns to garbage"),
        "{transcript}"
    );
}

#[test]
fn an_app_without_chip_services_still_resets_when_it_panics() {
    let outcome = run("\
name: a thermometer panics
devices:
  probe: { app: thermometer, config: { interval: 5s } }
steps:
  - expect: { topic: devices/probe/temperature/degrees, within: 2s }
  - panic: { device: probe, place: src/apps/thermometer.rs:7 }
  - expect: { topic: devices/probe/temperature/degrees, within: 2s }
");
    assert!(outcome.passed(), "{}", outcome.report());
    let transcript = outcome.transcript.render();
    assert!(
        transcript.contains(
            "probe panics at src/apps/thermometer.rs:7 (its app takes no chip services, so \
             nothing records it)"
        ),
        "{transcript}"
    );
    assert!(transcript.contains("probe resets (panic)"), "{transcript}");
}

#[test]
fn the_longest_place_the_language_takes_is_what_the_panic_record_holds() {
    assert_eq!(
        hilt_scenario::MAX_PANIC_PLACE_LEN,
        hilt_firmware::platform::PANIC_PLACE_LEN
    );
}
