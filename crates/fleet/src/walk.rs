//! Finding the hosts and their report files under the directories given.
//!
//! A directory that holds `.json` files directly is a host directory, named
//! after itself (`reports/web1/doctor.json` is host `web1`), so the Ansible
//! role's `reports/HOST/` tree and any other tree of `HOST/*.json` read the
//! same. A directory with neither `.json` files nor subdirectories is a
//! host whose reports are missing. Directories are walked without following
//! symbolic links to directories (no loops); the same host name under two
//! trees is one host.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use crate::error::Error;
use crate::report::Warning;

/// One host's directories and report files, sorted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct HostFiles {
    pub name: String,
    pub dirs: Vec<PathBuf>,
    pub files: Vec<PathBuf>,
}

/// The hosts under `roots`, by name. A root that is not a readable
/// directory is an error; anything below it that cannot be read is a
/// warning.
pub(crate) fn walk(
    roots: &[PathBuf],
    warnings: &mut Vec<Warning>,
) -> Result<Vec<HostFiles>, Error> {
    let mut hosts: BTreeMap<String, HostFiles> = BTreeMap::new();
    for root in roots {
        let meta = fs::metadata(root).map_err(|source| Error::ReadDir {
            path: root.clone(),
            source,
        })?;
        if !meta.is_dir() {
            return Err(Error::NotADirectory { path: root.clone() });
        }
        let entries = fs::read_dir(root).map_err(|source| Error::ReadDir {
            path: root.clone(),
            source,
        })?;
        visit(root, entries, true, &mut hosts, warnings);
    }
    Ok(hosts.into_values().collect())
}

fn visit(
    dir: &Path,
    entries: fs::ReadDir,
    is_root: bool,
    hosts: &mut BTreeMap<String, HostFiles>,
    warnings: &mut Vec<Warning>,
) {
    let mut json = Vec::new();
    let mut subdirs = Vec::new();
    let mut any = false;
    for entry in entries {
        let entry = match entry {
            Ok(e) => e,
            Err(e) => {
                warnings.push(Warning::Unreadable {
                    path: dir.to_owned(),
                    error: e.to_string(),
                });
                continue;
            }
        };
        any = true;
        let path = entry.path();
        let Ok(ft) = entry.file_type() else { continue };
        if ft.is_dir() {
            subdirs.push(path);
        } else if path.extension().is_some_and(|e| e == "json")
            // A symbolic link to a report is a report; to anything else
            // (a directory, a FIFO) it is skipped.
            && (ft.is_file() || fs::metadata(&path).is_ok_and(|m| m.is_file()))
        {
            json.push(path);
        }
    }
    if !any {
        warnings.push(Warning::EmptyDirectory {
            path: dir.to_owned(),
        });
    }
    // The root itself is a host only when it holds reports: `fleet report
    // reports/` with nothing in it is an empty directory, not a host.
    if !json.is_empty() || (subdirs.is_empty() && !is_root) {
        let name = host_name(dir);
        let host = hosts.entry(name.clone()).or_insert_with(|| HostFiles {
            name,
            ..HostFiles::default()
        });
        host.dirs.push(dir.to_owned());
        host.files.append(&mut json);
        host.files.sort();
    }
    subdirs.sort();
    for sub in subdirs {
        match fs::read_dir(&sub) {
            Ok(entries) => visit(&sub, entries, false, hosts, warnings),
            Err(e) => warnings.push(Warning::Unreadable {
                path: sub,
                error: e.to_string(),
            }),
        }
    }
}

/// The directory's last component (`.` and `..` resolved when given as a
/// root).
fn host_name(dir: &Path) -> String {
    dir.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .or_else(|| {
            fs::canonicalize(dir)
                .ok()
                .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        })
        .unwrap_or_else(|| dir.display().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn put(root: &Path, rel: &str) {
        let p = root.join(rel);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(p, "{}").unwrap();
    }

    #[test]
    fn hosts_are_the_directories_holding_json() {
        let t = tempfile::tempdir().unwrap();
        let r = t.path();
        put(r, "web1/doctor.json");
        put(r, "web1/check-a.json");
        put(r, "dc2/web2/doctor.json");
        put(r, "db1/notes.txt");
        fs::create_dir_all(r.join("empty")).unwrap();
        let mut w = Vec::new();
        let hosts = walk(&[r.to_owned()], &mut w).unwrap();
        let names: Vec<&str> = hosts.iter().map(|h| h.name.as_str()).collect();
        assert_eq!(names, ["db1", "empty", "web1", "web2"]);
        assert!(hosts[0].files.is_empty(), "notes.txt is not a report");
        assert!(hosts[1].files.is_empty());
        assert_eq!(hosts[2].files.len(), 2);
        assert_eq!(
            w,
            [Warning::EmptyDirectory {
                path: r.join("empty")
            }]
        );
    }

    #[test]
    fn the_same_host_in_two_trees_is_one_host() {
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        put(a.path(), "web1/doctor.json");
        put(b.path(), "web1/doctor.json");
        let mut w = Vec::new();
        let hosts = walk(&[a.path().to_owned(), b.path().to_owned()], &mut w).unwrap();
        assert_eq!(hosts.len(), 1);
        assert_eq!(hosts[0].files.len(), 2);
        assert_eq!(hosts[0].dirs.len(), 2);
    }

    #[test]
    fn an_empty_root_is_a_warning_and_a_missing_root_an_error() {
        let t = tempfile::tempdir().unwrap();
        let mut w = Vec::new();
        assert!(walk(&[t.path().to_owned()], &mut w).unwrap().is_empty());
        assert_eq!(w.len(), 1);
        let err = walk(&[t.path().join("nope")], &mut w).unwrap_err();
        assert!(err.to_string().contains("nope"), "{err}");
        put(t.path(), "f.json");
        let err = walk(&[t.path().join("f.json")], &mut w).unwrap_err();
        assert!(err.to_string().contains("not a directory"), "{err}");
    }
}
