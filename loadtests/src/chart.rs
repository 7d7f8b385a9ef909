//! One PNG per run: queue depth, alert accept latency, embedding rate and process CPU over
//! the same time axis, so cause and effect line up at a glance.

use std::path::Path;
use std::sync::OnceLock;

use plotters::prelude::*;

use crate::sampler::Sample;
use crate::traffic::Call;

/// Fonts searched for the labels (plotters draws text with a font it is given).
const FONTS: &[&str] = &[
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
];

fn font() -> Result<(), String> {
    static LOADED: OnceLock<Result<(), String>> = OnceLock::new();
    LOADED
        .get_or_init(|| {
            let bytes = FONTS.iter().find_map(|p| std::fs::read(p).ok()).ok_or("no TrueType font found (install fonts-dejavu-core)")?;
            plotters::style::register_font("sans-serif", FontStyle::Normal, Box::leak(bytes.into_boxed_slice()))
                .map_err(|_| "the font could not be read".to_owned())
        })
        .clone()
}

/// A panel: caption, unit, and its named, coloured lines.
type Panel<'a> = (&'a str, &'a str, Vec<(&'a str, RGBColor, Vec<(f64, f64)>)>);

/// What one chart shows.
pub struct Series<'a> {
    pub title: &'a str,
    pub samples: &'a [Sample],
    pub alert_calls: &'a [Call],
    pub cpu_budget: f64,
}

/// p99 of accepted alert calls per second of the run.
fn p99_per_second(calls: &[Call]) -> Vec<(f64, f64)> {
    let mut by_second: std::collections::BTreeMap<u64, Vec<f64>> = Default::default();
    for c in calls.iter().filter(|c| (200..300).contains(&c.status)) {
        by_second.entry(c.t as u64).or_default().push(c.ms);
    }
    by_second.into_iter().map(|(s, v)| (s as f64, crate::latency::Percentiles::of(&v).p99_ms)).collect()
}

/// Texts embedded per second, from the cumulative counter (a restart resets it).
fn embed_rate(samples: &[Sample]) -> Vec<(f64, f64)> {
    samples
        .windows(2)
        .filter_map(|w| {
            let (a, b) = (w[0].embedded_texts?, w[1].embedded_texts?);
            let dt = w[1].t - w[0].t;
            (b >= a && dt > 0.0).then(|| (w[1].t, (b - a) / dt))
        })
        .collect()
}

/// Draws the chart to `path`.
pub fn draw(path: &Path, s: &Series) -> Result<(), String> {
    font()?;
    let root = BitMapBackend::new(path, (1200, 1400)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| e.to_string())?;
    let root = root.titled(s.title, ("sans-serif", 26)).map_err(|e| e.to_string())?;
    let panels = root.split_evenly((4, 1));
    let t_max = s.samples.last().map(|x| x.t).unwrap_or(1.0).max(1.0);
    let series_of = |f: fn(&Sample) -> Option<f64>| -> Vec<(f64, f64)> { s.samples.iter().filter_map(|x| Some((x.t, f(x)?))).collect() };
    let panel_data: [Panel; 4] = [
        (
            "queues",
            "jobs / texts",
            vec![
                ("outbox open", BLUE, series_of(|x| x.outbox_open.map(|v| v as f64))),
                ("bulk open", GREEN, series_of(|x| x.bulk_open.map(|v| v as f64))),
                ("scheduler queued", MAGENTA, series_of(|x| x.queued_texts.map(|v| v as f64))),
            ],
        ),
        ("alert accept latency", "p99 ms", vec![("alerts p99", RED, p99_per_second(s.alert_calls))]),
        ("embedding rate", "texts / s", vec![("embedded", BLUE, embed_rate(s.samples))]),
        (
            "gateway process CPU",
            "cores",
            vec![
                ("cpu", RED, series_of(|x| x.cpu_cores)),
                ("budget", BLACK, vec![(0.0, s.cpu_budget), (t_max, s.cpu_budget)]),
            ],
        ),
    ];
    for (area, (caption, unit, lines)) in panels.iter().zip(panel_data) {
        let y_max = lines.iter().flat_map(|(_, _, v)| v.iter().map(|p| p.1)).fold(1.0f64, f64::max) * 1.1;
        let mut chart = ChartBuilder::on(area)
            .caption(caption, ("sans-serif", 20))
            .margin(10)
            .x_label_area_size(30)
            .y_label_area_size(60)
            .build_cartesian_2d(0.0..t_max, 0.0..y_max)
            .map_err(|e| e.to_string())?;
        chart.configure_mesh().x_desc("seconds").y_desc(unit).draw().map_err(|e| e.to_string())?;
        for (name, color, points) in lines {
            chart
                .draw_series(LineSeries::new(points, color.stroke_width(2)))
                .map_err(|e| e.to_string())?
                .label(name)
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color));
        }
        chart.configure_series_labels().background_style(WHITE.mix(0.8)).border_style(BLACK).draw().map_err(|e| e.to_string())?;
    }
    root.present().map_err(|e| e.to_string())
}
