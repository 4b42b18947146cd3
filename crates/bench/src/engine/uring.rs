//! The `io_uring` engine: up to `queue_depth` reads in flight through one
//! ring, like fio's `ioengine=io_uring` with `fixedbufs` and
//! `registerfiles`.
//!
//! - The ring has `queue_depth` entries, and a pool of `queue_depth` aligned
//!   buffers, one per *slot*, registered with `register_buffers` and read
//!   with `READ_FIXED`. The target's fd is registered as fixed file 0 (and
//!   re-pointed at each run's target with `register_files_update`). Either
//!   registration may fail (e.g. `RLIMIT_MEMLOCK` for buffers); the engine
//!   then uses plain `READ` and a raw fd, which costs a little more per read.
//! - A run fills the submission queue up to the depth, calls
//!   `submit_and_wait(1)`, reaps every ready completion, refills, and so on.
//!   The CQE's `user_data` is the slot index; each slot remembers its
//!   request and when it was queued. Latency runs from pushing the SQE to
//!   reaping its CQE, with one clock read per reaped batch, as fio does
//!   (`ios_completed` stamps a batch once).
//! - Short reads follow fio and the psync engine: the remainder is
//!   resubmitted from the same slot (latency keeps the first queue time);
//!   at the end of the target the request completes short; 0 bytes before
//!   the end is an error.
//! - Safety of the buffers: the kernel writes into a slot's buffer until its
//!   CQE is reaped, so a run never returns with reads in flight (after an
//!   error it stops queueing and waits for the rest), a run interrupted by a
//!   panicking callback is drained at the next run or on drop, and if the
//!   ring itself fails so that in-flight reads cannot be waited for, the
//!   buffers are leaked rather than freed under the kernel.

use std::fmt;
use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::time::Instant;

use io_uring::{opcode, squeue, types, IoUring};

use crate::align::{round_up, AlignedBuf, PAGE_ALIGN};
use crate::engine::{
    check_run, read_error, zero_read_error, Completion, Engine, EngineKind, Request,
};
use crate::target::Target;
use crate::{Error, ErrorKind, Result};

/// `user_data` of the probe's NOP.
const PROBE_TAG: u64 = 0x1505_7a9e;

/// How often one slot's read is resubmitted after `EINTR`/`EAGAIN`.
const MAX_RETRIES: u8 = 16;

/// Sets up a 2-entry ring and round-trips a NOP; the error says why not.
pub(crate) fn probe() -> Result<(), String> {
    let mut ring = IoUring::new(2).map_err(describe_setup_error)?;
    let nop = opcode::Nop::new().build().user_data(PROBE_TAG);
    // SAFETY: a NOP refers to no memory, so nothing must outlive it.
    unsafe { ring.submission().push(&nop) }
        .map_err(|_| "the submission queue of a new ring is full".to_owned())?;
    submit_and_wait(&ring, 1).map_err(|e| format!("submitting a NOP failed: {e}"))?;
    let cqe = ring
        .completion()
        .next()
        .ok_or_else(|| "a NOP did not complete".to_owned())?;
    if cqe.user_data() != PROBE_TAG || cqe.result() < 0 {
        return Err(format!(
            "a NOP completed with result {} and tag {:#x}",
            cqe.result(),
            cqe.user_data()
        ));
    }
    Ok(())
}

fn describe_setup_error(e: io::Error) -> String {
    match e.raw_os_error() {
        Some(libc::ENOSYS) => {
            format!("the kernel has no io_uring, Linux 5.1 or newer is needed: {e}")
        }
        Some(libc::EPERM) => format!(
            "io_uring_setup was refused, by kernel.io_uring_disabled or a seccomp filter: {e}"
        ),
        _ => format!("io_uring_setup failed: {e}"),
    }
}

/// `submit_and_wait`, retried when a signal interrupts the wait.
fn submit_and_wait(ring: &IoUring, want: usize) -> io::Result<usize> {
    loop {
        match ring.submit_and_wait(want) {
            Err(e) if e.raw_os_error() == Some(libc::EINTR) => continue,
            other => return other,
        }
    }
}

/// What one buffer slot is reading.
#[derive(Debug, Clone, Copy)]
struct Slot {
    index: usize,
    request: Request,
    done: u32,
    queued_at: Instant,
    retries: u8,
}

/// A request whose read is complete, waiting for its callback.
#[derive(Debug, Clone, Copy)]
struct Finished {
    slot: usize,
    index: usize,
    bytes: u32,
    latency_ns: u64,
}

/// How SQEs name the target.
#[derive(Debug, Clone, Copy)]
enum FileRef {
    Fixed,
    Raw(RawFd),
}

/// io_uring with a pool of registered buffers.
pub(crate) struct UringEngine {
    ring: IoUring,
    /// One buffer per slot; the kernel may write into a busy slot's buffer.
    bufs: Vec<AlignedBuf>,
    buf_align: usize,
    max_request_bytes: usize,
    fixed_buffers: bool,
    fixed_file: bool,
    slots: Vec<Slot>,
    free: Vec<usize>,
    /// Slots whose read the kernel may still hold.
    busy: usize,
    /// CQEs reaped in one batch: (slot, result).
    reaped: Vec<(u64, i32)>,
    /// Requests finished in one batch, before their callbacks.
    finished: Vec<Finished>,
    /// The ring failed with reads in flight; the buffers must not be freed.
    poisoned: bool,
}

impl fmt::Debug for UringEngine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UringEngine")
            .field("queue_depth", &self.slots.len())
            .field("buffer_bytes", &self.bufs.first().map(AlignedBuf::len))
            .field("fixed_buffers", &self.fixed_buffers)
            .field("fixed_file", &self.fixed_file)
            .field("busy", &self.busy)
            .finish_non_exhaustive()
    }
}

impl UringEngine {
    /// A ring of `queue_depth` entries and as many buffers of
    /// `max_request_bytes` (rounded up to the target's offset alignment).
    pub(crate) fn new(
        target: &Target,
        queue_depth: u32,
        max_request_bytes: usize,
    ) -> io::Result<UringEngine> {
        let ring = IoUring::new(queue_depth)?;
        let alignment = target.alignment();
        let buf_align = alignment.memory.max(PAGE_ALIGN);
        let buf_len = round_up(max_request_bytes, alignment.offset);
        let depth = queue_depth as usize;
        let mut bufs: Vec<AlignedBuf> = (0..depth)
            .map(|_| AlignedBuf::new(buf_len, buf_align))
            .collect();
        let iovecs: Vec<libc::iovec> = bufs
            .iter_mut()
            .map(|b| libc::iovec {
                iov_base: b.as_mut_ptr().cast(),
                iov_len: b.len(),
            })
            .collect();
        // SAFETY: every iovec covers exactly one buffer of `bufs`, which the
        // engine owns, never resizes, and frees only after no read can be in
        // flight (see the module doc); the ring is dropped no later than the
        // buffers, so the registration never outlives them.
        let fixed_buffers = unsafe { ring.submitter().register_buffers(&iovecs) }.is_ok();
        let fixed_file = ring
            .submitter()
            .register_files(&[target.file().as_raw_fd()])
            .is_ok();
        let now = Instant::now();
        Ok(UringEngine {
            ring,
            bufs,
            buf_align,
            max_request_bytes,
            fixed_buffers,
            fixed_file,
            slots: vec![
                Slot {
                    index: 0,
                    request: Request { offset: 0, len: 0 },
                    done: 0,
                    queued_at: now,
                    retries: 0,
                };
                depth
            ],
            free: (0..depth).rev().collect(),
            busy: 0,
            reaped: Vec::with_capacity(depth),
            finished: Vec::with_capacity(depth),
            poisoned: false,
        })
    }

    /// Points fixed file 0 at `target`, or falls back to its raw fd.
    fn file_for(&mut self, target: &Target) -> FileRef {
        let fd = target.file().as_raw_fd();
        if self.fixed_file
            && self
                .ring
                .submitter()
                .register_files_update(0, &[fd])
                .is_ok()
        {
            FileRef::Fixed
        } else {
            FileRef::Raw(fd)
        }
    }

    /// Queues (the rest of) slot `slot`'s read.
    fn push(&mut self, slot: usize, file: FileRef) -> Result<()> {
        let s = self.slots[slot];
        let ptr = self.bufs[slot].as_mut_ptr().wrapping_add(s.done as usize);
        let len = s.request.len - s.done;
        let offset = s.request.offset + u64::from(s.done);
        // Slots are < queue_depth <= 256, so the buffer index fits a u16.
        let buf_index = slot as u16;
        let entry: squeue::Entry = match (file, self.fixed_buffers) {
            (FileRef::Fixed, true) => opcode::ReadFixed::new(types::Fixed(0), ptr, len, buf_index)
                .offset(offset)
                .build(),
            (FileRef::Fixed, false) => opcode::Read::new(types::Fixed(0), ptr, len)
                .offset(offset)
                .build(),
            (FileRef::Raw(fd), true) => opcode::ReadFixed::new(types::Fd(fd), ptr, len, buf_index)
                .offset(offset)
                .build(),
            (FileRef::Raw(fd), false) => opcode::Read::new(types::Fd(fd), ptr, len)
                .offset(offset)
                .build(),
        };
        let entry = entry.user_data(slot as u64);
        for _ in 0..2 {
            // SAFETY: the SQE points at `len` bytes inside `self.bufs[slot]`
            // (the registered buffer `buf_index` when fixed); that buffer is
            // neither read by Rust, moved nor freed until this slot's CQE is
            // reaped: runs wait for every busy slot, and Drop drains or leaks.
            if unsafe { self.ring.submission().push(&entry) }.is_ok() {
                return Ok(());
            }
            // Unreachable in practice (one SQE per busy slot, slots <= ring
            // entries), but make room rather than fail.
            self.ring
                .submit()
                .map_err(|e| Error::io("io_uring submission failed", e))?;
        }
        Err(Error::new(
            ErrorKind::Io,
            "the io_uring submission queue stayed full",
        ))
    }

    /// Handles one CQE: resubmits after a transient error or a short read
    /// before the end, records a failure, or adds a finished request.
    #[allow(clippy::too_many_arguments)]
    fn account(
        &mut self,
        target: &Target,
        file: FileRef,
        size: u64,
        slot: usize,
        result: i32,
        now: Instant,
        failure: &mut Option<Error>,
        finished: &mut Vec<Finished>,
    ) {
        let s = self.slots[slot];
        let resubmit = |engine: &mut Self, failure: &mut Option<Error>| {
            if let Err(e) = engine.push(slot, file) {
                engine.release(slot);
                failure.get_or_insert(e);
            }
        };
        if result < 0 {
            let errno = -result;
            let transient = errno == libc::EINTR || errno == libc::EAGAIN;
            if transient && failure.is_none() && s.retries < MAX_RETRIES {
                self.slots[slot].retries += 1;
                resubmit(self, failure);
            } else {
                self.release(slot);
                let err = read_error(target, &s.request, io::Error::from_raw_os_error(errno));
                failure.get_or_insert(err);
            }
            return;
        }
        // 0 <= result <= the remaining length, a u32.
        let done = s.done + result as u32;
        self.slots[slot].done = done;
        let at = s.request.offset + u64::from(done);
        if done < s.request.len && at < size {
            if result == 0 {
                self.release(slot);
                failure.get_or_insert(zero_read_error(target, &s.request, at));
            } else if failure.is_some() {
                self.release(slot);
            } else {
                resubmit(self, failure);
            }
            return;
        }
        self.release(slot);
        let latency = now.saturating_duration_since(s.queued_at);
        finished.push(Finished {
            slot,
            index: s.index,
            bytes: done,
            latency_ns: u64::try_from(latency.as_nanos()).unwrap_or(u64::MAX),
        });
    }

    fn release(&mut self, slot: usize) {
        self.free.push(slot);
        self.busy -= 1;
    }

    /// Waits for every busy slot and discards the results.
    fn drain(&mut self) -> Result<()> {
        while self.busy > 0 {
            if let Err(e) = submit_and_wait(&self.ring, self.busy) {
                self.poisoned = true;
                return Err(Error::io("waiting for in-flight io_uring reads failed", e));
            }
            let done: Vec<u64> = self.ring.completion().map(|c| c.user_data()).collect();
            for slot in done {
                self.release(slot as usize);
            }
        }
        Ok(())
    }
}

impl Engine for UringEngine {
    fn kind(&self) -> EngineKind {
        EngineKind::IoUring
    }

    fn run_until(
        &mut self,
        target: &Target,
        requests: &[Request],
        queue_depth: u32,
        deadline: Option<Instant>,
        on_done: &mut dyn FnMut(Completion<'_>),
    ) -> Result<usize> {
        if self.poisoned {
            return Err(Error::new(
                ErrorKind::Io,
                "the io_uring engine stopped after an earlier failure; open a new one",
            ));
        }
        self.drain()?;
        check_run(
            target,
            requests,
            queue_depth,
            self.slots.len() as u32,
            self.max_request_bytes,
        )?;
        let alignment = target.alignment();
        let buf_len = self.bufs.first().map_or(0, AlignedBuf::len);
        if alignment.memory > self.buf_align || !buf_len.is_multiple_of(alignment.offset.max(1)) {
            return Err(Error::new(
                ErrorKind::InvalidInput,
                "this target needs stricter buffer alignment than the engine was opened for; open a new engine for it",
            )
            .with_path(target.path()));
        }
        if requests.is_empty() {
            return Ok(0);
        }
        let file = self.file_for(target);
        let size = target.size_bytes();
        let depth = (queue_depth as usize).min(requests.len());
        let mut next = 0;
        let mut failure: Option<Error> = None;
        // Once the deadline has passed no new read is queued; the ones in
        // flight complete. Checked at each batch of completions, with the
        // clock read there anyway, so the queue stays full until then.
        let mut stopping = false;
        loop {
            while failure.is_none() && !stopping && self.busy < depth && next < requests.len() {
                let slot = self.free.pop().expect("a free slot while busy < depth");
                self.slots[slot] = Slot {
                    index: next,
                    request: requests[next],
                    done: 0,
                    queued_at: Instant::now(),
                    retries: 0,
                };
                self.busy += 1;
                next += 1;
                if let Err(e) = self.push(slot, file) {
                    self.release(slot);
                    failure = Some(e);
                }
            }
            if self.busy == 0 {
                break;
            }
            if let Err(e) = submit_and_wait(&self.ring, 1) {
                // The reads already queued cannot be waited for: keep their
                // buffers alive for good.
                self.poisoned = true;
                return Err(failure.unwrap_or_else(|| Error::io("io_uring_enter failed", e)));
            }
            let now = Instant::now();
            stopping = deadline.is_some_and(|d| now >= d);
            let mut reaped = std::mem::take(&mut self.reaped);
            reaped.clear();
            reaped.extend(self.ring.completion().map(|c| (c.user_data(), c.result())));
            // Account for the whole batch before any callback runs, so a
            // panicking callback cannot leave a slot counted busy whose CQE
            // is already gone (the next run's drain would wait forever).
            let mut finished = std::mem::take(&mut self.finished);
            finished.clear();
            for &(tag, result) in &reaped {
                self.account(
                    target,
                    file,
                    size,
                    tag as usize,
                    result,
                    now,
                    &mut failure,
                    &mut finished,
                );
            }
            self.reaped = reaped;
            // No new read is queued before the callbacks return, so released
            // slots keep their data while `on_done` looks at it.
            if failure.is_none() {
                for f in &finished {
                    on_done(Completion {
                        index: f.index,
                        bytes: f.bytes,
                        latency_ns: f.latency_ns,
                        data: &self.bufs[f.slot].as_slice()[..f.bytes as usize],
                    });
                }
            }
            self.finished = finished;
        }
        failure.map_or(Ok(next), Err)
    }
}

impl Drop for UringEngine {
    fn drop(&mut self) {
        if !self.poisoned && self.drain().is_err() {
            self.poisoned = true;
        }
        if self.poisoned {
            // The kernel may still write into these buffers: leak them
            // rather than hand their memory back to the allocator.
            std::mem::forget(std::mem::take(&mut self.bufs));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::target::TargetOptions;
    use std::io::Write;

    fn engine_or_skip(target: &Target, depth: u32) -> Option<UringEngine> {
        if let Err(reason) = crate::engine::uring_available() {
            crate::engine::tests::uring_missing(&reason);
            return None;
        }
        Some(UringEngine::new(target, depth, 1 << 16).unwrap())
    }

    #[test]
    fn registers_buffers_and_file() {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        f.write_all(&[9u8; 65536]).unwrap();
        let t = Target::open(f.path(), TargetOptions::default()).unwrap();
        let Some(e) = engine_or_skip(&t, 8) else {
            return;
        };
        // As root (CAP_IPC_LOCK) or with a normal memlock limit, both work;
        // the fallbacks are covered by the shared suite reading correctly.
        assert!(e.fixed_file, "{e:?}");
        assert_eq!(e.bufs.len(), 8);
        assert!(e.bufs.iter().all(|b| b.len() == 1 << 16));
        assert!(format!("{e:?}").contains("queue_depth: 8"));
    }

    #[test]
    fn depth_beyond_the_ring_is_invalid() {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        f.write_all(&[9u8; 8192]).unwrap();
        let t = Target::open(f.path(), TargetOptions::default()).unwrap();
        let Some(mut e) = engine_or_skip(&t, 2) else {
            return;
        };
        let err = e
            .run(
                &t,
                &[Request {
                    offset: 0,
                    len: 4096,
                }],
                3,
                &mut |_| {},
            )
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput);
        assert!(err.to_string().contains("1..=2"), "{err}");
    }

    #[test]
    fn a_panicking_callback_leaves_the_engine_usable() {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        f.write_all(&[5u8; 1 << 16]).unwrap();
        let t = Target::open(f.path(), TargetOptions::default()).unwrap();
        let Some(mut e) = engine_or_skip(&t, 8) else {
            return;
        };
        let requests: Vec<Request> = (0..16)
            .map(|i| Request {
                offset: i * 4096,
                len: 4096,
            })
            .collect();
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            e.run(&t, &requests, 8, &mut |_| panic!("callback failure"))
        }));
        assert!(outcome.is_err());
        let mut n = 0;
        e.run(&t, &requests, 8, &mut |c| {
            assert!(c.data.iter().all(|&b| b == 5));
            n += 1;
        })
        .unwrap();
        assert_eq!(n, 16);
    }
}
