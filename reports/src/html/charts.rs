//! Latency and throughput over time: two small line charts on the timeline's time axis,
//! with the same fault shading, so a latency spike or a throughput drop lines up with
//! the fault that caused it.
//!
//! Operations are bucketed by completion time into [`BUCKETS`] buckets, so the charts
//! cost the same few kilobytes whatever the history's length.

use std::fmt::Write;

use faultline_checker::history::OpType;

use super::scale::{number, TimeScale, LEFT, PLOT_WIDTH, WIDTH};
use super::timeline::write_shading;
use crate::evidence::Evidence;

/// Buckets across the run.
pub const BUCKETS: usize = 120;

const HEIGHT: f64 = 150.0;
const TOP: f64 = 22.0;
const BOTTOM: f64 = HEIGHT - 8.0;

/// One line of a chart: a CSS class (the page's legend names it) and a value per bucket
/// (`None` where there is no data: the line joins the buckets either side, and each
/// bucket with data is also marked with a dot, so sparse data stays visible).
struct Series {
    class: &'static str,
    values: Vec<Option<f64>>,
}

/// Latency of `ok` operations (invoke to completion): median and 99th percentile per
/// bucket, in milliseconds.
pub fn latency_chart(evidence: &Evidence) -> String {
    let scale = TimeScale::new(evidence.end_ns);
    let mut buckets: Vec<Vec<u64>> = vec![Vec::new(); BUCKETS];
    for span in &evidence.spans {
        let Some(done) = span.completion.filter(|op| op.kind == OpType::Ok) else {
            continue;
        };
        buckets[bucket(&scale, done.time)].push(done.time.saturating_sub(span.invoke.time));
    }
    for latencies in &mut buckets {
        latencies.sort_unstable();
    }
    let quantile = |q: f64| -> Vec<Option<f64>> {
        buckets
            .iter()
            .map(|l| nearest_rank(l, q).map(|ns| ns as f64 / 1e6))
            .collect()
    };
    let series = [
        Series {
            class: "p50",
            values: quantile(0.5),
        },
        Series {
            class: "p99",
            values: quantile(0.99),
        },
    ];
    chart(evidence, &scale, "latency", "ms", &series)
}

/// Completions per second by outcome (`ok`, `fail`, `info`), per bucket.
pub fn throughput_chart(evidence: &Evidence) -> String {
    let scale = TimeScale::new(evidence.end_ns);
    let mut counts = [[0u64; BUCKETS]; 3];
    for span in &evidence.spans {
        let Some(done) = span.completion else {
            continue;
        };
        let series = match done.kind {
            OpType::Ok => 0,
            OpType::Fail => 1,
            _ => 2,
        };
        counts[series][bucket(&scale, done.time)] += 1;
    }
    let bucket_seconds = scale.end_ns as f64 / 1e9 / BUCKETS as f64;
    let rate = |c: &[u64; BUCKETS]| -> Vec<Option<f64>> {
        c.iter().map(|&n| Some(n as f64 / bucket_seconds)).collect()
    };
    let series = [
        Series {
            class: "ok",
            values: rate(&counts[0]),
        },
        Series {
            class: "fail",
            values: rate(&counts[1]),
        },
        Series {
            class: "info",
            values: rate(&counts[2]),
        },
    ];
    chart(evidence, &scale, "throughput", "ops/s", &series)
}

fn bucket(scale: &TimeScale, time_ns: u64) -> usize {
    let position = time_ns.min(scale.end_ns) as u128 * BUCKETS as u128 / scale.end_ns as u128;
    (position as usize).min(BUCKETS - 1)
}

/// The nearest-rank quantile of sorted `values`.
fn nearest_rank(values: &[u64], q: f64) -> Option<u64> {
    if values.is_empty() {
        return None;
    }
    let rank = (q * values.len() as f64).ceil() as usize;
    Some(values[rank.clamp(1, values.len()) - 1])
}

fn chart(
    evidence: &Evidence,
    scale: &TimeScale,
    id: &str,
    unit: &str,
    series: &[Series],
) -> String {
    let max = series
        .iter()
        .flat_map(|s| s.values.iter().flatten())
        .fold(0.0f64, |a, &b| a.max(b));
    let top_value = if max > 0.0 { max * 1.1 } else { 1.0 };
    let y = |value: f64| BOTTOM - (BOTTOM - TOP) * value / top_value;
    let mut svg = String::new();
    let _ = write!(
        svg,
        "<svg id=\"{id}\" class=\"chart\" xmlns=\"http://www.w3.org/2000/svg\" \
         viewBox=\"0 0 {w} {HEIGHT}\" width=\"{w}\" height=\"{HEIGHT}\">",
        w = number(WIDTH)
    );
    write_shading(&mut svg, evidence, scale, TOP, BOTTOM);
    scale.write_axis(&mut svg, TOP, BOTTOM);
    let _ = write!(
        svg,
        "<g class=\"yaxis\"><line x1=\"{l}\" y1=\"{b}\" x2=\"{r}\" y2=\"{b}\"/>\
         <text x=\"{t}\" y=\"{}\">{} {unit}</text><text x=\"{t}\" y=\"{}\">{} {unit}</text>\
         <text x=\"{t}\" y=\"{b}\">0</text></g>",
        number(y(top_value) + 8.0),
        value_label(top_value),
        number(y(top_value / 2.0) + 4.0),
        value_label(top_value / 2.0),
        l = number(LEFT),
        r = number(LEFT + PLOT_WIDTH),
        b = number(BOTTOM),
        t = number(LEFT - 6.0),
    );
    let bucket_width = PLOT_WIDTH / BUCKETS as f64;
    for line in series {
        let mut path = String::new();
        let mut dots = String::new();
        for (i, value) in line.values.iter().enumerate() {
            let Some(value) = value else {
                continue;
            };
            let (x, y) = (
                number(LEFT + bucket_width * (i as f64 + 0.5)),
                number(y(*value)),
            );
            let command = if path.is_empty() { 'M' } else { 'L' };
            let _ = write!(path, "{command}{x} {y}");
            if *value > 0.0 {
                let _ = write!(dots, "M{x} {y}h0");
            }
        }
        let _ = write!(
            svg,
            "<path class=\"line {c}\" d=\"{path}\"/><path class=\"dots {c}\" d=\"{dots}\"/>",
            c = line.class
        );
    }
    svg.push_str("</svg>");
    svg
}

/// A y-axis value: whole numbers from 10 up, one decimal below.
fn value_label(value: f64) -> String {
    if value >= 10.0 {
        format!("{value:.0}")
    } else {
        format!("{value:.1}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_picks_a_member() {
        let values = [1, 2, 3, 4, 100];
        assert_eq!(nearest_rank(&values, 0.5), Some(3));
        assert_eq!(nearest_rank(&values, 0.99), Some(100));
        assert_eq!(nearest_rank(&[], 0.5), None);
    }

    #[test]
    fn the_last_moment_falls_in_the_last_bucket() {
        let scale = TimeScale::new(1_000_000_000);
        assert_eq!(bucket(&scale, 0), 0);
        assert_eq!(bucket(&scale, 1_000_000_000), BUCKETS - 1);
        assert_eq!(bucket(&scale, 5_000_000_000), BUCKETS - 1);
    }
}
