//! `hilt record`: watch a live broker, write what was seen as a transcript
//! and as a draft scenario.
//!
//! The recorder is an ordinary MQTT client (rumqttc on a Tokio runtime of
//! its own) that subscribes to the filters given with QoS 1, so that QoS
//! and retain arrive as the broker delivers them. Each message is printed
//! and written to the transcript as it arrives, in the line format of a
//! replay's transcript (time since the broker accepted the connection,
//! device, topic, QoS, retain, payload), so the two can be diffed; the
//! file is flushed line by line, so a recording killed outright keeps what
//! it saw. The draft ([`hilt_scenario::draft`]) is written at the end:
//! after Ctrl-C, after `--duration`, or when the broker goes away.

use std::fs::File;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant as WallInstant, SystemTime};

use anyhow::Context as _;
use hilt_firmware::time::Instant;
use hilt_runner::LoggedMessage;
use hilt_scenario::draft::{Draft, Observed, RecordingFacts};
use rumqttc::{
    AsyncClient, ConnectionError, Event, MqttOptions, Packet, QoS, SubscribeFilter,
    SubscribeReasonCode,
};

/// The largest message the recorder takes (the client refuses larger
/// packets and would drop the connection).
const MAX_PACKET_BYTES: usize = 16 * 1024 * 1024;
/// How long a broker may take to accept the connection.
const CONNECT_TIMEOUT_SECONDS: u64 = 5;
/// How long the recorder waits for its DISCONNECT to go out at the end.
const DISCONNECT_GRACE: Duration = Duration::from_secs(1);

/// What `hilt record` was asked to do.
#[derive(Debug)]
pub(crate) struct RecordOptions {
    /// `mqtt://host:port`.
    pub(crate) broker: String,
    /// Topic filters; `#` when none is given.
    pub(crate) filters: Vec<String>,
    pub(crate) transcript: PathBuf,
    pub(crate) scenario: PathBuf,
    /// Stop after this long; without it, at Ctrl-C.
    pub(crate) duration: Option<Duration>,
    pub(crate) client_id: String,
    /// Print no line per message.
    pub(crate) quiet: bool,
}

/// Why a recording ended.
enum Ending {
    Interrupted,
    DurationElapsed,
    /// The broker could not be reached, refused the recorder or went away,
    /// or the transcript could not be written: what happened, in a sentence.
    Failed(String),
}

/// What a recording has seen so far, and where its transcript goes.
struct Recording {
    started: Option<(WallInstant, SystemTime)>,
    transcript: Option<File>,
    draft: Draft,
    /// Standard output went away; lines are no longer printed.
    stdout_closed: bool,
}

/// Records until Ctrl-C, `--duration`, or the broker's end; returns the
/// exit code: 0, or 2 when the broker could not be reached or went away
/// (what was captured is written all the same).
pub(crate) fn record(options: &RecordOptions) -> anyhow::Result<u8> {
    let hilt_scenario::BrokerUrl { host, port, tls } =
        hilt_scenario::parse_broker_url(&options.broker).map_err(|error| anyhow::anyhow!(error))?;
    if tls {
        anyhow::bail!(
            "--broker {}: `hilt record` speaks plain MQTT; mqtts:// is for `hilt replay` and `hilt ota`",
            options.broker
        );
    }
    for filter in &options.filters {
        hilt_scenario::topic::validate_filter(filter)
            .map_err(|error| anyhow::anyhow!("--topic {filter:?}: {error}"))?;
    }
    // Nothing the user has is overwritten: both files must be new.
    for path in [&options.transcript, &options.scenario] {
        if path.exists() {
            anyhow::bail!(
                "{} exists already; remove it or choose another --out, --transcript or --scenario",
                path.display()
            );
        }
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the recorder's runtime")?;
    let mut recording = Recording {
        started: None,
        transcript: None,
        draft: Draft::default(),
        stdout_closed: false,
    };
    let ending = runtime.block_on(watch(options, &host, port, &mut recording));
    // The transcript cannot be written: the draft is written all the same.
    let ending = ending.unwrap_or_else(|error| Ending::Failed(format!("{error:#}")));
    finish(options, recording, ending)
}

async fn watch(
    options: &RecordOptions,
    host: &str,
    port: u16,
    recording: &mut Recording,
) -> anyhow::Result<Ending> {
    let mut mqtt = MqttOptions::new(options.client_id.clone(), host, port);
    mqtt.set_keep_alive(Duration::from_secs(30))
        .set_clean_session(true)
        .set_max_packet_size(MAX_PACKET_BYTES, MAX_PACKET_BYTES);
    let (client, mut events) = AsyncClient::new(mqtt, 64);
    let mut network = rumqttc::NetworkOptions::new();
    network.set_connection_timeout(CONNECT_TIMEOUT_SECONDS);
    events.set_network_options(network);
    client
        .subscribe_many(
            options
                .filters
                .iter()
                .map(|filter| SubscribeFilter::new(filter.clone(), QoS::AtLeastOnce)),
        )
        .await
        .context("cannot queue the subscription")?;
    let interrupted = tokio::signal::ctrl_c();
    tokio::pin!(interrupted);
    // The handler is installed when the future is first polled: poll it now,
    // before anything is said or connected, so no Ctrl-C is missed.
    tokio::select! {
        biased;
        signal = &mut interrupted => {
            signal.context("cannot listen for Ctrl-C")?;
            return Ok(Ending::Interrupted);
        }
        () = std::future::ready(()) => {}
    }
    // Armed once the broker accepts the connection.
    let mut deadline: Option<tokio::time::Instant> = None;
    let ending = loop {
        let elapsed = async {
            match deadline {
                Some(deadline) => tokio::time::sleep_until(deadline).await,
                None => std::future::pending().await,
            }
        };
        let event = tokio::select! {
            signal = &mut interrupted => {
                signal.context("cannot listen for Ctrl-C")?;
                break Ending::Interrupted;
            }
            () = elapsed => break Ending::DurationElapsed,
            event = events.poll() => event,
        };
        match event {
            Ok(Event::Incoming(Packet::ConnAck(_))) => {
                recording.start(&options.transcript)?;
                if let Some(duration) = options.duration {
                    deadline = Some(tokio::time::Instant::now() + duration);
                }
            }
            Ok(Event::Incoming(Packet::SubAck(ack))) => {
                let refused: Vec<&str> = ack
                    .return_codes
                    .iter()
                    .zip(&options.filters)
                    .filter(|(code, _)| matches!(code, SubscribeReasonCode::Failure))
                    .map(|(_, filter)| filter.as_str())
                    .collect();
                if !refused.is_empty() {
                    break Ending::Failed(format!(
                        "the broker at {} refused the subscription to {}",
                        options.broker,
                        refused.join(", ")
                    ));
                }
                let until = match options.duration {
                    Some(duration) => format!("for {}", humantime::format_duration(duration)),
                    None => "until Ctrl-C".to_string(),
                };
                eprintln!(
                    "recording {} (subscribed to {}) {until}",
                    options.broker,
                    options.filters.join(", ")
                );
            }
            Ok(Event::Incoming(Packet::Publish(publish))) => {
                let qos = match publish.qos {
                    QoS::AtMostOnce => 0,
                    QoS::AtLeastOnce => 1,
                    QoS::ExactlyOnce => 2,
                };
                recording.message(
                    &publish.topic,
                    &publish.payload,
                    qos,
                    publish.retain,
                    options.quiet,
                )?;
            }
            Ok(_) => {}
            Err(error) => break Ending::Failed(broker_error(options, recording, &error)),
        }
    };
    if !matches!(ending, Ending::Failed(_)) {
        // A clean end: DISCONNECT, so the broker publishes no will of ours.
        let _ = client.disconnect().await;
        let _ = tokio::time::timeout(DISCONNECT_GRACE, async {
            while let Ok(event) = events.poll().await {
                if matches!(event, Event::Outgoing(rumqttc::Outgoing::Disconnect)) {
                    break;
                }
            }
        })
        .await;
    }
    Ok(ending)
}

/// What went wrong with the broker, in a sentence.
fn broker_error(options: &RecordOptions, recording: &Recording, error: &ConnectionError) -> String {
    match recording.started {
        None => format!("cannot reach the broker at {}: {error}", options.broker),
        Some((started, _)) => format!(
            "the broker at {} went away after {:.3}s: {error}",
            options.broker,
            started.elapsed().as_secs_f64()
        ),
    }
}

impl Recording {
    /// The broker accepted the connection: time starts now.
    fn start(&mut self, transcript: &Path) -> anyhow::Result<()> {
        if self.started.is_some() {
            return Ok(());
        }
        self.started = Some((WallInstant::now(), SystemTime::now()));
        self.transcript = Some(create_new(transcript)?);
        Ok(())
    }

    fn message(
        &mut self,
        topic: &str,
        payload: &[u8],
        qos: u8,
        retain: bool,
        quiet: bool,
    ) -> anyhow::Result<()> {
        let at = self
            .started
            .map_or(Duration::ZERO, |(started, _)| started.elapsed());
        let device = self.draft.observe(Observed {
            at,
            topic,
            payload,
            qos,
            retain,
        });
        let line = LoggedMessage {
            at: Instant::from_micros(u64::try_from(at.as_micros()).unwrap_or(u64::MAX)),
            source: device.to_string(),
            topic: topic.to_string(),
            payload: payload.to_vec(),
            qos,
            retain,
        }
        .describe();
        if let Some(file) = &mut self.transcript {
            // Unbuffered: each line is in the file as soon as it is seen.
            writeln!(file, "{line}").context("cannot write the transcript")?;
        }
        if !quiet && !self.stdout_closed {
            let mut stdout = std::io::stdout();
            if let Err(error) = writeln!(stdout, "{line}") {
                // `hilt record | head`: the lines stop, the recording goes
                // on into the files until Ctrl-C, and nothing is lost.
                self.stdout_closed = true;
                eprintln!(
                    "hilt: standard output closed ({error}); recording goes on into the files"
                );
            }
        }
        Ok(())
    }
}

/// Writes the draft, says what was written, and gives the exit code.
fn finish(options: &RecordOptions, recording: Recording, ending: Ending) -> anyhow::Result<u8> {
    let Recording {
        started,
        transcript,
        draft,
        ..
    } = recording;
    let Some((started_wall, started_at)) = started else {
        // Never connected: nothing was seen, and no file was made.
        if let Ending::Failed(error) = ending {
            eprintln!("hilt: {error}");
        }
        eprintln!("hilt: nothing recorded; no files written");
        return Ok(2);
    };
    let length = started_wall.elapsed();
    drop(transcript);
    let why = match &ending {
        Ending::Interrupted => "stopped by Ctrl-C",
        Ending::DurationElapsed => "the duration elapsed",
        Ending::Failed(_) => "ended by an error",
    };
    eprintln!(
        "recorded {} in {:.3}s ({why}); transcript: {}",
        plural(draft.messages(), "message"),
        length.as_secs_f64(),
        options.transcript.display()
    );
    let started_text = humantime::format_rfc3339_seconds(started_at).to_string();
    let facts = RecordingFacts {
        broker_url: &options.broker,
        filters: &options.filters,
        started: &started_text,
        length,
    };
    match draft.write(&facts) {
        Some(text) => {
            let mut file = create_new(&options.scenario)?;
            file.write_all(text.as_bytes())
                .with_context(|| format!("cannot write {}", options.scenario.display()))?;
            eprintln!(
                "draft scenario: {} (fill in each device's client_id)",
                options.scenario.display()
            );
        }
        None => eprintln!("no messages seen, so no draft scenario written"),
    }
    match ending {
        Ending::Failed(error) => {
            eprintln!("hilt: {error}");
            Ok(2)
        }
        Ending::Interrupted | Ending::DurationElapsed => Ok(0),
    }
}

/// Creates the file at `path`, and its folder if need be; a file there
/// already is an error, never overwritten.
fn create_new(path: &Path) -> anyhow::Result<File> {
    if let Some(parent) = path
        .parent()
        .filter(|parent| !parent.as_os_str().is_empty())
    {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("cannot create {}", parent.display()))?;
    }
    File::create_new(path).with_context(|| format!("cannot create {}", path.display()))
}

fn plural(count: usize, noun: &str) -> String {
    if count == 1 {
        format!("1 {noun}")
    } else {
        format!("{count} {noun}s")
    }
}
