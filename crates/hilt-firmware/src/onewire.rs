//! A 1-Wire bus master, bit-banged over one open-drain pin and a `DelayNs`.
//!
//! The line is pulled up by a resistor; the master and every device on the
//! bus can only pull it low. With an open-drain pin that means
//! `set_low` pulls the line low, `set_high` lets go of it, and
//! `is_high` reads what the line actually does, which is low whenever
//! anybody on the bus holds it low.
//!
//! All timings are the "standard speed" values of Maxim application note
//! AN126 (see [`timing`]). Every wait goes through the `DelayNs` the bus
//! owns, so on the ESP32-C3 the bus spins on a hardware timer and in the
//! simulation the same code moves the device's virtual clock instead.
//!
//! # Why not the `onewire` crate
//!
//! `onewire` 0.4 speaks embedded-hal 1.0 and is `no_std`, but it borrows the
//! pin (`OneWire::new(&mut pin, ...)`) and takes the delay as an argument of
//! every call, and its timings come from the Arduino library. This bus owns
//! its pin and its delay so that a driver can own the whole bus (a DS18B20
//! driver then needs no lifetimes and no extra arguments in an app's state
//! machine), uses exactly the AN126 timings that the simulated line in
//! `hilt-sim` checks against the datasheet windows, and is small enough (one
//! file, no dependencies beyond embedded-hal) that every call it makes on
//! the pin is pinned down by the unit tests below.
//!
//! # What a master must not trust
//!
//! A line shorted to ground answers every reset with a "presence pulse" and
//! every read slot with 0, and an all-zero ROM code or scratchpad passes the
//! CRC-8 check (the CRC of zeros is zero). [`OneWire::reset`] therefore also
//! checks that the line is back high at the end of the reset cycle and
//! reports [`OneWireError::BusStuckLow`] if it is not, and an all-zero ROM
//! code counts as invalid ([`RomCode::is_valid`]).
//!
//! Parasite power (a device powered from the data line, which needs a strong
//! pull-up during conversions) is not supported: an open-drain pin cannot
//! provide one.

use embedded_hal::delay::DelayNs;
use embedded_hal::digital::{InputPin, OutputPin};

/// The standard-speed timings of Maxim AN126, in microseconds.
///
/// The letters are the ones AN126 uses in its timing table, so the values can
/// be checked against it line by line.
pub mod timing {
    /// A: how long a write-1 slot holds the line low.
    pub const WRITE_ONE_LOW_US: u32 = 6;
    /// B: the rest of a write-1 slot, line released (includes recovery).
    pub const WRITE_ONE_RELEASE_US: u32 = 64;
    /// C: how long a write-0 slot holds the line low.
    pub const WRITE_ZERO_LOW_US: u32 = 60;
    /// D: recovery after a write-0 slot, line released.
    pub const WRITE_ZERO_RELEASE_US: u32 = 10;
    /// A again: how long the master holds the line low to start a read slot.
    pub const READ_LOW_US: u32 = 6;
    /// E: from releasing the line to sampling it in a read slot.
    pub const READ_SAMPLE_AFTER_RELEASE_US: u32 = 9;
    /// F: the rest of a read slot after sampling (includes recovery).
    pub const READ_REST_US: u32 = 55;
    /// H: how long a reset pulse holds the line low.
    pub const RESET_LOW_US: u32 = 480;
    /// I: from releasing the reset pulse to sampling for a presence pulse.
    pub const PRESENCE_SAMPLE_AFTER_RELEASE_US: u32 = 70;
    /// J: the rest of the reset cycle after the presence sample, by which
    /// time every presence pulse has ended.
    pub const RESET_REST_US: u32 = 410;
}

/// ROM command bytes, which every 1-Wire device understands after a reset.
pub mod command {
    /// Reads the ROM code of the only device on the bus.
    pub const READ_ROM: u8 = 0x33;
    /// Selects the one device whose ROM code follows.
    pub const MATCH_ROM: u8 = 0x55;
    /// Selects every device on the bus (fine when there is only one).
    pub const SKIP_ROM: u8 = 0xCC;
    /// Starts a ROM search among all devices.
    pub const SEARCH_ROM: u8 = 0xF0;
    /// Starts a ROM search among the devices that have an alarm condition.
    pub const ALARM_SEARCH: u8 = 0xEC;
}

/// Computes the Dallas/Maxim CRC-8 (polynomial x⁸ + x⁵ + x⁴ + 1, reflected
/// 0x8C, initial value 0) that 1-Wire ROM codes and DS18B20 scratchpads carry.
///
/// Running it over data followed by its CRC byte gives 0, which is how a
/// whole ROM code can be checked at once.
pub fn crc8(data: &[u8]) -> u8 {
    let mut crc = 0u8;
    for &byte in data {
        let mut remaining = byte;
        for _ in 0..8 {
            let feedback = (crc ^ remaining) & 1;
            crc >>= 1;
            if feedback != 0 {
                crc ^= 0x8C;
            }
            remaining >>= 1;
        }
    }
    crc
}

/// The 64-bit ROM code of a 1-Wire device, in the order it goes over the
/// wire: family code, 48-bit serial number (least significant byte first),
/// then a CRC-8 of the first seven bytes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RomCode(pub [u8; 8]);

impl RomCode {
    /// The family code, which says what kind of device this is
    /// (0x28 for a DS18B20).
    pub const fn family_code(&self) -> u8 {
        self.0[0]
    }

    /// The 48-bit serial number, least significant byte first as on the wire.
    pub fn serial_number(&self) -> [u8; 6] {
        let mut serial = [0u8; 6];
        serial.copy_from_slice(&self.0[1..7]);
        serial
    }

    /// The CRC byte the device sent.
    pub const fn crc(&self) -> u8 {
        self.0[7]
    }

    /// Whether the CRC byte matches the first seven bytes.
    pub fn has_valid_crc(&self) -> bool {
        crc8(&self.0[..7]) == self.0[7]
    }

    /// Whether this can be a real device's code: the CRC matches and the
    /// code is not all zeros, which passes the CRC but is what a line held
    /// low reads.
    pub fn is_valid(&self) -> bool {
        self.has_valid_crc() && self.0 != [0u8; 8]
    }
}

impl core::fmt::Display for RomCode {
    /// The Linux w1 style `28-011317094cff`: family code, then the serial
    /// number most significant byte first, without the CRC.
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{:02x}-", self.0[0])?;
        for byte in self.0[1..7].iter().rev() {
            write!(f, "{byte:02x}")?;
        }
        Ok(())
    }
}

/// Why a 1-Wire operation failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OneWireError<E> {
    /// The pin itself reported an error while driving or reading the line.
    Pin(E),
    /// A reset got no presence pulse although a device was needed: nothing
    /// is connected, or the line is broken.
    NoPresence,
    /// The line was still low at the end of a reset cycle, long after any
    /// presence pulse ends: the line is shorted to ground or the pull-up is
    /// missing. Without this check a shorted line would read as all zeros,
    /// which pass every CRC.
    BusStuckLow,
    /// A ROM code read from the bus failed its CRC (or was all zeros): a
    /// noisy line, or two devices answering a READ ROM at once.
    BadRomCrc,
    /// During a ROM search no device answered a bit although devices had
    /// answered the earlier bits: a device left the bus mid-search.
    SearchNoResponse,
    /// `search_all` found more devices than its result can hold.
    TooManyDevices,
}

impl<E: core::fmt::Debug> core::fmt::Display for OneWireError<E> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            OneWireError::Pin(error) => write!(f, "1-Wire pin error: {error:?}"),
            OneWireError::NoPresence => f.write_str("no 1-Wire device answered the reset"),
            OneWireError::BusStuckLow => f.write_str("the 1-Wire line is stuck low"),
            OneWireError::BadRomCrc => f.write_str("a 1-Wire ROM code failed its CRC check"),
            OneWireError::SearchNoResponse => {
                f.write_str("a 1-Wire device stopped answering during a ROM search")
            }
            OneWireError::TooManyDevices => {
                f.write_str("more 1-Wire devices on the bus than the result can hold")
            }
        }
    }
}

impl<E: core::fmt::Debug> core::error::Error for OneWireError<E> {}

/// The state of a ROM search that has found zero or more devices so far;
/// the standard algorithm of Maxim application note AN187.
///
/// Each [`OneWire::search`] call walks the tree of ROM code bits once and
/// returns the next device, so a search needs no buffer and can be spread
/// over several calls of an app's state machine.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DeviceSearch {
    /// The ROM code found last; its bits steer the next pass.
    rom: [u8; 8],
    /// The bit position (1-based) of the last branch where the previous pass
    /// took the 0 path; 0 when there is no branch left to revisit.
    last_discrepancy: u8,
    /// Set when the previous pass had no branch left, or after an error.
    finished: bool,
    /// SEARCH ROM or ALARM SEARCH.
    command: u8,
}

impl DeviceSearch {
    /// A search for every device on the bus.
    pub const fn new() -> Self {
        DeviceSearch {
            rom: [0; 8],
            last_discrepancy: 0,
            finished: false,
            command: command::SEARCH_ROM,
        }
    }

    /// A search for the devices with an alarm condition (for a DS18B20: its
    /// last conversion was at or above TH, or at or below TL).
    pub const fn alarmed() -> Self {
        DeviceSearch {
            command: command::ALARM_SEARCH,
            ..DeviceSearch::new()
        }
    }

    /// Whether the search has returned every device (or stopped on an error).
    pub const fn is_finished(&self) -> bool {
        self.finished
    }

    fn rom_bit(&self, bit_index: usize) -> bool {
        self.rom[bit_index / 8] & (1 << (bit_index % 8)) != 0
    }

    fn set_rom_bit(&mut self, bit_index: usize, value: bool) {
        let mask = 1 << (bit_index % 8);
        if value {
            self.rom[bit_index / 8] |= mask;
        } else {
            self.rom[bit_index / 8] &= !mask;
        }
    }
}

impl Default for DeviceSearch {
    fn default() -> Self {
        DeviceSearch::new()
    }
}

/// A 1-Wire bus master that owns its open-drain pin and its delay.
#[derive(Debug)]
pub struct OneWire<P, D> {
    pin: P,
    delay: D,
}

impl<P, D> OneWire<P, D>
where
    P: InputPin + OutputPin,
    D: DelayNs,
{
    /// Takes the pin and the delay. The pin must be configured open drain
    /// with a pull-up on the line (4.7 kΩ for a few metres of cable).
    pub fn new(pin: P, delay: D) -> Self {
        OneWire { pin, delay }
    }

    /// Gives the pin and the delay back.
    pub fn release(self) -> (P, D) {
        (self.pin, self.delay)
    }

    /// Sends a reset pulse and reports whether any device answered with a
    /// presence pulse.
    ///
    /// The whole reset cycle takes 960 µs. Fails with
    /// [`OneWireError::BusStuckLow`] if the line is still low at its end.
    pub fn reset(&mut self) -> Result<bool, OneWireError<P::Error>> {
        self.pull_low()?;
        self.delay.delay_us(timing::RESET_LOW_US);
        self.let_go()?;
        self.delay
            .delay_us(timing::PRESENCE_SAMPLE_AFTER_RELEASE_US);
        let presence = !self.line_is_high()?;
        self.delay.delay_us(timing::RESET_REST_US);
        if !self.line_is_high()? {
            return Err(OneWireError::BusStuckLow);
        }
        Ok(presence)
    }

    /// Writes one bit in a 70 µs time slot.
    pub fn write_bit(&mut self, bit: bool) -> Result<(), OneWireError<P::Error>> {
        let (low_us, release_us) = if bit {
            (timing::WRITE_ONE_LOW_US, timing::WRITE_ONE_RELEASE_US)
        } else {
            (timing::WRITE_ZERO_LOW_US, timing::WRITE_ZERO_RELEASE_US)
        };
        self.pull_low()?;
        self.delay.delay_us(low_us);
        self.let_go()?;
        self.delay.delay_us(release_us);
        Ok(())
    }

    /// Reads one bit in a 70 µs time slot: the master starts the slot with a
    /// short low pulse, and a device sending 0 keeps the line low past the
    /// sample point.
    pub fn read_bit(&mut self) -> Result<bool, OneWireError<P::Error>> {
        self.pull_low()?;
        self.delay.delay_us(timing::READ_LOW_US);
        self.let_go()?;
        self.delay.delay_us(timing::READ_SAMPLE_AFTER_RELEASE_US);
        let bit = self.line_is_high()?;
        self.delay.delay_us(timing::READ_REST_US);
        Ok(bit)
    }

    /// Writes a byte, least significant bit first as 1-Wire requires.
    pub fn write_byte(&mut self, byte: u8) -> Result<(), OneWireError<P::Error>> {
        for bit_index in 0..8 {
            self.write_bit(byte & (1 << bit_index) != 0)?;
        }
        Ok(())
    }

    /// Reads a byte, least significant bit first.
    pub fn read_byte(&mut self) -> Result<u8, OneWireError<P::Error>> {
        let mut byte = 0u8;
        for bit_index in 0..8 {
            if self.read_bit()? {
                byte |= 1 << bit_index;
            }
        }
        Ok(byte)
    }

    /// Writes the bytes in order.
    pub fn write_bytes(&mut self, bytes: &[u8]) -> Result<(), OneWireError<P::Error>> {
        bytes.iter().try_for_each(|&byte| self.write_byte(byte))
    }

    /// Fills `buffer` with bytes read from the bus.
    pub fn read_bytes(&mut self, buffer: &mut [u8]) -> Result<(), OneWireError<P::Error>> {
        for byte in buffer.iter_mut() {
            *byte = self.read_byte()?;
        }
        Ok(())
    }

    /// Resets the bus and fails with [`OneWireError::NoPresence`] if no
    /// device answered.
    pub fn reset_expecting_presence(&mut self) -> Result<(), OneWireError<P::Error>> {
        if self.reset()? {
            Ok(())
        } else {
            Err(OneWireError::NoPresence)
        }
    }

    /// Resets the bus and selects every device (SKIP ROM), so that the
    /// function command written next reaches all of them. Reading back only
    /// makes sense with a single device on the bus.
    pub fn skip_rom(&mut self) -> Result<(), OneWireError<P::Error>> {
        self.reset_expecting_presence()?;
        self.write_byte(command::SKIP_ROM)
    }

    /// Resets the bus and selects the one device with ROM code `rom`
    /// (MATCH ROM); the others wait for the next reset.
    pub fn match_rom(&mut self, rom: &RomCode) -> Result<(), OneWireError<P::Error>> {
        self.reset_expecting_presence()?;
        self.write_byte(command::MATCH_ROM)?;
        self.write_bytes(&rom.0)
    }

    /// Resets the bus and reads the ROM code of the only device on it
    /// (READ ROM). With several devices the codes collide on the line and
    /// the result fails its CRC, hence [`OneWireError::BadRomCrc`].
    pub fn read_rom(&mut self) -> Result<RomCode, OneWireError<P::Error>> {
        self.reset_expecting_presence()?;
        self.write_byte(command::READ_ROM)?;
        let mut rom = RomCode::default();
        self.read_bytes(&mut rom.0)?;
        if rom.is_valid() {
            Ok(rom)
        } else {
            Err(OneWireError::BadRomCrc)
        }
    }

    /// Finds the next device of a ROM search, or `None` when every device
    /// has been found (immediately so when nothing answers the reset).
    ///
    /// Each call resets the bus and takes 64 rounds of two read slots and one
    /// write slot: the devices still taking part send a bit of their code
    /// and its complement, the master picks a branch, and devices on the
    /// other branch drop out. After an error the search is finished; start a
    /// new [`DeviceSearch`] to try again.
    pub fn search(
        &mut self,
        search: &mut DeviceSearch,
    ) -> Result<Option<RomCode>, OneWireError<P::Error>> {
        if search.finished {
            return Ok(None);
        }
        let result = self.search_pass(search);
        match result {
            Ok(Some(_)) => {}
            Ok(None) | Err(_) => search.finished = true,
        }
        result
    }

    /// Finds every device on the bus, up to `N` of them.
    pub fn search_all<const N: usize>(
        &mut self,
    ) -> Result<heapless::Vec<RomCode, N>, OneWireError<P::Error>> {
        let mut found = heapless::Vec::new();
        let mut search = DeviceSearch::new();
        while let Some(rom) = self.search(&mut search)? {
            found.push(rom).map_err(|_| OneWireError::TooManyDevices)?;
        }
        Ok(found)
    }

    /// One pass of the AN187 search: returns the next ROM code and updates
    /// `search` for the pass after it.
    fn search_pass(
        &mut self,
        search: &mut DeviceSearch,
    ) -> Result<Option<RomCode>, OneWireError<P::Error>> {
        if !self.reset()? {
            return Ok(None);
        }
        self.write_byte(search.command)?;
        let mut last_zero_branch = 0u8;
        for bit_index in 0..64usize {
            let bit_number = (bit_index + 1) as u8;
            let id_bit = self.read_bit()?;
            let complement_bit = self.read_bit()?;
            let direction = match (id_bit, complement_bit) {
                (true, true) if bit_index == 0 => {
                    // Presence, but nobody takes part: for an alarm search
                    // that means no device has an alarm.
                    return Ok(None);
                }
                (true, true) => return Err(OneWireError::SearchNoResponse),
                (false, true) => false,
                (true, false) => true,
                (false, false) => {
                    // Devices differ here. Below the last branch revisited,
                    // follow the previous code; at it, take the 1 path now;
                    // beyond it, take 0 first and remember the branch.
                    let direction = if bit_number < search.last_discrepancy {
                        search.rom_bit(bit_index)
                    } else {
                        bit_number == search.last_discrepancy
                    };
                    if !direction {
                        last_zero_branch = bit_number;
                    }
                    direction
                }
            };
            search.set_rom_bit(bit_index, direction);
            self.write_bit(direction)?;
        }
        search.last_discrepancy = last_zero_branch;
        if last_zero_branch == 0 {
            search.finished = true;
        }
        let rom = RomCode(search.rom);
        if rom.is_valid() {
            Ok(Some(rom))
        } else {
            Err(OneWireError::BadRomCrc)
        }
    }

    fn pull_low(&mut self) -> Result<(), OneWireError<P::Error>> {
        self.pin.set_low().map_err(OneWireError::Pin)
    }

    fn let_go(&mut self) -> Result<(), OneWireError<P::Error>> {
        self.pin.set_high().map_err(OneWireError::Pin)
    }

    fn line_is_high(&mut self) -> Result<bool, OneWireError<P::Error>> {
        self.pin.is_high().map_err(OneWireError::Pin)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    extern crate std;

    use std::vec::Vec;

    use embedded_hal_mock::eh1::MockError;
    use embedded_hal_mock::eh1::delay::{CheckedDelay, Transaction as DelayTransaction};
    use embedded_hal_mock::eh1::digital::{Mock as PinMock, State, Transaction as PinTransaction};

    use super::*;

    /// The exact pin calls and delays a bus master is expected to make.
    ///
    /// Write-1 and write-0 slots make the same pin calls and differ only in
    /// their delays, so the delays are checked too: that is what pins down
    /// which bits (and so which bytes) were written.
    #[derive(Debug, Default)]
    pub(crate) struct Script {
        pins: Vec<PinTransaction>,
        delays: Vec<DelayTransaction>,
    }

    impl Script {
        pub(crate) fn new() -> Self {
            Script::default()
        }

        /// A reset cycle; `presence` is what the presence sample sees. The
        /// line reads high again at the end of the cycle.
        pub(crate) fn reset(self, presence: bool) -> Self {
            self.reset_ending(presence, true)
        }

        /// A reset cycle whose final check reads `high_at_end`.
        pub(crate) fn reset_ending(mut self, presence: bool, high_at_end: bool) -> Self {
            self.pins.extend([
                PinTransaction::set(State::Low),
                PinTransaction::set(State::High),
                PinTransaction::get(level(!presence)),
                PinTransaction::get(level(high_at_end)),
            ]);
            self.delays.extend([
                DelayTransaction::delay_us(480),
                DelayTransaction::delay_us(70),
                DelayTransaction::delay_us(410),
            ]);
            self
        }

        pub(crate) fn write_bit(mut self, bit: bool) -> Self {
            self.pins.extend([
                PinTransaction::set(State::Low),
                PinTransaction::set(State::High),
            ]);
            let (low_us, release_us) = if bit { (6, 64) } else { (60, 10) };
            self.delays.extend([
                DelayTransaction::delay_us(low_us),
                DelayTransaction::delay_us(release_us),
            ]);
            self
        }

        /// Writing `byte`, least significant bit first.
        pub(crate) fn write(self, byte: u8) -> Self {
            (0..8).fold(self, |script, bit_index| {
                script.write_bit(byte & (1 << bit_index) != 0)
            })
        }

        pub(crate) fn write_all(self, bytes: &[u8]) -> Self {
            bytes.iter().fold(self, |script, &byte| script.write(byte))
        }

        /// A read slot that the line answers with `bit`.
        pub(crate) fn read_bit(mut self, bit: bool) -> Self {
            self.pins.extend([
                PinTransaction::set(State::Low),
                PinTransaction::set(State::High),
                PinTransaction::get(level(bit)),
            ]);
            self.delays.extend([
                DelayTransaction::delay_us(6),
                DelayTransaction::delay_us(9),
                DelayTransaction::delay_us(55),
            ]);
            self
        }

        /// Reading `byte`, least significant bit first.
        pub(crate) fn read(self, byte: u8) -> Self {
            (0..8).fold(self, |script, bit_index| {
                script.read_bit(byte & (1 << bit_index) != 0)
            })
        }

        pub(crate) fn read_all(self, bytes: &[u8]) -> Self {
            bytes.iter().fold(self, |script, &byte| script.read(byte))
        }

        /// A bus that fails the test on any call not in the script.
        pub(crate) fn bus(&self) -> OneWire<PinMock, CheckedDelay> {
            OneWire::new(PinMock::new(&self.pins), CheckedDelay::new(&self.delays))
        }
    }

    fn level(high: bool) -> State {
        if high { State::High } else { State::Low }
    }

    /// Checks that the bus made every scripted call.
    pub(crate) fn finish(bus: OneWire<PinMock, CheckedDelay>) {
        let (mut pin, mut delay) = bus.release();
        pin.done();
        delay.done();
    }

    const EXAMPLE_ROM: [u8; 8] = [0x28, 0xFF, 0x4C, 0x09, 0x17, 0x13, 0x01, 0xC4];

    #[test]
    fn crc8_of_the_an27_example_rom_code() {
        // Maxim AN27's worked example: ROM 02 1C B8 01 00 00 00, CRC A2.
        assert_eq!(crc8(&[0x02, 0x1C, 0xB8, 0x01, 0x00, 0x00, 0x00]), 0xA2);
    }

    #[test]
    fn crc8_of_a_ds18b20_rom_code_and_its_self_check() {
        assert_eq!(crc8(&EXAMPLE_ROM[..7]), 0xC4);
        assert_eq!(
            crc8(&EXAMPLE_ROM),
            0,
            "data followed by its CRC checks to zero"
        );
        let rom = RomCode(EXAMPLE_ROM);
        assert!(rom.has_valid_crc());
        assert!(rom.is_valid());
        assert_eq!(rom.family_code(), 0x28);
        assert_eq!(rom.serial_number(), [0xFF, 0x4C, 0x09, 0x17, 0x13, 0x01]);
        assert_eq!(rom.crc(), 0xC4);
    }

    #[test]
    fn crc8_of_the_ds18b20_power_on_scratchpad() {
        // 85 °C, TH 75, TL 70, 12 bits: what every DS18B20 holds before its
        // first conversion, with the CRC byte the datasheet shows.
        assert_eq!(
            crc8(&[0x50, 0x05, 0x4B, 0x46, 0x7F, 0xFF, 0x0C, 0x10]),
            0x1C
        );
    }

    #[test]
    fn crc8_of_nothing_and_of_zeros_is_zero() {
        assert_eq!(crc8(&[]), 0);
        assert_eq!(crc8(&[0; 8]), 0);
    }

    #[test]
    fn crc8_of_a_line_stuck_high_is_not_0xff() {
        // Eight bytes of 0xFF followed by a "CRC" of 0xFF must fail.
        assert_eq!(crc8(&[0xFF; 8]), 0xC9);
        assert_ne!(crc8(&[0xFF; 9]), 0);
    }

    #[test]
    fn all_zero_rom_code_passes_the_crc_but_is_not_valid() {
        let rom = RomCode([0; 8]);
        assert!(rom.has_valid_crc());
        assert!(!rom.is_valid());
    }

    #[test]
    fn rom_code_with_a_flipped_bit_fails_the_crc() {
        let mut code = EXAMPLE_ROM;
        code[7] ^= 0x01;
        assert!(!RomCode(code).has_valid_crc());
        assert!(!RomCode(code).is_valid());
    }

    #[test]
    fn rom_code_displays_like_linux_w1() {
        let mut text = heapless::String::<32>::new();
        core::fmt::write(&mut text, format_args!("{}", RomCode(EXAMPLE_ROM))).unwrap();
        assert_eq!(text.as_str(), "28-011317094cff");
    }

    #[test]
    fn reset_with_presence_uses_the_an126_timings() {
        let mut bus = Script::new().reset(true).bus();
        assert_eq!(bus.reset(), Ok(true));
        finish(bus);
    }

    #[test]
    fn reset_without_presence() {
        let mut bus = Script::new().reset(false).bus();
        assert_eq!(bus.reset(), Ok(false));
        finish(bus);
    }

    #[test]
    fn reset_on_a_line_that_stays_low_is_an_error_not_a_presence() {
        let mut bus = Script::new().reset_ending(true, false).bus();
        assert_eq!(bus.reset(), Err(OneWireError::BusStuckLow));
        finish(bus);
    }

    #[test]
    fn pin_errors_are_passed_on() {
        let error = MockError::Io(std::io::ErrorKind::Other);
        let pin = PinMock::new(&[PinTransaction::set(State::Low).with_error(error.clone())]);
        let mut bus = OneWire::new(pin, CheckedDelay::new(&[]));
        assert_eq!(bus.reset(), Err(OneWireError::Pin(error)));
        finish(bus);
    }

    #[test]
    fn write_bit_one_and_zero_use_the_an126_timings() {
        let mut bus = Script::new().write_bit(true).write_bit(false).bus();
        bus.write_bit(true).unwrap();
        bus.write_bit(false).unwrap();
        finish(bus);
    }

    #[test]
    fn write_byte_sends_the_least_significant_bit_first() {
        // 0xA6 = 1010_0110 goes out as 0,1,1,0,0,1,0,1.
        let mut script = Script::new();
        for bit in [false, true, true, false, false, true, false, true] {
            script = script.write_bit(bit);
        }
        let mut bus = script.bus();
        bus.write_byte(0xA6).unwrap();
        finish(bus);
    }

    #[test]
    fn write_byte_with_the_bits_reversed_would_not_match() {
        // The script of 0x65 (0xA6 mirrored) must differ from that of 0xA6,
        // or the previous test could not tell the bit orders apart.
        let forward = Script::new().write(0xA6);
        let mirrored = Script::new().write(0x65);
        assert_ne!(forward.delays, mirrored.delays);
    }

    #[test]
    fn read_bit_samples_nine_microseconds_after_release() {
        let mut bus = Script::new().read_bit(false).read_bit(true).bus();
        assert_eq!(bus.read_bit(), Ok(false));
        assert_eq!(bus.read_bit(), Ok(true));
        finish(bus);
    }

    #[test]
    fn read_byte_assembles_the_least_significant_bit_first() {
        // 0x3C = 0011_1100 arrives as 0,0,1,1,1,1,0,0.
        let mut script = Script::new();
        for bit in [false, false, true, true, true, true, false, false] {
            script = script.read_bit(bit);
        }
        let mut bus = script.bus();
        assert_eq!(bus.read_byte(), Ok(0x3C));
        finish(bus);
    }

    #[test]
    fn skip_rom_resets_and_sends_0xcc() {
        let mut bus = Script::new().reset(true).write(0xCC).bus();
        bus.skip_rom().unwrap();
        finish(bus);
    }

    #[test]
    fn skip_rom_without_presence_sends_nothing() {
        let mut bus = Script::new().reset(false).bus();
        assert_eq!(bus.skip_rom(), Err(OneWireError::NoPresence));
        finish(bus);
    }

    #[test]
    fn match_rom_sends_0x55_and_the_code() {
        let mut bus = Script::new()
            .reset(true)
            .write(0x55)
            .write_all(&EXAMPLE_ROM)
            .bus();
        bus.match_rom(&RomCode(EXAMPLE_ROM)).unwrap();
        finish(bus);
    }

    #[test]
    fn read_rom_returns_a_valid_code() {
        let mut bus = Script::new()
            .reset(true)
            .write(0x33)
            .read_all(&EXAMPLE_ROM)
            .bus();
        assert_eq!(bus.read_rom(), Ok(RomCode(EXAMPLE_ROM)));
        finish(bus);
    }

    #[test]
    fn read_rom_rejects_a_bad_crc() {
        let mut code = EXAMPLE_ROM;
        code[7] = 0;
        let mut bus = Script::new().reset(true).write(0x33).read_all(&code).bus();
        assert_eq!(bus.read_rom(), Err(OneWireError::BadRomCrc));
        finish(bus);
    }

    #[test]
    fn read_rom_without_presence() {
        let mut bus = Script::new().reset(false).bus();
        assert_eq!(bus.read_rom(), Err(OneWireError::NoPresence));
        finish(bus);
    }

    /// Appends one search pass over the devices `codes` (all on the bus,
    /// wired-AND) in which the master takes `choices` at the branches, in
    /// order, and returns the code it ends up with.
    fn search_pass(
        mut script: Script,
        command: u8,
        codes: &[[u8; 8]],
        choices: &[bool],
    ) -> (Script, [u8; 8]) {
        script = script.reset(true).write(command);
        let mut taking_part: Vec<[u8; 8]> = codes.to_vec();
        let mut choices = choices.iter();
        let mut followed = [0u8; 8];
        for bit_index in 0..64 {
            let bit_of = |code: &[u8; 8]| code[bit_index / 8] & (1 << (bit_index % 8)) != 0;
            let any_zero = taking_part.iter().any(|code| !bit_of(code));
            let any_one = taking_part.iter().any(bit_of);
            // The id bit reads 0 if any device sends 0; the complement bit
            // reads 0 if any device has a 1.
            script = script.read_bit(!any_zero).read_bit(!any_one);
            let direction = if any_zero && any_one {
                *choices.next().expect("a choice for every branch")
            } else {
                any_one
            };
            script = script.write_bit(direction);
            if direction {
                followed[bit_index / 8] |= 1 << (bit_index % 8);
            }
            taking_part.retain(|code| bit_of(code) == direction);
        }
        (script, followed)
    }

    fn code_with_serial(serial: u8) -> [u8; 8] {
        let mut code = [0x28, serial, 0, 0, 0, 0, 0, 0];
        code[7] = crc8(&code[..7]);
        code
    }

    #[test]
    fn search_finds_the_only_device_and_then_stops() {
        let code = code_with_serial(0x5A);
        let (script, followed) = search_pass(Script::new(), 0xF0, &[code], &[]);
        assert_eq!(followed, code);
        let mut bus = script.bus();
        let mut search = DeviceSearch::new();
        assert_eq!(bus.search(&mut search), Ok(Some(RomCode(code))));
        assert!(search.is_finished());
        assert_eq!(
            bus.search(&mut search),
            Ok(None),
            "no bus traffic once finished"
        );
        finish(bus);
    }

    #[test]
    fn search_finds_two_devices_taking_the_zero_branch_first() {
        // Serials 0x01 and 0x03 first differ at bit 10 (byte 1, bit 1); the
        // CRC bytes differ too, but by then only one device is left.
        let low = code_with_serial(0x01);
        let high = code_with_serial(0x03);
        let (script, first) = search_pass(Script::new(), 0xF0, &[high, low], &[false]);
        let (script, second) = search_pass(script, 0xF0, &[high, low], &[true]);
        assert_eq!((first, second), (low, high));
        let mut bus = script.bus();
        let mut search = DeviceSearch::new();
        assert_eq!(bus.search(&mut search), Ok(Some(RomCode(low))));
        assert!(!search.is_finished());
        assert_eq!(bus.search(&mut search), Ok(Some(RomCode(high))));
        assert!(search.is_finished());
        finish(bus);
    }

    #[test]
    fn search_finds_three_devices_in_tree_order() {
        // 0x01, 0x03 and 0x02 branch at bit 9 (0x01/0x03 vs 0x02), then the
        // first two branch again at bit 10.
        let codes = [
            code_with_serial(0x02),
            code_with_serial(0x03),
            code_with_serial(0x01),
        ];
        let (script, first) = search_pass(Script::new(), 0xF0, &codes, &[false]);
        let (script, second) = search_pass(script, 0xF0, &codes, &[true, false]);
        let (script, third) = search_pass(script, 0xF0, &codes, &[true, true]);
        assert_eq!(first, code_with_serial(0x02));
        assert_eq!(second, code_with_serial(0x01));
        assert_eq!(third, code_with_serial(0x03));
        let mut bus = script.bus();
        let found = bus.search_all::<4>().unwrap();
        assert_eq!(
            found.as_slice(),
            &[RomCode(first), RomCode(second), RomCode(third)]
        );
        finish(bus);
    }

    #[test]
    fn search_without_presence_finds_nothing() {
        let mut bus = Script::new().reset(false).bus();
        let mut search = DeviceSearch::new();
        assert_eq!(bus.search(&mut search), Ok(None));
        assert!(search.is_finished());
        finish(bus);
    }

    #[test]
    fn alarm_search_with_no_alarmed_device_finds_nothing() {
        // The sensor answers the reset but does not take part in 0xEC.
        let mut bus = Script::new()
            .reset(true)
            .write(0xEC)
            .read_bit(true)
            .read_bit(true)
            .bus();
        let mut search = DeviceSearch::alarmed();
        assert_eq!(bus.search(&mut search), Ok(None));
        finish(bus);
    }

    #[test]
    fn search_where_a_device_vanishes_mid_way_is_an_error() {
        let mut bus = Script::new()
            .reset(true)
            .write(0xF0)
            // Bit 0: the device sends 0 and its complement 1; the master follows.
            .read_bit(false)
            .read_bit(true)
            .write_bit(false)
            // Bit 1: nobody answers.
            .read_bit(true)
            .read_bit(true)
            .bus();
        let mut search = DeviceSearch::new();
        assert_eq!(bus.search(&mut search), Err(OneWireError::SearchNoResponse));
        assert!(search.is_finished());
        assert_eq!(bus.search(&mut search), Ok(None));
        finish(bus);
    }

    #[test]
    fn search_all_fails_when_the_result_is_too_small() {
        let codes = [code_with_serial(0x01), code_with_serial(0x03)];
        let (script, _) = search_pass(Script::new(), 0xF0, &codes, &[false]);
        let (script, _) = search_pass(script, 0xF0, &codes, &[true]);
        let mut bus = script.bus();
        assert_eq!(bus.search_all::<1>(), Err(OneWireError::TooManyDevices));
        finish(bus);
    }
}
