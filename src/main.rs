//! The `magic-init` command line.

fn main() {}
