//! Which network source to choose, from a boot report: per emulated
//! latency (`--net-delay`; a user's URL is its own group), the fastest
//! network configuration by median, each other one compared with it
//! ([`crate::rank::rank`]: Welch's test at 95%), and the readahead values
//! of the HTTP configurations ordered by time. Pure data; the binary
//! prints the [`SourceAdvice`] sentence.

use std::fmt;

use isotune_stats::Verdict;
use serde::{Deserialize, Serialize};

use crate::report::ConfigResult;
use crate::source::SourceChoice;

/// The choice at one latency.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SourceAdvice {
    /// The emulated delay per request, ms; `None` for the user's URLs
    /// (their own latency).
    pub delay_ms: Option<u32>,
    /// The fastest configuration (by median).
    pub best: String,
    /// Its median, seconds.
    pub best_seconds: f64,
    /// Each other configuration at this latency, slowest last.
    pub others: Vec<AdviceOther>,
}

/// Another configuration at the same latency, against the best.
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

/// The advice for every latency with two or more network configurations
/// that booted.
pub fn source_advice(configs: &[ConfigResult]) -> Vec<SourceAdvice> {
    let mut groups: Vec<(Option<u32>, Vec<&ConfigResult>)> = Vec::new();
    for c in configs {
        let key = match &c.config.source.choice {
            SourceChoice::File => continue,
            SourceChoice::Url { .. } => None,
            SourceChoice::Http | SourceChoice::Nbd => Some(c.config.source.delay_ms.unwrap_or(0)),
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
        .map(|(delay_ms, mut v)| {
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
                best: best.config.name.clone(),
                best_seconds: m(best),
                others,
            }
        })
        .collect()
}

impl fmt::Display for SourceAdvice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.delay_ms {
            Some(d) => write!(f, "at {d} ms per request")?,
            None => f.write_str("for the URLs given")?,
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
            "ahci/http/2ms/ra=256K" => [2.0, 2.1, 2.05],
            "ahci/http/2ms/ra=2M" => [6.0, 6.2, 6.1],
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
        assert_eq!(a.len(), 1, "{a:?}");
        assert_eq!(a[0].delay_ms, Some(2));
        assert_eq!(a[0].best, "ahci/http/2ms/ra=256K");
        let slow = a[0]
            .others
            .iter()
            .find(|o| o.name == "ahci/http/2ms/ra=2M")
            .unwrap();
        assert_eq!(slow.significant, Some(true));
        assert!((slow.times_slower - 6.1 / 2.05).abs() < 1e-9);
        let text = a[0].to_string();
        assert!(
            text.starts_with("at 2 ms per request, choose ahci/http/2ms/ra=256K"),
            "{text}"
        );
    }
}
