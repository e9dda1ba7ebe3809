//! A simulated board's TLS: embedded-tls, the no_std TLS 1.3 client a board
//! runs, between the firmware core's plaintext and the link's bytes.
//!
//! The firmware core never sees TLS ([`Firmware::tls`] only says the link
//! must have it). [`TlsBoard`] wraps a board's firmware the way the board's
//! network glue wraps its socket: the node's bytes go into embedded-tls,
//! embedded-tls's records go onto the link, and the node hears `link_up`
//! only once the handshake is done.
//!
//! embedded-tls is an async client over a byte stream. Here its stream is a
//! pair of in-memory pipes ([`Pipes`]) that answer "nothing yet" (pending)
//! when empty, and the connection's future is polled by hand whenever the
//! runner hands the board bytes or runs it, with a waker that does nothing:
//! the runner already knows when to come back. So the client runs exactly
//! as it does on a chip, in virtual time, and its randomness is drawn from
//! a generator seeded from the scenario's seed.
//!
//! Certificate validity is checked against the board's wall clock,
//! [`SIMULATED_EPOCH_UNIX_SECONDS`] plus its uptime; embedded-tls reads a
//! clock through a type with a static function, so the time is set in a
//! thread-local before each poll (a scenario runs on one thread).

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use embedded_tls::pki::CertVerifier;
use embedded_tls::{
    Aes128GcmSha256, Certificate, CryptoProvider, CryptoRngCore, TlsConfig, TlsConnection,
    TlsContext, TlsError, TlsVerifier,
};
use hilt_firmware::app::{Firmware, Log, LogLevel, LogLine};
use hilt_firmware::mqtt::session::TlsOptions;
use hilt_firmware::time::{Duration, Instant};
use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::SeedableRng;

use crate::tls::{BROKER_NAME, SIMULATED_EPOCH_UNIX_SECONDS};

/// The largest TLS record a server may send (16 KiB of plaintext, plus
/// its overhead): embedded-tls needs one whole record in its buffer.
const READ_RECORD_BUFFER_LEN: usize = 16_640;
/// Records the board writes are at most this long; larger writes are split.
const WRITE_RECORD_BUFFER_LEN: usize = 4096;
/// The most the board's verifier keeps of the broker's certificate.
const MAX_CERTIFICATE_LEN: usize = 2048;
/// A handshake that has not finished by then is given up, as the session
/// gives up on a CONNACK (its default `connect_timeout`).
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

thread_local! {
    /// The wall-clock time, in seconds since 1970, of the board whose TLS
    /// is being polled on this thread.
    static BOARD_WALL_CLOCK: Cell<Option<u64>> = const { Cell::new(None) };
}

/// embedded-tls's clock: the board's wall clock, set before each poll.
struct BoardClock;

impl embedded_tls::TlsClock for BoardClock {
    fn now() -> Option<u64> {
        BOARD_WALL_CLOCK.with(Cell::get)
    }
}

/// The bytes between the node, embedded-tls and the link.
#[derive(Debug, Default)]
struct Pipes {
    /// Records from the link, not yet read by embedded-tls.
    from_link: VecDeque<u8>,
    /// Records embedded-tls wrote, for the link.
    to_link: Vec<u8>,
    /// The node's bytes, to be encrypted.
    from_node: Vec<u8>,
    /// Decrypted bytes, for the node.
    to_node: Vec<u8>,
    /// The handshake is done.
    opened: bool,
}

impl Pipes {
    /// A whole record is waiting: reading it will not stop half way.
    fn holds_a_whole_record(&self) -> bool {
        if self.from_link.len() < 5 {
            return false;
        }
        let length = usize::from(u16::from_be_bytes([self.from_link[3], self.from_link[4]]));
        self.from_link.len() >= 5 + length
    }
}

/// embedded-tls's byte stream: reads take what the link delivered and are
/// pending when there is none; writes always succeed.
struct PipeStream(Rc<RefCell<Pipes>>);

impl embedded_io_async::ErrorType for PipeStream {
    type Error = embedded_io_async::ErrorKind;
}

impl embedded_io_async::Read for PipeStream {
    async fn read(&mut self, buffer: &mut [u8]) -> Result<usize, Self::Error> {
        std::future::poll_fn(|_| {
            let mut pipes = self.0.borrow_mut();
            if pipes.from_link.is_empty() {
                return Poll::Pending;
            }
            let count = buffer.len().min(pipes.from_link.len());
            for (slot, byte) in buffer.iter_mut().zip(pipes.from_link.drain(..count)) {
                *slot = byte;
            }
            Poll::Ready(Ok(count))
        })
        .await
    }
}

impl embedded_io_async::Write for PipeStream {
    async fn write(&mut self, bytes: &[u8]) -> Result<usize, Self::Error> {
        self.0.borrow_mut().to_link.extend_from_slice(bytes);
        Ok(bytes.len())
    }

    async fn flush(&mut self) -> Result<(), Self::Error> {
        Ok(())
    }
}

/// What a board's TLS trusts and draws its randomness from.
struct BoardCrypto<'a> {
    random: ChaCha8Rng,
    verifier: CertVerifier<'a, Aes128GcmSha256, BoardClock, MAX_CERTIFICATE_LEN>,
}

impl CryptoProvider for BoardCrypto<'_> {
    type CipherSuite = Aes128GcmSha256;
    type Signature = &'static [u8];

    fn rng(&mut self) -> impl CryptoRngCore {
        &mut self.random
    }

    fn verifier(&mut self) -> Result<&mut impl TlsVerifier<Self::CipherSuite>, TlsError> {
        Ok(&mut self.verifier)
    }
}

/// Waits one poll: the connection's loop yields when it has nothing to do.
async fn yield_once() {
    let mut yielded = false;
    std::future::poll_fn(|_| {
        if yielded {
            Poll::Ready(())
        } else {
            yielded = true;
            Poll::Pending
        }
    })
    .await;
}

/// One TLS connection, from the handshake to its end: the node's bytes
/// are written as they come, records are read only when whole (so a read
/// never waits half way while the node has bytes to send).
async fn run_connection(
    pipes: Rc<RefCell<Pipes>>,
    trusted_authority: Rc<Vec<u8>>,
    server_name: String,
    seed: u64,
) -> Result<(), TlsError> {
    let mut read_record_buffer = vec![0; READ_RECORD_BUFFER_LEN];
    let mut write_record_buffer = vec![0; WRITE_RECORD_BUFFER_LEN];
    let config = TlsConfig::new().with_server_name(&server_name);
    let mut connection: TlsConnection<'_, PipeStream, Aes128GcmSha256> = TlsConnection::new(
        PipeStream(pipes.clone()),
        &mut read_record_buffer,
        &mut write_record_buffer,
    );
    let crypto = BoardCrypto {
        random: ChaCha8Rng::seed_from_u64(seed),
        verifier: CertVerifier::new(Certificate::X509(trusted_authority.as_slice())),
    };
    connection.open(TlsContext::new(&config, crypto)).await?;
    pipes.borrow_mut().opened = true;
    let mut plaintext = vec![0; READ_RECORD_BUFFER_LEN];
    loop {
        let from_node = std::mem::take(&mut pipes.borrow_mut().from_node);
        if !from_node.is_empty() {
            let mut written = 0;
            while written < from_node.len() {
                written += connection.write(&from_node[written..]).await?;
            }
            connection.flush().await?;
            continue;
        }
        if pipes.borrow().holds_a_whole_record() {
            let count = connection.read(&mut plaintext).await?;
            pipes
                .borrow_mut()
                .to_node
                .extend_from_slice(&plaintext[..count]);
            continue;
        }
        yield_once().await;
    }
}

type ConnectionFuture = Pin<Box<dyn Future<Output = Result<(), TlsError>>>>;

/// Where a board's TLS link stands.
enum TlsLink {
    /// No link, or the node has not asked for one.
    Closed,
    /// The link is up and the handshake under way (started at `since`) or
    /// done; the node has been told `link_up` once `node_told` is set.
    Open {
        connection: ConnectionFuture,
        since: Instant,
        node_told: bool,
    },
    /// The handshake or a record failed; the board closes the link.
    Failed,
}

/// A board's firmware behind its TLS; see the module documentation.
pub(super) struct TlsBoard {
    node: Box<dyn Firmware>,
    trusted_authority: Rc<Vec<u8>>,
    server_name: String,
    seed: u64,
    connections_made: u64,
    pipes: Rc<RefCell<Pipes>>,
    link: TlsLink,
    /// Records for the link, taken by the runner.
    transmit: Vec<u8>,
    log: Log,
}

impl std::fmt::Debug for TlsBoard {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("TlsBoard")
            .field("server_name", &self.server_name)
            .field("connections_made", &self.connections_made)
            .finish_non_exhaustive()
    }
}

impl TlsBoard {
    /// `node` behind TLS with `options`, trusting `trusted_authority` (a DER
    /// certificate); the handshakes' randomness is drawn from `seed`.
    pub(super) fn new(
        node: Box<dyn Firmware>,
        options: &TlsOptions,
        trusted_authority: Rc<Vec<u8>>,
        seed: u64,
    ) -> TlsBoard {
        let server_name = options
            .server_name
            .as_deref()
            .unwrap_or(BROKER_NAME)
            .to_owned();
        TlsBoard {
            node,
            trusted_authority,
            server_name,
            seed,
            connections_made: 0,
            pipes: Rc::default(),
            link: TlsLink::Closed,
            transmit: Vec::new(),
            log: Log::default(),
        }
    }

    /// Polls the connection once at `now`, then moves what it decrypted to
    /// the node and what it encrypted to the link.
    fn drive(&mut self, now: Instant) {
        BOARD_WALL_CLOCK.with(|clock| {
            clock.set(Some(
                SIMULATED_EPOCH_UNIX_SECONDS + now.as_micros() / 1_000_000,
            ));
        });
        // Bytes the node wrote go into the connection before it runs.
        let node_bytes = self.node.transmit_buffer().to_vec();
        if !node_bytes.is_empty() && self.pipes.borrow().opened {
            self.node.consume_transmit(node_bytes.len());
            self.pipes
                .borrow_mut()
                .from_node
                .extend_from_slice(&node_bytes);
        }
        let TlsLink::Open {
            connection,
            since,
            node_told,
        } = &mut self.link
        else {
            return;
        };
        let mut context = Context::from_waker(Waker::noop());
        // Polled until it stops making progress: each poll may answer a
        // record with another.
        let outcome = loop {
            let before = self.pipes.borrow().to_link.len() + self.pipes.borrow().to_node.len();
            match connection.as_mut().poll(&mut context) {
                Poll::Ready(outcome) => break Some(outcome),
                Poll::Pending => {}
            }
            let pipes = self.pipes.borrow();
            let after = pipes.to_link.len() + pipes.to_node.len();
            let work_left = !pipes.from_node.is_empty() || pipes.holds_a_whole_record();
            if after == before && !work_left {
                break None;
            }
        };
        let since = *since;
        let opened = self.pipes.borrow().opened;
        if opened && !*node_told {
            *node_told = true;
            self.log.write(
                now,
                LogLevel::Info,
                format_args!("tls: connected to {} (TLS 1.3)", self.server_name),
            );
            self.node.link_up(now);
        }
        self.transmit
            .append(&mut std::mem::take(&mut self.pipes.borrow_mut().to_link));
        let to_node = std::mem::take(&mut self.pipes.borrow_mut().to_node);
        if !to_node.is_empty() {
            let taken = self.node.receive(now, &to_node);
            // The node takes what fits; the rest waits for its next run.
            self.pipes.borrow_mut().to_node = to_node[taken..].to_vec();
        }
        let failure = match outcome {
            Some(Err(error)) => Some(format!("{error:?}")),
            Some(Ok(())) => Some("the connection ended".to_owned()),
            None if !opened && now >= since + HANDSHAKE_TIMEOUT => {
                Some(format!("no handshake within {HANDSHAKE_TIMEOUT:?}"))
            }
            None => None,
        };
        if let Some(failure) = failure {
            let stage = if opened { "connection" } else { "handshake" };
            self.log.write(
                now,
                LogLevel::Error,
                format_args!("tls: {stage} failed: {failure}"),
            );
            self.link = TlsLink::Failed;
        }
    }
}

impl Firmware for TlsBoard {
    fn poll(&mut self, now: Instant) -> Instant {
        self.drive(now);
        let next = self.node.poll(now);
        // What the node wrote while it ran goes out now.
        self.drive(now);
        match &self.link {
            TlsLink::Open {
                since,
                node_told: false,
                ..
            } => next.min(*since + HANDSHAKE_TIMEOUT),
            // Left over for the node: it runs again at once.
            _ if !self.pipes.borrow().to_node.is_empty() => now,
            _ => next,
        }
    }

    fn receive(&mut self, now: Instant, bytes: &[u8]) -> usize {
        if matches!(self.link, TlsLink::Open { .. }) {
            self.pipes.borrow_mut().from_link.extend(bytes);
            self.drive(now);
        }
        // A closed or failed link drops what still arrives, as a closed
        // socket does.
        bytes.len()
    }

    fn transmit_buffer(&self) -> &[u8] {
        &self.transmit
    }

    fn consume_transmit(&mut self, count: usize) {
        self.transmit.drain(..count.min(self.transmit.len()));
    }

    fn wants_link(&self, now: Instant) -> bool {
        self.node.wants_link(now)
    }

    fn wants_close(&self) -> bool {
        matches!(self.link, TlsLink::Failed) || self.node.wants_close()
    }

    fn link_up(&mut self, now: Instant) {
        self.pipes = Rc::default();
        self.transmit.clear();
        // Each connection draws fresh randomness, from the same seed each run.
        let seed = self.seed.wrapping_add(self.connections_made);
        self.connections_made += 1;
        self.link = TlsLink::Open {
            connection: Box::pin(run_connection(
                self.pipes.clone(),
                self.trusted_authority.clone(),
                self.server_name.clone(),
                seed,
            )),
            since: now,
            node_told: false,
        };
        // The ClientHello goes out at once.
        self.drive(now);
    }

    fn link_down(&mut self, now: Instant) {
        self.link = TlsLink::Closed;
        self.pipes = Rc::default();
        self.transmit.clear();
        // The node hears of it whether or not it heard `link_up`: a link
        // that failed to open is a link that went down, and it backs off.
        self.node.link_down(now);
    }

    fn pop_log(&mut self) -> Option<LogLine> {
        self.log.pop().or_else(|| self.node.pop_log())
    }

    fn disconnect(&mut self) {
        self.node.disconnect();
    }

    fn tls(&self) -> Option<&TlsOptions> {
        self.node.tls()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tls::ServerCertificate;
    use crate::world::link_tls::BrokerTls;

    /// A node that writes one message once its link is up and keeps what
    /// it is sent.
    #[derive(Debug, Default)]
    struct Speaker {
        transmit: Vec<u8>,
        heard: Vec<u8>,
        link_ups: u32,
        link_downs: u32,
    }

    impl Firmware for Speaker {
        fn poll(&mut self, now: Instant) -> Instant {
            now + Duration::from_secs(60)
        }
        fn receive(&mut self, _now: Instant, bytes: &[u8]) -> usize {
            self.heard.extend_from_slice(bytes);
            bytes.len()
        }
        fn transmit_buffer(&self) -> &[u8] {
            &self.transmit
        }
        fn consume_transmit(&mut self, count: usize) {
            self.transmit.drain(..count);
        }
        fn wants_link(&self, _now: Instant) -> bool {
            true
        }
        fn wants_close(&self) -> bool {
            false
        }
        fn link_up(&mut self, _now: Instant) {
            self.link_ups += 1;
            self.transmit
                .extend_from_slice(b"CONNECT with password correct-horse");
        }
        fn link_down(&mut self, _now: Instant) {
            self.link_downs += 1;
        }
        fn pop_log(&mut self) -> Option<LogLine> {
            None
        }
        fn disconnect(&mut self) {}
    }

    /// Runs a board against the broker's side until neither has anything
    /// to send: what the board put on the wire, what the broker's side
    /// read inside it, and the board's log.
    fn shake_hands(broker: &BrokerTls, board: &mut TlsBoard) -> (Vec<u8>, Vec<u8>, Vec<String>) {
        let mut link = broker.accept().unwrap();
        let now = Instant::BOOT;
        board.link_up(now);
        let mut wire = Vec::new();
        let mut plaintext = Vec::new();
        for _ in 0..10 {
            board.poll(now);
            let sent = board.transmit_buffer().to_vec();
            board.consume_transmit(sent.len());
            if sent.is_empty() {
                break;
            }
            wire.extend_from_slice(&sent);
            let read = link.read_from_device(&sent);
            plaintext.extend_from_slice(&read.plaintext);
            if read.failure.is_some() {
                break;
            }
            board.receive(now, &read.reply);
        }
        let mut log = Vec::new();
        while let Some(line) = board.pop_log() {
            log.push(line.text.to_string());
        }
        (wire, plaintext, log)
    }

    fn board(trusted: Rc<Vec<u8>>) -> TlsBoard {
        let options = TlsOptions { server_name: None };
        TlsBoard::new(Box::new(Speaker::default()), &options, trusted, 7)
    }

    #[test]
    fn the_board_shakes_hands_and_its_bytes_are_encrypted_on_the_wire() {
        let broker = BrokerTls::new().unwrap();
        let mut board = board(broker.trusted_by_boards.clone());
        let (wire, plaintext, log) = shake_hands(&broker, &mut board);
        assert_eq!(log, ["tls: connected to localhost (TLS 1.3)"]);
        assert_eq!(plaintext, b"CONNECT with password correct-horse");
        let on_the_wire = String::from_utf8_lossy(&wire);
        assert!(!on_the_wire.contains("correct-horse"), "{on_the_wire}");
        // TLS 1.3 application data records (content type 23) carried it.
        assert!(wire.windows(3).any(|record| record == [23, 3, 3]));
    }

    #[test]
    fn a_board_refuses_each_certificate_it_must_not_trust_and_tells_its_node() {
        for certificate in [
            ServerCertificate::Expired,
            ServerCertificate::WrongName,
            ServerCertificate::UnknownAuthority,
        ] {
            let mut broker = BrokerTls::new().unwrap();
            broker.present(certificate).unwrap();
            let mut board = board(broker.trusted_by_boards.clone());
            let (_, plaintext, log) = shake_hands(&broker, &mut board);
            assert!(plaintext.is_empty(), "{certificate:?}");
            assert_eq!(
                log,
                ["tls: handshake failed: InvalidCertificate"],
                "{certificate:?}"
            );
            assert!(board.wants_close(), "{certificate:?}");
            board.link_down(Instant::BOOT);
            assert!(!board.wants_close(), "{certificate:?}");
        }
    }

    #[test]
    fn the_same_seed_sends_the_same_bytes() {
        let broker = BrokerTls::new().unwrap();
        let hello = || {
            let mut board = board(broker.trusted_by_boards.clone());
            board.link_up(Instant::BOOT);
            board.transmit_buffer().to_vec()
        };
        let first = hello();
        assert!(!first.is_empty());
        assert_eq!(first, hello());
    }
}
