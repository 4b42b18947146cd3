//! Runs `inspect` with a full file listing over an image and prints a
//! one-line summary; a library-only stand-in for
//! `isotune inspect --files --namespace NS IMAGE > /dev/null`, for measuring
//! the reader's time and peak memory on hostile images:
//!
//! `/usr/bin/time -f '%e s %M KB' target/release/examples/inspect_files IMAGE iso9660`

use isotune_iso::report::{inspect, InspectOptions};
use isotune_iso::{IsoImage, Namespace};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let path = args
        .next()
        .ok_or("usage: inspect_files IMAGE [iso9660|joliet|rock-ridge]")?;
    let ns = match args.next().as_deref() {
        None => None,
        Some("iso9660") => Some(Namespace::Iso9660),
        Some("joliet") => Some(Namespace::Joliet),
        Some("rock-ridge") => Some(Namespace::RockRidge),
        Some(other) => return Err(format!("unknown namespace `{other}`").into()),
    };
    let image = IsoImage::open(std::fs::File::open(&path)?)?;
    let files = Some(ns.unwrap_or_else(|| image.best_namespace()));
    let report = inspect(&image, InspectOptions { files })?;
    let entries = report.files.as_ref().map_or(0, Vec::len);
    println!(
        "{entries} entries, {} boot files, {} anomalies",
        report.boot_files.len(),
        report.anomalies.len()
    );
    for f in &report.boot_files {
        let default = if f.default_boot {
            "  (default boot)"
        } else {
            ""
        };
        println!("{:?} {}{default}", f.role, f.path);
    }
    for a in &report.anomalies {
        println!("{:?} {}: {}", a.severity, a.id, a.message);
    }
    Ok(())
}
