//! `plot`: an SVG with a log-scale latency histogram and a latency-over-time scatter.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use plotters::prelude::*;
use shm_ipc::trace::TraceRecord;

use crate::filter::Filter;
use crate::names::{self, Role};
use crate::reader::{self, FileInfo, FileReader};

/// Histogram bins per decade of latency.
const BINS_PER_DECADE: usize = 10;
/// Bins cover 10^2 ns (100 ns) to 10^11 ns (100 s); values outside fall in the end bins.
const MIN_DECADE: i32 = 2;
const DECADES: usize = 9;
const BINS: usize = BINS_PER_DECADE * DECADES;
/// Scatter points kept per series (a uniform sample when there are more).
const SAMPLE: usize = 3000;
/// Series tracked at most, so memory stays bounded whatever the input.
const MAX_SERIES: usize = 512;

struct Series {
    label: String,
    bins: [u64; BINS],
    count: u64,
    /// (seconds since start, latency in µs)
    points: Vec<(f64, f64)>,
    rng: u64,
}

impl Series {
    fn new(label: String) -> Series {
        Series {
            label,
            bins: [0; BINS],
            count: 0,
            points: Vec::new(),
            rng: 0x2545_F491_4F6C_DD1D,
        }
    }

    fn add(&mut self, rel_s: f64, latency_ns: u64) {
        let bin = ((latency_ns.max(1) as f64).log10() - MIN_DECADE as f64) * BINS_PER_DECADE as f64;
        self.bins[(bin.max(0.0) as usize).min(BINS - 1)] += 1;
        self.count += 1;
        let point = (rel_s, latency_ns.max(1) as f64 / 1e3);
        if self.points.len() < SAMPLE {
            self.points.push(point);
        } else {
            // Reservoir sampling keeps every response equally likely to be drawn.
            self.rng ^= self.rng << 13;
            self.rng ^= self.rng >> 7;
            self.rng ^= self.rng << 17;
            let j = self.rng % self.count;
            if (j as usize) < SAMPLE {
                self.points[j as usize] = point;
            }
        }
    }
}

fn bin_edge_us(i: usize) -> f64 {
    10f64.powf(MIN_DECADE as f64 + i as f64 / BINS_PER_DECADE as f64) / 1e3
}

/// Reads `paths` and writes the plot to `output`; returns warnings about files that
/// stopped early. Series are (process, side, method) of responses passing `filter`;
/// without method filters only the `top` busiest are drawn.
pub fn plot(
    paths: &[PathBuf],
    output: &Path,
    filter: &mut Filter,
    top: usize,
) -> Result<Vec<String>, String> {
    match output.extension().and_then(|e| e.to_str()) {
        Some(e) if e.eq_ignore_ascii_case("svg") => {}
        _ => {
            return Err(format!(
                "{}: the output must be an .svg file",
                output.display()
            ))
        }
    }
    let mut readers = paths
        .iter()
        .map(|p| FileReader::open(p))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| e.to_string())?;
    let infos: Vec<FileInfo> = readers.iter().map(|r| r.info.clone()).collect();
    let start = reader::start_ns(&infos);
    let mut series: Vec<Series> = Vec::new();
    let mut index: HashMap<(usize, Role, u16, u16), usize> = HashMap::new();
    let mut warnings = Vec::new();
    let mut max_t = 0f64;
    for (file, r) in readers.iter_mut().enumerate() {
        let info = &infos[file];
        r.for_each(|rec: &TraceRecord| {
            if !names::is_completion(rec) {
                return;
            }
            let rel = rec.time_ns.saturating_sub(start);
            if !filter.matches(info, rec, rel) {
                return;
            }
            let key = (file, Role::of(rec), rec.interface, rec.method);
            let i = match index.get(&key) {
                Some(&i) => i,
                None if series.len() >= MAX_SERIES => return,
                None => {
                    let label = format!(
                        "{} ({} {})",
                        names::method_label(rec.interface, rec.method),
                        info.process,
                        key.1.name()
                    );
                    series.push(Series::new(label));
                    index.insert(key, series.len() - 1);
                    series.len() - 1
                }
            };
            let t = rel as f64 / 1e9;
            max_t = max_t.max(t);
            series[i].add(t, rec.latency_ns);
        })
        .map_err(|e| e.to_string())?;
        warnings.extend(r.warning());
    }
    if series.is_empty() {
        return Err("no responses match: nothing to plot".into());
    }
    series.sort_by(|a, b| b.count.cmp(&a.count).then(a.label.cmp(&b.label)));
    if !filter.has_methods() {
        series.truncate(top.max(1));
    }
    draw(output, &series, max_t).map_err(|e| format!("{}: {e}", output.display()))?;
    Ok(warnings)
}

fn draw(output: &Path, series: &[Series], max_t: f64) -> Result<(), Box<dyn std::error::Error>> {
    let root = SVGBackend::new(output, (1200, 1000)).into_drawing_area();
    root.fill(&WHITE)?;
    let (upper, lower) = root.split_vertically(500);

    let lo = series
        .iter()
        .filter_map(|s| s.bins.iter().position(|&c| c > 0))
        .min()
        .unwrap_or(0);
    let hi = series
        .iter()
        .filter_map(|s| s.bins.iter().rposition(|&c| c > 0))
        .max()
        .unwrap_or(BINS - 1);
    let (x0, x1) = (
        bin_edge_us(lo.saturating_sub(1)),
        bin_edge_us((hi + 2).min(BINS)),
    );
    let share = |s: &Series, c: u64| 100.0 * c as f64 / s.count.max(1) as f64;
    let y_max = series
        .iter()
        .flat_map(|s| s.bins.iter().map(move |&c| share(s, c)))
        .fold(0f64, f64::max)
        * 1.1;
    let mut chart = ChartBuilder::on(&upper)
        .caption("IPC latency distribution (responses)", ("sans-serif", 22))
        .margin(15)
        .x_label_area_size(45)
        .y_label_area_size(65)
        .build_cartesian_2d((x0..x1).log_scale(), 0f64..y_max.max(1.0))?;
    chart
        .configure_mesh()
        .x_desc("latency (µs, log scale)")
        .y_desc("share of the series' responses (%)")
        .draw()?;
    for (i, s) in series.iter().enumerate() {
        let color = Palette99::pick(i).to_rgba();
        let mut steps = Vec::with_capacity(2 * BINS + 2);
        steps.push((bin_edge_us(lo.saturating_sub(1)), 0.0));
        for b in lo.saturating_sub(1)..(hi + 2).min(BINS) {
            let y = share(s, s.bins[b]);
            steps.push((bin_edge_us(b), y));
            steps.push((bin_edge_us(b + 1), y));
        }
        chart
            .draw_series(LineSeries::new(steps, color.stroke_width(2)))?
            .label(format!("{} — {} responses", s.label, s.count))
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
            });
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()?;

    let (l0, l1) = series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.1))
        .fold((f64::MAX, 0f64), |(a, b), v| (a.min(v), b.max(v)));
    let mut chart = ChartBuilder::on(&lower)
        .caption(
            "IPC latency over time (responses, sampled)",
            ("sans-serif", 22),
        )
        .margin(15)
        .x_label_area_size(45)
        .y_label_area_size(65)
        .build_cartesian_2d(
            0f64..(max_t * 1.02).max(1e-6),
            ((l0 / 1.5)..(l1 * 1.5)).log_scale(),
        )?;
    chart
        .configure_mesh()
        .x_desc("time since trace start (s)")
        .y_desc("latency (µs, log scale)")
        .draw()?;
    for (i, s) in series.iter().enumerate() {
        let color = Palette99::pick(i).to_rgba();
        chart
            .draw_series(s.points.iter().map(|&p| Circle::new(p, 2, color.filled())))?
            .label(s.label.clone())
            .legend(move |(x, y)| Circle::new((x + 10, y), 4, color.filled()));
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()?;
    root.present()?;
    Ok(())
}
