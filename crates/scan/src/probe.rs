//! `doctor --probe`: measures every network source the scan found, with
//! bounded timeouts, into [`NetProbe`] facts the rules read.
//!
//! - an HTTP(S) or NBD URL a drive reads: `isotune-net` opens it (size,
//!   Range support, redirects, round trips), then one new connection reads
//!   the first MiB in one request (the throughput). For HTTP the image's
//!   boot trace is read over the link and replayed through QEMU's curl
//!   driver model (`isotune_bench::predict`) for each candidate readahead.
//! - the server of a network filesystem holding a local ISO: a TCP connect
//!   to its NFS (2049) or SMB (445) port, then the ISO's first page and
//!   first MiB read after `POSIX_FADV_DONTNEED`, in a thread the probe
//!   waits for at most the I/O limit (a hard NFS mount may block forever).
//!
//! A probe that fails keeps what it measured and says why. Without
//! `--probe` nothing here runs.

use std::collections::BTreeMap;
use std::io::Read;
use std::net::{TcpStream, ToSocketAddrs};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use isotune_bench::predict::{
    curl_prediction, QEMU_CURL_DEFAULT_READAHEAD_BYTES, READAHEADS_BYTES,
};
use isotune_bench::workload::{boot, BootProfile};
use isotune_doctor::{redact_url, Facts, NetProbe, ProbeKind, ReadaheadEstimate};
use isotune_host::{FileFacts, NetworkFsKind};
use isotune_net::{ErrorKind, NetOptions, NetSource, NetUrl};
use isotune_vmconfig::Source;

/// The limits of one probe.
#[derive(Debug, Clone, Copy)]
pub struct ProbeLimits {
    /// TCP connect (plus TLS or NBD handshake).
    pub connect: Duration,
    /// Any single read.
    pub io: Duration,
}

impl Default for ProbeLimits {
    fn default() -> Self {
        ProbeLimits {
            connect: Duration::from_secs(5),
            io: Duration::from_secs(10),
        }
    }
}

/// The throughput read: the first MiB.
const READ_BYTES: u64 = 1 << 20;
/// The round-trip read: one small request.
const SMALL_BYTES: usize = 2048;
/// The guest request size the boot trace is cut into: a BIOS reading an
/// IDE/ATAPI cdrom, the firmware and boot loader phase of a boot.
const TRACE_PROFILE: BootProfile = BootProfile::BiosIde;

/// Probes every network source of `facts` (drives' URLs, network
/// filesystems under its files).
pub fn probe_all(facts: &Facts, limits: ProbeLimits) -> Vec<NetProbe> {
    // URL -> the readahead values drives use with it. Only the URLs
    // isotune's client speaks (http, https, nbd, nbd+unix): an FTP URL or
    // QEMU's legacy `nbd:host:port` is left alone, not reported as failed.
    let mut urls: BTreeMap<String, (ProbeKind, Vec<u64>)> = BTreeMap::new();
    for d in facts.vms.iter().flat_map(|vm| &vm.drives) {
        match &d.source {
            Source::Http { url, .. } | Source::Nbd { url } if !isotune_net::is_url(url) => {}
            Source::Http {
                url,
                readahead_bytes,
                ..
            } => {
                let e = urls
                    .entry(url.clone())
                    .or_insert((ProbeKind::Http, Vec::new()));
                e.1.push(readahead_bytes.unwrap_or(QEMU_CURL_DEFAULT_READAHEAD_BYTES));
            }
            Source::Nbd { url } => {
                urls.entry(url.clone())
                    .or_insert((ProbeKind::Nbd, Vec::new()));
            }
            _ => {}
        }
    }
    let mut out: Vec<NetProbe> = urls
        .iter()
        .map(|(url, (kind, ras))| probe_url(url, *kind, ras, limits))
        .collect();
    for f in &facts.files {
        if let Some(p) = probe_fs(f, limits) {
            out.push(p);
        }
    }
    out
}

fn options(limits: ProbeLimits) -> NetOptions {
    NetOptions {
        cacert: None,
        connect_timeout: limits.connect,
        io_timeout: limits.io,
    }
}

fn ns(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// Probes one URL.
pub fn probe_url(url: &str, kind: ProbeKind, readaheads: &[u64], limits: ProbeLimits) -> NetProbe {
    let mut p = NetProbe {
        source: redact_url(url),
        kind: Some(kind),
        ..NetProbe::default()
    };
    let parsed = match NetUrl::parse(url) {
        Ok(u) => u,
        Err(e) => {
            p.server = p.source.clone();
            p.error = Some(format!("not probed: {e}"));
            return p;
        }
    };
    p.server = match &parsed.socket {
        Some(s) => s.clone(),
        None => parsed.host_port(),
    };
    let src = match NetSource::open(url, &options(limits)) {
        Ok(s) => s,
        Err(e) => {
            if e.kind() == ErrorKind::NoRange {
                p.ranges = Some(false);
            }
            p.error = Some(e.to_string());
            return p;
        }
    };
    let info = src.info();
    p.connect_ns = Some(info.round_trip.connect_ns);
    p.rtt_ns = Some(info.round_trip.request_ns);
    p.redirects = info.redirects;
    if info.redirects > 0 {
        p.final_url = Some(info.final_url.clone());
    }
    if kind == ProbeKind::Http {
        p.ranges = Some(true);
    }
    p.size_bytes = Some(info.size_bytes);
    // The first MiB in one request on a new connection.
    let first = info.size_bytes.min(READ_BYTES);
    let read = src.connect().and_then(|mut conn| {
        let mut small = vec![0u8; SMALL_BYTES.min(first as usize)];
        conn.read_exact_at(0, &mut small)?;
        let mut buf = vec![0u8; first as usize];
        let start = Instant::now();
        conn.read_exact_at(0, &mut buf)?;
        Ok(start.elapsed())
    });
    match read {
        Ok(t) => {
            p.read_bytes = first;
            p.read_ns = Some(ns(t));
        }
        Err(e) => {
            p.error = Some(e.to_string());
            return p;
        }
    }
    if kind == ProbeKind::Http {
        match readahead_estimates(&src, &p, readaheads) {
            Ok(v) => p.readahead = v,
            Err(e) => p.readahead_error = Some(e),
        }
    }
    p
}

/// The boot trace read over the link, replayed through the curl model for
/// the standard readahead values and the drives' own, with the measured
/// round trip per request and the streaming rate for the bytes.
fn readahead_estimates(
    src: &NetSource,
    p: &NetProbe,
    configured: &[u64],
) -> Result<Vec<ReadaheadEstimate>, String> {
    let reader = src.reader().map_err(|e| e.to_string())?;
    let extents = crate::iso::boot_trace_of(reader, &p.source)?;
    let requests = boot(&extents, TRACE_PROFILE.request_bytes(), 1).map_err(|e| e.to_string())?;
    let rate = p.streaming_bytes_per_s().ok_or("no throughput measured")?;
    let rtt_s = p.rtt_ns.unwrap_or(0) as f64 / 1e9 * f64::from(1 + p.redirects);
    let size = p.size_bytes.unwrap_or(0);
    let mut values: Vec<u64> = READAHEADS_BYTES.to_vec();
    values.extend(configured);
    values.sort_unstable();
    values.dedup();
    Ok(values
        .into_iter()
        .map(|ra| {
            let e = curl_prediction(&requests, size, ra, rtt_s, rate);
            ReadaheadEstimate {
                readahead_bytes: ra,
                server_requests: e.server_requests,
                server_bytes: e.server_bytes,
                predicted_seconds: e.predicted_seconds,
            }
        })
        .collect())
}

/// Probes the server of the network filesystem holding `f`, if any, on
/// its NFS (2049) or SMB (445) port.
fn probe_fs(f: &FileFacts, limits: ProbeLimits) -> Option<NetProbe> {
    let net = f.mount.as_ref()?.network.as_ref()?;
    let port = match net.kind {
        NetworkFsKind::Nfs => 2049,
        NetworkFsKind::Cifs => 445,
        _ => return None,
    };
    probe_fs_at(f, port, limits)
}

fn probe_fs_at(f: &FileFacts, port: u16, limits: ProbeLimits) -> Option<NetProbe> {
    let net = f.mount.as_ref()?.network.as_ref()?;
    let host = net.server.clone()?;
    let mut p = NetProbe {
        source: f.path.display().to_string(),
        kind: Some(ProbeKind::NetworkFs),
        server: if host.contains(':') {
            format!("[{host}]:{port}")
        } else {
            format!("{host}:{port}")
        },
        size_bytes: Some(f.size_bytes),
        ..NetProbe::default()
    };
    match connect(&host, port, limits.connect) {
        Ok(t) => p.connect_ns = Some(ns(t)),
        Err(e) => {
            p.error = Some(format!("connect to {}: {e}", p.server));
            return Some(p);
        }
    }
    match read_cold(&f.path, f.size_bytes, limits.io) {
        Ok((small, first, bytes)) => {
            p.rtt_ns = Some(ns(small));
            p.read_ns = Some(ns(first));
            p.read_bytes = bytes;
        }
        Err(e) => p.error = Some(format!("reading {}: {e}", f.path.display())),
    }
    Some(p)
}

fn connect(host: &str, port: u16, limit: Duration) -> std::io::Result<Duration> {
    let addrs: Vec<_> = (host, port).to_socket_addrs()?.collect();
    let mut last = std::io::Error::other("no address");
    for a in addrs {
        let start = Instant::now();
        match TcpStream::connect_timeout(&a, limit) {
            Ok(_) => return Ok(start.elapsed()),
            Err(e) => last = e,
        }
    }
    Err(last)
}

/// The file's first 4 KiB page, then its first MiB, read after dropping
/// its cached pages, in a thread waited for at most `limit`.
fn read_cold(path: &Path, size: u64, limit: Duration) -> Result<(Duration, Duration, u64), String> {
    let (tx, rx) = mpsc::channel();
    let path: PathBuf = path.to_owned();
    std::thread::spawn(move || {
        let r = (|| -> Result<(Duration, Duration, u64), String> {
            let file = std::fs::File::open(&path).map_err(|e| e.to_string())?;
            isotune_host::pagecache::drop_pages(&file, size).map_err(|e| e.to_string())?;
            let mut page = [0u8; 4096];
            let start = Instant::now();
            let _ = file.read_at(&mut page, 0).map_err(|e| e.to_string())?;
            let small = start.elapsed();
            isotune_host::pagecache::drop_pages(&file, size).map_err(|e| e.to_string())?;
            let mut buf = Vec::with_capacity(READ_BYTES as usize);
            let start = Instant::now();
            let n = (&file)
                .take(READ_BYTES)
                .read_to_end(&mut buf)
                .map_err(|e| e.to_string())?;
            Ok((small, start.elapsed(), n as u64))
        })();
        let _ = tx.send(r);
    });
    rx.recv_timeout(limit)
        .map_err(|_| format!("no answer within {} s", limit.as_secs()))?
}

#[cfg(test)]
mod tests {
    use super::*;
    use isotune_host::{MountFacts, NetworkFs};

    /// A local file posing as an ISO on an NFS mount of `server`: the probe's
    /// connect and cold reads run for real (the reads are local: no NFS
    /// server can run here).
    fn on_nfs(path: &Path, size: u64, server: &str) -> FileFacts {
        FileFacts {
            path: path.to_owned(),
            size_bytes: size,
            device: None,
            mount: Some(MountFacts {
                mount_point: path.parent().unwrap().to_owned(),
                fstype: "nfs4".into(),
                source: format!("{server}:/isos"),
                mount_options: vec![],
                super_options: vec![],
                network: Some(NetworkFs {
                    kind: NetworkFsKind::Nfs,
                    server: Some(server.into()),
                    vers: Some("4.2".into()),
                    rsize_bytes: None,
                    nconnect: None,
                    actimeo_seconds: None,
                    wsize_bytes: None,
                    noac: false,
                    cache: None,
                }),
            }),
            storage: vec![],
            resident_bytes: None,
            block_device: false,
            warnings: vec![],
        }
    }

    #[test]
    fn a_network_fs_probe_connects_and_reads_the_first_mib_cold() {
        let dir = tempfile::tempdir_in("/var/tmp").unwrap();
        let iso = dir.path().join("x.iso");
        std::fs::write(&iso, vec![7u8; 3 << 20]).unwrap();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let f = on_nfs(&iso, 3 << 20, "127.0.0.1");
        let p = probe_fs_at(&f, port, ProbeLimits::default()).unwrap();
        assert_eq!(p.error, None);
        assert_eq!(p.server, format!("127.0.0.1:{port}"));
        assert_eq!(p.read_bytes, 1 << 20);
        assert!(p.connect_ns.is_some() && p.rtt_ns.is_some() && p.read_ns.is_some());
        // The server gone: the error names it, nothing is read.
        drop(listener);
        let p = probe_fs_at(&f, port, ProbeLimits::default()).unwrap();
        let err = p.error.unwrap();
        assert!(
            err.starts_with(&format!("connect to 127.0.0.1:{port}:")),
            "{err}"
        );
        assert_eq!((p.read_bytes, p.read_ns), (0, None));
    }
}
