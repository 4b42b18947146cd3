//! Facts about one file (an ISO): its size and device (live `statx`), the
//! mount holding it and the storage chain under that mount.
//!
//! [`file_facts_at`] is pure on the [`SysRoot`] tree, so tests hand it the
//! device number of a captured layout; [`file_facts`] is the live entry
//! point that stats the file first.

use std::io;
use std::path::Path;

use rustix::fs::{statx, AtFlags, StatxFlags, CWD};

use crate::blockdev::storage_chain;
use crate::mounts::{choose, parse_mountinfo};
use crate::read::{read_req, Warnings};
use crate::{DevNum, Error, FileFacts, SysRoot};

/// Size in bytes and device number of `path` on this machine (`statx`,
/// following symlinks).
pub fn stat_file(path: &Path) -> Result<(u64, DevNum), Error> {
    statx_size_dev(path).map_err(|e| Error::new(path, e))
}

/// [`stat_file`] with the bare io error (the storage chain turns it into a
/// warning when it stats a loop device's backing file).
pub(crate) fn statx_size_dev(path: &Path) -> io::Result<(u64, DevNum)> {
    let st = statx(
        CWD,
        path,
        AtFlags::empty(),
        StatxFlags::SIZE | StatxFlags::TYPE,
    )
    .map_err(io::Error::from)?;
    Ok((
        st.stx_size,
        DevNum {
            major: st.stx_dev_major,
            minor: st.stx_dev_minor,
        },
    ))
}

/// The facts of `path` (absolute, as the tree's mountinfo names it) of
/// `size_bytes` on device `dev`, read under `root`: the mount whose device
/// is `dev` and whose mount point is the longest prefix of `path`, and the
/// storage chain under `dev` (or under the mount source when `dev` is an
/// anonymous device with no `/sys/dev/block` entry). Never fails: what
/// cannot be read is a warning.
pub fn file_facts_at(root: &SysRoot, path: &Path, size_bytes: u64, dev: DevNum) -> FileFacts {
    let mut w = Warnings::default();
    let info = Path::new("/proc/self/mountinfo");
    let mounts = read_req(root, info, &mut w)
        .map(|text| parse_mountinfo(&text, info, &mut w))
        .unwrap_or_default();
    let mount = choose(&mounts, path, dev).map(|m| m.facts.clone());
    if mount.is_none() && !mounts.is_empty() {
        w.add(info, format_args!("no mount holds {}", path.display()));
    }
    let storage = storage_chain(
        root,
        dev,
        mount.as_ref().map(|m| m.source.as_str()),
        &mounts,
        &mut w,
    );
    FileFacts {
        path: path.to_path_buf(),
        size_bytes,
        device: Some(dev),
        mount,
        storage,
        resident_bytes: None,
        warnings: w.0,
        block_device: false,
    }
}

/// The facts of the block device `path` (device number `dev`), read under
/// `root`: its size from `/sys/dev/block/MAJ:MIN/size` and the storage
/// chain from the device itself (through a loop device's backing file).
/// No mount: the device is the medium, not a file on a filesystem.
pub fn device_facts_at(root: &SysRoot, path: &Path, dev: DevNum) -> FileFacts {
    let mut w = Warnings::default();
    let info = Path::new("/proc/self/mountinfo");
    let mounts = read_req(root, info, &mut w)
        .map(|text| parse_mountinfo(&text, info, &mut w))
        .unwrap_or_default();
    let sectors: Option<u64> = crate::read::read_parsed(
        root,
        &Path::new("/sys/dev/block").join(format!("{}:{}/size", dev.major, dev.minor)),
        &mut w,
    );
    let storage = storage_chain(root, dev, None, &mounts, &mut w);
    FileFacts {
        path: path.to_path_buf(),
        // The sysfs size is in 512-byte sectors whatever the block size.
        size_bytes: sectors.unwrap_or(0).saturating_mul(512),
        device: Some(dev),
        mount: None,
        storage,
        resident_bytes: None,
        warnings: w.0,
        block_device: true,
    }
}

/// The facts of the live file `path`: canonicalizes it, stats it and reads
/// the rest under `root` (a block device goes to [`device_facts_at`]) (normally [`SysRoot::live`]; with a captured root
/// the device number still comes from this machine). The returned `path`
/// is the canonical one. Fails only when the file cannot be found or
/// examined.
pub fn file_facts(root: &SysRoot, path: &Path) -> Result<FileFacts, Error> {
    let canonical = std::fs::canonicalize(path).map_err(|e| Error::new(path, e))?;
    let st = statx(CWD, &canonical, AtFlags::empty(), StatxFlags::TYPE)
        .map_err(|e| Error::new(path, io::Error::from(e)))?;
    if rustix::fs::FileType::from_raw_mode(u32::from(st.stx_mode))
        == rustix::fs::FileType::BlockDevice
    {
        let dev = DevNum {
            major: st.stx_rdev_major,
            minor: st.stx_rdev_minor,
        };
        return Ok(device_facts_at(root, &canonical, dev));
    }
    let (size, dev) = stat_file(&canonical)?;
    Ok(file_facts_at(root, &canonical, size, dev))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorKind;

    #[test]
    fn stat_of_a_missing_file_names_it() {
        let e = stat_file(Path::new("/nonexistent/isotune/a.iso")).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::NotFound);
        assert_eq!(e.path(), Path::new("/nonexistent/isotune/a.iso"));
        let e = file_facts(&SysRoot::live(), Path::new("/nonexistent/b.iso")).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::NotFound);
    }

    #[test]
    fn stat_gives_size_and_device() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.iso");
        std::fs::write(&p, vec![0u8; 4096]).unwrap();
        let (size, dev) = stat_file(&p).unwrap();
        assert_eq!(size, 4096);
        use std::os::unix::fs::MetadataExt;
        let st_dev = std::fs::metadata(&p).unwrap().dev();
        assert_eq!(u64::from(rustix::fs::major(st_dev)), u64::from(dev.major));
        assert_eq!(u64::from(rustix::fs::minor(st_dev)), u64::from(dev.minor));
    }

    #[test]
    fn missing_mountinfo_is_a_warning() {
        let dir = tempfile::tempdir().unwrap();
        let f = file_facts_at(
            &SysRoot::at(dir.path()),
            Path::new("/a.iso"),
            1,
            DevNum { major: 0, minor: 9 },
        );
        assert_eq!(f.mount, None);
        assert!(f.storage.is_empty());
        assert_eq!(f.warnings, ["/proc/self/mountinfo: not found"]);
    }
}
