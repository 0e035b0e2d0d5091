//! `magic-init stat`: the original's measurement tool. For every parameter layer (every layer
//! with `-a`): per-channel mean and std of its output over the batches, the coefficient of
//! variation of the channel stds, and the change rates of its weights (per input slice:
//! their coefficient of variation and mean) — what the paper's two algorithms equalise.
//! Output as a coloured table, JSON, or an SVG chart.

use crate::calibrate::{last_layer, measure_rates, CsOptions};
use crate::error::Result;
use crate::feed::Feeder;
use crate::json::Json;
use crate::kernels::stats::ChannelStats;
use crate::net::forward::Workspace;
use crate::net::params::Params;
use crate::net::Net;
use std::fmt::Write as _;

/// Statistics of one layer.
#[derive(Clone, Debug, PartialEq)]
pub struct LayerStat {
    /// Layer name.
    pub name: String,
    /// Layer type.
    pub kind: String,
    /// The top measured.
    pub top: String,
    /// Per-channel output mean.
    pub mean: Vec<f64>,
    /// Per-channel output std.
    pub std: Vec<f64>,
    /// Coefficient of variation of the channel stds (0: every channel equally scaled).
    pub out_cvar: f64,
    /// Change rates of the weights per input slice, for parameter layers.
    pub rates: Option<Vec<f64>>,
}

impl LayerStat {
    /// Coefficient of variation of the per-slice change rates.
    pub fn rate_cvar(&self) -> Option<f64> {
        self.rates.as_ref().map(|r| cvar(r))
    }

    /// Mean per-slice change rate.
    pub fn rate_mean(&self) -> Option<f64> {
        self.rates.as_ref().map(|r| mean(r))
    }
}

fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len().max(1) as f64
}

/// std / mean (population std); 0 for an empty or zero-mean list.
pub fn cvar(v: &[f64]) -> f64 {
    let m = mean(v);
    if m == 0.0 {
        return 0.0;
    }
    let var = v.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / v.len().max(1) as f64;
    var.sqrt() / m
}

/// Measures the statistics: activations over `nit` batches; change rates from `draws` random
/// top diffs spread over the same batches.
pub fn collect(
    net: &Net,
    params: &mut Params,
    feeder: &Feeder,
    nit: usize,
    draws: usize,
    seed: u64,
    all: bool,
) -> Result<Vec<LayerStat>> {
    let nodes: Vec<usize> = (0..net.nodes.len())
        .filter(|&i| !net.nodes[i].tops.is_empty() && (all || net.nodes[i].layer.is_weighted()))
        .collect();
    let acts = crate::init::measure_nodes(net, params, feeder, nit, seed, &nodes)?;
    let weighted_exist = net.nodes.iter().any(|n| n.layer.is_weighted());
    let rates = if weighted_exist && last_layer(net).is_ok() {
        let mut ws = Workspace::new(net, seed);
        let opts = CsOptions { draws, batches: nit, max_iterations: 1, seed };
        Some(measure_rates(net, params, feeder, &mut ws, &opts, 0)?)
    } else {
        None
    };
    Ok(acts
        .into_iter()
        .map(|(i, s): (usize, ChannelStats)| {
            let node = &net.nodes[i];
            let c = s.channels();
            let m: Vec<f64> = (0..c).map(|k| s.mean(k)).collect();
            let sd: Vec<f64> = (0..c).map(|k| s.std(k)).collect();
            let layer_rates = rates.as_ref().and_then(|r| {
                r.layers.iter().position(|&(k, _)| k == i).map(|p| r.slices[p].clone())
            });
            LayerStat {
                name: node.name.clone(),
                kind: node.layer.type_name().to_string(),
                top: net.blobs[node.tops[0]].name.clone(),
                out_cvar: cvar(&sd),
                mean: m,
                std: sd,
                rates: layer_rates,
            }
        })
        .collect())
}

/// ANSI colours (empty strings without colour).
struct Palette {
    bold: &'static str,
    red: &'static str,
    green: &'static str,
    blue: &'static str,
    reset: &'static str,
}

const COLOUR: Palette = Palette {
    bold: "\x1b[1m",
    red: "\x1b[91m",
    green: "\x1b[92m",
    blue: "\x1b[94m",
    reset: "\x1b[0m",
};
const PLAIN: Palette = Palette { bold: "", red: "", green: "", blue: "", reset: "" };

/// A row of numbers with the extremes highlighted; long rows show their first and last 12.
fn numbers(v: &[f64], colour: &str, p: &Palette) -> String {
    let (mn, mx) =
        v.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &x| (a.min(x), b.max(x)));
    let mut s = String::new();
    for (k, &x) in v.iter().enumerate() {
        if v.len() > 24 && k == 12 {
            s.push_str("… ");
        }
        if v.len() > 24 && (12..v.len() - 12).contains(&k) {
            continue;
        }
        let c = if x <= mn + 1e-3 || x + 1e-3 >= mx { p.red } else { colour };
        let _ = write!(s, "{}{c}{x:7.3}{} ", if c == p.red { p.bold } else { "" }, p.reset);
    }
    s.trim_end().to_string()
}

/// The text report: a block per layer (unless `summary_only`) and the summary table.
pub fn text(stats: &[LayerStat], summary_only: bool, colour: bool) -> String {
    let p = if colour { &COLOUR } else { &PLAIN };
    let mut out = String::new();
    if !summary_only {
        for l in stats {
            let _ = writeln!(out, "{}{} ({}) : {}{}", p.bold, l.name, l.kind, l.top, p.reset);
            let _ = writeln!(out, "  mean    {}", numbers(&l.mean, p.green, p));
            let _ = writeln!(out, "  stddev  {}", numbers(&l.std, p.blue, p));
            let _ = writeln!(
                out,
                "  coefficient of variation of the stddevs: {}{:.4}{}",
                p.green, l.out_cvar, p.reset
            );
            out.push('\n');
        }
    }
    let width = stats.iter().map(|l| l.name.chars().count()).max().unwrap_or(5).max(10);
    let _ = writeln!(out, "{}summary{}", p.bold, p.reset);
    let _ = writeln!(
        out,
        "{:<width$}  {:>10}  {:>10}  {:>10}  {:>10}",
        "layer", "out std", "out cvar", "rate cvar", "rate mean"
    );
    for l in stats {
        let opt =
            |v: Option<f64>, prec: usize| v.map_or("—".to_string(), |x| format!("{x:.prec$}"));
        let rate_mean = l.rate_mean().map_or("—".to_string(), |x| format!("{x:.3e}"));
        let _ = writeln!(
            out,
            "{:<width$}  {:>10.4}  {:>10.4}  {:>10}  {:>10}",
            l.name,
            mean(&l.std),
            l.out_cvar,
            opt(l.rate_cvar(), 4),
            rate_mean
        );
    }
    let rated: Vec<f64> = stats.iter().filter_map(LayerStat::rate_mean).collect();
    if rated.len() > 1 {
        let g = rated.iter().map(|r| r.ln()).sum::<f64>() / rated.len() as f64;
        let spread = rated.iter().map(|r| (r.ln() - g).abs()).fold(0.0, f64::max);
        let _ = writeln!(
            out,
            "change rates between layers: max |log(rate / geometric mean)| = {spread:.3} (0 when every layer learns at the same rate)"
        );
    }
    out
}

/// The same statistics as JSON.
pub fn json(stats: &[LayerStat]) -> String {
    let nums = |v: &[f64]| Json::Arr(v.iter().map(|&x| Json::Num(x)).collect());
    let layers = stats
        .iter()
        .map(|l| {
            Json::obj([
                ("name", Json::str(l.name.clone())),
                ("type", Json::str(l.kind.clone())),
                ("top", Json::str(l.top.clone())),
                ("channels", Json::int(l.mean.len() as u64)),
                ("mean", nums(&l.mean)),
                ("std", nums(&l.std)),
                ("out_std", Json::Num(mean(&l.std))),
                ("out_cvar", Json::Num(l.out_cvar)),
                ("rate_cvar", l.rate_cvar().map_or(Json::Null, Json::Num)),
                ("rate_mean", l.rate_mean().map_or(Json::Null, Json::Num)),
            ])
        })
        .collect();
    Json::obj([("layers", Json::Arr(layers))]).to_string_compact() + "\n"
}

/// (mean, min, max) of one layer's values.
type Spread = (f64, f64, f64);

fn esc(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// An SVG chart: per layer, the output std (mean and min–max over channels) and the mean change
/// rate, each on a log scale, so unequal layers stand out at a glance.
pub fn svg(stats: &[LayerStat], title: &str) -> String {
    let n = stats.len().max(1);
    let (w, panel_h, left, top_pad) = (120.0 + 60.0 * n as f64, 220.0, 80.0, 40.0);
    let h = top_pad + 2.0 * panel_h + 120.0;
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w:.0}" height="{h:.0}" viewBox="0 0 {w:.0} {h:.0}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(s, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let _ = writeln!(
        s,
        r#"<text x="{:.0}" y="22" font-size="15" font-weight="bold">{}</text>"#,
        left,
        esc(title)
    );
    let x_of = |i: usize| left + 30.0 + 60.0 * i as f64;
    let panels: [(&str, &str, Vec<Option<Spread>>); 2] = [
        (
            "output std per channel (dot: mean, bar: min–max)",
            "#1f77b4",
            stats
                .iter()
                .map(|l| {
                    let lo = l.std.iter().cloned().fold(f64::INFINITY, f64::min);
                    let hi = l.std.iter().cloned().fold(0.0, f64::max);
                    Some((mean(&l.std), lo, hi))
                })
                .collect(),
        ),
        (
            "change rate ‖∇W‖/‖W‖ (dot: mean over input slices, bar: min–max)",
            "#d62728",
            stats
                .iter()
                .map(|l| {
                    l.rates.as_ref().map(|r| {
                        let lo = r.iter().cloned().fold(f64::INFINITY, f64::min);
                        let hi = r.iter().cloned().fold(0.0, f64::max);
                        (mean(r), lo, hi)
                    })
                })
                .collect(),
        ),
    ];
    for (p, (label, colour, vals)) in panels.iter().enumerate() {
        let y0 = top_pad + 20.0 + p as f64 * (panel_h + 30.0);
        let positive: Vec<f64> = vals
            .iter()
            .flatten()
            .flat_map(|&(m, lo, hi)| [m, lo, hi])
            .filter(|v| *v > 0.0 && v.is_finite())
            .collect();
        let _ = writeln!(
            s,
            r#"<text x="{left:.0}" y="{:.0}" font-weight="bold">{}</text>"#,
            y0 - 6.0,
            esc(label)
        );
        let _ = writeln!(
            s,
            r##"<rect x="{left:.0}" y="{y0:.0}" width="{:.0}" height="{:.0}" fill="none" stroke="#999"/>"##,
            w - left - 20.0,
            panel_h - 20.0
        );
        if positive.is_empty() {
            let _ =
                writeln!(s, r#"<text x="{:.0}" y="{:.0}">no data</text>"#, left + 10.0, y0 + 30.0);
            continue;
        }
        let lo = positive.iter().cloned().fold(f64::INFINITY, f64::min).log10().floor();
        let hi =
            positive.iter().cloned().fold(f64::NEG_INFINITY, f64::max).log10().ceil().max(lo + 1.0);
        let y_of =
            |v: f64| y0 + (panel_h - 30.0) * (1.0 - (v.max(1e-300).log10() - lo) / (hi - lo)) + 5.0;
        let mut e = lo;
        while e <= hi {
            let y = y_of(10f64.powf(e));
            let _ = writeln!(
                s,
                r##"<line x1="{left:.0}" x2="{:.0}" y1="{y:.1}" y2="{y:.1}" stroke="#eee"/>"##,
                w - 20.0
            );
            let _ = writeln!(
                s,
                r#"<text x="{:.0}" y="{:.1}" text-anchor="end">1e{e:.0}</text>"#,
                left - 6.0,
                y + 4.0
            );
            e += 1.0;
        }
        let mut path = String::new();
        for (i, v) in vals.iter().enumerate() {
            let Some((m, lo_v, hi_v)) = *v else { continue };
            let x = x_of(i);
            let _ = writeln!(
                s,
                r#"<line x1="{x:.1}" x2="{x:.1}" y1="{:.1}" y2="{:.1}" stroke="{colour}" stroke-width="3" opacity="0.35"/>"#,
                y_of(lo_v.max(1e-300)),
                y_of(hi_v.max(1e-300))
            );
            let _ = writeln!(
                s,
                r#"<circle cx="{x:.1}" cy="{:.1}" r="4" fill="{colour}"><title>{}: {m:.4e}</title></circle>"#,
                y_of(m),
                esc(&stats[i].name)
            );
            let _ =
                write!(path, "{}{x:.1},{:.1} ", if path.is_empty() { "M" } else { "L" }, y_of(m));
        }
        if !path.is_empty() {
            let _ = writeln!(
                s,
                r#"<path d="{}" fill="none" stroke="{colour}" stroke-width="1.5"/>"#,
                path.trim_end()
            );
        }
    }
    let base = top_pad + 2.0 * panel_h + 60.0;
    for (i, l) in stats.iter().enumerate() {
        let x = x_of(i);
        let _ = writeln!(
            s,
            r#"<text x="{x:.1}" y="{base:.0}" transform="rotate(40 {x:.1} {base:.0})">{}</text>"#,
            esc(&l.name)
        );
    }
    s.push_str("</svg>\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Vec<LayerStat> {
        vec![
            LayerStat {
                name: "conv<1>".into(),
                kind: "Convolution".into(),
                top: "conv1".into(),
                mean: vec![0.1, 0.1],
                std: vec![1.0, 3.0],
                out_cvar: cvar(&[1.0, 3.0]),
                rates: Some(vec![2.0, 2.0]),
            },
            LayerStat {
                name: "pool".into(),
                kind: "Pooling".into(),
                top: "pool".into(),
                mean: vec![0.5],
                std: vec![0.25],
                out_cvar: 0.0,
                rates: None,
            },
        ]
    }

    #[test]
    fn coefficient_of_variation() {
        assert_eq!(cvar(&[1.0, 3.0]), 0.5);
        assert_eq!(cvar(&[2.0, 2.0]), 0.0);
        assert_eq!(cvar(&[]), 0.0);
    }

    #[test]
    fn text_json_and_svg() {
        let s = sample();
        let t = text(&s, false, false);
        assert!(t.contains("conv<1> (Convolution) : conv1"), "{t}");
        assert!(t.contains("coefficient of variation of the stddevs: 0.5000"), "{t}");
        assert!(!t.contains('\x1b'));
        assert!(text(&s, true, true).contains('\x1b'));
        assert!(!text(&s, true, false).contains("stddev "));
        let j = json(&s);
        assert!(j.starts_with(r#"{"layers":[{"name":"conv<1>","type":"Convolution","top":"conv1","channels":2,"mean":[0.1,0.1],"std":[1,3],"out_std":2,"out_cvar":0.5,"rate_cvar":0,"rate_mean":2}"#), "{j}");
        assert!(j.contains(r#""rate_cvar":null"#));
        let g = svg(&s, "a & b");
        assert!(g.starts_with("<svg ") && g.trim_end().ends_with("</svg>"));
        assert!(g.contains("conv&lt;1&gt;") && g.contains("a &amp; b"));
        assert_eq!(g.matches("<circle").count(), 3);
        // Balanced tags: every opened element is closed or self-closed.
        let opens =
            g.matches("<text").count() + g.matches("<circle").count() + g.matches("<svg").count();
        let closes = g.matches("</text>").count()
            + g.matches("</circle>").count()
            + g.matches("</svg>").count();
        assert_eq!(opens, closes);
    }
}
