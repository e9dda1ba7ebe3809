//! Any bytes, decoded as a stream of MQTT 3.1.1 packets: no panic, and every
//! packet that decodes encodes again to the same packet.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| hilt_fuzzing::fuzz_mqtt_codec(data));
