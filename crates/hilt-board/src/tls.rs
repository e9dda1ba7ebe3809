//! TLS 1.3 between the node's bytes and the socket, with embedded-tls.
//!
//! The firmware core stays sans-IO and sees only plaintext; whoever owns the
//! socket secures it. Here that is the glue: when the node asks for TLS
//! ([`Firmware::tls`]), [`link::run_with_tls`](crate::link::run_with_tls)
//! runs the handshake on the freshly opened TCP connection (the node polled
//! meanwhile), verifies the broker's certificate against the one authority
//! the board trusts and the server name, reports `link_up` only then, and
//! serves the link with the same loop as plain TCP, over embedded-tls's
//! reading and writing halves. A failed handshake is logged with its reason
//! (`tls: handshake failed: InvalidCertificate`) and the link counts as
//! failed, so the session's reconnect backoff applies.
//!
//! What the caller gives ([`TlsClient`]): the authority's certificate (DER),
//! a cryptographic random number generator (the chip's hardware RNG, the
//! host's OS), the record buffers ([`TlsBuffers`], so that their RAM is the
//! caller's to place) and, as a type, the clock certificates are checked
//! against ([`TlsClock`]).
//!
//! Only TLS_AES_128_GCM_SHA256 with P-256 key exchange and P-256 ECDSA
//! certificates is offered: it is what every TLS 1.3 server must support,
//! and embedded-tls's no_std verifier checks no other chains without an
//! allocator.

use core::cell::{Cell, RefCell};
use core::marker::PhantomData;
use core::pin::pin;

use embassy_futures::select::{Either3, select3};
use embassy_time::{Instant, Timer, with_timeout};
use embedded_io_async::{Error as _, ErrorKind, ErrorType, Read, Write};
use embedded_tls::pki::CertVerifier;
use embedded_tls::{
    Aes128GcmSha256, Certificate, CertificateRef, CertificateVerifyRef, CryptoProvider,
    CryptoRngCore, FlushPolicy, TlsConfig, TlsConnection, TlsContext, TlsError, TlsVerifier,
};
use hilt_firmware::app::{Firmware, LogLevel};
use rand_core::{CryptoRng, RngCore};

pub use embedded_tls::TlsClock;

use crate::clock;
use crate::link::{self, LinkEnd, Mirrors, OPENING_POLL, Upgrade};
use crate::network::{Connection, Network};
use crate::serial::{self, Serial};

/// How long the TLS handshake may take, after the TCP handshake. The
/// chip does its P-256 arithmetic in software, well under this.
pub const HANDSHAKE_TIMEOUT: embassy_time::Duration = embassy_time::Duration::from_secs(15);

/// The largest server certificate chain kept for the handshake's
/// signature check, in bytes. A P-256 leaf certificate is well under 1 KiB.
pub const CERTIFICATE_CHAIN_LEN: usize = 4096;

/// The one cipher suite offered.
type Suite = Aes128GcmSha256;

/// The TLS record buffers of the broker link.
///
/// A server may send records of the full TLS size (16 KiB of plaintext
/// plus overhead, 16,640 bytes) unless asked otherwise, and not every
/// broker honours the maximum fragment length extension, so the read
/// buffer holds one. Writes are the glue's own, at most
/// `link::WRITE_CHUNK_LEN` bytes a record, so the write buffer is smaller.
#[derive(Debug)]
pub struct TlsBuffers {
    pub read: [u8; TlsBuffers::READ_LEN],
    pub write: [u8; TlsBuffers::WRITE_LEN],
}

impl TlsBuffers {
    pub const READ_LEN: usize = 16_640;
    pub const WRITE_LEN: usize = 4096;

    pub const fn new() -> Self {
        TlsBuffers {
            read: [0; Self::READ_LEN],
            write: [0; Self::WRITE_LEN],
        }
    }
}

impl Default for TlsBuffers {
    fn default() -> Self {
        Self::new()
    }
}

/// What the glue needs for TLS: the authority to trust, random numbers, the
/// record buffers and (the type `C`) the clock certificates are checked
/// against.
pub struct TlsClient<'a, R, C> {
    authority: &'a [u8],
    rng: R,
    buffers: &'a mut TlsBuffers,
    clock: PhantomData<fn() -> C>,
}

impl<'a, R, C> TlsClient<'a, R, C>
where
    R: RngCore + CryptoRng,
    C: TlsClock,
{
    /// `authority` is the DER certificate of the authority that issued
    /// the broker's certificate (or the broker's own, self-signed); `rng`
    /// must be cryptographically secure.
    pub fn new(authority: &'a [u8], rng: R, buffers: &'a mut TlsBuffers) -> Self {
        TlsClient {
            authority,
            rng,
            buffers,
            clock: PhantomData,
        }
    }
}

impl<R, C> core::fmt::Debug for TlsClient<'_, R, C> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("TlsClient")
            .field("authority_len", &self.authority.len())
            .finish_non_exhaustive()
    }
}

impl<R, C> Upgrade for TlsClient<'_, R, C>
where
    R: RngCore + CryptoRng,
    C: TlsClock,
{
    async fn serve_secured<N, K, F>(
        &mut self,
        network: &N,
        serial: &mut impl Serial,
        node: &mut F,
        connection: &mut K,
        server_name: &str,
        mirrors: &mut Mirrors,
    ) -> LinkEnd
    where
        N: Network,
        K: Connection,
        F: Firmware + ?Sized,
    {
        let (reader, writer) = connection.split();
        let reader = RefCell::new(RecordGuard::new(reader));
        let writer = RefCell::new(writer);
        let socket = SharedSocket {
            reader: &reader,
            writer: &writer,
        };
        let buffers = &mut *self.buffers;
        let mut tls: TlsConnection<'_, _, Suite> =
            TlsConnection::new(socket, &mut buffers.read, &mut buffers.write);
        // The glue flushes each record itself when it is complete; a
        // transport flush after it would, on embassy-net, wait for the
        // broker's acknowledgement before the next write.
        tls.set_flush_policy(FlushPolicy::Relaxed);
        let config = TlsConfig::new().with_server_name(server_name);
        let provider = Provider {
            rng: &mut self.rng,
            verifier: Verifier::<C> {
                inner: CertVerifier::new(Certificate::X509(self.authority)),
                certificate_checked: false,
            },
        };

        let handshake = {
            let deadline = Instant::now() + HANDSHAKE_TIMEOUT;
            let mut opening = pin!(tls.open(TlsContext::new(&config, provider)));
            loop {
                match select3(
                    opening.as_mut(),
                    Timer::after(OPENING_POLL),
                    network.wait_down(),
                )
                .await
                {
                    Either3::First(result) => break result.map_err(Failure::Tls),
                    Either3::Second(()) if Instant::now() >= deadline => {
                        break Err(Failure::TimedOut);
                    }
                    Either3::Second(()) => {
                        link::poll(serial, node, clock::now());
                    }
                    Either3::Third(()) => return LinkEnd::NetworkLost,
                }
            }
        };
        if let Err(failure) = handshake {
            serial::log(
                serial,
                LogLevel::Warn,
                format_args!("tls: handshake failed: {failure}"),
            );
            return LinkEnd::Failed("the TLS handshake failed");
        }
        serial::log(
            serial,
            LogLevel::Info,
            format_args!("tls: connected, {server_name} verified"),
        );

        node.link_up(clock::now());
        let failure = Cell::new(None);
        let end = {
            let (reader, writer) = tls.split();
            let reader = Explained {
                inner: reader,
                failure: &failure,
            };
            let writer = Explained {
                inner: writer,
                failure: &failure,
            };
            link::serve(network, serial, node, reader, writer, true, mirrors).await
        };
        if let Some(error) = failure.get() {
            serial::log(serial, LogLevel::Warn, format_args!("tls: {error:?}"));
        }
        if let LinkEnd::ClosedByNode = end {
            // close_notify, after the DISCONNECT the session queued, so that
            // the broker knows the stream was not cut short.
            let _ = with_timeout(link::CLOSE_TIMEOUT, tls.close()).await;
        }
        end
    }
}

/// Why a handshake failed, for the log.
enum Failure {
    Tls(TlsError),
    TimedOut,
}

impl core::fmt::Display for Failure {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Failure::Tls(error) => write!(f, "{error:?}"),
            Failure::TimedOut => write!(f, "no answer within {}s", HANDSHAKE_TIMEOUT.as_secs()),
        }
    }
}

/// embedded-tls's crypto provider: the caller's RNG and the verifier.
struct Provider<'r, R, C: TlsClock> {
    rng: &'r mut R,
    verifier: Verifier<'r, C>,
}

impl<R, C> CryptoProvider for Provider<'_, R, C>
where
    R: RngCore + CryptoRng,
    C: TlsClock,
{
    type CipherSuite = Suite;
    // The board presents no client certificate, so it never signs.
    type Signature = [u8; 0];

    fn rng(&mut self) -> impl CryptoRngCore {
        &mut *self.rng
    }

    fn verifier(&mut self) -> Result<&mut impl TlsVerifier<Suite>, TlsError> {
        Ok(&mut self.verifier)
    }
}

/// embedded-tls's certificate verifier, which panics when a server sends
/// its CertificateVerify before any Certificate (it unwraps the certificate
/// it expects to have kept); this refuses that handshake instead, since the
/// glue never panics on what the network sends.
struct Verifier<'a, C: TlsClock> {
    inner: CertVerifier<'a, Suite, C, CERTIFICATE_CHAIN_LEN>,
    certificate_checked: bool,
}

impl<C: TlsClock> TlsVerifier<Suite> for Verifier<'_, C> {
    fn set_hostname_verification(&mut self, hostname: &str) -> Result<(), TlsError> {
        self.inner.set_hostname_verification(hostname)
    }

    fn verify_certificate(
        &mut self,
        transcript: &<Suite as embedded_tls::TlsCipherSuite>::Hash,
        certificate: CertificateRef,
    ) -> Result<(), TlsError> {
        self.certificate_checked = false;
        self.inner.verify_certificate(transcript, certificate)?;
        self.certificate_checked = true;
        Ok(())
    }

    fn verify_signature(&mut self, verify: CertificateVerifyRef) -> Result<(), TlsError> {
        if !core::mem::take(&mut self.certificate_checked) {
            return Err(TlsError::InvalidHandshake);
        }
        self.inner.verify_signature(verify)
    }
}

/// The TCP connection's halves as one socket that embedded-tls can split
/// again: its reader only reads and its writer only writes, each through
/// its own copy of this, so the two cells are never borrowed twice. (A
/// second borrow would be a bug here; it fails the link, never panics.)
struct SharedSocket<'h, R, W> {
    reader: &'h RefCell<RecordGuard<R>>,
    writer: &'h RefCell<W>,
}

impl<R, W> Clone for SharedSocket<'_, R, W> {
    fn clone(&self) -> Self {
        SharedSocket {
            reader: self.reader,
            writer: self.writer,
        }
    }
}

impl<R, W> ErrorType for SharedSocket<'_, R, W> {
    type Error = ErrorKind;
}

// Holding the borrow across the await is the point: the half is in use
// until its read or write completes, and only this socket's one reader
// (or writer) ever uses it.
#[allow(clippy::await_holding_refcell_ref)]
impl<R: Read, W: Write> Read for SharedSocket<'_, R, W> {
    async fn read(&mut self, buf: &mut [u8]) -> Result<usize, ErrorKind> {
        let mut reader = self.reader.try_borrow_mut().map_err(|_| ErrorKind::Other)?;
        reader.read(buf).await
    }
}

#[allow(clippy::await_holding_refcell_ref)]
impl<R: Read, W: Write> Write for SharedSocket<'_, R, W> {
    async fn write(&mut self, buf: &[u8]) -> Result<usize, ErrorKind> {
        let mut writer = self.writer.try_borrow_mut().map_err(|_| ErrorKind::Other)?;
        writer.write(buf).await.map_err(|error| error.kind())
    }

    async fn flush(&mut self) -> Result<(), ErrorKind> {
        let mut writer = self.writer.try_borrow_mut().map_err(|_| ErrorKind::Other)?;
        writer.flush().await.map_err(|error| error.kind())
    }
}

/// The TCP reader, watching the TLS record headers go by.
///
/// embedded-tls 0.19 panics on an encrypted record whose plaintext is
/// empty (it unwraps the last byte, the content type), which a server
/// holding the handshake keys can send before its certificate is checked.
/// Every TLS 1.3 encrypted record carries at least that byte and a 16-byte
/// tag, so a shorter application-data record is refused here, as the
/// invalid data it is, before embedded-tls sees it.
struct RecordGuard<R> {
    inner: R,
    header: [u8; RECORD_HEADER_LEN],
    header_len: usize,
    body_left: usize,
}

const RECORD_HEADER_LEN: usize = 5;
/// TLS's content type of encrypted records.
const APPLICATION_DATA: u8 = 23;
/// The AEAD tag plus the inner content type: the least an encrypted record
/// carries.
const MIN_ENCRYPTED_RECORD_LEN: usize = 16 + 1;

impl<R: Read> RecordGuard<R> {
    fn new(inner: R) -> Self {
        RecordGuard {
            inner,
            header: [0; RECORD_HEADER_LEN],
            header_len: 0,
            body_left: 0,
        }
    }

    async fn read(&mut self, buf: &mut [u8]) -> Result<usize, ErrorKind> {
        let count = self.inner.read(buf).await.map_err(|error| error.kind())?;
        self.watch(&buf[..count])?;
        Ok(count)
    }

    /// Follows the record boundaries through `bytes`.
    fn watch(&mut self, mut bytes: &[u8]) -> Result<(), ErrorKind> {
        while !bytes.is_empty() {
            if self.body_left > 0 {
                let skipped = self.body_left.min(bytes.len());
                self.body_left -= skipped;
                bytes = &bytes[skipped..];
                continue;
            }
            self.header[self.header_len] = bytes[0];
            self.header_len += 1;
            bytes = &bytes[1..];
            if self.header_len == RECORD_HEADER_LEN {
                self.header_len = 0;
                let length = usize::from(u16::from_be_bytes([self.header[3], self.header[4]]));
                if self.header[0] == APPLICATION_DATA && length < MIN_ENCRYPTED_RECORD_LEN {
                    return Err(ErrorKind::InvalidData);
                }
                self.body_left = length;
            }
        }
        Ok(())
    }
}

/// A half of the TLS connection for the serving loop: the broker's
/// close_notify reads as the end of the stream, as a FIN does on plain TCP,
/// and any other TLS error is kept for the log before it ends the link.
struct Explained<'f, H> {
    inner: H,
    failure: &'f Cell<Option<TlsError>>,
}

impl<H: ErrorType<Error = TlsError>> ErrorType for Explained<'_, H> {
    type Error = TlsError;
}

impl<H: Read + ErrorType<Error = TlsError>> Read for Explained<'_, H> {
    async fn read(&mut self, buf: &mut [u8]) -> Result<usize, TlsError> {
        match self.inner.read(buf).await {
            // A broker that closes TCP without close_notify reads as an
            // I/O error in embedded-tls; both are the broker closing.
            Err(TlsError::ConnectionClosed | TlsError::IoError) => Ok(0),
            Err(error) => {
                self.failure.set(Some(error));
                Err(error)
            }
            Ok(count) => Ok(count),
        }
    }
}

impl<H: Write + ErrorType<Error = TlsError>> Write for Explained<'_, H> {
    async fn write(&mut self, buf: &[u8]) -> Result<usize, TlsError> {
        self.inner.write(buf).await.inspect_err(|error| {
            self.failure.set(Some(*error));
        })
    }

    async fn flush(&mut self) -> Result<(), TlsError> {
        self.inner.flush().await.inspect_err(|error| {
            self.failure.set(Some(*error));
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A reader that never runs: `watch` is tested on its own.
    struct Nothing;

    impl ErrorType for Nothing {
        type Error = ErrorKind;
    }

    impl Read for Nothing {
        async fn read(&mut self, _buf: &mut [u8]) -> Result<usize, ErrorKind> {
            Ok(0)
        }
    }

    #[test]
    fn records_are_followed_across_reads_and_an_empty_encrypted_one_is_refused() {
        let mut guard = RecordGuard::new(Nothing);
        // A handshake record of 3 bytes, split over two reads, then the
        // header of an encrypted record of 17 bytes (the least there is).
        assert_eq!(guard.watch(&[22, 3, 3, 0]), Ok(()));
        assert_eq!(guard.watch(&[3, 1, 2, 3, 23, 3, 3, 0, 17]), Ok(()));
        assert_eq!(guard.body_left, 17);
        assert_eq!(guard.watch(&[0; 17]), Ok(()));
        // An encrypted record of 16 bytes: a tag and nothing else.
        assert_eq!(guard.watch(&[23, 3, 3, 0, 16]), Err(ErrorKind::InvalidData));
    }

    #[test]
    fn a_short_record_of_another_type_passes() {
        // A ChangeCipherSpec record (type 20) carries one byte.
        let mut guard = RecordGuard::new(Nothing);
        assert_eq!(guard.watch(&[20, 3, 3, 0, 1, 1]), Ok(()));
        assert_eq!(guard.body_left, 0);
        assert_eq!(guard.header_len, 0);
    }
}
