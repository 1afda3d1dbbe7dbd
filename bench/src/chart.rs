//! The chart of a run (SVG, drawn with plotters from the results JSON):
//! on the left the 64 B one-way latency of each system (median bar, p99
//! whisker); on the right throughput in GB/s for each payload size, one
//! line per system, GB/s on a logarithmic axis.

use std::path::Path;

use anyhow::{Result, anyhow};
use plotters::coord::Shift;
use plotters::prelude::*;

use crate::plan::STREAM_SIZES;
use crate::report::{Results, size_label};

/// One colour per system, the same in both panels.
fn colour(system: &str) -> RGBColor {
    match system {
        "DataHub" => RGBColor(0x1f, 0x77, 0xb4),
        "iceoryx2" => RGBColor(0xff, 0x7f, 0x0e),
        "ZeroMQ" => RGBColor(0x2c, 0xa0, 0x2c),
        "Unix socket" => RGBColor(0x94, 0x67, 0xbd),
        _ => RGBColor(0x55, 0x55, 0x55),
    }
}

/// Writes the chart of `results` to `svg`.
pub(crate) fn draw(results: &Results, svg: &Path) -> Result<()> {
    let root = SVGBackend::new(svg, (1200, 520)).into_drawing_area();
    root.fill(&WHITE).map_err(plot_error)?;
    let title = format!(
        "datahub-bench ({:?}) on {} x {}",
        results.mode, results.machine.cores, results.machine.cpu
    );
    let root = root
        .titled(&title, ("sans-serif", 20))
        .map_err(plot_error)?;
    let (left, right) = root.split_horizontally(520);
    latency(results, &left)?;
    throughput(results, &right)?;
    root.present().map_err(plot_error)?;
    Ok(())
}

/// `1`, `10`, `1k`, `10k`, `1M` for a logarithmic axis.
fn human(v: f64) -> String {
    if v >= 1e6 {
        format!("{:.0}M", v / 1e6)
    } else if v >= 1e3 {
        format!("{:.0}k", v / 1e3)
    } else {
        format!("{v:.0}")
    }
}

fn plot_error(e: impl std::fmt::Debug) -> anyhow::Error {
    anyhow!("drawing the chart: {e:?}")
}

fn latency(results: &Results, area: &DrawingArea<SVGBackend<'_>, Shift>) -> Result<()> {
    let rows = &results.latency;
    let labels: Vec<String> = rows
        .iter()
        .map(|r| match (r.system.as_str(), r.waiting.as_str()) {
            ("ZeroMQ", "busy-poll") => "ZeroMQ spin".to_owned(),
            ("ZeroMQ", _) => "ZeroMQ block".to_owned(),
            ("Unix socket", _) => "UDS".to_owned(),
            (system, _) => system.to_owned(),
        })
        .collect();
    let top = rows
        .iter()
        .map(|r| r.p99_ns.max(r.median_ns))
        .fold(1.0, f64::max);
    let mut chart = ChartBuilder::on(area)
        .caption(
            "64 B one-way latency, ns (bar: median; line: p99)",
            ("sans-serif", 16),
        )
        .margin(12)
        .x_label_area_size(60)
        .y_label_area_size(60)
        // Integer ranges are inclusive here: `0..n - 1` gives n segments.
        .build_cartesian_2d(
            (0..rows.len().max(1) - 1).into_segmented(),
            (1f64..top * 2.0).log_scale(),
        )
        .map_err(plot_error)?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(rows.len().max(1))
        .x_label_formatter(&|x| match x {
            SegmentValue::CenterOf(i) => labels.get(*i).cloned().unwrap_or_default(),
            _ => String::new(),
        })
        .x_label_style(("sans-serif", 12))
        .y_label_formatter(&|y| human(*y))
        .y_desc("ns")
        .draw()
        .map_err(plot_error)?;
    chart
        .draw_series(rows.iter().enumerate().map(|(i, r)| {
            let mut bar = Rectangle::new(
                [
                    (SegmentValue::Exact(i), 1.0),
                    (SegmentValue::Exact(i + 1), r.median_ns.max(1.0)),
                ],
                colour(&r.system).filled(),
            );
            bar.set_margin(0, 0, 8, 8);
            bar
        }))
        .map_err(plot_error)?;
    chart
        .draw_series(rows.iter().enumerate().map(|(i, r)| {
            PathElement::new(
                vec![
                    (SegmentValue::CenterOf(i), r.median_ns.max(1.0)),
                    (SegmentValue::CenterOf(i), r.p99_ns.max(1.0)),
                ],
                BLACK.stroke_width(2),
            )
        }))
        .map_err(plot_error)?;
    chart
        .draw_series(rows.iter().enumerate().map(|(i, r)| {
            Text::new(
                format!("{:.0}", r.median_ns),
                (SegmentValue::CenterOf(i), r.median_ns.max(1.0) * 0.8),
                ("sans-serif", 12).into_font().color(&WHITE),
            )
        }))
        .map_err(plot_error)?;
    Ok(())
}

fn throughput(results: &Results, area: &DrawingArea<SVGBackend<'_>, Shift>) -> Result<()> {
    let rows = &results.throughput;
    let mut systems: Vec<&str> = Vec::new();
    for r in rows {
        if !systems.contains(&r.system.as_str()) {
            systems.push(&r.system);
        }
    }
    let (lo, hi) = rows.iter().fold((f64::MAX, 0.0f64), |(lo, hi), r| {
        (lo.min(r.median_gb_per_s), hi.max(r.median_gb_per_s))
    });
    let (lo, hi) = if rows.is_empty() {
        (0.01, 10.0)
    } else {
        (lo / 2.0, hi * 2.0)
    };
    let mut chart = ChartBuilder::on(area)
        .caption(
            "Throughput 1 -> 1, GB/s (median of rounds)",
            ("sans-serif", 16),
        )
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(
            (0..STREAM_SIZES.len() - 1).into_segmented(),
            (lo..hi).log_scale(),
        )
        .map_err(plot_error)?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(STREAM_SIZES.len())
        .x_label_formatter(&|x| match x {
            SegmentValue::CenterOf(i) => STREAM_SIZES
                .get(*i)
                .map(|&s| size_label(s))
                .unwrap_or_default(),
            _ => String::new(),
        })
        .x_desc("payload")
        .y_desc("GB/s")
        .draw()
        .map_err(plot_error)?;
    for system in systems {
        let points: Vec<(SegmentValue<usize>, f64)> = rows
            .iter()
            .filter(|r| r.system == system)
            .filter_map(|r| {
                let i = STREAM_SIZES.iter().position(|&s| s == r.size)?;
                Some((SegmentValue::CenterOf(i), r.median_gb_per_s))
            })
            .collect();
        let style = colour(system);
        chart
            .draw_series(LineSeries::new(points.clone(), style.stroke_width(2)))
            .map_err(plot_error)?
            .label(system)
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], style.stroke_width(2))
            });
        chart
            .draw_series(
                points
                    .iter()
                    .map(|p| Circle::new(p.clone(), 4, style.filled())),
            )
            .map_err(plot_error)?;
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()
        .map_err(plot_error)?;
    Ok(())
}
