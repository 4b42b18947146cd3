//! Page-cache state of one open file: measure it, drop it, warm it. The one
//! implementation used by `bench` (cold and warm runs), `boot` (cold runs)
//! and the doctor (residency of an ISO).
//!
//! A cold run must start with none of the file in the page cache, and a
//! warm run with all of it; both are *measured*, not assumed:
//!
//! - [`resident_bytes`] asks `cachestat(2)` (Linux 6.5, one system call for
//!   the whole file) and falls back to `mmap` + `mincore(2)` (a byte per
//!   page, in 1 GiB windows) where cachestat is missing or filtered. Both
//!   work on block devices, whose page cache is the device's own mapping.
//!   They differ only while reads are in flight: cachestat counts pages
//!   being read in, mincore only up-to-date ones.
//! - [`drop_pages`] evicts only this file's pages with
//!   `posix_fadvise(POSIX_FADV_DONTNEED)`, never a global
//!   `/proc/sys/vm/drop_caches`. Dirty pages are not dropped, so when pages
//!   remain the file is `fdatasync`ed and advised again. Some pages cannot
//!   be dropped at all: tmpfs keeps every page (the cache *is* the storage),
//!   and pages mapped by another process stay. [`CacheDrop`] reports what
//!   was resident before and after rather than claiming success.
//! - [`warm`] reads the whole file once; pass a buffered descriptor (an
//!   O_DIRECT one bypasses the cache).
//!
//! The functions take the open file and its size (a block device's size is
//! not in its metadata); errors name the operation, the caller adds the path.

use std::fs::File;
use std::io;
use std::num::NonZeroU64;
use std::os::fd::AsRawFd;
use std::os::unix::fs::FileExt;

use rustix::fs::Advice;
use serde::{Deserialize, Serialize};

/// `cachestat` is 451 on every architecture (the unified syscall table).
const SYS_CACHESTAT: libc::c_long = 451;

/// The mincore fallback maps the file this many bytes at a time.
const MINCORE_WINDOW_BYTES: u64 = 1 << 30;

/// A page-cache operation failed.
#[derive(Debug, thiserror::Error)]
#[error("{op} failed")]
pub struct PageCacheError {
    op: Operation,
    #[source]
    source: io::Error,
}

/// The operation that failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Operation {
    /// `cachestat(2)`.
    Cachestat,
    /// `mmap` + `mincore(2)`.
    Mincore,
    /// `posix_fadvise`.
    Fadvise,
    /// `fdatasync` before a second drop.
    Fdatasync,
    /// Reading the file to warm the cache, at this offset.
    Read {
        /// Where the read failed.
        offset: u64,
    },
}

impl std::fmt::Display for Operation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Operation::Cachestat => f.write_str("cachestat"),
            Operation::Mincore => f.write_str("mincore"),
            Operation::Fadvise => f.write_str("posix_fadvise"),
            Operation::Fdatasync => f.write_str("fdatasync"),
            Operation::Read { offset } => {
                write!(f, "reading at offset {offset} to warm the cache")
            }
        }
    }
}

impl PageCacheError {
    fn new(op: Operation, source: io::Error) -> Self {
        PageCacheError { op, source }
    }

    /// The operation that failed.
    pub fn operation(&self) -> Operation {
        self.op
    }

    /// The system error, e.g. to wrap it in another crate's error.
    pub fn into_io(self) -> io::Error {
        self.source
    }
}

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
    /// Bytes of the file in the page cache before the drop.
    pub resident_before_bytes: u64,
    /// Bytes still in the page cache after it.
    pub resident_after_bytes: u64,
    /// How both were measured.
    pub method: ResidencyMethod,
}

impl CacheDrop {
    /// Whether nothing of the file is left in the page cache.
    pub fn is_cold(&self) -> bool {
        self.resident_after_bytes == 0
    }

    /// Bytes the drop evicted.
    pub fn dropped_bytes(&self) -> u64 {
        self.resident_before_bytes
            .saturating_sub(self.resident_after_bytes)
    }
}

/// Bytes of `file` (`size_bytes` long) in the page cache, by cachestat when
/// the kernel has it, else by mincore.
pub fn resident_bytes(
    file: &File,
    size_bytes: u64,
) -> Result<(u64, ResidencyMethod), PageCacheError> {
    match resident_bytes_by(file, size_bytes, ResidencyMethod::Cachestat) {
        Ok(bytes) => Ok((bytes, ResidencyMethod::Cachestat)),
        Err(_) => Ok((
            resident_bytes_by(file, size_bytes, ResidencyMethod::Mincore)?,
            ResidencyMethod::Mincore,
        )),
    }
}

/// Bytes of `file` in the page cache, measured with `method` (an error if
/// the kernel does not support it). Counts whole pages, capped at
/// `size_bytes`.
pub fn resident_bytes_by(
    file: &File,
    size_bytes: u64,
    method: ResidencyMethod,
) -> Result<u64, PageCacheError> {
    let page = rustix::param::page_size() as u64;
    let pages = match method {
        ResidencyMethod::Cachestat => {
            cachestat(file).map_err(|e| PageCacheError::new(Operation::Cachestat, e))?
        }
        ResidencyMethod::Mincore => mincore_pages(file, size_bytes, page)
            .map_err(|e| PageCacheError::new(Operation::Mincore, e))?,
    };
    Ok(pages.saturating_mul(page).min(size_bytes))
}

/// Evicts `file`'s pages from the page cache and measures before and after.
pub fn drop_pages(file: &File, size_bytes: u64) -> Result<CacheDrop, PageCacheError> {
    let (before, method) = resident_bytes(file, size_bytes)?;
    let advise = || {
        rustix::fs::fadvise(file, 0, None::<NonZeroU64>, Advice::DontNeed)
            .map_err(|e| PageCacheError::new(Operation::Fadvise, e.into()))
    };
    advise()?;
    let mut after = resident_bytes_by(file, size_bytes, method)?;
    if after > 0 {
        // Dirty or under-writeback pages survive DONTNEED; write them and
        // try once more. (A no-op on tmpfs, whose pages stay regardless.)
        // fdatasync is allowed on a read-only descriptor on Linux.
        rustix::fs::fdatasync(file)
            .map_err(|e| PageCacheError::new(Operation::Fdatasync, e.into()))?;
        advise()?;
        after = resident_bytes_by(file, size_bytes, method)?;
    }
    Ok(CacheDrop {
        resident_before_bytes: before,
        resident_after_bytes: after,
        method,
    })
}

/// Reads the first `size_bytes` of `file` once so its pages are in the page
/// cache. `file` must be a buffered (not O_DIRECT) descriptor.
pub fn warm(file: &File, size_bytes: u64) -> Result<(), PageCacheError> {
    // Only a hint: a larger readahead window makes warming quicker.
    let _ = rustix::fs::fadvise(file, 0, None::<NonZeroU64>, Advice::Sequential);
    let mut buf = vec![0u8; 1 << 20];
    let mut offset = 0u64;
    while offset < size_bytes {
        match file.read_at(&mut buf, offset) {
            Ok(0) => break,
            Ok(n) => offset += n as u64,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(PageCacheError::new(Operation::Read { offset }, e)),
        }
    }
    Ok(())
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

/// Sets the readahead hint of `file`'s open file description, as fio does
/// with its default `fadvise_hint=1`.
pub fn advise(file: &File, hint: AccessHint) -> Result<(), PageCacheError> {
    let advice = match hint {
        AccessHint::Normal => Advice::Normal,
        AccessHint::Sequential => Advice::Sequential,
        AccessHint::Random => Advice::Random,
    };
    rustix::fs::fadvise(file, 0, None::<NonZeroU64>, advice)
        .map_err(|e| PageCacheError::new(Operation::Fadvise, e.into()))
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::path::Path;

    const SIZE: usize = (8 << 20) + 1234;

    /// A synced file (so its pages are clean and can be dropped) of random
    /// bytes.
    fn file_in(dir: &Path) -> tempfile::NamedTempFile {
        let mut f = tempfile::NamedTempFile::new_in(dir).unwrap();
        let data = isotune_testutil::Rng::new(7).bytes(SIZE);
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
            return isotune_testutil::skip("/var/tmp is tmpfs, whose pages cannot be dropped");
        }
        let f = file_in(dir);
        let file = f.as_file();
        for _ in 0..2 {
            warm(file, SIZE as u64).unwrap();
            let (resident, _) = resident_bytes(file, SIZE as u64).unwrap();
            assert_eq!(resident, SIZE as u64);

            let drop = drop_pages(file, SIZE as u64).unwrap();
            assert!(drop.resident_before_bytes >= SIZE as u64 / 2, "{drop:?}");
            assert!(drop.is_cold(), "{drop:?}");
            assert_eq!(drop.dropped_bytes(), drop.resident_before_bytes);
            assert_eq!(resident_bytes(file, SIZE as u64).unwrap().0, 0);
        }
    }

    /// A freshly written (dirty) file leaves the page cache entirely: the
    /// drop syncs and advises again.
    #[test]
    fn dropping_a_freshly_written_file_empties_its_cache() {
        let dir = Path::new("/var/tmp");
        if is_tmpfs(dir) {
            return isotune_testutil::skip("/var/tmp is tmpfs, whose pages cannot be dropped");
        }
        let mut f = tempfile::NamedTempFile::new_in(dir).unwrap();
        f.write_all(&isotune_testutil::Rng::new(11).bytes(16 << 20))
            .unwrap();
        let file = f.as_file();
        let before = resident_bytes(file, 16 << 20).unwrap().0;
        assert!(before > 0, "a fresh write left nothing cached");
        let drop = drop_pages(file, 16 << 20).unwrap();
        assert_eq!(drop.resident_before_bytes, before);
        assert!(drop.is_cold(), "{drop:?}");
    }

    #[test]
    fn cachestat_and_mincore_agree() {
        let dir = Path::new("/var/tmp");
        let f = file_in(dir);
        let file = f.as_file();
        let size = SIZE as u64;
        let Ok(by_cachestat) = resident_bytes_by(file, size, ResidencyMethod::Cachestat) else {
            return isotune_testutil::skip("cachestat unavailable (Linux < 6.5)");
        };
        assert_eq!(
            by_cachestat,
            resident_bytes_by(file, size, ResidencyMethod::Mincore).unwrap()
        );
        assert_eq!(
            resident_bytes(file, size).unwrap().1,
            ResidencyMethod::Cachestat
        );
        if is_tmpfs(dir) {
            return isotune_testutil::skip("/var/tmp is tmpfs, whose pages cannot be dropped");
        }
        // A partly cached file: drop, then read back the first 3 MiB with
        // readahead off (cachestat also counts pages still being read in,
        // mincore only up-to-date ones, so async readahead would race).
        drop_pages(file, size).unwrap();
        advise(file, AccessHint::Random).unwrap();
        let mut buf = vec![0u8; 3 << 20];
        file.read_exact_at(&mut buf, 0).unwrap();
        let c = resident_bytes_by(file, size, ResidencyMethod::Cachestat).unwrap();
        let m = resident_bytes_by(file, size, ResidencyMethod::Mincore).unwrap();
        assert_eq!(c, m);
        assert!(c >= 3 << 20 && c < size, "{c}");
    }

    /// tmpfs pages are the file's storage: the drop must say it did not take.
    #[test]
    fn tmpfs_drop_reports_pages_kept() {
        let dir = Path::new("/dev/shm");
        if !is_tmpfs(dir) {
            return isotune_testutil::skip("/dev/shm is not tmpfs");
        }
        let f = file_in(dir);
        let drop = drop_pages(f.as_file(), SIZE as u64).unwrap();
        assert_eq!(drop.resident_before_bytes, SIZE as u64);
        assert_eq!(drop.resident_after_bytes, SIZE as u64, "{drop:?}");
        assert!(!drop.is_cold());
        assert_eq!(drop.dropped_bytes(), 0);
    }

    #[test]
    fn cache_drop_serialises_and_errors_name_the_operation() {
        let d = CacheDrop {
            resident_before_bytes: 10,
            resident_after_bytes: 0,
            method: ResidencyMethod::Cachestat,
        };
        assert!(d.is_cold());
        let json = serde_json::to_string(&d).unwrap();
        assert!(json.contains("\"method\":\"cachestat\""), "{json}");
        let e = PageCacheError::new(
            Operation::Read { offset: 4096 },
            io::Error::from_raw_os_error(libc::EIO),
        );
        assert_eq!(
            e.to_string(),
            "reading at offset 4096 to warm the cache failed"
        );
        assert_eq!(e.operation(), Operation::Read { offset: 4096 });
    }
}
