//! The firmware's real 1-Wire master and DS18B20 driver against the
//! simulated line and the behavioural DS18B20 model.
//!
//! Nothing here scripts the bus: the driver bit-bangs the master pin, its
//! `VirtualDelay` moves the device clock, and the model answers from the
//! edges it sees. Where the driver returns a wait, the test advances the
//! clock by it, as an app's state machine would.

use std::time::Duration;

use embedded_hal::delay::DelayNs;
use embedded_hal::digital::{InputPin, OutputPin};
use hilt_firmware::ds18b20::{Ds18b20, Ds18b20Error, Resolution, Temperature};
use hilt_firmware::onewire::{DeviceSearch, OneWire, OneWireError, RomCode};
use hilt_sim::clock::{VirtualClock, VirtualDelay};
use hilt_sim::ds18b20::{Ds18b20Fault, Ds18b20Handle, Ds18b20Model};
use hilt_sim::onewire::{OneWireLine, OneWireMasterPin};

type Bus = OneWire<OneWireMasterPin, VirtualDelay>;
type Sensor = Ds18b20<OneWireMasterPin, VirtualDelay>;

/// A device clock and a line with one DS18B20 per serial.
struct Bench {
    clock: VirtualClock,
    line: OneWireLine,
    sensors: Vec<Ds18b20Handle>,
}

impl Bench {
    fn new(serials: &[u64]) -> Self {
        let clock = VirtualClock::new();
        let line = OneWireLine::new(clock.clone());
        let sensors = serials
            .iter()
            .map(|&serial| Ds18b20Model::attach(&line, serial))
            .collect();
        Bench {
            clock,
            line,
            sensors,
        }
    }

    fn bus(&self) -> Bus {
        OneWire::new(
            self.line.master_pin(),
            VirtualDelay::new(self.clock.clone()),
        )
    }

    /// The driver for the only sensor, addressed with SKIP ROM.
    fn sensor(&self) -> Sensor {
        Ds18b20::new(self.bus())
    }

    fn wait(&self, duration: Duration) {
        self.clock.advance_nanos(duration.as_nanos() as u64);
    }

    fn now_micros(&self) -> u64 {
        self.clock.now_nanos() / 1_000
    }
}

/// Converts and reads, waiting exactly the time the driver asks for.
fn measure(
    bench: &Bench,
    sensor: &mut Sensor,
) -> Result<Temperature, Ds18b20Error<core::convert::Infallible>> {
    let wait = sensor.start_conversion()?;
    bench.wait(wait);
    sensor.read_temperature()
}

#[test]
fn reads_22_5_degrees() {
    let bench = Bench::new(&[1]);
    bench.sensors[0].set_temperature(22.5).unwrap();
    let mut sensor = bench.sensor();
    let temperature = measure(&bench, &mut sensor).unwrap();
    assert_eq!(temperature.as_celsius_f32(), 22.5);
    assert_eq!(temperature.as_fahrenheit_f32(), 72.5);
}

#[test]
fn reads_negative_and_extreme_temperatures() {
    let bench = Bench::new(&[1]);
    let mut sensor = bench.sensor();
    for celsius in [-10.5, -10.125, -55.0, 125.0, 0.0, -0.0625, 85.0] {
        bench.sensors[0].set_temperature(celsius).unwrap();
        let temperature = measure(&bench, &mut sensor).unwrap();
        assert_eq!(f64::from(temperature.as_celsius_f32()), celsius);
    }
}

#[test]
fn reads_85_degrees_at_power_on_before_any_conversion() {
    let bench = Bench::new(&[1]);
    bench.sensors[0].set_temperature(22.5).unwrap();
    let mut sensor = bench.sensor();
    assert_eq!(sensor.read_temperature(), Ok(Temperature::POWER_ON));
    // After a power cycle the sensor is back at its power-on value.
    measure(&bench, &mut sensor).unwrap();
    bench.sensors[0].power_cycle();
    assert_eq!(sensor.read_temperature(), Ok(Temperature::POWER_ON));
}

#[test]
fn each_resolution_converts_in_its_datasheet_time_and_step() {
    let cases = [
        (Resolution::Bits9, 93_750, 22.0),
        (Resolution::Bits10, 187_500, 22.25),
        (Resolution::Bits11, 375_000, 22.125),
        (Resolution::Bits12, 750_000, 22.1875),
    ];
    let bench = Bench::new(&[1]);
    // 22.16 °C quantises differently at each resolution.
    bench.sensors[0].set_temperature(22.16).unwrap();
    let mut sensor = bench.sensor();
    for (resolution, micros, celsius) in cases {
        sensor.set_resolution(resolution).unwrap();
        assert_eq!(bench.sensors[0].resolution_bits(), resolution.bits());
        let wait = sensor.start_conversion().unwrap();
        assert_eq!(wait, Duration::from_micros(micros));
        // The sensor starts converting as CONVERT T's last bit arrives, 10 µs
        // before the driver's write slot ends: a microsecond before the
        // datasheet time from then it is still converting, and once the
        // driver's wait is over it is done.
        bench.wait(wait - Duration::from_micros(11));
        assert!(bench.sensors[0].is_converting(), "{resolution:?}");
        bench.wait(Duration::from_micros(11));
        assert!(!bench.sensors[0].is_converting(), "{resolution:?}");
        let temperature = sensor.read_temperature().unwrap();
        assert_eq!(temperature.as_celsius_f32(), celsius, "{resolution:?}");
    }
}

#[test]
fn set_resolution_keeps_the_alarm_thresholds() {
    let bench = Bench::new(&[1]);
    let mut sensor = bench.sensor();
    sensor.set_resolution(Resolution::Bits10).unwrap();
    let scratchpad = bench.sensors[0].scratchpad();
    assert_eq!(&scratchpad[2..5], &[0x4B, 0x46, 0x3F]);
    // The setting is in the scratchpad only; the EEPROM is untouched.
    assert_eq!(bench.sensors[0].eeprom(), [0x4B, 0x46, 0x7F]);
}

#[test]
fn the_scratchpad_read_during_a_conversion_holds_the_previous_result() {
    let bench = Bench::new(&[1]);
    let handle = &bench.sensors[0];
    let mut sensor = bench.sensor();
    handle.set_temperature(21.0).unwrap();
    measure(&bench, &mut sensor).unwrap();

    handle.set_temperature(30.0).unwrap();
    let wait = sensor.start_conversion().unwrap();
    bench.wait(wait / 2);
    assert_eq!(sensor.read_temperature().unwrap().as_celsius_f32(), 21.0);
    bench.wait(wait / 2);
    assert_eq!(sensor.read_temperature().unwrap().as_celsius_f32(), 30.0);
}

#[test]
fn the_result_is_the_temperature_when_the_conversion_ends() {
    let bench = Bench::new(&[1]);
    let handle = &bench.sensors[0];
    let mut sensor = bench.sensor();
    handle.set_temperature(10.0).unwrap();
    let wait = sensor.start_conversion().unwrap();
    bench.wait(wait / 2);
    handle.set_temperature(12.0).unwrap();
    bench.wait(wait / 2);
    // A later change does not reach a conversion that has already ended.
    handle.set_temperature(14.0).unwrap();
    assert_eq!(sensor.read_temperature().unwrap().as_celsius_f32(), 12.0);
    assert_eq!(handle.conversions_completed(), 1);
}

#[test]
fn read_slots_after_convert_t_answer_0_until_done() {
    let bench = Bench::new(&[1]);
    let mut sensor = bench.sensor();
    sensor.set_resolution(Resolution::Bits9).unwrap();
    sensor.start_conversion().unwrap();
    let started = bench.now_micros();
    let mut slots = 0u32;
    while !sensor.conversion_done().unwrap() {
        slots += 1;
        assert!(slots < 10_000, "the conversion never ended");
        bench.wait(Duration::from_millis(1));
    }
    let elapsed = bench.now_micros() - started;
    assert!(slots > 0, "the first slot came during the conversion");
    assert!(
        (93_750 - 10..93_750 + 1_100).contains(&elapsed),
        "done after {elapsed} µs"
    );
}

#[test]
fn a_full_reading_costs_this_much_device_time() {
    let bench = Bench::new(&[1]);
    let mut sensor = bench.sensor();

    let before = bench.now_micros();
    let wait = sensor.start_conversion().unwrap();
    // Reset cycle 960 µs, then SKIP ROM and CONVERT T: 16 slots of 70 µs.
    assert_eq!(bench.now_micros() - before, 960 + 16 * 70);
    bench.wait(wait);

    let before = bench.now_micros();
    sensor.read_temperature().unwrap();
    // Reset, SKIP ROM and READ SCRATCHPAD, then 72 read slots.
    assert_eq!(bench.now_micros() - before, 960 + 16 * 70 + 72 * 70);

    let rom = bench.sensors[0].rom_code();
    let mut addressed = Ds18b20::with_address(sensor.release(), rom);
    let before = bench.now_micros();
    addressed.read_temperature().unwrap();
    // MATCH ROM adds the 64 bits of the ROM code.
    assert_eq!(bench.now_micros() - before, 960 + 80 * 70 + 72 * 70);
}

#[test]
fn a_disconnected_sensor_is_missing_and_comes_back() {
    let bench = Bench::new(&[1]);
    let handle = &bench.sensors[0];
    handle.set_temperature(22.5).unwrap();
    let mut sensor = bench.sensor();
    handle.set_fault(Some(Ds18b20Fault::Disconnected));
    assert_eq!(sensor.start_conversion(), Err(Ds18b20Error::SensorMissing));
    assert_eq!(sensor.read_temperature(), Err(Ds18b20Error::SensorMissing));
    assert!(bench.line.is_high(), "a cut line floats high");

    handle.set_fault(None);
    assert_eq!(measure(&bench, &mut sensor).unwrap().as_celsius_f32(), 22.5);
}

#[test]
fn a_crc_error_is_reported_with_both_crcs() {
    let bench = Bench::new(&[1]);
    let handle = &bench.sensors[0];
    let mut sensor = bench.sensor();
    handle.set_fault(Some(Ds18b20Fault::CrcError));
    let correct_crc = handle.scratchpad()[8];
    assert_eq!(
        sensor.read_temperature(),
        Err(Ds18b20Error::CrcMismatch {
            expected: !correct_crc,
            computed: correct_crc
        })
    );
    handle.set_fault(None);
    assert_eq!(sensor.read_temperature(), Ok(Temperature::POWER_ON));
}

#[test]
fn a_sensor_silent_after_presence_reads_all_ff_and_fails_the_crc() {
    let bench = Bench::new(&[1]);
    let handle = &bench.sensors[0];
    let mut sensor = bench.sensor();
    handle.set_fault(Some(Ds18b20Fault::PresenceOnly));
    assert_eq!(
        sensor.read_temperature(),
        Err(Ds18b20Error::CrcMismatch {
            expected: 0xFF,
            computed: 0xC9
        })
    );
    // And it shows as such on the raw bus: presence, then nothing.
    let mut bus = sensor.release();
    bus.skip_rom().unwrap();
    bus.write_byte(0xBE).unwrap();
    let mut bytes = [0u8; 9];
    bus.read_bytes(&mut bytes).unwrap();
    assert_eq!(bytes, [0xFF; 9]);
}

#[test]
fn a_line_shorted_to_ground_is_a_bus_error_not_zero_degrees() {
    let bench = Bench::new(&[1]);
    let mut sensor = bench.sensor();
    bench.sensors[0].set_fault(Some(Ds18b20Fault::ShortedToGround));
    assert_eq!(
        sensor.read_temperature(),
        Err(Ds18b20Error::Bus(OneWireError::BusStuckLow))
    );
}

#[test]
fn read_rom_returns_the_code_of_the_only_sensor() {
    let bench = Bench::new(&[0x0113_1709_4CFF]);
    let mut bus = bench.bus();
    let rom = bus.read_rom().unwrap();
    assert_eq!(rom, bench.sensors[0].rom_code());
    assert_eq!(rom.0, [0x28, 0xFF, 0x4C, 0x09, 0x17, 0x13, 0x01, 0xC4]);
}

#[test]
fn read_rom_with_two_sensors_collides_and_fails_the_crc() {
    let bench = Bench::new(&[0x01, 0x02]);
    assert_eq!(bench.bus().read_rom(), Err(OneWireError::BadRomCrc));
}

#[test]
fn search_finds_one_sensor() {
    let bench = Bench::new(&[0xABCDEF]);
    let mut bus = bench.bus();
    let mut search = DeviceSearch::new();
    assert_eq!(
        bus.search(&mut search),
        Ok(Some(bench.sensors[0].rom_code()))
    );
    assert_eq!(bus.search(&mut search), Ok(None));
}

#[test]
fn search_finds_two_sensors_on_one_line() {
    let bench = Bench::new(&[0x1234_5678_9ABC, 0x0000_0000_0001]);
    let mut found: Vec<RomCode> = bench.bus().search_all::<4>().unwrap().to_vec();
    found.sort();
    let mut expected: Vec<RomCode> = bench.sensors.iter().map(Ds18b20Handle::rom_code).collect();
    expected.sort();
    assert_eq!(found, expected);
}

#[test]
fn search_finds_many_sensors_and_an_empty_line_has_none() {
    let serials: Vec<u64> = (0..8).map(|n| 0x1000 + n * 0x0101_0101).collect();
    let bench = Bench::new(&serials);
    let found = bench.bus().search_all::<8>().unwrap();
    assert_eq!(found.len(), 8);
    for handle in &bench.sensors {
        assert!(found.contains(&handle.rom_code()));
    }

    let empty = Bench::new(&[]);
    assert_eq!(empty.bus().search_all::<8>().unwrap().len(), 0);
}

#[test]
fn a_search_pass_costs_this_much_device_time() {
    let bench = Bench::new(&[1]);
    let mut bus = bench.bus();
    let before = bench.now_micros();
    bus.search(&mut DeviceSearch::new()).unwrap().unwrap();
    // Reset, SEARCH ROM, then 64 × (two read slots and one write slot).
    assert_eq!(bench.now_micros() - before, 960 + 8 * 70 + 64 * 3 * 70);
}

#[test]
fn match_rom_reads_each_of_two_sensors() {
    let bench = Bench::new(&[0x11, 0x22]);
    bench.sensors[0].set_temperature(18.25).unwrap();
    bench.sensors[1].set_temperature(-3.5).unwrap();
    // SKIP ROM with CONVERT T starts both at once.
    let mut bus = bench.bus();
    bus.skip_rom().unwrap();
    bus.write_byte(0x44).unwrap();
    bench.wait(Resolution::Bits12.conversion_time());

    let mut first = Ds18b20::with_address(bus, bench.sensors[0].rom_code());
    assert_eq!(first.read_temperature().unwrap().as_celsius_f32(), 18.25);
    let mut second = Ds18b20::with_address(first.release(), bench.sensors[1].rom_code());
    assert_eq!(second.read_temperature().unwrap().as_celsius_f32(), -3.5);
}

#[test]
fn match_rom_with_an_unknown_code_selects_nobody() {
    let bench = Bench::new(&[0x11]);
    let mut other = bench.sensors[0].rom_code();
    other.0[1] ^= 0x01;
    other.0[7] = hilt_firmware::onewire::crc8(&other.0[..7]);
    let mut sensor = Ds18b20::with_address(bench.bus(), other);
    // Nobody drives the line, so the scratchpad reads as all 0xFF.
    assert!(matches!(
        sensor.read_temperature(),
        Err(Ds18b20Error::CrcMismatch { expected: 0xFF, .. })
    ));
}

#[test]
fn alarm_search_finds_only_sensors_outside_tl_to_th() {
    // Factory thresholds: TL 70 °C, TH 75 °C.
    let bench = Bench::new(&[0x01, 0x02, 0x03]);
    bench.sensors[0].set_temperature(22.5).unwrap();
    bench.sensors[1].set_temperature(72.0).unwrap();
    bench.sensors[2].set_temperature(80.0).unwrap();
    let mut bus = bench.bus();

    let mut search = DeviceSearch::alarmed();
    assert_eq!(bus.search(&mut search), Ok(None), "no conversion, no alarm");

    bus.skip_rom().unwrap();
    bus.write_byte(0x44).unwrap();
    bench.wait(Resolution::Bits12.conversion_time());

    let mut found = Vec::new();
    let mut search = DeviceSearch::alarmed();
    while let Some(rom) = bus.search(&mut search).unwrap() {
        found.push(rom);
    }
    found.sort();
    let mut expected = vec![bench.sensors[0].rom_code(), bench.sensors[2].rom_code()];
    expected.sort();
    assert_eq!(found, expected);
}

#[test]
fn copy_scratchpad_and_recall_use_the_eeprom() {
    let bench = Bench::new(&[1]);
    let handle = &bench.sensors[0];
    let mut sensor = bench.sensor();
    sensor.set_resolution(Resolution::Bits9).unwrap();

    let mut bus = sensor.release();
    bus.skip_rom().unwrap();
    bus.write_byte(0x48).unwrap();
    let started = bench.now_micros();
    while !bus.read_bit().unwrap() {
        assert!(
            bench.now_micros() - started < 20_000,
            "the copy never ended"
        );
    }
    let elapsed = bench.now_micros() - started;
    assert!(
        (10_000..10_100).contains(&elapsed),
        "copied in {elapsed} µs"
    );
    assert_eq!(handle.eeprom(), [0x4B, 0x46, 0x1F]);

    // Change the scratchpad, then RECALL E² brings the EEPROM values back.
    bus.skip_rom().unwrap();
    bus.write_bytes(&[0x4E, 0x10, 0x05, 0x7F]).unwrap();
    assert_eq!(&handle.scratchpad()[2..5], &[0x10, 0x05, 0x7F]);
    bus.skip_rom().unwrap();
    bus.write_byte(0xB8).unwrap();
    assert!(bus.read_bit().unwrap(), "recall is done at once");
    assert_eq!(&handle.scratchpad()[2..5], &[0x4B, 0x46, 0x1F]);

    // A power cycle loads the EEPROM too: the sensor comes back at 9 bits.
    handle.power_cycle();
    let mut sensor = Ds18b20::new(bus);
    assert_eq!(sensor.read_temperature(), Ok(Temperature::POWER_ON));
    assert_eq!(sensor.resolution(), Resolution::Bits9);
    assert_eq!(handle.resolution_bits(), 9);
}

#[test]
fn write_scratchpad_keeps_the_fixed_configuration_bits() {
    let bench = Bench::new(&[1]);
    let mut bus = bench.bus();
    bus.skip_rom().unwrap();
    bus.write_bytes(&[0x4E, 0x01, 0x02, 0xFF]).unwrap();
    assert_eq!(&bench.sensors[0].scratchpad()[2..5], &[0x01, 0x02, 0x7F]);
    bus.skip_rom().unwrap();
    bus.write_bytes(&[0x4E, 0x01, 0x02, 0x00]).unwrap();
    assert_eq!(&bench.sensors[0].scratchpad()[2..5], &[0x01, 0x02, 0x1F]);
}

#[test]
fn the_sensor_is_externally_powered() {
    let bench = Bench::new(&[1]);
    assert_eq!(bench.sensor().is_parasite_powered(), Ok(false));
}

/// A delay that stretches or shrinks every wait, to play a master with
/// other (but still plausible) timings.
struct ScaledDelay {
    clock: VirtualClock,
    percent: u64,
}

impl DelayNs for ScaledDelay {
    fn delay_ns(&mut self, ns: u32) {
        self.clock.advance_nanos(u64::from(ns) * self.percent / 100);
    }
}

fn read_with_scaled_timing(
    percent: u64,
) -> Result<Temperature, Ds18b20Error<core::convert::Infallible>> {
    let bench = Bench::new(&[1]);
    bench.sensors[0].set_temperature(22.5).unwrap();
    let delay = ScaledDelay {
        clock: bench.clock.clone(),
        percent,
    };
    let mut sensor = Ds18b20::new(OneWire::new(bench.line.master_pin(), delay));
    let wait = sensor.start_conversion()?;
    bench.wait(wait);
    sensor.read_temperature()
}

#[test]
fn the_model_tolerates_timings_within_the_datasheet_windows() {
    // 100 % to 150 %: reset 480..720 µs, write-0 low 60..90 µs, write-1 low
    // 6..9 µs, read sample 15..22.5 µs after the falling edge. All fine.
    for percent in [100, 110, 125, 150] {
        let temperature = read_with_scaled_timing(percent)
            .unwrap_or_else(|error| panic!("{percent} %: {error:?}"));
        assert_eq!(temperature.as_celsius_f32(), 22.5, "{percent} %");
    }
}

#[test]
fn the_model_rejects_timings_outside_the_datasheet_windows() {
    // 90 %: a 432 µs reset pulse is too short to be a reset.
    assert_eq!(
        read_with_scaled_timing(90),
        Err(Ds18b20Error::SensorMissing)
    );
    // 250 %: write-0 slots are 150 µs low (not a bit) and read slots are
    // sampled 37.5 µs in, after the sensor let go.
    assert!(read_with_scaled_timing(250).is_err());
}

#[test]
fn nonsense_on_the_line_never_panics_and_a_reset_recovers() {
    let bench = Bench::new(&[7, 8]);
    bench.sensors[0].set_temperature(-20.0).unwrap();
    let mut pin = bench.line.master_pin();
    let mut seed = 0x2545_F491_4F6C_DD1Du64;
    for _ in 0..20_000 {
        // xorshift: a fixed pseudo-random sequence of pin calls and waits.
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        match seed % 4 {
            0 => pin.set_low().unwrap(),
            1 => pin.set_high().unwrap(),
            2 => {
                let _ = pin.is_high().unwrap();
            }
            _ => bench.clock.advance_nanos((seed >> 8) % 1_000_000),
        }
    }
    pin.set_high().unwrap();
    bench.wait(Duration::from_millis(1));

    let mut sensor = Ds18b20::with_address(bench.bus(), bench.sensors[0].rom_code());
    assert_eq!(
        measure(&bench, &mut sensor).unwrap().as_celsius_f32(),
        -20.0
    );
    let found = sensor.release().search_all::<4>().unwrap();
    assert_eq!(found.len(), 2);
}

#[test]
fn faults_and_settings_can_change_mid_transaction_without_panics() {
    let bench = Bench::new(&[1]);
    let handle = bench.sensors[0].clone();
    let mut bus = bench.bus();
    bus.skip_rom().unwrap();
    bus.write_byte(0xBE).unwrap();
    let _ = bus.read_byte().unwrap();
    handle.set_fault(Some(Ds18b20Fault::Disconnected));
    assert_eq!(bus.read_byte(), Ok(0xFF));
    handle.set_fault(None);
    // The interrupted transaction is over; the sensor waits for a reset.
    assert_eq!(bus.read_byte(), Ok(0xFF));
    let mut sensor = Ds18b20::new(bus);
    assert_eq!(sensor.read_temperature(), Ok(Temperature::POWER_ON));
    assert_eq!(handle.fault(), None);
}

#[test]
fn repeating_the_fault_in_effect_does_not_disturb_a_polled_conversion() {
    let bench = Bench::new(&[1]);
    let mut sensor = bench.sensor();
    sensor.start_conversion().unwrap();
    bench.sensors[0].set_fault(None);
    assert_eq!(sensor.conversion_done(), Ok(false));
    bench.wait(Resolution::Bits12.conversion_time());
    bench.sensors[0].set_fault(None);
    assert_eq!(sensor.conversion_done(), Ok(true));
}
