//! Which network source to choose, from a boot report: per emulated link
//! (`--net-delay` and `--net-rate`; a user's URL is its own group), the fastest
//! network configuration by median, each other one compared with it
//! ([`crate::rank::rank`]: Welch's test at 95%), and the readahead values
//! of the HTTP configurations ordered by time. Pure data; the binary
//! prints the [`SourceAdvice`] sentence.

use std::fmt;

use isotune_stats::Verdict;
use serde::{Deserialize, Serialize};

use crate::report::ConfigResult;
use crate::source::SourceChoice;

/// The choice on one emulated link (latency and bandwidth).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SourceAdvice {
    /// The emulated delay per request, ms; `None` for the user's URLs
    /// (their own latency).
    pub delay_ms: Option<u32>,
    /// The emulated bandwidth, bits per second; `None`: unlimited (or the
    /// user's URLs).
    #[serde(default)]
    pub rate_bits_per_s: Option<u64>,
    /// The fastest configuration (by median).
    pub best: String,
    /// Its median, seconds.
    pub best_seconds: f64,
    /// Each other configuration on this link, slowest last.
    pub others: Vec<AdviceOther>,
}

/// Another configuration on the same link, against the best.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AdviceOther {
    /// Its name.
    pub name: String,
    /// Its median / the best median.
    pub times_slower: f64,
    /// Whether the difference is significant at 95% (`None`: too few runs).
    pub significant: Option<bool>,
    /// Its curl readahead, bytes, when an HTTP source.
    pub readahead_bytes: Option<u64>,
}

/// The advice for every emulated link (delay, rate) with two or more
/// network configurations that booted.
pub fn source_advice(configs: &[ConfigResult]) -> Vec<SourceAdvice> {
    type Link = (Option<u32>, Option<u64>);
    let mut groups: Vec<(Link, Vec<&ConfigResult>)> = Vec::new();
    for c in configs {
        let s = &c.config.source;
        let key = match &s.choice {
            SourceChoice::File => continue,
            SourceChoice::Url { .. } => (None, None),
            SourceChoice::Http | SourceChoice::Nbd => (
                Some(s.delay_ms.unwrap_or(0)),
                s.rate_bits_per_s.filter(|&r| r > 0),
            ),
        };
        if c.summary.median_seconds.is_none() {
            continue;
        }
        match groups.iter_mut().find(|(k, _)| *k == key) {
            Some((_, v)) => v.push(c),
            None => groups.push((key, vec![c])),
        }
    }
    groups
        .into_iter()
        .filter(|(_, v)| v.len() >= 2)
        .map(|((delay_ms, rate_bits_per_s), mut v)| {
            let m = |c: &ConfigResult| c.summary.median_seconds.unwrap_or(f64::INFINITY);
            v.sort_by(|a, b| m(a).total_cmp(&m(b)));
            let best = v[0];
            let best_runs: Vec<f64> = best.runs.iter().map(|r| r.seconds).collect();
            let others = v[1..]
                .iter()
                .map(|c| {
                    let runs: Vec<f64> = c.runs.iter().map(|r| r.seconds).collect();
                    let vs = crate::rank::rank(&[best_runs.clone(), runs], 0)
                        .into_iter()
                        .find(|r| r.index == 1)
                        .and_then(|r| r.vs_baseline);
                    AdviceOther {
                        name: c.config.name.clone(),
                        times_slower: m(c) / m(best),
                        significant: vs.map(|v| v.verdict != Verdict::NoSignificantChange),
                        readahead_bytes: c.config.source.readahead_bytes,
                    }
                })
                .collect();
            SourceAdvice {
                delay_ms,
                rate_bits_per_s,
                best: best.config.name.clone(),
                best_seconds: m(best),
                others,
            }
        })
        .collect()
}

impl fmt::Display for SourceAdvice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.delay_ms, self.rate_bits_per_s) {
            (Some(d), Some(r)) => write!(
                f,
                "at {d} ms per request and {}",
                crate::source::rate_text(r)
            )?,
            (Some(d), None) => write!(f, "at {d} ms per request and unlimited bandwidth")?,
            (None, _) => f.write_str("for the URLs given")?,
        }
        write!(
            f,
            ", choose {} (median {:.2} s)",
            self.best, self.best_seconds
        )?;
        let words: Vec<String> = self
            .others
            .iter()
            .map(|o| {
                let sig = match o.significant {
                    Some(true) => "",
                    Some(false) => ", not a significant difference",
                    None => ", too few runs to test",
                };
                format!("{} {:.2}x as long{sig}", o.name, o.times_slower)
            })
            .collect();
        if !words.is_empty() {
            write!(f, ": {}", words.join("; "))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::matrix::{expand, BusChoice, MatrixSpec, WorkloadCaps};
    use crate::report::{summarize, ConfigSummary, RunRecord};
    use crate::source::SourceSpec;

    fn run(seconds: f64) -> RunRecord {
        RunRecord {
            run: 0,
            seconds,
            menu_wait_seconds: 0.0,
            keys_pressed: Vec::new(),
            end: "marker".into(),
            phases: BTreeMap::new(),
            phase_reads: BTreeMap::new(),
            rd_bytes: 1 << 20,
            rd_operations: 32,
            rd_total_time_ns: 0,
            qemu_cpu_seconds: 0.0,
            accel: "tcg".into(),
            cache: None,
            server: None,
        }
    }

    #[test]
    fn advice_per_latency_names_the_fastest_and_tests_the_others() {
        let m = expand(
            &MatrixSpec {
                buses: vec![BusChoice::Ahci],
                net: SourceSpec {
                    sources: vec![SourceChoice::File, SourceChoice::Http, SourceChoice::Nbd],
                    readaheads_bytes: vec![256 << 10, 2 << 20],
                    delays_ms: vec![2],
                    rates_bits_per_s: vec![0, 20_000_000],
                    filters: Vec::new(),
                },
                ..MatrixSpec::default()
            },
            WorkloadCaps {
                bios: true,
                uefi: false,
            },
        );
        let times = |name: &str| match name {
            "ahci/file" => [1.0, 1.1, 1.05],
            "ahci/http/2ms/unlimited/ra=256K" => [2.0, 2.1, 2.05],
            "ahci/http/2ms/unlimited/ra=2M" => [6.0, 6.2, 6.1],
            "ahci/http/2ms/20M/ra=256K" => [9.0, 9.2, 9.1],
            "ahci/http/2ms/20M/ra=2M" => [12.0, 12.2, 12.1],
            "ahci/nbd/2ms/20M" => [8.0, 8.1, 8.2],
            _ => [2.0, 2.2, 2.1],
        };
        let mut configs: Vec<ConfigResult> = m
            .configs
            .iter()
            .map(|c| ConfigResult {
                config: c.clone(),
                iso: "/x.iso".into(),
                argv: Vec::new(),
                runs: times(&c.name).iter().map(|&s| run(s)).collect(),
                failures: Vec::new(),
                summary: ConfigSummary::empty(),
            })
            .collect();
        summarize(&mut configs, 0);
        let a = source_advice(&configs);
        // One group per (delay, rate), not per delay.
        assert_eq!(a.len(), 2, "{a:?}");
        assert_eq!((a[0].delay_ms, a[0].rate_bits_per_s), (Some(2), None));
        assert_eq!(a[0].best, "ahci/http/2ms/unlimited/ra=256K");
        let slow = a[0]
            .others
            .iter()
            .find(|o| o.name == "ahci/http/2ms/unlimited/ra=2M")
            .unwrap();
        assert_eq!(slow.significant, Some(true));
        assert!((slow.times_slower - 6.1 / 2.05).abs() < 1e-9);
        let text = a[0].to_string();
        assert!(
            text.starts_with(
                "at 2 ms per request and unlimited bandwidth, choose ahci/http/2ms/unlimited/ra=256K"
            ),
            "{text}"
        );
        assert_eq!(a[1].rate_bits_per_s, Some(20_000_000));
        assert_eq!(a[1].best, "ahci/nbd/2ms/20M");
        assert_eq!(a[1].others.len(), 2);
        let text = a[1].to_string();
        assert!(
            text.starts_with("at 2 ms per request and 20 Mbit/s, choose ahci/nbd/2ms/20M"),
            "{text}"
        );
    }
}
