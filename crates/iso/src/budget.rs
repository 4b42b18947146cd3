//! What all the readers of one image share: the budget for Rock Ridge /
//! SUSP parsing and the last big directory read ([`ImageShared`]).
//!
//! Each record's continuation (`CE`) chain is capped on its own
//! ([`MAX_CE_HOPS`](crate::susp::MAX_CE_HOPS) areas,
//! [`MAX_CE_TOTAL_BYTES`](crate::susp::MAX_CE_TOTAL_BYTES) bytes), but a
//! crafted image can give thousands of records the same maximal chain, and
//! every tree walk and path lookup of the image parses it again. An
//! [`IsoImage`](crate::IsoImage) therefore holds one [`SuspBudget`] shared by
//! all its walks and lookups: once its byte budget (16 times the file
//! size, between [`MIN_SUSP_BYTES`] and [`MAX_SUSP_BYTES`]) or entry budget
//! (a sixteenth of that) has been parsed, further system-use areas
//! are not read (records keep their ISO9660 names and lose their Rock Ridge
//! attributes) and [`SuspBudget::anomaly`] says so once.
//!
//! Real images stay far below: a Debian DVD (about 80,000 entries) carries
//! about 20 MB of SUSP data in a whole walk, and `inspect` walks at most
//! twice (the listing and the boot-file search).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use crate::types::{Anomaly, Severity};

/// Most bytes of system-use areas (in records and continuation areas)
/// parsed per image, whatever its size.
pub const MAX_SUSP_BYTES: u64 = 128 * 1024 * 1024;
/// The budget of a small image: 16 MiB.
pub const MIN_SUSP_BYTES: u64 = 16 * 1024 * 1024;
/// The budget is this many times the file size, between the two bounds
/// above. A real image's system-use data lies on the image once (a walk
/// parses at most about its size, and `inspect` walks twice plus a few
/// lookups); only a crafted one makes thousands of records share the same
/// continuation areas.
pub const SUSP_BYTES_PER_IMAGE_BYTE: u64 = 16;
/// Entries allowed per byte of budget: one per 16 bytes (real entries are
/// 5 to 44 bytes; a crafted area of empty 4-byte entries hits this first).
pub const SUSP_BYTES_PER_ENTRY: u64 = 16;

/// State an [`IsoImage`](crate::IsoImage) shares between all its tree
/// walks and path lookups. `Default` has the largest SUSP budget;
/// [`ImageShared::for_image`] sizes it to the file.
#[derive(Debug, Default)]
pub struct ImageShared {
    /// The SUSP budget.
    pub susp: SuspBudget,
    pub(crate) dir_cache: DirCache,
}

impl ImageShared {
    /// The shared state of an image of `file_bytes` bytes.
    pub fn for_image(file_bytes: u64) -> Self {
        ImageShared {
            susp: SuspBudget::for_image(file_bytes),
            dir_cache: DirCache::default(),
        }
    }
}

/// Directories at least this big are kept for the next reader.
const DIR_CACHE_MIN_BYTES: u64 = 64 * 1024;

/// The last big directory read. Path lookups start at the root each time,
/// so an image whose root is tens of MB (crafted, or simply huge) would
/// otherwise read and zero it again for every lookup.
#[derive(Debug, Default)]
pub(crate) struct DirCache {
    last: Mutex<Option<CachedDir>>,
}

/// A directory's bytes with the offset and length they were read for.
type CachedDir = (u64, u64, Arc<Vec<u8>>);

impl DirCache {
    /// The bytes of the directory read at `offset` for `want` bytes, if kept.
    pub(crate) fn get(&self, offset: u64, want: u64) -> Option<Arc<Vec<u8>>> {
        if want < DIR_CACHE_MIN_BYTES {
            return None;
        }
        let last = self.last.lock().ok()?;
        match last.as_ref() {
            Some((o, w, buf)) if *o == offset && *w == want => Some(Arc::clone(buf)),
            _ => None,
        }
    }

    /// Keeps `buf` (read at `offset` for `want` bytes) when it is big.
    pub(crate) fn offer(&self, offset: u64, want: u64, buf: &Arc<Vec<u8>>) {
        if want < DIR_CACHE_MIN_BYTES {
            return;
        }
        if let Ok(mut last) = self.last.lock() {
            *last = Some((offset, want, Arc::clone(buf)));
        }
    }
}

/// Counts the SUSP bytes and entries an image's readers have parsed.
/// Atomic counters, so an image can be shared between threads.
#[derive(Debug)]
pub struct SuspBudget {
    max_bytes: u64,
    max_entries: u64,
    bytes: AtomicU64,
    entries: AtomicU64,
    exceeded: AtomicBool,
}

impl Default for SuspBudget {
    /// The largest budget ([`MAX_SUSP_BYTES`]).
    fn default() -> Self {
        SuspBudget::with_max_bytes(MAX_SUSP_BYTES)
    }
}

impl SuspBudget {
    /// The budget of an image of `file_bytes` bytes.
    pub fn for_image(file_bytes: u64) -> Self {
        let bytes = file_bytes
            .saturating_mul(SUSP_BYTES_PER_IMAGE_BYTE)
            .clamp(MIN_SUSP_BYTES, MAX_SUSP_BYTES);
        SuspBudget::with_max_bytes(bytes)
    }

    fn with_max_bytes(max_bytes: u64) -> Self {
        SuspBudget {
            max_bytes,
            max_entries: max_bytes / SUSP_BYTES_PER_ENTRY,
            bytes: AtomicU64::new(0),
            entries: AtomicU64::new(0),
            exceeded: AtomicBool::new(false),
        }
    }

    /// The byte budget.
    pub fn max_bytes(&self) -> u64 {
        self.max_bytes
    }

    /// The entry budget.
    pub fn max_entries(&self) -> u64 {
        self.max_entries
    }

    /// Takes `bytes` for one area; false (and the budget marked exceeded)
    /// when they do not fit or the budget is already spent.
    pub(crate) fn take_bytes(&self, bytes: u64) -> bool {
        if self.is_exceeded() {
            return false;
        }
        let used = self.bytes.fetch_add(bytes, Ordering::Relaxed);
        if used.saturating_add(bytes) > self.max_bytes {
            self.exceeded.store(true, Ordering::Relaxed);
            return false;
        }
        true
    }

    /// Counts `n` parsed entries; false (and the budget marked exceeded)
    /// once the total passes the entry budget.
    pub(crate) fn take_entries(&self, n: u64) -> bool {
        let used = self.entries.fetch_add(n, Ordering::Relaxed);
        if used.saturating_add(n) > self.max_entries {
            self.exceeded.store(true, Ordering::Relaxed);
            return false;
        }
        true
    }

    /// Whether a limit was hit.
    pub fn is_exceeded(&self) -> bool {
        self.exceeded.load(Ordering::Relaxed)
    }

    /// Bytes of system-use areas parsed so far.
    pub fn bytes_used(&self) -> u64 {
        self.bytes.load(Ordering::Relaxed).min(self.max_bytes)
    }

    /// SUSP entries parsed so far.
    pub fn entries_used(&self) -> u64 {
        self.entries.load(Ordering::Relaxed)
    }

    /// The `susp.budget-exceeded` anomaly when a limit was hit. Its text
    /// does not change between calls, so reports keep one copy.
    pub fn anomaly(&self) -> Option<Anomaly> {
        self.is_exceeded().then(|| {
            Anomaly::new(
                "susp.budget-exceeded",
                Severity::Error,
                format!(
                    "the image's system-use (Rock Ridge) data exceeds its budget of {} bytes or {} entries (16 times the file size, at least {MIN_SUSP_BYTES} and at most {MAX_SUSP_BYTES} bytes; one entry per 16 bytes); records past it are listed with their ISO9660 names and no Rock Ridge attributes",
                    self.max_bytes, self.max_entries
                ),
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_and_entries_run_out() {
        let b = SuspBudget::default();
        assert!(b.take_bytes(MAX_SUSP_BYTES - 10));
        assert!(b.anomaly().is_none());
        assert!(!b.take_bytes(11));
        assert!(b.is_exceeded());
        assert!(!b.take_bytes(1), "spent stays spent");
        assert_eq!(b.anomaly().unwrap().id, "susp.budget-exceeded");
        let b = SuspBudget::default();
        assert!(b.take_entries(MAX_SUSP_BYTES / SUSP_BYTES_PER_ENTRY));
        assert!(!b.take_entries(1));
        assert!(!b.take_bytes(1));
    }

    #[test]
    fn the_budget_scales_with_the_image() {
        assert_eq!(SuspBudget::for_image(0).max_bytes(), MIN_SUSP_BYTES);
        assert_eq!(SuspBudget::for_image(2 << 20).max_bytes(), 32 << 20);
        assert_eq!(SuspBudget::for_image(2 << 20).max_entries(), 2 << 20);
        assert_eq!(SuspBudget::for_image(64 << 20).max_bytes(), MAX_SUSP_BYTES);
        assert_eq!(SuspBudget::for_image(u64::MAX).max_bytes(), MAX_SUSP_BYTES);
    }
}
