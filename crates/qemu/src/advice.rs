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
