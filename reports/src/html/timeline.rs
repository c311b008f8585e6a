//! The timeline: one lane per client process, each operation a bar from invoke to
//! completion coloured by outcome, fault windows shaded across every lane, cluster events
//! and anomalies marked in bands above the lanes, and one lane per partition with its
//! leader, leader epoch and ISR as the controller registered them over time.
//!
//! Drawn as static SVG so the page shows the run even with scripts off; the page's script
//! only adds highlighting and zoom. Each bar is one `<rect>` with a short `<title>`
//! (about 120 bytes); past [`MAX_DRAWN_OPS`] operations only every k-th `ok` op is drawn
//! (every `fail`, `info` and cited op always is) and the page says so.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write;

use faultline_checker::history::{OpType, Process};

use super::scale::{number, TimeScale, LEFT, PLOT_WIDTH, WIDTH};
use crate::escape::{identifier, markup};
use crate::evidence::{Evidence, OpSpan};
use crate::run::{PartitionState, RunReport};
use crate::text;

/// Beyond this many operations the timeline samples `ok` operations.
pub const MAX_DRAWN_OPS: usize = 20_000;
/// Distinct colours for fault kinds, cycled (`fk0` .. `fk5` in the stylesheet).
const FAULT_COLOURS: usize = 6;

const AXIS_TOP: f64 = 20.0;
const BAND: f64 = 14.0;
const LANE: f64 = 14.0;
const BAR: f64 = 10.0;
/// Bars narrower than this are widened so that sub-pixel operations stay visible.
const MIN_BAR: f64 = 0.6;

/// A rendered timeline.
pub struct Timeline {
    /// The `<svg>` element.
    pub svg: String,
    /// Operations drawn.
    pub drawn: usize,
    /// Operations in the history.
    pub total: usize,
    /// When sampling, one `ok` op in this many was drawn; 1 when all were.
    pub ok_stride: usize,
}

/// The SVG `id` of an operation's bar.
pub fn bar_id(span: &OpSpan) -> String {
    format!("o{}", span.id())
}

/// The index of each fault kind's colour: kinds sorted by name, cycled over the palette.
pub fn fault_colours(evidence: &Evidence) -> BTreeMap<String, usize> {
    let kinds: BTreeSet<&str> = evidence.faults.iter().map(|f| f.kind.as_str()).collect();
    kinds
        .into_iter()
        .enumerate()
        .map(|(i, kind)| (kind.to_string(), i % FAULT_COLOURS))
        .collect()
}

/// Draws the timeline of a run.
pub fn timeline(report: &RunReport, evidence: &Evidence) -> Timeline {
    let scale = TimeScale::new(evidence.end_ns);
    let lanes = lanes(evidence);
    let fault_rows = fault_rows(evidence);
    let row_count = fault_rows.iter().max().map_or(0, |r| r + 1);
    let faults_top = AXIS_TOP + 4.0;
    let events_top = faults_top + BAND * row_count.max(1) as f64;
    let anomalies_top = events_top + BAND;
    let partitions = partition_lanes(report);
    let partitions_top = anomalies_top + BAND + 4.0;
    let lanes_top = partitions_top + LANE * partitions.len() as f64;
    let height = lanes_top + LANE * lanes.len() as f64 + 4.0;
    let (drawn, ok_stride) = sample(evidence);

    let mut svg = String::new();
    let _ = write!(
        svg,
        "<svg id=\"timeline\" xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {w} {h}\" \
         width=\"{w}\" height=\"{h}\" data-width=\"{w}\" data-height=\"{h}\">",
        w = number(WIDTH),
        h = number(height)
    );
    write_shading(&mut svg, evidence, &scale, faults_top, height);
    scale.write_axis(&mut svg, AXIS_TOP, height);
    write_band_label(&mut svg, "faults", faults_top);
    write_fault_bars(&mut svg, evidence, &scale, &fault_rows, faults_top);
    write_band_label(&mut svg, "events", events_top);
    write_events(&mut svg, report, &scale, events_top, height);
    write_band_label(&mut svg, "anomalies", anomalies_top);
    write_anomaly_marks(&mut svg, evidence, &scale, anomalies_top);
    write_partition_lanes(
        &mut svg,
        &partitions,
        &scale,
        evidence.end_ns,
        partitions_top,
    );
    let mut count = 0;
    for (lane, (process, spans)) in lanes.iter().enumerate() {
        let top = lanes_top + LANE * lane as f64;
        let _ = write!(
            svg,
            "<g class=\"lane\" transform=\"translate(0,{})\">\
             <rect class=\"stripe\" x=\"{}\" y=\"-2\" width=\"{}\" height=\"{LANE}\"/>\
             <text class=\"label\" x=\"4\" y=\"{}\">{}</text>",
            number(top + 2.0),
            number(LEFT),
            number(PLOT_WIDTH),
            number(BAR - 1.0),
            markup(&text::process_short(*process))
        );
        for &position in spans.iter().filter(|&&p| drawn.contains(&p)) {
            write_bar(&mut svg, &evidence.spans[position], &scale, evidence.end_ns);
            count += 1;
        }
        svg.push_str("</g>");
    }
    svg.push_str("</svg>");
    Timeline {
        svg,
        drawn: count,
        total: evidence.spans.len(),
        ok_stride,
    }
}

/// Span positions per process, processes in order (clients by number).
fn lanes(evidence: &Evidence) -> BTreeMap<Process, Vec<usize>> {
    let mut lanes: BTreeMap<Process, Vec<usize>> = BTreeMap::new();
    for (position, span) in evidence.spans.iter().enumerate() {
        lanes.entry(span.invoke.process).or_default().push(position);
    }
    lanes
}

/// Which spans to draw: all of them, or, past [`MAX_DRAWN_OPS`], every non-`ok` and
/// every cited op plus every k-th `ok` op. Returns the set and k.
fn sample(evidence: &Evidence) -> (BTreeSet<usize>, usize) {
    let all = || (0..evidence.spans.len()).collect::<BTreeSet<usize>>();
    if evidence.spans.len() <= MAX_DRAWN_OPS {
        return (all(), 1);
    }
    let mut keep: BTreeSet<usize> = evidence
        .anomalies
        .iter()
        .flat_map(|a| a.ops.iter().filter_map(|op| op.span))
        .collect();
    let is_ok = |span: &OpSpan| span.outcome() == OpType::Ok;
    keep.extend((0..evidence.spans.len()).filter(|&p| !is_ok(&evidence.spans[p])));
    let ok_count = evidence.spans.iter().filter(|s| is_ok(s)).count();
    let budget = MAX_DRAWN_OPS.saturating_sub(keep.len()).max(1);
    let stride = ok_count.div_ceil(budget).max(1);
    let mut seen_ok = 0;
    for (position, span) in evidence.spans.iter().enumerate() {
        if is_ok(span) {
            if seen_ok % stride == 0 {
                keep.insert(position);
            }
            seen_ok += 1;
        }
    }
    (keep, stride)
}

/// Row of each fault in the faults band: a fault takes the first row free at its start.
fn fault_rows(evidence: &Evidence) -> Vec<usize> {
    let mut row_ends: Vec<u64> = Vec::new();
    let mut rows = Vec::new();
    for fault in &evidence.faults {
        let end = fault.end_ns.unwrap_or(evidence.end_ns);
        let row = match row_ends.iter().position(|&e| e <= fault.start_ns) {
            Some(row) => row,
            None => {
                row_ends.push(0);
                row_ends.len() - 1
            }
        };
        row_ends[row] = end;
        rows.push(row);
    }
    rows
}

fn write_band_label(svg: &mut String, label: &str, top: f64) {
    let _ = write!(
        svg,
        "<text class=\"band\" x=\"4\" y=\"{}\">{label}</text>",
        number(top + BAR)
    );
}

/// Shades every fault window from `top` to `bottom` (the timeline and the charts).
pub fn write_shading(
    svg: &mut String,
    evidence: &Evidence,
    scale: &TimeScale,
    top: f64,
    bottom: f64,
) {
    let colours = fault_colours(evidence);
    svg.push_str("<g class=\"shade\">");
    for fault in &evidence.faults {
        let end = fault.end_ns.unwrap_or(evidence.end_ns);
        let _ = write!(
            svg,
            "<rect class=\"fk{}\" x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\"/>",
            colours[&fault.kind],
            number(scale.x(fault.start_ns)),
            number(top),
            number(scale.width(fault.start_ns, end, 1.0)),
            number(bottom - top)
        );
    }
    svg.push_str("</g>");
}

fn write_fault_bars(
    svg: &mut String,
    evidence: &Evidence,
    scale: &TimeScale,
    rows: &[usize],
    top: f64,
) {
    let colours = fault_colours(evidence);
    for (fault, row) in evidence.faults.iter().zip(rows) {
        let end = fault.end_ns.unwrap_or(evidence.end_ns);
        let healed = fault
            .end_ns
            .map(text::seconds)
            .unwrap_or_else(|| "never healed".to_string());
        let (x, y) = (scale.x(fault.start_ns), top + BAND * *row as f64);
        let label = fault.label();
        let _ = write!(
            svg,
            "<g class=\"fault fk{}\"><rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{BAR}\"/>\
             <text x=\"{}\" y=\"{}\">{}</text><title>{} {} → {}{}</title></g>",
            colours[&fault.kind],
            number(x),
            number(y),
            number(scale.width(fault.start_ns, end, 1.0)),
            number(x + 2.0),
            number(y + BAR - 1.5),
            markup(&label),
            markup(&label),
            text::seconds(fault.start_ns),
            healed,
            if fault.detail.is_empty() {
                String::new()
            } else {
                format!(": {}", markup(&fault.detail))
            }
        );
    }
}

/// Each partition's registered states over time, from the controller's decisions.
fn partition_lanes(report: &RunReport) -> BTreeMap<&str, Vec<(u64, &PartitionState)>> {
    let mut lanes: BTreeMap<&str, Vec<(u64, &PartitionState)>> = BTreeMap::new();
    for event in &report.events {
        if let Some(state) = &event.partition_state {
            lanes
                .entry(state.partition.as_str())
                .or_default()
                .push((event.time_ns, state));
        }
    }
    lanes
}

/// Leader colours, by broker id (cycled); offline partitions are grey.
const LEADER_FILLS: [&str; 5] = ["#0969da", "#1a7f37", "#8250df", "#bf8700", "#cf222e"];

/// One lane per partition: a segment per registered state, coloured by leader, its title
/// the leader, epoch and ISR (what the cluster did beside the clients' lanes).
fn write_partition_lanes(
    svg: &mut String,
    lanes: &BTreeMap<&str, Vec<(u64, &PartitionState)>>,
    scale: &TimeScale,
    end_ns: u64,
    top: f64,
) {
    for (lane, (partition, states)) in lanes.iter().enumerate() {
        let y = top + LANE * lane as f64;
        let _ = write!(
            svg,
            "<g class=\"partition-lane\" transform=\"translate(0,{})\">\
             <text class=\"label\" x=\"4\" y=\"{}\">{}</text>",
            number(y + 2.0),
            number(BAR - 1.0),
            markup(partition)
        );
        for (i, (from, state)) in states.iter().enumerate() {
            let to = states.get(i + 1).map_or(end_ns, |(t, _)| *t).max(*from);
            let x = scale.x(*from);
            let width = (scale.x(to) - x).max(MIN_BAR);
            let fill = if state.leader < 0 {
                "#8c959f"
            } else {
                LEADER_FILLS[state.leader as usize % LEADER_FILLS.len()]
            };
            let _ = write!(
                svg,
                "<rect x=\"{}\" y=\"0\" width=\"{}\" height=\"{BAR}\" fill=\"{fill}\" \
                 fill-opacity=\"{}\"><title>{partition} {}–{}: leader {} epoch {} isr {:?}</title></rect>",
                number(x),
                number(width),
                // A shrunk ISR is drawn paler.
                if state.isr.len() > 1 { "0.7" } else { "0.35" },
                text::seconds(*from),
                text::seconds(to),
                state.leader,
                state.leader_epoch,
                state.isr
            );
        }
        svg.push_str("</g>");
    }
}

fn write_events(svg: &mut String, report: &RunReport, scale: &TimeScale, top: f64, bottom: f64) {
    for event in &report.events {
        let x = scale.x(event.time_ns);
        let class = format!("ev ev-{}", identifier(&event.kind));
        let _ = write!(
            svg,
            "<g class=\"{class}\"><line x1=\"{x}\" y1=\"{}\" x2=\"{x}\" y2=\"{}\"/>\
             <path d=\"M{x} {}l4 5l-4 5l-4-5z\"/><title>{} {} on {}: {}</title></g>",
            number(top + BAR),
            number(bottom),
            number(top),
            text::seconds(event.time_ns),
            markup(&event.kind),
            markup(&event.node),
            markup(&event.description),
            x = number(x),
        );
    }
}

fn write_anomaly_marks(svg: &mut String, evidence: &Evidence, scale: &TimeScale, top: f64) {
    for anomaly in evidence.anomalies.iter().take(super::ANOMALY_LIMIT) {
        let Some(time) = anomaly.time_ns else {
            continue;
        };
        let _ = write!(
            svg,
            "<a href=\"#anomaly-{n}\" class=\"mark\" data-anomaly=\"{n}\">\
             <path d=\"M{} {}l5 {BAR}h-10z\"/><title>#{n} {}: {}</title></a>",
            number(scale.x(time)),
            number(top),
            markup(&anomaly.anomaly.kind.to_string()),
            markup(&anomaly.headline),
            n = anomaly.number,
        );
    }
}

fn write_bar(svg: &mut String, span: &OpSpan, scale: &TimeScale, end_ns: u64) {
    let class = match (span.completion, span.outcome()) {
        (None, _) => "open",
        (_, OpType::Ok) => "ok",
        (_, OpType::Fail) => "fail",
        _ => "info",
    };
    let (from, to) = (span.invoke.time, span.end_ns(end_ns));
    let until = match span.completion {
        Some(done) => text::seconds(done.time),
        None => "never completed".to_string(),
    };
    let _ = write!(
        svg,
        "<rect id=\"{}\" class=\"{class}\" x=\"{}\" width=\"{}\" height=\"{BAR}\">\
         <title>#{} {class} {}→{until}: {}</title></rect>",
        bar_id(span),
        number(scale.x(from)),
        number(scale.width(from, to, MIN_BAR)),
        span.id(),
        text::seconds(from),
        markup(&text::op_value(span.invoke, span.completion)),
    );
}
