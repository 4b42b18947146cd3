//! Reading and writing the value of a [`Target`]: one function per
//! direction, one arm per backend.

use std::fs::OpenOptions;
use std::io::Write as _;
use std::path::Path;

use crate::error::{io, Error};
use crate::model::{Roots, Target};

/// Largest value read back (a udev rule file is tiny).
const VALUE_BYTES: u64 = 1 << 20;

/// The value of `target` now: a sysfs attribute trimmed, a file's text,
/// `None` for a file that does not exist.
pub(crate) fn read(roots: &Roots, target: &Target) -> Result<Option<String>, Error> {
    let path = roots.host_path(target);
    match target {
        // The summary of the element in the persistent XML now; `None`:
        // no such disk (or domain).
        Target::Domain {
            uri,
            domain,
            element,
        } => match isotune_libvirt::inactive_xml(uri, domain) {
            Ok(xml) => Ok(crate::domain::summary(&xml, element)),
            Err(e) if e.no_domain => Ok(None),
            Err(e) => Err(e.into()),
        },
        Target::Sysfs { .. } => {
            let text =
                isotune_input::read_to_string_capped(&path, VALUE_BYTES, "a sysfs attribute")
                    .map_err(|e| input(&path, e))?;
            Ok(Some(text.trim().to_owned()))
        }
        Target::File { .. } => {
            if !path.exists() {
                return Ok(None);
            }
            isotune_input::read_to_string_capped(&path, VALUE_BYTES, "a rule file")
                .map(Some)
                .map_err(|e| input(&path, e))
        }
    }
}

fn input(path: &Path, e: isotune_input::InputError) -> Error {
    match e {
        isotune_input::InputError::Io { source, op, .. } => Error::Io {
            path: path.to_owned(),
            op,
            source,
        },
        other => Error::Io {
            path: path.to_owned(),
            op: "read",
            source: std::io::Error::other(other.to_string()),
        },
    }
}

/// Writes `value` to `target` (`None`: remove the file; for a domain, the
/// whole persistent XML to define). Files are written
/// to a temporary name, fsynced and renamed, then the directory is fsynced,
/// so a crash leaves the old or the new file, never half of one.
pub(crate) fn write(roots: &Roots, target: &Target, value: Option<&str>) -> Result<(), Error> {
    let path = roots.host_path(target);
    match (target, value) {
        // A whole persistent XML (the edited one, or the journalled old one).
        (Target::Domain { uri, .. }, Some(xml)) => Ok(isotune_libvirt::define_xml(uri, xml)?),
        (Target::Domain { .. }, None) => Ok(()),
        (Target::Sysfs { .. }, Some(v)) => {
            // O_TRUNC is ignored by sysfs and needed by a test tree.
            let mut f = OpenOptions::new()
                .write(true)
                .truncate(true)
                .open(&path)
                .map_err(io(&path, "open for writing"))?;
            f.write_all(v.as_bytes()).map_err(io(&path, "write"))
        }
        // A sysfs attribute always has a value; nothing to remove.
        (Target::Sysfs { .. }, None) => Ok(()),
        (Target::File { .. }, Some(v)) => write_file_durably(&path, v.as_bytes()),
        (Target::File { .. }, None) => match std::fs::remove_file(&path) {
            Ok(()) => sync_parent(&path),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io(&path, "remove")(e)),
        },
    }
}

/// Writes `bytes` to `path` atomically and durably (temp file, fsync,
/// rename, fsync of the directory).
pub(crate) fn write_file_durably(path: &Path, bytes: &[u8]) -> Result<(), Error> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(io(dir, "create directory"))?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    let mut f = std::fs::File::create(&tmp).map_err(io(&tmp, "create"))?;
    f.write_all(bytes).map_err(io(&tmp, "write"))?;
    f.sync_all().map_err(io(&tmp, "fsync"))?;
    drop(f);
    std::fs::rename(&tmp, path).map_err(io(path, "rename into place"))?;
    sync_parent(path)
}

fn sync_parent(path: &Path) -> Result<(), Error> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io(dir, "fsync directory"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_round_trip_and_removal() {
        let dir = tempfile::tempdir().unwrap();
        let roots = Roots {
            files: dir.path().to_owned(),
            sysfs: dir.path().to_owned(),
        };
        let t = Target::File {
            path: "/etc/udev/rules.d/x.rules".into(),
        };
        assert_eq!(read(&roots, &t).unwrap(), None);
        write(&roots, &t, Some("a\n")).unwrap();
        assert_eq!(read(&roots, &t).unwrap().as_deref(), Some("a\n"));
        write(&roots, &t, None).unwrap();
        assert_eq!(read(&roots, &t).unwrap(), None);
        // Removing what is gone is not an error (rollback is idempotent).
        write(&roots, &t, None).unwrap();
    }

    #[test]
    fn sysfs_value_is_trimmed() {
        let dir = tempfile::tempdir().unwrap();
        let roots = Roots {
            files: dir.path().to_owned(),
            sysfs: dir.path().to_owned(),
        };
        isotune_testutil::put(dir.path(), "sys/block/x/queue/read_ahead_kb", b"16\n");
        let t = Target::Sysfs {
            path: "/sys/block/x/queue/read_ahead_kb".into(),
        };
        assert_eq!(read(&roots, &t).unwrap().as_deref(), Some("16"));
        write(&roots, &t, Some("4096")).unwrap();
        assert_eq!(read(&roots, &t).unwrap().as_deref(), Some("4096"));
    }
}
