//! Same file, same transcript: a property test over generated scenarios.
//!
//! Each case is a scenario generated from a seed: one to four devices of the
//! bundled apps (QoS 0, 1 and 2 publishers and subscribers, persistent and
//! clean sessions, wills), and steps drawn from every fault the language
//! has: latency, loss, cut links, broker stop, start and restart, reboots,
//! hangs, panics, flash corruption, harness publishes and part changes,
//! under a random scenario `seed`. Each case runs once, then again, then
//! twice more in parallel while other threads keep the CPU busy; every run
//! must reach a verdict that is not a harness error, and all four
//! transcripts and message logs must be byte-identical.
//!
//! `HILT_DETERMINISM_CASES` sets the number of cases (default 200, under a
//! minute in a debug build; the longer mode is e.g. 2000);
//! `HILT_DETERMINISM_SEED` the first case's seed, to replay one.
//! A failing case prints its scenario file.

use std::fmt::Write as _;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use hilt_runner::{Registry, RunOutcome, Verdict};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const DEFAULT_CASES: u64 = 200;

/// Makes the YAML of a random value for a part.
type ValueMaker = fn(&mut StdRng) -> String;

/// One device of a generated scenario: its YAML, and what steps may do to it.
struct GeneratedDevice {
    name: String,
    yaml: String,
    /// A part a `set:` step may change, with the YAML of a value for it.
    settable: Option<(&'static str, ValueMaker)>,
}

fn lux(random: &mut StdRng) -> String {
    random.gen_range(0..2_000).to_string()
}

fn temperature(random: &mut StdRng) -> String {
    format!("{:.1}", random.gen_range(-40.0..100.0))
}

fn pick<'a, T>(random: &mut StdRng, choices: &'a [T]) -> &'a T {
    &choices[random.gen_range(0..choices.len())]
}

fn generate_devices(random: &mut StdRng) -> Vec<GeneratedDevice> {
    let count = random.gen_range(1..=4);
    let mut devices: Vec<GeneratedDevice> = Vec::new();
    while devices.len() < count {
        let name = format!("d{}", devices.len());
        let qos = random.gen_range(0..=2);
        match random.gen_range(0..7) {
            0 => devices.push(GeneratedDevice {
                yaml: format!(
                    "  {name}:\n    app: sensor-data\n    config: {{ qos: {qos}, interval: {}, topic: data/{name} }}\n    parts:\n      tsl2591: {{ lux: {} }}\n",
                    pick(random, &["1s", "2s", "5s"]),
                    lux(random)
                ),
                name,
                settable: Some(("tsl2591.lux", lux)),
            }),
            1 | 2 => devices.push(GeneratedDevice {
                yaml: format!(
                    "  {name}:\n    app: monitor\n    config: {{ filter: \"{}\", qos: {qos}, clean_session: {} }}\n",
                    // Not `#`: two monitors would report each other's
                    // reports without end (the harness stops that as an
                    // error, correctly, but it says nothing here).
                    pick(random, &["data/#", "cmd/#", "status/#", "d0/btn/0"]),
                    random.gen_bool(0.5)
                ),
                name,
                settable: None,
            }),
            3 => devices.push(GeneratedDevice {
                yaml: format!(
                    "  {name}:\n    app: thermometer\n    config: {{ unit: C, interval: {} }}\n",
                    pick(random, &["5s", "10s", "60s"])
                ),
                name,
                settable: Some(("ds18b20.temperature", temperature)),
            }),
            4 => devices.push(GeneratedDevice {
                yaml: format!("  {name}:\n    app: light-status\n    config: {{ uuid: lamp-{name} }}\n"),
                name,
                settable: None,
            }),
            5 => devices.push(GeneratedDevice {
                yaml: format!(
                    "  {name}:\n    app: node-manager\n    config: {{ prefix: node/{name}, blinky_hz: {}, watchdog_timeout: {}, sysinfo_interval: {} }}\n",
                    pick(random, &["0", "1", "2"]),
                    pick(random, &["0s", "8s"]),
                    pick(random, &["0s", "10s"])
                ),
                name,
                settable: None,
            }),
            _ if devices.len() + 2 <= count.max(2) => {
                let peer = format!("d{}", devices.len() + 1);
                devices.push(GeneratedDevice {
                    yaml: format!("  {name}:\n    app: remote-led\n    config: {{ peer: {peer} }}\n"),
                    name: name.clone(),
                    settable: None,
                });
                devices.push(GeneratedDevice {
                    yaml: format!("  {peer}:\n    app: remote-led\n    config: {{ peer: {name} }}\n"),
                    name: peer,
                    settable: None,
                });
            }
            _ => {}
        }
    }
    devices
}

/// A scenario file, generated from `case_seed`.
fn generate_scenario(case_seed: u64) -> String {
    let mut random = StdRng::seed_from_u64(case_seed);
    let devices = generate_devices(&mut random);
    let mut yaml = format!(
        "name: generated case {case_seed}\nseed: {}\ndevices:\n",
        random.r#gen::<u32>()
    );
    for device in &devices {
        yaml.push_str(&device.yaml);
    }
    yaml.push_str("steps:\n");
    let mut broker_running = true;
    for _ in 0..random.gen_range(3..=14) {
        let device = &devices[random.gen_range(0..devices.len())];
        let name = &device.name;
        let step = match random.gen_range(0..13) {
            0..=2 => format!(
                "wait: {}",
                pick(&mut random, &["100ms", "700ms", "2s", "5s", "20s", "95s"])
            ),
            3 => format!(
                "network: {{ device: {name}, latency: {}ms, drop: {}% }}",
                random.gen_range(0..300),
                pick(&mut random, &[0, 5, 20, 50])
            ),
            4 => format!(
                "network: {{ device: {name}, link: {} }}",
                pick(&mut random, &["down", "up"])
            ),
            5 => {
                let action = if broker_running {
                    *pick(&mut random, &["stop", "restart"])
                } else {
                    "start"
                };
                broker_running = action != "stop";
                format!("broker: {action}")
            }
            6 => format!("reboot: {name}"),
            7 if random.gen_bool(0.3) => format!("hang: {name}"),
            11 => match random.gen_range(0..3) {
                0 => format!("panic: {name}"),
                1 => format!(
                    "flash: {{ device: {name}, corrupt: {} }}",
                    pick(&mut random, &["settings", "otadata"])
                ),
                _ => "wait: 3s".to_owned(),
            },
            8 | 9 if broker_running => format!(
                "publish: {{ topic: {}, payload: \"{}\", qos: {}, retain: {} }}",
                pick(
                    &mut random,
                    &[
                        "cmd/light",
                        "status/x",
                        "data/ext",
                        "node/d0/cmd/ping/1",
                        "node/d1/cmd/ping/2",
                        "d0/btn/0",
                        "d1/btn/0",
                        "lamp-d0/living_room/light",
                    ]
                ),
                pick(&mut random, &["0", "1", "on", "{}", "garbage"]),
                random.gen_range(0..=2),
                random.gen_bool(0.2)
            ),
            10 => match device.settable {
                Some((part, value)) => format!("set: {{ {name}.{part}: {} }}", value(&mut random)),
                None => "wait: 1s".to_owned(),
            },
            _ => "wait: 3s".to_owned(),
        };
        let _ = writeln!(yaml, "  - {step}");
    }
    yaml.push_str("  - wait: 30s\n");
    yaml
}

fn run(yaml: &str, case_seed: u64) -> RunOutcome {
    let registry = Registry::with_bundled_apps();
    let file = format!("generated/case_{case_seed}.yaml");
    let scenario = hilt_scenario::parse(Path::new(&file), yaml, &registry)
        .unwrap_or_else(|diagnostics| panic!("generated an invalid file:\n{yaml}\n{diagnostics}"));
    hilt_runner::run_scenario(&scenario, &registry)
}

/// Keeps `threads` threads spinning until dropped.
struct BusyCpu {
    stop: Arc<AtomicBool>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl BusyCpu {
    fn start(threads: usize) -> BusyCpu {
        let stop = Arc::new(AtomicBool::new(false));
        let threads = (0..threads)
            .map(|_| {
                let stop = stop.clone();
                std::thread::spawn(move || {
                    let mut spin = 0u64;
                    while !stop.load(Ordering::Relaxed) {
                        spin = std::hint::black_box(spin.wrapping_mul(6_364_136_223_846_793_005));
                    }
                })
            })
            .collect();
        BusyCpu { stop, threads }
    }
}

impl Drop for BusyCpu {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}

fn check_case(case_seed: u64) {
    let yaml = generate_scenario(case_seed);
    let first = run(&yaml, case_seed);
    let context = |what: &str, other: &RunOutcome| {
        format!(
            "case {case_seed}: {what}\n--- scenario ---\n{yaml}--- first run ---\n{}--- other run ---\n{}--- where they part ---\n{}",
            first.report(),
            other.report(),
            where_they_part(&first.transcript.render(), &other.transcript.render())
        )
    };
    assert!(
        !matches!(first.verdict, Verdict::Error(_)),
        "{}",
        context("the harness could not run a valid scenario", &first)
    );
    let second = run(&yaml, case_seed);
    let (third, fourth) = {
        let _busy = BusyCpu::start(2);
        std::thread::scope(|scope| {
            let third = scope.spawn(|| run(&yaml, case_seed));
            let fourth = scope.spawn(|| run(&yaml, case_seed));
            (third.join().unwrap(), fourth.join().unwrap())
        })
    };
    for (label, other) in [
        ("second run", &second),
        ("parallel run A", &third),
        ("parallel run B", &fourth),
    ] {
        assert!(
            first.transcript.render() == other.transcript.render(),
            "{}",
            context(&format!("the {label} gave another transcript"), other)
        );
        assert_eq!(first.messages, other.messages, "case {case_seed}: {label}");
        assert_eq!(first.report(), other.report(), "case {case_seed}: {label}");
    }
}

/// The lines around the first difference of two transcripts.
fn where_they_part(first: &str, other: &str) -> String {
    let first: Vec<&str> = first.lines().collect();
    let other: Vec<&str> = other.lines().collect();
    let index = first
        .iter()
        .zip(&other)
        .position(|(a, b)| a != b)
        .unwrap_or(first.len().min(other.len()));
    let from = index.saturating_sub(4);
    let mut shown = String::new();
    for (label, lines) in [("first", &first), ("other", &other)] {
        let _ = writeln!(shown, "{label}:");
        for line in lines.iter().skip(from).take(index - from + 4) {
            let _ = writeln!(shown, "  {line}");
        }
    }
    shown
}

#[test]
fn generated_scenarios_give_the_same_transcript_on_every_run() {
    let cases = std::env::var("HILT_DETERMINISM_CASES")
        .ok()
        .and_then(|cases| cases.parse().ok())
        .unwrap_or(DEFAULT_CASES);
    let first_seed = std::env::var("HILT_DETERMINISM_SEED")
        .ok()
        .and_then(|seed| seed.parse().ok())
        .unwrap_or(0);
    for case_seed in first_seed..first_seed + cases {
        check_case(case_seed);
    }
}

/// The case from the issue that found the first of these bugs: a QoS 2
/// publisher and a QoS 2 subscriber on a lossy link.
#[test]
fn qos2_fan_out_over_a_lossy_link_is_repeatable() {
    let yaml = "\
name: QoS 2 fan-out over a lossy link
seed: 7
devices:
  sensor:
    app: sensor-data
    config: { qos: 2, interval: 1s }
    parts:
      tsl2591: { lux: 42 }
  watcher:
    app: monitor
    config: { filter: sensor-data, qos: 2 }
steps:
  - network: { device: watcher, drop: 20% }
  - wait: 60s
  - expect: { topic: watcher/seen, count: 65, within: 5s, since: start }
";
    let runs: Vec<RunOutcome> = (0..6).map(|_| run(yaml, 7)).collect();
    assert!(runs[0].passed(), "{}", runs[0].report());
    for other in &runs[1..] {
        assert_eq!(runs[0].transcript.render(), other.transcript.render());
        assert_eq!(runs[0].report(), other.report());
    }
}
