//! `hilt wokwi --client-suffix`: the scenarios written for Wokwi, with a
//! run's suffix on every board's name, still pass in the simulation (so the
//! renaming is consistent: client ids, the settings naming boards, and the
//! topics the steps expect), and the export carries the suffixed ids into
//! the image build's `# hilt-env:` lines.

use std::path::{Path, PathBuf};

use hilt_runner::{Registry, load, run_scenario};

const SUFFIX: &str = "-r12345-2";

fn wokwi_scenarios() -> Vec<PathBuf> {
    let folder = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scenarios/wokwi");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&folder)
        .expect("scenarios/wokwi exists")
        .map(|entry| entry.expect("readable folder").path())
        .filter(|path| {
            path.extension()
                .is_some_and(|extension| extension == "yaml")
        })
        .collect();
    files.sort();
    assert!(files.len() >= 3, "{files:?}");
    files
}

#[test]
fn suffixed_wokwi_scenarios_pass_in_the_simulation_under_the_new_names() {
    let registry = Registry::with_bundled_apps();
    for file in wokwi_scenarios() {
        let scenario = load(&file, &registry).expect("a bundled scenario is valid");
        let suffixed = hilt_wokwi::with_client_suffix(&scenario, &registry, SUFFIX)
            .expect("a plain suffix is accepted");
        for (before, after) in scenario.devices.iter().zip(&suffixed.devices) {
            assert_eq!(after.client_id, format!("{}{SUFFIX}", before.client_id));
        }
        let outcome = run_scenario(&suffixed, &registry);
        assert!(
            outcome.passed(),
            "{}:\n{}",
            file.display(),
            outcome.report()
        );
        let transcript = outcome.transcript.render();
        for device in &suffixed.devices {
            assert!(
                transcript.contains(&format!("CONNECT client id {}", device.client_id)),
                "{}: no CONNECT as {}",
                file.display(),
                device.client_id
            );
        }
        // Every message the boards published is on a suffixed topic.
        let base_names: Vec<&str> = scenario
            .devices
            .iter()
            .map(|device| device.client_id.as_str())
            .collect();
        for message in &outcome.messages {
            let levels: Vec<&str> = message.topic.split('/').collect();
            assert!(
                !levels.iter().any(|level| base_names.contains(level)),
                "{}: {} still carries an unsuffixed board name",
                file.display(),
                message.topic
            );
        }

        let exported = hilt_wokwi::export_from(
            &suffixed,
            &registry,
            &registry,
            hilt_wokwi::Fidelity::Faithful,
        )
        .or_else(|_| {
            hilt_wokwi::export_from(
                &suffixed,
                &registry,
                &registry,
                hilt_wokwi::Fidelity::Weakened,
            )
        })
        .expect("the Wokwi scenarios export");
        let yaml = exported.to_yaml();
        let client_id = &suffixed.devices[0].client_id;
        assert!(
            yaml.contains(&format!("# hilt-env: HILT_CLIENT_ID={client_id}\n")),
            "{yaml}"
        );
    }
}

#[test]
fn a_suffix_that_cannot_be_a_topic_level_is_refused() {
    let registry = Registry::with_bundled_apps();
    let file = &wokwi_scenarios()[0];
    let scenario = load(file, &registry).expect("a bundled scenario is valid");
    for bad in ["/x", "+", "#", "", "-much-too-long-suffix"] {
        let error = hilt_wokwi::with_client_suffix(&scenario, &registry, bad).expect_err("refused");
        assert!(!error.to_string().is_empty());
    }
}
