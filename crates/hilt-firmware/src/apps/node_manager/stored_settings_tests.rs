//! Settings kept in flash, through the app: `set` then a reset keeps them,
//! and a region of garbage means the defaults, said in the log and in
//! sysinfo. (The store itself is tested on hilt-sim's flash model, with
//! power cuts, in `crates/hilt-sim/tests/stored_settings.rs`.)

extern crate std;
use std::cell::RefCell;
use std::rc::Rc;
use std::string::String as StdString;
use std::vec::Vec as StdVec;

use embedded_storage::nor_flash::{ErrorType, NorFlashErrorKind, ReadNorFlash};

use super::*;
use crate::apps::test_harness::{FakePin, Harness, at};
use crate::partitions::SETTINGS;
use crate::platform::{MemoryFigures, RetainedMemory};

/// Flash in RAM, shared between boots: erase sets bytes to `0xFF`, a write
/// can only clear bits, as on NOR flash.
#[derive(Clone, Debug)]
struct RamFlash(Rc<RefCell<StdVec<u8>>>);

impl RamFlash {
    fn erased() -> Self {
        RamFlash(Rc::new(RefCell::new(
            std::vec![0xFF; SETTINGS.end as usize],
        )))
    }
}

impl ErrorType for RamFlash {
    type Error = NorFlashErrorKind;
}

impl ReadNorFlash for RamFlash {
    const READ_SIZE: usize = 1;

    fn read(&mut self, offset: u32, bytes: &mut [u8]) -> Result<(), Self::Error> {
        let start = offset as usize;
        let stored = self.0.borrow();
        let range = stored
            .get(start..start + bytes.len())
            .ok_or(NorFlashErrorKind::OutOfBounds)?;
        bytes.copy_from_slice(range);
        Ok(())
    }

    fn capacity(&self) -> usize {
        self.0.borrow().len()
    }
}

impl NorFlash for RamFlash {
    const WRITE_SIZE: usize = 4;
    const ERASE_SIZE: usize = 4096;

    fn erase(&mut self, from: u32, to: u32) -> Result<(), Self::Error> {
        let mut stored = self.0.borrow_mut();
        stored
            .get_mut(from as usize..to as usize)
            .ok_or(NorFlashErrorKind::OutOfBounds)?
            .fill(0xFF);
        Ok(())
    }

    fn write(&mut self, offset: u32, bytes: &[u8]) -> Result<(), Self::Error> {
        let start = offset as usize;
        let mut stored = self.0.borrow_mut();
        let range = stored
            .get_mut(start..start + bytes.len())
            .ok_or(NorFlashErrorKind::OutOfBounds)?;
        for (stored, new) in range.iter_mut().zip(bytes) {
            *stored &= new;
        }
        Ok(())
    }
}

#[derive(Debug)]
struct QuietPlatform(RetainedMemory);

impl Platform for QuietPlatform {
    fn reset_cause(&self) -> ResetCause {
        ResetCause::PowerOn
    }
    fn retained_memory(&mut self) -> &mut RetainedMemory {
        &mut self.0
    }
    fn start_watchdog(&mut self, _timeout: Duration) {}
    fn feed_watchdog(&mut self) {}
    fn request_reset(&mut self) {}
    fn memory(&self) -> MemoryFigures {
        MemoryFigures::default()
    }
    fn firmware_version(&self) -> &str {
        "0.1.0"
    }
}

type Manager = NodeManager<FakePin, QuietPlatform, RamFlash>;

/// A power-on boot on `flash`, run for two seconds.
fn power_on(flash: &RamFlash) -> Harness<Manager> {
    let mut harness = Harness::new(NodeManager::with_flash(
        NodeManagerConfig::new("esp32-test-settings"),
        FakePin::default(),
        QuietPlatform(RetainedMemory::default()),
        flash.clone(),
        Instant::BOOT,
    ));
    harness.run_until(at(2.0));
    harness
}

fn sysinfo(harness: &mut Harness<Manager>, id: &str) -> StdString {
    harness.deliver(&std::format!("esp32/test/mqb/cmd/sysinfo/{id}"), b"");
    harness
        .sent_on(&std::format!("esp32/test/mqb/reply/{id}"))
        .pop()
        .expect("a sysinfo reply")
        .payload
}

#[test]
fn what_set_changes_is_read_back_at_the_next_boot() {
    let flash = RamFlash::erased();
    let mut first = power_on(&flash);
    assert!(sysinfo(&mut first, "1").contains("\"settings_store\": \"ok\""));
    first.deliver(
        "esp32/test/mqb/cmd/set/2",
        b"{\"blinky_hz\": 4, \"log_level\": \"debug\", \"sysinfo_interval\": 30}",
    );
    assert_eq!(first.app().blinky_hz(), 4.0);
    drop(first);

    let mut second = power_on(&flash);
    assert_eq!(second.app().blinky_hz(), 4.0);
    assert_eq!(second.app().config().log_level, LogLevel::Debug);
    assert_eq!(
        second.app().config().sysinfo_interval,
        Duration::from_secs(30)
    );
    assert!(second.logged(
        "node-manager: settings from flash: blinky_hz=4.0, sysinfo_interval=30, log_level=debug"
    ));
    assert!(sysinfo(&mut second, "3").contains("\"settings_store\": \"ok\""));
}

#[test]
fn a_region_of_garbage_means_the_defaults_said_so_and_a_fresh_store() {
    let flash = RamFlash::erased();
    for (index, byte) in flash.0.borrow_mut()[SETTINGS.start as usize..]
        .iter_mut()
        .enumerate()
    {
        *byte = (index as u8).wrapping_mul(37) ^ 0x5A;
    }
    let mut first = power_on(&flash);
    assert_eq!(first.app().blinky_hz(), 1.0, "the default");
    assert!(first.logged(
        "node-manager: settings store corrupted; using the defaults and starting a new store"
    ));
    let published: StdVec<StdString> = first
        .sent_on("esp32/test/log")
        .into_iter()
        .map(|sent| sent.payload)
        .collect();
    assert!(
        published
            .iter()
            .any(|line| line.starts_with("W ") && line.contains("settings store corrupted")),
        "{published:?}"
    );
    assert!(sysinfo(&mut first, "1").contains("\"settings_store\": \"corrupt\""));
    first.deliver("esp32/test/mqb/cmd/set/2", b"blinky_hz=2.5");
    drop(first);

    let mut second = power_on(&flash);
    assert_eq!(second.app().blinky_hz(), 2.5, "kept in the new store");
    assert!(sysinfo(&mut second, "3").contains("\"settings_store\": \"ok\""));
}

/// What the ESP32-C3 image hands node-manager when the board was flashed
/// with another partition table: a flash handle of no bytes at all. The
/// board runs on its defaults, says the store is unreadable, keeps no
/// `set`, and refuses updates; nothing panics.
#[test]
fn a_flash_of_no_bytes_keeps_nothing_and_says_the_store_is_unreadable() {
    let flash = RamFlash(Rc::new(RefCell::new(StdVec::new())));
    let mut board = power_on(&flash);
    assert_eq!(board.app().blinky_hz(), 1.0, "the default");
    assert!(board.logged("node-manager: settings store unreadable"));
    assert!(sysinfo(&mut board, "1").contains("\"settings_store\": \"unreadable\""));
    board.deliver("esp32/test/mqb/cmd/set/2", b"blinky_hz=2.5");
    assert_eq!(board.app().blinky_hz(), 2.5, "applied while it runs");
    let sha = "0".repeat(64);
    board.deliver(&std::format!("esp32/test/mqb/cmd/ota/3/{sha}"), b"\x80\x00");
    let reply = board
        .sent_on("esp32/test/mqb/reply/3")
        .pop()
        .expect("a reply to the update")
        .payload;
    assert_eq!(
        reply,
        "{\"error\": \"this board has no flash for updates\"}"
    );
    drop(board);

    let board = power_on(&flash);
    assert_eq!(board.app().blinky_hz(), 1.0, "nothing was kept");
}
