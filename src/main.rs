//! The `magic-init` binary: parses the command line, runs the command, prints the error chain
//! and exits 2 on bad input, 1 on runtime failure.

use magic_init::cli::{self, Command};
use magic_init::error::{Error, Result};
use magic_init::{app, info, io, net::Net, prototxt, upgrade};

fn run() -> Result<()> {
    match cli::parse_args(std::env::args_os().skip(1))? {
        Command::Help => print!("{}", cli::USAGE),
        Command::Version => println!("magic-init {}", env!("CARGO_PKG_VERSION")),
        Command::Info(a) => {
            let net = Net::from_file(&a.prototxt, &a.build.options())?;
            print!("{}", if a.json { info::json(&net) } else { info::table(&net) });
        }
        Command::Init(a) => app::run_init(&a)?,
        Command::Stat(a) => app::run_stat(&a)?,
        Command::Upgrade(a) => {
            let (param, _) = prototxt::read_net_file(&a.input)?;
            let (param, notes) = if upgrade::needs_upgrade(&param) {
                upgrade::upgrade_net(param, &a.input.display().to_string())?
            } else {
                (param, vec![])
            };
            for n in notes {
                eprintln!("note: {n}");
            }
            let text = prototxt::print_net(&param);
            match a.output {
                Some(out) => io::write_atomic(&out, text.as_bytes())?,
                None => print!("{text}"),
            }
        }
    }
    Ok(())
}

fn main() {
    if let Err(e) = run() {
        report(&e);
        std::process::exit(e.exit_code());
    }
}

fn report(e: &Error) {
    eprintln!("magic-init: error: {e}");
}
