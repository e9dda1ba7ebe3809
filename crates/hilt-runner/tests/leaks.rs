//! Nothing of a run outlives it: after many scenarios, and after many broker
//! restarts within one, the process has the threads and open file
//! descriptors it had before.
//!
//! This file holds one test, so that no other test's threads come and go in
//! this process while it counts.

use std::path::Path;

use hilt_runner::Registry;

mod support;
use support::settled_reading;

/// Threads of this process, from Linux's /proc.
fn thread_count() -> usize {
    std::fs::read_dir("/proc/self/task")
        .expect("Linux /proc")
        .count()
}

/// Open file descriptors of this process (sockets included).
fn open_descriptors() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .expect("Linux /proc")
        .count()
}

fn run(file: &str, yaml: &str, registry: &Registry) {
    let scenario = hilt_scenario::parse(Path::new(file), yaml, registry)
        .unwrap_or_else(|diagnostics| panic!("{diagnostics}"));
    let outcome = hilt_runner::run_scenario(&scenario, registry);
    assert!(outcome.passed(), "{}", outcome.report());
}

/// A short run of two devices, shared with `benches/many_files.rs`.
const SMALL: &str = include_str!("../benches/short_run.yaml");

fn restarts(count: usize) -> String {
    let mut yaml = String::from(
        "name: the broker restarts again and again\n\
         devices:\n  probe:\n    app: thermometer\n    config: { interval: 1s }\n\
         steps:\n",
    );
    for _ in 0..count {
        yaml.push_str("  - broker: restart\n  - wait: 2s\n");
    }
    yaml.push_str("  - expect: { topic: devices/probe/temperature/degrees, within: 3s }\n");
    yaml
}

#[test]
fn threads_and_descriptors_are_flat_across_scenarios_and_restarts() {
    let registry = Registry::with_bundled_apps();
    let restarting = restarts(40);
    // A first run of each sets up what is made once per process (the panic
    // record's hook, lazily started runtimes of the standard library).
    run("small.yaml", SMALL, &registry);
    run("restarts.yaml", &restarts(2), &registry);
    // (The baseline may still count a thread of the warm-up runs that the
    // kernel has not reaped yet; growth is what a leak looks like.)
    let threads = thread_count();
    let descriptors = open_descriptors();

    for _ in 0..60 {
        run("small.yaml", SMALL, &registry);
    }
    let after = settled_reading(thread_count, |count| *count <= threads);
    assert!(
        after <= threads,
        "threads after 60 scenarios: {after}, before: {threads}"
    );
    assert_eq!(
        open_descriptors(),
        descriptors,
        "descriptors after 60 scenarios"
    );

    run("restarts.yaml", &restarting, &registry);
    let after = settled_reading(thread_count, |count| *count <= threads);
    assert!(
        after <= threads,
        "threads after 40 broker restarts: {after}, before: {threads}"
    );
    assert_eq!(
        open_descriptors(),
        descriptors,
        "descriptors after 40 broker restarts"
    );
}
