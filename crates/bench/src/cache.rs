//! Page-cache state of one target: measure it, drop it, warm it, through
//! the one implementation in [`isotune_host::pagecache`] (cachestat or
//! mincore, a drop that is measured before and after). This module only
//! adapts it to a [`Target`] and to this crate's errors.

use std::fs::File;

use isotune_host::pagecache::{self, PageCacheError};
pub use isotune_host::pagecache::{AccessHint, CacheDrop, ResidencyMethod};

use crate::target::{identity_of, Target};
use crate::{Error, ErrorKind, Result};

fn wrap(target: &Target) -> impl Fn(PageCacheError) -> Error + '_ {
    |e| Error::io(e.to_string(), e.into_io()).with_path(target.path())
}

/// Bytes of `target` in the page cache, and how they were measured.
pub fn resident_bytes(target: &Target) -> Result<(u64, ResidencyMethod)> {
    pagecache::resident_bytes(target.file(), target.size_bytes()).map_err(wrap(target))
}

/// Bytes of `target` in the page cache, measured with `method`.
pub fn resident_bytes_by(target: &Target, method: ResidencyMethod) -> Result<u64> {
    pagecache::resident_bytes_by(target.file(), target.size_bytes(), method).map_err(wrap(target))
}

/// Evicts `target`'s pages from the page cache and measures before and after.
pub fn drop_pages(target: &Target) -> Result<CacheDrop> {
    pagecache::drop_pages(target.file(), target.size_bytes()).map_err(wrap(target))
}

/// Reads all of `target` once through a second, buffered file descriptor
/// (the target's own may be O_DIRECT, which bypasses the cache).
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
    pagecache::warm(&file, target.size_bytes()).map_err(wrap(target))
}

/// Sets the readahead hint of the target's open file description, as fio
/// does with its default `fadvise_hint=1`, so numbers compare like for like.
pub fn advise(target: &Target, hint: AccessHint) -> Result<()> {
    pagecache::advise(target.file(), hint).map_err(wrap(target))
}
