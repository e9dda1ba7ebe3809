//! What a page shows, gathered from a run's recorded events in two
//! streaming passes, in memory bounded by the [`Limits`] and not by the
//! length of the run.
//!
//! The sequence diagram shows events one by one up to a budget: the first
//! ones, the last ones and those just before the failure. The events in
//! between are collapsed into [`Gap`]s that count them by flow and by time
//! slice. Timelines and message rates are aggregated into a fixed number of
//! time buckets over the whole run.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::fs::File;

use hilt_firmware::mqtt::topic::filter_matches;
use hilt_scenario::Scenario;

use crate::record::{LevelKind, Recorded, for_each_recorded};

/// How much a page shows individually before it aggregates.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Limits {
    /// A run with at most this many events shows every one.
    pub all_up_to: usize,
    /// Otherwise: the first this many,
    pub head: usize,
    /// the last this many,
    pub tail: usize,
    /// and this many just before the failure, besides every step.
    pub before_failure: usize,
    /// Time buckets of the timelines (LED duty, sensor values).
    pub buckets: usize,
    /// Time buckets of a topic's rate sparkline.
    pub rate_buckets: usize,
    /// State changes of one LED or pin drawn exactly; beyond, its duty
    /// per bucket.
    pub exact_changes: usize,
    /// Values of one part drawn (the rest are counted).
    pub values: usize,
    /// Topics listed with their rates (the busiest).
    pub topics: usize,
    /// Flows named in a gap (the rest are counted together).
    pub flows_per_gap: usize,
    /// Lifelines for devices (fleets take one each; the rest share one).
    pub device_columns: usize,
}

pub(crate) const LIMITS: Limits = Limits {
    all_up_to: 500,
    head: 150,
    tail: 100,
    before_failure: 150,
    buckets: 600,
    rate_buckets: 120,
    exact_changes: 4_000,
    values: 2_000,
    topics: 100,
    flows_per_gap: 24,
    device_columns: 12,
};

/// A lifeline of the sequence diagram.
#[derive(Clone, Debug)]
pub(crate) struct Column {
    pub name: String,
    /// What it stands for, when more than its name (`fleet of 100`).
    pub detail: Option<String>,
}

pub(crate) const HARNESS: usize = 0;
pub(crate) const BROKER: usize = 1;

/// One row of the sequence diagram.
#[derive(Debug)]
pub(crate) enum Row {
    Event {
        event: Recorded,
        /// For a message: the lifelines it was (by the subscriptions seen)
        /// delivered to.
        deliveries: Vec<usize>,
    },
    Gap(Gap),
}

/// Events collapsed into one row.
#[derive(Debug, Default)]
pub(crate) struct Gap {
    pub count: usize,
    pub from: u64,
    pub to: u64,
    /// `blue → blue/btn/0`, `green.led`, `notes`: how many of each.
    pub flows: BTreeMap<String, usize>,
    /// Events of flows beyond the limit.
    pub other_flows: usize,
    /// Events per time bucket of the run.
    pub buckets: BTreeMap<usize, usize>,
}

#[derive(Clone, Debug)]
pub(crate) struct StepMark {
    pub at: u64,
    pub line: usize,
    pub description: String,
}

#[derive(Clone, Debug)]
pub(crate) struct FailureMark {
    pub at: u64,
    pub line: usize,
    pub expected: String,
}

/// An LED, button or pin over the run.
#[derive(Debug)]
pub(crate) struct LevelSeries {
    pub device: String,
    pub line: String,
    pub kind: LevelKind,
    /// Every change, unless there were more than the limit (then empty and
    /// `exact` false).
    pub changes: Vec<(u64, bool)>,
    pub exact: bool,
    pub change_count: usize,
    /// Microseconds high in each bucket.
    pub high_time: Vec<u64>,
    last: Option<(u64, bool)>,
}

/// A part's values set over the run.
#[derive(Debug)]
pub(crate) struct ValueSeries {
    pub device: String,
    pub part: String,
    pub quantity: String,
    /// Time, number (none for a fault), shown value.
    pub points: Vec<(u64, Option<f64>, String)>,
    pub left_out: usize,
}

/// Messages on one topic.
#[derive(Debug)]
pub(crate) struct TopicRate {
    pub topic: String,
    pub count: usize,
    pub sources: BTreeSet<String>,
    pub more_sources: bool,
    pub first: u64,
    pub last: u64,
    pub buckets: Vec<u32>,
}

/// Everything a page draws.
#[derive(Debug)]
pub(crate) struct PageModel {
    /// Device time at the end of the run (at least 1 µs).
    pub end: u64,
    pub columns: Vec<Column>,
    /// Each device's lifeline.
    pub of_device: HashMap<String, usize>,
    pub rows: Vec<Row>,
    pub events: usize,
    pub messages: usize,
    pub steps: Vec<StepMark>,
    pub failure: Option<FailureMark>,
    pub levels: Vec<LevelSeries>,
    pub values: Vec<ValueSeries>,
    pub topics: Vec<TopicRate>,
    pub topics_left_out: usize,
    pub limits: Limits,
}

/// Where each device's events are drawn.
struct Lifelines {
    columns: Vec<Column>,
    of_device: HashMap<String, usize>,
}

impl Lifelines {
    fn new(scenario: &Scenario, limits: &Limits) -> Lifelines {
        let mut columns = vec![
            Column {
                name: "harness".to_owned(),
                detail: Some("steps and publishes".to_owned()),
            },
            Column {
                name: "broker".to_owned(),
                detail: None,
            },
        ];
        let mut of_device = HashMap::new();
        let mut others: Option<usize> = None;
        let mut index = 0;
        while index < scenario.devices.len() {
            let device = &scenario.devices[index];
            let fleet = scenario
                .fleets
                .iter()
                .find(|fleet| fleet.first_device == index && fleet.count as usize > 1);
            let (name, detail, members) = match fleet {
                Some(fleet) => (
                    fleet.name.clone(),
                    Some(format!("fleet of {}", fleet.count)),
                    fleet.count as usize,
                ),
                None => (device.name.clone(), None, 1),
            };
            let column = if columns.len() - 2 < limits.device_columns {
                columns.push(Column { name, detail });
                columns.len() - 1
            } else {
                *others.get_or_insert_with(|| {
                    columns.push(Column {
                        name: "other devices".to_owned(),
                        detail: None,
                    });
                    columns.len() - 1
                })
            };
            for member in &scenario.devices[index..(index + members).min(scenario.devices.len())] {
                of_device.insert(member.name.clone(), column);
            }
            index += members;
        }
        Lifelines { columns, of_device }
    }
}

/// The device a note is about: its first word, without a possessive.
pub(crate) fn note_subject(text: &str) -> &str {
    let first = text.split([' ', '.']).next().unwrap_or("");
    first.strip_suffix("'s").unwrap_or(first)
}

/// Which lifeline an event sits on (for a message, its source).
pub(crate) fn device_of(event: &Recorded) -> Option<&str> {
    match event {
        Recorded::Subscribe { device, .. }
        | Recorded::Value { device, .. }
        | Recorded::Level { device, .. } => Some(device),
        Recorded::Message { source, .. } => Some(source),
        Recorded::Note { text, .. } => Some(note_subject(text)),
        Recorded::Step { .. } | Recorded::Failed { .. } => None,
    }
}

/// The flow an event counts under in a gap.
fn flow_of(event: &Recorded) -> String {
    match event {
        Recorded::Message { source, topic, .. } => format!("{source} → {topic}"),
        Recorded::Subscribe { device, .. } => format!("{device} SUBSCRIBE"),
        Recorded::Value { device, part, .. } => format!("{device}.{part} set"),
        Recorded::Level { device, line, .. } => format!("{device}.{line} changes"),
        Recorded::Note { text, .. } => {
            if text.contains(" log ") {
                format!("{} log lines", note_subject(text))
            } else {
                format!("{} notes", note_subject(text))
            }
        }
        Recorded::Step { .. } => "steps".to_owned(),
        Recorded::Failed { .. } => "failure".to_owned(),
    }
}

fn bucket_of(at: u64, end: u64, buckets: usize) -> usize {
    let index = u128::from(at) * buckets as u128 / u128::from(end.max(1));
    (index as usize).min(buckets - 1)
}

impl LevelSeries {
    fn change(&mut self, at: u64, high: bool, end: u64, limits: &Limits) {
        self.change_count += 1;
        if self.exact {
            if self.changes.len() < limits.exact_changes {
                self.changes.push((at, high));
            } else {
                self.exact = false;
                self.changes = Vec::new();
            }
        }
        if let Some((since, true)) = self.last {
            add_high_time(&mut self.high_time, since, at, end);
        }
        self.last = Some((at, high));
    }

    fn close(&mut self, end: u64) {
        if let Some((since, true)) = self.last {
            add_high_time(&mut self.high_time, since, end, end);
        }
    }
}

/// Adds the time from `from` to `to` to the buckets it overlaps.
fn add_high_time(buckets: &mut [u64], from: u64, to: u64, end: u64) {
    let count = buckets.len();
    let to = to.min(end);
    if to <= from {
        return;
    }
    let bucket_length = |index: usize| -> (u64, u64) {
        let start = (u128::from(end) * index as u128 / count as u128) as u64;
        let stop = (u128::from(end) * (index as u128 + 1) / count as u128) as u64;
        (start, stop)
    };
    for (index, high) in buckets
        .iter_mut()
        .enumerate()
        .take(bucket_of(to.saturating_sub(1), end, count) + 1)
        .skip(bucket_of(from, end, count))
    {
        let (start, stop) = bucket_length(index);
        *high += to.min(stop).saturating_sub(from.max(start));
    }
}

/// The first pass's findings that decide the second's rows.
struct FirstPass {
    events: usize,
    /// The numbers of the events shown just before the failure.
    before_failure: BTreeSet<usize>,
}

/// Reads the recorded events of `file` (twice) into a page's model.
/// `end` is the run's device time at its end; `failure` its failed
/// expectation, if any: (time, line, expected).
pub(crate) fn build(
    file: &mut File,
    scenario: &Scenario,
    end: u64,
    failure: Option<FailureMark>,
    limits: Limits,
) -> std::io::Result<PageModel> {
    let end = end.max(1);
    let lifelines = Lifelines::new(scenario, &limits);
    let mut model = PageModel {
        end,
        columns: lifelines.columns.clone(),
        of_device: lifelines.of_device.clone(),
        rows: Vec::new(),
        events: 0,
        messages: 0,
        steps: Vec::new(),
        failure,
        levels: Vec::new(),
        values: Vec::new(),
        topics: Vec::new(),
        topics_left_out: 0,
        limits,
    };

    // Pass 1: counts, timelines, rates, steps.
    let mut levels: BTreeMap<(String, String, LevelKind), LevelSeries> = BTreeMap::new();
    let mut values: BTreeMap<(String, String, String), ValueSeries> = BTreeMap::new();
    let mut topics: HashMap<String, TopicRate> = HashMap::new();
    let failure_at = model.failure.as_ref().map(|failure| failure.at);
    let mut recent: VecDeque<usize> = VecDeque::new();
    let mut number = 0;
    for_each_recorded(file, |event| {
        if let Some(failure_at) = failure_at
            && event.at() <= failure_at
            && !matches!(event, Recorded::Step { .. } | Recorded::Failed { .. })
        {
            if recent.len() == limits.before_failure {
                recent.pop_front();
            }
            recent.push_back(number);
        }
        number += 1;
        match event {
            Recorded::Step {
                at,
                line,
                description,
            } => model.steps.push(StepMark {
                at,
                line,
                description,
            }),
            Recorded::Message {
                at, source, topic, ..
            } => {
                model.messages += 1;
                let rate = topics.entry(topic.clone()).or_insert_with(|| TopicRate {
                    topic,
                    count: 0,
                    sources: BTreeSet::new(),
                    more_sources: false,
                    first: at,
                    last: at,
                    buckets: vec![0; limits.rate_buckets],
                });
                rate.count += 1;
                rate.first = rate.first.min(at);
                rate.last = rate.last.max(at);
                rate.buckets[bucket_of(at, end, limits.rate_buckets)] += 1;
                if !rate.sources.contains(&source) {
                    if rate.sources.len() < 4 {
                        rate.sources.insert(source);
                    } else {
                        rate.more_sources = true;
                    }
                }
            }
            Recorded::Level {
                at,
                device,
                line,
                what,
                high,
            } => {
                levels
                    .entry((device.clone(), line.clone(), what))
                    .or_insert_with(|| LevelSeries {
                        device,
                        line,
                        kind: what,
                        changes: Vec::new(),
                        exact: true,
                        change_count: 0,
                        high_time: vec![0; limits.buckets],
                        last: None,
                    })
                    .change(at, high, end, &limits);
            }
            Recorded::Value {
                at,
                device,
                part,
                quantity,
                number,
                shown,
            } => {
                // A fault belongs on the row of the part's measured value.
                let series = values
                    .entry((device.clone(), part.clone(), quantity.clone()))
                    .or_insert_with(|| ValueSeries {
                        device,
                        part,
                        quantity,
                        points: Vec::new(),
                        left_out: 0,
                    });
                if series.points.len() < limits.values {
                    series.points.push((at, number, shown));
                } else {
                    series.left_out += 1;
                }
            }
            Recorded::Subscribe { .. } | Recorded::Failed { .. } | Recorded::Note { .. } => {}
        }
    })?;
    model.events = number;
    for series in levels.values_mut() {
        series.close(end);
    }
    model.levels = levels.into_values().collect();
    model.values = values.into_values().collect();
    let mut topics: Vec<TopicRate> = topics.into_values().collect();
    topics.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.topic.cmp(&b.topic)));
    model.topics_left_out = topics.len().saturating_sub(limits.topics);
    topics.truncate(limits.topics);
    model.topics = topics;

    // Pass 2: the rows of the sequence diagram.
    let first = FirstPass {
        events: number,
        before_failure: recent.into_iter().collect(),
    };
    model.rows = rows(file, &lifelines, &first, end, &limits)?;
    Ok(model)
}

fn rows(
    file: &mut File,
    lifelines: &Lifelines,
    first: &FirstPass,
    end: u64,
    limits: &Limits,
) -> std::io::Result<Vec<Row>> {
    let show_all = first.events <= limits.all_up_to;
    let mut rows = Vec::new();
    let mut gap: Option<Gap> = None;
    // Each lifeline's topic filters, from the SUBSCRIBEs seen: whom a
    // message reaches. A clean session forgets them.
    let mut subscriptions: HashMap<String, Vec<String>> = HashMap::new();
    let mut number = 0;
    for_each_recorded(file, |event| {
        let shown = show_all
            || number < limits.head
            || number + limits.tail >= first.events
            || first.before_failure.contains(&number)
            || matches!(event, Recorded::Step { .. } | Recorded::Failed { .. });
        number += 1;
        match &event {
            Recorded::Subscribe {
                device, filters, ..
            } => subscriptions
                .entry(device.clone())
                .or_default()
                .extend(filters.iter().cloned()),
            Recorded::Note { text, .. }
                if text.contains(" CONNECT ") && text.contains("clean session true") =>
            {
                subscriptions.remove(note_subject(text));
            }
            _ => {}
        }
        if !shown {
            let gap = gap.get_or_insert_with(|| Gap {
                from: event.at(),
                to: event.at(),
                ..Gap::default()
            });
            gap.count += 1;
            gap.from = gap.from.min(event.at());
            gap.to = gap.to.max(event.at());
            *gap.buckets
                .entry(bucket_of(event.at(), end, limits.buckets))
                .or_default() += 1;
            let flow = flow_of(&event);
            if let Some(count) = gap.flows.get_mut(&flow) {
                *count += 1;
            } else if gap.flows.len() < limits.flows_per_gap {
                gap.flows.insert(flow, 1);
            } else {
                gap.other_flows += 1;
            }
            return;
        }
        if let Some(gap) = gap.take() {
            rows.push(Row::Gap(gap));
        }
        let deliveries = match &event {
            Recorded::Message { topic, .. } => {
                let mut reached: BTreeSet<usize> = BTreeSet::new();
                for (device, filters) in &subscriptions {
                    if filters.iter().any(|filter| filter_matches(filter, topic))
                        && let Some(column) = lifelines.of_device.get(device)
                    {
                        reached.insert(*column);
                    }
                }
                reached.into_iter().collect()
            }
            _ => Vec::new(),
        };
        rows.push(Row::Event { event, deliveries });
    })?;
    if let Some(gap) = gap.take() {
        rows.push(Row::Gap(gap));
    }
    Ok(rows)
}

/// The lifeline an event is drawn on.
pub(crate) fn column_of(columns_of: &HashMap<String, usize>, event: &Recorded) -> usize {
    match event {
        Recorded::Message { source, .. } if source == "harness" => HARNESS,
        _ => device_of(event)
            .and_then(|device| columns_of.get(device).copied())
            .unwrap_or(BROKER),
    }
}

/// The lifeline a message comes from: a device's, the harness's, or the
/// broker's (a will).
pub(crate) fn source_column(columns_of: &HashMap<String, usize>, source: &str) -> usize {
    if source == "harness" {
        HARNESS
    } else {
        columns_of.get(source).copied().unwrap_or(BROKER)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn high_time_is_split_over_the_buckets_it_covers() {
        let mut buckets = vec![0; 4];
        // A run of 400 µs in buckets of 100: high from 50 to 250.
        add_high_time(&mut buckets, 50, 250, 400);
        assert_eq!(buckets, [50, 100, 50, 0]);
        add_high_time(&mut buckets, 390, 500, 400);
        assert_eq!(buckets, [50, 100, 50, 10]);
    }

    #[test]
    fn notes_are_about_their_first_word() {
        assert_eq!(note_subject("blue CONNECT client id blue"), "blue");
        assert_eq!(note_subject("blue's connection times out"), "blue");
        assert_eq!(note_subject("node log info: boot"), "node");
        assert_eq!(note_subject("broker stops"), "broker");
    }
}
