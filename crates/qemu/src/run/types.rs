//! The data of one run: what to boot ([`RunSpec`]) and what was measured
//! ([`RunResult`]).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use isotune_host::pagecache::CacheDrop;
use regex::Regex;
use serde::{Deserialize, Serialize};

use crate::keys::{KeyPress, KeyPressed, MenuMode};
use crate::launch::{AccelChoice, AccelUsed, QemuBinary};

/// What to boot and how to decide it has finished.
#[derive(Debug, Clone)]
pub struct RunSpec {
    /// The QEMU binary.
    pub qemu: QemuBinary,
    /// The VM part of the argv (machine, firmware, controllers, drives),
    /// e.g. from [`crate::launch::vm_argv`]; no `-accel`, display, serial
    /// or monitor options (the runner adds them).
    pub vm_argv: Vec<String>,
    /// The block device to count reads on: matched against the
    /// `query-blockstats` drive name (`cd0` for `-drive id=cd0`,
    /// `ide1-cd0` for `-cdrom`), guest device id or node name. `None`:
    /// no counters (they are reported as zero).
    pub device: Option<String>,
    /// The ISO, dropped from the host page cache before the run unless
    /// `warm` is set.
    pub iso: Option<PathBuf>,
    /// Keep the ISO in the page cache (a warm run).
    pub warm: bool,
    /// The serial line that ends the boot.
    pub until: Option<Regex>,
    /// Named serial markers whose first appearance is timed.
    pub markers: Vec<(String, Regex)>,
    /// End when the device's `rd_bytes` has not changed for this long
    /// (counted only once the guest has read something).
    pub settle: Option<Duration>,
    /// The most a run may take, from `cont` to its end.
    pub timeout: Duration,
    /// Guest memory, MiB (`-m`; a `-m` in `vm_argv` wins).
    pub memory_mib: u32,
    /// The accelerator to ask for.
    pub accel: AccelChoice,
    /// Where the private temporary directory is made (default: the system
    /// temporary directory).
    pub temp_parent: Option<PathBuf>,
    /// Keys to press (QMP `send-key`) on a serial line or at a time.
    pub keys: Vec<KeyPress>,
    /// Press Enter at a recognised GRUB or isolinux menu.
    pub menu: MenuMode,
}

impl RunSpec {
    /// A spec with defaults: no device, cold cache, no markers, 60 s
    /// timeout, 512 MiB, accelerator auto.
    pub fn new(qemu: QemuBinary, vm_argv: Vec<String>) -> Self {
        RunSpec {
            qemu,
            vm_argv,
            device: None,
            iso: None,
            warm: false,
            until: None,
            markers: Vec::new(),
            settle: None,
            timeout: Duration::from_secs(60),
            memory_mib: 512,
            accel: AccelChoice::Auto,
            temp_parent: None,
            keys: Vec::new(),
            menu: MenuMode::Off,
        }
    }
}

/// Why a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum EndReason {
    /// The `until` marker appeared on the serial console.
    Marker,
    /// The guest stopped by itself (powered off, panicked, internal error:
    /// see [`RunResult::guest_status`]).
    Shutdown,
    /// The device's reads settled.
    Settled,
}

/// A serial console line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SerialLine {
    /// When it arrived, seconds since the guest was resumed.
    pub seconds: f64,
    /// The text, without line end and terminal escapes.
    pub text: String,
}

/// Read counters of the measured device at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ReadCounters {
    /// Bytes read so far.
    pub rd_bytes: u64,
    /// Read requests so far.
    pub rd_operations: u64,
}

/// The measurements of one boot.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunResult {
    /// The boot time: to the `until` marker, to the guest's stop, or to
    /// the last read before settling; seconds since `cont`, without the
    /// time spent waiting at a menu (`menu_wait_seconds`). Marker times
    /// leave it out too.
    pub seconds: f64,
    /// Seconds the guest waited at a boot menu (or for a timed key press)
    /// before the keys were pressed.
    pub menu_wait_seconds: f64,
    /// The key presses made.
    pub keys_pressed: Vec<KeyPressed>,
    /// Why the run ended.
    pub end: EndReason,
    /// From `cont` until the guest was stopped for the final counters.
    pub elapsed_seconds: f64,
    /// First appearance of each marker, seconds since `cont`; markers never
    /// seen are absent.
    pub marker_seconds: BTreeMap<String, f64>,
    /// The device's read counters when each marker was first seen (read
    /// right after the line arrived: reads the guest issued before printing
    /// it and that are still in flight may be missing), so each phase's
    /// bytes per request can be told apart. Empty without a `device`.
    pub marker_reads: BTreeMap<String, ReadCounters>,
    /// The last serial lines (at most 200).
    pub serial: Vec<SerialLine>,
    /// Bytes the guest read from the device.
    pub rd_bytes: u64,
    /// Read requests.
    pub rd_operations: u64,
    /// Time QEMU spent in those reads, nanoseconds.
    pub rd_total_time_ns: u64,
    /// `rd_bytes / rd_operations`; `None` when nothing was read.
    pub bytes_per_request: Option<f64>,
    /// CPU time QEMU used (user + system), seconds.
    pub qemu_cpu_seconds: f64,
    /// The accelerator QEMU really used.
    pub accel: AccelUsed,
    /// The page-cache drop before a cold run, measured before and after
    /// (`None` for a warm run or without an ISO).
    pub cache: Option<CacheDrop>,
    /// QEMU's run state at the end (`paused`, `shutdown`, `internal-error`...).
    pub guest_status: String,
    /// QEMU's version (`10.0.2`).
    pub qemu_version: String,
}
