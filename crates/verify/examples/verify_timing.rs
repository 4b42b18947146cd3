//! Times one `verify` pass, for comparing with the coreutils tools and
//! checkisomd5 on the same image:
//!
//! ```text
//! cargo run --release -p isotune-verify --example verify_timing -- IMAGE [--md5] [--sha1] [--sha256] [--sha512] [--implanted]
//! ```

use std::path::PathBuf;

use isotune_verify::{verify, Algorithm, NoProgress, VerifyOptions};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let path = PathBuf::from(
        args.next()
            .ok_or("usage: verify_timing IMAGE [--md5 ...]")?,
    );
    let mut options = VerifyOptions::default();
    // Tuning knobs for experiments: chunk size and buffers in flight.
    if let Ok(v) = std::env::var("CHUNK_KIB") {
        options.chunk_size = v.parse::<usize>()? * 1024;
    }
    if let Ok(v) = std::env::var("BUFFERS") {
        options.buffers = v.parse()?;
    }
    for a in args {
        match a.as_str() {
            "--md5" => options.algorithms.push(Algorithm::Md5),
            "--sha1" => options.algorithms.push(Algorithm::Sha1),
            "--sha256" => options.algorithms.push(Algorithm::Sha256),
            "--sha512" => options.algorithms.push(Algorithm::Sha512),
            "--implanted" => options.implanted = true,
            other => return Err(format!("unknown flag {other}").into()),
        }
    }
    let report = verify(&path, &options, &NoProgress)?;
    for d in &report.digests {
        println!("{}  {}", d.algorithm, d.hex);
    }
    if let Some(i) = &report.implanted {
        println!(
            "implanted: {:?} (failed fragment {:?})",
            i.status, i.failed_fragment
        );
    }
    println!(
        "{} bytes in {:.3} s = {:.0} MB/s; verdict {:?}",
        report.bytes_read,
        report.elapsed_ns as f64 / 1e9,
        report.throughput_bytes_per_second as f64 / 1e6,
        report.verdict
    );
    Ok(())
}
