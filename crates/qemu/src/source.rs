//! Where the cdrom's image comes from in a boot matrix: the local file, a
//! server isotune starts for the run (its own HTTP Range server, or
//! `nbdkit`), or a URL the user already serves. The network axes
//! (`readahead` of QEMU's curl driver, a per-request delay, a bandwidth
//! limit, nbdkit filters) only apply to some sources; [`source_configs`]
//! expands only the axes that apply and sets aside, with a reason, what a
//! user asked for that cannot be honoured (a delay or a rate on a URL
//! isotune does not serve).
//!
//! Pure data: the servers themselves are started by [`crate::netserve`].

use std::fmt;

use isotune_vmconfig::Source;
use serde::{Deserialize, Serialize};

/// A URL given by the user. Serialized, printed and debug-printed without
/// its credentials; only [`UserUrl::secret`] gives the URL QEMU is given.
#[derive(Clone, PartialEq, Eq)]
pub struct UserUrl {
    raw: String,
    redacted: String,
    http: bool,
}

impl UserUrl {
    /// A URL (`http(s)://`, `nbd://`, `nbd+unix://`); `redacted` is how it
    /// may be shown (see `isotune_net::NetUrl::redacted`).
    pub fn new(raw: impl Into<String>, redacted: impl Into<String>, http: bool) -> Self {
        UserUrl {
            raw: raw.into(),
            redacted: redacted.into(),
            http,
        }
    }

    /// The URL as given, credentials included: for QEMU's argv only.
    pub fn secret(&self) -> &str {
        &self.raw
    }

    /// Whether QEMU reads it with its curl driver (HTTP/HTTPS).
    pub fn is_http(&self) -> bool {
        self.http
    }
}

impl fmt::Display for UserUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted)
    }
}

impl fmt::Debug for UserUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "UserUrl({})", self.redacted)
    }
}

impl Serialize for UserUrl {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.redacted)
    }
}

impl<'de> Deserialize<'de> for UserUrl {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        let http = s.starts_with("http");
        Ok(UserUrl::new(s.clone(), s, http))
    }
}

/// One `--source` value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum SourceChoice {
    /// The local ISO.
    File,
    /// isotune's own HTTP Range server on 127.0.0.1, read by QEMU's curl driver.
    Http,
    /// `nbdkit` (file plugin, read-only) on a Unix socket.
    Nbd,
    /// A URL the user serves.
    Url {
        /// The URL (redacted when shown).
        url: UserUrl,
    },
}

/// An nbdkit filter in front of the file plugin.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum NbdkitFilter {
    /// No filter.
    None,
    /// `cache` with `cache-on-read=true` (by default it caches writes only).
    Cache,
    /// `readahead`.
    Readahead,
}

impl NbdkitFilter {
    /// The word on the command line and in names.
    pub fn word(self) -> &'static str {
        match self {
            NbdkitFilter::None => "none",
            NbdkitFilter::Cache => "cache",
            NbdkitFilter::Readahead => "readahead",
        }
    }

    /// Parses [`word`](Self::word).
    pub fn parse(s: &str) -> Option<Self> {
        [Self::None, Self::Cache, Self::Readahead]
            .into_iter()
            .find(|f| f.word() == s)
    }
}

/// The source of one configuration, with the network settings that apply.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceConfig {
    /// What serves the image.
    #[serde(flatten)]
    pub choice: SourceChoice,
    /// QEMU curl `readahead=`, bytes; `None`: not set (curl's 256 KiB).
    pub readahead_bytes: Option<u64>,
    /// Delay the server adds before each answer, milliseconds.
    pub delay_ms: Option<u32>,
    /// Bandwidth of the emulated link, bits per second; `None` or 0:
    /// unlimited.
    #[serde(default)]
    pub rate_bits_per_s: Option<u64>,
    /// The nbdkit filter.
    pub filter: Option<NbdkitFilter>,
}

impl Default for SourceConfig {
    fn default() -> Self {
        SourceConfig {
            choice: SourceChoice::File,
            readahead_bytes: None,
            delay_ms: None,
            rate_bits_per_s: None,
            filter: None,
        }
    }
}

/// The network axes of a matrix.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct SourceSpec {
    /// Sources; empty = the local file.
    pub sources: Vec<SourceChoice>,
    /// `--readahead` values in bytes; empty = not set.
    pub readaheads_bytes: Vec<u64>,
    /// `--net-delay` values in milliseconds; empty = none.
    pub delays_ms: Vec<u32>,
    /// `--net-rate` values in bits per second (0 = unlimited); empty = none.
    #[serde(default)]
    pub rates_bits_per_s: Vec<u64>,
    /// `--nbdkit-filter` values; empty = none.
    pub filters: Vec<NbdkitFilter>,
}

/// Why a `readahead` value is refused, or `None`: QEMU's curl driver
/// refuses any value that is not a multiple of 512 (`block/curl.c`:
/// "HTTP_READAHEAD_SIZE %zd is not a multiple of 512"); 0 is accepted and
/// fetches exactly what the guest asked for.
pub fn readahead_invalid(bytes: u64) -> Option<String> {
    (!bytes.is_multiple_of(512))
        .then(|| format!("readahead {bytes} bytes: QEMU's curl driver needs a multiple of 512"))
}

/// Parses a `--net-rate`: bits per second as network people say it, a
/// number with an optional decimal suffix `k`, `M` or `G` (`100M` =
/// 100,000,000 bit/s, `1.5G`), optionally followed by `bit/s` or `bps`;
/// `0` is unlimited.
pub fn parse_rate(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let t = ["bit/s", "bps", "b/s", "bit"]
        .iter()
        .find_map(|u| t.strip_suffix(u))
        .unwrap_or(t);
    let (num, mult) = match t.chars().last() {
        Some('k' | 'K') => (&t[..t.len() - 1], 1e3),
        Some('m' | 'M') => (&t[..t.len() - 1], 1e6),
        Some('g' | 'G') => (&t[..t.len() - 1], 1e9),
        _ => (t, 1.0),
    };
    let bad = || format!("`{s}` is not a rate in bits per second (examples: 0, 20M, 100M, 1G)");
    let n: f64 = num.parse().map_err(|_| bad())?;
    let bits = n * mult;
    if !bits.is_finite() || bits < 0.0 || (bits > 0.0 && bits < 1e3) || bits > 1e12 {
        return Err(format!(
            "`{s}`: a rate is 0 (unlimited) or from 1k to 1000G bits per second"
        ));
    }
    Ok(bits.round() as u64)
}

/// `100M`, `1G`, `1500k` (decimal bits per second), `unlimited` for 0.
pub fn rate_word(bits_per_s: u64) -> String {
    match bits_per_s {
        0 => "unlimited".to_owned(),
        b if b.is_multiple_of(1_000_000_000) => format!("{}G", b / 1_000_000_000),
        b if b.is_multiple_of(1_000_000) => format!("{}M", b / 1_000_000),
        b if b.is_multiple_of(1_000) => format!("{}k", b / 1_000),
        b => b.to_string(),
    }
}

/// `100 Mbit/s`, `1 Gbit/s`, `unlimited`: a rate in a sentence.
pub fn rate_text(bits_per_s: u64) -> String {
    let w = rate_word(bits_per_s);
    match w.char_indices().last() {
        Some((i, u @ ('k' | 'M' | 'G'))) => format!("{} {u}bit/s", &w[..i]),
        _ if bits_per_s > 0 => format!("{w} bit/s"),
        _ => w,
    }
}

/// Every source configuration the spec asks for (the axes that apply to
/// each source), and those set aside with the reason.
pub fn source_configs(spec: &SourceSpec) -> (Vec<SourceConfig>, Vec<(SourceConfig, String)>) {
    let sources = if spec.sources.is_empty() {
        vec![SourceChoice::File]
    } else {
        spec.sources.clone()
    };
    let opt = |v: &[u64]| -> Vec<Option<u64>> {
        if v.is_empty() {
            vec![None]
        } else {
            v.iter().copied().map(Some).collect()
        }
    };
    let readaheads = opt(&spec.readaheads_bytes);
    let delays: Vec<Option<u32>> = if spec.delays_ms.is_empty() {
        vec![None]
    } else {
        spec.delays_ms.iter().copied().map(Some).collect()
    };
    let rates: Vec<Option<u64>> = opt(&spec.rates_bits_per_s);
    let filters: Vec<Option<NbdkitFilter>> = if spec.filters.is_empty() {
        vec![None]
    } else {
        spec.filters.iter().copied().map(Some).collect()
    };
    let (mut run, mut skipped) = (Vec::new(), Vec::new());
    for choice in sources {
        let base = SourceConfig {
            choice: choice.clone(),
            ..SourceConfig::default()
        };
        match &choice {
            SourceChoice::File => run.push(base),
            SourceChoice::Http => {
                for &readahead_bytes in &readaheads {
                    for &delay_ms in &delays {
                        for &rate_bits_per_s in &rates {
                            run.push(SourceConfig {
                                readahead_bytes,
                                delay_ms,
                                rate_bits_per_s,
                                ..base.clone()
                            });
                        }
                    }
                }
            }
            SourceChoice::Nbd => {
                for &delay_ms in &delays {
                    for &rate_bits_per_s in &rates {
                        for &filter in &filters {
                            run.push(SourceConfig {
                                delay_ms,
                                rate_bits_per_s,
                                filter,
                                ..base.clone()
                            });
                        }
                    }
                }
            }
            SourceChoice::Url { url } => {
                let ras = if url.is_http() {
                    readaheads.clone()
                } else {
                    vec![None]
                };
                for &readahead_bytes in &ras {
                    let c = SourceConfig {
                        readahead_bytes,
                        ..base.clone()
                    };
                    let refused = |flag: &str, what: &str| {
                        format!(
                            "{flag} applies to the servers isotune starts, not to {url} \
                             (its own {what} is what is measured)"
                        )
                    };
                    let delayed = delays.iter().flatten().filter(|&&d| d > 0).map(|&d| {
                        let c = SourceConfig {
                            delay_ms: Some(d),
                            ..c.clone()
                        };
                        (c, refused("--net-delay", "latency"))
                    });
                    let rated = rates.iter().flatten().filter(|&&r| r > 0).map(|&r| {
                        let c = SourceConfig {
                            rate_bits_per_s: Some(r),
                            ..c.clone()
                        };
                        (c, refused("--net-rate", "bandwidth"))
                    });
                    skipped.extend(delayed.chain(rated));
                    if !url.is_http() {
                        for f in filters
                            .iter()
                            .flatten()
                            .filter(|&&f| f != NbdkitFilter::None)
                        {
                            skipped.push((
                                SourceConfig {
                                    filter: Some(*f),
                                    ..c.clone()
                                },
                                format!(
                                    "--nbdkit-filter applies to the nbdkit isotune starts, not to {url}"
                                ),
                            ));
                        }
                    }
                    run.push(c);
                }
            }
        }
    }
    (run, skipped)
}

/// `2M`, `256K`, `1536` (bytes), for configuration names.
pub fn size_word(bytes: u64) -> String {
    if bytes.is_multiple_of(1 << 20) {
        format!("{}M", bytes >> 20)
    } else if bytes.is_multiple_of(1 << 10) {
        format!("{}K", bytes >> 10)
    } else {
        bytes.to_string()
    }
}

/// Which parts of the source vary across a matrix (so names carry them).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct SourceVaries {
    pub source: bool,
    pub readahead: bool,
    pub delay: bool,
    pub rate: bool,
    pub filter: bool,
}

impl SourceVaries {
    pub(crate) fn of(configs: &[SourceConfig]) -> Self {
        let differ = |f: &dyn Fn(&SourceConfig) -> String| {
            configs
                .iter()
                .map(f)
                .collect::<std::collections::BTreeSet<_>>()
                .len()
                > 1
        };
        SourceVaries {
            source: differ(&|c| format!("{:?}", c.choice)),
            readahead: differ(&|c| format!("{:?}", c.readahead_bytes)),
            delay: differ(&|c| format!("{:?}", c.delay_ms)),
            rate: differ(&|c| format!("{:?}", c.rate_bits_per_s)),
            filter: differ(&|c| format!("{:?}", c.filter)),
        }
    }

    /// The name parts of `c`: `http/2ms/ra=2M`, `http/2ms/100M/ra=2M`,
    /// `nbd/cache`.
    pub(crate) fn parts(&self, c: &SourceConfig, url_index: usize) -> Vec<String> {
        let mut parts = Vec::new();
        if self.source {
            parts.push(match &c.choice {
                SourceChoice::File => "file".to_owned(),
                SourceChoice::Http => "http".to_owned(),
                SourceChoice::Nbd => "nbd".to_owned(),
                SourceChoice::Url { .. } if url_index == 0 => "url".to_owned(),
                SourceChoice::Url { .. } => format!("url{}", url_index + 1),
            });
        }
        if self.delay {
            if let Some(d) = c.delay_ms {
                parts.push(format!("{d}ms"));
            }
        }
        if self.rate {
            if let Some(r) = c.rate_bits_per_s {
                parts.push(rate_word(r));
            }
        }
        if self.readahead {
            if let Some(r) = c.readahead_bytes {
                parts.push(format!("ra={}", size_word(r)));
            }
        }
        if self.filter {
            if let Some(f) = c.filter.filter(|&f| f != NbdkitFilter::None) {
                parts.push(f.word().to_owned());
            }
        }
        parts
    }
}

/// The vmconfig source of a configuration whose image is reachable at
/// `url` (a served or user URL), or `None` for a local file.
pub fn drive_source(c: &SourceConfig, url: &str) -> Option<Source> {
    match &c.choice {
        SourceChoice::File => None,
        SourceChoice::Nbd => Some(Source::Nbd {
            url: url.to_owned(),
        }),
        SourceChoice::Http => Some(http(url, c.readahead_bytes)),
        SourceChoice::Url { url: u } if u.is_http() => Some(http(url, c.readahead_bytes)),
        SourceChoice::Url { .. } => Some(Source::Nbd {
            url: url.to_owned(),
        }),
    }
}

fn http(url: &str, readahead_bytes: Option<u64>) -> Source {
    Source::Http {
        url: url.to_owned(),
        readahead_bytes,
        timeout_seconds: None,
        sslverify: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn axes_apply_only_where_they_mean_something() {
        let spec = SourceSpec {
            sources: vec![SourceChoice::File, SourceChoice::Http, SourceChoice::Nbd],
            readaheads_bytes: vec![256 << 10, 2 << 20],
            delays_ms: vec![0, 2],
            filters: vec![NbdkitFilter::None, NbdkitFilter::Cache],
            ..SourceSpec::default()
        };
        let (run, skipped) = source_configs(&spec);
        // file + http 2x2 + nbd 2x2
        assert_eq!(run.len(), 1 + 4 + 4);
        assert!(skipped.is_empty());
        let v = SourceVaries::of(&run);
        let names: Vec<String> = run.iter().map(|c| v.parts(c, 0).join("/")).collect();
        assert_eq!(names[0], "file");
        assert!(names.contains(&"http/2ms/ra=2M".to_owned()), "{names:?}");
        assert!(names.contains(&"nbd/2ms/cache".to_owned()), "{names:?}");
        assert!(names.contains(&"nbd/0ms".to_owned()), "{names:?}");
    }

    #[test]
    fn user_urls_refuse_delays_and_rates_and_hide_credentials() {
        let url = UserUrl::new("http://u:pw@h/x.iso", "http://***@h/x.iso", true);
        let spec = SourceSpec {
            sources: vec![SourceChoice::Url { url }],
            delays_ms: vec![0, 5],
            rates_bits_per_s: vec![0, 20_000_000],
            ..SourceSpec::default()
        };
        let (run, skipped) = source_configs(&spec);
        assert_eq!(run.len(), 1);
        assert_eq!(skipped.len(), 2);
        assert!(skipped[0].1.contains("--net-delay"), "{}", skipped[0].1);
        assert!(skipped[1].1.contains("--net-rate"), "{}", skipped[1].1);
        assert_eq!(skipped[1].0.rate_bits_per_s, Some(20_000_000));
        let json = serde_json::to_string(&run[0]).unwrap();
        assert!(!json.contains("pw"), "{json}");
        assert!(json.contains(r#""kind":"url""#), "{json}");
        assert!(!format!("{:?} {}", run[0], skipped[0].1).contains("pw"));
    }

    #[test]
    fn rates_are_an_axis_of_served_sources_and_named_in_bits() {
        let spec = SourceSpec {
            sources: vec![SourceChoice::File, SourceChoice::Http, SourceChoice::Nbd],
            readaheads_bytes: vec![2 << 20],
            delays_ms: vec![2],
            rates_bits_per_s: vec![0, 100_000_000],
            ..SourceSpec::default()
        };
        let (run, skipped) = source_configs(&spec);
        // file + http 1x1x2 + nbd 1x2
        assert_eq!(run.len(), 1 + 2 + 2);
        assert!(skipped.is_empty());
        let v = SourceVaries::of(&run);
        let names: Vec<String> = run.iter().map(|c| v.parts(c, 0).join("/")).collect();
        assert_eq!(
            names,
            [
                "file",
                "http/2ms/unlimited/ra=2M",
                "http/2ms/100M/ra=2M",
                "nbd/2ms/unlimited",
                "nbd/2ms/100M"
            ]
        );
        // One rate for every served source: no name part.
        let one = SourceSpec {
            sources: vec![SourceChoice::Http],
            rates_bits_per_s: vec![20_000_000],
            ..SourceSpec::default()
        };
        let (run, _) = source_configs(&one);
        assert_eq!(run[0].rate_bits_per_s, Some(20_000_000));
        assert!(SourceVaries::of(&run).parts(&run[0], 0).is_empty());
        let json = serde_json::to_value(&run[0]).unwrap();
        assert_eq!(json["rate_bits_per_s"], 20_000_000);
    }

    #[test]
    fn rates_parse_in_decimal_bits_per_second() {
        assert_eq!(parse_rate("100M"), Ok(100_000_000));
        assert_eq!(parse_rate("1G"), Ok(1_000_000_000));
        assert_eq!(parse_rate("1.5G"), Ok(1_500_000_000));
        assert_eq!(parse_rate("512k"), Ok(512_000));
        assert_eq!(parse_rate("20Mbit/s"), Ok(20_000_000));
        assert_eq!(parse_rate("20000000"), Ok(20_000_000));
        assert_eq!(parse_rate("0"), Ok(0));
        for bad in ["", "M", "fast", "-5M", "10", "2T", "1e13"] {
            assert!(parse_rate(bad).is_err(), "{bad}");
        }
        assert_eq!(rate_word(100_000_000), "100M");
        assert_eq!(rate_word(1_000_000_000), "1G");
        assert_eq!(rate_word(1_500_000_000), "1500M");
        assert_eq!(rate_word(0), "unlimited");
        assert_eq!(rate_text(20_000_000), "20 Mbit/s");
        assert_eq!(rate_text(1_234), "1234 bit/s");
    }

    #[test]
    fn readahead_must_be_a_multiple_of_512() {
        assert!(readahead_invalid(256 << 10).is_none());
        assert!(readahead_invalid(1000).is_some());
        assert!(readahead_invalid(0).is_none());
        assert_eq!(size_word(2 << 20), "2M");
        assert_eq!(size_word(1536), "1536");
    }
}
