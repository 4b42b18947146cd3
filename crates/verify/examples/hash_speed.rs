//! Hashing speed of this build's digests on an in-memory buffer, for
//! comparing with `openssl speed -evp sha256` (the CPU's limit) without any
//! I/O or thread hand-off, and this crate's MD5 (one stream, and the two
//! interleaved streams of `verify --md5 --implanted`) beside the `md-5`
//! crate's and `openssl speed -evp md5` (run by this example, when present),
//! all per second of CPU time:
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
    md5_speeds(&buf);
}

/// On-CPU time of this thread in seconds (`/proc/thread-self/schedstat`,
/// nanoseconds): unlike wall time, other load on the machine barely moves it.
fn cpu_seconds() -> f64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse::<u64>().ok())
        .map_or(f64::NAN, |ns| ns as f64 / 1e9)
}

/// The best CPU time of three runs of `f`.
fn best_of_three(mut f: impl FnMut()) -> f64 {
    (0..3)
        .map(|_| {
            let t = cpu_seconds();
            f();
            cpu_seconds() - t
        })
        .fold(f64::MAX, f64::min)
}

/// `openssl speed -evp md5` (16 KiB blocks; openssl divides by its user CPU
/// time) in bytes per second, if openssl is there.
fn openssl_md5() -> Option<f64> {
    let out = std::process::Command::new("openssl")
        .args([
            "speed", "-mr", "-evp", "md5", "-bytes", "16384", "-seconds", "2",
        ])
        .stderr(std::process::Stdio::null())
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text.lines().find(|l| l.starts_with("+F:"))?;
    line.split(':').nth(3)?.trim().parse().ok()
}

/// MD5: this crate's hand-tuned one (one stream, and two streams
/// interleaved as `verify --md5 --implanted` runs them) beside RustCrypto's
/// md-5 and `openssl speed`, as bytes per second of CPU time.
fn md5_speeds(buf: &[u8]) {
    use isotune_verify::Md5Fast;
    const UPDATE: usize = 256 << 10;
    let (mut one, mut pair, mut md5_crate) = ([0u8; 16], [0u8; 16], [0u8; 16]);
    let ours = best_of_three(|| {
        let mut h = Md5Fast::new();
        buf.chunks(UPDATE).for_each(|c| h.update(c));
        one = h.finalize();
    });
    let theirs = best_of_three(|| {
        let mut h = md5::Md5::new();
        buf.chunks(UPDATE).for_each(|c| h.update(c));
        md5_crate = h.finalize().into();
    });
    let paired = best_of_three(|| {
        let (mut a, mut b) = (Md5Fast::new(), Md5Fast::new());
        buf.chunks(UPDATE)
            .for_each(|c| Md5Fast::update_pair(&mut a, &mut b, c));
        let b = b.finalize();
        pair = a.finalize();
        assert_eq!(pair, b, "the two paired streams disagree");
    });
    assert_eq!(one, md5_crate, "md5fast and md-5 disagree");
    assert_eq!(pair, one, "the paired and single MD5 disagree");
    let gbs = |secs: f64| buf.len() as f64 / secs / 1e9;
    println!(
        "md5 (isotune md5fast): {:.2} GB/s; md5 (md-5 crate): {:.2} GB/s; md5fast {:.2}x md-5 \
         (bytes per second of CPU time)",
        gbs(ours),
        gbs(theirs),
        theirs / ours
    );
    println!(
        "md5fast two streams interleaved: {:.2} GB/s per stream ({:.2}x the CPU time of one stream)",
        gbs(paired / 2.0),
        paired / ours
    );
    if let Some(openssl) = openssl_md5() {
        let gb = |bps: f64| bps / 1e9;
        println!(
            "openssl speed -evp md5: {:.2} GB/s; md5fast one stream at {:.0}% of it \
             (CPU time per byte {:.2}x openssl's), two streams at {:.0}% per stream",
            gb(openssl),
            100.0 * gbs(ours) * 1e9 / openssl,
            openssl / (gbs(ours) * 1e9),
            100.0 * gbs(paired / 2.0) * 1e9 / openssl
        );
    }
}
