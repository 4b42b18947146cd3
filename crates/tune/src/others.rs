//! Who else sets a value: when `verify` finds a value that differs from
//! what isotune wrote, it names the files that set the same attribute, so
//! the user can tell which layer won: udev rules (`/etc/udev/rules.d`,
//! `/run/udev/rules.d`, `/lib/udev/rules.d`, `/usr/lib/udev/rules.d`),
//! sysctl files (`/etc/sysctl.d`, `/usr/lib/sysctl.d`, `/etc/sysctl.conf`)
//! and TuneD's active profile (`/etc/tuned/active_profile`, each profile's
//! `tuned.conf` under `/etc/tuned` or `/usr/lib/tuned`). All read under the
//! files root.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::model::{Roots, Target};
use crate::plan::is_own_rule_file;

/// Largest configuration file read.
const CONFIG_FILE_BYTES: u64 = 1 << 20;
/// Most files looked at in one directory.
const MAX_FILES_PER_DIR: usize = 4096;

const RULE_DIRS: [&str; 4] = [
    "/etc/udev/rules.d",
    "/run/udev/rules.d",
    "/lib/udev/rules.d",
    "/usr/lib/udev/rules.d",
];
const SYSCTL_DIRS: [&str; 3] = ["/etc/sysctl.d", "/run/sysctl.d", "/usr/lib/sysctl.d"];

/// A line in a file that sets the same value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OtherSetter {
    /// What kind of setter (`udev rule`, `sysctl file`, `TuneD profile X`).
    pub kind: String,
    /// The file, as on the live host.
    pub path: PathBuf,
    /// 1-based line number.
    pub line_number: usize,
    /// The line, trimmed.
    pub line: String,
}

/// Files under `roots` that set the attribute of `target`.
pub(crate) fn find(roots: &Roots, target: &Target) -> Vec<OtherSetter> {
    let Target::Sysfs { path } = target else {
        return Vec::new();
    };
    let Some(attr) = path.file_name().and_then(|n| n.to_str()) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for dir in RULE_DIRS {
        for file in list(roots, dir, "rules") {
            if !is_own_rule_file(&file) {
                grep(roots, &file, "udev rule", |l| l.contains(attr), &mut out);
            }
        }
    }
    let mut sysctl_files: Vec<PathBuf> = SYSCTL_DIRS
        .iter()
        .flat_map(|d| list(roots, d, "conf"))
        .collect();
    sysctl_files.push(PathBuf::from("/etc/sysctl.conf"));
    for file in sysctl_files {
        grep(roots, &file, "sysctl file", |l| l.contains(attr), &mut out);
    }
    // TuneD's [disk] plugin sets read_ahead_kb with `readahead=`.
    let tuned_key = if attr == "read_ahead_kb" {
        "readahead"
    } else {
        attr
    };
    for profile in tuned_profiles(roots) {
        for base in ["/etc/tuned", "/usr/lib/tuned"] {
            let file = Path::new(base).join(&profile).join("tuned.conf");
            let kind = format!("TuneD profile {profile} (active)");
            grep(
                roots,
                &file,
                &kind,
                |l| l.trim_start().starts_with(tuned_key),
                &mut out,
            );
        }
    }
    out
}

/// The active TuneD profiles (`/etc/tuned/active_profile` may name several).
fn tuned_profiles(roots: &Roots) -> Vec<String> {
    read(roots, Path::new("/etc/tuned/active_profile"))
        .map(|t| t.split_whitespace().map(str::to_owned).collect())
        .unwrap_or_default()
}

fn read(roots: &Roots, abs: &Path) -> Option<String> {
    isotune_input::read_to_string_capped(&roots.file(abs), CONFIG_FILE_BYTES, "a config file").ok()
}

/// Files ending in `.ext` in `dir` (as on the live host), sorted.
fn list(roots: &Roots, dir: &str, ext: &str) -> Vec<PathBuf> {
    let Ok(rd) = std::fs::read_dir(roots.file(dir)) else {
        return Vec::new();
    };
    let mut v: Vec<PathBuf> = rd
        .filter_map(|e| e.ok())
        .take(MAX_FILES_PER_DIR)
        .filter_map(|e| {
            let name = e.file_name();
            let p = Path::new(dir).join(&name);
            p.extension().is_some_and(|x| x == ext).then_some(p)
        })
        .collect();
    v.sort();
    v
}

fn grep(
    roots: &Roots,
    abs: &Path,
    kind: &str,
    matches: impl Fn(&str) -> bool,
    out: &mut Vec<OtherSetter>,
) {
    let Some(text) = read(roots, abs) else {
        return;
    };
    for (i, line) in text.lines().enumerate() {
        let t = line.trim();
        if !t.starts_with('#') && !t.is_empty() && matches(t) {
            out.push(OtherSetter {
                kind: kind.to_owned(),
                path: abs.to_owned(),
                line_number: i + 1,
                line: t.to_owned(),
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use isotune_testutil::put;

    #[test]
    fn names_udev_tuned_and_skips_own_file_and_comments() {
        let dir = tempfile::tempdir().unwrap();
        let r = dir.path();
        put(
            r,
            "etc/udev/rules.d/60-isotune-readahead.rules",
            b"ATTR{queue/read_ahead_kb}=\"4096\"\n",
        );
        put(
            r,
            "lib/udev/rules.d/80-x.rules",
            b"# read_ahead_kb comment\nATTR{queue/read_ahead_kb}=\"64\"\n",
        );
        put(r, "etc/tuned/active_profile", b"throughput-performance\n");
        put(
            r,
            "usr/lib/tuned/throughput-performance/tuned.conf",
            b"[disk]\nreadahead=>4096\n",
        );
        put(r, "etc/sysctl.d/99.conf", b"vm.swappiness=1\n");
        let roots = Roots {
            files: r.to_owned(),
            sysfs: r.to_owned(),
        };
        let found = find(
            &roots,
            &Target::Sysfs {
                path: "/sys/block/loop0/queue/read_ahead_kb".into(),
            },
        );
        assert_eq!(found.len(), 2, "{found:?}");
        assert_eq!(found[0].path, Path::new("/lib/udev/rules.d/80-x.rules"));
        assert_eq!(found[0].line_number, 2);
        assert!(found[1].kind.contains("throughput-performance"));
    }
}
