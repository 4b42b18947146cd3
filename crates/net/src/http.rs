//! The HTTP/1.1 Range client: one keep-alive connection per [`HttpConn`]
//! (TCP_NODELAY, timeouts, optional TLS), one `GET` with `Range:
//! bytes=FIRST-LAST` per read, the `206` answer checked against the range
//! asked for; and the probe that runs before a bench (`HEAD`, redirects,
//! `Accept-Ranges`, size, round-trip times, throughput).
//!
//! Hand-written over `std::net::TcpStream` + rustls rather than an HTTP
//! crate: the bench must control exactly when a connection is opened,
//! reused and timed, and the client must stay small enough to fuzz.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine as _;

use crate::http_wire::{parse_head, ResponseHead, MAX_HEAD_BYTES};
use crate::{
    measure_link, ns, Conn, Error, ErrorKind, NetOptions, NetUrl, Result, SourceInfo, RTT_SAMPLES,
};

/// Redirects followed at most (curl's default is 30; 10 is plenty).
const MAX_REDIRECTS: u32 = 10;

/// Connects to `host:port` within the connect timeout, with TCP_NODELAY and
/// the I/O timeouts set. Returns the stream and the connect time.
pub(crate) fn tcp_connect(url: &NetUrl, options: &NetOptions) -> Result<(TcpStream, Duration)> {
    let addrs: Vec<_> = (url.host.as_str(), url.port)
        .to_socket_addrs()
        .map_err(|e| {
            Error::io(format!("cannot resolve `{}`", url.host), e).with_kind(ErrorKind::Connect)
        })?
        .collect();
    let mut last = None;
    for addr in addrs {
        let start = Instant::now();
        match TcpStream::connect_timeout(&addr, options.connect_timeout) {
            Ok(s) => {
                let took = start.elapsed();
                let setup = |s: &TcpStream| -> io::Result<()> {
                    s.set_nodelay(true)?;
                    s.set_read_timeout(Some(options.io_timeout))?;
                    s.set_write_timeout(Some(options.io_timeout))
                };
                setup(&s).map_err(|e| Error::io("cannot set socket options", e))?;
                return Ok((s, took));
            }
            Err(e) => last = Some((addr, e)),
        }
    }
    Err(match last {
        Some((addr, e)) => {
            let kind = if e.kind() == io::ErrorKind::TimedOut {
                ErrorKind::Timeout
            } else {
                ErrorKind::Connect
            };
            Error::io(format!("cannot connect to {addr}"), e).with_kind(kind)
        }
        None => Error::new(ErrorKind::Connect, format!("`{}` has no address", url.host)),
    }
    .with_url(url))
}

enum Stream {
    Plain(TcpStream),
    Tls(Box<rustls::StreamOwned<rustls::ClientConnection, TcpStream>>),
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(s) => s.read(buf),
            Stream::Tls(s) => s.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(s) => s.write(buf),
            Stream::Tls(s) => s.write(buf),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        match self {
            Stream::Plain(s) => s.flush(),
            Stream::Tls(s) => s.flush(),
        }
    }
}

/// One keep-alive HTTP connection to one URL.
pub(crate) struct HttpConn {
    url: NetUrl,
    options: NetOptions,
    tls: Option<Arc<rustls::ClientConfig>>,
    size_bytes: u64,
    stream: Option<BufReader<Stream>>,
    /// Times of the last connection set-up: (connect, TLS handshake).
    last_setup: (Duration, Duration),
}

impl HttpConn {
    /// Not connected yet: the first request connects.
    pub(crate) fn new(
        url: &NetUrl,
        options: &NetOptions,
        tls: Option<Arc<rustls::ClientConfig>>,
        size_bytes: u64,
    ) -> HttpConn {
        HttpConn {
            url: url.clone(),
            options: options.clone(),
            tls,
            size_bytes,
            stream: None,
            last_setup: (Duration::ZERO, Duration::ZERO),
        }
    }

    fn open_stream(&mut self) -> Result<BufReader<Stream>> {
        let (tcp, connect) = tcp_connect(&self.url, &self.options)?;
        let start = Instant::now();
        let stream = match &self.tls {
            None => Stream::Plain(tcp),
            Some(config) => {
                let name = rustls::pki_types::ServerName::try_from(self.url.host.clone()).map_err(
                    |e| {
                        Error::new(
                            ErrorKind::InvalidUrl,
                            format!("invalid TLS server name: {e}"),
                        )
                        .with_url(&self.url)
                    },
                )?;
                let conn = rustls::ClientConnection::new(config.clone(), name).map_err(|e| {
                    Error::new(ErrorKind::Tls, format!("cannot start TLS: {e}")).with_url(&self.url)
                })?;
                let mut s = rustls::StreamOwned::new(conn, tcp);
                while s.conn.is_handshaking() {
                    s.conn.complete_io(&mut s.sock).map_err(|e| {
                        let kind = if e.kind() == io::ErrorKind::InvalidData {
                            ErrorKind::Tls
                        } else {
                            ErrorKind::Io
                        };
                        Error::io("the TLS handshake failed", e)
                            .with_kind(kind)
                            .with_url(&self.url)
                    })?;
                }
                Stream::Tls(Box::new(s))
            }
        };
        self.last_setup = (connect, start.elapsed());
        Ok(BufReader::with_capacity(64 << 10, stream))
    }

    fn request_text(&self, method: &str, range: Option<(u64, u64)>) -> String {
        let mut req = format!(
            "{method} {} HTTP/1.1\r\nHost: {}\r\nUser-Agent: isotune/{}\r\nAccept: */*\r\n",
            self.url.path,
            self.url.host_port(),
            env!("CARGO_PKG_VERSION")
        );
        if let Some((first, last)) = range {
            req.push_str(&format!("Range: bytes={first}-{last}\r\n"));
        }
        if let Some(user) = self.url.userinfo() {
            let token = base64::engine::general_purpose::STANDARD.encode(user);
            req.push_str(&format!("Authorization: Basic {token}\r\n"));
        }
        req.push_str("\r\n");
        req
    }

    /// Sends a request and reads the answer's head. A kept-alive connection
    /// the server closed in between is reopened once.
    fn send(&mut self, method: &str, range: Option<(u64, u64)>) -> Result<ResponseHead> {
        let text = self.request_text(method, range);
        let reused = self.stream.is_some();
        match self.try_send(&text) {
            Err(Retry::Closed) if reused => {
                self.stream = None;
                self.try_send(&text).map_err(Retry::into_error)
            }
            other => other.map_err(Retry::into_error),
        }
        .map_err(|e| e.with_url(&self.url))
    }

    fn try_send(&mut self, text: &str) -> std::result::Result<ResponseHead, Retry> {
        if self.stream.is_none() {
            self.stream = Some(self.open_stream().map_err(Retry::Fatal)?);
        }
        let stream = self.stream.as_mut().ok_or(Retry::Closed)?;
        let sent = stream
            .get_mut()
            .write_all(text.as_bytes())
            .and_then(|()| stream.get_mut().flush());
        if let Err(e) = sent {
            self.stream = None;
            return Err(if is_closed(&e) {
                Retry::Closed
            } else {
                Retry::Fatal(Error::io("cannot send the request", e))
            });
        }
        let head = read_head(stream);
        if head.is_err() {
            self.stream = None;
        }
        head
    }

    fn done_with(&mut self, head: &ResponseHead, body_read: bool) {
        if !body_read || !head.keep_alive() {
            self.stream = None;
        }
    }
}

enum Retry {
    /// The connection was closed before any answer: worth one retry.
    Closed,
    Fatal(Error),
}

impl Retry {
    fn into_error(self) -> Error {
        match self {
            Retry::Closed => Error::new(
                ErrorKind::Io,
                "the server closed the connection without answering",
            ),
            Retry::Fatal(e) => e,
        }
    }
}

fn is_closed(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::BrokenPipe
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::UnexpectedEof
    )
}

/// Reads a response head, at most [`MAX_HEAD_BYTES`] bytes.
fn read_head(r: &mut BufReader<Stream>) -> std::result::Result<ResponseHead, Retry> {
    let mut head = Vec::with_capacity(512);
    loop {
        let room = (MAX_HEAD_BYTES + 1).saturating_sub(head.len()) as u64;
        let n = match r.by_ref().take(room).read_until(b'\n', &mut head) {
            Ok(n) => n,
            Err(e) if head.is_empty() && is_closed(&e) => return Err(Retry::Closed),
            Err(e) => return Err(Retry::Fatal(Error::io("cannot read the response", e))),
        };
        if n == 0 {
            if head.is_empty() {
                return Err(Retry::Closed);
            }
            return Err(Retry::Fatal(Error::new(
                ErrorKind::Protocol,
                "the connection closed in the middle of the response head",
            )));
        }
        if head.len() > MAX_HEAD_BYTES {
            return Err(Retry::Fatal(Error::new(
                ErrorKind::Protocol,
                format!(
                    "the response head is larger than {MAX_HEAD_BYTES} bytes (not an HTTP server?)"
                ),
            )));
        }
        if head.ends_with(b"\n\n") || head.ends_with(b"\n\r\n") {
            return parse_head(&head).map_err(Retry::Fatal);
        }
        // A first line that is not HTTP is garbage: say so at once instead
        // of waiting for a blank line that may never come.
        if head.len() >= 5 && !head.starts_with(b"HTTP/") {
            return Err(Retry::Fatal(Error::new(
                ErrorKind::Protocol,
                format!(
                    "not an HTTP response (it starts with `{}`)",
                    crate::http_wire::clip(&String::from_utf8_lossy(&head[..head.len().min(40)]))
                ),
            )));
        }
    }
}

/// The error for a server that answers a Range request with the whole image
/// or does not advertise ranges: what QEMU's curl driver will do with it.
fn no_range(why: &str) -> Error {
    Error::new(
        ErrorKind::NoRange,
        format!(
            "the server does not serve byte ranges ({why}); QEMU's curl driver refuses to open \
             such an image (\"Server does not support 'range' (byte ranges)\"): serve the ISO \
             with a server that answers Range requests (nginx, Apache, busybox httpd) or over NBD"
        ),
    )
}

fn status_error(head: &ResponseHead, what: &str) -> Error {
    let hint = match head.status {
        401 | 403 => " (credentials missing or refused)",
        404 => " (no such file on the server)",
        _ => "",
    };
    Error::new(
        ErrorKind::Status,
        format!("HTTP {} {} to {what}{hint}", head.status, head.reason),
    )
}

impl Conn for HttpConn {
    fn read_exact_at(&mut self, offset: u64, buf: &mut [u8]) -> Result<()> {
        if buf.is_empty() {
            return Ok(());
        }
        let last = offset + buf.len() as u64 - 1;
        let ctx = |e: Error, url: &NetUrl| e.with_url(url);
        let what = format!("a read of {} bytes at offset {offset}", buf.len());
        let head = self
            .send("GET", Some((offset, last)))
            .map_err(|e| e.during(&what))?;
        let check = || -> Result<()> {
            match head.status {
                206 => {}
                200 => return Err(no_range("it answered a Range request with the whole file")),
                _ => return Err(status_error(&head, &what)),
            }
            if head.chunked() {
                return Err(Error::new(
                    ErrorKind::Protocol,
                    format!("a chunked answer to {what}"),
                ));
            }
            let range = head.content_range()?.ok_or_else(|| {
                Error::new(
                    ErrorKind::Protocol,
                    format!("no Content-Range in the answer to {what}"),
                )
            })?;
            if range.first != offset || range.last != last {
                return Err(Error::new(
                    ErrorKind::Protocol,
                    format!(
                        "the server sent bytes {}-{} for {what} (bytes {offset}-{last})",
                        range.first, range.last
                    ),
                ));
            }
            if let Some(len) = head.content_length()? {
                if len != buf.len() as u64 {
                    return Err(Error::new(
                        ErrorKind::Protocol,
                        format!("Content-Length {len} for {what}"),
                    ));
                }
            }
            Ok(())
        };
        if let Err(e) = check() {
            self.done_with(&head, false);
            return Err(ctx(e, &self.url));
        }
        let stream = self.stream.as_mut().ok_or_else(|| {
            Error::new(ErrorKind::Io, "the connection is gone").with_url(&self.url)
        })?;
        let mut got = 0;
        while got < buf.len() {
            match stream.read(&mut buf[got..]) {
                Ok(0) => {
                    self.stream = None;
                    return Err(ctx(
                        Error::new(
                            ErrorKind::Protocol,
                            format!(
                                "the answer to {what} was cut after {got} bytes (truncated response)"
                            ),
                        ),
                        &self.url,
                    ));
                }
                Ok(n) => got += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    self.stream = None;
                    return Err(ctx(
                        Error::io(format!("{what} failed after {got} bytes"), e),
                        &self.url,
                    ));
                }
            }
        }
        self.done_with(&head, true);
        Ok(())
    }
}

/// Follows redirects with `HEAD`, checks Range support and the size, then
/// measures. Returns the final URL and the facts.
pub(crate) fn probe(
    url: &NetUrl,
    options: &NetOptions,
    tls: Option<&Arc<rustls::ClientConfig>>,
) -> Result<(NetUrl, SourceInfo)> {
    let mut current = url.clone();
    let mut redirects = 0;
    let mut conn = HttpConn::new(&current, options, tls.cloned(), 0);
    let head = loop {
        let head = conn.send("HEAD", None)?;
        conn.done_with(&head, true);
        match head.status {
            200 => break head,
            301 | 302 | 303 | 307 | 308 => {
                let location = head.header("location").ok_or_else(|| {
                    Error::new(
                        ErrorKind::Protocol,
                        format!("HTTP {} without a Location header", head.status),
                    )
                    .with_url(&current)
                })?;
                redirects += 1;
                if redirects > MAX_REDIRECTS {
                    return Err(Error::new(
                        ErrorKind::Protocol,
                        format!("more than {MAX_REDIRECTS} redirects (a redirect loop?)"),
                    )
                    .with_url(url));
                }
                let next = current.join(location).map_err(|e| e.with_url(&current))?;
                if next.scheme != current.scheme {
                    return Err(Error::new(
                        ErrorKind::Protocol,
                        format!("redirect to another scheme ({})", next.redacted()),
                    )
                    .with_url(&current));
                }
                if (&next.host, next.port) != (&current.host, current.port) {
                    conn = HttpConn::new(&next, options, tls.cloned(), 0);
                } else {
                    conn.url = next.clone();
                }
                current = next;
            }
            _ => return Err(status_error(&head, "HEAD").with_url(&current)),
        }
    };
    if !head.accepts_byte_ranges() {
        return Err(no_range("no `Accept-Ranges: bytes` in its answer to HEAD").with_url(&current));
    }
    let size_bytes = head
        .content_length()
        .map_err(|e| e.with_url(&current))?
        .filter(|&n| n > 0)
        .ok_or_else(|| {
            Error::new(
                ErrorKind::Protocol,
                "no Content-Length (or 0) in the answer to HEAD: the image size is unknown",
            )
            .with_url(&current)
        })?;
    conn.size_bytes = size_bytes;

    // Round trips: fresh connections for the connect (and TLS) time, then
    // small reads on one kept-alive connection (the first one warms it).
    let mut connects = Vec::new();
    let mut handshakes = Vec::new();
    for _ in 0..RTT_SAMPLES {
        let mut fresh = HttpConn::new(&current, options, tls.cloned(), size_bytes);
        fresh.open_stream()?;
        connects.push(ns(fresh.last_setup.0));
        handshakes.push(ns(fresh.last_setup.1));
    }
    let (round_trip, throughput_bytes_per_s, throughput_sample_bytes) =
        measure_link(&mut conn, size_bytes, connects, handshakes)?;
    let info = SourceInfo {
        url: url.redacted(),
        scheme: url.scheme,
        final_url: current.redacted(),
        redirects,
        size_bytes,
        tls: tls.is_some(),
        server: head.header("server").map(crate::http_wire::clip),
        nbd: None,
        round_trip,
        throughput_bytes_per_s,
        throughput_sample_bytes,
    };
    Ok((current, info))
}
