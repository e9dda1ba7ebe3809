//! `hilt test-ca`, and `hilt replay --broker mqtts://…` with the CA to
//! trust and hilt's own login, against an embedded rumqttd listening with
//! TLS and asking for passwords (started here, on loopback).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use hilt_runner::broker::EmbeddedBroker;
use hilt_runner::tls::TestAuthority;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};

/// The password hilt logs in with; it must never be printed.
const HILT_PASSWORD: &str = "hilt-login-never-printed";

fn repository_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn hilt(arguments: &[&str], password: Option<&str>) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_hilt"));
    command
        .args(arguments)
        .current_dir(repository_root())
        .env_remove("GITHUB_ACTIONS")
        .env_remove("GITHUB_STEP_SUMMARY")
        .env_remove("CLICOLOR_FORCE")
        .env_remove("HILT_BROKER_PASSWORD");
    if let Some(password) = password {
        command.env("HILT_BROKER_PASSWORD", password);
    }
    command.output().expect("the hilt binary runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn provider() -> std::sync::Arc<rustls::crypto::CryptoProvider> {
    std::sync::Arc::new(rustls::crypto::ring::default_provider())
}

/// A TLS handshake between a server with `server.pem` and `server-key.pem`
/// and a client trusting `ca.pem` that expects `name`, in memory.
fn handshake(folder: &Path, name: &str) -> Result<(), rustls::Error> {
    let chain: Vec<CertificateDer<'static>> =
        CertificateDer::pem_file_iter(folder.join("server.pem"))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
    let key = PrivateKeyDer::from_pem_file(folder.join("server-key.pem")).unwrap();
    let server_config = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(chain, key)?;
    let mut roots = rustls::RootCertStore::empty();
    for certificate in CertificateDer::pem_file_iter(folder.join("ca.pem")).unwrap() {
        roots.add(certificate.unwrap())?;
    }
    let client_config = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
    let mut client = rustls::ClientConnection::new(
        std::sync::Arc::new(client_config),
        ServerName::try_from(name.to_owned()).unwrap(),
    )?;
    let mut server = rustls::ServerConnection::new(std::sync::Arc::new(server_config))?;
    for _ in 0..10 {
        if !client.is_handshaking() && !server.is_handshaking() {
            return Ok(());
        }
        let mut bytes = Vec::new();
        client.write_tls(&mut bytes).unwrap();
        server.read_tls(&mut bytes.as_slice()).unwrap();
        server.process_new_packets()?;
        bytes.clear();
        server.write_tls(&mut bytes).unwrap();
        client.read_tls(&mut bytes.as_slice()).unwrap();
        client.process_new_packets()?;
    }
    panic!("the handshake did not finish in 10 rounds");
}

#[test]
fn test_ca_writes_files_rustls_loads_and_never_overwrites() {
    let folder = tempfile::tempdir().unwrap();
    let out = folder.path().join("certs");
    let out_text = out.to_str().unwrap();
    let output = hilt(&["test-ca", "--out", out_text], None);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    for name in ["ca.pem", "server.pem", "server-key.pem"] {
        assert!(
            text(&output.stdout).contains(&format!("wrote {}", out.join(name).display())),
            "{}",
            text(&output.stdout)
        );
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(out.join("server-key.pem"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o077, 0, "the key is readable by others: {mode:o}");
    }
    handshake(&out, "localhost").expect("localhost verifies");
    handshake(&out, "127.0.0.1").expect("127.0.0.1 verifies");
    let wrong = handshake(&out, "other.example").unwrap_err();
    assert!(wrong.to_string().contains("certificate"), "{wrong}");

    // Again into the same folder: refused, and nothing changes.
    let before = std::fs::read(out.join("ca.pem")).unwrap();
    let again = hilt(&["test-ca", "--out", out_text], None);
    assert_eq!(again.status.code(), Some(2));
    assert!(
        text(&again.stderr).contains("exists already; remove it or choose another --out"),
        "{}",
        text(&again.stderr)
    );
    assert_eq!(std::fs::read(out.join("ca.pem")).unwrap(), before);
}

/// A TLS broker that knows hilt and the bundled credentials scenario's
/// user, and its authority's certificate in `folder/ca.pem`.
fn broker_with_users(folder: &Path) -> (EmbeddedBroker, PathBuf) {
    let authority = TestAuthority::generate("the tests' authority").unwrap();
    let users = [("hilt", HILT_PASSWORD), ("alice", "correct-horse")]
        .into_iter()
        .map(|(name, password)| (name.to_owned(), password.to_owned()))
        .collect();
    let broker = EmbeddedBroker::start_with_tls(64, Some(users), &authority).unwrap();
    let ca = folder.join("ca.pem");
    std::fs::write(&ca, authority.certificate_pem()).unwrap();
    (broker, ca)
}

#[test]
fn replay_over_mqtts_with_a_ca_and_a_login_runs_a_scenario_with_users() {
    let folder = tempfile::tempdir().unwrap();
    let (broker, ca) = broker_with_users(folder.path());
    let url = format!("mqtts://{}", broker.address());
    let output = hilt(
        &[
            "replay",
            "--verbose",
            "--broker",
            &url,
            "--broker-ca",
            ca.to_str().unwrap(),
            "--broker-username",
            "hilt",
            "scenarios/security/wrong_credentials_back_off.yaml",
        ],
        Some(HILT_PASSWORD),
    );
    let (stdout, stderr) = (text(&output.stdout), text(&output.stderr));
    assert_eq!(output.status.code(), Some(0), "{stdout}{stderr}");
    assert!(
        stdout.contains("1 passed, 0 failed, 0 errors (1 scenarios"),
        "{stdout}"
    );
    assert!(
        stdout.contains("refused by the broker: CONNACK return code 4"),
        "{stdout}"
    );
    for secret in [HILT_PASSWORD, "correct-horse", "battery-staple"] {
        assert!(
            !stdout.contains(secret) && !stderr.contains(secret),
            "{secret}"
        );
    }
}

#[test]
fn a_refused_login_is_an_error_naming_the_connack_code() {
    let folder = tempfile::tempdir().unwrap();
    let (broker, ca) = broker_with_users(folder.path());
    let url = format!("mqtts://{}", broker.address());
    let output = hilt(
        &[
            "replay",
            "--broker",
            &url,
            "--broker-ca",
            ca.to_str().unwrap(),
            "--broker-username",
            "hilt",
            "scenarios/security/wrong_credentials_back_off.yaml",
        ],
        Some("not-the-password"),
    );
    let (stdout, stderr) = (text(&output.stdout), text(&output.stderr));
    assert_eq!(output.status.code(), Some(2), "{stdout}{stderr}");
    assert!(
        stdout.contains("the broker refused hilt's own connection (CONNACK return code 4: bad user name or password)"),
        "{stdout}"
    );
    assert!(!stdout.contains("not-the-password") && !stderr.contains("not-the-password"));
}

#[test]
fn the_broker_flags_are_checked_before_anything_runs() {
    let scenario = "scenarios/security/wrong_credentials_back_off.yaml";
    // A user name without a password.
    let output = hilt(
        &[
            "replay",
            "--broker",
            "mqtt://127.0.0.1:9",
            "--broker-username",
            "hilt",
            scenario,
        ],
        None,
    );
    assert_eq!(output.status.code(), Some(2));
    assert!(
        text(&output.stderr)
            .contains("--broker-username needs its password: set HILT_BROKER_PASSWORD"),
        "{}",
        text(&output.stderr)
    );
    // A CA for a plain URL.
    let output = hilt(
        &[
            "replay",
            "--broker",
            "mqtt://127.0.0.1:9",
            "--broker-ca",
            "Cargo.toml",
            scenario,
        ],
        None,
    );
    assert_eq!(output.status.code(), Some(2));
    assert!(
        text(&output.stderr).contains("write the broker as mqtts://127.0.0.1:9"),
        "{}",
        text(&output.stderr)
    );
    // A CA that is not there.
    let output = hilt(
        &[
            "replay",
            "--broker",
            "mqtts://127.0.0.1:9",
            "--broker-ca",
            "no-such-ca.pem",
            scenario,
        ],
        None,
    );
    assert_eq!(output.status.code(), Some(2));
    assert!(
        text(&output.stderr).contains("--broker-ca no-such-ca.pem"),
        "{}",
        text(&output.stderr)
    );
    // The access flags need --broker.
    let output = hilt(
        &["replay", "--broker-username", "hilt", scenario],
        Some("x"),
    );
    assert_eq!(output.status.code(), Some(2));
    assert!(
        text(&output.stderr).contains("--broker"),
        "{}",
        text(&output.stderr)
    );
    // The password's value is not in the help.
    let output = hilt(&["replay", "--help"], Some(HILT_PASSWORD));
    assert!(!text(&output.stdout).contains(HILT_PASSWORD));
    assert!(text(&output.stdout).contains("HILT_BROKER_PASSWORD"));
}
