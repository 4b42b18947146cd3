//! One module per subcommand. Each `run` gathers data through the libraries,
//! hands it to a renderer and returns an [`Outcome`](crate::Outcome).

pub mod bench;
mod bench_net;
pub mod boot;
pub mod check;
pub mod doctor;
pub mod exporter;
pub mod fleet;
pub mod inspect;
pub mod live;
pub mod meta;
pub mod tune;
pub mod tune_measure;
pub mod verify;

use crate::args::Cli;

/// Settings every command needs.
#[derive(Debug, Clone, Copy)]
pub struct Context {
    /// Hide progress bars.
    pub quiet: bool,
    /// Colour human output.
    pub color: bool,
}

impl Context {
    /// Builds the context from the global flags.
    pub fn new(cli: &Cli) -> Self {
        Context {
            quiet: cli.quiet,
            color: crate::output::color(cli.color),
        }
    }
}
