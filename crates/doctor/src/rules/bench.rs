//! The short read bench `isotune check` runs: what the host storage gives a
//! sequential read and the boot trace's 2 KiB requests. A run that never
//! reached the storage (tmpfs, or a page cache that could not be dropped)
//! is said to be "in memory", never "cold".

use crate::facts::{BenchFacts, BenchPattern, Facts};
use crate::finding::{Finding, Layer, Severity};
use crate::rules::Rule;

/// Above this many microseconds per 2 KiB request the boot trace is slow:
/// SeaBIOS issues one request per sector on IDE, so a 30 MB kernel and
/// initrd take ~15,000 requests, and at 0.5 ms each the firmware phase
/// alone waits 7.5 s for storage (an SSD answers in ~0.1 ms or less).
const SLOW_REQUEST_US: f64 = 500.0;

/// `bench.cold-read`.
pub(crate) const COLD_READ: Rule = Rule {
    id: "bench.cold-read",
    layer: Layer::Storage,
    severity: Severity::Info,
    title: "A sequential read of the image on this host",
    why: "What the storage under the image delivers to large sequential reads, the \
          pattern of a Linux guest reading through its page cache. Compare hosts or \
          storage with `isotune bench`.",
    reference: "`isotune bench --workload seq`; docs/bench.md",
    check: cold_read,
};

/// `bench.boot-trace`.
pub(crate) const BOOT_TRACE: Rule = Rule {
    id: "bench.boot-trace",
    layer: Layer::Storage,
    severity: Severity::Warn,
    title: "The boot trace replayed in 2 KiB requests on this host",
    why: "The files the default boot reads, replayed in the 2 KiB requests SeaBIOS makes \
          on an IDE cdrom: each request pays the storage's latency, so slow small reads \
          multiply into seconds of firmware phase.",
    reference: "`isotune bench --workload boot --profile bios-ide`; docs/bench.md",
    check: boot_trace,
};

fn measured(b: &BenchFacts) -> String {
    let per_req_us = b.elapsed_ns as f64 / b.requests as f64 / 1e3;
    let mbps = b.bytes as f64 / (b.elapsed_ns as f64 / 1e9) / 1e6;
    format!(
        "{} bytes in {:.3} s in {} requests of {} bytes: {mbps:.1} MB/s, {per_req_us:.1} µs per request{}",
        b.bytes,
        b.elapsed_ns as f64 / 1e9,
        b.requests,
        b.bytes / b.requests,
        if b.stopped_early {
            " (stopped at its time limit)"
        } else {
            ""
        }
    )
}

fn cache_word(b: &BenchFacts) -> &'static str {
    if b.in_memory {
        "in memory"
    } else {
        "from a cold cache"
    }
}

fn runs(facts: &Facts, pattern: BenchPattern) -> impl Iterator<Item = &BenchFacts> {
    facts
        .bench
        .iter()
        .filter(move |b| b.pattern == pattern && b.requests > 0 && b.elapsed_ns > 0)
}

fn in_memory_note(b: &BenchFacts) -> Option<String> {
    b.in_memory.then(|| {
        "the image is in memory (tmpfs, or the page cache kept it): the reads did not reach \
         the storage"
            .to_owned()
    })
}

fn cold_read(facts: &Facts) -> Vec<Finding> {
    runs(facts, BenchPattern::Sequential)
        .map(|b| {
            let path = b.path.display();
            let mut evidence = vec![measured(b)];
            evidence.extend(in_memory_note(b));
            COLD_READ.finding(
                Severity::Info,
                format!("a sequential read {}", cache_word(b)),
                path.to_string(),
                evidence,
                format!("Nothing to fix; `isotune bench {path}` measures more patterns."),
            )
        })
        .collect()
}

fn boot_trace(facts: &Facts) -> Vec<Finding> {
    runs(facts, BenchPattern::BootTrace)
        .map(|b| {
            let path = b.path.display();
            let per_req_us = b.elapsed_ns as f64 / b.requests as f64 / 1e3;
            let slow = per_req_us > SLOW_REQUEST_US && !b.in_memory;
            let mut evidence = vec![measured(b)];
            evidence.extend(in_memory_note(b));
            BOOT_TRACE.finding(
                if slow { Severity::Warn } else { Severity::Info },
                format!("the boot trace {}, in 2 KiB requests", cache_word(b)),
                path.to_string(),
                evidence,
                if slow {
                    "The host storage is slow at small reads: copy the ISO to an SSD or tmpfs, \
                     or raise read-ahead (see the storage findings)."
                        .to_owned()
                } else {
                    format!("Nothing to fix; `isotune boot {path}` measures whole boots.")
                },
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures_check::bench;

    #[test]
    fn slow_small_reads_warn_but_not_in_memory() {
        let mut facts = Facts {
            bench: vec![bench(BenchPattern::BootTrace, 1_000_000)],
            ..Facts::default()
        };
        let f = boot_trace(&facts);
        assert_eq!(f[0].severity, Severity::Warn);
        assert!(f[0].title.contains("cold"));
        facts.bench[0].in_memory = true;
        let f = boot_trace(&facts);
        assert_eq!(f[0].severity, Severity::Info);
        assert!(f[0].title.contains("in memory") && !f[0].title.contains("cold"));
        assert!(f[0].evidence.iter().any(|e| e.contains("in memory")));
    }

    #[test]
    fn fast_reads_are_info() {
        let facts = Facts {
            bench: vec![bench(BenchPattern::Sequential, 1_000)],
            ..Facts::default()
        };
        assert_eq!(cold_read(&facts)[0].severity, Severity::Info);
        assert!(boot_trace(&facts).is_empty());
    }
}
