//! hilt's own connections to a broker over TLS, and its own login: the
//! embedded broker listening with TLS (`broker: { tls: true }`), an
//! `mqtts://` broker with the CA to trust, and a broker that refuses
//! hilt's login. The brokers here are embedded rumqttd instances started by
//! the tests on loopback; no Mosquitto is needed.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use hilt_runner::broker::EmbeddedBroker;
use hilt_runner::tls::TestAuthority;
use hilt_runner::{Registry, RunOutcome, Verdict, run_scenario};
use hilt_scenario::{BrokerChoice, BrokerUser, Scenario};

/// A thermometer that publishes, and a harness publish read back: the
/// harness's client and a device link both reach the broker.
const SCENARIO: &str = "\
name: a thermometer and the harness on a TLS broker
devices:
  probe: { app: thermometer, config: { interval: 10s } }
steps:
  - expect: { topic: devices/probe/temperature/degrees, within: 2s }
  - publish: { topic: notes/harness, payload: hello }
  - expect: { topic: notes/harness, payload: hello }
";

fn parse(text: &str) -> Scenario {
    let registry = Registry::with_bundled_apps();
    hilt_scenario::parse(Path::new("tls.yaml"), text, &registry)
        .unwrap_or_else(|diagnostics| panic!("{diagnostics}"))
}

fn run(scenario: &Scenario) -> RunOutcome {
    run_scenario(scenario, &Registry::with_bundled_apps())
}

fn assert_passed(outcome: &RunOutcome) {
    assert!(
        matches!(outcome.verdict, Verdict::Passed),
        "{}\n{}",
        outcome.report(),
        outcome.transcript.render()
    );
}

fn error_text(outcome: &RunOutcome) -> String {
    match &outcome.verdict {
        Verdict::Error(error) => error.to_string(),
        _ => panic!(
            "expected a harness error, got:\n{}\n{}",
            outcome.report(),
            outcome.transcript.render()
        ),
    }
}

/// `scenario` pointed at `url`, trusting `ca`, logging in as `login`.
fn against(
    mut scenario: Scenario,
    url: &str,
    ca: Option<PathBuf>,
    login: Option<(&str, &str)>,
) -> Scenario {
    let parsed = hilt_scenario::parse_broker_url(url).unwrap();
    scenario.broker = BrokerChoice::External {
        url: url.to_owned(),
        host: parsed.host,
        port: parsed.port,
        tls: parsed.tls,
        ca,
        login: login.map(|(name, password)| BrokerUser {
            name: name.to_owned(),
            password: password.to_owned(),
        }),
    };
    scenario
}

/// A TLS broker of the tests' own, and its authority's certificate in a
/// PEM file.
fn tls_broker(users: Option<&[(&str, &str)]>) -> (EmbeddedBroker, tempfile::TempDir, PathBuf) {
    let authority = TestAuthority::generate("the tests' authority").unwrap();
    let users = users.map(|users| {
        users
            .iter()
            .map(|(name, password)| ((*name).to_owned(), (*password).to_owned()))
            .collect()
    });
    let broker = EmbeddedBroker::start_with_tls(64, users, &authority).unwrap();
    let folder = tempfile::tempdir().unwrap();
    let ca = folder.path().join("ca.pem");
    std::fs::write(&ca, authority.certificate_pem()).unwrap();
    (broker, folder, ca)
}

#[test]
fn a_scenario_with_broker_tls_runs_against_the_embedded_broker_over_tls() {
    // The board speaks TLS to its link (`tls: true`), as a board must with
    // `broker: { tls: true }`; hilt's own connections to the embedded
    // broker speak TLS too.
    let scenario = parse(
        &SCENARIO
            .replace("devices:", "broker: { tls: true }\ndevices:")
            .replace(
                "config: { interval: 10s }",
                "config: { tls: true, interval: 10s }",
            ),
    );
    assert!(scenario.broker_tls);
    let outcome = run(&scenario);
    assert_passed(&outcome);
}

#[test]
fn the_embedded_tls_broker_refuses_plain_mqtt_and_answers_over_tls() {
    let (broker, _folder, ca) = tls_broker(None);
    // A plain CONNECT gets no CONNACK: the listener speaks TLS.
    let mut plain = std::net::TcpStream::connect(broker.address()).unwrap();
    plain
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let connect = [
        0x10, 0x0d, 0x00, 0x04, b'M', b'Q', b'T', b'T', 0x04, 0x02, 0x00, 0x0a, 0x00, 0x01, b'p',
    ];
    plain.write_all(&connect).unwrap();
    let mut reply = [0u8; 4];
    let answered = plain.read_exact(&mut reply).is_ok() && reply[0] == 0x20;
    assert!(!answered, "a plain CONNECT was answered: {reply:?}");

    // Over mqtts://, trusting the authority, a whole scenario runs.
    let url = format!("mqtts://{}", broker.address());
    let outcome = run(&against(parse(SCENARIO), &url, Some(ca), None));
    assert_passed(&outcome);
}

#[test]
fn a_broker_whose_certificate_the_ca_did_not_issue_is_an_error_naming_the_certificate() {
    let (broker, _folder, _ca) = tls_broker(None);
    let (_other, _other_folder, other_ca) = tls_broker(None);
    let url = format!("mqtts://{}", broker.address());
    let outcome = run(&against(parse(SCENARIO), &url, Some(other_ca), None));
    let error = error_text(&outcome);
    assert!(error.contains("cannot connect to the broker at"), "{error}");
    assert!(error.contains("certificate"), "{error}");
}

#[test]
fn plain_mqtt_to_a_tls_listener_is_an_error_not_a_hang() {
    let (broker, _folder, _ca) = tls_broker(None);
    let url = format!("mqtt://{}", broker.address());
    let outcome = run(&against(parse(SCENARIO), &url, None, None));
    let error = error_text(&outcome);
    assert!(
        error.contains("the broker listens with TLS, so use mqtts://"),
        "{error}"
    );
}

#[test]
fn a_ca_file_that_is_not_pem_is_an_error_naming_it() {
    let (broker, folder, _ca) = tls_broker(None);
    let not_pem = folder.path().join("not-a-ca.txt");
    std::fs::write(&not_pem, "hello\n").unwrap();
    let url = format!("mqtts://{}", broker.address());
    let outcome = run(&against(parse(SCENARIO), &url, Some(not_pem), None));
    let error = error_text(&outcome);
    assert!(
        error.contains("not-a-ca.txt") && error.contains("no usable certificate"),
        "{error}"
    );
}

#[test]
fn hilt_logs_in_to_a_broker_that_asks_and_a_refused_login_names_the_connack_code() {
    let password = "hilt-secret-password";
    let (broker, _folder, ca) = tls_broker(Some(&[("hilt", password)]));
    let url = format!("mqtts://{}", broker.address());

    // Without a login, or with a wrong one: refused, with the code, at once.
    for login in [None, Some(("hilt", "wrong"))] {
        let outcome = run(&against(parse(SCENARIO), &url, Some(ca.clone()), login));
        let error = error_text(&outcome);
        assert!(
            error.contains("refused hilt's own connection (CONNACK return code 4"),
            "{error}"
        );
        assert!(!error.contains(password), "{error}");
    }

    // With it, the harness is let in; the thermometer has no login, so a
    // scenario on this broker gives its devices theirs.
    let with_credentials = SCENARIO.replace(
        "config: { interval: 10s }",
        "config: { interval: 10s, username: hilt, password: hilt-secret-password }",
    );
    let outcome = run(&against(
        parse(&with_credentials),
        &url,
        Some(ca),
        Some(("hilt", password)),
    ));
    assert_passed(&outcome);
    assert!(!outcome.report().contains(password));
    assert!(!outcome.transcript.render().contains(password));
}

/// The devices' and the harness's connections to the embedded broker are
/// in process; with TLS those are TLS too: a plain CONNECT on one is
/// answered by the end of the connection, not a CONNACK.
#[test]
fn an_in_process_connection_to_the_tls_broker_speaks_tls() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (broker, _folder, _ca) = tls_broker(None);
    let mut stream = broker.connect_in_process().unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let connect = [
        0x10, 0x0d, 0x00, 0x04, b'M', b'Q', b'T', b'T', 0x04, 0x02, 0x00, 0x0a, 0x00, 0x01, b'p',
    ];
    let reply = runtime.block_on(async {
        stream.write_all(&connect).await.unwrap();
        let mut reply = Vec::new();
        // The acceptor refuses the bytes and drops the stream, which ends
        // this read; the bound only keeps a broken broker from hanging it.
        tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut reply))
            .await
            .expect("the connection ends")
            .map(|_| reply)
    });
    let answered = matches!(&reply, Ok(bytes) if bytes.first() == Some(&0x20));
    assert!(!answered, "a plain CONNECT was answered: {reply:?}");
}
