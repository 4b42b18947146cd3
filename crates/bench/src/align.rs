//! Aligned read buffers for the engines.
//!
//! O_DIRECT needs buffers whose address is a multiple of the target's
//! `stx_dio_mem_align`, and registered io_uring buffers pin fewer pages when
//! they start on a page boundary. [`AlignedBuf`] over-allocates a `Vec<u8>` by
//! the alignment and exposes the aligned window inside it, which needs no
//! `unsafe`: the heap block of a `Vec` that is never grown does not move, so
//! the window's address stays valid (and aligned) for the buffer's lifetime.
//!
//! Like fio (`iomem_align` defaults to the page size), engines align to at
//! least [`PAGE_ALIGN`] even for buffered reads, so both modes copy into
//! identically placed memory.

/// The minimum buffer alignment the engines use, in bytes (one page on the
/// architectures isotune targets).
pub const PAGE_ALIGN: usize = 4096;

/// A zeroed byte buffer of a fixed length whose first byte is aligned.
#[derive(Debug)]
pub struct AlignedBuf {
    storage: Vec<u8>,
    start: usize,
    len: usize,
}

impl AlignedBuf {
    /// A buffer of `len` bytes aligned to `align` bytes (`align` is rounded
    /// up to a power of two; 0 counts as 1).
    pub fn new(len: usize, align: usize) -> AlignedBuf {
        let align = align.max(1).next_power_of_two();
        let storage = vec![0u8; len + align - 1];
        let start = storage.as_ptr().align_offset(align);
        // `align_offset` on a `*const u8` always succeeds for a power of two;
        // the assertion documents the invariant the engines rely on.
        debug_assert!(start < align);
        AlignedBuf {
            storage,
            start,
            len,
        }
    }

    /// The length in bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the buffer has no bytes.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The aligned bytes.
    pub fn as_slice(&self) -> &[u8] {
        &self.storage[self.start..self.start + self.len]
    }

    /// The aligned bytes, mutably.
    pub fn as_mut_slice(&mut self) -> &mut [u8] {
        &mut self.storage[self.start..self.start + self.len]
    }

    /// The address of the first aligned byte, for handing to the kernel
    /// (io_uring buffer registration). Valid as long as `self` lives.
    pub fn as_mut_ptr(&mut self) -> *mut u8 {
        self.as_mut_slice().as_mut_ptr()
    }
}

/// Rounds `value` up to a multiple of `multiple` (`multiple` 0 or 1 returns
/// `value`). Saturates instead of overflowing.
pub fn round_up(value: usize, multiple: usize) -> usize {
    if multiple <= 1 {
        return value;
    }
    match value % multiple {
        0 => value,
        rem => value.saturating_add(multiple - rem),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buffers_are_aligned_and_sized() {
        for align in [1, 2, 512, 4096, 65536] {
            for len in [0, 1, 2048, 4096, 1 << 20] {
                let mut buf = AlignedBuf::new(len, align);
                assert_eq!(buf.len(), len);
                assert_eq!(buf.as_slice().len(), len);
                assert_eq!(
                    buf.as_mut_ptr() as usize % align,
                    0,
                    "align {align} len {len}"
                );
                assert!(buf.as_slice().iter().all(|&b| b == 0));
            }
        }
    }

    #[test]
    fn odd_alignment_rounds_to_power_of_two() {
        let mut buf = AlignedBuf::new(10, 3);
        assert_eq!(buf.as_mut_ptr() as usize % 4, 0);
        assert!(!buf.is_empty());
        assert!(AlignedBuf::new(0, 0).is_empty());
    }

    #[test]
    fn round_up_works() {
        assert_eq!(round_up(0, 512), 0);
        assert_eq!(round_up(1, 512), 512);
        assert_eq!(round_up(512, 512), 512);
        assert_eq!(round_up(2048, 4096), 4096);
        assert_eq!(round_up(7, 0), 7);
        assert_eq!(round_up(7, 1), 7);
        assert_eq!(round_up(usize::MAX, 512), usize::MAX);
    }
}
