//! A small HTTP/1.1 server for network-source tests, in a thread of the
//! test process: serves one image at `/image.iso` with single-range
//! `Range` support and keep-alive, and can add a delay before every answer
//! (user-space latency: this kernel has no `sch_netem`), drop Range
//! support, redirect, answer garbage, cut answers short or speak TLS.
//! It counts the requests and body bytes it served, so tests can compare
//! the client's view with the server's. Stopped (and its port closed)
//! when dropped.

use std::io::{BufReader, Read, Write};

use isotune_net::serve::{read_request, respond, Answer};
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
    image: &Arc<Vec<u8>>,
    counters: &Counters,
    config: &Config,
) -> std::io::Result<()> {
    let mut r = BufReader::new(sock);
    // The request head is read as isotune's own server reads it.
    while let Some(req) = read_request(&mut r)? {
        std::thread::sleep(config.delay);
        if let Mode::DieAfterGets(n) = config.mode {
            if counters.gets.load(Ordering::Relaxed) >= n {
                return Ok(());
            }
        }
        let sock = r.get_mut();
        let path = req.path.as_str();
        if req.method == "HEAD" {
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
            Mode::Truncate if req.method == "GET" && path == served_path => {
                // A correct head, then half the body it announces.
                let mut out = Vec::new();
                respond(
                    &mut out,
                    &req,
                    served_path,
                    &**image,
                    Answer { ranges: true },
                )?;
                let head = out
                    .windows(4)
                    .position(|w| w == b"\r\n\r\n")
                    .map_or(0, |i| i + 4);
                let cut = head + (out.len() - head) / 2;
                counters.gets.fetch_add(1, Ordering::Relaxed);
                sock.write_all(&out[..cut])?;
                sock.flush()?;
                return Ok(());
            }
            _ => {}
        }
        // The ordinary answer is isotune's server's.
        let answer = Answer {
            ranges: config.mode != Mode::NoRanges,
        };
        let image: &Vec<u8> = image;
        // Counted before the answer goes out, so a client that has its
        // answer sees it counted; taken back when no body was sent.
        let get = req.method == "GET" && path == served_path;
        if get {
            counters.gets.fetch_add(1, Ordering::Relaxed);
        }
        let sent = respond(sock, &req, served_path, image, answer)?;
        counters.body_bytes.fetch_add(sent, Ordering::Relaxed);
        if get && sent == 0 {
            counters.gets.fetch_sub(1, Ordering::Relaxed);
        }
    }
    Ok(())
}
