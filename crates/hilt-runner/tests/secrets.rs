//! A device's password is sent to the broker and shown nowhere: not in the
//! transcript, not in the message log, not in the Wokwi export (which names
//! the variable the image build takes it from instead).

use std::path::Path;

use hilt_runner::{Registry, run_scenario};

const PASSWORD: &str = "correct-horse-battery";

fn scenario_text() -> String {
    format!(
        "name: a thermometer with credentials
devices:
  probe:
    app: thermometer
    config: {{ username: alice, password: {PASSWORD}, interval: 10s }}
steps:
  - expect: {{ topic: devices/probe/temperature/degrees }}
  - expect: {{ topic: devices/probe/temperature/degrees, within: 11s }}
"
    )
}

#[test]
fn the_password_goes_to_the_broker_and_nowhere_else() {
    let registry = Registry::with_bundled_apps();
    let scenario = hilt_scenario::parse(Path::new("credentials.yaml"), &scenario_text(), &registry)
        .expect("valid");
    let outcome = run_scenario(&scenario, &registry);
    assert!(outcome.passed(), "{}", outcome.report());
    let transcript = outcome.transcript.render();
    assert!(
        transcript.contains(
            "probe CONNECT client id probe, keepalive 60s, clean session true, username \"alice\", password hidden"
        ),
        "{transcript}"
    );
    assert!(!transcript.contains(PASSWORD), "{transcript}");
    assert!(!outcome.report().contains(PASSWORD));
    for message in &outcome.messages {
        assert!(!String::from_utf8_lossy(&message.payload).contains(PASSWORD));
    }
}

#[test]
fn the_wokwi_export_names_the_password_variable_but_never_writes_it() {
    let registry = Registry::with_bundled_apps();
    let scenario = hilt_scenario::parse(Path::new("credentials.yaml"), &scenario_text(), &registry)
        .expect("valid");
    let exported = hilt_wokwi::export_from(
        &scenario,
        &registry,
        &registry,
        hilt_wokwi::Fidelity::Weakened,
    )
    .expect("exports");
    let yaml = exported.to_yaml();
    assert!(!yaml.contains(PASSWORD), "{yaml}");
    assert!(yaml.contains("# hilt-env: HILT_USERNAME=alice\n"), "{yaml}");
    assert!(yaml.contains("# hilt-secret: HILT_PASSWORD\n"), "{yaml}");
    assert!(yaml.contains("HILT_PASSWORD=\"$HILT_PASSWORD\""), "{yaml}");
    assert_eq!(exported.secret_env, vec!["HILT_PASSWORD".to_owned()]);

    // A refused password is not quoted either.
    let too_long = "x".repeat(65);
    let text = scenario_text().replace(PASSWORD, &too_long);
    match hilt_scenario::parse(Path::new("credentials.yaml"), &text, &registry) {
        Ok(_) => panic!("a 65-byte password is refused"),
        Err(diagnostics) => {
            let shown = diagnostics.to_string();
            assert!(shown.contains("must be at most 64 bytes"), "{shown}");
            assert!(!shown.contains(&too_long), "{shown}");
        }
    }
}
