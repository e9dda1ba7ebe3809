//! The node manager's tests, through the app as the runner drives it.

extern crate std;
use std::string::String as StdString;
use std::vec::Vec as StdVec;

use super::*;
use crate::apps::test_harness::{FakePin, Harness, at};
use crate::platform::{MemoryFigures, RetainedMemory};
use crate::settings::Settings;

#[derive(Debug)]
struct FakePlatform {
    cause: ResetCause,
    memory: RetainedMemory,
    watchdog: Option<Duration>,
    feeds: u32,
    reset_requests: u32,
}

impl FakePlatform {
    fn booted_by(cause: ResetCause, memory: RetainedMemory) -> Self {
        FakePlatform {
            cause,
            memory,
            watchdog: None,
            feeds: 0,
            reset_requests: 0,
        }
    }
}

impl Platform for FakePlatform {
    fn reset_cause(&self) -> ResetCause {
        self.cause
    }
    fn retained_memory(&mut self) -> &mut RetainedMemory {
        &mut self.memory
    }
    fn start_watchdog(&mut self, timeout: Duration) {
        self.watchdog = Some(timeout);
    }
    fn feed_watchdog(&mut self) {
        self.feeds += 1;
    }
    fn request_reset(&mut self) {
        self.reset_requests += 1;
    }
    fn memory(&self) -> MemoryFigures {
        MemoryFigures {
            free_bytes: 101_424,
            largest_free_block: 94_752,
        }
    }
    fn firmware_version(&self) -> &str {
        "0.1.0"
    }
}

type Manager = NodeManager<FakePin, FakePlatform>;

fn boot_with(config: NodeManagerConfig, platform: FakePlatform) -> Harness<Manager> {
    Harness::new(NodeManager::new(
        config,
        FakePin::default(),
        platform,
        Instant::BOOT,
    ))
}

fn harness() -> Harness<Manager> {
    boot_with(
        NodeManagerConfig::new("esp32-test-mqtest"),
        FakePlatform::booted_by(ResetCause::PowerOn, RetainedMemory::default()),
    )
}

/// Sends a command and returns the payloads of its replies.
fn command(harness: &mut Harness<Manager>, verb_and_id: &str, payload: &[u8]) -> StdVec<StdString> {
    let topic = std::format!("esp32/test/mqb/cmd/{verb_and_id}");
    harness.deliver(&topic, payload);
    let id = verb_and_id.split('/').nth(1).unwrap_or("");
    let reply_topic = std::format!("esp32/test/mqb/reply/{id}");
    harness
        .sent_on(&reply_topic)
        .into_iter()
        .map(|sent| {
            assert_eq!(sent.qos, QoS::AtLeastOnce);
            sent.payload
        })
        .collect()
}

fn log_lines(harness: &Harness<Manager>) -> StdVec<StdString> {
    harness
        .sent_on("esp32/test/log")
        .into_iter()
        .map(|sent| sent.payload)
        .collect()
}

#[test]
fn connects_with_an_offline_will_and_a_retained_online_status() {
    let mut harness = harness();
    harness.run_until(at(1.0));
    let will = harness.wills[0].clone().unwrap();
    assert_eq!(
        (
            will.topic.as_str(),
            will.payload.as_str(),
            will.qos,
            will.retain
        ),
        (
            "esp32/test/status",
            "{\"state\": \"offline\"}",
            QoS::AtLeastOnce,
            true
        )
    );
    let status = harness.sent_on("esp32/test/status");
    assert_eq!(status.len(), 1);
    assert_eq!(
        status[0].payload,
        "{\"state\": \"online\", \"safe_mode\": false, \"reset_cause\": \"power_on\", \"crashes\": 0, \"firmware_version\": \"0.1.0\"}"
    );
    assert!(status[0].retain);
    assert_eq!(status[0].qos, QoS::AtLeastOnce);
    assert_eq!(
        harness.subscriptions,
        [
            ("esp32/test/mqb/cmd/#".into(), QoS::AtLeastOnce),
            ("esp32/test/blinky/hz".into(), QoS::AtMostOnce)
        ]
    );
}

#[test]
fn ping_sysinfo_and_unknown_commands_are_answered() {
    let mut harness = harness();
    harness.run_until(at(61.5));
    assert_eq!(command(&mut harness, "ping/42", b""), ["{\"pong\": true}"]);
    assert_eq!(
        command(&mut harness, "sysinfo/7", b""),
        [
            "{\"uptime\": 61, \"free_bytes\": 101424, \"largest_free_block\": 94752, \"reset_cause\": \"power_on\", \"firmware_version\": \"0.1.0\", \"safe_mode\": false, \"crashes\": 0, \"boots\": 1, \"connects\": 1, \"log_lines_dropped\": 0, \"settings_store\": \"none\"}"
        ]
    );
    assert_eq!(
        command(&mut harness, "xyz/9", b""),
        ["{\"error\": \"unknown command 'xyz'\"}"]
    );
    // A verb full of JSON's special characters still gives valid JSON.
    assert_eq!(
        command(&mut harness, "a\"b\\c/10", b""),
        ["{\"error\": \"unknown command 'a\\\"b\\\\c'\"}"]
    );
    // MQBoard puts a sequence number after the id: it is ignored.
    assert_eq!(
        command(&mut harness, "ping/0F00D/0", b""),
        ["{\"pong\": true}"]
    );
    assert!(
        log_lines(&harness)
            .iter()
            .any(|l| l.contains("command ping (id 42)"))
    );
}

#[test]
fn malformed_command_topics_are_logged_and_ignored() {
    let mut harness = harness();
    harness.run_until(at(1.0));
    let before = harness.sent.len();
    for topic in [
        "esp32/test/mqb/cmd/ping",
        "esp32/test/mqb/cmd/ping/",
        "esp32/test/mqb/cmd//5",
        "esp32/test/mqb/cmd/",
    ] {
        harness.deliver(topic, b"");
    }
    let long_id = std::format!("esp32/test/mqb/cmd/ping/{}", "x".repeat(200));
    harness.deliver(&long_id, b"");
    let replies = harness.sent[before..]
        .iter()
        .filter(|sent| sent.topic.contains("/mqb/reply/"))
        .count();
    assert_eq!(replies, 0);
    let ignored = log_lines(&harness)
        .iter()
        .filter(|line| line.contains("ignored"))
        .count();
    assert_eq!(ignored, 5);
}

#[test]
fn reboot_replies_first_then_requests_a_reset_once() {
    let mut harness = harness();
    harness.run_until(at(3.0));
    assert_eq!(
        command(&mut harness, "reboot/1", b""),
        ["{\"rebooting\": true}"]
    );
    // The harness acknowledged the reply at once, so the reset follows
    // in the same instant, after the reply went out.
    assert_eq!(harness.app().platform().reset_requests, 1);
    harness.run_until(at(10.0));
    assert_eq!(harness.app().platform().reset_requests, 1);
    assert!(harness.logged("resetting now"));
}

#[test]
fn reboot_waits_for_the_acknowledgement_at_most_two_seconds() {
    let mut harness = harness();
    harness.run_until(at(3.0));
    harness.broker.acknowledges_publishes = false;
    assert_eq!(
        command(&mut harness, "reboot/1", b""),
        ["{\"rebooting\": true}"]
    );
    harness.run_until(at(4.9));
    assert_eq!(
        harness.app().platform().reset_requests,
        0,
        "waiting for PUBACK"
    );
    harness.run_until(at(5.0));
    assert_eq!(harness.app().platform().reset_requests, 1);
}

#[test]
fn set_changes_settings_in_either_syntax() {
    let mut harness = harness();
    harness.run_until(at(1.0));
    assert_eq!(
        command(
            &mut harness,
            "set/1",
            b"{\"blinky_hz\": 2.5, \"log_level\": \"debug\"}"
        ),
        ["{\"ok\": true, \"blinky_hz\": 2.5, \"log_level\": \"debug\"}"]
    );
    assert_eq!(harness.app().blinky_hz(), 2.5);
    assert_eq!(harness.app().config().log_level, LogLevel::Debug);
    assert_eq!(
        command(&mut harness, "set/2", b"sysinfo_interval=30"),
        ["{\"ok\": true, \"sysinfo_interval\": 30}"]
    );
    assert_eq!(
        command(&mut harness, "set/3", b" blinky_hz = \"4\" "),
        ["{\"ok\": true, \"blinky_hz\": 4}"]
    );
    assert_eq!(
        command(&mut harness, "set/4", b"{\"sysinfo_interval\": \"45s\"}"),
        ["{\"ok\": true, \"sysinfo_interval\": 45}"]
    );
    assert_eq!(
        harness.app().config().sysinfo_interval,
        Duration::from_secs(45)
    );
    // The new interval counts from the set.
    let now = harness.now;
    harness.run_for(Duration::from_secs(46));
    let sysinfo = harness.sent_on("esp32/test/sysinfo");
    assert_eq!(sysinfo.len(), 1);
    assert_eq!(sysinfo[0].at, now + Duration::from_secs(45));
}

#[test]
fn set_refuses_bad_keys_values_and_payloads_and_changes_nothing() {
    let mut harness = harness();
    harness.run_until(at(1.0));
    for (payload, error) in [
        (&b"{\"colour\": 1}"[..], "unknown key 'colour'"),
        (
            b"{\"blinky_hz\": 3, \"blinky_hz\": 99}",
            "blinky_hz must be a number from 0 to 50, not '99'",
        ),
        (b"blinky_hz=fast", "not 'fast'"),
        (b"blinky_hz=NaN", "not 'NaN'"),
        (b"blinky_hz=-1", "not '-1'"),
        (
            b"sysinfo_interval=1.5",
            "sysinfo_interval must be whole seconds",
        ),
        (
            b"sysinfo_interval=999999",
            "sysinfo_interval must be whole seconds",
        ),
        (
            b"log_level=loud",
            "log_level must be error, warn, info or debug",
        ),
        (b"", "malformed set payload"),
        (b"{\"blinky_hz\": [1]}", "malformed set payload"),
        (b"{}", "nothing to set"),
        (&[0xff, 0xfe], "malformed set payload"),
        (
            b"{\"a\": 1, \"b\": 2, \"c\": 3, \"d\": 4, \"e\": 5}",
            "at most 4 settings",
        ),
    ] {
        let id = harness.sent.len();
        let replies = command(&mut harness, &std::format!("set/r{id}"), payload);
        assert_eq!(replies.len(), 1, "{payload:?}");
        assert!(
            replies[0].starts_with("{\"error\": \"") && replies[0].contains(error),
            "{payload:?}: {}",
            replies[0]
        );
    }
    assert_eq!(harness.app().blinky_hz(), 1.0, "nothing applied");
    assert_eq!(
        harness.app().config().sysinfo_interval,
        Duration::from_secs(60)
    );
    assert_eq!(harness.app().config().log_level, LogLevel::Info);
}

#[test]
fn blinks_at_one_hz_and_at_the_rate_set_over_mqtt() {
    let mut harness = harness();
    let lit_at = |harness: &mut Harness<Manager>, seconds: f64| {
        harness.run_until(at(seconds));
        harness.app().led().high
    };
    assert!(lit_at(&mut harness, 0.25));
    assert!(!lit_at(&mut harness, 0.75));
    assert!(lit_at(&mut harness, 1.25));
    assert!(!lit_at(&mut harness, 1.75));

    harness.run_until(at(2.0));
    harness.deliver("esp32/test/blinky/hz", b"4");
    assert_eq!(harness.app().blinky_hz(), 4.0);
    assert!(lit_at(&mut harness, 2.1));
    assert!(!lit_at(&mut harness, 2.2));
    assert!(lit_at(&mut harness, 2.3));

    harness.deliver("esp32/test/blinky/hz", b"2.5");
    let writes = harness.app().led().writes;
    harness.run_until(at(4.3));
    assert_eq!(
        harness.app().led().writes - writes,
        10,
        "a toggle every 200ms"
    );

    for garbage in [&b"fast"[..], b"NaN", b"inf", b"-1", b"100", b"", &[0xff]] {
        harness.deliver("esp32/test/blinky/hz", garbage);
    }
    assert_eq!(harness.app().blinky_hz(), 2.5, "garbage changes nothing");
    assert!(harness.logged("ignored blinky rate \"fast\""));

    harness.deliver("esp32/test/blinky/hz", b"0");
    let writes = harness.app().led().writes;
    assert!(!lit_at(&mut harness, 10.0));
    assert_eq!(
        harness.app().led().writes,
        writes,
        "off means dark and still"
    );
}

#[test]
fn periodic_sysinfo_every_interval() {
    let mut harness = harness();
    harness.run_until(at(181.0));
    let sysinfo = harness.sent_on("esp32/test/sysinfo");
    assert_eq!(
        sysinfo.iter().map(|s| s.at).collect::<StdVec<_>>(),
        [at(60.0), at(120.0), at(180.0)]
    );
    assert!(sysinfo[1].payload.starts_with("{\"uptime\": 120, "));
    assert!(
        sysinfo
            .iter()
            .all(|s| s.qos == QoS::AtMostOnce && !s.retain)
    );
}

#[test]
fn the_watchdog_is_armed_at_boot_and_fed_on_every_poll() {
    let mut config = NodeManagerConfig::new("n");
    config.blinky_hz = 0.0;
    config.sysinfo_interval = Duration::ZERO;
    let mut harness = boot_with(
        config,
        FakePlatform::booted_by(ResetCause::PowerOn, RetainedMemory::default()),
    );
    assert_eq!(
        harness.app().platform().watchdog,
        Some(Duration::from_secs(8))
    );
    while harness.now < at(300.0) {
        let next = harness.step();
        assert_eq!(
            harness.app().platform().feeds,
            harness.polls,
            "fed on every poll"
        );
        assert!(
            next - harness.now <= Duration::from_secs(4),
            "polled at least every 4s"
        );
        harness.now = next.max(harness.now);
    }
    assert!(harness.polls >= 75);
}

#[test]
fn crashes_are_counted_across_resets_and_three_in_a_row_mean_safe_mode() {
    let config = NodeManagerConfig::new("n");
    let boot = |cause: ResetCause, memory: RetainedMemory| {
        let app = NodeManager::new(
            config.clone(),
            FakePin::default(),
            FakePlatform::booted_by(cause, memory),
            Instant::BOOT,
        );
        (app.crashes(), app.safe_mode(), app.platform().memory)
    };
    // Power-on: blank memory (here: garbage) is initialised.
    let garbage = RetainedMemory {
        words: [7, 7, 7, 7, 7, 7, 7, 7],
    };
    let (crashes, safe, memory) = boot(ResetCause::PowerOn, garbage);
    assert_eq!((crashes, safe), (0, false));
    assert_eq!(memory.words, [RETAINED_MAGIC, 0, 1, 0, 0, 0, 0, 0]);

    let (crashes, safe, memory) = boot(ResetCause::Watchdog, memory);
    assert_eq!((crashes, safe), (1, false));
    let (crashes, safe, memory) = boot(ResetCause::Panic, memory);
    assert_eq!((crashes, safe), (2, false));
    let (crashes, safe, memory) = boot(ResetCause::Watchdog, memory);
    assert_eq!((crashes, safe), (3, true));
    assert_eq!(memory.words[WORD_BOOTS], 4);
    let (crashes, safe, memory) = boot(ResetCause::Watchdog, memory);
    assert_eq!((crashes, safe), (4, true));
    // A software reset (the reboot command) starts over.
    let (crashes, safe, memory) = boot(ResetCause::Software, memory);
    assert_eq!((crashes, safe), (0, false));
    let (crashes, _, memory) = boot(ResetCause::Panic, memory);
    assert_eq!(crashes, 1);
    let (crashes, _, _) = boot(ResetCause::Brownout, memory);
    assert_eq!(crashes, 0);
}

#[test]
fn safe_mode_runs_only_mqtt_and_commands_and_says_so() {
    let memory = RetainedMemory {
        words: [RETAINED_MAGIC, 2, 3, 0, 0, 0, 0, 0],
    };
    let mut harness = boot_with(
        NodeManagerConfig::new("n"),
        FakePlatform::booted_by(ResetCause::Watchdog, memory),
    );
    assert!(harness.app().safe_mode());
    harness.run_until(at(59.0));
    let status = harness.sent_on("esp32/test/status");
    assert!(status[0].payload.contains("\"safe_mode\": true"));
    assert!(status[0].payload.contains("\"reset_cause\": \"watchdog\""));
    assert!(status[0].payload.contains("\"crashes\": 3"));
    assert_eq!(
        harness.subscriptions,
        [("esp32/test/mqb/cmd/#".into(), QoS::AtLeastOnce)],
        "no blinky subscription"
    );
    assert!(!harness.app().led().high);
    assert_eq!(harness.app().led().writes, 1, "dark from boot, no blinking");
    assert!(
        log_lines(&harness)
            .iter()
            .any(|l| l.contains("SAFE MODE after 3"))
    );
    assert!(
        harness.app().platform().feeds > 0,
        "the watchdog still runs"
    );

    // Commands still work; set records but does not blink.
    assert!(command(&mut harness, "sysinfo/1", b"")[0].contains("\"safe_mode\": true"));
    assert_eq!(
        command(&mut harness, "set/2", b"blinky_hz=5"),
        ["{\"ok\": true, \"blinky_hz\": 5}"]
    );
    harness.run_until(at(125.0));
    assert_eq!(harness.app().led().writes, 1);
    assert!(harness.sent_on("esp32/test/sysinfo").is_empty());
    // Healthy for 60s: the counter is cleared, the mode stays.
    assert_eq!(harness.app().platform().memory.words[WORD_CRASHES], 0);
    assert!(harness.app().safe_mode());
    assert!(harness.logged("crash counter cleared (was 3)"));
}

#[test]
fn the_crash_counter_is_cleared_only_after_healthy_after() {
    let memory = RetainedMemory {
        words: [RETAINED_MAGIC, 1, 2, 0, 0, 0, 0, 0],
    };
    let mut harness = boot_with(
        NodeManagerConfig::new("n"),
        FakePlatform::booted_by(ResetCause::Panic, memory),
    );
    harness.run_until(at(59.9));
    assert_eq!(harness.app().platform().memory.words[WORD_CRASHES], 2);
    harness.run_until(at(60.0));
    assert_eq!(harness.app().platform().memory.words[WORD_CRASHES], 0);
    assert_eq!(harness.app().crashes(), 2, "what this boot saw");
}

#[test]
fn the_log_is_published_with_level_and_time_and_filtered_by_level() {
    let mut harness = harness();
    harness.run_until(at(1.0));
    let lines = log_lines(&harness);
    assert_eq!(
        lines,
        [
            "I 0 node-manager: boot 1 since power-on, reset cause power_on, firmware 0.1.0",
            "I 0 node-manager: connected, logging to esp32/test/log",
        ]
    );
    // A debug line is not published at the default level...
    harness.deliver("esp32/test/somewhere", b"");
    assert_eq!(log_lines(&harness).len(), 2);
    assert!(harness.logged("ignored message on esp32/test/somewhere"));
    // ...but is after `set log_level=debug`.
    command(&mut harness, "set/1", b"log_level=debug");
    harness.deliver("esp32/test/elsewhere", b"");
    assert!(
        log_lines(&harness)
            .last()
            .unwrap()
            .starts_with("D 1000 node-manager: ignored message on esp32/test/elsewhere")
    );
}

#[test]
fn the_log_is_buffered_offline_with_a_drop_count_and_flushed_on_reconnect() {
    let mut config = NodeManagerConfig::new("n");
    config.sysinfo_interval = Duration::from_secs(1);
    config.log_level = LogLevel::Debug;
    let mut harness = boot_with(
        config,
        FakePlatform::booted_by(ResetCause::PowerOn, RetainedMemory::default()),
    );
    harness.run_until(at(0.5));
    let online_lines = log_lines(&harness).len();

    harness.broker_up = false;
    harness.cut_link();
    // One "connection lost" line, then a "sysinfo not sent" line a
    // second: 1 + 20 lines for a buffer of 16.
    harness.run_until(at(20.5));
    assert_eq!(harness.app().log_lines_buffered(), LOG_BUFFER_LINES);
    assert_eq!(harness.app().log_lines_dropped(), 5);
    assert_eq!(
        log_lines(&harness).len(),
        online_lines,
        "nothing sent offline"
    );

    // The broker is back, but the session's backoff retries at 32.5s (1, 1, 2, 4, 8, 16s after the cut).
    harness.broker_up = true;
    harness.run_until(at(32.4));
    assert_eq!(harness.app().log_lines_dropped(), 17);
    harness.run_until(at(35.0));
    let lines = log_lines(&harness);
    let flushed = &lines[online_lines..];
    assert_eq!(
        flushed[0],
        "W 32500 node-manager: ... 17 log lines dropped while offline"
    );
    // The oldest lines went; the newest 16 follow in order, then what
    // was logged on reconnecting.
    assert!(
        flushed[1].starts_with("D 17000 node-manager: sysinfo not sent"),
        "{}",
        flushed[1]
    );
    assert!(flushed[16].starts_with("D 32000 "), "{}", flushed[16]);
    assert_eq!(
        flushed[17],
        "I 32500 node-manager: connected, logging to esp32/test/log"
    );
    assert_eq!(harness.app().log_lines_buffered(), 0);
    assert!(
        harness
            .sent_on("esp32/test/sysinfo")
            .last()
            .unwrap()
            .payload
            .contains("\"log_lines_dropped\": 17")
    );
}

#[test]
fn garbage_commands_and_rates_never_panic() {
    let mut harness = harness();
    harness.run_until(at(1.0));
    let mut state: u32 = 0x9E37_79B9;
    let alphabet = b"{}[]\":,.=- +0123456789eblinky_hzsysinfo_intervallog_level\\\xff\x00";
    for round in 0..300 {
        let mut payload = StdVec::new();
        for _ in 0..(round % 40) {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            payload.push(alphabet[(state as usize) % alphabet.len()]);
        }
        harness.deliver(&std::format!("esp32/test/mqb/cmd/set/g{round}"), &payload);
        harness.deliver("esp32/test/blinky/hz", &payload);
    }
    let hz = harness.app().blinky_hz();
    assert!((0.0..=MAX_BLINKY_HZ).contains(&hz));
    harness.run_for(Duration::from_secs(5));
}

fn fed_by_mqtt() -> NodeManagerConfig {
    let mut config = NodeManagerConfig::new("n");
    config.blinky_hz = 0.0;
    config.sysinfo_interval = Duration::ZERO;
    config.watchdog_feed = WatchdogFeed::Mqtt;
    config
}

const WATCHDOG_TOPIC: &str = "esp32/test/mqb/cmd/ping/0F00D";

/// Runs the board until `end`, handing each watchdog ping back to it at
/// once, as the broker does for a board subscribed to its own commands.
fn run_echoing_pings(harness: &mut Harness<Manager>, end: Instant) {
    let mut echoed = 0;
    while harness.now < end {
        let next = harness.step();
        let pings = harness.sent_on(WATCHDOG_TOPIC);
        for _ in echoed..pings.len() {
            harness.deliver(WATCHDOG_TOPIC, b"");
        }
        echoed = pings.len();
        harness.now = next.max(harness.now).min(end);
    }
}

#[test]
fn fed_by_mqtt_only_a_round_trip_through_the_broker_feeds_the_watchdog() {
    let mut harness = boot_with(
        fed_by_mqtt(),
        FakePlatform::booted_by(ResetCause::PowerOn, RetainedMemory::default()),
    );
    // Without the broker handing the pings back, polling feeds nothing.
    harness.run_until(at(3.0));
    assert_eq!(harness.app().platform().feeds, 0);
    let pings = harness.sent_on(WATCHDOG_TOPIC);
    assert!(!pings.is_empty(), "a ping goes out once connected");
    assert!(
        pings
            .iter()
            .all(|ping| ping.payload.is_empty() && ping.qos == QoS::AtMostOnce && !ping.retain)
    );

    let mut harness = boot_with(
        fed_by_mqtt(),
        FakePlatform::booted_by(ResetCause::PowerOn, RetainedMemory::default()),
    );
    run_echoing_pings(&mut harness, at(60.0));
    let pings = harness.sent_on(WATCHDOG_TOPIC);
    // One ping every quarter of the 8s timeout.
    assert!((29..=31).contains(&pings.len()), "{} pings", pings.len());
    for pair in pings.windows(2) {
        assert_eq!(pair[1].at - pair[0].at, Duration::from_secs(2));
    }
    assert_eq!(harness.app().platform().feeds as usize, pings.len());
    assert!(
        harness.sent_on("esp32/test/mqb/reply/0F00D").is_empty(),
        "the watchdog's own ping gets no reply"
    );
    assert_eq!(harness.app().platform().memory.words[WORD_BROKER_LOST], 0);
}

#[test]
fn fed_by_mqtt_a_lost_broker_is_marked_and_its_reset_is_no_crash() {
    let memory = RetainedMemory {
        words: [RETAINED_MAGIC, 1, 5, 0, 0, 0, 0, 0],
    };
    let mut harness = boot_with(
        fed_by_mqtt(),
        FakePlatform::booted_by(ResetCause::PowerOn, memory),
    );
    run_echoing_pings(&mut harness, at(10.0));
    harness.broker_up = false;
    harness.cut_link();
    let lost_at = harness.now;
    let last_feed = harness.app().platform().feeds;
    assert_eq!(harness.app().platform().memory.words[WORD_BROKER_LOST], 0);
    // Half a timeout (4s) after the last round trip, which came at most a
    // ping interval (2s) before the cut, the lost broker is marked, and
    // nothing feeds the watchdog meanwhile.
    harness.run_until(lost_at + Duration::from_secs(4));
    assert_eq!(
        harness.app().platform().memory.words[WORD_BROKER_LOST],
        BROKER_LOST_MARK
    );
    assert_eq!(harness.app().platform().feeds, last_feed);

    // The watchdog resets the board: not a crash, and the board says why.
    let memory = harness.app().platform().memory;
    let mut rebooted = boot_with(
        fed_by_mqtt(),
        FakePlatform::booted_by(ResetCause::Watchdog, memory),
    );
    assert_eq!(
        (rebooted.app().crashes(), rebooted.app().safe_mode()),
        (0, false)
    );
    assert_eq!(rebooted.app().platform().memory.words[WORD_BROKER_LOST], 0);
    rebooted.run_until(at(1.0));
    assert!(rebooted.logged("after its MQTT round trip stopped; not counted as a crash"));

    // A watchdog reset without the mark (the loop hung) is a crash.
    let mut memory = memory;
    memory.words[WORD_BROKER_LOST] = 0;
    let hung = boot_with(
        fed_by_mqtt(),
        FakePlatform::booted_by(ResetCause::Watchdog, memory),
    );
    assert_eq!(hung.app().crashes(), 1);
}

#[test]
fn fed_by_mqtt_a_round_trip_after_the_outage_clears_the_mark() {
    let mut harness = boot_with(
        fed_by_mqtt(),
        FakePlatform::booted_by(ResetCause::PowerOn, RetainedMemory::default()),
    );
    run_echoing_pings(&mut harness, at(4.0));
    harness.broker_up = false;
    harness.cut_link();
    harness.run_until(at(9.0));
    assert_eq!(
        harness.app().platform().memory.words[WORD_BROKER_LOST],
        BROKER_LOST_MARK
    );
    let feeds_before = harness.app().platform().feeds;
    harness.broker_up = true;
    // The session reconnects within its backoff, then pings again.
    run_echoing_pings(&mut harness, at(60.0));
    assert!(harness.app().platform().feeds > feeds_before);
    assert_eq!(harness.app().platform().memory.words[WORD_BROKER_LOST], 0);
}

#[test]
fn the_watchdog_feed_setting_reads_loop_or_mqtt() {
    let mut config = NodeManagerConfig::new("n");
    assert_eq!(config.watchdog_feed, WatchdogFeed::Loop);
    assert_eq!(config.set("watchdog_feed", "mqtt"), Ok(()));
    assert_eq!(config.watchdog_feed, WatchdogFeed::Mqtt);
    assert_eq!(config.set("watchdog_feed", "loop"), Ok(()));
    assert_eq!(config.watchdog_feed, WatchdogFeed::Loop);
    let error = config.set("watchdog_feed", "MQTT").unwrap_err();
    assert_eq!(
        std::format!("{error}"),
        "'MQTT' is not a watchdog feed; use loop or mqtt"
    );
}
