//! The harness's own MQTT client: connecting it, its `#` subscription (whose
//! deliveries prove the broker has routed each publish), learning an
//! external broker's retained leftovers behind a marker, and the harness's
//! publishes (`publish:` steps), QoS 2 handshake included.

use hilt_firmware::mqtt::codec::{
    self, Connect, Packet, Publish, QoS, Subscribe, SubscribeFilters,
};

use super::owed::{Awaited, Outstanding, Publisher, ReplyKind};
use super::{BROKER_REPLY_TIMEOUT, Endpoint, HarnessError, World};
use crate::connection::{BrokerConnection, ConnectionId, Inbound};
use crate::transcript::LoggedMessage;

/// The harness client's id on the broker.
pub const HARNESS_CLIENT_ID: &str = "hilt-harness";

/// The harness's connection to the broker and its packet ids.
#[derive(Debug)]
pub(super) struct HarnessClient {
    /// `None` while the broker is stopped.
    connection: Option<BrokerConnection>,
    /// The packet id of the next publish or subscription that needs one;
    /// it carries on across broker restarts.
    next_packet_id: u16,
}

impl Default for HarnessClient {
    fn default() -> Self {
        HarnessClient {
            connection: None,
            next_packet_id: 1,
        }
    }
}

impl HarnessClient {
    pub(super) fn id(&self) -> Result<ConnectionId, HarnessError> {
        self.connection
            .as_ref()
            .map(BrokerConnection::id)
            .ok_or(HarnessError::BrokerStopped)
    }

    pub(super) fn is_connected(&self) -> bool {
        self.connection.is_some()
    }

    fn connected(&mut self, connection: BrokerConnection) {
        self.connection = Some(connection);
    }

    /// The broker closed the connection (it stopped).
    pub(super) fn disconnected(&mut self) {
        self.connection = None;
    }

    /// The next packet id, from 1 to 65535 and round again (0 is not one).
    fn next_packet_id(&mut self) -> u16 {
        let id = self.next_packet_id;
        self.next_packet_id = self.next_packet_id.checked_add(1).unwrap_or(1);
        id
    }

    pub(super) fn send(&mut self, packet: &Packet<'_>) -> Result<(), HarnessError> {
        let bytes = encode(packet)?;
        self.connection
            .as_mut()
            .ok_or(HarnessError::BrokerStopped)?
            .send(&bytes)
            .map_err(HarnessError::Write)
    }
}

impl World {
    /// Connects the harness's client and subscribes it to `#`; with an
    /// external broker, also learns the retained messages it already holds.
    pub(super) fn connect_harness(&mut self) -> Result<(), HarnessError> {
        let connection =
            self.open_connection()
                .map_err(|source| HarnessError::BrokerUnreachable {
                    address: self.broker_address,
                    source,
                })?;
        let harness_id = connection.id();
        self.endpoints.insert(harness_id, Endpoint::Harness);
        self.broker_model.on_connection_opened(harness_id);
        self.harness.connected(connection);
        let login = self.harness_login.clone();
        self.harness.send(&Packet::Connect(Connect {
            client_id: HARNESS_CLIENT_ID,
            // Upstream rumqttd refuses keepalive 0 (hilt's copy accepts it,
            // PATCHES.md 8) and brokers enforce keepalive in wall time; the
            // longest one keeps the harness's idle client alive anywhere.
            keep_alive_seconds: u16::MAX,
            clean_session: true,
            will: None,
            username: login.as_ref().map(|(name, _)| name.as_str()),
            password: login.as_ref().map(|(_, password)| password.as_bytes()),
        }))?;
        self.await_all(vec![Awaited::Reply {
            connection: harness_id,
            kind: ReplyKind::ConnAck,
            packet_id: None,
        }])?;
        let packet_id = self.harness.next_packet_id();
        let filters = [("#", QoS::AtMostOnce)];
        let subscribe = Subscribe {
            packet_id,
            filters: SubscribeFilters::List(&filters),
        };
        self.harness.send(&Packet::Subscribe(subscribe))?;
        // SUBACK, and the retained messages the model knows the broker
        // holds. An external broker may hold more than the model knows, so
        // for it they are learned instead.
        let awaited = self.broker_model.on_subscribe(harness_id, &subscribe);
        if self.broker.is_none() {
            return self.learn_retained_leftovers(packet_id);
        }
        // The embedded broker starts empty, or with what this run retained.
        self.await_all(awaited)
    }

    /// An external broker may hold retained messages from earlier runs. The
    /// broker sends them on our `#` subscription; a marker published after
    /// it comes back behind them, so everything retained that arrived before
    /// the marker is the broker's starting store. It is mirrored (so later
    /// subscriptions expect it) but not logged: it is not part of this run.
    fn learn_retained_leftovers(&mut self, subscribe_id: u16) -> Result<(), HarnessError> {
        let harness_id = self.harness.id()?;
        let marker_topic = format!("hilt/marker/{}", std::process::id());
        let marker_payload = format!("{:?}", std::time::SystemTime::now());
        let packet_id = self.harness.next_packet_id();
        self.harness.send(&Packet::Publish(Publish {
            dup: false,
            qos: QoS::AtLeastOnce,
            retain: false,
            topic: &marker_topic,
            packet_id: Some(packet_id),
            payload: marker_payload.as_bytes(),
        }))?;
        let mut marker_seen = false;
        let mut acknowledged = false;
        let mut subscribed = false;
        while !(marker_seen && acknowledged && subscribed) {
            let Some(inbound) = self.hub.receive(BROKER_REPLY_TIMEOUT) else {
                return Err(HarnessError::broker_silent(
                    BROKER_REPLY_TIMEOUT,
                    format!("the marker on {marker_topic}"),
                ));
            };
            let Inbound::Packet { connection, bytes } = inbound else {
                self.route_inbound(inbound, &mut Outstanding::default(), None)?;
                continue;
            };
            if connection != harness_id {
                continue;
            }
            match codec::decode(&bytes) {
                Ok((Packet::PubAck(id), _)) if id == packet_id => acknowledged = true,
                Ok((Packet::SubAck(ack), _)) if ack.packet_id == subscribe_id => subscribed = true,
                Ok((Packet::Publish(publish), _)) if publish.topic == marker_topic => {
                    marker_seen = true
                }
                Ok((Packet::Publish(publish), _)) if publish.retain && !marker_seen => {
                    self.broker_model
                        .learn_retained(publish.topic, publish.payload);
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// Publishes from the harness client (a `publish:` step) and waits until
    /// the broker has delivered it everywhere it must go.
    pub fn harness_publish(
        &mut self,
        topic: &str,
        payload: &[u8],
        qos: u8,
        retain: bool,
    ) -> Result<(), HarnessError> {
        self.harness_publish_described(topic, payload, qos, retain, None)
    }

    /// [`World::harness_publish`], written in the transcript as
    /// `description` instead of as a message when one is given (an OTA
    /// chunk's bytes say nothing to a reader).
    pub(super) fn harness_publish_described(
        &mut self,
        topic: &str,
        payload: &[u8],
        qos: u8,
        retain: bool,
        description: Option<String>,
    ) -> Result<(), HarnessError> {
        let harness_id = self.harness.id()?;
        let qos = QoS::try_from(qos).unwrap_or(QoS::AtMostOnce);
        let packet_id = (qos != QoS::AtMostOnce).then(|| self.harness.next_packet_id());
        let publish = Publish {
            dup: false,
            qos,
            retain,
            topic,
            packet_id,
            payload,
        };
        self.harness.send(&Packet::Publish(publish))?;
        // For QoS 2 the model holds the deliveries back until our PUBREL.
        let awaited = self
            .broker_model
            .on_publish(Publisher::Connection(harness_id), &publish);
        match description {
            Some(description) => self.transcript.push(self.now, description),
            None => self.record_message(LoggedMessage {
                at: self.now,
                source: "harness".to_owned(),
                topic: topic.to_owned(),
                payload: payload.to_vec(),
                qos: qos.as_u8(),
                retain,
            }),
        }
        if let (QoS::ExactlyOnce, Some(id)) = (qos, packet_id) {
            // Our side of QoS 2: PUBREC first, then PUBREL → PUBCOMP. Brokers
            // may hold the message back until PUBREL (rumqttd, Mosquitto), so
            // its deliveries are only expected by the end of the handshake.
            self.await_all(awaited)?;
            self.harness.send(&Packet::PubRel(id))?;
            let awaited = self.broker_model.on_pubrel(harness_id, id);
            return self.await_all(awaited);
        }
        self.await_all(awaited)
    }
}

fn encode(packet: &Packet<'_>) -> Result<Vec<u8>, HarnessError> {
    let mut buffer = vec![0u8; codec::encoded_len(packet)];
    let length = codec::encode(packet, &mut buffer).map_err(|error| {
        HarnessError::Write(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            error.to_string(),
        ))
    })?;
    buffer.truncate(length);
    Ok(buffer)
}
