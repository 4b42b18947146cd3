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

/// Returns the path of `name` on PATH, `None` when it is missing and missing
/// tools are allowed, and panics when `ISOTUNE_REQUIRE_TOOLS=1`.
pub fn tool(name: &str) -> Option<PathBuf> {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(name))
            .find(|p| p.is_file())
    });
    if found.is_none() {
        if std::env::var("ISOTUNE_REQUIRE_TOOLS").as_deref() == Ok("1") {
            panic!("required tool `{name}` is not installed (run scripts/setup)");
        }
        eprintln!("skipping: `{name}` is not installed");
    }
    found
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
