//! The in-process MQTT broker: rumqttd on a Tokio runtime the runner owns.
//!
//! `rumqttd::Broker::start` blocks for ever, cannot be stopped, cannot bind
//! port 0 and only logs a failed bind. So the runner assembles the broker from
//! rumqttd's public parts instead: a `Router` thread, and a v4 `Server` on a
//! runtime of our own, which can be shut down (and, later, restarted on the
//! same router). The port is found by binding port 0 on loopback, releasing
//! it and handing it to rumqttd; [`EmbeddedBroker::start`] then proves the
//! broker listens with a real CONNECT/CONNACK, and tries another port if not.
//!
//! rumqttd is patched (`vendor/rumqttd/PATCHES.md`): its router ends when
//! the server does, a client's reconnection can no longer panic the broker
//! or have the wrong will published, and a link's late end no longer closes
//! the connection that took its place.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, Once, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use rumqttd::protocol::v4::V4;
use rumqttd::{ConnectionSettings, RouterConfig, ServerSettings};

use hilt_firmware::mqtt::codec::{self, Connect, Packet};

/// How often to try a fresh port when rumqttd fails to bind one.
const START_ATTEMPTS: usize = 5;
/// How long a started broker may take to answer its first CONNECT.
const READY_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a stopping broker may take to end its tasks and its router.
const STOP_TIMEOUT: Duration = Duration::from_secs(5);
/// Connections a broker started with [`EmbeddedBroker::start`] accepts.
pub const DEFAULT_MAX_CONNECTIONS: usize = 1_000;

/// Why the broker could not be started.
#[derive(Debug, thiserror::Error)]
pub enum BrokerStartError {
    /// No free loopback port could be found.
    #[error("cannot find a free loopback port: {0}")]
    NoPort(std::io::Error),
    /// The Tokio runtime or the router thread could not be started.
    #[error("cannot start the broker's threads: {0}")]
    Threads(std::io::Error),
    /// rumqttd never answered a CONNECT on the ports tried.
    #[error("the embedded broker did not come up on 127.0.0.1 after {START_ATTEMPTS} ports")]
    NotListening,
}

/// A running in-process rumqttd, listening for MQTT 3.1.1 on 127.0.0.1.
///
/// Its threads are named after its number (`hilt-broker-N` for the server's
/// runtime, `router-N` for rumqttd's router), so that a panic on one of them
/// is recorded against this broker ([`EmbeddedBroker::panics`]) however many
/// brokers the process runs at once. Stopping or dropping it ends every one
/// of its threads and closes every connection.
pub struct EmbeddedBroker {
    number: usize,
    address: SocketAddr,
    max_connections: usize,
    /// User name -> password, when the broker asks for them; `None`:
    /// anyone may connect. rumqttd reads them through an auth handler
    /// (`external_auth`) rather than its static list, so that a user can be
    /// revoked while it runs ([`EmbeddedBroker::revoke`]).
    users: Option<std::sync::Arc<std::sync::RwLock<std::collections::HashMap<String, String>>>>,
    /// The harness's own user name and password, added to `users`.
    harness_login: Option<(String, String)>,
    running: Option<Running>,
}

/// The threads of a broker that is up.
struct Running {
    runtime: tokio::runtime::Runtime,
    router: JoinHandle<()>,
    /// Serves connections over in-process streams (rumqttd patch 7).
    streams: rumqttd::StreamServer<V4>,
}

/// How many bytes an in-process connection buffers each way, as a socket's
/// send buffer would; a writer waits when it is full.
const IN_PROCESS_BUFFER: usize = 64 * 1024;

impl std::fmt::Debug for EmbeddedBroker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmbeddedBroker")
            .field("number", &self.number)
            .field("address", &self.address)
            .field("running", &self.running.is_some())
            .finish()
    }
}

impl EmbeddedBroker {
    /// Starts a router and a v4 server on a free loopback port, accepting
    /// [`DEFAULT_MAX_CONNECTIONS`] connections.
    pub fn start() -> Result<EmbeddedBroker, BrokerStartError> {
        EmbeddedBroker::start_with_capacity(DEFAULT_MAX_CONNECTIONS)
    }

    /// Starts a router and a v4 server on a free loopback port, accepting up
    /// to `max_connections` connections at once (rumqttd allocates its
    /// tables for that many up front).
    pub fn start_with_capacity(max_connections: usize) -> Result<EmbeddedBroker, BrokerStartError> {
        EmbeddedBroker::start_with_users(max_connections, None)
    }

    /// [`EmbeddedBroker::start_with_capacity`], asking every client for a
    /// user name and password from `users` (user name -> password) when
    /// given: a client without them, or with wrong ones, gets CONNACK
    /// return code 4 (rumqttd patch 9) and is disconnected.
    pub fn start_with_users(
        max_connections: usize,
        mut users: Option<std::collections::HashMap<String, String>>,
    ) -> Result<EmbeddedBroker, BrokerStartError> {
        install_panic_recorder();
        // The harness's client logs in too, as a user of its own whose name
        // and password nobody can guess: the broker listens on loopback,
        // where other local programs could otherwise use them.
        let harness_login = users.as_mut().map(|users| {
            let mut secret = [0u8; 24];
            // Without the OS's randomness the login is still unique to the
            // run, only guessable: the process id and the time.
            if getrandom::getrandom(&mut secret).is_err() {
                let fallback = format!("{}{:?}", std::process::id(), std::time::SystemTime::now());
                for (byte, from) in secret.iter_mut().zip(fallback.bytes().cycle()) {
                    *byte = from;
                }
            }
            let hex: String = secret.iter().map(|byte| format!("{byte:02x}")).collect();
            let login = (format!("hilt-harness-{}", &hex[..16]), hex[16..].to_owned());
            users.insert(login.0.clone(), login.1.clone());
            login
        });
        let number = NEXT_BROKER_NUMBER.fetch_add(1, Ordering::Relaxed);
        lock_panics().insert(number, Vec::new());
        let mut broker = EmbeddedBroker {
            number,
            address: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
            max_connections,
            users: users.map(|users| std::sync::Arc::new(std::sync::RwLock::new(users))),
            harness_login,
            running: None,
        };
        for _ in 0..START_ATTEMPTS {
            broker.address = free_loopback_port().map_err(BrokerStartError::NoPort)?;
            if let Some(running) = broker.serve()? {
                broker.running = Some(running);
                return Ok(broker);
            }
        }
        Err(BrokerStartError::NotListening)
    }

    /// This broker's number, which its thread names carry
    /// (`hilt-broker-N`, `router-N`).
    pub fn number(&self) -> usize {
        self.number
    }

    /// Where the broker listens.
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// The user name and password the harness's own client logs in with,
    /// when the broker asks for them.
    pub fn harness_login(&self) -> Option<(&str, &str)> {
        self.harness_login
            .as_ref()
            .map(|(name, password)| (name.as_str(), password.as_str()))
    }

    /// Whether it asks clients for a user name and password.
    pub fn requires_login(&self) -> bool {
        self.users.is_some()
    }

    /// Forgets `user`: from now on the broker refuses her login (CONNACK 4),
    /// across restarts too. Her open connections are not closed here; the
    /// runner, which knows which links logged in as her, closes them.
    pub fn revoke(&mut self, user: &str) {
        if let Some(users) = &self.users {
            users
                .write()
                .unwrap_or_else(PoisonError::into_inner)
                .remove(user);
        }
    }

    /// Whether it is up (not stopped by [`EmbeddedBroker::stop`]).
    pub fn is_running(&self) -> bool {
        self.running.is_some()
    }

    /// A connection to the broker inside this process, without a socket:
    /// the broker serves it exactly as one accepted on its listener, and it
    /// costs no file descriptor, so a fleet is not bounded by the process's
    /// limit on open files. Refused, as a TCP connect would be, while the
    /// broker is stopped.
    pub fn connect_in_process(&self) -> std::io::Result<tokio::io::DuplexStream> {
        let Some(running) = &self.running else {
            return Err(std::io::ErrorKind::ConnectionRefused.into());
        };
        let (ours, theirs) = tokio::io::duplex(IN_PROCESS_BUFFER);
        running.runtime.spawn(running.streams.serve(theirs));
        Ok(ours)
    }

    /// How many connections the broker accepts at once.
    pub fn max_connections(&self) -> usize {
        self.max_connections
    }

    /// What panicked on this broker's threads so far, one line each
    /// (message and location). rumqttd runs its connections as Tokio tasks,
    /// whose panics end only the task: without this record a broker that
    /// lost a connection to a panic would look like one that chose to.
    pub fn panics(&self) -> Vec<String> {
        lock_panics().get(&self.number).cloned().unwrap_or_default()
    }

    /// Stops the broker as a crash or a restart would: every connection
    /// closes, and sessions and retained messages are gone (rumqttd keeps
    /// them only in memory, in the router, which ends). Returns once its
    /// listener is closed and its threads have ended, so that a device
    /// trying to connect right after the stop is refused, every run the
    /// same, and nothing of the old broker is left behind. Returns whether
    /// its router thread ended within the bound it is given (5 s); `false`
    /// means a thread of the old broker is still running.
    pub fn stop(&mut self) -> bool {
        match self.running.take() {
            Some(running) => running.stop(),
            None => true,
        }
    }

    /// Starts a fresh broker on the same address, so devices find it where
    /// they left it.
    pub fn start_again(&mut self) -> Result<(), BrokerStartError> {
        self.stop();
        // The old listener is closed; the port may still be settling.
        for _ in 0..START_ATTEMPTS * 20 {
            if let Some(running) = self.serve()? {
                self.running = Some(running);
                return Ok(());
            }
        }
        Err(BrokerStartError::NotListening)
    }

    /// A new router and v4 server listening on our address, or `None` if it
    /// does not answer a CONNECT there (rumqttd only logs a failed bind).
    fn serve(&self) -> Result<Option<Running>, BrokerStartError> {
        let router_config = RouterConfig {
            max_connections: self.max_connections,
            max_outgoing_packet_count: 200,
            max_segment_size: 1024 * 1024,
            max_segment_count: 10,
            custom_segment: None,
            initialized_filters: None,
            shared_subscriptions_strategy: Default::default(),
        };
        // The router's thread is named `router-{number}` by rumqttd.
        let (router_tx, router) = rumqttd::Router::new(self.number, router_config)
            .spawn_joinable()
            .map_err(BrokerStartError::Threads)?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name(format!("{BROKER_THREAD_PREFIX}{}", self.number))
            .enable_all()
            .build()
            .map_err(BrokerStartError::Threads)?;
        let settings = ServerSettings {
            name: "hilt-v4".to_owned(),
            listen: self.address,
            tls: None,
            next_connection_delay_ms: 0,
            connections: ConnectionSettings {
                connection_timeout_ms: 60_000,
                max_payload_size: 256 * 1024,
                max_inflight_count: 100,
                auth: None,
                external_auth: self.users.clone().map(auth_handler),
                dynamic_filters: true,
            },
        };
        let mut server = rumqttd::Server::new(settings, router_tx, V4);
        let streams = server.stream_server();
        runtime.spawn(async move { server.start(rumqttd::LinkType::Remote).await });
        let running = Running {
            runtime,
            router,
            streams,
        };
        if answers_connect(self.address) {
            Ok(Some(running))
        } else {
            running.stop();
            Ok(None)
        }
    }
}

impl Running {
    /// Ends the broker's tasks and waits, bounded, for its router; returns
    /// whether the router ended.
    fn stop(self) -> bool {
        let Running {
            runtime,
            router,
            streams,
        } = self;
        // The router ends once every sender to it is gone: the in-process
        // connection server's, the server's and each connection's (the
        // runtime's tasks, dropped by its shutdown).
        drop(streams);
        runtime.shutdown_timeout(STOP_TIMEOUT);
        let deadline = std::time::Instant::now() + STOP_TIMEOUT;
        while !router.is_finished() && std::time::Instant::now() < deadline {
            // JoinHandle has no join with a timeout; a router that does not
            // stop must not hang the run, so it is polled, bounded.
            std::thread::sleep(Duration::from_millis(1));
        }
        let ended = router.is_finished();
        if ended {
            let _ = router.join();
        }
        ended
    }
}

impl Drop for EmbeddedBroker {
    fn drop(&mut self) {
        self.stop();
        lock_panics().remove(&self.number);
    }
}

/// Numbers brokers apart, in their thread names.
static NEXT_BROKER_NUMBER: AtomicUsize = AtomicUsize::new(1);
/// Prefix of the names of a broker's runtime threads.
const BROKER_THREAD_PREFIX: &str = "hilt-broker-";
/// Prefix rumqttd gives its router thread.
const ROUTER_THREAD_PREFIX: &str = "router-";
/// Panics seen on the threads of each live broker, by its number.
static PANICS: Mutex<BTreeMap<usize, Vec<String>>> = Mutex::new(BTreeMap::new());

fn lock_panics() -> std::sync::MutexGuard<'static, BTreeMap<usize, Vec<String>>> {
    PANICS.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Adds to the process's panic hook: a panic on a live broker's thread is
/// recorded against that broker, then reported as before.
fn install_panic_recorder() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if let Some(number) = std::thread::current().name().and_then(broker_number) {
                let message = info
                    .payload()
                    .downcast_ref::<&str>()
                    .map(|text| (*text).to_owned())
                    .or_else(|| info.payload().downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "a panic without a message".to_owned());
                let location = info
                    .location()
                    .map(|location| format!(" at {}:{}", location.file(), location.line()))
                    .unwrap_or_default();
                if let Some(panics) = lock_panics().get_mut(&number) {
                    panics.push(format!("{message}{location}"));
                }
            }
            previous(info);
        }));
    });
}

/// The broker number in one of a broker's thread names.
fn broker_number(thread_name: &str) -> Option<usize> {
    thread_name
        .strip_prefix(BROKER_THREAD_PREFIX)
        .or_else(|| thread_name.strip_prefix(ROUTER_THREAD_PREFIX))?
        .parse()
        .ok()
}

fn free_loopback_port() -> std::io::Result<SocketAddr> {
    let listener = TcpListener::bind(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 0))?;
    listener.local_addr()
}

/// True once a CONNECT to `address` is answered with a CONNACK.
fn answers_connect(address: SocketAddr) -> bool {
    let deadline = std::time::Instant::now() + READY_TIMEOUT;
    // Polling is the only way: rumqttd says nothing when it is listening.
    // Its listener is usually up within a fraction of a millisecond, so the
    // pause between tries starts short and doubles (a fixed 5 ms pause was
    // half the wall time of a short scenario).
    let mut pause = Duration::from_micros(100);
    while std::time::Instant::now() < deadline {
        if let Ok(true) = try_connect(address) {
            return true;
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(5));
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
    // Any CONNACK shows the broker answers CONNECT: a broker with users
    // refuses the probe, which has no user name (code 4).
    Ok(
        matches!(codec::decode(&reply), Ok((Packet::ConnAck(ack), _)) if ack.return_code == 0 || ack.return_code == 4),
    )
}

/// rumqttd's auth handler over a user list that can change while it runs:
/// a login is let in when its password is the user's, compared in constant
/// time as rumqttd's own static list does.
fn auth_handler(
    users: std::sync::Arc<std::sync::RwLock<std::collections::HashMap<String, String>>>,
) -> rumqttd::AuthHandler {
    std::sync::Arc::new(move |_client_id, user, password| {
        let let_in = users
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&user)
            .is_some_and(|stored| constant_time_equal(stored.as_bytes(), password.as_bytes()));
        Box::pin(std::future::ready(let_in))
    })
}

/// Whether `a` and `b` are equal, taking as long whatever the first
/// difference (only the lengths may be told apart).
fn constant_time_equal(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len()
        && a.iter()
            .zip(b)
            .fold(0u8, |difference, (x, y)| difference | (x ^ y))
            == 0
}
