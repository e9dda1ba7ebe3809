//! A behavioural DS18B20 on a simulated [`OneWireLine`].
//!
//! The model follows the datasheet, not the firmware: it answers resets with
//! a presence pulse, understands the ROM commands (READ, MATCH, SKIP, SEARCH
//! and ALARM SEARCH) and the function commands (CONVERT T, READ and WRITE
//! SCRATCHPAD, COPY SCRATCHPAD, RECALL E², READ POWER SUPPLY), and takes the
//! datasheet's conversion time in device time. A firmware driver that gets
//! the protocol or the timing wrong fails against it the way it would fail
//! against a real part.
//!
//! The model keeps the parts of the datasheet a driver is likely to trip
//! over: the scratchpad holds 85 °C from power-on until the first conversion
//! ends, a scratchpad read during a conversion returns the previous result,
//! read slots after CONVERT T answer 0 until the conversion is done, and
//! the conversion result is quantised to the configured resolution. Its CRC
//! is computed here, independently of the firmware's `crc8`, so a bug there
//! cannot cancel out.
//!
//! The runner keeps a [`Ds18b20Handle`] to set the temperature and inject
//! faults ([`Ds18b20Fault`]) while the firmware owns the master pin.
//!
//! Simplifications: the model is always externally powered (READ POWER
//! SUPPLY answers 1), the reserved scratchpad bytes keep their power-on
//! values, the bits a lower resolution leaves undefined read as 0, and
//! overdrive speed is not modelled.

use std::cell::RefCell;
use std::rc::Rc;

use hilt_firmware::onewire::RomCode;

use crate::clock::VirtualClock;
use crate::onewire::{MasterPulse, OneWireLine, OneWireSlave, timing};

/// The family code of a DS18B20.
pub const FAMILY_CODE: u8 = 0x28;

/// The lowest temperature the DS18B20 measures, in °C.
pub const MIN_CELSIUS: f64 = -55.0;
/// The highest temperature the DS18B20 measures, in °C.
pub const MAX_CELSIUS: f64 = 125.0;

/// How long COPY SCRATCHPAD keeps the part busy (tWR, 10 ms max).
const EEPROM_WRITE_NANOS: u64 = 10_000_000;

/// The reserved scratchpad bytes 5, 6 and 7 as a DS18B20 shows them.
const RESERVED_BYTES: [u8; 3] = [0xFF, 0x0C, 0x10];

/// The factory EEPROM: TH 75 °C, TL 70 °C, 12-bit resolution.
const FACTORY_EEPROM: [u8; 3] = [0x4B, 0x46, 0x7F];

/// The temperature register at power-on: 85 °C.
const POWER_ON_TEMPERATURE_RAW: i16 = 0x0550;

/// A failure the runner can inject.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Ds18b20Fault {
    /// The data line to the sensor is cut: no presence pulse, the line stays
    /// high. The sensor keeps its power and its scratchpad; a conversion in
    /// progress finishes.
    Disconnected,
    /// The scratchpad is sent with its CRC byte inverted, as if the line
    /// were noisy; everything else works.
    CrcError,
    /// The sensor answers resets with a presence pulse but never drives a
    /// data bit, so everything it sends reads as 1s (a scratchpad of nine
    /// 0xFF bytes): a part whose output died, or a line that breaks right
    /// after the reset.
    PresenceOnly,
    /// The data line is shorted to ground at the sensor: the line is low
    /// whatever anyone does.
    ShortedToGround,
}

/// Why the model refused a setting.
#[derive(Clone, Copy, Debug, PartialEq, thiserror::Error)]
pub enum Ds18b20ModelError {
    /// The DS18B20 measures −55 °C to +125 °C; anything else (or NaN) cannot
    /// be a reading and is refused rather than silently clamped.
    #[error("{celsius} °C is outside the DS18B20's range of -55 to 125 °C")]
    TemperatureOutOfRange { celsius: f64 },
}

/// Computes the 1-Wire CRC-8 the way the DS18B20 datasheet draws it: a shift
/// register with taps for x⁸ + x⁵ + x⁴ + 1, fed one bit at a time.
fn crc8_shift_register(data: &[u8]) -> u8 {
    let mut register = 0u8;
    for &byte in data {
        for bit_index in 0..8 {
            let input = (byte >> bit_index) & 1;
            let feedback = (register & 1) ^ input;
            register >>= 1;
            if feedback == 1 {
                // x⁸ feeds back into the stages after x⁴ and x⁵ and into the
                // top stage.
                register ^= 0b1000_1100;
            }
        }
    }
    register
}

/// The resolution in bits that a configuration byte selects.
fn resolution_bits(config: u8) -> u8 {
    9 + ((config >> 5) & 0b11)
}

/// The datasheet's maximum conversion time (tCONV) at a resolution.
fn conversion_nanos(resolution_bits: u8) -> u64 {
    match resolution_bits {
        9 => 93_750_000,
        10 => 187_500_000,
        11 => 375_000_000,
        _ => 750_000_000,
    }
}

/// A temperature as the register holds it at a resolution: rounded to the
/// resolution's step (0.5 °C at 9 bits ... 0.0625 °C at 12), halves away
/// from zero, in sixteenths.
fn quantise(celsius: f64, resolution_bits: u8) -> i16 {
    let step = 1i32 << (12 - resolution_bits.clamp(9, 12));
    let steps = (celsius * 16.0 / f64::from(step)).round();
    // The range check in set_temperature keeps this in −880..=2000; `as`
    // saturates rather than panics if it ever were not.
    let raw = (steps as i32).saturating_mul(step);
    raw.clamp(-880, 2000) as i16
}

/// Bits the device is sending, least significant bit of each byte first.
#[derive(Clone, Copy, Debug)]
struct Transmitter {
    bytes: [u8; 9],
    len: usize,
    next_bit: usize,
}

impl Transmitter {
    fn new(data: &[u8]) -> Self {
        let mut bytes = [0u8; 9];
        let len = data.len().min(bytes.len());
        bytes[..len].copy_from_slice(&data[..len]);
        Transmitter {
            bytes,
            len,
            next_bit: 0,
        }
    }

    /// The next bit, or `None` when every bit has been sent.
    fn next(&mut self) -> Option<bool> {
        if self.next_bit >= self.len * 8 {
            return None;
        }
        let bit = self.bytes[self.next_bit / 8] & (1 << (self.next_bit % 8)) != 0;
        self.next_bit += 1;
        Some(bit)
    }

    fn is_done(&self) -> bool {
        self.next_bit >= self.len * 8
    }
}

/// Bits the device is receiving, assembled into a byte.
#[derive(Clone, Copy, Debug, Default)]
struct Receiver {
    byte: u8,
    bits: u8,
}

impl Receiver {
    /// Adds a bit; returns the byte once eight bits are in.
    fn push(&mut self, bit: bool) -> Option<u8> {
        if bit {
            self.byte |= 1 << self.bits;
        }
        self.bits += 1;
        if self.bits == 8 {
            let byte = self.byte;
            *self = Receiver::default();
            Some(byte)
        } else {
            None
        }
    }
}

/// The three steps of each bit of a ROM search.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum SearchStep {
    SendBit,
    SendComplement,
    ReceiveDirection,
}

/// Where the device is in a 1-Wire transaction.
#[derive(Clone, Copy, Debug)]
enum Protocol {
    /// Waiting for a reset; slots are ignored and read as 1.
    Idle,
    /// After a reset: receiving the ROM command.
    RomCommand(Receiver),
    /// READ ROM: sending the ROM code, then selected.
    ReadRom(Transmitter),
    /// MATCH ROM: comparing the master's bits with the ROM code.
    MatchRom { bit_index: u8 },
    /// SEARCH ROM or ALARM SEARCH.
    Search { bit_index: u8, step: SearchStep },
    /// Selected: receiving the function command.
    FunctionCommand(Receiver),
    /// READ SCRATCHPAD: sending the scratchpad, then 1s.
    ReadScratchpad(Transmitter),
    /// WRITE SCRATCHPAD: receiving TH, TL and the configuration byte.
    WriteScratchpad {
        receiver: Receiver,
        bytes_written: u8,
    },
    /// After CONVERT T, COPY SCRATCHPAD or RECALL E²: read slots answer 0
    /// until `until_nanos`, then 1.
    Busy { until_nanos: u64 },
    /// READ POWER SUPPLY: read slots answer 1 (externally powered).
    PowerSupply,
}

impl Protocol {
    /// Whether the device sends in the next slot (a read slot from the
    /// master's point of view) rather than receives.
    fn sends(&self) -> bool {
        match self {
            Protocol::ReadRom(_)
            | Protocol::ReadScratchpad(_)
            | Protocol::Busy { .. }
            | Protocol::PowerSupply => true,
            Protocol::Search { step, .. } => *step != SearchStep::ReceiveDirection,
            Protocol::Idle
            | Protocol::RomCommand(_)
            | Protocol::MatchRom { .. }
            | Protocol::FunctionCommand(_)
            | Protocol::WriteScratchpad { .. } => false,
        }
    }
}

/// A conversion in progress.
#[derive(Clone, Copy, Debug)]
struct Conversion {
    done_at_nanos: u64,
    resolution_bits: u8,
}

/// The state of one simulated DS18B20. It lives on its line; the runner
/// reaches it through a [`Ds18b20Handle`].
#[derive(Debug)]
pub struct Ds18b20Model {
    clock: VirtualClock,
    rom: [u8; 8],
    /// The temperature around the sensor, in °C.
    temperature_celsius: f64,
    fault: Option<Ds18b20Fault>,
    /// Scratchpad bytes 0 to 7; the CRC is computed when it is read.
    scratchpad: [u8; 8],
    /// TH, TL and configuration as stored in EEPROM.
    eeprom: [u8; 3],
    conversion: Option<Conversion>,
    conversions_completed: u64,
    /// Set by a conversion outside TL..TH; selects the part in ALARM SEARCH.
    alarm: bool,
    protocol: Protocol,
    /// The master's falling edge of the slot in progress, and whether the
    /// device is sending in it.
    slot: Option<(u64, bool)>,
    /// The time window in which the device holds the line low.
    pull_low: Option<(u64, u64)>,
}

impl Ds18b20Model {
    /// Puts a powered-up DS18B20 on `line` at 20 °C and returns the handle to
    /// control it.
    ///
    /// The ROM code is family 0x28, the low 48 bits of `serial` as the serial
    /// number (least significant byte first, as on the wire), and the CRC.
    pub fn attach(line: &OneWireLine, serial: u64) -> Ds18b20Handle {
        let mut rom = [0u8; 8];
        rom[0] = FAMILY_CODE;
        rom[1..7].copy_from_slice(&serial.to_le_bytes()[..6]);
        rom[7] = crc8_shift_register(&rom[..7]);
        let mut model = Ds18b20Model {
            clock: line.clock(),
            rom,
            temperature_celsius: 20.0,
            fault: None,
            scratchpad: [0; 8],
            eeprom: FACTORY_EEPROM,
            conversion: None,
            conversions_completed: 0,
            alarm: false,
            protocol: Protocol::Idle,
            slot: None,
            pull_low: None,
        };
        model.power_up();
        let model = Rc::new(RefCell::new(model));
        line.attach(model.clone());
        Ds18b20Handle { model }
    }

    /// The state after power-up: 85 °C in the temperature register, TH, TL
    /// and configuration recalled from EEPROM, no transaction.
    fn power_up(&mut self) {
        let [lsb, msb] = POWER_ON_TEMPERATURE_RAW.to_le_bytes();
        let [high, low, config] = self.eeprom;
        let [reserved5, reserved6, reserved7] = RESERVED_BYTES;
        self.scratchpad = [lsb, msb, high, low, config, reserved5, reserved6, reserved7];
        self.conversion = None;
        self.alarm = false;
        self.protocol = Protocol::Idle;
        self.slot = None;
        self.pull_low = None;
    }

    fn resolution_bits(&self) -> u8 {
        resolution_bits(self.scratchpad[4])
    }

    /// Finishes a conversion whose time has come: the scratchpad gets the
    /// temperature at the moment the conversion ends.
    fn settle(&mut self, now_nanos: u64) {
        let Some(conversion) = self.conversion else {
            return;
        };
        if now_nanos < conversion.done_at_nanos {
            return;
        }
        let raw = quantise(self.temperature_celsius, conversion.resolution_bits);
        let [lsb, msb] = raw.to_le_bytes();
        self.scratchpad[0] = lsb;
        self.scratchpad[1] = msb;
        // TH and TL are compared with bits 11..4 of the result, its whole
        // degrees (rounded toward minus infinity).
        let whole_degrees = raw >> 4;
        let alarm_high = i16::from(self.scratchpad[2] as i8);
        let alarm_low = i16::from(self.scratchpad[3] as i8);
        self.alarm = whole_degrees >= alarm_high || whole_degrees <= alarm_low;
        self.conversion = None;
        self.conversions_completed = self.conversions_completed.saturating_add(1);
    }

    /// The nine bytes a READ SCRATCHPAD sends, with the CRC (or a corrupted
    /// one under [`Ds18b20Fault::CrcError`]).
    fn scratchpad_with_crc(&self) -> [u8; 9] {
        let mut bytes = [0u8; 9];
        bytes[..8].copy_from_slice(&self.scratchpad);
        bytes[8] = crc8_shift_register(&self.scratchpad);
        if self.fault == Some(Ds18b20Fault::CrcError) {
            bytes[8] = !bytes[8];
        }
        bytes
    }

    fn rom_bit(&self, bit_index: u8) -> bool {
        let bit_index = usize::from(bit_index.min(63));
        self.rom[bit_index / 8] & (1 << (bit_index % 8)) != 0
    }

    /// Whether the model sees the line at all.
    fn is_connected(&self) -> bool {
        !matches!(
            self.fault,
            Some(Ds18b20Fault::Disconnected | Ds18b20Fault::ShortedToGround)
        )
    }

    /// The bit the device sends in a slot starting at `now`, moving the
    /// transaction on.
    fn next_bit_to_send(&mut self, now_nanos: u64) -> bool {
        match self.protocol {
            Protocol::ReadRom(mut transmitter) => {
                let bit = transmitter.next().unwrap_or(true);
                self.protocol = if transmitter.is_done() {
                    Protocol::FunctionCommand(Receiver::default())
                } else {
                    Protocol::ReadRom(transmitter)
                };
                bit
            }
            Protocol::ReadScratchpad(mut transmitter) => {
                // After the ninth byte the device lets the line float: 1s.
                let bit = transmitter.next().unwrap_or(true);
                self.protocol = Protocol::ReadScratchpad(transmitter);
                bit
            }
            Protocol::Busy { until_nanos } => now_nanos >= until_nanos,
            Protocol::PowerSupply => true,
            Protocol::Search { bit_index, step } => {
                let rom_bit = self.rom_bit(bit_index);
                let (bit, next_step) = match step {
                    SearchStep::SendBit => (rom_bit, SearchStep::SendComplement),
                    SearchStep::SendComplement => (!rom_bit, SearchStep::ReceiveDirection),
                    SearchStep::ReceiveDirection => (true, SearchStep::ReceiveDirection),
                };
                self.protocol = Protocol::Search {
                    bit_index,
                    step: next_step,
                };
                bit
            }
            Protocol::Idle
            | Protocol::RomCommand(_)
            | Protocol::MatchRom { .. }
            | Protocol::FunctionCommand(_)
            | Protocol::WriteScratchpad { .. } => true,
        }
    }

    /// A bit the master wrote, at the end of its slot at `now`.
    fn receive_bit(&mut self, bit: bool, now_nanos: u64) {
        match self.protocol {
            Protocol::RomCommand(mut receiver) => match receiver.push(bit) {
                Some(command) => self.rom_command(command),
                None => self.protocol = Protocol::RomCommand(receiver),
            },
            Protocol::MatchRom { bit_index } => {
                self.protocol = if bit != self.rom_bit(bit_index) {
                    Protocol::Idle
                } else if bit_index >= 63 {
                    Protocol::FunctionCommand(Receiver::default())
                } else {
                    Protocol::MatchRom {
                        bit_index: bit_index + 1,
                    }
                };
            }
            Protocol::Search {
                bit_index,
                step: SearchStep::ReceiveDirection,
            } => {
                self.protocol = if bit != self.rom_bit(bit_index) {
                    // The master took the other branch: drop out.
                    Protocol::Idle
                } else if bit_index >= 63 {
                    // The last one standing is selected, as after MATCH ROM.
                    Protocol::FunctionCommand(Receiver::default())
                } else {
                    Protocol::Search {
                        bit_index: bit_index + 1,
                        step: SearchStep::SendBit,
                    }
                };
            }
            Protocol::FunctionCommand(mut receiver) => match receiver.push(bit) {
                Some(command) => self.function_command(command, now_nanos),
                None => self.protocol = Protocol::FunctionCommand(receiver),
            },
            Protocol::WriteScratchpad {
                mut receiver,
                bytes_written,
            } => {
                let Some(byte) = receiver.push(bit) else {
                    self.protocol = Protocol::WriteScratchpad {
                        receiver,
                        bytes_written,
                    };
                    return;
                };
                match bytes_written {
                    0 => self.scratchpad[2] = byte,
                    1 => self.scratchpad[3] = byte,
                    // Only R1 and R0 are writable; bit 7 reads 0 and bits
                    // 4..0 read 1.
                    _ => self.scratchpad[4] = (byte & 0x60) | 0x1F,
                }
                self.protocol = if bytes_written >= 2 {
                    Protocol::Idle
                } else {
                    Protocol::WriteScratchpad {
                        receiver,
                        bytes_written: bytes_written + 1,
                    }
                };
            }
            Protocol::Search { .. }
            | Protocol::Idle
            | Protocol::ReadRom(_)
            | Protocol::ReadScratchpad(_)
            | Protocol::Busy { .. }
            | Protocol::PowerSupply => {}
        }
    }

    fn rom_command(&mut self, command: u8) {
        self.protocol = match command {
            0x33 => Protocol::ReadRom(Transmitter::new(&self.rom)),
            0x55 => Protocol::MatchRom { bit_index: 0 },
            0xCC => Protocol::FunctionCommand(Receiver::default()),
            0xF0 => Protocol::Search {
                bit_index: 0,
                step: SearchStep::SendBit,
            },
            0xEC if self.alarm => Protocol::Search {
                bit_index: 0,
                step: SearchStep::SendBit,
            },
            // No alarm (so no part in ALARM SEARCH), overdrive commands, or
            // garbage: wait for the next reset.
            _ => Protocol::Idle,
        };
    }

    fn function_command(&mut self, command: u8, now_nanos: u64) {
        self.protocol = match command {
            0x44 => {
                let resolution_bits = self.resolution_bits();
                let done_at_nanos = now_nanos.saturating_add(conversion_nanos(resolution_bits));
                self.conversion = Some(Conversion {
                    done_at_nanos,
                    resolution_bits,
                });
                Protocol::Busy {
                    until_nanos: done_at_nanos,
                }
            }
            0xBE => Protocol::ReadScratchpad(Transmitter::new(&self.scratchpad_with_crc())),
            0x4E => Protocol::WriteScratchpad {
                receiver: Receiver::default(),
                bytes_written: 0,
            },
            0x48 => {
                self.eeprom.copy_from_slice(&self.scratchpad[2..5]);
                Protocol::Busy {
                    until_nanos: now_nanos.saturating_add(EEPROM_WRITE_NANOS),
                }
            }
            0xB8 => {
                self.scratchpad[2..5].copy_from_slice(&self.eeprom);
                Protocol::Busy {
                    until_nanos: now_nanos,
                }
            }
            0xB4 => Protocol::PowerSupply,
            _ => Protocol::Idle,
        };
    }
}

impl OneWireSlave for Ds18b20Model {
    fn master_pulled_low(&mut self, at_nanos: u64) {
        self.settle(at_nanos);
        if !self.is_connected() {
            return;
        }
        let sends = self.protocol.sends();
        self.slot = Some((at_nanos, sends));
        if sends {
            let bit = self.next_bit_to_send(at_nanos);
            let silent = self.fault == Some(Ds18b20Fault::PresenceOnly);
            if !bit && !silent {
                self.pull_low = Some((at_nanos, at_nanos.saturating_add(timing::READ_ZERO_HOLD)));
            }
        }
    }

    fn master_released(&mut self, at_nanos: u64) {
        self.settle(at_nanos);
        if !self.is_connected() {
            return;
        }
        let Some((started_at, sending)) = self.slot.take() else {
            return;
        };
        match MasterPulse::from_low_time(at_nanos.saturating_sub(started_at)) {
            MasterPulse::Reset => {
                self.protocol = Protocol::RomCommand(Receiver::default());
                let presence_start = at_nanos.saturating_add(timing::PRESENCE_DELAY);
                self.pull_low = Some((
                    presence_start,
                    presence_start.saturating_add(timing::PRESENCE_LENGTH),
                ));
            }
            MasterPulse::Invalid => {
                self.protocol = Protocol::Idle;
                self.pull_low = None;
            }
            MasterPulse::One if !sending => self.receive_bit(true, at_nanos),
            MasterPulse::Zero if !sending => self.receive_bit(false, at_nanos),
            MasterPulse::One | MasterPulse::Zero => {}
        }
    }

    fn pulls_low_at(&mut self, at_nanos: u64) -> bool {
        self.settle(at_nanos);
        match self.fault {
            Some(Ds18b20Fault::ShortedToGround) => true,
            Some(Ds18b20Fault::Disconnected) => false,
            _ => self
                .pull_low
                .is_some_and(|(from, until)| from <= at_nanos && at_nanos < until),
        }
    }
}

/// The runner's handle on a simulated DS18B20; clones share the part.
#[derive(Clone, Debug)]
pub struct Ds18b20Handle {
    model: Rc<RefCell<Ds18b20Model>>,
}

impl Ds18b20Handle {
    /// The part's ROM code.
    pub fn rom_code(&self) -> RomCode {
        RomCode(self.model.borrow().rom)
    }

    /// Sets the temperature around the sensor. A conversion that ends from
    /// now on measures it; the scratchpad keeps the last result until then.
    ///
    /// Values outside −55…125 °C (and NaN) are refused: a scenario asking
    /// for them is wrong, and a real part cannot report them.
    pub fn set_temperature(&self, celsius: f64) -> Result<(), Ds18b20ModelError> {
        if !(MIN_CELSIUS..=MAX_CELSIUS).contains(&celsius) {
            return Err(Ds18b20ModelError::TemperatureOutOfRange { celsius });
        }
        let mut model = self.model.borrow_mut();
        // A conversion that ended before now measured the old temperature.
        let now = model.clock.now_nanos();
        model.settle(now);
        model.temperature_celsius = celsius;
        Ok(())
    }

    /// The temperature around the sensor, in °C, as last set.
    pub fn temperature(&self) -> f64 {
        self.model.borrow().temperature_celsius
    }

    /// Injects a fault, or clears it with `None`. A change abandons the
    /// transaction in progress and the part waits for the next reset;
    /// setting the fault already in effect changes nothing, so a runner may
    /// repeat it without disturbing, say, a firmware polling a conversion.
    pub fn set_fault(&self, fault: Option<Ds18b20Fault>) {
        let mut model = self.model.borrow_mut();
        if model.fault == fault {
            return;
        }
        let now = model.clock.now_nanos();
        model.settle(now);
        model.fault = fault;
        model.protocol = Protocol::Idle;
        model.slot = None;
        model.pull_low = None;
    }

    /// The fault in effect.
    pub fn fault(&self) -> Option<Ds18b20Fault> {
        self.model.borrow().fault
    }

    /// Removes and restores power: the scratchpad goes back to 85 °C and the
    /// EEPROM settings, and any conversion is lost. Faults stay.
    pub fn power_cycle(&self) {
        self.model.borrow_mut().power_up();
    }

    /// The resolution in bits (9 to 12) in the configuration register.
    pub fn resolution_bits(&self) -> u8 {
        self.model.borrow().resolution_bits()
    }

    /// The nine scratchpad bytes with their correct CRC, as of now.
    pub fn scratchpad(&self) -> [u8; 9] {
        let mut model = self.model.borrow_mut();
        let now = model.clock.now_nanos();
        model.settle(now);
        let mut bytes = [0u8; 9];
        bytes[..8].copy_from_slice(&model.scratchpad);
        bytes[8] = crc8_shift_register(&model.scratchpad);
        bytes
    }

    /// TH, TL and the configuration byte as stored in EEPROM.
    pub fn eeprom(&self) -> [u8; 3] {
        self.model.borrow().eeprom
    }

    /// Whether a conversion is in progress now.
    pub fn is_converting(&self) -> bool {
        let mut model = self.model.borrow_mut();
        let now = model.clock.now_nanos();
        model.settle(now);
        model.conversion.is_some()
    }

    /// How many conversions have completed since the part was attached.
    pub fn conversions_completed(&self) -> u64 {
        let mut model = self.model.borrow_mut();
        let now = model.clock.now_nanos();
        model.settle(now);
        model.conversions_completed
    }

    /// Whether the last conversion set the alarm flag (result at or above
    /// TH, or at or below TL), which makes the part answer ALARM SEARCH.
    pub fn has_alarm(&self) -> bool {
        let mut model = self.model.borrow_mut();
        let now = model.clock.now_nanos();
        model.settle(now);
        model.alarm
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shift_register_crc_matches_the_datasheet_examples() {
        assert_eq!(
            crc8_shift_register(&[0x02, 0x1C, 0xB8, 0x01, 0x00, 0x00, 0x00]),
            0xA2
        );
        assert_eq!(
            crc8_shift_register(&[0x50, 0x05, 0x4B, 0x46, 0x7F, 0xFF, 0x0C, 0x10]),
            0x1C
        );
    }

    #[test]
    fn the_rom_code_comes_from_the_serial() {
        let line = OneWireLine::new(VirtualClock::new());
        let sensor = Ds18b20Model::attach(&line, 0x0113_1709_4CFF);
        assert_eq!(
            sensor.rom_code().0,
            [0x28, 0xFF, 0x4C, 0x09, 0x17, 0x13, 0x01, 0xC4]
        );
    }

    #[test]
    fn quantising_rounds_to_the_resolution_step() {
        assert_eq!(quantise(22.5, 12), 360);
        assert_eq!(quantise(-10.125, 12), -162);
        assert_eq!(quantise(-10.125, 11), -162);
        assert_eq!(quantise(-10.125, 10), -164, "halves round away from zero");
        assert_eq!(quantise(-10.125, 9), -160);
        assert_eq!(quantise(22.03, 12), 352);
        assert_eq!(quantise(125.0, 9), 2000);
        assert_eq!(quantise(-55.0, 9), -880);
        assert_eq!(quantise(f64::NAN, 12), 0);
    }

    #[test]
    fn the_power_on_scratchpad_is_the_datasheets() {
        let line = OneWireLine::new(VirtualClock::new());
        let sensor = Ds18b20Model::attach(&line, 1);
        assert_eq!(
            sensor.scratchpad(),
            [0x50, 0x05, 0x4B, 0x46, 0x7F, 0xFF, 0x0C, 0x10, 0x1C]
        );
        assert_eq!(sensor.resolution_bits(), 12);
    }

    #[test]
    fn out_of_range_temperatures_are_refused() {
        let line = OneWireLine::new(VirtualClock::new());
        let sensor = Ds18b20Model::attach(&line, 1);
        assert!(sensor.set_temperature(125.5).is_err());
        assert!(sensor.set_temperature(-55.1).is_err());
        assert!(sensor.set_temperature(f64::NAN).is_err());
        assert!(sensor.set_temperature(f64::INFINITY).is_err());
        assert_eq!(sensor.temperature(), 20.0);
        assert!(sensor.set_temperature(125.0).is_ok());
        assert!(sensor.set_temperature(-55.0).is_ok());
    }
}
