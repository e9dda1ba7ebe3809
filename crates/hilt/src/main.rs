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
    },
}

const EXIT_FAILED: u8 = 1;
const EXIT_INVALID: u8 = 2;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let registry = Registry::with_bundled_apps();
    let result = match cli.command {
        Command::Replay { paths, verbose } => replay(&paths, &registry, verbose),
        Command::Check { paths } => check(&paths, &registry),
        Command::Transcript { file } => transcript(&file, &registry),
        Command::Wokwi { scenario, output } => wokwi(&scenario, output.as_deref(), &registry),
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
    let files = hilt_runner::scenario_files(paths).context("cannot find scenarios")?;
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

fn replay(paths: &[PathBuf], registry: &Registry, verbose: bool) -> anyhow::Result<ExitCode> {
    let Some(scenarios) = load_all(paths, registry)? else {
        eprintln!("hilt: invalid scenario files; nothing was run");
        return Ok(ExitCode::from(EXIT_INVALID));
    };
    let started = WallInstant::now();
    let (mut passed, mut failed, mut errors) = (0, 0, 0);
    for scenario in &scenarios {
        let scenario_started = WallInstant::now();
        let outcome = hilt_runner::run_scenario(scenario, registry);
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
        println!(
            "{status} {}  {}  ({} device time, {:.3}s wall)",
            outcome.file.display(),
            outcome.name,
            outcome.device_time,
            wall.as_secs_f64()
        );
        if !outcome.passed() {
            print!("{}", indent(&outcome.report()));
        }
        if verbose {
            print!("{}", indent(&outcome.transcript.render()));
        }
    }
    println!(
        "{passed} passed, {failed} failed, {errors} errors ({} scenarios in {:.3}s)",
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
        println!("ok {}  {}", scenario.file.display(), scenario.name);
    }
    println!("{} valid scenario files", scenarios.len());
    Ok(ExitCode::SUCCESS)
}

fn transcript(file: &PathBuf, registry: &Registry) -> anyhow::Result<ExitCode> {
    let Some(scenarios) = load_all(std::slice::from_ref(file), registry)? else {
        return Ok(ExitCode::from(EXIT_INVALID));
    };
    let mut code = ExitCode::SUCCESS;
    for scenario in &scenarios {
        let outcome = hilt_runner::run_scenario(scenario, registry);
        print!("{}", outcome.transcript.render());
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
    registry: &Registry,
) -> anyhow::Result<ExitCode> {
    let scenario = match hilt_runner::load(file, registry) {
        Ok(scenario) => scenario,
        Err(diagnostics) => {
            eprintln!("{diagnostics}");
            return Ok(ExitCode::from(EXIT_INVALID));
        }
    };
    let exported = match hilt_wokwi::export(&scenario, registry, &hilt_wokwi::PartIds::default()) {
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
        None => print!("{yaml}"),
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
