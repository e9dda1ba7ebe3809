//! What the board says about itself: the retained status after every
//! connect and sysinfo, on request and every `sysinfo_interval`.

use core::fmt::Write as _;

use embedded_hal::digital::OutputPin;
use embedded_storage::nor_flash::NorFlash;
use heapless::String;

use super::{NodeManager, PAYLOAD_LEN, QUOTED_CHARS};
use crate::app::{Context, LogLevel};
use crate::apps::json;
use crate::mqtt::codec::QoS;
use crate::platform::Platform;

impl<L: OutputPin, P: Platform, F: NorFlash> NodeManager<L, P, F> {
    pub(super) fn status_payload(&self) -> String<PAYLOAD_LEN> {
        let mut payload = String::new();
        let _ = write!(
            payload,
            "{{\"state\": \"online\", \"safe_mode\": {}, \"reset_cause\": \"{}\", \"crashes\": {}, \"firmware_version\": ",
            self.safe_mode,
            self.reset_cause.as_str(),
            self.crashes
        );
        let _ = json::write_string(
            &mut payload,
            json::shown(self.firmware_version(), QUOTED_CHARS),
        );
        self.write_update_status(&mut payload);
        let _ = payload.push('}');
        payload
    }

    pub(super) fn sysinfo_payload(&self, context: &Context<'_>) -> String<PAYLOAD_LEN> {
        let memory = self.platform.memory();
        let mut payload = String::new();
        let _ = write!(
            payload,
            "{{\"uptime\": {}, \"free_bytes\": {}, \"largest_free_block\": {}, \"reset_cause\": \"{}\", \"firmware_version\": ",
            context.now.saturating_since(self.boot).as_secs(),
            memory.free_bytes,
            memory.largest_free_block,
            self.reset_cause.as_str(),
        );
        let _ = json::write_string(
            &mut payload,
            json::shown(self.firmware_version(), QUOTED_CHARS),
        );
        let _ = write!(
            payload,
            ", \"safe_mode\": {}, \"crashes\": {}, \"boots\": {}, \"connects\": {}, \"log_lines_dropped\": {}, \"settings_store\": \"{}\"}}",
            self.safe_mode,
            self.crashes,
            self.boots,
            context.mqtt.statistics().connects,
            self.remote_log.dropped_total,
            self.settings_state.as_str()
        );
        payload
    }

    pub(super) fn periodic_sysinfo(&mut self, context: &mut Context<'_>) {
        let Some(at) = self.next_sysinfo_at else {
            return;
        };
        let now = context.now;
        if now < at {
            return;
        }
        let mut next = at;
        while next <= now {
            next = next + self.config.sysinfo_interval;
        }
        self.next_sysinfo_at = Some(next);
        let payload = self.sysinfo_payload(context);
        if let Err(error) = context.publish(
            &self.sysinfo_topic,
            payload.as_bytes(),
            QoS::AtMostOnce,
            false,
        ) {
            self.log(
                context,
                LogLevel::Debug,
                format_args!("node-manager: sysinfo not sent: {error}"),
            );
        }
    }
}
