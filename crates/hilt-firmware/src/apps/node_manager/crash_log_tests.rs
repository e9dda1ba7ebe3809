//! The crash log's tests: the retained words it keeps, the message after
//! the next connect, and clearing only once the broker acknowledged it.

extern crate std;
use std::string::String as StdString;
use std::vec::Vec as StdVec;

use super::*;
use crate::apps::test_harness::{FakePin, Harness, at};
use crate::platform::{MemoryFigures, PanicRecord, RetainedMemory};

#[derive(Debug)]
struct CrashPlatform {
    cause: ResetCause,
    memory: RetainedMemory,
    panic: Option<PanicRecord>,
    /// The app asked for a reset (the harness goes on polling; a chip
    /// would have reset).
    reset_requested: bool,
}

impl Platform for CrashPlatform {
    fn reset_cause(&self) -> ResetCause {
        self.cause
    }
    fn retained_memory(&mut self) -> &mut RetainedMemory {
        &mut self.memory
    }
    fn start_watchdog(&mut self, _timeout: Duration) {}
    fn feed_watchdog(&mut self) {}
    fn request_reset(&mut self) {
        self.reset_requested = true;
    }
    fn memory(&self) -> MemoryFigures {
        MemoryFigures::default()
    }
    fn firmware_version(&self) -> &str {
        "0.1.0"
    }
    fn last_panic(&self) -> Option<PanicRecord> {
        self.panic.clone()
    }
    fn clear_last_panic(&mut self) {
        self.panic = None;
    }
}

type Manager = NodeManager<FakePin, CrashPlatform>;

/// A boot after a reset for `cause`, with the retained words and panic
/// record the last boot left (blank after power-on, as the chip's).
fn boot(cause: ResetCause, memory: RetainedMemory, panic: Option<PanicRecord>) -> Harness<Manager> {
    let (memory, panic) = if cause == ResetCause::PowerOn {
        (RetainedMemory::default(), None)
    } else {
        (memory, panic)
    };
    Harness::new(NodeManager::new(
        NodeManagerConfig::new("esp32-test-crash"),
        FakePin::default(),
        CrashPlatform {
            cause,
            memory,
            panic,
            reset_requested: false,
        },
        Instant::BOOT,
    ))
}

/// What the board left behind when it reset.
fn left_behind(harness: &mut Harness<Manager>) -> (RetainedMemory, Option<PanicRecord>) {
    let platform = harness.node.app_mut().platform_mut();
    (*platform.retained_memory(), platform.last_panic())
}

fn crash_messages(harness: &Harness<Manager>) -> StdVec<StdString> {
    harness
        .sent_on("esp32/test/crash")
        .into_iter()
        .map(|sent| {
            assert_eq!((sent.qos, sent.retain), (QoS::AtLeastOnce, false));
            sent.payload
        })
        .collect()
}

#[test]
fn a_watchdog_reset_is_published_once_after_the_next_connect_then_cleared() {
    let mut first = boot(ResetCause::PowerOn, RetainedMemory::default(), None);
    first.run_until(at(5.0));
    assert!(crash_messages(&first).is_empty());
    let (memory, panic) = left_behind(&mut first);
    let last_feed = memory.words[WORD_LAST_FEED];
    assert!(
        (1_000..=5_000).contains(&last_feed),
        "last feed {last_feed}"
    );
    // The poll had returned: the board hung outside the app.
    assert_eq!(memory.words[WORD_CRASH] & 0xFF, 0x81);

    let mut second = boot(ResetCause::Watchdog, memory, panic);
    second.run_until(at(2.0));
    assert_eq!(
        crash_messages(&second),
        [std::format!(
            "{{\"reason\": \"watchdog\", \"at_ms\": {}, \"place\": \"main loop, after poll\", \"boot\": 1}}",
            last_feed + 8_000
        )]
    );
    let (memory, panic) = left_behind(&mut second);
    assert_eq!(
        memory.words[WORD_CRASH] >> 8,
        0,
        "cleared once acknowledged"
    );

    let mut third = boot(ResetCause::Software, memory, panic);
    third.run_until(at(2.0));
    assert!(crash_messages(&third).is_empty());
}

#[test]
fn an_unacknowledged_crash_report_is_published_again_after_the_next_reset() {
    let mut first = boot(ResetCause::PowerOn, RetainedMemory::default(), None);
    first.run_until(at(3.0));
    let (memory, panic) = left_behind(&mut first);

    let mut second = boot(ResetCause::Watchdog, memory, panic);
    second.broker.acknowledges_publishes = false;
    second.run_until(at(2.0));
    assert_eq!(crash_messages(&second).len(), 1);
    let (memory, panic) = left_behind(&mut second);
    assert_eq!((memory.words[WORD_CRASH] >> 8) & 0xFF, 1, "still pending");

    // A clean reboot before the acknowledgement: the same report again,
    // still naming boot 1, the one that crashed.
    let mut third = boot(ResetCause::Software, memory, panic);
    third.run_until(at(2.0));
    let messages = crash_messages(&third);
    assert_eq!(messages.len(), 1);
    assert!(
        messages[0].starts_with("{\"reason\": \"watchdog\"")
            && messages[0].ends_with("\"boot\": 1}"),
        "{}",
        messages[0]
    );
    let (memory, _) = left_behind(&mut third);
    assert_eq!(memory.words[WORD_CRASH] >> 8, 0);
}

#[test]
fn a_panic_is_reported_with_the_place_the_platform_recorded_and_the_record_is_cleared() {
    let mut first = boot(ResetCause::PowerOn, RetainedMemory::default(), None);
    first.run_until(at(3.0));
    let (memory, _) = left_behind(&mut first);
    let panic = PanicRecord {
        place: heapless::String::try_from("src/apps/node_manager/commands.rs:42").unwrap(),
        at_ms: 2_345,
    };

    let mut second = boot(ResetCause::Panic, memory, Some(panic));
    second.run_until(at(2.0));
    assert_eq!(
        crash_messages(&second),
        [
            "{\"reason\": \"panic\", \"at_ms\": 2345, \"place\": \"src/apps/node_manager/commands.rs:42\", \"boot\": 1}"
        ]
    );
    let (memory, panic) = left_behind(&mut second);
    assert_eq!(memory.words[WORD_CRASH] >> 8, 0);
    assert_eq!(panic, None, "the platform's record is cleared too");
}

#[test]
fn a_panic_the_platform_cannot_place_names_the_app_call_it_was_in() {
    let mut memory = RetainedMemory::default();
    memory.words[WORD_MAGIC] = RETAINED_MAGIC;
    memory.words[WORD_BOOTS] = 3;
    memory.words[WORD_LAST_FEED] = 700;
    memory.words[WORD_CRASH] = 2; // entered on_message, never returned
    let mut harness = boot(ResetCause::Panic, memory, None);
    harness.run_until(at(2.0));
    assert_eq!(
        crash_messages(&harness),
        ["{\"reason\": \"panic\", \"at_ms\": 700, \"place\": \"in on_message\", \"boot\": 3}"]
    );
}

#[test]
fn a_power_cycle_forgets_a_pending_crash() {
    let mut first = boot(ResetCause::PowerOn, RetainedMemory::default(), None);
    first.run_until(at(3.0));
    let (memory, panic) = left_behind(&mut first);
    let mut second = boot(ResetCause::Watchdog, memory, panic);
    second.broker.acknowledges_publishes = false;
    second.run_until(at(2.0));
    let (memory, panic) = left_behind(&mut second);
    let mut third = boot(ResetCause::PowerOn, memory, panic);
    third.run_until(at(2.0));
    assert!(crash_messages(&third).is_empty());
}

/// A boot that ends in a reset the app asked for (a reboot, or an update
/// to boot) was not the one that crashed: when the next run of the app
/// finds a watchdog reset, the crash was in a boot that never reached the
/// app (an image stuck at boot), which never counted itself or fed the
/// watchdog.
#[test]
fn a_crash_after_a_clean_reset_is_placed_before_the_app_ran() {
    let mut first = boot(ResetCause::PowerOn, RetainedMemory::default(), None);
    first.run_until(at(3.0));
    // The harness acknowledges the reply at once, so the app asks for the
    // reset in this instant; a chip resets there.
    first.deliver("esp32/test/mqb/cmd/reboot/r1", b"");
    assert!(first.app().platform().reset_requested);
    let (memory, panic) = left_behind(&mut first);

    let mut second = boot(ResetCause::Watchdog, memory, panic);
    second.run_until(at(2.0));
    assert_eq!(
        crash_messages(&second),
        [
            "{\"reason\": \"watchdog\", \"at_ms\": 8000, \"place\": \"at boot, before the app ran\", \"boot\": 2}"
        ]
    );
}
