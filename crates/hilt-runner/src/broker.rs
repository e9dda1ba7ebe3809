//! The in-process MQTT broker: rumqttd on a Tokio runtime the runner owns.
//!
//! `rumqttd::Broker::start` blocks for ever, cannot be stopped, cannot bind
//! port 0 and only logs a failed bind. So the runner assembles the broker from
//! rumqttd's public parts instead: a `Router` thread, and a v4 `Server` on a
//! runtime of our own, which can be shut down (and, later, restarted on the
//! same router). The port is found by binding port 0 on loopback, releasing
//! it and handing it to rumqttd; [`EmbeddedBroker::start`] then proves the
//! broker listens with a real CONNECT/CONNACK, and tries another port if not.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, TcpListener, TcpStream};
use std::time::Duration;

use rumqttd::protocol::v4::V4;
use rumqttd::{ConnectionSettings, RouterConfig, ServerSettings};

use hilt_firmware::mqtt::codec::{self, Connect, Packet};

/// How often to try a fresh port when rumqttd fails to bind one.
const START_ATTEMPTS: usize = 5;
/// How long a started broker may take to answer its first CONNECT.
const READY_TIMEOUT: Duration = Duration::from_secs(5);

/// Why the broker could not be started.
#[derive(Debug, thiserror::Error)]
pub enum BrokerStartError {
    /// No free loopback port could be found.
    #[error("cannot find a free loopback port: {0}")]
    NoPort(std::io::Error),
    /// The Tokio runtime for the broker could not be built.
    #[error("cannot build the broker's runtime: {0}")]
    Runtime(std::io::Error),
    /// rumqttd never answered a CONNECT on the ports tried.
    #[error("the embedded broker did not come up on 127.0.0.1 after {START_ATTEMPTS} ports")]
    NotListening,
}

/// A running in-process rumqttd, listening for MQTT 3.1.1 on 127.0.0.1.
///
/// Dropping it shuts the server's runtime down, which closes every
/// connection.
pub struct EmbeddedBroker {
    address: SocketAddr,
    runtime: Option<tokio::runtime::Runtime>,
}

impl std::fmt::Debug for EmbeddedBroker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmbeddedBroker")
            .field("address", &self.address)
            .finish()
    }
}

impl EmbeddedBroker {
    /// Starts a router and a v4 server on a free loopback port.
    pub fn start() -> Result<EmbeddedBroker, BrokerStartError> {
        for _ in 0..START_ATTEMPTS {
            let address = free_loopback_port().map_err(BrokerStartError::NoPort)?;
            if let Some(runtime) = serve(address)? {
                return Ok(EmbeddedBroker {
                    address,
                    runtime: Some(runtime),
                });
            }
        }
        Err(BrokerStartError::NotListening)
    }

    /// Where the broker listens.
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    pub fn is_running(&self) -> bool {
        self.runtime.is_some()
    }

    /// Stops the broker as a crash or a restart would: every connection
    /// closes, and sessions and retained messages are gone (rumqttd keeps
    /// them only in memory, in the router, which is dropped).
    pub fn stop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            // Wait for the listener to be gone, so that a device trying to
            // connect right after the stop is refused, every run the same.
            runtime.shutdown_timeout(Duration::from_secs(2));
        }
    }

    /// Starts a fresh broker on the same address, so devices find it where
    /// they left it.
    pub fn start_again(&mut self) -> Result<(), BrokerStartError> {
        self.stop();
        // The old listener is closed by the runtime's shutdown, which
        // finishes in the background: try a few times.
        for _ in 0..START_ATTEMPTS * 20 {
            if let Some(runtime) = serve(self.address)? {
                self.runtime = Some(runtime);
                return Ok(());
            }
        }
        Err(BrokerStartError::NotListening)
    }
}

/// A new router and v4 server listening on `address`, or `None` if it does
/// not answer a CONNECT there (rumqttd only logs a failed bind).
fn serve(address: SocketAddr) -> Result<Option<tokio::runtime::Runtime>, BrokerStartError> {
    let router_config = RouterConfig {
        max_connections: 1_000,
        max_outgoing_packet_count: 200,
        max_segment_size: 1024 * 1024,
        max_segment_count: 10,
        custom_segment: None,
        initialized_filters: None,
        shared_subscriptions_strategy: Default::default(),
    };
    let router_tx = rumqttd::Router::new(0, router_config).spawn();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("hilt-broker")
        .enable_all()
        .build()
        .map_err(BrokerStartError::Runtime)?;
    let settings = ServerSettings {
        name: "hilt-v4".to_owned(),
        listen: address,
        tls: None,
        next_connection_delay_ms: 0,
        connections: ConnectionSettings {
            connection_timeout_ms: 5_000,
            max_payload_size: 256 * 1024,
            max_inflight_count: 100,
            auth: None,
            external_auth: None,
            dynamic_filters: true,
        },
    };
    let mut server = rumqttd::Server::new(settings, router_tx, V4);
    runtime.spawn(async move { server.start(rumqttd::LinkType::Remote).await });
    if answers_connect(address) {
        Ok(Some(runtime))
    } else {
        runtime.shutdown_background();
        Ok(None)
    }
}

impl Drop for EmbeddedBroker {
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

fn free_loopback_port() -> std::io::Result<SocketAddr> {
    let listener = TcpListener::bind(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 0))?;
    listener.local_addr()
}

/// True once a CONNECT to `address` is answered with a CONNACK.
fn answers_connect(address: SocketAddr) -> bool {
    let deadline = std::time::Instant::now() + READY_TIMEOUT;
    // Polling is the only way: rumqttd says nothing when it is listening.
    while std::time::Instant::now() < deadline {
        if let Ok(true) = try_connect(address) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    false
}

fn try_connect(address: SocketAddr) -> std::io::Result<bool> {
    let mut stream = TcpStream::connect_timeout(&address, Duration::from_millis(200))?;
    stream.set_read_timeout(Some(Duration::from_millis(500)))?;
    let connect = Packet::Connect(Connect {
        client_id: "hilt-readiness-probe",
        keep_alive_seconds: 10,
        clean_session: true,
        will: None,
        username: None,
        password: None,
    });
    let mut buffer = [0u8; 64];
    let length =
        codec::encode(&connect, &mut buffer).map_err(|_| std::io::ErrorKind::InvalidInput)?;
    stream.write_all(&buffer[..length])?;
    let mut reply = [0u8; 4];
    stream.read_exact(&mut reply)?;
    Ok(matches!(codec::decode(&reply), Ok((Packet::ConnAck(ack), _)) if ack.return_code == 0))
}
