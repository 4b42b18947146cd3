//! What all the readers of one image share: the budget for Rock Ridge /
//! SUSP parsing and the last big directory read ([`ImageShared`]).
//!
//! Each record's continuation (`CE`) chain is capped on its own
//! ([`MAX_CE_HOPS`](crate::susp::MAX_CE_HOPS) areas,
//! [`MAX_CE_TOTAL_BYTES`](crate::susp::MAX_CE_TOTAL_BYTES) bytes), but a
//! crafted image can give thousands of records the same maximal chain, and
//! every tree walk and path lookup of the image parses it again. An
//! [`IsoImage`](crate::IsoImage) therefore holds one [`SuspBudget`] shared by
//! all its walks and lookups: once [`MAX_SUSP_BYTES`] bytes or
//! [`MAX_SUSP_ENTRIES`] entries have been parsed, further system-use areas
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
/// parsed per image.
pub const MAX_SUSP_BYTES: u64 = 128 * 1024 * 1024;
/// Most SUSP entries parsed per image.
pub const MAX_SUSP_ENTRIES: u64 = 8 * 1024 * 1024;

/// State an [`IsoImage`](crate::IsoImage) shares between all its tree
/// walks and path lookups.
#[derive(Debug, Default)]
pub struct ImageShared {
    /// The SUSP budget.
    pub susp: SuspBudget,
    pub(crate) dir_cache: DirCache,
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
#[derive(Debug, Default)]
pub struct SuspBudget {
    bytes: AtomicU64,
    entries: AtomicU64,
    exceeded: AtomicBool,
}

impl SuspBudget {
    /// A fresh budget.
    pub fn new() -> Self {
        SuspBudget::default()
    }

    /// Takes `bytes` for one area; false (and the budget marked exceeded)
    /// when they do not fit or the budget is already spent.
    pub(crate) fn take_bytes(&self, bytes: u64) -> bool {
        if self.is_exceeded() {
            return false;
        }
        let used = self.bytes.fetch_add(bytes, Ordering::Relaxed);
        if used.saturating_add(bytes) > MAX_SUSP_BYTES {
            self.exceeded.store(true, Ordering::Relaxed);
            return false;
        }
        true
    }

    /// Counts `n` parsed entries; false (and the budget marked exceeded)
    /// once the total passes [`MAX_SUSP_ENTRIES`].
    pub(crate) fn take_entries(&self, n: u64) -> bool {
        let used = self.entries.fetch_add(n, Ordering::Relaxed);
        if used.saturating_add(n) > MAX_SUSP_ENTRIES {
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
        self.bytes.load(Ordering::Relaxed).min(MAX_SUSP_BYTES)
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
                    "the image's system-use (Rock Ridge) data exceeds the per-image limit of {MAX_SUSP_BYTES} bytes or {MAX_SUSP_ENTRIES} entries; records past it are listed with their ISO9660 names and no Rock Ridge attributes"
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
        let b = SuspBudget::new();
        assert!(b.take_bytes(MAX_SUSP_BYTES - 10));
        assert!(b.anomaly().is_none());
        assert!(!b.take_bytes(11));
        assert!(b.is_exceeded());
        assert!(!b.take_bytes(1), "spent stays spent");
        assert_eq!(b.anomaly().unwrap().id, "susp.budget-exceeded");
        let b = SuspBudget::new();
        assert!(b.take_entries(MAX_SUSP_ENTRIES));
        assert!(!b.take_entries(1));
        assert!(!b.take_bytes(1));
    }
}
