//! `isotune completions` and `isotune man`: generated from the clap
//! definition, so they cannot drift from the real flags.

use std::io::Write;

use anyhow::{Context as _, Result};
use clap::CommandFactory;

use crate::args::{Cli, CompletionsArgs, ManArgs};
use crate::Outcome;

/// Prints a completion script for the chosen shell.
pub fn completions(args: &CompletionsArgs) -> Result<Outcome> {
    let mut cmd = Cli::command();
    let mut out = std::io::stdout().lock();
    clap_complete::generate(args.shell, &mut cmd, "isotune", &mut out);
    out.flush()?;
    Ok(Outcome::Pass)
}

/// Prints the man page, or writes one page per command into a directory.
pub fn man(args: &ManArgs) -> Result<Outcome> {
    let cmd = Cli::command();
    match &args.output {
        None => {
            let mut out = std::io::stdout().lock();
            clap_mangen::Man::new(cmd).render(&mut out)?;
            out.flush()?;
        }
        Some(dir) => {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
            clap_mangen::generate_to(cmd, dir)
                .with_context(|| format!("cannot write man pages to {}", dir.display()))?;
        }
    }
    Ok(Outcome::Pass)
}
