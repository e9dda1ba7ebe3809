//! The board's side of an update: chunks in, the inactive slot written
//! block by block, the image checked, the slot activated.

use core::fmt;

use embedded_storage::nor_flash::NorFlash;
use heapless::String;
use sha2::{Digest as _, Sha256};

use super::image::{AppDescriptor, DescriptorError, IMAGE_PREFIX_LEN};
use super::otadata;
use super::{ChunkHeader, REPLY_EVERY, parse_sha256_hex};
use crate::partitions::{OTA_SLOTS, SECTOR_SIZE};
use crate::time::{Duration, Instant};

/// Bytes written to flash at once: one erase sector, as MQBoard's blocks.
pub const BLOCK_LEN: usize = SECTOR_SIZE as usize;
/// Longest command id an update keeps (longer ids are cut for comparison).
pub const MAX_ID_LEN: usize = 32;
/// An update that has received nothing for this long may be replaced by a
/// new one; until then a chunk 0 of another id is refused as busy.
pub const STALE_AFTER: Duration = Duration::from_secs(30);

/// Why a chunk or an update was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OtaError {
    /// The payload is shorter than the 2-byte header.
    NoHeader,
    /// The topic's last level is not a SHA-256 in hex.
    BadHashText,
    /// A chunk other than 0 while no update runs.
    NotRunning { seq: u16 },
    /// A chunk after a gap: `expected` is the one wanted.
    OutOfOrder { seq: u16, expected: u16 },
    /// Another update is running.
    Busy { id: String<MAX_ID_LEN> },
    /// The image does not fit the slot.
    TooBig { limit: u32 },
    /// The image's SHA-256 is not the one in the topic.
    HashMismatch { actual: [u8; 32] },
    /// The image has no app descriptor.
    NotAnImage(DescriptorError),
    /// The flash refused an erase, write or read.
    Flash,
    /// The chunks of one update named different hashes.
    HashChanged,
    /// An update is complete and the board is about to boot it.
    Complete,
}

impl OtaError {
    /// The chunk the sender should go back to, when the update can go on.
    pub fn expected(&self) -> Option<u16> {
        match self {
            OtaError::NotRunning { .. } => Some(0),
            OtaError::OutOfOrder { expected, .. } => Some(*expected),
            _ => None,
        }
    }
}

impl fmt::Display for OtaError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OtaError::NoHeader => f.write_str("chunk shorter than its 2-byte header"),
            OtaError::BadHashText => {
                f.write_str("the topic must end in the image's SHA-256 as 64 hex digits")
            }
            OtaError::NotRunning { seq } => write!(
                f,
                "out of order: chunk {seq} but no update is running; start at chunk 0"
            ),
            OtaError::OutOfOrder { seq, expected } => write!(
                f,
                "out of order: chunk {seq} after a gap, chunk {expected} is missing"
            ),
            OtaError::Busy { id } => write!(f, "slot busy: update '{id}' is running"),
            OtaError::TooBig { limit } => write!(f, "image too big: the slot holds {limit} bytes"),
            OtaError::HashMismatch { actual } => write!(
                f,
                "bad hash: the image's SHA-256 is {}",
                super::sha256_hex(actual)
            ),
            OtaError::NotAnImage(error) => write!(f, "not an app image: {error}"),
            OtaError::Flash => f.write_str("flash write failed"),
            OtaError::HashChanged => f.write_str("the chunks of one update name different hashes"),
            OtaError::Complete => {
                f.write_str("an update is complete; the board is rebooting into it")
            }
        }
    }
}

/// What a chunk did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ChunkOutcome {
    /// Taken; no reply due.
    Accepted { seq: u16 },
    /// Taken (or a duplicate) and a progress reply is due: `received`
    /// bytes so far.
    Progress { seq: u16, received: u32 },
    /// Seen before; ignored.
    Duplicate { seq: u16 },
    /// The last chunk: the image is checked and its slot boots next.
    Complete {
        size: u32,
        slot: usize,
        descriptor: AppDescriptor,
    },
    /// Refused; the reply says why. An update that can go on keeps
    /// running (`OtaError::expected`).
    Refused(OtaError),
    /// A gap already reported: ignored without a reply, while the sender
    /// goes back.
    Ignored { seq: u16 },
}

#[derive(Debug)]
struct Transfer {
    id: String<MAX_ID_LEN>,
    sha: [u8; 32],
    slot: usize,
    next_seq: u16,
    /// Bytes received (and hashed) so far.
    received: u32,
    /// Bytes of `received` waiting in the block buffer.
    buffered: usize,
    hasher: Sha256,
    last_chunk_at: Instant,
    gap_reported: bool,
}

/// The receiving side of MQBoard's OTA protocol; see the module
/// documentation of [`crate::ota`].
#[derive(Debug)]
pub struct OtaReceiver {
    running_slot: usize,
    transfer: Option<Transfer>,
    /// An update completed: its slot boots next, and nothing may write
    /// over it before the reset.
    complete: bool,
    /// The update whose chunks were refused as "not running": its later
    /// chunks are ignored until it starts again at chunk 0, so the sender
    /// gets one refusal, not one per chunk in flight.
    refused_id: Option<String<MAX_ID_LEN>>,
    block: [u8; BLOCK_LEN],
}

fn short_id(id: &str) -> String<MAX_ID_LEN> {
    let mut short = String::new();
    for character in id.chars() {
        if short.push(character).is_err() {
            break;
        }
    }
    short
}

impl OtaReceiver {
    /// A receiver on a board running from `running_slot`: updates go to
    /// the other one.
    pub fn new(running_slot: usize) -> OtaReceiver {
        OtaReceiver {
            running_slot: running_slot.min(1),
            transfer: None,
            complete: false,
            refused_id: None,
            block: [0xFF; BLOCK_LEN],
        }
    }

    /// The slot an update is written to.
    pub fn target_slot(&self) -> usize {
        1 - self.running_slot
    }

    /// The id of the running update, if one is.
    pub fn running(&self) -> Option<&str> {
        self.transfer.as_ref().map(|transfer| transfer.id.as_str())
    }

    /// One chunk of update `id`, whose topic ends in `sha_hex`.
    pub fn on_chunk<F: NorFlash>(
        &mut self,
        flash: &mut F,
        now: Instant,
        id: &str,
        sha_hex: &str,
        payload: &[u8],
    ) -> ChunkOutcome {
        let Some((header, data)) = ChunkHeader::split(payload) else {
            return ChunkOutcome::Refused(OtaError::NoHeader);
        };
        let Some(sha) = parse_sha256_hex(sha_hex) else {
            return ChunkOutcome::Refused(OtaError::BadHashText);
        };
        if self.complete {
            return ChunkOutcome::Refused(OtaError::Complete);
        }
        if header.seq == 0 {
            self.refused_id = None;
            if let Some(transfer) = &self.transfer {
                let same = transfer.id == short_id(id);
                if !same && now.saturating_since(transfer.last_chunk_at) < STALE_AFTER {
                    return ChunkOutcome::Refused(OtaError::Busy {
                        id: transfer.id.clone(),
                    });
                }
                // The same update's chunk 0 again once it has gone
                // further: a duplicate (a sender going back after lost
                // replies), not a restart.
                if same && transfer.sha == sha && transfer.next_seq > 1 {
                    return self.duplicate(0);
                }
            }
            self.transfer = Some(Transfer {
                id: short_id(id),
                sha,
                slot: self.target_slot(),
                next_seq: 0,
                received: 0,
                buffered: 0,
                hasher: Sha256::new(),
                last_chunk_at: now,
                gap_reported: false,
            });
        }
        let Some(transfer) = self.transfer.as_mut() else {
            if self.refused_id.as_deref() == Some(short_id(id).as_str()) {
                return ChunkOutcome::Ignored { seq: header.seq };
            }
            self.refused_id = Some(short_id(id));
            return ChunkOutcome::Refused(OtaError::NotRunning { seq: header.seq });
        };
        if transfer.id != short_id(id) {
            return ChunkOutcome::Refused(OtaError::Busy {
                id: transfer.id.clone(),
            });
        }
        if transfer.sha != sha {
            self.transfer = None;
            return ChunkOutcome::Refused(OtaError::HashChanged);
        }
        if header.seq < transfer.next_seq {
            return self.duplicate(header.seq);
        }
        if header.seq > transfer.next_seq {
            if core::mem::replace(&mut transfer.gap_reported, true) {
                return ChunkOutcome::Ignored { seq: header.seq };
            }
            return ChunkOutcome::Refused(OtaError::OutOfOrder {
                seq: header.seq,
                expected: transfer.next_seq,
            });
        }
        transfer.gap_reported = false;
        transfer.last_chunk_at = now;
        let slot = &OTA_SLOTS[transfer.slot];
        let limit = slot.end - slot.start;
        if transfer.received as usize + data.len() > limit as usize {
            self.transfer = None;
            return ChunkOutcome::Refused(OtaError::TooBig { limit });
        }
        if let Err(error) = self.take(flash, data) {
            self.transfer = None;
            return ChunkOutcome::Refused(error);
        }
        let Some(transfer) = self.transfer.as_mut() else {
            return ChunkOutcome::Refused(OtaError::Flash);
        };
        transfer.next_seq = header.seq.saturating_add(1);
        if header.last {
            let outcome = self.finish(flash);
            self.transfer = None;
            self.complete = matches!(outcome, ChunkOutcome::Complete { .. });
            return outcome;
        }
        if header.seq.is_multiple_of(REPLY_EVERY) {
            ChunkOutcome::Progress {
                seq: header.seq,
                received: transfer.received,
            }
        } else {
            ChunkOutcome::Accepted { seq: header.seq }
        }
    }

    /// A chunk seen before: ignored, but a progress reply is repeated at
    /// every 8th, so a sender whose replies were lost learns how far the
    /// board is.
    fn duplicate(&self, seq: u16) -> ChunkOutcome {
        match &self.transfer {
            Some(transfer) if seq.is_multiple_of(REPLY_EVERY) => ChunkOutcome::Progress {
                seq: transfer.next_seq.saturating_sub(1),
                received: transfer.received,
            },
            _ => ChunkOutcome::Duplicate { seq },
        }
    }

    /// Hashes `data` and writes every block it fills.
    fn take<F: NorFlash>(&mut self, flash: &mut F, mut data: &[u8]) -> Result<(), OtaError> {
        let Some(transfer) = self.transfer.as_mut() else {
            return Err(OtaError::Flash);
        };
        transfer.hasher.update(data);
        while !data.is_empty() {
            let room = BLOCK_LEN - transfer.buffered;
            let (now, rest) = data.split_at(room.min(data.len()));
            self.block[transfer.buffered..transfer.buffered + now.len()].copy_from_slice(now);
            transfer.buffered += now.len();
            transfer.received += now.len() as u32;
            data = rest;
            if transfer.buffered == BLOCK_LEN {
                let offset = OTA_SLOTS[transfer.slot].start + transfer.received - BLOCK_LEN as u32;
                write_block(flash, offset, &self.block)?;
                transfer.buffered = 0;
            }
        }
        Ok(())
    }

    /// The last chunk is in: writes the last block (padded with `0xFF`),
    /// reads the slot back to check the hash of what is in flash, checks the
    /// descriptor, and activates the slot.
    fn finish<F: NorFlash>(&mut self, flash: &mut F) -> ChunkOutcome {
        let Some(transfer) = self.transfer.as_mut() else {
            return ChunkOutcome::Refused(OtaError::Flash);
        };
        let start = OTA_SLOTS[transfer.slot].start;
        if transfer.buffered > 0 {
            self.block[transfer.buffered..].fill(0xFF);
            let offset = start + transfer.received - transfer.buffered as u32;
            if write_block(flash, offset, &self.block).is_err() {
                return ChunkOutcome::Refused(OtaError::Flash);
            }
            transfer.buffered = 0;
        }
        let received: [u8; 32] = transfer.hasher.clone().finalize().into();
        if received != transfer.sha {
            return ChunkOutcome::Refused(OtaError::HashMismatch { actual: received });
        }
        let size = transfer.received;
        let mut hasher = Sha256::new();
        let mut position = 0;
        while position < size {
            let length = (size - position).min(BLOCK_LEN as u32) as usize;
            if flash
                .read(start + position, &mut self.block[..length])
                .is_err()
            {
                return ChunkOutcome::Refused(OtaError::Flash);
            }
            hasher.update(&self.block[..length]);
            position += length as u32;
        }
        let in_flash: [u8; 32] = hasher.finalize().into();
        if in_flash != transfer.sha {
            return ChunkOutcome::Refused(OtaError::Flash);
        }
        if (size as usize) < IMAGE_PREFIX_LEN {
            return ChunkOutcome::Refused(OtaError::NotAnImage(DescriptorError::TooShort));
        }
        let descriptor = match AppDescriptor::read(flash, start) {
            Ok(descriptor) => descriptor,
            Err(error) => return ChunkOutcome::Refused(OtaError::NotAnImage(error)),
        };
        let slot = transfer.slot;
        if otadata::activate(flash, slot).is_err() {
            return ChunkOutcome::Refused(OtaError::Flash);
        }
        ChunkOutcome::Complete {
            size,
            slot,
            descriptor,
        }
    }
}

/// Erases the sector at `offset` and writes a whole block into it.
fn write_block<F: NorFlash>(
    flash: &mut F,
    offset: u32,
    block: &[u8; BLOCK_LEN],
) -> Result<(), OtaError> {
    flash
        .erase(offset, offset + BLOCK_LEN as u32)
        .map_err(|_| OtaError::Flash)?;
    flash.write(offset, block).map_err(|_| OtaError::Flash)
}
