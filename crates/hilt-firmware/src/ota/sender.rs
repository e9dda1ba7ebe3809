//! The sender's side of an update, sans-IO: which chunk goes next, paced
//! by the board's progress replies, and what each reply means. `hilt ota`
//! (a real board over a real broker) and the scenario step `ota:` (a
//! simulated board) both drive this one state machine, so the protocol
//! tested is the protocol used.
//!
//! The sender keeps at most [`WINDOW`] chunks ahead of the last progress
//! reply. A refusal that names the chunk the board wants (a gap, or an
//! update the board no longer has after a reset) sends the sender back to
//! it; so does silence ([`OtaSender::on_silence`]), back to the chunk after
//! the last acknowledged one, whose duplicates the board ignores. After
//! [`MAX_REWINDS`] of these it gives up.

use core::fmt::Write as _;
use core::ops::Range;

use heapless::String;

use super::{ChunkHeader, HEADER_LEN, MAX_SEQ, REPLY_EVERY};
use crate::apps::json::{self, Value};

/// Chunks the sender may be ahead of the board's last progress reply.
pub const WINDOW: u16 = 2 * REPLY_EVERY;
/// Times the sender goes back before it gives up.
pub const MAX_REWINDS: u32 = 8;
/// Characters of a reason kept.
pub const REASON_LEN: usize = 160;

/// Why an update cannot be sent as asked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SenderError {
    /// The chunk size is zero.
    ZeroChunk,
    /// The image needs more chunks than the 15-bit sequence number counts.
    TooManyChunks { chunks: usize },
    /// The image is empty.
    EmptyImage,
}

impl core::fmt::Display for SenderError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            SenderError::ZeroChunk => f.write_str("the chunk size must be at least 1 byte"),
            SenderError::TooManyChunks { chunks } => write!(
                f,
                "the image needs {chunks} chunks, more than the protocol's {}; use larger chunks",
                u32::from(MAX_SEQ) + 1
            ),
            SenderError::EmptyImage => f.write_str("the image is empty"),
        }
    }
}

/// One chunk to publish.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Chunk {
    pub header: ChunkHeader,
    /// Its bytes in the image.
    pub range: Range<usize>,
}

impl Chunk {
    /// The payload: header and data, into `out` (which must hold
    /// [`HEADER_LEN`] plus the chunk size); returns its length.
    pub fn write_payload(&self, image: &[u8], out: &mut [u8]) -> usize {
        let data = &image[self.range.clone()];
        out[..HEADER_LEN].copy_from_slice(&self.header.to_bytes());
        out[HEADER_LEN..HEADER_LEN + data.len()].copy_from_slice(data);
        HEADER_LEN + data.len()
    }
}

/// What a reply (or silence) meant.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SenderEvent {
    /// The board has the chunks up to `seq`, `received` bytes.
    Progress { seq: u16, received: u32 },
    /// The sender goes back to chunk `to`, because of `reason`.
    Rewound { to: u16, reason: String<REASON_LEN> },
    /// The board took the whole image; it reboots into it.
    Done { version: String<32> },
    /// The update failed.
    Failed { reason: String<REASON_LEN> },
    /// Not a reply to this update's protocol; ignored.
    Ignored,
}

/// Where the sender is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SenderState {
    Sending,
    Done { version: String<32> },
    Failed { reason: String<REASON_LEN> },
}

/// The sender's state machine; see the module documentation.
#[derive(Clone, Debug)]
pub struct OtaSender {
    image_len: usize,
    chunk_len: usize,
    chunks: u16,
    next: u16,
    acknowledged: Option<u16>,
    rewinds: u32,
    state: SenderState,
}

fn reason(arguments: core::fmt::Arguments<'_>) -> String<REASON_LEN> {
    let mut text = String::new();
    let _ = crate::app::TruncatingWriter(&mut text).write_fmt(arguments);
    text
}

impl OtaSender {
    /// A sender of an image of `image_len` bytes in chunks of `chunk_len`.
    pub fn new(image_len: usize, chunk_len: usize) -> Result<OtaSender, SenderError> {
        if chunk_len == 0 {
            return Err(SenderError::ZeroChunk);
        }
        if image_len == 0 {
            return Err(SenderError::EmptyImage);
        }
        let chunks = image_len.div_ceil(chunk_len);
        let chunks_u16 = u16::try_from(chunks)
            .ok()
            .filter(|&count| count <= MAX_SEQ.saturating_add(1) && count > 0)
            .ok_or(SenderError::TooManyChunks { chunks })?;
        Ok(OtaSender {
            image_len,
            chunk_len,
            chunks: chunks_u16,
            next: 0,
            acknowledged: None,
            rewinds: 0,
            state: SenderState::Sending,
        })
    }

    /// Chunks in the image.
    pub fn chunks(&self) -> u16 {
        self.chunks
    }

    /// The chunk to publish now, if the window allows one.
    pub fn next_chunk(&mut self) -> Option<Chunk> {
        if self.state != SenderState::Sending || self.next >= self.chunks {
            return None;
        }
        let limit = self
            .acknowledged
            .map_or(WINDOW, |seq| seq.saturating_add(1).saturating_add(WINDOW));
        if self.next >= limit {
            return None;
        }
        let seq = self.next;
        self.next += 1;
        let start = usize::from(seq) * self.chunk_len;
        let end = (start + self.chunk_len).min(self.image_len);
        Some(Chunk {
            header: ChunkHeader {
                seq,
                last: seq + 1 == self.chunks,
            },
            range: start..end,
        })
    }

    /// Where the sender is.
    pub fn state(&self) -> &SenderState {
        &self.state
    }

    /// The last chunk the board acknowledged.
    pub fn acknowledged(&self) -> Option<u16> {
        self.acknowledged
    }

    fn rewind(&mut self, to: u16, why: core::fmt::Arguments<'_>) -> SenderEvent {
        self.rewinds += 1;
        if self.rewinds > MAX_REWINDS {
            let failed = reason(format_args!(
                "gave up after {MAX_REWINDS} retries; last: {why}"
            ));
            self.state = SenderState::Failed {
                reason: failed.clone(),
            };
            return SenderEvent::Failed { reason: failed };
        }
        self.next = to.min(self.chunks.saturating_sub(1));
        if to == 0 {
            self.acknowledged = None;
        }
        SenderEvent::Rewound {
            to: self.next,
            reason: reason(why),
        }
    }

    /// Nothing came back for a while: goes back to the chunk after the
    /// last acknowledged one.
    pub fn on_silence(&mut self) -> SenderEvent {
        if self.state != SenderState::Sending {
            return SenderEvent::Ignored;
        }
        let to = self.acknowledged.map_or(0, |seq| seq + 1);
        self.rewind(to, format_args!("no reply from the board"))
    }

    /// A reply on the update's reply topic.
    pub fn on_reply(&mut self, payload: &[u8]) -> SenderEvent {
        if self.state != SenderState::Sending {
            return SenderEvent::Ignored;
        }
        let Ok(pairs) = json::parse_flat_object::<8>(payload) else {
            let text = json::shown_bytes(payload, 120);
            if text.contains("\"error\"") {
                let failed = reason(format_args!("{text}"));
                self.state = SenderState::Failed {
                    reason: failed.clone(),
                };
                return SenderEvent::Failed { reason: failed };
            }
            return SenderEvent::Ignored;
        };
        let field = |name: &str| {
            pairs
                .iter()
                .find(|(key, _)| *key == name)
                .map(|(_, value)| *value)
        };
        let number = |name: &str| match field(name) {
            Some(Value::Number(text)) => text.parse::<u32>().ok(),
            _ => None,
        };
        if let Some(Value::String(error)) = field("error") {
            if let Some(expected) = number("expected").and_then(|seq| u16::try_from(seq).ok()) {
                return self.rewind(expected, format_args!("{error}"));
            }
            let failed = reason(format_args!("{error}"));
            self.state = SenderState::Failed {
                reason: failed.clone(),
            };
            return SenderEvent::Failed { reason: failed };
        }
        if field("ok") == Some(Value::Bool(true)) {
            let mut version = String::new();
            if let Some(Value::String(text)) = field("version") {
                let _ = crate::app::TruncatingWriter(&mut version).write_str(text);
            }
            self.state = SenderState::Done {
                version: version.clone(),
            };
            return SenderEvent::Done { version };
        }
        if let (Some(seq), Some(received)) = (number("seq"), number("received")) {
            let Ok(seq) = u16::try_from(seq) else {
                return SenderEvent::Ignored;
            };
            if self
                .acknowledged
                .is_none_or(|acknowledged| seq > acknowledged)
            {
                self.acknowledged = Some(seq);
            }
            if self.next <= seq {
                self.next = seq + 1;
            }
            return SenderEvent::Progress { seq, received };
        }
        SenderEvent::Ignored
    }
}
