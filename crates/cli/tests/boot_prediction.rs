//! Issue "What a boot reads, predicted right": the bytes `isotune inspect`
//! predicts for the default boot (`boot_read.bytes`) against what `isotune
//! boot` measures (QMP `rd_bytes`) up to the kernel's first serial line,
//! for a GRUB image made by grub-mkrescue and an isolinux image made by
//! xorriso, both booting the Debian cloud kernel under SeaBIOS on IDE
//! (TCG, one run each).
//!
//! The issue asks for 20%; the model agrees to about 1% on both images
//! (see docs/inspect.md), so the test also holds it to 5%, which fails
//! when the loader's own files (GRUB modules and their 32 KiB blocks,
//! syslinux modules) are left out.

use isotune_testutil as common;

use std::path::{Path, PathBuf};
use std::process::Command;

use assert_cmd::Command as Bin;
use serde_json::Value;

mod support;
use support::ok_json;

/// The kernel's first line on the serial console.
const FIRST_LINE: &str = "Linux version";

fn kernel() -> Option<PathBuf> {
    let root = std::env::var_os("ISOTUNE_KERNEL_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/var/cache/isotune/kernel"));
    let k = root.join("vmlinuz");
    if k.is_file() {
        Some(k)
    } else {
        common::skip("the test kernel is missing (run scripts/setup)");
        None
    }
}

/// A tree with the kernel and a pseudo-random initrd in `/boot`.
fn tree(dir: &Path, kernel: &Path, seed: u64) -> PathBuf {
    let tree = dir.join("tree");
    std::fs::create_dir_all(tree.join("boot")).unwrap();
    std::fs::copy(kernel, tree.join("boot/vmlinuz")).unwrap();
    let mut rng = common::Rng::new(seed);
    let len = 512 * 1024 + rng.below(512 * 1024) as usize;
    common::put(&tree, "boot/initrd.img", &rng.bytes(len));
    tree
}

fn grub_iso(dir: &Path, kernel: &Path) -> Option<PathBuf> {
    let mkrescue = common::tool("grub-mkrescue")?;
    common::tool("xorriso")?;
    common::tool("mformat")?;
    let tree = tree(dir, kernel, 1);
    common::put(
        &tree,
        "boot/grub/grub.cfg",
        b"serial --unit=0 --speed=115200\nterminal_input serial\nterminal_output serial\n\
          set timeout=0\nmenuentry linux {\n  linux /boot/vmlinuz console=ttyS0\n  initrd /boot/initrd.img\n}\n\
          menuentry 'first disk' {\n  set root=(hd0,msdos1)\n  chainloader +1\n}\n",
    );
    let iso = dir.join("grub.iso");
    common::run(Command::new(mkrescue).arg("-o").arg(&iso).arg(&tree));
    Some(iso)
}

fn isolinux_iso(dir: &Path, kernel: &Path) -> Option<PathBuf> {
    let bin = Path::new("/usr/lib/ISOLINUX/isolinux.bin");
    let modules = Path::new("/usr/lib/syslinux/modules/bios");
    if !bin.is_file() || !modules.join("ldlinux.c32").is_file() {
        common::skip("isolinux / syslinux-common are not installed (run scripts/setup)");
        return None;
    }
    let tree = tree(dir, kernel, 2);
    let iso_dir = tree.join("isolinux");
    std::fs::create_dir_all(&iso_dir).unwrap();
    std::fs::copy(bin, iso_dir.join("isolinux.bin")).unwrap();
    for e in std::fs::read_dir(modules).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "c32") {
            std::fs::copy(&p, iso_dir.join(p.file_name().unwrap())).unwrap();
        }
    }
    common::put(
        &tree,
        "isolinux/isolinux.cfg",
        b"serial 0 115200\nui menu.c32\ntimeout 1\ndefault linux\n\
          label linux\n  kernel /boot/vmlinuz\n  append console=ttyS0 initrd=/boot/initrd.img\n\
          label hd\n  com32 chain.c32\n  append hd0 1\n",
    );
    let iso = dir.join("isolinux.iso");
    common::mkisofs(
        &tree,
        &iso,
        &[
            "-R",
            "-J",
            "-b",
            "isolinux/isolinux.bin",
            "-c",
            "isolinux/boot.cat",
            "-no-emul-boot",
            "-boot-load-size",
            "4",
            "-boot-info-table",
        ],
    )?;
    Some(iso)
}

/// Predicted and measured bytes for `iso`, after checking the prediction
/// is labelled with what it covers.
fn predicted_and_measured(iso: &Path, tmp: &Path) -> (u64, u64, Value) {
    let inspect = ok_json(
        Bin::cargo_bin("isotune")
            .unwrap()
            .args(["inspect", "--json"])
            .arg(iso),
    );
    let estimate = inspect["boot_read"].clone();
    let boot = ok_json(
        Bin::cargo_bin("isotune")
            .unwrap()
            .env("TMPDIR", tmp)
            .args(["boot", "--accel", "tcg", "--json", "--bus", "ide"])
            .args(["--runs", "1", "--timeout", "120", "--until", FIRST_LINE])
            .arg(iso),
    );
    let run = &boot["configs"][0]["runs"][0];
    assert_eq!(run["end"], "marker", "{run:#}");
    let measured = run["rd_bytes"].as_u64().unwrap();
    (estimate["bytes"].as_u64().unwrap(), measured, estimate)
}

fn check(name: &str, predicted: u64, measured: u64) {
    let ratio = predicted as f64 / measured as f64;
    eprintln!("{name}: predicted {predicted} bytes, measured {measured} bytes, ratio {ratio:.4}");
    assert!((0.8..=1.2).contains(&ratio), "{name}: ratio {ratio}");
    assert!((0.95..=1.05).contains(&ratio), "{name}: ratio {ratio}");
}

#[test]
fn predicted_boot_bytes_match_a_real_boot_grub_and_isolinux() {
    if common::tool("qemu-system-x86_64").is_none() {
        return;
    }
    let Some(kernel) = kernel() else { return };
    let work = tempfile::tempdir_in("/var/tmp").unwrap();
    let tmp = tempfile::tempdir_in("/var/tmp").unwrap();

    let grub_dir = work.path().join("grub");
    std::fs::create_dir_all(&grub_dir).unwrap();
    let Some(grub) = grub_iso(&grub_dir, &kernel) else {
        return;
    };
    let (predicted, measured, estimate) = predicted_and_measured(&grub, tmp.path());
    let covers = estimate["covers"].as_array().unwrap();
    for part in ["firmware", "loader", "loader-modules", "kernel", "initrd"] {
        assert!(covers.iter().any(|c| c == part), "{part}: {estimate:#}");
    }
    assert_eq!(estimate["block_bytes"], 32768, "{estimate:#}");
    check("grub", predicted, measured);

    let iso_dir = work.path().join("isolinux");
    std::fs::create_dir_all(&iso_dir).unwrap();
    let Some(isolinux) = isolinux_iso(&iso_dir, &kernel) else {
        return;
    };
    let (predicted, measured, estimate) = predicted_and_measured(&isolinux, tmp.path());
    assert!(estimate.get("block_bytes").is_none(), "{estimate:#}");
    assert!(
        estimate["covers"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c == "loader-modules"),
        "{estimate:#}"
    );
    check("isolinux", predicted, measured);
}
