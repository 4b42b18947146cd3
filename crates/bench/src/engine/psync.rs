//! The `psync` engine: one positioned `pread` at a time, like fio's
//! `ioengine=psync`. Always available, so it is the fallback for io_uring.
//!
//! Latency is measured with [`Instant`] (`clock_gettime(CLOCK_MONOTONIC)`
//! through the vDSO) immediately around the system call, so it includes only
//! the kernel's work plus two clock reads.
//!
//! Short reads follow fio (`backend.c`, `io_queue_event`): when `pread`
//! returns fewer bytes than asked before the end of the target, the rest is
//! read again and the request completes once, with its latency covering all
//! the pieces; at the end of the target the request completes with fewer
//! bytes than asked; a read that returns 0 bytes before the end of the
//! target is an error (fio's "full resid", EIO).

use std::io;
use std::os::unix::fs::FileExt;
use std::time::Instant;

use crate::align::{round_up, AlignedBuf, PAGE_ALIGN};
use crate::engine::{
    check_run, read_error, zero_read_error, Completion, Engine, EngineKind, Request,
    MAX_QUEUE_DEPTH,
};
use crate::target::Target;
use crate::Result;

/// `pread` into one aligned buffer.
#[derive(Debug)]
pub(crate) struct PsyncEngine {
    buf: AlignedBuf,
    buf_align: usize,
    max_request_bytes: usize,
}

impl PsyncEngine {
    /// An engine for requests of up to `max_request_bytes` on targets like
    /// `target` (its alignment sizes the buffer).
    pub(crate) fn new(target: &Target, max_request_bytes: usize) -> PsyncEngine {
        let alignment = target.alignment();
        let buf_align = alignment.memory.max(PAGE_ALIGN);
        PsyncEngine {
            buf: AlignedBuf::new(round_up(max_request_bytes, alignment.offset), buf_align),
            buf_align,
            max_request_bytes,
        }
    }

    /// Reads `request` into the buffer; returns the bytes read.
    fn read_one(&mut self, target: &Target, request: &Request) -> Result<usize> {
        let file = target.file();
        let size = target.size_bytes();
        let len = request.len as usize;
        let buf = &mut self.buf.as_mut_slice()[..len];
        let mut done = 0;
        while done < len {
            let at = request.offset + done as u64;
            match file.read_at(&mut buf[done..], at) {
                Ok(0) if at >= size => break,
                Ok(0) => return Err(zero_read_error(target, request, at)),
                Ok(n) => done += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(read_error(target, request, e)),
            }
            if request.offset + done as u64 >= size {
                break;
            }
        }
        Ok(done)
    }
}

impl Engine for PsyncEngine {
    fn kind(&self) -> EngineKind {
        EngineKind::Psync
    }

    fn run_until(
        &mut self,
        target: &Target,
        requests: &[Request],
        queue_depth: u32,
        deadline: Option<Instant>,
        on_done: &mut dyn FnMut(Completion<'_>),
    ) -> Result<usize> {
        // Depths above 1 are accepted and ignored: one pread at a time.
        check_run(
            target,
            requests,
            queue_depth,
            MAX_QUEUE_DEPTH,
            self.max_request_bytes,
        )?;
        let alignment = target.alignment();
        if alignment.memory > self.buf_align
            || !self.buf.len().is_multiple_of(alignment.offset.max(1))
        {
            // A target with stricter alignment than the one this engine was
            // opened for: resize the buffer rather than fail with EINVAL.
            *self = PsyncEngine::new(target, self.max_request_bytes);
        }
        for (index, request) in requests.iter().enumerate() {
            let start = Instant::now();
            // At least one request, so a run always measures something.
            if index > 0 && deadline.is_some_and(|d| start >= d) {
                return Ok(index);
            }
            let bytes = self.read_one(target, request)?;
            let latency_ns = u64::try_from(start.elapsed().as_nanos()).unwrap_or(u64::MAX);
            on_done(Completion {
                index,
                // `bytes` <= request.len, a u32.
                bytes: bytes as u32,
                latency_ns,
                data: &self.buf.as_slice()[..bytes],
            });
        }
        Ok(requests.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::target::TargetOptions;
    use std::io::Write;

    #[test]
    fn buffer_is_rounded_up_to_the_offset_alignment() {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        f.write_all(&[7u8; 8192]).unwrap();
        let t = Target::open(f.path(), TargetOptions { direct: true }).unwrap();
        let e = PsyncEngine::new(&t, 1000);
        assert_eq!(e.buf.len() % t.alignment().offset, 0);
        assert!(e.buf.len() >= 1000);
        assert_eq!(e.kind(), EngineKind::Psync);
    }

    #[test]
    fn depth_above_one_is_accepted() {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        f.write_all(&[1u8; 4096]).unwrap();
        let t = Target::open(f.path(), TargetOptions::default()).unwrap();
        let mut e = PsyncEngine::new(&t, 4096);
        let mut n = 0;
        e.run(
            &t,
            &[Request {
                offset: 0,
                len: 4096,
            }],
            64,
            &mut |c| {
                assert_eq!(c.bytes, 4096);
                n += 1;
            },
        )
        .unwrap();
        assert_eq!(n, 1);
    }
}
