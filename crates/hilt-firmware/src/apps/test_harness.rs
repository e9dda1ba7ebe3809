//! A tiny stand-in for the runner, for the apps' unit tests: it drives a
//! [`Node`] in virtual time with the shared [`FakeBroker`] answering it
//! (delivering each answer at once), records what the node publishes and
//! subscribes, and can keep the broker unreachable to test offline
//! behaviour.

extern crate std;

use std::string::{String as StdString, ToString};
use std::vec::Vec as StdVec;

use core::convert::Infallible;

use embedded_hal::digital::{ErrorType, OutputPin};

use crate::app::{App, Firmware, LogLine, Node};
use crate::fake_broker::{FakeBroker, decode_all, qos0_publish, take_transmitted};
use crate::mqtt::codec::{Packet, QoS};
use crate::time::{Duration, Instant};

/// One PUBLISH the node sent.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Sent {
    pub at: Instant,
    pub topic: StdString,
    pub payload: StdString,
    pub qos: QoS,
    pub retain: bool,
}

/// The last will of a CONNECT the node sent.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct SentWill {
    pub topic: StdString,
    pub payload: StdString,
    pub qos: QoS,
    pub retain: bool,
}

#[derive(Debug)]
pub(crate) struct Harness<A: App> {
    pub node: Node<A>,
    pub now: Instant,
    /// What answers the node; `broker.acknowledges_publishes = false` leaves
    /// its QoS 1 and 2 publishes unacknowledged.
    pub broker: FakeBroker,
    /// While false, every link attempt fails at once (TCP refused).
    pub broker_up: bool,
    pub sent: StdVec<Sent>,
    pub subscriptions: StdVec<(StdString, QoS)>,
    pub wills: StdVec<Option<SentWill>>,
    pub logs: StdVec<LogLine>,
    pub link_attempts: u32,
    /// Times the node was polled.
    pub polls: u32,
}

impl<A: App> Harness<A> {
    /// A node booting at `Instant::BOOT` with the broker reachable.
    pub fn new(app: A) -> Self {
        Harness {
            node: Node::new(app, Instant::BOOT),
            now: Instant::BOOT,
            broker: FakeBroker::new(),
            broker_up: true,
            sent: StdVec::new(),
            subscriptions: StdVec::new(),
            wills: StdVec::new(),
            logs: StdVec::new(),
            link_attempts: 0,
            polls: 0,
        }
    }

    pub fn app(&self) -> &A {
        self.node.app()
    }

    pub fn app_mut(&mut self) -> &mut A {
        self.node.app_mut()
    }

    /// Hands the node bytes from the broker; they always fit, since the
    /// broker's answers are small.
    fn feed(&mut self, bytes: &[u8]) {
        assert_eq!(self.node.receive(self.now, bytes), bytes.len());
    }

    /// Takes what the node wrote, records it and lets the broker answer it;
    /// returns what the broker owes the node in return.
    fn take_from_node(&mut self) -> StdVec<u8> {
        let bytes = take_transmitted(&mut self.node);
        for packet in decode_all(&bytes).expect("the node sends valid packets") {
            self.record(&packet);
            self.broker.receive(&packet);
        }
        self.broker.take_owed()
    }

    fn record(&mut self, packet: &Packet<'_>) {
        match packet {
            Packet::Connect(connect) => {
                self.wills.push(connect.will.map(|will| SentWill {
                    topic: will.topic.to_string(),
                    payload: StdString::from_utf8_lossy(will.payload).into_owned(),
                    qos: will.qos,
                    retain: will.retain,
                }));
            }
            Packet::Publish(publish) => {
                self.sent.push(Sent {
                    at: self.now,
                    topic: publish.topic.to_string(),
                    payload: StdString::from_utf8_lossy(publish.payload).into_owned(),
                    qos: publish.qos,
                    retain: publish.retain,
                });
            }
            Packet::Subscribe(subscribe) => {
                for (filter, qos) in subscribe.filters.iter() {
                    self.subscriptions.push((filter.to_string(), qos));
                }
            }
            _ => {}
        }
    }

    /// Takes everything the node writes, handing it the broker's answers at
    /// once, until it writes nothing more; true if the broker answered
    /// anything.
    fn drain(&mut self) -> bool {
        let mut answered = false;
        while !self.node.transmit_buffer().is_empty() {
            let owed = self.take_from_node();
            if !owed.is_empty() {
                answered = true;
                self.feed(&owed);
            }
        }
        answered
    }

    /// Opens or closes the link as the session asks, like the runner does.
    fn manage_link(&mut self) {
        if self.node.wants_close() {
            self.node.link_down(self.now);
        }
        if self.node.wants_link(self.now) {
            self.link_attempts += 1;
            if self.broker_up {
                self.node.link_up(self.now);
                // The CONNECT goes out and its CONNACK comes back before the
                // node runs again; what the node sends on connecting waits
                // for that run, as in the runner.
                let connack = self.take_from_node();
                self.feed(&connack);
            } else {
                self.node.link_down(self.now);
            }
        }
    }

    fn collect_logs(&mut self) {
        while let Some(line) = self.node.pop_log() {
            self.logs.push(line);
        }
    }

    /// Runs the node at the current instant, again while the broker has
    /// answered something (a device with bytes waiting runs, as in the
    /// runner); returns its next instant.
    pub fn step(&mut self) -> Instant {
        self.manage_link();
        let mut next = self.node.poll(self.now);
        self.polls += 1;
        while self.drain() {
            next = self.node.poll(self.now);
            self.polls += 1;
        }
        self.collect_logs();
        next
    }

    /// Runs every deadline up to and including `end`, then sets the time to
    /// `end`. Panics if the node asks to run at the same instant forever.
    pub fn run_until(&mut self, end: Instant) {
        let mut same_instant = 0;
        loop {
            let next = self.step();
            if next <= self.now {
                same_instant += 1;
                assert!(same_instant < 1000, "the node spins at {}", self.now);
            } else {
                same_instant = 0;
            }
            if next > end {
                self.now = end;
                break;
            }
            self.now = next.max(self.now);
        }
    }

    /// Runs for `duration` from now.
    pub fn run_for(&mut self, duration: Duration) {
        let end = self.now + duration;
        self.run_until(end);
    }

    /// The broker delivers a message now; the node then runs, as in the runner.
    pub fn deliver(&mut self, topic: &str, payload: &[u8]) {
        self.feed(&qos0_publish(topic, payload));
        self.step();
    }

    /// The link dies under the node now (the broker went away).
    pub fn cut_link(&mut self) {
        self.node.link_down(self.now);
        self.step();
    }

    /// The publishes recorded on `topic`, leaving them recorded.
    pub fn sent_on(&self, topic: &str) -> StdVec<Sent> {
        self.sent
            .iter()
            .filter(|sent| sent.topic == topic)
            .cloned()
            .collect()
    }

    /// True if a log line contains `text`.
    pub fn logged(&self, text: &str) -> bool {
        self.logs.iter().any(|line| line.text.contains(text))
    }
}

/// Seconds after boot.
pub(crate) fn at(seconds: f64) -> Instant {
    Instant::from_micros((seconds * 1_000_000.0).round() as u64)
}

/// An output pin that remembers its level and how often it was set.
#[derive(Debug, Default)]
pub(crate) struct FakePin {
    pub high: bool,
    pub writes: u32,
}

impl ErrorType for FakePin {
    type Error = Infallible;
}

impl OutputPin for FakePin {
    fn set_low(&mut self) -> Result<(), Infallible> {
        self.high = false;
        self.writes += 1;
        Ok(())
    }

    fn set_high(&mut self) -> Result<(), Infallible> {
        self.high = true;
        self.writes += 1;
        Ok(())
    }
}
