//! A small HTTP/1.1 server for network-source tests, in a thread of the
//! test process: serves one image at `/image.iso` with single-range
//! `Range` support and keep-alive, and can add a delay before every answer
//! (user-space latency: this kernel has no `sch_netem`), drop Range
//! support, redirect, answer garbage, cut answers short or speak TLS.
//! It counts the requests and body bytes it served, so tests can compare
//! the client's view with the server's. Stopped (and its port closed)
//! when dropped.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

/// How the server misbehaves (or not).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// A correct Range server.
    Ranges,
    /// No `Accept-Ranges`, and `Range` ignored (200 with the whole file),
    /// like Python's `http.server`.
    NoRanges,
    /// `/image.iso` answers `302 Found` to `/real/image.iso`, which is served.
    Redirect,
    /// Every path redirects to itself.
    RedirectLoop,
    /// Answers 4 KiB of non-HTTP bytes.
    Garbage,
    /// A correct HEAD, then every body is cut in half and the connection closed.
    Truncate,
    /// Correct until this many GETs were answered, then every connection is
    /// closed without an answer (the server died in the middle of a bench).
    DieAfterGets(u64),
}

/// Server settings.
#[derive(Debug, Clone)]
pub struct Config {
    /// Behaviour.
    pub mode: Mode,
    /// Delay before each answer.
    pub delay: Duration,
    /// TLS certificate chain and private key, PEM files.
    pub tls: Option<(std::path::PathBuf, std::path::PathBuf)>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            mode: Mode::Ranges,
            delay: Duration::ZERO,
            tls: None,
        }
    }
}

/// Requests and bytes served.
#[derive(Debug, Default)]
pub struct Counters {
    /// GET requests answered with a body.
    pub gets: AtomicU64,
    /// HEAD requests.
    pub heads: AtomicU64,
    /// Body bytes sent.
    pub body_bytes: AtomicU64,
    /// Connections accepted.
    pub connections: AtomicU64,
}

/// The running server.
#[derive(Debug)]
pub struct RangeServer {
    /// Its port on 127.0.0.1.
    pub port: u16,
    /// What it served so far.
    pub counters: Arc<Counters>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl RangeServer {
    /// Serves `image` as `config` says.
    pub fn start(image: Vec<u8>, config: Config) -> RangeServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
        let port = listener.local_addr().unwrap().port();
        listener.set_nonblocking(true).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let counters = Arc::new(Counters::default());
        let tls = config.tls.as_ref().map(|(c, k)| server_config(c, k));
        let image = Arc::new(image);
        let thread = {
            let stop = stop.clone();
            let counters = counters.clone();
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    match listener.accept() {
                        Ok((sock, _)) => {
                            counters.connections.fetch_add(1, Ordering::Relaxed);
                            sock.set_nonblocking(false).unwrap();
                            let _ = sock.set_nodelay(true);
                            let _ = sock.set_read_timeout(Some(Duration::from_secs(5)));
                            let (image, counters, config, tls) =
                                (image.clone(), counters.clone(), config.clone(), tls.clone());
                            std::thread::spawn(move || {
                                let _ = match tls {
                                    None => serve(sock, &image, &counters, &config),
                                    Some(tls) => {
                                        let conn = rustls::ServerConnection::new(tls).unwrap();
                                        let s = rustls::StreamOwned::new(conn, sock);
                                        serve(s, &image, &counters, &config)
                                    }
                                };
                            });
                        }
                        Err(_) => std::thread::sleep(Duration::from_millis(5)),
                    }
                }
            })
        };
        RangeServer {
            port,
            counters,
            stop,
            thread: Some(thread),
        }
    }

    /// `http://127.0.0.1:PORT/image.iso` (or `https://` with TLS).
    pub fn url(&self, https: bool) -> String {
        let scheme = if https { "https" } else { "http" };
        format!("{scheme}://127.0.0.1:{}/image.iso", self.port)
    }
}

impl Drop for RangeServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn server_config(cert: &std::path::Path, key: &std::path::Path) -> Arc<rustls::ServerConfig> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let key = PrivateKeyDer::from_pem_file(key).unwrap();
    #[allow(deprecated)] // ring, as the exporter (see crates/exporter/src/webconfig.rs)
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .unwrap();
    Arc::new(config)
}

fn serve<S: Read + Write>(
    sock: S,
    image: &[u8],
    counters: &Counters,
    config: &Config,
) -> std::io::Result<()> {
    let mut r = BufReader::new(sock);
    loop {
        let mut request_line = String::new();
        if r.read_line(&mut request_line)? == 0 {
            return Ok(());
        }
        let mut range = None;
        loop {
            let mut line = String::new();
            if r.read_line(&mut line)? == 0 {
                return Ok(());
            }
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            if let Some(v) = line
                .split_once(':')
                .filter(|(n, _)| n.eq_ignore_ascii_case("range"))
                .map(|(_, v)| v.trim().to_owned())
            {
                range = v.strip_prefix("bytes=").and_then(|v| {
                    let (a, b) = v.split_once('-')?;
                    Some((a.parse::<u64>().ok()?, b.parse::<u64>().ok()?))
                });
            }
        }
        let mut parts = request_line.split_whitespace();
        let method = parts.next().unwrap_or("").to_owned();
        let path = parts.next().unwrap_or("").to_owned();
        std::thread::sleep(config.delay);
        if let Mode::DieAfterGets(n) = config.mode {
            if counters.gets.load(Ordering::Relaxed) >= n {
                return Ok(());
            }
        }
        let sock = r.get_mut();
        let head_only = method == "HEAD";
        if head_only {
            counters.heads.fetch_add(1, Ordering::Relaxed);
        }
        let served_path = match config.mode {
            Mode::Redirect => "/real/image.iso",
            _ => "/image.iso",
        };
        match config.mode {
            Mode::Garbage => {
                let junk: Vec<u8> = (0..4096u32).map(|i| (i * 7 + 13) as u8).collect();
                sock.write_all(&junk)?;
                sock.flush()?;
                return Ok(());
            }
            Mode::RedirectLoop => {
                write!(
                    sock,
                    "HTTP/1.1 302 Found\r\nLocation: {path}\r\nContent-Length: 0\r\n\r\n"
                )?;
                sock.flush()?;
                continue;
            }
            Mode::Redirect if path == "/image.iso" => {
                write!(
                    sock,
                    "HTTP/1.1 302 Found\r\nLocation: {served_path}\r\nContent-Length: 0\r\n\r\n"
                )?;
                sock.flush()?;
                continue;
            }
            _ => {}
        }
        if path != served_path {
            write!(sock, "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")?;
            sock.flush()?;
            continue;
        }
        let size = image.len() as u64;
        let (status, first, last) = match (config.mode, range) {
            (Mode::NoRanges, _) | (_, None) => ("200 OK", 0, size - 1),
            (_, Some((a, b))) if a <= b && b < size => ("206 Partial Content", a, b),
            (_, Some(_)) => {
                write!(
                    sock,
                    "HTTP/1.1 416 Range Not Satisfiable\r\nContent-Range: bytes */{size}\r\nContent-Length: 0\r\n\r\n"
                )?;
                sock.flush()?;
                continue;
            }
        };
        let len = last - first + 1;
        let mut head =
            format!("HTTP/1.1 {status}\r\nServer: isotune-test\r\nContent-Length: {len}\r\n");
        if config.mode != Mode::NoRanges {
            head.push_str("Accept-Ranges: bytes\r\n");
        }
        if status.starts_with("206") {
            head.push_str(&format!("Content-Range: bytes {first}-{last}/{size}\r\n"));
        }
        head.push_str("\r\n");
        sock.write_all(head.as_bytes())?;
        if head_only {
            sock.flush()?;
            continue;
        }
        counters.gets.fetch_add(1, Ordering::Relaxed);
        let body = &image[first as usize..=last as usize];
        if config.mode == Mode::Truncate {
            sock.write_all(&body[..body.len() / 2])?;
            sock.flush()?;
            return Ok(());
        }
        sock.write_all(body)?;
        sock.flush()?;
        counters
            .body_bytes
            .fetch_add(body.len() as u64, Ordering::Relaxed);
    }
}
