//! Boot workloads built from distribution packages, and a small QEMU
//! harness to boot them in tests.
//!
//! [`grub_iso`] and [`linux_iso`] make ISOs that boot the way installers
//! do (GRUB reading files, a kernel and initrd reading the cdrom) and print
//! `isotune: ...` marker lines on the first serial port, then power off.
//! [`Qemu`] starts `qemu-system-x86_64` with a serial log and a QMP socket
//! in a test directory and kills it when dropped.
//!
//! Every builder returns `None` when a tool or file it needs is missing
//! (and panics under `ISOTUNE_REQUIRE_TOOLS=1`, see [`crate::tool`]).

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use crate::{run, tool};

/// Serial line GRUB prints before reading the payload.
pub const GRUB_START: &str = "isotune: grub-start";
/// Serial line GRUB prints after reading the payload.
pub const GRUB_DONE: &str = "isotune: grub-done";
/// Serial line the initramfs prints once its modules are loaded.
pub const LINUX_START: &str = "isotune: linux-start";
/// Serial line the initramfs prints once the cdrom is mounted.
pub const LINUX_MOUNTED: &str = "isotune: mounted";
/// Serial line the initramfs prints after reading the payload.
pub const LINUX_DONE: &str = "isotune: linux-done";

/// OVMF firmware code (package `ovmf`).
pub const OVMF_CODE: &str = "/usr/share/OVMF/OVMF_CODE_4M.fd";
/// OVMF variable store template (package `ovmf`).
pub const OVMF_VARS: &str = "/usr/share/OVMF/OVMF_VARS_4M.fd";

/// Pseudo-random payload bytes from a fixed seed ([`crate::Rng`]): not
/// compressible, and the same on every run.
fn write_payload(path: &Path, bytes: u64) {
    let mut out = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    let mut rng = crate::Rng::new(0x9E37_79B9_7F4A_7C15);
    let mut buf = vec![0u8; 1 << 20];
    let mut written = 0u64;
    while written < bytes {
        rng.fill(&mut buf);
        let n = (bytes - written).min(buf.len() as u64) as usize;
        out.write_all(&buf[..n]).unwrap();
        written += n as u64;
    }
    out.flush().unwrap();
}

/// The serial console lines every grub.cfg starts with.
const GRUB_SERIAL: &str = "\
serial --unit=0 --speed=115200
terminal_input serial
terminal_output serial
set timeout=0
";

/// Builds `dir/grub.iso` with `grub-mkrescue` (BIOS and UEFI: packages
/// `grub-common`, `grub-pc-bin`, `grub-efi-amd64-bin`, `xorriso`,
/// `mtools`). Its grub.cfg loads the Debian cloud kernel (see
/// [`linux_iso`]), prints [`GRUB_START`], loads `/boot/payload`
/// (`payload_bytes` of pseudo-random data) as the initrd, the way an
/// installer's GRUB loads its initrd (one plain read of the whole file),
/// prints [`GRUB_DONE`] and runs `halt`, which powers the VM off under
/// SeaBIOS and OVMF. The kernel is never started.
pub fn grub_iso(dir: &Path, payload_bytes: u64) -> Option<PathBuf> {
    let (vmlinuz, _) = kernel_dir()?;
    let cfg = format!(
        "{GRUB_SERIAL}linux /boot/vmlinuz\n\
         echo {GRUB_START}\n\
         initrd /boot/payload\n\
         echo {GRUB_DONE}\n\
         halt\n"
    );
    mkrescue(dir, "grub", &cfg, payload_bytes, &[("vmlinuz", &vmlinuz)])
}

/// Serial line the menu entry of [`grub_menu_iso`] prints once chosen.
pub const GRUB_CHOSEN: &str = "isotune: menu-entry-chosen";

/// Builds `dir/grub-menu.iso`: GRUB shows a menu with `timeout=-1`, which
/// waits for ever, the way an installer's menu waits for a key. Its input
/// is the keyboard (so QMP `send-key` reaches it) and the serial port, its
/// output the serial port. The first entry prints [`GRUB_CHOSEN`], loads
/// the kernel, prints [`GRUB_START`], loads `payload_bytes` of
/// `/boot/payload` as the initrd (as [`grub_iso`] does), prints
/// [`GRUB_DONE`] and powers off.
pub fn grub_menu_iso(dir: &Path, payload_bytes: u64) -> Option<PathBuf> {
    let (vmlinuz, _) = kernel_dir()?;
    let cfg = format!(
        "serial --unit=0 --speed=115200\n\
         terminal_input console serial\n\
         terminal_output serial\n\
         set timeout=-1\n\
         menuentry \"isotune install\" {{\n\
           echo {GRUB_CHOSEN}\n\
           linux /boot/vmlinuz\n\
           echo {GRUB_START}\n\
           initrd /boot/payload\n\
           echo {GRUB_DONE}\n\
           halt\n\
         }}\n\
         menuentry \"other\" {{\n\
           halt\n\
         }}\n"
    );
    mkrescue(
        dir,
        "grub-menu",
        &cfg,
        payload_bytes,
        &[("vmlinuz", &vmlinuz)],
    )
}

/// Where Debian's `isolinux` and `syslinux-common` put their files.
const ISOLINUX_BIN: &str = "/usr/lib/ISOLINUX/isolinux.bin";
const SYSLINUX_MODULES: &str = "/usr/lib/syslinux/modules/bios";

/// Builds `dir/isolinux-menu.iso`: isolinux on the serial port with a
/// `boot:` prompt and a 5 s `TIMEOUT` (as installers ship), whose default
/// entry powers the VM off (`poweroff.c32`). Packages `isolinux`,
/// `syslinux-common`, `xorriso`.
pub fn isolinux_menu_iso(dir: &Path) -> Option<PathBuf> {
    let xorriso = tool("xorriso")?;
    if !Path::new(ISOLINUX_BIN).is_file() {
        crate::skip("isolinux is not installed (packages isolinux, syslinux-common)");
        return None;
    }
    let tree = dir.join("isolinux-tree");
    std::fs::create_dir_all(tree.join("isolinux")).unwrap();
    std::fs::copy(ISOLINUX_BIN, tree.join("isolinux/isolinux.bin")).unwrap();
    for m in ["ldlinux.c32", "poweroff.c32", "libcom32.c32", "libutil.c32"] {
        std::fs::copy(
            Path::new(SYSLINUX_MODULES).join(m),
            tree.join("isolinux").join(m),
        )
        .unwrap();
    }
    crate::put(
        &tree,
        "isolinux/isolinux.cfg",
        b"SERIAL 0 115200\nPROMPT 1\nTIMEOUT 50\nDEFAULT off\nLABEL off\n  COM32 poweroff.c32\n",
    );
    let iso = dir.join("isolinux-menu.iso");
    run(Command::new(xorriso)
        .args(["-as", "mkisofs", "-quiet", "-o"])
        .arg(&iso)
        .args(["-b", "isolinux/isolinux.bin", "-c", "isolinux/boot.cat"])
        .args(["-no-emul-boot", "-boot-load-size", "4", "-boot-info-table"])
        .arg(&tree)
        .stderr(Stdio::piped()));
    Some(iso)
}

/// Runs grub-mkrescue on a tree holding `grub.cfg`, the payload and `extra`
/// files (name in `/boot`, host path); the image is `dir/NAME.iso`.
fn mkrescue(
    dir: &Path,
    name: &str,
    cfg: &str,
    payload_bytes: u64,
    extra: &[(&str, &Path)],
) -> Option<PathBuf> {
    let mkrescue = tool("grub-mkrescue")?;
    tool("xorriso")?;
    tool("mformat")?;
    let tree = dir.join(format!("{name}-tree"));
    crate::put(&tree, "boot/grub/grub.cfg", cfg.as_bytes());
    write_payload(&tree.join("boot/payload"), payload_bytes);
    for (file, src) in extra {
        std::fs::copy(src, tree.join("boot").join(file)).unwrap();
    }
    let iso = dir.join(format!("{name}.iso"));
    run(Command::new(mkrescue)
        .arg("-o")
        .arg(&iso)
        .arg(&tree)
        .stderr(Stdio::piped()));
    Some(iso)
}

/// Kernel modules the initramfs loads, in dependency order (from the
/// modules' `depends=`), with their paths under `kernel/`.
const MODULES: &[&str] = &[
    "drivers/scsi/scsi_common.ko",
    "drivers/scsi/scsi_mod.ko",
    "drivers/cdrom/cdrom.ko",
    "drivers/scsi/sr_mod.ko",
    "drivers/ata/libata.ko",
    "drivers/ata/ata_piix.ko",
    "drivers/virtio/virtio_ring.ko",
    "drivers/virtio/virtio.ko",
    "drivers/virtio/virtio_pci_modern_dev.ko",
    "drivers/virtio/virtio_pci_legacy_dev.ko",
    "drivers/virtio/virtio_pci.ko",
    "drivers/scsi/virtio_scsi.ko",
    "fs/isofs/isofs.ko",
];

/// The initramfs `/init` (busybox ash).
const INIT: &str = r#"#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
for m in /lib/modules/*.ko; do insmod "$m" 2>/dev/null; done
echo "isotune: linux-start"
i=0
while [ ! -b /dev/sr0 ] && [ $i -lt 300 ]; do sleep 0.1; i=$((i+1)); done
if mount -t iso9660 -o ro /dev/sr0 /mnt; then
  echo "isotune: mounted"
  cat /mnt/boot/payload > /dev/null && echo "isotune: linux-done"
else
  echo "isotune: error cannot mount /dev/sr0"
fi
poweroff -f
"#;

/// The Debian cloud kernel unpacked by `scripts/setup`: `vmlinuz` and the
/// module directory of its one version.
fn kernel_dir() -> Option<(PathBuf, PathBuf)> {
    let root = std::env::var_os("ISOTUNE_KERNEL_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/var/cache/isotune/kernel"));
    let vmlinuz = root.join("vmlinuz");
    let version = std::fs::read_dir(root.join("modules"))
        .ok()
        .and_then(|mut d| d.next())
        .and_then(|e| e.ok())
        .map(|e| e.path());
    match (vmlinuz.is_file(), version) {
        (true, Some(modules)) => Some((vmlinuz, modules)),
        _ => {
            crate::skip(&format!(
                "the test kernel is missing in {} (run scripts/setup)",
                root.display()
            ));
            None
        }
    }
}

/// Builds `dir/linux.iso`: GRUB (as [`grub_iso`]) boots the Debian cloud
/// kernel unpacked by `scripts/setup` (`$ISOTUNE_KERNEL_DIR` or
/// `/var/cache/isotune/kernel`; package `linux-image-cloud-amd64`) with a
/// busybox initramfs (packages `busybox-static`, `gzip`). The initramfs
/// loads the IDE (ata_piix), virtio-scsi, sr and isofs modules, prints
/// [`LINUX_START`], mounts `/dev/sr0` and prints [`LINUX_MOUNTED`], reads
/// `/boot/payload` (`payload_bytes`) with `cat`, prints [`LINUX_DONE`] and
/// powers off. Console on ttyS0; give the guest 512 MiB.
pub fn linux_iso(dir: &Path, payload_bytes: u64) -> Option<PathBuf> {
    let (vmlinuz, modules) = kernel_dir()?;
    let busybox = ["/bin/busybox", "/usr/bin/busybox"]
        .into_iter()
        .map(PathBuf::from)
        .find(|p| p.is_file());
    let Some(busybox) = busybox else {
        tool("busybox")?;
        return None;
    };
    let gzip = tool("gzip")?;
    let mut files: Vec<(String, u32, Vec<u8>)> = vec![
        ("init".into(), 0o100755, INIT.as_bytes().to_vec()),
        (
            "bin/busybox".into(),
            0o100755,
            std::fs::read(&busybox).unwrap(),
        ),
    ];
    for m in MODULES {
        let path = modules.join("kernel").join(m);
        if let Ok(data) = std::fs::read(&path) {
            let name = Path::new(m).file_name().unwrap().to_string_lossy();
            // A numbered prefix keeps the shell glob in dependency order.
            files.push((
                format!("lib/modules/{:02}-{name}", files.len()),
                0o100644,
                data,
            ));
        }
    }
    let dirs = ["bin", "dev", "lib", "lib/modules", "mnt", "proc", "sys"];
    let cpio = newc(&dirs, &files);
    let initrd = dir.join("initrd.gz");
    let mut child = Command::new(gzip)
        .args(["-n", "-1", "-c"])
        .stdin(Stdio::piped())
        .stdout(std::fs::File::create(&initrd).unwrap())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(&cpio).unwrap();
    assert!(child.wait().unwrap().success(), "gzip failed");
    let cfg = format!(
        "{GRUB_SERIAL}menuentry linux {{\n\
         linux /boot/vmlinuz console=ttyS0 quiet\n\
         initrd /boot/initrd.gz\n\
         boot\n}}\n"
    );
    mkrescue(
        dir,
        "linux",
        &cfg,
        payload_bytes,
        &[("vmlinuz", &vmlinuz), ("initrd.gz", &initrd)],
    )
}

/// A cpio archive in the "newc" format the kernel unpacks as initramfs:
/// `dirs` (mode 0755), then `files` (name, mode with type bits, data).
pub fn newc(dirs: &[&str], files: &[(String, u32, Vec<u8>)]) -> Vec<u8> {
    fn entry(out: &mut Vec<u8>, ino: u32, name: &str, mode: u32, data: &[u8]) {
        let nlink = if mode & 0o040000 != 0 { 2 } else { 1 };
        let header = format!(
            "070701{ino:08X}{mode:08X}{:08X}{:08X}{nlink:08X}{:08X}{:08X}\
             {:08X}{:08X}{:08X}{:08X}{:08X}{:08X}",
            0,
            0,
            0,
            data.len(),
            0,
            0,
            0,
            0,
            name.len() + 1,
            0
        );
        out.extend_from_slice(header.as_bytes());
        out.extend_from_slice(name.as_bytes());
        out.push(0);
        out.resize(out.len().next_multiple_of(4), 0);
        out.extend_from_slice(data);
        out.resize(out.len().next_multiple_of(4), 0);
    }
    let mut out = Vec::new();
    let mut ino = 1;
    for d in dirs {
        entry(&mut out, ino, d, 0o040755, &[]);
        ino += 1;
    }
    for (name, mode, data) in files {
        entry(&mut out, ino, name, *mode, data);
        ino += 1;
    }
    entry(&mut out, 0, "TRAILER!!!", 0, &[]);
    out
}

/// The cdrom controllers the boot tests cover.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CdBus {
    /// `-cdrom`: the machine's built-in IDE (pc) or AHCI (q35) controller.
    Builtin,
    /// An `ahci` PCI controller with an `ide-cd` on port 0.
    Ahci,
    /// A `virtio-scsi-pci` controller with a `scsi-cd`.
    VirtioScsi,
}

/// QEMU arguments that attach `iso` as the boot cdrom on `bus`.
pub fn cdrom_args(bus: CdBus, iso: &Path) -> Vec<String> {
    let drive = format!(
        "if=none,id=cd0,file={},media=cdrom,readonly=on,format=raw",
        iso.display()
    );
    let v: Vec<String> = match bus {
        CdBus::Builtin => return vec!["-cdrom".into(), iso.display().to_string()],
        CdBus::Ahci => vec![
            "-device".into(),
            "ahci,id=ahci0".into(),
            "-drive".into(),
            drive,
            "-device".into(),
            "ide-cd,bus=ahci0.0,drive=cd0,bootindex=1".into(),
        ],
        CdBus::VirtioScsi => vec![
            "-device".into(),
            "virtio-scsi-pci,id=scsi0".into(),
            "-drive".into(),
            drive,
            "-device".into(),
            "scsi-cd,bus=scsi0.0,drive=cd0,bootindex=1".into(),
        ],
    };
    v
}

/// A running `qemu-system-x86_64`, killed when dropped. Tests that only
/// need a paused QEMU (its command line, the files it holds open, QMP)
/// pass `-S` in the arguments.
#[derive(Debug)]
pub struct Qemu {
    child: Child,
    started: Instant,
    serial: PathBuf,
    qmp: PathBuf,
}

impl Qemu {
    /// Starts QEMU under TCG with no display, no default devices, COM1
    /// logged to `dir/serial.log` and a QMP socket at `dir/qmp.sock`, plus
    /// `args` (machine, drives, `-action`...). `None` without QEMU.
    pub fn spawn(dir: &Path, args: &[&str]) -> Option<Qemu> {
        let qemu = tool("qemu-system-x86_64")?;
        let serial = dir.join("serial.log");
        let qmp = dir.join("qmp.sock");
        let _ = std::fs::remove_file(&serial);
        let _ = std::fs::remove_file(&qmp);
        let child = Command::new(qemu)
            .args(["-accel", "tcg", "-display", "none", "-nodefaults"])
            .arg("-no-user-config")
            .arg("-serial")
            .arg(format!("file:{}", serial.display()))
            .arg("-qmp")
            .arg(format!("unix:{},server=on,wait=off", qmp.display()))
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("cannot start qemu-system-x86_64");
        Some(Qemu {
            child,
            started: Instant::now(),
            serial,
            qmp,
        })
    }

    /// The QEMU process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// `None` while QEMU runs; once it has exited, its status and what it
    /// wrote on stderr (why it refused its arguments).
    pub fn exited(&mut self) -> Option<(ExitStatus, String)> {
        let status = self.child.try_wait().ok()??;
        let mut stderr = String::new();
        if let Some(mut e) = self.child.stderr.take() {
            let _ = e.read_to_string(&mut stderr);
        }
        Some((status, stderr))
    }

    /// QEMU's argv as the kernel shows it (`/proc/PID/cmdline`).
    pub fn cmdline(&self) -> Vec<String> {
        let raw = std::fs::read(format!("/proc/{}/cmdline", self.pid()))
            .expect("cannot read QEMU's /proc/PID/cmdline");
        raw.split(|b| *b == 0)
            .filter(|a| !a.is_empty())
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect()
    }

    /// What the guest wrote on COM1 so far.
    pub fn serial(&self) -> String {
        String::from_utf8_lossy(&std::fs::read(&self.serial).unwrap_or_default()).into_owned()
    }

    /// Whether a serial line starts with `prefix` once terminal escape
    /// sequences are removed (GRUB and OVMF clear the screen at the start
    /// of the line they print next).
    fn seen(&self, prefix: &str) -> bool {
        // GRUB ends lines with "\n\r": split on both.
        self.serial()
            .split(['\r', '\n'])
            .any(|l| strip_ansi(l).starts_with(prefix))
    }

    /// Waits until a serial line starts with `prefix`; returns the time
    /// since QEMU started, or `None` on timeout or when QEMU exits first.
    pub fn wait_line(&mut self, prefix: &str, timeout: Duration) -> Option<Duration> {
        loop {
            if self.seen(prefix) {
                return Some(self.started.elapsed());
            }
            let exited = matches!(self.child.try_wait(), Ok(Some(_)));
            if exited || self.started.elapsed() > timeout {
                // One last look: the line may have landed as QEMU exited.
                return self.seen(prefix).then(|| self.started.elapsed());
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Waits for QEMU to exit; `None` on timeout.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            if self.started.elapsed() > timeout {
                return None;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Runs one QMP command (a JSON object as text) and returns the
    /// response line (`{"return": ...}` or `{"error": ...}`), skipping
    /// events.
    pub fn qmp(&self, command: &str) -> String {
        let stream = UnixStream::connect(&self.qmp).expect("cannot connect to QMP");
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let mut reader = BufReader::new(stream.try_clone().unwrap());
        let mut writer = stream;
        let mut line = String::new();
        let mut response = |reader: &mut BufReader<UnixStream>| loop {
            line.clear();
            reader.read_line(&mut line).expect("QMP read");
            assert!(!line.is_empty(), "QMP closed");
            if line.contains("\"return\"") || line.contains("\"error\"") {
                return line.clone();
            }
        };
        reader.read_line(&mut String::new()).expect("QMP greeting");
        writer
            .write_all(b"{\"execute\":\"qmp_capabilities\"}\n")
            .unwrap();
        response(&mut reader);
        writer.write_all(command.as_bytes()).unwrap();
        writer.write_all(b"\n").unwrap();
        response(&mut reader)
    }
}

impl Drop for Qemu {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `line` without ANSI escape sequences (`ESC [ ... final` and two-byte
/// `ESC x`).
pub fn strip_ansi(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c != '\x1b' {
            out.push(c);
            continue;
        }
        if chars.next() == Some('[') {
            for c in chars.by_ref() {
                if ('\x40'..='\x7e').contains(&c) {
                    break;
                }
            }
        }
    }
    out
}

/// Arguments that boot OVMF (package `ovmf`): the firmware code read-only
/// and a writable copy of the variable store in `dir`. `None` (or a panic
/// under `ISOTUNE_REQUIRE_TOOLS=1`) when OVMF is not installed.
pub fn ovmf_args(dir: &Path) -> Option<Vec<String>> {
    if !Path::new(OVMF_CODE).is_file() || !Path::new(OVMF_VARS).is_file() {
        crate::skip("OVMF is not installed (package ovmf; run scripts/setup)");
        return None;
    }
    let vars = dir.join("OVMF_VARS.fd");
    std::fs::copy(OVMF_VARS, &vars).unwrap();
    Some(vec![
        "-drive".into(),
        format!("if=pflash,format=raw,unit=0,readonly=on,file={OVMF_CODE}"),
        "-drive".into(),
        format!("if=pflash,format=raw,unit=1,file={}", vars.display()),
    ])
}
