//! The simulation's firmware images: an ESP app image's header and app
//! descriptor (`hilt_firmware::ota::image`), saying the version and what
//! the image does at boot, then filler up to the size asked for.

use embedded_storage::nor_flash::NorFlash;
use hilt_firmware::ota::image::{AppDescriptor, IMAGE_PREFIX_LEN, SimulatedBoot};
use hilt_firmware::partitions::OTA_SLOTS;

/// The factory image's size: a whole number of sectors.
pub const FACTORY_IMAGE_LEN: usize = 64 * 1024;

/// Writes the factory image (node-manager at this hilt's version) into
/// slot 0 of a blank flash, as flashing over USB does; the OTA data stays
/// blank, so the bootloader starts slot 0.
pub fn flash_factory_image(flash: &mut impl NorFlash) {
    let image = simulated_image(
        "node-manager",
        hilt_firmware::VERSION,
        SimulatedBoot::Runs,
        FACTORY_IMAGE_LEN,
    );
    let start = OTA_SLOTS[0].start;
    let end = start + FACTORY_IMAGE_LEN as u32;
    // A fresh chip accepts both; a failure would show as no descriptor.
    let _ = flash.erase(start, end);
    let _ = flash.write(start, &image);
}

/// An image of `size` bytes (at least the descriptor's) for app
/// `project`, version `version`, that `boots` as said. The filler is a
/// fixed pattern, so the same arguments give the same bytes and hash.
pub fn simulated_image(project: &str, version: &str, boots: SimulatedBoot, size: usize) -> Vec<u8> {
    let mut descriptor = AppDescriptor {
        version: hilt_firmware::heapless::String::new(),
        project_name: hilt_firmware::heapless::String::new(),
        boots,
    };
    push_cut(&mut descriptor.version, version);
    push_cut(&mut descriptor.project_name, project);
    let mut prefix = [0u8; IMAGE_PREFIX_LEN];
    descriptor.write_prefix(&mut prefix);
    let mut image = prefix.to_vec();
    let size = size.max(IMAGE_PREFIX_LEN);
    image.extend(
        (IMAGE_PREFIX_LEN..size).map(|index| (index.wrapping_mul(31) ^ (index >> 8)) as u8),
    );
    image
}

fn push_cut<const N: usize>(field: &mut hilt_firmware::heapless::String<N>, text: &str) {
    for character in text.chars() {
        if field.push(character).is_err() {
            break;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_image_has_its_size_and_its_descriptor() {
        let image = simulated_image("node-manager", "0.2.0", SimulatedBoot::Hangs, 65_536);
        assert_eq!(image.len(), 65_536);
        let descriptor = AppDescriptor::parse(&image).unwrap();
        assert_eq!(descriptor.version.as_str(), "0.2.0");
        assert_eq!(descriptor.boots, SimulatedBoot::Hangs);
        assert_eq!(
            simulated_image("node-manager", "0.2.0", SimulatedBoot::Hangs, 10).len(),
            IMAGE_PREFIX_LEN
        );
    }
}
