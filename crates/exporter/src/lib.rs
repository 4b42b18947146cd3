//! isotune's Prometheus exporter: what running VMs read from their cdroms,
//! what their QEMU processes cost, and how much of each attached ISO sits
//! in the host's page cache.
//!
//! The shape follows the "collect on scrape" pattern of `prometheus-client`:
//! - [`collect`]: the collectors (`/proc`, QMP sockets, libvirt). Each one
//!   turns host state into plain structs ([`model`]); [`collect::Collector`]
//!   is an enum, so the set of sources is visible in one place.
//! - [`scrape`]: runs every collector under a deadline, keeps the last good
//!   values of a collector that is late or failing (marked stale), counts
//!   errors.
//! - [`metrics`]: encodes a scrape into a `prometheus-client` registry and
//!   renders it as OpenMetrics or the Prometheus text format.
//! - [`findings`]: the doctor's findings, scanned on a background thread.
//! - [`server`]: the HTTP server (`/metrics`, `/`, `/-/healthy`).
//! - [`webconfig`]: `--web.config.file` (exporter-toolkit format: TLS,
//!   basic auth, headers); `tls`: the TLS front of the server.
//!
//! Nothing here prints; the `isotune exporter` command does the wiring.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod collect;
pub mod findings;
pub mod metrics;
pub mod model;
pub mod scrape;
pub mod server;
mod tls;
pub mod webconfig;

pub use scrape::{Scraper, ScraperConfig};
pub use server::{serve, ServerConfig};

/// The port `isotune exporter` listens on unless told otherwise.
pub const DEFAULT_PORT: u16 = 9879;

/// Errors of the exporter.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The listening socket could not be opened.
    #[error("cannot listen on {addr}")]
    Listen {
        /// The address asked for.
        addr: String,
        /// What went wrong.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// `--web.config.file` is malformed or names unusable files.
    #[error("{}{}: {problem}", path.display(), match (line, column) {
        (Some(l), Some(c)) => format!(":{l}:{c}"),
        (Some(l), None) => format!(":{l}"),
        _ => String::new(),
    })]
    WebConfig {
        /// The config file.
        path: std::path::PathBuf,
        /// 1-based line of the problem, when known.
        line: Option<usize>,
        /// 1-based column of the problem, when known.
        column: Option<usize>,
        /// What is wrong.
        problem: String,
    },
}
