//! Long runs make small pages: thermometer_day (1,440 messages) and the
//! remote-LED pair for an hour (14,400) are aggregated, not drawn message
//! by message, and what is aggregated is still counted.

use std::path::Path;

use hilt_report::HtmlReport;
use hilt_runner::{Recording, Registry};

/// Runs `file` (relative to the workspace) and returns its page's HTML.
fn page_of(file: &str) -> String {
    let registry = Registry::with_bundled_apps();
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(file);
    let scenario = hilt_runner::load(&path, &registry).unwrap_or_else(|d| panic!("{d}"));
    let folder = tempfile::tempdir().unwrap();
    let report = HtmlReport::create(folder.path(), std::slice::from_ref(&scenario)).unwrap();
    let (recording, events) = report.record().unwrap();
    let mut output = Recording::verdict_only();
    output.events = events;
    let outcome = hilt_runner::run_scenario_with(&scenario, &registry, output);
    assert!(outcome.passed(), "{}", outcome.report());
    let page = report.write_page(&scenario, recording, &outcome).unwrap();
    std::fs::read_to_string(page).unwrap()
}

/// The numbers in the collapsed rows' summaries (`⋯ 1,196 events collapsed`).
fn collapsed(html: &str) -> Vec<usize> {
    html.split("<b>⋯ ")
        .skip(1)
        .map(|rest| {
            let number = rest.split_once(' ').unwrap().0.replace(',', "");
            number.parse().unwrap()
        })
        .collect()
}

#[test]
fn a_day_of_readings_is_a_small_page_that_still_counts_every_reading() {
    let html = page_of("scenarios/thermometer/thermometer_day.yaml");
    assert!(html.len() < 400_000, "{} bytes", html.len());
    assert!(html.contains("<b>1,440</b> messages"));
    // The topic's rate row counts all of them.
    assert!(
        html.contains(
            "<code>devices/probe/temperature/degrees</code></td><td class=\"n\">1,440</td>"
        )
    );
    let hidden: usize = collapsed(&html).iter().sum();
    let drawn = html.matches("<line class=\"pub\"").count();
    assert!(hidden > 1_000, "only {hidden} events collapsed");
    // The other events (the starting temperature, link, CONNECT, a log
    // line, the steps) come first and are drawn; what is collapsed is
    // readings, so every reading is either drawn or counted.
    assert_eq!(drawn + hidden, 1_440, "every reading is drawn or counted");
}

#[test]
fn an_hour_of_a_remote_led_pair_is_a_small_page() {
    let html = page_of("crates/hilt-runner/benches/remote_led_hour.yaml");
    assert!(html.len() < 400_000, "{} bytes", html.len());
    let messages = html
        .split("<b>")
        .nth(2)
        .and_then(|rest| rest.split_once("</b> messages"))
        .map(|(number, _)| number.replace(',', ""))
        .unwrap();
    assert!(
        messages.parse::<usize>().unwrap() >= 14_400,
        "{messages} messages"
    );
    assert!(collapsed(&html).iter().sum::<usize>() > 14_000);
    // Both LEDs' and buttons' timelines are there.
    assert!(html.contains(">green.led<title>"));
    assert!(html.contains(">blue.button<title>"));
}
