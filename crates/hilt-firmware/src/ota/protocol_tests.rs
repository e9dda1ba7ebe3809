//! The receiver, the sender and the bootloader's choice together, on the
//! flash chip model (erase before write, power cuts).

extern crate std;

use std::vec::Vec;

use hilt_sim::flash::{FlashModel, SimFlash};

use super::image::{AppDescriptor, IMAGE_PREFIX_LEN, SimulatedBoot};
use super::otadata::{self, OtaData, OtaState};
use super::receiver::{ChunkOutcome, OtaError, OtaReceiver, STALE_AFTER};
use super::sender::{OtaSender, SenderEvent, SenderState};
use super::{ChunkHeader, HEADER_LEN, sha256, sha256_hex};
use crate::partitions::{FLASH_SIZE, OTA_SLOTS};
use crate::time::{Duration, Instant};

fn image(version: &str, size: usize) -> Vec<u8> {
    let mut prefix = [0u8; IMAGE_PREFIX_LEN];
    let mut descriptor = AppDescriptor {
        version: heapless::String::new(),
        project_name: heapless::String::new(),
        boots: SimulatedBoot::Runs,
    };
    descriptor.version.push_str(version).unwrap();
    descriptor.project_name.push_str("node-manager").unwrap();
    descriptor.write_prefix(&mut prefix);
    let mut bytes: Vec<u8> = (0..size).map(|index| (index * 7 % 251) as u8).collect();
    bytes[..IMAGE_PREFIX_LEN].copy_from_slice(&prefix);
    bytes
}

fn chip() -> (FlashModel, SimFlash) {
    let model = FlashModel::new(FLASH_SIZE as usize);
    let flash = model.handle();
    (model, flash)
}

fn payload(seq: u16, last: bool, data: &[u8]) -> Vec<u8> {
    let mut bytes = ChunkHeader { seq, last }.to_bytes().to_vec();
    bytes.extend_from_slice(data);
    bytes
}

/// Sends the whole image through a sender into a receiver, replying as
/// node-manager does; returns the final outcome.
fn transfer(
    flash: &mut SimFlash,
    receiver: &mut OtaReceiver,
    bytes: &[u8],
    chunk: usize,
) -> ChunkOutcome {
    let sha = sha256_hex(&sha256(bytes));
    let mut sender = OtaSender::new(bytes.len(), chunk).unwrap();
    let mut buffer = std::vec![0u8; chunk + HEADER_LEN];
    let mut last = None;
    let mut rounds = 0;
    while *sender.state() == SenderState::Sending {
        rounds += 1;
        assert!(rounds < 10_000, "the transfer does not end");
        let Some(next) = sender.next_chunk() else {
            panic!("the sender stalled at {:?}", sender.acknowledged());
        };
        let length = next.write_payload(bytes, &mut buffer);
        let outcome = receiver.on_chunk(flash, Instant::BOOT, "u1", &sha, &buffer[..length]);
        match &outcome {
            ChunkOutcome::Progress { seq, received } => {
                let reply = std::format!("{{\"seq\": {seq}, \"received\": {received}}}");
                sender.on_reply(reply.as_bytes());
            }
            ChunkOutcome::Complete { descriptor, .. } => {
                let reply =
                    std::format!("{{\"ok\": true, \"version\": \"{}\"}}", descriptor.version);
                assert!(matches!(
                    sender.on_reply(reply.as_bytes()),
                    SenderEvent::Done { .. }
                ));
            }
            ChunkOutcome::Refused(error) => {
                let reply = std::format!("{{\"error\": \"{error}\"}}");
                sender.on_reply(reply.as_bytes());
            }
            _ => {}
        }
        last = Some(outcome);
    }
    last.unwrap()
}

#[test]
fn a_good_image_lands_in_the_other_slot_and_boots_once_on_trial() {
    let (model, mut flash) = chip();
    let bytes = image("0.2.0", 10_000);
    let mut receiver = OtaReceiver::new(0);
    let outcome = transfer(&mut flash, &mut receiver, &bytes, 1000);
    let ChunkOutcome::Complete {
        size,
        slot,
        descriptor,
    } = outcome
    else {
        panic!("{outcome:?}");
    };
    assert_eq!(
        (size, slot, descriptor.version.as_str()),
        (10_000, 1, "0.2.0")
    );
    let start = OTA_SLOTS[1].start as usize;
    assert_eq!(model.contents(start, 10_000), bytes);
    // The last block is padded with erased bytes.
    assert_eq!(model.contents(start + 10_000, 4), [0xFF; 4]);

    let decision = otadata::boot(&mut flash);
    assert_eq!(
        (decision.slot, decision.trial, decision.rolled_back),
        (1, true, None)
    );
    assert_eq!(
        OtaData::read(&mut flash).unwrap().active().unwrap().1.state,
        OtaState::PendingVerify
    );
    assert!(otadata::mark_valid(&mut flash).unwrap());
    let decision = otadata::boot(&mut flash);
    assert_eq!(
        (decision.slot, decision.trial, decision.rolled_back),
        (1, false, None)
    );
}

#[test]
fn an_image_that_never_marks_itself_valid_is_rolled_back_at_its_second_boot() {
    let (_model, mut flash) = chip();
    // The factory image in slot 0, as flashed over USB.
    let factory = image("0.1.0", 4096);
    flash_image(&mut flash, 0, &factory);
    let mut receiver = OtaReceiver::new(0);
    assert!(matches!(
        transfer(&mut flash, &mut receiver, &image("0.2.0", 9000), 512),
        ChunkOutcome::Complete { .. }
    ));
    assert_eq!(otadata::boot(&mut flash).slot, 1);
    // It crashed before marking itself valid: the next boot rolls it back.
    let decision = otadata::boot(&mut flash);
    assert_eq!(
        (decision.slot, decision.trial, decision.rolled_back),
        (0, false, Some(1))
    );
    let data = OtaData::read(&mut flash).unwrap();
    assert_eq!(data.rolled_back_slot(), Some(1));
    // And it stays rolled back.
    let decision = otadata::boot(&mut flash);
    assert_eq!((decision.slot, decision.rolled_back), (0, None));
    // A later update to slot 1 clears the record.
    let mut receiver = OtaReceiver::new(0);
    transfer(&mut flash, &mut receiver, &image("0.2.1", 5000), 512);
    assert_eq!(OtaData::read(&mut flash).unwrap().rolled_back_slot(), None);
    assert_eq!(otadata::boot(&mut flash).slot, 1);
    otadata::mark_valid(&mut flash).unwrap();
    // The next update goes back to slot 0, and so on.
    let mut receiver = OtaReceiver::new(1);
    assert!(matches!(
        transfer(&mut flash, &mut receiver, &image("0.3.0", 5000), 512),
        ChunkOutcome::Complete { slot: 0, .. }
    ));
    assert_eq!(otadata::boot(&mut flash).slot, 0);
}

/// A chip whose bootloader has no rollback (espflash's): it starts the
/// newest selectable slot and changes nothing, so the app takes the steps.
#[test]
fn the_app_takes_the_rollback_steps_a_bootloader_without_rollback_leaves_out() {
    let (_model, mut flash) = chip();
    flash_image(&mut flash, 0, &image("0.1.0", 4096));
    let mut receiver = OtaReceiver::new(0);
    transfer(&mut flash, &mut receiver, &image("0.2.0", 9000), 512);

    // First start of the new image: the app puts it on trial.
    let decision = otadata::boot_from_app(&mut flash);
    assert_eq!(
        (decision.slot, decision.trial, decision.rolled_back),
        (1, true, None)
    );
    let (_, entry) = OtaData::read(&mut flash).unwrap().active().unwrap();
    assert_eq!(
        (entry.state, entry.trial_by_app),
        (OtaState::PendingVerify, true)
    );

    // It crashed before marking itself valid; the bootloader starts it
    // again (it knows nothing of trials) and the app aborts it, naming the
    // slot to reset into.
    let decision = otadata::boot_from_app(&mut flash);
    assert_eq!(
        (decision.slot, decision.trial, decision.rolled_back),
        (0, false, Some(1))
    );
    assert_eq!(OtaData::read(&mut flash).unwrap().selected_slot(), 0);
    // After that reset the old image runs, and stays.
    let decision = otadata::boot_from_app(&mut flash);
    assert_eq!((decision.slot, decision.rolled_back), (0, None));
}

/// A chip whose bootloader has rollback: it took the trial step itself at
/// this boot, and the app must not mistake that for a failed trial.
#[test]
fn the_app_leaves_a_trial_the_bootloader_started_to_the_bootloader() {
    let (_model, mut flash) = chip();
    flash_image(&mut flash, 0, &image("0.1.0", 4096));
    let mut receiver = OtaReceiver::new(0);
    transfer(&mut flash, &mut receiver, &image("0.2.0", 9000), 512);

    assert!(otadata::boot(&mut flash).trial);
    let decision = otadata::boot_from_app(&mut flash);
    assert_eq!(
        (decision.slot, decision.trial, decision.rolled_back),
        (1, true, None)
    );
    // The image proves healthy and marks itself valid: both keep it.
    assert!(otadata::mark_valid(&mut flash).unwrap());
    assert_eq!(otadata::boot(&mut flash).slot, 1);
    let decision = otadata::boot_from_app(&mut flash);
    assert_eq!(
        (decision.slot, decision.trial, decision.rolled_back),
        (1, false, None)
    );
}

fn flash_image(flash: &mut SimFlash, slot: usize, bytes: &[u8]) {
    use embedded_storage::nor_flash::NorFlash;
    let start = OTA_SLOTS[slot].start;
    let mut padded = bytes.to_vec();
    padded.resize(bytes.len().div_ceil(4096) * 4096, 0xFF);
    flash.erase(start, start + padded.len() as u32).unwrap();
    flash.write(start, &padded).unwrap();
}

#[test]
fn a_bad_hash_is_refused_and_nothing_is_activated() {
    let (_model, mut flash) = chip();
    flash_image(&mut flash, 0, &image("0.1.0", 4096));
    let bytes = image("0.2.0", 5000);
    let wrong = sha256_hex(&sha256(b"something else"));
    let mut receiver = OtaReceiver::new(0);
    receiver.on_chunk(
        &mut flash,
        Instant::BOOT,
        "u1",
        &wrong,
        &payload(0, false, &bytes[..4000]),
    );
    let outcome = receiver.on_chunk(
        &mut flash,
        Instant::BOOT,
        "u1",
        &wrong,
        &payload(1, true, &bytes[4000..]),
    );
    let ChunkOutcome::Refused(OtaError::HashMismatch { actual }) = outcome else {
        panic!("{outcome:?}");
    };
    assert_eq!(actual, sha256(&bytes));
    assert_eq!(OtaData::read(&mut flash).unwrap().entries, [None, None]);
    assert_eq!(otadata::boot(&mut flash).slot, 0);
}

#[test]
fn duplicates_are_ignored_gaps_refused_once_and_the_sender_goes_back() {
    let (_model, mut flash) = chip();
    let bytes = image("0.2.0", 3000);
    let sha = sha256_hex(&sha256(&bytes));
    let mut receiver = OtaReceiver::new(0);
    let chunk = |seq: u16, last: bool| {
        let start = usize::from(seq) * 300;
        payload(seq, last, &bytes[start..(start + 300).min(bytes.len())])
    };
    let mut on = |seq: u16, last: bool| {
        receiver.on_chunk(&mut flash, Instant::BOOT, "u1", &sha, &chunk(seq, last))
    };
    assert_eq!(
        on(0, false),
        ChunkOutcome::Progress {
            seq: 0,
            received: 300
        }
    );
    assert_eq!(on(1, false), ChunkOutcome::Accepted { seq: 1 });
    assert_eq!(on(1, false), ChunkOutcome::Duplicate { seq: 1 });
    assert_eq!(
        on(3, false),
        ChunkOutcome::Refused(OtaError::OutOfOrder {
            seq: 3,
            expected: 2
        })
    );
    assert_eq!(on(4, false), ChunkOutcome::Ignored { seq: 4 });
    for seq in 2..9 {
        assert!(!matches!(on(seq, false), ChunkOutcome::Refused(_)), "{seq}");
    }
    // A duplicate of chunk 0 repeats how far the board is.
    assert_eq!(
        on(0, false),
        ChunkOutcome::Progress {
            seq: 8,
            received: 2700
        }
    );
    assert!(matches!(
        on(9, true),
        ChunkOutcome::Complete { size: 3000, .. }
    ));
    // Nothing writes over the activated slot before the reboot.
    assert_eq!(on(0, false), ChunkOutcome::Refused(OtaError::Complete));

    let mut sender = OtaSender::new(3000, 300).unwrap();
    for _ in 0..4 {
        sender.next_chunk().unwrap();
    }
    let event = sender.on_reply(
        br#"{"error": "out of order: chunk 3 after a gap, chunk 2 is missing", "expected": 2}"#,
    );
    assert!(
        matches!(event, SenderEvent::Rewound { to: 2, .. }),
        "{event:?}"
    );
    assert_eq!(sender.next_chunk().unwrap().header.seq, 2);
}

#[test]
fn too_big_chunks_without_an_update_and_a_second_update_are_refused() {
    let (_model, mut flash) = chip();
    let sha = sha256_hex(&sha256(b"x"));
    let mut receiver = OtaReceiver::new(0);
    assert_eq!(
        receiver.on_chunk(
            &mut flash,
            Instant::BOOT,
            "u1",
            &sha,
            &payload(5, false, b"abc")
        ),
        ChunkOutcome::Refused(OtaError::NotRunning { seq: 5 })
    );
    // Once: the chunks in flight behind it are ignored.
    assert_eq!(
        receiver.on_chunk(
            &mut flash,
            Instant::BOOT,
            "u1",
            &sha,
            &payload(6, false, b"abc")
        ),
        ChunkOutcome::Ignored { seq: 6 }
    );
    assert_eq!(
        receiver.on_chunk(
            &mut flash,
            Instant::BOOT,
            "u1",
            "not-a-hash",
            &payload(0, false, b"abc")
        ),
        ChunkOutcome::Refused(OtaError::BadHashText)
    );
    assert_eq!(
        receiver.on_chunk(&mut flash, Instant::BOOT, "u1", &sha, &[1]),
        ChunkOutcome::Refused(OtaError::NoHeader)
    );
    receiver.on_chunk(
        &mut flash,
        Instant::BOOT,
        "u1",
        &sha,
        &payload(0, false, b"abcd"),
    );
    let busy = receiver.on_chunk(
        &mut flash,
        Instant::from_millis(1000),
        "u2",
        &sha,
        &payload(0, false, b"abcd"),
    );
    assert!(
        matches!(busy, ChunkOutcome::Refused(OtaError::Busy { ref id }) if id == "u1"),
        "{busy:?}"
    );
    // A stalled update gives way.
    let later = Instant::BOOT + STALE_AFTER + Duration::from_secs(1);
    assert!(matches!(
        receiver.on_chunk(&mut flash, later, "u2", &sha, &payload(0, false, b"abcd")),
        ChunkOutcome::Progress { .. }
    ));
    assert_eq!(receiver.running(), Some("u2"));

    // More than the slot holds.
    let slot_len = (OTA_SLOTS[1].end - OTA_SLOTS[1].start) as usize;
    let big = std::vec![0u8; 1024];
    let mut receiver = OtaReceiver::new(0);
    let mut refused = None;
    for seq in 0..=(slot_len / 1024) as u16 {
        if let ChunkOutcome::Refused(error) = receiver.on_chunk(
            &mut flash,
            Instant::BOOT,
            "big",
            &sha,
            &payload(seq, false, &big),
        ) {
            refused = Some((seq, error));
            break;
        }
    }
    assert_eq!(
        refused,
        Some((
            (slot_len / 1024) as u16,
            OtaError::TooBig {
                limit: slot_len as u32
            }
        ))
    );
    assert_eq!(receiver.running(), None);
}

#[test]
fn an_image_without_a_descriptor_is_refused() {
    let (_model, mut flash) = chip();
    let bytes = std::vec![0x42u8; 2000];
    let mut receiver = OtaReceiver::new(0);
    let outcome = transfer(&mut flash, &mut receiver, &bytes, 1000);
    assert!(
        matches!(outcome, ChunkOutcome::Refused(OtaError::NotAnImage(_))),
        "{outcome:?}"
    );
    assert_eq!(OtaData::read(&mut flash).unwrap().active(), None);
}

#[test]
fn a_power_cut_at_any_flash_operation_of_an_update_never_boots_a_torn_image() {
    let bytes = image("0.2.0", 20_000);
    // An uninterrupted update takes this many erases and writes.
    let (model, mut flash) = chip();
    flash_image(&mut flash, 0, &image("0.1.0", 4096));
    let before = model.operations();
    transfer(&mut flash, &mut OtaReceiver::new(0), &bytes, 1000);
    let operations = model.operations() - before;
    assert!(operations >= 12, "{operations}");
    for cut_at in 0..operations {
        let (model, mut flash) = chip();
        flash_image(&mut flash, 0, &image("0.1.0", 4096));
        model.cut_power_during(cut_at);
        let outcome = transfer_until_power_loss(&mut flash, &bytes);
        assert!(model.take_power_loss(), "cut {cut_at}: {outcome:?}");
        let mut flash = model.handle();
        let decision = otadata::boot(&mut flash);
        let running = AppDescriptor::read(&mut flash, OTA_SLOTS[decision.slot].start).unwrap();
        if decision.slot == 1 {
            // Only a cut after the activation was complete boots the new one.
            assert_eq!(running.version.as_str(), "0.2.0", "cut {cut_at}");
            assert_eq!(
                model.contents(OTA_SLOTS[1].start as usize, bytes.len()),
                bytes,
                "cut {cut_at}"
            );
        } else {
            assert_eq!(running.version.as_str(), "0.1.0", "cut {cut_at}");
        }
    }
}

/// Like `transfer`, but stops at the first refusal (the chip lost power).
fn transfer_until_power_loss(flash: &mut SimFlash, bytes: &[u8]) -> ChunkOutcome {
    let sha = sha256_hex(&sha256(bytes));
    let mut receiver = OtaReceiver::new(0);
    let mut outcome = ChunkOutcome::Duplicate { seq: 0 };
    for (seq, data) in bytes.chunks(1000).enumerate() {
        let last = (seq + 1) * 1000 >= bytes.len();
        outcome = receiver.on_chunk(
            flash,
            Instant::BOOT,
            "u1",
            &sha,
            &payload(seq as u16, last, data),
        );
        if matches!(outcome, ChunkOutcome::Refused(_)) {
            break;
        }
    }
    outcome
}

#[test]
fn silence_sends_the_sender_back_and_it_gives_up_in_the_end() {
    let mut sender = OtaSender::new(100_000, 1000).unwrap();
    let mut sent = 0;
    while sender.next_chunk().is_some() {
        sent += 1;
    }
    assert_eq!(sent, super::sender::WINDOW);
    assert!(matches!(
        sender.on_reply(br#"{"seq": 8, "received": 9000}"#),
        SenderEvent::Progress { seq: 8, .. }
    ));
    assert_eq!(sender.next_chunk().unwrap().header.seq, 16);
    assert!(matches!(
        sender.on_silence(),
        SenderEvent::Rewound { to: 9, .. }
    ));
    assert_eq!(sender.next_chunk().unwrap().header.seq, 9);
    for _ in 0..super::sender::MAX_REWINDS - 1 {
        assert!(matches!(sender.on_silence(), SenderEvent::Rewound { .. }));
    }
    assert!(matches!(sender.on_silence(), SenderEvent::Failed { .. }));
    assert!(sender.next_chunk().is_none());

    let mut sender = OtaSender::new(10, 5).unwrap();
    let event = sender.on_reply(br#"{"error": "image too big: the slot holds 1966080 bytes"}"#);
    assert!(
        matches!(event, SenderEvent::Failed { ref reason } if reason.starts_with("image too big"))
    );
    assert!(OtaSender::new(0, 5).is_err());
    assert!(OtaSender::new(10, 0).is_err());
    assert!(OtaSender::new(40_000, 1).is_err());
}
