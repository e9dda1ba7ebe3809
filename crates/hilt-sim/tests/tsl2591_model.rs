//! The firmware's real TSL2591 driver against the behavioural TSL2591 model
//! on the simulated I2C bus.
//!
//! Nothing here scripts the bus: the driver sends its command bytes, the
//! model answers from its register file, and integrations end in device
//! time. Where the driver returns a wait, the test spends it with a
//! `VirtualDelay`, as an app's state machine would let the clock run.

use std::time::Duration;

use embedded_hal::delay::DelayNs;
use embedded_hal::i2c::{I2c, Operation};
use hilt_firmware::sensors::{LightSensor, LightSensorError};
use hilt_firmware::tsl2591::{Gain, IntegrationTime, Tsl2591, Tsl2591Error};
use hilt_sim::clock::{VirtualClock, VirtualDelay};
use hilt_sim::i2c::{I2cBus, I2cError, I2cMaster};
use hilt_sim::tsl2591::{Tsl2591Fault, Tsl2591Handle, Tsl2591Model};

type Sensor = Tsl2591<I2cMaster>;
type SensorError = Tsl2591Error<I2cError>;

/// A device clock and a bus with one TSL2591 on it.
struct Bench {
    clock: VirtualClock,
    bus: I2cBus,
    part: Tsl2591Handle,
}

impl Bench {
    fn new() -> Self {
        let clock = VirtualClock::new();
        let bus = I2cBus::new();
        let part = Tsl2591Model::attach(&bus, clock.clone());
        Bench { clock, bus, part }
    }

    fn sensor(&self, gain: Gain, integration_time: IntegrationTime) -> Sensor {
        Tsl2591::with_config(self.bus.master(), gain, integration_time)
    }

    /// Lets `duration` of device time pass, through the firmware's delay.
    fn wait(&self, duration: Duration) {
        let nanos = u32::try_from(duration.as_nanos()).expect("waits here are short");
        VirtualDelay::new(self.clock.clone()).delay_ns(nanos);
    }
}

/// Starts a measurement and reads it after exactly the wait the driver
/// asked for.
fn measure(bench: &Bench, sensor: &mut Sensor) -> Result<f32, SensorError> {
    let wait = sensor.start_measurement()?;
    bench.wait(wait);
    sensor.read_lux()
}

fn assert_within_one_percent(read: f32, set: f64) {
    let error = (f64::from(read) - set).abs() / set;
    assert!(error <= 0.01, "read {read} lux for {set} lux");
}

#[test]
fn reads_the_set_lux_within_one_percent() {
    let cases = [
        (0.5, Gain::Maximum, IntegrationTime::Millis600),
        (0.5, Gain::Maximum, IntegrationTime::Millis100),
        (50.0, Gain::High, IntegrationTime::Millis300),
        (300.0, Gain::Medium, IntegrationTime::Millis100),
        (300.0, Gain::Medium, IntegrationTime::Millis400),
        (300.0, Gain::Low, IntegrationTime::Millis600),
        (10_000.0, Gain::Low, IntegrationTime::Millis100),
        (10_000.0, Gain::Low, IntegrationTime::Millis500),
        (60_000.0, Gain::Low, IntegrationTime::Millis100),
    ];
    for (lux, gain, integration_time) in cases {
        let bench = Bench::new();
        bench.part.set_lux(lux).unwrap();
        let mut sensor = bench.sensor(gain, integration_time);
        sensor.init().unwrap();
        let read = measure(&bench, &mut sensor)
            .unwrap_or_else(|error| panic!("{lux} lux at {gain:?}, {integration_time:?}: {error}"));
        assert_within_one_percent(read, lux);
    }
}

#[test]
fn init_writes_the_configuration_the_part_then_holds() {
    let bench = Bench::new();
    let mut sensor = bench.sensor(Gain::High, IntegrationTime::Millis500);
    sensor.init().unwrap();
    assert_eq!(bench.part.register(0x01), 0x24);
    assert_eq!(bench.part.register(0x00), 0x01);
    assert!(!bench.part.is_integrating());
    sensor.set_gain(Gain::Low).unwrap();
    sensor
        .set_integration_time(IntegrationTime::Millis200)
        .unwrap();
    assert_eq!(bench.part.register(0x01), 0x01);
}

#[test]
fn darkness_reads_zero() {
    let bench = Bench::new();
    let mut sensor = bench.sensor(Gain::Maximum, IntegrationTime::Millis600);
    sensor.init().unwrap();
    assert_eq!(measure(&bench, &mut sensor), Ok(0.0));
}

#[test]
fn reading_before_the_integration_completes_is_not_ready() {
    let bench = Bench::new();
    bench.part.set_lux(300.0).unwrap();
    let mut sensor = bench.sensor(Gain::Medium, IntegrationTime::Millis200);
    sensor.init().unwrap();
    let wait = sensor.start_measurement().unwrap();
    assert_eq!(wait, Duration::from_millis(240));
    assert_eq!(sensor.read_lux(), Err(Tsl2591Error::NotReady));
    bench.wait(Duration::from_millis(199));
    assert_eq!(sensor.measurement_ready(), Ok(false));
    assert_eq!(sensor.read_channels(), Err(Tsl2591Error::NotReady));
    bench.wait(Duration::from_millis(1));
    assert_eq!(sensor.measurement_ready(), Ok(true));
    assert_within_one_percent(sensor.read_lux().unwrap(), 300.0);
}

#[test]
fn each_measurement_waits_for_a_fresh_integration() {
    let bench = Bench::new();
    bench.part.set_lux(300.0).unwrap();
    let mut sensor = bench.sensor(Gain::Medium, IntegrationTime::Millis100);
    sensor.init().unwrap();
    assert_within_one_percent(measure(&bench, &mut sensor).unwrap(), 300.0);

    // The part kept integrating 300 lux; a new measurement must not hand
    // that back.
    bench.part.set_lux(1000.0).unwrap();
    sensor.start_measurement().unwrap();
    assert_eq!(sensor.read_lux(), Err(Tsl2591Error::NotReady));
    bench.wait(Duration::from_millis(120));
    assert_within_one_percent(sensor.read_lux().unwrap(), 1000.0);
}

#[test]
fn a_lux_change_during_the_wait_shows_in_the_result() {
    let bench = Bench::new();
    bench.part.set_lux(300.0).unwrap();
    let mut sensor = bench.sensor(Gain::Medium, IntegrationTime::Millis100);
    sensor.init().unwrap();
    let wait = sensor.start_measurement().unwrap();
    bench.wait(Duration::from_millis(50));
    bench.part.set_lux(600.0).unwrap();
    bench.wait(wait - Duration::from_millis(50));
    assert_within_one_percent(sensor.read_lux().unwrap(), 600.0);
}

#[test]
fn a_nack_fault_is_nack() {
    let bench = Bench::new();
    bench.part.set_fault(Some(Tsl2591Fault::Nack));
    let mut sensor = bench.sensor(Gain::Medium, IntegrationTime::Millis100);
    assert_eq!(sensor.init(), Err(Tsl2591Error::Nack));
    assert_eq!(sensor.start_measurement(), Err(Tsl2591Error::Nack));
    assert_eq!(sensor.read_lux(), Err(Tsl2591Error::Nack));
    assert_eq!(sensor.power_down(), Err(Tsl2591Error::Nack));
}

#[test]
fn nothing_on_the_bus_is_nack() {
    let bus = I2cBus::new();
    let mut sensor = Tsl2591::new(bus.master());
    assert_eq!(sensor.init(), Err(Tsl2591Error::Nack));
    assert_eq!(
        LightSensor::start_measurement(&mut sensor),
        Err(LightSensorError::Nack)
    );
}

#[test]
fn a_fault_during_the_wait_is_nack_and_the_sensor_recovers_once_cleared() {
    let bench = Bench::new();
    bench.part.set_lux(300.0).unwrap();
    let mut sensor = bench.sensor(Gain::Medium, IntegrationTime::Millis100);
    let light: &mut dyn LightSensor = &mut sensor;
    let wait = light.start_measurement().unwrap();
    bench.part.set_fault(Some(Tsl2591Fault::Nack));
    bench.wait(wait);
    assert_eq!(light.read_lux(), Err(LightSensorError::Nack));
    assert_eq!(light.start_measurement(), Err(LightSensorError::Nack));

    bench.part.set_fault(None);
    let wait = light.start_measurement().unwrap();
    bench.wait(wait);
    assert_within_one_percent(light.read_lux().unwrap(), 300.0);
}

#[test]
fn a_sensor_power_cycled_while_away_is_configured_again() {
    let bench = Bench::new();
    bench.part.set_lux(2.0).unwrap();
    let mut sensor = bench.sensor(Gain::Maximum, IntegrationTime::Millis400);
    let light: &mut dyn LightSensor = &mut sensor;
    let wait = light.start_measurement().unwrap();
    bench.wait(wait);
    assert_within_one_percent(light.read_lux().unwrap(), 2.0);

    // Unplugged and plugged back: the part is at its power-on defaults
    // (1x, 100 ms), where 2 lux is less than one count.
    bench.part.set_fault(Some(Tsl2591Fault::Nack));
    assert_eq!(light.start_measurement(), Err(LightSensorError::Nack));
    bench.part.power_cycle();
    bench.part.set_fault(None);
    assert_eq!(bench.part.register(0x01), 0x00);

    let wait = light.start_measurement().unwrap();
    assert_eq!(bench.part.register(0x01), 0x33);
    bench.wait(wait);
    assert_within_one_percent(light.read_lux().unwrap(), 2.0);
}

#[test]
fn very_bright_light_is_saturated() {
    let cases = [
        (200_000.0, Gain::Low, IntegrationTime::Millis100),
        (100_000.0, Gain::Low, IntegrationTime::Millis600),
        (2_000.0, Gain::Medium, IntegrationTime::Millis600),
        (1_000.0, Gain::Maximum, IntegrationTime::Millis100),
    ];
    for (lux, gain, integration_time) in cases {
        let bench = Bench::new();
        bench.part.set_lux(lux).unwrap();
        let mut sensor = bench.sensor(gain, integration_time);
        sensor.init().unwrap();
        assert_eq!(
            measure(&bench, &mut sensor),
            Err(Tsl2591Error::Saturated),
            "{lux} lux at {gain:?}, {integration_time:?}"
        );
        assert_eq!(
            LightSensor::read_lux(&mut sensor),
            Err(LightSensorError::Saturated)
        );
    }
}

#[test]
fn a_lower_gain_measures_what_saturated_a_higher_one() {
    let bench = Bench::new();
    bench.part.set_lux(2_000.0).unwrap();
    let mut sensor = bench.sensor(Gain::High, IntegrationTime::Millis100);
    sensor.init().unwrap();
    assert_eq!(measure(&bench, &mut sensor), Err(Tsl2591Error::Saturated));
    sensor.set_gain(Gain::Low).unwrap();
    assert_within_one_percent(measure(&bench, &mut sensor).unwrap(), 2_000.0);
}

#[test]
fn power_down_stops_the_integration() {
    let bench = Bench::new();
    let mut sensor = bench.sensor(Gain::Medium, IntegrationTime::Millis100);
    sensor.init().unwrap();
    sensor.start_measurement().unwrap();
    assert!(bench.part.is_integrating());
    sensor.power_down().unwrap();
    assert!(!bench.part.is_integrating());
    assert_eq!(bench.part.register(0x00), 0x00);
}

#[test]
fn a_measurement_costs_four_transactions_after_init() {
    let bench = Bench::new();
    let mut sensor = bench.sensor(Gain::Medium, IntegrationTime::Millis100);
    sensor.init().unwrap();
    assert_eq!(bench.bus.transaction_count(), 3);
    measure(&bench, &mut sensor).unwrap();
    // ENABLE twice, STATUS, the four data bytes.
    assert_eq!(bench.bus.transaction_count(), 7);
}

/// A small xorshift generator: the same traffic on every run.
struct Random(u64);

impl Random {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn byte(&mut self) -> u8 {
        self.next() as u8
    }

    fn below(&mut self, bound: u64) -> u64 {
        self.next() % bound
    }
}

#[test]
fn random_i2c_traffic_neither_panics_nor_breaks_the_part() {
    let bench = Bench::new();
    let mut master = bench.bus.master();
    let mut random = Random(0x2591_5EED_0000_0001);
    for _ in 0..20_000 {
        // Mostly the sensor's address, mostly command-like first bytes.
        let address = match random.below(8) {
            0 => random.byte(),
            _ => 0x29,
        };
        let mut writes: Vec<Vec<u8>> = Vec::new();
        let mut reads: Vec<Vec<u8>> = Vec::new();
        let mut order = Vec::new();
        for _ in 0..random.below(4) {
            if random.below(2) == 0 {
                let length = random.below(6) as usize;
                let mut bytes: Vec<u8> = (0..length).map(|_| random.byte()).collect();
                if let Some(first) = bytes.first_mut()
                    && random.below(4) != 0
                {
                    *first = 0xA0 | (*first & 0x1F);
                }
                writes.push(bytes);
                order.push(true);
            } else {
                reads.push(vec![0; random.below(6) as usize]);
                order.push(false);
            }
        }
        let mut write_slices = writes.iter();
        let mut read_slices = reads.iter_mut();
        let mut operations: Vec<Operation<'_>> = order
            .iter()
            .filter_map(|&is_write| {
                if is_write {
                    write_slices.next().map(|bytes| Operation::Write(bytes))
                } else {
                    read_slices.next().map(|buffer| Operation::Read(buffer))
                }
            })
            .collect();
        let _ = master.transaction(address, &mut operations);

        match random.below(50) {
            0 => bench.clock.advance_nanos(random.below(2_000_000_000)),
            1 => bench
                .part
                .set_lux(random.below(200_000) as f64 / 7.0)
                .unwrap(),
            2 => bench.part.set_fault(Some(Tsl2591Fault::Nack)),
            3 => bench.part.set_fault(None),
            _ => bench.clock.advance_nanos(random.below(1_000_000)),
        }
    }

    // Whatever the traffic left in the registers, the driver sets up what
    // it needs and reads the light.
    bench.part.set_fault(None);
    bench.part.set_lux(300.0).unwrap();
    let mut sensor = bench.sensor(Gain::Medium, IntegrationTime::Millis100);
    sensor.init().unwrap();
    assert_within_one_percent(measure(&bench, &mut sensor).unwrap(), 300.0);
}
