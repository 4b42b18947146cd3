//! Bandwidth emulation for isotune's HTTP server ([`crate::serve`]): one
//! emulated link as a token bucket that writers on several connections
//! share, so `--net-rate` limits a whole server as a real link would.
//! Kept apart from the server so its arithmetic is tested on its own.

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Bytes per paced body write: small enough that a 10 Mbit/s link sends
/// one in ~52 ms, large enough that a 1 Gbit/s link needs only ~2000
/// sleeps a second.
pub const PACE_CHUNK_BYTES: usize = 64 << 10;

/// A bandwidth limit shared by the writers of one emulated link.
///
/// A token bucket whose capacity is one chunk, kept as the instant the
/// link is next free: a chunk of `n` bytes takes the slot starting at
/// `max(now, next_free)` and moves `next_free` on by `n * 8 / rate`. Idle
/// time is not banked (a real link does not store unused bandwidth), and a
/// writer that overslept does not lose its share: the next slot is already
/// due, so oversleeping does not add up over a transfer.
#[derive(Debug)]
pub struct Pacer {
    rate_bits_per_s: u64,
    next_free: Mutex<Option<Instant>>,
}

impl Pacer {
    /// A link of `rate_bits_per_s` (> 0).
    pub fn new(rate_bits_per_s: u64) -> Pacer {
        Pacer {
            rate_bits_per_s: rate_bits_per_s.max(1),
            next_free: Mutex::new(None),
        }
    }

    /// The link's rate.
    pub fn rate_bits_per_s(&self) -> u64 {
        self.rate_bits_per_s
    }

    /// Reserves the link for `bytes` and waits until their slot starts.
    pub fn wait_for(&self, bytes: usize) {
        let on_wire = Duration::from_secs_f64(bytes as f64 * 8.0 / self.rate_bits_per_s as f64);
        let start = {
            let mut next = self
                .next_free
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let now = Instant::now();
            let start = next.map_or(now, |n| n.max(now));
            *next = Some(start + on_wire);
            start
        };
        let now = Instant::now();
        if start > now {
            std::thread::sleep(start - now);
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Sends `bytes` through `pacer` in [`PACE_CHUNK_BYTES`] steps; the
    /// elapsed time.
    fn pace(pacer: &Pacer, bytes: usize) -> Duration {
        let t = Instant::now();
        let mut left = bytes;
        while left > 0 {
            let n = left.min(PACE_CHUNK_BYTES);
            pacer.wait_for(n);
            left -= n;
        }
        t.elapsed()
    }

    /// N bytes at R take at least (N - one chunk) * 8 / R (the last slot
    /// is not waited out), and not much more: oversleeping does not add up.
    pub(crate) fn assert_paced(
        elapsed: Duration,
        bytes: usize,
        rate_bits_per_s: u64,
        chunks_of_slack: usize,
    ) {
        let ideal = bytes as f64 * 8.0 / rate_bits_per_s as f64;
        let floor =
            (bytes - chunks_of_slack * PACE_CHUNK_BYTES) as f64 * 8.0 / rate_bits_per_s as f64;
        let s = elapsed.as_secs_f64();
        assert!(
            s >= floor,
            "{bytes} bytes at {rate_bits_per_s} bit/s: {s:.3} s < {floor:.3} s"
        );
        assert!(
            s <= ideal * 1.25 + 0.05,
            "{bytes} bytes at {rate_bits_per_s} bit/s: {s:.3} s, ideal {ideal:.3} s"
        );
    }

    #[test]
    fn pacing_holds_the_rate_from_10_mbit_to_1_gbit() {
        for (rate, bytes) in [(10_000_000u64, 1usize << 20), (1_000_000_000, 48 << 20)] {
            let pacer = Pacer::new(rate);
            assert_paced(pace(&pacer, bytes), bytes, rate, 1);
            // Idle time is not banked: after a pause the link is no faster.
            std::thread::sleep(Duration::from_millis(100));
            assert_paced(pace(&pacer, bytes), bytes, rate, 1);
        }
    }
}
