//! The broker's side of a device's TLS, ended in the device's link.
//!
//! With `broker: { tls: true }` each device link holds a rustls server
//! connection ([`LinkTls`]) with the certificate the broker presents. What
//! the device sends is decrypted here, so the runner parses the MQTT inside
//! exactly as over plain TCP (every expectation works the same), and what
//! the broker sends the device is encrypted on its way.
//!
//! rustls is sans-IO (`read_tls`, `process_new_packets`, `write_tls`), so
//! it runs in the link's own turn, in virtual time, with no socket.

use std::io::{Read, Write};
use std::rc::Rc;
use std::sync::Arc;

use rustls::{ServerConfig, ServerConnection};

use crate::tls::{CertificateError, ServerCertificate, ServerIdentity, TestAuthority};

/// Why the broker's side of TLS could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum TlsSetupError {
    /// The test authority or a certificate could not be made.
    #[error(transparent)]
    Certificate(#[from] CertificateError),
    /// rustls refused the certificate or the protocol settings.
    #[error("the broker's TLS settings: {0}")]
    Config(#[from] rustls::Error),
}

/// The run's TLS on the broker's side: the authority boards trust and the
/// certificate links present now.
#[derive(Debug)]
pub(super) struct BrokerTls {
    authority: TestAuthority,
    /// The authority's certificate, as each board keeps it.
    pub(super) trusted_by_boards: Rc<Vec<u8>>,
    config: Arc<ServerConfig>,
}

impl BrokerTls {
    /// The run's authority (made once per run, in `run.rs`, which the
    /// embedded broker's certificate is from too), and a link certificate
    /// it issued.
    pub(super) fn new(authority: TestAuthority) -> Result<BrokerTls, TlsSetupError> {
        let trusted_by_boards = Rc::new(authority.certificate_der().to_vec());
        let config = server_config(&authority.server_certificate(ServerCertificate::Valid)?)?;
        Ok(BrokerTls {
            authority,
            trusted_by_boards,
            config,
        })
    }

    /// From now on, links that open present `certificate`; links already
    /// open keep the one they shook hands with, as a broker's do.
    pub(super) fn present(&mut self, certificate: ServerCertificate) -> Result<(), TlsSetupError> {
        self.config = server_config(&self.authority.server_certificate(certificate)?)?;
        Ok(())
    }

    /// The broker's side of a link that opens now.
    pub(super) fn accept(&self) -> Result<LinkTls, TlsSetupError> {
        Ok(LinkTls {
            connection: ServerConnection::new(self.config.clone())?,
            established: false,
        })
    }
}

/// A server configuration with one certificate: TLS 1.3 only (what
/// embedded-tls speaks), and no session tickets, which a board that does
/// not resume sessions would only have to skip.
fn server_config(identity: &ServerIdentity) -> Result<Arc<ServerConfig>, TlsSetupError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .with_no_client_auth()
        .with_single_cert(identity.chain.clone(), identity.key.clone_key())?;
    config.send_tls13_tickets = 0;
    Ok(Arc::new(config))
}

/// What came of bytes the device sent.
#[derive(Debug, Default)]
pub(super) struct FromDevice {
    /// The MQTT bytes inside.
    pub(super) plaintext: Vec<u8>,
    /// Records the broker's side sends back (the handshake, an alert).
    pub(super) reply: Vec<u8>,
    /// The handshake finished with these bytes.
    pub(super) established: bool,
    /// The connection failed (a bad record, the device's alert): why.
    pub(super) failure: Option<String>,
}

/// The broker's side of one device's TLS.
#[derive(Debug)]
pub(super) struct LinkTls {
    connection: ServerConnection,
    established: bool,
}

impl LinkTls {
    /// Takes records the device sent.
    pub(super) fn read_from_device(&mut self, mut wire: &[u8]) -> FromDevice {
        let mut outcome = FromDevice::default();
        while !wire.is_empty() {
            match self.connection.read_tls(&mut wire) {
                Ok(0) => break,
                Ok(_) => {}
                Err(error) => {
                    outcome.failure = Some(error.to_string());
                    break;
                }
            }
            if let Err(error) = self.connection.process_new_packets() {
                outcome.failure = Some(error.to_string());
                break;
            }
        }
        // Whatever was decrypted before a failure still counts. A read
        // with nothing left says "would block", which ends it.
        let _ = self.connection.reader().read_to_end(&mut outcome.plaintext);
        outcome.reply = self.records_for_device();
        if !self.established && !self.connection.is_handshaking() && outcome.failure.is_none() {
            self.established = true;
            outcome.established = true;
        }
        outcome
    }

    /// Encrypts what the broker sends the device.
    pub(super) fn encrypt_for_device(&mut self, plaintext: &[u8]) -> Vec<u8> {
        // rustls buffers plaintext written before the handshake is done
        // (it cannot be: the broker answers only after CONNECT).
        let _ = self.connection.writer().write_all(plaintext);
        self.records_for_device()
    }

    fn records_for_device(&mut self) -> Vec<u8> {
        let mut records = Vec::new();
        while self.connection.wants_write() {
            match self.connection.write_tls(&mut records) {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
        }
        records
    }
}
