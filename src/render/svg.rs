//! Charts drawn as inline SVG, so a report opens anywhere without a network or a script.

use std::fmt::Write;

use crate::money::usd;

const WIDTH: f64 = 760.0;
const LABEL_WIDTH: f64 = 230.0;
const VALUE_WIDTH: f64 = 170.0;
const ROW_HEIGHT: f64 = 30.0;
const BAR_HEIGHT: f64 = 18.0;
const FONT: &str = "font-family=\"Helvetica, Arial, sans-serif\" font-size=\"13\"";

/// Escapes text for XML content and attribute values.
pub fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// One bar: a solid part up to `low` and a lighter part on to `high` for ranges.
pub struct Bar {
    pub label: String,
    pub low: f64,
    pub high: f64,
    pub highlight: bool,
}

fn money_range(low: f64, high: f64) -> String {
    if (low - high).abs() < 0.005 {
        usd(low)
    } else {
        format!("{} - {}", usd(low), usd(high))
    }
}

/// A horizontal bar chart of monthly costs; negative values are drawn as zero.
pub fn bar_chart(title: &str, bars: &[Bar]) -> String {
    let height = ROW_HEIGHT * bars.len() as f64 + 40.0;
    let max = bars
        .iter()
        .map(|b| b.high.max(b.low))
        .fold(0.0_f64, f64::max)
        .max(1.0);
    let span = WIDTH - LABEL_WIDTH - VALUE_WIDTH;
    let mut svg = String::new();
    let _ = write!(
        svg,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" role=\"img\" width=\"{WIDTH}\" height=\"{height}\" viewBox=\"0 0 {WIDTH} {height}\" {FONT}><title>{}</title>",
        escape(title)
    );
    for (i, bar) in bars.iter().enumerate() {
        let y = 20.0 + ROW_HEIGHT * i as f64;
        let low = bar.low.max(0.0) / max * span;
        let high = bar.high.max(bar.low).max(0.0) / max * span;
        let (solid, light) = if bar.highlight {
            ("#1f6feb", "#9ec5fe")
        } else {
            ("#6e7781", "#c9d1d9")
        };
        let _ = write!(
            svg,
            "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\"{}>{}</text>",
            LABEL_WIDTH - 8.0,
            y + BAR_HEIGHT - 4.0,
            if bar.highlight {
                " font-weight=\"bold\""
            } else {
                ""
            },
            escape(&bar.label)
        );
        if high > low {
            let _ = write!(
                svg,
                "<rect x=\"{LABEL_WIDTH}\" y=\"{y:.1}\" width=\"{high:.1}\" height=\"{BAR_HEIGHT}\" fill=\"{light}\"/>"
            );
        }
        let _ = write!(
            svg,
            "<rect x=\"{LABEL_WIDTH}\" y=\"{y:.1}\" width=\"{low:.1}\" height=\"{BAR_HEIGHT}\" fill=\"{solid}\"/>"
        );
        let _ = write!(
            svg,
            "<text x=\"{:.1}\" y=\"{:.1}\">{}</text>",
            LABEL_WIDTH + high.max(low) + 6.0,
            y + BAR_HEIGHT - 4.0,
            escape(&money_range(bar.low, bar.high))
        );
    }
    svg.push_str("</svg>");
    svg
}

/// One line of the growth chart: a value per step of the x axis.
pub struct Series {
    pub label: String,
    pub values: Vec<f64>,
}

const PALETTE: [&str; 6] = [
    "#1f6feb", "#d1242f", "#1a7f37", "#9a6700", "#8250df", "#57606a",
];

/// A line chart with a logarithmic y axis, for costs that grow by orders of magnitude.
pub fn log_line_chart(title: &str, steps: &[String], series: &[Series]) -> String {
    let height = 320.0;
    let (left, right, top, bottom) = (80.0, 190.0, 20.0, 40.0);
    let plot_w = WIDTH - left - right;
    let plot_h = height - top - bottom;
    let positive = series
        .iter()
        .flat_map(|s| s.values.iter().copied())
        .filter(|v| *v > 0.0);
    let (min, max) = positive.fold((f64::MAX, f64::MIN), |(lo, hi), v| (lo.min(v), hi.max(v)));
    let (lo_exp, hi_exp) = if min > max {
        (0, 1)
    } else {
        let lo = min.log10().floor() as i32;
        let hi = (max.log10().ceil() as i32).max(lo + 1);
        (lo, hi)
    };
    let y_of = |v: f64| {
        let v = v.max(10f64.powi(lo_exp));
        top + plot_h - (v.log10() - f64::from(lo_exp)) / f64::from(hi_exp - lo_exp) * plot_h
    };
    let x_of = |i: usize| {
        if steps.len() <= 1 {
            left + plot_w / 2.0
        } else {
            left + plot_w * i as f64 / (steps.len() - 1) as f64
        }
    };
    let mut svg = String::new();
    let _ = write!(
        svg,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" role=\"img\" width=\"{WIDTH}\" height=\"{height}\" viewBox=\"0 0 {WIDTH} {height}\" {FONT}><title>{}</title>",
        escape(title)
    );
    for exp in lo_exp..=hi_exp {
        let y = y_of(10f64.powi(exp));
        let _ = write!(
            svg,
            "<line x1=\"{left}\" x2=\"{:.1}\" y1=\"{y:.1}\" y2=\"{y:.1}\" stroke=\"#d0d7de\"/><text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>",
            left + plot_w,
            left - 8.0,
            y + 4.0,
            escape(&usd(10f64.powi(exp)).replace(".00", ""))
        );
    }
    for (i, step) in steps.iter().enumerate() {
        let _ = write!(
            svg,
            "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>",
            x_of(i),
            height - 14.0,
            escape(step)
        );
    }
    for (n, line) in series.iter().enumerate() {
        let color = PALETTE[n % PALETTE.len()];
        let points: Vec<String> = line
            .values
            .iter()
            .enumerate()
            .map(|(i, v)| format!("{:.1},{:.1}", x_of(i), y_of(*v)))
            .collect();
        let _ = write!(
            svg,
            "<polyline fill=\"none\" stroke=\"{color}\" stroke-width=\"2.5\" points=\"{}\"/>",
            points.join(" ")
        );
        for point in &points {
            let (x, y) = point.split_once(',').unwrap_or(("0", "0"));
            let _ = write!(
                svg,
                "<circle cx=\"{x}\" cy=\"{y}\" r=\"3.5\" fill=\"{color}\"/>"
            );
        }
        let legend_y = top + 18.0 * n as f64 + 6.0;
        let _ = write!(
            svg,
            "<rect x=\"{:.1}\" y=\"{:.1}\" width=\"14\" height=\"4\" fill=\"{color}\"/><text x=\"{:.1}\" y=\"{:.1}\">{}</text>",
            left + plot_w + 16.0,
            legend_y,
            left + plot_w + 36.0,
            legend_y + 5.0,
            escape(&line.label)
        );
    }
    svg.push_str("</svg>");
    svg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_escaped() {
        let svg = bar_chart(
            "t",
            &[Bar {
                label: "a<b & c".into(),
                low: 1.0,
                high: 2.0,
                highlight: true,
            }],
        );
        assert!(svg.contains("a&lt;b &amp; c"));
        assert!(svg.contains("$1.00 - $2.00"));
    }

    #[test]
    fn log_chart_spans_the_values_decades() {
        let svg = log_line_chart(
            "g",
            &["1x".into(), "10x".into()],
            &[Series {
                label: "x".into(),
                values: vec![40.0, 4000.0],
            }],
        );
        assert!(svg.contains(">$10<"), "{svg}");
        assert!(svg.contains(">$10,000<"), "{svg}");
    }
}
