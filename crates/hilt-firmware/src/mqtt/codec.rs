//! MQTT 3.1.1 packet codec.
