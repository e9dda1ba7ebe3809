//! The build-time settings: WiFi, broker, client id and the app's `config:`
//! values (`APP_SETTINGS`, applied by board.rs with the app's own parser),
//! generated and checked by build.rs from the `HILT_*` environment
//! variables.

include!(concat!(env!("OUT_DIR"), "/settings.rs"));
