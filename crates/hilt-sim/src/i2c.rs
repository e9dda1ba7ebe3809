//! A simulated I2C bus: parts attach at an address, and the firmware drives
//! them through an [`I2cMaster`] that implements `embedded_hal::i2c::I2c`.
//!
//! The bus works at the level the wire does, byte by byte, so a part model
//! sees what a real part sees: a START (or repeated START) with its address
//! and the direction, which it acknowledges or not; each byte written, which
//! it acknowledges or not; a request for each byte read; and the STOP. An
//! embedded-hal transaction becomes exactly that sequence, following the
//! trait's contract: START and the address before the first operation, a
//! repeated START and the address again only where the direction changes
//! (adjacent writes, or adjacent reads, run on as one), STOP at the end.
//!
//! Like the real bus, it is open-drain. Nothing answering an address and a
//! part refusing it look the same to the master, a NACK
//! ([`I2cError::AddressNack`]); the master stops at the first byte nobody
//! acknowledges ([`I2cError::DataNack`]), and the STOP still goes out. Two
//! parts at one address both take part, as on a wire: each sees every
//! byte, a byte counts as acknowledged if either acknowledges it, and what
//! the master reads is the AND of what they send, since either can pull a
//! bit low.
//!
//! Simplifications: a transfer costs no device time (at 400 kHz a register
//! read takes well under a millisecond, which no model here depends on),
//! there is no clock stretching, arbitration or 10-bit addressing, and a
//! transaction with no operations does nothing at all.

use std::cell::RefCell;
use std::fmt;
use std::rc::Rc;

use embedded_hal::i2c::{ErrorKind, ErrorType, I2c, NoAcknowledgeSource, Operation};

/// Whether the master addresses a part to write to it or to read from it
/// (the R/W bit after the address).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Direction {
    /// The master sends bytes.
    Write,
    /// The part sends bytes.
    Read,
}

/// A part on the bus, as the bus drives it.
pub trait I2cDevice: fmt::Debug {
    /// The master sent a START or a repeated START with this part's address
    /// and `direction`; returns whether the part acknowledges. A part that
    /// does not takes no part in the transfer that follows.
    fn start(&mut self, direction: Direction) -> bool;
    /// A byte the master wrote; returns whether the part acknowledges it.
    fn write_byte(&mut self, byte: u8) -> bool;
    /// The next byte the part sends. Every bit the part leaves alone reads
    /// as 1, so a part with nothing to say returns 0xFF.
    fn read_byte(&mut self) -> u8;
    /// The master sent a STOP, which every part on the bus sees.
    fn stop(&mut self);
}

/// Why a transaction failed, as the master sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, thiserror::Error)]
pub enum I2cError {
    /// Nothing acknowledged the address: no part there, or the part refused
    /// (unpowered, busy, or a fault injected by the runner).
    #[error("nothing acknowledged I2C address {address:#04x}")]
    AddressNack { address: u8 },
    /// The part at `address` did not acknowledge a byte the master wrote.
    #[error("the part at I2C address {address:#04x} did not acknowledge a byte")]
    DataNack { address: u8 },
    /// The address does not fit in 7 bits; nothing went out on the bus.
    #[error("{address:#04x} is not a 7-bit I2C address")]
    InvalidAddress { address: u8 },
}

impl embedded_hal::i2c::Error for I2cError {
    fn kind(&self) -> ErrorKind {
        match self {
            I2cError::AddressNack { .. } => ErrorKind::NoAcknowledge(NoAcknowledgeSource::Address),
            I2cError::DataNack { .. } => ErrorKind::NoAcknowledge(NoAcknowledgeSource::Data),
            I2cError::InvalidAddress { .. } => ErrorKind::Other,
        }
    }
}

/// Why a part could not be attached.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, thiserror::Error)]
pub enum I2cAttachError {
    /// Addresses outside 0x08..=0x77 are reserved by the I2C specification
    /// (general call, START byte, 10-bit addressing and others); no part
    /// answers there.
    #[error("{address:#04x} is not an address a part can have (0x08 to 0x77)")]
    ReservedAddress { address: u8 },
}

/// The lowest address a part can have.
pub const FIRST_DEVICE_ADDRESS: u8 = 0x08;
/// The highest address a part can have.
pub const LAST_DEVICE_ADDRESS: u8 = 0x77;

type SharedDevice = Rc<RefCell<dyn I2cDevice>>;

#[derive(Debug, Default)]
struct BusState {
    devices: Vec<(u8, SharedDevice)>,
    /// Transactions the master has run, so tests can see how chatty a
    /// driver is.
    transactions: u64,
}

/// A simulated I2C bus; clones share the bus.
#[derive(Clone, Debug, Default)]
pub struct I2cBus {
    state: Rc<RefCell<BusState>>,
}

impl I2cBus {
    /// A bus with nothing on it.
    pub fn new() -> Self {
        Self::default()
    }

    /// Puts `device` on the bus at the 7-bit `address`.
    pub fn attach(&self, address: u8, device: SharedDevice) -> Result<(), I2cAttachError> {
        if !(FIRST_DEVICE_ADDRESS..=LAST_DEVICE_ADDRESS).contains(&address) {
            return Err(I2cAttachError::ReservedAddress { address });
        }
        self.attach_at_valid_address(address, device);
        Ok(())
    }

    /// [`attach`](Self::attach) for the part models of this crate, whose
    /// fixed addresses are known to be valid.
    pub(crate) fn attach_at_valid_address(&self, address: u8, device: SharedDevice) {
        self.state.borrow_mut().devices.push((address, device));
    }

    /// The master the firmware drives the bus with. Any number may exist;
    /// each transaction runs to the end before the next starts.
    pub fn master(&self) -> I2cMaster {
        I2cMaster { bus: self.clone() }
    }

    /// The number of parts attached.
    pub fn device_count(&self) -> usize {
        self.state.borrow().devices.len()
    }

    /// How many transactions masters have run on this bus.
    pub fn transaction_count(&self) -> u64 {
        self.state.borrow().transactions
    }

    /// Runs one transaction: START, the operations, STOP.
    fn transaction(&self, address: u8, operations: &mut [Operation<'_>]) -> Result<(), I2cError> {
        if address > 0x7F {
            return Err(I2cError::InvalidAddress { address });
        }
        if operations.is_empty() {
            return Ok(());
        }
        // The devices are taken out of the bus state before any of them
        // runs, so nothing holds the bus borrowed while a part model does.
        let (everyone, addressed) = {
            let mut state = self.state.borrow_mut();
            state.transactions = state.transactions.saturating_add(1);
            let everyone: Vec<SharedDevice> = state
                .devices
                .iter()
                .map(|(_, device)| device.clone())
                .collect();
            let addressed: Vec<SharedDevice> = state
                .devices
                .iter()
                .filter(|(device_address, _)| *device_address == address)
                .map(|(_, device)| device.clone())
                .collect();
            (everyone, addressed)
        };
        let result = run_operations(address, &addressed, operations);
        for device in &everyone {
            device.borrow_mut().stop();
        }
        result
    }
}

/// The operations of one transaction between its START and its STOP.
fn run_operations(
    address: u8,
    addressed: &[SharedDevice],
    operations: &mut [Operation<'_>],
) -> Result<(), I2cError> {
    let mut direction = None;
    let mut listening: Vec<SharedDevice> = Vec::new();
    for operation in operations.iter_mut() {
        let this_direction = match operation {
            Operation::Write(_) => Direction::Write,
            Operation::Read(_) => Direction::Read,
        };
        if direction != Some(this_direction) {
            // START or repeated START, then the address: every part at the
            // address sees it, whether or not another acknowledges.
            listening = addressed
                .iter()
                .filter(|device| device.borrow_mut().start(this_direction))
                .cloned()
                .collect();
            if listening.is_empty() {
                return Err(I2cError::AddressNack { address });
            }
            direction = Some(this_direction);
        }
        match operation {
            Operation::Write(bytes) => {
                for &byte in bytes.iter() {
                    let mut acknowledged = false;
                    for device in &listening {
                        acknowledged |= device.borrow_mut().write_byte(byte);
                    }
                    if !acknowledged {
                        return Err(I2cError::DataNack { address });
                    }
                }
            }
            Operation::Read(buffer) => {
                for slot in buffer.iter_mut() {
                    *slot = listening
                        .iter()
                        .fold(0xFF, |byte, device| byte & device.borrow_mut().read_byte());
                }
            }
        }
    }
    Ok(())
}

/// The firmware's end of an [`I2cBus`]: an `embedded_hal::i2c::I2c` with
/// 7-bit addresses.
#[derive(Clone, Debug)]
pub struct I2cMaster {
    bus: I2cBus,
}

impl I2cMaster {
    /// The bus this master drives.
    pub fn bus(&self) -> &I2cBus {
        &self.bus
    }
}

impl ErrorType for I2cMaster {
    type Error = I2cError;
}

impl I2c for I2cMaster {
    fn transaction(
        &mut self,
        address: u8,
        operations: &mut [Operation<'_>],
    ) -> Result<(), Self::Error> {
        self.bus.transaction(address, operations)
    }
}

#[cfg(test)]
mod tests {
    use embedded_hal::i2c::Error as _;

    use super::*;

    /// What a [`Recorder`] saw, in order.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    enum Event {
        Start(Direction),
        Write(u8),
        Read,
        Stop,
    }

    /// A part that records what it sees, acknowledges what it is told to,
    /// and sends `sends` over and over.
    #[derive(Debug)]
    struct Recorder {
        events: Vec<Event>,
        acknowledges_address: bool,
        /// Bytes it refuses when written.
        refuses: Vec<u8>,
        sends: u8,
    }

    impl Recorder {
        fn attach(bus: &I2cBus, address: u8, sends: u8) -> Rc<RefCell<Recorder>> {
            let recorder = Rc::new(RefCell::new(Recorder {
                events: Vec::new(),
                acknowledges_address: true,
                refuses: Vec::new(),
                sends,
            }));
            bus.attach(address, recorder.clone()).unwrap();
            recorder
        }
    }

    impl I2cDevice for Recorder {
        fn start(&mut self, direction: Direction) -> bool {
            self.events.push(Event::Start(direction));
            self.acknowledges_address
        }

        fn write_byte(&mut self, byte: u8) -> bool {
            self.events.push(Event::Write(byte));
            !self.refuses.contains(&byte)
        }

        fn read_byte(&mut self) -> u8 {
            self.events.push(Event::Read);
            self.sends
        }

        fn stop(&mut self) {
            self.events.push(Event::Stop);
        }
    }

    #[test]
    fn write_read_is_start_write_repeated_start_read_stop() {
        let bus = I2cBus::new();
        let part = Recorder::attach(&bus, 0x29, 0x5A);
        let mut master = bus.master();
        let mut buffer = [0u8; 2];
        master.write_read(0x29, &[0xB2], &mut buffer).unwrap();
        assert_eq!(buffer, [0x5A, 0x5A]);
        assert_eq!(
            part.borrow().events,
            [
                Event::Start(Direction::Write),
                Event::Write(0xB2),
                Event::Start(Direction::Read),
                Event::Read,
                Event::Read,
                Event::Stop,
            ]
        );
        assert_eq!(bus.transaction_count(), 1);
    }

    #[test]
    fn adjacent_operations_of_one_direction_run_on_without_a_start() {
        let bus = I2cBus::new();
        let part = Recorder::attach(&bus, 0x29, 0);
        let mut master = bus.master();
        let mut first = [0u8; 1];
        let mut second = [0u8; 1];
        master
            .transaction(
                0x29,
                &mut [
                    Operation::Write(&[1]),
                    Operation::Write(&[2]),
                    Operation::Read(&mut first),
                    Operation::Read(&mut second),
                    Operation::Write(&[3]),
                ],
            )
            .unwrap();
        assert_eq!(
            part.borrow().events,
            [
                Event::Start(Direction::Write),
                Event::Write(1),
                Event::Write(2),
                Event::Start(Direction::Read),
                Event::Read,
                Event::Read,
                Event::Start(Direction::Write),
                Event::Write(3),
                Event::Stop,
            ]
        );
    }

    #[test]
    fn an_empty_address_is_an_address_nack() {
        let bus = I2cBus::new();
        let other = Recorder::attach(&bus, 0x40, 0);
        let mut master = bus.master();
        let error = master.write(0x29, &[0xA0]).unwrap_err();
        assert_eq!(error, I2cError::AddressNack { address: 0x29 });
        assert_eq!(
            error.kind(),
            ErrorKind::NoAcknowledge(NoAcknowledgeSource::Address)
        );
        // The part elsewhere saw only the STOP.
        assert_eq!(other.borrow().events, [Event::Stop]);
    }

    #[test]
    fn a_part_refusing_its_address_is_an_address_nack_and_gets_no_bytes() {
        let bus = I2cBus::new();
        let part = Recorder::attach(&bus, 0x29, 0);
        part.borrow_mut().acknowledges_address = false;
        let mut master = bus.master();
        let mut buffer = [0u8; 1];
        let error = master.write_read(0x29, &[0xB2], &mut buffer).unwrap_err();
        assert_eq!(
            error.kind(),
            ErrorKind::NoAcknowledge(NoAcknowledgeSource::Address)
        );
        assert_eq!(
            part.borrow().events,
            [Event::Start(Direction::Write), Event::Stop]
        );
    }

    #[test]
    fn a_refused_byte_is_a_data_nack_and_the_master_stops_there() {
        let bus = I2cBus::new();
        let part = Recorder::attach(&bus, 0x29, 0);
        part.borrow_mut().refuses.push(0x22);
        let mut master = bus.master();
        let error = master.write(0x29, &[0x11, 0x22, 0x33]).unwrap_err();
        assert_eq!(error, I2cError::DataNack { address: 0x29 });
        assert_eq!(
            error.kind(),
            ErrorKind::NoAcknowledge(NoAcknowledgeSource::Data)
        );
        assert_eq!(
            part.borrow().events,
            [
                Event::Start(Direction::Write),
                Event::Write(0x11),
                Event::Write(0x22),
                Event::Stop,
            ]
        );
    }

    #[test]
    fn two_parts_at_one_address_are_wired_and() {
        let bus = I2cBus::new();
        let first = Recorder::attach(&bus, 0x29, 0b1100_1010);
        let second = Recorder::attach(&bus, 0x29, 0b1010_0110);
        second.borrow_mut().refuses.push(0x01);
        let mut master = bus.master();
        let mut buffer = [0u8; 1];
        master.read(0x29, &mut buffer).unwrap();
        assert_eq!(buffer, [0b1000_0010]);
        // One acknowledgement is enough for the master.
        master.write(0x29, &[0x01]).unwrap();
        assert_eq!(first.borrow().events.len(), second.borrow().events.len());
    }

    #[test]
    fn an_address_beyond_7_bits_sends_nothing() {
        let bus = I2cBus::new();
        let part = Recorder::attach(&bus, 0x29, 0);
        let mut master = bus.master();
        let error = master.write(0xA9, &[0]).unwrap_err();
        assert_eq!(error, I2cError::InvalidAddress { address: 0xA9 });
        assert_eq!(error.kind(), ErrorKind::Other);
        assert!(part.borrow().events.is_empty());
        assert_eq!(bus.transaction_count(), 0);
    }

    #[test]
    fn a_zero_length_write_probes_the_address() {
        let bus = I2cBus::new();
        let part = Recorder::attach(&bus, 0x29, 0);
        let mut master = bus.master();
        master.write(0x29, &[]).unwrap();
        assert!(master.write(0x30, &[]).is_err());
        assert_eq!(
            part.borrow().events,
            [Event::Start(Direction::Write), Event::Stop, Event::Stop]
        );
    }

    #[test]
    fn reserved_addresses_are_refused() {
        let bus = I2cBus::new();
        let part: SharedDevice = Rc::new(RefCell::new(Recorder {
            events: Vec::new(),
            acknowledges_address: true,
            refuses: Vec::new(),
            sends: 0,
        }));
        for address in [0x00, 0x07, 0x78, 0x7F, 0x80, 0xFF] {
            assert_eq!(
                bus.attach(address, part.clone()),
                Err(I2cAttachError::ReservedAddress { address })
            );
        }
        assert!(bus.attach(0x08, part.clone()).is_ok());
        assert!(bus.attach(0x77, part).is_ok());
        assert_eq!(bus.device_count(), 2);
    }
}
