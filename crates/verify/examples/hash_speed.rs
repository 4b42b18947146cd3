//! Hashing speed of this build's digests on an in-memory buffer, for
//! comparing with `openssl speed -evp sha256` (the CPU's limit) without any
//! I/O or thread hand-off:
//!
//! ```text
//! cargo run --release -p isotune-verify --example hash_speed -- [MIB]
//! ```

use std::time::Instant;

use sha2::{Digest, Sha256};

fn main() {
    let mib: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(256);
    #[cfg(target_arch = "x86_64")]
    println!(
        "SHA extensions: {}",
        std::arch::is_x86_feature_detected!("sha")
    );
    let buf: Vec<u8> = (0..mib << 20).map(|i| (i * 7 + i / 4096) as u8).collect();
    for chunk_kib in [16usize, 256, 4096] {
        let started = Instant::now();
        let mut h = Sha256::new();
        for c in buf.chunks(chunk_kib << 10) {
            h.update(c);
        }
        let _ = h.finalize();
        let secs = started.elapsed().as_secs_f64();
        println!(
            "sha256, updates of {chunk_kib} KiB: {:.2} GB/s",
            buf.len() as f64 / secs / 1e9
        );
    }
}
