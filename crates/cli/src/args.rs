//! Command-line arguments (clap derive). Parsing only: no I/O happens here,
//! so every flag can be tested without touching the machine.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Find out why ISO images boot and mount slowly in KVM/QEMU virtual
/// machines, prove it with measurements on this host, and fix what can be
/// fixed.
#[derive(Debug, Parser)]
#[command(name = "isotune", version, about, long_about = None, propagate_version = true)]
pub struct Cli {
    /// Hide progress bars (they are also hidden when stderr is not a terminal).
    #[arg(long, short, global = true)]
    pub quiet: bool,

    /// When to use colour in human output.
    #[arg(long, value_enum, default_value_t = ColorChoice::Auto, global = true)]
    pub color: ColorChoice,

    #[command(subcommand)]
    pub command: Command,
}

/// Colour policy for human output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColorChoice {
    /// Colour when stdout is a terminal.
    Auto,
    /// Always colour.
    Always,
    /// Never colour.
    Never,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// The main job: verify the image and inspect what a boot reads from it,
    /// in one prioritised report. With no ISO, audits a sample image isotune
    /// writes itself.
    Check(CheckArgs),
    /// Show an ISO's structure: volume descriptors, namespaces, El Torito
    /// boot entries, hybrid MBR/GPT partitions, the files a boot reads and
    /// anomalies.
    Inspect(InspectArgs),
    /// Check an ISO's integrity: digests in one read pass, checksum files,
    /// the MD5 implanted by implantisomd5, truncation.
    Verify(VerifyArgs),
    /// Print a shell completion script to stdout.
    Completions(CompletionsArgs),
    /// Print the man page (roff) to stdout, or write one page per command.
    Man(ManArgs),
}

/// Arguments of `isotune check`.
#[derive(Debug, Args)]
pub struct CheckArgs {
    /// The ISO image (file or block device). Without it, isotune writes a
    /// small sample image to a temporary directory and checks that.
    pub iso: Option<PathBuf>,

    /// A checksum file (GNU or BSD style) to check the image against.
    /// Repeatable.
    #[arg(long, value_name = "FILE")]
    pub sums: Vec<PathBuf>,

    /// An expected digest in hex (algorithm from its length). Repeatable.
    #[arg(long, value_name = "HEX")]
    pub expect: Vec<String>,

    /// Print the report as JSON (stable schema with `schema_version`).
    #[arg(long)]
    pub json: bool,

    /// Also write the report as Markdown to FILE.
    #[arg(long, value_name = "FILE")]
    pub markdown: Option<PathBuf>,
}

/// Arguments of `isotune inspect`.
#[derive(Debug, Args)]
pub struct InspectArgs {
    /// The ISO image (file or block device). Opened read-only.
    pub iso: PathBuf,

    /// List every file with its size (the tree in the best namespace).
    #[arg(long)]
    pub files: bool,

    /// With --files, show each file's extents (LBA and size).
    #[arg(long)]
    pub extents: bool,

    /// Show only the boot view: El Torito entries, partitions and the files a
    /// boot reads in load order.
    #[arg(long)]
    pub boot: bool,

    /// Which directory tree to list with --files (default: the best one the
    /// image has: rock-ridge, then joliet, then iso9660).
    #[arg(long, value_enum)]
    pub namespace: Option<NamespaceArg>,

    /// Print JSON (stable schema with `schema_version`).
    #[arg(long)]
    pub json: bool,

    /// Write the report to FILE instead of stdout.
    #[arg(long, short, value_name = "FILE")]
    pub output: Option<PathBuf>,
}

/// Directory tree selector.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum NamespaceArg {
    /// Plain ISO9660 names.
    Iso9660,
    /// Joliet (UCS-2) names.
    Joliet,
    /// Rock Ridge (POSIX) names.
    RockRidge,
}

/// Arguments of `isotune verify`.
#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// The ISO image (file or block device).
    pub iso: PathBuf,

    /// Compute MD5.
    #[arg(long)]
    pub md5: bool,
    /// Compute SHA-1.
    #[arg(long)]
    pub sha1: bool,
    /// Compute SHA-256 (the default when no digest, --sums or --expect is given).
    #[arg(long)]
    pub sha256: bool,
    /// Compute SHA-512.
    #[arg(long)]
    pub sha512: bool,

    /// A checksum file (GNU `HEX  name` or BSD `SHA256 (name) = HEX`); the
    /// entries naming this image are checked. Repeatable.
    #[arg(long, value_name = "FILE")]
    pub sums: Vec<PathBuf>,

    /// An expected digest in hex; the algorithm follows from its length
    /// (32 MD5, 40 SHA-1, 64 SHA-256, 128 SHA-512). Repeatable.
    #[arg(long, value_name = "HEX")]
    pub expect: Vec<String>,

    /// Check the MD5 implanted by implantisomd5, exactly as checkisomd5 does.
    #[arg(long, conflicts_with = "implant")]
    pub implanted: bool,

    /// Implant a checkisomd5-compatible MD5 record. Writes: needs --output
    /// COPY (the source is copied, never modified) or --in-place.
    #[arg(long, requires = "implant_target")]
    pub implant: bool,

    /// With --implant: write the implanted image to this new file.
    #[arg(
        long,
        short,
        value_name = "COPY",
        group = "implant_target",
        requires = "implant"
    )]
    pub output: Option<PathBuf>,

    /// With --implant: write the record into the image itself.
    #[arg(long, group = "implant_target", requires = "implant")]
    pub in_place: bool,

    /// With --implant: overwrite an application area that is already used.
    #[arg(long, requires = "implant")]
    pub force: bool,

    /// With --implant: compute and show the record, write nothing.
    #[arg(long, requires = "implant")]
    pub dry_run: bool,

    /// Print JSON (stable schema with `schema_version`).
    #[arg(long)]
    pub json: bool,
}

/// Arguments of `isotune completions`.
#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to generate completions for.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

/// Arguments of `isotune man`.
#[derive(Debug, Args)]
pub struct ManArgs {
    /// Write isotune.1 and one isotune-COMMAND.1 per subcommand into DIR
    /// instead of printing the main page.
    #[arg(long, value_name = "DIR")]
    pub output: Option<PathBuf>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn clap_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn implant_needs_a_target() {
        assert!(Cli::try_parse_from(["isotune", "verify", "x.iso", "--implant"]).is_err());
        assert!(
            Cli::try_parse_from(["isotune", "verify", "x.iso", "--implant", "-o", "y.iso"]).is_ok()
        );
        assert!(
            Cli::try_parse_from(["isotune", "verify", "x.iso", "--implant", "--in-place"]).is_ok()
        );
        assert!(Cli::try_parse_from(["isotune", "verify", "x.iso", "--output", "y.iso"]).is_err());
        assert!(Cli::try_parse_from([
            "isotune",
            "verify",
            "x.iso",
            "--implant",
            "--in-place",
            "-o",
            "y.iso"
        ])
        .is_err());
    }

    #[test]
    fn check_takes_an_optional_iso() {
        let cli = Cli::try_parse_from(["isotune", "check"]).unwrap();
        assert!(matches!(
            cli.command,
            Command::Check(CheckArgs { iso: None, .. })
        ));
    }
}
