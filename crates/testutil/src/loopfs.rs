//! An ISO on ext4 on a real loop device (losetup, mount; needs root), for
//! the tests of `isotune tune` and of the drift `fleet report` shows: the
//! loop device's readahead is lowered to 16 KiB so the doctor reports
//! `storage.low-readahead`, and `tune apply` has a real sysfs value and a
//! udev rule under `--root` to change. Every loop device is detached and
//! every mount unmounted when the [`LoopFs`] is dropped, also when a test
//! fails.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::{mkisofs, put, run, skip, tool, Rng};

/// The ISO, its filesystem, loop device and mount, in a temporary directory.
#[derive(Debug)]
pub struct LoopFs {
    /// Holds everything: the image, the mount point, `root/`, `state/`.
    pub dir: tempfile::TempDir,
    /// The loop device (`/dev/loop3`).
    pub dev: String,
    mounted: bool,
}

fn is_root() -> bool {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

impl LoopFs {
    /// Builds and mounts it; `None` (after [`skip`]) without root, mke2fs,
    /// losetup or xorriso.
    pub fn new() -> Option<LoopFs> {
        if !is_root() {
            skip("needs root (losetup, mount, sysfs writes)");
            return None;
        }
        let mke2fs = tool("mke2fs")?;
        tool("losetup")?;
        // Not tmpfs: the loop device's backing file must be a real file.
        let dir = tempfile::Builder::new()
            .prefix("isotune-tune-test.")
            .tempdir_in("/var/tmp")
            .unwrap();
        let content = dir.path().join("content");
        put(&content, "boot/boot.img", &Rng::new(1).bytes(8192));
        put(&content, "data.bin", &Rng::new(2).bytes(200_000));
        let stage = dir.path().join("stage");
        std::fs::create_dir_all(&stage).unwrap();
        mkisofs(
            &content,
            &stage.join("test.iso"),
            &["-R", "-b", "boot/boot.img", "-no-emul-boot"],
        )?;
        let img = dir.path().join("fs.img");
        run(Command::new(mke2fs)
            .args(["-q", "-t", "ext4", "-d"])
            .arg(&stage)
            .arg(&img)
            .arg("8M"));
        let dev = run(Command::new("losetup").args(["-f", "--show"]).arg(&img))
            .trim()
            .to_owned();
        let mut fs = LoopFs {
            dir,
            dev,
            mounted: false,
        };
        std::fs::create_dir_all(fs.mnt()).unwrap();
        run(Command::new("mount")
            .args(["-o", "ro", &fs.dev])
            .arg(fs.mnt()));
        fs.mounted = true;
        fs.set_readahead("16");
        for d in ["root", "state"] {
            std::fs::create_dir_all(fs.dir.path().join(d)).unwrap();
        }
        Some(fs)
    }

    /// The mount point.
    pub fn mnt(&self) -> PathBuf {
        self.dir.path().join("mnt")
    }
    /// The ISO on the mounted filesystem.
    pub fn iso(&self) -> PathBuf {
        self.mnt().join("test.iso")
    }
    /// A scratch tree for `tune --root`.
    pub fn root(&self) -> PathBuf {
        self.dir.path().join("root")
    }
    /// A scratch directory for `tune --state-dir`.
    pub fn state(&self) -> PathBuf {
        self.dir.path().join("state")
    }
    /// The loop device's backing file.
    pub fn backing_file(&self) -> PathBuf {
        self.dir.path().join("fs.img")
    }
    /// The loop device's `read_ahead_kb`.
    pub fn sysfs(&self) -> PathBuf {
        let name = Path::new(&self.dev).file_name().unwrap().to_owned();
        Path::new("/sys/block")
            .join(name)
            .join("queue/read_ahead_kb")
    }
    /// Its value now.
    pub fn readahead(&self) -> String {
        std::fs::read_to_string(self.sysfs())
            .unwrap()
            .trim()
            .to_owned()
    }
    /// Writes it behind isotune's back.
    pub fn set_readahead(&self, v: &str) {
        std::fs::write(self.sysfs(), v).unwrap();
    }
    /// The udev rule `tune apply` writes under [`LoopFs::root`].
    pub fn rule_file(&self) -> PathBuf {
        self.root()
            .join("etc/udev/rules.d/60-isotune-readahead.rules")
    }
}

impl Drop for LoopFs {
    fn drop(&mut self) {
        if self.mounted {
            let _ = Command::new("umount").arg(self.mnt()).status();
        }
        let _ = Command::new("losetup").args(["-d", &self.dev]).status();
    }
}
