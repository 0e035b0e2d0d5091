//! Command line: raw arguments (lexopt, with the original script's single-dash long flags such as
//! `-nit` accepted) → a validated [`Command`]. Every parsed option is carried into the command.

use crate::error::{Error, Result};
use crate::layers::input::InputOverride;
use crate::net::BuildOptions;
use crate::proto::caffe::Phase;
use std::ffi::OsString;
use std::path::PathBuf;

/// Single-dash long flags of the original `magic_init.py`, rewritten to `--name` before lexopt.
const SINGLE_DASH_LONG: &[&str] = &["-nit", "-bs", "-cs", "-nc", "-sm"];

/// A validated command.
#[derive(Clone, Debug, PartialEq)]
pub enum Command {
    /// Print usage.
    Help,
    /// Print the version.
    Version,
    /// `info`: layers, shapes, parameters, multiply-adds.
    Info(InfoArgs),
    /// `upgrade`: print the net in current (V2) text format.
    Upgrade(UpgradeArgs),
    /// The main job: initialise PROTOTXT's weights and write OUTPUT.
    Init(InitArgs),
    /// `stat`: per-layer output statistics and change rates.
    Stat(StatArgs),
}

/// Options of `stat` (the original measure_stat's flags plus ours).
#[derive(Clone, Debug, PartialEq)]
pub struct StatArgs {
    /// The net.
    pub prototxt: PathBuf,
    /// `-l`: model to measure.
    pub load: Option<PathBuf>,
    /// `-d`: image glob.
    pub data: Option<String>,
    /// `-nit`: batches.
    pub nit: usize,
    /// `-s`: input scale.
    pub scale: f32,
    /// `--mean`.
    pub mean: Option<Vec<f32>>,
    /// `-a`: every layer, not only parameter layers.
    pub all: bool,
    /// `-sm`: summary only.
    pub summary_only: bool,
    /// `-nc`: no colour.
    pub no_colour: bool,
    /// `--json`.
    pub json: bool,
    /// `--svg FILE`.
    pub svg: Option<PathBuf>,
    /// `--seed`.
    pub seed: u64,
    /// `--cs-draws`: random draws for the change rates (default: one per batch).
    pub draws: Option<usize>,
    /// `-q`: no progress lines.
    pub quiet: bool,
    /// Phase, input shape, batch size (`-bs`, default 16).
    pub build: BuildArgs,
}

/// Options of the main command (the original script's flags plus ours).
#[derive(Clone, Debug, PartialEq)]
pub struct InitArgs {
    /// The net.
    pub prototxt: PathBuf,
    /// Where to write the `.caffemodel`.
    pub output: PathBuf,
    /// `-d`: image glob.
    pub data: Option<String>,
    /// `-t`: weight basis.
    pub weight_type: crate::init::WeightType,
    /// `-b`: β, the mean of every initialised channel.
    pub bias: f32,
    /// `-nit`: number of batches.
    pub nit: usize,
    /// `-s`: input scale (after mean subtraction).
    pub scale: f32,
    /// `-l`: model to load first.
    pub load: Option<PathBuf>,
    /// `-z`: zero everything and re-initialise.
    pub zero: bool,
    /// `-q`: only warnings and errors.
    pub quiet: bool,
    /// `--mem-limit`: MB of a layer's output used for its statistics.
    pub mem_limit_mb: usize,
    /// `--seed`.
    pub seed: u64,
    /// `--mean`: per-channel mean (BGR).
    pub mean: Option<Vec<f32>>,
    /// `--gpu`: accepted for compatibility with the original, ignored (CPU only).
    pub gpu: Option<i64>,
    /// `-cs`: between-layer scaling (Algorithm 2) after the within-layer initialization.
    pub cs: bool,
    /// `--cs-draws`: random draws averaged into each change rate.
    pub cs_draws: usize,
    /// Phase, input shape, batch size (`-bs`, default 16).
    pub build: BuildArgs,
}

/// Options of `info`.
#[derive(Clone, Debug, PartialEq)]
pub struct InfoArgs {
    /// The prototxt.
    pub prototxt: PathBuf,
    /// JSON instead of a table.
    pub json: bool,
    /// Phase, input shape and batch overrides.
    pub build: BuildArgs,
}

/// Options of `upgrade`.
#[derive(Clone, Debug, PartialEq)]
pub struct UpgradeArgs {
    /// Input prototxt (any version).
    pub input: PathBuf,
    /// Output path; standard output when absent.
    pub output: Option<PathBuf>,
}

/// Net-building options shared by the commands that build a net.
#[derive(Clone, Debug, PartialEq)]
pub struct BuildArgs {
    /// `--phase train|test`.
    pub phase: Phase,
    /// `--input-shape C,H,W`.
    pub input_shape: Option<Vec<usize>>,
    /// `-bs N` (batch size).
    pub batch: Option<usize>,
}

impl Default for BuildArgs {
    fn default() -> Self {
        BuildArgs { phase: Phase::Train, input_shape: None, batch: None }
    }
}

impl BuildArgs {
    /// The net builder's options.
    pub fn options(&self) -> BuildOptions {
        BuildOptions {
            phase: self.phase,
            input: InputOverride { item_shape: self.input_shape.clone(), batch: self.batch },
        }
    }
}

/// Usage text.
pub const USAGE: &str = "\
magic-init — data-dependent initialization of Caffe networks (Krähenbühl et al., ICLR 2016)

USAGE:
    magic-init PROTOTXT OUTPUT.caffemodel [-d GLOB] [-t TYPE] [-b BIAS] [-bs N] [-nit N] [-s SCALE]
               [-l MODEL] [-z] [-q] [--mem-limit MB] [--seed N] [--mean B,G,R]
               [--phase train|test] [--input-shape C,H,W]
    magic-init stat PROTOTXT [-l MODEL] [-d GLOB] [-nit N] [-bs N] [-a] [-sm] [-nc] [--json]
                    [--svg FILE]
    magic-init info PROTOTXT [--json] [--phase train|test] [--input-shape C,H,W] [-bs N]
    magic-init upgrade IN.prototxt [OUT.prototxt]
    magic-init -h | --help | --version

MAIN COMMAND (Algorithm 1: every Convolution / InnerProduct / Deconvolution layer gets
Gaussian weights rescaled so that each output channel has mean BIAS and std 1 on the data):
    -d, --data GLOB        images (JPEG/PNG), sorted; without it, the prototxt's ImageData list,
                           else built-in synthetic dead-leaves images (with a warning)
    -t, --type TYPE        weight basis: elwise, pca, zca, kmeans, rand, orthogonal; fast_pca,
                           fast_zca, fast_kmeans, fast_rand use fewer patches [elwise]
    -b, --bias BIAS        mean β of every initialised channel [0.1]
    -bs N                  batch size [16]
    -nit N                 number of batches [10]
    -s SCALE               input scale, applied after mean subtraction [1.0]
    -l, --load MODEL       start from a .caffemodel; layers it fills are kept (unless -z)
    -z                     zero all weights and re-initialise every layer
    -q                     quiet: only warnings and errors
    --mem-limit MB         at most this much of a layer's output enters its statistics [500]
    --seed N               seed of every random draw; same seed and inputs, same file [1]
    --mean B,G,R           per-channel mean, or one value [104,117,123 for colour, 0 for grey]
    -cs                    then balance the layers' change rates (Algorithm 2)
    --cs-draws N           random draws averaged into each change rate [16]
    --gpu N                accepted for compatibility with the original script; ignored (CPU)

COMMANDS:
    stat       per layer: mean and std of every output channel on the data, their coefficient
               of variation, and the weights' change rates (coefficient of variation, mean).
               -a all layers, -sm summary only, -nc no colour, --json, --svg FILE (a chart).
               Also takes -s, --mean, --seed, --cs-draws N (draws; default one per batch).
    info       one row per layer: name, type, bottoms → tops, top shapes, parameter count,
               multiply-adds per image; totals. --json for machines.
    upgrade    print a net (V1 `layers` or legacy input fields included) in current text format.

NET OPTIONS:
    --phase train|test     phase for include/exclude rules, Dropout and BatchNorm [train]
    --input-shape C,H,W    shape of one input item (overrides the prototxt's data layer)
    -bs, --batch-size N    batch size (info: overrides the prototxt's; main command: [16])

Exit codes: 0 success, 1 runtime failure, 2 usage or input error.
";

fn usage_error(msg: impl std::fmt::Display) -> Error {
    Error::input(format!("{msg}\n(run `magic-init --help` for usage)"))
}

fn value<T: std::str::FromStr>(p: &mut lexopt::Parser, flag: &str) -> Result<T> {
    let v = p.value().map_err(|e| usage_error(format!("{flag}: {e}")))?;
    let s = v.into_string().map_err(|_| usage_error(format!("{flag}: value is not UTF-8")))?;
    s.trim().parse().map_err(|_| usage_error(format!("{flag}: invalid value {s:?}")))
}

fn string_value(p: &mut lexopt::Parser, flag: &str) -> Result<String> {
    let v = p.value().map_err(|e| usage_error(format!("{flag}: {e}")))?;
    v.into_string().map_err(|_| usage_error(format!("{flag}: value is not UTF-8")))
}

/// Parses `C,H,W` (or any number of positive comma-separated dims).
pub fn parse_dims(s: &str, flag: &str) -> Result<Vec<usize>> {
    let dims: Option<Vec<usize>> = s
        .split([',', 'x', '×'])
        .map(|d| d.trim().parse().ok().filter(|&d: &usize| d > 0))
        .collect();
    match dims {
        Some(d) if !d.is_empty() => Ok(d),
        _ => Err(usage_error(format!("{flag}: expected positive dims like 3,227,227, got {s:?}"))),
    }
}

fn parse_phase(s: &str) -> Result<Phase> {
    match s.to_ascii_lowercase().as_str() {
        "train" => Ok(Phase::Train),
        "test" => Ok(Phase::Test),
        _ => Err(usage_error(format!("--phase: expected train or test, got {s:?}"))),
    }
}

/// A lexopt argument detached from the parser's borrow.
#[derive(Clone, Debug, PartialEq)]
enum Arg {
    Short(char),
    Long(String),
    Value(OsString),
}

fn next_arg(p: &mut lexopt::Parser) -> Result<Option<Arg>> {
    Ok(match p.next().map_err(usage_error)? {
        None => None,
        Some(lexopt::Arg::Short(c)) => Some(Arg::Short(c)),
        Some(lexopt::Arg::Long(l)) => Some(Arg::Long(l.to_string())),
        Some(lexopt::Arg::Value(v)) => Some(Arg::Value(v)),
    })
}

/// Handles a net-building option; false if `arg` is not one.
fn build_option(arg: &Arg, p: &mut lexopt::Parser, b: &mut BuildArgs) -> Result<bool> {
    let Arg::Long(name) = arg else { return Ok(false) };
    match name.as_str() {
        "phase" => b.phase = parse_phase(&string_value(p, "--phase")?)?,
        "input-shape" => {
            b.input_shape = Some(parse_dims(&string_value(p, "--input-shape")?, "--input-shape")?)
        }
        "bs" | "batch-size" => {
            let n: usize = value(p, "-bs")?;
            if n == 0 {
                return Err(usage_error("-bs: batch size must be positive"));
            }
            b.batch = Some(n);
        }
        _ => return Ok(false),
    }
    Ok(true)
}

/// Parses the arguments after the program name.
pub fn parse_args<I: IntoIterator<Item = OsString>>(args: I) -> Result<Command> {
    let args: Vec<OsString> = args
        .into_iter()
        .map(|a| match a.to_str() {
            Some(s) if SINGLE_DASH_LONG.contains(&s) => OsString::from(format!("-{s}")),
            _ => a,
        })
        .collect();
    let Some(first) = args.first().and_then(|a| a.to_str()) else {
        return Err(usage_error("no command given"));
    };
    let sub = first.to_string();
    let args_for_init = args.clone();
    let mut p = lexopt::Parser::from_args(args.into_iter().skip(1));
    match sub.as_str() {
        "-h" | "--help" | "help" => Ok(Command::Help),
        "-V" | "--version" => Ok(Command::Version),
        "info" => {
            let mut prototxt = None;
            let mut json = false;
            let mut build = BuildArgs::default();
            while let Some(arg) = next_arg(&mut p)? {
                if build_option(&arg, &mut p, &mut build)? {
                    continue;
                }
                match arg {
                    Arg::Long(l) if l == "json" => json = true,
                    Arg::Short('h') => return Ok(Command::Help),
                    Arg::Long(l) if l == "help" => return Ok(Command::Help),
                    Arg::Value(v) if prototxt.is_none() => prototxt = Some(PathBuf::from(v)),
                    other => {
                        return Err(usage_error(format!(
                            "info: unexpected argument {}",
                            describe(&other)
                        )))
                    }
                }
            }
            let prototxt = prototxt.ok_or_else(|| usage_error("info: missing PROTOTXT"))?;
            Ok(Command::Info(InfoArgs { prototxt, json, build }))
        }
        "stat" => parse_stat(&mut p),
        "upgrade" => {
            let mut paths = Vec::new();
            while let Some(arg) = next_arg(&mut p)? {
                match arg {
                    Arg::Short('h') => return Ok(Command::Help),
                    Arg::Long(l) if l == "help" => return Ok(Command::Help),
                    Arg::Value(v) if paths.len() < 2 => paths.push(PathBuf::from(v)),
                    other => {
                        return Err(usage_error(format!(
                            "upgrade: unexpected argument {}",
                            describe(&other)
                        )))
                    }
                }
            }
            let mut it = paths.into_iter();
            let input = it.next().ok_or_else(|| usage_error("upgrade: missing IN.prototxt"))?;
            Ok(Command::Upgrade(UpgradeArgs { input, output: it.next() }))
        }
        _ => parse_init(args_for_init),
    }
}

/// Parses `stat`.
fn parse_stat(p: &mut lexopt::Parser) -> Result<Command> {
    let mut a = StatArgs {
        prototxt: PathBuf::new(),
        load: None,
        data: None,
        nit: 10,
        scale: 1.0,
        mean: None,
        all: false,
        summary_only: false,
        no_colour: false,
        json: false,
        svg: None,
        seed: 1,
        draws: None,
        quiet: false,
        build: BuildArgs { batch: Some(16), ..BuildArgs::default() },
    };
    let mut path = None;
    while let Some(arg) = next_arg(p)? {
        if build_option(&arg, p, &mut a.build)? {
            continue;
        }
        match arg {
            Arg::Short('h') => return Ok(Command::Help),
            Arg::Short('l') => a.load = Some(PathBuf::from(string_value(p, "-l")?)),
            Arg::Short('d') => a.data = Some(string_value(p, "-d")?),
            Arg::Short('s') => a.scale = finite(value(p, "-s")?, "-s")?,
            Arg::Short('a') => a.all = true,
            Arg::Short('q') => a.quiet = true,
            Arg::Long(l) => match l.as_str() {
                "help" => return Ok(Command::Help),
                "load" => a.load = Some(PathBuf::from(string_value(p, "--load")?)),
                "data" => a.data = Some(string_value(p, "--data")?),
                "all" => a.all = true,
                "sm" => a.summary_only = true,
                "nc" => a.no_colour = true,
                "json" => a.json = true,
                "svg" => a.svg = Some(PathBuf::from(string_value(p, "--svg")?)),
                "seed" => a.seed = value(p, "--seed")?,
                "mean" => a.mean = Some(parse_mean(&string_value(p, "--mean")?)?),
                "nit" => {
                    a.nit = value(p, "-nit")?;
                    if a.nit == 0 {
                        return Err(usage_error("-nit: at least one batch is needed"));
                    }
                }
                "cs-draws" => {
                    let d: usize = value(p, "--cs-draws")?;
                    if d == 0 {
                        return Err(usage_error("--cs-draws: at least one draw is needed"));
                    }
                    a.draws = Some(d);
                }
                other => return Err(usage_error(format!("stat: unknown option --{other}"))),
            },
            Arg::Value(v) if path.is_none() => path = Some(PathBuf::from(v)),
            other => {
                return Err(usage_error(format!("stat: unexpected argument {}", describe(&other))))
            }
        }
    }
    a.prototxt = path.ok_or_else(|| usage_error("stat: missing PROTOTXT"))?;
    Ok(Command::Stat(a))
}

/// `--mean`: comma-separated finite numbers.
fn parse_mean(text: &str) -> Result<Vec<f32>> {
    let m: Option<Vec<f32>> =
        text.split(',').map(|v| v.trim().parse().ok().filter(|x: &f32| x.is_finite())).collect();
    m.filter(|m| !m.is_empty()).ok_or_else(|| {
        usage_error(format!("--mean: expected numbers like 104,117,123, got {text:?}"))
    })
}

/// Parses the main command: `PROTOTXT OUTPUT [options]` (options may come anywhere).
fn parse_init(args: Vec<OsString>) -> Result<Command> {
    let mut p = lexopt::Parser::from_args(args);
    let mut paths: Vec<PathBuf> = Vec::new();
    let mut a = InitArgs {
        prototxt: PathBuf::new(),
        output: PathBuf::new(),
        data: None,
        weight_type: crate::init::WeightType::Elwise,
        bias: 0.1,
        nit: 10,
        scale: 1.0,
        load: None,
        zero: false,
        quiet: false,
        mem_limit_mb: 500,
        seed: 1,
        mean: None,
        gpu: None,
        cs: false,
        cs_draws: 16,
        build: BuildArgs { batch: Some(16), ..BuildArgs::default() },
    };
    while let Some(arg) = next_arg(&mut p)? {
        if build_option(&arg, &mut p, &mut a.build)? {
            continue;
        }
        match arg {
            Arg::Short('h') => return Ok(Command::Help),
            Arg::Short('d') => a.data = Some(string_value(&mut p, "-d")?),
            Arg::Short('t') => a.weight_type = parse_type(&string_value(&mut p, "-t")?)?,
            Arg::Short('b') => a.bias = finite(value(&mut p, "-b")?, "-b")?,
            Arg::Short('s') => a.scale = finite(value(&mut p, "-s")?, "-s")?,
            Arg::Short('l') => a.load = Some(PathBuf::from(string_value(&mut p, "-l")?)),
            Arg::Short('z') => a.zero = true,
            Arg::Short('q') => a.quiet = true,
            Arg::Long(l) => match l.as_str() {
                "help" => return Ok(Command::Help),
                "data" => a.data = Some(string_value(&mut p, "--data")?),
                "type" => a.weight_type = parse_type(&string_value(&mut p, "--type")?)?,
                "bias" => a.bias = finite(value(&mut p, "--bias")?, "--bias")?,
                "load" => a.load = Some(PathBuf::from(string_value(&mut p, "--load")?)),
                "nit" => {
                    a.nit = value(&mut p, "-nit")?;
                    if a.nit == 0 {
                        return Err(usage_error("-nit: at least one batch is needed"));
                    }
                }
                "mem-limit" => {
                    a.mem_limit_mb = value(&mut p, "--mem-limit")?;
                    if a.mem_limit_mb == 0 {
                        return Err(usage_error("--mem-limit: must be at least 1 MB"));
                    }
                }
                "seed" => a.seed = value(&mut p, "--seed")?,
                "mean" => a.mean = Some(parse_mean(&string_value(&mut p, "--mean")?)?),
                "gpu" => a.gpu = Some(value(&mut p, "--gpu")?),
                "cs" => a.cs = true,
                "cs-draws" => {
                    a.cs_draws = value(&mut p, "--cs-draws")?;
                    if a.cs_draws == 0 {
                        return Err(usage_error("--cs-draws: at least one draw is needed"));
                    }
                }
                other => return Err(usage_error(format!("unknown option --{other}"))),
            },
            Arg::Value(v) if paths.len() < 2 => paths.push(PathBuf::from(v)),
            other => return Err(usage_error(format!("unexpected argument {}", describe(&other)))),
        }
    }
    match paths.len() {
        0 => return Err(usage_error("missing PROTOTXT and OUTPUT.caffemodel")),
        1 => return Err(usage_error("missing OUTPUT.caffemodel")),
        _ => {}
    }
    a.output = paths.pop().unwrap_or_default();
    a.prototxt = paths.pop().unwrap_or_default();
    Ok(Command::Init(a))
}

fn finite(v: f32, flag: &str) -> Result<f32> {
    if v.is_finite() {
        Ok(v)
    } else {
        Err(usage_error(format!("{flag}: must be a finite number")))
    }
}

/// `-t`: the weight bases of the original script (and LSUV's orthogonal one).
fn parse_type(s: &str) -> Result<crate::init::WeightType> {
    use crate::bases::Basis;
    let (fast, base) = match s.strip_prefix("fast_") {
        Some(b) => (true, b),
        None => (false, s),
    };
    let basis = match base {
        "elwise" if !fast => return Ok(crate::init::WeightType::Elwise),
        "pca" => Basis::Pca,
        "zca" => Basis::Zca,
        "kmeans" => Basis::Kmeans,
        "rand" => Basis::Rand,
        "orthogonal" if !fast => Basis::Orthogonal,
        _ => {
            return Err(usage_error(format!(
                "-t: unknown type {s:?} (elwise, pca, zca, kmeans, rand, orthogonal, or fast_pca, \
                 fast_zca, fast_kmeans, fast_rand)"
            )))
        }
    };
    Ok(crate::init::WeightType::Data { basis, fast })
}

fn describe(arg: &Arg) -> String {
    match arg {
        Arg::Short(c) => format!("-{c}"),
        Arg::Long(l) => format!("--{l}"),
        Arg::Value(v) => format!("{:?}", v.to_string_lossy()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Command> {
        parse_args(args.iter().map(OsString::from))
    }

    #[test]
    fn info_with_all_options() {
        let c = parse(&[
            "info",
            "net.prototxt",
            "--json",
            "--phase",
            "test",
            "--input-shape",
            "1,28,28",
            "-bs",
            "4",
        ])
        .unwrap();
        assert_eq!(
            c,
            Command::Info(InfoArgs {
                prototxt: "net.prototxt".into(),
                json: true,
                build: BuildArgs {
                    phase: Phase::Test,
                    input_shape: Some(vec![1, 28, 28]),
                    batch: Some(4)
                },
            })
        );
    }

    #[test]
    fn errors_are_usage_errors() {
        for args in [
            &["info"][..],
            &["info", "a", "b"],
            &["info", "a", "--phase", "val"],
            &["info", "a", "-bs", "0"],
            &["info", "a", "--input-shape", "3,x"],
            &["frobnicate"],
            &[],
        ] {
            let e = parse(args).unwrap_err();
            assert_eq!(e.exit_code(), 2, "{args:?}");
        }
    }

    #[test]
    fn upgrade_paths() {
        assert_eq!(
            parse(&["upgrade", "a"]).unwrap(),
            Command::Upgrade(UpgradeArgs { input: "a".into(), output: None })
        );
        assert!(parse(&["upgrade", "a", "b", "c"]).is_err());
    }
}
