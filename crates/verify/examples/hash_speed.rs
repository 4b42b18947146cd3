//! Hashing speed of this build's digests on an in-memory buffer, for
//! comparing with `openssl speed -evp sha256` (the CPU's limit) without any
//! I/O or thread hand-off, and this crate's MD5 beside the `md-5` crate's:
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
    // MD5: this crate's hand-tuned one beside RustCrypto's md-5, same
    // buffer, 256 KiB updates, best of three each (alternated).
    let (mut ours, mut theirs) = (f64::MAX, f64::MAX);
    for _ in 0..3 {
        let started = Instant::now();
        let mut h = isotune_verify::Md5Fast::new();
        for c in buf.chunks(256 << 10) {
            h.update(c);
        }
        let a = h.finalize();
        ours = ours.min(started.elapsed().as_secs_f64());
        let started = Instant::now();
        let mut h = md5::Md5::new();
        for c in buf.chunks(256 << 10) {
            h.update(c);
        }
        let b = h.finalize();
        theirs = theirs.min(started.elapsed().as_secs_f64());
        assert_eq!(a[..], b[..], "the two MD5s disagree");
    }
    let gbs = |secs: f64| buf.len() as f64 / secs / 1e9;
    println!(
        "md5 (isotune md5fast): {:.2} GB/s; md5 (md-5 crate): {:.2} GB/s; md5fast {:.2}x md-5",
        gbs(ours),
        gbs(theirs),
        theirs / ours
    );
}
