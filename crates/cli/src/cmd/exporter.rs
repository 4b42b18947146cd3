//! `isotune exporter`: parses the flags, builds the collectors and serves
//! them through `isotune-exporter` until killed.

use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use clap::Args;
use std::sync::Arc;

use isotune_exporter::collect::{CollectError, Collector};
use isotune_exporter::findings::{DoctorConfig, Findings};
use isotune_exporter::scrape::ErrorSink;
use isotune_exporter::{serve, Scraper, ScraperConfig, ServerConfig, DEFAULT_PORT};
use isotune_host::SysRoot;

use crate::Outcome;

/// Arguments of `isotune exporter`.
#[derive(Debug, Args)]
pub struct ExporterArgs {
    /// Address and port to serve on. The default serves this host only;
    /// `--listen 0.0.0.0:9879` serves every interface.
    #[arg(long, value_name = "ADDR:PORT", default_value_t = format!("127.0.0.1:{DEFAULT_PORT}"))]
    pub listen: String,

    /// A QEMU monitor (QMP) unix socket to read cdrom counters from, in
    /// addition to the `-qmp unix:` sockets on running QEMU command lines.
    /// Repeatable.
    #[arg(long, value_name = "PATH")]
    pub qmp: Vec<PathBuf>,

    /// How long a scrape waits for one collector, in seconds; a late
    /// collector's last values are served, marked stale.
    #[arg(long, value_name = "SECONDS", default_value_t = 3.0)]
    pub collector_timeout: f64,

    /// `/metrics` requests served at once; more get 503.
    #[arg(long, value_name = "N", default_value_t = 10)]
    pub max_scrapes: usize,

    /// TLS and basic auth, in the format of Prometheus' exporter-toolkit
    /// (`tls_server_config`, `basic_auth_users`, `http_server_config`);
    /// see docs/monitor.md. A malformed file stops the exporter at start.
    #[arg(long = "web.config.file", value_name = "FILE")]
    pub web_config_file: Option<PathBuf>,

    /// libvirt URI to read domains' cdroms from (read-only). Default:
    /// `LIBVIRT_DEFAULT_URI`, else `qemu:///system` when its socket exists
    /// (ISOTUNE_NO_LIBVIRT=1 turns the default off).
    #[arg(long, value_name = "URI")]
    pub connect: Option<String>,

    /// Seconds between two runs of the doctor's scan behind the
    /// `isotune_finding` metric (run in the background, never in a scrape).
    #[arg(long, value_name = "SECONDS", default_value_t = 300.0)]
    pub doctor_interval: f64,

    /// Read `/proc` under this directory instead of `/` (a captured tree).
    #[arg(long, value_name = "DIR", hide = true)]
    pub sysroot: Option<PathBuf>,
}

/// Runs `isotune exporter`: returns only on a start-up error.
pub fn run(a: &ExporterArgs) -> anyhow::Result<Outcome> {
    if !(a.collector_timeout.is_finite() && a.collector_timeout > 0.0) {
        anyhow::bail!(
            "--collector-timeout {}: must be a positive number of seconds",
            a.collector_timeout
        );
    }
    let web = match &a.web_config_file {
        Some(path) => isotune_exporter::webconfig::load(path).context("--web.config.file")?,
        None => isotune_exporter::webconfig::WebConfig::default(),
    };
    if !(a.doctor_interval.is_finite() && a.doctor_interval > 0.0) {
        anyhow::bail!(
            "--doctor-interval {}: must be a positive number of seconds",
            a.doctor_interval
        );
    }
    let deadline = Duration::from_secs_f64(a.collector_timeout);
    let root = a.sysroot.clone().map_or_else(SysRoot::live, SysRoot::at);
    let (libvirt_uri, libvirt_info) = libvirt_uri(a.connect.as_deref())?;
    let mut collectors = vec![
        Collector::Proc { root: root.clone() },
        Collector::Qmp {
            root,
            sockets: a.qmp.clone(),
            // One QMP exchange may take at most the collector's deadline.
            io_timeout: deadline,
        },
    ];
    if let Some(uri) = &libvirt_uri {
        collectors.push(Collector::Libvirt {
            uri: uri.clone(),
            call_timeout: deadline,
        });
    }
    // Collector errors go to stderr (the journal under systemd), one line
    // each, so `isotune exporter` in the foreground says why a collector fails.
    let on_error: ErrorSink = Arc::new(|collector: &'static str, e: &CollectError| {
        let _ = writeln!(std::io::stderr(), "isotune exporter: {collector}: {e}");
    });
    let findings = Findings::new();
    let scraper = Scraper::new(ScraperConfig {
        collectors,
        deadline,
        on_error: Some(Arc::clone(&on_error)),
        findings: Some(Arc::clone(&findings)),
    });
    let server = serve(
        &ServerConfig {
            listen: a.listen.clone(),
            max_scrapes: a.max_scrapes,
            web,
        },
        scraper,
    )
    .with_context(|| format!("--listen {}", a.listen))?;
    // Bound: from here on stderr may say more than the one error line.
    if let Some(line) = &libvirt_info {
        let _ = writeln!(std::io::stderr(), "isotune exporter: {line}");
    }
    findings.spawn(
        DoctorConfig {
            libvirt_uri,
            interval: Duration::from_secs_f64(a.doctor_interval),
        },
        Some(on_error),
    );
    if let Some(addr) = server.local_addr() {
        let _ = writeln!(
            std::io::stderr(),
            "isotune exporter: serving {}://{addr}/metrics",
            server.scheme()
        );
    }
    server.run();
    Ok(Outcome::Pass)
}

/// The libvirt URI to read: `--connect`, else the default (as `doctor`
/// chooses it) unless `ISOTUNE_NO_LIBVIRT=1`; and the info line saying
/// which (or why none) for stderr.
fn libvirt_uri(connect: Option<&str>) -> anyhow::Result<(Option<String>, Option<String>)> {
    if connect.is_some_and(|c| c.trim().is_empty()) {
        anyhow::bail!("--connect: empty URI");
    }
    let env_off = std::env::var_os(super::live::NO_LIBVIRT_ENV).is_some_and(|v| v == "1");
    if env_off && connect.is_none() {
        return Ok((None, None));
    }
    let choice = isotune_scan::resolve_uri_from_host(connect);
    Ok((choice.uri().map(str::to_owned), Some(choice.to_string())))
}
