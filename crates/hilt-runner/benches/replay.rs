//! `cargo bench -p hilt-runner`: how much faster than real time scenarios
//! replay, next to the raw cost of the same number of publishes through the
//! same broker, all measured in one run.
//!
//! Not a test: nothing here asserts a speed. The machines are shared and
//! noisy; compare the ratios of one run, not numbers across runs.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::time::{Duration, Instant};

use hilt_firmware::mqtt::codec::{
    self, Connect, Packet, Publish, QoS, Subscribe, SubscribeFilters,
};
use hilt_runner::broker::EmbeddedBroker;
use hilt_runner::{Registry, RunOutcome};

fn main() {
    let registry = Registry::with_bundled_apps();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let cases = [
        (
            "thermometer_day",
            root.join("../../scenarios/thermometer/thermometer_day.yaml"),
        ),
        (
            "remote-led pair, 1h",
            root.join("benches/remote_led_hour.yaml"),
        ),
    ];
    println!(
        "{:<22} {:>12} {:>10} {:>9} {:>14} {:>16} {:>10}",
        "scenario", "device time", "wall", "messages", "device/wall", "raw publishes", "overhead"
    );
    for (label, path) in cases {
        let scenario = hilt_runner::load(&path, &registry)
            .unwrap_or_else(|diagnostics| panic!("{diagnostics}"));
        let started = Instant::now();
        let outcome: RunOutcome = hilt_runner::run_scenario(&scenario, &registry);
        let wall = started.elapsed();
        assert!(outcome.passed(), "{}", outcome.report());
        let messages = outcome.messages.len();
        let device_seconds = outcome.device_time.as_micros() as f64 / 1e6;
        let raw = raw_publish_round_trips(messages);
        println!(
            "{:<22} {:>11.0}s {:>9.3}s {:>9} {:>13.0}x {:>15.3}s {:>9.1}x",
            label,
            device_seconds,
            wall.as_secs_f64(),
            messages,
            device_seconds / wall.as_secs_f64(),
            raw.as_secs_f64(),
            wall.as_secs_f64() / raw.as_secs_f64(),
        );
    }
    println!();
    println!("device/wall: device time replayed per second of wall time.");
    println!(
        "raw publishes: the same number of QoS 0 publishes, each awaited at a subscriber, through a fresh embedded broker."
    );
    println!("overhead: scenario wall time / raw publish time.");
}

/// Publishes `count` QoS 0 messages one at a time from one connection and
/// waits for each at a subscriber: the least a fenced publish can cost.
fn raw_publish_round_trips(count: usize) -> Duration {
    let broker = EmbeddedBroker::start().expect("broker starts");
    let mut subscriber = RawConnection::open(broker.address(), "bench-subscriber");
    let mut publisher = RawConnection::open(broker.address(), "bench-publisher");
    let filters = [("bench/#", QoS::AtMostOnce)];
    subscriber.send(&Packet::Subscribe(Subscribe {
        packet_id: 1,
        filters: SubscribeFilters::List(&filters),
    }));
    subscriber.wait_for(|packet| matches!(packet, Packet::SubAck(_)));
    let started = Instant::now();
    for index in 0..count {
        let payload = index.to_string();
        publisher.send(&Packet::Publish(Publish {
            dup: false,
            qos: QoS::AtMostOnce,
            retain: false,
            topic: "bench/round-trip",
            packet_id: None,
            payload: payload.as_bytes(),
        }));
        subscriber.wait_for(
            |packet| matches!(packet, Packet::Publish(publish) if publish.payload == payload.as_bytes()),
        );
    }
    started.elapsed()
}

/// A client connection as the runner's own are set up: TCP_NODELAY, and an
/// immediate ACK after every read (rumqttd never sets TCP_NODELAY, so
/// without it each round trip waits on Nagle against a delayed ACK).
struct RawConnection {
    stream: TcpStream,
    pending: Vec<u8>,
}

impl RawConnection {
    fn open(address: std::net::SocketAddr, client_id: &str) -> RawConnection {
        let stream = TcpStream::connect(address).expect("broker accepts");
        stream.set_nodelay(true).expect("nodelay");
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .expect("timeout");
        let mut connection = RawConnection {
            stream,
            pending: Vec::new(),
        };
        connection.send(&Packet::Connect(Connect {
            client_id,
            keep_alive_seconds: 600,
            clean_session: true,
            will: None,
            username: None,
            password: None,
        }));
        connection.wait_for(|packet| matches!(packet, Packet::ConnAck(_)));
        connection
    }

    fn send(&mut self, packet: &Packet<'_>) {
        let mut buffer = vec![0; codec::encoded_len(packet)];
        let length = codec::encode(packet, &mut buffer).expect("encodes");
        self.stream
            .write_all(&buffer[..length])
            .expect("broker takes bytes");
    }

    fn wait_for(&mut self, mut wanted: impl FnMut(&Packet<'_>) -> bool) {
        let mut chunk = [0u8; 4096];
        loop {
            while let Ok((packet, length)) = codec::decode(&self.pending) {
                let found = wanted(&packet);
                self.pending.drain(..length);
                if found {
                    return;
                }
            }
            let read = self.stream.read(&mut chunk).expect("broker answers");
            assert!(read > 0, "broker closed a bench connection");
            let _ = socket2::SockRef::from(&self.stream).set_tcp_quickack(true);
            self.pending.extend_from_slice(&chunk[..read]);
        }
    }
}
