//! The board glue's TLS (hilt-board's `tls`, embedded-tls) on the host,
//! against Mosquitto with a TLS 1.3 listener: the board verifies the
//! broker's certificate against the authority it was given and then
//! publishes as over plain TCP, or refuses the broker and keeps retrying
//! with its session's backoff.
//!
//! The authorities and the broker's certificates are made per test with
//! hilt-runner's test authority (rcgen, P-256) and written to a temporary
//! folder for Mosquitto and the board to read. Mosquitto also listens
//! without TLS on a second loopback port, where the scenario's harness
//! watches what the board publishes.

mod support;

use std::path::{Path, PathBuf};

use hilt_runner::tls::{ServerCertificate, TestAuthority};
use support::{
    HostBoard, Mosquitto, THERMOMETER_STEPS, free_port, mosquitto_binary, probe_scenario,
    run_scenario, temporary_folder,
};

/// Mosquitto with a TLS 1.3 listener on `tls_port` presenting `server`,
/// and a plain one on `plain_port`.
fn start_mosquitto(
    binary: &Path,
    folder: &Path,
    authority: &TestAuthority,
    server: ServerCertificate,
    tls_port: u16,
    plain_port: u16,
) -> Mosquitto {
    let identity = authority.server_certificate(server).unwrap();
    let certificate = folder.join("server.pem");
    let key = folder.join("server.key");
    std::fs::write(&certificate, &identity.certificate_pem).unwrap();
    std::fs::write(&key, &identity.key_pem).unwrap();
    Mosquitto::start_with(
        binary,
        folder,
        &format!(
            "listener {tls_port} 127.0.0.1\ncertfile {}\nkeyfile {}\ntls_version tlsv1.3\n\
             listener {plain_port} 127.0.0.1\n",
            certificate.display(),
            key.display()
        ),
    )
}

/// The authority's certificate in a PEM file, as a user gives it.
fn authority_file(folder: &Path, name: &str, authority: &TestAuthority) -> PathBuf {
    let path = folder.join(name);
    std::fs::write(&path, authority.certificate_pem()).unwrap();
    path
}

/// The thermometer over TLS to `localhost` (the certificate's name, which
/// the board checks because no `tls_server_name` is set), trusting
/// `authority_path`, with `settings` besides.
fn start_board(tls_port: u16, authority_path: &Path, settings: &[(&str, &str)]) -> HostBoard {
    let broker = format!("localhost:{tls_port}");
    let authority_path = authority_path.to_str().unwrap();
    let mut all = vec![
        ("HILT_BROKER", broker.as_str()),
        ("HILT_APP", "thermometer"),
        ("HILT_CLIENT_ID", "probe"),
        ("HILT_UNIT", "C"),
        ("HILT_INTERVAL", "1s"),
        ("HILT_TLS", "true"),
        ("HILT_TLS_CA", authority_path),
    ];
    all.extend_from_slice(settings);
    HostBoard::start_with(&all)
}

#[test]
fn the_thermometer_publishes_over_tls_to_mosquitto() {
    let Some(binary) = mosquitto_binary() else {
        return;
    };
    let folder = temporary_folder("tls");
    let authority = TestAuthority::generate("hilt board test authority").unwrap();
    let (tls_port, plain_port) = (free_port(), free_port());
    let mosquitto = start_mosquitto(
        &binary,
        &folder,
        &authority,
        ServerCertificate::Valid,
        tls_port,
        plain_port,
    );
    let authority_path = authority_file(&folder, "authority.pem", &authority);
    let mut board = start_board(tls_port, &authority_path, &[]);

    board
        .serial
        .expect_link_up_to(&format!("127.0.0.1:{tls_port}"));
    let verified = board
        .serial
        .wait_for("saying TLS is up", |line| line.contains("tls: "));
    assert_eq!(
        verified,
        "[hilt] log info tls: connected, localhost verified"
    );
    board.serial.wait_for("saying the session is up", |line| {
        line == "[hilt] log info thermometer: connected"
    });
    // What the board sent inside TLS reached Mosquitto: the scenario, on
    // the plain listener, sees its readings.
    run_scenario(&probe_scenario(
        "the host board's thermometer over TLS, through Mosquitto",
        plain_port,
        THERMOMETER_STEPS,
    ));
    board.serial.expect_reading_mirrored();
    drop(board);
    mosquitto.stop();
    let _ = std::fs::remove_dir_all(folder);
}

/// A board that trusts another authority refuses the broker: each attempt
/// fails in the handshake, says why, and the session backs off and tries
/// again; the MQTT session never starts.
#[test]
fn a_broker_certificate_from_another_authority_is_refused_and_retried() {
    let Some(binary) = mosquitto_binary() else {
        return;
    };
    let folder = temporary_folder("tls-unknown-authority");
    let authority = TestAuthority::generate("the broker's authority").unwrap();
    let other = TestAuthority::generate("an authority the broker never used").unwrap();
    let (tls_port, plain_port) = (free_port(), free_port());
    let mosquitto = start_mosquitto(
        &binary,
        &folder,
        &authority,
        ServerCertificate::Valid,
        tls_port,
        plain_port,
    );
    let authority_path = authority_file(&folder, "other.pem", &other);
    let mut board = start_board(tls_port, &authority_path, &[]);

    for attempt in ["first", "second"] {
        let failed = board
            .serial
            .wait_for(&format!("saying the {attempt} handshake failed"), |line| {
                line.contains("tls: ")
            });
        assert_eq!(
            failed,
            "[hilt] log warn tls: handshake failed: InvalidCertificate"
        );
        let ended = board
            .serial
            .wait_for("saying the link ended", |line| line.contains("link: ended"));
        assert_eq!(
            ended,
            "[hilt] log info link: ended: the TLS handshake failed"
        );
    }
    assert!(
        !board
            .serial
            .seen
            .iter()
            .any(|line| line.contains("thermometer: connected")),
        "{:#?}",
        board.serial.seen
    );
    drop(board);
    mosquitto.stop();
    let _ = std::fs::remove_dir_all(folder);
}

/// The name the certificate must carry is `tls_server_name` when set, not
/// the broker's host name: a certificate for `localhost` does not pass for
/// `broker.example`.
#[test]
fn a_certificate_for_another_name_is_refused() {
    let Some(binary) = mosquitto_binary() else {
        return;
    };
    let folder = temporary_folder("tls-wrong-name");
    let authority = TestAuthority::generate("hilt board test authority").unwrap();
    let (tls_port, plain_port) = (free_port(), free_port());
    let mosquitto = start_mosquitto(
        &binary,
        &folder,
        &authority,
        ServerCertificate::Valid,
        tls_port,
        plain_port,
    );
    let authority_path = authority_file(&folder, "authority.pem", &authority);
    let mut board = start_board(
        tls_port,
        &authority_path,
        &[("HILT_TLS_SERVER_NAME", "broker.example")],
    );
    let failed = board
        .serial
        .wait_for("saying the handshake failed", |line| line.contains("tls: "));
    assert_eq!(
        failed,
        "[hilt] log warn tls: handshake failed: InvalidCertificate"
    );
    drop(board);
    mosquitto.stop();
    let _ = std::fs::remove_dir_all(folder);
}
