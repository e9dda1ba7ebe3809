//! A behavioural TSL2591 ambient light sensor on a simulated [`I2cBus`].
//!
//! The model follows the datasheet, not the firmware. It answers at 0x29
//! and keeps the register file: ENABLE, CONFIG (the datasheet's CONTROL),
//! the interrupt thresholds and PERSIST, PID, ID (0x50), STATUS and the
//! four channel data bytes. Every write starts with a command byte, which
//! must have CMD (bit 7) set and a TRANSACTION field (bits 6..5) of 0b01,
//! normal register access with the address in bits 4..0, or 0b11, a special
//! function; the register address then increments after every byte read or
//! written and is kept between transactions, as on the part.
//!
//! Integration runs in device time. Setting AEN (with PON) starts an
//! integration of the configured length; STATUS.AVALID and the channel data
//! change only when it ends, and then the next one starts, for as long as
//! AEN and PON stay set. A firmware that reads too early gets AVALID = 0 and
//! whatever the data registers held before, as from the part.
//!
//! The light is one number, the scenario's lux ([`Tsl2591Handle::set_lux`]).
//! At the end of each integration it becomes channel counts by inverting
//! the lux formula of the Adafruit library and the ams application notes
//! (the one the firmware driver uses) for the gain and integration time of
//! that integration, with the infrared channel a fixed
//! [`IR_FRACTION`] of the full channel, so that a correct driver reads the
//! set lux back to within rounding. Counts stop at the datasheet's maximum
//! (37888 at 100 ms, 65535 otherwise): too much light saturates the part
//! as it would a real one.
//!
//! The runner keeps a [`Tsl2591Handle`] to set the light, inject faults
//! ([`Tsl2591Fault`]) and power-cycle the part.
//!
//! Choices where the datasheet is silent, and simplifications:
//! - A command byte without CMD, with a reserved TRANSACTION value or with
//!   a reserved special function is not acknowledged, so a driver that gets
//!   the command byte wrong fails at once instead of reading the wrong
//!   register.
//! - A CONFIG write during an integration applies from the next one: each
//!   integration runs with the gain and length in effect when it started.
//! - Setting AEN while it is already set does not restart the integration
//!   (AVALID means a cycle has completed since AEN was asserted).
//! - Clearing AEN or PON stops integrating; the data registers and AVALID
//!   keep the last result.
//! - The interrupt thresholds and PERSIST are stored but not evaluated; the
//!   interrupt flags change only through the interrupt set and clear
//!   special functions, and SAI (sleep after interrupt) is stored only.
//! - The light is constant over an integration: a change in lux shows in
//!   the integrations that end after it.

use std::cell::RefCell;
use std::rc::Rc;

use crate::clock::VirtualClock;
use crate::i2c::{Direction, I2cBus, I2cDevice};

/// The TSL2591's fixed 7-bit I2C address.
pub const ADDRESS: u8 = 0x29;

/// What the ID register holds.
pub const DEVICE_ID: u8 = 0x50;

/// The infrared channel's share of the full channel's counts in the
/// model's light: 0.1, about what an incandescent-free indoor light gives.
pub const IR_FRACTION: f64 = 0.1;

/// The lux formula's device factor (Adafruit, ams): the counts per lux are
/// `atime_ms * gain / LUX_DEVICE_FACTOR`.
const LUX_DEVICE_FACTOR: f64 = 408.0;

/// Register addresses (bits 4..0 of a normal command byte).
mod register {
    pub const ENABLE: u8 = 0x00;
    pub const CONFIG: u8 = 0x01;
    /// AILTL, the first of the eight interrupt threshold bytes (to 0x0B).
    pub const THRESHOLDS: u8 = 0x04;
    pub const PERSIST: u8 = 0x0C;
    pub const PID: u8 = 0x11;
    pub const ID: u8 = 0x12;
    pub const STATUS: u8 = 0x13;
    pub const C0DATAL: u8 = 0x14;
    pub const C0DATAH: u8 = 0x15;
    pub const C1DATAL: u8 = 0x16;
    pub const C1DATAH: u8 = 0x17;
}

/// ENABLE bits.
const PON: u8 = 0x01;
const AEN: u8 = 0x02;
/// The bits of ENABLE that exist: NPIEN, SAI, AIEN, AEN, PON.
const ENABLE_MASK: u8 = 0xD3;

/// CONFIG bits: SRESET, and the AGAIN and ATIME fields that hold a value.
const SRESET: u8 = 0x80;
const CONFIG_MASK: u8 = 0x37;

/// STATUS bits.
const AVALID: u8 = 0x01;
const AINT: u8 = 0x10;
const NPINTR: u8 = 0x20;

/// The command byte's CMD bit and TRANSACTION field.
const CMD: u8 = 0x80;
const TRANSACTION_NORMAL: u8 = 0b01;
const TRANSACTION_SPECIAL: u8 = 0b11;

/// Special functions (bits 4..0 with TRANSACTION = 0b11).
const INTERRUPT_SET: u8 = 0b00100;
const CLEAR_ALS_INTERRUPT: u8 = 0b00110;
const CLEAR_ALL_INTERRUPTS: u8 = 0b00111;
const CLEAR_NO_PERSIST_INTERRUPT: u8 = 0b01010;

/// The nominal gain of an AGAIN field (CONFIG bits 5..4), as the lux
/// formula takes it.
fn gain_multiplier(config: u8) -> f64 {
    match (config >> 4) & 0b11 {
        0b00 => 1.0,
        0b01 => 25.0,
        0b10 => 428.0,
        _ => 9876.0,
    }
}

/// The integration time of an ATIME field (CONFIG bits 2..0) in ms: 100 ms
/// steps from 0b000, the unused values 0b110 and 0b111 taken as 600 ms.
fn integration_millis(config: u8) -> u64 {
    100 * (u64::from(config & 0b111).min(5) + 1)
}

fn integration_nanos(config: u8) -> u64 {
    integration_millis(config) * 1_000_000
}

/// The datasheet's maximum count at an integration time.
fn max_count(config: u8) -> u16 {
    if integration_millis(config) == 100 {
        37888
    } else {
        u16::MAX
    }
}

/// The channel counts `(full, ir)` that `lux` gives at `config`'s gain and
/// integration time.
///
/// The lux formula is `lux = (full - ir) * (1 - ir / full) / cpl` with
/// `cpl = atime_ms * gain / 408`; with `ir = IR_FRACTION * full` that is
/// `lux = full * (1 - IR_FRACTION)² / cpl`, so
/// `full = lux * cpl / (1 - IR_FRACTION)²`.
fn channel_counts(lux: f64, config: u8) -> (u16, u16) {
    let counts_per_lux =
        integration_millis(config) as f64 * gain_multiplier(config) / LUX_DEVICE_FACTOR;
    let full = lux * counts_per_lux / ((1.0 - IR_FRACTION) * (1.0 - IR_FRACTION));
    let ir = full * IR_FRACTION;
    let max = f64::from(max_count(config));
    // `lux` is finite and not negative (set_lux checks), so these are too;
    // `as` saturates in any case.
    let clamp = |counts: f64| counts.round().clamp(0.0, max) as u16;
    (clamp(full), clamp(ir))
}

/// A failure the runner can inject.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Tsl2591Fault {
    /// The part does not acknowledge its address, as if unplugged or
    /// unpowered. It keeps its registers, and an integration in progress
    /// carries on; [`Tsl2591Handle::power_cycle`] models losing them.
    Nack,
}

/// Why the model refused a setting.
#[derive(Clone, Copy, Debug, PartialEq, thiserror::Error)]
pub enum Tsl2591ModelError {
    /// Illuminance is a finite, non-negative number; anything else in a
    /// scenario is a mistake, and is refused rather than clamped.
    #[error("{lux} lux is not a light level: it must be finite and at least 0")]
    InvalidLux { lux: f64 },
}

/// An integration in progress.
#[derive(Clone, Copy, Debug)]
struct Integration {
    started_at_nanos: u64,
    /// The CONFIG byte when it started, which sets its gain and length.
    config: u8,
}

impl Integration {
    fn ends_at_nanos(&self) -> u64 {
        self.started_at_nanos
            .saturating_add(integration_nanos(self.config))
    }
}

/// What the next byte written means.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum WritePhase {
    /// Not addressed for writing.
    Idle,
    /// The first byte after the address: the command byte.
    Command,
    /// Data for the register at the address pointer.
    Data,
    /// After a special function: further bytes are acknowledged and
    /// ignored.
    Ignored,
}

/// The state of one simulated TSL2591. It lives on its bus; the runner
/// reaches it through a [`Tsl2591Handle`].
#[derive(Debug)]
pub struct Tsl2591Model {
    clock: VirtualClock,
    /// The illuminance at the sensor, in lux.
    lux: f64,
    fault: Option<Tsl2591Fault>,
    enable: u8,
    config: u8,
    /// AILTL..NPAIHTH (0x04 to 0x0B).
    thresholds: [u8; 8],
    persist: u8,
    status: u8,
    channel0: u16,
    channel1: u16,
    integration: Option<Integration>,
    integrations_completed: u64,
    /// The register address the next data byte reads or writes; the part
    /// keeps it between transactions.
    address_pointer: u8,
    write_phase: WritePhase,
}

impl Tsl2591Model {
    /// Puts a powered-up TSL2591 (asleep, in the dark) on `bus` at 0x29,
    /// timed by `clock`, and returns the handle to control it.
    pub fn attach(bus: &I2cBus, clock: VirtualClock) -> Tsl2591Handle {
        let mut model = Tsl2591Model {
            clock,
            lux: 0.0,
            fault: None,
            enable: 0,
            config: 0,
            thresholds: [0; 8],
            persist: 0,
            status: 0,
            channel0: 0,
            channel1: 0,
            integration: None,
            integrations_completed: 0,
            address_pointer: 0,
            write_phase: WritePhase::Idle,
        };
        model.power_on_reset();
        let model = Rc::new(RefCell::new(model));
        bus.attach_at_valid_address(ADDRESS, model.clone());
        Tsl2591Handle { model }
    }

    /// The registers' power-on values: asleep, 1x gain, 100 ms, no data.
    fn power_on_reset(&mut self) {
        self.enable = 0;
        self.config = 0;
        self.thresholds = [0; 8];
        self.persist = 0;
        self.status = 0;
        self.channel0 = 0;
        self.channel1 = 0;
        self.integration = None;
        self.address_pointer = 0;
        self.write_phase = WritePhase::Idle;
    }

    fn is_integrating_enabled(&self) -> bool {
        self.enable & (PON | AEN) == (PON | AEN)
    }

    /// Finishes the integrations that have ended by `now_nanos`.
    ///
    /// The light and the configuration only change through calls that
    /// settle first, so every integration after the one in progress has the
    /// same result, and however much time has passed this takes two steps.
    fn settle(&mut self, now_nanos: u64) {
        let Some(current) = self.integration else {
            return;
        };
        let ended_at = current.ends_at_nanos();
        if now_nanos < ended_at {
            return;
        }
        self.finish_integrations(current.config, 1);
        let length = integration_nanos(self.config);
        let later = now_nanos.saturating_sub(ended_at) / length;
        if later > 0 {
            self.finish_integrations(self.config, later);
        }
        self.integration = Some(Integration {
            started_at_nanos: ended_at.saturating_add(later.saturating_mul(length)),
            config: self.config,
        });
    }

    /// Stores the result of `count` integrations at `config` in the light
    /// of now.
    fn finish_integrations(&mut self, config: u8, count: u64) {
        let (full, ir) = channel_counts(self.lux, config);
        self.channel0 = full;
        self.channel1 = ir;
        self.status |= AVALID;
        self.integrations_completed = self.integrations_completed.saturating_add(count);
    }

    /// Starts or stops integrating after ENABLE or CONFIG changed.
    fn update_integration(&mut self, was_integrating: bool, now_nanos: u64) {
        match (was_integrating, self.is_integrating_enabled()) {
            (false, true) => {
                // AEN asserted: a fresh integration, and no valid data until
                // it completes.
                self.status &= !AVALID;
                self.integration = Some(Integration {
                    started_at_nanos: now_nanos,
                    config: self.config,
                });
            }
            (true, false) => self.integration = None,
            _ => {}
        }
    }

    /// The register at `address` as a read returns it. Reserved addresses
    /// read as 0.
    fn register(&self, address: u8) -> u8 {
        let [c0_low, c0_high] = self.channel0.to_le_bytes();
        let [c1_low, c1_high] = self.channel1.to_le_bytes();
        match address {
            register::ENABLE => self.enable,
            register::CONFIG => self.config,
            0x04..=0x0B => self.thresholds[usize::from(address - register::THRESHOLDS)],
            register::PERSIST => self.persist,
            register::PID => 0x00,
            register::ID => DEVICE_ID,
            register::STATUS => self.status,
            register::C0DATAL => c0_low,
            register::C0DATAH => c0_high,
            register::C1DATAL => c1_low,
            register::C1DATAH => c1_high,
            _ => 0x00,
        }
    }

    /// A data byte written to the register at `address`. Read-only and
    /// reserved registers ignore it.
    fn write_register(&mut self, address: u8, value: u8, now_nanos: u64) {
        let was_integrating = self.is_integrating_enabled();
        match address {
            register::ENABLE => self.enable = value & ENABLE_MASK,
            register::CONFIG if value & SRESET != 0 => {
                // A system reset is a power-on reset; the bit clears itself.
                self.power_on_reset();
                // The reset ends the transaction's writes too.
                self.write_phase = WritePhase::Ignored;
                return;
            }
            register::CONFIG => self.config = value & CONFIG_MASK,
            0x04..=0x0B => self.thresholds[usize::from(address - register::THRESHOLDS)] = value,
            register::PERSIST => self.persist = value & 0x0F,
            _ => {}
        }
        self.update_integration(was_integrating, now_nanos);
    }

    /// The command byte; returns whether the part acknowledges it.
    fn command(&mut self, byte: u8) -> bool {
        if byte & CMD == 0 {
            return false;
        }
        let field = byte & 0x1F;
        match (byte >> 5) & 0b11 {
            TRANSACTION_NORMAL => {
                self.address_pointer = field;
                self.write_phase = WritePhase::Data;
                true
            }
            TRANSACTION_SPECIAL => {
                match field {
                    INTERRUPT_SET => self.status |= AINT | NPINTR,
                    CLEAR_ALS_INTERRUPT => self.status &= !AINT,
                    CLEAR_ALL_INTERRUPTS => self.status &= !(AINT | NPINTR),
                    CLEAR_NO_PERSIST_INTERRUPT => self.status &= !NPINTR,
                    _ => return false,
                }
                self.write_phase = WritePhase::Ignored;
                true
            }
            // 0b00 and 0b10 are reserved.
            _ => false,
        }
    }

    /// Moves the address pointer on; it is five bits wide.
    fn advance_pointer(&mut self) {
        self.address_pointer = (self.address_pointer + 1) & 0x1F;
    }
}

impl I2cDevice for Tsl2591Model {
    fn start(&mut self, direction: Direction) -> bool {
        let now = self.clock.now_nanos();
        self.settle(now);
        if self.fault == Some(Tsl2591Fault::Nack) {
            self.write_phase = WritePhase::Idle;
            return false;
        }
        self.write_phase = match direction {
            Direction::Write => WritePhase::Command,
            Direction::Read => WritePhase::Idle,
        };
        true
    }

    fn write_byte(&mut self, byte: u8) -> bool {
        let now = self.clock.now_nanos();
        self.settle(now);
        match self.write_phase {
            WritePhase::Idle => false,
            WritePhase::Command => {
                let acknowledged = self.command(byte);
                if !acknowledged {
                    self.write_phase = WritePhase::Idle;
                }
                acknowledged
            }
            WritePhase::Data => {
                // The pointer moves on first, so that a system reset (which
                // clears it) has the last word.
                let address = self.address_pointer;
                self.advance_pointer();
                self.write_register(address, byte, now);
                true
            }
            WritePhase::Ignored => true,
        }
    }

    fn read_byte(&mut self) -> u8 {
        let now = self.clock.now_nanos();
        self.settle(now);
        let value = self.register(self.address_pointer);
        self.advance_pointer();
        value
    }

    fn stop(&mut self) {
        self.write_phase = WritePhase::Idle;
    }
}

/// The runner's handle on a simulated TSL2591; clones share the part.
#[derive(Clone, Debug)]
pub struct Tsl2591Handle {
    model: Rc<RefCell<Tsl2591Model>>,
}

impl Tsl2591Handle {
    /// Sets the illuminance at the sensor. Integrations that end from now
    /// on measure it; the data registers keep the last result until then.
    ///
    /// NaN, infinities and negative values are refused: a scenario asking
    /// for them is wrong. Any finite level is accepted; beyond what the gain
    /// and integration time can count, the part saturates.
    pub fn set_lux(&self, lux: f64) -> Result<(), Tsl2591ModelError> {
        if !lux.is_finite() || lux < 0.0 {
            return Err(Tsl2591ModelError::InvalidLux { lux });
        }
        let mut model = self.model.borrow_mut();
        // An integration that ended before now measured the old light.
        let now = model.clock.now_nanos();
        model.settle(now);
        model.lux = lux;
        Ok(())
    }

    /// The illuminance at the sensor, in lux, as last set.
    pub fn lux(&self) -> f64 {
        self.model.borrow().lux
    }

    /// Injects a fault, or clears it with `None`. A change abandons the
    /// transaction in progress; setting the fault already in effect changes
    /// nothing.
    pub fn set_fault(&self, fault: Option<Tsl2591Fault>) {
        let mut model = self.model.borrow_mut();
        if model.fault == fault {
            return;
        }
        let now = model.clock.now_nanos();
        model.settle(now);
        model.fault = fault;
        model.write_phase = WritePhase::Idle;
    }

    /// The fault in effect.
    pub fn fault(&self) -> Option<Tsl2591Fault> {
        self.model.borrow().fault
    }

    /// Removes and restores power: every register goes back to its power-on
    /// value (asleep, 1x gain, 100 ms, no data), as a firmware that lost its
    /// sensor for a moment has to expect. Faults stay.
    pub fn power_cycle(&self) {
        self.model.borrow_mut().power_on_reset();
    }

    /// The register at `address` (bits 4..0) as of now, without moving the
    /// part's address pointer. Reserved addresses read as 0.
    pub fn register(&self, address: u8) -> u8 {
        let mut model = self.model.borrow_mut();
        let now = model.clock.now_nanos();
        model.settle(now);
        model.register(address & 0x1F)
    }

    /// The channel data registers as of now, `(full, ir)`.
    pub fn channels(&self) -> (u16, u16) {
        let mut model = self.model.borrow_mut();
        let now = model.clock.now_nanos();
        model.settle(now);
        (model.channel0, model.channel1)
    }

    /// Whether the part is integrating (PON and AEN set).
    pub fn is_integrating(&self) -> bool {
        self.model.borrow().integration.is_some()
    }

    /// How many integrations have completed since the part was attached.
    pub fn integrations_completed(&self) -> u64 {
        let mut model = self.model.borrow_mut();
        let now = model.clock.now_nanos();
        model.settle(now);
        model.integrations_completed
    }
}

#[cfg(test)]
mod tests {
    use embedded_hal::i2c::I2c;

    use super::*;
    use crate::i2c::I2cMaster;

    /// The lux formula as the model inverts it, written out again.
    fn formula(full: u16, ir: u16, config: u8) -> f64 {
        let full = f64::from(full);
        let ir = f64::from(ir);
        let counts_per_lux =
            integration_millis(config) as f64 * gain_multiplier(config) / LUX_DEVICE_FACTOR;
        (full - ir) * (1.0 - ir / full) / counts_per_lux
    }

    struct Bench {
        clock: VirtualClock,
        master: I2cMaster,
        sensor: Tsl2591Handle,
    }

    fn bench() -> Bench {
        let clock = VirtualClock::new();
        let bus = I2cBus::new();
        let sensor = Tsl2591Model::attach(&bus, clock.clone());
        Bench {
            clock,
            master: bus.master(),
            sensor,
        }
    }

    impl Bench {
        fn write(&mut self, address: u8, value: u8) {
            self.master
                .write(ADDRESS, &[0xA0 | address, value])
                .unwrap();
        }

        fn read(&mut self, address: u8) -> u8 {
            let mut value = [0u8; 1];
            self.master
                .write_read(ADDRESS, &[0xA0 | address], &mut value)
                .unwrap();
            value[0]
        }

        fn wait_millis(&self, millis: u64) {
            self.clock.advance_nanos(millis * 1_000_000);
        }
    }

    #[test]
    fn the_counts_give_back_the_lux_at_every_setting() {
        for config in 0u8..0x40 {
            if config & 0x08 != 0 {
                continue;
            }
            for lux in [0.5, 3.0, 40.0, 300.0, 10_000.0] {
                let (full, ir) = channel_counts(lux, config);
                if full < 500 || full >= max_count(config) {
                    // Too few counts to resolve 1%, or saturated.
                    continue;
                }
                let back = formula(full, ir, config);
                assert!(
                    (back - lux).abs() <= lux * 0.005,
                    "{lux} lux at {config:#04x} reads as {back}"
                );
            }
        }
    }

    #[test]
    fn too_much_light_stops_at_the_maximum_count() {
        assert_eq!(channel_counts(1e9, 0x10), (37888, 37888));
        assert_eq!(channel_counts(1e9, 0x11), (65535, 65535));
        assert_eq!(channel_counts(f64::MAX, 0x35), (65535, 65535));
        assert_eq!(channel_counts(0.0, 0x35), (0, 0));
    }

    #[test]
    fn the_id_and_the_power_on_registers() {
        let mut bench = bench();
        assert_eq!(bench.read(0x12), 0x50);
        assert_eq!(bench.read(0x00), 0x00);
        assert_eq!(bench.read(0x01), 0x00);
        assert_eq!(bench.read(0x13), 0x00);
    }

    #[test]
    fn avalid_and_data_come_only_after_the_integration_time() {
        let mut bench = bench();
        bench.sensor.set_lux(300.0).unwrap();
        bench.write(0x01, 0x11); // medium gain, 200 ms
        bench.write(0x00, PON | AEN);
        assert!(bench.sensor.is_integrating());
        bench.wait_millis(199);
        assert_eq!(bench.read(0x13) & AVALID, 0);
        assert_eq!(bench.sensor.channels(), (0, 0));
        bench.wait_millis(1);
        assert_eq!(bench.read(0x13) & AVALID, AVALID);
        assert_eq!(bench.sensor.channels(), channel_counts(300.0, 0x11));
        assert_eq!(bench.sensor.integrations_completed(), 1);
    }

    #[test]
    fn integration_goes_on_until_aen_is_cleared() {
        let mut bench = bench();
        bench.write(0x00, PON | AEN);
        bench.wait_millis(100);
        bench.sensor.set_lux(50.0).unwrap();
        // A day later: two steps, not 864000.
        bench.wait_millis(86_400_000);
        assert_eq!(bench.sensor.integrations_completed(), 864_001);
        assert_eq!(bench.sensor.channels(), channel_counts(50.0, 0x00));
        bench.write(0x00, PON);
        bench.wait_millis(1000);
        assert!(!bench.sensor.is_integrating());
        assert_eq!(bench.sensor.integrations_completed(), 864_001);
        assert_eq!(bench.read(0x13) & AVALID, AVALID, "the last result stays");
    }

    #[test]
    fn asserting_aen_again_clears_avalid_and_restarts() {
        let mut bench = bench();
        bench.write(0x00, PON | AEN);
        bench.wait_millis(150);
        assert_eq!(bench.read(0x13) & AVALID, AVALID);
        // Writing AEN over AEN restarts nothing.
        bench.write(0x00, PON | AEN);
        bench.wait_millis(50);
        assert_eq!(bench.sensor.integrations_completed(), 2);
        // Clearing and setting it does.
        bench.write(0x00, PON);
        bench.write(0x00, PON | AEN);
        assert_eq!(bench.read(0x13) & AVALID, 0);
        bench.wait_millis(100);
        assert_eq!(bench.read(0x13) & AVALID, AVALID);
    }

    #[test]
    fn a_config_change_applies_from_the_next_integration() {
        let mut bench = bench();
        bench.sensor.set_lux(100.0).unwrap();
        bench.write(0x00, PON | AEN); // 1x, 100 ms
        bench.wait_millis(50);
        bench.write(0x01, 0x15); // 25x, 600 ms
        bench.wait_millis(50);
        assert_eq!(bench.sensor.channels(), channel_counts(100.0, 0x00));
        bench.wait_millis(599);
        assert_eq!(bench.sensor.integrations_completed(), 1);
        bench.wait_millis(1);
        assert_eq!(bench.sensor.channels(), channel_counts(100.0, 0x15));
    }

    #[test]
    fn reads_auto_increment_across_the_data_registers() {
        let mut bench = bench();
        bench.sensor.set_lux(300.0).unwrap();
        bench.write(0x01, 0x10);
        bench.write(0x00, PON | AEN);
        bench.wait_millis(100);
        let (full, ir) = channel_counts(300.0, 0x10);
        let mut data = [0u8; 5];
        bench
            .master
            .write_read(ADDRESS, &[0xB3], &mut data)
            .unwrap();
        assert_eq!(data[0] & AVALID, AVALID);
        assert_eq!(u16::from_le_bytes([data[1], data[2]]), full);
        assert_eq!(u16::from_le_bytes([data[3], data[4]]), ir);
        // The pointer is kept: a plain read goes on at 0x18 (reserved, 0).
        let mut next = [0xFFu8; 1];
        bench.master.read(ADDRESS, &mut next).unwrap();
        assert_eq!(next, [0]);
    }

    #[test]
    fn writes_auto_increment_and_read_only_registers_ignore_them() {
        let mut bench = bench();
        bench
            .master
            .write(ADDRESS, &[0xA4, 1, 2, 3, 4, 5, 6, 7, 8, 0xFF])
            .unwrap();
        assert_eq!(bench.read(0x04), 1);
        assert_eq!(bench.read(0x0B), 8);
        assert_eq!(bench.read(0x0C), 0x0F);
        bench.write(0x12, 0x00);
        bench.write(0x13, 0xFF);
        assert_eq!(bench.read(0x12), 0x50);
        assert_eq!(bench.read(0x13), 0x00);
        bench.write(0x00, 0xFF);
        assert_eq!(bench.read(0x00), 0xD3);
        bench.write(0x01, 0x7F);
        assert_eq!(bench.read(0x01), 0x37);
    }

    #[test]
    fn bad_command_bytes_are_not_acknowledged() {
        let mut bench = bench();
        // CMD clear (the bare register address), and the reserved
        // TRANSACTION values 0b00 and 0b10.
        for command in [0x12, 0x80 | 0x12, 0xC0 | 0x12] {
            let mut id = [0u8; 1];
            assert!(
                bench
                    .master
                    .write_read(ADDRESS, &[command], &mut id)
                    .is_err(),
                "{command:#04x}"
            );
        }
        // A reserved special function.
        assert!(bench.master.write(ADDRESS, &[0xE0 | 0x01]).is_err());
    }

    #[test]
    fn special_functions_set_and_clear_the_interrupt_flags() {
        let mut bench = bench();
        bench.master.write(ADDRESS, &[0xE4]).unwrap();
        assert_eq!(bench.read(0x13), AINT | NPINTR);
        bench.master.write(ADDRESS, &[0xE6]).unwrap();
        assert_eq!(bench.read(0x13), NPINTR);
        bench.master.write(ADDRESS, &[0xEA]).unwrap();
        assert_eq!(bench.read(0x13), 0);
        bench.master.write(ADDRESS, &[0xE4]).unwrap();
        bench.master.write(ADDRESS, &[0xE7]).unwrap();
        assert_eq!(bench.read(0x13), 0);
    }

    #[test]
    fn sreset_is_a_power_on_reset() {
        let mut bench = bench();
        bench.write(0x01, 0x25);
        bench.write(0x00, PON | AEN);
        bench.wait_millis(600);
        bench.write(0x01, SRESET | 0x10);
        assert_eq!(bench.read(0x01), 0x00);
        assert_eq!(bench.read(0x00), 0x00);
        assert_eq!(bench.read(0x13), 0x00);
        assert!(!bench.sensor.is_integrating());
    }

    #[test]
    fn a_nack_fault_refuses_the_address_and_keeps_the_registers() {
        let mut bench = bench();
        bench.write(0x01, 0x25);
        bench.sensor.set_fault(Some(Tsl2591Fault::Nack));
        assert_eq!(bench.sensor.fault(), Some(Tsl2591Fault::Nack));
        assert!(bench.master.write(ADDRESS, &[0xA1, 0x00]).is_err());
        bench.sensor.set_fault(None);
        assert_eq!(bench.read(0x01), 0x25);
    }

    #[test]
    fn a_power_cycle_forgets_the_configuration() {
        let mut bench = bench();
        bench.write(0x01, 0x25);
        bench.write(0x00, PON | AEN);
        bench.sensor.power_cycle();
        assert_eq!(bench.sensor.register(0x01), 0x00);
        assert_eq!(bench.sensor.register(0x00), 0x00);
        assert!(!bench.sensor.is_integrating());
    }

    #[test]
    fn invalid_light_levels_are_refused() {
        let bench = bench();
        for lux in [-0.1, f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
            assert!(bench.sensor.set_lux(lux).is_err(), "{lux}");
        }
        assert_eq!(bench.sensor.lux(), 0.0);
        assert!(bench.sensor.set_lux(0.0).is_ok());
        assert!(bench.sensor.set_lux(120_000.0).is_ok());
        assert_eq!(bench.sensor.lux(), 120_000.0);
    }
}
