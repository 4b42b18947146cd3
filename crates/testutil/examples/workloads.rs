//! Writes the GRUB and Linux boot workloads of the tests into a directory,
//! for `scripts/bench/boot.sh` and for trying `isotune boot` by hand:
//!
//! ```text
//! cargo run -p isotune-testutil --example workloads -- OUTDIR [PAYLOAD_MIB]
//! ```
//!
//! Needs grub-mkrescue (grub-common, grub-pc-bin, grub-efi-amd64-bin,
//! mtools, xorriso), busybox-static and the kernel unpacked by scripts/setup.

use std::path::PathBuf;

fn main() {
    let mut args = std::env::args().skip(1);
    let Some(dir) = args.next().map(PathBuf::from) else {
        eprintln!("usage: workloads OUTDIR [PAYLOAD_MIB]");
        std::process::exit(2);
    };
    let mib: u64 = args.next().and_then(|s| s.parse().ok()).unwrap_or(64);
    for sub in ["grub", "linux"] {
        std::fs::create_dir_all(dir.join(sub)).expect("cannot create OUTDIR");
    }
    for (name, iso) in [
        (
            "grub",
            isotune_testutil::boot::grub_iso(&dir.join("grub"), mib << 20),
        ),
        (
            "linux",
            isotune_testutil::boot::linux_iso(&dir.join("linux"), mib << 20),
        ),
    ] {
        match iso {
            Some(p) => println!("{name} {}", p.display()),
            None => {
                eprintln!("{name}: a tool it needs is missing");
                std::process::exit(1);
            }
        }
    }
}
