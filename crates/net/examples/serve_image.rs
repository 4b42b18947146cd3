//! Serves one file with isotune's HTTP Range server (the one `isotune boot
//! --source http` starts) until stdin closes, for benchmarks that need a
//! keep-alive Range server on loopback: prints the URL, then, when stdin
//! reaches its end, the requests, bytes and connections it served.
//!
//!   cargo run --release -p isotune-net --example serve_image -- FILE

use std::io::Read;
use std::path::PathBuf;

use isotune_net::serve::{ImageServer, ServeOptions};

fn main() {
    let Some(path) = std::env::args_os().nth(1).map(PathBuf::from) else {
        eprintln!("usage: serve_image FILE");
        std::process::exit(2);
    };
    let server = match ImageServer::serve_file(&path, ServeOptions::default()) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("serve_image: {}: {e}", path.display());
            std::process::exit(2);
        }
    };
    println!("{}", server.url());
    let mut sink = Vec::new();
    let _ = std::io::stdin().read_to_end(&mut sink);
    let s = server.stats();
    println!(
        "gets {} heads {} bytes {} connections {}",
        s.gets, s.heads, s.body_bytes, s.connections
    );
}
