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

/// A board with a wrong password is refused with CONNACK 4, as the
/// transcript shows, and backs off: each try waits twice as long as the
/// one before, up to the session's 30s, instead of hammering the broker.
#[test]
fn a_refused_board_backs_off_and_the_transcript_says_why() {
    let registry = Registry::with_bundled_apps();
    let file = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../scenarios/security/wrong_credentials_back_off.yaml");
    let scenario = hilt_runner::load(&file, &registry).expect("valid");
    let outcome = run_scenario(&scenario, &registry);
    assert!(outcome.passed(), "{}", outcome.report());
    let transcript = outcome.transcript.render();
    let refusals: Vec<f64> = transcript
        .lines()
        .filter(|line| {
            line.contains(
                "wrong refused by the broker: CONNACK return code 4 (bad user name or password)",
            )
        })
        .map(|line| {
            let seconds = line.split_whitespace().next().expect("a time");
            seconds.trim_end_matches('s').parse().expect("seconds")
        })
        .collect();
    assert!(refusals.len() >= 5, "{transcript}");
    let gaps: Vec<f64> = refusals.windows(2).map(|pair| pair[1] - pair[0]).collect();
    for (gap, expected) in gaps.iter().zip([1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0]) {
        assert!((gap - expected).abs() < 1e-6, "gaps {gaps:?}");
    }
    assert!(
        transcript.contains("anonymous refused by the broker: CONNACK return code 4"),
        "{transcript}"
    );
    assert!(!transcript.contains("good refused"), "{transcript}");
    for password in ["correct-horse", "battery-staple"] {
        assert!(!transcript.contains(password));
        assert!(
            !format!("{:?}", scenario.broker_users).contains(password),
            "a broker user's Debug hides the password"
        );
    }
}
