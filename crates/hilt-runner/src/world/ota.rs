//! The `ota` step: the harness pushes a firmware image to a board over MQTT
//! with `hilt_firmware::ota::sender` (the sender `hilt ota` drives too),
//! reading the board's replies from its reply topic, with the step's power
//! cut and broker restart on the way.

use std::collections::VecDeque;
use std::time::Duration;

use hilt_firmware::apps::node_manager::DEFAULT_PREFIX;
use hilt_firmware::ota::image::SimulatedBoot;
use hilt_firmware::ota::sender::{OtaSender, SenderEvent, SenderState};
use hilt_firmware::ota::{HEADER_LEN, sha256, sha256_hex};
use hilt_scenario::{BrokerAction, ConfigValue, OtaBoots, OtaPush, PowerCut};
use hilt_sim::image::simulated_image;
use hilt_sim::random::SplitMix64;

use super::{HarnessError, World, after};

/// Device time the sender waits for a reply before it goes back.
pub(crate) const RESEND_AFTER: Duration = Duration::from_secs(5);

impl World {
    /// The topic prefix of `device`: its `config: prefix`, or
    /// node-manager's default.
    pub fn device_prefix(&self, device: &str) -> String {
        self.device_index(device)
            .and_then(|index| {
                self.devices[index]
                    .config
                    .entries
                    .iter()
                    .find(|entry| entry.key == "prefix")
                    .and_then(|entry| match &entry.value {
                        ConfigValue::Scalar { text, .. } => Some(text.clone()),
                        _ => None,
                    })
            })
            .unwrap_or_else(|| DEFAULT_PREFIX.to_owned())
    }

    /// Runs one `ota` step against the board `push.device` whose topics
    /// start with `prefix`; ends when the sender is done or has given up.
    pub fn ota_push(&mut self, push: &OtaPush, prefix: &str) -> Result<(), HarnessError> {
        let device = push.device.device.as_str();
        let boots = match push.boots {
            OtaBoots::Runs => SimulatedBoot::Runs,
            OtaBoots::Crashes => SimulatedBoot::Crashes,
            OtaBoots::Hangs => SimulatedBoot::Hangs,
        };
        let image = simulated_image("node-manager", &push.version, boots, push.size as usize);
        let mut digest = sha256(&image);
        if push.corrupt {
            // The hash of other bytes: the image arrives whole, the check
            // fails.
            digest[0] ^= 0xFF;
        }
        let topic = format!("{prefix}/mqb/cmd/ota/{}/{}", push.id, sha256_hex(&digest));
        let reply_topic = format!("{prefix}/mqb/reply/{}", push.id);
        let chunk_len = push.chunk as usize;
        let mut sender = OtaSender::new(image.len(), chunk_len)
            .map_err(|error| HarnessError::Ota(format!("cannot send the image: {error}")))?;
        let power_cut_at = match push.power_cut {
            Some(PowerCut::AtChunk(chunk)) => Some(chunk),
            Some(PowerCut::Random) => {
                let seed = self
                    .device_index(device)
                    .map_or(0, |index| self.devices[index].seed);
                Some(SplitMix64::new(seed).below(u64::from(sender.chunks())))
            }
            None => None,
        };
        self.transcript.push(
            self.now,
            format!(
                "harness pushes firmware {} ({} bytes, {} chunks of {chunk_len}, boots: {}) to {device} on {topic}",
                push.version,
                image.len(),
                sender.chunks(),
                boots.as_str(),
            ),
        );
        self.ota_replies = Some((reply_topic, VecDeque::new()));
        let mut transfer = Transfer {
            image: &image,
            chunk_len,
            topic: &topic,
            device,
            power_cut_at,
            restart_at: push.broker_restart_at_chunk,
        };
        let outcome = self.run_sender(&mut sender, &mut transfer);
        self.ota_replies = None;
        outcome?;
        let said = match sender.state() {
            SenderState::Done { version } => format!("{device} took firmware {version}"),
            SenderState::Failed { reason } => format!("the update of {device} failed: {reason}"),
            SenderState::Sending => format!("the update of {device} stopped unfinished"),
        };
        self.transcript.push(self.now, format!("harness: {said}"));
        Ok(())
    }

    fn run_sender(
        &mut self,
        sender: &mut OtaSender,
        transfer: &mut Transfer<'_>,
    ) -> Result<(), HarnessError> {
        let Transfer {
            image,
            chunk_len,
            topic,
            device,
            ..
        } = *transfer;
        let power_cut_at = &mut transfer.power_cut_at;
        let restart_at = &mut transfer.restart_at;
        let mut payload = vec![0u8; HEADER_LEN + chunk_len];
        while *sender.state() == SenderState::Sending {
            while let Some(chunk) = sender.next_chunk() {
                let length = chunk.write_payload(image, &mut payload);
                let seq = u64::from(chunk.header.seq);
                let description = format!(
                    "harness -> {topic} qos1 chunk {seq}{} ({length} bytes)",
                    if chunk.header.last { ", the last" } else { "" }
                );
                self.harness_publish_described(
                    topic,
                    &payload[..length],
                    1,
                    false,
                    Some(description),
                )?;
                // The board takes each chunk before the next, as the
                // `publish` step's messages: a broker holds back deliveries
                // to a client with too many unacknowledged ones. So a power
                // cut armed now falls after this chunk.
                self.run_until(self.now)?;
                if *power_cut_at == Some(seq) {
                    *power_cut_at = None;
                    self.cut_flash_power(device)?;
                }
                if *restart_at == Some(seq) {
                    *restart_at = None;
                    self.transcript.push(
                        self.now,
                        "harness restarts the broker in the middle of the update",
                    );
                    self.broker_action(BrokerAction::Restart)?;
                }
            }
            let deadline = after(self.now, RESEND_AFTER);
            let replied = self.run_until_or(deadline, |world| {
                world
                    .ota_replies
                    .as_ref()
                    .is_some_and(|(_, replies)| !replies.is_empty())
            })?;
            if !replied {
                let event = sender.on_silence();
                self.note_sender_event(&event);
                continue;
            }
            while let Some(reply) = self
                .ota_replies
                .as_mut()
                .and_then(|(_, replies)| replies.pop_front())
            {
                let event = sender.on_reply(&reply);
                self.note_sender_event(&event);
            }
        }
        Ok(())
    }

    fn note_sender_event(&mut self, event: &SenderEvent) {
        if let SenderEvent::Rewound { to, reason } = event {
            self.transcript.push(
                self.now,
                format!("harness goes back to chunk {to}: {reason}"),
            );
        }
    }

    /// Power goes during the device's next flash erase or write.
    fn cut_flash_power(&mut self, device: &str) -> Result<(), HarnessError> {
        let index = self
            .device_index(device)
            .ok_or_else(|| HarnessError::Ota(format!("no device {device}")))?;
        let Some(flash) = self.devices[index].board.flash_model() else {
            return Err(HarnessError::Ota(format!(
                "{device}'s firmware has no flash whose power could be cut"
            )));
        };
        flash.cut_power_during(0);
        self.transcript.push(
            self.now,
            format!("harness: {device} loses power at its next flash write"),
        );
        Ok(())
    }
}

/// What one `ota` step sends, and its faults still to come.
struct Transfer<'a> {
    image: &'a [u8],
    chunk_len: usize,
    topic: &'a str,
    device: &'a str,
    /// After this chunk, power goes at the next flash operation.
    power_cut_at: Option<u64>,
    /// After this chunk, the broker restarts.
    restart_at: Option<u64>,
}
