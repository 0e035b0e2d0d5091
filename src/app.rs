//! The main job end to end: build the net, load a model, pick the images, run Algorithm 1,
//! write the `.caffemodel` atomically, and report progress the way a person can follow.

use crate::caffemodel;
use crate::calibrate::{calibrate, CsOptions, Rates};
use crate::cli::InitArgs;
use crate::error::{Error, Result};
use crate::feed::Feeder;
use crate::init::{self, Action, InitOptions, LayerReport};
use crate::net::params::Params;
use crate::net::Net;
use std::time::Instant;

/// Runs the main command.
pub fn run_init(a: &InitArgs) -> Result<()> {
    let start = Instant::now();
    let say = |line: &str| {
        if !a.quiet {
            println!("{line}");
        }
    };
    let warn = |line: &str| eprintln!("magic-init: warning: {line}");
    if a.gpu.is_some() {
        warn("--gpu is ignored: magic-init runs on one CPU core");
    }
    // Fail before the long run if the output cannot be written there.
    match a.output.parent() {
        Some(dir) if !dir.as_os_str().is_empty() && !dir.is_dir() => {
            return Err(Error::input(format!("output folder {} does not exist", dir.display())));
        }
        _ => {}
    }
    let net = Net::from_file(&a.prototxt, &a.build.options())?;
    for n in &net.notes {
        say(&format!("note: {n}"));
    }
    let mut params = Params::new(&net);
    if let Some(model) = &a.load {
        let (m, notes) = caffemodel::read_model(model)?;
        for n in notes {
            say(&format!("note: {}: {n}", model.display()));
        }
        let r = caffemodel::load_into(&net, &mut params, &m, &model.display().to_string())?;
        say(&format!("loaded {} layers from {}", r.loaded.len(), model.display()));
        if !r.skipped.is_empty() {
            say(&format!("  not in the net, ignored: {}", r.skipped.join(", ")));
        }
    }
    let feeder = Feeder::new(
        &net,
        Some(&a.prototxt),
        a.data.as_deref(),
        a.mean.as_deref(),
        a.scale,
        a.seed,
    )?;
    for w in &feeder.warnings {
        warn(w);
    }
    let batch = net.batch_size();
    say(&format!(
        "net \"{}\" ({} layers), {} batches of {batch} from {}",
        net.name,
        net.nodes.len(),
        a.nit,
        feeder.description
    ));
    let opts = InitOptions {
        bias: a.bias,
        nit: a.nit,
        reinit_all: a.zero,
        stats_limit_bytes: a.mem_limit_mb << 20,
        seed: a.seed,
        weight_type: a.weight_type,
    };
    let width = net.nodes.iter().map(|n| n.name.chars().count()).max().unwrap_or(0);
    let mut progress = |r: &LayerReport| {
        if a.quiet {
            return;
        }
        let what = match &r.action {
            Action::Fed => "images read".to_string(),
            Action::Initialised { basis, raw_mean, raw_std, dead } => {
                let dead =
                    if *dead > 0 { format!(", {dead} dead channels") } else { String::new() };
                format!(
                    "initialised ({basis}): raw output mean {raw_mean:.3e} std {raw_std:.3e} → mean {} std 1{dead}",
                    a.bias
                )
            }
            Action::Statistics => "statistics measured on the data".to_string(),
            Action::Skipped => "has weights, kept".to_string(),
            Action::Forward => return,
        };
        println!("{:<width$}  {:<13} {what}  ({:.2} s)", r.name, r.kind, r.seconds);
    };
    let report = init::initialize(&net, &mut params, &feeder, &opts, &mut progress)?;
    for w in &report.warnings {
        warn(w);
    }
    if a.cs {
        let opts =
            CsOptions { draws: a.cs_draws, batches: a.nit, max_iterations: 10, seed: a.seed };
        say(&format!(
            "between-layer scaling (-cs): change rates averaged over {} draws",
            a.cs_draws
        ));
        let t = Instant::now();
        let mut show = |it: usize, r: &Rates, target: f64| {
            if a.quiet {
                return;
            }
            let name = |k: usize| net.nodes[k].name.as_str();
            let lo = r.layers.iter().min_by(|a, b| a.1.total_cmp(&b.1));
            let hi = r.layers.iter().max_by(|a, b| a.1.total_cmp(&b.1));
            if let (Some(&(lk, lv)), Some(&(hk, hv))) = (lo, hi) {
                println!(
                    "  iteration {}: target {target:.3e}, spread {:.3} (slowest {} {lv:.3e}, fastest {} {hv:.3e})",
                    it + 1,
                    r.spread(),
                    name(lk),
                    name(hk)
                );
            }
        };
        let cs = calibrate(&net, &mut params, &feeder, &opts, &mut show)?;
        for w in &cs.warnings {
            warn(w);
        }
        let last = cs.history.last().map_or(0.0, Rates::spread);
        let line = format!(
            "{} after {} iterations in {:.1} s: change rates within {:.1} % of their geometric mean",
            if cs.converged {
                "converged"
            } else if cs.stalled {
                "stopped, no longer improving (per-layer scales cannot equalise these rates: \
                 parallel multi-layer branches keep the product of their rates fixed)"
            } else {
                "stopped after the iteration limit (not converged)"
            },
            cs.history.len(),
            t.elapsed().as_secs_f64(),
            100.0 * (last.exp() - 1.0)
        );
        if cs.converged {
            say(&line);
        } else {
            warn(&line);
        }
    }
    caffemodel::write_model(&a.output, &net, &params)?;
    let peak = init::peak_rss().unwrap_or(report.estimated_bytes);
    say(&format!(
        "done: {} layers initialised on {} images in {:.1} s, peak memory {} MB; wrote {}",
        report.initialised(),
        report.images,
        start.elapsed().as_secs_f64(),
        peak >> 20,
        a.output.display()
    ));
    Ok(())
}

/// Runs `stat`.
pub fn run_stat(a: &crate::cli::StatArgs) -> Result<()> {
    use std::io::IsTerminal;
    let net = Net::from_file(&a.prototxt, &a.build.options())?;
    let mut params = Params::new(&net);
    if let Some(model) = &a.load {
        let (m, _) = caffemodel::read_model(model)?;
        caffemodel::load_into(&net, &mut params, &m, &model.display().to_string())?;
    }
    let blank: Vec<&str> = net
        .nodes
        .iter()
        .zip(&params.blobs)
        .filter(|(n, b)| n.layer.is_weighted() && init::is_blank(&b[0]))
        .map(|(n, _)| n.name.as_str())
        .collect();
    if !blank.is_empty() {
        eprintln!(
            "magic-init: warning: layers without weights (their outputs are zero; load a model with -l): {}",
            blank.join(", ")
        );
    }
    let feeder = Feeder::new(
        &net,
        Some(&a.prototxt),
        a.data.as_deref(),
        a.mean.as_deref(),
        a.scale,
        a.seed,
    )?;
    if !a.quiet && !a.json {
        for w in &feeder.warnings {
            eprintln!("magic-init: warning: {w}");
        }
    }
    let draws = a.draws.unwrap_or(a.nit);
    let stats = crate::stat::collect(&net, &mut params, &feeder, a.nit, draws, a.seed, a.all)?;
    if let Some(path) = &a.svg {
        let title = format!(
            "{} — {}",
            net.name,
            a.load
                .as_ref()
                .map_or("weights from the prototxt".to_string(), |m| m.display().to_string())
        );
        crate::io::write_atomic(path, crate::stat::svg(&stats, &title).as_bytes())?;
    }
    if a.json {
        print!("{}", crate::stat::json(&stats));
    } else {
        let colour = !a.no_colour && std::io::stdout().is_terminal();
        print!("{}", crate::stat::text(&stats, a.summary_only, colour));
    }
    Ok(())
}
