//! One thread that makes the libvirt calls, and a caller that waits for
//! each with a deadline (see the crate doc, "Never hanging").

use std::sync::mpsc::{self, RecvTimeoutError, Sender};
use std::time::Duration;

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
        let job: Job = Box::new(move || {
            let _ = rtx.send(f());
        });
        if tx.send(job).is_err() {
            self.tx = None;
            return Err(CallError::Abandoned);
        }
        match rrx.recv_timeout(self.timeout) {
            Ok(r) => Ok(r),
            Err(RecvTimeoutError::Timeout) => {
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
        let (_block_tx, block_rx) = mpsc::channel::<()>();
        // Blocks until the test ends (the sender is dropped then).
        let r = w.call(move || block_rx.recv().ok());
        assert!(matches!(r, Err(CallError::Timeout)));
        assert!(matches!(w.call(|| 1), Err(CallError::Abandoned)));
    }

    #[test]
    fn a_panicking_call_is_an_error_not_a_panic() {
        let mut w = Worker::start(Duration::from_secs(5));
        let r = w.call(|| -> u32 { panic!("binding panicked") });
        assert!(matches!(r, Err(CallError::Panicked)));
        assert!(matches!(w.call(|| 1), Err(CallError::Abandoned)));
    }
}
