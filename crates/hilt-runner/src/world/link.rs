//! A device's link to the broker: where its connection stands at both ends
//! ([`LinkState`]), and the faults in between (latency, loss, link down) in
//! [`FaultInjector`], which wraps it as smoltcp's `phy::FaultInjector` wraps
//! a device.

use hilt_firmware::mqtt::codec::QoS;
use hilt_firmware::time::{Duration, Instant};
use hilt_sim::random::SplitMix64;

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
    /// From the CONNECT; `None` until it is sent, or for keepalive 0.
    pub(super) keep_alive: Option<Duration>,
    pub(super) will: Option<Will>,
    /// The device time of the last packet the broker received.
    pub(super) last_heard: Instant,
    /// The CONNECT carried a user name or password.
    pub(super) sent_login: bool,
    /// The user name the CONNECT carried, for `broker: { revoke }`.
    pub(super) username: Option<String>,
    /// The broker refused the login with this CONNACK return code; the
    /// device hears it, in its turn, and closes.
    pub(super) refused: Option<u8>,
    /// The broker's side of the device's TLS, with `broker: { tls: true }`.
    pub(super) tls: Option<super::link_tls::LinkTls>,
}

impl Link {
    /// When the broker gives up on a silent connection: 1.5 × keepalive
    /// after the last packet, as MQTT 3.1.1 §3.1.2.10 says.
    pub(super) fn broker_deadline(&self) -> Option<Instant> {
        self.keep_alive
            .map(|keep_alive| self.last_heard + keep_alive + keep_alive / 2)
    }
}

/// A connection a device gave up that the broker still holds.
#[derive(Debug)]
pub(super) struct Orphan {
    pub(super) link: Link,
    /// Orphans are numbered as they are made, so that those the broker's
    /// keepalive drops at one instant go in the order they were left behind.
    pub(super) sequence: u64,
}

/// Where a device's connection to the broker stands, at both ends. What the
/// firmware believes and what the broker holds can differ (a cut link, a
/// reset), and each way they can differ is a variant of its own.
#[derive(Debug)]
pub(super) enum LinkState {
    /// No connection: the device has none, and the broker holds none for it.
    Unconnected,
    /// Both ends hold the connection.
    Open(Link),
    /// DISCONNECT was forwarded: the broker closes the connection, and the
    /// device, closing its side next, need not be told. The will is
    /// already discarded.
    Disconnecting(Link),
    /// The broker dropped the connection (its keepalive, or it stopped)
    /// while the device could not hear it: the device still believes its
    /// link is up, until a packet it sends meets the broker's reset, or its
    /// own keepalive gives up.
    DroppedUnheard,
    /// The device gave up a connection the broker still holds: it reset, or
    /// closed the connection while its network was down. The broker drops
    /// it at its keepalive deadline, or when the device connects again (a
    /// takeover), whichever comes first. The device itself has no
    /// connection.
    Orphaned(Orphan),
}

impl LinkState {
    /// The connection both ends hold, if they hold one.
    pub(super) fn link(&self) -> Option<&Link> {
        match self {
            LinkState::Open(link) | LinkState::Disconnecting(link) => Some(link),
            _ => None,
        }
    }

    pub(super) fn link_mut(&mut self) -> Option<&mut Link> {
        match self {
            LinkState::Open(link) | LinkState::Disconnecting(link) => Some(link),
            _ => None,
        }
    }

    /// Whether the firmware believes its link is up (it may be wrong: a cut
    /// link or a broker that went away unannounced).
    pub(super) fn firmware_believes_up(&self) -> bool {
        matches!(
            self,
            LinkState::Open(_) | LinkState::Disconnecting(_) | LinkState::DroppedUnheard
        )
    }

    /// When the broker's keepalive drops the connection it holds for this
    /// device, the device's own or the one it left behind.
    pub(super) fn broker_deadline(&self) -> Option<Instant> {
        match self {
            LinkState::Open(link)
            | LinkState::Disconnecting(link)
            | LinkState::Orphaned(Orphan { link, .. }) => link.broker_deadline(),
            LinkState::Unconnected | LinkState::DroppedUnheard => None,
        }
    }

    /// The orphan's deadline, if the device left a connection behind.
    pub(super) fn orphan_deadline(&self) -> Option<(u64, Instant)> {
        match self {
            LinkState::Orphaned(orphan) => orphan
                .link
                .broker_deadline()
                .map(|deadline| (orphan.sequence, deadline)),
            _ => None,
        }
    }

    /// DISCONNECT was forwarded: the will is discarded, and the broker
    /// will close the connection.
    pub(super) fn disconnect_sent(&mut self) {
        *self = match std::mem::replace(self, LinkState::Unconnected) {
            LinkState::Open(mut link) | LinkState::Disconnecting(mut link) => {
                link.will = None;
                LinkState::Disconnecting(link)
            }
            other => other,
        };
    }

    /// The broker drops the connection both ends hold, unheard by the
    /// device: returns it, so that it can be closed.
    pub(super) fn broker_drops(&mut self) -> Option<Link> {
        match std::mem::replace(self, LinkState::Unconnected) {
            LinkState::Open(link) | LinkState::Disconnecting(link) => {
                *self = LinkState::DroppedUnheard;
                Some(link)
            }
            other => {
                *self = other;
                None
            }
        }
    }

    /// Takes the connection the device left behind, if any (a takeover, or
    /// the broker's keepalive); the device is left with no connection.
    pub(super) fn take_orphan(&mut self) -> Option<Link> {
        match std::mem::replace(self, LinkState::Unconnected) {
            LinkState::Orphaned(orphan) => Some(orphan.link),
            other => {
                *self = other;
                None
            }
        }
    }
}

/// A device's link with its faults, as smoltcp's `phy::FaultInjector` wraps
/// a device: the world asks it when each packet arrives, and whether it is
/// lost. Latency delays every packet; a `drop` costs a TCP retransmission
/// timeout per loss (a seeded draw; TCP never loses data, it delays it);
/// while the link is down everything is lost both ways, and nobody is told.
#[derive(Debug)]
pub(super) struct FaultInjector {
    /// The connection the link carries.
    pub(super) state: LinkState,
    up: bool,
    latency: Duration,
    drop: f64,
    random: SplitMix64,
    /// Packets keep their order: none arrives before an earlier one.
    last_outbound_at: Instant,
    last_inbound_at: Instant,
}

impl FaultInjector {
    /// A link that is up, without latency or loss, carrying no connection.
    pub(super) fn new(seed: u64) -> Self {
        FaultInjector {
            state: LinkState::Unconnected,
            up: true,
            latency: Duration::ZERO,
            drop: 0.0,
            random: SplitMix64::new(seed),
            last_outbound_at: Instant::BOOT,
            last_inbound_at: Instant::BOOT,
        }
    }

    /// Whether packets get through at all (`link: up | down`).
    pub(super) fn is_up(&self) -> bool {
        self.up
    }

    pub(super) fn latency(&self) -> Duration {
        self.latency
    }

    /// The probability that a segment is lost (and sent again).
    pub(super) fn drop_probability(&self) -> f64 {
        self.drop
    }

    /// A `network:` step: whatever it names changes, the rest stays.
    pub(super) fn change(
        &mut self,
        up: Option<bool>,
        latency: Option<Duration>,
        drop: Option<f64>,
    ) {
        if let Some(up) = up {
            self.up = up;
        }
        if let Some(latency) = latency {
            self.latency = latency;
        }
        if let Some(drop) = drop {
            self.drop = drop;
        }
    }

    /// A new connection is open at `at`: nothing the device sends on it
    /// arrives before the connection exists.
    pub(super) fn open(&mut self, link: Link, at: Instant) {
        self.state = LinkState::Open(link);
        self.last_outbound_at = at;
    }

    /// When a packet the device sends at `sent_at` reaches the broker, or
    /// `None` if the link is down and it is lost.
    pub(super) fn outbound_arrival(&mut self, sent_at: Instant) -> Option<Instant> {
        if !self.up {
            return None;
        }
        let arrives = (sent_at + self.transit_time()).max(self.last_outbound_at);
        self.last_outbound_at = arrives;
        Some(arrives)
    }

    /// When a packet the broker sends at `sent_at` reaches the device, or
    /// `None` if the link is down and it is lost.
    pub(super) fn inbound_arrival(&mut self, sent_at: Instant) -> Option<Instant> {
        if !self.up {
            return None;
        }
        let arrives = (sent_at + self.transit_time()).max(self.last_inbound_at);
        self.last_inbound_at = arrives;
        Some(arrives)
    }

    /// How long a packet takes: the latency, plus a retransmission timeout
    /// (doubling) for each time the seeded dice say it is lost.
    fn transit_time(&mut self) -> Duration {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn at_millis(millis: u64) -> Instant {
        Instant::BOOT + Duration::from_millis(millis)
    }

    #[test]
    fn a_link_that_is_down_loses_everything_both_ways() {
        let mut link = FaultInjector::new(1);
        link.change(Some(false), None, None);
        assert_eq!(link.outbound_arrival(at_millis(5)), None);
        assert_eq!(link.inbound_arrival(at_millis(5)), None);
        link.change(Some(true), None, None);
        assert_eq!(link.outbound_arrival(at_millis(5)), Some(at_millis(5)));
    }

    #[test]
    fn latency_delays_each_packet_and_none_overtakes_an_earlier_one() {
        let mut link = FaultInjector::new(1);
        link.change(None, Some(Duration::from_millis(100)), None);
        assert_eq!(link.outbound_arrival(at_millis(0)), Some(at_millis(100)));
        // Less latency now; the next packet still arrives after the first.
        link.change(None, Some(Duration::ZERO), None);
        assert_eq!(link.outbound_arrival(at_millis(10)), Some(at_millis(100)));
        assert_eq!(link.inbound_arrival(at_millis(10)), Some(at_millis(10)));
    }

    #[test]
    fn a_lost_segment_costs_doubling_retransmission_timeouts_drawn_from_the_seed() {
        let mut certain = FaultInjector::new(7);
        certain.change(None, None, Some(1.0));
        // Every try is lost: 200 + 400 + ... + 6400 ms, then the bound.
        assert_eq!(
            certain.outbound_arrival(at_millis(0)),
            Some(at_millis(12_600))
        );

        let delays = |seed| {
            let mut link = FaultInjector::new(seed);
            link.change(None, None, Some(0.5));
            (0..20)
                .map(|_| link.inbound_arrival(Instant::BOOT))
                .collect::<Vec<_>>()
        };
        assert_eq!(delays(3), delays(3));
    }
}
