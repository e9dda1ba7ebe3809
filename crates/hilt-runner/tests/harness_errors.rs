//! No false pass: when the broker does not do what the runner forwarded to
//! it (refuses a device, closes a connection nothing called for, closes one
//! instead of answering its CONNECT), the run is a harness error naming the
//! cause, never a pass and never an ordinary failed expectation.
//!
//! The misbehaviour comes from a proxy in front of the embedded broker that
//! passes everything through except, for one client id, the one thing the
//! test asks it to get wrong.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::Path;

use hilt_firmware::fake_broker::encoded;
use hilt_firmware::mqtt::codec::{self, ConnAck, DecodeError, Packet};
use hilt_runner::broker::EmbeddedBroker;
use hilt_runner::{HarnessError, Registry, RunError, RunOutcome, Verdict};

/// What the proxy gets wrong for the chosen client.
#[derive(Debug, Clone, Copy)]
enum Misbehaviour {
    /// Answers the client's CONNECT with this refusal code itself.
    RefuseConnect(u8),
    /// Closes the connection instead of answering the CONNECT (as a broker
    /// at its connection limit does).
    CloseInsteadOfConnAck,
    /// Passes the session through, then closes the connection when the
    /// client publishes for the first time.
    CloseOnFirstPublish,
}

/// Starts the proxy on a free loopback port; it runs until the test ends.
fn misbehaving_proxy(
    upstream: SocketAddr,
    client_id: &'static str,
    fault: Misbehaviour,
) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for client in listener.incoming() {
            let Ok(client) = client else { return };
            std::thread::spawn(move || relay(client, upstream, client_id, fault));
        }
    });
    address
}

/// Relays one connection, applying `fault` if it is `client_id`'s.
fn relay(mut client: TcpStream, upstream: SocketAddr, client_id: &str, fault: Misbehaviour) {
    let Ok(mut broker) = TcpStream::connect(upstream) else {
        return;
    };
    let (Ok(mut broker_reader), Ok(mut client_writer)) = (broker.try_clone(), client.try_clone())
    else {
        return;
    };
    // Broker to client: bytes as they come.
    std::thread::spawn(move || {
        let _ = std::io::copy(&mut broker_reader, &mut client_writer);
        let _ = client_writer.shutdown(Shutdown::Both);
    });
    // Client to broker: packet by packet, to see the CONNECT and PUBLISHes.
    let mut pending = Vec::new();
    let mut chunk = [0u8; 4096];
    let mut chosen = false;
    loop {
        loop {
            let (consumed, action) = match codec::decode(&pending) {
                Ok((Packet::Connect(connect), length)) => {
                    chosen = connect.client_id == client_id;
                    let at_connect = !matches!(fault, Misbehaviour::CloseOnFirstPublish);
                    (length, (chosen && at_connect).then_some(fault))
                }
                Ok((Packet::Publish(_), length)) if chosen => {
                    let close = matches!(fault, Misbehaviour::CloseOnFirstPublish);
                    (length, close.then_some(fault))
                }
                Ok((_, length)) => (length, None),
                Err(DecodeError::Incomplete { .. }) => break,
                Err(_) => return,
            };
            match action {
                Some(Misbehaviour::RefuseConnect(return_code)) => {
                    let refusal = encoded(&Packet::ConnAck(ConnAck {
                        session_present: false,
                        return_code,
                    }));
                    let _ = client.write_all(&refusal);
                }
                Some(Misbehaviour::CloseInsteadOfConnAck | Misbehaviour::CloseOnFirstPublish) => {
                    let _ = client.shutdown(Shutdown::Both);
                    let _ = broker.shutdown(Shutdown::Both);
                    return;
                }
                None => {
                    if broker.write_all(&pending[..consumed]).is_err() {
                        return;
                    }
                }
            }
            pending.drain(..consumed);
        }
        match client.read(&mut chunk) {
            Ok(0) | Err(_) => {
                let _ = broker.shutdown(Shutdown::Both);
                return;
            }
            Ok(read) => pending.extend_from_slice(&chunk[..read]),
        }
    }
}

fn run_through(proxy: SocketAddr) -> RunOutcome {
    let text = format!(
        r#"
name: a thermometer behind a misbehaving broker
broker: {{ url: "mqtt://127.0.0.1:{port}" }}
devices:
  probe:
    app: thermometer
    client_id: probe-under-test
    config: {{ interval: 2s }}
steps:
  - wait: 10s
  - expect: {{ topic: devices/probe-under-test/temperature/degrees, count: 6, within: 1s, since: start }}
"#,
        port = proxy.port()
    );
    let registry = Registry::with_bundled_apps();
    let scenario = hilt_scenario::parse(Path::new("misbehaving.yaml"), &text, &registry)
        .unwrap_or_else(|diagnostics| panic!("{diagnostics}"));
    hilt_runner::run_scenario(&scenario, &registry)
}

fn harness_error(outcome: &RunOutcome) -> String {
    match &outcome.verdict {
        Verdict::Error(error) => error.to_string(),
        _ => panic!(
            "expected a harness error, got:\n{}\n{}",
            outcome.report(),
            outcome.transcript.render()
        ),
    }
}

#[test]
fn the_run_passes_through_a_proxy_that_behaves() {
    // The control: the same proxy, misbehaving for a client that is not
    // in the scenario, changes nothing.
    let broker = EmbeddedBroker::start().unwrap();
    let proxy = misbehaving_proxy(
        broker.address(),
        "nobody",
        Misbehaviour::CloseOnFirstPublish,
    );
    let outcome = run_through(proxy);
    assert!(outcome.passed(), "{}", outcome.report());
}

#[test]
fn a_refused_connect_is_a_harness_error() {
    let broker = EmbeddedBroker::start().unwrap();
    let proxy = misbehaving_proxy(
        broker.address(),
        "probe-under-test",
        Misbehaviour::RefuseConnect(5),
    );
    let outcome = run_through(proxy);
    assert_eq!(
        harness_error(&outcome),
        "the broker refused probe's CONNECT (CONNACK return code 5: not authorized)"
    );
    // The error keeps its type, for tools that react to the kind.
    let Verdict::Error(error) = &outcome.verdict else {
        unreachable!("checked above")
    };
    assert!(matches!(
        **error,
        RunError::Harness(HarnessError::ConnectRefused { return_code: 5, .. })
    ));
}

#[test]
fn a_connection_closed_instead_of_a_connack_is_a_harness_error() {
    let broker = EmbeddedBroker::start().unwrap();
    let proxy = misbehaving_proxy(
        broker.address(),
        "probe-under-test",
        Misbehaviour::CloseInsteadOfConnAck,
    );
    let error = harness_error(&run_through(proxy));
    assert!(
        error.starts_with("the broker closed probe's connection (closed by the broker) when nothing called for it; it closed it instead of answering the CONNECT"),
        "{error}"
    );
    assert!(error.contains("connection limit"), "{error}");
}

#[test]
fn a_connection_closed_when_nothing_called_for_it_is_a_harness_error() {
    let broker = EmbeddedBroker::start().unwrap();
    let proxy = misbehaving_proxy(
        broker.address(),
        "probe-under-test",
        Misbehaviour::CloseOnFirstPublish,
    );
    let error = harness_error(&run_through(proxy));
    assert!(
        error.starts_with(
            "the broker closed probe's connection (closed by the broker) when nothing called for it; a device's connection closes only when"
        ),
        "{error}"
    );
}
