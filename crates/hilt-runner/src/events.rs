//! The run as structured events, for a consumer that draws it (the HTML
//! report) rather than reads it.
//!
//! Every event is also a line of the transcript: the world tells the
//! transcript what happened once, and the transcript writes the line and
//! hands the same facts to the [`EventSink`], if there is one. So the
//! events and the transcript cannot disagree, and a run that asks for
//! neither formats nothing.

use hilt_firmware::time::Instant;
use hilt_scenario::PartValue;

use crate::transcript::LoggedMessage;

/// One thing that happened in a run, at a device time. Borrowed: a sink
/// that keeps events copies what it needs.
#[derive(Clone, Copy, Debug)]
pub enum RunEvent<'a> {
    /// A step starts (`--- line N: …` in the transcript).
    Step {
        /// Device time at which it starts.
        at: Instant,
        /// Its line in the scenario file.
        line: usize,
        /// The step in words, as the transcript says it.
        description: &'a str,
    },
    /// A message was published: by a device, the harness, or the broker
    /// (a will). Its `source` says which.
    Message(&'a LoggedMessage),
    /// A device subscribed to these filters.
    Subscribe {
        /// When its SUBSCRIBE reached the broker.
        at: Instant,
        /// The device.
        device: &'a str,
        /// The topic filters, in the packet's order.
        filters: &'a [&'a str],
    },
    /// A part's value was set (a `set:` step, or the scenario's starting
    /// `parts:`).
    PartValue {
        /// When it was set.
        at: Instant,
        /// The device.
        device: &'a str,
        /// The part's name on that device.
        part: &'a str,
        /// The value set.
        value: &'a PartValue,
    },
    /// A button was pressed or released by a step.
    Button {
        /// When.
        at: Instant,
        /// The device.
        device: &'a str,
        /// The button's part name.
        part: &'a str,
        /// Pressed (`true`) or released.
        pressed: bool,
    },
    /// An LED went on or off.
    Led {
        /// Device time of the pin change.
        at: Instant,
        /// The device.
        device: &'a str,
        /// The LED's part name.
        part: &'a str,
        /// On (`true`) or off.
        on: bool,
    },
    /// A GPIO line without a part on it changed level.
    Pin {
        /// Device time of the change.
        at: Instant,
        /// The device.
        device: &'a str,
        /// The GPIO number.
        gpio: u8,
        /// High (`true`) or low.
        high: bool,
    },
    /// An expectation did not hold; the run stops here.
    Failed {
        /// When the expectation gave up.
        at: Instant,
        /// What it expected, in words.
        expected: &'a str,
    },
    /// Anything else the transcript says (a CONNECT, a link going down, a
    /// reset, a firmware log line), as its words without the time.
    Note {
        /// When.
        at: Instant,
        /// The transcript line's text after its time.
        text: &'a str,
    },
}

impl RunEvent<'_> {
    /// The event's device time.
    pub fn at(&self) -> Instant {
        match self {
            RunEvent::Message(message) => message.at,
            RunEvent::Step { at, .. }
            | RunEvent::Subscribe { at, .. }
            | RunEvent::PartValue { at, .. }
            | RunEvent::Button { at, .. }
            | RunEvent::Led { at, .. }
            | RunEvent::Pin { at, .. }
            | RunEvent::Failed { at, .. }
            | RunEvent::Note { at, .. } => *at,
        }
    }
}

/// What receives a run's events as they happen. An error stops the events
/// (none is sent after it) and becomes the run's
/// [`RecordingError::Events`](crate::run::RecordingError::Events); the
/// verdict does not depend on it.
pub trait EventSink {
    /// One event, in the order the run produced it. Events of different
    /// devices are not strictly in time order: a device can run ahead of
    /// the others inside its own busy waits.
    fn event(&mut self, event: &RunEvent<'_>) -> std::io::Result<()>;

    /// The run is over: write out whatever is buffered.
    fn finish(&mut self) -> std::io::Result<()>;
}

/// Where a run's events go (see [`Recording`](crate::Recording)).
#[derive(Default)]
pub enum EventOutput {
    /// Nowhere.
    #[default]
    Discard,
    /// To this sink, as they happen.
    Sink(Box<dyn EventSink>),
}

impl std::fmt::Debug for EventOutput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            EventOutput::Discard => "Discard",
            EventOutput::Sink(_) => "Sink(..)",
        })
    }
}
