//! A libvirtd for integration tests, started when none runs and stopped
//! again when the last test that needed it is done, and test domains that
//! are destroyed and undefined when dropped (also when the test fails).
//!
//! `qemu:///system` has one socket per host, so test binaries cannot each
//! have their own daemon: they share one. [`Libvirtd::acquire`] takes a
//! lock (a directory created atomically under [`STATE_DIR`]), adds the
//! calling process to a holders file, and starts `virtlogd` and `libvirtd`
//! when no libvirtd answers. Dropping the guard removes the process again;
//! the last holder stops the daemons, but only when a test started them (a
//! libvirtd that ran before the tests is left alone). Holders that died
//! without dropping their guard (a killed test binary) are pruned by pid.
//!
//! What a container-like host without systemd needs (found by trying it on
//! Debian 12's libvirt 9.0): the `libvirt-qemu` user, `/var/log/libvirt` and
//! `/var/run/libvirt`, and, so that QEMU can open ISOs in a test's temporary
//! directory, a `/etc/libvirt/qemu.conf` with `user`/`group` root and
//! `security_driver = "none"`. The harness writes that file only when there
//! is none, and removes it when it stops the daemon it started. Without
//! dnsmasq, D-Bus or /dev/mem libvirtd still serves `qemu:///system`.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use crate::{skip, tool};

/// The URI tests use.
pub const URI: &str = "qemu:///system";
/// Where the harness keeps its lock, holders file and state.
pub const STATE_DIR: &str = "/run/isotune-test-libvirtd";
const SOCKET: &str = "/run/libvirt/libvirt-sock";
const QEMU_CONF: &str = "/etc/libvirt/qemu.conf";
const QEMU_LOG_DIR: &str = "/var/log/libvirt/qemu";
const TEST_QEMU_CONF: &str =
    "# Written by isotune's test harness (crates/testutil/src/libvirtd.rs);\n\
# removed when the harness stops the libvirtd it started. Never for production.\n\
user = \"root\"\ngroup = \"root\"\nsecurity_driver = \"none\"\n";

/// A share of the test libvirtd; see the module doc.
#[derive(Debug)]
pub struct Libvirtd {
    pid: u32,
}

impl Libvirtd {
    /// Makes sure libvirtd serves [`URI`], starting it when needed. `None`
    /// (after [`skip`]) when libvirt is not installed or this is not root.
    pub fn acquire() -> Option<Libvirtd> {
        for t in ["libvirtd", "virtlogd", "virsh", "qemu-system-x86_64"] {
            tool(t)?;
        }
        if !is_root() {
            skip("starting libvirtd needs root");
            return None;
        }
        let pid = std::process::id();
        let _lock = Lock::take();
        let mut holders = read_holders();
        if !answers() {
            start();
            std::fs::write(state("started"), b"1").unwrap();
        }
        holders.push(pid);
        write_holders(&holders);
        Some(Libvirtd { pid })
    }
}

impl Drop for Libvirtd {
    fn drop(&mut self) {
        let _lock = Lock::take();
        let mut holders = read_holders();
        if let Some(i) = holders.iter().position(|&p| p == self.pid) {
            holders.remove(i);
        }
        write_holders(&holders);
        if holders.is_empty() && state("started").exists() {
            stop();
            let _ = std::fs::remove_file(state("started"));
        }
    }
}

fn is_root() -> bool {
    // /proc/self/status "Uid: real effective ..."; no libc in this crate.
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(2).map(|u| u == "0"))
        })
        .unwrap_or(false)
}

fn state(name: &str) -> PathBuf {
    Path::new(STATE_DIR).join(name)
}

/// A lock shared by every process: a directory holding its owner's pid.
struct Lock;

impl Lock {
    fn take() -> Lock {
        std::fs::create_dir_all(STATE_DIR).unwrap();
        let dir = state("lock");
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            if std::fs::create_dir(&dir).is_ok() {
                std::fs::write(dir.join("pid"), std::process::id().to_string()).unwrap();
                return Lock;
            }
            // A lock whose owner died is stale.
            let owner = std::fs::read_to_string(dir.join("pid")).ok();
            if let Some(p) = owner.and_then(|s| s.trim().parse::<u32>().ok()) {
                if !alive(p) {
                    let _ = std::fs::remove_dir_all(&dir);
                    continue;
                }
            }
            assert!(
                Instant::now() < deadline,
                "{} held for 120 s",
                dir.display()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Lock {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(state("lock"));
    }
}

fn alive(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

/// The holders still alive (one line per share; a process may hold several).
fn read_holders() -> Vec<u32> {
    std::fs::read_to_string(state("holders"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .filter(|&p| alive(p))
        .collect()
}

fn write_holders(h: &[u32]) {
    let text: String = h.iter().map(|p| format!("{p}\n")).collect();
    std::fs::write(state("holders"), text).unwrap();
}

/// Whether a libvirtd answers on [`URI`].
fn answers() -> bool {
    Path::new(SOCKET).exists() && virsh(&["version"]).is_some()
}

/// Runs `virsh -c URI ARGS` with a 30 s limit; its stdout when it succeeded.
pub fn virsh(args: &[&str]) -> Option<String> {
    let out = Command::new("timeout")
        .args(["30", "virsh", "-q", "-c", URI])
        .args(args)
        .stdin(Stdio::null())
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

fn pid_file(name: &str) -> Option<u32> {
    std::fs::read_to_string(format!("/run/{name}.pid"))
        .ok()?
        .trim()
        .parse()
        .ok()
}

fn start() {
    if Command::new("id")
        .arg("libvirt-qemu")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| !s.success())
        .unwrap_or(true)
    {
        crate::run(Command::new("useradd").args([
            "--system",
            "--no-create-home",
            "--shell",
            "/usr/sbin/nologin",
            "libvirt-qemu",
        ]));
    }
    for d in ["/var/log/libvirt", "/var/run/libvirt"] {
        std::fs::create_dir_all(d).unwrap();
    }
    if !Path::new(QEMU_CONF).exists() {
        std::fs::write(QEMU_CONF, TEST_QEMU_CONF).unwrap();
        std::fs::write(state("wrote-qemu-conf"), b"1").unwrap();
    }
    if !pid_file("virtlogd").is_some_and(alive) {
        crate::run(Command::new("virtlogd").arg("-d"));
        std::fs::write(state("started-virtlogd"), b"1").unwrap();
    }
    crate::run(Command::new("libvirtd").arg("-d"));
    let deadline = Instant::now() + Duration::from_secs(30);
    while !answers() {
        assert!(
            Instant::now() < deadline,
            "libvirtd did not answer on {URI} within 30 s"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn stop() {
    let mut names = vec!["libvirtd"];
    if state("started-virtlogd").exists() {
        names.push("virtlogd");
    }
    for name in names {
        if let Some(pid) = pid_file(name) {
            let _ = Command::new("kill").arg(pid.to_string()).status();
            let deadline = Instant::now() + Duration::from_secs(15);
            while alive_not_zombie(pid) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }
    let _ = std::fs::remove_file(state("started-virtlogd"));
    if state("wrote-qemu-conf").exists() {
        let _ = std::fs::remove_file(QEMU_CONF);
        let _ = std::fs::remove_file(state("wrote-qemu-conf"));
    }
}

fn alive_not_zombie(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| {
            // "pid (comm) S ...": the state follows the last ')'.
            s.rsplit_once(')')
                .and_then(|(_, rest)| rest.split_whitespace().next())
                .is_some_and(|st| st != "Z")
        })
        .unwrap_or(false)
}

/// A unique domain-name prefix for this process: `isotune-test-PID-N-`.
pub fn unique_prefix() -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    format!(
        "isotune-test-{}-{}-",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// A test domain: destroyed and undefined (with its NVRAM) when dropped.
#[derive(Debug)]
pub struct TestDomain {
    /// Its name.
    pub name: String,
}

impl TestDomain {
    /// Defines `xml` (whose `<name>` must be `name`), so it is cleaned up
    /// even when a later step fails. Panics when virsh refuses it.
    pub fn define(name: &str, xml: &str, dir: &Path) -> TestDomain {
        let file = dir.join(format!("{name}.xml"));
        std::fs::write(&file, xml).unwrap();
        let d = TestDomain {
            name: name.to_string(),
        };
        let out = Command::new("timeout")
            .args(["30", "virsh", "-q", "-c", URI, "define"])
            .arg(&file)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "virsh define {name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        d
    }

    /// Starts it; panics with virsh's message when that fails.
    pub fn start(&self) {
        let out = Command::new("timeout")
            .args(["60", "virsh", "-q", "-c", URI, "start", &self.name])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "virsh start {}: {}",
            self.name,
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

impl Drop for TestDomain {
    fn drop(&mut self) {
        let _ = virsh(&["destroy", &self.name]);
        let _ = virsh(&["undefine", "--nvram", &self.name]);
        // libvirt keeps each domain's QEMU log after undefine.
        let _ = std::fs::remove_file(log_file(&self.name));
    }
}

/// Where libvirt writes a domain's QEMU log.
pub fn log_file(name: &str) -> PathBuf {
    Path::new(QEMU_LOG_DIR).join(format!("{name}.log"))
}

/// Files under libvirt's QEMU log directory whose name starts with `prefix`.
pub fn log_files_with_prefix(prefix: &str) -> Vec<PathBuf> {
    std::fs::read_dir(QEMU_LOG_DIR)
        .map(|rd| {
            rd.filter_map(Result::ok)
                .filter(|e| e.file_name().to_string_lossy().starts_with(prefix))
                .map(|e| e.path())
                .collect()
        })
        .unwrap_or_default()
}

/// Names of defined or running domains starting with `prefix`.
pub fn domains_with_prefix(prefix: &str) -> Vec<String> {
    virsh(&["list", "--all", "--name"])
        .unwrap_or_default()
        .lines()
        .map(str::trim)
        .filter(|n| n.starts_with(prefix))
        .map(str::to_string)
        .collect()
}

/// Pids of QEMU processes whose command line names a guest starting with `prefix`.
pub fn qemu_processes_with_prefix(prefix: &str) -> Vec<u32> {
    let needle = format!("guest={prefix}");
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(Result::ok)
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .map(|c| String::from_utf8_lossy(&c).contains(&needle))
                .unwrap_or(false)
        })
        .collect()
}

/// A bootable ISO whose El Torito image is `cli; hlt; jmp $-1`: SeaBIOS
/// reads the descriptors, the boot catalog and the image from the cdrom,
/// then the guest idles without using the host CPU. `data_bytes` of
/// pseudo-random data (from `seed`) make the image bigger and distinct.
/// `None` (after [`skip`]) without xorriso.
pub fn hlt_iso(dir: &Path, name: &str, seed: u64, data_bytes: usize) -> Option<PathBuf> {
    boot_iso(dir, name, &[0xFA, 0xF4, 0xEB, 0xFD], seed, data_bytes)
}

/// A bootable ISO whose boot program waits for the ACPI power button
/// (`virsh shutdown`) and then powers the VM off, so a graceful shutdown
/// completes. PM base 0x600 (SeaBIOS's on pc and q35). Assembled by nasm
/// from:
///
/// ```text
///     cli
///     mov dx, 0x602      ; PM1a_EN: enable the power button event
///     in ax, dx
///     or ax, 0x100
///     out dx, ax
/// poll:
///     mov dx, 0x600      ; PM1a_STS: wait for PWRBTN_STS
///     in ax, dx
///     test ax, 0x100
///     jnz off
///     pause
///     jmp poll
/// off:
///     mov ax, 0x100      ; clear it
///     out dx, ax
///     mov dx, 0x604      ; PM1a_CNT: SLP_EN, SLP_TYP 0 = S5 in QEMU
///     mov ax, 0x2000
///     out dx, ax
///     hlt
///     jmp off
/// ```
pub fn acpi_shutdown_iso(dir: &Path, name: &str) -> Option<PathBuf> {
    const PROGRAM: [u8; 36] = [
        0xfa, 0xba, 0x02, 0x06, 0xed, 0x0d, 0x00, 0x01, 0xef, 0xba, 0x00, 0x06, 0xed, 0xa9, 0x00,
        0x01, 0x75, 0x04, 0xf3, 0x90, 0xeb, 0xf3, 0xb8, 0x00, 0x01, 0xef, 0xba, 0x04, 0x06, 0xb8,
        0x00, 0x20, 0xef, 0xf4, 0xeb, 0xf2,
    ];
    boot_iso(dir, name, &PROGRAM, 1, 2048)
}

/// An El Torito no-emulation ISO booting `program` (padded to one sector),
/// with a `data.bin` of `data_bytes` pseudo-random bytes.
fn boot_iso(
    dir: &Path,
    name: &str,
    program: &[u8],
    seed: u64,
    data_bytes: usize,
) -> Option<PathBuf> {
    let xorriso = tool("xorriso")?;
    let tree = dir.join(format!("{name}-tree"));
    std::fs::create_dir_all(&tree).unwrap();
    let mut img = vec![0u8; 2048];
    img[..program.len()].copy_from_slice(program);
    std::fs::write(tree.join("boot.img"), img).unwrap();
    std::fs::write(
        tree.join("data.bin"),
        crate::Rng::new(seed).bytes(data_bytes),
    )
    .unwrap();
    let iso = dir.join(format!("{name}.iso"));
    crate::run(
        Command::new(xorriso)
            .args(["-as", "mkisofs", "-quiet", "-o"])
            .arg(&iso)
            .args(["-b", "boot.img", "-no-emul-boot", "-boot-load-size", "4"])
            .arg(&tree),
    );
    Some(iso)
}

/// A TCG domain booting from its cdrom, with `devices` (and `extra`
/// elements, e.g. `<metadata>`, before `<os>`). `<features><acpi/>`
/// because libvirt 9.0 otherwise passes `-no-acpi`, which QEMU 9+ rejects.
pub fn tcg_domain_xml(name: &str, machine: &str, devices: &str, extra: &str) -> String {
    format!(
        "<domain type='qemu'><name>{name}</name><memory unit='MiB'>64</memory><vcpu>1</vcpu>\
         {extra}<os><type arch='x86_64' machine='{machine}'>hvm</type><boot dev='cdrom'/></os>\
         <features><acpi/></features><devices><emulator>/usr/bin/qemu-system-x86_64</emulator>\
         {devices}<video><model type='none'/></video></devices></domain>"
    )
}

/// A read-only cdrom `<disk>` on `file`.
pub fn cdrom_disk(file: &Path, format: &str, target: &str, bus: &str) -> String {
    format!(
        "<disk type='file' device='cdrom'><driver name='qemu' type='{format}'/>\
         <source file='{}'/><target dev='{target}' bus='{bus}'/><readonly/></disk>",
        file.display()
    )
}
