//! A driver for the DS18B20 1-Wire temperature sensor.
//!
//! A conversion takes up to 750 ms, far too long for an app that also keeps
//! an MQTT session alive, so a reading comes in two calls:
//! [`Ds18b20::start_conversion`] starts the conversion and returns how long
//! it takes, the app goes on with its other work until then, and
//! [`Ds18b20::read_temperature`] fetches the result. The driver itself never
//! waits longer than a 1-Wire time slot.
//!
//! Every reading is checked before it becomes a number: no presence pulse
//! is [`Ds18b20Error::SensorMissing`], and a scratchpad whose CRC byte does
//! not match is [`Ds18b20Error::CrcMismatch`]. The CRC also catches a sensor
//! that answers the reset and then stops driving the line: its scratchpad
//! reads as nine bytes of 0xFF, and the CRC of eight 0xFF bytes is 0xC9, not
//! 0xFF. (A line shorted low, which would read as all zeros and pass the CRC,
//! is caught by the bus's reset instead; see [`crate::onewire`].)
//!
//! The power-on value of the temperature register is 85 °C. It is a valid
//! reading as far as the sensor is concerned (the datasheet lists it in the
//! scratchpad's power-on state), so it is returned as it is; an app that
//! reads before its first conversion, or after the sensor lost power, sees
//! 85 °C and has to know why.
//!
//! The sensor must be powered from its VDD pin; parasite power needs a
//! strong pull-up during conversions that an open-drain pin cannot give.

use embedded_hal::delay::DelayNs;
use embedded_hal::digital::{InputPin, OutputPin};

use crate::onewire::{OneWire, OneWireError, RomCode, crc8};
use crate::time::Duration;

/// The family code in every DS18B20's ROM code.
pub const FAMILY_CODE: u8 = 0x28;

/// The DS18B20's function commands, sent after a ROM command selected it.
pub mod command {
    /// Starts a temperature conversion.
    pub const CONVERT_T: u8 = 0x44;
    /// Reads the nine scratchpad bytes.
    pub const READ_SCRATCHPAD: u8 = 0xBE;
    /// Writes TH, TL and the configuration byte to the scratchpad.
    pub const WRITE_SCRATCHPAD: u8 = 0x4E;
    /// Copies TH, TL and the configuration byte to the EEPROM.
    pub const COPY_SCRATCHPAD: u8 = 0x48;
    /// Loads TH, TL and the configuration byte back from the EEPROM.
    pub const RECALL_EEPROM: u8 = 0xB8;
    /// Asks whether any selected sensor runs on parasite power.
    pub const READ_POWER_SUPPLY: u8 = 0xB4;
}

/// How many bits a conversion resolves, which sets both its step and how
/// long it takes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Resolution {
    /// 0.5 °C steps in at most 93.75 ms.
    Bits9,
    /// 0.25 °C steps in at most 187.5 ms.
    Bits10,
    /// 0.125 °C steps in at most 375 ms.
    Bits11,
    /// 0.0625 °C steps in at most 750 ms; the factory setting.
    #[default]
    Bits12,
}

impl Resolution {
    /// The datasheet's maximum conversion time (tCONV) at this resolution.
    pub const fn conversion_time(self) -> Duration {
        match self {
            Resolution::Bits9 => Duration::from_micros(93_750),
            Resolution::Bits10 => Duration::from_micros(187_500),
            Resolution::Bits11 => Duration::from_micros(375_000),
            Resolution::Bits12 => Duration::from_micros(750_000),
        }
    }

    /// The number of bits, 9 to 12.
    pub const fn bits(self) -> u8 {
        match self {
            Resolution::Bits9 => 9,
            Resolution::Bits10 => 10,
            Resolution::Bits11 => 11,
            Resolution::Bits12 => 12,
        }
    }

    /// The configuration register value: R1 and R0 in bits 6 and 5, the
    /// other bits as the sensor reports them (bit 7 clear, bits 4..0 set).
    pub const fn config_byte(self) -> u8 {
        let r1_r0 = match self {
            Resolution::Bits9 => 0b00,
            Resolution::Bits10 => 0b01,
            Resolution::Bits11 => 0b10,
            Resolution::Bits12 => 0b11,
        };
        (r1_r0 << 5) | 0x1F
    }

    /// The resolution a configuration register selects; only bits 6 and 5
    /// count.
    pub const fn from_config_byte(config: u8) -> Self {
        match (config >> 5) & 0b11 {
            0b00 => Resolution::Bits9,
            0b01 => Resolution::Bits10,
            0b10 => Resolution::Bits11,
            _ => Resolution::Bits12,
        }
    }

    /// Clears the low bits of a raw reading that the datasheet leaves
    /// undefined at this resolution (bits 2..0 at 9 bits, 1..0 at 10, 0 at 11).
    const fn mask_undefined_bits(self, raw: i16) -> i16 {
        let undefined = (1i16 << (12 - self.bits())) - 1;
        raw & !undefined
    }
}

/// A temperature as the DS18B20 reports it: a whole number of sixteenths
/// of a degree Celsius.
///
/// Fixed point keeps readings exact: 22.5 °C is 360 sixteenths, never
/// 22.499998, so comparisons and formatting do not depend on float rounding.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Temperature(i16);

impl Temperature {
    /// The temperature register's power-on value, 85 °C.
    pub const POWER_ON: Temperature = Temperature(0x0550);

    /// A temperature of `sixteenths` / 16 °C.
    pub const fn from_sixteenths(sixteenths: i16) -> Self {
        Temperature(sixteenths)
    }

    /// The temperature in sixteenths of a degree Celsius.
    pub const fn sixteenths(self) -> i16 {
        self.0
    }

    /// Degrees Celsius; exact, since every sixteenth fits an `f32`.
    pub fn as_celsius_f32(self) -> f32 {
        f32::from(self.0) / 16.0
    }

    /// Degrees Fahrenheit.
    pub fn as_fahrenheit_f32(self) -> f32 {
        self.as_celsius_f32() * 9.0 / 5.0 + 32.0
    }

    /// Thousandths of a degree Celsius, rounded toward zero (a sixteenth is
    /// 62.5 m°C, so odd sixteenths lose half a thousandth).
    pub const fn milli_celsius(self) -> i32 {
        self.0 as i32 * 125 / 2
    }
}

impl core::fmt::Display for Temperature {
    /// The exact decimal value in °C with as few digits as it needs but at
    /// least one after the point: `22.5`, `-10.125`, `0.0625`, `85.0`.
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let ten_thousandths = i32::from(self.0) * 625;
        let sign = if ten_thousandths < 0 { "-" } else { "" };
        let magnitude = ten_thousandths.unsigned_abs();
        let (whole, mut fraction) = (magnitude / 10_000, magnitude % 10_000);
        let mut digits = 4;
        while digits > 1 && fraction.is_multiple_of(10) {
            fraction /= 10;
            digits -= 1;
        }
        write!(f, "{sign}{whole}.{fraction:0digits$}")
    }
}

/// The nine scratchpad bytes as read from the sensor.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Scratchpad(pub [u8; 9]);

impl Scratchpad {
    /// The temperature register (bytes 0 and 1) as the sensor sent it,
    /// undefined low bits included.
    pub const fn raw_temperature(&self) -> i16 {
        i16::from_le_bytes([self.0[0], self.0[1]])
    }

    /// The temperature with the bits the resolution leaves undefined cleared.
    pub const fn temperature(&self) -> Temperature {
        Temperature(
            self.resolution()
                .mask_undefined_bits(self.raw_temperature()),
        )
    }

    /// TH, the upper alarm threshold in whole degrees Celsius.
    pub const fn alarm_high(&self) -> i8 {
        self.0[2] as i8
    }

    /// TL, the lower alarm threshold in whole degrees Celsius.
    pub const fn alarm_low(&self) -> i8 {
        self.0[3] as i8
    }

    /// The resolution in the configuration register (byte 4).
    pub const fn resolution(&self) -> Resolution {
        Resolution::from_config_byte(self.0[4])
    }

    /// The CRC-8 computed over bytes 0 to 7.
    pub fn computed_crc(&self) -> u8 {
        crc8(&self.0[..8])
    }

    /// The CRC byte the sensor sent (byte 8).
    pub const fn received_crc(&self) -> u8 {
        self.0[8]
    }
}

/// Why a DS18B20 operation failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ds18b20Error<E> {
    /// Nothing answered the reset with a presence pulse: the sensor is
    /// unplugged, unpowered or its data line is broken.
    SensorMissing,
    /// The scratchpad's CRC byte (`expected`, as sent by the sensor) does not
    /// match the CRC of the eight bytes before it (`computed`): a noisy or
    /// broken line, or a sensor that stopped driving the line after its
    /// presence pulse (all 0xFF). The reading is discarded.
    CrcMismatch { expected: u8, computed: u8 },
    /// Any other bus failure: a pin error, or the line stuck low. (A missing
    /// presence pulse is reported as [`Ds18b20Error::SensorMissing`] instead.)
    Bus(OneWireError<E>),
}

impl<E> From<OneWireError<E>> for Ds18b20Error<E> {
    fn from(error: OneWireError<E>) -> Self {
        match error {
            OneWireError::NoPresence => Ds18b20Error::SensorMissing,
            other => Ds18b20Error::Bus(other),
        }
    }
}

impl<E: core::fmt::Debug> core::fmt::Display for Ds18b20Error<E> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Ds18b20Error::SensorMissing => f.write_str("the DS18B20 did not answer the reset"),
            Ds18b20Error::CrcMismatch { expected, computed } => write!(
                f,
                "DS18B20 scratchpad CRC mismatch: sensor sent {expected:#04x}, data gives {computed:#04x}"
            ),
            Ds18b20Error::Bus(error) => write!(f, "DS18B20 bus error: {error}"),
        }
    }
}

impl<E: core::fmt::Debug> core::error::Error for Ds18b20Error<E> {}

/// A DS18B20 on a 1-Wire bus that this driver owns.
///
/// With one sensor on the bus the driver addresses it with SKIP ROM
/// ([`Ds18b20::new`]); with several, each needs its ROM code
/// ([`Ds18b20::with_address`]), found with [`OneWire::search`].
#[derive(Debug)]
pub struct Ds18b20<P, D> {
    bus: OneWire<P, D>,
    address: Option<RomCode>,
    resolution: Resolution,
}

impl<P, D> Ds18b20<P, D>
where
    P: InputPin + OutputPin,
    D: DelayNs,
{
    /// The only sensor on `bus`, addressed with SKIP ROM.
    ///
    /// Until the driver has read or written the configuration it assumes
    /// 12 bits, the longest conversion, so the wait it returns is never
    /// too short.
    pub fn new(bus: OneWire<P, D>) -> Self {
        Ds18b20 {
            bus,
            address: None,
            resolution: Resolution::Bits12,
        }
    }

    /// The sensor with ROM code `address` on a bus that may have others,
    /// addressed with MATCH ROM.
    pub fn with_address(bus: OneWire<P, D>, address: RomCode) -> Self {
        Ds18b20 {
            address: Some(address),
            ..Ds18b20::new(bus)
        }
    }

    /// Gives the bus back.
    pub fn release(self) -> OneWire<P, D> {
        self.bus
    }

    /// The bus, for searches or other devices on it.
    pub fn bus_mut(&mut self) -> &mut OneWire<P, D> {
        &mut self.bus
    }

    /// The ROM code the driver selects the sensor by, or `None` for SKIP ROM.
    pub fn address(&self) -> Option<RomCode> {
        self.address
    }

    /// The resolution the driver last wrote or read from the sensor.
    pub fn resolution(&self) -> Resolution {
        self.resolution
    }

    /// Starts a conversion and returns how long to wait before
    /// [`read_temperature`](Self::read_temperature): the datasheet's maximum
    /// for the resolution.
    ///
    /// Reading the scratchpad earlier is harmless but returns the previous
    /// conversion's result.
    pub fn start_conversion(&mut self) -> Result<Duration, Ds18b20Error<P::Error>> {
        self.select()?;
        self.bus.write_byte(command::CONVERT_T)?;
        Ok(self.resolution.conversion_time())
    }

    /// Whether the conversion has finished, from one read slot, which the
    /// sensor answers with 0 while it converts and 1 when done.
    ///
    /// This is only meaningful right after
    /// [`start_conversion`](Self::start_conversion), with no other bus
    /// traffic in between. An app that waits the returned time does not
    /// need it; one that wants to move on as soon as the sensor is done can
    /// poll it.
    pub fn conversion_done(&mut self) -> Result<bool, Ds18b20Error<P::Error>> {
        Ok(self.bus.read_bit()?)
    }

    /// Reads and checks the nine scratchpad bytes, and remembers the
    /// resolution the sensor reports.
    pub fn read_scratchpad(&mut self) -> Result<Scratchpad, Ds18b20Error<P::Error>> {
        self.select()?;
        self.bus.write_byte(command::READ_SCRATCHPAD)?;
        let mut scratchpad = Scratchpad([0; 9]);
        self.bus.read_bytes(&mut scratchpad.0)?;
        let computed = scratchpad.computed_crc();
        if computed != scratchpad.received_crc() {
            return Err(Ds18b20Error::CrcMismatch {
                expected: scratchpad.received_crc(),
                computed,
            });
        }
        self.resolution = scratchpad.resolution();
        Ok(scratchpad)
    }

    /// Reads the result of the last conversion.
    ///
    /// The bits the resolution leaves undefined are cleared, so at 9 bits
    /// the result is a multiple of 0.5 °C. Before the first conversion the
    /// sensor holds 85 °C, which is returned as it is.
    pub fn read_temperature(&mut self) -> Result<Temperature, Ds18b20Error<P::Error>> {
        Ok(self.read_scratchpad()?.temperature())
    }

    /// Sets the resolution of the following conversions.
    ///
    /// WRITE SCRATCHPAD always writes TH, TL and the configuration together,
    /// so the scratchpad is read first and its alarm thresholds are written
    /// back unchanged. The setting lives in the scratchpad only and is lost
    /// at power-off.
    pub fn set_resolution(&mut self, resolution: Resolution) -> Result<(), Ds18b20Error<P::Error>> {
        let current = self.read_scratchpad()?;
        self.select()?;
        self.bus.write_byte(command::WRITE_SCRATCHPAD)?;
        self.bus.write_bytes(&[
            current.alarm_high() as u8,
            current.alarm_low() as u8,
            resolution.config_byte(),
        ])?;
        self.resolution = resolution;
        Ok(())
    }

    /// Whether the sensor runs on parasite power, which this driver does
    /// not support (the sensor pulls the line low in its answer slot).
    pub fn is_parasite_powered(&mut self) -> Result<bool, Ds18b20Error<P::Error>> {
        self.select()?;
        self.bus.write_byte(command::READ_POWER_SUPPLY)?;
        Ok(!self.bus.read_bit()?)
    }

    /// Resets the bus and selects this sensor.
    fn select(&mut self) -> Result<(), Ds18b20Error<P::Error>> {
        match &self.address {
            Some(address) => self.bus.match_rom(address)?,
            None => self.bus.skip_rom()?,
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    extern crate std;

    use embedded_hal_mock::eh1::delay::CheckedDelay;
    use embedded_hal_mock::eh1::digital::Mock as PinMock;

    use super::*;
    use crate::onewire::tests::{Script, finish};

    type MockSensor = Ds18b20<PinMock, CheckedDelay>;

    /// A scratchpad holding `raw` at `resolution`, TH 75 and TL 70 as from
    /// the factory, with a correct CRC.
    fn scratchpad(raw: i16, resolution: Resolution) -> [u8; 9] {
        let [lsb, msb] = raw.to_le_bytes();
        let mut bytes = [
            lsb,
            msb,
            0x4B,
            0x46,
            resolution.config_byte(),
            0xFF,
            0x0C,
            0x10,
            0,
        ];
        bytes[8] = crc8(&bytes[..8]);
        bytes
    }

    /// The bus traffic of a SKIP ROM read of `bytes` as the scratchpad.
    fn read_scratchpad_script(script: Script, bytes: &[u8; 9]) -> Script {
        script.reset(true).write(0xCC).write(0xBE).read_all(bytes)
    }

    fn sensor_for(script: &Script) -> MockSensor {
        Ds18b20::new(script.bus())
    }

    fn finish_sensor(sensor: MockSensor) {
        finish(sensor.release());
    }

    fn read_raw(raw: i16, resolution: Resolution) -> Temperature {
        let script = read_scratchpad_script(Script::new(), &scratchpad(raw, resolution));
        let mut sensor = sensor_for(&script);
        let temperature = sensor.read_temperature().unwrap();
        finish_sensor(sensor);
        temperature
    }

    #[test]
    fn reads_a_positive_temperature() {
        let temperature = read_raw(0x0191, Resolution::Bits12);
        assert_eq!(temperature.sixteenths(), 401);
        assert_eq!(temperature.as_celsius_f32(), 25.0625);
    }

    #[test]
    fn reads_a_negative_temperature() {
        let temperature = read_raw(0xFF5Eu16 as i16, Resolution::Bits12);
        assert_eq!(temperature.as_celsius_f32(), -10.125);
        assert_eq!(temperature.milli_celsius(), -10_125);
    }

    #[test]
    fn reads_the_lowest_temperature() {
        let temperature = read_raw(0xFC90u16 as i16, Resolution::Bits12);
        assert_eq!(temperature.as_celsius_f32(), -55.0);
        assert_eq!(temperature.as_fahrenheit_f32(), -67.0);
    }

    #[test]
    fn reads_the_highest_temperature() {
        let temperature = read_raw(0x07D0, Resolution::Bits12);
        assert_eq!(temperature.as_celsius_f32(), 125.0);
        assert_eq!(temperature.as_fahrenheit_f32(), 257.0);
        assert_eq!(temperature.milli_celsius(), 125_000);
    }

    #[test]
    fn returns_the_power_on_value_as_it_is() {
        let temperature = read_raw(0x0550, Resolution::Bits12);
        assert_eq!(temperature, Temperature::POWER_ON);
        assert_eq!(temperature.as_celsius_f32(), 85.0);
    }

    #[test]
    fn reads_the_datasheet_power_on_scratchpad() {
        let bytes = [0x50, 0x05, 0x4B, 0x46, 0x7F, 0xFF, 0x0C, 0x10, 0x1C];
        let script = read_scratchpad_script(Script::new(), &bytes);
        let mut sensor = sensor_for(&script);
        let scratchpad = sensor.read_scratchpad().unwrap();
        assert_eq!(scratchpad.temperature(), Temperature::POWER_ON);
        assert_eq!(scratchpad.alarm_high(), 75);
        assert_eq!(scratchpad.alarm_low(), 70);
        assert_eq!(scratchpad.resolution(), Resolution::Bits12);
        finish_sensor(sensor);
    }

    #[test]
    fn masks_the_bits_a_lower_resolution_leaves_undefined() {
        // 22.5 °C is 0x0168; at 9 bits the low three bits are undefined, so
        // whatever they hold (here 0b111) must not show in the reading.
        assert_eq!(read_raw(0x016F, Resolution::Bits9).as_celsius_f32(), 22.5);
        assert_eq!(read_raw(0x016F, Resolution::Bits10).as_celsius_f32(), 22.75);
        assert_eq!(
            read_raw(0x016F, Resolution::Bits11).as_celsius_f32(),
            22.875
        );
        assert_eq!(
            read_raw(0x016F, Resolution::Bits12).as_celsius_f32(),
            22.9375
        );
        // Negative values round toward minus infinity, as two's complement does.
        assert_eq!(
            read_raw(0xFF5Eu16 as i16, Resolution::Bits9).as_celsius_f32(),
            -10.5
        );
    }

    #[test]
    fn a_corrupted_crc_byte_is_a_crc_mismatch() {
        let mut bytes = scratchpad(0x0168, Resolution::Bits12);
        let computed = bytes[8];
        bytes[8] ^= 0x5A;
        let script = read_scratchpad_script(Script::new(), &bytes);
        let mut sensor = sensor_for(&script);
        assert_eq!(
            sensor.read_temperature(),
            Err(Ds18b20Error::CrcMismatch {
                expected: computed ^ 0x5A,
                computed
            })
        );
        finish_sensor(sensor);
    }

    #[test]
    fn a_corrupted_data_byte_is_a_crc_mismatch() {
        let mut bytes = scratchpad(0x0168, Resolution::Bits12);
        bytes[0] ^= 0x01;
        let script = read_scratchpad_script(Script::new(), &bytes);
        let mut sensor = sensor_for(&script);
        assert!(matches!(
            sensor.read_temperature(),
            Err(Ds18b20Error::CrcMismatch { .. })
        ));
        finish_sensor(sensor);
    }

    #[test]
    fn a_line_stuck_high_after_presence_is_a_crc_mismatch_not_a_temperature() {
        let script = read_scratchpad_script(Script::new(), &[0xFF; 9]);
        let mut sensor = sensor_for(&script);
        assert_eq!(
            sensor.read_temperature(),
            Err(Ds18b20Error::CrcMismatch {
                expected: 0xFF,
                computed: 0xC9
            })
        );
        finish_sensor(sensor);
    }

    #[test]
    fn a_line_stuck_low_is_a_bus_error_not_zero_degrees() {
        let script = Script::new().reset_ending(true, false);
        let mut sensor = sensor_for(&script);
        assert_eq!(
            sensor.read_temperature(),
            Err(Ds18b20Error::Bus(OneWireError::BusStuckLow))
        );
        finish_sensor(sensor);
    }

    #[test]
    fn no_presence_is_sensor_missing_and_nothing_more_is_sent() {
        let script = Script::new().reset(false);
        let mut sensor = sensor_for(&script);
        assert_eq!(sensor.read_temperature(), Err(Ds18b20Error::SensorMissing));
        finish_sensor(sensor);

        let script = Script::new().reset(false);
        let mut sensor = sensor_for(&script);
        assert_eq!(sensor.start_conversion(), Err(Ds18b20Error::SensorMissing));
        finish_sensor(sensor);
    }

    #[test]
    fn start_conversion_sends_convert_t_and_assumes_12_bits_at_first() {
        let script = Script::new().reset(true).write(0xCC).write(0x44);
        let mut sensor = sensor_for(&script);
        assert_eq!(sensor.start_conversion(), Ok(Duration::from_millis(750)));
        finish_sensor(sensor);
    }

    #[test]
    fn conversion_done_reads_one_slot() {
        let script = Script::new()
            .reset(true)
            .write(0xCC)
            .write(0x44)
            .read_bit(false)
            .read_bit(true);
        let mut sensor = sensor_for(&script);
        sensor.start_conversion().unwrap();
        assert_eq!(sensor.conversion_done(), Ok(false));
        assert_eq!(sensor.conversion_done(), Ok(true));
        finish_sensor(sensor);
    }

    #[test]
    fn the_conversion_time_follows_the_resolution_read_from_the_sensor() {
        let expected = [
            (Resolution::Bits9, 93_750),
            (Resolution::Bits10, 187_500),
            (Resolution::Bits11, 375_000),
            (Resolution::Bits12, 750_000),
        ];
        for (resolution, micros) in expected {
            let script = read_scratchpad_script(Script::new(), &scratchpad(0, resolution))
                .reset(true)
                .write(0xCC)
                .write(0x44);
            let mut sensor = sensor_for(&script);
            sensor.read_temperature().unwrap();
            assert_eq!(sensor.resolution(), resolution);
            assert_eq!(sensor.start_conversion(), Ok(Duration::from_micros(micros)));
            finish_sensor(sensor);
        }
    }

    #[test]
    fn set_resolution_keeps_the_alarm_thresholds() {
        let mut bytes = scratchpad(0x0550, Resolution::Bits12);
        bytes[2] = 30; // TH
        bytes[3] = (-5i8) as u8; // TL
        bytes[8] = crc8(&bytes[..8]);
        let script = read_scratchpad_script(Script::new(), &bytes)
            .reset(true)
            .write(0xCC)
            .write(0x4E)
            .write_all(&[30, (-5i8) as u8, 0x1F])
            .reset(true)
            .write(0xCC)
            .write(0x44);
        let mut sensor = sensor_for(&script);
        sensor.set_resolution(Resolution::Bits9).unwrap();
        assert_eq!(sensor.resolution(), Resolution::Bits9);
        assert_eq!(sensor.start_conversion(), Ok(Duration::from_micros(93_750)));
        finish_sensor(sensor);
    }

    #[test]
    fn set_resolution_writes_nothing_when_the_scratchpad_is_bad() {
        let script = read_scratchpad_script(Script::new(), &[0xFF; 9]);
        let mut sensor = sensor_for(&script);
        assert!(matches!(
            sensor.set_resolution(Resolution::Bits10),
            Err(Ds18b20Error::CrcMismatch { .. })
        ));
        assert_eq!(sensor.resolution(), Resolution::Bits12);
        finish_sensor(sensor);
    }

    #[test]
    fn an_addressed_sensor_is_selected_with_match_rom() {
        let rom = RomCode([0x28, 0xFF, 0x4C, 0x09, 0x17, 0x13, 0x01, 0xC4]);
        let bytes = scratchpad(0x0168, Resolution::Bits12);
        let script = Script::new()
            .reset(true)
            .write(0x55)
            .write_all(&rom.0)
            .write(0xBE)
            .read_all(&bytes);
        let mut sensor = Ds18b20::with_address(script.bus(), rom);
        assert_eq!(sensor.address(), Some(rom));
        assert_eq!(sensor.read_temperature().unwrap().as_celsius_f32(), 22.5);
        finish_sensor(sensor);
    }

    #[test]
    fn read_power_supply_reports_external_power() {
        let script = Script::new()
            .reset(true)
            .write(0xCC)
            .write(0xB4)
            .read_bit(true);
        let mut sensor = sensor_for(&script);
        assert_eq!(sensor.is_parasite_powered(), Ok(false));
        finish_sensor(sensor);
    }

    #[test]
    fn resolution_config_bytes_match_the_datasheet() {
        assert_eq!(Resolution::Bits9.config_byte(), 0x1F);
        assert_eq!(Resolution::Bits10.config_byte(), 0x3F);
        assert_eq!(Resolution::Bits11.config_byte(), 0x5F);
        assert_eq!(Resolution::Bits12.config_byte(), 0x7F);
        for resolution in [
            Resolution::Bits9,
            Resolution::Bits10,
            Resolution::Bits11,
            Resolution::Bits12,
        ] {
            assert_eq!(
                Resolution::from_config_byte(resolution.config_byte()),
                resolution
            );
        }
    }

    #[test]
    fn temperature_conversions() {
        let temperature = Temperature::from_sixteenths(360);
        assert_eq!(temperature.as_celsius_f32(), 22.5);
        assert_eq!(temperature.as_fahrenheit_f32(), 72.5);
        assert_eq!(temperature.milli_celsius(), 22_500);
        assert_eq!(Temperature::from_sixteenths(1).milli_celsius(), 62);
        assert_eq!(Temperature::from_sixteenths(-1).milli_celsius(), -62);
        assert_eq!(Temperature::from_sixteenths(-880).as_celsius_f32(), -55.0);
    }

    #[test]
    fn temperature_displays_its_exact_decimal_value() {
        let shown = |sixteenths: i16| {
            let mut text = heapless::String::<16>::new();
            core::fmt::write(
                &mut text,
                format_args!("{}", Temperature::from_sixteenths(sixteenths)),
            )
            .unwrap();
            text
        };
        assert_eq!(shown(360).as_str(), "22.5");
        assert_eq!(shown(-162).as_str(), "-10.125");
        assert_eq!(shown(1).as_str(), "0.0625");
        assert_eq!(shown(-1).as_str(), "-0.0625");
        assert_eq!(shown(0x0550).as_str(), "85.0");
        assert_eq!(shown(0).as_str(), "0.0");
        assert_eq!(shown(-880).as_str(), "-55.0");
    }
}
