//! Firmware updates: the `ota` command (MQBoard's protocol, `crate::ota`),
//! the running image's version from its app descriptor, and its trial:
//! a new image marks itself valid once healthy (connected, and
//! `healthy_after` of uptime); one that is reset before that is rolled back
//! by the bootloader, and one that stays unhealthy for [`TRIAL_LIMIT`]
//! more resets itself to be rolled back.

use core::fmt::Write as _;

use embedded_hal::digital::OutputPin;
use embedded_storage::nor_flash::NorFlash;
use heapless::String;

use super::commands::{REBOOT_GRACE, Reboot, error_payload, error_text};
use super::{NodeManager, PAYLOAD_LEN, QUOTED_CHARS};
use crate::app::{Context, LogLevel};
use crate::apps::json;
use crate::mqtt::codec::QoS;
use crate::ota::image::{AppDescriptor, TEXT_FIELD_LEN};
use crate::ota::otadata::{self, OtaData, OtaState};
use crate::ota::receiver::{ChunkOutcome, OtaReceiver};
use crate::partitions::OTA_SLOTS;
use crate::platform::Platform;
use crate::time::{Duration, Instant};

/// How long past `healthy_after` an image on trial may stay unhealthy
/// (not connected) before it resets itself, which rolls it back.
pub const TRIAL_LIMIT: Duration = Duration::from_secs(300);

/// The flash, what runs from it and the running update.
#[derive(Debug)]
pub(super) struct Updates<F> {
    flash: F,
    /// The board has flash with OTA data and app slots.
    present: bool,
    receiver: OtaReceiver,
    /// The running image's version, from its descriptor.
    version: Option<String<TEXT_FIELD_LEN>>,
    /// The running image is on trial (`pending_verify`).
    trial: bool,
    /// The version the bootloader rolled back from, if the last update was.
    rolled_back_from: Option<String<TEXT_FIELD_LEN>>,
}

impl<F: NorFlash> Updates<F> {
    /// Reads what the bootloader chose: the running slot, its image's
    /// descriptor, whether it is on trial and what was rolled back.
    pub(super) fn at_boot(mut flash: F) -> Updates<F> {
        let present = flash.capacity() >= OTA_SLOTS[1].end as usize;
        let data = OtaData::read(&mut flash).ok().filter(|_| present);
        let slot = data.map_or(0, |data| data.selected_slot());
        let trial = data
            .and_then(|data| data.active())
            .is_some_and(|(_, entry)| entry.state == OtaState::PendingVerify);
        let version_of = |flash: &mut F, slot: usize| {
            AppDescriptor::read(flash, OTA_SLOTS[slot].start)
                .ok()
                .map(|descriptor| descriptor.version)
        };
        let version = if present {
            version_of(&mut flash, slot)
        } else {
            None
        };
        let rolled_back_from = data
            .and_then(|data| data.rolled_back_slot())
            .and_then(|slot| version_of(&mut flash, slot));
        Updates {
            flash,
            present,
            receiver: OtaReceiver::new(slot),
            version,
            trial,
            rolled_back_from,
        }
    }
}

impl<L: OutputPin, P: Platform, F: NorFlash> NodeManager<L, P, F> {
    /// The running image's version: its descriptor's, or the platform's
    /// when there is no descriptor (a board without OTA flash).
    pub fn firmware_version(&self) -> &str {
        match &self.updates.version {
            Some(version) => version,
            None => self.platform.firmware_version(),
        }
    }

    /// True while the running image is on trial (not yet marked valid).
    pub fn on_trial(&self) -> bool {
        self.updates.trial
    }

    /// The version the bootloader rolled back from, if it did.
    pub fn rolled_back_from(&self) -> Option<&str> {
        self.updates.rolled_back_from.as_deref()
    }

    /// Status fields of updates, only when there is something to say (so
    /// that a board that was never updated says what it always said).
    pub(super) fn write_update_status(&self, payload: &mut String<PAYLOAD_LEN>) {
        if self.updates.trial {
            let _ = payload.push_str(", \"trial\": true");
        }
        if let Some(version) = &self.updates.rolled_back_from {
            let _ = payload.push_str(", \"rolled_back_from\": ");
            let _ = json::write_string(payload, json::shown(version, QUOTED_CHARS));
        }
    }

    /// The image on trial: marks it valid once healthy, or resets after
    /// [`TRIAL_LIMIT`] more without that. Returns when to run again.
    pub(super) fn run_trial(&mut self, context: &mut Context<'_>) -> Option<Instant> {
        if !self.updates.trial {
            return None;
        }
        let now = context.now;
        let healthy_at = self.boot + self.config.healthy_after;
        if now >= healthy_at && context.mqtt.is_connected() {
            match otadata::mark_valid(&mut self.updates.flash) {
                Ok(_) => {
                    self.updates.trial = false;
                    let version = self.updates.version.clone().unwrap_or_default();
                    self.log(
                        context,
                        LogLevel::Info,
                        format_args!(
                            "node-manager: firmware {} healthy after its trial, marked valid",
                            json::shown(&version, QUOTED_CHARS)
                        ),
                    );
                    let status = self.status_payload();
                    let _ = context.publish(
                        &self.status_topic,
                        status.as_bytes(),
                        QoS::AtLeastOnce,
                        true,
                    );
                }
                Err(error) => {
                    self.updates.trial = false;
                    self.log(
                        context,
                        LogLevel::Error,
                        format_args!("node-manager: cannot mark the firmware valid: {error}"),
                    );
                }
            }
            return None;
        }
        let give_up_at = healthy_at + TRIAL_LIMIT;
        if now >= give_up_at {
            if self.reboot == Reboot::None {
                self.log(
                    context,
                    LogLevel::Error,
                    format_args!(
                        "node-manager: not healthy {}s into its trial; resetting to roll back",
                        (self.config.healthy_after + TRIAL_LIMIT).as_secs()
                    ),
                );
                self.reboot = Reboot::Pending { deadline: now };
            }
            return None;
        }
        Some(if now >= healthy_at {
            now + Duration::from_secs(1)
        } else {
            healthy_at
        })
    }

    /// One chunk of an update on `<prefix>/mqb/cmd/ota/<id>/<sha256>`.
    pub(super) fn on_ota(
        &mut self,
        context: &mut Context<'_>,
        reply_topic: &str,
        id: &str,
        sha: &str,
        payload: &[u8],
    ) {
        let shown_id = json::shown(id, QUOTED_CHARS);
        let reply: Option<String<PAYLOAD_LEN>> = if !self.updates.present {
            Some(error_payload("this board has no flash for updates"))
        } else if self.reboot != Reboot::None {
            Some(error_payload("the board is rebooting"))
        } else {
            let starting = payload.len() >= 2 && payload[0] & 0x7F == 0 && payload[1] == 0;
            let outcome = self.updates.receiver.on_chunk(
                &mut self.updates.flash,
                context.now,
                id,
                sha,
                payload,
            );
            match outcome {
                ChunkOutcome::Accepted { .. }
                | ChunkOutcome::Duplicate { .. }
                | ChunkOutcome::Ignored { .. } => None,
                ChunkOutcome::Progress { seq, received } => {
                    if starting && seq == 0 && received as usize + 2 == payload.len() {
                        let slot = self.updates.receiver.target_slot();
                        self.log(
                            context,
                            LogLevel::Info,
                            format_args!(
                                "node-manager: update {shown_id} started, into slot {slot}"
                            ),
                        );
                    } else {
                        self.log(
                            context,
                            LogLevel::Debug,
                            format_args!("node-manager: update {shown_id}: {received} bytes"),
                        );
                    }
                    let mut reply = String::new();
                    let _ = write!(reply, "{{\"seq\": {seq}, \"received\": {received}}}");
                    Some(reply)
                }
                ChunkOutcome::Complete {
                    size,
                    slot,
                    descriptor,
                } => {
                    let version = json::shown(&descriptor.version, QUOTED_CHARS);
                    self.log(
                        context,
                        LogLevel::Info,
                        format_args!(
                            "node-manager: update {shown_id} complete: firmware {version}, {size} bytes in slot {slot}; rebooting into it"
                        ),
                    );
                    let mut reply = String::new();
                    let _ = write!(
                        reply,
                        "{{\"ok\": true, \"size\": {size}, \"slot\": {slot}, \"version\": "
                    );
                    let _ = json::write_string(&mut reply, version);
                    let _ = reply.push_str(", \"rebooting\": true}");
                    self.reboot = Reboot::Pending {
                        deadline: context.now + REBOOT_GRACE,
                    };
                    Some(reply)
                }
                ChunkOutcome::Refused(error) => {
                    let text = error_text(format_args!("{error}"));
                    self.log(
                        context,
                        LogLevel::Warn,
                        format_args!("node-manager: update {shown_id} refused: {text}"),
                    );
                    let mut reply = error_payload(&text);
                    if let Some(expected) = error.expected() {
                        reply.pop();
                        let _ = write!(reply, ", \"expected\": {expected}}}");
                    }
                    Some(reply)
                }
            }
        };
        let Some(reply) = reply else {
            return;
        };
        if let Err(error) = context.publish(reply_topic, reply.as_bytes(), QoS::AtLeastOnce, false)
        {
            self.log(
                context,
                LogLevel::Warn,
                format_args!("node-manager: reply on {reply_topic} not sent: {error}"),
            );
        }
    }
}
