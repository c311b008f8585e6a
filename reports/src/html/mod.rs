//! `report.html`: one self-contained page (inline CSS, SVG and script; nothing fetched)
//! that a person opens from a CI artifact to see what went wrong, when, under which
//! fault, and how to rerun it.
//!
//! Top to bottom: the verdict, the rerun command and the run's identity (scenario, seed,
//! versions, hashes); each anomaly as a card whose headline names the record, the time
//! and the fault; the timeline ([`timeline`]); latency and throughput ([`charts`]); then
//! checks, faults, cluster events and stats as tables. Every string from the run is
//! escaped with [`markup`].

pub mod charts;
pub mod scale;
pub mod timeline;

use std::fmt::Write;

use faultline_checker::history::History;

use crate::escape::markup;
use crate::evidence::{AnomalyEvidence, Evidence};
use crate::markdown::verdict_word;
use crate::run::{RunReport, SCHEMA_VERSION};
use crate::text;
use timeline::{bar_id, fault_colours, Timeline};

/// At most this many anomaly cards (and timeline marks); a badly broken run may have
/// thousands of lost writes, and the first few hundred tell the story.
pub const ANOMALY_LIMIT: usize = 500;
/// At most this many rows of cluster events.
const EVENT_LIMIT: usize = 1_000;

const STYLE: &str = include_str!("report.css");
const SCRIPT: &str = include_str!("report.js");

/// The `report.html` of one run.
pub fn run_html(report: &RunReport, history: &History) -> String {
    let evidence = Evidence::gather(report, history);
    let timeline = timeline::timeline(report, &evidence);
    let mut out = String::with_capacity(16_384 + timeline.svg.len());
    let title = format!(
        "faultline: {} — {} seed {}",
        verdict_word(report.verdict),
        report.scenario.name,
        report.seed
    );
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{}</title>\n<style>\n{STYLE}</style>\n</head>\n<body>\n",
        markup(&title)
    );
    write_header(&mut out, report, &evidence);
    out.push_str(
        "<nav><a href=\"#anomalies\">Anomalies</a><a href=\"#timeline-section\">Timeline</a>\
         <a href=\"#charts\">Latency &amp; throughput</a><a href=\"#checks\">Checks</a>\
         <a href=\"#faults\">Faults</a><a href=\"#events\">Cluster events</a>\
         <a href=\"#stats\">Stats</a></nav>\n",
    );
    write_anomalies(&mut out, &evidence);
    write_timeline(&mut out, &evidence, &timeline);
    write_charts(&mut out, &evidence);
    write_checks(&mut out, report);
    write_faults(&mut out, &evidence);
    write_events(&mut out, report);
    write_stats(&mut out, report);
    let _ = write!(
        out,
        "<footer>faultline {} · report schema {SCHEMA_VERSION} · a self-contained page: \
         nothing is fetched from the network.</footer>\n<script>\n{SCRIPT}</script>\n\
         </body>\n</html>\n",
        markup(&report.faultline_version)
    );
    out
}

fn write_header(out: &mut String, report: &RunReport, evidence: &Evidence) {
    let verdict = verdict_word(report.verdict);
    let _ = writeln!(
        out,
        "<header>\n<h1><span class=\"verdict {verdict}\">{verdict}</span> {} \
         <span class=\"muted\">seed</span> {}</h1>",
        markup(&report.scenario.name),
        report.seed
    );
    let lede = match evidence.anomalies.first() {
        Some(first) => format!(
            "{} {}. First: <strong>{}: {}</strong>",
            evidence.anomalies.len(),
            if evidence.anomalies.len() == 1 {
                "anomaly"
            } else {
                "anomalies"
            },
            markup(&first.anomaly.kind.to_string()),
            markup(&first.headline)
        ),
        None => format!("No anomalies: every check was {verdict}."),
    };
    let _ = writeln!(out, "<p class=\"lede\">{lede}</p>");
    let _ = writeln!(
        out,
        "<div class=\"repro\"><span>Rerun</span><pre id=\"repro\">{}</pre>\
         <button id=\"copy\" type=\"button\">Copy</button></div>",
        markup(&report.repro)
    );
    let scenario = &report.scenario;
    let rows = [
        ("Scenario", markup(&scenario.name)),
        ("Scenario file", code(&scenario.path)),
        ("Scenario hash", code(&scenario.hash)),
        ("Seed", code(&report.seed.to_string())),
        ("Trace hash", code(&report.trace_hash)),
        ("faultline version", code(&report.faultline_version)),
        ("Cargo.lock hash", code(&report.cargo_lock_hash)),
        (
            "Time",
            format!(
                "{} simulated, {} wall",
                text::seconds_from_ms(report.simulated_ms),
                text::seconds_from_ms(report.wall_ms)
            ),
        ),
        ("Operations", evidence.spans.len().to_string()),
    ];
    out.push_str("<table class=\"identity\">\n");
    for (name, value) in rows {
        let _ = writeln!(out, "<tr><th>{name}</th><td>{value}</td></tr>");
    }
    out.push_str("</table>\n</header>\n");
}

fn write_anomalies(out: &mut String, evidence: &Evidence) {
    let _ = writeln!(
        out,
        "<section id=\"anomalies\">\n<h2>Anomalies ({})</h2>",
        evidence.anomalies.len()
    );
    if evidence.anomalies.is_empty() {
        out.push_str("<p>None found.</p>\n");
    }
    for anomaly in evidence.anomalies.iter().take(ANOMALY_LIMIT) {
        write_anomaly(out, evidence, anomaly);
    }
    if evidence.anomalies.len() > ANOMALY_LIMIT {
        let _ = writeln!(
            out,
            "<p class=\"note\">… and {} more anomalies; report.json lists them all.</p>",
            evidence.anomalies.len() - ANOMALY_LIMIT
        );
    }
    out.push_str("</section>\n");
}

fn write_anomaly(out: &mut String, evidence: &Evidence, anomaly: &AnomalyEvidence) {
    let bars: Vec<String> = anomaly
        .ops
        .iter()
        .filter_map(|op| op.span)
        .map(|position| bar_id(&evidence.spans[position]))
        .collect();
    let key = anomaly
        .anomaly
        .key
        .map(|k| format!(" · key {k}"))
        .unwrap_or_default();
    let _ = writeln!(
        out,
        "<article class=\"anomaly\" id=\"anomaly-{n}\" data-ops=\"{}\">\n\
         <h3>{n}. <span class=\"kind\">{}</span> <span class=\"checker\">({} checker){key}</span>\
         <button class=\"show\" type=\"button\">Show on timeline</button></h3>\n\
         <p class=\"headline\">{}</p>\n<p class=\"description\">Evidence: {}</p>\n<ul>",
        bars.join(" "),
        markup(&anomaly.anomaly.kind.to_string()),
        markup(anomaly.checker),
        markup(&anomaly.headline),
        markup(&anomaly.anomaly.description),
        n = anomaly.number,
    );
    for op in &anomaly.ops {
        let faults = if op.faults.is_empty() {
            " <span class=\"faults\">no fault active</span>".to_string()
        } else {
            format!(
                " <span class=\"faults\">during {}</span>",
                markup(&op.faults.join(", "))
            )
        };
        match op.span {
            Some(position) => {
                let id = bar_id(&evidence.spans[position]);
                let _ = writeln!(
                    out,
                    "<li><a class=\"op\" href=\"#{id}\" data-op=\"{id}\">{}</a>{faults}</li>",
                    markup(&op.line)
                );
            }
            None => {
                let _ = writeln!(out, "<li>{}</li>", markup(&op.line));
            }
        }
    }
    let _ = writeln!(
        out,
        "</ul>\n<p class=\"definition\">{}</p>\n</article>",
        markup(anomaly.anomaly.kind.definition())
    );
}

fn write_timeline(out: &mut String, evidence: &Evidence, timeline: &Timeline) {
    out.push_str(
        "<section id=\"timeline-section\">\n<h2>Timeline</h2>\n\
         <p class=\"muted\">One lane per client process; each bar runs from invoke to \
         completion. Shaded: fault windows. Diamonds: cluster events. Red triangles: \
         anomalies (click one, or “Show on timeline” on a card).</p>\n<div class=\"controls\">\
         <span class=\"legend\"><i class=\"ok\"></i>ok<i class=\"fail\"></i>fail\
         <i class=\"info\"></i>info (indeterminate)<i class=\"open\"></i>never completed\
         <i class=\"leader-change\"></i>leader change</span>",
    );
    for (kind, colour) in fault_colours(evidence) {
        let _ = write!(
            out,
            "<span class=\"legend\"><i class=\"fk{colour}\"></i>{}</span>",
            markup(&kind)
        );
    }
    out.push_str(" <span>Zoom</span>");
    for factor in [1, 2, 4, 8] {
        let _ = write!(
            out,
            "<button class=\"zoom\" type=\"button\" data-zoom=\"{factor}\">{factor}×</button>"
        );
    }
    out.push_str("</div>\n");
    if timeline.drawn < timeline.total {
        let _ = writeln!(
            out,
            "<p class=\"note\">Sampled: {} of {} operations drawn — one ok operation in {}, \
             and every fail, info and anomaly operation.</p>",
            timeline.drawn, timeline.total, timeline.ok_stride
        );
    }
    let _ = writeln!(
        out,
        "<div class=\"scroll\">{}</div>\n</section>",
        timeline.svg
    );
}

fn write_charts(out: &mut String, evidence: &Evidence) {
    let _ = writeln!(
        out,
        "<section id=\"charts\">\n<h2>Latency</h2>\n<p class=\"legend muted\">ok operations, \
         invoke to completion, per {} of the run: <i class=\"p50\"></i>median \
         <i class=\"p99\"></i>99th percentile</p>\n{}\n<h2>Throughput</h2>\n\
         <p class=\"legend muted\">completions per second: <i class=\"ok\"></i>ok \
         <i class=\"fail\"></i>fail <i class=\"info\"></i>info</p>\n{}\n</section>",
        format_args!("1/{}", charts::BUCKETS),
        charts::latency_chart(evidence),
        charts::throughput_chart(evidence)
    );
}

fn write_checks(out: &mut String, report: &RunReport) {
    out.push_str(
        "<section id=\"checks\">\n<h2>Checks</h2>\n<table>\n<tr><th>Checker</th>\
         <th>Verdict</th><th class=\"num\">Anomalies</th><th>Stats</th></tr>\n",
    );
    for check in &report.checks {
        let stats: Vec<String> = check
            .stats
            .iter()
            .map(|(name, value)| format!("{}: {value}", markup(name)))
            .collect();
        let _ = writeln!(
            out,
            "<tr><td>{}</td><td>{}</td><td class=\"num\">{}</td><td>{}</td></tr>",
            markup(&check.checker),
            verdict_word(check.verdict),
            check.anomalies.len(),
            stats.join(", ")
        );
    }
    out.push_str("</table>\n</section>\n");
}

fn write_faults(out: &mut String, evidence: &Evidence) {
    out.push_str(
        "<section id=\"faults\">\n<h2>Faults</h2>\n<table>\n<tr><th>Fault</th>\
         <th class=\"num\">Start</th><th class=\"num\">End</th><th>Detail</th></tr>\n",
    );
    for fault in &evidence.faults {
        let end = fault
            .end_ns
            .map(text::seconds)
            .unwrap_or_else(|| "never healed".to_string());
        let _ = writeln!(
            out,
            "<tr><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{end}</td><td>{}</td></tr>",
            markup(&fault.label()),
            text::seconds(fault.start_ns),
            markup(&fault.detail)
        );
    }
    out.push_str("</table>\n</section>\n");
}

fn write_events(out: &mut String, report: &RunReport) {
    let _ = writeln!(
        out,
        "<section id=\"events\">\n<h2>Cluster events ({})</h2>\n<table>\n<tr>\
         <th class=\"num\">Time</th><th>Node</th><th>Event</th><th>Description</th></tr>",
        report.events.len()
    );
    for event in report.events.iter().take(EVENT_LIMIT) {
        let _ = writeln!(
            out,
            "<tr><td class=\"num\">{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            text::seconds(event.time_ns),
            markup(&event.node),
            markup(&event.kind),
            markup(&event.description)
        );
    }
    out.push_str("</table>\n");
    if report.events.len() > EVENT_LIMIT {
        let _ = writeln!(
            out,
            "<p class=\"note\">… and {} more events; report.json lists them all.</p>",
            report.events.len() - EVENT_LIMIT
        );
    }
    out.push_str("</section>\n");
}

fn write_stats(out: &mut String, report: &RunReport) {
    out.push_str("<section id=\"stats\">\n<h2>Stats</h2>\n<table>\n");
    for (name, value) in &report.stats {
        let _ = writeln!(
            out,
            "<tr><th>{}</th><td class=\"num\">{value}</td></tr>",
            markup(name)
        );
    }
    out.push_str("</table>\n</section>\n");
}

/// Escaped text in a `<code>` element.
pub(crate) fn code(text: &str) -> String {
    format!("<code>{}</code>", markup(text))
}
