//! The broker's side of a device connection, and the faults of the link
//! in between (latency, loss), as smoltcp's `FaultInjector` wraps a device.

use hilt_firmware::mqtt::codec::QoS;
use hilt_firmware::time::{Duration, Instant};

use crate::connection::BrokerConnection;

/// TCP's first retransmission timeout (RFC 6298 allows 200ms on Linux):
/// what one lost segment costs.
const FIRST_RETRANSMISSION_TIMEOUT: Duration = Duration::from_millis(200);
/// Losses of one segment after which the delay stops growing (TCP would
/// keep trying; the runner keeps the delay bounded and the run finite).
const MAX_RETRANSMISSIONS: u32 = 6;

/// The will a connection carries, from its CONNECT.
#[derive(Debug, Clone)]
pub(super) struct Will {
    pub(super) topic: String,
    pub(super) payload: Vec<u8>,
    pub(super) qos: QoS,
    pub(super) retain: bool,
}

/// The broker's side of one device connection.
#[derive(Debug)]
pub(super) struct Link {
    pub(super) connection: BrokerConnection,
    /// The device's MQTT client id, which the broker keys its session by.
    pub(super) client_id: String,
    /// From the CONNECT; `None` until it is sent, or for keepalive 0.
    pub(super) keep_alive: Option<Duration>,
    pub(super) will: Option<Will>,
    /// The device time of the last packet the broker received.
    pub(super) last_heard: Instant,
    /// DISCONNECT was forwarded: the broker closes the connection, and the
    /// device, closing it too, need not be told.
    pub(super) disconnect_sent: bool,
}

impl Link {
    /// When the broker gives up on a silent connection: 1.5 × keepalive
    /// after the last packet, as MQTT 3.1.1 §3.1.2.10 says.
    pub(super) fn broker_deadline(&self) -> Option<Instant> {
        self.keep_alive
            .map(|keep_alive| self.last_heard + keep_alive + keep_alive / 2)
    }
}

/// A connection left behind by a device, with the device's name.
#[derive(Debug)]
pub(super) struct Orphan {
    pub(super) device: String,
    pub(super) link: Link,
}

/// Link faults of one device.
#[derive(Debug)]
pub(super) struct NetworkConditions {
    pub(super) up: bool,
    pub(super) latency: Duration,
    pub(super) drop: f64,
    random: SplitMix64,
    /// Packets keep their order: none is sent before an earlier one.
    pub(super) last_outbound_at: Instant,
    pub(super) last_inbound_at: Instant,
}

impl NetworkConditions {
    pub(super) fn new(seed: u64) -> Self {
        NetworkConditions {
            up: true,
            latency: Duration::ZERO,
            drop: 0.0,
            random: SplitMix64(seed),
            last_outbound_at: Instant::BOOT,
            last_inbound_at: Instant::BOOT,
        }
    }

    /// How long a packet takes: the latency, plus a retransmission timeout
    /// (doubling) for each time the seeded dice say it is lost.
    pub(super) fn transit_time(&mut self) -> Duration {
        let mut delay = self.latency;
        let mut timeout = FIRST_RETRANSMISSION_TIMEOUT;
        for _ in 0..MAX_RETRANSMISSIONS {
            if self.drop <= 0.0 || self.random.next_f64() >= self.drop {
                break;
            }
            delay += timeout;
            timeout *= 2;
        }
        delay
    }
}

/// A small seeded generator (SplitMix64): every random choice of a run comes
/// from the scenario's seed. Not worth a dependency for eight lines.
#[derive(Debug, Clone)]
struct SplitMix64(u64);

impl SplitMix64 {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}
