//! Command-line arguments (clap derive). Parsing only: no I/O happens here,
//! so every flag can be tested without touching the machine.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

pub use crate::args_fleet::FleetArgs;
pub use crate::args_tune::TuneArgs;
pub use crate::args_vm::{BootArgs, DoctorArgs, LiveArgs};

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
    /// The main job: verify the image, inspect what a boot reads, run the
    /// doctor for this ISO (host, storage, the VMs using it) and a short
    /// bench, in one prioritised report. With no ISO, audits a sample image
    /// isotune writes itself.
    Check(CheckArgs),
    /// Show an ISO's structure: volume descriptors, namespaces, El Torito
    /// boot entries, hybrid MBR/GPT partitions, the files a boot reads and
    /// anomalies.
    Inspect(InspectArgs),
    /// Check an ISO's integrity: digests in one read pass, checksum files,
    /// the MD5 implanted by implantisomd5, truncation.
    Verify(VerifyArgs),
    /// Replay the ISO's access patterns (sequential, random, the boot trace)
    /// on this host's storage, measured like fio, compared like hyperfine.
    Bench(BenchArgs),
    /// Find the causes of a slow ISO boot on this host and in VM definitions
    /// (libvirt XML, QEMU command lines, running QEMU): findings with
    /// evidence, the exact fix and a reference.
    Doctor(DoctorArgs),
    /// Boot real VMs from the ISO under a matrix of configurations (bus,
    /// machine, firmware, cache, aio, storage), count what the guest reads
    /// and rank the configurations by measured time.
    Boot(BootArgs),
    /// Apply the doctor's fixes that isotune can make itself (host
    /// readahead now and as a udev rule, the page cache), with a journal:
    /// plan, apply, verify, rollback, status, warm.
    Tune(TuneArgs),
    /// Serve Prometheus metrics: cdrom reads of running VMs (QMP), QEMU CPU
    /// and memory, page-cache residency of the ISOs they hold open.
    Exporter(crate::cmd::exporter::ExporterArgs),
    /// Sum up the JSON reports of many hosts (as the Ansible role fetches
    /// them): findings across the fleet, worst hosts, missing and stale
    /// reports, drift; human, JSON, Markdown and one HTML page.
    Fleet(FleetArgs),
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

    /// libvirt domain XML (a file or a directory such as /etc/libvirt/qemu):
    /// the definitions that use this ISO are examined too. Running QEMU
    /// processes that have it open always are. Repeatable.
    #[arg(long, value_name = "FILE|DIR")]
    pub xml: Vec<PathBuf>,

    /// libvirt and Proxmox: the domains and VMs that have this ISO in a
    /// drive, running or not.
    #[command(flatten)]
    pub live: LiveArgs,

    /// Skip the short (at most ~10 s) cold-cache read bench.
    #[arg(long)]
    pub no_bench: bool,

    /// Show every finding in full (why, reference) and every sysctl note,
    /// not only the sysctls that differ from the kernel's default.
    #[arg(long)]
    pub explain: bool,
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

/// Arguments of `isotune bench`.
#[derive(Debug, Args)]
pub struct BenchArgs {
    /// The ISO image or block device (opened read-only; never written), or
    /// a URL: `http(s)://HOST/PATH.iso`, `nbd://HOST[:PORT]/EXPORT` or
    /// `nbd+unix:///EXPORT?socket=PATH`.
    pub iso: PathBuf,

    /// Workloads to run, in this order: seq, rand, boot.
    #[arg(long, short, value_delimiter = ',', default_values = ["seq", "rand", "boot"])]
    pub workload: Vec<WorkloadArg>,

    /// I/O engine; auto uses io_uring when the kernel allows it, else psync.
    #[arg(long, value_enum, default_value_t = EngineArg::Auto)]
    pub engine: EngineArg,

    /// Requests in flight (io_uring; psync always has one). Default 1; a
    /// boot profile that reads one request at a time (bios-ide, bios-virtio,
    /// linux-ide) runs at depth 1 unless this is given, and then runs at N
    /// with a warning in its results.
    #[arg(long, visible_alias = "iodepth", value_name = "N",
          value_parser = clap::value_parser!(u32).range(1..=256))]
    pub queue_depth: Option<u32>,

    /// Bypass the page cache (O_DIRECT, aligned as the filesystem requires).
    #[arg(long)]
    pub direct: bool,

    /// Page-cache state before each run: cold (the default) drops this
    /// file's pages (posix_fadvise), warm reads the file once first. Not
    /// for URLs (the server's cache is the server's).
    #[arg(long, value_enum)]
    pub cache: Option<CacheArg>,

    /// URLs: parallel connections, each with one request in flight (the
    /// queue depth of a network source; --iodepth sets it per workload).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=64))]
    pub connections: Option<u32>,

    /// https URLs: trust the certificate authorities in this PEM file
    /// instead of the system's.
    #[arg(long, value_name = "FILE")]
    pub cacert: Option<PathBuf>,

    /// URLs: seconds a connect or a single read may take (above 0, at most 86400).
    #[arg(long, value_name = "SECONDS", default_value_t = 30.0,
          value_parser = crate::args_vm::positive_seconds)]
    pub net_timeout: f64,

    /// Request size of the seq workload (e.g. 1M, 128k).
    #[arg(long, value_name = "SIZE", default_value = "1M", value_parser = parse_block)]
    pub seq_block: u64,

    /// Request size of the rand workload (a multiple of 2 KiB: 2k, 4k, 64k...).
    #[arg(long, value_name = "SIZE", default_value = "4k", value_parser = parse_block)]
    pub rand_block: u64,

    /// Seed of the rand workload (the same seed reads the same offsets).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,

    /// Request sizes of the boot workload: bios-ide (2 KiB, SeaBIOS on an
    /// IDE cdrom), bios-virtio (16 KiB), linux-ide (128 KiB, a Linux guest
    /// reading through its page cache on either bus), linux-virtio (1 MiB,
    /// large direct reads). Several profiles give one boot workload each.
    #[arg(long, value_enum, value_delimiter = ',', default_values = ["bios-ide"])]
    pub profile: Vec<ProfileArg>,

    /// Boot workload request size instead of a profile (a multiple of 2 KiB).
    #[arg(long, value_name = "SIZE", value_parser = parse_block)]
    pub request_size: Option<u64>,

    /// Read at most SIZE per run of each workload (e.g. 256M).
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    pub size: Option<u64>,

    /// Stop each run after this many seconds (above 0, at most 86400).
    #[arg(long, value_name = "SECONDS", value_parser = crate::args_vm::positive_seconds)]
    pub runtime: Option<f64>,

    /// Measured runs per workload.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub runs: u32,

    /// Warm-up runs per workload, not counted (at most 100).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(0..=100))]
    pub warmup: u32,

    /// A previous `isotune bench --json` result to compare with.
    #[arg(long, value_name = "OLD.json")]
    pub baseline: Option<PathBuf>,

    /// With --baseline: exit 1 when a workload is significantly slower by
    /// more than PCT percent.
    #[arg(long, value_name = "PCT", requires = "baseline", value_parser = percent)]
    pub fail_on_regression: Option<f64>,

    /// Write an fio job file (and iologs for the boot trace) reproducing
    /// each workload, so fio can check the numbers.
    #[arg(long, value_name = "FILE")]
    pub export_fio: Option<PathBuf>,

    /// Print JSON (stable schema with `schema_version`).
    #[arg(long)]
    pub json: bool,

    /// Also write the result as Markdown to FILE.
    #[arg(long, value_name = "FILE")]
    pub markdown: Option<PathBuf>,
}

/// A bench workload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum WorkloadArg {
    /// Sequential reads of the whole image.
    Seq,
    /// Random reads aligned to 2 KiB sectors, seeded.
    Rand,
    /// The boot trace: descriptors, directories and boot files in load order.
    Boot,
}

/// The I/O engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum EngineArg {
    /// pread, one request at a time.
    Psync,
    /// io_uring with registered buffers.
    #[value(name = "io_uring", alias = "io-uring")]
    IoUring,
    /// io_uring when available, else psync (with a notice).
    Auto,
}

/// Page-cache state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CacheArg {
    /// Drop this file's cached pages before each run.
    Cold,
    /// Read the file once before the first run.
    Warm,
}

/// Boot request-size profile.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ProfileArg {
    /// 2 KiB requests, one at a time (SeaBIOS on an IDE cdrom).
    BiosIde,
    /// 16 KiB requests (SeaBIOS on virtio-scsi or AHCI).
    BiosVirtio,
    /// 128 KiB requests, one at a time (a Linux guest reading through its
    /// page cache: sr readahead, measured the same on IDE and virtio-scsi).
    LinuxIde,
    /// 1 MiB requests: large direct reads (O_DIRECT in a Linux guest on
    /// virtio-scsi), not what a boot reads through the page cache.
    LinuxVirtio,
}

/// Largest request size of a bench workload (the bench library's limit).
const MAX_BLOCK_BYTES: u64 = isotune_bench::workload::MAX_REQUEST_BYTES as u64;

/// A request size: [`parse_size`], a non-zero multiple of 2048 bytes, at
/// most 16 MiB.
fn parse_block(s: &str) -> Result<u64, String> {
    let v = parse_size(s)?;
    if v == 0 || !v.is_multiple_of(2048) {
        return Err(format!(
            "`{s}` is not a non-zero multiple of 2048 bytes (one ISO sector)"
        ));
    }
    if v > MAX_BLOCK_BYTES {
        return Err(format!("`{s}` is larger than the limit of 16M per request"));
    }
    Ok(v)
}

/// A percentage from 0 to 100.
fn percent(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() && (0.0..=100.0).contains(&v) => Ok(v),
        _ => Err("expected a percentage from 0 to 100".to_owned()),
    }
}

/// Parses `4096`, `4k`, `1M`, `2G` (binary multiples, as fio does).
pub fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: u64 = num
        .parse()
        .map_err(|_| format!("`{s}` is not a size (examples: 4096, 4k, 1M, 2G)"))?;
    let mult: u64 = match unit.to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        "t" | "tb" | "tib" => 1 << 40,
        _ => return Err(format!("`{s}`: unknown unit `{unit}` (use k, M, G or T)")),
    };
    n.checked_mul(mult)
        .ok_or_else(|| format!("`{s}` is too large"))
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
    fn sizes_parse_like_fio() {
        assert_eq!(parse_size("4096"), Ok(4096));
        assert_eq!(parse_size("4k"), Ok(4096));
        assert_eq!(parse_size("1M"), Ok(1 << 20));
        assert_eq!(parse_size("2GiB"), Ok(2 << 30));
        assert!(parse_size("1x").is_err());
        assert!(parse_size("k").is_err());
        assert!(parse_size("99999999999T").is_err());
    }

    #[test]
    fn bench_defaults_and_lists() {
        let cli = Cli::try_parse_from(["isotune", "bench", "x.iso"]).unwrap();
        let Command::Bench(b) = cli.command else {
            panic!()
        };
        assert_eq!(
            b.workload,
            vec![WorkloadArg::Seq, WorkloadArg::Rand, WorkloadArg::Boot]
        );
        assert_eq!(b.queue_depth, None);
        let cli = Cli::try_parse_from([
            "isotune",
            "bench",
            "x.iso",
            "-w",
            "boot",
            "--profile",
            "bios-ide,linux-virtio",
            "--engine",
            "io_uring",
            "--iodepth",
            "32",
        ])
        .unwrap();
        let Command::Bench(b) = cli.command else {
            panic!()
        };
        assert_eq!(b.profile.len(), 2);
        assert_eq!(b.engine, EngineArg::IoUring);
        assert!(Cli::try_parse_from(["isotune", "bench", "x.iso", "--iodepth", "0"]).is_err());
        // Counts and sizes are bounded here, before anything is allocated.
        for bad in [
            &["--runtime", "inf"][..],
            &["--runtime", "nan"],
            &["--runtime", "-1"],
            &["--runtime", "1e300"],
            &["--runtime", "0"],
            &["--warmup", "4294967295"],
            &["--warmup", "101"],
            &["--runs", "0"],
            &["--seq-block", "1T"],
            &["--rand-block", "3000"],
            &["--request-size", "0"],
            &["--baseline", "b.json", "--fail-on-regression", "nan"],
            &["--baseline", "b.json", "--fail-on-regression", "-5"],
        ] {
            let mut argv = vec!["isotune", "bench", "x.iso"];
            argv.extend_from_slice(bad);
            assert!(Cli::try_parse_from(&argv).is_err(), "{bad:?} accepted");
        }
        let cli = Cli::try_parse_from(["isotune", "bench", "x.iso", "--runtime", "0.5"]).unwrap();
        let Command::Bench(b) = cli.command else {
            panic!()
        };
        assert_eq!(b.runtime, Some(0.5));
        assert!(
            Cli::try_parse_from(["isotune", "bench", "x.iso", "--fail-on-regression", "5"])
                .is_err()
        );
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
