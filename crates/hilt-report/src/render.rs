//! A scenario's page: the header with the verdict, the sequence diagram,
//! the timelines and the message rates, as one HTML file with its style,
//! script and drawings inline.

use std::fmt::Write as _;

use crate::html::{count, cut, escape, time};
use crate::model::{
    BROKER, FailureMark, Gap, HARNESS, LevelSeries, PageModel, Row, ValueSeries, column_of,
    source_column,
};
use crate::record::{LevelKind, Recorded};

pub(crate) const STYLE: &str = include_str!("../assets/report.css");
pub(crate) const SCRIPT: &str = include_str!("../assets/report.js");

/// The verdict as the page shows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Shown {
    Passed,
    Failed,
    Error,
}

impl Shown {
    pub(crate) fn word(self) -> &'static str {
        match self {
            Shown::Passed => "PASS",
            Shown::Failed => "FAIL",
            Shown::Error => "ERROR",
        }
    }

    pub(crate) fn class(self) -> &'static str {
        match self {
            Shown::Passed => "pass",
            Shown::Failed => "fail",
            Shown::Error => "error",
        }
    }
}

/// What the page says about the run besides its events.
pub(crate) struct PageHeading<'a> {
    pub name: &'a str,
    pub file: &'a str,
    pub about: Option<&'a str>,
    pub verdict: Shown,
    /// The terminal's report of a failure or error.
    pub report: Option<&'a str>,
    pub index_href: &'a str,
}

// The sequence diagram's geometry, in pixels.
const GUTTER: u32 = 110;
const COLUMN: u32 = 170;
const EVENT_ROW: u32 = 24;
const MESSAGE_ROW: u32 = 36;
/// Room right of the last lifeline for the labels and notes drawn there.
const RIGHT_MARGIN: u32 = 300;

// The timelines' geometry.
const LABELS: f64 = 200.0;
const PLOT: f64 = 900.0;
const LEVEL_ROW: f64 = 24.0;
const VALUE_ROW: f64 = 70.0;

fn column_x(column: usize) -> u32 {
    GUTTER + COLUMN * column as u32 + COLUMN / 2
}

/// The whole page.
pub(crate) fn page(heading: &PageHeading<'_>, model: &PageModel) -> String {
    let mut html = String::with_capacity(64 * 1024);
    let title = format!("{} {}", heading.verdict.word(), heading.name);
    let _ = write!(
        html,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{}</title><style>{STYLE}</style></head>\n<body data-script=\"not run\">\n",
        escape(&title)
    );
    header(&mut html, heading, model);
    sequence(&mut html, model);
    timelines(&mut html, model);
    rates(&mut html, model);
    let _ = write!(
        html,
        "<footer>Written by <code>hilt replay --html</code>. Device time throughout; \
         nothing on this page is fetched from the network.</footer>\n\
         <script>{SCRIPT}</script>\n</body></html>\n"
    );
    html
}

fn header(html: &mut String, heading: &PageHeading<'_>, model: &PageModel) {
    let verdict = heading.verdict;
    let _ = write!(
        html,
        "<header><nav><a href=\"{}\">← all scenarios</a></nav>\
         <h1><span class=\"verdict {}\">{}</span> {}</h1>\
         <p class=\"file\"><code>{}</code></p>",
        escape(heading.index_href),
        verdict.class(),
        verdict.word(),
        escape(heading.name),
        escape(heading.file),
    );
    if let Some(about) = heading.about {
        let _ = write!(html, "<p class=\"about\">{}</p>", escape(about.trim()));
    }
    let _ = write!(
        html,
        "<ul class=\"facts\"><li><b>{}</b> device time</li><li><b>{}</b> messages</li>\
         <li><b>{}</b> events</li><li><b>{}</b> steps</li></ul>",
        time(model.end),
        count(model.messages),
        count(model.events),
        count(model.steps.len()),
    );
    if let Some(report) = heading.report {
        let link = if model.failure.is_some() {
            "<p><a class=\"jump\" href=\"#failure\">Show where it failed ↓</a></p>"
        } else {
            ""
        };
        let _ = write!(
            html,
            "<section class=\"report {}\"><pre>{}</pre>{link}</section>",
            verdict.class(),
            escape(report.trim_end())
        );
    }
    html.push_str("<nav class=\"contents\"><a href=\"#sequence\">Sequence</a> · <a href=\"#timelines\">Timelines</a> · <a href=\"#rates\">Message rates</a></nav></header>\n");
}

// ----- the sequence diagram ---------------------------------------------------

fn sequence(html: &mut String, model: &PageModel) {
    let width = GUTTER + COLUMN * model.columns.len() as u32 + RIGHT_MARGIN;
    let shown = model
        .rows
        .iter()
        .filter(|row| matches!(row, Row::Event { .. }))
        .count();
    let _ = write!(
        html,
        "<section id=\"sequence\"><h2>Sequence</h2><p class=\"hint\">Messages between \
         the devices, the broker and the harness, in device time, top to bottom. \
         Solid arrows are publishes to the broker; dashed ones are its deliveries to \
         the devices whose subscriptions (as seen in this run) match. Steps are blue \
         bands; the failing expectation is red. {}</p>",
        if shown < model.events {
            format!(
                "{} of {} events are drawn one by one (the first, the last and those just \
                 before a failure); the rest are collapsed into grey rows that count them — \
                 open one to see what it holds. Click a timeline below to jump here.",
                count(shown),
                count(model.events)
            )
        } else {
            "Click a timeline below to jump to that time here.".to_owned()
        }
    );
    let _ = write!(
        html,
        "<div class=\"diagram\" style=\"width:{width}px\"><div class=\"lifeline-heads\" style=\"width:{width}px\">"
    );
    for (index, column) in model.columns.iter().enumerate() {
        let class = match index {
            HARNESS => "head harness",
            BROKER => "head broker",
            _ => "head device",
        };
        let detail = column
            .detail
            .as_deref()
            .map(|detail| format!("<small>{}</small>", escape(detail)))
            .unwrap_or_default();
        let _ = write!(
            html,
            "<div class=\"{class}\" style=\"left:{}px;width:{}px\">{}{detail}</div>",
            GUTTER + COLUMN * index as u32 + 6,
            COLUMN - 12,
            escape(&column.name)
        );
    }
    html.push_str("</div>");
    let failing_line = model.failure.as_ref().map(|failure| failure.line);
    let mut segment: Vec<&Row> = Vec::new();
    for row in &model.rows {
        match row {
            Row::Event { .. } => segment.push(row),
            Row::Gap(gap) => {
                svg_segment(html, model, &segment, width, failing_line);
                segment.clear();
                gap_row(html, model, gap);
            }
        }
    }
    svg_segment(html, model, &segment, width, failing_line);
    html.push_str("</div></section>\n");
}

fn row_height(row: &Row) -> u32 {
    match row {
        Row::Event {
            event: Recorded::Message { .. },
            ..
        } => MESSAGE_ROW,
        _ => EVENT_ROW,
    }
}

fn svg_segment(
    html: &mut String,
    model: &PageModel,
    rows: &[&Row],
    width: u32,
    failing_line: Option<usize>,
) {
    if rows.is_empty() {
        return;
    }
    let height: u32 = rows.iter().map(|row| row_height(row)).sum::<u32>() + 8;
    let _ = write!(
        html,
        "<svg class=\"seq\" width=\"{width}\" height=\"{height}\" viewBox=\"0 0 {width} {height}\">"
    );
    for index in 0..model.columns.len() {
        let x = column_x(index);
        let _ = write!(
            html,
            "<line class=\"life\" x1=\"{x}\" y1=\"0\" x2=\"{x}\" y2=\"{height}\"/>"
        );
    }
    let mut y = 4;
    for row in rows {
        if let Row::Event { event, deliveries } = row {
            event_row(html, model, event, deliveries, y, width, failing_line);
        }
        y += row_height(row);
    }
    html.push_str("</svg>");
}

fn time_label(html: &mut String, at: u64, y: u32) {
    let _ = write!(
        html,
        "<text class=\"t\" x=\"{}\" y=\"{}\">{}</text>",
        GUTTER - 8,
        y + 15,
        time(at)
    );
}

/// An arrow from `from` to `to` at height `y`.
fn arrow(html: &mut String, from: usize, to: usize, y: u32, class: &str) {
    let (x1, x2) = (column_x(from), column_x(to));
    let _ = write!(
        html,
        "<line class=\"{class}\" x1=\"{x1}\" y1=\"{y}\" x2=\"{x2}\" y2=\"{y}\"/>"
    );
    let head = if x2 >= x1 {
        format!("{},{} {},{} {},{}", x2, y, x2 - 7, y - 4, x2 - 7, y + 4)
    } else {
        format!("{},{} {},{} {},{}", x2, y, x2 + 7, y - 4, x2 + 7, y + 4)
    };
    let _ = write!(html, "<polygon class=\"{class} head\" points=\"{head}\"/>");
}

/// A label starting near the left end of the span from `from` to `to`.
fn label(html: &mut String, from: usize, to: usize, y: u32, class: &str, text: &str, full: &str) {
    labelled_payload(html, from, to, y, class, text, "", full);
}

/// A label, then a payload set apart from it.
#[allow(clippy::too_many_arguments)]
fn labelled_payload(
    html: &mut String,
    from: usize,
    to: usize,
    y: u32,
    class: &str,
    text: &str,
    payload: &str,
    full: &str,
) {
    let x = column_x(from.min(to)) + 6;
    let payload = if payload.is_empty() {
        String::new()
    } else {
        format!(
            "<tspan class=\"payload\" dx=\"6\">{}</tspan>",
            escape(payload)
        )
    };
    let _ = write!(
        html,
        "<text class=\"{class}\" x=\"{x}\" y=\"{y}\"><title>{}</title>{}{payload}</text>",
        escape(full),
        escape(text)
    );
}

fn event_row(
    html: &mut String,
    model: &PageModel,
    event: &Recorded,
    deliveries: &[usize],
    y: u32,
    width: u32,
    failing_line: Option<usize>,
) {
    let at = event.at();
    match event {
        Recorded::Step {
            line, description, ..
        } => {
            let class = if Some(*line) == failing_line {
                "step failing"
            } else {
                "step"
            };
            let _ = write!(
                html,
                "<g data-at=\"{at}\"><rect class=\"{class}\" x=\"4\" y=\"{}\" width=\"{}\" height=\"{}\" rx=\"3\"/>",
                y + 1,
                width - 8,
                EVENT_ROW - 2
            );
            time_label(html, at, y);
            let text = format!("line {line} · {description}");
            let _ = write!(
                html,
                "<text class=\"steptext\" x=\"{}\" y=\"{}\"><title>{}</title>{}</text></g>",
                GUTTER + 6,
                y + 16,
                escape(&text),
                escape(&cut(&text, 150))
            );
        }
        Recorded::Failed { expected, .. } => {
            let _ = write!(
                html,
                "<g id=\"failure\" data-at=\"{at}\"><rect class=\"failed\" x=\"4\" y=\"{}\" width=\"{}\" height=\"{}\" rx=\"3\"/>",
                y + 1,
                width - 8,
                EVENT_ROW - 2
            );
            let _ = write!(
                html,
                "<text class=\"t failedtime\" x=\"{}\" y=\"{}\">{}</text>",
                GUTTER - 8,
                y + 15,
                time(at)
            );
            let text = format!("✗ FAILED: expected {expected}");
            let _ = write!(
                html,
                "<text class=\"failedtext\" x=\"{}\" y=\"{}\"><title>{}</title>{}</text></g>",
                GUTTER + 6,
                y + 16,
                escape(&text),
                escape(&cut(&text, 150))
            );
        }
        Recorded::Message {
            source,
            topic,
            payload,
            qos,
            retain,
            ..
        } => {
            let _ = write!(html, "<g data-at=\"{at}\">");
            time_label(html, at, y + 6);
            let from = source_column(&model.of_device, source);
            let flags = format!(
                "{}{}",
                if *qos > 0 {
                    format!(" qos{qos}")
                } else {
                    String::new()
                },
                if *retain { " retain" } else { "" }
            );
            let full = format!("{source} → {topic} {payload}{flags}");
            let text = format!("{topic}{flags}");
            let shown_payload = cut(payload, 48);
            if from == BROKER {
                let x = column_x(BROKER);
                let _ = write!(
                    html,
                    "<circle class=\"will\" cx=\"{x}\" cy=\"{}\" r=\"5\"/>",
                    y + 18
                );
                labelled_payload(
                    html,
                    BROKER,
                    BROKER,
                    y + 13,
                    "msg",
                    &cut(&format!("{source}: {text}"), 70),
                    &shown_payload,
                    &full,
                );
            } else {
                arrow(html, from, BROKER, y + 18, "pub");
                labelled_payload(
                    html,
                    from,
                    BROKER,
                    y + 13,
                    "msg",
                    &cut(&text, 70),
                    &shown_payload,
                    &full,
                );
            }
            let targets: Vec<usize> = deliveries
                .iter()
                .copied()
                .filter(|column| *column != BROKER)
                .collect();
            if let Some(farthest) = targets.iter().max() {
                let x1 = column_x(BROKER);
                let x2 = column_x(*farthest);
                let dy = y + 29;
                let _ = write!(
                    html,
                    "<line class=\"deliver\" x1=\"{x1}\" y1=\"{dy}\" x2=\"{x2}\" y2=\"{dy}\"/>"
                );
                for target in &targets {
                    let x = column_x(*target);
                    let _ = write!(
                        html,
                        "<polygon class=\"deliver head\" points=\"{x},{dy} {},{} {},{}\"/>",
                        x - 6,
                        dy - 3,
                        x - 6,
                        dy + 3
                    );
                }
            }
            html.push_str("</g>");
        }
        Recorded::Subscribe {
            device, filters, ..
        } => {
            let _ = write!(html, "<g data-at=\"{at}\">");
            time_label(html, at, y);
            let from = column_of(&model.of_device, event);
            arrow(html, from, BROKER, y + 16, "sub");
            let text = format!("SUBSCRIBE {}", filters.join(", "));
            label(
                html,
                from,
                BROKER,
                y + 11,
                "subtext",
                &cut(&text, 60),
                &format!("{device} {text}"),
            );
            html.push_str("</g>");
        }
        Recorded::Value {
            device,
            part,
            quantity,
            shown,
            ..
        } => {
            let _ = write!(html, "<g data-at=\"{at}\">");
            time_label(html, at, y);
            let to = column_of(&model.of_device, event);
            arrow(html, HARNESS, to, y + 16, "set");
            let text = format!("set {device}.{part} {quantity} {shown}");
            label(
                html,
                HARNESS,
                to,
                y + 11,
                "settext",
                &cut(&text, 60),
                &format!("set {device}.{part} {quantity} = {shown}"),
            );
            html.push_str("</g>");
        }
        Recorded::Level {
            device,
            line,
            what,
            high,
            ..
        } => {
            let _ = write!(html, "<g data-at=\"{at}\">");
            time_label(html, at, y);
            let column = column_of(&model.of_device, event);
            match what {
                LevelKind::Button => {
                    arrow(html, HARNESS, column, y + 16, "set");
                    let verb = if *high { "press" } else { "release" };
                    let text = format!("{verb} {line}");
                    label(
                        html,
                        HARNESS,
                        column,
                        y + 11,
                        "settext",
                        &text,
                        &format!("{verb} {device}.{line}"),
                    );
                }
                LevelKind::Led | LevelKind::Pin => {
                    let x = column_x(column);
                    let (class, state) = match (what, high) {
                        (LevelKind::Led, true) => ("led on", "on"),
                        (LevelKind::Led, false) => ("led off", "off"),
                        (_, true) => ("pin on", "high"),
                        (_, false) => ("pin off", "low"),
                    };
                    let _ = write!(
                        html,
                        "<circle class=\"{class}\" cx=\"{x}\" cy=\"{}\" r=\"6\"/>\
                         <text class=\"leveltext\" x=\"{}\" y=\"{}\">{}.{} {state}</text>",
                        y + 12,
                        x + 10,
                        y + 16,
                        escape(device),
                        escape(line)
                    );
                }
            }
            html.push_str("</g>");
        }
        Recorded::Note { text, .. } => {
            let _ = write!(html, "<g data-at=\"{at}\">");
            time_label(html, at, y);
            let column = column_of(&model.of_device, event);
            let x = column_x(column);
            let class = if text.contains(" log ") {
                "note log"
            } else {
                "note"
            };
            let _ = write!(
                html,
                "<rect class=\"notemark\" x=\"{}\" y=\"{}\" width=\"6\" height=\"14\"/>\
                 <text class=\"{class}\" x=\"{}\" y=\"{}\"><title>{}</title>{}</text></g>",
                x - 3,
                y + 4,
                x + 8,
                y + 15,
                escape(text),
                escape(&cut(text, 90))
            );
        }
    }
}

fn gap_row(html: &mut String, model: &PageModel, gap: &Gap) {
    let mut flows: Vec<(&String, &usize)> = gap.flows.iter().collect();
    flows.sort_by(|a, b| b.1.cmp(a.1).then_with(|| a.0.cmp(b.0)));
    let top: Vec<String> = flows
        .iter()
        .take(3)
        .map(|(flow, number)| format!("{} × {}", escape(flow), count(**number)))
        .collect();
    let _ = write!(
        html,
        "<details class=\"gap\" data-at=\"{}\" data-to=\"{}\"><summary><span class=\"t\">{}</span>\
         <b>⋯ {} events collapsed</b> from {} to {}: {}{}</summary><div class=\"gapbody\">",
        gap.from,
        gap.to,
        time(gap.from),
        count(gap.count),
        time(gap.from),
        time(gap.to),
        top.join(", "),
        if flows.len() > 3 { ", …" } else { "" }
    );
    html.push_str("<table class=\"flows\"><tr><th>what</th><th>events</th></tr>");
    for (flow, number) in &flows {
        let _ = write!(
            html,
            "<tr><td>{}</td><td class=\"n\">{}</td></tr>",
            escape(flow),
            count(**number)
        );
    }
    if gap.other_flows > 0 {
        let _ = write!(
            html,
            "<tr><td><i>others</i></td><td class=\"n\">{}</td></tr>",
            count(gap.other_flows)
        );
    }
    html.push_str("</table>");
    // Events per time slice over the gap.
    let first = gap.buckets.keys().next().copied().unwrap_or(0);
    let last = gap.buckets.keys().last().copied().unwrap_or(0);
    let slices = last - first + 1;
    let most = gap.buckets.values().copied().max().unwrap_or(1).max(1);
    let bar = (600 / slices.max(1)).clamp(1, 40);
    let width = bar * slices + 2;
    let slice_length = model.end / model.limits.buckets as u64;
    let _ = write!(
        html,
        "<p>Events per slice of {} of device time:</p><svg class=\"hist\" width=\"{width}\" height=\"62\" viewBox=\"0 0 {width} 62\">",
        time(slice_length.max(1))
    );
    for (bucket, number) in &gap.buckets {
        let height = (*number as f64 / most as f64 * 50.0).max(1.0);
        let start = *bucket as u64 * model.end / model.limits.buckets as u64;
        let _ = write!(
            html,
            "<rect x=\"{}\" y=\"{:.1}\" width=\"{}\" height=\"{height:.1}\"><title>from {}: {} events</title></rect>",
            (bucket - first) * bar + 1,
            56.0 - height,
            bar.saturating_sub(1).max(1),
            time(start),
            count(*number)
        );
    }
    let _ = write!(
        html,
        "<line x1=\"0\" y1=\"56.5\" x2=\"{width}\" y2=\"56.5\"/></svg></div></details>"
    );
}

// ----- timelines -------------------------------------------------------------

/// Tick spacing: the smallest of these giving at most about 10 ticks.
const TICKS: &[u64] = &[
    1_000,
    10_000,
    100_000,
    500_000,
    1_000_000,
    5_000_000,
    10_000_000,
    30_000_000,
    60_000_000,
    300_000_000,
    600_000_000,
    1_800_000_000,
    3_600_000_000,
    3 * 3_600_000_000,
    6 * 3_600_000_000,
    12 * 3_600_000_000,
    86_400_000_000,
    7 * 86_400_000_000,
];

fn x_of(at: u64, end: u64) -> f64 {
    LABELS + (at.min(end) as f64 / end as f64) * PLOT
}

fn timelines(html: &mut String, model: &PageModel) {
    html.push_str("<section id=\"timelines\"><h2>Timelines</h2>");
    let rows_height: f64 = model.levels.len() as f64 * LEVEL_ROW
        + model.values.len() as f64 * VALUE_ROW
        + if model.levels.is_empty() && model.values.is_empty() {
            LEVEL_ROW
        } else {
            0.0
        };
    let top = 34.0;
    let height = top + rows_height + 10.0;
    let width = LABELS + PLOT + 30.0;
    let _ = write!(
        html,
        "<p class=\"hint\">Each LED, button and pin that changed, and each sensor value the \
         scenario set, over the whole run ({}). Blue ticks are steps, the red line the \
         failure. Hover to read the time; click to see that moment in the sequence.</p>\
         <svg id=\"timeline\" class=\"timeline\" width=\"{width}\" height=\"{height}\" \
         viewBox=\"0 0 {width} {height}\" data-end=\"{}\" data-x0=\"{LABELS}\" data-x1=\"{}\">",
        time(model.end),
        model.end,
        LABELS + PLOT
    );
    // The axis.
    let step = TICKS
        .iter()
        .copied()
        .find(|tick| model.end / tick <= 10)
        .unwrap_or(30 * 86_400_000_000);
    let mut tick = 0;
    while tick <= model.end {
        let x = x_of(tick, model.end);
        let _ = write!(
            html,
            "<line class=\"grid\" x1=\"{x:.1}\" y1=\"{}\" x2=\"{x:.1}\" y2=\"{:.1}\"/>\
             <text class=\"tick\" x=\"{x:.1}\" y=\"14\">{}</text>",
            top - 8.0,
            height - 6.0,
            time(tick)
        );
        tick += step;
    }
    let mut y = top;
    if model.levels.is_empty() && model.values.is_empty() {
        let _ = write!(
            html,
            "<text class=\"rowlabel\" x=\"8\" y=\"{:.1}\">no LED, pin or sensor value changed</text>",
            y + 16.0
        );
    }
    for series in &model.levels {
        level_row(html, model, series, y);
        y += LEVEL_ROW;
    }
    for series in &model.values {
        value_row(html, model, series, y);
        y += VALUE_ROW;
    }
    for step in &model.steps {
        let x = x_of(step.at, model.end);
        let _ = write!(
            html,
            "<line class=\"stepmark\" x1=\"{x:.1}\" y1=\"20\" x2=\"{x:.1}\" y2=\"{:.1}\"><title>{}: line {} · {}</title></line>",
            height - 6.0,
            time(step.at),
            step.line,
            escape(&step.description)
        );
    }
    if let Some(FailureMark { at, expected, .. }) = &model.failure {
        let x = x_of(*at, model.end);
        let _ = write!(
            html,
            "<line class=\"failmark\" x1=\"{x:.1}\" y1=\"18\" x2=\"{x:.1}\" y2=\"{:.1}\"><title>{}: FAILED: expected {}</title></line>\
             <text class=\"failtick\" x=\"{x:.1}\" y=\"28\">✗ {}</text>",
            height - 6.0,
            time(*at),
            escape(expected),
            time(*at)
        );
    }
    let _ = writeln!(
        html,
        "<line id=\"cursor\" class=\"cursor\" x1=\"0\" y1=\"18\" x2=\"0\" y2=\"{:.1}\" visibility=\"hidden\"/>\
         <text id=\"cursor-time\" class=\"cursortime\" x=\"0\" y=\"{:.1}\" visibility=\"hidden\"></text></svg></section>",
        height - 6.0,
        height - 1.0
    );
}

fn level_row(html: &mut String, model: &PageModel, series: &LevelSeries, y: f64) {
    let class = match series.kind {
        LevelKind::Led => "ledband",
        LevelKind::Button => "buttonband",
        LevelKind::Pin => "pinband",
    };
    let word = match series.kind {
        LevelKind::Led => "on",
        LevelKind::Button => "pressed",
        LevelKind::Pin => "high",
    };
    let _ = write!(
        html,
        "<text class=\"rowlabel\" x=\"8\" y=\"{:.1}\">{}.{}<title>{} changes</title></text>\
         <line class=\"base\" x1=\"{LABELS}\" y1=\"{:.1}\" x2=\"{}\" y2=\"{:.1}\"/>",
        y + 16.0,
        escape(&series.device),
        escape(&series.line),
        count(series.change_count),
        y + 18.0,
        LABELS + PLOT,
        y + 18.0
    );
    if series.exact {
        let mut since: Option<u64> = None;
        let band = |from: u64, to: u64, html: &mut String| {
            let (x1, x2) = (x_of(from, model.end), x_of(to, model.end));
            let _ = write!(
                html,
                "<rect class=\"{class}\" x=\"{x1:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"14\"><title>{word} {} – {}</title></rect>",
                y + 4.0,
                (x2 - x1).max(0.8),
                time(from),
                time(to)
            );
        };
        for (at, high) in &series.changes {
            match (since, high) {
                (None, true) => since = Some(*at),
                (Some(from), false) => {
                    band(from, *at, html);
                    since = None;
                }
                _ => {}
            }
        }
        if let Some(from) = since {
            band(from, model.end, html);
        }
    } else {
        let buckets = series.high_time.len() as u64;
        let slice = (model.end / buckets).max(1);
        for (index, high) in series.high_time.iter().enumerate() {
            if *high == 0 {
                continue;
            }
            let start = index as u64 * model.end / buckets;
            let share = (*high as f64 / slice as f64).min(1.0);
            let (x1, x2) = (x_of(start, model.end), x_of(start + slice, model.end));
            let _ = write!(
                html,
                "<rect class=\"{class}\" x=\"{x1:.1}\" y=\"{:.1}\" width=\"{:.2}\" height=\"14\" opacity=\"{:.2}\"/>",
                y + 4.0,
                (x2 - x1).max(0.5),
                0.15 + 0.85 * share
            );
        }
        let _ = write!(
            html,
            "<text class=\"rownote\" x=\"{}\" y=\"{:.1}\">{} changes: shade = share of each slice {word}</text>",
            LABELS + PLOT - 4.0,
            y + 15.0,
            count(series.change_count)
        );
    }
}

fn value_row(html: &mut String, model: &PageModel, series: &ValueSeries, y: f64) {
    let unit = match series.quantity.as_str() {
        "temperature" => " °C",
        "lux" => " lx",
        _ => "",
    };
    let _ = write!(
        html,
        "<text class=\"rowlabel\" x=\"8\" y=\"{:.1}\">{}.{}</text>\
         <text class=\"rowsub\" x=\"8\" y=\"{:.1}\">{}{}</text>\
         <rect class=\"valuebg\" x=\"{LABELS}\" y=\"{:.1}\" width=\"{PLOT}\" height=\"{:.1}\"/>",
        y + 16.0,
        escape(&series.device),
        escape(&series.part),
        y + 31.0,
        escape(&series.quantity),
        if series.left_out > 0 {
            format!(" (first {} shown)", count(series.points.len()))
        } else {
            String::new()
        },
        y + 4.0,
        VALUE_ROW - 10.0
    );
    let numbers: Vec<f64> = series
        .points
        .iter()
        .filter_map(|(_, number, _)| *number)
        .collect();
    let (low, high) = numbers
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(low, high), n| {
            (low.min(*n), high.max(*n))
        });
    let (top, bottom) = (y + 10.0, y + VALUE_ROW - 12.0);
    if !numbers.is_empty() {
        let (low, high) = if (high - low).abs() < f64::EPSILON {
            (low - 1.0, high + 1.0)
        } else {
            (low, high)
        };
        let y_of = |n: f64| bottom - (n - low) / (high - low) * (bottom - top);
        let _ = write!(
            html,
            "<text class=\"axisvalue\" x=\"{}\" y=\"{:.1}\">{}{unit}</text>\
             <text class=\"axisvalue\" x=\"{}\" y=\"{:.1}\">{}{unit}</text>",
            LABELS - 4.0,
            top + 4.0,
            trim_number(high),
            LABELS - 4.0,
            bottom + 4.0,
            trim_number(low)
        );
        let mut path = String::new();
        let mut previous: Option<f64> = None;
        for (at, number, _) in &series.points {
            let Some(number) = number else { continue };
            let x = x_of(*at, model.end);
            let value_y = y_of(*number);
            match previous {
                None => {
                    let _ = write!(path, "M{x:.1} {value_y:.1}");
                }
                Some(_) => {
                    let _ = write!(path, "H{x:.1}V{value_y:.1}");
                }
            }
            previous = Some(value_y);
        }
        let _ = write!(path, "H{:.1}", LABELS + PLOT);
        let _ = write!(html, "<path class=\"valueline\" d=\"{path}\"/>");
        let labelled = series.points.len() <= 24;
        for (at, number, shown) in &series.points {
            let Some(number) = number else { continue };
            let x = x_of(*at, model.end);
            let value_y = y_of(*number);
            let _ = write!(
                html,
                "<circle class=\"valuedot\" cx=\"{x:.1}\" cy=\"{value_y:.1}\" r=\"2.5\"><title>{}: {}</title></circle>",
                time(*at),
                escape(shown)
            );
            if labelled {
                let _ = write!(
                    html,
                    "<text class=\"valuetext\" x=\"{:.1}\" y=\"{:.1}\">{}</text>",
                    x + 4.0,
                    value_y - 4.0,
                    escape(shown)
                );
            }
        }
    }
    for (at, number, shown) in &series.points {
        if number.is_some() {
            continue;
        }
        let x = x_of(*at, model.end);
        let _ = write!(
            html,
            "<path class=\"faultmark\" d=\"M{x:.1} {:.1}l5 9h-10z\"><title>{}: fault {}</title></path>\
             <text class=\"faulttext\" x=\"{:.1}\" y=\"{:.1}\">fault {}</text>",
            bottom - 6.0,
            time(*at),
            escape(shown),
            x + 6.0,
            bottom + 2.0,
            escape(shown)
        );
    }
}

fn trim_number(number: f64) -> String {
    let text = format!("{number:.2}");
    text.trim_end_matches('0').trim_end_matches('.').to_owned()
}

// ----- message rates -----------------------------------------------------------

fn rates(html: &mut String, model: &PageModel) {
    html.push_str("<section id=\"rates\"><h2>Message rates</h2>");
    if model.topics.is_empty() {
        html.push_str("<p class=\"hint\">No message was published.</p></section>\n");
        return;
    }
    let _ = write!(
        html,
        "<p class=\"hint\">Per topic, busiest first; the bars are messages per 1/{} of the run.</p>\
         <table class=\"rates\"><tr><th>topic</th><th>messages</th><th>per minute</th>\
         <th>published by</th><th>first</th><th>last</th><th>over the run</th></tr>",
        model.limits.rate_buckets
    );
    let minutes = (model.end as f64 / 60e6).max(1e-9);
    for topic in &model.topics {
        let mut sources: Vec<String> = topic.sources.iter().map(|s| escape(s)).collect();
        if topic.more_sources {
            sources.push("…".to_owned());
        }
        let per_minute = topic.count as f64 / minutes;
        let _ = write!(
            html,
            "<tr><td><code>{}</code></td><td class=\"n\">{}</td><td class=\"n\">{}</td><td>{}</td>\
             <td class=\"n\">{}</td><td class=\"n\">{}</td><td>{}</td></tr>",
            escape(&topic.topic),
            count(topic.count),
            if per_minute >= 10.0 {
                format!("{per_minute:.0}")
            } else {
                format!("{per_minute:.2}")
            },
            sources.join(", "),
            time(topic.first),
            time(topic.last),
            sparkline(&topic.buckets)
        );
    }
    if model.topics_left_out > 0 {
        let _ = write!(
            html,
            "<tr><td colspan=\"7\"><i>and {} quieter topics</i></td></tr>",
            count(model.topics_left_out)
        );
    }
    html.push_str("</table></section>\n");
}

fn sparkline(buckets: &[u32]) -> String {
    let most = buckets.iter().copied().max().unwrap_or(0).max(1);
    let width = buckets.len() * 2;
    let mut path = String::new();
    for (index, number) in buckets.iter().enumerate() {
        if *number == 0 {
            continue;
        }
        let height = (f64::from(*number) / f64::from(most) * 18.0).max(1.0);
        let _ = write!(path, "M{} 20v-{height:.1}", index * 2 + 1);
    }
    format!(
        "<svg class=\"spark\" width=\"{width}\" height=\"20\" viewBox=\"0 0 {width} 20\"><path d=\"{path}\"/></svg>"
    )
}
