//! `isotune`: the binary. Parses arguments, runs a command, renders its
//! serde results (human tables, JSON, Markdown) and maps the outcome to the
//! exit code: 0 passed, 1 the check ran and failed, 2 usage error or input
//! that cannot be processed (one line naming the file and the problem).
//!
//! This is the only crate that prints.

#![forbid(unsafe_code)]

mod args;
mod args_fleet;
mod args_tune;
mod args_vm;
mod cmd;
mod output;
mod progress;
mod render;

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;

use crate::args::{Cli, Command};

/// What a command concluded, mapped to the process exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Everything checked passed (exit 0).
    Pass,
    /// The check ran and found a failure (exit 1).
    Fail,
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            // Help and version are not errors; everything else is exit 2.
            let _ = e.print();
            return if e.use_stderr() {
                ExitCode::from(2)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    match run(&cli) {
        Ok(Outcome::Pass) => ExitCode::SUCCESS,
        Ok(Outcome::Fail) => ExitCode::from(1),
        Err(err) => {
            if is_broken_pipe(&err) {
                return ExitCode::SUCCESS;
            }
            let _ = writeln!(std::io::stderr(), "isotune: error: {err:#}");
            ExitCode::from(2)
        }
    }
}

fn run(cli: &Cli) -> anyhow::Result<Outcome> {
    let ctx = cmd::Context::new(cli);
    match &cli.command {
        Command::Check(a) => cmd::check::run(&ctx, a),
        Command::Inspect(a) => cmd::inspect::run(&ctx, a),
        Command::Verify(a) => cmd::verify::run(&ctx, a),
        Command::Bench(a) => cmd::bench::run(&ctx, a),
        Command::Doctor(a) => cmd::doctor::run(&ctx, a),
        Command::Boot(a) => cmd::boot::run(&ctx, a),
        Command::Tune(a) => cmd::tune::run(&ctx, a),
        Command::Exporter(a) => cmd::exporter::run(a),
        Command::Fleet(a) => cmd::fleet::run(&ctx, a),
        Command::Completions(a) => cmd::meta::completions(a),
        Command::Man(a) => cmd::meta::man(a),
    }
}

/// `isotune inspect big.iso --files | head` must exit quietly.
fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|e| {
        e.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}
