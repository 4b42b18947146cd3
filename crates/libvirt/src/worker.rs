//! One thread that makes the libvirt calls, and a caller that waits for
//! each with a deadline (see the crate doc, "Never hanging").

use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError, Sender};
use std::sync::Arc;
use std::time::Duration;

/// Calls that missed their deadline and have not returned yet, in this
/// process (each holds one worker thread).
static STUCK: AtomicUsize = AtomicUsize::new(0);

/// Calls that missed their deadline and are still waiting for libvirt in
/// this process. A long-running caller (the exporter) does not start new
/// scans while this is above zero, so a hung libvirtd costs one thread,
/// not one per attempt.
pub fn stuck_calls() -> usize {
    STUCK.load(Ordering::Acquire)
}

const PENDING: u8 = 0;
const DONE: u8 = 1;
const ABANDONED: u8 = 2;

type Job = Box<dyn FnOnce() + Send>;

/// Why a call has no result.
#[derive(Debug)]
pub(crate) enum CallError {
    /// This call missed its deadline.
    Timeout,
    /// An earlier call missed its deadline: nothing more is sent.
    Abandoned,
    /// The call panicked (the bindings panic on some failures); the
    /// worker is gone.
    Panicked,
}

/// A worker thread and the deadline for each call.
pub(crate) struct Worker {
    tx: Option<Sender<Job>>,
    thread: Option<std::thread::JoinHandle<()>>,
    timeout: Duration,
}

impl Worker {
    pub(crate) fn start(timeout: Duration) -> Worker {
        let (tx, rx) = mpsc::channel::<Job>();
        let spawned = std::thread::Builder::new()
            .name("isotune-libvirt".into())
            .spawn(move || {
                // Ends when the Worker is dropped (the channel closes).
                for job in rx {
                    job();
                }
            });
        let (tx, thread) = match spawned {
            Ok(t) => (Some(tx), Some(t)),
            Err(_) => (None, None),
        };
        Worker {
            tx,
            thread,
            timeout,
        }
    }

    /// Runs `f` on the worker and waits at most the deadline for its result.
    pub(crate) fn call<R: Send + 'static>(
        &mut self,
        f: impl FnOnce() -> R + Send + 'static,
    ) -> Result<R, CallError> {
        let Some(tx) = &self.tx else {
            return Err(CallError::Abandoned);
        };
        let (rtx, rrx) = mpsc::sync_channel(1);
        let state = Arc::new(AtomicU8::new(PENDING));
        let job_state = Arc::clone(&state);
        let job: Job = Box::new(move || {
            let r = f();
            if job_state.swap(DONE, Ordering::AcqRel) == ABANDONED {
                STUCK.fetch_sub(1, Ordering::AcqRel);
            }
            let _ = rtx.send(r);
        });
        if tx.send(job).is_err() {
            self.tx = None;
            return Err(CallError::Abandoned);
        }
        match rrx.recv_timeout(self.timeout) {
            Ok(r) => Ok(r),
            Err(RecvTimeoutError::Timeout) => {
                if state.swap(ABANDONED, Ordering::AcqRel) == PENDING {
                    STUCK.fetch_add(1, Ordering::AcqRel);
                }
                // The thread is stuck in libvirt: send it nothing more, and
                // do not wait for it.
                self.tx = None;
                self.thread = None;
                Err(CallError::Timeout)
            }
            Err(RecvTimeoutError::Disconnected) => {
                self.tx = None;
                Err(CallError::Panicked)
            }
        }
    }

    pub(crate) fn timeout(&self) -> Duration {
        self.timeout
    }
}

impl Drop for Worker {
    /// Waits for the thread when it is not stuck: libvirt objects it still
    /// holds are released before the caller goes on (a process exiting
    /// while another thread is inside libvirt can crash in libvirt's
    /// teardown).
    fn drop(&mut self) {
        self.tx = None;
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stuck_call_times_out_and_later_calls_are_refused() {
        let mut w = Worker::start(Duration::from_millis(200));
        assert_eq!(w.call(|| 41 + 1).unwrap(), 42);
        let (block_tx, block_rx) = mpsc::channel::<()>();
        // Blocks until the sender is dropped.
        let r = w.call(move || block_rx.recv().ok());
        assert!(matches!(r, Err(CallError::Timeout)));
        assert!(matches!(w.call(|| 1), Err(CallError::Abandoned)));
        // The only test here that times out: the count is its call.
        assert_eq!(stuck_calls(), 1);
        drop(block_tx);
        let until = std::time::Instant::now() + Duration::from_secs(10);
        while stuck_calls() != 0 {
            assert!(
                std::time::Instant::now() < until,
                "the call never counted back"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    #[test]
    fn a_panicking_call_is_an_error_not_a_panic() {
        let mut w = Worker::start(Duration::from_secs(5));
        let r = w.call(|| -> u32 { panic!("binding panicked") });
        assert!(matches!(r, Err(CallError::Panicked)));
        assert!(matches!(w.call(|| 1), Err(CallError::Abandoned)));
    }
}
