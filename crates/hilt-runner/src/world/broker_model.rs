//! What the broker keeps and what it owes, as a sans-IO model: the runner's
//! mirror of the broker's state, from which it predicts what the broker must
//! send after each packet it forwards.
//!
//! No sockets, threads or clocks: each method takes the facts of a packet
//! (or of a connection opening or closing) and returns the [`Awaited`] list,
//! the replies, deliveries and closes the broker owes for it. The world
//! calls it for every packet it forwards, in the order it forwards them, and
//! for the harness's own publishes and the broker's wills.
//!
//! What it mirrors:
//!
//! - the retained store (a retained publish with an empty payload clears its
//!   topic);
//! - the subscriptions of each open connection;
//! - sessions with clean session off, by client id: their subscriptions with
//!   their QoS, SUBSCRIBE and UNSUBSCRIBE both, and the QoS 1 and 2 messages
//!   kept for them while they are away, delivered after their next CONNACK;
//! - QoS 2 deliveries, held until the publisher's PUBREL is forwarded, since
//!   rumqttd and Mosquitto both release a QoS 2 message only then.
//!
//! Where brokers differ, the model follows the one it is told it is talking
//! to ([`BrokerModel::new`]).

use std::collections::{BTreeMap, BTreeSet};

use hilt_firmware::mqtt::codec::{Connect, Packet, Publish, QoS, Subscribe, Unsubscribe};
use hilt_firmware::mqtt::topic::filter_matches;

use super::owed::{Awaited, Publisher, ReplyKind, fulfils};
use super::subscriptions::Subscriptions;
use crate::connection::ConnectionId;

/// A session the broker keeps while its client is away (clean session off).
#[derive(Debug, Default)]
struct PersistentSession {
    /// The connection it was last resumed on. Its client is away when this
    /// is `None` or that connection is no longer open.
    connection: Option<ConnectionId>,
    /// Its subscriptions, with their QoS.
    filters: Vec<(String, u8)>,
    /// Messages kept for it while it is away: topic and payload.
    owed: Vec<(String, Vec<u8>)>,
}

/// The runner's mirror of the broker's state; see the module documentation.
#[derive(Debug)]
pub(super) struct BrokerModel {
    /// Whether the broker sends the retained messages a filter matches again
    /// when a connection subscribes to a filter it already has. MQTT 3.1.1
    /// §3.8.4 says it must (a subscription is replaced), and Mosquitto does;
    /// rumqttd sends them only for a filter the connection did not have.
    resends_retained_on_resubscribe: bool,
    /// Connections the broker holds open, including the ones devices left
    /// behind without its knowing.
    open: BTreeSet<ConnectionId>,
    /// The filters each connection subscribes to, indexed by topic.
    subscriptions: Subscriptions,
    /// Sessions with clean session off, by client id.
    persistent_sessions: BTreeMap<String, PersistentSession>,
    /// Deliveries of QoS 2 publishes owed once their PUBREL is forwarded,
    /// by the publisher's connection and packet id.
    held_qos2: BTreeMap<(ConnectionId, u16), Vec<Awaited>>,
    /// The retained store: payload by topic.
    retained: BTreeMap<String, Vec<u8>>,
}

impl BrokerModel {
    /// An empty broker. `resends_retained_on_resubscribe` is true for an
    /// external broker (MQTT 3.1.1, Mosquitto) and false for the embedded
    /// rumqttd; see the field of that name.
    pub(super) fn new(resends_retained_on_resubscribe: bool) -> BrokerModel {
        BrokerModel {
            resends_retained_on_resubscribe,
            open: BTreeSet::new(),
            subscriptions: Subscriptions::default(),
            persistent_sessions: BTreeMap::new(),
            held_qos2: BTreeMap::new(),
            retained: BTreeMap::new(),
        }
    }

    /// A TCP connection to the broker was opened.
    pub(super) fn on_connection_opened(&mut self, connection: ConnectionId) {
        self.open.insert(connection);
    }

    /// A connection ended, whoever closed it: its subscriptions end with
    /// it, and a persistent session on it is away from now on.
    pub(super) fn on_connection_closed(&mut self, connection: ConnectionId) {
        self.open.remove(&connection);
        self.subscriptions.remove_connection(connection);
    }

    /// The broker stopped: a restart without persistence forgets the
    /// retained store, every session and subscription, and what it held.
    pub(super) fn on_broker_stopped(&mut self) {
        self.open.clear();
        self.subscriptions.clear();
        self.persistent_sessions.clear();
        self.held_qos2.clear();
        self.retained.clear();
    }

    /// What the broker owes after a packet a client sent on `connection`.
    pub(super) fn on_packet(
        &mut self,
        connection: ConnectionId,
        packet: &Packet<'_>,
    ) -> Vec<Awaited> {
        match packet {
            Packet::Connect(connect) => self.on_connect(connection, connect),
            Packet::Publish(publish) => self.on_publish(Publisher::Connection(connection), publish),
            Packet::PubRel(packet_id) => self.on_pubrel(connection, *packet_id),
            Packet::Subscribe(subscribe) => self.on_subscribe(connection, subscribe),
            Packet::Unsubscribe(unsubscribe) => self.on_unsubscribe(connection, unsubscribe),
            Packet::PingReq => vec![reply(connection, ReplyKind::PingResp, None)],
            // The client's half of a QoS 2 delivery: the broker answers
            // PUBREC with PUBREL.
            Packet::PubRec(packet_id) => {
                vec![reply(connection, ReplyKind::PubRel, Some(*packet_id))]
            }
            // A clean disconnect: the broker closes the connection (MQTT
            // 3.1.1 §3.14.4).
            Packet::Disconnect => vec![Awaited::Close { connection }],
            // Acknowledgements of what the broker delivered (PUBACK,
            // PUBCOMP): nothing comes back.
            _ => Vec::new(),
        }
    }

    /// The connections the broker may deliver messages to because of
    /// `packet` from `connection`, asked before it is forwarded and without
    /// changing anything: a publish's subscribers; the subscriber itself for
    /// a SUBSCRIBE (retained messages) and for a CONNECT that resumes a
    /// session (what was kept for it).
    pub(super) fn may_deliver_to(
        &self,
        connection: ConnectionId,
        packet: &Packet<'_>,
    ) -> Vec<ConnectionId> {
        match packet {
            Packet::Publish(publish) => self
                .subscriptions
                .matching(publish.topic)
                .into_iter()
                .collect(),
            Packet::Subscribe(_) => vec![connection],
            Packet::Connect(connect) if !connect.clean_session => vec![connection],
            _ => Vec::new(),
        }
    }

    /// CONNECT owes CONNACK. Clean session on discards a kept session;
    /// off resumes it (or starts one): its subscriptions are the new
    /// connection's, and what was kept for it is delivered after CONNACK.
    pub(super) fn on_connect(
        &mut self,
        connection: ConnectionId,
        connect: &Connect<'_>,
    ) -> Vec<Awaited> {
        let mut awaited = vec![reply(connection, ReplyKind::ConnAck, None)];
        if connect.clean_session {
            self.persistent_sessions.remove(connect.client_id);
            return awaited;
        }
        let session = self
            .persistent_sessions
            .entry(connect.client_id.to_owned())
            .or_default();
        session.connection = Some(connection);
        // The resumed session's subscriptions are the new connection's from
        // its CONNACK on.
        for (filter, _) in &session.filters {
            self.subscriptions.add(connection, filter);
        }
        // The broker hands a returning session what it kept for it, right
        // after CONNACK.
        awaited.extend(
            session
                .owed
                .drain(..)
                .map(|(topic, payload)| Awaited::Delivery {
                    connection,
                    topic,
                    payload,
                }),
        );
        awaited
    }

    /// The broker refused `connection`'s CONNECT (its credentials): it
    /// took over no session and gave it no subscriptions.
    pub(super) fn on_connect_refused(&mut self, connection: ConnectionId) {
        for session in self.persistent_sessions.values_mut() {
            if session.connection == Some(connection) {
                session.connection = None;
            }
        }
        self.subscriptions.remove_connection(connection);
    }

    /// SUBSCRIBE owes SUBACK, and the retained messages the filters match:
    /// for every filter the connection did not have, and, if the broker
    /// does so, for the ones it already had too.
    pub(super) fn on_subscribe(
        &mut self,
        connection: ConnectionId,
        subscribe: &Subscribe<'_>,
    ) -> Vec<Awaited> {
        let filters: Vec<String> = subscribe
            .filters
            .iter()
            .map(|(filter, _)| filter.to_owned())
            .collect();
        let mut awaited = vec![reply(
            connection,
            ReplyKind::SubAck,
            Some(subscribe.packet_id),
        )];
        // A resumed persistent session already has its old filters, so with
        // rumqttd subscribing to them again brings no retained messages.
        let known = self.subscriptions.filters_of(connection);
        let sending_retained: Vec<String> = filters
            .iter()
            .filter(|filter| {
                self.resends_retained_on_resubscribe
                    || !known.is_some_and(|known| known.contains(filter))
            })
            .cloned()
            .collect();
        awaited.extend(self.retained_deliveries(connection, &sending_retained));
        if let Some(session) = self.session_on(connection) {
            for (filter, qos) in subscribe.filters.iter() {
                session.filters.retain(|(known, _)| known != filter);
                session.filters.push((filter.to_owned(), qos.as_u8()));
            }
        }
        for filter in &filters {
            self.subscriptions.add(connection, filter);
        }
        awaited
    }

    /// UNSUBSCRIBE owes UNSUBACK; the filters leave the connection and its
    /// persistent session, if it has one.
    pub(super) fn on_unsubscribe(
        &mut self,
        connection: ConnectionId,
        unsubscribe: &Unsubscribe<'_>,
    ) -> Vec<Awaited> {
        for filter in unsubscribe.filters.iter() {
            self.subscriptions.remove(connection, filter);
        }
        if let Some(session) = self.session_on(connection) {
            for filter in unsubscribe.filters.iter() {
                session.filters.retain(|(known, _)| known != filter);
            }
        }
        vec![reply(
            connection,
            ReplyKind::UnsubAck,
            Some(unsubscribe.packet_id),
        )]
    }

    /// PUBLISH owes the publisher PUBACK (QoS 1) or PUBREC (QoS 2), and a
    /// delivery to every connection with a matching subscription. The
    /// broker's own publishes (wills) owe no acknowledgement. The deliveries
    /// of a client's QoS 2 publish are held until its PUBREL
    /// ([`Self::on_pubrel`]). The message is also kept for away persistent
    /// sessions, and retained if it asks to be.
    pub(super) fn on_publish(
        &mut self,
        publisher: Publisher,
        publish: &Publish<'_>,
    ) -> Vec<Awaited> {
        let mut awaited = Vec::new();
        match (publisher, publish.qos) {
            (Publisher::Connection(connection), QoS::AtLeastOnce) => {
                awaited.push(reply(connection, ReplyKind::PubAck, publish.packet_id));
            }
            (Publisher::Connection(connection), QoS::ExactlyOnce) => {
                awaited.push(reply(connection, ReplyKind::PubRec, publish.packet_id));
            }
            _ => {}
        }
        for connection in self.subscriptions.matching(publish.topic) {
            awaited.push(Awaited::Delivery {
                connection,
                topic: publish.topic.to_owned(),
                payload: publish.payload.to_vec(),
            });
        }
        self.on_routed(publish);
        match (publisher, publish.qos, publish.packet_id) {
            // The broker may deliver only once it has the PUBREL.
            (Publisher::Connection(connection), QoS::ExactlyOnce, Some(packet_id)) => {
                let (replies, deliveries): (Vec<Awaited>, Vec<Awaited>) = awaited
                    .into_iter()
                    .partition(|awaited| matches!(awaited, Awaited::Reply { .. }));
                self.held_qos2.insert((connection, packet_id), deliveries);
                replies
            }
            _ => awaited,
        }
    }

    /// A publish the runner did not forward (a client it does not run, or
    /// a message the broker kept), seen on the harness's `#` subscription:
    /// the broker has routed it, so it is kept and retained as any other.
    /// Nothing is owed for it.
    pub(super) fn on_external_publish(&mut self, publish: &Publish<'_>) {
        self.on_routed(publish);
    }

    /// PUBREL owes PUBCOMP, and releases the deliveries of the QoS 2 publish
    /// it completes.
    pub(super) fn on_pubrel(&mut self, connection: ConnectionId, packet_id: u16) -> Vec<Awaited> {
        let mut awaited = self
            .held_qos2
            .remove(&(connection, packet_id))
            .unwrap_or_default();
        awaited.push(reply(connection, ReplyKind::PubComp, Some(packet_id)));
        awaited
    }

    /// A packet that arrived is a held QoS 2 delivery, from a broker that
    /// does not wait for PUBREL: it is expected, just earlier. Returns
    /// whether it was one (and is no longer held).
    pub(super) fn take_early_delivery(
        &mut self,
        connection: ConnectionId,
        packet: &Packet<'_>,
    ) -> bool {
        let Some(held) = self.held_qos2.values_mut().find(|held| {
            held.iter()
                .any(|awaited| fulfils(awaited, connection, packet))
        }) else {
            return false;
        };
        held.retain(|awaited| !fulfils(awaited, connection, packet));
        true
    }

    /// A retained message an external broker held before the run started.
    pub(super) fn learn_retained(&mut self, topic: &str, payload: &[u8]) {
        self.retained.insert(topic.to_owned(), payload.to_vec());
    }

    /// What every routed publish does to the broker's state: kept for away
    /// persistent sessions, and retained (or a retained topic cleared).
    fn on_routed(&mut self, publish: &Publish<'_>) {
        self.keep_for_absent_sessions(publish);
        if publish.retain {
            if publish.payload.is_empty() {
                self.retained.remove(publish.topic);
            } else {
                self.retained
                    .insert(publish.topic.to_owned(), publish.payload.to_vec());
            }
        }
    }

    /// Persistent sessions that are away keep QoS 1 and 2 messages their
    /// QoS 1 and 2 subscriptions match, to be delivered when they return.
    /// (QoS 0 is not kept: Mosquitto does not by default; rumqttd delivers
    /// with the subscription's QoS and may keep it, which a scenario should
    /// not rely on.)
    fn keep_for_absent_sessions(&mut self, publish: &Publish<'_>) {
        if publish.qos == QoS::AtMostOnce {
            return;
        }
        for session in self.persistent_sessions.values_mut() {
            let away = session
                .connection
                .is_none_or(|connection| !self.open.contains(&connection));
            let subscribed = session
                .filters
                .iter()
                .any(|(filter, qos)| *qos > 0 && filter_matches(filter, publish.topic));
            if away && subscribed {
                session.connection = None;
                session
                    .owed
                    .push((publish.topic.to_owned(), publish.payload.to_vec()));
            }
        }
    }

    /// The persistent session resumed on `connection`, if any.
    fn session_on(&mut self, connection: ConnectionId) -> Option<&mut PersistentSession> {
        self.persistent_sessions
            .values_mut()
            .find(|session| session.connection == Some(connection))
    }

    /// Retained messages the broker sends on a subscription to `filters`.
    fn retained_deliveries(&self, connection: ConnectionId, filters: &[String]) -> Vec<Awaited> {
        self.retained
            .iter()
            .filter(|(topic, _)| filters.iter().any(|filter| filter_matches(filter, topic)))
            .map(|(topic, payload)| Awaited::Delivery {
                connection,
                topic: topic.clone(),
                payload: payload.clone(),
            })
            .collect()
    }
}

fn reply(connection: ConnectionId, kind: ReplyKind, packet_id: Option<u16>) -> Awaited {
    Awaited::Reply {
        connection,
        kind,
        packet_id,
    }
}

#[cfg(test)]
mod tests {
    use hilt_firmware::mqtt::codec::{SubscribeFilters, UnsubscribeFilters};

    use super::*;

    /// The embedded rumqttd's behaviour: no retained messages again for a
    /// filter a connection already has.
    const RUMQTTD: bool = false;

    fn connection(id: u64) -> ConnectionId {
        ConnectionId::for_tests(id)
    }

    /// Opens connection `id` and sends CONNECT on it; returns what is owed.
    fn connect(
        model: &mut BrokerModel,
        id: u64,
        client_id: &str,
        clean_session: bool,
    ) -> Vec<Awaited> {
        model.on_connection_opened(connection(id));
        model.on_connect(
            connection(id),
            &Connect {
                client_id,
                keep_alive_seconds: 60,
                clean_session,
                will: None,
                username: None,
                password: None,
            },
        )
    }

    fn subscribe(model: &mut BrokerModel, id: u64, filters: &[(&str, QoS)]) -> Vec<Awaited> {
        model.on_subscribe(
            connection(id),
            &Subscribe {
                packet_id: 1,
                filters: SubscribeFilters::List(filters),
            },
        )
    }

    fn unsubscribe(model: &mut BrokerModel, id: u64, filters: &[&str]) -> Vec<Awaited> {
        model.on_unsubscribe(
            connection(id),
            &Unsubscribe {
                packet_id: 2,
                filters: UnsubscribeFilters::List(filters),
            },
        )
    }

    fn message<'a>(topic: &'a str, payload: &'a [u8], qos: QoS, retain: bool) -> Publish<'a> {
        Publish {
            dup: false,
            qos,
            retain,
            topic,
            packet_id: (qos != QoS::AtMostOnce).then_some(9),
            payload,
        }
    }

    fn publish_from(model: &mut BrokerModel, id: u64, publish: &Publish<'_>) -> Vec<Awaited> {
        model.on_publish(Publisher::Connection(connection(id)), publish)
    }

    fn reply_on(id: u64, kind: ReplyKind, packet_id: Option<u16>) -> Awaited {
        reply(connection(id), kind, packet_id)
    }

    fn delivery(id: u64, topic: &str, payload: &[u8]) -> Awaited {
        Awaited::Delivery {
            connection: connection(id),
            topic: topic.to_owned(),
            payload: payload.to_vec(),
        }
    }

    fn suback(id: u64) -> Awaited {
        reply_on(id, ReplyKind::SubAck, Some(1))
    }

    fn connack(id: u64) -> Awaited {
        reply_on(id, ReplyKind::ConnAck, None)
    }

    #[test]
    fn a_publish_owes_its_acknowledgement_and_one_delivery_per_matching_connection() {
        let mut model = BrokerModel::new(RUMQTTD);
        connect(&mut model, 1, "publisher", true);
        connect(&mut model, 2, "listener", true);
        connect(&mut model, 3, "elsewhere", true);
        connect(&mut model, 4, "gone", true);
        subscribe(&mut model, 2, &[("sensors/+", QoS::AtMostOnce)]);
        subscribe(&mut model, 3, &[("other/#", QoS::AtMostOnce)]);
        subscribe(&mut model, 4, &[("#", QoS::AtMostOnce)]);
        model.on_connection_closed(connection(4));

        let awaited = publish_from(
            &mut model,
            1,
            &message("sensors/lux", b"12", QoS::AtLeastOnce, false),
        );

        assert_eq!(
            awaited,
            vec![
                reply_on(1, ReplyKind::PubAck, Some(9)),
                delivery(2, "sensors/lux", b"12"),
            ]
        );
        // QoS 0 owes no acknowledgement.
        let awaited = publish_from(
            &mut model,
            1,
            &message("sensors/lux", b"13", QoS::AtMostOnce, false),
        );
        assert_eq!(awaited, vec![delivery(2, "sensors/lux", b"13")]);
    }

    #[test]
    fn a_retained_publish_is_kept_and_an_empty_one_clears_it() {
        let mut model = BrokerModel::new(RUMQTTD);
        connect(&mut model, 1, "lamp", true);
        publish_from(
            &mut model,
            1,
            &message("lamp/status", b"online", QoS::AtMostOnce, true),
        );
        connect(&mut model, 2, "late", true);
        assert_eq!(
            subscribe(&mut model, 2, &[("lamp/+", QoS::AtMostOnce)]),
            vec![suback(2), delivery(2, "lamp/status", b"online")]
        );

        publish_from(
            &mut model,
            1,
            &message("lamp/status", b"", QoS::AtMostOnce, true),
        );
        connect(&mut model, 3, "later", true);
        assert_eq!(
            subscribe(&mut model, 3, &[("lamp/+", QoS::AtMostOnce)]),
            vec![suback(3)]
        );
    }

    #[test]
    fn retained_messages_come_with_a_new_subscription_and_as_the_broker_does_with_a_repeated_one() {
        for resends in [false, true] {
            let mut model = BrokerModel::new(resends);
            model.learn_retained("a/status", b"on");
            model.learn_retained("b/status", b"off");
            connect(&mut model, 1, "device", true);
            assert_eq!(
                subscribe(&mut model, 1, &[("a/#", QoS::AtMostOnce)]),
                vec![suback(1), delivery(1, "a/status", b"on")]
            );

            // The same filter again, with a new one: the new one always
            // brings its retained messages, the old one only if the broker
            // re-sends them.
            let again = subscribe(
                &mut model,
                1,
                &[("a/#", QoS::AtMostOnce), ("b/#", QoS::AtMostOnce)],
            );
            let mut expected = vec![suback(1)];
            if resends {
                expected.push(delivery(1, "a/status", b"on"));
            }
            expected.push(delivery(1, "b/status", b"off"));
            assert_eq!(again, expected, "resends retained: {resends}");
        }
    }

    #[test]
    fn an_away_persistent_session_keeps_qos_1_and_2_but_not_qos_0() {
        let mut model = BrokerModel::new(RUMQTTD);
        connect(&mut model, 1, "keeper", false);
        subscribe(&mut model, 1, &[("news/#", QoS::ExactlyOnce)]);
        model.on_connection_closed(connection(1));
        connect(&mut model, 2, "publisher", true);
        publish_from(
            &mut model,
            2,
            &message("news/a", b"zero", QoS::AtMostOnce, false),
        );
        publish_from(
            &mut model,
            2,
            &message("news/b", b"one", QoS::AtLeastOnce, false),
        );
        publish_from(
            &mut model,
            2,
            &message("news/c", b"two", QoS::ExactlyOnce, false),
        );
        publish_from(
            &mut model,
            2,
            &message("sports/d", b"unmatched", QoS::AtLeastOnce, false),
        );

        assert_eq!(
            connect(&mut model, 3, "keeper", false),
            vec![
                connack(3),
                delivery(3, "news/b", b"one"),
                delivery(3, "news/c", b"two"),
            ]
        );
        // Delivered once: a session that returns again is owed nothing.
        model.on_connection_closed(connection(3));
        assert_eq!(connect(&mut model, 4, "keeper", false), vec![connack(4)]);
    }

    #[test]
    fn a_qos_0_subscription_of_an_away_session_keeps_nothing() {
        let mut model = BrokerModel::new(RUMQTTD);
        connect(&mut model, 1, "keeper", false);
        subscribe(&mut model, 1, &[("news/#", QoS::AtMostOnce)]);
        model.on_connection_closed(connection(1));
        connect(&mut model, 2, "publisher", true);
        publish_from(
            &mut model,
            2,
            &message("news/b", b"one", QoS::AtLeastOnce, false),
        );

        assert_eq!(connect(&mut model, 3, "keeper", false), vec![connack(3)]);
    }

    #[test]
    fn unsubscribe_removes_a_persistent_sessions_filter_so_nothing_is_kept_for_it() {
        let mut model = BrokerModel::new(RUMQTTD);
        connect(&mut model, 1, "forgetter", false);
        subscribe(
            &mut model,
            1,
            &[("news/#", QoS::AtLeastOnce), ("alerts", QoS::AtLeastOnce)],
        );
        assert_eq!(
            unsubscribe(&mut model, 1, &["news/#"]),
            vec![reply_on(1, ReplyKind::UnsubAck, Some(2))]
        );
        model.on_connection_closed(connection(1));
        connect(&mut model, 2, "publisher", true);
        publish_from(
            &mut model,
            2,
            &message("news/a", b"dropped", QoS::AtLeastOnce, false),
        );
        publish_from(
            &mut model,
            2,
            &message("alerts", b"kept", QoS::AtLeastOnce, false),
        );

        assert_eq!(
            connect(&mut model, 3, "forgetter", false),
            vec![connack(3), delivery(3, "alerts", b"kept")]
        );
    }

    #[test]
    fn a_resumed_sessions_subscriptions_belong_to_the_new_connection() {
        let mut model = BrokerModel::new(RUMQTTD);
        connect(&mut model, 1, "keeper", false);
        subscribe(&mut model, 1, &[("news/#", QoS::AtLeastOnce)]);
        model.on_connection_closed(connection(1));
        connect(&mut model, 2, "keeper", false);
        connect(&mut model, 3, "publisher", true);

        // Without subscribing again, the new connection receives.
        assert_eq!(
            publish_from(
                &mut model,
                3,
                &message("news/a", b"live", QoS::AtMostOnce, false)
            ),
            vec![delivery(2, "news/a", b"live")]
        );
        // And its subscriptions are known: with rumqttd, subscribing again
        // to the filter brings no retained messages.
        model.learn_retained("news/b", b"old");
        assert_eq!(
            subscribe(&mut model, 2, &[("news/#", QoS::AtLeastOnce)]),
            vec![suback(2)]
        );

        // Clean session on discards the session: nothing resumes.
        model.on_connection_closed(connection(2));
        assert_eq!(connect(&mut model, 4, "keeper", true), vec![connack(4)]);
        assert_eq!(
            publish_from(
                &mut model,
                3,
                &message("news/a", b"nobody", QoS::AtLeastOnce, false)
            ),
            vec![reply_on(3, ReplyKind::PubAck, Some(9))]
        );
    }

    #[test]
    fn qos_2_deliveries_are_held_until_pubrel() {
        let mut model = BrokerModel::new(RUMQTTD);
        connect(&mut model, 1, "sender", true);
        connect(&mut model, 2, "receiver", true);
        subscribe(&mut model, 2, &[("data", QoS::ExactlyOnce)]);

        let publish = message("data", b"once", QoS::ExactlyOnce, false);
        assert_eq!(
            publish_from(&mut model, 1, &publish),
            vec![reply_on(1, ReplyKind::PubRec, Some(9))]
        );
        assert_eq!(
            model.on_pubrel(connection(1), 9),
            vec![
                delivery(2, "data", b"once"),
                reply_on(1, ReplyKind::PubComp, Some(9)),
            ]
        );

        // A broker that delivers before PUBREL: the delivery is taken as
        // expected early, and PUBREL then owes only PUBCOMP.
        publish_from(&mut model, 1, &publish);
        let early = Packet::Publish(publish);
        assert!(!model.take_early_delivery(connection(3), &early));
        assert!(model.take_early_delivery(connection(2), &early));
        assert!(!model.take_early_delivery(connection(2), &early));
        assert_eq!(
            model.on_pubrel(connection(1), 9),
            vec![reply_on(1, ReplyKind::PubComp, Some(9))]
        );
    }

    #[test]
    fn the_clients_other_packets_owe_their_replies() {
        let mut model = BrokerModel::new(RUMQTTD);
        connect(&mut model, 1, "device", true);
        assert_eq!(
            model.on_packet(connection(1), &Packet::PingReq),
            vec![reply_on(1, ReplyKind::PingResp, None)]
        );
        assert_eq!(
            model.on_packet(connection(1), &Packet::PubRec(4)),
            vec![reply_on(1, ReplyKind::PubRel, Some(4))]
        );
        assert_eq!(
            model.on_packet(connection(1), &Packet::Disconnect),
            vec![Awaited::Close {
                connection: connection(1)
            }]
        );
        assert_eq!(model.on_packet(connection(1), &Packet::PubAck(5)), vec![]);
    }

    #[test]
    fn a_stopped_broker_forgets_everything() {
        let mut model = BrokerModel::new(RUMQTTD);
        connect(&mut model, 1, "keeper", false);
        subscribe(&mut model, 1, &[("news/#", QoS::AtLeastOnce)]);
        model.on_connection_closed(connection(1));
        connect(&mut model, 2, "sender", true);
        connect(&mut model, 3, "listener", true);
        subscribe(&mut model, 3, &[("#", QoS::AtMostOnce)]);
        publish_from(
            &mut model,
            2,
            &message("news/a", b"kept", QoS::AtLeastOnce, true),
        );
        publish_from(
            &mut model,
            2,
            &message("news/b", b"held", QoS::ExactlyOnce, false),
        );

        model.on_broker_stopped();

        // No subscriptions: a publish is owed only its acknowledgement.
        connect(&mut model, 4, "sender", true);
        assert_eq!(
            publish_from(
                &mut model,
                4,
                &message("news/c", b"alone", QoS::AtLeastOnce, false)
            ),
            vec![reply_on(4, ReplyKind::PubAck, Some(9))]
        );
        // No retained store.
        connect(&mut model, 5, "listener", true);
        assert_eq!(
            subscribe(&mut model, 5, &[("#", QoS::AtMostOnce)]),
            vec![suback(5)]
        );
        // No persistent session, so nothing kept and no old subscriptions.
        assert_eq!(connect(&mut model, 6, "keeper", false), vec![connack(6)]);
        // Nothing held for a PUBREL.
        assert_eq!(
            model.on_pubrel(connection(2), 9),
            vec![reply_on(2, ReplyKind::PubComp, Some(9))]
        );
    }

    #[test]
    fn a_will_is_published_by_the_broker_itself() {
        let mut model = BrokerModel::new(RUMQTTD);
        connect(&mut model, 1, "watcher", true);
        subscribe(&mut model, 1, &[("lamp/status", QoS::ExactlyOnce)]);
        // A will carries no packet id; even at QoS 2 nobody is owed an
        // acknowledgement and nothing waits for a PUBREL.
        let will = Publish {
            dup: false,
            qos: QoS::ExactlyOnce,
            retain: true,
            topic: "lamp/status",
            packet_id: None,
            payload: b"offline",
        };

        assert_eq!(
            model.on_publish(Publisher::Broker, &will),
            vec![delivery(1, "lamp/status", b"offline")]
        );
        // Like any publish, it is retained for later subscribers.
        connect(&mut model, 2, "late", true);
        assert_eq!(
            subscribe(&mut model, 2, &[("lamp/#", QoS::AtMostOnce)]),
            vec![suback(2), delivery(2, "lamp/status", b"offline")]
        );
    }

    #[test]
    fn an_external_publish_is_kept_and_retained_but_owes_nothing() {
        let mut model = BrokerModel::new(true);
        connect(&mut model, 1, "keeper", false);
        subscribe(&mut model, 1, &[("news/#", QoS::AtLeastOnce)]);
        model.on_connection_closed(connection(1));

        model.on_external_publish(&message("news/a", b"from afar", QoS::AtLeastOnce, true));

        assert_eq!(
            connect(&mut model, 2, "keeper", false),
            vec![connack(2), delivery(2, "news/a", b"from afar")]
        );
        connect(&mut model, 3, "late", true);
        assert_eq!(
            subscribe(&mut model, 3, &[("news/a", QoS::AtMostOnce)]),
            vec![suback(3), delivery(3, "news/a", b"from afar")]
        );
    }
}
