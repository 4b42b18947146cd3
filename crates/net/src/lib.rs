//! `isotune-net` reads an ISO image from the network the way a hypervisor's
//! network block drivers do, so `isotune bench` can replay its workloads on
//! a URL: HTTP/1.1 Range requests over keep-alive connections (plain or TLS
//! with rustls) and NBD (the newstyle fixed handshake, simple replies).
//! The other direction, [`serve`], is the small Range server `isotune boot
//! --source http` boots QEMU's curl driver from.
//!
//! ```text
//!   NetSource::open(url, options)   probe: size, Range support, redirects,
//!        │                          TCP connect time, small-request time,
//!        │                          throughput  ->  SourceInfo (serde)
//!   NetSource::connect() -> Box<dyn Conn>   one connection each (a bench
//!        │                                  with N connections opens N)
//!   Conn::read_exact_at(offset, buf)        one request, one answer
//! ```
//!
//! Everything is bounded: connect and I/O timeouts, a 16 KiB cap on an HTTP
//! response head, fixed-size NBD headers with checked magics. Garbage from a
//! server is an [`ErrorKind::Protocol`] error, never a panic or a hang.
//! Credentials in a URL are sent (HTTP Basic) but never appear in an error,
//! in [`SourceInfo`] or in `Debug` output. Nothing here prints.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod error;
mod http;
pub mod http_wire;
mod nbd;
pub mod nbd_wire;
pub mod pace;
pub mod serve;
mod tls;
pub mod url;

use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use error::{Error, ErrorKind, Result};
pub use url::{is_url, redact_url, NetUrl, Scheme};

/// How to reach a source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetOptions {
    /// PEM file of the certificate authorities to trust for HTTPS instead of
    /// the system's.
    pub cacert: Option<PathBuf>,
    /// Limit on establishing a connection (TCP connect plus TLS or NBD
    /// handshake).
    pub connect_timeout: Duration,
    /// Limit on any single read or write on an established connection.
    pub io_timeout: Duration,
}

impl Default for NetOptions {
    fn default() -> Self {
        NetOptions {
            cacert: None,
            connect_timeout: Duration::from_secs(10),
            io_timeout: Duration::from_secs(30),
        }
    }
}

/// Round-trip times measured before a bench, in nanoseconds (medians).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct RoundTrip {
    /// TCP (or Unix socket) connect.
    pub connect_ns: u64,
    /// Connection set-up after connect: TLS handshake or NBD negotiation
    /// (0 for plain HTTP).
    pub handshake_ns: u64,
    /// One small read (2048 bytes at offset 0) on an open connection: the
    /// cost every request pays at least.
    pub request_ns: u64,
    /// Samples of each.
    pub samples: u32,
}

/// NBD facts from the handshake.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NbdFacts {
    /// The export name.
    pub export: String,
    /// How the export was opened: `go` (NBD_OPT_GO) or `export_name`.
    pub negotiation: String,
    /// Transmission flags.
    pub transmission_flags: u16,
    /// The server says the export is read-only.
    pub read_only: bool,
    /// The server allows several connections to the export (multi-conn).
    pub multi_conn: bool,
}

/// What the probe found out about a source.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SourceInfo {
    /// The URL as given (credentials redacted).
    pub url: String,
    /// Protocol.
    pub scheme: Scheme,
    /// The URL requests go to after redirects (credentials redacted).
    pub final_url: String,
    /// Redirects followed to get there. QEMU's curl driver does not remember
    /// them: each costs it one more round trip on every request.
    pub redirects: u32,
    /// Size of the image in bytes.
    pub size_bytes: u64,
    /// TLS in use.
    pub tls: bool,
    /// The `Server` header, when the HTTP server sends one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server: Option<String>,
    /// NBD handshake facts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbd: Option<NbdFacts>,
    /// Round-trip times.
    pub round_trip: RoundTrip,
    /// Bytes per second of one large read on an open connection, with the
    /// small-request time subtracted (the streaming rate of the link).
    pub throughput_bytes_per_s: f64,
    /// Size of that read in bytes.
    pub throughput_sample_bytes: u64,
}

/// One open connection to a source.
pub trait Conn: Send {
    /// Reads exactly `buf.len()` bytes at `offset` (which must lie within
    /// the source) with one request.
    fn read_exact_at(&mut self, offset: u64, buf: &mut [u8]) -> Result<()>;
}

/// An opened (probed) network source.
#[derive(Debug)]
pub struct NetSource {
    url: NetUrl,
    target: NetUrl,
    options: NetOptions,
    tls: Option<std::sync::Arc<rustls::ClientConfig>>,
    info: SourceInfo,
}

impl NetSource {
    /// Parses `url`, connects and probes it (see [`SourceInfo`]).
    ///
    /// Errors: [`ErrorKind::InvalidUrl`], [`ErrorKind::Connect`],
    /// [`ErrorKind::Timeout`], [`ErrorKind::NoRange`] (an HTTP server
    /// without Range support), [`ErrorKind::Status`], [`ErrorKind::Protocol`],
    /// [`ErrorKind::Tls`], [`ErrorKind::Io`].
    pub fn open(url: &str, options: &NetOptions) -> Result<NetSource> {
        let url = NetUrl::parse(url)?;
        let tls = match url.scheme {
            Scheme::Https => Some(tls::client_config(options.cacert.as_deref())?),
            _ => None,
        };
        let (target, info) = if url.scheme.is_http() {
            http::probe(&url, options, tls.as_ref())?
        } else {
            nbd::probe(&url, options)?
        };
        Ok(NetSource {
            url,
            target,
            options: options.clone(),
            tls,
            info,
        })
    }

    /// What the probe found.
    pub fn info(&self) -> &SourceInfo {
        &self.info
    }

    /// The URL as given.
    pub fn url(&self) -> &NetUrl {
        &self.url
    }

    /// Size of the image in bytes.
    pub fn size_bytes(&self) -> u64 {
        self.info.size_bytes
    }

    /// Opens a new connection (to the final URL after redirects).
    pub fn connect(&self) -> Result<Box<dyn Conn>> {
        if self.target.scheme.is_http() {
            Ok(Box::new(http::HttpConn::new(
                &self.target,
                &self.options,
                self.tls.clone(),
                self.info.size_bytes,
            )))
        } else {
            let (conn, _) = nbd::NbdConn::connect(&self.target, &self.options)?;
            Ok(Box::new(conn))
        }
    }

    /// A positioned reader over one connection of this source, for code
    /// that reads an image's structure (the boot trace).
    pub fn reader(&self) -> Result<SourceReader> {
        Ok(SourceReader {
            conn: Mutex::new(self.connect()?),
            size_bytes: self.info.size_bytes,
        })
    }
}

/// A connection behind [`isotune_iso::ReadAt`]: reads past the end are
/// shortened, errors become `io::Error`s carrying the message.
pub struct SourceReader {
    conn: Mutex<Box<dyn Conn>>,
    size_bytes: u64,
}

impl std::fmt::Debug for SourceReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SourceReader")
            .field("size_bytes", &self.size_bytes)
            .finish_non_exhaustive()
    }
}

impl isotune_iso::ReadAt for SourceReader {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> std::io::Result<usize> {
        if offset >= self.size_bytes || buf.is_empty() {
            return Ok(0);
        }
        let n = usize::try_from(self.size_bytes - offset)
            .unwrap_or(usize::MAX)
            .min(buf.len());
        let mut conn = self
            .conn
            .lock()
            .map_err(|_| std::io::Error::other("connection poisoned"))?;
        conn.read_exact_at(offset, &mut buf[..n])
            .map_err(|e| std::io::Error::other(e.to_string()))?;
        Ok(n)
    }

    fn size(&self) -> std::io::Result<u64> {
        Ok(self.size_bytes)
    }
}

/// Round trips samples taken per measurement.
pub(crate) const RTT_SAMPLES: u32 = 5;
/// The throughput sample: one read of this many bytes (or the whole image).
const THROUGHPUT_SAMPLE_BYTES: u64 = 8 << 20;

/// What [`measure_link`] found: round trips, streaming rate, sample size.
pub(crate) type LinkMeasurement = (RoundTrip, f64, u64);

/// Measures an open connection: a warm-up read, [`RTT_SAMPLES`] reads of
/// 2 KiB at offset 0 (median), then one read of up to 8 MiB whose time
/// minus the small-read time gives the streaming rate. `connects` and
/// `handshakes` are the set-up times sampled by the caller.
pub(crate) fn measure_link(
    conn: &mut dyn Conn,
    size_bytes: u64,
    connects: Vec<u64>,
    handshakes: Vec<u64>,
) -> Result<LinkMeasurement> {
    let mut buf = vec![0u8; size_bytes.min(2048) as usize];
    conn.read_exact_at(0, &mut buf)?;
    let mut requests = Vec::new();
    for _ in 0..RTT_SAMPLES {
        let start = std::time::Instant::now();
        conn.read_exact_at(0, &mut buf)?;
        requests.push(ns(start.elapsed()));
    }
    let request_ns = median_ns(requests);
    let sample = size_bytes.min(THROUGHPUT_SAMPLE_BYTES);
    let mut big = vec![0u8; sample as usize];
    let start = std::time::Instant::now();
    conn.read_exact_at(0, &mut big)?;
    let streaming = ns(start.elapsed()).saturating_sub(request_ns).max(1);
    let round_trip = RoundTrip {
        connect_ns: median_ns(connects),
        handshake_ns: median_ns(handshakes),
        request_ns,
        samples: RTT_SAMPLES,
    };
    Ok((round_trip, sample as f64 * 1e9 / streaming as f64, sample))
}

/// The median of `samples` (0 when empty).
pub(crate) fn median_ns(mut samples: Vec<u64>) -> u64 {
    samples.sort_unstable();
    samples.get(samples.len() / 2).copied().unwrap_or(0)
}

/// Nanoseconds of a duration, saturating.
pub(crate) fn ns(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}
