//! What the libvirt `tune` tests share: the daemon share, a directory on a
//! real filesystem with the ISO, a state dir and a root, and readers of the
//! binary's output.

#![allow(dead_code)]

use std::path::PathBuf;

use assert_cmd::Command as Bin;
use isotune_testutil::libvirtd::{
    hlt_iso, tcg_domain_xml as domain_xml, unique_prefix, virsh, Libvirtd, TestDomain, URI,
};
use serde_json::Value;

pub const DEBIAN: &str = "<metadata><libosinfo:libosinfo \
    xmlns:libosinfo='http://libosinfo.org/xmlns/libvirt/domain/1.0'>\
    <libosinfo:os id='http://debian.org/debian/12'/></libosinfo:libosinfo></metadata>";

/// Everything one test needs: the daemon share, a directory on a real
/// filesystem, the ISO, a state dir and a root for `tune`.
pub struct Setup {
    pub _daemon: Libvirtd,
    pub dir: tempfile::TempDir,
    pub iso: PathBuf,
    pub prefix: String,
}

impl Setup {
    pub fn new() -> Option<Setup> {
        let daemon = Libvirtd::acquire()?;
        let dir = tempfile::tempdir_in("/var/tmp").unwrap();
        let iso = hlt_iso(dir.path(), "boot", 7, 64 << 10)?;
        std::fs::create_dir_all(dir.path().join("root")).unwrap();
        Some(Setup {
            _daemon: daemon,
            dir,
            iso,
            prefix: unique_prefix(),
        })
    }

    pub fn define(&self, short: &str, machine: &str, devices: &str, metadata: &str) -> TestDomain {
        let name = format!("{}{short}", self.prefix);
        TestDomain::define(
            &name,
            &domain_xml(&name, machine, devices, metadata),
            self.dir.path(),
        )
    }

    pub fn tune(&self, sub: &str, domain: &str, extra: &[&str]) -> Bin {
        let mut c = Bin::cargo_bin("isotune").unwrap();
        c.args(["tune", sub, "--state-dir"])
            .arg(self.dir.path().join("state"))
            .arg("--root")
            .arg(self.dir.path().join("root"));
        if !domain.is_empty() {
            c.args(["--connect", URI, "--domain", domain]);
        }
        c.args(extra);
        c
    }

    pub fn journal_cmd(&self, sub: &str) -> Bin {
        self.tune(sub, "", &["--json"])
    }
}

pub fn inactive(name: &str) -> String {
    virsh(&["dumpxml", "--inactive", name]).expect("virsh dumpxml --inactive")
}

/// JSON stdout, exit code, stderr.
pub fn json(cmd: &mut Bin) -> (Value, i32, String) {
    let out = cmd.output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    let v = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): {}\nstderr: {err}",
            String::from_utf8_lossy(&out.stdout)
        )
    });
    (v, out.status.code().unwrap_or(-1), err)
}

/// stdout, exit code, stderr.
pub fn text(cmd: &mut Bin) -> (String, i32, String) {
    let out = cmd.output().unwrap();
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The plan's changes for `finding`.
pub fn changes<'a>(plan: &'a Value, finding: &str) -> Vec<&'a Value> {
    plan["changes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["finding"] == finding)
        .collect()
}
