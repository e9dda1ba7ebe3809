//! The reference apps: each follows one of the MicroPython-on-ESP32 MQTT
//! tutorials embedded developers learn from (a DS18B20 thermometer, a pair
//! of remote LEDs, a light sensor, a "smart home" light, and a node managed
//! from a distance after MQBoard), plus a `monitor`, the scenarios'
//! `mosquitto_sub`. Each module says which tutorial, and where it departs
//! from it. `docs/apps.md` is the scenario author's view.
//!
//! Each is written once against embedded-hal traits and the [`App`](crate::app::App)
//! trait, and runs unchanged on the ESP32-C3, in Wokwi, in the host
//! simulation and against mocks. Each app's `*Config` is its settings type
//! (see [`settings`](crate::settings)); [`AppSettings`] picks one by the
//! app's name.

pub(crate) mod json;
pub mod light_status;
pub mod monitor;
pub mod node_manager;
pub mod remote_led;
pub mod sensor_data;
#[cfg(test)]
mod test_harness;
pub mod thermometer;

use crate::settings::{SettingError, SettingKey, Settings};

/// The reference apps a board runs: the firmware image's Cargo features,
/// one per app. (`monitor` is left out: it is the scenarios'
/// `mosquitto_sub`, subscribed to `#`, and has nothing to do on a board.)
pub const BOARD_APPS: [&str; 5] = [
    "thermometer",
    "remote-led",
    "sensor-data",
    "light-status",
    "node-manager",
];

/// One reference app's settings, chosen by the app's name at run time: for
/// the readers that know an app only by name (the image build by its Cargo
/// feature, the Wokwi export by a scenario's `app:`).
#[derive(Clone, Debug)]
pub enum AppSettings {
    Thermometer(thermometer::ThermometerConfig),
    RemoteLed(remote_led::RemoteLedConfig),
    SensorData(sensor_data::SensorDataConfig),
    LightStatus(light_status::LightStatusConfig),
    NodeManager(node_manager::NodeManagerConfig),
    Monitor(monitor::MonitorConfig),
}

impl AppSettings {
    /// The defaults of the app named `app` for a board with `client_id`;
    /// `None` for a name that is no reference app.
    pub fn new(app: &str, client_id: &str) -> Option<Self> {
        Some(match app {
            "thermometer" => {
                AppSettings::Thermometer(thermometer::ThermometerConfig::new(client_id))
            }
            // `peer` is required: whoever builds the app sets it.
            "remote-led" => AppSettings::RemoteLed(remote_led::RemoteLedConfig::new(client_id, "")),
            "sensor-data" => AppSettings::SensorData(sensor_data::SensorDataConfig::new(client_id)),
            "light-status" => {
                AppSettings::LightStatus(light_status::LightStatusConfig::new(client_id))
            }
            "node-manager" => {
                AppSettings::NodeManager(node_manager::NodeManagerConfig::new(client_id))
            }
            "monitor" => AppSettings::Monitor(monitor::MonitorConfig::new(client_id)),
            _ => return None,
        })
    }

    fn settings(&mut self) -> &mut dyn Settings {
        match self {
            AppSettings::Thermometer(config) => config,
            AppSettings::RemoteLed(config) => config,
            AppSettings::SensorData(config) => config,
            AppSettings::LightStatus(config) => config,
            AppSettings::NodeManager(config) => config,
            AppSettings::Monitor(config) => config,
        }
    }
}

impl Settings for AppSettings {
    fn keys(&self) -> &'static [SettingKey] {
        match self {
            AppSettings::Thermometer(config) => config.keys(),
            AppSettings::RemoteLed(config) => config.keys(),
            AppSettings::SensorData(config) => config.keys(),
            AppSettings::LightStatus(config) => config.keys(),
            AppSettings::NodeManager(config) => config.keys(),
            AppSettings::Monitor(config) => config.keys(),
        }
    }

    fn set<'v>(&mut self, key: &str, value: &'v str) -> Result<(), SettingError<'v>> {
        self.settings().set(key, value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_board_app_has_settings() {
        for app in BOARD_APPS {
            let settings = AppSettings::new(app, "board");
            assert!(settings.is_some(), "{app}");
            assert!(
                settings.is_some_and(|settings| settings
                    .keys()
                    .contains(&SettingKey::optional("keepalive"))),
                "{app} takes keepalive"
            );
        }
        assert!(AppSettings::new("doorbell", "board").is_none());
    }

    /// `keepalive: 0` (keep alive off) is what umqtt, which the seed
    /// programs use, connects with by default.
    #[test]
    fn every_board_app_takes_a_keepalive_of_zero() {
        for app in BOARD_APPS {
            let mut settings = AppSettings::new(app, "board").unwrap();
            assert_eq!(settings.set("keepalive", "0"), Ok(()), "{app}");
            assert_eq!(settings.set("keepalive", "0s"), Ok(()), "{app}");
            assert!(settings.set("keepalive", "never").is_err(), "{app}");
        }
        let mut settings = AppSettings::new("thermometer", "board").unwrap();
        settings.set("keepalive", "0s").unwrap();
        let AppSettings::Thermometer(config) = settings else {
            unreachable!("built as thermometer")
        };
        assert!(config.keep_alive.is_zero());
    }

    #[test]
    fn every_board_app_sends_the_user_name_and_password_it_is_given() {
        for app in BOARD_APPS {
            let mut settings = AppSettings::new(app, "board").unwrap();
            let keys = settings.keys();
            let password = keys.iter().find(|key| key.name == "password");
            assert!(password.is_some_and(|key| key.secret), "{app}");
            assert!(
                keys.iter().any(|key| key.name == "username" && !key.secret),
                "{app}"
            );
            assert_eq!(settings.set("username", "alice"), Ok(()), "{app}");
            assert_eq!(settings.set("password", "s3cret"), Ok(()), "{app}");
            let credentials = match &settings {
                AppSettings::Thermometer(config) => &config.credentials,
                AppSettings::RemoteLed(config) => &config.credentials,
                AppSettings::SensorData(config) => &config.credentials,
                AppSettings::LightStatus(config) => &config.credentials,
                AppSettings::NodeManager(config) => &config.credentials,
                AppSettings::Monitor(config) => &config.credentials,
            };
            assert_eq!(credentials.username.as_deref(), Some("alice"), "{app}");
            assert_eq!(credentials.password.as_deref(), Some("s3cret"), "{app}");
        }
    }

    #[test]
    fn a_refused_password_is_never_quoted() {
        extern crate std;
        use std::string::ToString;
        let mut settings = AppSettings::new("thermometer", "board").unwrap();
        let long = "p4ssw0rd-".repeat(8);
        let error = settings.set("password", &long).unwrap_err();
        let message = error.to_string();
        assert_eq!(message, "must be at most 64 bytes, without NUL characters");
        assert!(!message.contains("p4ssw0rd"));
        assert!(settings.set("password", "a\0b").is_err());
    }

    #[test]
    fn a_refused_value_changes_nothing() {
        let mut settings = AppSettings::new("node-manager", "board").unwrap();
        assert!(settings.set("blinky_hz", "51").is_err());
        assert!(settings.set("colour", "red") == Err(SettingError::UnknownKey));
        let AppSettings::NodeManager(config) = settings else {
            unreachable!("built as node-manager")
        };
        assert_eq!(config.blinky_hz, 1.0);
    }
}
