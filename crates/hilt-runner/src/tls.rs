//! The run's own certificate authority, and the certificates the broker's
//! side of a link presents over TLS.
//!
//! A scenario with `broker: { tls: true }` makes a test authority when it
//! starts ([`TestAuthority::generate`], with rcgen), and every simulated
//! board of the run trusts it, as a real board trusts the authority built
//! into its image. The broker's side then presents a certificate that
//! authority issued for `localhost`, or, after a `tls:` step, one a real
//! board must refuse ([`ServerCertificate`]).
//!
//! Keys come from the OS's random source. Nothing a run writes depends on
//! them: a transcript holds the MQTT inside the TLS, never its bytes.

use rcgen::{
    BasicConstraints, Certificate, CertificateParams, DistinguishedName, DnType, IsCa, Issuer,
    KeyPair, KeyUsagePurpose, date_time_ymd,
};
use std::path::{Path, PathBuf};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};

/// The name the broker's certificate carries unless a step says otherwise:
/// a simulation's broker is on loopback.
pub const BROKER_NAME: &str = "localhost";

/// The wall-clock time a simulated board's TLS reads at boot, in seconds
/// since 1970 (2026-01-01T00:00:00Z): certificate validity is checked
/// against it plus the board's uptime, so a run checks the same dates
/// whatever day it runs on.
pub const SIMULATED_EPOCH_UNIX_SECONDS: u64 = 1_767_225_600;

/// Which certificate the broker's side presents to a board that opens a
/// TLS link.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ServerCertificate {
    /// Issued by the run's authority for [`BROKER_NAME`], valid from 2025
    /// to 2045.
    Valid,
    /// Issued by the run's authority for [`BROKER_NAME`], but its validity
    /// ended in 2025, before the simulated epoch.
    Expired,
    /// Issued by the run's authority, for another name (`other.example`).
    WrongName,
    /// For [`BROKER_NAME`], but issued by an authority no board trusts.
    UnknownAuthority,
    /// A new certificate and key from the run's authority, as a broker
    /// gets when its certificate is rotated: a board that trusts the
    /// authority, not the old certificate, accepts it.
    Rotated,
}

/// Why a certificate could not be made.
#[derive(Debug, thiserror::Error)]
pub enum CertificateError {
    /// rcgen refused the parameters or could not make a key.
    #[error("could not make a test certificate: {0}")]
    Generate(#[from] rcgen::Error),
}

/// A certificate chain and its private key, as a TLS server loads them.
#[derive(Debug)]
pub struct ServerIdentity {
    /// The server's certificate (its issuer's is not sent: boards hold it).
    pub chain: Vec<CertificateDer<'static>>,
    /// The certificate's private key.
    pub key: PrivateKeyDer<'static>,
    /// The same certificate and key in PEM, for a broker that reads files
    /// (rumqttd's TLS listener, Mosquitto).
    pub certificate_pem: String,
    /// The key in PEM (PKCS #8).
    pub key_pem: String,
}

impl Clone for ServerIdentity {
    fn clone(&self) -> Self {
        ServerIdentity {
            chain: self.chain.clone(),
            key: self.key.clone_key(),
            certificate_pem: self.certificate_pem.clone(),
            key_pem: self.key_pem.clone(),
        }
    }
}

/// A certificate authority made for one run.
#[derive(Debug)]
pub struct TestAuthority {
    certificate: Certificate,
    issuer: Issuer<'static, KeyPair>,
}

impl TestAuthority {
    /// A new authority with a fresh P-256 key (the curve embedded-tls
    /// verifies), named `common_name`.
    pub fn generate(common_name: &str) -> Result<TestAuthority, CertificateError> {
        let mut params = CertificateParams::new(Vec::<String>::new())?;
        let mut name = DistinguishedName::new();
        name.push(DnType::CommonName, common_name);
        params.distinguished_name = name;
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        params.not_before = date_time_ymd(2025, 1, 1);
        params.not_after = date_time_ymd(2045, 1, 1);
        let key = KeyPair::generate()?;
        let certificate = params.self_signed(&key)?;
        Ok(TestAuthority {
            certificate,
            issuer: Issuer::new(params, key),
        })
    }

    /// The authority's own certificate, which boards trust.
    pub fn certificate_der(&self) -> &CertificateDer<'static> {
        self.certificate.der()
    }

    /// The authority's certificate in PEM, for a file a client reads.
    pub fn certificate_pem(&self) -> String {
        self.certificate.pem()
    }

    /// A server certificate for `names` (DNS names or IP addresses),
    /// valid from `from` to `until` (years, 1 January), with a fresh key.
    pub fn issue(
        &self,
        names: &[&str],
        from: i32,
        until: i32,
    ) -> Result<ServerIdentity, CertificateError> {
        let names: Vec<String> = names.iter().map(|name| (*name).to_owned()).collect();
        let mut params = CertificateParams::new(names.clone())?;
        let mut distinguished = DistinguishedName::new();
        distinguished.push(
            DnType::CommonName,
            names.first().cloned().unwrap_or_default(),
        );
        params.distinguished_name = distinguished;
        params.not_before = date_time_ymd(from, 1, 1);
        params.not_after = date_time_ymd(until, 1, 1);
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
        let key = KeyPair::generate()?;
        let certificate = params.signed_by(&key, &self.issuer)?;
        Ok(ServerIdentity {
            chain: vec![certificate.der().clone()],
            key: PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
            certificate_pem: certificate.pem(),
            key_pem: key.serialize_pem(),
        })
    }

    /// The certificate the broker's side presents for `kind`. An unknown
    /// authority's certificate is issued by a second authority made here
    /// and thrown away.
    pub fn server_certificate(
        &self,
        kind: ServerCertificate,
    ) -> Result<ServerIdentity, CertificateError> {
        match kind {
            ServerCertificate::Valid | ServerCertificate::Rotated => {
                self.issue(&[BROKER_NAME, "127.0.0.1"], 2025, 2045)
            }
            ServerCertificate::Expired => self.issue(&[BROKER_NAME, "127.0.0.1"], 2024, 2025),
            ServerCertificate::WrongName => self.issue(&["other.example"], 2025, 2045),
            ServerCertificate::UnknownAuthority => TestAuthority::generate("an unknown authority")?
                .issue(&[BROKER_NAME, "127.0.0.1"], 2025, 2045),
        }
    }
}

/// The TLS a client of the broker speaks: hilt's own connections (the
/// harness's client, each device's link, each external device's relay)
/// when the broker listens with TLS. Cheap to clone.
#[derive(Clone)]
pub struct ClientTls {
    config: std::sync::Arc<rustls::ClientConfig>,
    connector: tokio_rustls::TlsConnector,
    server_name: ServerName<'static>,
}

impl std::fmt::Debug for ClientTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientTls")
            .field("server_name", &self.server_name)
            .finish_non_exhaustive()
    }
}

/// Why hilt cannot speak TLS to a broker as asked.
#[derive(Debug, thiserror::Error)]
pub enum ClientTlsError {
    /// The CA file cannot be read.
    #[error("cannot read the CA file {}: {source}", path.display())]
    CaUnreadable {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The CA file holds no PEM certificate, or a malformed one.
    #[error(
        "the CA file {} holds no usable certificate (expected PEM, `-----BEGIN CERTIFICATE-----`): {reason}",
        path.display()
    )]
    CaNotPem {
        /// The file.
        path: PathBuf,
        /// What the reader or rustls said.
        reason: String,
    },
    /// The broker's host is neither a DNS name nor an IP address, so its
    /// certificate cannot be checked against it.
    #[error("the broker's host {host:?} cannot be checked against a certificate: {reason}")]
    ServerName {
        /// The host.
        host: String,
        /// rustls's reason.
        reason: String,
    },
    /// rustls refused the configuration.
    #[error("cannot configure TLS: {0}")]
    Config(#[from] rustls::Error),
}

impl ClientTls {
    /// Trusts `authorities` for a broker whose certificate names `host`
    /// (a DNS name or an IP address).
    pub fn trusting(
        authorities: impl IntoIterator<Item = CertificateDer<'static>>,
        host: &str,
    ) -> Result<ClientTls, ClientTlsError> {
        let mut roots = rustls::RootCertStore::empty();
        for authority in authorities {
            roots.add(authority)?;
        }
        ClientTls::with_roots(roots, host)
    }

    /// Trusts the certificates of the PEM file at `path` (`--broker-ca`,
    /// `broker: { ca }`), for a broker whose certificate names `host`.
    pub fn trusting_file(path: &Path, host: &str) -> Result<ClientTls, ClientTlsError> {
        let text = std::fs::read(path).map_err(|source| ClientTlsError::CaUnreadable {
            path: path.to_owned(),
            source,
        })?;
        let not_pem = |reason: String| ClientTlsError::CaNotPem {
            path: path.to_owned(),
            reason,
        };
        let certificates = CertificateDer::pem_slice_iter(&text)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|error| not_pem(error.to_string()))?;
        if certificates.is_empty() {
            return Err(not_pem("none found".to_owned()));
        }
        let mut roots = rustls::RootCertStore::empty();
        for certificate in certificates {
            roots
                .add(certificate)
                .map_err(|error| not_pem(error.to_string()))?;
        }
        ClientTls::with_roots(roots, host)
    }

    /// Trusts the Mozilla root authorities (webpki-roots), as a client of a
    /// public broker does, for a broker whose certificate names `host`.
    pub fn trusting_public_roots(host: &str) -> Result<ClientTls, ClientTlsError> {
        let mut roots = rustls::RootCertStore::empty();
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        ClientTls::with_roots(roots, host)
    }

    fn with_roots(roots: rustls::RootCertStore, host: &str) -> Result<ClientTls, ClientTlsError> {
        let server_name =
            ServerName::try_from(host.to_owned()).map_err(|error| ClientTlsError::ServerName {
                host: host.to_owned(),
                reason: error.to_string(),
            })?;
        // The provider is named, not taken from the process's default, so
        // that a program linking another provider too cannot change it.
        let config = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
        let config = std::sync::Arc::new(config);
        Ok(ClientTls {
            connector: tokio_rustls::TlsConnector::from(config.clone()),
            config,
            server_name,
        })
    }

    /// The rustls configuration, for a client library that takes one
    /// (`hilt ota`'s rumqttc).
    pub fn config(&self) -> std::sync::Arc<rustls::ClientConfig> {
        self.config.clone()
    }

    /// The client's side of a TLS connection over a blocking `stream`;
    /// the handshake happens with the first read or write.
    pub(crate) fn blocking<S: std::io::Read + std::io::Write>(
        &self,
        stream: S,
    ) -> Result<rustls::StreamOwned<rustls::ClientConnection, S>, rustls::Error> {
        let connection =
            rustls::ClientConnection::new(self.config.clone(), self.server_name.clone())?;
        Ok(rustls::StreamOwned::new(connection, stream))
    }

    /// Runs the handshake over `stream` as the client.
    pub(crate) async fn connect<S>(
        &self,
        stream: S,
    ) -> std::io::Result<tokio_rustls::client::TlsStream<S>>
    where
        S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
    {
        self.connector
            .connect(self.server_name.clone(), stream)
            .await
    }
}

/// The TLS server configuration for `identity`, as the embedded broker's
/// side of an in-process connection ends it.
pub(crate) fn server_config(
    identity: &ServerIdentity,
) -> Result<std::sync::Arc<rustls::ServerConfig>, rustls::Error> {
    let config = rustls::ServerConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()?
    .with_no_client_auth()
    .with_single_cert(identity.chain.clone(), identity.key.clone_key())?;
    Ok(std::sync::Arc::new(config))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustls::client::danger::ServerCertVerifier;

    #[test]
    fn a_valid_certificate_verifies_against_the_authority_and_the_others_do_not() {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let authority = TestAuthority::generate("hilt test authority").unwrap();
        let mut roots = rustls::RootCertStore::empty();
        roots.add(authority.certificate_der().clone()).unwrap();
        let verifier = rustls::client::WebPkiServerVerifier::builder(std::sync::Arc::new(roots))
            .build()
            .unwrap();
        let name = rustls::pki_types::ServerName::try_from(BROKER_NAME).unwrap();
        // Inside every certificate's validity but the expired one's.
        let now = rustls::pki_types::UnixTime::since_unix_epoch(std::time::Duration::from_secs(
            SIMULATED_EPOCH_UNIX_SECONDS,
        ));
        let verdict = |kind| {
            let identity = authority.server_certificate(kind).unwrap();
            verifier
                .verify_server_cert(&identity.chain[0], &[], &name, &[], now)
                .map(|_| ())
                .map_err(|error| error.to_string())
        };
        assert_eq!(verdict(ServerCertificate::Valid), Ok(()));
        assert_eq!(verdict(ServerCertificate::Rotated), Ok(()));
        for kind in [
            ServerCertificate::Expired,
            ServerCertificate::WrongName,
            ServerCertificate::UnknownAuthority,
        ] {
            assert!(verdict(kind).is_err(), "{kind:?} verified");
        }
    }
}
