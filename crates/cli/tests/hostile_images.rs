//! Crafted hostile images through the real binary: each shape that once
//! made `inspect` run for minutes or use gigabytes (`isotune_iso::crafted`)
//! is generated here, a few MB big, and every command that reads an image
//! must finish within generous bounds (10 s, 512 MB, so CI noise cannot fail
//! it; the tight goal, 2 s and 256 MB at 64 MiB, is measured by
//! `scripts/bench/iso-budget.sh`), exit 0 or 1, and say what it capped.
//! Time and peak memory come from `/usr/bin/time`.

use std::path::Path;
use std::time::Duration;

use assert_cmd::Command;
use isotune_iso::crafted::Shape;
use serde_json::Value;

/// Generous bounds for a few-MB image (the budget goal is 2 s and 256 MB
/// at 64 MiB).
const MAX_SECONDS: f64 = 10.0;
const MAX_RSS_KB: u64 = 512 * 1024;
/// Past this a command is taken as hung (and killed).
const HANG_SECONDS: u64 = 60;

/// The commands that read an image, as argument lists.
const COMMANDS: [&[&str]; 5] = [
    &["inspect"],
    &["inspect", "--files"],
    &["inspect", "--files", "--json"],
    &["verify"],
    &["check"],
];

struct Measured {
    seconds: f64,
    max_rss_kb: u64,
    code: Option<i32>,
    stdout: Vec<u8>,
    stderr: String,
}

/// Runs `isotune ARGS` under `/usr/bin/time`; `None` when `time` is missing
/// (and skipping is allowed).
fn measure(dir: &Path, args: &[&str], iso: &Path) -> Option<Measured> {
    let time = Path::new("/usr/bin/time");
    if !time.is_file() {
        isotune_testutil::skip("/usr/bin/time is not installed (run scripts/setup)");
        return None;
    }
    let report = dir.join("time.txt");
    let out = Command::new(time)
        .arg("-f")
        .arg("%e %M")
        .arg("-o")
        .arg(&report)
        .arg(assert_cmd::cargo::cargo_bin("isotune"))
        .args(args)
        .arg(iso)
        .timeout(Duration::from_secs(HANG_SECONDS))
        .output()
        .unwrap();
    let text = std::fs::read_to_string(&report).unwrap_or_default();
    // `time` writes "Command exited with non-zero status N" first when the
    // command fails; the numbers are on the last line.
    let last = text.lines().last().unwrap_or("");
    let mut nums = last.split_whitespace();
    let seconds: f64 = nums.next().and_then(|s| s.parse().ok()).unwrap_or(f64::MAX);
    let max_rss_kb: u64 = nums.next().and_then(|s| s.parse().ok()).unwrap_or(u64::MAX);
    Some(Measured {
        seconds,
        max_rss_kb,
        code: out.status.code(),
        stdout: out.stdout,
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    })
}

/// The anomaly ids of an `inspect --json` report, and the `unlisted`
/// count of the summary of `id`.
fn ids_and_unlisted(json: &[u8], id: &str) -> (Vec<String>, u64) {
    let report: Value = serde_json::from_slice(json).unwrap();
    let anomalies = report["anomalies"].as_array().unwrap();
    let ids = anomalies
        .iter()
        .map(|a| a["id"].as_str().unwrap().to_owned())
        .collect();
    let unlisted = anomalies
        .iter()
        .filter(|a| a["id"] == id)
        .filter_map(|a| a["unlisted"].as_u64())
        .sum();
    (ids, unlisted)
}

/// Generates `shape` at `bytes`, runs every command on it within the
/// bounds, and returns the `inspect --files --json` output.
fn run_all(shape: Shape, bytes: u64) -> Option<Vec<u8>> {
    let dir = tempfile::tempdir().unwrap();
    let iso = dir.path().join(format!("{}.iso", shape.name()));
    std::fs::write(&iso, shape.build(bytes)).unwrap();
    let mut json = None;
    for args in COMMANDS {
        let m = measure(dir.path(), args, &iso)?;
        let what = format!("{} {args:?}", shape.name());
        assert!(
            matches!(m.code, Some(0 | 1)),
            "{what}: exit {:?}: {}",
            m.code,
            m.stderr
        );
        assert!(!m.stderr.contains("panicked"), "{what}: {}", m.stderr);
        assert!(
            m.seconds < MAX_SECONDS,
            "{what}: {} s (bound {MAX_SECONDS} s)",
            m.seconds
        );
        assert!(
            m.max_rss_kb < MAX_RSS_KB,
            "{what}: {} KB peak memory (bound {MAX_RSS_KB} KB)",
            m.max_rss_kb
        );
        if args.contains(&"--json") {
            json = Some(m.stdout);
        }
    }
    json
}

/// Issue: 2,111 root records each chaining four 64 KiB continuation areas
/// made a 480 KB image take 26 s. Here about 40,000 records each chain
/// 256 KiB: the per-image SUSP budget stops parsing and says so.
#[test]
fn rock_ridge_continuation_chains_stay_within_the_budget() {
    let Some(json) = run_all(Shape::SuspCe, 3 << 20) else {
        return;
    };
    let (ids, _) = ids_and_unlisted(&json, "");
    assert!(ids.iter().any(|i| i == "susp.budget-exceeded"), "{ids:?}");
    let report: Value = serde_json::from_slice(&json).unwrap();
    assert!(report["files"].as_array().unwrap().len() > 30_000);
}

/// Issue: 1,000 overlapping directories of multi-extent sections in a
/// 2.1 MB image cost `inspect --files` 1.15 GB. Each overlapping directory
/// is now reported (capped per id) and listed once.
#[test]
fn overlapping_multi_extent_directories_are_listed_once() {
    let Some(json) = run_all(Shape::MultiExtent, 3 << 20) else {
        return;
    };
    let (ids, unlisted) = ids_and_unlisted(&json, "tree.directory-overlap");
    assert!(ids.iter().any(|i| i == "tree.directory-overlap"), "{ids:?}");
    assert!(unlisted > 1000, "{unlisted}");
    let report: Value = serde_json::from_slice(&json).unwrap();
    let sections: usize = report["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["extents"].as_array().map_or(0, Vec::len))
        .sum();
    // The section area is under 3 MB: about 46 sections a sector, once.
    assert!(sections < (3 << 20) / 2048 * 47, "{sections}");
}

/// Issue: a GPT declaring 8,192 partitions far past the end of the file
/// passed with no anomaly. Now each is reported, and the per-id cap keeps
/// the report short.
#[test]
fn gpt_partitions_past_the_end_are_reported_and_capped() {
    let Some(json) = run_all(Shape::Gpt, 2 << 20) else {
        return;
    };
    let (ids, unlisted) = ids_and_unlisted(&json, "partition.past-end");
    let listed = ids.iter().filter(|i| *i == "partition.past-end").count();
    assert_eq!(listed, 51, "50 listed and one summary");
    assert_eq!(unlisted, 8192 - 50);
}

/// Issue: `inspect` and `check` hung on a FIFO. The image is opened without
/// blocking and refused in one line naming the file, exit 2.
#[test]
fn a_fifo_is_refused_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("pipe.iso");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .is_ok_and(|s| s.success());
    if !made {
        return isotune_testutil::skip("mkfifo cannot make a FIFO here");
    }
    for sub in [
        &["inspect"][..],
        &["inspect", "--files", "--json"],
        &["check"],
    ] {
        let out = Command::cargo_bin("isotune")
            .unwrap()
            .args(sub)
            .arg(&fifo)
            .timeout(Duration::from_secs(HANG_SECONDS))
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{sub:?}: {err}");
        assert_eq!(err.trim_end().lines().count(), 1, "{sub:?}: {err}");
        assert!(err.contains("pipe.iso") && err.contains("FIFO"), "{err}");
    }
}
