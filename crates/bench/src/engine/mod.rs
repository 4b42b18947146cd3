//! I/O engines: how requests reach the kernel.
//!
//! An engine executes a list of [`Request`]s against a [`Target`] with up to
//! `queue_depth` requests in flight and reports every completion with its
//! latency (submission to completion, as fio's `clat`+`slat`). Two backends:
//! `psync` (one `pread` at a time; always works) and `io_uring` (queue depth
//! 1-256, registered buffers, batched submission; probed once at run time and
//! behind the `io_uring` cargo feature). [`open_engine`] is the one factory.

mod factory;
mod psync;
#[cfg(feature = "io_uring")]
#[allow(unsafe_code)] // io_uring buffer registration and SQE submission
mod uring;

#[cfg(test)]
mod tests;

pub use factory::{
    open_engine, uring_available, EngineChoice, EngineConfig, OpenedEngine, MAX_QUEUE_DEPTH,
};

use serde::{Deserialize, Serialize};

use crate::target::Target;
use crate::{Error, ErrorKind, Result};

/// One read: `len` bytes at byte `offset` of the target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Request {
    /// Byte offset in the target.
    pub offset: u64,
    /// Bytes to read.
    pub len: u32,
}

/// A finished request.
#[derive(Debug)]
pub struct Completion<'a> {
    /// Index of the request in the list given to [`Engine::run`].
    pub index: usize,
    /// Bytes actually read (fewer than asked only at the end of the target).
    pub bytes: u32,
    /// Submission to completion, in nanoseconds.
    pub latency_ns: u64,
    /// The data read (valid only during the callback).
    pub data: &'a [u8],
}

/// Which engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EngineKind {
    /// `pread`, one request at a time.
    Psync,
    /// io_uring with registered buffers.
    IoUring,
    /// HTTP Range requests, one per connection in flight.
    Http,
    /// NBD reads, one per connection in flight.
    Nbd,
}

/// Executes read requests.
pub trait Engine {
    /// Which engine this is.
    fn kind(&self) -> EngineKind;

    /// Runs `requests` in order with up to `queue_depth` in flight (psync
    /// ignores depths above 1), calling `on_done` for each completion (in
    /// completion order). Stops at the first error.
    fn run(
        &mut self,
        target: &Target,
        requests: &[Request],
        queue_depth: u32,
        on_done: &mut dyn FnMut(Completion<'_>),
    ) -> Result<()> {
        self.run_until(target, requests, queue_depth, None, on_done)
            .map(|_| ())
    }

    /// [`Engine::run`] that stops issuing new requests once `deadline` has
    /// passed (checked at each completion, so the queue stays full until
    /// then, as fio's `time_based` runs do), waits for the ones in flight
    /// and returns how many requests completed: the first `n` of `requests`
    /// (at least one, so a run always measures something).
    fn run_until(
        &mut self,
        target: &Target,
        requests: &[Request],
        queue_depth: u32,
        deadline: Option<std::time::Instant>,
        on_done: &mut dyn FnMut(Completion<'_>),
    ) -> Result<usize>;
}

/// Checks a run's arguments before any I/O, so an engine never starts a run
/// it cannot finish: queue depth within what the engine was opened for,
/// requests non-empty, within the target, no larger than the engine's
/// buffers, and aligned when the target is O_DIRECT.
pub(crate) fn check_run(
    target: &Target,
    requests: &[Request],
    queue_depth: u32,
    max_queue_depth: u32,
    max_request_bytes: usize,
) -> Result<()> {
    let invalid = |message: String| {
        Err(Error::new(ErrorKind::InvalidInput, message).with_path(target.path()))
    };
    if queue_depth == 0 || queue_depth > max_queue_depth {
        return invalid(format!(
            "queue depth {queue_depth} is outside 1..={max_queue_depth} for this engine"
        ));
    }
    let size = target.size_bytes();
    let align = target.alignment().offset.max(1) as u64;
    for (i, r) in requests.iter().enumerate() {
        if r.len == 0 {
            return invalid(format!("request {i} (offset {}) reads 0 bytes", r.offset));
        }
        if r.len as usize > max_request_bytes {
            return invalid(format!(
                "request {i} reads {} bytes, more than the engine's maximum request size of {max_request_bytes} bytes",
                r.len
            ));
        }
        if r.offset >= size {
            return invalid(format!(
                "request {i} starts at byte {}, at or past the end of the target ({size} bytes)",
                r.offset
            ));
        }
        if target.direct()
            && (!r.offset.is_multiple_of(align) || !u64::from(r.len).is_multiple_of(align))
        {
            let hint = if align > 2048 {
                format!(
                    "; this device has {align}-byte logical blocks, so 2048-byte ISO sectors must be read in {align}-byte-aligned groups"
                )
            } else {
                String::new()
            };
            return invalid(format!(
                "request {i} (offset {}, {} bytes) is not aligned to {align} bytes, which O_DIRECT on this target requires{hint}",
                r.offset, r.len
            ));
        }
    }
    Ok(())
}

/// The error for a read the kernel failed (`errno`), naming the request.
pub(crate) fn read_error(target: &Target, request: &Request, err: std::io::Error) -> Error {
    if target.direct() && err.raw_os_error() == Some(libc::EINVAL) {
        let message = format!(
            "an O_DIRECT read of {} bytes at offset {} was refused (EINVAL) although it respects the {}-byte alignment the kernel reported; run without --direct",
            request.len,
            request.offset,
            target.alignment().offset
        );
        return Error::io(message, err)
            .with_kind(ErrorKind::DirectUnsupported)
            .with_path(target.path());
    }
    Error::io(
        format!(
            "read of {} bytes at offset {} failed",
            request.len, request.offset
        ),
        err,
    )
    .with_path(target.path())
}

/// The error for a read that returned 0 bytes before the end of the target
/// (fio fails such a request with EIO, "full resid").
pub(crate) fn zero_read_error(target: &Target, request: &Request, at: u64) -> Error {
    Error::new(
        ErrorKind::Io,
        format!(
            "read at offset {at} (request at offset {}, {} bytes) returned 0 bytes before the end of the target ({} bytes); was it truncated?",
            request.offset,
            request.len,
            target.size_bytes()
        ),
    )
    .with_path(target.path())
}
