//! The fixes in hilt's patched rumqttd (`vendor/rumqttd/PATCHES.md`), each
//! shown against the embedded broker with plain MQTT clients over TCP.
//!
//! Against the unpatched crate every patch test fails (checked when the
//! patches were written: the churn test panics the broker at
//! `broker.rs:544`, and both races were lost on their first iteration). The
//! tests of patches 3 and 4 are races all the same, so each repeats its
//! exchange many times (a few hundred milliseconds in all); with the
//! patches none can be lost.

mod support;

use std::io::Read;

use hilt_firmware::mqtt::codec::{Connect, LastWill, Packet, Publish, QoS};
use hilt_runner::broker::EmbeddedBroker;
use support::{RawClient, Received, settled_reading, thread_names};

/// Patch 1: unpatched, the router's thread ran for ever after its broker
/// was dropped (it held a sender of its own channel).
#[test]
fn router_thread_ends_with_the_broker() {
    let mut broker = EmbeddedBroker::start().unwrap();
    let router_thread = format!("router-{}", broker.number());
    let runtime_thread = format!("hilt-broker-{}", broker.number());
    let mut client = RawClient::open(broker.address());
    client.connect("router-test", None);
    client.expect_connack();
    assert!(thread_names().contains(&router_thread));

    // A restart ends the old router and starts a new one of the same name.
    broker.start_again().unwrap();
    let routers = |names: &Vec<String>| names.iter().filter(|name| **name == router_thread).count();
    let names = settled_reading(thread_names, |names| routers(names) == 1);
    assert_eq!(routers(&names), 1, "the old router outlived the restart");
    assert_eq!(client.receive(), Received::Closed);

    drop(broker);
    let names = settled_reading(thread_names, |names| {
        !names.contains(&router_thread) && !names.contains(&runtime_thread)
    });
    assert!(
        !names.contains(&router_thread),
        "the router's thread is still running after the broker was dropped: {names:?}"
    );
    assert!(!names.contains(&runtime_thread), "{names:?}");
}

/// Patch 2: a connection refused for want of room left its will handler
/// behind with nobody listening, and the client's next CONNECT panicked the
/// broker (`try_send(..).unwrap()` in `remote()`), poisoning the lock for
/// every connection after it.
#[test]
fn reconnections_under_churn_do_not_panic_the_broker() {
    // Room for the readiness probe's connection, which the broker may still
    // be closing, and two clients.
    let broker = EmbeddedBroker::start_with_capacity(3).unwrap();
    let address = broker.address();
    let mut first = RawClient::open(address);
    first.connect("first", None);
    first.expect_connack();
    let mut second = RawClient::open(address);
    second.connect("second", None);
    second.expect_connack();
    // The probe's connection may or may not still hold a place: fill up
    // until a connection is turned away (closed without CONNACK).
    let mut fillers = Vec::new();
    let mut refused = false;
    for filler_index in 0..3 {
        let mut client = RawClient::open(address);
        client.connect("late", None);
        match client.receive() {
            Received::Closed => {
                refused = true;
                break;
            }
            Received::ConnAck { return_code: 0 } => {
                // It took the probe's old place; make "late" free again.
                client.disconnect();
                let mut filler = RawClient::open(address);
                filler.connect(&format!("filler-{filler_index}"), None);
                filler.expect_connack();
                fillers.push(filler);
            }
            other => panic!("unexpected reply {other:?}"),
        }
    }
    assert!(refused, "the broker never reached its connection limit");

    // Make room: once the broker closes a disconnecting client, its router
    // has let go of it.
    first.disconnect();
    let mut late = RawClient::open(address);
    late.connect("late", None);
    late.expect_connack();
    assert!(late.is_alive());
    assert_eq!(broker.panics(), Vec::<String>::new());
}

/// Patch 3: unpatched, a client that reconnected right after its old socket
/// closed could have its new connection closed by the old one's late end.
#[test]
fn a_late_end_of_link_does_not_close_the_new_connection() {
    let broker = EmbeddedBroker::start().unwrap();
    let address = broker.address();
    let mut old = RawClient::open(address);
    old.connect("reconnecting", None);
    old.expect_connack();
    for iteration in 0..200 {
        // The old socket closes without DISCONNECT; the new one follows at
        // once, as a device that resets and reconnects does.
        drop(old);
        let mut new = RawClient::open(address);
        new.connect("reconnecting", None);
        new.expect_connack();
        assert!(
            new.is_alive(),
            "iteration {iteration}: the new connection was closed"
        );
        old = new;
    }
    assert_eq!(broker.panics(), Vec::<String>::new());
}

/// Patch 4: unpatched, a client that disconnected cleanly and connected
/// again at once could have its *new* will published by the old
/// connection's end (seen as an "offline" right after a clean reboot).
#[test]
fn a_reconnecting_client_does_not_get_its_new_will_published() {
    let broker = EmbeddedBroker::start().unwrap();
    let address = broker.address();
    let mut watcher = RawClient::open(address);
    watcher.connect("watcher", None);
    watcher.expect_connack();
    watcher.subscribe("status/#");
    for iteration in 0..100u16 {
        let old_will = format!("old will {iteration}");
        let mut old = RawClient::open(address);
        old.connect(
            "rebooting",
            Some(LastWill {
                topic: "status/will",
                payload: old_will.as_bytes(),
                qos: QoS::AtMostOnce,
                retain: false,
            }),
        );
        old.expect_connack();
        old.disconnect();

        let new_will = format!("new will {iteration}");
        let mut new = RawClient::open(address);
        new.connect(
            "rebooting",
            Some(LastWill {
                topic: "status/will",
                payload: new_will.as_bytes(),
                qos: QoS::AtMostOnce,
                retain: false,
            }),
        );
        new.expect_connack();
        let marker = format!("marker {iteration}");
        new.publish_qos1("status/marker", marker.as_bytes(), iteration + 1);
        // The marker comes first: no will was published for a clean
        // disconnect, nor for the new connection, which is alive.
        assert_eq!(
            watcher.receive(),
            Received::Publish {
                topic: "status/marker".to_owned(),
                payload: marker.into_bytes(),
            },
            "iteration {iteration}"
        );
        // The new connection ends without DISCONNECT: its will, once.
        drop(new);
        assert_eq!(
            watcher.receive(),
            Received::Publish {
                topic: "status/will".to_owned(),
                payload: new_will.into_bytes(),
            },
            "iteration {iteration}"
        );
    }
    assert_eq!(broker.panics(), Vec::<String>::new());
}

/// Patch 5: unpatched, a publisher's re-sent QoS 1 PUBLISH (DUP = 1) reached
/// a QoS 0 subscriber with DUP = 1 and QoS 0, which MQTT forbids.
#[test]
fn deliveries_never_carry_the_senders_dup_flag() {
    let broker = EmbeddedBroker::start().unwrap();
    let address = broker.address();
    let mut subscriber = RawClient::open(address);
    subscriber.connect("subscriber", None);
    subscriber.expect_connack();
    subscriber.subscribe("dup/#");
    let mut publisher = RawClient::open(address);
    publisher.connect("publisher", None);
    publisher.expect_connack();
    publisher.send(&Packet::Publish(Publish {
        dup: true,
        qos: QoS::AtLeastOnce,
        retain: false,
        topic: "dup/resent",
        packet_id: Some(7),
        payload: b"again",
    }));
    assert_eq!(publisher.receive(), Received::PubAck(7));
    // The raw bytes: the codec rejects DUP on QoS 0, so decoding alone
    // would only say "malformed".
    let mut header = [0u8; 1];
    subscriber.stream.read_exact(&mut header).unwrap();
    assert_eq!(
        header[0], 0x30,
        "a QoS 0 PUBLISH with DUP, QoS and RETAIN clear (got {:#04x})",
        header[0]
    );
}

/// The runner's record of broker panics: a panic on a thread of one broker
/// is charged to that broker, not to another running at the same time.
#[test]
fn a_panic_on_a_broker_thread_is_recorded_against_that_broker() {
    let broker = EmbeddedBroker::start().unwrap();
    let bystander = EmbeddedBroker::start().unwrap();
    let thread = std::thread::Builder::new()
        .name(format!("hilt-broker-{}", broker.number()))
        .spawn(|| panic!("a stand-in for a panic inside rumqttd"))
        .unwrap();
    assert!(thread.join().is_err());
    let panics = broker.panics();
    assert_eq!(panics.len(), 1, "{panics:?}");
    assert!(
        panics[0].starts_with("a stand-in for a panic inside rumqttd at "),
        "{panics:?}"
    );
    assert_eq!(bystander.panics(), Vec::<String>::new());
}

/// Patch 7: a connection served over an in-process stream is a connection
/// like one accepted on the listener (it gets its CONNACK, and is closed
/// when the broker stops), and it does not keep the broker's router alive:
/// a stop ends every thread of the broker within its bound. (Before the
/// in-process server's sender to the router was dropped first, the router
/// outlived every stop by the whole bound.)
#[test]
fn an_in_process_connection_is_served_and_ends_with_the_broker() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let mut broker = EmbeddedBroker::start().unwrap();
    let mut stream = broker.connect_in_process().unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let connect = hilt_firmware::fake_broker::encoded(&Packet::Connect(
        hilt_firmware::mqtt::codec::Connect {
            client_id: "in-process",
            keep_alive_seconds: 60,
            clean_session: true,
            will: None,
            username: None,
            password: None,
        },
    ));
    let mut connack = [0u8; 4];
    runtime.block_on(async {
        stream.write_all(&connect).await.unwrap();
        stream.read_exact(&mut connack).await.unwrap();
    });
    assert_eq!(connack, [0x20, 0x02, 0x00, 0x00], "a CONNACK accepting it");

    assert!(broker.stop(), "the router ended with the broker");
    let mut rest = Vec::new();
    let read = runtime.block_on(stream.read_to_end(&mut rest));
    assert!(
        matches!(read, Ok(0)) || read.is_err(),
        "the stream ends with the broker: {read:?} {rest:?}"
    );
    assert_eq!(
        broker.connect_in_process().unwrap_err().kind(),
        std::io::ErrorKind::ConnectionRefused,
        "a stopped broker refuses in-process connections as TCP ones"
    );
}

/// Patch 8: unpatched, a CONNECT with keep alive 0 (keep alive off, umqtt's
/// default) was closed without a CONNACK.
#[test]
fn a_zero_keep_alive_is_accepted() {
    let broker = EmbeddedBroker::start().unwrap();
    let mut client = RawClient::open(broker.address());
    client.send(&Packet::Connect(Connect {
        client_id: "no-keepalive",
        keep_alive_seconds: 0,
        clean_session: true,
        will: None,
        username: None,
        password: None,
    }));
    client.expect_connack();
    // The connection is served: a ping is answered.
    client.send(&Packet::PingReq);
    assert_eq!(client.receive(), Received::PingResp);
}

/// Patch 9: unpatched, a client with a wrong password (or none, when the
/// broker has users) was disconnected without a CONNACK, so it could not
/// tell a refusal from a broken network. Now it hears return code 4.
#[test]
fn a_refused_login_gets_connack_4_before_the_close() {
    let users = std::collections::HashMap::from([("alice".to_owned(), "s3cret".to_owned())]);
    let broker = EmbeddedBroker::start_with_users(16, Some(users)).unwrap();
    let connect = |username: Option<&'static str>, password: Option<&'static [u8]>| {
        let mut client = RawClient::open(broker.address());
        client.send(&Packet::Connect(Connect {
            client_id: "login",
            keep_alive_seconds: 10,
            clean_session: true,
            will: None,
            username,
            password,
        }));
        client
    };
    for (username, password) in [
        (Some("alice"), Some(b"wrong".as_slice())),
        (Some("mallory"), Some(b"s3cret".as_slice())),
        (None, None),
    ] {
        let mut client = connect(username, password);
        assert_eq!(
            client.receive(),
            Received::ConnAck { return_code: 4 },
            "{username:?}"
        );
        assert_eq!(client.receive(), Received::Closed, "{username:?}");
    }
    let mut client = connect(Some("alice"), Some(b"s3cret"));
    client.expect_connack();
    client.send(&Packet::PingReq);
    assert_eq!(client.receive(), Received::PingResp);
    // The harness logs in with a login of its own.
    let (name, password) = broker.harness_login().expect("a broker with users has one");
    assert!(name.starts_with("hilt-harness-"));
    assert!(password.len() >= 32);
}
