//! The servers a boot matrix starts for its network sources, one per run:
//! isotune's own HTTP Range server (`isotune_net::serve`) for `http`, and
//! `nbdkit` (file plugin, read-only, a Unix socket in a private temporary
//! directory, optional filters, `delay` and `rate` filters) for `nbd`.
//!
//! One server per run, not per matrix: every run then starts cold (no
//! keep-alive connection, no nbdkit cache filled by the previous run), as
//! the page cache is dropped before every run, and the HTTP server's
//! counters are that run's requests. Starting one costs milliseconds, out
//! of the measured time (it happens before QEMU starts).
//!
//! [`Served`] owns the server: dropping it stops the HTTP server and kills
//! nbdkit's process group ([`ChildGuard`], with the parent-death signal as
//! a SIGKILL backstop), then removes the socket directory.
//!
//! In nbdkit the filter is nearest the client and `delay` and `rate`
//! nearest the plugin, so a filter sits in front of a slow source as it
//! does when nbdkit proxies a remote image (`nbdkit --filter=readahead curl
//! ...`); with no filter the order does not matter. nbdkit's `rate` filter
//! starts with a full bucket of `burstiness` seconds of the rate and refills
//! it while idle (by default 2 s worth: a short boot reads as if the link
//! were unlimited). isotune passes `burstiness=0.5`: smaller values made
//! nbdkit (1.32) run well below the rate. isotune's
//! HTTP server banks no idle time, so at one rate NBD still gets up to half
//! a second's head start over HTTP.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use isotune_net::serve::{ImageServer, ServeOptions, ServeStats};

use crate::cleanup::ChildGuard;
use crate::error::{Error, ErrorKind, Result};
use crate::source::{NbdkitFilter, SourceChoice, SourceConfig};
use crate::tempfiles::tagged_prefix;

/// The binary started for `--source nbd`.
pub const NBDKIT: &str = "nbdkit";
/// Prefix of nbdkit's socket directories (swept like the run directories).
pub const NBD_DIR_PREFIX: &str = "isotune-nbd";
/// nbdkit `rate` filter's bucket, seconds of the rate (see the module doc).
const NBDKIT_BURST_SECONDS: f64 = 0.5;
/// How long nbdkit may take to create its socket.
const NBDKIT_START: Duration = Duration::from_secs(10);

/// A server started for one run (or none, for the file and user URLs).
#[derive(Debug)]
pub enum Served {
    /// Nothing to start: the local file.
    File,
    /// The user's URL, as given.
    User(String),
    /// isotune's HTTP server.
    Http(ImageServer),
    /// nbdkit.
    Nbd(Nbdkit),
}

/// A running nbdkit, killed (and its socket directory removed) on drop.
#[derive(Debug)]
pub struct Nbdkit {
    guard: ChildGuard,
    url: String,
    // Dropped after `guard`: the socket goes once nbdkit is gone.
    _dir: tempfile::TempDir,
}

impl Served {
    /// Starts what `source` needs to serve `iso`.
    pub fn start(source: &SourceConfig, iso: &Path) -> Result<Served> {
        let delay = Duration::from_millis(u64::from(source.delay_ms.unwrap_or(0)));
        match &source.choice {
            SourceChoice::File => Ok(Served::File),
            SourceChoice::Url { url } => Ok(Served::User(url.secret().to_owned())),
            SourceChoice::Http => ImageServer::serve_file(
                iso,
                ServeOptions {
                    delay,
                    rate_bits_per_s: source.rate_bits_per_s,
                },
            )
            .map(Served::Http)
            .map_err(|e| Error::io("Cannot start the HTTP server for the ISO", e).with_path(iso)),
            SourceChoice::Nbd => {
                let link = Link {
                    delay_ms: delay.as_millis() as u64,
                    rate_bits_per_s: source.rate_bits_per_s.unwrap_or(0),
                };
                Nbdkit::start(iso, source.filter, link).map(Served::Nbd)
            }
        }
    }

    /// The URL QEMU reads, `None` for the local file.
    pub fn url(&self) -> Option<&str> {
        match self {
            Served::File => None,
            Served::User(u) => Some(u),
            Served::Http(s) => Some(s.url()),
            Served::Nbd(n) => Some(&n.url),
        }
    }

    /// What isotune's HTTP server served so far.
    pub fn http_stats(&self) -> Option<ServeStats> {
        match self {
            Served::Http(s) => Some(s.stats()),
            _ => None,
        }
    }
}

/// `nbdkit` on PATH, or the error that says how to install it.
pub fn find_nbdkit() -> Result<PathBuf> {
    std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .map(|d| d.join(NBDKIT))
        .find(|p| p.is_file())
        .ok_or_else(|| {
            Error::new(
                ErrorKind::InvalidInput,
                "--source nbd needs nbdkit, not found on PATH (Debian: apt install nbdkit)",
            )
        })
}

/// The emulated link nbdkit puts behind its file plugin.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Link {
    /// `delay` filter: `delay-read=`, ms; 0: no filter.
    pub delay_ms: u64,
    /// `rate` filter: `rate=`, bits per second for the whole server; 0: no
    /// filter.
    pub rate_bits_per_s: u64,
}

/// Whether the nbdkit on PATH has the filter `name` (its
/// `nbdkit-NAME-filter.so` in the `filterdir` of `nbdkit --dump-config`);
/// `true` when that cannot be told (no nbdkit: [`find_nbdkit`] says so).
pub fn nbdkit_has_filter(name: &str) -> bool {
    let Ok(bin) = find_nbdkit() else {
        return true;
    };
    let Ok(out) = Command::new(bin)
        .arg("--dump-config")
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
    else {
        return true;
    };
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines()
        .find_map(|l| l.strip_prefix("filterdir="))
        .is_none_or(|dir| {
            Path::new(dir)
                .join(format!("nbdkit-{name}-filter.so"))
                .is_file()
        })
}

impl Nbdkit {
    /// Serves `iso` read-only on a Unix socket.
    pub fn start(iso: &Path, filter: Option<NbdkitFilter>, link: Link) -> Result<Nbdkit> {
        let Link {
            delay_ms,
            rate_bits_per_s,
        } = link;
        let bin = find_nbdkit()?;
        let dir = tempfile::Builder::new()
            .prefix(&tagged_prefix(NBD_DIR_PREFIX))
            .tempdir()
            .map_err(|e| Error::io("Cannot create a temporary directory", e))?;
        let sock = dir.path().join("nbd.sock");
        let log = dir.path().join("nbdkit.log");
        let stderr = std::fs::File::create(&log)
            .map_err(|e| Error::io("Cannot create nbdkit's log", e).with_path(&log))?;
        let mut cmd = Command::new(&bin);
        cmd.args(["--foreground", "--exit-with-parent", "--readonly", "--unix"])
            .arg(&sock);
        match filter {
            Some(NbdkitFilter::Cache) => {
                cmd.arg("--filter=cache");
            }
            Some(NbdkitFilter::Readahead) => {
                cmd.arg("--filter=readahead");
            }
            Some(NbdkitFilter::None) | None => {}
        }
        if delay_ms > 0 {
            cmd.arg("--filter=delay");
        }
        if rate_bits_per_s > 0 {
            cmd.arg("--filter=rate");
        }
        cmd.arg("file").arg(format!("file={}", iso.display()));
        if delay_ms > 0 {
            cmd.arg(format!("delay-read={delay_ms}ms"));
        }
        if rate_bits_per_s > 0 {
            // A plain number: nbdkit reads its `M` suffix as 2^20.
            cmd.arg(format!("rate={rate_bits_per_s}"))
                .arg(format!("burstiness={NBDKIT_BURST_SECONDS}"));
        }
        if filter == Some(NbdkitFilter::Cache) {
            // The cache filter caches writes only unless told otherwise.
            cmd.arg("cache-on-read=true");
        }
        cmd.stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(stderr));
        let mut guard = ChildGuard::spawn(&mut cmd)
            .map_err(|e| Error::io("Cannot start nbdkit", e).with_path(&bin))?;
        let until = Instant::now() + NBDKIT_START;
        while !sock.exists() {
            if guard.has_exited() || Instant::now() >= until {
                let _ = guard.finish(Duration::ZERO);
                let text = std::fs::read_to_string(&log).unwrap_or_default();
                let first = text.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
                return Err(Error::new(
                    ErrorKind::QemuFailed,
                    format!("nbdkit did not open its socket: {first}"),
                )
                .with_path(&bin));
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        Ok(Nbdkit {
            guard,
            url: format!("nbd+unix:///?socket={}", sock.display()),
            _dir: dir,
        })
    }

    /// nbdkit's process id.
    pub fn pid(&self) -> u32 {
        self.guard.id()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nbdkit_serves_a_socket_and_leaves_nothing_on_drop() {
        if isotune_testutil::tool(NBDKIT).is_none() {
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let iso = dir.path().join("a.iso");
        std::fs::write(&iso, vec![0u8; 1 << 20]).unwrap();
        let link = Link {
            delay_ms: 2,
            rate_bits_per_s: 100_000_000,
        };
        let n = Nbdkit::start(&iso, Some(NbdkitFilter::Cache), link).unwrap();
        let sock = n
            .url
            .strip_prefix("nbd+unix:///?socket=")
            .unwrap()
            .to_owned();
        assert!(Path::new(&sock).exists());
        let pid = n.pid();
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap();
        let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        // The filter nearest the client, the delay and rate behind it.
        assert!(
            cmdline.contains("--filter=cache --filter=delay --filter=rate file"),
            "{cmdline}"
        );
        assert!(
            cmdline.contains("delay-read=2ms rate=100000000 burstiness=0.5 cache-on-read=true"),
            "{cmdline}"
        );
        drop(n);
        assert!(!Path::new(&sock).exists());
        assert!(!Path::new(&format!("/proc/{pid}")).exists());
        assert!(nbdkit_has_filter("rate") && nbdkit_has_filter("delay"));
        assert!(!nbdkit_has_filter("no-such"));
        // A file nbdkit cannot open: its own first line, no hang.
        let e = Nbdkit::start(&dir.path().join("missing.iso"), None, Link::default()).unwrap_err();
        assert!(
            e.to_string().contains("nbdkit did not open its socket"),
            "{e}"
        );
    }

    #[test]
    fn the_http_server_counts_what_it_served() {
        let dir = tempfile::tempdir().unwrap();
        let iso = dir.path().join("a.iso");
        std::fs::write(&iso, vec![1u8; 4096]).unwrap();
        let source = SourceConfig {
            choice: SourceChoice::Http,
            ..SourceConfig::default()
        };
        let served = Served::start(&source, &iso).unwrap();
        assert!(served.url().unwrap().starts_with("http://127.0.0.1:"));
        assert_eq!(served.http_stats().unwrap().gets, 0);
        let file = Served::start(&SourceConfig::default(), &iso).unwrap();
        assert!(file.url().is_none() && file.http_stats().is_none());
    }
}
