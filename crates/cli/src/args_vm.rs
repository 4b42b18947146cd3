//! Arguments of the VM-facing commands, `isotune doctor` and `isotune boot`
//! (kept apart from args.rs so each file stays readable). Parsing only.

use std::path::PathBuf;

use clap::{Args, ValueEnum};
use isotune_qemu::matrix::{AioChoice, BusChoice, CacheChoice, FirmwareChoice, MachineChoice};

/// The live VM sources `doctor` and `check` read: libvirt and Proxmox.
#[derive(Debug, Clone, Default, Args)]
pub struct LiveArgs {
    /// The libvirt to read every domain of (read-only, 5 s per call), e.g.
    /// qemu:///system. Default: LIBVIRT_DEFAULT_URI, else qemu:///system
    /// when its socket exists (/run/libvirt/libvirt-sock or virtqemud-sock),
    /// else none.
    #[arg(long, value_name = "URI")]
    pub connect: Option<String>,

    /// Do not read libvirt, not even the default one (ISOTUNE_NO_LIBVIRT=1
    /// in the environment turns off only the default).
    #[arg(long, conflicts_with = "connect")]
    pub no_libvirt: bool,

    /// A Proxmox VE config tree to read: /etc/pve or a copy of it
    /// (storage.cfg + qemu-server/VMID.conf), or a directory of VMID.conf
    /// files. Default: /etc/pve when /etc/pve/qemu-server exists.
    #[arg(long, value_name = "DIR")]
    pub proxmox: Option<PathBuf>,
}

/// Arguments of `isotune doctor`.
#[derive(Debug, Args)]
pub struct DoctorArgs {
    /// An ISO (file or block device) to examine: the storage chain and
    /// filesystem under it, the page cache. The local ISOs of the VMs given
    /// are examined too. Repeatable.
    #[arg(long, value_name = "PATH")]
    pub iso: Vec<PathBuf>,

    /// libvirt domain XML: a file, a directory of them (e.g.
    /// /etc/libvirt/qemu), or - for `virsh dumpxml` on stdin. Repeatable.
    #[arg(long, value_name = "FILE|DIR")]
    pub xml: Vec<PathBuf>,

    /// A QEMU command line to examine (one string, quoted as a shell would).
    /// Repeatable.
    #[arg(long, value_name = "STR", allow_hyphen_values = true)]
    pub qemu_cmdline: Vec<String>,

    /// Examine the QEMU processes running on this host (their command lines
    /// and the ISOs they have open).
    #[arg(long)]
    pub running: bool,

    /// Measure every network source found: HTTP(S) and NBD drive URLs (round
    /// trip, the first MiB, redirects, Range support) and the servers of
    /// NFS/CIFS mounts holding an ISO. Without it nothing touches the network.
    #[arg(long)]
    pub probe: bool,

    /// libvirt and Proxmox.
    #[command(flatten)]
    pub live: LiveArgs,

    /// Read host facts from a captured /proc + /sys tree (made by
    /// scripts/capture-host OUTDIR PATH...) instead of this machine; --iso
    /// then names a PATH the capture lists.
    #[arg(long, value_name = "DIR")]
    pub sysroot: Option<PathBuf>,

    /// Print JSON (stable schema with `schema_version`): `findings[]` and `facts`.
    #[arg(long)]
    pub json: bool,

    /// Also write the report as Markdown to FILE.
    #[arg(long, value_name = "FILE")]
    pub markdown: Option<PathBuf>,

    /// Show the notes on every sysctl read, not only on those that differ
    /// from the kernel's default.
    #[arg(long)]
    pub explain: bool,
}

/// Arguments of `isotune boot`.
#[derive(Debug, Args)]
pub struct BootArgs {
    /// The ISO to boot (opened read-only; copies are made for --storage).
    /// Without it, the built-in workload is booted.
    pub iso: Option<PathBuf>,

    /// The built-in workload to boot when no ISO is given.
    #[arg(long, value_enum, default_value_t = BuiltinArg::Firmware, conflicts_with = "iso")]
    pub builtin: BuiltinArg,

    /// Size of the built-in firmware workload's payload, MiB.
    #[arg(long, value_name = "MIB", default_value_t = 64,
          value_parser = clap::value_parser!(u64).range(1..=4096))]
    pub payload_mib: u64,

    /// cdrom buses to compare.
    #[arg(long, value_delimiter = ',', value_parser = bus, default_values = ["ide", "ahci", "virtio-scsi"])]
    pub bus: Vec<BusChoice>,

    /// Machine types (default: pc for ide, q35 for ahci and virtio-scsi).
    #[arg(long, value_delimiter = ',', value_parser = machine)]
    pub machine: Vec<MachineChoice>,

    /// Firmware: bios (SeaBIOS), uefi (OVMF).
    #[arg(long, value_delimiter = ',', value_parser = firmware, default_values = ["bios"])]
    pub firmware: Vec<FirmwareChoice>,

    /// Host cache modes of the cdrom: none (O_DIRECT), writeback.
    #[arg(long, value_delimiter = ',', value_parser = cache, default_values = ["writeback"])]
    pub cache: Vec<CacheChoice>,

    /// Host AIO backends: threads, io_uring, native (needs cache none).
    #[arg(long, value_delimiter = ',', value_parser = aio, default_values = ["threads"])]
    pub aio: Vec<AioChoice>,

    /// A directory to copy the ISO into and boot from there (e.g. /dev/shm
    /// and a disk, to compare storage). Repeatable.
    #[arg(long, value_name = "DIR")]
    pub storage: Vec<PathBuf>,

    /// Where the cdrom's image is read from, repeatable: file (the ISO),
    /// http (served by isotune on 127.0.0.1, read by QEMU's curl driver),
    /// nbd (served by nbdkit on a Unix socket), or a URL you serve
    /// (http(s)://, nbd://, nbd+unix:///EXPORT?socket=PATH).
    #[arg(long, value_name = "SRC", value_parser = source, default_values = ["file"])]
    pub source: Vec<isotune_qemu::source::SourceChoice>,

    /// QEMU curl `readahead` for HTTP sources (a multiple of 512, e.g.
    /// 256K, 2M). Repeatable. Default: not set (curl's 256 KiB).
    #[arg(long, value_name = "SIZE", value_parser = readahead)]
    pub readahead: Vec<u64>,

    /// Milliseconds isotune's HTTP server or nbdkit (`delay` filter) waits
    /// before answering each request: an emulated round trip. Repeatable.
    #[arg(long, value_name = "MS", value_parser = clap::value_parser!(u32).range(0..=10_000))]
    pub net_delay: Vec<u32>,

    /// Bandwidth of the emulated link, in bits per second with decimal
    /// suffixes k, M, G (100M = 100 Mbit/s; 0 = unlimited), shared by all
    /// connections of isotune's HTTP server or nbdkit (`rate` filter).
    /// Repeatable.
    #[arg(long, value_name = "RATE", value_parser = isotune_qemu::source::parse_rate)]
    pub net_rate: Vec<u64>,

    /// nbdkit filter in front of the file for --source nbd: none, cache,
    /// readahead. Repeatable.
    #[arg(long, value_name = "FILTER", value_parser = nbdkit_filter)]
    pub nbdkit_filter: Vec<isotune_qemu::source::NbdkitFilter>,

    /// Measured runs per configuration (interleaved across configurations).
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub runs: u32,

    /// Accelerator: kvm, tcg, or auto (KVM when usable, else TCG).
    #[arg(long, value_enum, default_value_t = AccelArg::Auto)]
    pub accel: AccelArg,

    /// Keep the host page cache warm (default: drop the ISO's pages before
    /// each run).
    #[arg(long)]
    pub warm: bool,

    /// The serial-console line (regex) that ends a run. The built-in
    /// workload sets its own.
    #[arg(long, value_name = "REGEX")]
    pub until: Option<String>,

    /// A phase marker: NAME=REGEX on the serial console; its time becomes a
    /// column. Repeatable.
    #[arg(long, value_name = "NAME=REGEX", value_parser = marker)]
    pub marker: Vec<(String, String)>,

    /// Press keys during each run (QMP send-key): KEYS@REGEX when a serial
    /// line matches, KEYS@SECONDS that long after the start. KEYS is a
    /// comma-separated list of QEMU key names (ret, down, esc, tab, a...).
    /// The wait before a press is reported as a menu wait, not boot time.
    /// Repeatable.
    #[arg(long = "keys", value_name = "KEYS@WHEN", value_parser = keys)]
    pub keys: Vec<isotune_qemu::keys::KeyPress>,

    /// At a GRUB or isolinux menu seen on the serial console: auto presses
    /// Enter, off leaves it waiting.
    #[arg(long, value_enum, default_value_t = MenuArg::Auto)]
    pub menu: MenuArg,

    /// End a run when the guest has read nothing from the ISO for SECONDS.
    #[arg(long, value_name = "SECONDS", value_parser = positive_seconds)]
    pub settle: Option<f64>,

    /// Give up on a run after SECONDS.
    #[arg(long, value_name = "SECONDS", default_value_t = 300.0, value_parser = positive_seconds)]
    pub timeout: f64,

    /// Guest memory, MiB.
    #[arg(long, value_name = "MIB", default_value_t = 512)]
    pub memory_mib: u64,

    /// The configuration others are compared with (default: the first).
    #[arg(long, value_name = "NAME")]
    pub baseline: Option<String>,

    /// Print JSON (stable schema with `schema_version`).
    #[arg(long)]
    pub json: bool,

    /// Also write the result as Markdown to FILE.
    #[arg(long, value_name = "FILE")]
    pub markdown: Option<PathBuf>,

    /// Also draw the runs and medians as an SVG chart to FILE.
    #[arg(long, value_name = "FILE.svg")]
    pub chart: Option<PathBuf>,
}

/// A built-in boot workload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum BuiltinArg {
    /// isotune's own BIOS boot program reading --payload-mib through int13.
    Firmware,
}

/// What to do at a boot menu.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum MenuArg {
    /// Press Enter as soon as a menu is recognised.
    Auto,
    /// Leave it (it may wait for ever or count down its timeout).
    Off,
}

fn keys(s: &str) -> Result<isotune_qemu::keys::KeyPress, String> {
    s.parse()
        .map_err(|e: isotune_qemu::keys::KeySpecError| e.to_string())
}

/// Accelerator choice.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AccelArg {
    /// KVM only (fails when unusable).
    Kvm,
    /// TCG only.
    Tcg,
    /// KVM, falling back to TCG.
    Auto,
}

impl From<AccelArg> for isotune_qemu::AccelRequest {
    fn from(a: AccelArg) -> Self {
        match a {
            AccelArg::Kvm => Self::Kvm,
            AccelArg::Tcg => Self::Tcg,
            AccelArg::Auto => Self::Auto,
        }
    }
}

macro_rules! choice_parser {
    ($name:ident, $ty:ty) => {
        fn $name(s: &str) -> Result<$ty, String> {
            <$ty>::parse(s).ok_or_else(|| {
                let all: Vec<&str> = <$ty>::ALL.iter().map(|v| v.word()).collect();
                format!("expected one of {}", all.join(", "))
            })
        }
    };
}

choice_parser!(bus, BusChoice);
choice_parser!(machine, MachineChoice);
choice_parser!(firmware, FirmwareChoice);
choice_parser!(cache, CacheChoice);
choice_parser!(aio, AioChoice);

pub(crate) fn positive_seconds(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v > 0.0 && v.is_finite() && v <= 86_400.0 => Ok(v),
        _ => Err("expected a number of seconds above 0 (at most 86400)".to_owned()),
    }
}

fn source(s: &str) -> Result<isotune_qemu::source::SourceChoice, String> {
    use isotune_qemu::source::{SourceChoice, UserUrl};
    match s {
        "file" => Ok(SourceChoice::File),
        "http" => Ok(SourceChoice::Http),
        "nbd" => Ok(SourceChoice::Nbd),
        _ if isotune_net::is_url(s) => {
            let url = isotune_net::NetUrl::parse(s).map_err(|e| e.to_string())?;
            Ok(SourceChoice::Url {
                url: UserUrl::new(s, url.redacted(), url.scheme.is_http()),
            })
        }
        _ => Err("expected file, http, nbd or a URL (http(s)://, nbd://, nbd+unix://)".to_owned()),
    }
}

fn readahead(s: &str) -> Result<u64, String> {
    let bytes = crate::args::parse_size(s)?;
    match isotune_qemu::source::readahead_invalid(bytes) {
        Some(why) => Err(why),
        None => Ok(bytes),
    }
}

fn nbdkit_filter(s: &str) -> Result<isotune_qemu::source::NbdkitFilter, String> {
    isotune_qemu::source::NbdkitFilter::parse(s)
        .ok_or_else(|| "expected none, cache or readahead".to_owned())
}

fn marker(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((name, re)) if !name.is_empty() && !re.is_empty() => {
            Ok((name.to_owned(), re.to_owned()))
        }
        _ => Err("expected NAME=REGEX".to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use crate::args::{Cli, Command};

    use super::*;

    #[test]
    fn boot_matrix_lists_parse() {
        let cli = Cli::try_parse_from([
            "isotune",
            "boot",
            "--bus",
            "ide,virtio-scsi",
            "--aio",
            "io_uring,native",
            "--cache",
            "none",
            "--marker",
            "kernel=^Linux version",
            "--runs",
            "3",
        ])
        .unwrap();
        let Command::Boot(b) = cli.command else {
            panic!()
        };
        assert_eq!(b.bus, [BusChoice::Ide, BusChoice::VirtioScsi]);
        assert_eq!(b.aio, [AioChoice::IoUring, AioChoice::Native]);
        assert_eq!(
            b.marker,
            [("kernel".to_owned(), "^Linux version".to_owned())]
        );
        assert!(b.iso.is_none());
        assert!(Cli::try_parse_from(["isotune", "boot", "--bus", "floppy"]).is_err());
        assert!(Cli::try_parse_from(["isotune", "boot", "--marker", "nothing"]).is_err());
        assert!(Cli::try_parse_from(["isotune", "boot", "--timeout", "0"]).is_err());
        assert!(Cli::try_parse_from(["isotune", "boot", "--settle", "-1"]).is_err());
    }

    #[test]
    fn doctor_inputs_repeat() {
        let cli = Cli::try_parse_from([
            "isotune",
            "doctor",
            "--iso",
            "a.iso",
            "--iso",
            "b.iso",
            "--xml",
            "/etc/libvirt/qemu",
            "--qemu-cmdline",
            "-cdrom x.iso -enable-dma",
            "--running",
        ])
        .unwrap();
        let Command::Doctor(d) = cli.command else {
            panic!()
        };
        assert_eq!(d.iso.len(), 2);
        assert_eq!(d.qemu_cmdline, ["-cdrom x.iso -enable-dma"]);
        assert!(d.running);
    }
}
