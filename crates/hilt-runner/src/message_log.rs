//! The messages of a run, kept only as long as a remaining step can look
//! at them (ARCHITECTURE.md, "Memory in a long run").
//!
//! Messages are numbered from the start of the run; the log keeps a window
//! of them (`kept`, from `first_kept` on) and forgets the rest. What the
//! runner tells it to keep is a [`Retention`]; what `since: start` and
//! `count:` expectations need is collected as messages arrive, by a
//! [`Tracker`] per such step, so that they never need the whole run. With
//! `each: true` the tracker keeps its tally per member of the fleet.

use std::collections::VecDeque;
use std::time::Duration;

use hilt_firmware::mqtt::topic::filter_matches;
use hilt_firmware::time::Instant;
use hilt_scenario::{MessageExpectation, Publishers};

use crate::csv::{CsvError, MessageRows};
use crate::matching::{MemberTally, message_fits};
use crate::transcript::LoggedMessage;
use crate::world::after;

/// How many messages a failure report shows (the runner's limit, here so
/// that what is kept for reports is exactly what they can show).
pub(crate) const SHOWN_IN_REPORT: usize = 8;

/// Where a run's messages go besides the expectations (see
/// [`Recording`](crate::Recording)).
#[derive(Debug)]
pub enum MessageOutput {
    /// Nowhere.
    Discard,
    /// Into [`RunOutcome::messages`](crate::RunOutcome::messages), all of them.
    Memory,
    /// As CSV rows, one per message as it is routed.
    Csv(MessageRows),
}

/// Which messages the runner still needs to look at, by number.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Retention {
    /// None: no remaining step reads the window.
    Nothing,
    /// Those from this number on.
    From(usize),
    /// Those after the last message fitting a `count:` step that is running
    /// (the next window starts there), or from `floor` if none fits yet.
    AfterLastFit { tracker: TrackerId, floor: usize },
    /// All of them.
    Everything,
}

/// A tracker of [`MessageLog::track`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct TrackerId(usize);

/// What is known of an expectation's deadline when a message arrives.
#[derive(Clone, Copy, Debug)]
enum Deadline {
    /// The step has not started: its deadline is at least this long after
    /// the world's time now, since the step starts no earlier than now.
    AfterNowBy(Duration),
    /// The step has started.
    At(Instant),
}

impl Deadline {
    /// An instant the deadline is certainly not before.
    fn lower_bound(self, now: Instant) -> Instant {
        match self {
            Deadline::AfterNowBy(within) => after(now, within),
            Deadline::At(deadline) => deadline,
        }
    }
}

/// What one message expectation needs of the messages, gathered as they
/// arrive. A message's time can be later than the world's when it is
/// logged (a device runs ahead inside its own busy waits), so "fits and
/// is not later than the deadline" is decided at once only where the
/// deadline is known to be later than the message; the rest are kept.
#[derive(Debug)]
pub(crate) enum Tracker {
    /// The first fitting message (an expectation without `count:`).
    FirstFit(FirstFit),
    /// How many fit (`count:`).
    Count(Count),
    /// Each member's first fitting message (`each: true` without `count:`).
    EachFirstFit(EachFirstFit),
    /// How many fit, per member (`each: true` with `count:`).
    EachCount(EachCount),
}

#[derive(Debug)]
pub(crate) struct FirstFit {
    expectation: MessageExpectation,
    deadline: Deadline,
    /// Fitting messages each earlier in time than every one before it:
    /// the first fitting one not later than any deadline is among them.
    candidates: Vec<(usize, LoggedMessage)>,
    /// A candidate is certainly not later than the deadline: no later
    /// message can be the first.
    settled: bool,
    /// The first messages on the expectation's topic filter, for a report.
    on_topic: Vec<LoggedMessage>,
}

#[derive(Debug)]
pub(crate) struct Count {
    expectation: MessageExpectation,
    deadline: Deadline,
    /// Fitting messages certainly not later than the deadline: how many,
    /// the first few (for a report) and the number of the last.
    certain: usize,
    first_certain: Vec<(usize, LoggedMessage)>,
    last_certain: Option<usize>,
    /// Fitting messages that may be later than the deadline.
    unsure: Vec<(usize, LoggedMessage)>,
}

#[derive(Debug)]
pub(crate) struct EachFirstFit {
    expectation: MessageExpectation,
    deadline: Deadline,
    /// By member index - 1: that member's candidates, as
    /// [`FirstFit::candidates`] and [`FirstFit::settled`] keep them. Once
    /// the deadline is known a member keeps only its first fit.
    members: Vec<MemberFirstFit>,
    /// The members whose first fit is known to be within the deadline
    /// (counted only once the deadline is known).
    heard: MemberTally,
    /// The number of the latest of those first fits: once every member is
    /// heard, the message that completed the step.
    latest_first_fit: Option<usize>,
}

#[derive(Debug, Default)]
struct MemberFirstFit {
    /// Numbers and times of fitting messages, each earlier in time than
    /// every one before it.
    candidates: Vec<(usize, Instant)>,
    settled: bool,
}

#[derive(Debug)]
pub(crate) struct EachCount {
    expectation: MessageExpectation,
    deadline: Deadline,
    /// Fitting messages certainly not later than the deadline, per member,
    /// and the number of the last.
    certain: MemberTally,
    last_certain: Option<usize>,
    /// Fitting messages that may be later than the deadline: number,
    /// member index and time.
    unsure: Vec<(usize, u32, Instant)>,
}

/// What an `each:` tracker found: the tally per member, and the number of
/// the message after which the next window starts (with `count:` the last
/// fitting one; without, the one that completed the step, if it was).
pub(crate) struct EachTallied {
    pub tally: MemberTally,
    pub last: Option<usize>,
}

/// What a `count:` found: how many fit, the first few, the last one's
/// number.
#[derive(Default)]
pub(crate) struct Counted {
    pub count: usize,
    pub first: Vec<LoggedMessage>,
    pub last: Option<usize>,
}

impl Tracker {
    fn offer(&mut self, number: usize, now: Instant, message: &LoggedMessage) {
        match self {
            Tracker::FirstFit(first) => {
                if first.on_topic.len() < SHOWN_IN_REPORT
                    && filter_matches(&first.expectation.filter, &message.topic)
                {
                    first.on_topic.push(message.clone());
                }
                if first.settled || !message_fits(&first.expectation, message) {
                    return;
                }
                if first
                    .candidates
                    .last()
                    .is_none_or(|(_, candidate)| message.at < candidate.at)
                {
                    first.candidates.push((number, message.clone()));
                }
                first.settled = message.at <= first.deadline.lower_bound(now);
            }
            Tracker::Count(count) => {
                if !message_fits(&count.expectation, message) {
                    return;
                }
                if message.at <= count.deadline.lower_bound(now) {
                    count.certain += 1;
                    count.last_certain = Some(number);
                    if count.first_certain.len() < SHOWN_IN_REPORT {
                        count.first_certain.push((number, message.clone()));
                    }
                } else if !matches!(count.deadline, Deadline::At(_)) {
                    // Past a known deadline a message never counts.
                    count.unsure.push((number, message.clone()));
                }
            }
            Tracker::EachFirstFit(each) => {
                if !message_fits(&each.expectation, message) {
                    return;
                }
                let Some(member) = each.heard.member_of(message) else {
                    return;
                };
                let Some(state) = each.members.get_mut(member as usize - 1) else {
                    return;
                };
                if state.settled {
                    return;
                }
                match each.deadline {
                    Deadline::At(deadline) => {
                        // Past a known deadline a message never counts;
                        // before it, the first one is the member's first fit.
                        if message.at <= deadline {
                            state.candidates = vec![(number, message.at)];
                            state.settled = true;
                            each.heard.add_to(member);
                            each.latest_first_fit = each.latest_first_fit.max(Some(number));
                        }
                    }
                    Deadline::AfterNowBy(_) => {
                        if state
                            .candidates
                            .last()
                            .is_none_or(|(_, candidate)| message.at < *candidate)
                        {
                            state.candidates.push((number, message.at));
                        }
                        state.settled = message.at <= each.deadline.lower_bound(now);
                    }
                }
            }
            Tracker::EachCount(each) => {
                if !message_fits(&each.expectation, message) {
                    return;
                }
                let Some(member) = each.certain.member_of(message) else {
                    return;
                };
                if message.at <= each.deadline.lower_bound(now) {
                    each.certain.add_to(member);
                    each.last_certain = Some(number);
                } else if !matches!(each.deadline, Deadline::At(_)) {
                    each.unsure.push((number, member, message.at));
                }
            }
        }
    }

    /// The step has started; its deadline is `deadline`.
    fn fix_deadline(&mut self, deadline: Instant) {
        match self {
            Tracker::FirstFit(first) => first.deadline = Deadline::At(deadline),
            Tracker::Count(count) => {
                count.deadline = Deadline::At(deadline);
                count.unsure.retain(|(_, message)| message.at <= deadline);
            }
            Tracker::EachFirstFit(each) => {
                each.deadline = Deadline::At(deadline);
                for (member, state) in (1..).zip(&mut each.members) {
                    let first = state
                        .candidates
                        .iter()
                        .find(|(_, at)| *at <= deadline)
                        .copied();
                    state.candidates = first.into_iter().collect();
                    state.settled = first.is_some();
                    if let Some((number, _)) = first {
                        each.heard.add_to(member);
                        each.latest_first_fit = each.latest_first_fit.max(Some(number));
                    }
                }
            }
            Tracker::EachCount(each) => {
                each.deadline = Deadline::At(deadline);
                each.unsure.retain(|(_, _, at)| *at <= deadline);
            }
        }
    }

    /// The number of the last fitting message a counting tracker has
    /// (the next window starts after it); none for the others.
    fn last_fit(&self) -> Option<usize> {
        match self {
            Tracker::FirstFit(_) | Tracker::EachFirstFit(_) => None,
            Tracker::Count(count) => {
                let unsure = count.unsure.last().map(|(number, _)| *number);
                count.last_certain.max(unsure)
            }
            Tracker::EachCount(each) => {
                let unsure = each.unsure.last().map(|(number, _, _)| *number);
                each.last_certain.max(unsure)
            }
        }
    }
}

/// The first messages on a topic filter that left the window, newest
/// last: what a failure report shows as "the latest earlier messages".
#[derive(Debug)]
struct EarlierOnTopic {
    filter: String,
    latest: VecDeque<LoggedMessage>,
}

/// The message log; see the module documentation.
#[derive(Debug)]
pub(crate) struct MessageLog {
    /// The number of `kept`'s first message.
    first_kept: usize,
    kept: VecDeque<LoggedMessage>,
    retention: Retention,
    output: MessageOutput,
    /// Every message, when the run's messages are asked for in memory.
    all: Vec<LoggedMessage>,
    /// The first error writing the output; nothing is written after it.
    error: Option<CsvError>,
    earlier: Vec<EarlierOnTopic>,
    /// The run's first messages, for a `since: start` report.
    first_of_run: Vec<LoggedMessage>,
    trackers: Vec<Option<Tracker>>,
}

impl Default for MessageLog {
    /// Everything kept, in memory, until the run says otherwise.
    fn default() -> Self {
        MessageLog {
            first_kept: 0,
            kept: VecDeque::new(),
            retention: Retention::Everything,
            output: MessageOutput::Memory,
            all: Vec::new(),
            error: None,
            earlier: Vec::new(),
            first_of_run: Vec::new(),
            trackers: Vec::new(),
        }
    }
}

impl MessageLog {
    /// Sends the messages to `output` from now on.
    pub(crate) fn send_to(&mut self, output: MessageOutput) {
        self.output = output;
    }

    /// Keeps the messages `retention` names, from now on.
    pub(crate) fn retain(&mut self, retention: Retention) {
        self.retention = retention;
        self.forget_unneeded();
    }

    /// Remembers the latest messages on `filter` that leave the window.
    pub(crate) fn remember_earlier(&mut self, filter: &str) {
        if !self.earlier.iter().any(|earlier| earlier.filter == filter) {
            self.earlier.push(EarlierOnTopic {
                filter: filter.to_owned(),
                latest: VecDeque::new(),
            });
        }
    }

    /// Starts gathering what `expectation` needs; `deadline` is its
    /// deadline if its step has started (else it is `within` after the
    /// step's start, which is not before the world's time now).
    pub(crate) fn track(
        &mut self,
        expectation: &MessageExpectation,
        deadline: Option<Instant>,
    ) -> TrackerId {
        let deadline = deadline.map_or(Deadline::AfterNowBy(expectation.within), Deadline::At);
        let expectation = expectation.clone();
        let each_fleet = match &expectation.from {
            Some(Publishers::Fleet(fleet)) if expectation.each => Some(fleet.clone()),
            _ => None,
        };
        let tracker = if let Some(fleet) = each_fleet {
            let tally = MemberTally::new(&fleet);
            if expectation.count.is_some() {
                Tracker::EachCount(EachCount {
                    expectation,
                    deadline,
                    certain: tally,
                    last_certain: None,
                    unsure: Vec::new(),
                })
            } else {
                let mut members = Vec::new();
                members.resize_with(fleet.count as usize, MemberFirstFit::default);
                Tracker::EachFirstFit(EachFirstFit {
                    expectation,
                    deadline,
                    members,
                    heard: tally,
                    latest_first_fit: None,
                })
            }
        } else if expectation.count.is_some() {
            Tracker::Count(Count {
                expectation,
                deadline,
                certain: 0,
                first_certain: Vec::new(),
                last_certain: None,
                unsure: Vec::new(),
            })
        } else {
            Tracker::FirstFit(FirstFit {
                expectation,
                deadline,
                candidates: Vec::new(),
                settled: false,
                on_topic: Vec::new(),
            })
        };
        self.trackers.push(Some(tracker));
        TrackerId(self.trackers.len() - 1)
    }

    /// The tracked step has started; its deadline is `deadline`.
    pub(crate) fn fix_deadline(&mut self, id: TrackerId, deadline: Instant) {
        if let Some(Some(tracker)) = self.trackers.get_mut(id.0) {
            tracker.fix_deadline(deadline);
        }
    }

    /// The number of the first message fitting a [`Tracker::FirstFit`]
    /// that is not later than `deadline`.
    pub(crate) fn first_fit(&self, id: TrackerId, deadline: Instant) -> Option<usize> {
        match self.trackers.get(id.0) {
            Some(Some(Tracker::FirstFit(first))) => first
                .candidates
                .iter()
                .find(|(_, message)| message.at <= deadline)
                .map(|(number, _)| *number),
            _ => None,
        }
    }

    /// The first messages on a [`Tracker::FirstFit`]'s topic filter.
    pub(crate) fn first_on_topic(&self, id: TrackerId) -> &[LoggedMessage] {
        match self.trackers.get(id.0) {
            Some(Some(Tracker::FirstFit(first))) => &first.on_topic,
            _ => &[],
        }
    }

    /// The run's first messages, up to what a report shows.
    pub(crate) fn first_of_run(&self) -> &[LoggedMessage] {
        &self.first_of_run
    }

    /// What a [`Tracker::Count`] counted up to `deadline`; it stops
    /// tracking.
    pub(crate) fn finish_count(&mut self, id: TrackerId, deadline: Instant) -> Counted {
        let Some(Some(Tracker::Count(count))) = self.trackers.get_mut(id.0).map(Option::take)
        else {
            return Counted {
                count: 0,
                first: Vec::new(),
                last: None,
            };
        };
        let unsure: Vec<(usize, LoggedMessage)> = count
            .unsure
            .into_iter()
            .filter(|(_, message)| message.at <= deadline)
            .collect();
        let total = count.certain + unsure.len();
        let last = count
            .last_certain
            .max(unsure.last().map(|(number, _)| *number));
        let mut first: Vec<(usize, LoggedMessage)> =
            count.first_certain.into_iter().chain(unsure).collect();
        first.sort_by_key(|(number, _)| *number);
        first.truncate(SHOWN_IN_REPORT);
        Counted {
            count: total,
            first: first.into_iter().map(|(_, message)| message).collect(),
            last,
        }
    }

    /// Whether every member of a [`Tracker::EachFirstFit`] whose deadline
    /// is known has a fitting message not later than it.
    pub(crate) fn every_member_heard(&self, id: TrackerId) -> bool {
        match self.trackers.get(id.0) {
            Some(Some(Tracker::EachFirstFit(each))) => each.heard.every_member_heard(),
            _ => false,
        }
    }

    /// What an `each:` tracker found up to `deadline`; it stops tracking.
    /// `None` if `id` is not one.
    pub(crate) fn finish_each(&mut self, id: TrackerId, deadline: Instant) -> Option<EachTallied> {
        let mut tracker = self.trackers.get_mut(id.0).and_then(Option::take)?;
        if let Tracker::EachFirstFit(EachFirstFit {
            deadline: Deadline::AfterNowBy(_),
            ..
        }) = &tracker
        {
            tracker.fix_deadline(deadline);
        }
        match tracker {
            Tracker::EachFirstFit(each) => Some(EachTallied {
                last: each
                    .latest_first_fit
                    .filter(|_| each.heard.every_member_heard()),
                tally: each.heard,
            }),
            Tracker::EachCount(mut each) => {
                let mut last = each.last_certain;
                for (number, member, at) in each.unsure {
                    if at <= deadline {
                        each.certain.add_to(member);
                        last = last.max(Some(number));
                    }
                }
                Some(EachTallied {
                    tally: each.certain,
                    last,
                })
            }
            Tracker::FirstFit(_) | Tracker::Count(_) => None,
        }
    }

    /// Stops tracking.
    pub(crate) fn untrack(&mut self, id: TrackerId) {
        if let Some(tracker) = self.trackers.get_mut(id.0) {
            *tracker = None;
        }
    }

    /// Logs a message routed at the world's time `now`.
    pub(crate) fn push(&mut self, now: Instant, message: LoggedMessage) {
        let number = self.len();
        match &mut self.output {
            MessageOutput::Discard => {}
            MessageOutput::Memory => self.all.push(message.clone()),
            MessageOutput::Csv(rows) => {
                if self.error.is_none()
                    && let Err(error) = rows.write(&message)
                {
                    self.error = Some(error);
                }
            }
        }
        if self.first_of_run.len() < SHOWN_IN_REPORT {
            self.first_of_run.push(message.clone());
        }
        for tracker in self.trackers.iter_mut().flatten() {
            tracker.offer(number, now, &message);
        }
        self.kept.push_back(message);
        self.forget_unneeded();
    }

    fn forget_unneeded(&mut self) {
        let keep_from = match self.retention {
            Retention::Nothing => self.len(),
            Retention::From(number) => number,
            Retention::AfterLastFit { tracker, floor } => {
                match self.trackers.get(tracker.0).and_then(Option::as_ref) {
                    Some(tracker) => tracker.last_fit().map_or(floor, |last| last + 1),
                    None => floor,
                }
            }
            Retention::Everything => 0,
        };
        while self.first_kept < keep_from {
            let Some(message) = self.kept.pop_front() else {
                break;
            };
            self.first_kept += 1;
            for earlier in &mut self.earlier {
                if filter_matches(&earlier.filter, &message.topic) {
                    if earlier.latest.len() == SHOWN_IN_REPORT {
                        earlier.latest.pop_front();
                    }
                    earlier.latest.push_back(message.clone());
                }
            }
        }
    }

    /// How many messages the run has logged.
    pub(crate) fn len(&self) -> usize {
        self.first_kept + self.kept.len()
    }

    /// The kept messages from number `first` on, with their numbers.
    pub(crate) fn from(&self, first: usize) -> impl Iterator<Item = (usize, &LoggedMessage)> {
        let skip = first.saturating_sub(self.first_kept);
        self.kept
            .iter()
            .enumerate()
            .skip(skip)
            .map(|(offset, message)| (self.first_kept + offset, message))
    }

    /// The latest messages on `filter` before number `before`, oldest
    /// first, at most what a report shows: those that left the window
    /// (if `filter` is remembered) and those kept.
    pub(crate) fn latest_on_topic_before(
        &self,
        filter: &str,
        before: usize,
    ) -> Vec<&LoggedMessage> {
        let left = self
            .earlier
            .iter()
            .find(|earlier| earlier.filter == filter)
            .into_iter()
            .flat_map(|earlier| earlier.latest.iter());
        let kept = self
            .kept
            .iter()
            .take(before.saturating_sub(self.first_kept))
            .filter(|message| filter_matches(filter, &message.topic));
        let all: Vec<&LoggedMessage> = left.chain(kept).collect();
        let skip = all.len().saturating_sub(SHOWN_IN_REPORT);
        all.into_iter().skip(skip).collect()
    }

    /// Flushes the output; every message if they were asked for in memory
    /// (else none), and the first error writing them.
    pub(crate) fn finish(&mut self) -> (Vec<LoggedMessage>, Option<CsvError>) {
        if let MessageOutput::Csv(rows) = &mut self.output
            && self.error.is_none()
            && let Err(error) = rows.flush()
        {
            self.error = Some(error);
        }
        (std::mem::take(&mut self.all), self.error.take())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(at_ms: u64, topic: &str) -> LoggedMessage {
        LoggedMessage {
            at: Instant::from_millis(at_ms),
            source: "probe".to_owned(),
            topic: topic.to_owned(),
            payload: b"1".to_vec(),
            qos: 0,
            retain: false,
        }
    }

    fn expectation(filter: &str, count: Option<u32>, within_ms: u64) -> MessageExpectation {
        MessageExpectation {
            filter: filter.to_owned(),
            body: None,
            qos: None,
            retain: None,
            count,
            within: Duration::from_millis(within_ms),
            since_start: true,
            tolerance: None,
            from: None,
            each: false,
        }
    }

    fn from_member(at_ms: u64, member: &str) -> LoggedMessage {
        LoggedMessage {
            source: member.to_owned(),
            ..message(at_ms, "a")
        }
    }

    /// `each: true` over a fleet `probe` of three, with `count` if given.
    fn each_of_three(count: Option<u32>, within_ms: u64) -> MessageExpectation {
        let fleet = hilt_scenario::Fleet {
            name: "probe".to_owned(),
            location: Default::default(),
            count: 3,
            first_device: 0,
        };
        MessageExpectation {
            from: Some(Publishers::Fleet(fleet)),
            each: true,
            ..expectation("a", count, within_ms)
        }
    }

    fn topics(messages: &[&LoggedMessage]) -> Vec<u64> {
        messages
            .iter()
            .map(|message| message.at.as_micros() / 1000)
            .collect()
    }

    #[test]
    fn only_the_retained_messages_are_kept_and_their_numbers_stay() {
        let mut log = MessageLog::default();
        log.send_to(MessageOutput::Discard);
        log.retain(Retention::From(3));
        for at in 0..6 {
            log.push(Instant::from_millis(at), message(at, "a"));
        }
        assert_eq!(log.len(), 6);
        let kept: Vec<usize> = log.from(0).map(|(number, _)| number).collect();
        assert_eq!(kept, [3, 4, 5]);
        log.retain(Retention::Nothing);
        assert_eq!(log.from(0).count(), 0);
        assert_eq!(log.len(), 6);
        assert!(log.finish().0.is_empty(), "nothing asked for in memory");
    }

    #[test]
    fn a_report_still_finds_the_latest_earlier_messages_on_its_topic() {
        let mut log = MessageLog::default();
        log.remember_earlier("a");
        log.retain(Retention::Nothing);
        for at in 0..20 {
            let topic = if at % 2 == 0 { "a" } else { "b" };
            log.push(Instant::from_millis(at), message(at, topic));
        }
        let latest = log.latest_on_topic_before("a", log.len());
        assert_eq!(topics(&latest), [4, 6, 8, 10, 12, 14, 16, 18]);
        // In memory, every message is there whatever the log kept.
        assert_eq!(log.finish().0.len(), 20);
    }

    #[test]
    fn a_count_before_its_step_keeps_the_messages_that_may_be_past_its_deadline() {
        let mut log = MessageLog::default();
        log.retain(Retention::Nothing);
        let count = log.track(&expectation("a", Some(3), 1_000), None);
        // At world time 0 the deadline is at least 1 s away: a message
        // stamped 0.5 s counts for sure; one stamped 5 s (a device ahead
        // of the world) counts only if the deadline turns out later.
        log.push(Instant::from_millis(0), message(500, "a"));
        log.push(Instant::from_millis(0), message(5_000, "a"));
        log.push(Instant::from_millis(0), message(600, "b"));
        log.push(Instant::from_millis(2_000), message(2_000, "a"));
        let counted = log.finish_count(count, Instant::from_millis(3_000));
        assert_eq!(counted.count, 2);
        assert_eq!(counted.last, Some(3));
        let count = log.track(&expectation("a", Some(3), 1_000), None);
        log.push(Instant::from_millis(0), message(5_000, "a"));
        log.push(Instant::from_millis(0), message(500, "a"));
        let counted = log.finish_count(count, Instant::from_millis(6_000));
        assert_eq!(counted.count, 2);
        assert_eq!(counted.last, Some(5));
        assert_eq!(
            topics(&counted.first.iter().collect::<Vec<_>>()),
            [5_000, 500]
        );
    }

    #[test]
    fn the_first_fit_is_the_first_not_later_than_the_deadline() {
        let mut log = MessageLog::default();
        log.retain(Retention::Nothing);
        let first = log.track(&expectation("a", None, 10), None);
        log.push(Instant::from_millis(0), message(900, "a"));
        log.push(Instant::from_millis(0), message(950, "a"));
        log.push(Instant::from_millis(0), message(100, "a"));
        log.push(Instant::from_millis(200), message(200, "a"));
        assert_eq!(log.first_fit(first, Instant::from_millis(1_000)), Some(0));
        assert_eq!(log.first_fit(first, Instant::from_millis(500)), Some(2));
        assert_eq!(log.first_fit(first, Instant::from_millis(50)), None);
        assert_eq!(log.first_on_topic(first).len(), 4);
    }

    #[test]
    fn each_member_counts_on_its_own_and_only_members_count() {
        let mut log = MessageLog::default();
        log.retain(Retention::Nothing);
        let each = log.track(&each_of_three(Some(2), 1_000), None);
        log.push(Instant::from_millis(0), from_member(100, "probe-1"));
        log.push(Instant::from_millis(0), from_member(200, "probe-1"));
        log.push(Instant::from_millis(0), from_member(300, "other"));
        log.push(Instant::from_millis(0), from_member(400, "probe-2"));
        // Ahead of the world: counts only if the deadline turns out later.
        log.push(Instant::from_millis(0), from_member(5_000, "probe-2"));
        log.push(Instant::from_millis(0), message(500, "b"));
        let tallied = log.finish_each(each, Instant::from_millis(6_000)).unwrap();
        assert_eq!(tallied.last, Some(4));
        assert_eq!(tallied.tally.members_not_at(2), [("probe-3".to_owned(), 0)]);
        let each = log.track(&each_of_three(Some(2), 1_000), None);
        log.push(Instant::from_millis(0), from_member(5_000, "probe-2"));
        let tallied = log.finish_each(each, Instant::from_millis(2_000)).unwrap();
        assert_eq!(tallied.last, None, "past its deadline nothing counts");
        assert_eq!(tallied.tally.silent_members().len(), 3);
    }

    #[test]
    fn each_member_first_fit_is_met_by_the_latest_first_fit_within_the_deadline() {
        let mut log = MessageLog::default();
        log.retain(Retention::Nothing);
        let each = log.track(&each_of_three(None, 10), None);
        // probe-1 first publishes ahead of the world at 900, then at 100.
        log.push(Instant::from_millis(0), from_member(900, "probe-1"));
        log.push(Instant::from_millis(0), from_member(50, "probe-2"));
        log.push(Instant::from_millis(100), from_member(100, "probe-1"));
        log.push(Instant::from_millis(100), from_member(100, "probe-2"));
        assert!(
            !log.every_member_heard(each),
            "nothing is counted before the deadline is known"
        );
        // The step starts at 200 with a deadline of 1 s: every member but
        // probe-3 is heard, probe-1 by its message number 0.
        log.fix_deadline(each, Instant::from_millis(1_000));
        assert!(!log.every_member_heard(each));
        log.push(Instant::from_millis(300), from_member(1_500, "probe-3"));
        assert!(!log.every_member_heard(each), "later than the deadline");
        log.push(Instant::from_millis(400), from_member(400, "probe-3"));
        assert!(log.every_member_heard(each));
        log.push(Instant::from_millis(500), from_member(500, "probe-3"));
        let tallied = log.finish_each(each, Instant::from_millis(1_000)).unwrap();
        assert_eq!(tallied.last, Some(5));
        assert!(tallied.tally.silent_members().is_empty());

        // With a deadline of 500 ms probe-1's first fit is its second
        // message, and probe-3 published nothing in time.
        let each = log.track(&each_of_three(None, 10), None);
        log.push(Instant::from_millis(0), from_member(900, "probe-1"));
        log.push(Instant::from_millis(100), from_member(100, "probe-1"));
        log.push(Instant::from_millis(100), from_member(100, "probe-2"));
        log.push(Instant::from_millis(100), from_member(700, "probe-3"));
        let tallied = log.finish_each(each, Instant::from_millis(500)).unwrap();
        assert_eq!(tallied.last, None);
        assert_eq!(tallied.tally.silent_members(), [("probe-3".to_owned(), 0)]);
    }

    #[test]
    fn a_running_each_count_keeps_only_what_follows_its_last_fit() {
        let mut log = MessageLog::default();
        let each = log.track(
            &each_of_three(Some(1), 1_000),
            Some(Instant::from_millis(1_000)),
        );
        log.retain(Retention::AfterLastFit {
            tracker: each,
            floor: 0,
        });
        log.push(Instant::from_millis(0), message(10, "b"));
        log.push(Instant::from_millis(0), from_member(20, "probe-1"));
        log.push(Instant::from_millis(0), message(30, "b"));
        let kept: Vec<usize> = log.from(0).map(|(number, _)| number).collect();
        assert_eq!(kept, [2]);
    }
}
