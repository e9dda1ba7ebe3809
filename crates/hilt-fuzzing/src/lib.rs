//! Bad input everywhere: what the fuzz targets in `fuzz/` run, as plain
//! functions of a byte slice.
//!
//! Each function takes any bytes and must never panic; a panic (or a failed
//! property assertion) is a bug in the code under test, not in the input.
//!
//! - [`fuzz_scenario_parser`]: the bytes as (lossy) UTF-8 text, parsed and
//!   validated as a scenario against the bundled apps' registry.
//! - [`fuzz_mqtt_codec`]: the bytes decoded as a stream of MQTT packets;
//!   every packet that decodes must encode again to the same packet.
//! - [`fuzz_app_messages`]: the bytes choose a reference app and a script of
//!   broker packets (CONNACK, PUBLISH on the app's own topics and on
//!   made-up ones, acknowledgements, raw bytes), link drops, resets, part
//!   changes and time steps, and drive the app's firmware `Node` through
//!   them on a simulated board in virtual time ([`apps`]).
//!
//! The same functions run under libFuzzer (`cargo +nightly fuzz run
//! <target>` from the repository root) and on stable, in this crate's tests,
//! over the seed corpus in `fuzz/corpus/<target>/` and a deterministic
//! mutation loop.

use std::path::Path;
use std::sync::OnceLock;

use hilt_firmware::mqtt::codec::{self, DecodeError};
use hilt_runner::Registry;

pub mod apps;
pub mod input;

pub use apps::{AppKind, Outcome, run_app_messages};
pub use input::AppScript;

/// The catalog scenarios are checked against: the bundled apps.
fn registry() -> &'static Registry {
    static REGISTRY: OnceLock<Registry> = OnceLock::new();
    REGISTRY.get_or_init(Registry::with_bundled_apps)
}

/// Parses `data` (as lossy UTF-8) as a scenario file with the bundled apps
/// as catalog. It must parse or be rejected with placed, explained
/// diagnostics; it must never panic.
pub fn fuzz_scenario_parser(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    match hilt_scenario::parse(Path::new("fuzz.yaml"), &text, registry()) {
        Ok(scenario) => {
            // Walk the whole typed scenario, as a report would.
            let _ = format!("{scenario:?}");
        }
        Err(diagnostics) => {
            assert!(
                !diagnostics.is_empty(),
                "rejected without a diagnostic: {text:?}"
            );
            for diagnostic in &diagnostics {
                assert!(
                    diagnostic.location.line >= 1 && diagnostic.location.column >= 1,
                    "no place for {diagnostic} in {text:?}"
                );
                // The validator's fallback when a check failed without saying why.
                assert_ne!(
                    diagnostic.message, "the scenario is invalid",
                    "unexplained failure in {text:?}"
                );
            }
            // Rendering is what a user sees; it must not panic either.
            let _ = diagnostics.to_string();
        }
    }
}

/// Decodes `data` as a stream of MQTT 3.1.1 packets, one after another, as
/// a receiver would. For every packet that decodes:
///
/// - [`codec::packet_length`] agrees with the length decoding consumed;
/// - encoding it succeeds, takes [`codec::encoded_len`] bytes, and decodes
///   to an equal packet of that length;
/// - the encoding has the same first byte and the same bytes after the
///   fixed header as the input (only the remaining-length field may differ,
///   as non-minimal lengths are accepted);
/// - encoding the re-decoded packet gives the same bytes again.
///
/// An incomplete packet must ask for exactly the bytes its fixed header
/// announced. Never panics otherwise.
pub fn fuzz_mqtt_codec(data: &[u8]) {
    let mut rest = data;
    // Each round consumes at least two bytes, so this ends.
    while !rest.is_empty() {
        match codec::decode(rest) {
            Ok((packet, length)) => {
                assert!(
                    length >= 2 && length <= rest.len(),
                    "decode consumed {length} of {} bytes",
                    rest.len()
                );
                assert_eq!(
                    codec::packet_length(rest),
                    Some(length),
                    "packet_length disagrees with decode for {:02x?}",
                    &rest[..length]
                );
                check_round_trip(&packet, &rest[..length]);
                rest = &rest[length..];
            }
            Err(DecodeError::Incomplete { needed }) => {
                assert!(needed > 0, "incomplete, yet nothing more needed");
                if let Some(total) = codec::packet_length(rest) {
                    assert!(
                        total > rest.len(),
                        "incomplete, yet the fixed header announces {total} of {} bytes",
                        rest.len()
                    );
                    assert_eq!(needed, total - rest.len(), "needed is not exact");
                }
                break;
            }
            Err(error) => {
                // The message is what a log line says; it must render.
                let _ = error.to_string();
                break;
            }
        }
    }
}

fn check_round_trip(packet: &codec::Packet<'_>, input: &[u8]) {
    // Walks borrowed filter lists and return codes too.
    let shown = format!("{packet:?}");
    let expected_len = codec::encoded_len(packet);
    let mut encoded = vec![0u8; expected_len];
    let written = match codec::encode(packet, &mut encoded) {
        Ok(written) => written,
        Err(error) => panic!("decoded {shown} from {input:02x?} but encoding it failed: {error}"),
    };
    assert_eq!(written, expected_len, "encoded_len disagrees for {shown}");
    let (again, again_len) = match codec::decode(&encoded) {
        Ok(decoded) => decoded,
        Err(error) => panic!("{shown} encoded as {encoded:02x?}, which does not decode: {error}"),
    };
    assert_eq!(
        again_len, written,
        "re-decoding {shown} consumed a different length"
    );
    assert_eq!(
        &again, packet,
        "round trip changed the packet (input {input:02x?})"
    );
    // Same first byte, same body: only the remaining-length field may differ.
    assert_eq!(encoded[0], input[0], "first byte changed for {shown}");
    assert_eq!(
        &encoded[header_len(&encoded)..],
        &input[header_len(input)..],
        "body changed for {shown}"
    );
    let mut twice = vec![0u8; expected_len];
    let written_twice = codec::encode(&again, &mut twice);
    assert_eq!(
        written_twice,
        Ok(written),
        "encoding is not stable for {shown}"
    );
    assert_eq!(twice, encoded, "encoding is not stable for {shown}");
}

/// The length of a (decoded, so well-formed) fixed header: the first byte
/// and the remaining-length bytes, each but the last with its top bit set.
fn header_len(packet: &[u8]) -> usize {
    1 + packet[1..]
        .iter()
        .position(|byte| byte & 0x80 == 0)
        .map_or(packet.len() - 1, |last| last + 1)
}

/// Drives one reference app with a script read from `data`; see
/// [`apps`] for the format. Must never panic.
pub fn fuzz_app_messages(data: &[u8]) {
    let _ = run_app_messages(data);
}
