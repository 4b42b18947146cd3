//! What a boot from a network source would cost, predicted from a bench.
//!
//! Two predictions per boot workload (one per boot profile, i.e. per guest
//! request size):
//!
//! - **as measured**: the trace's request count × the mean per-request time
//!   the bench measured over the link, i.e. a reader that sends every guest
//!   request to the server as it is (QEMU's NBD client does).
//! - **QEMU curl `readahead`**: QEMU's curl block driver (`block/curl.c`)
//!   answers a guest read from one of its `CURL_NUM_STATES` (8) transfer
//!   buffers when the whole read lies inside one; otherwise it sends one
//!   Range request for the read *plus* `readahead` bytes (clipped at the end
//!   of the image) and keeps that buffer. The trace is replayed through that
//!   model for each readahead value, counting server requests and bytes;
//!   the time is requests × (1 + redirects) × the measured small-request
//!   time (the driver re-follows redirects on every request) + bytes / the
//!   measured streaming rate.
//!
//! These are models with the link's own numbers, not a boot: the guest's
//! CPU time and the firmware's own pace come on top (see `isotune boot`).

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

use isotune_net::SourceInfo;

use crate::result::WorkloadResult;
use crate::workload::{total_bytes, BootProfile, WorkloadSpec};
use crate::Request;

/// QEMU curl driver's default `readahead` (256 KiB).
pub const QEMU_CURL_DEFAULT_READAHEAD_BYTES: u64 = 256 << 10;
/// The readahead values predicted: a small one, the default, and the large
/// values users try.
pub const READAHEADS_BYTES: [u64; 5] = [64 << 10, 256 << 10, 1 << 20, 2 << 20, 4 << 20];
/// `CURL_NUM_STATES` in QEMU's `block/curl.c`: transfers (and buffers) kept.
const CURL_NUM_STATES: usize = 8;

/// Everything a network bench adds to the report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NetworkReport {
    /// What the probe found before the runs.
    pub source: SourceInfo,
    /// Connections opened (the deepest queue used).
    pub connections: u32,
    /// One per boot workload.
    pub boot_predictions: Vec<BootPrediction>,
}

/// The predicted cost of one boot profile's reads over this link.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BootPrediction {
    /// The workload it comes from.
    pub workload: String,
    /// Its boot profile.
    pub profile: BootProfile,
    /// Guest requests in the trace.
    pub requests: u64,
    /// Guest bytes in the trace.
    pub bytes: u64,
    /// Median wall time of the measured runs, in seconds.
    pub measured_seconds: f64,
    /// Mean time of one request over the link, in nanoseconds.
    pub per_request_ns: f64,
    /// `requests` × `per_request_ns`, in seconds.
    pub predicted_seconds: f64,
    /// The trace through QEMU's curl driver, per readahead value.
    pub curl_readahead: Vec<ReadaheadPrediction>,
}

/// The trace replayed through QEMU's curl driver with one readahead value.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ReadaheadPrediction {
    /// The `readahead` option, in bytes.
    pub readahead_bytes: u64,
    /// QEMU's default.
    pub default: bool,
    /// Range requests sent to the server.
    pub server_requests: u64,
    /// Bytes the server sends.
    pub server_bytes: u64,
    /// `server_bytes` / guest bytes.
    pub read_amplification: f64,
    /// Predicted time, in seconds.
    pub predicted_seconds: f64,
}

/// Replays `requests` through QEMU's curl driver with `readahead_bytes`:
/// returns the server requests and bytes.
pub fn curl_replay(requests: &[Request], size_bytes: u64, readahead_bytes: u64) -> (u64, u64) {
    let mut buffers: VecDeque<(u64, u64)> = VecDeque::with_capacity(CURL_NUM_STATES);
    let (mut count, mut bytes) = (0u64, 0u64);
    for r in requests {
        let start = r.offset;
        let end = (r.offset + u64::from(r.len)).min(size_bytes);
        if buffers.iter().any(|&(s, e)| s <= start && end <= e) {
            continue;
        }
        let fetch_end = (end + readahead_bytes).min(size_bytes);
        count += 1;
        bytes += fetch_end - start;
        if buffers.len() == CURL_NUM_STATES {
            buffers.pop_front();
        }
        buffers.push_back((start, fetch_end));
    }
    (count, bytes)
}

/// `requests` through QEMU's curl driver with `readahead_bytes`
/// ([`curl_replay`]), timed with a link's round trip (seconds, redirects
/// included) and streaming rate (bytes per second): server requests ×
/// round trip + server bytes / rate.
pub fn curl_prediction(
    requests: &[Request],
    size_bytes: u64,
    readahead_bytes: u64,
    round_trip_s: f64,
    rate_bytes_per_s: f64,
) -> ReadaheadPrediction {
    let guest_bytes = total_bytes(requests);
    let (server_requests, server_bytes) = curl_replay(requests, size_bytes, readahead_bytes);
    ReadaheadPrediction {
        readahead_bytes,
        default: readahead_bytes == QEMU_CURL_DEFAULT_READAHEAD_BYTES,
        server_requests,
        server_bytes,
        read_amplification: if guest_bytes > 0 {
            server_bytes as f64 / guest_bytes as f64
        } else {
            0.0
        },
        predicted_seconds: server_requests as f64 * round_trip_s
            + server_bytes as f64 / rate_bytes_per_s.max(1.0),
    }
}

/// The prediction for a boot workload's `result` (None for other
/// workloads), whose requests were `requests`, over `source`.
pub fn predict_boot(
    result: &WorkloadResult,
    requests: &[Request],
    source: &SourceInfo,
) -> Option<BootPrediction> {
    let WorkloadSpec::Boot { profile, .. } = result.spec else {
        return None;
    };
    let guest_bytes = total_bytes(requests);
    let mut elapsed: Vec<f64> = result
        .runs
        .iter()
        .map(|r| r.elapsed_ns as f64 / 1e9)
        .collect();
    elapsed.sort_by(f64::total_cmp);
    let measured_seconds = elapsed.get(elapsed.len() / 2).copied().unwrap_or(0.0);
    let per_request_ns = result.summary.latency_ns.mean;
    let round_trip_s = source.round_trip.request_ns as f64 / 1e9 * f64::from(1 + source.redirects);
    let rate = source.throughput_bytes_per_s;
    let curl_readahead = READAHEADS_BYTES
        .iter()
        .map(|&ra| curl_prediction(requests, source.size_bytes, ra, round_trip_s, rate))
        .collect();
    Some(BootPrediction {
        workload: result.name.clone(),
        profile,
        requests: requests.len() as u64,
        bytes: guest_bytes,
        measured_seconds,
        per_request_ns,
        predicted_seconds: requests.len() as f64 * per_request_ns / 1e9,
        curl_readahead,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reqs(list: &[(u64, u32)]) -> Vec<Request> {
        list.iter()
            .map(|&(offset, len)| Request { offset, len })
            .collect()
    }

    #[test]
    fn sequential_sectors_hit_the_readahead_buffer() {
        // 64 sequential 2 KiB reads (128 KiB): one fetch of 2 KiB + 256 KiB.
        let r: Vec<_> = (0..64)
            .map(|i| Request {
                offset: i * 2048,
                len: 2048,
            })
            .collect();
        assert_eq!(curl_replay(&r, 1 << 30, 256 << 10), (1, 2048 + (256 << 10)));
        // No readahead: every read goes to the server.
        assert_eq!(curl_replay(&r, 1 << 30, 0), (64, 64 * 2048));
    }

    #[test]
    fn the_end_of_the_image_clips_fetches() {
        let r = reqs(&[(10_000, 2048)]);
        assert_eq!(curl_replay(&r, 12_048, 1 << 20), (1, 2048));
    }

    #[test]
    fn only_eight_buffers_are_kept() {
        // Nine scattered reads, then the first again: its buffer was evicted.
        let mut list: Vec<(u64, u32)> = (0..9).map(|i| (i << 30, 2048)).collect();
        list.push((0, 2048));
        assert_eq!(curl_replay(&reqs(&list), 1 << 40, 4096).0, 10);
        // Eight, then the first again: still there.
        let mut list: Vec<(u64, u32)> = (0..8).map(|i| (i << 30, 2048)).collect();
        list.push((0, 2048));
        assert_eq!(curl_replay(&reqs(&list), 1 << 40, 4096).0, 8);
    }

    #[test]
    fn a_read_across_a_buffer_end_is_fetched_again() {
        let r = reqs(&[(0, 2048), (4096, 4096)]);
        // The first fetch covers 0..6144; the second read needs up to 8192.
        assert_eq!(curl_replay(&r, 1 << 20, 4096), (2, 6144 + 8192));
    }
}
