//! A driver for the TSL2591 ambient light sensor (ams) on I2C.
//!
//! Why not `tsl2591-eh-driver` (0.5, embedded-hal 1.0): its constructor
//! must find the sensor, so an app whose sensor is missing at boot could
//! not start, where this driver initialises lazily and recovers after a
//! NACK; its lux formula divides by zero in the dark (channel 0 at 0); it
//! reads the data registers without checking AVALID, so a read before the
//! first integration returns zeros as light; and its 100 ms saturation
//! limit (0x8FFF) is not the datasheet's 37888.
//!
//! The TSL2591 integrates the current of two photodiodes, one for visible
//! plus infrared light ("full", channel 0) and one for infrared alone
//! (channel 1), for an integration time of 100 to 600 ms, then holds both
//! counts in its data registers. Lux is an empirical function of the two.
//!
//! As with the DS18B20, a reading takes two calls so that an app never
//! blocks for the integration time: [`Tsl2591::start_measurement`] starts an
//! integration and returns how long to wait, and [`Tsl2591::read_lux`]
//! fetches and converts the result. The driver never waits itself.
//!
//! Every register access is a command byte (CMD bit 7 set, "normal"
//! transaction type 0b01 in bits 6..5, register address in bits 4..0)
//! followed by the data bytes; reads are a write of the command byte and a
//! read in one `write_read`. The part increments the register address after
//! each byte, which is how the four data bytes come in one read.
//!
//! What is checked before a number comes out:
//! - the ID register must read 0x50 at [`Tsl2591::init`], so another part
//!   answering at 0x29 is [`Tsl2591Error::WrongId`], not a light level;
//! - STATUS.AVALID must be set, so a read before the first integration has
//!   finished is [`Tsl2591Error::NotReady`], not the zeros (or the previous
//!   result) in the data registers;
//! - neither channel may be at its maximum count, so a sensor blinded by
//!   too much light for its gain and integration time is
//!   [`Tsl2591Error::Saturated`], not a wrong, low lux value.
//!
//! The lux formula is the one the Adafruit library and the ams application
//! notes use (see [`lux_from_channels`]); it is an approximation of the
//! human eye's response, good for the relative changes an app reacts to.

use embedded_hal::i2c::{ErrorKind, I2c};

use crate::sensors::{LightSensor, LightSensorError};
use crate::time::Duration;

/// The TSL2591's fixed 7-bit I2C address.
pub const ADDRESS: u8 = 0x29;

/// What the ID register of every TSL2591 holds.
pub const DEVICE_ID: u8 = 0x50;

/// The command byte's fixed part: CMD (bit 7), which says the byte addresses
/// the command register, and TRANSACTION = 0b01 (bits 6..5), normal
/// register access. The register address goes in bits 4..0.
pub const COMMAND: u8 = 0xA0;

/// The device factor of the lux formula (Adafruit, ams): counts per lux at
/// 1x gain and 1 ms of integration are 1 / `LUX_DF`.
pub const LUX_DF: f32 = 408.0;

/// Register addresses, to be or-ed into [`COMMAND`].
pub mod register {
    /// ENABLE: power, ALS enable and interrupt enables.
    pub const ENABLE: u8 = 0x00;
    /// CONFIG (called CONTROL in the datasheet's register map): system
    /// reset, gain and integration time.
    pub const CONFIG: u8 = 0x01;
    /// ID: always [`DEVICE_ID`](super::DEVICE_ID).
    pub const ID: u8 = 0x12;
    /// STATUS: AVALID and the interrupt flags.
    pub const STATUS: u8 = 0x13;
    /// Channel 0 (full spectrum) low byte; the first of the four data bytes.
    pub const C0DATAL: u8 = 0x14;
    /// Channel 0 high byte.
    pub const C0DATAH: u8 = 0x15;
    /// Channel 1 (infrared) low byte.
    pub const C1DATAL: u8 = 0x16;
    /// Channel 1 high byte.
    pub const C1DATAH: u8 = 0x17;
}

/// Bits of the ENABLE register.
pub mod enable {
    /// PON: powers the internal oscillator; without it the part sleeps.
    pub const POWER_ON: u8 = 0x01;
    /// AEN: runs the light-sensing ADCs, one integration after another.
    pub const ALS_ENABLE: u8 = 0x02;
}

/// Bits of the STATUS register.
pub mod status {
    /// AVALID: an integration has completed since AEN was last set, so the
    /// data registers hold a measurement.
    pub const ALS_VALID: u8 = 0x01;
}

/// The analog gain (AGAIN, CONFIG bits 5..4): how many counts a given light
/// produces. A higher gain resolves dim light but saturates sooner.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Gain {
    /// 1x: for direct sunlight.
    Low,
    /// 25x: indoor light; the Adafruit library's default, and this driver's.
    #[default]
    Medium,
    /// 428x: dim rooms.
    High,
    /// 9876x: near darkness.
    Maximum,
}

impl Gain {
    /// All gains, lowest first.
    pub const ALL: [Gain; 4] = [Gain::Low, Gain::Medium, Gain::High, Gain::Maximum];

    /// The nominal multiplier the lux formula uses (the Adafruit library's
    /// values; a real part's gains vary by a few percent around them).
    pub const fn multiplier(self) -> f32 {
        match self {
            Gain::Low => 1.0,
            Gain::Medium => 25.0,
            Gain::High => 428.0,
            Gain::Maximum => 9876.0,
        }
    }

    /// The AGAIN field, in place in the CONFIG byte.
    pub const fn config_bits(self) -> u8 {
        match self {
            Gain::Low => 0x00,
            Gain::Medium => 0x10,
            Gain::High => 0x20,
            Gain::Maximum => 0x30,
        }
    }

    /// The gain a CONFIG byte selects; only bits 5..4 count.
    pub const fn from_config_byte(config: u8) -> Self {
        match (config >> 4) & 0b11 {
            0b00 => Gain::Low,
            0b01 => Gain::Medium,
            0b10 => Gain::High,
            _ => Gain::Maximum,
        }
    }
}

/// The integration time (ATIME, CONFIG bits 2..0): how long each
/// measurement collects light. Longer resolves dim light better and takes
/// longer.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum IntegrationTime {
    /// 100 ms, whose maximum count is only 37888; the power-on setting, and
    /// this driver's default.
    #[default]
    Millis100,
    /// 200 ms.
    Millis200,
    /// 300 ms.
    Millis300,
    /// 400 ms.
    Millis400,
    /// 500 ms.
    Millis500,
    /// 600 ms.
    Millis600,
}

impl IntegrationTime {
    /// All integration times, shortest first.
    pub const ALL: [IntegrationTime; 6] = [
        IntegrationTime::Millis100,
        IntegrationTime::Millis200,
        IntegrationTime::Millis300,
        IntegrationTime::Millis400,
        IntegrationTime::Millis500,
        IntegrationTime::Millis600,
    ];

    /// The integration time in milliseconds.
    pub const fn millis(self) -> u32 {
        match self {
            IntegrationTime::Millis100 => 100,
            IntegrationTime::Millis200 => 200,
            IntegrationTime::Millis300 => 300,
            IntegrationTime::Millis400 => 400,
            IntegrationTime::Millis500 => 500,
            IntegrationTime::Millis600 => 600,
        }
    }

    /// The integration time.
    pub const fn duration(self) -> Duration {
        Duration::from_millis(self.millis() as u64)
    }

    /// How long [`Tsl2591::start_measurement`] tells the caller to wait: the
    /// integration time and a fifth more (120 ms per 100 ms, as the Adafruit
    /// library waits). The part times its integration with its own
    /// oscillator, not the caller's clock, so waiting exactly the nominal
    /// time could read a moment too early.
    pub const fn measurement_wait(self) -> Duration {
        Duration::from_millis(self.millis() as u64 * 6 / 5)
    }

    /// The ATIME field, in place in the CONFIG byte.
    pub const fn config_bits(self) -> u8 {
        match self {
            IntegrationTime::Millis100 => 0b000,
            IntegrationTime::Millis200 => 0b001,
            IntegrationTime::Millis300 => 0b010,
            IntegrationTime::Millis400 => 0b011,
            IntegrationTime::Millis500 => 0b100,
            IntegrationTime::Millis600 => 0b101,
        }
    }

    /// The integration time a CONFIG byte selects; only bits 2..0 count, and
    /// the two values the datasheet leaves unused are read as 600 ms.
    pub const fn from_config_byte(config: u8) -> Self {
        match config & 0b111 {
            0b000 => IntegrationTime::Millis100,
            0b001 => IntegrationTime::Millis200,
            0b010 => IntegrationTime::Millis300,
            0b011 => IntegrationTime::Millis400,
            0b100 => IntegrationTime::Millis500,
            _ => IntegrationTime::Millis600,
        }
    }

    /// The datasheet's maximum ADC count: 37888 at 100 ms, where the ADC
    /// runs out of time before its 16 bits, 65535 otherwise. A channel at
    /// this count is saturated.
    pub const fn max_count(self) -> u16 {
        match self {
            IntegrationTime::Millis100 => 37888,
            _ => u16::MAX,
        }
    }
}

/// The CONFIG byte for a gain and integration time (SRESET clear).
pub const fn config_byte(gain: Gain, integration_time: IntegrationTime) -> u8 {
    gain.config_bits() | integration_time.config_bits()
}

/// Lux from the two channel counts, or `None` when a channel is saturated.
///
/// The formula is Adafruit's (after the ams application notes):
/// counts per lux `cpl = atime_ms * again / LUX_DF`, then
/// `lux = (full - ir) * (1 - ir / full) / cpl`. It is only meaningful below
/// saturation, so a channel at the maximum count for the integration time
/// gives `None` instead of a number that is too low.
///
/// No light (`full` = 0) is 0 lux rather than the formula's division by
/// zero, and so is an infrared count at or above the full count: the full
/// channel sees the infrared too, so that only happens in noise around
/// darkness, where the formula would turn two negative factors into a
/// positive, made-up light level.
pub fn lux_from_channels(
    full: u16,
    ir: u16,
    gain: Gain,
    integration_time: IntegrationTime,
) -> Option<f32> {
    let max_count = integration_time.max_count();
    if full >= max_count || ir >= max_count {
        return None;
    }
    if full == 0 || ir >= full {
        return Some(0.0);
    }
    let counts_per_lux = integration_time.millis() as f32 * gain.multiplier() / LUX_DF;
    let full = f32::from(full);
    let ir = f32::from(ir);
    Some((full - ir) * (1.0 - ir / full) / counts_per_lux)
}

/// Why a TSL2591 operation failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tsl2591Error<E> {
    /// The sensor did not acknowledge its address or a byte: it is missing,
    /// unpowered, or the bus is broken. This is the error a sensor that
    /// comes and goes produces, so it is kept apart from other bus errors;
    /// the driver then initialises the sensor again before its next
    /// measurement through [`LightSensor`].
    Nack,
    /// Any other bus error, as the I2C implementation reported it.
    Bus(E),
    /// The ID register held this value instead of [`DEVICE_ID`]: something
    /// else answers at 0x29 (a TSL2561 with its address pin grounded, say),
    /// and its registers mean something else.
    WrongId(u8),
    /// A channel reached its maximum count: the light is too bright for the
    /// gain and integration time, and any lux value would be too low. A
    /// lower gain or a shorter integration time measures it.
    Saturated,
    /// STATUS.AVALID is clear: no integration has completed since
    /// [`Tsl2591::start_measurement`] (or ever), so the data registers hold
    /// nothing worth reading. Wait the time `start_measurement` returned.
    NotReady,
}

impl<E: embedded_hal::i2c::Error> Tsl2591Error<E> {
    /// Sorts a bus error by its kind: any NACK is [`Tsl2591Error::Nack`].
    fn from_bus(error: E) -> Self {
        match error.kind() {
            ErrorKind::NoAcknowledge(_) => Tsl2591Error::Nack,
            _ => Tsl2591Error::Bus(error),
        }
    }
}

impl<E> From<Tsl2591Error<E>> for LightSensorError {
    /// What an app sees: every kind keeps its meaning; the bus's own error
    /// value stays with the driver.
    fn from(error: Tsl2591Error<E>) -> Self {
        match error {
            Tsl2591Error::Nack => LightSensorError::Nack,
            Tsl2591Error::Saturated => LightSensorError::Saturated,
            Tsl2591Error::NotReady => LightSensorError::NotReady,
            Tsl2591Error::WrongId(_) => LightSensorError::WrongDevice,
            Tsl2591Error::Bus(_) => LightSensorError::Bus,
        }
    }
}

impl<E: core::fmt::Debug> core::fmt::Display for Tsl2591Error<E> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Tsl2591Error::Nack => f.write_str("the TSL2591 did not acknowledge"),
            Tsl2591Error::Bus(error) => write!(f, "TSL2591 bus error: {error:?}"),
            Tsl2591Error::WrongId(id) => write!(
                f,
                "the part at 0x29 has ID {id:#04x}, not the TSL2591's {DEVICE_ID:#04x}"
            ),
            Tsl2591Error::Saturated => f.write_str("the TSL2591 is saturated"),
            Tsl2591Error::NotReady => f.write_str("the TSL2591 has not finished an integration"),
        }
    }
}

impl<E: core::fmt::Debug> core::error::Error for Tsl2591Error<E> {}

/// A TSL2591 on an I2C bus that this driver owns.
#[derive(Debug)]
pub struct Tsl2591<I2C> {
    i2c: I2C,
    gain: Gain,
    integration_time: IntegrationTime,
    /// Whether the ID has been checked and the configuration written since
    /// the last bus error. A sensor that NACKed may have lost power and its
    /// configuration with it, so any bus error clears this, and the
    /// [`LightSensor`] path initialises the sensor again before measuring.
    initialised: bool,
}

impl<I2C: I2c> Tsl2591<I2C> {
    /// The sensor on `i2c`, to be run at medium gain and 100 ms. Nothing is
    /// sent until [`init`](Self::init).
    pub fn new(i2c: I2C) -> Self {
        Tsl2591::with_config(i2c, Gain::default(), IntegrationTime::default())
    }

    /// The sensor on `i2c`, to be run at `gain` and `integration_time`,
    /// which [`init`](Self::init) writes. Nothing is sent until then.
    pub fn with_config(i2c: I2C, gain: Gain, integration_time: IntegrationTime) -> Self {
        Tsl2591 {
            i2c,
            gain,
            integration_time,
            initialised: false,
        }
    }

    /// Gives the bus back.
    pub fn release(self) -> I2C {
        self.i2c
    }

    /// The gain the driver writes and computes lux with.
    pub fn gain(&self) -> Gain {
        self.gain
    }

    /// The integration time the driver writes and computes lux with.
    pub fn integration_time(&self) -> IntegrationTime {
        self.integration_time
    }

    /// Whether [`init`](Self::init) succeeded and no bus error happened
    /// since.
    pub fn is_initialised(&self) -> bool {
        self.initialised
    }

    /// Checks that the part is a TSL2591, powers it on (PON, no
    /// integration yet) and writes the gain and integration time.
    ///
    /// A wrong ID stops here, before anything is written to a part that is
    /// not a TSL2591.
    pub fn init(&mut self) -> Result<(), Tsl2591Error<I2C::Error>> {
        self.initialised = false;
        let id = self.read_id()?;
        if id != DEVICE_ID {
            return Err(Tsl2591Error::WrongId(id));
        }
        self.write_register(register::ENABLE, enable::POWER_ON)?;
        self.write_register(
            register::CONFIG,
            config_byte(self.gain, self.integration_time),
        )?;
        self.initialised = true;
        Ok(())
    }

    /// Reads the ID register, which a TSL2591 answers with 0x50.
    pub fn read_id(&mut self) -> Result<u8, Tsl2591Error<I2C::Error>> {
        let mut id = [0u8; 1];
        self.read_registers(register::ID, &mut id)?;
        Ok(id[0])
    }

    /// Sets the gain of the following measurements. Set it before
    /// [`start_measurement`](Self::start_measurement), not between that and
    /// the read: the driver converts with the gain it last wrote.
    pub fn set_gain(&mut self, gain: Gain) -> Result<(), Tsl2591Error<I2C::Error>> {
        self.write_register(register::CONFIG, config_byte(gain, self.integration_time))?;
        self.gain = gain;
        Ok(())
    }

    /// Sets the integration time of the following measurements, with the
    /// same caveat as [`set_gain`](Self::set_gain).
    pub fn set_integration_time(
        &mut self,
        integration_time: IntegrationTime,
    ) -> Result<(), Tsl2591Error<I2C::Error>> {
        self.write_register(register::CONFIG, config_byte(self.gain, integration_time))?;
        self.integration_time = integration_time;
        Ok(())
    }

    /// Starts an integration and returns how long to wait before
    /// [`read_lux`](Self::read_lux) (see
    /// [`IntegrationTime::measurement_wait`]).
    ///
    /// AEN is cleared before it is set: AVALID means an integration has
    /// completed since AEN was asserted, and setting AEN while it is already
    /// set does not restart anything, so without the clear a second
    /// measurement could return a result integrated before this call. With
    /// it, the result covers only light after this call. The part keeps
    /// integrating until [`power_down`](Self::power_down).
    pub fn start_measurement(&mut self) -> Result<Duration, Tsl2591Error<I2C::Error>> {
        self.write_register(register::ENABLE, enable::POWER_ON)?;
        self.write_register(register::ENABLE, enable::POWER_ON | enable::ALS_ENABLE)?;
        Ok(self.integration_time.measurement_wait())
    }

    /// Whether an integration has completed since the last
    /// [`start_measurement`](Self::start_measurement) (STATUS.AVALID).
    pub fn measurement_ready(&mut self) -> Result<bool, Tsl2591Error<I2C::Error>> {
        let mut status = [0u8; 1];
        self.read_registers(register::STATUS, &mut status)?;
        Ok(status[0] & status::ALS_VALID != 0)
    }

    /// Reads the finished measurement's channel counts, `(full, ir)`.
    ///
    /// STATUS is read first, and a clear AVALID is
    /// [`Tsl2591Error::NotReady`]. The four data bytes then come in one
    /// read starting at C0DATAL, so both channels are from the same
    /// integration.
    pub fn read_channels(&mut self) -> Result<(u16, u16), Tsl2591Error<I2C::Error>> {
        if !self.measurement_ready()? {
            return Err(Tsl2591Error::NotReady);
        }
        let mut data = [0u8; 4];
        self.read_registers(register::C0DATAL, &mut data)?;
        let full = u16::from_le_bytes([data[0], data[1]]);
        let ir = u16::from_le_bytes([data[2], data[3]]);
        Ok((full, ir))
    }

    /// Reads the finished measurement in lux (see [`lux_from_channels`]);
    /// a saturated channel is [`Tsl2591Error::Saturated`].
    pub fn read_lux(&mut self) -> Result<f32, Tsl2591Error<I2C::Error>> {
        let (full, ir) = self.read_channels()?;
        lux_from_channels(full, ir, self.gain, self.integration_time).ok_or(Tsl2591Error::Saturated)
    }

    /// Puts the part to sleep (ENABLE = 0), where it draws a few µA; the
    /// configuration is kept, and the next
    /// [`start_measurement`](Self::start_measurement) wakes it.
    pub fn power_down(&mut self) -> Result<(), Tsl2591Error<I2C::Error>> {
        self.write_register(register::ENABLE, 0)
    }

    fn write_register(&mut self, address: u8, value: u8) -> Result<(), Tsl2591Error<I2C::Error>> {
        let result = self.i2c.write(ADDRESS, &[COMMAND | address, value]);
        self.check(result)
    }

    /// Reads `buffer.len()` registers from `address` on, in one transaction.
    fn read_registers(
        &mut self,
        address: u8,
        buffer: &mut [u8],
    ) -> Result<(), Tsl2591Error<I2C::Error>> {
        let result = self.i2c.write_read(ADDRESS, &[COMMAND | address], buffer);
        self.check(result)
    }

    /// Turns a bus result into the driver's, forgetting the initialisation
    /// on any error (see [`Tsl2591::is_initialised`]).
    fn check(&mut self, result: Result<(), I2C::Error>) -> Result<(), Tsl2591Error<I2C::Error>> {
        result.map_err(|error| {
            self.initialised = false;
            Tsl2591Error::from_bus(error)
        })
    }
}

impl<I2C: I2c> LightSensor for Tsl2591<I2C> {
    /// Initialises the sensor first if it has not been, or if a bus error
    /// happened since: a sensor that NACKed may have been power-cycled back
    /// to its defaults, and this is what makes it measure correctly once it
    /// answers again.
    fn start_measurement(&mut self) -> Result<Duration, LightSensorError> {
        if !self.initialised {
            self.init()?;
        }
        Ok(Tsl2591::start_measurement(self)?)
    }

    fn read_lux(&mut self) -> Result<f32, LightSensorError> {
        Ok(Tsl2591::read_lux(self)?)
    }
}

#[cfg(test)]
mod tests {
    extern crate std;

    use std::vec;
    use std::vec::Vec;

    use embedded_hal::i2c::NoAcknowledgeSource;
    use embedded_hal_mock::eh1::i2c::{Mock, Transaction};

    use super::*;

    type MockSensor = Tsl2591<Mock>;

    const NACK: ErrorKind = ErrorKind::NoAcknowledge(NoAcknowledgeSource::Address);

    fn sensor_for(expectations: &[Transaction]) -> MockSensor {
        Tsl2591::new(Mock::new(expectations))
    }

    fn sensor_for_config(
        expectations: &[Transaction],
        gain: Gain,
        time: IntegrationTime,
    ) -> MockSensor {
        Tsl2591::with_config(Mock::new(expectations), gain, time)
    }

    fn finish(sensor: MockSensor) {
        sensor.release().done();
    }

    /// A register write: the command byte with the address, then the value.
    fn write(address: u8, value: u8) -> Transaction {
        Transaction::write(ADDRESS, vec![0xA0 | address, value])
    }

    /// A register read of `response.len()` bytes from `address`.
    fn read(address: u8, response: &[u8]) -> Transaction {
        Transaction::write_read(ADDRESS, vec![0xA0 | address], response.to_vec())
    }

    /// The traffic of a successful `init` writing `config`.
    fn init_script(config: u8) -> Vec<Transaction> {
        vec![
            Transaction::write_read(ADDRESS, vec![0xB2], vec![0x50]),
            Transaction::write(ADDRESS, vec![0xA0, 0x01]),
            Transaction::write(ADDRESS, vec![0xA1, config]),
        ]
    }

    /// The traffic of `start_measurement`.
    fn start_script() -> Vec<Transaction> {
        vec![
            Transaction::write(ADDRESS, vec![0xA0, 0x01]),
            Transaction::write(ADDRESS, vec![0xA0, 0x03]),
        ]
    }

    /// The traffic of a `read_channels` that finds data ready.
    fn read_script(full: u16, ir: u16) -> Vec<Transaction> {
        let [full_low, full_high] = full.to_le_bytes();
        let [ir_low, ir_high] = ir.to_le_bytes();
        vec![
            Transaction::write_read(ADDRESS, vec![0xB3], vec![0x01]),
            Transaction::write_read(
                ADDRESS,
                vec![0xB4],
                vec![full_low, full_high, ir_low, ir_high],
            ),
        ]
    }

    fn assert_close(actual: f32, expected: f32) {
        assert!(
            (actual - expected).abs() <= expected.abs() * 1e-5,
            "{actual} is not {expected}"
        );
    }

    #[test]
    fn init_checks_the_id_powers_on_and_writes_the_configuration() {
        let mut sensor = sensor_for(&init_script(0x10));
        assert!(!sensor.is_initialised());
        sensor.init().unwrap();
        assert!(sensor.is_initialised());
        finish(sensor);

        let mut sensor = sensor_for_config(
            &init_script(0x35),
            Gain::Maximum,
            IntegrationTime::Millis600,
        );
        sensor.init().unwrap();
        finish(sensor);
    }

    #[test]
    fn a_wrong_id_is_wrong_id_and_nothing_is_written() {
        let mut sensor = sensor_for(&[read(0x12, &[0x0A])]);
        assert_eq!(sensor.init(), Err(Tsl2591Error::WrongId(0x0A)));
        assert!(!sensor.is_initialised());
        finish(sensor);
    }

    #[test]
    fn an_address_nack_is_nack() {
        let mut sensor = sensor_for(&[read(0x12, &[0x50]).with_error(NACK)]);
        assert_eq!(sensor.init(), Err(Tsl2591Error::Nack));
        finish(sensor);

        let mut sensor = sensor_for(&[write(0x00, 0x01).with_error(NACK)]);
        assert_eq!(sensor.start_measurement(), Err(Tsl2591Error::Nack));
        finish(sensor);
    }

    #[test]
    fn a_data_nack_is_nack_too() {
        let data_nack = ErrorKind::NoAcknowledge(NoAcknowledgeSource::Data);
        let mut sensor = sensor_for(&[write(0x00, 0x00).with_error(data_nack)]);
        assert_eq!(sensor.power_down(), Err(Tsl2591Error::Nack));
        finish(sensor);
    }

    #[test]
    fn other_bus_errors_are_bus_errors_with_the_cause() {
        let mut sensor = sensor_for(&[read(0x13, &[0x01]).with_error(ErrorKind::ArbitrationLoss)]);
        assert_eq!(
            sensor.read_channels(),
            Err(Tsl2591Error::Bus(ErrorKind::ArbitrationLoss))
        );
        finish(sensor);
    }

    #[test]
    fn a_bus_error_forgets_the_initialisation() {
        let mut script = init_script(0x10);
        script.push(write(0x00, 0x01).with_error(NACK));
        let mut sensor = sensor_for(&script);
        sensor.init().unwrap();
        assert_eq!(sensor.start_measurement(), Err(Tsl2591Error::Nack));
        assert!(!sensor.is_initialised());
        finish(sensor);
    }

    #[test]
    fn set_gain_and_integration_time_write_config_and_keep_the_other_field() {
        let script = [write(0x01, 0x30), write(0x01, 0x32), write(0x01, 0x02)];
        let mut sensor = sensor_for(&script);
        sensor.set_gain(Gain::Maximum).unwrap();
        assert_eq!(sensor.gain(), Gain::Maximum);
        sensor
            .set_integration_time(IntegrationTime::Millis300)
            .unwrap();
        assert_eq!(sensor.integration_time(), IntegrationTime::Millis300);
        sensor.set_gain(Gain::Low).unwrap();
        finish(sensor);
    }

    #[test]
    fn a_failed_setting_is_not_remembered() {
        let mut sensor = sensor_for(&[write(0x01, 0x20).with_error(NACK)]);
        assert_eq!(sensor.set_gain(Gain::High), Err(Tsl2591Error::Nack));
        assert_eq!(sensor.gain(), Gain::Medium);
        finish(sensor);
    }

    #[test]
    fn config_bytes_match_the_datasheet() {
        let gains = [
            (Gain::Low, 0x00),
            (Gain::Medium, 0x10),
            (Gain::High, 0x20),
            (Gain::Maximum, 0x30),
        ];
        for (gain, bits) in gains {
            assert_eq!(gain.config_bits(), bits);
            assert_eq!(Gain::from_config_byte(bits | 0x05), gain);
        }
        for (index, time) in IntegrationTime::ALL.into_iter().enumerate() {
            assert_eq!(time.config_bits(), index as u8);
            assert_eq!(IntegrationTime::from_config_byte(0x30 | index as u8), time);
            assert_eq!(time.millis(), 100 * (index as u32 + 1));
        }
        assert_eq!(
            IntegrationTime::from_config_byte(0x07),
            IntegrationTime::Millis600
        );
        assert_eq!(config_byte(Gain::High, IntegrationTime::Millis400), 0x23);
    }

    #[test]
    fn start_measurement_restarts_the_integration_and_returns_its_time_with_a_margin() {
        let mut sensor = sensor_for(&start_script());
        assert_eq!(sensor.start_measurement(), Ok(Duration::from_millis(120)));
        finish(sensor);

        let mut sensor = sensor_for_config(&start_script(), Gain::Low, IntegrationTime::Millis600);
        assert_eq!(sensor.start_measurement(), Ok(Duration::from_millis(720)));
        finish(sensor);
    }

    #[test]
    fn read_channels_checks_avalid_then_reads_four_bytes_from_c0datal() {
        let mut sensor = sensor_for(&read_script(0x1234, 0x0056));
        assert_eq!(sensor.read_channels(), Ok((0x1234, 0x0056)));
        finish(sensor);
    }

    #[test]
    fn a_read_before_the_integration_completes_is_not_ready() {
        // Interrupt flags set, AVALID clear: still not ready.
        let mut sensor = sensor_for(&[read(0x13, &[0x30])]);
        assert_eq!(sensor.read_lux(), Err(Tsl2591Error::NotReady));
        finish(sensor);
    }

    #[test]
    fn read_lux_applies_the_adafruit_formula() {
        // cpl = 100 * 25 / 408; lux = 900 * 0.9 / cpl = 132.192.
        let mut sensor = sensor_for(&read_script(1000, 100));
        assert_close(sensor.read_lux().unwrap(), 132.192);
        finish(sensor);

        // cpl = 600 * 9876 / 408; lux = 15000 * 0.75 / cpl.
        let mut sensor = sensor_for_config(
            &read_script(20000, 5000),
            Gain::Maximum,
            IntegrationTime::Millis600,
        );
        assert_close(
            sensor.read_lux().unwrap(),
            11250.0 * 408.0 / (600.0 * 9876.0),
        );
        finish(sensor);

        // cpl = 200 * 1 / 408; lux = 40000 * 0.8 / cpl = 65280.
        let mut sensor = sensor_for_config(
            &read_script(50000, 10000),
            Gain::Low,
            IntegrationTime::Millis200,
        );
        assert_close(sensor.read_lux().unwrap(), 65280.0);
        finish(sensor);
    }

    #[test]
    fn the_formula_at_its_edges() {
        let lux = |full, ir| lux_from_channels(full, ir, Gain::High, IntegrationTime::Millis300);
        assert_eq!(lux(0, 0), Some(0.0));
        assert_eq!(lux(100, 100), Some(0.0));
        assert_eq!(lux(100, 200), Some(0.0), "more IR than full light is noise");
        assert!(lux(1, 0).unwrap() > 0.0);
        assert!(lux(65534, 65533).is_some());
        assert_eq!(lux(65535, 0), None);
        assert_eq!(lux(100, 65535), None);
    }

    #[test]
    fn a_full_channel_is_saturated() {
        let mut sensor = sensor_for_config(
            &read_script(0xFFFF, 0x1000),
            Gain::Low,
            IntegrationTime::Millis200,
        );
        assert_eq!(sensor.read_lux(), Err(Tsl2591Error::Saturated));
        finish(sensor);

        let mut sensor = sensor_for_config(
            &read_script(0x1000, 0xFFFF),
            Gain::Low,
            IntegrationTime::Millis600,
        );
        assert_eq!(sensor.read_lux(), Err(Tsl2591Error::Saturated));
        finish(sensor);
    }

    #[test]
    fn at_100_ms_saturation_starts_at_37888() {
        let mut sensor = sensor_for(&read_script(37888, 100));
        assert_eq!(sensor.read_lux(), Err(Tsl2591Error::Saturated));
        finish(sensor);

        let mut sensor = sensor_for(&read_script(37887, 100));
        assert!(sensor.read_lux().is_ok());
        finish(sensor);

        // The same count is far from saturation at 200 ms.
        let mut sensor = sensor_for_config(
            &read_script(37888, 100),
            Gain::Medium,
            IntegrationTime::Millis200,
        );
        assert!(sensor.read_lux().is_ok());
        finish(sensor);
    }

    #[test]
    fn power_down_clears_enable() {
        let mut sensor = sensor_for(&[write(0x00, 0x00)]);
        sensor.power_down().unwrap();
        finish(sensor);
    }

    #[test]
    fn the_light_sensor_initialises_lazily_once() {
        let mut script = init_script(0x10);
        script.extend(start_script());
        script.extend(read_script(1000, 100));
        script.extend(start_script());
        script.extend(read_script(2000, 200));
        let mut sensor = sensor_for(&script);
        let light: &mut dyn LightSensor = &mut sensor;
        assert_eq!(light.start_measurement(), Ok(Duration::from_millis(120)));
        assert_close(light.read_lux().unwrap(), 132.192);
        assert_eq!(light.start_measurement(), Ok(Duration::from_millis(120)));
        assert_close(light.read_lux().unwrap(), 264.384);
        finish(sensor);
    }

    #[test]
    fn the_light_sensor_initialises_again_after_a_nack() {
        let mut script = init_script(0x10);
        script.extend(start_script());
        // The sensor drops off the bus: the read NACKs, so does the next
        // initialisation.
        script.push(read(0x13, &[0x01]).with_error(NACK));
        script.push(read(0x12, &[0x50]).with_error(NACK));
        // It is back: initialised again before measuring.
        script.extend(init_script(0x10));
        script.extend(start_script());
        script.extend(read_script(1000, 100));
        let mut sensor = sensor_for(&script);
        let light: &mut dyn LightSensor = &mut sensor;
        light.start_measurement().unwrap();
        assert_eq!(light.read_lux(), Err(LightSensorError::Nack));
        assert_eq!(light.start_measurement(), Err(LightSensorError::Nack));
        light.start_measurement().unwrap();
        assert_close(light.read_lux().unwrap(), 132.192);
        finish(sensor);
    }

    #[test]
    fn the_light_sensor_reports_each_error_kind() {
        let mut sensor = sensor_for(&[read(0x12, &[0x0A])]);
        assert_eq!(
            LightSensor::start_measurement(&mut sensor),
            Err(LightSensorError::WrongDevice)
        );
        finish(sensor);

        let mut sensor = sensor_for(&read_script(0xFFFF, 0));
        assert_eq!(
            LightSensor::read_lux(&mut sensor),
            Err(LightSensorError::Saturated)
        );
        finish(sensor);

        let mut sensor = sensor_for(&[read(0x13, &[0x00])]);
        assert_eq!(
            LightSensor::read_lux(&mut sensor),
            Err(LightSensorError::NotReady)
        );
        finish(sensor);
    }

    #[test]
    fn errors_display_what_went_wrong() {
        let mut text = heapless::String::<80>::new();
        let error: Tsl2591Error<ErrorKind> = Tsl2591Error::WrongId(0x0A);
        core::fmt::write(&mut text, format_args!("{error}")).unwrap();
        assert_eq!(
            text.as_str(),
            "the part at 0x29 has ID 0x0a, not the TSL2591's 0x50"
        );
    }
}
