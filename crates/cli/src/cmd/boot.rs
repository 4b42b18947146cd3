//! `isotune boot`: boots real VMs from the ISO under every configuration of
//! the matrix, runs interleaved (A B C A B C ...), and ranks the
//! configurations by measured time.
//!
//! Glue only: the matrix, the runner, the QMP client and the ranking live
//! in `isotune-qemu`; the built-in workload image is written by its
//! `workload` module. Ctrl-C sets a flag the runner polls: the running QEMU
//! is killed, temporary files and ISO copies are removed, and the command
//! exits 2 with what it had measured discarded.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context as _, Result};
use isotune_qemu::launch::{find_qemu, kvm_pvm_loaded, vm_argv, AccelChoice, AccelUsed};
use isotune_qemu::matrix::{
    expand, interleaved, FirmwareChoice, MatrixSpec, SkippedConfig, UefiFirmware, WorkloadCaps,
    CDROM_ID,
};
use isotune_qemu::report::{
    summarize, BootReport, ConfigResult, ConfigSummary, QemuInfo, RunRecord, SCHEMA_VERSION,
};
use isotune_qemu::run::{run_boot, RunSpec};
use isotune_qemu::EndReason;
use isotune_qemu::ErrorKind;
use regex::Regex;

use super::Context;
use crate::args::{AccelArg, BootArgs};
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
        .version()
        .with_context(|| format!("cannot run {}", qemu.path.display()))?;
    let work = workload(args)?;
    interrupted(&cancel)?;
    let mut notes = Vec::new();

    // Accelerator: `auto` means KVM when it is real. On a paravirtual nested
    // KVM (kvm_pvm) firmware code is emulated ~60x slower than TCG and
    // Linux guests crash, so auto takes TCG there and says so.
    let pvm = kvm_pvm_loaded(Path::new("/sys"));
    let accel = match args.accel {
        AccelArg::Kvm => AccelChoice::Kvm,
        AccelArg::Tcg => AccelChoice::Tcg,
        AccelArg::Auto if pvm => {
            notes.push(
                "--accel auto chose TCG: /dev/kvm is a paravirtual nested KVM (kvm_pvm), where firmware \
                 code is emulated ~60x slower than TCG; pass --accel kvm to measure it anyway"
                    .to_owned(),
            );
            AccelChoice::Tcg
        }
        AccelArg::Auto => AccelChoice::Auto,
    };

    let spec = MatrixSpec {
        buses: dedup(&args.bus),
        machines: dedup(&args.machine),
        firmwares: dedup(&args.firmware),
        caches: dedup(&args.cache),
        aios: dedup(&args.aio),
        storages: dedup(&args.storage),
    };
    for dir in &spec.storages {
        if !dir.is_dir() {
            bail!("{}: --storage wants an existing directory", dir.display());
        }
    }
    let mut matrix = expand(&spec, work.caps);
    let ovmf = OVMF_CANDIDATES
        .iter()
        .map(PathBuf::from)
        .find(|p| p.is_file())
        .map(|code| UefiFirmware { code });
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
    let baseline = match &args.baseline {
        None => 0,
        // The exact name, else the one configuration it is a prefix of
        // (`--baseline virtio` for `virtio-scsi/q35/...`).
        Some(name) => matrix
            .configs
            .iter()
            .position(|c| &c.name == name)
            .or_else(|| {
                let mut hits = matrix
                    .configs
                    .iter()
                    .enumerate()
                    .filter(|(_, c)| c.name.starts_with(name.as_str()));
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
            })?,
    };

    let until = compile("--until", work.until.as_deref())?;
    let markers = work
        .markers
        .iter()
        .map(|(n, re)| {
            Ok((
                n.clone(),
                compile(&format!("--marker {n}"), Some(re))?.unwrap(),
            ))
        })
        .collect::<Result<Vec<_>>>()?;
    // With no final marker, a run ends when the guest stops or its reads
    // from the ISO settle.
    let settle = args
        .settle
        .or(until.is_none().then_some(5.0))
        .map(Duration::from_secs_f64);

    // One copy of the ISO per storage location, removed at the end.
    let mut copies: Vec<(PathBuf, tempfile::TempPath)> = Vec::new();
    for dir in &spec.storages {
        let copy = tempfile::Builder::new()
            .prefix(".isotune-boot.")
            .suffix(".iso")
            .tempfile_in(dir)
            .with_context(|| format!("cannot create a copy of the ISO in {}", dir.display()))?
            .into_temp_path();
        std::fs::copy(&work.iso, &copy)
            .with_context(|| format!("cannot copy {} to {}", work.iso.display(), copy.display()))?;
        copies.push((dir.clone(), copy));
        interrupted(&cancel)?;
    }

    let memory_bytes = args.memory_mib << 20;
    let mut results: Vec<ConfigResult> = matrix
        .configs
        .iter()
        .map(|c| {
            let iso = match &c.storage {
                Some(dir) => copies
                    .iter()
                    .find(|(d, _)| d == dir)
                    .map(|(_, p)| p.to_path_buf())
                    .unwrap_or_else(|| work.iso.clone()),
                None => work.iso.clone(),
            };
            let def = c.vm_definition(&iso, ovmf.as_ref(), memory_bytes);
            ConfigResult {
                config: c.clone(),
                argv: vm_argv(&def),
                iso,
                runs: Vec::new(),
                failures: Vec::new(),
                summary: ConfigSummary::empty(),
            }
        })
        .collect();

    let order = interleaved(results.len(), args.runs as usize);
    let bar = progress::count(order.len() as u64, "booting", ctx.quiet);
    let mut accels = Vec::new();
    let mut any_pvm = false;
    for (ci, ri) in order {
        let c = &mut results[ci];
        bar.set_message(format!("{} run {}/{}", c.config.name, ri + 1, args.runs));
        let mut spec = RunSpec::new(qemu.clone(), c.argv.clone());
        spec.device = Some(CDROM_ID.to_owned());
        spec.iso = Some(c.iso.clone());
        spec.warm = args.warm;
        spec.until = until.clone();
        spec.markers = markers.clone();
        spec.settle = settle;
        spec.timeout = Duration::from_secs_f64(args.timeout);
        spec.memory_mib = u32::try_from(args.memory_mib).unwrap_or(u32::MAX);
        spec.accel = accel;
        match run_boot(&spec, &cancel) {
            Ok(r) if until.is_some() && r.end != EndReason::Marker => {
                let last = r.serial.last().map(|l| l.text.as_str()).unwrap_or("");
                c.failures.push(format!(
                    "run {}: the guest stopped ({}) after {:.2} s without printing a line matching {:?} (last line: {last:?})",
                    ri + 1,
                    r.guest_status,
                    r.seconds,
                    work.until.as_deref().unwrap_or_default()
                ));
            }
            Ok(r) => {
                any_pvm |= r.kvm_pvm;
                accels.push(r.accel);
                c.runs.push(RunRecord {
                    run: ri,
                    seconds: r.seconds,
                    end: render::word(&r.end),
                    phases: r.marker_seconds,
                    phase_reads: r.marker_reads,
                    rd_bytes: r.rd_bytes,
                    rd_operations: r.rd_operations,
                    rd_total_time_ns: r.rd_total_time_ns,
                    qemu_cpu_seconds: r.qemu_cpu_seconds,
                    accel: render::word(&r.accel),
                });
            }
            Err(e) if e.kind() == ErrorKind::Cancelled => {
                bar.finish_and_clear();
                bail!("interrupted: QEMU stopped, temporary files removed, nothing reported");
            }
            Err(e) if e.kind() == ErrorKind::QemuMissing => return Err(e.into()),
            Err(e) => c.failures.push(format!("run {}: {e}", ri + 1)),
        }
        bar.inc(1);
    }
    bar.finish_and_clear();
    summarize(&mut results, baseline);

    let accel_used = match accels.first() {
        None => None,
        Some(first) if accels.iter().all(|a| a == first) => Some(render::word(first)),
        Some(_) => Some("mixed".to_owned()),
    };
    if accel == AccelChoice::Auto && accels.contains(&AccelUsed::Tcg) {
        notes.push("--accel auto fell back to TCG: KVM was not usable".to_owned());
    }
    let report = BootReport {
        schema_version: SCHEMA_VERSION,
        iso: work.iso.clone(),
        builtin: work.builtin.clone(),
        qemu: QemuInfo {
            binary: qemu.path.clone(),
            version: version.version,
        },
        accel_requested: match args.accel {
            AccelArg::Kvm => "kvm",
            AccelArg::Tcg => "tcg",
            AccelArg::Auto => "auto",
        }
        .to_owned(),
        accel_used,
        kvm_pvm: any_pvm || pvm,
        warm: args.warm,
        runs_per_config: args.runs as usize,
        until: work.until.clone(),
        markers: work.markers.iter().map(|(n, _)| n.clone()).collect(),
        baseline: results[baseline].config.name.clone(),
        configs: results,
        skipped: matrix.skipped,
        notes,
    };
    drop(copies);

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

fn dedup<T: PartialEq + Clone>(v: &[T]) -> Vec<T> {
    let mut out: Vec<T> = Vec::new();
    for x in v {
        if !out.contains(x) {
            out.push(x.clone());
        }
    }
    out
}

fn compile(what: &str, re: Option<&str>) -> Result<Option<Regex>> {
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
            Ok(Workload {
                iso: iso.clone(),
                builtin: None,
                caps,
                until: args.until.clone(),
                markers: user_markers,
                _dir: None,
            })
        }
        None => {
            let dir = tempfile::Builder::new()
                .prefix("isotune-boot.")
                .tempdir()
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
fn cancel_flag() -> Arc<AtomicBool> {
    let flag = Arc::new(AtomicBool::new(false));
    let f = flag.clone();
    // Only one handler per process; a second call (tests) keeps the first.
    let _ = ctrlc::set_handler(move || f.store(true, Ordering::SeqCst));
    flag
}
