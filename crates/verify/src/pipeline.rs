//! One read pass, many consumers: the calling thread reads the image in
//! large chunks into a small pool of reusable buffers and hands every chunk
//! to one thread per consumer (a digest, the implanted-MD5 check).
//!
//! ```text
//!   caller thread: read_at ──> Arc<Chunk> ──┬─ sync_channel ─> md5 thread
//!        ^                                  ├─ sync_channel ─> sha256 thread
//!        └──── free buffers (pool) <────────┴─ last Arc dropped returns the buffer
//! ```
//!
//! Each chunk is read once and shared, never copied. Memory is bounded by
//! the pool (`buffers × chunk_size`): the reader waits for a free buffer,
//! so a slow consumer throttles the reads instead of letting them pile up.
//! Consumers run in parallel, so the pass takes about as long as the slowest
//! digest, not the sum of them.

use std::io;
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::Arc;

use isotune_iso::ReadAt;

/// Default size of one read (4 MiB): large enough that per-chunk overhead
/// vanishes, small enough that the pool stays a few tens of MiB.
pub const DEFAULT_CHUNK_SIZE: usize = 4 << 20;
/// Default number of buffers in the pool (bounds memory to 4 × 4 MiB).
pub const DEFAULT_BUFFERS: usize = 4;

/// Where a long pass reports how far it got. The binary draws the bar.
pub trait Progress {
    /// Called once before the first read with the bytes the pass will read.
    fn start(&self, _total_bytes: u64) {}
    /// Called after each chunk with the bytes read so far.
    fn advance(&self, bytes_done: u64);
}

impl<F: Fn(u64)> Progress for F {
    fn advance(&self, bytes_done: u64) {
        self(bytes_done);
    }
}

/// A [`Progress`] that ignores everything.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoProgress;

impl Progress for NoProgress {
    fn advance(&self, _bytes_done: u64) {}
}

/// A consumer of the byte stream. Chunks arrive in order and contiguous,
/// starting at offset 0.
pub(crate) trait Sink: Send {
    /// The bytes at `offset`.
    fn update(&mut self, offset: u64, data: &[u8]);
}

/// A filled buffer on its way to the consumers. When the last consumer
/// drops its `Arc`, the buffer goes back to the pool.
struct Chunk {
    offset: u64,
    len: usize,
    buf: Vec<u8>,
    home: SyncSender<Vec<u8>>,
}

impl Drop for Chunk {
    fn drop(&mut self) {
        // The pool has room for every buffer, so this never blocks; if the
        // reader is already gone the buffer is simply freed.
        let _ = self.home.try_send(std::mem::take(&mut self.buf));
    }
}

/// Tuning of a pass.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PassConfig {
    pub chunk_size: usize,
    pub buffers: usize,
}

impl Default for PassConfig {
    fn default() -> Self {
        PassConfig {
            chunk_size: DEFAULT_CHUNK_SIZE,
            buffers: DEFAULT_BUFFERS,
        }
    }
}

/// Reads `src` from 0 to `len` (or its end, if sooner) once and feeds every
/// sink. Returns the number of bytes read.
pub(crate) fn run(
    src: &(dyn ReadAt + Sync),
    len: u64,
    sinks: &mut [&mut dyn Sink],
    config: PassConfig,
    progress: &dyn Progress,
) -> io::Result<u64> {
    let chunk_size = config.chunk_size.max(4096);
    let buffers = config.buffers.max(2);
    progress.start(len);

    std::thread::scope(|scope| {
        let mut senders = Vec::with_capacity(sinks.len());
        for sink in sinks.iter_mut() {
            let (tx, rx) = sync_channel::<Arc<Chunk>>(buffers);
            senders.push(tx);
            scope.spawn(move || {
                for chunk in rx {
                    sink.update(chunk.offset, &chunk.buf[..chunk.len]);
                }
            });
        }
        // The senders are dropped when this closure returns (also on an
        // error), which ends the consumer loops; the scope then joins them.
        read_loop(src, len, chunk_size, buffers, &senders, progress)
    })
}

fn read_loop(
    src: &(dyn ReadAt + Sync),
    len: u64,
    chunk_size: usize,
    buffers: usize,
    senders: &[SyncSender<Arc<Chunk>>],
    progress: &dyn Progress,
) -> io::Result<u64> {
    let (home, pool): (SyncSender<Vec<u8>>, Receiver<Vec<u8>>) = sync_channel(buffers);
    let mut allocated = 0usize;
    let mut offset = 0u64;
    while offset < len {
        let mut buf = if allocated < buffers {
            allocated += 1;
            vec![0u8; chunk_size]
        } else {
            // Every buffer is out with a consumer; wait for one to come back.
            // `home` lives here, so the channel cannot disconnect.
            pool.recv()
                .map_err(|_| io::Error::other("buffer pool closed"))?
        };
        let want = usize::try_from(len - offset).map_or(chunk_size, |r| r.min(chunk_size));
        let got = fill(src, &mut buf[..want], offset)?;
        if got == 0 {
            break;
        }
        let chunk = Arc::new(Chunk {
            offset,
            len: got,
            buf,
            home: home.clone(),
        });
        for tx in senders {
            // A consumer that has gone away (it panicked) no longer needs
            // data; its panic surfaces when the scope joins it.
            let _ = tx.send(Arc::clone(&chunk));
        }
        drop(chunk);
        offset += got as u64;
        progress.advance(offset);
        if got < want {
            break;
        }
    }
    Ok(offset)
}

/// Reads as much of `buf` as the source has at `offset`, retrying short
/// reads; returns fewer bytes only at the end of the source.
fn fill(src: &(dyn ReadAt + Sync), buf: &mut [u8], offset: u64) -> io::Result<usize> {
    let mut done = 0;
    while done < buf.len() {
        match src.read_at(&mut buf[done..], offset + done as u64) {
            Ok(0) => break,
            Ok(n) => done += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(done)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    /// Records what it saw, checking contiguity.
    #[derive(Default)]
    struct Collect {
        data: Vec<u8>,
    }

    impl Sink for Collect {
        fn update(&mut self, offset: u64, data: &[u8]) {
            assert_eq!(offset, self.data.len() as u64);
            self.data.extend_from_slice(data);
        }
    }

    /// A source that returns at most 1000 bytes per read.
    struct Dribble(Vec<u8>);

    impl ReadAt for Dribble {
        fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
            let n = buf.len().min(1000);
            self.0.read_at(&mut buf[..n], offset)
        }
        fn size(&self) -> io::Result<u64> {
            Ok(self.0.len() as u64)
        }
    }

    fn config() -> PassConfig {
        PassConfig {
            chunk_size: 4096,
            buffers: 2,
        }
    }

    #[test]
    fn every_sink_sees_every_byte_once() {
        let data: Vec<u8> = (0..50_000u32).map(|i| (i % 251) as u8).collect();
        let (mut a, mut b) = (Collect::default(), Collect::default());
        let last = Cell::new(0);
        let progress = |n: u64| last.set(n);
        let n = run(
            &Dribble(data.clone()),
            u64::MAX,
            &mut [&mut a, &mut b],
            config(),
            &progress,
        )
        .unwrap();
        assert_eq!(n, 50_000);
        assert_eq!(last.get(), 50_000);
        assert_eq!(a.data, data);
        assert_eq!(b.data, data);
    }

    #[test]
    fn stops_at_the_requested_length_and_on_empty_input() {
        let data = vec![7u8; 10_000];
        let mut a = Collect::default();
        let n = run(&data, 5000, &mut [&mut a], config(), &NoProgress).unwrap();
        assert_eq!((n, a.data.len()), (5000, 5000));
        let mut a = Collect::default();
        let n = run(&Vec::new(), u64::MAX, &mut [&mut a], config(), &NoProgress).unwrap();
        assert_eq!((n, a.data.len()), (0, 0));
    }

    #[test]
    fn read_errors_stop_the_pass() {
        struct Broken;
        impl ReadAt for Broken {
            fn read_at(&self, _: &mut [u8], offset: u64) -> io::Result<usize> {
                if offset < 8192 {
                    Ok(4096)
                } else {
                    Err(io::Error::other("bad sector"))
                }
            }
            fn size(&self) -> io::Result<u64> {
                Ok(1 << 20)
            }
        }
        let mut a = Collect::default();
        let err = run(&Broken, 1 << 20, &mut [&mut a], config(), &NoProgress).unwrap_err();
        assert_eq!(err.to_string(), "bad sector");
        assert_eq!(a.data.len(), 8192);
    }
}
