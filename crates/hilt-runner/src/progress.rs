//! How far a run has got, for a progress display while it goes.

use hilt_firmware::time::Instant;

/// How far a run has got: sent to a [`ProgressHook`] as the run goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RunProgress {
    /// The device time the world has reached.
    pub device_time: Instant,
    /// How many messages were routed so far.
    pub messages: usize,
    /// How many of the scenario's steps have started.
    pub steps_started: usize,
    /// How many steps the scenario has.
    pub steps: usize,
}

/// Wall time between two reports, unless a step starts sooner.
pub const DEFAULT_INTERVAL: std::time::Duration = std::time::Duration::from_millis(100);

/// How many instants of simulation pass between two looks at the wall
/// clock, so that a run of short instants does not read the clock for
/// each.
const INSTANTS_BETWEEN_CLOCK_READINGS: u32 = 64;

/// A callback told how far a run has got: when a step starts, and while
/// the world runs at most once per `interval` of wall time. It is called on
/// the thread that runs the scenario, so it need not be `Send`; it should
/// be cheap (a progress bar's `set_message`), since the run waits for it.
pub struct ProgressHook {
    callback: Box<dyn FnMut(RunProgress)>,
    interval: std::time::Duration,
    last_report: std::time::Instant,
    instants_until_clock_reading: u32,
}

impl std::fmt::Debug for ProgressHook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProgressHook")
            .field("interval", &self.interval)
            .finish_non_exhaustive()
    }
}

impl ProgressHook {
    /// Calls `callback` at every step and at most every `interval` of wall
    /// time between steps.
    pub fn new(interval: std::time::Duration, callback: impl FnMut(RunProgress) + 'static) -> Self {
        ProgressHook {
            callback: Box::new(callback),
            interval,
            last_report: std::time::Instant::now(),
            instants_until_clock_reading: INSTANTS_BETWEEN_CLOCK_READINGS,
        }
    }

    /// A step started: always reported.
    pub(crate) fn step_started(&mut self, progress: RunProgress) {
        self.last_report = std::time::Instant::now();
        (self.callback)(progress);
    }

    /// An instant of simulation ran: reported if `interval` has passed
    /// since the last report. `progress` is only built when it is.
    pub(crate) fn instant_ran(&mut self, progress: impl FnOnce() -> RunProgress) {
        self.instants_until_clock_reading -= 1;
        if self.instants_until_clock_reading > 0 {
            return;
        }
        self.instants_until_clock_reading = INSTANTS_BETWEEN_CLOCK_READINGS;
        let now = std::time::Instant::now();
        if now.duration_since(self.last_report) >= self.interval {
            self.last_report = now;
            (self.callback)(progress());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;
    use std::rc::Rc;

    fn at(micros: u64) -> RunProgress {
        RunProgress {
            device_time: Instant::from_micros(micros),
            messages: 0,
            steps_started: 1,
            steps: 1,
        }
    }

    #[test]
    fn steps_are_always_reported_and_instants_only_after_the_interval() {
        let seen = Rc::new(RefCell::new(Vec::new()));
        let sink = Rc::clone(&seen);
        let mut hook = ProgressHook::new(std::time::Duration::ZERO, move |progress| {
            sink.borrow_mut().push(progress.device_time)
        });
        hook.step_started(at(1));
        // With no interval, every 64th instant reads the clock and reports.
        for micros in 0..128 {
            hook.instant_ran(|| at(micros));
        }
        assert_eq!(
            *seen.borrow(),
            vec![
                Instant::from_micros(1),
                Instant::from_micros(63),
                Instant::from_micros(127)
            ]
        );

        let quiet = Rc::new(RefCell::new(0));
        let counter = Rc::clone(&quiet);
        let mut hook = ProgressHook::new(std::time::Duration::from_secs(3600), move |_| {
            *counter.borrow_mut() += 1
        });
        for micros in 0..1000 {
            hook.instant_ran(|| at(micros));
        }
        assert_eq!(*quiet.borrow(), 0, "an hour has not passed");
        hook.step_started(at(1000));
        assert_eq!(*quiet.borrow(), 1);
    }
}
