//! The command line: replay, check and print transcripts of scenario files,
//! export them to Wokwi, print their JSON Schema (`schema`), start a
//! project (`init`), and record a live broker into a transcript and a draft
//! scenario (`record`).
//!
//! Exit codes: 0 when every scenario passed (or, for `check`, is valid),
//! and when a `--partition` takes no file; 1 when some scenario failed an
//! expectation; 2 for invalid input (usage errors included) or a harness
//! error, and for `record`, a broker that cannot be reached or goes away.

use std::fs::File;
use std::io::{BufRead as _, Seek as _};
use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};
use std::time::Instant as WallInstant;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use hilt_runner::{MessageOutput, Recording, Registry, TranscriptOutput, Verdict};
use hilt_scenario::{BrokerChoice, StepKind};

use crate::filter::Filter;
use crate::partition::Partition;
use crate::report::progress::Progress;
use crate::report::style::{Palette, Tone};
use crate::report::{Entry, EntryKind, Format, ReportOptions, Reports, Totals};
use crate::{in_order, init, ota, record};

/// Writes to standard output. A reader that went away (`hilt transcript …
/// | head`) ends the program quietly with the shell's code for a broken
/// pipe, instead of the panic `print!` would raise.
macro_rules! out {
    ($($argument:tt)*) => {{
        use std::io::Write as _;
        if let Err(error) = write!(std::io::stdout(), $($argument)*) {
            output_failed(error);
        }
    }};
}

/// [`out!`] with a newline.
macro_rules! outln {
    ($($argument:tt)*) => {{
        use std::io::Write as _;
        if let Err(error) = writeln!(std::io::stdout(), $($argument)*) {
            output_failed(error);
        }
    }};
}

/// Standard output can no longer be written: stop, as a pipe's writer does.
fn output_failed(error: std::io::Error) -> ! {
    if error.kind() != std::io::ErrorKind::BrokenPipe {
        eprintln!("hilt: cannot write to standard output: {error}");
    }
    std::process::exit(141)
}

#[derive(Parser, Debug)]
#[command(
    name = "hilt",
    version,
    about = "Hardware-in-the-loop scenarios for ESP32 MQTT firmware, in virtual time"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run scenario files (folders are searched for *.yaml) and report each.
    Replay {
        /// Scenario files or folders.
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// Print the transcript of every scenario, not only of failures.
        #[arg(long, conflicts_with = "quiet")]
        verbose: bool,
        /// Print no line for a scenario that passed or was skipped, and no
        /// progress display; failures, errors and the summary still print.
        #[arg(short, long)]
        quiet: bool,
        /// What to print: `human` (a line per scenario; with
        /// GITHUB_ACTIONS=true also GitHub annotations), `json` (one JSON
        /// object per scenario file and a summary, one a line; see
        /// docs/report-formats.md) or `github` (human, GitHub `::error`
        /// annotations, and a Markdown table appended to
        /// $GITHUB_STEP_SUMMARY).
        #[arg(long, value_enum, default_value_t = Format::Human)]
        format: Format,
        /// Also write a JUnit XML report to FILE: a test case per scenario
        /// file (class name its folder), failures, errors and invalid files,
        /// each transcript as its system-out (cut in the middle past 64 KiB).
        #[arg(long, value_name = "FILE")]
        junit: Option<PathBuf>,
        /// Run the valid files even when some are invalid (the invalid ones
        /// are reported as ever, and the exit code is still 2). Without it,
        /// nothing runs if any file is invalid.
        #[arg(long)]
        keep_going: bool,
        /// Run against this broker (mqtt://host:port, or mqtts://host:port
        /// for TLS, port 8883 by default) instead of the embedded one.
        /// Scenarios with `broker:` steps need the embedded broker and are
        /// skipped; so are those with `broker: { users }` unless
        /// --broker-username says the broker asks for logins (their users
        /// are then expected to exist on it).
        #[arg(long, value_name = "URL")]
        broker: Option<String>,
        #[command(flatten)]
        broker_access: BrokerAccessArguments,
        #[command(flatten)]
        listen: ListenArgument,
        /// Write every message of every run to this CSV file, one row each
        /// (the tutorial's host-side logger).
        #[arg(long, value_name = "FILE")]
        csv: Option<PathBuf>,
        /// Run this many scenarios at once, each with its own embedded
        /// broker; the output is the same as with 1, in file order.
        /// Default: the number of cores, but 1 with --broker, since runs
        /// sharing a broker would see each other's messages.
        #[arg(short = 'j', long, value_name = "N")]
        jobs: Option<NonZeroUsize>,
        /// Write a visual report into DIR: a self-contained HTML page per
        /// scenario (a sequence diagram of its messages, timelines of its
        /// LEDs, pins and sensor values, message rates) and index.html.
        #[arg(long, value_name = "DIR")]
        html: Option<PathBuf>,
        #[command(flatten)]
        partition: PartitionArgument,
        #[command(flatten)]
        filter: FilterArgument,
    },
    /// Validate scenario files without running them.
    Check {
        /// Scenario files or folders.
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        #[command(flatten)]
        partition: PartitionArgument,
        #[command(flatten)]
        filter: FilterArgument,
    },
    /// Run one scenario and print its transcript.
    Transcript {
        /// The scenario file.
        file: PathBuf,
        #[command(flatten)]
        listen: ListenArgument,
    },
    /// Export a single-device scenario as a Wokwi automation scenario (the
    /// YAML `wokwi-cli --scenario` runs against the firmware image).
    ///
    /// Steps Wokwi cannot check faithfully are refused, each reported as
    /// `file:line: why` (exit code 1); an invalid file exits with 2. LED
    /// `within:` is checked at the end of the window and `for:` by sampling,
    /// as the file's header says. The mapping is documented in the hilt-wokwi
    /// crate.
    Wokwi {
        /// The scenario file.
        scenario: PathBuf,
        /// Write the Wokwi scenario here instead of to standard output.
        #[arg(short, long, value_name = "FILE")]
        output: Option<PathBuf>,
        /// Make message checks Wokwi cannot make exactly weaker (a JSON
        /// subset becomes "a message on that topic") or leave them out,
        /// listing each, instead of refusing the scenario.
        #[arg(long)]
        approximate: bool,
        /// Append this to every board's client id, to the settings that
        /// name a board (remote-led's `peer`) and to topic levels that are
        /// those names, so that runs sharing a public broker at once cannot
        /// disturb each other (CI: a run id). The exported `# hilt-env:`
        /// lines carry the suffixed ids into the image build.
        #[arg(
            long,
            value_name = "SUFFIX",
            env = "HILT_CLIENT_SUFFIX",
            allow_hyphen_values = true
        )]
        client_suffix: Option<String>,
    },
    /// Watch a live broker and write what it carried: a transcript (in the
    /// line format of `hilt transcript`) and a draft scenario with a device
    /// per topic prefix and an expectation per message pattern.
    ///
    /// Each message is printed as it arrives. Ctrl-C or --duration ends the
    /// recording; a broker that cannot be reached or goes away ends it with
    /// exit code 2, and what was captured is written all the same.
    Record {
        /// The broker: mqtt://host:port (port 1883 if not given).
        #[arg(long, value_name = "URL")]
        broker: String,
        /// A topic filter to subscribe to (QoS 1); give it more than once
        /// for more. Default: `#`.
        #[arg(long = "topic", value_name = "FILTER")]
        topics: Vec<String>,
        /// The folder to write `transcript.txt` and `scenario.yaml` into
        /// (created if missing). Existing files are never overwritten.
        #[arg(long, value_name = "DIR", default_value = "recording")]
        out: PathBuf,
        /// Write the transcript here instead of DIR/transcript.txt.
        #[arg(long, value_name = "FILE")]
        transcript: Option<PathBuf>,
        /// Write the draft scenario here instead of DIR/scenario.yaml.
        #[arg(long, value_name = "FILE")]
        scenario: Option<PathBuf>,
        /// Stop after this long (`30s`, `10m`, `1h`), counted from the
        /// broker accepting the connection. Default: until Ctrl-C.
        #[arg(long, value_name = "DURATION", value_parser = parse_duration_argument)]
        duration: Option<std::time::Duration>,
        /// The recorder's own MQTT client id. Default: hilt-record-<process id>.
        #[arg(long, value_name = "ID")]
        client_id: Option<String>,
        /// Print no line per message (the files get every one).
        #[arg(short, long)]
        quiet: bool,
    },
    /// Push a firmware image to a node-manager board over MQTT (MQBoard's
    /// OTA protocol): chunks on <PREFIX>/mqb/cmd/ota/<ID>/<sha256>, QoS 1,
    /// paced by the board's replies on <PREFIX>/mqb/reply/<ID>. Exit code
    /// 0 once the board took the image (it then reboots into it); 2 when it
    /// refused, went silent, or the broker could not be reached.
    Ota {
        /// The broker: mqtt://host:port (port 1883 if not given), or
        /// mqtts://host:port for TLS (8883).
        #[arg(long, value_name = "URL")]
        broker: String,
        #[command(flatten)]
        access: BrokerAccessArguments,
        /// The board's topic prefix (its `prefix` setting).
        #[arg(long, value_name = "PREFIX")]
        prefix: String,
        /// The image file (an ESP app image, with its app descriptor).
        image: PathBuf,
        /// The command id, in the command and reply topics.
        #[arg(long, value_name = "ID", default_value = "ota")]
        id: String,
        /// Bytes of image per message; the board's receive buffer holds
        /// about 1900 with the topic.
        #[arg(long, value_name = "BYTES", default_value_t = 1024)]
        chunk: usize,
        /// Seconds of silence after which the sender goes back to the
        /// last acknowledged chunk (it gives up after 8 of these).
        #[arg(long, value_name = "SECONDS", default_value_t = 5)]
        resend_after: u64,
    },
    /// Print the JSON Schema of scenario files for this hilt's apps, for
    /// editors (docs/scenario.schema.json holds the bundled apps' one).
    Schema,
    /// Write a fresh test certificate authority and a server certificate it
    /// issued, for a broker to listen with TLS on this machine (Mosquitto's
    /// cafile, certfile and keyfile): DIR/ca.pem, DIR/server.pem (for
    /// localhost and 127.0.0.1, valid 2025 to 2045) and DIR/server-key.pem.
    /// The authority's own key is not kept, so it can issue nothing else.
    /// Existing files are never overwritten.
    TestCa {
        /// The folder to write into (created if missing).
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
    },
    /// Write a new project to start from into DIR: a no_std firmware app
    /// with its unit tests, its registration, a scenario run as a test, the
    /// project's own hilt command line, an ESP32-C3 image crate with Wokwi
    /// files, a .ci/run script and a GitHub workflow.
    Init {
        /// The folder to create (new, or empty); its name names the project.
        dir: PathBuf,
        /// The project's (Cargo package's) name, instead of the folder's.
        #[arg(long)]
        name: Option<String>,
        /// Depend on hilt's crates in this checkout of hilt instead of by git.
        #[arg(long, value_name = "DIR", conflicts_with = "hilt_git")]
        hilt_path: Option<PathBuf>,
        /// Depend on hilt's crates from this git repository.
        #[arg(long, value_name = "URL", default_value = init::DEFAULT_HILT_GIT)]
        hilt_git: String,
    },
}

/// A duration as the scenario language writes it.
fn parse_duration_argument(text: &str) -> Result<std::time::Duration, String> {
    hilt_scenario::duration::parse_duration(text).map_err(|error| error.to_string())
}

/// How hilt's own connections reach a `--broker`.
#[derive(clap::Args, Debug)]
struct BrokerAccessArguments {
    /// With an mqtts:// --broker: the certificate authority (a PEM file)
    /// to trust for the broker's certificate. Default: the public roots.
    #[arg(long, value_name = "PATH", requires = "broker")]
    broker_ca: Option<PathBuf>,
    /// The user name hilt's own client logs in to --broker with. The
    /// scenarios' `broker: { users }` are then expected to exist there too.
    #[arg(long, value_name = "NAME", requires = "broker")]
    broker_username: Option<String>,
    /// The password of --broker-username. Better given in the environment
    /// (HILT_BROKER_PASSWORD) than on the command line, where other users
    /// of the machine can see it. Never printed.
    #[arg(
        long,
        value_name = "PASSWORD",
        env = "HILT_BROKER_PASSWORD",
        hide_env_values = true,
        requires = "broker_username"
    )]
    broker_password: Option<String>,
}

/// `--partition`, shared by `replay` and `check`.
#[derive(clap::Args, Debug)]
struct PartitionArgument {
    /// Take only one shard of the scenario files, as cargo-nextest's
    /// --partition does: `count:M/N` takes every N-th file starting with
    /// the M-th, in the order found (folders sorted by path); `hash:M/N`
    /// takes the files whose path (as given, `/`-separated) has an FNV-1a
    /// 64-bit hash equal to M-1 modulo N, which stays stable as files are
    /// added. M counts from 1.
    #[arg(long, value_name = "KIND:M/N", value_parser = Partition::parse)]
    partition: Option<Partition>,
}

/// `--listen`, shared by `replay` and `transcript`.
#[derive(clap::Args, Debug)]
struct ListenArgument {
    /// Accept external devices' connections at this address (an IP address
    /// and a port, like 127.0.0.1:1883), instead of where the scenario's
    /// `broker: { listen }` says or a free port on 127.0.0.1. Only a
    /// scenario with external devices listens; hilt prints the address.
    #[arg(long, value_name = "ADDR", value_parser = hilt_scenario::parse_listen_address)]
    listen: Option<std::net::SocketAddr>,
}

/// `--filter`, shared by `replay` and `check`.
#[derive(clap::Args, Debug)]
struct FilterArgument {
    /// Take only the scenario files whose path (as found, `/`-separated)
    /// or `name:` contains PATTERN, as plain case-sensitive text. Given
    /// more than once, a file matching any is taken. Applied before
    /// --partition.
    #[arg(long, value_name = "PATTERN")]
    filter: Vec<String>,
}

const EXIT_PASSED: u8 = 0;
const EXIT_FAILED: u8 = 1;
const EXIT_INVALID: u8 = 2;

/// Runs the command line `arguments` (the program's name first, as
/// [`std::env::args_os`] gives them) against the apps of `registry`, and
/// returns the exit code: 0 passed, 1 failed, 2 invalid input or a harness
/// error (usage errors included; `--help` and `--version` return 0).
///
/// Everything goes to standard output and standard error, as the `hilt`
/// binary prints it; [`main_with`] is this and `std::process::exit`.
pub fn run<I, T>(registry: &Registry, arguments: I) -> u8
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    let cli = match Cli::try_parse_from(arguments) {
        Ok(cli) => cli,
        Err(error) => {
            // Help and version are "errors" to clap that exit 0.
            let _ = error.print();
            return u8::try_from(error.exit_code()).unwrap_or(EXIT_INVALID);
        }
    };
    let result = match cli.command {
        Command::Replay {
            paths,
            verbose,
            quiet,
            format,
            junit,
            keep_going,
            broker,
            broker_access,
            listen,
            csv,
            jobs,
            html,
            partition,
            filter,
        } => replay(
            &paths,
            registry,
            &ReplayOptions {
                verbose,
                quiet,
                keep_going,
                broker,
                broker_access,
                listen: listen.listen,
                csv,
                jobs,
                html,
                partition: partition.partition,
                filter: Filter::new(filter.filter),
            },
            ReportOptions::from_environment(format, junit, |name| std::env::var(name).ok()),
        ),
        Command::Check {
            paths,
            partition,
            filter,
        } => check(
            &paths,
            partition.partition,
            &Filter::new(filter.filter),
            registry,
        ),
        Command::Transcript { file, listen } => transcript(&file, listen.listen, registry),
        Command::Wokwi {
            scenario,
            output,
            approximate,
            client_suffix,
        } => {
            let fidelity = if approximate {
                hilt_wokwi::Fidelity::Weakened
            } else {
                hilt_wokwi::Fidelity::Faithful
            };
            wokwi(
                &scenario,
                output.as_deref(),
                fidelity,
                client_suffix.as_deref(),
                registry,
            )
        }
        Command::Record {
            broker,
            topics,
            out,
            transcript,
            scenario,
            duration,
            client_id,
            quiet,
        } => record::record(&record::RecordOptions {
            broker,
            filters: if topics.is_empty() {
                vec!["#".to_string()]
            } else {
                topics
            },
            transcript: transcript.unwrap_or_else(|| out.join("transcript.txt")),
            scenario: scenario.unwrap_or_else(|| out.join("scenario.yaml")),
            duration,
            client_id: client_id.unwrap_or_else(|| format!("hilt-record-{}", std::process::id())),
            quiet,
        }),
        Command::TestCa { out } => test_ca(&out),
        Command::Ota {
            broker,
            access,
            prefix,
            image,
            id,
            chunk,
            resend_after,
        } => ota::ota(&ota::OtaOptions {
            broker,
            broker_ca: access.broker_ca,
            username: access.broker_username,
            password: access.broker_password,
            prefix,
            image,
            id,
            chunk,
            resend_after: std::time::Duration::from_secs(resend_after.max(1)),
        }),
        Command::Schema => {
            out!("{}", hilt_scenario::schema::scenario_schema_text(registry));
            Ok(EXIT_PASSED)
        }
        Command::Init {
            dir,
            name,
            hilt_path,
            hilt_git,
        } => {
            let source = match hilt_path {
                Some(path) => init::HiltSource::Path(path),
                None => init::HiltSource::Git(hilt_git),
            };
            init_project(&dir, name.as_deref(), &source)
        }
    };
    match result {
        Ok(code) => code,
        Err(error) => {
            eprintln!("hilt: {error:#}");
            EXIT_INVALID
        }
    }
}

/// Loads every file; prints every diagnostic; `None` if any was invalid.
fn load_all(
    paths: &[PathBuf],
    registry: &Registry,
) -> anyhow::Result<Option<Vec<hilt_scenario::Scenario>>> {
    // Its errors are whole sentences naming the path (`x.yaml: no such file`).
    let files = hilt_runner::scenario_files(paths)?;
    Ok(load_files(&files, registry))
}

/// The scenario files under `paths`, only those `filter` takes, and of
/// those only the ones of `partition` if one is given. `Ok(None)` when the
/// filter or the partition takes none of them, after saying so: a shard
/// left empty (more shards than files) is not an error. What it says goes
/// to standard output, or with `notes_to_stderr` (standard output is
/// JSON) to standard error.
fn select_files(
    paths: &[PathBuf],
    filter: &Filter,
    partition: Option<Partition>,
    registry: &Registry,
    notes_to_stderr: bool,
) -> anyhow::Result<Option<Vec<PathBuf>>> {
    let note = |text: String| {
        if notes_to_stderr {
            eprintln!("{text}");
        } else {
            outln!("{text}");
        }
    };
    let mut files = hilt_runner::scenario_files(paths)?;
    if !filter.is_empty() {
        let found = files.len();
        files = filter.select(files, registry);
        if files.is_empty() {
            note(format!(
                "--filter {} takes none of the {found} scenario files; nothing to do",
                filter.describe()
            ));
            return Ok(None);
        }
        note(format!(
            "filter {}: {} of {found} scenario files",
            filter.describe(),
            files.len()
        ));
    }
    let Some(partition) = partition else {
        return Ok(Some(files));
    };
    let selected = partition.select(&files);
    if selected.is_empty() {
        note(format!(
            "partition {partition} takes none of the {} scenario files; nothing to do",
            files.len()
        ));
        return Ok(None);
    }
    note(format!(
        "partition {partition}: {} of {} scenario files",
        selected.len(),
        files.len()
    ));
    Ok(Some(selected))
}

/// Loads `files`; prints every diagnostic; `None` if any was invalid.
/// A partition is applied before this, so a shard validates only the files
/// it runs and every file is validated by exactly one shard.
fn load_files(files: &[PathBuf], registry: &Registry) -> Option<Vec<hilt_scenario::Scenario>> {
    let mut scenarios = Vec::new();
    let mut invalid = false;
    for file in files {
        match hilt_runner::load(file, registry) {
            Ok(scenario) => scenarios.push(scenario),
            Err(diagnostics) => {
                invalid = true;
                eprintln!("{diagnostics}");
            }
        }
    }
    (!invalid).then_some(scenarios)
}

/// How `replay` runs and what it writes besides its report.
#[derive(Debug)]
struct ReplayOptions {
    verbose: bool,
    quiet: bool,
    keep_going: bool,
    broker: Option<String>,
    broker_access: BrokerAccessArguments,
    listen: Option<std::net::SocketAddr>,
    csv: Option<PathBuf>,
    jobs: Option<NonZeroUsize>,
    html: Option<PathBuf>,
    partition: Option<Partition>,
    filter: Filter,
}

/// What became of one scenario: its verdict, and everything `replay`
/// prints for it, so that runs on other threads can be printed in order.
/// The transcript and the CSV rows were written to temporary files as the
/// run went, so that a long run is not held in memory.
#[derive(Debug)]
struct Finished {
    status: Status,
    /// The scenario file and its `name:`.
    file: PathBuf,
    name: String,
    /// Its line after the label, and its report unless it passed.
    text: String,
    /// The run's outcome (without transcript or messages) and wall time;
    /// `None` when it was skipped.
    outcome: Option<(hilt_runner::RunOutcome, std::time::Duration)>,
    /// Why it was skipped.
    skipped_because: Option<&'static str>,
    /// The transcript, with `--verbose` or `--junit`.
    transcript: Option<File>,
    /// The run's CSV rows, with `--csv`.
    csv_rows: Option<File>,
}

#[derive(Clone, Copy, Debug)]
enum Status {
    Passed,
    Failed,
    Error,
    Skipped,
}

impl Status {
    /// The label that starts its line, five characters wide.
    fn label(self, palette: Palette) -> String {
        match self {
            Status::Passed => palette.paint(Tone::Good, "PASS "),
            Status::Failed => palette.paint(Tone::Bad, "FAIL "),
            Status::Error => palette.paint(Tone::Bad, "ERROR"),
            Status::Skipped => palette.paint(Tone::Warning, "SKIP "),
        }
    }
}

/// Why the valid files did not run when others are invalid.
const NOT_RUN_FOR_INVALID: &str =
    "not run: other scenario files are invalid (--keep-going runs the valid ones)";

fn replay(
    paths: &[PathBuf],
    registry: &Registry,
    options: &ReplayOptions,
    report_options: ReportOptions,
) -> anyhow::Result<u8> {
    let broker = match &options.broker {
        Some(url) => Some(external_broker(url, &options.broker_access)?),
        None => None,
    };
    let mut reports = Reports::new(report_options);
    let human = reports.human();
    if options.verbose && !human {
        anyhow::bail!(
            "--verbose prints transcripts, which --format json leaves out (--junit FILE has them)"
        );
    }
    let Some(files) = select_files(paths, &options.filter, options.partition, registry, !human)?
    else {
        return Ok(EXIT_PASSED);
    };
    let started = WallInstant::now();
    let mut totals = Totals::default();
    let mut scenarios = Vec::new();
    for file in &files {
        match hilt_runner::load(file, registry) {
            Ok(mut scenario) => {
                // `--listen` wins over the file's `broker: { listen }`.
                if options.listen.is_some() {
                    scenario.listen = options.listen;
                }
                scenarios.push(scenario);
            }
            Err(diagnostics) => {
                eprintln!("{diagnostics}");
                totals.invalid += 1;
                out!(
                    "{}",
                    reports.record(&Entry {
                        file,
                        name: None,
                        kind: EntryKind::Invalid {
                            diagnostics: &diagnostics,
                        },
                    })?
                );
            }
        }
    }
    if totals.invalid > 0 && !options.keep_going {
        eprintln!("hilt: invalid scenario files; nothing was run");
        // The reports list the valid files too, as not run.
        for scenario in &scenarios {
            totals.skipped += 1;
            out!(
                "{}",
                reports.record(&Entry {
                    file: &scenario.file,
                    name: Some(&scenario.name),
                    kind: EntryKind::Skipped {
                        reason: NOT_RUN_FOR_INVALID,
                    },
                })?
            );
        }
        totals.wall = started.elapsed();
        totals.exit_code = EXIT_INVALID;
        out!("{}", reports.finish(&totals)?);
        return Ok(EXIT_INVALID);
    }
    let html = match &options.html {
        Some(folder) => Some(hilt_report::HtmlReport::create(folder, &scenarios)?),
        None => None,
    };
    let mut csv = match &options.csv {
        Some(path) => Some(
            hilt_runner::csv::MessageWriter::create(path)
                .with_context(|| format!("cannot write {}", path.display()))?,
        ),
        None => None,
    };
    // Every run on the embedded broker has a broker of its own, so runs in
    // parallel cannot meet. An external broker is shared: the harness's `#`
    // subscription would see the other runs' messages, and scenarios using
    // the same client id would take over each other's connections. So it
    // gets one run at a time unless the user asks for more. So does one
    // listening address: two runs cannot both listen there.
    let jobs = match (options.jobs, &broker, options.listen) {
        (Some(jobs), _, _) => jobs.get(),
        (None, Some(_), _) | (None, _, Some(_)) => 1,
        (None, None, None) => std::thread::available_parallelism().map_or(1, NonZeroUsize::get),
    };
    let palette = if human {
        Palette::for_stdout()
    } else {
        Palette::plain()
    };
    let progress = Progress::start(scenarios.len(), options.quiet);
    let spill_transcripts = options.verbose || reports.wants_transcripts();
    let write_csv = csv.is_some();
    let result = in_order::for_each_in_order(
        &scenarios,
        jobs,
        |scenario| {
            replay_one(
                scenario,
                broker.as_ref(),
                registry,
                spill_transcripts,
                write_csv,
                progress.as_ref(),
                html.as_ref(),
            )
        },
        |finished| -> anyhow::Result<()> {
            let finished = finished?;
            match finished.status {
                Status::Passed => totals.passed += 1,
                Status::Failed => totals.failed += 1,
                Status::Error => totals.errors += 1,
                Status::Skipped => totals.skipped += 1,
            }
            let mut print = || -> anyhow::Result<()> {
                let quiet =
                    options.quiet && matches!(finished.status, Status::Passed | Status::Skipped);
                if human && !quiet {
                    out!("{}{}", finished.status.label(palette), finished.text);
                }
                if let (true, Some(transcript)) = (options.verbose, &finished.transcript) {
                    print_indented(transcript).context("cannot read back a transcript")?;
                }
                let kind = match (&finished.outcome, finished.skipped_because) {
                    (Some((outcome, wall)), _) => EntryKind::Ran {
                        outcome,
                        wall: *wall,
                        transcript: finished.transcript.as_ref(),
                    },
                    (None, reason) => EntryKind::Skipped {
                        reason: reason.unwrap_or_default(),
                    },
                };
                let entry = Entry {
                    file: &finished.file,
                    name: Some(&finished.name),
                    kind,
                };
                out!("{}", reports.record(&entry)?);
                Ok(())
            };
            match &progress {
                Some(progress) => progress.suspend(print)?,
                None => print()?,
            }
            if let (Some(csv), Some(mut rows)) = (csv.as_mut(), finished.csv_rows) {
                rows.rewind().context("cannot read back CSV rows")?;
                csv.append_rows(&mut rows)
                    .context("cannot write the CSV file")?;
            }
            if let Some(progress) = &progress {
                progress.done(&format!(
                    "{} passed, {} failed, {} errors",
                    totals.passed, totals.failed, totals.errors
                ));
            }
            Ok(())
        },
    );
    if let Some(progress) = progress {
        progress.finish();
    }
    result?;
    if let Some(csv) = csv {
        csv.finish().context("cannot write the CSV file")?;
    }
    if let Some(html) = &html {
        let index = html.write_index()?;
        // Standard output is JSON lines alone with --format json.
        if human {
            outln!("HTML report: open {}", index.display());
        } else {
            eprintln!("HTML report: open {}", index.display());
        }
    }
    totals.wall = started.elapsed();
    totals.exit_code = if totals.errors > 0 || totals.invalid > 0 {
        EXIT_INVALID
    } else if totals.failed > 0 {
        EXIT_FAILED
    } else {
        EXIT_PASSED
    };
    if human {
        let skipped_text = if totals.skipped > 0 {
            format!(", {} skipped", totals.skipped)
        } else {
            String::new()
        };
        let invalid_text = if totals.invalid > 0 {
            format!(", {} invalid", totals.invalid)
        } else {
            String::new()
        };
        outln!(
            "{} passed, {} failed, {} errors{skipped_text}{invalid_text} ({} scenarios in {:.3}s)",
            totals.passed,
            totals.failed,
            totals.errors,
            scenarios.len(),
            totals.wall.as_secs_f64()
        );
    }
    out!("{}", reports.finish(&totals)?);
    Ok(totals.exit_code)
}

/// `hilt test-ca`: writes the authority's certificate, a server
/// certificate and its key into `folder`, none of them over an existing
/// file.
fn test_ca(folder: &Path) -> anyhow::Result<u8> {
    use hilt_runner::tls::{ServerCertificate, TestAuthority};
    let authority = TestAuthority::generate("hilt test authority")?;
    let server = authority.server_certificate(ServerCertificate::Valid)?;
    let files = [
        ("ca.pem", authority.certificate_pem(), false),
        ("server.pem", server.certificate_pem.clone(), false),
        ("server-key.pem", server.key_pem.clone(), true),
    ];
    std::fs::create_dir_all(folder)
        .with_context(|| format!("cannot create {}", folder.display()))?;
    // All or nothing: every file is checked before any is written.
    for (name, _, _) in &files {
        let path = folder.join(name);
        if std::fs::symlink_metadata(&path).is_ok() {
            anyhow::bail!(
                "{} exists already; remove it or choose another --out",
                path.display()
            );
        }
    }
    for (name, text, secret) in &files {
        let path = folder.join(name);
        let mut options = std::fs::OpenOptions::new();
        // `create_new`: a file that appeared meanwhile is not overwritten.
        options.write(true).create_new(true);
        #[cfg(unix)]
        if *secret {
            use std::os::unix::fs::OpenOptionsExt as _;
            options.mode(0o600);
        }
        #[cfg(not(unix))]
        let _ = secret;
        let mut file = options
            .open(&path)
            .with_context(|| format!("cannot write {}", path.display()))?;
        std::io::Write::write_all(&mut file, text.as_bytes())
            .with_context(|| format!("cannot write {}", path.display()))?;
        outln!("wrote {}", path.display());
    }
    Ok(EXIT_PASSED)
}

/// The broker `--broker` and its access flags name.
fn external_broker(url: &str, access: &BrokerAccessArguments) -> anyhow::Result<BrokerChoice> {
    let parsed = hilt_scenario::parse_broker_url(url)
        .map_err(|problem| anyhow::anyhow!("--broker {url}: {problem}"))?;
    if let Some(ca) = &access.broker_ca {
        if !parsed.tls {
            anyhow::bail!(
                "--broker-ca is the authority to trust over TLS; write the broker as mqtts://{}:{}",
                parsed.host,
                parsed.port
            );
        }
        // Read now, so that a wrong path stops the replay before it runs
        // anything rather than failing every scenario.
        std::fs::metadata(ca).with_context(|| format!("--broker-ca {}", ca.display()))?;
    }
    let login = match (&access.broker_username, &access.broker_password) {
        (Some(name), Some(password)) => Some(hilt_scenario::BrokerUser {
            name: name.clone(),
            password: password.clone(),
        }),
        (Some(_), None) => anyhow::bail!(
            "--broker-username needs its password: set HILT_BROKER_PASSWORD (or give --broker-password)"
        ),
        _ => None,
    };
    Ok(BrokerChoice::External {
        url: url.to_owned(),
        host: parsed.host,
        port: parsed.port,
        tls: parsed.tls,
        ca: access.broker_ca.clone(),
        login,
    })
}

/// Runs one scenario (on `broker` if given) and writes what `replay`
/// prints for it: its line, its report unless it passed, and with
/// `transcript` its transcript; with `csv`, its rows. With `progress`, it
/// has a line on the display while it runs; with `html`, it gets a page in
/// the HTML report.
fn replay_one(
    scenario: &hilt_scenario::Scenario,
    broker: Option<&BrokerChoice>,
    registry: &Registry,
    transcript: bool,
    csv: bool,
    progress: Option<&Progress>,
    html: Option<&hilt_report::HtmlReport>,
) -> anyhow::Result<Finished> {
    let mut scenario = scenario.clone();
    if let Some(broker) = broker {
        let needs_embedded = if scenario
            .steps
            .iter()
            .any(|step| matches!(step.kind, StepKind::Broker(_) | StepKind::Revoke(_)))
        {
            Some("its `broker:` steps need the embedded broker")
        } else if !scenario.broker_users.is_empty()
            && !matches!(broker, BrokerChoice::External { login: Some(_), .. })
        {
            // Another broker has users of its own, which hilt cannot set;
            // a login for hilt says that broker asks for them, and the
            // scenario's are then expected to be among them.
            Some(
                "its `broker: { users }` need the embedded broker, or --broker-username for a broker that has those users",
            )
        } else {
            None
        };
        if let Some(reason) = needs_embedded {
            return Ok(Finished {
                status: Status::Skipped,
                text: format!(
                    " {}  {}  ({reason})\n",
                    scenario.file.display(),
                    scenario.name
                ),
                file: scenario.file.clone(),
                name: scenario.name.clone(),
                outcome: None,
                skipped_because: Some(reason),
                transcript: None,
                csv_rows: None,
            });
        }
        scenario.broker = broker.clone();
    }
    let spill = || -> anyhow::Result<(File, Box<dyn std::io::Write>)> {
        let file = tempfile::tempfile().context("cannot create a temporary file")?;
        let writer = file.try_clone().context("cannot create a temporary file")?;
        Ok((file, Box::new(writer)))
    };
    let mut recording = Recording::verdict_only();
    recording.listening = Some(announce_listening(&scenario.file));
    let mut transcript_file = None;
    if transcript {
        let (file, writer) = spill()?;
        transcript_file = Some(file);
        recording.transcript = TranscriptOutput::Writer(writer);
    }
    let mut csv_rows = None;
    if csv {
        let (file, writer) = spill()?;
        csv_rows = Some(file);
        recording.messages =
            MessageOutput::Csv(hilt_runner::csv::MessageRows::new(&scenario.file, writer));
    }
    // The display's line for this run, gone when this function returns.
    let _line = progress.map(|progress| {
        let (line, hook) = progress.scenario(&scenario.file);
        recording.progress = Some(hook);
        line
    });
    let mut page = None;
    if let Some(html) = html {
        let (recording_for_page, events) = html.record()?;
        page = Some(recording_for_page);
        recording.events = events;
    }
    let scenario_started = WallInstant::now();
    let outcome = hilt_runner::run_scenario_with(&scenario, registry, recording);
    let wall = scenario_started.elapsed();
    if let Some(error) = &outcome.recording_error {
        anyhow::bail!("{}: {error}", scenario.file.display());
    }
    let status = match outcome.verdict {
        Verdict::Passed => Status::Passed,
        Verdict::Failed(_) => Status::Failed,
        Verdict::Error(_) => Status::Error,
    };
    let mut text = format!(
        " {}  {}  ({} device time, {:.3}s wall)\n",
        outcome.file.display(),
        outcome.name,
        outcome.device_time,
        wall.as_secs_f64()
    );
    if !outcome.passed() {
        text.push_str(&indent(&outcome.report()));
    }
    if let (Some(html), Some(page)) = (html, page) {
        let path = html.write_page(&scenario, page, &outcome)?;
        if !outcome.passed() {
            text.push_str(&format!("    open {}\n", path.display()));
        }
    }
    Ok(Finished {
        status,
        text,
        file: scenario.file.clone(),
        name: scenario.name.clone(),
        outcome: Some((outcome, wall)),
        skipped_because: None,
        transcript: transcript_file,
        csv_rows,
    })
}

/// Prints a transcript written to `file`, each line indented as
/// [`indent`] does.
fn print_indented(mut file: &File) -> std::io::Result<()> {
    file.rewind()?;
    let mut reader = std::io::BufReader::new(file);
    let mut line = String::new();
    while reader.read_line(&mut line)? > 0 {
        let text = line.strip_suffix('\n').unwrap_or(&line);
        let text = text.strip_suffix('\r').unwrap_or(text);
        outln!("    {text}");
        line.clear();
    }
    Ok(())
}

fn check(
    paths: &[PathBuf],
    partition: Option<Partition>,
    filter: &Filter,
    registry: &Registry,
) -> anyhow::Result<u8> {
    let Some(files) = select_files(paths, filter, partition, registry, false)? else {
        return Ok(EXIT_PASSED);
    };
    let Some(scenarios) = load_files(&files, registry) else {
        return Ok(EXIT_INVALID);
    };
    for scenario in &scenarios {
        outln!("ok {}  {}", scenario.file.display(), scenario.name);
    }
    outln!("{} valid scenario files", scenarios.len());
    Ok(EXIT_PASSED)
}

fn transcript(
    file: &PathBuf,
    listen: Option<std::net::SocketAddr>,
    registry: &Registry,
) -> anyhow::Result<u8> {
    let Some(scenarios) = load_all(std::slice::from_ref(file), registry)? else {
        return Ok(EXIT_INVALID);
    };
    let mut code = EXIT_PASSED;
    for scenario in &scenarios {
        let mut scenario = scenario.clone();
        if listen.is_some() {
            scenario.listen = listen;
        }
        let scenario = &scenario;
        // Printed as the run goes: a month of device time need not fit in
        // memory.
        let recording = Recording {
            transcript: TranscriptOutput::Writer(Box::new(std::io::stdout())),
            messages: MessageOutput::Discard,
            progress: None,
            events: hilt_runner::EventOutput::Discard,
            listening: Some(announce_listening(&scenario.file)),
        };
        let outcome = hilt_runner::run_scenario_with(scenario, registry, recording);
        if let Some(error) = &outcome.recording_error {
            match std::error::Error::source(error.as_ref())
                .and_then(|source| source.downcast_ref::<std::io::Error>())
            {
                Some(error) => output_failed(std::io::Error::new(error.kind(), error.to_string())),
                None => anyhow::bail!("{error}"),
            }
        }
        match outcome.verdict {
            Verdict::Passed => {}
            Verdict::Failed(_) => {
                eprint!("{}", outcome.report());
                code = EXIT_FAILED;
            }
            Verdict::Error(_) => {
                eprint!("{}", outcome.report());
                code = EXIT_INVALID;
            }
        }
    }
    Ok(code)
}

/// `hilt wokwi`: exit 0 when written, 1 when some step cannot be exported.
fn wokwi(
    file: &std::path::Path,
    output: Option<&std::path::Path>,
    fidelity: hilt_wokwi::Fidelity,
    client_suffix: Option<&str>,
    registry: &Registry,
) -> anyhow::Result<u8> {
    let mut scenario = match hilt_runner::load(file, registry) {
        Ok(scenario) => scenario,
        Err(diagnostics) => {
            eprintln!("{diagnostics}");
            return Ok(EXIT_INVALID);
        }
    };
    if let Some(suffix) = client_suffix {
        match hilt_wokwi::with_client_suffix(&scenario, registry, suffix) {
            Ok(suffixed) => scenario = suffixed,
            Err(error) => {
                eprintln!("hilt: {error}");
                return Ok(EXIT_INVALID);
            }
        }
    }
    // The registry knows each app's image: hilt's own for the bundled board
    // apps, and whatever a user's app registers (`SimulatedApp::wokwi_image`).
    let exported = match hilt_wokwi::export_from(&scenario, registry, registry, fidelity) {
        Ok(exported) => exported,
        Err(refused) => {
            eprintln!("{refused}");
            return Ok(EXIT_FAILED);
        }
    };
    let yaml = exported.to_yaml();
    match output {
        Some(path) => std::fs::write(path, yaml)
            .with_context(|| format!("cannot write {}", path.display()))?,
        None => out!("{yaml}"),
    }
    for approximation in &exported.approximations {
        eprintln!(
            "{}:{}: approximated: {}",
            file.display(),
            approximation.line,
            approximation.note
        );
    }
    Ok(EXIT_PASSED)
}

/// Says on standard error where external devices connect, once the run of
/// `file` listens: one line, and a warning when other machines can reach
/// the address too.
fn announce_listening(file: &Path) -> hilt_runner::ListeningHook {
    let file = file.display().to_string();
    hilt_runner::ListeningHook::new(move |address| {
        eprintln!("{file}: external devices: connect to mqtt://{address}");
        if !address.ip().is_loopback() {
            eprintln!(
                "{file}: warning: hilt listens on {address}, which is not a loopback address; \
                 other machines that reach it can connect as the scenario's devices"
            );
        }
    })
}

fn indent(text: &str) -> String {
    text.lines().map(|line| format!("    {line}\n")).collect()
}

/// `hilt init`: writes the project and says what to run next.
fn init_project(dir: &Path, name: Option<&str>, source: &init::HiltSource) -> anyhow::Result<u8> {
    let files = init::init(dir, name, source)?;
    outln!("wrote {} files into {}", files.len(), dir.display());
    if let init::HiltSource::Git(url) = source
        && url == init::DEFAULT_HILT_GIT
    {
        outln!(
            "note: the project depends on hilt by git at {url}, a placeholder until hilt is \
             published; give `--hilt-path <checkout of hilt>` (or edit the `git = ...` lines) \
             to build it now"
        );
    }
    outln!("next:");
    outln!("  cd {}", dir.display());
    outln!("  cargo test                        # the app's unit tests and the scenarios");
    outln!("  cargo run -- replay scenarios/    # the project's own hilt");
    Ok(EXIT_PASSED)
}
