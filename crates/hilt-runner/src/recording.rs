//! Where a run's transcript and messages go.

use crate::events::EventOutput;
use crate::message_log::MessageOutput;
use crate::progress::ProgressHook;
use crate::transcript::TranscriptOutput;

/// Where [`run_scenario_with`](crate::run_scenario_with) sends the
/// transcript and the messages of a run as it goes. Expectations keep
/// only the messages they can still need whatever this says, so a run
/// that keeps neither in memory takes about as much memory for a month of
/// device time as for an hour.
#[derive(Debug)]
pub struct Recording {
    /// Where the transcript goes.
    pub transcript: TranscriptOutput,
    /// Where every routed message goes.
    pub messages: MessageOutput,
    /// Told how far the run has got as it goes, if given (a progress
    /// display).
    pub progress: Option<ProgressHook>,
    /// Where the run's structured events go (the HTML report's input).
    pub events: EventOutput,
    /// Told where hilt listens for external devices, once it does (only a
    /// scenario with external devices listens): the command line prints
    /// it, a test connects its stand-in devices there.
    pub listening: Option<ListeningHook>,
}

/// A callback told the address external devices connect to, before the
/// first step runs. It is called on the thread that runs the scenario.
pub struct ListeningHook(Box<dyn FnOnce(std::net::SocketAddr)>);

impl ListeningHook {
    /// Calls `callback` with the address hilt listens on.
    pub fn new(callback: impl FnOnce(std::net::SocketAddr) + 'static) -> Self {
        ListeningHook(Box::new(callback))
    }

    pub(crate) fn call(self, address: std::net::SocketAddr) {
        (self.0)(address)
    }
}

impl std::fmt::Debug for ListeningHook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ListeningHook").finish_non_exhaustive()
    }
}

impl Recording {
    /// Both kept whole in the [`RunOutcome`](crate::RunOutcome), as
    /// [`run_scenario`](crate::run_scenario) does.
    pub fn in_memory() -> Self {
        Recording {
            transcript: TranscriptOutput::Memory,
            messages: MessageOutput::Memory,
            progress: None,
            events: EventOutput::Discard,
            listening: None,
        }
    }

    /// Neither kept: only the verdict (with its report) and the device
    /// time are wanted.
    pub fn verdict_only() -> Self {
        Recording {
            transcript: TranscriptOutput::Discard,
            messages: MessageOutput::Discard,
            progress: None,
            events: EventOutput::Discard,
            listening: None,
        }
    }
}
