//! Arguments of `isotune tune` (plan, apply, verify, rollback, status, warm).

use std::path::PathBuf;

use clap::{Args, Subcommand};

use crate::args_vm::{positive_seconds, AccelArg};

/// Arguments of `isotune tune`.
#[derive(Debug, Args)]
pub struct TuneArgs {
    /// Where the journal lives (one JSON file per transaction in
    /// DIR/journal, a lock file in DIR).
    #[arg(
        long,
        value_name = "DIR",
        default_value = "/var/lib/isotune",
        global = true
    )]
    pub state_dir: PathBuf,

    /// Prefix of the files isotune writes and scans (the udev rule in
    /// /etc/udev/rules.d; udev rules, sysctl.d and TuneD profiles when
    /// verify looks for who else sets a value). sysfs values are always
    /// those of this host.
    #[arg(long, value_name = "DIR", default_value = "/", global = true)]
    pub root: PathBuf,

    /// Print JSON (stable schema with `schema_version`).
    #[arg(long, global = true)]
    pub json: bool,

    #[command(subcommand)]
    pub action: TuneCommand,
}

/// The `tune` subcommands.
#[derive(Debug, Subcommand)]
pub enum TuneCommand {
    /// From the doctor's findings, the changes isotune can make itself
    /// (target, current and new value, when it takes effect, whether it
    /// persists) and the findings that need a person. Changes nothing.
    Plan(TuneSelect),
    /// Apply the plan, journalling each old value first. Asks on a terminal
    /// unless --yes.
    Apply(TuneApplyArgs),
    /// Re-read every value applied and not rolled back: expected, actual,
    /// and who else sets it when they differ. Exit 1 on drift.
    Verify(TuneVerifyArgs),
    /// Undo applied changes in reverse order (idempotent).
    Rollback(TuneRollbackArgs),
    /// List journalled changes with time, finding and state.
    Status,
    /// Read an ISO into the page cache, boot files first, and report
    /// residency before and after.
    Warm(TuneWarmArgs),
}

/// What the plan is made from.
#[derive(Debug, Args)]
pub struct TuneSelect {
    /// An ISO whose storage chain to examine. Repeatable.
    #[arg(long, value_name = "PATH")]
    pub iso: Vec<PathBuf>,

    /// libvirt domain XML (a file or a directory). Repeatable. Its
    /// findings are manual: isotune changes domains only through libvirtd
    /// (--connect, --domain).
    #[arg(long, value_name = "FILE|DIR")]
    pub xml: Vec<PathBuf>,

    /// The libvirt whose domains to change (through libvirtd), e.g.
    /// qemu:///system. Without it, libvirt is read only when --domain is
    /// given (LIBVIRT_DEFAULT_URI, else qemu:///system when its socket
    /// exists).
    #[arg(long, value_name = "URI")]
    pub connect: Option<String>,

    /// Only this libvirt domain (an unknown name is an error). Repeatable.
    #[arg(long, value_name = "NAME")]
    pub domain: Vec<String>,

    /// A QEMU command line (one string, quoted as a shell would). Its
    /// findings are manual: the corrected arguments. Repeatable.
    #[arg(long, value_name = "STR", allow_hyphen_values = true)]
    pub qemu_cmdline: Vec<String>,

    /// A Proxmox VE config tree (its findings are manual: the `qm set`
    /// commands).
    #[arg(long, value_name = "DIR")]
    pub proxmox: Option<PathBuf>,

    /// The bus an IDE cdrom moves to. Default: virtio-scsi when the
    /// domain's libosinfo metadata names a Linux guest, else sata.
    #[arg(long, value_enum)]
    pub bus: Option<BusArg>,
}

/// `--bus`.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum BusArg {
    /// SATA (AHCI): every guest has a driver.
    Sata,
    /// virtio-scsi: needs the guest's virtio driver.
    VirtioScsi,
}

/// Arguments of `isotune tune apply`.
#[derive(Debug, Args)]
pub struct TuneApplyArgs {
    #[command(flatten)]
    pub select: TuneSelect,

    /// Apply only this change (its id, such as `readahead:sda`, or the
    /// finding id). Repeatable.
    #[arg(long, value_name = "ID")]
    pub only: Vec<String>,

    /// Do not ask for confirmation.
    #[arg(long, short)]
    pub yes: bool,

    /// Show the plan and change nothing (the same as `tune plan`).
    #[arg(long)]
    pub dry_run: bool,

    /// Restart a running domain whose definition changed, so the change
    /// takes effect now: a graceful (ACPI) shutdown, waited for up to
    /// --restart-timeout, then a start. A guest that does not shut down in
    /// time is left running (never forced off); the change then waits for
    /// its next start. Without it, isotune never restarts a domain.
    #[arg(long)]
    pub restart: bool,

    /// How long --restart waits for the guest to shut down.
    #[arg(long, value_name = "SECONDS", default_value_t = 120.0, value_parser = positive_seconds)]
    pub restart_timeout: f64,

    #[command(flatten)]
    pub measure: MeasureArgs,
}

/// Arguments of `isotune tune verify`.
#[derive(Debug, Args)]
pub struct TuneVerifyArgs {
    #[command(flatten)]
    pub measure: MeasureArgs,
}

/// `--measure` and how its boots run (as `isotune boot` runs them).
#[derive(Debug, Args)]
pub struct MeasureArgs {
    /// Boot each changed domain's ISO with the domain's configuration
    /// before and after the change (`isotune boot`, interleaved runs, cold
    /// page cache) and print the speed-up with its 95% interval. A change
    /// that made the boot slower is reported and offered for rollback.
    #[arg(long)]
    pub measure: bool,

    /// Runs per configuration for --measure (at least 3, to compare).
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(3..=1000))]
    pub runs: u32,

    /// The serial-console line (regex) that ends a boot for --measure.
    /// Default: the built-in workload's own line when the ISO is one,
    /// else a boot ends when its reads from the ISO settle (5 s).
    #[arg(long, value_name = "REGEX")]
    pub until: Option<String>,

    /// Give up on a --measure boot after SECONDS.
    #[arg(long, value_name = "SECONDS", default_value_t = 300.0, value_parser = positive_seconds)]
    pub timeout: f64,

    /// Accelerator for --measure boots: kvm, tcg, or auto (KVM when usable).
    #[arg(long, value_enum, default_value_t = AccelArg::Auto)]
    pub accel: AccelArg,
}

/// Arguments of `isotune tune rollback`.
#[derive(Debug, Args)]
#[group(id = "which", multiple = false)]
pub struct TuneRollbackArgs {
    /// The newest transaction with changes still in place (the default).
    #[arg(long, group = "which")]
    pub last: bool,

    /// Every transaction, newest first.
    #[arg(long, group = "which")]
    pub all: bool,

    /// One transaction by id (as `tune status` lists it).
    #[arg(group = "which")]
    pub id: Option<String>,
}

/// Arguments of `isotune tune warm`.
#[derive(Debug, Args)]
pub struct TuneWarmArgs {
    /// The ISO image (file or block device).
    pub iso: PathBuf,
}
