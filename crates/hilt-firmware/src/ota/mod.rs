//! Firmware updates over MQTT, with rollback: MQBoard's OTA protocol on the
//! board's side ([`receiver`]) and the sender's ([`sender`]), the app images
//! they carry ([`image`]: ESP-IDF's app descriptor) and the bootloader's
//! choice of app slot ([`otadata`]: ESP-IDF's OTA data, two entries with
//! sequence numbers, states and a CRC).
//!
//! All of it is generic over `embedded_storage::nor_flash::NorFlash`: on
//! the chip esp-storage, in the simulation hilt-sim's flash model. Nothing
//! allocates and nothing reads a clock; the flash layout is
//! [`crate::partitions`].
//!
//! **The protocol** (MQBoard's `mqrepl`): the command topic is
//! `<prefix>/mqb/cmd/ota/<id>/<sha256>`, the SHA-256 of the whole image in
//! lowercase hex. Every payload starts with a 2-byte big-endian header: the
//! top bit says "last chunk", the low 15 bits are the chunk's sequence
//! number from 0; the image's bytes follow. Chunk 0 starts an update (in
//! the slot the board is not running from); every chunk must be the next
//! one: an earlier one is a duplicate and ignored, a later one is refused
//! as missing (once per gap, with the chunk wanted, so the sender can go
//! back to it). The board replies every 8th chunk (`seq & 7 == 0`), which
//! paces the sender; at the last chunk it checks the length and SHA-256 of
//! what is in flash and the app descriptor, then marks the new slot to
//! boot next, on trial.

pub mod image;
pub mod otadata;
pub mod receiver;
pub mod sender;

/// Chunks between progress replies: the board replies to every chunk whose
/// sequence number is a multiple of this.
pub const REPLY_EVERY: u16 = 8;
/// The top bit of the header: this is the image's last chunk.
pub const LAST_FLAG: u16 = 0x8000;
/// The largest sequence number the 15 bits of the header hold.
pub const MAX_SEQ: u16 = 0x7FFF;
/// Bytes of the header in front of every chunk.
pub const HEADER_LEN: usize = 2;
/// Characters of the SHA-256 in the topic (lowercase hex).
pub const SHA256_HEX_LEN: usize = 64;

/// The header of a chunk: its sequence number and whether it is the last.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChunkHeader {
    pub seq: u16,
    pub last: bool,
}

impl ChunkHeader {
    /// Reads the header off the front of a payload; `None` when the
    /// payload is shorter than a header.
    pub fn split(payload: &[u8]) -> Option<(ChunkHeader, &[u8])> {
        let (header, data) = payload.split_first_chunk::<HEADER_LEN>()?;
        let word = u16::from_be_bytes(*header);
        Some((
            ChunkHeader {
                seq: word & MAX_SEQ,
                last: word & LAST_FLAG != 0,
            },
            data,
        ))
    }

    /// The two header bytes.
    pub fn to_bytes(self) -> [u8; HEADER_LEN] {
        let flag = if self.last { LAST_FLAG } else { 0 };
        ((self.seq & MAX_SEQ) | flag).to_be_bytes()
    }
}

/// Reads 64 hex digits (either case) into a digest.
pub fn parse_sha256_hex(text: &str) -> Option<[u8; 32]> {
    if text.len() != SHA256_HEX_LEN {
        return None;
    }
    let mut digest = [0u8; 32];
    for (byte, pair) in digest.iter_mut().zip(text.as_bytes().chunks_exact(2)) {
        let high = hex_value(pair[0])?;
        let low = hex_value(pair[1])?;
        *byte = high << 4 | low;
    }
    Some(digest)
}

fn hex_value(digit: u8) -> Option<u8> {
    match digit {
        b'0'..=b'9' => Some(digit - b'0'),
        b'a'..=b'f' => Some(digit - b'a' + 10),
        b'A'..=b'F' => Some(digit - b'A' + 10),
        _ => None,
    }
}

/// A digest as 64 lowercase hex digits.
pub fn sha256_hex(digest: &[u8; 32]) -> heapless::String<SHA256_HEX_LEN> {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut text = heapless::String::new();
    for byte in digest {
        // Cannot overflow: 32 bytes are 64 digits.
        let _ = text.push(char::from(DIGITS[usize::from(byte >> 4)]));
        let _ = text.push(char::from(DIGITS[usize::from(byte & 0xF)]));
    }
    text
}

/// The SHA-256 of `bytes`.
pub fn sha256(bytes: &[u8]) -> [u8; 32] {
    use sha2::Digest as _;
    sha2::Sha256::digest(bytes).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_header_carries_the_sequence_number_and_the_last_flag() {
        let header = ChunkHeader {
            seq: 0x1234,
            last: true,
        };
        assert_eq!(header.to_bytes(), [0x92, 0x34]);
        let payload = [0x92, 0x34, 7, 8];
        assert_eq!(ChunkHeader::split(&payload), Some((header, &[7u8, 8][..])));
        assert_eq!(ChunkHeader::split(&[0x01]), None);
        assert_eq!(
            ChunkHeader::split(&[0x00, 0x05]),
            Some((
                ChunkHeader {
                    seq: 5,
                    last: false
                },
                &[][..]
            ))
        );
    }

    #[test]
    fn sha256_hex_reads_back_what_it_writes() {
        let digest = sha256(b"abc");
        let text = sha256_hex(&digest);
        assert_eq!(
            text.as_str(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(parse_sha256_hex(&text), Some(digest));
        assert_eq!(
            parse_sha256_hex("BA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF61F20015AD"),
            Some(digest)
        );
        assert_eq!(parse_sha256_hex("abc"), None);
        assert_eq!(
            parse_sha256_hex("g000000000000000000000000000000000000000000000000000000000000000"),
            None
        );
    }
}
#[cfg(test)]
mod protocol_tests;

/// The flash of a board that has none for updates: every operation fails,
/// so an app built on it refuses updates and boots as slot 0.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NoFlash;

/// Why [`NoFlash`] refuses: there is nothing there.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NoFlashError;

impl embedded_storage::nor_flash::NorFlashError for NoFlashError {
    fn kind(&self) -> embedded_storage::nor_flash::NorFlashErrorKind {
        embedded_storage::nor_flash::NorFlashErrorKind::OutOfBounds
    }
}

impl embedded_storage::nor_flash::ErrorType for NoFlash {
    type Error = NoFlashError;
}

impl embedded_storage::nor_flash::ReadNorFlash for NoFlash {
    const READ_SIZE: usize = 1;

    fn read(&mut self, _offset: u32, _bytes: &mut [u8]) -> Result<(), NoFlashError> {
        Err(NoFlashError)
    }

    fn capacity(&self) -> usize {
        0
    }
}

impl embedded_storage::nor_flash::NorFlash for NoFlash {
    const WRITE_SIZE: usize = 1;
    const ERASE_SIZE: usize = 4096;

    fn erase(&mut self, _from: u32, _to: u32) -> Result<(), NoFlashError> {
        Err(NoFlashError)
    }

    fn write(&mut self, _offset: u32, _bytes: &[u8]) -> Result<(), NoFlashError> {
        Err(NoFlashError)
    }
}
