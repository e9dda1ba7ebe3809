//! `hilt`: replay, check and print transcripts of scenario files.
//!
//! Exit codes: 0 when every scenario passed (or, for `check`, is valid);
//! 1 when some scenario failed an expectation; 2 for invalid input or a
//! harness error.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant as WallInstant;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use hilt_runner::{Registry, Verdict};
use hilt_scenario::{BrokerChoice, StepKind};

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
        #[arg(long)]
        verbose: bool,
        /// Run against this broker (mqtt://host:port) instead of the
        /// embedded one. Scenarios with `broker:` steps need the embedded
        /// broker and are skipped.
        #[arg(long, value_name = "URL")]
        broker: Option<String>,
        /// Write every message of every run to this CSV file, one row each
        /// (the tutorial's host-side logger).
        #[arg(long, value_name = "FILE")]
        csv: Option<PathBuf>,
    },
    /// Validate scenario files without running them.
    Check {
        /// Scenario files or folders.
        #[arg(required = true)]
        paths: Vec<PathBuf>,
    },
    /// Run one scenario and print its transcript.
    Transcript {
        /// The scenario file.
        file: PathBuf,
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
    },
}

const EXIT_FAILED: u8 = 1;
const EXIT_INVALID: u8 = 2;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let registry = Registry::with_bundled_apps();
    let result = match cli.command {
        Command::Replay {
            paths,
            verbose,
            broker,
            csv,
        } => replay(
            &paths,
            &registry,
            &ReplayOptions {
                verbose,
                broker,
                csv,
            },
        ),
        Command::Check { paths } => check(&paths, &registry),
        Command::Transcript { file } => transcript(&file, &registry),
        Command::Wokwi {
            scenario,
            output,
            approximate,
        } => {
            let fidelity = if approximate {
                hilt_wokwi::Fidelity::Weakened
            } else {
                hilt_wokwi::Fidelity::Faithful
            };
            wokwi(&scenario, output.as_deref(), fidelity, &registry)
        }
    };
    match result {
        Ok(code) => code,
        Err(error) => {
            eprintln!("hilt: {error:#}");
            ExitCode::from(EXIT_INVALID)
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
    let mut scenarios = Vec::new();
    let mut invalid = false;
    for file in &files {
        match hilt_runner::load(file, registry) {
            Ok(scenario) => scenarios.push(scenario),
            Err(diagnostics) => {
                invalid = true;
                eprintln!("{diagnostics}");
            }
        }
    }
    Ok((!invalid).then_some(scenarios))
}

/// How `replay` runs and what it writes besides its report.
#[derive(Debug)]
struct ReplayOptions {
    verbose: bool,
    broker: Option<String>,
    csv: Option<PathBuf>,
}

fn replay(
    paths: &[PathBuf],
    registry: &Registry,
    options: &ReplayOptions,
) -> anyhow::Result<ExitCode> {
    let broker = match &options.broker {
        Some(url) => {
            let (host, port) = hilt_scenario::parse_broker_url(url)
                .map_err(|problem| anyhow::anyhow!("--broker {url}: {problem}"))?;
            Some(BrokerChoice::External {
                url: url.clone(),
                host,
                port,
            })
        }
        None => None,
    };
    let Some(scenarios) = load_all(paths, registry)? else {
        eprintln!("hilt: invalid scenario files; nothing was run");
        return Ok(ExitCode::from(EXIT_INVALID));
    };
    let mut csv = match &options.csv {
        Some(path) => Some(
            hilt_runner::csv::MessageWriter::create(path)
                .with_context(|| format!("cannot write {}", path.display()))?,
        ),
        None => None,
    };
    let started = WallInstant::now();
    let (mut passed, mut failed, mut errors, mut skipped) = (0, 0, 0, 0);
    for scenario in &scenarios {
        let mut scenario = scenario.clone();
        if let Some(broker) = &broker {
            if scenario
                .steps
                .iter()
                .any(|step| matches!(step.kind, StepKind::Broker(_)))
            {
                skipped += 1;
                outln!(
                    "SKIP  {}  {}  (its `broker:` steps need the embedded broker)",
                    scenario.file.display(),
                    scenario.name
                );
                continue;
            }
            scenario.broker = broker.clone();
        }
        let scenario_started = WallInstant::now();
        let outcome = hilt_runner::run_scenario(&scenario, registry);
        let wall = scenario_started.elapsed();
        let status = match outcome.verdict {
            Verdict::Passed => {
                passed += 1;
                "PASS "
            }
            Verdict::Failed(_) => {
                failed += 1;
                "FAIL "
            }
            Verdict::Error(_) => {
                errors += 1;
                "ERROR"
            }
        };
        outln!(
            "{status} {}  {}  ({} device time, {:.3}s wall)",
            outcome.file.display(),
            outcome.name,
            outcome.device_time,
            wall.as_secs_f64()
        );
        if !outcome.passed() {
            out!("{}", indent(&outcome.report()));
        }
        if options.verbose {
            out!("{}", indent(&outcome.transcript.render()));
        }
        if let Some(csv) = csv.as_mut() {
            csv.write_run(&outcome)
                .context("cannot write the CSV file")?;
        }
    }
    if let Some(csv) = csv {
        csv.finish().context("cannot write the CSV file")?;
    }
    let skipped_text = if skipped > 0 {
        format!(", {skipped} skipped")
    } else {
        String::new()
    };
    outln!(
        "{passed} passed, {failed} failed, {errors} errors{skipped_text} ({} scenarios in {:.3}s)",
        scenarios.len(),
        started.elapsed().as_secs_f64()
    );
    Ok(if errors > 0 {
        ExitCode::from(EXIT_INVALID)
    } else if failed > 0 {
        ExitCode::from(EXIT_FAILED)
    } else {
        ExitCode::SUCCESS
    })
}

fn check(paths: &[PathBuf], registry: &Registry) -> anyhow::Result<ExitCode> {
    let Some(scenarios) = load_all(paths, registry)? else {
        return Ok(ExitCode::from(EXIT_INVALID));
    };
    for scenario in &scenarios {
        outln!("ok {}  {}", scenario.file.display(), scenario.name);
    }
    outln!("{} valid scenario files", scenarios.len());
    Ok(ExitCode::SUCCESS)
}

fn transcript(file: &PathBuf, registry: &Registry) -> anyhow::Result<ExitCode> {
    let Some(scenarios) = load_all(std::slice::from_ref(file), registry)? else {
        return Ok(ExitCode::from(EXIT_INVALID));
    };
    let mut code = ExitCode::SUCCESS;
    for scenario in &scenarios {
        let outcome = hilt_runner::run_scenario(scenario, registry);
        out!("{}", outcome.transcript.render());
        match outcome.verdict {
            Verdict::Passed => {}
            Verdict::Failed(_) => {
                eprint!("{}", outcome.report());
                code = ExitCode::from(EXIT_FAILED);
            }
            Verdict::Error(_) => {
                eprint!("{}", outcome.report());
                code = ExitCode::from(EXIT_INVALID);
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
    registry: &Registry,
) -> anyhow::Result<ExitCode> {
    let scenario = match hilt_runner::load(file, registry) {
        Ok(scenario) => scenario,
        Err(diagnostics) => {
            eprintln!("{diagnostics}");
            return Ok(ExitCode::from(EXIT_INVALID));
        }
    };
    let parts = hilt_wokwi::PartIds::default();
    let exported = match hilt_wokwi::export_with(&scenario, registry, &parts, fidelity) {
        Ok(exported) => exported,
        Err(refused) => {
            eprintln!("{refused}");
            return Ok(ExitCode::from(EXIT_FAILED));
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
    Ok(ExitCode::SUCCESS)
}

fn indent(text: &str) -> String {
    text.lines().map(|line| format!("    {line}\n")).collect()
}
