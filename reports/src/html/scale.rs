//! The time axis shared by the timeline and the charts, so that a moment lines up
//! vertically across every drawing on the page.

use std::fmt::Write;

/// Left margin for lane labels and chart axes, in SVG pixels.
pub const LEFT: f64 = 96.0;
/// Width of the plotting area, in SVG pixels.
pub const PLOT_WIDTH: f64 = 1080.0;
/// Total drawing width, in SVG pixels.
pub const WIDTH: f64 = LEFT + PLOT_WIDTH + 16.0;

/// Maps run time (nanoseconds) to x.
#[derive(Debug, Clone, Copy)]
pub struct TimeScale {
    /// The end of the run; time 0 is its start.
    pub end_ns: u64,
}

impl TimeScale {
    /// A scale over `[0, end_ns]` (at least one millisecond, so a scale is never empty).
    pub fn new(end_ns: u64) -> TimeScale {
        TimeScale {
            end_ns: end_ns.max(1_000_000),
        }
    }

    /// The x of `time_ns`.
    pub fn x(&self, time_ns: u64) -> f64 {
        LEFT + PLOT_WIDTH * (time_ns.min(self.end_ns) as f64 / self.end_ns as f64)
    }

    /// The width of `[from_ns, to_ns]`, at least `min` so that short ops stay visible.
    pub fn width(&self, from_ns: u64, to_ns: u64, min: f64) -> f64 {
        (self.x(to_ns) - self.x(from_ns)).max(min)
    }

    /// Tick positions: a round step (1, 2 or 5 × 10ⁿ ns) giving about ten ticks.
    pub fn ticks(&self) -> (u64, Vec<u64>) {
        let target = self.end_ns / 10;
        let mut step = 1u64;
        'search: loop {
            for factor in [1, 2, 5] {
                if step.saturating_mul(factor) >= target {
                    step = step.saturating_mul(factor);
                    break 'search;
                }
            }
            step = step.saturating_mul(10);
        }
        let ticks = (0..=self.end_ns / step).map(|i| i * step).collect();
        (step, ticks)
    }

    /// Writes the axis (tick lines from `top` to `bottom`, labels above `top`) as SVG.
    pub fn write_axis(&self, out: &mut String, top: f64, bottom: f64) {
        let (step, ticks) = self.ticks();
        out.push_str("<g class=\"axis\">");
        for tick in ticks {
            let x = self.x(tick);
            let _ = write!(
                out,
                "<line x1=\"{x:.1}\" y1=\"{top:.1}\" x2=\"{x:.1}\" y2=\"{bottom:.1}\"/>\
                 <text x=\"{x:.1}\" y=\"{:.1}\">{}</text>",
                top - 4.0,
                tick_label(tick, step)
            );
        }
        out.push_str("</g>");
    }
}

/// A tick's time with as many decimals as its step needs: `2s`, `2.5s`, `2.25s`.
pub fn tick_label(time_ns: u64, step_ns: u64) -> String {
    let decimals = match step_ns {
        s if s >= 1_000_000_000 => 0,
        s if s >= 100_000_000 => 1,
        s if s >= 10_000_000 => 2,
        s if s >= 1_000_000 => 3,
        _ => 6,
    };
    format!("{:.*}s", decimals, time_ns as f64 / 1e9)
}

/// A number for an SVG attribute: one decimal, no trailing `.0`.
pub fn number(value: f64) -> String {
    let text = format!("{value:.1}");
    text.strip_suffix(".0").map(str::to_string).unwrap_or(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_are_round_and_about_ten() {
        let scale = TimeScale::new(12_300_000_000);
        let (step, ticks) = scale.ticks();
        assert_eq!(step, 2_000_000_000);
        assert_eq!(ticks.len(), 7);
        assert_eq!(tick_label(ticks[3], step), "6s");
        assert_eq!(tick_label(250_000_000, 50_000_000), "0.25s");
    }

    #[test]
    fn x_spans_the_plot() {
        let scale = TimeScale::new(10_000_000_000);
        assert_eq!(scale.x(0), LEFT);
        assert_eq!(scale.x(10_000_000_000), LEFT + PLOT_WIDTH);
        assert_eq!(scale.x(20_000_000_000), LEFT + PLOT_WIDTH);
        assert_eq!(scale.width(5, 5, 0.5), 0.5);
        assert_eq!(number(3.0), "3");
        assert_eq!(number(3.26), "3.3");
    }
}
