//! The SVG chart of a boot report: per configuration the runs as points and
//! the median as a bar, split at the phase markers' medians.

use std::path::Path;

use isotune_qemu::report::BootReport;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::image_name;

const PALETTE: [RGBColor; 6] = [
    RGBColor(78, 121, 167),
    RGBColor(242, 142, 43),
    RGBColor(89, 161, 79),
    RGBColor(225, 87, 89),
    RGBColor(176, 122, 161),
    RGBColor(118, 183, 178),
];

/// Draws the chart as SVG: one column per configuration (rank order), the
/// median as a bar split at the phase markers' medians, each run a point,
/// the configuration's name and median above its column.
pub fn chart(path: &Path, r: &BootReport) -> Result<(), String> {
    let configs = r.ranked();
    let n = configs.len().max(1);
    let top = configs
        .iter()
        .flat_map(|c| c.runs.iter().map(|x| x.seconds))
        .fold(0.0f64, f64::max)
        .max(0.1)
        * 1.2;
    let width = (160 + 130 * n as u32).max(520);
    let root = SVGBackend::new(path, (width, 440)).into_drawing_area();
    let e = |err: &dyn std::fmt::Display| format!("cannot draw {}: {err}", path.display());
    root.fill(&WHITE).map_err(|x| e(&x))?;
    let title = format!(
        "isotune boot: {} ({} runs each, {})",
        image_name(r),
        r.runs_per_config,
        r.accel_used.as_deref().unwrap_or("?")
    );
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 18))
        .margin(12)
        .x_label_area_size(10)
        .y_label_area_size(56)
        .build_cartesian_2d(0f64..n as f64, 0f64..top)
        .map_err(|x| e(&x))?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .disable_x_axis()
        .y_desc("seconds to the end of the boot")
        .draw()
        .map_err(|x| e(&x))?;
    // The phases, in the order of the baseline's (or first) medians.
    let mut phases: Vec<(&str, f64)> = r
        .markers
        .iter()
        .filter_map(|m| {
            let c = configs
                .iter()
                .find(|c| c.summary.phase_median_seconds.contains_key(m))?;
            Some((m.as_str(), c.summary.phase_median_seconds[m]))
        })
        .collect();
    phases.sort_by(|a, b| a.1.total_cmp(&b.1));
    let mut legend: Vec<String> = phases.iter().map(|(m, _)| format!("to {m}")).collect();
    legend.push(if phases.is_empty() {
        "median".to_owned()
    } else {
        "to the end".to_owned()
    });
    for (k, label) in legend.iter().enumerate() {
        let color = PALETTE[k % PALETTE.len()].mix(0.55);
        chart
            .draw_series(std::iter::empty::<Rectangle<(f64, f64)>>())
            .map_err(|x| e(&x))?
            .label(label.clone())
            .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 12, y + 5)], color.filled()));
    }
    for (i, c) in configs.iter().enumerate() {
        let x0 = i as f64 + 0.2;
        let x1 = i as f64 + 0.8;
        if let Some(end) = c.summary.median_seconds {
            let mut cuts: Vec<f64> = phases
                .iter()
                .filter_map(|(m, _)| c.summary.phase_median_seconds.get(*m).copied())
                .filter(|v| *v < end)
                .collect();
            cuts.push(end);
            let mut from = 0.0;
            for (k, to) in cuts.iter().enumerate() {
                let k = if k + 1 == cuts.len() {
                    legend.len() - 1
                } else {
                    k
                };
                let color = PALETTE[k % PALETTE.len()].mix(0.55);
                chart
                    .draw_series([Rectangle::new([(x0, from), (x1, *to)], color.filled())])
                    .map_err(|x| e(&x))?;
                from = *to;
            }
        }
        let runs = c.runs.len().max(1) as f64;
        chart
            .draw_series(c.runs.iter().enumerate().map(|(j, run)| {
                let x = x0 + (x1 - x0) * (j as f64 + 0.5) / runs;
                Circle::new((x, run.seconds), 3, BLACK.filled())
            }))
            .map_err(|x| e(&x))?;
        let highest = c.runs.iter().map(|x| x.seconds).fold(0.0f64, f64::max);
        let label = match c.summary.median_seconds {
            Some(m) => format!("{} {m:.2} s", c.config.name),
            None => format!("{} failed", c.config.name),
        };
        let style = ("sans-serif", 12)
            .into_font()
            .into_text_style(&root)
            .pos(Pos::new(HPos::Center, VPos::Bottom));
        chart
            .draw_series([Text::new(
                label,
                (i as f64 + 0.5, highest + top * 0.02),
                style,
            )])
            .map_err(|x| e(&x))?;
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK.mix(0.3))
        .position(SeriesLabelPosition::UpperLeft)
        .draw()
        .map_err(|x| e(&x))?;
    root.present().map_err(|x| e(&x))
}
