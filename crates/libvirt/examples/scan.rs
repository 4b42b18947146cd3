//! Scans one libvirt connection and prints a one-line summary (or the whole
//! scan as JSON with `--json`). Drives isotune's side of
//! `scripts/bench/libvirt.sh`.
//!
//!     cargo run --release -p isotune-libvirt --example scan -- [--json] [URI]

use isotune_libvirt::{resolve_uri_from_host, scan, ScanOptions};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let json = args.iter().any(|a| a == "--json");
    let given = args
        .iter()
        .find(|a| !a.starts_with("--"))
        .map(String::as_str);
    let choice = resolve_uri_from_host(given);
    let Some(uri) = choice.uri() else {
        eprintln!("{choice}");
        return;
    };
    let s = scan(uri, &ScanOptions::default());
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&s).expect("serialisable")
        );
    } else {
        let running = s.domains.iter().filter(|d| d.live.is_some()).count();
        println!(
            "{uri}: {} domains ({running} running), {} warnings",
            s.domains.len(),
            s.warnings.len()
        );
        for w in &s.warnings {
            println!("warning: {w}");
        }
    }
}
