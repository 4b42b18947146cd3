//! One measured boot: start QEMU paused, connect QMP, resume the guest,
//! watch the serial console and the cdrom's read counters, stop, read the
//! counters, quit.
//!
//! Every run gets a private temporary directory for its QMP socket and runs
//! QEMU in its own process group under a [`ChildGuard`], so a timeout, a
//! cancellation, an error or a panic leaves neither a process nor a file
//! behind. Counters are read after the guest has been stopped
//! (`query-blockstats` read at the marker misses reads still in flight).
//! Keys are pressed through QMP `send-key` when [`crate::keys`] says so; the
//! wait before a press is left out of every time reported after it.
//!
//! A guest reboot (or a triple fault, e.g. boot code that is garbage) ends
//! the run like a shutdown (`-action reboot=shutdown`), so a guest that
//! resets itself is not booted again and again until the timeout.

use std::collections::{BTreeMap, VecDeque};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::cleanup::ChildGuard;
use crate::error::{Error, ErrorKind, Result};
use crate::keys::{KeyDriver, MenuMode};
use crate::launch::{spawn_error, AccelUsed};
use crate::qmp::{self, BlockCounters, Qmp};
use crate::serial::{spawn_collector, spawn_line_reader, TimedLine};
use crate::tempfiles::{tagged_prefix, RUN_DIR_PREFIX};

mod types;
use isotune_host::pagecache::{self, CacheDrop};
use isotune_host::SysRoot;
pub use types::{EndReason, ReadCounters, RunResult, RunSpec, SerialLine};

/// How often the loop wakes up at most (serial lines wake it earlier).
const TICK: Duration = Duration::from_millis(25);
/// How often `query-status` runs.
const STATUS_EVERY: Duration = Duration::from_millis(50);
/// How often `query-blockstats` runs while waiting for reads to settle.
const SETTLE_POLL: Duration = Duration::from_millis(100);
/// After the final marker, how long to wait at most for the guest to stop
/// so that the reads it started are counted.
const AFTER_MARKER: Duration = Duration::from_secs(2);
/// When the guest has stopped, how long to wait for serial lines still on
/// their way from the pipe.
const SERIAL_DRAIN: Duration = Duration::from_millis(100);
/// Timeout of one QMP command.
const QMP_IO_TIMEOUT: Duration = Duration::from_secs(5);
/// Serial lines kept in the result.
const KEEP_LINES: usize = 200;
/// QEMU stderr kept for error messages.
const STDERR_CAP: usize = 64 * 1024;

/// Boots once and measures. `cancel` is checked every few milliseconds;
/// when it becomes true the run ends with [`ErrorKind::Cancelled`].
pub fn run_boot(spec: &RunSpec, cancel: &AtomicBool) -> Result<RunResult> {
    if spec.settle.is_some() && spec.device.is_none() {
        return Err(Error::new(
            ErrorKind::InvalidInput,
            "Waiting for reads to settle needs the device to watch",
        ));
    }
    let cache = match (&spec.iso, spec.warm) {
        (Some(iso), false) => Some(drop_page_cache(iso)?),
        _ => None,
    };
    // Declared first so it is removed last, after QEMU is gone; named after
    // this process so a later run removes it if this one is SIGKILLed.
    let prefix = tagged_prefix(RUN_DIR_PREFIX);
    let dir = match &spec.temp_parent {
        Some(p) => tempfile::Builder::new().prefix(&prefix).tempdir_in(p),
        None => tempfile::Builder::new().prefix(&prefix).tempdir(),
    }
    .map_err(|e| Error::io("Cannot create a temporary directory", e))?;
    let sock = dir.path().join("qmp.sock");

    let mut cmd = Command::new(&spec.qemu.path);
    cmd.args(["-S", "-display", "none", "-nodefaults", "-no-user-config"])
        .args([
            "-action",
            "shutdown=pause",
            "-action",
            "reboot=shutdown",
            "-serial",
            "stdio",
            "-monitor",
            "none",
        ])
        .arg("-qmp")
        .arg(format!("unix:{},server=on,wait=off", sock.display()))
        .arg("-m")
        .arg(spec.memory_mib.to_string())
        .args(spec.accel.argv())
        .args(&spec.vm_argv)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut guard = ChildGuard::spawn(&mut cmd).map_err(|e| spawn_error(&spec.qemu.path, e))?;
    let child = guard.child_mut();
    let serial = spawn_line_reader(child.stdout.take().expect("stdout is piped"));
    let stderr = spawn_collector(child.stderr.take().expect("stderr is piped"), STDERR_CAP);
    let mut run = Running {
        spec,
        cancel,
        guard,
        stderr: Some(stderr),
        serial,
        started: Instant::now(),
        started_epoch: 0.0,
        lines: VecDeque::new(),
        markers: BTreeMap::new(),
        marker_reads: BTreeMap::new(),
        keys: KeyDriver::new(&spec.keys, spec.menu),
    };
    let result = run.measure(&sock).map(|mut r| {
        r.cache = cache;
        r
    });
    // Drop order: the guard kills the group, then `dir` is removed.
    drop(run);
    drop(dir);
    result
}

/// Drops `iso` from the host page cache so the guest's reads reach storage,
/// and measures what was left ([`isotune_host::pagecache::drop_pages`]).
fn drop_page_cache(iso: &Path) -> Result<CacheDrop> {
    let f =
        std::fs::File::open(iso).map_err(|e| Error::io("Cannot open the ISO", e).with_path(iso))?;
    let size = f
        .metadata()
        .map_err(|e| Error::io("Cannot examine the ISO", e).with_path(iso))?
        .len();
    pagecache::drop_pages(&f, size).map_err(|e| {
        Error::io("Cannot drop the ISO from the page cache", e.into_io()).with_path(iso)
    })
}

/// The state of a run in progress.
struct Running<'a> {
    spec: &'a RunSpec,
    cancel: &'a AtomicBool,
    guard: ChildGuard,
    stderr: Option<JoinHandle<String>>,
    serial: Receiver<TimedLine>,
    /// Serial times are relative to this (reset at `cont`).
    started: Instant,
    /// `started` on the wall clock, seconds since the epoch (QMP event
    /// timestamps are wall-clock).
    started_epoch: f64,
    lines: VecDeque<SerialLine>,
    markers: BTreeMap<String, f64>,
    marker_reads: BTreeMap<String, ReadCounters>,
    keys: KeyDriver,
}

impl Running<'_> {
    fn measure(&mut self, sock: &Path) -> Result<RunResult> {
        let deadline = Instant::now() + self.spec.timeout;
        let (mut qmp, greeting) = self.connect(sock, deadline)?;
        let accel = AccelUsed::from(self.qmp(qmp.query_kvm())?);
        if let Some(dev) = &self.spec.device {
            let all = self.qmp(qmp.query_blockstats())?;
            if !all.iter().any(|b| b.matches(dev)) {
                let names: Vec<&str> = all
                    .iter()
                    .map(|b| b.device.as_str())
                    .filter(|d| !d.is_empty())
                    .collect();
                return Err(Error::new(
                    ErrorKind::DeviceNotFound,
                    format!(
                        "The VM has no block device {dev:?} (devices: {})",
                        names.join(", ")
                    ),
                ));
            }
        }
        self.started = Instant::now();
        self.started_epoch = epoch_seconds();
        let deadline = self.started + self.spec.timeout;
        self.qmp(qmp.cont())?;
        let (end, seconds, guest_status) = self.watch(&mut qmp, deadline)?;
        let elapsed_seconds = self.started.elapsed().as_secs_f64();
        let status = self.qmp(qmp.query_status())?;
        if status.running {
            self.qmp(qmp.stop())?;
        }
        let counters = match &self.spec.device {
            Some(dev) => self.counters(&mut qmp, dev)?,
            None => BlockCounters::default(),
        };
        let qemu_cpu_seconds =
            isotune_host::process_cpu_seconds(&SysRoot::live(), self.guard.id()).unwrap_or(0.0);
        let _ = qmp.quit();
        drop(qmp);
        let _ = self.guard.finish(Duration::from_secs(2));
        let bytes_per_request = (counters.rd_operations > 0)
            .then(|| counters.rd_bytes as f64 / counters.rd_operations as f64);
        let menu_wait_seconds = self.keys.waited();
        let keys_pressed =
            std::mem::replace(&mut self.keys, KeyDriver::new(&[], MenuMode::Off)).into_pressed();
        Ok(RunResult {
            seconds,
            menu_wait_seconds,
            keys_pressed,
            end,
            elapsed_seconds,
            marker_seconds: std::mem::take(&mut self.markers),
            marker_reads: std::mem::take(&mut self.marker_reads),
            serial: self.lines.drain(..).collect(),
            rd_bytes: counters.rd_bytes,
            rd_operations: counters.rd_operations,
            rd_total_time_ns: counters.rd_total_time_ns,
            bytes_per_request,
            qemu_cpu_seconds,
            accel,
            cache: None,
            guest_status: if status.running {
                "running".to_owned()
            } else {
                guest_status.unwrap_or(status.status)
            },
            qemu_version: greeting.version.qemu.to_string(),
        })
    }

    /// Connects to QMP once QEMU has made the socket.
    fn connect(
        &mut self,
        sock: &Path,
        deadline: Instant,
    ) -> Result<(Qmp<UnixStream>, qmp::Greeting)> {
        loop {
            self.check_cancel()?;
            if self.guard.has_exited() {
                return Err(self.qemu_failed("QEMU exited before its QMP socket was ready"));
            }
            if sock.exists() {
                match qmp::connect_unix(sock, QMP_IO_TIMEOUT) {
                    Ok(c) => return Ok(c),
                    Err(e) if e.kind() == ErrorKind::Io => {}
                    Err(e) => return Err(self.qmp_failure(e)),
                }
            }
            if Instant::now() >= deadline {
                return Err(Error::new(
                    ErrorKind::Timeout,
                    format!(
                        "QEMU did not open its QMP socket within {} s",
                        self.spec.timeout.as_secs_f64()
                    ),
                ));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// The main loop. Returns why and when the boot ended, and the guest
    /// state when it stopped by itself.
    fn watch(
        &mut self,
        qmp: &mut Qmp<UnixStream>,
        deadline: Instant,
    ) -> Result<(EndReason, f64, Option<String>)> {
        let mut marker_end: Option<(f64, Instant)> = None;
        let mut next_status = Instant::now();
        let mut next_settle = Instant::now();
        let mut last_rd = 0u64;
        let mut last_change = self.started;
        loop {
            let pressed_before = self.keys.count();
            match self.serial.recv_timeout(TICK) {
                Ok(line) => {
                    if let Some(t) = self.on_serial(qmp, line)? {
                        marker_end.get_or_insert((t, Instant::now() + AFTER_MARKER));
                    }
                    // Drain what else is there before polling QMP.
                    while let Ok(line) = self.serial.try_recv() {
                        if let Some(t) = self.on_serial(qmp, line)? {
                            marker_end.get_or_insert((t, Instant::now() + AFTER_MARKER));
                        }
                    }
                }
                Err(RecvTimeoutError::Timeout) => {}
                // QEMU closed stdout: it is exiting; QMP will say so.
                Err(RecvTimeoutError::Disconnected) => std::thread::sleep(TICK),
            }
            self.counters_at_new_markers(qmp)?;
            self.check_cancel()?;
            if self.keys.count() != pressed_before {
                // The guest reacts to the keys: the settle clock restarts.
                last_change = Instant::now();
            }
            let now = Instant::now();
            let raw = now.saturating_duration_since(self.started).as_secs_f64();
            for keys in self.keys.on_tick(raw) {
                self.send_keys(qmp, &keys)?;
                // The guest reacts now: reads restart the settle clock.
                last_change = Instant::now();
            }
            if let Some((t, until)) = marker_end {
                if now >= until {
                    return Ok((EndReason::Marker, t, None));
                }
            } else if now >= deadline {
                let last = match self.lines.back() {
                    Some(l) => format!("last serial line: {:?}", l.text),
                    None => "the guest printed nothing on the serial port".to_owned(),
                };
                return Err(Error::new(
                    ErrorKind::Timeout,
                    format!(
                        "The boot did not finish within {} s ({last})",
                        self.spec.timeout.as_secs_f64()
                    ),
                ));
            }
            if now >= next_status {
                next_status = now + STATUS_EVERY;
                let st = self.qmp(qmp.query_status())?;
                let stopped = qmp
                    .events()
                    .into_iter()
                    .find(|e| e.event == "SHUTDOWN" || e.event == "STOP");
                if !st.running || stopped.is_some() {
                    // QEMU's event timestamp is more precise than this
                    // poll; it is wall-clock time, so it is checked against
                    // the monotonic bounds.
                    let polled = self.seconds(now);
                    let at = stopped
                        .map(|e| {
                            let ts = e.timestamp;
                            ts.seconds as f64 + ts.microseconds as f64 / 1e6
                                - self.started_epoch
                                - self.keys.waited()
                        })
                        .filter(|t| (0.0..=polled).contains(t))
                        .unwrap_or(polled);
                    // The guest's last lines are already in the pipe, but
                    // the reader thread may not have passed them on yet:
                    // take them (the final marker among them) before
                    // deciding how the boot ended.
                    while let Ok(line) = self.serial.recv_timeout(SERIAL_DRAIN) {
                        if line.partial {
                            continue;
                        }
                        if let Some(t) = self.take_line(line) {
                            marker_end.get_or_insert((t, now));
                        }
                    }
                    self.counters_at_new_markers(qmp)?;
                    return Ok(match marker_end {
                        Some((t, _)) => (EndReason::Marker, t, Some(st.status)),
                        // The guest stopped after every line it printed:
                        // the event's wall-clock time can read a fraction
                        // of a millisecond before the monotonic time of its
                        // last line, so never end before that line.
                        None => {
                            let last = self.lines.back().map_or(0.0, |l| l.seconds);
                            (EndReason::Shutdown, at.max(last), Some(st.status))
                        }
                    });
                }
            }
            if let (Some(settle), None, Some(dev)) =
                (self.spec.settle, marker_end, &self.spec.device)
            {
                if now >= next_settle {
                    next_settle = now + SETTLE_POLL;
                    let rd = self.counters(qmp, dev)?.rd_bytes;
                    if rd != last_rd {
                        last_rd = rd;
                        last_change = now;
                    } else if rd > 0
                        && now.duration_since(last_change) >= settle
                        && !self.keys.timed_pending()
                    {
                        return Ok((EndReason::Settled, self.seconds(last_change), None));
                    }
                }
            }
        }
    }

    /// Reads the device's counters for markers seen since the last call.
    fn counters_at_new_markers(&mut self, qmp: &mut Qmp<UnixStream>) -> Result<()> {
        let spec = self.spec;
        let Some(dev) = &spec.device else {
            return Ok(());
        };
        if self.markers.len() == self.marker_reads.len() {
            return Ok(());
        }
        let c = self.counters(qmp, dev)?;
        for name in self.markers.keys() {
            self.marker_reads
                .entry(name.clone())
                .or_insert(ReadCounters {
                    rd_bytes: c.rd_bytes,
                    rd_operations: c.rd_operations,
                });
        }
        Ok(())
    }

    /// A serial line or prompt: presses the keys it triggers; a whole line
    /// is recorded ([`Running::take_line`]).
    fn on_serial(&mut self, qmp: &mut Qmp<UnixStream>, line: TimedLine) -> Result<Option<f64>> {
        let raw = line
            .at
            .saturating_duration_since(self.started)
            .as_secs_f64();
        let presses = self.keys.on_text(&line.text, raw);
        let end = if line.partial {
            None
        } else {
            self.take_line(line)
        };
        for keys in presses {
            self.send_keys(qmp, &keys)?;
        }
        Ok(end)
    }

    /// Presses `keys` one after another (QMP `send-key`, one key each).
    fn send_keys(&mut self, qmp: &mut Qmp<UnixStream>, keys: &[String]) -> Result<()> {
        for k in keys {
            let args = serde_json::json!({ "keys": [{ "type": "qcode", "data": k }] });
            self.qmp(qmp.execute("send-key", Some(args)))?;
        }
        Ok(())
    }

    /// Records a serial line; returns its time when it is the `until` marker.
    fn take_line(&mut self, line: TimedLine) -> Option<f64> {
        let t = self.seconds(line.at);
        for (name, re) in &self.spec.markers {
            if !self.markers.contains_key(name) && re.is_match(&line.text) {
                self.markers.insert(name.clone(), t);
            }
        }
        let is_end = self
            .spec
            .until
            .as_ref()
            .is_some_and(|re| re.is_match(&line.text));
        if self.lines.len() == KEEP_LINES {
            self.lines.pop_front();
        }
        self.lines.push_back(SerialLine {
            seconds: t,
            text: line.text,
        });
        is_end.then_some(t)
    }

    /// Seconds since `cont` without the menu waits so far.
    fn seconds(&self, at: Instant) -> f64 {
        (at.saturating_duration_since(self.started).as_secs_f64() - self.keys.waited()).max(0.0)
    }

    fn counters(&mut self, qmp: &mut Qmp<UnixStream>, dev: &str) -> Result<BlockCounters> {
        let all = self.qmp(qmp.query_blockstats())?;
        all.into_iter()
            .find(|b| b.matches(dev))
            .map(|b| b.stats)
            .ok_or_else(|| {
                Error::new(
                    ErrorKind::DeviceNotFound,
                    format!("The block device {dev:?} disappeared during the run"),
                )
            })
    }

    fn check_cancel(&self) -> Result<()> {
        if self.cancel.load(Ordering::Relaxed) {
            return Err(Error::new(ErrorKind::Cancelled, "The run was cancelled"));
        }
        Ok(())
    }

    /// A QMP result; a lost connection means QEMU died, which is reported
    /// with its stderr.
    fn qmp<T>(&mut self, r: Result<T>) -> Result<T> {
        r.map_err(|e| self.qmp_failure(e))
    }

    fn qmp_failure(&mut self, e: Error) -> Error {
        if e.kind() == ErrorKind::Disconnected {
            self.qemu_failed("QEMU exited during the run")
        } else {
            e
        }
    }

    /// QEMU ended early: kill what is left of it and quote its stderr.
    fn qemu_failed(&mut self, what: &str) -> Error {
        let status = self.guard.finish(Duration::from_millis(500)).ok();
        let stderr = self
            .stderr
            .take()
            .and_then(|h| h.join().ok())
            .unwrap_or_default();
        let first: Vec<&str> = stderr
            .lines()
            .filter(|l| !l.trim().is_empty())
            .take(5)
            .collect();
        let mut msg = what.to_owned();
        if let Some(s) = status {
            msg.push_str(&format!(" ({s})"));
        }
        if !first.is_empty() {
            msg.push_str(": ");
            msg.push_str(&first.join(" / "));
        }
        Error::new(ErrorKind::QemuFailed, msg).with_path(&self.spec.qemu.path)
    }
}

fn epoch_seconds() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settle_needs_a_device() {
        let mut spec = RunSpec::new(crate::launch::QemuBinary::new("/nonexistent"), Vec::new());
        spec.settle = Some(Duration::from_secs(1));
        let e = run_boot(&spec, &AtomicBool::new(false)).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidInput);
    }
}
