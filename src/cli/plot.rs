//! Pictures, as SVG (`plotters`): the fitted line over the data, predicted against
//! actual, loss curves on a log scale, and the loss surface as contours with the path
//! gradient descent took. Every series carries a legend label, so a picture can be
//! checked by what it contains. Pictures take data and compute nothing: what a fit's
//! pictures show is worked out in `fit/pictures.rs`.

use plotters::prelude::*;

const SIZE: (u32, u32) = (800, 560);

/// `(lo, hi)` widened by a margin, and never empty.
pub(super) fn range(values: impl Iterator<Item = f64>, margin: f64) -> (f64, f64) {
    let (lo, hi) = values
        .filter(|v| v.is_finite())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| {
            (a.min(v), b.max(v))
        });
    if !lo.is_finite() {
        return (0.0, 1.0);
    }
    let pad = ((hi - lo) * margin).max(1e-9 * lo.abs().max(1.0));
    (lo - pad, hi + pad)
}

/// A colour along a dark-blue → yellow ramp, `t` in [0, 1].
fn ramp(t: f64) -> RGBColor {
    let t = t.clamp(0.0, 1.0);
    let lerp = |a: f64, b: f64| (a + (b - a) * t) as u8;
    RGBColor(lerp(40.0, 250.0), lerp(30.0, 200.0), lerp(120.0, 30.0))
}

const SERIES: [RGBColor; 6] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
];

type Area<'a> = DrawingArea<SVGBackend<'a>, plotters::coord::Shift>;
type Plane<'a, 'b> = ChartContext<
    'a,
    SVGBackend<'b>,
    Cartesian2d<plotters::coord::types::RangedCoordf64, plotters::coord::types::RangedCoordf64>,
>;

/// A white SVG canvas, drawn into memory: the file is written whole, atomically, once
/// the picture is done.
fn canvas(svg: &mut String) -> Result<Area<'_>, String> {
    let root = SVGBackend::with_string(svg, SIZE).into_drawing_area();
    root.fill(&WHITE).map_err(|x| x.to_string())?;
    Ok(root)
}

/// Linear axes with their names.
fn plane<'a, 'b>(
    root: &'a Area<'b>,
    title: &str,
    (xr, yr): ((f64, f64), (f64, f64)),
    (xname, yname): (&str, &str),
    mesh: bool,
) -> Result<Plane<'a, 'b>, String> {
    let mut chart = ChartBuilder::on(root)
        .caption(title, ("sans-serif", 20))
        .margin(15)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(xr.0..xr.1, yr.0..yr.1)
        .map_err(|x| x.to_string())?;
    let mut m = chart.configure_mesh();
    m.x_desc(xname).y_desc(yname);
    if !mesh {
        m.disable_mesh();
    }
    m.draw().map_err(|x| x.to_string())?;
    Ok(chart)
}

/// The legend box, then the file.
fn finish<'a, 'b: 'a, CT: CoordTranslate>(
    mut chart: ChartContext<'a, SVGBackend<'b>, CT>,
    root: &Area<'b>,
    at: SeriesLabelPosition,
) -> Result<(), String> {
    chart
        .configure_series_labels()
        .position(at)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()
        .map_err(|x| x.to_string())?;
    root.present().map_err(|x| x.to_string())
}

/// Data as points and a fitted curve through them.
pub(super) fn scatter_line(
    path: &str,
    title: &str,
    names: (&str, &str),
    points: &[(f64, f64)],
    curve: &[(f64, f64)],
) -> Result<(), String> {
    let draw = |svg: &mut String| -> Result<(), String> {
        let root = canvas(svg)?;
        let xr = range(points.iter().chain(curve).map(|p| p.0), 0.05);
        let yr = range(points.iter().chain(curve).map(|p| p.1), 0.05);
        let mut chart = plane(&root, title, (xr, yr), names, true)?;
        chart
            .draw_series(
                points
                    .iter()
                    .map(|&p| Circle::new(p, 3, SERIES[0].mix(0.7).filled())),
            )
            .map_err(|x| x.to_string())?
            .label("data")
            .legend(|(x, y)| Circle::new((x + 10, y), 3, SERIES[0].filled()));
        chart
            .draw_series(LineSeries::new(
                curve.iter().copied(),
                SERIES[3].stroke_width(2),
            ))
            .map_err(|x| x.to_string())?
            .label("fit")
            .legend(|(x, y)| PathElement::new([(x, y), (x + 20, y)], SERIES[3].stroke_width(2)));
        finish(chart, &root, SeriesLabelPosition::UpperRight)
    };
    let mut svg = String::new();
    draw(&mut svg)
        .map_err(|e| format!("drawing {path}: {e}"))
        .and_then(|()| write_picture(path, &svg))
}

/// Predicted against actual, one colour per split, with the line y = x.
pub(super) fn predicted_vs_actual(
    path: &str,
    title: &str,
    series: &[(String, Vec<(f64, f64)>)],
) -> Result<(), String> {
    let draw = |svg: &mut String| -> Result<(), String> {
        let root = canvas(svg)?;
        let r = range(
            series
                .iter()
                .flat_map(|s| s.1.iter())
                .flat_map(|p| [p.0, p.1]),
            0.05,
        );
        let mut chart = plane(&root, title, (r, r), ("actual", "predicted"), true)?;
        chart
            .draw_series(LineSeries::new([(r.0, r.0), (r.1, r.1)], BLACK.mix(0.5)))
            .map_err(|x| x.to_string())?
            .label("predicted = actual")
            .legend(|(x, y)| PathElement::new([(x, y), (x + 20, y)], BLACK.mix(0.5)));
        for (k, (name, pts)) in series.iter().enumerate() {
            let c = SERIES[k % SERIES.len()];
            chart
                .draw_series(pts.iter().map(|&p| Circle::new(p, 2, c.mix(0.6).filled())))
                .map_err(|x| x.to_string())?
                .label(name.as_str())
                .legend(move |(x, y)| Circle::new((x + 10, y), 3, c.filled()));
        }
        finish(chart, &root, SeriesLabelPosition::UpperLeft)
    };
    let mut svg = String::new();
    draw(&mut svg)
        .map_err(|e| format!("drawing {path}: {e}"))
        .and_then(|()| write_picture(path, &svg))
}

/// Loss curves on a log scale: (label, points (iteration, loss)). Given the optimum, the
/// curves show the loss above it, which is what converges (to 0) and what a log scale
/// shows well. A curve ends where the loss stops being finite (a diverged run ends where
/// it blew up); points at or below the optimum (rounding) are left out.
pub(super) fn loss_curves(
    path: &str,
    title: &str,
    series: &[(String, Vec<(f64, f64)>)],
    optimum: Option<f64>,
) -> Result<(), String> {
    let floor = optimum.unwrap_or(0.0);
    let clean: Vec<(String, Vec<(f64, f64)>)> = series
        .iter()
        .map(|(n, pts)| {
            let ok: Vec<(f64, f64)> = pts
                .iter()
                .take_while(|p| p.1.is_finite() && p.1 < 1e300)
                .map(|&(i, l)| (i, l - floor))
                .filter(|p| p.1 > 0.0)
                .collect();
            (n.clone(), ok)
        })
        .collect();
    let xs = range(clean.iter().flat_map(|s| s.1.iter().map(|p| p.0)), 0.0);
    let (lo, hi) = clean
        .iter()
        .flat_map(|s| s.1.iter().map(|p| p.1))
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| {
            (a.min(v), b.max(v))
        });
    let (lo, hi) = if lo.is_finite() {
        (lo / 2.0, hi.max(lo) * 2.0)
    } else {
        (1e-3, 1.0)
    };
    let ylabel = match optimum {
        Some(o) => format!("loss − optimum {} (log scale)", tape::fmt_g(o)),
        None => "loss (log scale)".to_string(),
    };
    let draw = |svg: &mut String| -> Result<(), String> {
        let root = canvas(svg)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 20))
            .margin(15)
            .x_label_area_size(40)
            .y_label_area_size(70)
            .build_cartesian_2d(xs.0.max(0.0)..xs.1.max(1.0), (lo..hi).log_scale())
            .map_err(|x| x.to_string())?;
        chart
            .configure_mesh()
            .x_desc("iteration")
            .y_desc(ylabel.as_str())
            .y_label_formatter(&|v| format!("{v:.0e}"))
            .light_line_style(WHITE)
            .draw()
            .map_err(|x| x.to_string())?;
        for (k, (name, pts)) in clean.iter().enumerate() {
            let c = SERIES[k % SERIES.len()];
            chart
                .draw_series(LineSeries::new(pts.iter().copied(), c.stroke_width(2)))
                .map_err(|x| x.to_string())?
                .label(name.as_str())
                .legend(move |(x, y)| PathElement::new([(x, y), (x + 20, y)], c.stroke_width(2)));
        }
        finish(chart, &root, SeriesLabelPosition::UpperRight)
    };
    let mut svg = String::new();
    draw(&mut svg)
        .map_err(|e| format!("drawing {path}: {e}"))
        .and_then(|()| write_picture(path, &svg))
}

/// Contour lines of `loss` over a rectangle (log-spaced levels), with paths on top.
#[allow(clippy::too_many_arguments)]
pub(super) fn contours(
    path: &str,
    title: &str,
    names: (&str, &str),
    loss: &dyn Fn(f64, f64) -> f64,
    xr: (f64, f64),
    yr: (f64, f64),
    paths: &[(String, Vec<(f64, f64)>)],
    optimum: Option<(f64, f64)>,
) -> Result<(), String> {
    const G: usize = 100;
    const LEVELS: usize = 14;
    let at = |i: f64, r: (f64, f64)| r.0 + (r.1 - r.0) * i / G as f64;
    let raw: Vec<Vec<f64>> = (0..=G)
        .map(|i| {
            (0..=G)
                .map(|j| loss(at(i as f64, xr), at(j as f64, yr)))
                .collect()
        })
        .collect();
    // Levels evenly spaced in log(loss − floor): contours crowd around the valley floor,
    // where the descent's story is, instead of the steep walls.
    let finite = || raw.iter().flatten().copied().filter(|v| v.is_finite());
    let floor = finite().fold(f64::INFINITY, f64::min);
    let top = finite().fold(f64::NEG_INFINITY, f64::max);
    let eps = (top - floor).abs().max(1e-300) * 1e-6;
    let z: Vec<Vec<f64>> = raw
        .iter()
        .map(|row| row.iter().map(|v| (v - floor + eps).ln()).collect())
        .collect();
    // From the 3rd percentile up: the very bottom of a sampled grid is a few cells of
    // rounding noise, not contours worth drawing.
    let mut sorted: Vec<f64> = z
        .iter()
        .flatten()
        .copied()
        .filter(|v| v.is_finite())
        .collect();
    sorted.sort_by(f64::total_cmp);
    let (zlo, zhi) = match sorted.len() {
        0 => (0.0, 1.0),
        k => (sorted[k * 3 / 100], sorted[k - 1]),
    };
    let draw = |svg: &mut String| -> Result<(), String> {
        let root = canvas(svg)?;
        let mut chart = plane(&root, title, (xr, yr), names, false)?;
        for l in 0..LEVELS {
            let t = (l as f64 + 0.5) / LEVELS as f64;
            let level = zlo + (zhi - zlo) * t;
            let c = ramp(t);
            let pt = |(a, b): (f64, f64)| (at(a, xr), at(b, yr));
            let series = chart
                .draw_series(
                    march(&z, level)
                        .into_iter()
                        .map(|(p, q)| PathElement::new([pt(p), pt(q)], c.stroke_width(1))),
                )
                .map_err(|x| x.to_string())?;
            if l == 0 || l == LEVELS - 1 {
                series
                    .label(format!("loss {}", tape::fmt_g(level.exp() + floor - eps)))
                    .legend(move |(x, y)| {
                        PathElement::new([(x, y), (x + 20, y)], c.stroke_width(2))
                    });
            }
        }
        for (k, (name, pts)) in paths.iter().enumerate() {
            let c = SERIES[(k + 3) % SERIES.len()];
            chart
                .draw_series(LineSeries::new(pts.iter().copied(), c.stroke_width(2)))
                .map_err(|x| x.to_string())?
                .label(name.as_str())
                .legend(move |(x, y)| PathElement::new([(x, y), (x + 20, y)], c.stroke_width(2)));
            chart
                .draw_series(pts.iter().take(60).map(|&p| Circle::new(p, 2, c.filled())))
                .map_err(|x| x.to_string())?;
        }
        if let Some(o) = optimum {
            chart
                .draw_series([Cross::new(o, 6, BLACK.stroke_width(2))])
                .map_err(|x| x.to_string())?
                .label("closed-form minimum")
                .legend(|(x, y)| Cross::new((x + 10, y), 4, BLACK.stroke_width(2)));
        }
        finish(chart, &root, SeriesLabelPosition::LowerRight)
    };
    let mut svg = String::new();
    draw(&mut svg)
        .map_err(|e| format!("drawing {path}: {e}"))
        .and_then(|()| write_picture(path, &svg))
}

/// Marching squares: the segments where the grid `z` crosses `level`, in grid units.
fn march(z: &[Vec<f64>], level: f64) -> Vec<((f64, f64), (f64, f64))> {
    let mut out = Vec::new();
    let n = z.len() - 1;
    for i in 0..n {
        for j in 0..n {
            // Corners counter-clockwise from (i, j); a crossing on each edge whose ends
            // straddle the level, placed by linear interpolation.
            let c = [
                (i as f64, j as f64, z[i][j]),
                (i as f64 + 1.0, j as f64, z[i + 1][j]),
                (i as f64 + 1.0, j as f64 + 1.0, z[i + 1][j + 1]),
                (i as f64, j as f64 + 1.0, z[i][j + 1]),
            ];
            let mut cross = Vec::with_capacity(4);
            for k in 0..4 {
                let (a, b) = (c[k], c[(k + 1) % 4]);
                if (a.2 < level) != (b.2 < level) && a.2.is_finite() && b.2.is_finite() {
                    let t = (level - a.2) / (b.2 - a.2);
                    cross.push((a.0 + t * (b.0 - a.0), a.1 + t * (b.1 - a.1)));
                }
            }
            // Two crossings: one segment; four (a saddle): pair them in order.
            for pair in cross.chunks_exact(2) {
                out.push((pair[0], pair[1]));
            }
        }
    }
    out
}

/// The pictures of `descent fit --plot DIR`.
/// Whether a picture may replace a file of the same name (`--force`, or a folder that
/// descent made for its pictures).
pub(super) static REPLACE: std::sync::atomic::AtomicBool =
    std::sync::atomic::AtomicBool::new(false);

/// A picture made elsewhere (the tape's `to_svg`), written as every picture is.
pub(super) fn svg_picture(path: &str, svg: &str) -> Result<(), String> {
    write_picture(path, svg)
}

/// Writes a picture (atomically), refusing to replace a file unless [`REPLACE`] says so:
/// a user's `loss.svg` in the folder given is not lost to a picture.
fn write_picture(path: &str, svg: &str) -> Result<(), String> {
    if !REPLACE.load(std::sync::atomic::Ordering::Relaxed) && std::path::Path::new(path).exists() {
        return Err(format!(
            "{path} exists: give --force to replace it, or choose another --plot folder"
        ));
    }
    super::io::write_atomic(path, svg.as_bytes(), &[])
}

/// The loss curves of a learning-rate sweep on one chart.
pub(super) fn sweep_picture(
    curves: &[(f64, Vec<f64>)],
    best: f64,
    path: &str,
) -> Result<(), String> {
    if let Some(dir) = std::path::Path::new(path).parent() {
        std::fs::create_dir_all(dir).map_err(|e| format!("--plot {}: {e}", dir.display()))?;
    }
    let series: Vec<(String, Vec<(f64, f64)>)> = curves
        .iter()
        .map(|(lr, c)| {
            (
                format!("lr {}", tape::fmt_g(*lr)),
                c.iter().enumerate().map(|(i, l)| (i as f64, *l)).collect(),
            )
        })
        .collect();
    loss_curves(path, "Learning-rate sweep", &series, Some(best))
}
