//! `cargo bench -p hilt-runner --bench many_files`: what a long suite costs
//! in memory and threads. Replays 5,000 small scenario files the way
//! `hilt replay` does (all loaded and checked first, then run one after
//! another) and reports the process's resident memory and thread count
//! after 1,000 and after 5,000 of them.
//!
//! Not a test: nothing here asserts a figure. The goal it is read against:
//! less than 20 MB of growth between the two readings (everything a run
//! builds is released when it ends).

use std::time::Instant;

use hilt_runner::Registry;

/// A short run of two devices, shared with `tests/leaks.rs`.
const SMALL: &str = include_str!("short_run.yaml");

const FILES: usize = 5_000;
const FIRST_READING: usize = 1_000;

/// A figure of this process from Linux's /proc/self/status, in kB or units.
fn status_field(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("Linux /proc");
    status
        .lines()
        .find_map(|line| line.strip_prefix(field))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|value| value.parse().ok())
        .unwrap_or(0)
}

fn main() {
    let folder = std::env::temp_dir().join(format!("hilt-many-files-{}", std::process::id()));
    std::fs::create_dir_all(&folder).expect("temporary folder");
    for index in 0..FILES {
        std::fs::write(folder.join(format!("small_{index:05}.yaml")), SMALL).expect("write");
    }
    let registry = Registry::with_bundled_apps();
    let files = hilt_runner::scenario_files(&[&folder]).expect("files found");
    let scenarios: Vec<_> = files
        .iter()
        .map(|file| hilt_runner::load(file, &registry).expect("valid"))
        .collect();
    println!(
        "{:>7} {:>10} {:>8} {:>9}",
        "files", "RSS (MB)", "threads", "wall (s)"
    );
    println!(
        "{:>7} {:>10.1} {:>8} {:>9}",
        0,
        status_field("VmRSS:") as f64 / 1024.0,
        status_field("Threads:"),
        "-"
    );
    let started = Instant::now();
    let mut first_rss = 0;
    for (index, scenario) in scenarios.iter().enumerate() {
        let outcome = hilt_runner::run_scenario(scenario, &registry);
        assert!(outcome.passed(), "{}", outcome.report());
        let done = index + 1;
        if done == FIRST_READING || done == FILES {
            let rss = status_field("VmRSS:");
            if done == FIRST_READING {
                first_rss = rss;
            }
            println!(
                "{:>7} {:>10.1} {:>8} {:>9.1}",
                done,
                rss as f64 / 1024.0,
                status_field("Threads:"),
                started.elapsed().as_secs_f64()
            );
        }
    }
    let growth = status_field("VmRSS:").saturating_sub(first_rss) as f64 / 1024.0;
    println!();
    println!(
        "growth between {FIRST_READING} and {FILES} files: {growth:.1} MB (goal: under 20 MB)"
    );
    let _ = std::fs::remove_dir_all(&folder);
}
