//! A small HTTP/1.1 server that serves one image with single-range `Range`
//! support, so `isotune boot --source http` can boot QEMU's curl driver from
//! an ISO on this host, with an optional per-request delay and an optional
//! bandwidth limit (user-space latency and pacing: no `sch_netem` or `tc`
//! is needed).
//!
//! One thread accepts on 127.0.0.1 (an ephemeral port), one thread serves
//! each connection: keep-alive, `TCP_NODELAY` (without it every answer
//! waits ~40 ms for the peer's delayed ACK), `GET` and `HEAD`. Bounded: a
//! request head is at most [`MAX_REQUEST_HEAD_BYTES`], an idle connection is
//! closed after [`IDLE_TIMEOUT`]. Quiet: nothing is printed; the counters
//! ([`ServeStats`]) say what was served. Dropping the [`ImageServer`] closes
//! the port and every connection and joins every thread.
//!
//! The bandwidth limit ([`ServeOptions::rate_bits_per_s`]) is one emulated
//! link shared by every connection of a server (QEMU's curl driver may have
//! several transfers in flight): a [`Pacer`] (see [`crate::pace`]) hands
//! out send slots of [`PACE_CHUNK_BYTES`] in turn, and each body write
//! waits for its slot.
//!
//! The request parser and the response writer are public so a test server
//! with fault modes can answer the ordinary requests the same way.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

pub use crate::pace::{Pacer, PACE_CHUNK_BYTES};

/// The largest request head read (request line + headers), in bytes.
pub const MAX_REQUEST_HEAD_BYTES: usize = 16 << 10;
/// An idle keep-alive connection is closed after this long.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// Bytes sent per `write` of a body (read from the image in these steps).
const CHUNK_BYTES: usize = 256 << 10;

/// The bytes a server answers with.
pub trait Image: Send + Sync {
    /// Size in bytes.
    fn len_bytes(&self) -> u64;
    /// Fills `buf` from `offset` (within [`Image::len_bytes`]).
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<()>;
}

impl Image for File {
    fn len_bytes(&self) -> u64 {
        self.metadata().map_or(0, |m| m.len())
    }
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        self.read_exact_at(buf, offset)
    }
}

impl Image for Vec<u8> {
    fn len_bytes(&self) -> u64 {
        self.len() as u64
    }
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        let start = usize::try_from(offset).map_err(|_| io::ErrorKind::InvalidInput)?;
        let src = self
            .get(start..start + buf.len())
            .ok_or(io::ErrorKind::UnexpectedEof)?;
        buf.copy_from_slice(src);
        Ok(())
    }
}

/// A request as far as this server cares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// `GET`, `HEAD`, ...
    pub method: String,
    /// The request target (`/image.iso`).
    pub path: String,
    /// The `Range` header's value, when sent.
    pub range: Option<String>,
    /// `Connection: close` was sent (or HTTP/1.0 without keep-alive).
    pub close: bool,
}

/// Reads one request head; `Ok(None)` when the peer closed the connection
/// before sending one. A head over [`MAX_REQUEST_HEAD_BYTES`] is an
/// `InvalidData` error.
pub fn read_request<R: BufRead>(r: &mut R) -> io::Result<Option<Request>> {
    let mut total = 0usize;
    let mut line = Vec::new();
    let mut next = |r: &mut R, line: &mut Vec<u8>| -> io::Result<bool> {
        line.clear();
        let cap = (MAX_REQUEST_HEAD_BYTES - total) as u64 + 1;
        let n = io::Read::take(&mut *r, cap).read_until(b'\n', line)?;
        total += n;
        if total > MAX_REQUEST_HEAD_BYTES {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "request head too large",
            ));
        }
        Ok(n > 0)
    };
    if !next(r, &mut line)? {
        return Ok(None);
    }
    let request_line = String::from_utf8_lossy(&line).trim().to_owned();
    let mut parts = request_line.split_whitespace();
    let method = parts.next().unwrap_or_default().to_owned();
    let path = parts.next().unwrap_or_default().to_owned();
    let mut close = parts.next() == Some("HTTP/1.0");
    let mut range = None;
    loop {
        if !next(r, &mut line)? {
            return Ok(None);
        }
        let text = String::from_utf8_lossy(&line);
        let text = text.trim_end();
        if text.is_empty() {
            break;
        }
        if let Some((name, value)) = text.split_once(':') {
            let value = value.trim();
            if name.eq_ignore_ascii_case("range") {
                range = Some(value.to_owned());
            } else if name.eq_ignore_ascii_case("connection") {
                close = value.eq_ignore_ascii_case("close");
            }
        }
    }
    Ok(Some(Request {
        method,
        path,
        range,
        close,
    }))
}

/// Parses `bytes=FIRST-LAST` or `bytes=FIRST-` against an image of `size`
/// bytes: `Some(Ok((first, last)))` when satisfiable, `Some(Err(()))` when
/// not (416), `None` for a form not supported (answered with the whole
/// image, as RFC 9110 allows).
#[allow(clippy::result_unit_err)]
pub fn parse_range(value: &str, size: u64) -> Option<Result<(u64, u64), ()>> {
    let spec = value.trim().strip_prefix("bytes=")?;
    if spec.contains(',') {
        return None;
    }
    let (a, b) = spec.split_once('-')?;
    let first: u64 = a.trim().parse().ok()?;
    let last: u64 = match b.trim() {
        "" => size.saturating_sub(1),
        b => b.parse::<u64>().ok()?.min(size.saturating_sub(1)),
    };
    Some(if first <= last && first < size {
        Ok((first, last))
    } else {
        Err(())
    })
}

/// How [`respond`] answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Answer {
    /// Honour `Range` and say `Accept-Ranges: bytes`.
    pub ranges: bool,
}

/// Answers `req` for `image` served at `path`: 200/206/404/405/416.
/// Returns the body bytes sent (0 for HEAD and errors).
pub fn respond<W: Write>(
    w: &mut W,
    req: &Request,
    path: &str,
    image: &dyn Image,
    answer: Answer,
) -> io::Result<u64> {
    respond_paced(w, req, path, image, answer, None)
}

/// [`respond`], the body written in [`PACE_CHUNK_BYTES`] steps each
/// waiting for its slot on `pacer` (the head is not paced: it is small).
pub fn respond_paced<W: Write>(
    w: &mut W,
    req: &Request,
    path: &str,
    image: &dyn Image,
    answer: Answer,
    pacer: Option<&Pacer>,
) -> io::Result<u64> {
    let head_only = req.method == "HEAD";
    if req.method != "GET" && !head_only {
        w.write_all(
            b"HTTP/1.1 405 Method Not Allowed\r\nAllow: GET, HEAD\r\nContent-Length: 0\r\n\r\n",
        )?;
        return w.flush().map(|()| 0);
    }
    if req.path != path {
        w.write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")?;
        return w.flush().map(|()| 0);
    }
    let size = image.len_bytes();
    let range = req
        .range
        .as_deref()
        .filter(|_| answer.ranges)
        .and_then(|v| parse_range(v, size));
    let (status, first, last) = match range {
        Some(Ok((a, b))) => ("206 Partial Content", a, b),
        Some(Err(())) => {
            write!(
                w,
                "HTTP/1.1 416 Range Not Satisfiable\r\nContent-Range: bytes */{size}\r\nContent-Length: 0\r\n\r\n"
            )?;
            return w.flush().map(|()| 0);
        }
        None => ("200 OK", 0, size.saturating_sub(1)),
    };
    let len = if size == 0 { 0 } else { last - first + 1 };
    let mut head = format!("HTTP/1.1 {status}\r\nServer: isotune\r\nContent-Length: {len}\r\n");
    if answer.ranges {
        head.push_str("Accept-Ranges: bytes\r\n");
    }
    if range.is_some() {
        head.push_str(&format!("Content-Range: bytes {first}-{last}/{size}\r\n"));
    }
    head.push_str("\r\n");
    w.write_all(head.as_bytes())?;
    if head_only || len == 0 {
        return w.flush().map(|()| 0);
    }
    let chunk = if pacer.is_some() {
        PACE_CHUNK_BYTES
    } else {
        CHUNK_BYTES
    };
    let mut buf = vec![0u8; chunk.min(usize::try_from(len).unwrap_or(chunk))];
    let mut at = first;
    while at <= last {
        let n = buf
            .len()
            .min(usize::try_from(last - at + 1).unwrap_or(buf.len()));
        image.read_at(at, &mut buf[..n])?;
        if let Some(p) = pacer {
            // The bytes already in the writer's buffer go out with this
            // chunk's slot; flushing keeps the pace at the socket.
            w.flush()?;
            p.wait_for(n);
        }
        w.write_all(&buf[..n])?;
        at += n as u64;
    }
    w.flush()?;
    Ok(len)
}

/// What an [`ImageServer`] has served so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ServeStats {
    /// `GET` requests answered with a body.
    pub gets: u64,
    /// `HEAD` requests.
    pub heads: u64,
    /// Body bytes sent.
    pub body_bytes: u64,
    /// Connections accepted.
    pub connections: u64,
}

#[derive(Debug, Default)]
struct Counters {
    gets: AtomicU64,
    heads: AtomicU64,
    body_bytes: AtomicU64,
    connections: AtomicU64,
}

/// Settings of an [`ImageServer`].
#[derive(Debug, Clone, Default)]
pub struct ServeOptions {
    /// Slept before answering each request: an emulated round trip.
    pub delay: Duration,
    /// The bandwidth of the emulated link, bits per second, shared by all
    /// connections; `None` (or 0): unlimited.
    pub rate_bits_per_s: Option<u64>,
}

/// The path the image is served at.
pub const IMAGE_PATH: &str = "/image.iso";

struct Shared {
    image: Box<dyn Image>,
    options: ServeOptions,
    pacer: Option<Pacer>,
    counters: Counters,
    stop: AtomicBool,
    /// Clones of the open connections, shut down on drop.
    conns: Mutex<Vec<(u64, TcpStream)>>,
    workers: Mutex<Vec<JoinHandle<()>>>,
}

/// A running server; stopped when dropped.
pub struct ImageServer {
    addr: SocketAddr,
    url: String,
    shared: Arc<Shared>,
    acceptor: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for ImageServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ImageServer")
            .field("addr", &self.addr)
            .field("stats", &self.stats())
            .finish()
    }
}

impl ImageServer {
    /// Serves the file at `path` (opened now, read-only).
    pub fn serve_file(path: &Path, options: ServeOptions) -> io::Result<ImageServer> {
        Self::serve(Box::new(File::open(path)?), options)
    }

    /// Serves `image` on 127.0.0.1, an ephemeral port.
    pub fn serve(image: Box<dyn Image>, options: ServeOptions) -> io::Result<ImageServer> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        let pacer = options.rate_bits_per_s.filter(|&r| r > 0).map(Pacer::new);
        let shared = Arc::new(Shared {
            image,
            options,
            pacer,
            counters: Counters::default(),
            stop: AtomicBool::new(false),
            conns: Mutex::new(Vec::new()),
            workers: Mutex::new(Vec::new()),
        });
        let s = shared.clone();
        let acceptor = std::thread::Builder::new()
            .name("isotune-httpd".into())
            .spawn(move || accept_loop(&listener, &s))?;
        Ok(ImageServer {
            addr,
            url: format!("http://{addr}{IMAGE_PATH}"),
            shared,
            acceptor: Some(acceptor),
        })
    }

    /// `http://127.0.0.1:PORT/image.iso`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// What was served so far.
    pub fn stats(&self) -> ServeStats {
        let c = &self.shared.counters;
        ServeStats {
            gets: c.gets.load(Ordering::Relaxed),
            heads: c.heads.load(Ordering::Relaxed),
            body_bytes: c.body_bytes.load(Ordering::Relaxed),
            connections: c.connections.load(Ordering::Relaxed),
        }
    }
}

impl Drop for ImageServer {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        // Wakes the blocking accept.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        if let Some(t) = self.acceptor.take() {
            let _ = t.join();
        }
        for (_, c) in lock(&self.shared.conns).drain(..) {
            let _ = c.shutdown(Shutdown::Both);
        }
        let workers: Vec<_> = lock(&self.shared.workers).drain(..).collect();
        for w in workers {
            let _ = w.join();
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn accept_loop(listener: &TcpListener, shared: &Arc<Shared>) {
    let mut next_id = 0u64;
    for sock in listener.incoming() {
        if shared.stop.load(Ordering::SeqCst) {
            return;
        }
        let Ok(sock) = sock else { continue };
        shared.counters.connections.fetch_add(1, Ordering::Relaxed);
        let _ = sock.set_nodelay(true);
        let _ = sock.set_read_timeout(Some(IDLE_TIMEOUT));
        let _ = sock.set_write_timeout(Some(IDLE_TIMEOUT));
        let id = next_id;
        next_id += 1;
        if let Ok(clone) = sock.try_clone() {
            lock(&shared.conns).push((id, clone));
        }
        let s = shared.clone();
        let worker = std::thread::Builder::new()
            .name("isotune-httpd-conn".into())
            .spawn(move || {
                let _ = serve_connection(sock, &s);
                lock(&s.conns).retain(|(i, _)| *i != id);
            });
        if let Ok(w) = worker {
            let mut workers = lock(&shared.workers);
            workers.retain(|w| !w.is_finished());
            workers.push(w);
        }
    }
}

fn serve_connection(sock: TcpStream, shared: &Shared) -> io::Result<()> {
    let mut w = sock.try_clone()?;
    let mut r = BufReader::new(sock);
    while let Some(req) = read_request(&mut r)? {
        if shared.stop.load(Ordering::Relaxed) {
            return Ok(());
        }
        if !shared.options.delay.is_zero() {
            std::thread::sleep(shared.options.delay);
        }
        let c = &shared.counters;
        if req.method == "HEAD" {
            c.heads.fetch_add(1, Ordering::Relaxed);
        }
        // Counted before the answer goes out, so a client holding its
        // answer sees it counted; taken back when no body was sent.
        let get = req.method == "GET" && req.path == IMAGE_PATH;
        if get {
            c.gets.fetch_add(1, Ordering::Relaxed);
        }
        let sent = respond_paced(
            &mut w,
            &req,
            IMAGE_PATH,
            shared.image.as_ref(),
            Answer { ranges: true },
            shared.pacer.as_ref(),
        )?;
        c.body_bytes.fetch_add(sent, Ordering::Relaxed);
        if get && sent == 0 {
            c.gets.fetch_sub(1, Ordering::Relaxed);
        }
        if req.close {
            return Ok(());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use super::*;

    fn get(port: u16, reqs: &str) -> String {
        let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
        s.write_all(reqs.as_bytes()).unwrap();
        let mut out = Vec::new();
        s.read_to_end(&mut out).unwrap();
        String::from_utf8_lossy(&out).into_owned()
    }

    #[test]
    fn serves_ranges_over_one_keep_alive_connection() {
        let image: Vec<u8> = (0..10_000u32).map(|i| (i % 251) as u8).collect();
        let srv = ImageServer::serve(Box::new(image.clone()), ServeOptions::default()).unwrap();
        let out = get(
            srv.port(),
            "HEAD /image.iso HTTP/1.1\r\n\r\n\
             GET /image.iso HTTP/1.1\r\nRange: bytes=10-19\r\n\r\n\
             GET /image.iso HTTP/1.1\r\nRange: bytes=9990-\r\nConnection: close\r\n\r\n",
        );
        assert!(out.starts_with("HTTP/1.1 200 OK\r\n"), "{out}");
        assert!(out.contains("Content-Length: 10000\r\nAccept-Ranges: bytes"));
        assert!(out.contains("Content-Range: bytes 10-19/10000"));
        assert!(out.contains("Content-Range: bytes 9990-9999/10000"));
        let st = srv.stats();
        assert_eq!(
            (st.heads, st.gets, st.body_bytes, st.connections),
            (1, 2, 20, 1)
        );
    }

    #[test]
    fn bad_requests_get_clear_statuses() {
        let srv = ImageServer::serve(Box::new(vec![7u8; 100]), ServeOptions::default()).unwrap();
        let out = get(
            srv.port(),
            "GET /other HTTP/1.1\r\nConnection: close\r\n\r\n",
        );
        assert!(out.starts_with("HTTP/1.1 404"), "{out}");
        let out = get(
            srv.port(),
            "GET /image.iso HTTP/1.1\r\nRange: bytes=200-300\r\nConnection: close\r\n\r\n",
        );
        assert!(out.starts_with("HTTP/1.1 416"), "{out}");
        let huge = format!(
            "GET /{} HTTP/1.1\r\n\r\n",
            "a".repeat(MAX_REQUEST_HEAD_BYTES)
        );
        assert_eq!(get(srv.port(), &huge), "");
        assert_eq!(srv.stats().gets, 0);
    }

    #[test]
    fn ranges_parse_with_limits() {
        assert_eq!(parse_range("bytes=0-9", 100), Some(Ok((0, 9))));
        assert_eq!(parse_range("bytes=90-200", 100), Some(Ok((90, 99))));
        assert_eq!(parse_range("bytes=100-", 100), Some(Err(())));
        assert_eq!(parse_range("bytes=0-1,5-6", 100), None);
        assert_eq!(parse_range("items=0-1", 100), None);
    }

    #[test]
    fn drop_closes_the_port_and_open_connections() {
        let srv = ImageServer::serve(Box::new(vec![0u8; 10]), ServeOptions::default()).unwrap();
        let port = srv.port();
        let mut idle = TcpStream::connect(("127.0.0.1", port)).unwrap();
        std::thread::sleep(Duration::from_millis(50));
        drop(srv);
        let mut buf = [0u8; 1];
        assert_eq!(idle.read(&mut buf).unwrap_or(0), 0);
        assert!(TcpStream::connect(("127.0.0.1", port)).is_err());
    }

    #[test]
    fn connections_share_one_paced_link() {
        use crate::pace::tests::assert_paced;
        use std::time::Instant;

        let rate = 20_000_000u64;
        let image = vec![3u8; 1 << 20];
        let options = ServeOptions {
            rate_bits_per_s: Some(rate),
            ..ServeOptions::default()
        };
        let srv = ImageServer::serve(Box::new(image), options).unwrap();
        let port = srv.port();
        let t = Instant::now();
        let clients: Vec<_> = (0..2)
            .map(|_| {
                std::thread::spawn(move || {
                    get(port, "GET /image.iso HTTP/1.1\r\nConnection: close\r\n\r\n").len()
                })
            })
            .collect();
        for c in clients {
            assert!(c.join().unwrap() > 1 << 20);
        }
        let st = srv.stats();
        assert_eq!((st.gets, st.body_bytes), (2, 2 << 20));
        // Each connection's last slot is not waited out.
        assert_paced(t.elapsed(), 2 << 20, rate, 2);
    }
}
