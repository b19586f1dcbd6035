//! Line charts as numbers: the scales, ticks and SVG path data of a small chart, computed
//! once from the data so the server can draw it as SVG (it works without JavaScript) and the
//! browser can hydrate it for hover values. No drawing library: the console needs lines,
//! bands, a reference line and hover columns, a few hundred lines of arithmetic that keep the
//! WebAssembly small and render the same on both sides.

use serde::{Deserialize, Serialize};

/// How the values of a chart read.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Unit {
    /// Counts (1, 1.2k, 3.4M).
    #[default]
    Count,
    /// Shares between 0 and 1, shown as percentages.
    Percent,
}

impl Unit {
    /// `v` in this unit, short (for ticks and hover values).
    pub fn format(self, v: f64) -> String {
        match self {
            Unit::Count => short_count(v),
            Unit::Percent => {
                let p = v * 100.0;
                if p.abs() >= 10.0 || p == 0.0 {
                    format!("{p:.0} %")
                } else {
                    format!("{p:.1} %")
                }
            }
        }
    }
}

/// 950 → "950", 1,234 → "1.2k", 3,400,000 → "3.4M"; fractions keep one decimal.
pub fn short_count(v: f64) -> String {
    let a = v.abs();
    let (scaled, suffix) = if a >= 1e9 {
        (v / 1e9, "G")
    } else if a >= 1e6 {
        (v / 1e6, "M")
    } else if a >= 1e3 {
        (v / 1e3, "k")
    } else {
        (v, "")
    };
    if suffix.is_empty() && scaled.fract() == 0.0 {
        format!("{scaled:.0}")
    } else if scaled.abs() >= 100.0 {
        format!("{scaled:.0}{suffix}")
    } else {
        let s = format!("{scaled:.1}");
        format!("{}{suffix}", s.strip_suffix(".0").unwrap_or(&s))
    }
}

/// One line of a chart: a value per x position (`None`: no data there, the line breaks),
/// and optionally an interval around it drawn as a band.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Series {
    pub name: String,
    pub values: Vec<Option<f64>>,
    /// Low and high per x position (same length as `values`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub band: Vec<Option<(f64, f64)>>,
}

/// What a chart shows: labelled x positions (days, minutes, seconds after a push) and the
/// series over them, with an optional horizontal reference (e.g. the neurons targeted).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChartData {
    pub x_labels: Vec<String>,
    pub series: Vec<Series>,
    pub unit: Unit,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<(String, f64)>,
    /// Draw steps (a count that changes at events) instead of straight segments.
    #[serde(default)]
    pub steps: bool,
}

/// The drawing area around the plot, in SVG units.
const LEFT: f64 = 44.0;
const RIGHT: f64 = 8.0;
const TOP: f64 = 8.0;
const BOTTOM: f64 = 22.0;

/// A chart ready to draw in a `width` × `height` SVG viewBox.
#[derive(Debug, Clone, PartialEq)]
pub struct Plot {
    pub width: f64,
    pub height: f64,
    /// The plot area: left, top, right, bottom.
    pub area: (f64, f64, f64, f64),
    pub lines: Vec<Line>,
    /// Y ticks: position and label, bottom to top.
    pub y_ticks: Vec<(f64, String)>,
    /// X ticks: position and label (a few, evenly spread).
    pub x_ticks: Vec<(f64, String)>,
    /// One hover column per x position.
    pub columns: Vec<Column>,
    /// The reference line: its y position and its label.
    pub reference: Option<(f64, String)>,
}

/// One series, drawn.
#[derive(Debug, Clone, PartialEq)]
pub struct Line {
    pub name: String,
    /// SVG path data of the line (`M`/`L` commands); empty when it has no values.
    pub path: String,
    /// SVG path data of the band, closed; empty without a band.
    pub band: String,
    /// Each point's position (no value: `None`).
    pub points: Vec<Option<(f64, f64)>>,
    /// Where to draw a dot: every point of a short series, and any point without a
    /// neighbour (a line of one point draws nothing).
    pub dots: Vec<(f64, f64)>,
    /// The interval of a point whose neighbours have none, as a vertical bar: x, top, bottom.
    pub whiskers: Vec<(f64, f64, f64)>,
}

/// Series up to this many positions get a dot at every point.
const DOTS_UP_TO: usize = 31;

/// The strip of the plot that belongs to one x position, with what hovering it tells.
#[derive(Debug, Clone, PartialEq)]
pub struct Column {
    pub x: f64,
    pub left: f64,
    pub width: f64,
    /// `"<x label>: <series> <value>, …"`.
    pub summary: String,
}

/// The smallest "nice" number (1, 2, 2.5 or 5 times a power of ten) at least `v`.
pub fn nice_ceiling(v: f64) -> f64 {
    if !(v.is_finite()) || v <= 0.0 {
        return 1.0;
    }
    let magnitude = 10f64.powf(v.log10().floor());
    for step in [1.0, 2.0, 2.5, 5.0, 10.0] {
        let candidate = step * magnitude;
        if candidate >= v * (1.0 - 1e-12) {
            return candidate;
        }
    }
    10.0 * magnitude
}

fn fmt(v: f64) -> String {
    let s = format!("{v:.1}");
    s.strip_suffix(".0").map(str::to_string).unwrap_or(s)
}

impl ChartData {
    /// The smallest and largest value the chart must show (values, bands, the reference),
    /// zero included.
    fn extent(&self) -> (f64, f64) {
        let values = self
            .series
            .iter()
            .flat_map(|s| s.values.iter().flatten().copied());
        let bands = self
            .series
            .iter()
            .flat_map(|s| s.band.iter().flatten().flat_map(|(l, h)| [*l, *h]));
        values
            .chain(bands)
            .chain(self.reference.as_ref().map(|(_, v)| *v))
            .filter(|v| v.is_finite())
            .fold((0.0, 0.0), |(lo, hi), v| (f64::min(lo, v), f64::max(hi, v)))
    }

    /// The y axis: bottom, top and the step between ticks. From zero to the next nice number
    /// above the largest value (four steps) when nothing is negative; else whole nice steps
    /// around both ends.
    fn y_axis(&self) -> (f64, f64, f64) {
        let (lo, hi) = self.extent();
        if lo >= 0.0 {
            let top = nice_ceiling(hi);
            return (0.0, top, top / 4.0);
        }
        let step = nice_ceiling((hi - lo) / 4.0);
        let bottom = (lo / step).floor() * step;
        let top = ((hi / step).ceil() * step).max(0.0);
        (bottom, top.max(bottom + step), step)
    }

    /// Whether there is anything to draw.
    pub fn is_empty(&self) -> bool {
        self.x_labels.is_empty()
            || self
                .series
                .iter()
                .all(|s| s.values.iter().all(Option::is_none))
    }

    /// Lays the chart out in a `width` × `height` viewBox. Y starts at zero unless a value
    /// is negative (a lift); the top is the next nice number above the largest value.
    pub fn plot(&self, width: f64, height: f64) -> Plot {
        let (l, t, r, b) = (LEFT, TOP, width - RIGHT, height - BOTTOM);
        let n = self.x_labels.len();
        let (bottom, top, step) = self.y_axis();
        let x_at = |i: usize| -> f64 {
            if n <= 1 {
                (l + r) / 2.0
            } else {
                l + (r - l) * i as f64 / (n - 1) as f64
            }
        };
        let y_at =
            |v: f64| -> f64 { b - (b - t) * ((v.clamp(bottom, top) - bottom) / (top - bottom)) };
        let lines = self
            .series
            .iter()
            .map(|s| {
                let points: Vec<Option<(f64, f64)>> = (0..n)
                    .map(|i| {
                        s.values
                            .get(i)
                            .copied()
                            .flatten()
                            .filter(|v| v.is_finite())
                            .map(|v| (x_at(i), y_at(v)))
                    })
                    .collect();
                let has =
                    |i: Option<usize>| i.and_then(|i| points.get(i)).is_some_and(Option::is_some);
                let dots = points
                    .iter()
                    .enumerate()
                    .filter_map(|(i, p)| {
                        let alone = !has(i.checked_sub(1)) && !has(Some(i + 1));
                        p.filter(|_| n <= DOTS_UP_TO || alone)
                    })
                    .collect();
                let band_at =
                    |i: Option<usize>| i.and_then(|i| s.band.get(i)).copied().flatten().is_some();
                let whiskers = (0..n)
                    .filter(|i| !band_at(i.checked_sub(1)) && !band_at(Some(i + 1)))
                    .filter_map(|i| {
                        s.band
                            .get(i)
                            .copied()
                            .flatten()
                            .filter(|(lo, hi)| lo.is_finite() && hi.is_finite())
                            .map(|(lo, hi)| (x_at(i), y_at(hi), y_at(lo)))
                    })
                    .collect();
                Line {
                    name: s.name.clone(),
                    path: line_path(&points, self.steps),
                    band: band_path(&s.band, n, &x_at, &y_at),
                    points,
                    dots,
                    whiskers,
                }
            })
            .collect();
        let steps = ((top - bottom) / step).round().clamp(1.0, 12.0) as usize;
        let first = (bottom / step).round() as i64;
        let y_ticks = (0..=steps)
            .map(|k| {
                let v = step * (first + k as i64) as f64;
                (y_at(v), self.unit.format(v))
            })
            .collect();
        let x_ticks = spread(n, 6)
            .into_iter()
            .map(|i| (x_at(i), self.x_labels[i].clone()))
            .collect();
        let half = if n <= 1 {
            (r - l) / 2.0
        } else {
            (r - l) / (n - 1) as f64 / 2.0
        };
        let columns = (0..n)
            .map(|i| {
                let x = x_at(i);
                let left = (x - half).max(l);
                let right = (x + half).min(r);
                Column {
                    x,
                    left,
                    width: (right - left).max(0.0),
                    summary: self.summary(i),
                }
            })
            .collect();
        Plot {
            width,
            height,
            area: (l, t, r, b),
            lines,
            y_ticks,
            x_ticks,
            columns,
            reference: self
                .reference
                .as_ref()
                .map(|(label, v)| (y_at(*v), format!("{label}: {}", self.unit.format(*v)))),
        }
    }

    /// What hovering x position `i` tells: its label and each series' value there.
    pub fn summary(&self, i: usize) -> String {
        let label = self.x_labels.get(i).cloned().unwrap_or_default();
        let values: Vec<String> = self
            .series
            .iter()
            .map(|s| {
                let v = s.values.get(i).copied().flatten();
                let band = s.band.get(i).copied().flatten();
                let value = match (v, band) {
                    (None, _) => "no data".to_string(),
                    (Some(v), None) => self.unit.format(v),
                    (Some(v), Some((lo, hi))) => format!(
                        "{} ({}–{})",
                        self.unit.format(v),
                        self.unit.format(lo),
                        self.unit.format(hi)
                    ),
                };
                if self.series.len() == 1 && s.name.is_empty() {
                    value
                } else {
                    format!("{} {value}", s.name)
                }
            })
            .collect();
        format!("{label}: {}", values.join(", "))
    }
}

/// Up to `most` indices spread evenly over `0..n`, first and last included.
fn spread(n: usize, most: usize) -> Vec<usize> {
    match n {
        0 => vec![],
        1 => vec![0],
        _ => {
            let k = most.clamp(2, n);
            let mut out: Vec<usize> = (0..k).map(|j| j * (n - 1) / (k - 1)).collect();
            out.dedup();
            out
        }
    }
}

fn line_path(points: &[Option<(f64, f64)>], steps: bool) -> String {
    let mut d = String::new();
    let mut last: Option<(f64, f64)> = None;
    for p in points {
        match (p, last) {
            (None, _) => last = None,
            (Some((x, y)), None) => {
                d.push_str(&format!("M{} {}", fmt(*x), fmt(*y)));
                last = Some((*x, *y));
            }
            (Some((x, y)), Some((_, py))) => {
                if steps {
                    d.push_str(&format!("H{}", fmt(*x)));
                    if (*y - py).abs() > f64::EPSILON {
                        d.push_str(&format!("V{}", fmt(*y)));
                    }
                } else {
                    d.push_str(&format!("L{} {}", fmt(*x), fmt(*y)));
                }
                last = Some((*x, *y));
            }
        }
    }
    d
}

/// The band as closed polygons, one per run of positions that have a band.
fn band_path(
    band: &[Option<(f64, f64)>],
    n: usize,
    x_at: &dyn Fn(usize) -> f64,
    y_at: &dyn Fn(f64) -> f64,
) -> String {
    let mut d = String::new();
    let mut run: Vec<(usize, f64, f64)> = Vec::new();
    let flush = |run: &mut Vec<(usize, f64, f64)>, d: &mut String| {
        if run.len() >= 2 {
            let top: Vec<String> = run
                .iter()
                .map(|(i, _, hi)| format!("{} {}", fmt(x_at(*i)), fmt(y_at(*hi))))
                .collect();
            let bottom: Vec<String> = run
                .iter()
                .rev()
                .map(|(i, lo, _)| format!("{} {}", fmt(x_at(*i)), fmt(y_at(*lo))))
                .collect();
            d.push_str(&format!("M{}L{}Z", top.join("L"), bottom.join("L")));
        }
        run.clear();
    };
    for i in 0..n {
        match band.get(i).copied().flatten() {
            Some((lo, hi)) if lo.is_finite() && hi.is_finite() => run.push((i, lo, hi)),
            _ => flush(&mut run, &mut d),
        }
    }
    flush(&mut run, &mut d);
    d
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(values: Vec<Option<f64>>) -> ChartData {
        ChartData {
            x_labels: (0..values.len()).map(|i| format!("d{i}")).collect(),
            series: vec![Series {
                name: "a".into(),
                values,
                band: vec![],
            }],
            ..Default::default()
        }
    }

    #[test]
    fn nice_ceilings() {
        assert_eq!(nice_ceiling(0.0), 1.0);
        assert_eq!(nice_ceiling(7.0), 10.0);
        assert_eq!(nice_ceiling(10.0), 10.0);
        assert_eq!(nice_ceiling(11.0), 20.0);
        assert_eq!(nice_ceiling(0.23), 0.25);
        assert_eq!(nice_ceiling(430.0), 500.0);
        assert_eq!(nice_ceiling(f64::NAN), 1.0);
    }

    #[test]
    fn short_counts() {
        assert_eq!(short_count(0.0), "0");
        assert_eq!(short_count(950.0), "950");
        assert_eq!(short_count(1234.0), "1.2k");
        assert_eq!(short_count(2000.0), "2k");
        assert_eq!(short_count(3_400_000.0), "3.4M");
        assert_eq!(short_count(2.5), "2.5");
        assert_eq!(Unit::Percent.format(0.123), "12 %");
        assert_eq!(Unit::Percent.format(0.0123), "1.2 %");
    }

    #[test]
    fn the_line_spans_the_plot_and_the_top_value_touches_the_top() {
        let p = data(vec![Some(0.0), Some(5.0), Some(10.0)]).plot(300.0, 100.0);
        let (l, t, r, b) = p.area;
        assert_eq!(p.lines[0].points[0], Some((l, b)));
        assert_eq!(p.lines[0].points[2], Some((r, t)));
        assert!(p.lines[0].path.starts_with('M'));
        assert_eq!(p.lines[0].path.matches('L').count(), 2);
        assert_eq!(p.y_ticks.first().map(|t| t.1.as_str()), Some("0"));
        assert_eq!(p.y_ticks.last().map(|t| t.1.as_str()), Some("10"));
        assert_eq!(p.columns.len(), 3);
        assert_eq!(p.columns[1].summary, "d1: a 5");
    }

    #[test]
    fn long_series_get_dots_only_where_a_point_stands_alone() {
        let mut values = vec![Some(1.0); 40];
        values[20] = None;
        values[22] = None;
        let p = data(values).plot(300.0, 100.0);
        assert_eq!(
            p.lines[0].dots.len(),
            1,
            "only position 21 has no neighbour"
        );
        assert_eq!(
            data(vec![Some(1.0); 5]).plot(300.0, 100.0).lines[0]
                .dots
                .len(),
            5
        );
    }

    #[test]
    fn a_gap_breaks_the_line() {
        let p = data(vec![Some(1.0), None, Some(2.0), Some(3.0)]).plot(300.0, 100.0);
        assert_eq!(p.lines[0].path.matches('M').count(), 2);
        assert_eq!(p.lines[0].path.matches('L').count(), 1);
        assert_eq!(p.columns[1].summary, "d1: a no data");
    }

    #[test]
    fn steps_move_across_then_up() {
        let mut d = data(vec![Some(0.0), Some(0.0), Some(4.0)]);
        d.steps = true;
        let path = d.plot(300.0, 100.0).lines[0].path.clone();
        assert!(!path.contains('L'), "{path}");
        assert_eq!(path.matches('V').count(), 1, "{path}");
    }

    #[test]
    fn bands_close_and_shares_stop_at_one() {
        let d = ChartData {
            x_labels: vec!["a".into(), "b".into(), "c".into()],
            series: vec![Series {
                name: "control".into(),
                values: vec![Some(0.1), Some(0.2), Some(0.15)],
                band: vec![Some((0.05, 0.2)), Some((0.1, 0.9)), None],
            }],
            unit: Unit::Percent,
            ..Default::default()
        };
        let p = d.plot(300.0, 100.0);
        assert_eq!(p.y_ticks.last().map(|t| t.1.as_str()), Some("100 %"));
        assert!(p.lines[0].band.starts_with('M') && p.lines[0].band.ends_with('Z'));
        assert!(
            p.lines[0].whiskers.is_empty(),
            "the band is drawn where it has neighbours"
        );
        let mut lone = d.clone();
        lone.series[0].band = vec![None, Some((0.1, 0.3)), None];
        let w = lone.plot(300.0, 100.0).lines[0].whiskers.clone();
        assert_eq!(w.len(), 1);
        assert!(w[0].1 < w[0].2, "top above bottom: {w:?}");
        assert_eq!(p.columns[0].summary, "a: control 10 % (5.0 %–20 %)");
    }

    #[test]
    fn the_reference_counts_toward_the_scale() {
        let mut d = data(vec![Some(1.0), Some(2.0)]);
        d.reference = Some(("targeted".into(), 40.0));
        let p = d.plot(300.0, 100.0);
        assert_eq!(p.y_ticks.last().map(|t| t.1.as_str()), Some("50"));
        assert_eq!(
            p.reference.as_ref().map(|r| r.1.as_str()),
            Some("targeted: 40")
        );
    }

    #[test]
    fn negative_values_get_an_axis_below_zero_in_whole_steps() {
        let d = ChartData {
            x_labels: vec!["a".into(), "b".into()],
            series: vec![Series {
                name: "b".into(),
                values: vec![Some(-0.04), Some(0.03)],
                band: vec![Some((-0.3, 0.2)), Some((-0.05, 0.11))],
            }],
            unit: Unit::Percent,
            reference: Some(("no difference".into(), 0.0)),
            ..Default::default()
        };
        let p = d.plot(300.0, 100.0);
        let ticks: Vec<&str> = p.y_ticks.iter().map(|t| t.1.as_str()).collect();
        assert_eq!(ticks, ["-40 %", "-20 %", "0 %", "20 %"]);
        let (_, top, _, bottom) = p.area;
        let zero = p.reference.as_ref().unwrap().0;
        assert!(
            (zero - (bottom - (bottom - top) * 0.4 / 0.6)).abs() < 1e-9,
            "{zero}"
        );
        // The first point is below the zero line, the second above it.
        let (y0, y1) = (
            p.lines[0].points[0].unwrap().1,
            p.lines[0].points[1].unwrap().1,
        );
        assert!(y0 > zero && y1 < zero, "{y0} {zero} {y1}");
        assert_eq!(p.columns[0].summary, "a: b -4.0 % (-30 %–20 %)");
    }

    #[test]
    fn empty_and_single_point_charts_do_not_panic() {
        assert!(data(vec![]).is_empty());
        assert!(data(vec![None, None]).is_empty());
        let p = data(vec![Some(3.0)]).plot(300.0, 100.0);
        assert_eq!(p.lines[0].dots.len(), 1, "a lone point is drawn as a dot");
        assert_eq!(p.columns.len(), 1);
        assert!(p.columns[0].width > 0.0);
        assert_eq!(p.x_ticks.len(), 1);
    }
}
