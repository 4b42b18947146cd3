//! `isotune boot`: boots real VMs from the ISO under every configuration of
//! the matrix, runs interleaved (A B C A B C ...), and ranks the
//! configurations by measured time.
//!
//! Glue only: arguments become a [`MatrixPlan`] for
//! [`isotune_qemu::run_matrix`], whose report is rendered; the built-in
//! workload image is written by `isotune-qemu`'s `workload` module. Ctrl-C sets a flag the runner polls: the running QEMU
//! is killed, temporary files and ISO copies are removed, and the command
//! exits 2 with what it had measured discarded.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context as _, Result};
use isotune_host::SysRoot;
use isotune_qemu::keys::MenuMode;
use isotune_qemu::launch::find_qemu;
use isotune_qemu::matrix::{
    expand, BootConfig, FirmwareChoice, Matrix, MatrixSpec, SkippedConfig, UefiFirmware,
    WorkloadCaps,
};
use isotune_qemu::netserve::nbdkit_has_filter;
use isotune_qemu::session::{boot_load_bytes, BootLoad};
use isotune_qemu::source::{SourceChoice, SourceSpec};
use isotune_qemu::tempfiles::{sweep_stale, tagged_prefix, IMAGE_DIR_PREFIX};
use isotune_qemu::{run_matrix, ErrorKind, MatrixPlan, Progress};
use regex::Regex;

use super::Context;
use crate::args::BootArgs;
use crate::args_vm::MenuArg;
use crate::{output, progress, render, Outcome};

/// Where Debian's `ovmf` package puts the UEFI firmware, most specific first.
const OVMF_CANDIDATES: [&str; 3] = [
    "/usr/share/OVMF/OVMF_CODE_4M.fd",
    "/usr/share/OVMF/OVMF_CODE.fd",
    "/usr/share/ovmf/OVMF.fd",
];

/// The image to boot and how its boot is recognised.
struct Workload {
    iso: PathBuf,
    builtin: Option<String>,
    caps: WorkloadCaps,
    until: Option<String>,
    markers: Vec<(String, String)>,
    /// What each firmware loads through the boot catalog.
    boot_load: BootLoad,
    /// Keeps the built-in image's directory alive until the end.
    _dir: Option<tempfile::TempDir>,
}

/// Runs `isotune boot`.
pub fn run(ctx: &Context, args: &BootArgs) -> Result<Outcome> {
    // First, so an interrupt while the image or the copies are written
    // still removes them (their guards drop on the early return).
    let cancel = cancel_flag();
    let qemu = find_qemu()?;
    let version = qemu
        .version_cancellable(&cancel)
        .with_context(|| format!("cannot run {}", qemu.path.display()))?;
    let work = workload(args)?;
    interrupted(&cancel)?;

    let spec = MatrixSpec {
        buses: dedup(&args.bus),
        machines: dedup(&args.machine),
        firmwares: dedup(&args.firmware),
        caches: dedup(&args.cache),
        aios: dedup(&args.aio),
        storages: dedup(&args.storage),
        net: SourceSpec {
            sources: dedup(&args.source),
            readaheads_bytes: dedup(&args.readahead),
            delays_ms: dedup(&args.net_delay),
            rates_bits_per_s: dedup(&args.net_rate),
            filters: dedup(&args.nbdkit_filter),
        },
    };
    for dir in &spec.storages {
        if !dir.is_dir() {
            bail!("{}: --storage wants an existing directory", dir.display());
        }
    }
    let mut matrix = expand(&spec, work.caps);
    let ovmf = ovmf();
    if ovmf.is_none() {
        let (uefi, rest): (Vec<_>, Vec<_>) = matrix
            .configs
            .into_iter()
            .partition(|c| c.firmware == FirmwareChoice::Uefi);
        matrix.configs = rest;
        matrix
            .skipped
            .extend(uefi.into_iter().map(|config| SkippedConfig {
                config,
                reason: "no OVMF firmware found (Debian: apt install ovmf)".to_owned(),
            }));
    }
    let rated_nbd = |c: &BootConfig| {
        c.source.choice == SourceChoice::Nbd && c.source.rate_bits_per_s.is_some_and(|r| r > 0)
    };
    if matrix.configs.iter().any(rated_nbd) && !nbdkit_has_filter("rate") {
        let (rated, rest): (Vec<_>, Vec<_>) = matrix.configs.into_iter().partition(rated_nbd);
        matrix.configs = rest;
        matrix.skipped.extend(rated.into_iter().map(|config| {
            SkippedConfig {
                config,
                reason: "--net-rate over NBD needs nbdkit's rate filter, not installed \
                         (nbdkit-rate-filter.so)"
                    .to_owned(),
            }
        }));
    }
    if matrix.configs.is_empty() {
        let why: Vec<String> = matrix
            .skipped
            .iter()
            .map(|s| format!("{}: {}", s.config.name, s.reason))
            .collect();
        bail!(
            "nothing to run: every combination was skipped ({})",
            why.join("; ")
        );
    }
    let baseline = baseline_index(&matrix, args.baseline.as_deref())?;
    let until = compile("--until", work.until.as_deref())?;
    let markers = work
        .markers
        .iter()
        .map(|(n, re)| {
            Ok((
                n.clone(),
                compile(&format!("--marker {n}"), Some(re))?.expect("a pattern was given"),
            ))
        })
        .collect::<Result<Vec<_>>>()?;
    // With no final marker, a run ends when the guest stops or its reads
    // from the ISO settle.
    let settle = args
        .settle
        .or(until.is_none().then_some(5.0))
        .map(Duration::from_secs_f64);

    let plan = MatrixPlan {
        qemu: qemu.clone(),
        qemu_version: version.version,
        iso: work.iso.clone(),
        builtin: work.builtin.clone(),
        matrix,
        ovmf,
        baseline,
        runs: args.runs as usize,
        warm: args.warm,
        until,
        markers,
        settle,
        timeout: Duration::from_secs_f64(args.timeout),
        memory_bytes: args.memory_mib << 20,
        accel: args.accel.into(),
        host_accel: isotune_host::host_facts(&SysRoot::live()).accel,
        boot_load: work.boot_load,
        keys: args.keys.clone(),
        menu: match args.menu {
            MenuArg::Auto => MenuMode::Auto,
            MenuArg::Off => MenuMode::Off,
        },
    };
    if !ctx.quiet {
        eprintln!(
            "{}",
            render::boot::ending(
                plan.until.as_ref().map(Regex::as_str),
                plan.settle.map(|d| d.as_secs_f64()),
                args.timeout
            )
        );
    }
    let bar = Bar(progress::count(0, "booting", ctx.quiet));
    let report = match run_matrix(&plan, &bar, &cancel) {
        Ok(r) => r,
        Err(e) if e.kind() == ErrorKind::Cancelled => {
            bar.0.finish_and_clear();
            bail!("interrupted: QEMU stopped, temporary files removed, nothing reported");
        }
        Err(e) => {
            bar.0.finish_and_clear();
            return Err(e.into());
        }
    };
    bar.0.finish_and_clear();

    let inputs: Vec<&Path> = if work.builtin.is_some() {
        Vec::new()
    } else {
        vec![report.iso.as_path()]
    };
    if let Some(md) = &args.markdown {
        let mut f = output::open_beside(md, &inputs)?;
        render::boot::markdown(&mut f, &report)?;
    }
    if let Some(svg) = &args.chart {
        drop(output::open_beside(svg, &inputs)?);
        render::boot::chart(svg, &report).map_err(anyhow::Error::msg)?;
    }
    let mut out = output::open(None)?;
    if args.json {
        output::json(&mut out, &report)?;
    } else {
        render::boot::human(&mut out, &report, ctx.color)?;
    }
    let failed = report.configs.iter().any(|c| !c.failures.is_empty());
    Ok(if failed { Outcome::Fail } else { Outcome::Pass })
}

/// The UEFI firmware Debian's `ovmf` package installed, when any.
pub(super) fn ovmf() -> Option<UefiFirmware> {
    OVMF_CANDIDATES
        .iter()
        .map(PathBuf::from)
        .find(|p| p.is_file())
        .map(|code| UefiFirmware { code })
}

/// What a bootable ISO can boot with (its El Torito entries) and what each
/// firmware loads through its boot catalog; an error when it has none.
pub(super) fn iso_caps(iso: &Path) -> Result<(WorkloadCaps, BootLoad)> {
    let image = super::inspect::open(iso)?;
    let catalog = isotune_iso::bootfiles::boot_catalog(&image)
        .with_context(|| format!("cannot read the boot catalog of {}", iso.display()))?
        .with_context(|| {
            format!(
                "{}: not bootable (no El Torito boot catalog)",
                iso.display()
            )
        })?;
    let mut caps = WorkloadCaps::default();
    for e in &catalog.entries {
        match e.platform {
            isotune_iso::eltorito::Platform::Bios => caps.bios = true,
            isotune_iso::eltorito::Platform::Efi => caps.uefi = true,
            isotune_iso::eltorito::Platform::Other(_) => {}
        }
    }
    Ok((caps, boot_load_bytes(&catalog)))
}

/// The progress bar behind the library's progress callbacks.
pub(super) struct Bar(pub(super) indicatif::ProgressBar);

impl Progress for Bar {
    fn begin(&self, total: usize) {
        self.0.set_length(total as u64);
    }
    fn run_started(&self, config: &str, run: usize, runs: usize) {
        self.0.set_message(format!("{config} run {run}/{runs}"));
    }
    fn run_ended(&self) {
        self.0.inc(1);
    }
}

/// `--baseline NAME`: the exact name, else the one configuration it is a
/// prefix of (`--baseline virtio` for `virtio-scsi/q35/...`); default the
/// first.
fn baseline_index(matrix: &Matrix, name: Option<&str>) -> Result<usize> {
    let Some(name) = name else { return Ok(0) };
    matrix
        .configs
        .iter()
        .position(|c| c.name == name)
        .or_else(|| {
            let mut hits = matrix
                .configs
                .iter()
                .enumerate()
                .filter(|(_, c)| c.name.starts_with(name));
            match (hits.next(), hits.next()) {
                (Some((i, _)), None) => Some(i),
                _ => None,
            }
        })
        .with_context(|| {
            let names: Vec<&str> = matrix.configs.iter().map(|c| c.name.as_str()).collect();
            format!(
                "--baseline {name}: no such configuration (have: {})",
                names.join(", ")
            )
        })
}

fn dedup<T: PartialEq + Clone>(v: &[T]) -> Vec<T> {
    let mut out: Vec<T> = Vec::new();
    for x in v {
        if !out.contains(x) {
            out.push(x.clone());
        }
    }
    out
}

pub(super) fn compile(what: &str, re: Option<&str>) -> Result<Option<Regex>> {
    re.map(|r| {
        Regex::new(r).map_err(|e| {
            // The regex crate explains over several lines; keep the last.
            let msg = e.to_string();
            let why = msg
                .lines()
                .last()
                .unwrap_or_default()
                .trim_start_matches("error: ");
            anyhow::anyhow!("{what}: invalid regular expression {r:?}: {why}")
        })
    })
    .transpose()
}

/// The image to boot: the user's ISO, or the built-in workload written to a
/// temporary directory.
fn workload(args: &BootArgs) -> Result<Workload> {
    let user_markers = args.marker.clone();
    match &args.iso {
        Some(iso) => {
            let (caps, boot_load) = iso_caps(iso)?;
            Ok(Workload {
                iso: iso.clone(),
                builtin: None,
                caps,
                boot_load,
                until: args.until.clone(),
                markers: user_markers,
                _dir: None,
            })
        }
        None => {
            // Named after this process, so that what a SIGKILL leaves is
            // removed by the next run.
            let tmp = std::env::temp_dir();
            sweep_stale(&tmp, IMAGE_DIR_PREFIX);
            let dir = tempfile::Builder::new()
                .prefix(&tagged_prefix(IMAGE_DIR_PREFIX))
                .tempdir_in(&tmp)
                .context("cannot create a temporary directory for the built-in workload")?;
            let path = dir.path().join("isotune-firmware.iso");
            let fw = isotune_qemu::workload::write_firmware_iso(&path, args.payload_mib << 20)
                .context("cannot write the built-in firmware workload")?;
            let mut markers = vec![("start".to_owned(), fw.start_marker.clone())];
            markers.extend(user_markers);
            Ok(Workload {
                iso: path,
                builtin: Some(format!("firmware ({} MiB payload)", args.payload_mib)),
                caps: WorkloadCaps {
                    bios: true,
                    uefi: false,
                },
                boot_load: BootLoad::default(),
                until: Some(args.until.clone().unwrap_or(fw.done_marker)),
                markers,
                _dir: Some(dir),
            })
        }
    }
}

/// Stops with the one-line interrupt error once the flag is set.
fn interrupted(cancel: &AtomicBool) -> Result<()> {
    if cancel.load(Ordering::SeqCst) {
        bail!("interrupted: QEMU stopped, temporary files removed, nothing reported");
    }
    Ok(())
}

/// A flag set by Ctrl-C (SIGINT), SIGTERM and SIGHUP; the runner polls it.
pub(super) fn cancel_flag() -> Arc<AtomicBool> {
    let flag = Arc::new(AtomicBool::new(false));
    let f = flag.clone();
    // Only one handler per process; a second call (tests) keeps the first.
    let _ = ctrlc::set_handler(move || f.store(true, Ordering::SeqCst));
    flag
}
