//! App images as ESP-IDF lays them out: the image header (magic `0xE9`),
//! the first segment's header, then the app descriptor (`esp_app_desc_t`,
//! magic `0xABCD5432`) at byte [`DESCRIPTOR_OFFSET`], which holds the
//! app's version string and project name. The board reads the version it
//! reports from the descriptor of the slot it runs; an update whose image
//! has no descriptor is refused.
//!
//! The simulation's images are a descriptor and filler. What such an image
//! does at boot ([`SimulatedBoot`]) is kept in the descriptor's last
//! reserved byte, which ESP-IDF leaves zero: a real image there "runs".

use embedded_storage::nor_flash::ReadNorFlash;
use heapless::String;

/// Where the app descriptor starts in an image: after the 24-byte image
/// header and the 8-byte header of the first segment.
pub const DESCRIPTOR_OFFSET: usize = 0x20;
/// Bytes of `esp_app_desc_t`.
pub const DESCRIPTOR_LEN: usize = 256;
/// The first byte of every ESP image.
pub const IMAGE_MAGIC: u8 = 0xE9;
/// `esp_app_desc_t.magic_word`.
pub const DESCRIPTOR_MAGIC: u32 = 0xABCD_5432;
/// Bytes of the version and project name fields.
pub const TEXT_FIELD_LEN: usize = 32;

const VERSION_AT: usize = 16;
const PROJECT_AT: usize = 48;
/// The last reserved byte (of `reserv2`), where a simulated image says
/// what it does at boot.
const SIMULATED_BOOT_AT: usize = DESCRIPTOR_LEN - 1;

/// What a simulated image does when it boots.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum SimulatedBoot {
    /// Runs normally (every real image).
    #[default]
    Runs,
    /// Panics at boot, every boot.
    Crashes,
    /// Its main loop gets stuck at boot: the watchdog resets it.
    Hangs,
}

impl SimulatedBoot {
    /// The names scenarios use: `runs`, `crashes`, `hangs`.
    pub fn as_str(self) -> &'static str {
        match self {
            SimulatedBoot::Runs => "runs",
            SimulatedBoot::Crashes => "crashes",
            SimulatedBoot::Hangs => "hangs",
        }
    }

    fn code(self) -> u8 {
        match self {
            SimulatedBoot::Runs => 0,
            SimulatedBoot::Crashes => 1,
            SimulatedBoot::Hangs => 2,
        }
    }

    fn from_code(code: u8) -> SimulatedBoot {
        match code {
            1 => SimulatedBoot::Crashes,
            2 => SimulatedBoot::Hangs,
            // Zero on every real image; anything else unknown runs too.
            _ => SimulatedBoot::Runs,
        }
    }
}

/// What an image's app descriptor says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AppDescriptor {
    /// `esp_app_desc_t.version`, e.g. `0.2.0`.
    pub version: String<TEXT_FIELD_LEN>,
    /// `esp_app_desc_t.project_name`, e.g. `node-manager`.
    pub project_name: String<TEXT_FIELD_LEN>,
    /// What a simulated image does at boot.
    pub boots: SimulatedBoot,
}

/// Why an image's descriptor could not be read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DescriptorError {
    /// The image is shorter than its header and descriptor.
    TooShort,
    /// The first byte is not the image magic `0xE9`.
    NotAnImage,
    /// The descriptor's magic word is missing.
    NoDescriptor,
    /// The flash could not be read.
    Flash,
}

impl core::fmt::Display for DescriptorError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            DescriptorError::TooShort => "shorter than an app image's header",
            DescriptorError::NotAnImage => "not an ESP app image (no 0xE9 magic)",
            DescriptorError::NoDescriptor => "no app descriptor (esp_app_desc_t) in the image",
            DescriptorError::Flash => "the flash could not be read",
        })
    }
}

/// Bytes of an image up to the end of its descriptor.
pub const IMAGE_PREFIX_LEN: usize = DESCRIPTOR_OFFSET + DESCRIPTOR_LEN;

impl AppDescriptor {
    /// Reads the descriptor from the first [`IMAGE_PREFIX_LEN`] bytes of an
    /// image.
    pub fn parse(image: &[u8]) -> Result<AppDescriptor, DescriptorError> {
        let prefix = image
            .get(..IMAGE_PREFIX_LEN)
            .ok_or(DescriptorError::TooShort)?;
        if prefix[0] != IMAGE_MAGIC {
            return Err(DescriptorError::NotAnImage);
        }
        let descriptor = &prefix[DESCRIPTOR_OFFSET..];
        let magic =
            u32::from_le_bytes([descriptor[0], descriptor[1], descriptor[2], descriptor[3]]);
        if magic != DESCRIPTOR_MAGIC {
            return Err(DescriptorError::NoDescriptor);
        }
        Ok(AppDescriptor {
            version: text_field(&descriptor[VERSION_AT..VERSION_AT + TEXT_FIELD_LEN]),
            project_name: text_field(&descriptor[PROJECT_AT..PROJECT_AT + TEXT_FIELD_LEN]),
            boots: SimulatedBoot::from_code(descriptor[SIMULATED_BOOT_AT]),
        })
    }

    /// Reads the descriptor of the image in flash at `offset`.
    pub fn read<F: ReadNorFlash>(
        flash: &mut F,
        offset: u32,
    ) -> Result<AppDescriptor, DescriptorError> {
        let mut prefix = [0u8; IMAGE_PREFIX_LEN];
        flash
            .read(offset, &mut prefix)
            .map_err(|_| DescriptorError::Flash)?;
        AppDescriptor::parse(&prefix)
    }

    /// Writes an image header, a segment header and this descriptor into
    /// the first [`IMAGE_PREFIX_LEN`] bytes of `image` (the simulation's
    /// images, and tests). Fields too long are cut.
    pub fn write_prefix(&self, image: &mut [u8; IMAGE_PREFIX_LEN]) {
        image.fill(0);
        image[0] = IMAGE_MAGIC;
        // One segment; the ESP32-C3's chip id (5) at byte 12.
        image[1] = 1;
        image[12] = 5;
        let descriptor = &mut image[DESCRIPTOR_OFFSET..];
        descriptor[..4].copy_from_slice(&DESCRIPTOR_MAGIC.to_le_bytes());
        put_text(
            &mut descriptor[VERSION_AT..VERSION_AT + TEXT_FIELD_LEN],
            &self.version,
        );
        put_text(
            &mut descriptor[PROJECT_AT..PROJECT_AT + TEXT_FIELD_LEN],
            &self.project_name,
        );
        descriptor[SIMULATED_BOOT_AT] = self.boots.code();
    }
}

/// A NUL-terminated field; what is not UTF-8 is cut where it stops being.
fn text_field(bytes: &[u8]) -> String<TEXT_FIELD_LEN> {
    let end = bytes
        .iter()
        .position(|&byte| byte == 0)
        .unwrap_or(bytes.len());
    let text = match core::str::from_utf8(&bytes[..end]) {
        Ok(text) => text,
        Err(error) => core::str::from_utf8(&bytes[..error.valid_up_to()]).unwrap_or(""),
    };
    let mut field = String::new();
    let _ = field.push_str(text);
    field
}

/// Copies `text` into a NUL-terminated field, leaving room for the NUL.
fn put_text(field: &mut [u8], text: &str) {
    let mut length = text.len().min(field.len() - 1);
    while !text.is_char_boundary(length) {
        length -= 1;
    }
    field[..length].copy_from_slice(&text.as_bytes()[..length]);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn descriptor(version: &str, boots: SimulatedBoot) -> AppDescriptor {
        let mut text = String::new();
        text.push_str(version).unwrap();
        let mut project = String::new();
        project.push_str("node-manager").unwrap();
        AppDescriptor {
            version: text,
            project_name: project,
            boots,
        }
    }

    #[test]
    fn a_descriptor_reads_back_what_was_written() {
        for boots in [
            SimulatedBoot::Runs,
            SimulatedBoot::Crashes,
            SimulatedBoot::Hangs,
        ] {
            let written = descriptor("0.2.0-rc.1", boots);
            let mut image = [0u8; IMAGE_PREFIX_LEN];
            written.write_prefix(&mut image);
            assert_eq!(AppDescriptor::parse(&image), Ok(written));
        }
    }

    #[test]
    fn images_without_magic_or_descriptor_are_told_apart() {
        let mut image = [0u8; IMAGE_PREFIX_LEN];
        descriptor("1", SimulatedBoot::Runs).write_prefix(&mut image);
        assert_eq!(
            AppDescriptor::parse(&image[..100]),
            Err(DescriptorError::TooShort)
        );
        let mut wrong = image;
        wrong[0] = 0xFF;
        assert_eq!(
            AppDescriptor::parse(&wrong),
            Err(DescriptorError::NotAnImage)
        );
        let mut wrong = image;
        wrong[DESCRIPTOR_OFFSET] ^= 1;
        assert_eq!(
            AppDescriptor::parse(&wrong),
            Err(DescriptorError::NoDescriptor)
        );
    }

    #[test]
    fn a_long_version_is_cut_to_the_field_and_stays_text() {
        let mut image = [0u8; IMAGE_PREFIX_LEN];
        let mut written = descriptor("", SimulatedBoot::Runs);
        written.version.clear();
        written.version.push_str("éééééééééééééééé").ok();
        written.write_prefix(&mut image);
        let read = AppDescriptor::parse(&image).unwrap();
        assert!(read.version.len() < TEXT_FIELD_LEN);
        assert!(read.version.chars().all(|character| character == 'é'));
        assert!(!read.version.is_empty());
    }
}
