//! What the rules look at. The scan (`isotune-scan`) gathers these; rules
//! only read them, so every rule is tested on literal facts.

use std::path::PathBuf;

use isotune_host::{FileFacts, HostFacts};
use isotune_vmconfig::VmDefinition;
use serde::{Deserialize, Serialize};

use crate::finding::Severity;

/// Everything the doctor was given.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Facts {
    /// The host, when it was examined.
    pub host: Option<HostFacts>,
    /// Each ISO file and what it sits on.
    pub files: Vec<FileFacts>,
    /// Each ISO's integrity, when it was verified.
    pub images: Vec<ImageFacts>,
    /// VM definitions (XML files, command lines, running processes).
    pub vms: Vec<VmDefinition>,
    /// Short read measurements of an image on this host's storage.
    #[serde(default)]
    pub bench: Vec<BenchFacts>,
    /// What `doctor --probe` measured on each network source (empty
    /// without `--probe`: nothing touches the network then).
    #[serde(default)]
    pub probes: Vec<NetProbe>,
}

/// What kind of network source a probe measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ProbeKind {
    /// An HTTP(S) URL a drive reads through QEMU's curl driver.
    Http,
    /// An NBD URL a drive reads through QEMU's NBD client.
    Nbd,
    /// The server of the network filesystem (NFS, CIFS) holding a local ISO.
    NetworkFs,
}

/// One network source measured by `doctor --probe`: a TCP connect and one
/// small read (the round trip), then one read of the first MiB (the
/// throughput), each with a bounded timeout. A probe that failed carries
/// the error and whatever was measured before it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct NetProbe {
    /// What was probed: the URL with credentials redacted
    /// ([`redact_url`]), or the local ISO's path for a network filesystem.
    pub source: String,
    /// The kind of source (`None` only in a default value).
    pub kind: Option<ProbeKind>,
    /// The server as `host:port` (or the socket path).
    pub server: String,
    /// Why the probe failed, when it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// TCP connect, nanoseconds.
    pub connect_ns: Option<u64>,
    /// One small read on an open connection (2 KiB, or a 4 KiB page of the
    /// file on a network filesystem), nanoseconds: the round trip every
    /// request pays at least.
    pub rtt_ns: Option<u64>,
    /// Bytes of the throughput read (the first MiB, or less of a small image).
    pub read_bytes: u64,
    /// Time of that read, nanoseconds.
    pub read_ns: Option<u64>,
    /// HTTP: redirects followed before the image (QEMU's curl driver
    /// follows them again on every request).
    #[serde(default)]
    pub redirects: u32,
    /// HTTP: the URL after redirects (redacted).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub final_url: Option<String>,
    /// HTTP: whether the server serves byte ranges (`None`: not learnt).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ranges: Option<bool>,
    /// Size of the image, bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size_bytes: Option<u64>,
    /// HTTP: the image's boot trace replayed through QEMU's curl driver
    /// model for each candidate `readahead` (the drives' own values among
    /// them), with the round trip and throughput measured here.
    #[serde(default)]
    pub readahead: Vec<ReadaheadEstimate>,
    /// HTTP: why there is no readahead estimate (no boot trace...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub readahead_error: Option<String>,
}

impl NetProbe {
    /// The measured read rate of the first MiB, bytes per second (its one
    /// request's round trip included).
    pub fn throughput_bytes_per_s(&self) -> Option<f64> {
        let ns = self.read_ns?;
        (self.read_bytes > 0).then(|| self.read_bytes as f64 * 1e9 / ns.max(1) as f64)
    }

    /// The streaming rate of the link, bytes per second: the first MiB's
    /// time minus one round trip (which the models count per request), and
    /// at least a tenth of the measured time, so that a noisy round trip
    /// cannot make the rate unbounded.
    pub fn streaming_bytes_per_s(&self) -> Option<f64> {
        let ns = self.read_ns?;
        let streaming = ns
            .saturating_sub(self.rtt_ns.unwrap_or(0))
            .max(ns / 10)
            .max(1);
        (self.read_bytes > 0).then(|| self.read_bytes as f64 * 1e9 / streaming as f64)
    }
}

/// One `readahead` value's predicted cost for a boot over a probed link.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ReadaheadEstimate {
    /// The `readahead` value, bytes.
    pub readahead_bytes: u64,
    /// Range requests the curl driver would send.
    pub server_requests: u64,
    /// Bytes the server would send.
    pub server_bytes: u64,
    /// Predicted time of the boot's reads, seconds.
    pub predicted_seconds: f64,
}

/// `url` with any `user:password@` replaced by `***@`, as `isotune-net`
/// prints URLs everywhere.
pub use isotune_net::redact_url;

/// What verify and inspect found about one image. The fields after
/// `implanted_md5` are filled by `isotune check` (a full integrity pass and
/// an inspection); `doctor --iso` only reads the volume descriptor.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageFacts {
    /// The image.
    pub path: PathBuf,
    /// Its size, bytes.
    pub file_bytes: u64,
    /// The size its primary volume descriptor declares, bytes (`None`: no
    /// readable descriptor).
    pub volume_bytes: Option<u64>,
    /// The implanted MD5 (implantisomd5), when the image carries one.
    pub implanted_md5: Option<ImplantedMd5>,
    /// What reading the volume descriptor gave.
    #[serde(default)]
    pub volume: VolumeRead,
    /// Whether a full integrity pass ran (digests computed, the implanted
    /// MD5 checked when present).
    #[serde(default)]
    pub integrity_checked: bool,
    /// The digests computed and what they were compared with.
    #[serde(default)]
    pub digests: Vec<DigestCheck>,
    /// The ISO reader's anomalies.
    #[serde(default)]
    pub anomalies: Vec<ImageAnomaly>,
    /// What a boot reads, when the image was inspected.
    #[serde(default)]
    pub boot: Option<BootFacts>,
}

/// What reading the primary volume descriptor gave.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum VolumeRead {
    /// Not read.
    #[default]
    NotChecked,
    /// Read; `volume_bytes` holds the declared size.
    Read,
    /// The file ends before the descriptor at byte 32768 is complete.
    TooShort,
    /// The bytes where the descriptor belongs are not `CD001`.
    NotIso9660,
    /// The declared size cannot even hold the descriptors.
    InvalidSize,
}

/// One digest computed over the image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DigestCheck {
    /// `sha256`, `md5`, ...
    pub algorithm: String,
    /// The digest computed, hex.
    pub computed_hex: String,
    /// Expected values, hex, that matched.
    pub matched: Vec<String>,
    /// Expected values, hex, that did not match.
    pub mismatched_hex: Vec<String>,
}

/// An anomaly the ISO reader reported.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageAnomaly {
    /// The reader's id (`tree.extent-past-end`).
    pub id: String,
    /// The reader's severity.
    pub severity: Severity,
    /// The reader's sentence.
    pub message: String,
}

/// What the default (unattended) boot reads from the image.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BootFacts {
    /// The image has an El Torito boot catalog.
    pub el_torito: bool,
    /// The boot files of the default entry, in load order.
    pub files: Vec<BootFileFact>,
}

/// One file the default boot reads.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BootFileFact {
    /// Its path in the image.
    pub path: String,
    /// Its size, bytes.
    pub size_bytes: u64,
    /// Where its last extent ends in the image, bytes.
    pub end_bytes: u64,
}

/// Which access pattern a bench measurement replayed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum BenchPattern {
    /// A sequential read in large requests.
    Sequential,
    /// The boot trace in the 2 KiB requests of a BIOS on an IDE cdrom.
    BootTrace,
}

/// The fastest run of one short bench workload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BenchFacts {
    /// The image read.
    pub path: PathBuf,
    /// What was replayed.
    pub pattern: BenchPattern,
    /// Bytes read.
    pub bytes: u64,
    /// Requests made.
    pub requests: u64,
    /// Time taken, nanoseconds.
    pub elapsed_ns: u64,
    /// The run hit its time limit before reading everything.
    pub stopped_early: bool,
    /// The image stayed in memory (tmpfs, or the page cache could not be
    /// dropped): the reads did not reach the storage, so nothing was cold.
    pub in_memory: bool,
}

/// The implanted MD5 check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImplantedMd5 {
    /// Whether the data matches.
    pub matches: bool,
    /// The recorded digest.
    pub expected: String,
    /// The digest computed.
    pub actual: String,
    /// The first fragment that differs, when the record has fragments.
    pub failed_fragment: Option<u32>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_and_redaction() {
        let p = NetProbe {
            rtt_ns: Some(20_000_000),
            read_bytes: 1 << 20,
            read_ns: Some(40_000_000),
            ..NetProbe::default()
        };
        // 1 MiB in 40 ms: 25 MiB/s as measured, 50 MiB/s without the round trip.
        assert_eq!(p.throughput_bytes_per_s(), Some(25.0 * f64::from(1 << 20)));
        assert_eq!(p.streaming_bytes_per_s(), Some(50.0 * f64::from(1 << 20)));
        // A round trip longer than the read: a tenth of the time, not zero.
        let noisy = NetProbe {
            rtt_ns: Some(50_000_000),
            ..p.clone()
        };
        assert_eq!(
            noisy.streaming_bytes_per_s(),
            Some(250.0 * f64::from(1 << 20))
        );
        assert_eq!(
            redact_url("http://u:p@h:81/x.iso?a=b@c"),
            "http://***@h:81/x.iso?a=b@c"
        );
        assert_eq!(redact_url("nbd://h/x"), "nbd://h/x");
        assert_eq!(redact_url("/a@b"), "/a@b");
    }
}
