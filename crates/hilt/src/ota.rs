//! `hilt ota`: pushes a firmware image to a node-manager board over MQTT,
//! MQBoard's `mqboard ota`. The protocol is `hilt_firmware::ota::sender`,
//! the state machine the scenario step `ota:` drives against a simulated
//! board; this file only moves its chunks and the board's replies over a
//! rumqttc client (over TLS for an mqtts:// broker, trusting `--broker-ca`
//! or the public roots, and logging in with `--broker-username`) and shows
//! progress.

use std::io::IsTerminal as _;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use hilt_firmware::ota::sender::{OtaSender, SenderEvent, SenderState};
use hilt_firmware::ota::{HEADER_LEN, sha256, sha256_hex};
use hilt_runner::tls::ClientTls;
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS, TlsConfiguration, Transport};

/// What `hilt ota` was asked to do.
#[derive(Debug)]
pub(crate) struct OtaOptions {
    pub broker: String,
    /// With an mqtts:// broker, the authority to trust (a PEM file);
    /// otherwise the public roots.
    pub broker_ca: Option<PathBuf>,
    /// The user name to log in with, and its password (required with it).
    pub username: Option<String>,
    pub password: Option<String>,
    pub prefix: String,
    pub image: PathBuf,
    pub id: String,
    pub chunk: usize,
    /// Silence after which the sender goes back (and, after
    /// `MAX_REWINDS` of those, gives up).
    pub resend_after: Duration,
}

/// Pushes the image; `Ok` once the board took it, an error (exit code 2)
/// when it refused, went silent or the broker could not be reached.
pub(crate) fn ota(options: &OtaOptions) -> anyhow::Result<u8> {
    let hilt_scenario::BrokerUrl { host, port, tls } =
        hilt_scenario::parse_broker_url(&options.broker).map_err(|error| anyhow::anyhow!(error))?;
    let transport = if tls {
        let client_tls = match &options.broker_ca {
            Some(ca) => ClientTls::trusting_file(ca, &host),
            None => ClientTls::trusting_public_roots(&host),
        }
        .with_context(|| format!("--broker {}", options.broker))?;
        Transport::tls_with_config(TlsConfiguration::Rustls(client_tls.config()))
    } else {
        if options.broker_ca.is_some() {
            anyhow::bail!(
                "--broker-ca is the authority to trust over TLS; write the broker as mqtts://{host}:{port}"
            );
        }
        Transport::Tcp
    };
    let image = std::fs::read(&options.image)
        .with_context(|| format!("cannot read {}", options.image.display()))?;
    let sender = OtaSender::new(image.len(), options.chunk)
        .map_err(|error| anyhow::anyhow!("{}: {error}", options.image.display()))?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the sender's runtime")?;
    let mut mqtt = MqttOptions::new(format!("hilt-ota-{}", std::process::id()), host, port);
    mqtt.set_keep_alive(Duration::from_secs(30))
        .set_clean_session(true)
        .set_max_packet_size(64 * 1024, 64 * 1024)
        .set_transport(transport);
    match (&options.username, &options.password) {
        (Some(name), Some(password)) => {
            mqtt.set_credentials(name, password);
        }
        (Some(_), None) => anyhow::bail!(
            "--broker-username needs its password: set HILT_BROKER_PASSWORD (or give --broker-password)"
        ),
        _ => {}
    }
    let version = runtime.block_on(push(options, mqtt, &image, sender))?;
    println!("the board took firmware {version}; it reboots into it");
    Ok(0)
}

async fn push(
    options: &OtaOptions,
    mqtt: MqttOptions,
    image: &[u8],
    mut sender: OtaSender,
) -> anyhow::Result<String> {
    let digest = sha256_hex(&sha256(image));
    let topic = format!("{}/mqb/cmd/ota/{}/{digest}", options.prefix, options.id);
    let reply_topic = format!("{}/mqb/reply/{}", options.prefix, options.id);
    let (client, mut events) = AsyncClient::new(mqtt, 64);
    client
        .subscribe(reply_topic.clone(), QoS::AtLeastOnce)
        .await
        .context("cannot queue the subscription")?;
    // Chunks go out only once the reply subscription is in place, or the
    // first replies could be missed.
    loop {
        match events.poll().await {
            Ok(Event::Incoming(Packet::SubAck(_))) => break,
            Ok(_) => {}
            Err(error) => anyhow::bail!("cannot reach the broker at {}: {error}", options.broker),
        }
    }
    let progress = Progress::new(image.len() as u64, sender.chunks());
    let mut payload = vec![0u8; HEADER_LEN + options.chunk];
    while *sender.state() == SenderState::Sending {
        while let Some(chunk) = sender.next_chunk() {
            let length = chunk.write_payload(image, &mut payload);
            client
                .publish(
                    topic.clone(),
                    QoS::AtLeastOnce,
                    false,
                    payload[..length].to_vec(),
                )
                .await
                .context("cannot queue a chunk")?;
        }
        let event =
            match tokio::time::timeout(options.resend_after, next_reply(&mut events, &reply_topic))
                .await
            {
                Ok(reply) => sender.on_reply(&reply?),
                Err(_) => sender.on_silence(),
            };
        match &event {
            SenderEvent::Progress { seq, received } => progress.advance(*seq, u64::from(*received)),
            SenderEvent::Rewound { to, reason } => {
                progress.say(&format!("going back to chunk {to}: {reason}"))
            }
            _ => {}
        }
    }
    progress.finish();
    let _ = client.disconnect().await;
    match sender.state() {
        SenderState::Done { version } => Ok(version.to_string()),
        SenderState::Failed { reason } => anyhow::bail!("the board refused the update: {reason}"),
        SenderState::Sending => anyhow::bail!("the update stopped unfinished"),
    }
}

/// Polls the client until a message arrives on the reply topic.
async fn next_reply(events: &mut rumqttc::EventLoop, reply_topic: &str) -> anyhow::Result<Vec<u8>> {
    loop {
        match events.poll().await {
            Ok(Event::Incoming(Packet::Publish(publish))) if publish.topic == reply_topic => {
                return Ok(publish.payload.to_vec());
            }
            Ok(_) => {}
            Err(error) => anyhow::bail!("lost the broker: {error}"),
        }
    }
}

/// A progress bar on a terminal (standard error), plain lines otherwise.
struct Progress {
    bar: Option<indicatif::ProgressBar>,
    chunks: u16,
}

impl Progress {
    fn new(bytes: u64, chunks: u16) -> Progress {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = indicatif::ProgressBar::new(bytes);
            bar.set_style(
                indicatif::ProgressStyle::with_template("{bar:40} {bytes}/{total_bytes} {msg}")
                    .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
            );
            bar
        });
        Progress { bar, chunks }
    }

    fn advance(&self, seq: u16, received: u64) {
        match &self.bar {
            Some(bar) => bar.set_position(received),
            None => eprintln!(
                "chunk {seq} of {}: the board has {received} bytes",
                self.chunks
            ),
        }
    }

    fn say(&self, text: &str) {
        match &self.bar {
            Some(bar) => bar.println(text),
            None => eprintln!("{text}"),
        }
    }

    fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}
