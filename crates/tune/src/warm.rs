//! `tune warm`: reads an ISO into the page cache, the ranges a boot reads
//! first (so a boot that starts while warming finds them), then the whole
//! image, and measures residency before and after through
//! `isotune_host::pagecache` (cachestat, else mincore). The cheap fix for an
//! ISO on slow or network storage that is about to be booted many times.

use std::fs::File;
use std::os::unix::fs::FileExt as _;
use std::path::Path;

use isotune_host::pagecache;
use serde::Serialize;

use crate::error::{io, Error};

/// Version of the JSON schema of [`WarmReport`].
pub const WARM_SCHEMA_VERSION: u32 = 1;

/// Read size while warming.
const CHUNK_BYTES: usize = 1 << 20;

/// What `warm` did.
#[derive(Debug, Clone, Serialize)]
pub struct WarmReport {
    /// [`WARM_SCHEMA_VERSION`].
    pub schema_version: u32,
    /// Size of the image, bytes.
    pub size_bytes: u64,
    /// Bytes of the ranges read first (the boot files), bytes.
    pub boot_bytes: u64,
    /// Resident before, bytes.
    pub resident_before_bytes: u64,
    /// Resident after, bytes.
    pub resident_after_bytes: u64,
    /// How residency was measured.
    pub method: pagecache::ResidencyMethod,
}

/// Measures residency, then asks `first` for the byte ranges `(offset,
/// len)` to read first (finding them reads the image, so it happens after
/// the measurement), reads them and then all of `file` (`size_bytes`
/// long), calling `progress` with the bytes read so far and the total (the
/// ranges' length plus `size_bytes`).
pub fn warm(
    path: &Path,
    file: &File,
    size_bytes: u64,
    first: impl FnOnce(&File) -> Vec<(u64, u64)>,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<WarmReport, Error> {
    let cache =
        |e: pagecache::PageCacheError| io(path, "measure page-cache residency")(e.into_io());
    let (before, method) = pagecache::resident_bytes(file, size_bytes).map_err(cache)?;
    let first = first(file);
    let total = size_bytes + first.iter().map(|r| r.1).sum::<u64>();
    let mut done = 0u64;
    let mut buf = vec![0u8; CHUNK_BYTES];
    let mut boot_bytes = 0u64;
    for &(offset, len) in &first {
        let end = offset.saturating_add(len).min(size_bytes);
        let mut at = offset;
        while at < end {
            let want = usize::try_from((end - at).min(CHUNK_BYTES as u64)).unwrap_or(CHUNK_BYTES);
            let n = file
                .read_at(&mut buf[..want], at)
                .map_err(io(path, "read"))?;
            if n == 0 {
                break;
            }
            at += n as u64;
            done += n as u64;
            boot_bytes += n as u64;
            progress(done, total);
        }
    }
    pagecache::warm(file, size_bytes).map_err(cache)?;
    done += size_bytes;
    progress(done, total);
    let after = pagecache::resident_bytes_by(file, size_bytes, method).map_err(cache)?;
    Ok(WarmReport {
        schema_version: WARM_SCHEMA_VERSION,
        size_bytes,
        boot_bytes,
        resident_before_bytes: before,
        resident_after_bytes: after,
        method,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warm_after_drop_makes_the_file_resident() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.img");
        let size = 3 << 20;
        std::fs::write(&p, isotune_testutil::Rng::new(7).bytes(size)).unwrap();
        let f = File::open(&p).unwrap();
        let dropped = pagecache::drop_pages(&f, size as u64).unwrap();
        if !dropped.is_cold() {
            // tmpfs keeps its pages whatever is asked.
            return isotune_testutil::skip("the temp directory cannot drop pages (tmpfs?)");
        }
        let mut last = 0;
        let r = warm(&p, &f, size as u64, |_| vec![(4096, 8192)], &mut |n, _| {
            last = n
        })
        .unwrap();
        assert_eq!(r.resident_before_bytes, 0);
        assert_eq!(r.resident_after_bytes, size as u64);
        assert_eq!(r.boot_bytes, 8192);
        assert_eq!(last, size as u64 + 8192);
    }
}
