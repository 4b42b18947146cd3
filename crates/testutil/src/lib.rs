#![forbid(unsafe_code)]
//! Helpers shared by the integration tests of every isotune crate: finding the real
//! tools (xorriso, genisoimage, isoinfo) and running them.
//!
//! A test that needs a tool calls [`tool`]. When the tool is missing the test
//! is skipped with a note on stderr, unless `ISOTUNE_REQUIRE_TOOLS=1` is set
//! (as `scripts/test` does), in which case it fails: CI never passes by
//! skipping.

use std::path::{Path, PathBuf};
use std::process::Command;

pub mod boot;
pub mod exporter;
pub mod http;
pub mod libvirtd;
pub mod loopfs;
pub mod rangeserver;
pub mod tls;

/// Returns the path of `name` on PATH, `None` when it is missing and missing
/// tools are allowed, and panics when `ISOTUNE_REQUIRE_TOOLS=1`.
pub fn tool(name: &str) -> Option<PathBuf> {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(name))
            .find(|p| p.is_file())
    });
    if found.is_none() {
        skip(&format!("`{name}` is not installed (run scripts/setup)"));
    }
    found
}

/// Skips the calling test for `reason` (a missing tool, no root, no io_uring,
/// tmpfs where a disk filesystem is needed, ...): under
/// `ISOTUNE_REQUIRE_TOOLS=1` it panics instead, so CI never passes by
/// skipping. Otherwise it notes the skip on stderr and, when
/// `ISOTUNE_SKIP_LOG` names a file, appends one line to it, which
/// `scripts/test` counts as a skipped test. Call it and `return`:
///
/// ```ignore
/// if !is_root() { return isotune_testutil::skip("needs root"); }
/// ```
pub fn skip(reason: &str) {
    if std::env::var("ISOTUNE_REQUIRE_TOOLS").as_deref() == Ok("1") {
        panic!("required for this test but unavailable (ISOTUNE_REQUIRE_TOOLS=1): {reason}");
    }
    let name = std::thread::current()
        .name()
        .unwrap_or("unnamed test")
        .to_owned();
    eprintln!("skipping {name}: {reason}");
    if let Some(log) = std::env::var_os("ISOTUNE_SKIP_LOG") {
        use std::io::Write;
        if let Ok(mut f) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
        {
            let _ = writeln!(f, "{name}\t{reason}");
        }
    }
}

/// A small deterministic PRNG (xorshift64*) for test data: the same seed
/// gives the same bytes on every machine. Not for anything but tests.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator from `seed` (0 is replaced by a fixed non-zero value).
    pub fn new(seed: u64) -> Self {
        Self(if seed == 0 {
            0x9E37_79B9_7F4A_7C15
        } else {
            seed
        })
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A value in `0..n` (`n` > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }

    /// Fills `buf` with random bytes.
    pub fn fill(&mut self, buf: &mut [u8]) {
        for chunk in buf.chunks_mut(8) {
            let v = self.next_u64().to_le_bytes();
            chunk.copy_from_slice(&v[..chunk.len()]);
        }
    }

    /// `len` random bytes.
    pub fn bytes(&mut self, len: usize) -> Vec<u8> {
        let mut v = vec![0u8; len];
        self.fill(&mut v);
        v
    }
}

/// Runs a command to completion and returns its stdout; panics with its
/// stderr when it fails.
pub fn run(cmd: &mut Command) -> String {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed with {}:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Writes `content` to `root/rel`, creating parent directories.
pub fn put(root: &Path, rel: &str, content: &[u8]) {
    let p = root.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, content).unwrap();
}

/// Builds `iso` from the directory `tree` with `xorriso -as mkisofs -quiet
/// ARGS -o ISO TREE`; `None` when xorriso is missing (see [`tool`]).
pub fn mkisofs(tree: &Path, iso: &Path, args: &[&str]) -> Option<()> {
    let xorriso = tool("xorriso")?;
    run(Command::new(xorriso)
        .args(["-as", "mkisofs", "-quiet"])
        .args(args)
        .arg("-o")
        .arg(iso)
        .arg(tree));
    Some(())
}

/// Builds `iso` as an isolinux-booting image (isolinux.bin and its config
/// naming a 1.5 MB kernel and a 3 MB initrd, plus a 2 MB file no boot
/// reads) from a tree made under `dir`; `None` without xorriso.
pub fn isolinux_image(dir: &Path, iso: &Path) -> Option<()> {
    let tree = dir.join("tree");
    put(&tree, "isolinux/isolinux.bin", &[0x55; 8192]);
    put(
        &tree,
        "isolinux/isolinux.cfg",
        b"DEFAULT linux\nLABEL linux\n  KERNEL /live/vmlinuz\n  APPEND initrd=/live/initrd.img\n",
    );
    put(&tree, "live/vmlinuz", &vec![7; 1_500_000]);
    put(&tree, "live/initrd.img", &vec![9; 3_000_000]);
    put(&tree, "other/data.bin", &vec![1; 2_000_000]);
    mkisofs(
        &tree,
        iso,
        &[
            "-R",
            "-J",
            "-b",
            "isolinux/isolinux.bin",
            "-no-emul-boot",
            "-boot-load-size",
            "4",
        ],
    )
}

/// A small El Torito ISO built in `dir` as `NAME.iso`: `isolinux/isolinux.bin`
/// as the no-emulation boot image and a `casper/vmlinuz` of `kernel_bytes`
/// random bytes (Rock Ridge). `None` when xorriso is missing (see [`tool`]).
pub fn boot_iso(dir: &Path, name: &str, kernel_bytes: usize) -> Option<PathBuf> {
    let tree = dir.join(format!("{name}-tree"));
    put(&tree, "isolinux/isolinux.bin", &[0xAB; 4096]);
    put(&tree, "casper/vmlinuz", &Rng::new(7).bytes(kernel_bytes));
    let iso = dir.join(format!("{name}.iso"));
    mkisofs(
        &tree,
        &iso,
        &["-R", "-b", "isolinux/isolinux.bin", "-no-emul-boot"],
    )?;
    Some(iso)
}
