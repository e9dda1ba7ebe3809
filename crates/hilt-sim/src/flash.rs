//! A NOR flash chip, modelled: what the ESP32-C3's SPI flash does to the
//! bytes an app writes, including what a power cut leaves behind.
//!
//! - Erased flash reads `0xFF`. An erase works on whole sectors
//!   ([`SECTOR_SIZE`], 4 KiB, as esp-storage's `ERASE_SIZE`).
//! - A write can only clear bits: the new content is the old one ANDed with
//!   what is written, so writing over written bytes without an erase gives
//!   neither the old nor the new bytes, as on the chip. Writes are in words
//!   of [`WORD_SIZE`] bytes, at word offsets (esp-storage's `WRITE_SIZE`).
//! - Power can be cut during any erase or write ([`FlashModel::cut_power_during`]):
//!   that operation is left half done (half the sector erased, half the
//!   bytes written), the firmware's call fails, every later call fails too,
//!   and the runner power-cycles the device ([`FlashModel::take_power_loss`]).
//! - Bytes can rot, or a foreign tool can write over a partition
//!   ([`FlashModel::corrupt`]): garbage replaces what was there, whatever
//!   it was, without an erase; the firmware finds it at its next read.
//!
//! The firmware owns a [`SimFlash`] through the `embedded-storage` NOR flash
//! traits (blocking and async, as sequential-storage asks); the runner
//! holds the [`FlashModel`], which outlives the firmware across resets, as
//! the chip's flash does.

use std::cell::RefCell;
use std::rc::Rc;

use embedded_storage::nor_flash::{
    ErrorType, MultiwriteNorFlash, NorFlash, NorFlashError, NorFlashErrorKind, ReadNorFlash,
};

use crate::random::SplitMix64;

/// Bytes in one erase sector.
pub const SECTOR_SIZE: usize = 4096;
/// Bytes in one write word.
pub const WORD_SIZE: usize = 4;

/// Why a flash operation failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum FlashError {
    /// The range runs past the end of the flash.
    #[error("the range runs past the end of the flash")]
    OutOfBounds,
    /// The offset or length is not a whole number of sectors (erase) or
    /// words (write).
    #[error("the offset or length is not aligned")]
    NotAligned,
    /// Power was cut: the chip is off until it is power-cycled.
    #[error("power was cut")]
    PowerLost,
}

impl NorFlashError for FlashError {
    fn kind(&self) -> NorFlashErrorKind {
        match self {
            FlashError::OutOfBounds => NorFlashErrorKind::OutOfBounds,
            FlashError::NotAligned => NorFlashErrorKind::NotAligned,
            FlashError::PowerLost => NorFlashErrorKind::Other,
        }
    }
}

#[derive(Debug)]
struct FlashState {
    bytes: Vec<u8>,
    /// Erases and writes done since the chip was made.
    operations: u64,
    /// The operation (by count) during which power goes.
    cut_power_at: Option<u64>,
    /// Power went; every operation fails until a power cycle.
    powered_off: bool,
    /// Power went and the runner has not yet been told.
    loss_unreported: bool,
}

impl FlashState {
    /// Starts operation number `self.operations`: whether power goes
    /// during it.
    fn begin_operation(&mut self) -> Result<bool, FlashError> {
        if self.powered_off {
            return Err(FlashError::PowerLost);
        }
        let cut = self.cut_power_at == Some(self.operations);
        self.operations += 1;
        if cut {
            self.cut_power_at = None;
            self.powered_off = true;
            self.loss_unreported = true;
        }
        Ok(cut)
    }

    fn check_range(
        &self,
        offset: u32,
        length: usize,
    ) -> Result<std::ops::Range<usize>, FlashError> {
        let start = usize::try_from(offset).map_err(|_| FlashError::OutOfBounds)?;
        let end = start.checked_add(length).ok_or(FlashError::OutOfBounds)?;
        if end > self.bytes.len() {
            return Err(FlashError::OutOfBounds);
        }
        Ok(start..end)
    }
}

/// The runner's side of a device's flash chip.
#[derive(Clone, Debug)]
pub struct FlashModel {
    state: Rc<RefCell<FlashState>>,
}

impl FlashModel {
    /// An erased chip of `size` bytes (rounded up to whole sectors).
    pub fn new(size: usize) -> FlashModel {
        let size = size.div_ceil(SECTOR_SIZE) * SECTOR_SIZE;
        FlashModel {
            state: Rc::new(RefCell::new(FlashState {
                bytes: vec![0xFF; size],
                operations: 0,
                cut_power_at: None,
                powered_off: false,
                loss_unreported: false,
            })),
        }
    }

    /// The handle the firmware of the current boot owns. Making one powers
    /// the chip again after a cut.
    pub fn handle(&self) -> SimFlash {
        self.state.borrow_mut().powered_off = false;
        SimFlash {
            state: self.state.clone(),
        }
    }

    /// Power goes during the `operations_from_now`-th erase or write from
    /// now (0: the next one), which is left half done.
    pub fn cut_power_during(&self, operations_from_now: u64) {
        let mut state = self.state.borrow_mut();
        state.cut_power_at = Some(state.operations + operations_from_now);
    }

    /// Whether power was cut since the last call: the runner then
    /// power-cycles the device.
    pub fn take_power_loss(&self) -> bool {
        std::mem::take(&mut self.state.borrow_mut().loss_unreported)
    }

    /// Erases and writes done so far.
    pub fn operations(&self) -> u64 {
        self.state.borrow().operations
    }

    /// The chip's size in bytes.
    pub fn size(&self) -> usize {
        self.state.borrow().bytes.len()
    }

    /// Writes garbage over `range`, as bit rot or a foreign tool would leave
    /// it: every byte replaced (not ANDed, so no erase is needed first) by
    /// one drawn from `seed`, the same bytes for the same seed every run.
    /// It is not an operation of the firmware's: it is not counted, a power
    /// cut waiting for the next operation stays waiting, and it works on a
    /// chip whose power is cut.
    pub fn corrupt(&self, range: std::ops::Range<usize>, seed: u64) -> Result<(), FlashError> {
        let mut state = self.state.borrow_mut();
        if range.start > range.end || range.end > state.bytes.len() {
            return Err(FlashError::OutOfBounds);
        }
        let mut garbage = SplitMix64::new(seed);
        for chunk in state.bytes[range].chunks_mut(8) {
            let word = garbage.next_u64().to_le_bytes();
            chunk.copy_from_slice(&word[..chunk.len()]);
        }
        Ok(())
    }

    /// A copy of `length` bytes at `offset`, for tests and inspection.
    pub fn contents(&self, offset: usize, length: usize) -> Vec<u8> {
        self.state.borrow().bytes[offset..offset + length].to_vec()
    }
}

/// The firmware's side of the flash chip; see the module documentation.
/// Clones are handles on the same chip, as each ESP-IDF partition handle
/// is (the firmware gives one to each user of a partition).
#[derive(Clone, Debug)]
pub struct SimFlash {
    state: Rc<RefCell<FlashState>>,
}

impl ErrorType for SimFlash {
    type Error = FlashError;
}

impl ReadNorFlash for SimFlash {
    const READ_SIZE: usize = 1;

    fn read(&mut self, offset: u32, bytes: &mut [u8]) -> Result<(), FlashError> {
        let state = self.state.borrow();
        if state.powered_off {
            return Err(FlashError::PowerLost);
        }
        let range = state.check_range(offset, bytes.len())?;
        bytes.copy_from_slice(&state.bytes[range]);
        Ok(())
    }

    fn capacity(&self) -> usize {
        self.state.borrow().bytes.len()
    }
}

impl NorFlash for SimFlash {
    const WRITE_SIZE: usize = WORD_SIZE;
    const ERASE_SIZE: usize = SECTOR_SIZE;

    fn erase(&mut self, from: u32, to: u32) -> Result<(), FlashError> {
        let mut state = self.state.borrow_mut();
        let length = usize::try_from(to.checked_sub(from).ok_or(FlashError::NotAligned)?)
            .map_err(|_| FlashError::OutOfBounds)?;
        let range = state.check_range(from, length)?;
        if !range.start.is_multiple_of(SECTOR_SIZE) || !length.is_multiple_of(SECTOR_SIZE) {
            return Err(FlashError::NotAligned);
        }
        let cut = state.begin_operation()?;
        let erased_up_to = if cut {
            // Half of the first sector, and nothing after it.
            range.start + SECTOR_SIZE.min(length) / 2
        } else {
            range.end
        };
        state.bytes[range.start..erased_up_to].fill(0xFF);
        if cut {
            return Err(FlashError::PowerLost);
        }
        Ok(())
    }

    fn write(&mut self, offset: u32, bytes: &[u8]) -> Result<(), FlashError> {
        let mut state = self.state.borrow_mut();
        let range = state.check_range(offset, bytes.len())?;
        if !range.start.is_multiple_of(WORD_SIZE) || !bytes.len().is_multiple_of(WORD_SIZE) {
            return Err(FlashError::NotAligned);
        }
        let cut = state.begin_operation()?;
        let written = if cut {
            (bytes.len() / 2) / WORD_SIZE * WORD_SIZE
        } else {
            bytes.len()
        };
        for (stored, new) in state.bytes[range.start..range.start + written]
            .iter_mut()
            .zip(bytes)
        {
            // NOR flash can only clear bits.
            *stored &= new;
        }
        if cut {
            return Err(FlashError::PowerLost);
        }
        Ok(())
    }
}

/// Writing over written words ANDs them, which is what this marker
/// promises (sequential-storage relies on it to mark items erased).
impl MultiwriteNorFlash for SimFlash {}

impl embedded_storage_async::nor_flash::ReadNorFlash for SimFlash {
    const READ_SIZE: usize = 1;

    async fn read(&mut self, offset: u32, bytes: &mut [u8]) -> Result<(), FlashError> {
        ReadNorFlash::read(self, offset, bytes)
    }

    fn capacity(&self) -> usize {
        ReadNorFlash::capacity(self)
    }
}

impl embedded_storage_async::nor_flash::NorFlash for SimFlash {
    const WRITE_SIZE: usize = WORD_SIZE;
    const ERASE_SIZE: usize = SECTOR_SIZE;

    async fn erase(&mut self, from: u32, to: u32) -> Result<(), FlashError> {
        NorFlash::erase(self, from, to)
    }

    async fn write(&mut self, offset: u32, bytes: &[u8]) -> Result<(), FlashError> {
        NorFlash::write(self, offset, bytes)
    }
}

impl embedded_storage_async::nor_flash::MultiwriteNorFlash for SimFlash {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn erased_flash_reads_ff_and_a_write_can_only_clear_bits() {
        let model = FlashModel::new(2 * SECTOR_SIZE);
        let mut flash = model.handle();
        let mut word = [0; 4];
        ReadNorFlash::read(&mut flash, 0, &mut word).unwrap();
        assert_eq!(word, [0xFF; 4]);
        NorFlash::write(&mut flash, 0, &[0b1010_1010; 4]).unwrap();
        NorFlash::write(&mut flash, 0, &[0b0110_0110; 4]).unwrap();
        assert_eq!(model.contents(0, 4), [0b0010_0010; 4]);
        NorFlash::erase(&mut flash, 0, SECTOR_SIZE as u32).unwrap();
        assert_eq!(model.contents(0, 4), [0xFF; 4]);
    }

    #[test]
    fn misaligned_and_out_of_range_operations_are_refused() {
        let model = FlashModel::new(SECTOR_SIZE);
        let mut flash = model.handle();
        assert_eq!(
            NorFlash::write(&mut flash, 2, &[0; 4]),
            Err(FlashError::NotAligned)
        );
        assert_eq!(
            NorFlash::write(&mut flash, 0, &[0; 3]),
            Err(FlashError::NotAligned)
        );
        assert_eq!(
            NorFlash::erase(&mut flash, 0, 100),
            Err(FlashError::NotAligned)
        );
        assert_eq!(
            NorFlash::write(&mut flash, SECTOR_SIZE as u32, &[0; 4]),
            Err(FlashError::OutOfBounds)
        );
        assert_eq!(model.operations(), 0);
    }

    #[test]
    fn a_power_cut_leaves_the_write_half_done_and_the_chip_off_until_a_power_cycle() {
        let model = FlashModel::new(SECTOR_SIZE);
        let mut flash = model.handle();
        NorFlash::write(&mut flash, 0, &[0x11; 8]).unwrap();
        model.cut_power_during(0);
        assert_eq!(
            NorFlash::write(&mut flash, 8, &[0x00; 8]),
            Err(FlashError::PowerLost)
        );
        assert_eq!(model.contents(8, 8), [0, 0, 0, 0, 0xFF, 0xFF, 0xFF, 0xFF]);
        assert!(model.take_power_loss());
        assert!(!model.take_power_loss());
        let mut word = [0; 4];
        assert_eq!(
            ReadNorFlash::read(&mut flash, 0, &mut word),
            Err(FlashError::PowerLost)
        );
        // The next boot's handle finds what was written before the cut.
        let mut flash = model.handle();
        ReadNorFlash::read(&mut flash, 0, &mut word).unwrap();
        assert_eq!(word, [0x11; 4]);
    }

    #[test]
    fn corruption_replaces_the_bytes_of_its_range_the_same_way_every_time() {
        let model = FlashModel::new(2 * SECTOR_SIZE);
        let mut flash = model.handle();
        NorFlash::write(&mut flash, 0, &[0x00; 16]).unwrap();
        model.cut_power_during(0);
        model.corrupt(4..SECTOR_SIZE + 4, 7).unwrap();
        // Outside the range nothing changed; inside, written (0x00) and
        // erased (0xFF) bytes alike became garbage, not their AND with it.
        assert_eq!(model.contents(0, 4), [0x00; 4]);
        assert_eq!(model.contents(SECTOR_SIZE + 4, 4), [0xFF; 4]);
        let garbage = model.contents(4, SECTOR_SIZE);
        // ANDed with the written zeros they would have stayed zeros.
        assert!(garbage[..12].iter().any(|&byte| byte != 0x00));
        assert!(garbage[12..].iter().any(|&byte| byte != 0xFF));
        // Not an operation of the firmware's: the waiting cut still comes
        // at the firmware's next write.
        assert_eq!(model.operations(), 1);
        assert_eq!(
            NorFlash::write(&mut flash, 4096, &[0; 4]),
            Err(FlashError::PowerLost)
        );
        // Nor does a chip without power stop it.
        model.corrupt(0..4, 7).unwrap();
        assert_eq!(model.contents(0, 4), garbage[..4]);
        // The same seed gives the same garbage; another seed other garbage.
        let again = FlashModel::new(2 * SECTOR_SIZE);
        again.corrupt(4..SECTOR_SIZE + 4, 7).unwrap();
        assert_eq!(again.contents(4, SECTOR_SIZE), garbage);
        again.corrupt(4..SECTOR_SIZE + 4, 8).unwrap();
        assert_ne!(again.contents(4, SECTOR_SIZE), garbage);
        assert_eq!(
            model.corrupt(SECTOR_SIZE..3 * SECTOR_SIZE, 7),
            Err(FlashError::OutOfBounds)
        );
    }

    #[test]
    fn a_power_cut_during_an_erase_erases_half_a_sector() {
        let model = FlashModel::new(2 * SECTOR_SIZE);
        let mut flash = model.handle();
        NorFlash::write(&mut flash, 0, &vec![0; 2 * SECTOR_SIZE]).unwrap();
        model.cut_power_during(0);
        assert_eq!(
            NorFlash::erase(&mut flash, 0, 2 * SECTOR_SIZE as u32),
            Err(FlashError::PowerLost)
        );
        assert_eq!(model.contents(0, 1), [0xFF]);
        assert_eq!(model.contents(SECTOR_SIZE / 2, 1), [0]);
        assert_eq!(model.contents(SECTOR_SIZE, 1), [0]);
    }
}
