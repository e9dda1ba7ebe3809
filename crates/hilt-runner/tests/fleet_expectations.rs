//! `each: true` with `since: start`, which the bundled scenarios and the
//! failing fixtures do not use: its tracker tallies every member from the
//! start of the run as messages arrive, and the next message expectation
//! looks after the message that met the step, as docs/scenario-language.md
//! says. Each scenario runs twice, keeping its messages in memory and
//! keeping nothing, and must end the same way: what the expectations read
//! does not depend on what the run records.

use std::path::Path;

use hilt_firmware::time::Instant;
use hilt_runner::{Recording, Registry, RunOutcome, Verdict};

fn run(text: &str) -> RunOutcome {
    let registry = Registry::with_bundled_apps();
    let scenario = hilt_scenario::parse(Path::new("fleet.yaml"), text, &registry)
        .unwrap_or_else(|diagnostics| panic!("{diagnostics}"));
    let in_memory = hilt_runner::run_scenario(&scenario, &registry);
    let verdict_only =
        hilt_runner::run_scenario_with(&scenario, &registry, Recording::verdict_only());
    assert_eq!(in_memory.report(), verdict_only.report());
    assert_eq!(in_memory.device_time, verdict_only.device_time);
    in_memory
}

fn failure(outcome: &RunOutcome) -> &hilt_runner::Failure {
    match &outcome.verdict {
        Verdict::Failed(failure) => failure,
        _ => panic!("expected a failure:\n{}", outcome.report()),
    }
}

/// Three thermometers reading once a minute, the first reading about
/// 0.77 s after boot; `steps` follow, one YAML step a line.
fn three_thermometers(steps: &[&str]) -> String {
    let steps: String = steps.iter().map(|step| format!("  - {step}\n")).collect();
    format!(
        "\
name: three thermometers
devices:
  probe:
    app: thermometer
    count: 3
    config: {{ interval: 60s }}
steps:
{steps}"
    )
}

const WAIT: &str = "wait: 150s";
const THREE_EACH: &str = "expect: { topic: devices/+/temperature/degrees, from: probe, each: true, count: 3, since: start, within: 1s }";

#[test]
fn a_since_start_count_each_tallies_the_whole_run_and_the_next_window_follows_its_last_fit() {
    // By 150 s each member has read three times (about 0.77 s, 60.77 s,
    // 120.77 s); all of them were published before the step started.
    let passing = run(&three_thermometers(&[WAIT, THREE_EACH]));
    assert!(passing.passed(), "{}", passing.report());

    // The next expectation reads after the last of those readings, so the
    // next one it can find is at about 180.77 s, later than its deadline.
    let outcome = run(&three_thermometers(&[
        WAIT,
        THREE_EACH,
        "{ name: the readings before were counted, expect: { topic: devices/+/temperature/degrees, from: probe-1, within: 1s } }",
    ]));
    assert_eq!(
        failure(&outcome).step_name.as_deref(),
        Some("the readings before were counted"),
        "{}",
        outcome.report()
    );

    // Two each is not three: every member is named with its count.
    let outcome = run(&three_thermometers(&[
        WAIT,
        &THREE_EACH.replace("count: 3", "count: 2"),
    ]));
    let failure = failure(&outcome);
    assert!(
        failure.expected.ends_with("but 3 of its 3 members did not"),
        "{}",
        outcome.report()
    );
    assert_eq!(
        failure.seen,
        [
            "probe-1 published 3",
            "probe-2 published 3",
            "probe-3 published 3"
        ]
    );
}

const EVERY_MEMBER_SINCE_START: &str = "{ name: every member has read since the start, expect: { topic: devices/+/temperature/degrees, from: probe, each: true, since: start, within: 61s } }";

#[test]
fn a_since_start_each_is_met_by_the_last_members_first_reading() {
    // probe-2's sensor answers nothing until 70 s, so its first reading is
    // at about 120.77 s; the others read from boot.
    let silent_until_70s = [
        "set: { probe-2.ds18b20.fault: disconnected }",
        "wait: 70s",
        "set: { probe-2.ds18b20.fault: none }",
        EVERY_MEMBER_SINCE_START,
        "expect: { topic: devices/+/temperature/degrees, from: probe-2, within: 61s }",
    ];
    let outcome = run(&three_thermometers(&silent_until_70s));
    assert!(outcome.passed(), "{}", outcome.report());
    // The step was met by probe-2's first reading, and the next one looked
    // after it: probe-2's second reading, a minute later, met it.
    let second_reading = Instant::from_micros(180_767_190);
    assert_eq!(outcome.device_time, second_reading, "{}", outcome.report());

    // Without the sensor back, probe-2 is named as the member that fell
    // short.
    let outcome = run(&three_thermometers(&[
        silent_until_70s[0],
        silent_until_70s[1],
        EVERY_MEMBER_SINCE_START,
    ]));
    let failure = failure(&outcome);
    assert_eq!(
        failure.step_name.as_deref(),
        Some("every member has read since the start")
    );
    assert!(
        failure
            .expected
            .ends_with("but 1 of its 3 members published none"),
        "{}",
        outcome.report()
    );
    assert_eq!(failure.seen, ["probe-2 published 0"]);
}
