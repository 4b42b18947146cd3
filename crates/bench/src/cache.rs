//! Page-cache state of one target: measure it, drop it, warm it.
//!
//! A cold run must start with none of the target in the page cache, and a
//! warm run with all of it; both are *measured*, not assumed:
//!
//! - [`resident_bytes`] asks `cachestat(2)` (Linux 6.5, one system call for
//!   the whole file) and falls back to `mmap` + `mincore(2)` (a byte per
//!   page, in 1 GiB windows) where cachestat is missing or filtered. Both
//!   work on block devices, whose page cache is the device's own mapping.
//!   They differ only while reads are in flight: cachestat counts pages
//!   being read in, mincore only up-to-date ones.
//! - [`drop_pages`] evicts only this target's pages with
//!   `posix_fadvise(POSIX_FADV_DONTNEED)`, never a global
//!   `/proc/sys/vm/drop_caches`. Dirty pages are not dropped, so when pages
//!   remain the file is `fdatasync`ed and advised again. Some pages cannot
//!   be dropped at all: tmpfs keeps every page (the cache *is* the storage),
//!   and pages mapped by another process stay. [`CacheDrop`] reports what
//!   was resident before and after rather than claiming success.
//! - [`warm`] reads the whole target once through a second, buffered file
//!   descriptor (the target's own may be O_DIRECT, which bypasses the cache).

use std::fs::File;
use std::io;
use std::num::NonZeroU64;
use std::os::fd::AsRawFd;
use std::os::unix::fs::FileExt;

use rustix::fs::Advice;
use serde::{Deserialize, Serialize};

use crate::target::{identity_of, Target};
use crate::{Error, ErrorKind, Result};

/// `cachestat` is 451 on every architecture (the unified syscall table).
const SYS_CACHESTAT: libc::c_long = 451;

/// The mincore fallback maps the target this many bytes at a time.
const MINCORE_WINDOW_BYTES: u64 = 1 << 30;

/// How residency was measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResidencyMethod {
    /// `cachestat(2)`.
    Cachestat,
    /// `mmap` + `mincore(2)`.
    Mincore,
}

/// The outcome of [`drop_pages`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct CacheDrop {
    /// Bytes of the target in the page cache before the drop.
    pub resident_before_bytes: u64,
    /// Bytes still in the page cache after it.
    pub resident_after_bytes: u64,
    /// How both were measured.
    pub method: ResidencyMethod,
}

impl CacheDrop {
    /// Whether nothing of the target is left in the page cache.
    pub fn is_cold(&self) -> bool {
        self.resident_after_bytes == 0
    }

    /// Bytes the drop evicted.
    pub fn dropped_bytes(&self) -> u64 {
        self.resident_before_bytes
            .saturating_sub(self.resident_after_bytes)
    }
}

/// Bytes of `target` in the page cache, by cachestat when the kernel has it,
/// else by mincore.
pub fn resident_bytes(target: &Target) -> Result<(u64, ResidencyMethod)> {
    match resident_bytes_by(target, ResidencyMethod::Cachestat) {
        Ok(bytes) => Ok((bytes, ResidencyMethod::Cachestat)),
        Err(_) => Ok((
            resident_bytes_by(target, ResidencyMethod::Mincore)?,
            ResidencyMethod::Mincore,
        )),
    }
}

/// Bytes of `target` in the page cache, measured with `method` (an error if
/// the kernel does not support it). Counts whole pages, capped at the
/// target's size.
pub fn resident_bytes_by(target: &Target, method: ResidencyMethod) -> Result<u64> {
    let size = target.size_bytes();
    let page = rustix::param::page_size() as u64;
    let pages = match method {
        ResidencyMethod::Cachestat => cachestat(target.file())
            .map_err(|e| Error::io("cachestat failed", e).with_path(target.path()))?,
        ResidencyMethod::Mincore => mincore_pages(target.file(), size, page)
            .map_err(|e| Error::io("mincore failed", e).with_path(target.path()))?,
    };
    Ok(pages.saturating_mul(page).min(size))
}

/// Evicts `target`'s pages from the page cache and measures before and after.
pub fn drop_pages(target: &Target) -> Result<CacheDrop> {
    let (before, method) = resident_bytes(target)?;
    let advise = || {
        rustix::fs::fadvise(target.file(), 0, None::<NonZeroU64>, Advice::DontNeed).map_err(|e| {
            Error::io("posix_fadvise(DONTNEED) failed", e.into()).with_path(target.path())
        })
    };
    advise()?;
    let mut after = resident_bytes_by(target, method)?;
    if after > 0 {
        // Dirty or under-writeback pages survive DONTNEED; write them and
        // try once more. (A no-op on tmpfs, whose pages stay regardless.)
        rustix::fs::fdatasync(target.file())
            .map_err(|e| Error::io("fdatasync failed", e.into()).with_path(target.path()))?;
        advise()?;
        after = resident_bytes_by(target, method)?;
    }
    Ok(CacheDrop {
        resident_before_bytes: before,
        resident_after_bytes: after,
        method,
    })
}

/// Reads all of `target` once through a buffered file descriptor so its
/// pages are in the page cache.
pub fn warm(target: &Target) -> Result<()> {
    let path = target.path();
    let file = File::open(path).map_err(|e| crate::target::open_error(path, false, e))?;
    let same = identity_of(&file)
        .map_err(|e| Error::io("cannot stat the target", e).with_path(path))?
        == target.identity();
    if !same {
        return Err(Error::new(
            ErrorKind::Io,
            "was replaced by another file since it was opened; cannot warm its cache",
        )
        .with_path(path));
    }
    // Only a hint: a larger readahead window makes warming quicker.
    let _ = rustix::fs::fadvise(&file, 0, None::<NonZeroU64>, Advice::Sequential);
    let mut buf = vec![0u8; 1 << 20];
    let size = target.size_bytes();
    let mut offset = 0u64;
    while offset < size {
        match file.read_at(&mut buf, offset) {
            Ok(0) => break,
            Ok(n) => offset += n as u64,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => {
                return Err(Error::io(
                    format!("reading at offset {offset} to warm the cache failed"),
                    e,
                )
                .with_path(path))
            }
        }
    }
    Ok(())
}

/// `struct cachestat_range` from `<linux/mman.h>`.
#[repr(C)]
struct CachestatRange {
    off: u64,
    len: u64,
}

/// `struct cachestat` from `<linux/mman.h>`; counts are in pages.
#[repr(C)]
#[derive(Default)]
struct Cachestat {
    nr_cache: u64,
    nr_dirty: u64,
    nr_writeback: u64,
    nr_evicted: u64,
    nr_recently_evicted: u64,
}

/// Pages of `file` in the page cache, by `cachestat(fd, {0, 0}, &cs, 0)`
/// (`len` 0 means "to the end of the file").
#[allow(unsafe_code)] // a system call libc does not wrap
fn cachestat(file: &File) -> io::Result<u64> {
    let range = CachestatRange { off: 0, len: 0 };
    let mut stat = Cachestat::default();
    // SAFETY: cachestat reads `range` and writes one `struct cachestat` into
    // `stat`; both are live, correctly laid out (repr(C), five u64 counters
    // as in the kernel UAPI) and exclusively ours for the call; `flags` is 0.
    let ret = unsafe {
        libc::syscall(
            SYS_CACHESTAT,
            file.as_raw_fd(),
            &range as *const CachestatRange,
            &mut stat as *mut Cachestat,
            0 as libc::c_uint,
        )
    };
    if ret < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(stat.nr_cache)
}

/// Pages of the first `size` bytes of `file` in the page cache, by mapping
/// it a window at a time (never touching the mapping) and asking `mincore`.
#[allow(unsafe_code)] // mmap and mincore
fn mincore_pages(file: &File, size: u64, page: u64) -> io::Result<u64> {
    let mut vec = Vec::new();
    let mut resident = 0u64;
    let mut offset = 0u64;
    while offset < size {
        let len = (size - offset).min(MINCORE_WINDOW_BYTES) as usize;
        // SAFETY: a new read-only shared mapping chosen by the kernel
        // (null hint), so it replaces nothing; it is never dereferenced, only
        // passed to mincore and unmapped below. `offset` is a multiple of the
        // window, hence of the page size.
        let addr = unsafe {
            rustix::mm::mmap(
                std::ptr::null_mut(),
                len,
                rustix::mm::ProtFlags::READ,
                rustix::mm::MapFlags::SHARED,
                file,
                offset,
            )
        }?;
        vec.clear();
        vec.resize(len.div_ceil(page as usize), 0u8);
        // SAFETY: `addr..addr + len` is the mapping made above, and `vec` has
        // one byte for each of its pages, as mincore requires.
        let ret = unsafe { libc::mincore(addr, len, vec.as_mut_ptr()) };
        let err = (ret != 0).then(io::Error::last_os_error);
        // SAFETY: unmaps exactly the mapping made above, which nothing uses.
        unsafe { rustix::mm::munmap(addr, len) }?;
        if let Some(err) = err {
            return Err(err);
        }
        resident += vec.iter().filter(|&&b| b & 1 != 0).count() as u64;
        offset += len as u64;
    }
    Ok(resident)
}

/// The access-pattern hint given to the kernel before a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccessHint {
    /// No hint (what QEMU does with an image file): the kernel's default
    /// readahead applies.
    Normal,
    /// `POSIX_FADV_SEQUENTIAL`: larger readahead (fio's default for `rw=read`).
    Sequential,
    /// `POSIX_FADV_RANDOM`: no readahead (fio's default for `rw=randread`).
    Random,
}

/// Sets the readahead hint of the target's open file description, as fio
/// does with its default `fadvise_hint=1`, so numbers compare like for like.
pub fn advise(target: &Target, hint: AccessHint) -> Result<()> {
    let advice = match hint {
        AccessHint::Normal => Advice::Normal,
        AccessHint::Sequential => Advice::Sequential,
        AccessHint::Random => Advice::Random,
    };
    rustix::fs::fadvise(target.file(), 0, None::<NonZeroU64>, advice)
        .map_err(|e| Error::io("posix_fadvise failed", e.into()).with_path(target.path()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::target::TargetOptions;
    use std::io::Write;
    use std::path::Path;

    const SIZE: usize = (8 << 20) + 1234;

    /// A synced file (so its pages are clean and can be dropped).
    fn file_in(dir: &Path) -> tempfile::NamedTempFile {
        let mut f = tempfile::NamedTempFile::new_in(dir).unwrap();
        let data: Vec<u8> = (0..SIZE).map(|i| (i * 7 % 251) as u8).collect();
        f.write_all(&data).unwrap();
        f.as_file().sync_all().unwrap();
        f
    }

    #[allow(clippy::unnecessary_cast)] // f_type's type differs by architecture
    fn is_tmpfs(path: &Path) -> bool {
        const TMPFS_MAGIC: i64 = 0x0102_1994;
        rustix::fs::statfs(path).is_ok_and(|s| s.f_type as i64 == TMPFS_MAGIC)
    }

    /// On a disk filesystem (/var/tmp, not /tmp, which may be tmpfs).
    #[test]
    fn warm_then_drop_on_disk() {
        let dir = Path::new("/var/tmp");
        if is_tmpfs(dir) {
            eprintln!("note: /var/tmp is tmpfs; skipping the disk drop test");
            return;
        }
        let f = file_in(dir);
        for direct in [false, true] {
            let t = Target::open(f.path(), TargetOptions { direct }).unwrap();
            warm(&t).unwrap();
            let (resident, _) = resident_bytes(&t).unwrap();
            assert_eq!(resident, SIZE as u64, "direct {direct}");

            let drop = drop_pages(&t).unwrap();
            assert!(drop.resident_before_bytes >= SIZE as u64 / 2, "{drop:?}");
            assert!(
                drop.resident_after_bytes < drop.resident_before_bytes,
                "{drop:?}"
            );
            assert!(drop.dropped_bytes() > 0);
            assert_eq!(resident_bytes(&t).unwrap().0, drop.resident_after_bytes);
        }
    }

    #[test]
    fn cachestat_and_mincore_agree() {
        let f = file_in(Path::new("/var/tmp"));
        let t = Target::open(f.path(), TargetOptions::default()).unwrap();
        let Ok(by_cachestat) = resident_bytes_by(&t, ResidencyMethod::Cachestat) else {
            eprintln!("note: cachestat unavailable (Linux < 6.5); only mincore checked");
            let _ = resident_bytes_by(&t, ResidencyMethod::Mincore).unwrap();
            return;
        };
        assert_eq!(
            by_cachestat,
            resident_bytes_by(&t, ResidencyMethod::Mincore).unwrap()
        );
        assert_eq!(resident_bytes(&t).unwrap().1, ResidencyMethod::Cachestat);
        // A partly cached file: drop, then read back the first 3 MiB with
        // readahead off (cachestat also counts pages still being read in,
        // mincore only up-to-date ones, so async readahead would race).
        if !is_tmpfs(Path::new("/var/tmp")) {
            drop_pages(&t).unwrap();
            rustix::fs::fadvise(t.file(), 0, None::<NonZeroU64>, Advice::Random).unwrap();
            let mut buf = vec![0u8; 3 << 20];
            t.file().read_exact_at(&mut buf, 0).unwrap();
            let c = resident_bytes_by(&t, ResidencyMethod::Cachestat).unwrap();
            let m = resident_bytes_by(&t, ResidencyMethod::Mincore).unwrap();
            assert_eq!(c, m);
            assert!(c >= 3 << 20 && c < SIZE as u64, "{c}");
        }
    }

    /// tmpfs pages are the file's storage: the drop must say it did not take.
    #[test]
    fn tmpfs_drop_reports_pages_kept() {
        let dir = Path::new("/dev/shm");
        if !is_tmpfs(dir) {
            eprintln!("note: /dev/shm is not tmpfs; skipping");
            return;
        }
        let f = file_in(dir);
        let t = Target::open(f.path(), TargetOptions::default()).unwrap();
        let drop = drop_pages(&t).unwrap();
        assert_eq!(drop.resident_before_bytes, SIZE as u64);
        assert_eq!(drop.resident_after_bytes, SIZE as u64, "{drop:?}");
        assert!(!drop.is_cold());
        assert_eq!(drop.dropped_bytes(), 0);
    }

    #[test]
    fn cache_drop_serialises() {
        let d = CacheDrop {
            resident_before_bytes: 10,
            resident_after_bytes: 0,
            method: ResidencyMethod::Cachestat,
        };
        assert!(d.is_cold());
        let json = serde_json::to_string(&d).unwrap();
        assert!(json.contains("\"method\":\"cachestat\""), "{json}");
    }
}
