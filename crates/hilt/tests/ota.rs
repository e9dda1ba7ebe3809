//! `hilt ota` against the embedded broker and a board played in the test:
//! an MQTT client running the firmware core's OTA receiver on hilt-sim's
//! flash chip model, replying as node-manager does; in plain MQTT, and over
//! TLS with a login. (`ota_host_board.rs` runs node-manager itself.)

use std::process::Command;
use std::sync::mpsc;
use std::time::Duration;

use hilt_firmware::ota::image::SimulatedBoot;
use hilt_firmware::ota::otadata::OtaData;
use hilt_firmware::ota::receiver::{ChunkOutcome, OtaReceiver};
use hilt_firmware::partitions::{FLASH_SIZE, OTA_SLOTS};
use hilt_firmware::time::Instant;
use hilt_runner::broker::EmbeddedBroker;
use hilt_runner::tls::{BROKER_NAME, TestAuthority};
use hilt_sim::flash::FlashModel;
use hilt_sim::image::simulated_image;
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS, TlsConfiguration, Transport};

const PREFIX: &str = "lab/board";

/// What the played board ends with: the slot the update wrote, and
/// whether the OTA data selects it.
struct BoardEnd {
    slot_1: Vec<u8>,
    activated: bool,
}

/// Plays the board until it has answered the last chunk (or refused).
fn play_board(options: MqttOptions, image_len: usize, ready: mpsc::Sender<()>) -> BoardEnd {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async move {
        let model = FlashModel::new(FLASH_SIZE as usize);
        let mut flash = model.handle();
        let mut receiver = OtaReceiver::new(0);
        let (client, mut events) = AsyncClient::new(options, 64);
        client.subscribe(format!("{PREFIX}/mqb/cmd/ota/#"), QoS::AtLeastOnce).await.unwrap();
        let mut started = 0u64;
        loop {
            let event = tokio::time::timeout(Duration::from_secs(30), events.poll())
                .await
                .expect("the board hears from the broker")
                .expect("the board stays connected");
            let publish = match event {
                Event::Incoming(Packet::SubAck(_)) => {
                    ready.send(()).unwrap();
                    continue;
                }
                Event::Incoming(Packet::Publish(publish)) => publish,
                _ => continue,
            };
            let levels: Vec<&str> = publish.topic.split('/').collect();
            let (id, sha) = (levels[levels.len() - 2], levels[levels.len() - 1]);
            started += 1;
            let now = Instant::from_millis(started);
            let reply = match receiver.on_chunk(&mut flash, now, id, sha, &publish.payload) {
                ChunkOutcome::Progress { seq, received } => Some(format!("{{\"seq\": {seq}, \"received\": {received}}}")),
                ChunkOutcome::Complete { size, slot, descriptor } => Some(format!(
                    "{{\"ok\": true, \"size\": {size}, \"slot\": {slot}, \"version\": \"{}\", \"rebooting\": true}}",
                    descriptor.version
                )),
                ChunkOutcome::Refused(error) => Some(match error.expected() {
                    Some(expected) => format!("{{\"error\": \"{error}\", \"expected\": {expected}}}"),
                    None => format!("{{\"error\": \"{error}\"}}"),
                }),
                _ => None,
            };
            let done = reply.as_ref().is_some_and(|reply| reply.contains("\"ok\"") || (reply.contains("error") && !reply.contains("expected")));
            if let Some(reply) = reply {
                client
                    .publish(format!("{PREFIX}/mqb/reply/{id}"), QoS::AtLeastOnce, false, reply)
                    .await
                    .unwrap();
            }
            if done {
                // Let the reply go out before the board stops.
                for _ in 0..4 {
                    let _ = tokio::time::timeout(Duration::from_millis(200), events.poll()).await;
                }
                let activated = OtaData::read(&mut flash).unwrap().selected_slot() == 1;
                return BoardEnd { slot_1: model.contents(OTA_SLOTS[1].start as usize, image_len), activated };
            }
        }
    })
}

fn hilt_ota(port: u16, image: &std::path::Path, extra: &[&str]) -> std::process::Output {
    hilt_ota_at(&format!("mqtt://127.0.0.1:{port}"), image, extra, None)
}

/// `hilt ota --broker <url> --prefix lab/board <image> <extra>`, with
/// `HILT_BROKER_PASSWORD` set to `password` when given.
fn hilt_ota_at(
    url: &str,
    image: &std::path::Path,
    extra: &[&str],
    password: Option<&str>,
) -> std::process::Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_hilt"));
    command
        .args(["ota", "--broker", url, "--prefix", PREFIX])
        .arg(image)
        .args(extra)
        .env_remove("HILT_BROKER_PASSWORD");
    if let Some(password) = password {
        command.env("HILT_BROKER_PASSWORD", password);
    }
    command.output().expect("hilt runs")
}

#[test]
fn hilt_ota_pushes_an_image_the_board_takes_and_activates() {
    let broker = EmbeddedBroker::start().expect("the broker starts");
    let port = broker.address().port();
    let image = simulated_image("node-manager", "0.4.0", SimulatedBoot::Runs, 40_000);
    let folder = tempfile::tempdir().unwrap();
    let path = folder.path().join("app.bin");
    std::fs::write(&path, &image).unwrap();
    let (ready, is_ready) = mpsc::channel();
    let length = image.len();
    let board = std::thread::spawn(move || {
        play_board(MqttOptions::new("board", "127.0.0.1", port), length, ready)
    });
    is_ready
        .recv_timeout(Duration::from_secs(30))
        .expect("the board subscribes");
    let output = hilt_ota(port, &path, &["--id", "t1", "--chunk", "700"]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("the board took firmware 0.4.0"), "{stdout}");
    // Not a terminal: plain progress lines, one per progress reply.
    assert!(
        stderr.contains("chunk 56 of 58: the board has 39900 bytes"),
        "{stderr}"
    );
    let end = board.join().unwrap();
    assert_eq!(end.slot_1, image);
    assert!(end.activated);
}

#[test]
fn a_refusal_is_an_error_with_the_boards_reason() {
    let broker = EmbeddedBroker::start().expect("the broker starts");
    let port = broker.address().port();
    // No app descriptor: the board refuses it at the end.
    let image = vec![0x5Au8; 5000];
    let folder = tempfile::tempdir().unwrap();
    let path = folder.path().join("not-an-app.bin");
    std::fs::write(&path, &image).unwrap();
    let (ready, is_ready) = mpsc::channel();
    let board = std::thread::spawn(move || {
        play_board(MqttOptions::new("board", "127.0.0.1", port), 5000, ready)
    });
    is_ready
        .recv_timeout(Duration::from_secs(30))
        .expect("the board subscribes");
    let output = hilt_ota(port, &path, &[]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("the board refused the update: not an app image"),
        "{stderr}"
    );
    assert!(!board.join().unwrap().activated);
}

#[test]
fn an_unreadable_image_or_zero_chunk_is_refused_before_anything_is_sent() {
    let folder = tempfile::tempdir().unwrap();
    let missing = folder.path().join("missing.bin");
    let output = hilt_ota(1, &missing, &[]);
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("cannot read"));
    let path = folder.path().join("app.bin");
    std::fs::write(&path, [1, 2, 3]).unwrap();
    let output = hilt_ota(1, &path, &["--chunk", "0"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("chunk size must be at least 1 byte"));
}

#[test]
fn hilt_ota_reaches_a_tls_broker_trusting_its_ca_and_logs_in() {
    let authority = TestAuthority::generate("the OTA test's authority").unwrap();
    let users = [
        ("hilt", "ota-login-never-printed"),
        ("board", "board-login"),
    ]
    .into_iter()
    .map(|(name, password)| (name.to_owned(), password.to_owned()))
    .collect();
    let broker = EmbeddedBroker::start_with_tls(64, Some(users), &authority).unwrap();
    let port = broker.address().port();
    let folder = tempfile::tempdir().unwrap();
    let ca = folder.path().join("ca.pem");
    std::fs::write(&ca, authority.certificate_pem()).unwrap();
    let image = simulated_image("node-manager", "0.5.0", SimulatedBoot::Runs, 9_000);
    let path = folder.path().join("app.bin");
    std::fs::write(&path, &image).unwrap();

    // The board logs in over TLS too, trusting the same authority.
    let board_tls = broker
        .client_tls()
        .expect("the broker listens with TLS")
        .config();
    let mut board_options = MqttOptions::new("board", BROKER_NAME, port);
    board_options
        .set_transport(Transport::tls_with_config(TlsConfiguration::Rustls(
            board_tls,
        )))
        .set_credentials("board", "board-login");
    let (ready, is_ready) = mpsc::channel();
    let length = image.len();
    let board = std::thread::spawn(move || play_board(board_options, length, ready));
    is_ready
        .recv_timeout(Duration::from_secs(30))
        .expect("the board subscribes");

    let url = format!("mqtts://{BROKER_NAME}:{port}");
    let ca_text = ca.to_str().unwrap();
    let login = ["--broker-ca", ca_text, "--broker-username", "hilt"];
    let output = hilt_ota_at(
        &url,
        &path,
        &[&login[..], &["--id", "tls1"]].concat(),
        Some("ota-login-never-printed"),
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("the board took firmware 0.5.0"), "{stdout}");
    assert!(!stdout.contains("never-printed") && !stderr.contains("never-printed"));
    let end = board.join().unwrap();
    assert_eq!(end.slot_1, image);
    assert!(end.activated);

    // A wrong password is refused by the broker, and said so.
    let refused = hilt_ota_at(&url, &path, &login, Some("wrong"));
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert_eq!(refused.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("cannot reach the broker") && stderr.contains("BadUserNamePassword"),
        "{stderr}"
    );

    // Without the authority the broker's certificate is not trusted.
    let untrusted = hilt_ota_at(
        &url,
        &path,
        &["--broker-username", "hilt"],
        Some("ota-login-never-printed"),
    );
    let stderr = String::from_utf8_lossy(&untrusted.stderr);
    assert_eq!(untrusted.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("invalid peer certificate"), "{stderr}");
}
