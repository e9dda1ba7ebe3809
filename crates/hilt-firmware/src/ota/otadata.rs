//! ESP-IDF's OTA data: which app slot the bootloader starts, and whether
//! that image is on trial.
//!
//! The `otadata` partition holds two entries (`esp_ota_select_entry_t`), one
//! at the start of each of its two sectors: a sequence number, a 20-byte
//! label (unused, erased), a state and a CRC-32 of the sequence number.
//! An entry is *valid* when its sequence number is not erased and its CRC
//! matches; the valid entry with the highest sequence number, unless its
//! state is invalid or aborted, selects slot `(seq - 1) % 2`. Without one
//! the bootloader starts slot 0 (a board fresh from the factory).
//!
//! With rollback (ESP-IDF's `CONFIG_BOOTLOADER_APP_ROLLBACK_ENABLE`), a
//! new image boots once on trial: [`boot`] turns `new` into
//! `pending_verify` and starts it; if it is still `pending_verify` at the
//! next boot, it never marked itself valid ([`mark_valid`]), so it becomes
//! `aborted` and the previous slot starts again. This is the bootloader's
//! logic as ordinary code: the simulation runs it at every boot of a
//! simulated board; on the chip ESP-IDF's bootloader does the same with the
//! same bytes.
//!
//! Every change rewrites one sector (erase, then write the 32 bytes). A
//! new slot is activated in the sector not holding the active entry, so a
//! power cut there leaves the old choice standing; a state change rewrites
//! the active entry in place, as ESP-IDF does, so a cut there leaves that
//! entry invalid and the other one selected.

use embedded_storage::nor_flash::NorFlash;

use super::image::AppDescriptor;
use crate::partitions::{OTA_DATA, OTA_SLOTS, SECTOR_SIZE};

/// Bytes of one entry.
pub const ENTRY_LEN: usize = 32;

/// `esp_ota_img_states_t`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum OtaState {
    /// Activated, never booted.
    New,
    /// Booted once on trial; must mark itself valid before the next boot.
    PendingVerify,
    /// Marked valid by the app.
    Valid,
    /// Marked invalid by the app.
    Invalid,
    /// Its trial ended without it marking itself valid: rolled back.
    Aborted,
    /// Erased (`0xFFFFFFFF`) or any other value: ESP-IDF treats it as
    /// valid without rollback.
    Undefined,
}

impl OtaState {
    fn code(self) -> u32 {
        match self {
            OtaState::New => 0,
            OtaState::PendingVerify => 1,
            OtaState::Valid => 2,
            OtaState::Invalid => 3,
            OtaState::Aborted => 4,
            OtaState::Undefined => u32::MAX,
        }
    }

    fn from_code(code: u32) -> OtaState {
        match code {
            0 => OtaState::New,
            1 => OtaState::PendingVerify,
            2 => OtaState::Valid,
            3 => OtaState::Invalid,
            4 => OtaState::Aborted,
            _ => OtaState::Undefined,
        }
    }

    /// The name in status messages: `new`, `pending_verify`, ...
    pub fn as_str(self) -> &'static str {
        match self {
            OtaState::New => "new",
            OtaState::PendingVerify => "pending_verify",
            OtaState::Valid => "valid",
            OtaState::Invalid => "invalid",
            OtaState::Aborted => "aborted",
            OtaState::Undefined => "undefined",
        }
    }

    fn selectable(self) -> bool {
        !matches!(self, OtaState::Invalid | OtaState::Aborted)
    }
}

/// ESP-IDF's `crc32_le(UINT32_MAX, ...)` (the ROM's CRC-32: reflected
/// 0x04C11DB7, starting from zero, inverted at the end).
const CRC: crc::Crc<u32> = crc::Crc::<u32>::new(&crc::Algorithm {
    width: 32,
    poly: 0x04C1_1DB7,
    init: 0,
    refin: true,
    refout: true,
    xorout: 0xFFFF_FFFF,
    check: 0x2DFD_2D88,
    residue: 0,
});

/// What the app writes into an entry's label (which ESP-IDF's bootloader
/// ignores) when it, rather than the bootloader, put the entry on trial;
/// see [`boot_from_app`].
pub const APP_TRIAL_LABEL: &[u8] = b"hilt: trial by app";

/// One valid entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OtaEntry {
    pub seq: u32,
    pub state: OtaState,
    /// The app, not the bootloader, started this entry's trial: its label
    /// holds [`APP_TRIAL_LABEL`].
    pub trial_by_app: bool,
}

/// Where the 20-byte label starts in an entry.
const LABEL_AT: usize = 4;

impl OtaEntry {
    /// An entry whose label is erased, as ESP-IDF writes them.
    pub fn new(seq: u32, state: OtaState) -> OtaEntry {
        OtaEntry {
            seq,
            state,
            trial_by_app: false,
        }
    }

    /// The slot this entry selects.
    pub fn slot(self) -> usize {
        (self.seq.wrapping_sub(1) % 2) as usize
    }

    /// The 32 bytes as the bootloader reads them.
    pub fn encode(self) -> [u8; ENTRY_LEN] {
        let mut bytes = [0xFF; ENTRY_LEN];
        bytes[..4].copy_from_slice(&self.seq.to_le_bytes());
        if self.trial_by_app {
            bytes[LABEL_AT..LABEL_AT + APP_TRIAL_LABEL.len()].copy_from_slice(APP_TRIAL_LABEL);
        }
        bytes[24..28].copy_from_slice(&self.state.code().to_le_bytes());
        bytes[28..].copy_from_slice(&CRC.checksum(&self.seq.to_le_bytes()).to_le_bytes());
        bytes
    }

    /// The entry, when the bytes are a valid one.
    pub fn decode(bytes: &[u8; ENTRY_LEN]) -> Option<OtaEntry> {
        let word = |at: usize| {
            u32::from_le_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]])
        };
        let seq = word(0);
        if seq == u32::MAX || word(28) != CRC.checksum(&bytes[..4]) {
            return None;
        }
        Some(OtaEntry {
            seq,
            state: OtaState::from_code(word(24)),
            trial_by_app: bytes[LABEL_AT..].starts_with(APP_TRIAL_LABEL),
        })
    }
}

/// Why the OTA data could not be read or changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OtaDataError {
    /// The flash refused a read, erase or write.
    Flash,
    /// There is no active entry to change (mark valid on a factory board).
    NoActiveEntry,
}

impl core::fmt::Display for OtaDataError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            OtaDataError::Flash => "the OTA data could not be read or written",
            OtaDataError::NoActiveEntry => "no OTA data entry selects the running slot",
        })
    }
}

/// Both entries as read, by sector.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OtaData {
    pub entries: [Option<OtaEntry>; 2],
}

fn sector_offset(sector: usize) -> u32 {
    OTA_DATA.start + sector as u32 * SECTOR_SIZE
}

impl OtaData {
    /// Reads both entries.
    pub fn read<F: NorFlash>(flash: &mut F) -> Result<OtaData, OtaDataError> {
        let mut entries = [None; 2];
        for (sector, entry) in entries.iter_mut().enumerate() {
            let mut bytes = [0u8; ENTRY_LEN];
            flash
                .read(sector_offset(sector), &mut bytes)
                .map_err(|_| OtaDataError::Flash)?;
            *entry = OtaEntry::decode(&bytes);
        }
        Ok(OtaData { entries })
    }

    /// The sector of the entry that selects the slot, and the entry.
    pub fn active(&self) -> Option<(usize, OtaEntry)> {
        self.entries
            .iter()
            .enumerate()
            .filter_map(|(sector, entry)| entry.map(|entry| (sector, entry)))
            .filter(|(_, entry)| entry.state.selectable())
            .max_by_key(|(_, entry)| entry.seq)
    }

    /// The slot the bootloader starts: the active entry's, or 0.
    pub fn selected_slot(&self) -> usize {
        self.active().map_or(0, |(_, entry)| entry.slot())
    }

    /// The slot whose image was rolled back and not replaced since: an
    /// aborted entry newer than the active one.
    pub fn rolled_back_slot(&self) -> Option<usize> {
        let active_seq = self.active().map_or(0, |(_, entry)| entry.seq);
        self.entries
            .iter()
            .flatten()
            .find(|entry| entry.state == OtaState::Aborted && entry.seq > active_seq)
            .map(|entry| entry.slot())
    }

    fn highest_seq(&self) -> u32 {
        self.entries
            .iter()
            .flatten()
            .map(|entry| entry.seq)
            .max()
            .unwrap_or(0)
    }
}

fn write_entry<F: NorFlash>(
    flash: &mut F,
    sector: usize,
    entry: OtaEntry,
) -> Result<(), OtaDataError> {
    let offset = sector_offset(sector);
    flash
        .erase(offset, offset + SECTOR_SIZE)
        .map_err(|_| OtaDataError::Flash)?;
    flash
        .write(offset, &entry.encode())
        .map_err(|_| OtaDataError::Flash)
}

/// Makes `slot` the one to boot next, as `new` (on trial at its first
/// boot), in the sector that does not hold the active entry.
pub fn activate<F: NorFlash>(flash: &mut F, slot: usize) -> Result<(), OtaDataError> {
    let data = OtaData::read(flash)?;
    let mut seq = data.highest_seq() + 1;
    if (seq - 1) % 2 != slot as u32 % 2 {
        seq += 1;
    }
    let sector = data.active().map_or(0, |(sector, _)| 1 - sector);
    write_entry(flash, sector, OtaEntry::new(seq, OtaState::New))
}

/// The running image marks itself valid: no rollback at the next boot.
/// Does nothing unless the active entry is on trial.
pub fn mark_valid<F: NorFlash>(flash: &mut F) -> Result<bool, OtaDataError> {
    let data = OtaData::read(flash)?;
    let (sector, entry) = data.active().ok_or(OtaDataError::NoActiveEntry)?;
    if !matches!(entry.state, OtaState::PendingVerify | OtaState::New) {
        return Ok(false);
    }
    write_entry(flash, sector, OtaEntry::new(entry.seq, OtaState::Valid))?;
    Ok(true)
}

/// What the bootloader decided.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BootDecision {
    /// The slot it starts.
    pub slot: usize,
    /// The image boots on trial (`pending_verify`) and is rolled back
    /// unless it marks itself valid before the next boot.
    pub trial: bool,
    /// This boot rolled back the image in this slot.
    pub rolled_back: Option<usize>,
}

/// The bootloader's choice at one boot, with rollback: a `pending_verify`
/// image that is booting again is aborted; a `new` one becomes
/// `pending_verify` and boots on trial. A slot without an app descriptor
/// is not started: the other is, if it has one. When the OTA data cannot
/// be written the choice stands without the change, as ESP-IDF's does.
pub fn boot<F: NorFlash>(flash: &mut F) -> BootDecision {
    take_rollback_steps(flash, TrialKeeper::Bootloader)
}

/// The bootloader's rollback steps, taken by the app as the first thing it
/// does, for a chip whose bootloader may have been built without rollback
/// (espflash's prebuilt one, which `cargo run` flashes, is ESP-IDF's
/// default build): such a bootloader starts a `new` image and changes
/// nothing. The app then puts it on trial itself, marking the entry's
/// label with [`APP_TRIAL_LABEL`]; finding that mark on a `pending_verify`
/// entry at a later start means the trial failed, so the entry is aborted
/// and the decision names the other slot, which the app must reset into
/// (the bootloader then starts it, since an aborted entry is never
/// selected). A `pending_verify` entry without the mark was put on trial
/// by a bootloader with rollback at this very boot, and is left to it.
pub fn boot_from_app<F: NorFlash>(flash: &mut F) -> BootDecision {
    take_rollback_steps(flash, TrialKeeper::App)
}

/// Who takes the rollback steps at a boot.
#[derive(Clone, Copy, PartialEq, Eq)]
enum TrialKeeper {
    Bootloader,
    App,
}

fn take_rollback_steps<F: NorFlash>(flash: &mut F, keeper: TrialKeeper) -> BootDecision {
    let mut rolled_back = None;
    let mut trial = false;
    if let Ok(data) = OtaData::read(flash)
        && let Some((sector, entry)) = data.active()
    {
        match entry.state {
            OtaState::PendingVerify if keeper == TrialKeeper::Bootloader || entry.trial_by_app => {
                let _ = write_entry(flash, sector, OtaEntry::new(entry.seq, OtaState::Aborted));
                rolled_back = Some(entry.slot());
            }
            OtaState::PendingVerify => trial = true,
            OtaState::New => {
                let on_trial = OtaEntry {
                    trial_by_app: keeper == TrialKeeper::App,
                    ..OtaEntry::new(entry.seq, OtaState::PendingVerify)
                };
                trial = write_entry(flash, sector, on_trial).is_ok();
            }
            _ => {}
        }
    }
    let slot = OtaData::read(flash).map_or(0, |data| data.selected_slot());
    let bootable =
        |flash: &mut F, slot: usize| AppDescriptor::read(flash, OTA_SLOTS[slot].start).is_ok();
    if !bootable(flash, slot) && bootable(flash, 1 - slot) {
        return BootDecision {
            slot: 1 - slot,
            trial: false,
            rolled_back,
        };
    }
    BootDecision {
        slot,
        trial,
        rolled_back,
    }
}
