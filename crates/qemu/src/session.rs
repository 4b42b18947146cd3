//! A whole `isotune boot` measurement: every configuration of a
//! [`Matrix`], run after run in interleaved order (A B C A B C ...), summed
//! up into a [`BootReport`]. The binary only builds the [`MatrixPlan`] from
//! its arguments, shows progress and renders the report.
//!
//! What it owns besides the runs: the ISO copies for `--storage` (named so
//! that what a SIGKILL leaves is removed by the next run, see
//! [`crate::tempfiles`]), the accelerator choice on a paravirtual nested
//! KVM (from the host facts it is given, never re-detected), and the rule
//! that a run which did not boot is a failure, not a time.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use isotune_host::AccelFacts;
use regex::Regex;

use crate::error::{Error, ErrorKind, Result};
use crate::keys::{KeyPress, MenuMode};
use crate::launch::{vm_argv, AccelChoice, AccelUsed, QemuBinary};
use crate::matrix::{interleaved, BootConfig, FirmwareChoice, Matrix, UefiFirmware, CDROM_ID};
use crate::netserve::{find_nbdkit, Served};
use crate::outcome::{BootNote, FailureCode, RunFailure};
use crate::report::{
    summarize, BootReport, ConfigResult, ConfigSummary, QemuInfo, RunRecord, ServerCounts,
    SCHEMA_VERSION,
};
use crate::run::{run_boot, EndReason, RunResult, RunSpec};
use crate::source::SourceChoice;
use crate::tempfiles::{sweep_stale, tagged_prefix, COPY_PREFIX, RUN_DIR_PREFIX};

/// The accelerator the user asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccelRequest {
    /// KVM when it is real, else TCG.
    Auto,
    /// KVM only.
    Kvm,
    /// TCG only.
    Tcg,
}

impl AccelRequest {
    fn word(self) -> &'static str {
        match self {
            AccelRequest::Auto => "auto",
            AccelRequest::Kvm => "kvm",
            AccelRequest::Tcg => "tcg",
        }
    }
}

/// Everything a matrix run needs.
#[derive(Debug, Clone)]
pub struct MatrixPlan {
    /// The QEMU binary and its version string.
    pub qemu: QemuBinary,
    /// `10.0.2`.
    pub qemu_version: String,
    /// The image to boot.
    pub iso: PathBuf,
    /// The built-in workload's description, when no ISO was given.
    pub builtin: Option<String>,
    /// The configurations to run (and those skipped).
    pub matrix: Matrix,
    /// UEFI firmware for the UEFI configurations.
    pub ovmf: Option<UefiFirmware>,
    /// Index of the configuration the others are compared with.
    pub baseline: usize,
    /// Runs per configuration.
    pub runs: usize,
    /// Keep the page cache warm (default: drop the ISO before each run).
    pub warm: bool,
    /// The serial line that ends a boot.
    pub until: Option<Regex>,
    /// Named phase markers.
    pub markers: Vec<(String, Regex)>,
    /// End a run after this long without reads from the ISO.
    pub settle: Option<Duration>,
    /// The most one run may take.
    pub timeout: Duration,
    /// Guest memory.
    pub memory_bytes: u64,
    /// The accelerator asked for.
    pub accel: AccelRequest,
    /// The host's accelerator facts (`kvm_pvm` decides `auto`).
    pub host_accel: AccelFacts,
    /// Keys to press during each run.
    pub keys: Vec<KeyPress>,
    /// Press Enter at a recognised boot menu.
    pub menu: MenuMode,
    /// Bytes each firmware itself loads through the boot catalog (volume
    /// descriptors, catalog, boot images): a run that reads no more than
    /// this never got past the boot sector.
    pub boot_load: BootLoad,
}

/// Progress of a matrix run, for a progress bar.
pub trait Progress {
    /// `total` runs are about to start.
    fn begin(&self, total: usize);
    /// Run `run` (1-based) of `runs` of configuration `config` starts.
    fn run_started(&self, config: &str, run: usize, runs: usize);
    /// A run ended (measured or failed).
    fn run_ended(&self);
}

/// A [`Progress`] that shows nothing.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoProgress;

impl Progress for NoProgress {
    fn begin(&self, _: usize) {}
    fn run_started(&self, _: &str, _: usize, _: usize) {}
    fn run_ended(&self) {}
}

/// The choice `auto` makes on this host, and the note that says why.
pub fn choose_accel(req: AccelRequest, host: &AccelFacts) -> (AccelChoice, Option<BootNote>) {
    match req {
        AccelRequest::Kvm => (AccelChoice::Kvm, None),
        AccelRequest::Tcg => (AccelChoice::Tcg, None),
        // On a paravirtual nested KVM (kvm_pvm) firmware code runs tens of
        // times slower than TCG (scripts/bench/accel.sh) and Linux guests crash.
        AccelRequest::Auto if host.pvm => (AccelChoice::Tcg, Some(BootNote::AutoChoseTcgOnKvmPvm)),
        AccelRequest::Auto => (AccelChoice::Auto, None),
    }
}

/// Copies of the ISO, one per `--storage` directory, removed on drop.
struct Copies(Vec<(PathBuf, tempfile::TempPath)>);

impl Copies {
    fn make(iso: &Path, dirs: &[PathBuf], cancel: &AtomicBool) -> Result<Copies> {
        let mut copies = Copies(Vec::new());
        for dir in dirs {
            sweep_stale(dir, COPY_PREFIX);
            let copy = tempfile::Builder::new()
                .prefix(&tagged_prefix(COPY_PREFIX))
                .suffix(".iso")
                .tempfile_in(dir)
                .map_err(|e| Error::io("Cannot create a copy of the ISO", e).with_path(dir))?
                .into_temp_path();
            // Pushed before the copy so an error or a cancellation removes it.
            copies.0.push((dir.clone(), copy));
            let dest = &copies.0.last().expect("just pushed").1;
            copy_cancellable(iso, dest, cancel)?;
        }
        Ok(copies)
    }

    fn for_dir(&self, dir: &Path) -> Option<PathBuf> {
        self.0
            .iter()
            .find(|(d, _)| d == dir)
            .map(|(_, p)| p.to_path_buf())
    }
}

/// Copies `from` to `to` in 8 MiB steps, checking `cancel` between them.
fn copy_cancellable(from: &Path, to: &Path, cancel: &AtomicBool) -> Result<()> {
    use std::io::{Read, Write};
    let mut src = std::fs::File::open(from)
        .map_err(|e| Error::io("Cannot open the ISO", e).with_path(from))?;
    let mut dst = std::fs::OpenOptions::new()
        .write(true)
        .truncate(true)
        .open(to)
        .map_err(|e| Error::io("Cannot write the copy", e).with_path(to))?;
    let mut buf = vec![0u8; 8 << 20];
    loop {
        if cancel.load(Ordering::Relaxed) {
            return Err(Error::new(ErrorKind::Cancelled, "The run was cancelled"));
        }
        let n = src
            .read(&mut buf)
            .map_err(|e| Error::io("Cannot read the ISO", e).with_path(from))?;
        if n == 0 {
            break;
        }
        dst.write_all(&buf[..n])
            .map_err(|e| Error::io("Cannot write the copy", e).with_path(to))?;
    }
    // Synced so the cold runs' cache drop can evict every page.
    dst.sync_all()
        .map_err(|e| Error::io("Cannot write the copy", e).with_path(to))
}

/// Bytes each firmware itself reads through a boot catalog before any
/// boot code runs; see [`boot_load_bytes`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct BootLoad {
    /// SeaBIOS: the x86 entries.
    pub bios_bytes: u64,
    /// OVMF: the EFI entries.
    pub uefi_bytes: u64,
}

/// Bytes the firmware itself reads through `catalog` before any boot code
/// runs, per firmware: the boot record volume descriptor, the catalog
/// sector and the load images of that firmware's entries (`sector_count`
/// virtual 512-byte sectors, read in whole 2048-byte sectors), plus 16 KiB
/// for what firmware reads around them (the primary descriptor, readahead
/// of a partial sector). A guest that reads no more than this never ran
/// past its boot sector.
pub fn boot_load_bytes(catalog: &isotune_iso::eltorito::BootCatalog) -> BootLoad {
    use isotune_iso::eltorito::Platform;
    const SECTOR: u64 = 2048;
    let load = |platform: Platform| {
        let images: u64 = catalog
            .entries
            .iter()
            .filter(|e| e.platform == platform)
            .map(|e| (u64::from(e.sector_count) * 512).div_ceil(SECTOR) * SECTOR)
            .sum();
        2 * SECTOR + images + (16 << 10)
    };
    BootLoad {
        bios_bytes: load(Platform::Bios),
        uefi_bytes: load(Platform::Efi),
    }
}

/// Why a finished run does not count as a boot, if it does not.
fn did_not_boot(
    plan: &MatrixPlan,
    firmware: FirmwareChoice,
    r: &RunResult,
) -> Option<(FailureCode, String)> {
    if let Some(until) = &plan.until {
        if r.end != EndReason::Marker {
            let last = r.serial.last().map(|l| l.text.as_str()).unwrap_or("");
            return Some((
                FailureCode::NoUntilLine,
                format!(
                    "the guest stopped ({}) after {:.2} s without printing a line matching {:?} \
                     (last line: {last:?})",
                    r.guest_status,
                    r.seconds,
                    until.as_str()
                ),
            ));
        }
        return None;
    }
    if !plan.markers.is_empty() && r.marker_seconds.is_empty() {
        let names: Vec<&str> = plan.markers.iter().map(|(n, _)| n.as_str()).collect();
        return Some((
            FailureCode::DidNotBoot,
            format!(
                "did not boot: the guest reached none of the markers ({}) before it {}",
                names.join(", "),
                end_words(r.end)
            ),
        ));
    }
    let load = match firmware {
        FirmwareChoice::Bios => plan.boot_load.bios_bytes,
        FirmwareChoice::Uefi => plan.boot_load.uefi_bytes,
    };
    if r.rd_bytes <= load {
        return Some((
            FailureCode::DidNotBoot,
            format!(
                "did not boot: the guest read {} bytes from the ISO, no more than the firmware \
                 loads from the boot catalog ({} bytes), before it {}",
                r.rd_bytes,
                load,
                end_words(r.end)
            ),
        ));
    }
    None
}

fn end_words(end: EndReason) -> &'static str {
    match end {
        EndReason::Marker => "printed the final marker",
        EndReason::Shutdown => "stopped",
        EndReason::Settled => "stopped reading",
    }
}

/// Runs the whole matrix. `cancel` is polled throughout; once set, QEMU is
/// stopped, copies are removed and the result is [`ErrorKind::Cancelled`].
pub fn run_matrix(
    plan: &MatrixPlan,
    progress: &dyn Progress,
    cancel: &AtomicBool,
) -> Result<BootReport> {
    if plan.matrix.configs.is_empty() {
        return Err(Error::new(ErrorKind::InvalidInput, "Nothing to run"));
    }
    if plan.baseline >= plan.matrix.configs.len() {
        return Err(Error::new(ErrorKind::InvalidInput, "No such baseline"));
    }
    sweep_stale(&std::env::temp_dir(), RUN_DIR_PREFIX);
    let mut notes = Vec::new();
    let (accel, note) = choose_accel(plan.accel, &plan.host_accel);
    notes.extend(note);

    let mut dirs: Vec<PathBuf> = Vec::new();
    for c in &plan.matrix.configs {
        if let Some(d) = &c.storage {
            if !dirs.contains(d) {
                dirs.push(d.clone());
            }
        }
    }
    check_sources(&plan.matrix.configs)?;
    let copies = Copies::make(&plan.iso, &dirs, cancel)?;

    let mut results: Vec<ConfigResult> = plan
        .matrix
        .configs
        .iter()
        .map(|c| {
            let iso = c
                .storage
                .as_deref()
                .and_then(|d| copies.for_dir(d))
                .unwrap_or_else(|| plan.iso.clone());
            ConfigResult {
                config: c.clone(),
                argv: report_argv(plan, c, &iso, None),
                iso,
                runs: Vec::new(),
                failures: Vec::new(),
                summary: ConfigSummary::empty(),
            }
        })
        .collect();

    let order = interleaved(results.len(), plan.runs);
    progress.begin(order.len());
    let mut accels = Vec::new();
    for (ci, ri) in order {
        let c = &mut results[ci];
        progress.run_started(&c.config.name, ri + 1, plan.runs);
        // Started for this run, stopped when it is dropped at the end of
        // this iteration (or by an early return).
        let served = match Served::start(&c.config.source, &c.iso) {
            Ok(s) => s,
            Err(e) => {
                c.failures.push(RunFailure {
                    run: ri + 1,
                    code: FailureCode::Error,
                    message: e.to_string(),
                });
                progress.run_ended();
                continue;
            }
        };
        let def =
            c.config
                .vm_definition_at(&c.iso, served.url(), plan.ovmf.as_ref(), plan.memory_bytes);
        let mut spec = RunSpec::new(plan.qemu.clone(), vm_argv(&def));
        if !matches!(served, Served::User(_)) {
            c.argv = report_argv(plan, &c.config, &c.iso, served.url());
        }
        spec.device = Some(CDROM_ID.to_owned());
        // A user's URL has no local file whose cache could be dropped.
        spec.iso = (!matches!(served, Served::User(_))).then(|| c.iso.clone());
        spec.warm = plan.warm;
        spec.until = plan.until.clone();
        spec.markers = plan.markers.clone();
        spec.settle = plan.settle;
        spec.timeout = plan.timeout;
        spec.memory_mib = u32::try_from(plan.memory_bytes >> 20).unwrap_or(u32::MAX);
        spec.accel = accel;
        spec.keys = plan.keys.clone();
        spec.menu = plan.menu;
        let result = run_boot(&spec, cancel);
        let server = served.http_stats().map(|s| ServerCounts {
            requests: s.gets,
            heads: s.heads,
            bytes: s.body_bytes,
            connections: s.connections,
        });
        drop(served);
        match result {
            Ok(r) => match did_not_boot(plan, c.config.firmware, &r) {
                Some((code, message)) => c.failures.push(RunFailure {
                    run: ri + 1,
                    code,
                    message,
                }),
                None => {
                    accels.push(r.accel);
                    let mut rec = record(ri, r);
                    rec.server = server;
                    c.runs.push(rec);
                }
            },
            Err(e) if e.kind() == ErrorKind::Cancelled || e.kind() == ErrorKind::QemuMissing => {
                return Err(e)
            }
            Err(e) => c.failures.push(RunFailure {
                run: ri + 1,
                code: match e.kind() {
                    ErrorKind::Timeout => FailureCode::Timeout,
                    ErrorKind::QemuFailed => FailureCode::QemuFailed,
                    _ => FailureCode::Error,
                },
                message: e.to_string(),
            }),
        }
        progress.run_ended();
    }
    summarize(&mut results, plan.baseline);
    drop(copies);

    let accel_used = match accels.first() {
        None => None,
        Some(first) if accels.iter().all(|a| a == first) => Some(word(first)),
        Some(_) => Some("mixed".to_owned()),
    };
    if accel == AccelChoice::Auto && accels.contains(&AccelUsed::Tcg) {
        notes.push(BootNote::AutoFellBackToTcg);
    }
    Ok(BootReport {
        schema_version: SCHEMA_VERSION,
        iso: plan.iso.clone(),
        builtin: plan.builtin.clone(),
        qemu: QemuInfo {
            binary: plan.qemu.path.clone(),
            version: plan.qemu_version.clone(),
        },
        accel_requested: plan.accel.word().to_owned(),
        accel_used,
        kvm_pvm: plan.host_accel.pvm,
        warm: plan.warm,
        runs_per_config: plan.runs,
        until: plan.until.as_ref().map(|r| r.as_str().to_owned()),
        settle_seconds: plan.settle.map(|d| d.as_secs_f64()),
        timeout_seconds: plan.timeout.as_secs_f64(),
        keys: plan.keys.iter().map(|k| k.text.clone()).collect(),
        menu: plan.menu,
        markers: plan.markers.iter().map(|(n, _)| n.clone()).collect(),
        baseline: results[plan.baseline].config.name.clone(),
        source_advice: crate::advice::source_advice(&results),
        configs: results,
        skipped: plan.matrix.skipped.clone(),
        notes,
    })
}

fn record(run: usize, r: RunResult) -> RunRecord {
    RunRecord {
        run,
        seconds: r.seconds,
        menu_wait_seconds: r.menu_wait_seconds,
        keys_pressed: r.keys_pressed,
        end: word(&r.end),
        phases: r.marker_seconds,
        phase_reads: r.marker_reads,
        rd_bytes: r.rd_bytes,
        rd_operations: r.rd_operations,
        rd_total_time_ns: r.rd_total_time_ns,
        qemu_cpu_seconds: r.qemu_cpu_seconds,
        accel: word(&r.accel),
        cache: r.cache,
        server: None,
    }
}

/// The VM argv shown in the report: a user's URL redacted, a served one
/// as it was for the last run (a placeholder before the first).
fn report_argv(plan: &MatrixPlan, c: &BootConfig, iso: &Path, served: Option<&str>) -> Vec<String> {
    let url = match (&c.source.choice, served) {
        (SourceChoice::File, _) => None,
        (SourceChoice::Url { url }, _) => Some(url.to_string()),
        (_, Some(u)) => Some(u.to_owned()),
        (SourceChoice::Http, None) => Some("http://127.0.0.1:PORT/image.iso".to_owned()),
        (SourceChoice::Nbd, None) => Some("nbd+unix:///?socket=SOCKET".to_owned()),
    };
    let def = c.vm_definition_at(iso, url.as_deref(), plan.ovmf.as_ref(), plan.memory_bytes);
    vm_argv(&def)
}

/// Before any run: nbdkit is installed when an `nbd` source needs it, and
/// every user URL answers (an HTTP server must serve Range requests, or
/// QEMU's curl driver refuses to open it).
fn check_sources(configs: &[BootConfig]) -> Result<()> {
    if configs.iter().any(|c| c.source.choice == SourceChoice::Nbd) {
        find_nbdkit()?;
    }
    let mut seen: Vec<&str> = Vec::new();
    for c in configs {
        let SourceChoice::Url { url } = &c.source.choice else {
            continue;
        };
        if seen.contains(&url.secret()) {
            continue;
        }
        seen.push(url.secret());
        let options = isotune_net::NetOptions {
            connect_timeout: Duration::from_secs(5),
            io_timeout: Duration::from_secs(10),
            ..isotune_net::NetOptions::default()
        };
        if let Err(e) = isotune_net::NetSource::open(url.secret(), &options) {
            let why = match e.kind() {
                isotune_net::ErrorKind::NoRange => {
                    "; QEMU's curl driver refuses a server without Range support"
                }
                _ => "",
            };
            let msg = e.to_string();
            let msg = msg.strip_prefix(&format!("{url}: ")).unwrap_or(&msg);
            return Err(Error::new(
                ErrorKind::InvalidInput,
                format!("--source {url}: {msg}{why}"),
            ));
        }
    }
    Ok(())
}

/// The serde name of a unit enum variant (`settled`, `tcg`).
fn word<T: serde::Serialize>(v: &T) -> String {
    match serde_json::to_value(v) {
        Ok(serde_json::Value::String(s)) => s,
        _ => String::new(),
    }
}
