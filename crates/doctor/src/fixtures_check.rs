//! Firing examples for the rules over what `isotune check` adds to the
//! facts (a full integrity pass, the inspection, the short bench), kept
//! apart from the host and VM fixtures.

use std::path::PathBuf;

use crate::facts::{
    BenchFacts, BenchPattern, BootFacts, BootFileFact, DigestCheck, Facts, ImageAnomaly, VolumeRead,
};
use crate::finding::Severity;
use crate::fixtures::{healthy, ISO};

/// A bench run of 1,000 requests of 2 KiB taking `per_request_ns` each.
pub(crate) fn bench(pattern: BenchPattern, per_request_ns: u64) -> BenchFacts {
    BenchFacts {
        path: PathBuf::from(ISO),
        pattern,
        bytes: 2048 * 1000,
        requests: 1000,
        elapsed_ns: per_request_ns * 1000,
        stopped_early: false,
        in_memory: false,
    }
}

/// Facts that make the rule `id` fire (`None`: no example written).
pub(crate) fn example(id: &str) -> Option<Facts> {
    let mut f = healthy();
    let img = &mut f.images[0];
    match id {
        "image.invalid-volume-size" => {
            img.volume = VolumeRead::InvalidSize;
            img.volume_bytes = Some(2048);
        }
        "image.digest-mismatch" => img.digests.push(DigestCheck {
            algorithm: "sha256".into(),
            computed_hex: "aa".repeat(32),
            matched: vec![],
            mismatched_hex: vec!["bb".repeat(32)],
        }),
        "image.unverified" => {
            img.integrity_checked = true;
            img.implanted_md5 = None;
        }
        "image.anomaly" => img.anomalies.push(ImageAnomaly {
            id: "tree.directory-loop".into(),
            severity: Severity::Warn,
            message: "directory /a contains itself".into(),
        }),
        "boot.not-bootable" => img.boot = Some(BootFacts::default()),
        "boot.read-volume" => {
            img.boot = Some(BootFacts {
                el_torito: true,
                files: vec![BootFileFact {
                    path: "/casper/vmlinuz".into(),
                    size_bytes: 15 << 20,
                    end_bytes: 1 << 30,
                }],
            })
        }
        "bench.cold-read" => f.bench.push(bench(BenchPattern::Sequential, 100_000)),
        "bench.boot-trace" => f.bench.push(bench(BenchPattern::BootTrace, 1_000_000)),
        _ => return None,
    }
    Some(f)
}
