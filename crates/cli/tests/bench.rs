//! End-to-end tests of `isotune bench` on real images and files, with fio
//! checking the exported jobs.

use isotune_testutil as common;

mod support;
use support::{bench_json, isotune};

use std::path::{Path, PathBuf};
use std::process::Command;

use predicates::prelude::*;
use serde_json::Value;

/// A directory on a real filesystem (not tmpfs), so cold-cache drops work.
fn workdir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("isotune-bench-test.")
        .tempdir_in("/var/tmp")
        .unwrap()
}

/// An isolinux-booting image: isolinux.bin, its config, a kernel and an initrd.
fn boot_image(dir: &Path) -> Option<PathBuf> {
    let iso = dir.join("boot.iso");
    common::isolinux_image(dir, &iso)?;
    Some(iso)
}

/// (LBA, size) of `name` in `isoinfo -R -l` output.
fn isoinfo_extent(listing: &str, name: &str) -> (u64, u64) {
    let line = listing
        .lines()
        .find(|l| l.trim_end().ends_with(&format!(" {name}")))
        .unwrap_or_else(|| panic!("{name} not in isoinfo listing:\n{listing}"));
    let size: u64 = line.split_whitespace().nth(4).unwrap().parse().unwrap();
    let lba: u64 = line
        .split('[')
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .unwrap()
        .parse()
        .unwrap();
    (lba, size)
}

#[test]
fn boot_trace_replays_the_boot_files_in_load_order_checked_with_isoinfo_and_fio() {
    let dir = workdir();
    let Some(iso) = boot_image(dir.path()) else {
        return;
    };
    let Some(isoinfo) = common::tool("isoinfo") else {
        return;
    };
    let Some(fio) = common::tool("fio") else {
        return;
    };
    let job = dir.path().join("fio").join("job.fio");
    isotune()
        .args([
            "bench",
            "-w",
            "boot",
            "--profile",
            "bios-ide",
            "--runs",
            "1",
            "--warmup",
            "0",
        ])
        .args(["--engine", "psync", "--quiet", "--export-fio"])
        .arg(&job)
        .arg(&iso)
        .assert()
        .success()
        .stdout(predicate::str::contains("boot-bios-ide"));
    let iolog =
        std::fs::read_to_string(dir.path().join("fio").join("boot-bios-ide.iolog")).unwrap();
    let reads: Vec<(u64, u64)> = iolog
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.len() == 4 && f[1] == "read").then(|| (f[2].parse().unwrap(), f[3].parse().unwrap()))
        })
        .collect();
    assert!(
        reads.iter().all(|&(_, len)| len == 2048),
        "bios-ide reads 2 KiB at a time"
    );
    // The volume descriptors come first.
    assert_eq!(reads[0].0, 16 * 2048);

    let listing = common::run(Command::new(isoinfo).args(["-R", "-l", "-i"]).arg(&iso));
    let mut last_index = 0;
    for name in ["isolinux.bin", "isolinux.cfg", "vmlinuz", "initrd.img"] {
        let (lba, size) = isoinfo_extent(&listing, name);
        let start = reads
            .iter()
            .position(|&(off, _)| off == lba * 2048)
            .unwrap_or_else(|| panic!("{name} (LBA {lba}) is not in the trace"));
        assert!(start >= last_index, "{name} is read out of load order");
        // The whole file, contiguously, in 2 KiB steps.
        let sectors = size.div_ceil(2048) as usize;
        for (i, &(off, _)) in reads[start..start + sectors].iter().enumerate() {
            assert_eq!(off, (lba + i as u64) * 2048, "{name} sector {i}");
        }
        last_index = start + sectors;
    }
    // A file no boot reads is not in the trace.
    let (lba, _) = isoinfo_extent(&listing, "data.bin");
    assert!(!reads.iter().any(|&(off, _)| off == lba * 2048));

    // fio replays the exported job and reads what isotune read.
    let out = Command::new(fio)
        .args(["--readonly", "--output-format=json", "job.fio"])
        .current_dir(job.parent().unwrap())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "fio: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["jobs"][0]["error"], 0);
    assert_eq!(
        v["jobs"][0]["read"]["total_ios"].as_u64().unwrap(),
        reads.len() as u64
    );
}

#[test]
fn seq_rand_boot_json_and_cold_cache_is_verified() {
    let dir = workdir();
    let Some(iso) = boot_image(dir.path()) else {
        return;
    };
    let size = std::fs::metadata(&iso).unwrap().len();
    let v = bench_json(
        &[
            "--runs",
            "2",
            "--warmup",
            "1",
            "--engine",
            "psync",
            "--profile",
            "bios-ide,linux-virtio",
        ],
        &iso,
    );
    assert_eq!(v["schema_version"], 2);
    let names: Vec<&str> = v["workloads"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["seq-1m", "rand-4k", "boot-bios-ide", "boot-linux-virtio"]
    );
    let seq = &v["workloads"][0];
    assert_eq!(seq["request_bytes"].as_u64().unwrap(), size);
    assert_eq!(seq["runs"].as_array().unwrap().len(), 2);
    for run in seq["runs"].as_array().unwrap() {
        assert_eq!(run["bytes"].as_u64().unwrap(), size);
        let cache = &run["cache"];
        assert!(
            cache["resident_before_bytes"].as_u64().unwrap() > 0,
            "{cache}"
        );
        assert_eq!(cache["dropped"], true, "{cache}");
        assert!(
            cache["resident_after_bytes"].as_u64().unwrap() < size / 10,
            "{cache}"
        );
    }
    let s = &seq["summary"];
    assert!(s["iops_mean"].as_f64().unwrap() > 0.0);
    assert!(s["latency_ns"]["p50"].as_u64().unwrap() > 0);
    assert!(s["latency_ns"]["p99"].as_u64().unwrap() >= s["latency_ns"]["p50"].as_u64().unwrap());
    // Both boot profiles read the same bytes, in very different request counts.
    let b1 = &v["workloads"][2];
    let b2 = &v["workloads"][3];
    assert_eq!(b1["request_bytes"], b2["request_bytes"]);
    assert!(b1["request_count"].as_u64().unwrap() > 10 * b2["request_count"].as_u64().unwrap());
}

#[test]
fn baseline_flags_a_real_slowdown_and_not_noise() {
    let dir = workdir();
    let file = dir.path().join("data.img");
    std::fs::write(&file, vec![3u8; 16 << 20]).unwrap();
    let base = dir.path().join("base.json");
    let run = |extra: &[&std::ffi::OsStr]| {
        isotune()
            .args([
                "bench", "-w", "rand", "--engine", "psync", "--cache", "warm", "--runs", "5",
            ])
            .args(["--size", "8M", "--json", "--quiet"])
            .args(extra)
            .arg(&file)
            .output()
            .unwrap()
    };
    // A recorded run of warm page-cache 4 KiB reads, its IOPS then made 50
    // times higher: the baseline of a host 50 times faster. (Two live runs
    // of a few milliseconds each on a shared 2-core machine can honestly
    // differ 2x either way, so a live-against-live slowdown is not
    // deterministic; this is.)
    let fast = run(&[]);
    assert!(fast.status.success());
    let mut v: Value = serde_json::from_slice(&fast.stdout).unwrap();
    let w = &mut v["workloads"][0];
    for r in w["runs"].as_array_mut().unwrap() {
        r["iops"] = (r["iops"].as_f64().unwrap() * 50.0).into();
    }
    w["summary"]["iops_mean"] = (w["summary"]["iops_mean"].as_f64().unwrap() * 50.0).into();
    std::fs::write(&base, serde_json::to_vec(&v).unwrap()).unwrap();

    let out = run(&[
        "--fail-on-regression".as_ref(),
        "10".as_ref(),
        "--baseline".as_ref(),
        base.as_os_str(),
    ]);
    let v: Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}\ncomparison: {}",
        String::from_utf8_lossy(&out.stderr),
        v["comparison"]
    );
    assert_eq!(v["comparison"][0]["verdict"], "slower");
    let ratio = v["comparison"][0]["current_iops_mean"].as_f64().unwrap()
        / v["comparison"][0]["baseline_iops_mean"].as_f64().unwrap();
    assert!(ratio < 0.5, "{}", v["comparison"]);

    // The unscaled recording as the baseline is no regression beyond 10x.
    std::fs::write(&base, &fast.stdout).unwrap();
    let out = run(&[
        "--fail-on-regression".as_ref(),
        "90".as_ref(),
        "--baseline".as_ref(),
        base.as_os_str(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // "No significant change between two runs of the same configuration" is
    // tested on recorded runs (isotune-bench compare.rs, isotune-stats
    // property tests).
}

#[test]
fn non_iso_runs_seq_and_rand_and_explains_boot() {
    let dir = workdir();
    let file = dir.path().join("plain.img");
    std::fs::write(&file, vec![0u8; 4 << 20]).unwrap();
    let out = isotune()
        .args(["bench", "--runs", "1", "--warmup", "0", "--json", "--quiet"])
        .arg(&file)
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("boot workload skipped"));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["workloads"].as_array().unwrap().len(), 2);
    isotune()
        .args(["bench", "-w", "boot"])
        .arg(&file)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("plain.img"))
        .stderr(predicate::str::contains("boot"));
}

#[test]
fn bad_targets_are_one_line_exit_2() {
    let dir = workdir();
    let empty = dir.path().join("empty.img");
    std::fs::write(&empty, b"").unwrap();
    let small = dir.path().join("small.img");
    std::fs::write(&small, vec![0u8; 1000]).unwrap();
    let missing = dir.path().join("missing.img");
    let garbage = dir.path().join("garbage.json");
    std::fs::write(&garbage, b"{ not json").unwrap();
    let cases: Vec<(Vec<&str>, &Path, &str)> = vec![
        (vec![], missing.as_path(), "missing.img"),
        (vec![], dir.path(), "directory"),
        (vec![], empty.as_path(), "empty.img"),
        (vec!["-w", "seq"], small.as_path(), "small.img"),
        (
            vec!["--baseline", "/nonexistent.json"],
            small.as_path(),
            "nonexistent.json",
        ),
    ];
    let garbage_arg = garbage.to_str().unwrap().to_owned();
    let mut cases = cases;
    cases.push((
        vec!["--baseline", &garbage_arg],
        small.as_path(),
        "garbage.json",
    ));
    for (args, path, needle) in cases {
        let out = isotune()
            .arg("bench")
            .args(&args)
            .arg(path)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?} {path:?}: {err}");
        assert!(err.contains(needle), "{args:?} {path:?}: {err}");
        assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    }
    // O_DIRECT refused: sysfs files cannot be opened with O_DIRECT.
    let sys = Path::new("/sys/kernel/mm/transparent_hugepage/enabled");
    if sys.exists() {
        let out = isotune()
            .args(["bench", "--direct", "-w", "seq"])
            .arg(sys)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2));
    }
}

#[test]
fn markdown_report_and_progress_free_stdout() {
    let dir = workdir();
    let file = dir.path().join("data.img");
    std::fs::write(&file, vec![5u8; 8 << 20]).unwrap();
    let md = dir.path().join("bench.md");
    isotune()
        .args([
            "bench",
            "-w",
            "seq,rand",
            "--runs",
            "2",
            "--warmup",
            "0",
            "--markdown",
        ])
        .arg(&md)
        .arg(&file)
        .assert()
        .success()
        .stdout(predicate::str::contains("seq-1m"))
        .stdout(predicate::str::contains("IOPS"));
    let text = std::fs::read_to_string(&md).unwrap();
    assert!(text.starts_with("# isotune bench:"), "{text}");
    assert!(
        text.contains("| seq-1m |") && text.contains("| rand-4k |"),
        "{text}"
    );
}

/// Regressions: options that panicked or aborted (`--runtime inf`,
/// `--warmup 4294967295`) are usage errors, one line, exit 2.
#[test]
fn regression_counts_sizes_and_seconds_are_bounded_at_parse_time() {
    let dir = workdir();
    let file = dir.path().join("data.img");
    std::fs::write(&file, vec![5u8; 1 << 20]).unwrap();
    for bad in [
        &["--runtime", "inf"][..],
        &["--runtime", "nan"],
        &["--runtime=-1"],
        &["--runtime", "1e300"],
        &["--warmup", "4294967295"],
        &["--seq-block", "1T"],
        &["--request-size", "64M"],
        &["--rand-block", "3000"],
    ] {
        let out = isotune()
            .arg("bench")
            .args(bad)
            .arg(&file)
            .timeout(std::time::Duration::from_secs(30))
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{bad:?}: {err}");
        assert!(!err.contains("panicked"), "{bad:?}: {err}");
        let name = bad[0].split('=').next().unwrap();
        assert!(err.contains(name), "{bad:?} not named: {err}");
    }
    // A plan of a quarter of a billion requests is refused before it is
    // allocated, with the way out.
    let out = isotune()
        .args(["bench", "-w", "rand", "--size", "1000G"])
        .arg(&file)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("more than the limit of 16777216"), "{err}");
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    // With --runtime the same --size is a time-based run: the plan is cut to
    // the limit, with a notice, and the deadline ends the run.
    let v = bench_json(
        &[
            "-w",
            "rand",
            "--size",
            "1000G",
            "--runtime",
            "0.2",
            "--runs",
            "1",
            "--warmup",
            "0",
            "--cache",
            "warm",
        ],
        &file,
    );
    assert_eq!(v["notices"][0]["code"], "size-capped-for-runtime", "{v}");
    assert_eq!(v["notices"][0]["requested_bytes"], 1000u64 << 30);
    assert_eq!(v["notices"][0]["planned_bytes"], (1u64 << 24) * 4096);
    let run = &v["workloads"][0]["runs"][0];
    assert_eq!(run["stopped_early"], true, "{run}");
}

/// Regression: `--export-fio FILE` (and its iologs) could overwrite the
/// image being benchmarked.
#[test]
fn regression_export_fio_never_overwrites_the_image() {
    let dir = workdir();
    let Some(iso) = boot_image(dir.path()) else {
        return;
    };
    let before = std::fs::read(&iso).unwrap();
    // The job file named as the image, and an iolog whose name is the image.
    let iolog_name = dir.path().join("boot-bios-ide.iolog");
    std::fs::hard_link(&iso, &iolog_name).unwrap();
    for job in [iso.clone(), dir.path().join("job.fio")] {
        let out = isotune()
            .args([
                "bench",
                "-w",
                "boot",
                "--runs",
                "1",
                "--warmup",
                "0",
                "--export-fio",
            ])
            .arg(&job)
            .arg(&iso)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{job:?}: {err}");
        assert!(err.contains("it is the image being read"), "{err}");
        assert!(std::fs::read(&iso).unwrap() == before, "{job:?}");
    }
    assert!(!dir.path().join("job.fio").exists());
}

/// Regression: `BootProfile::queue_depth_hint` was never used, so
/// `--profile bios-ide --iodepth 32` ran at depth 32 silently. The profile's
/// depth is the default; an explicit --iodepth is honoured with a warning.
#[test]
fn regression_boot_profiles_run_at_their_own_depth() {
    let dir = workdir();
    let Some(iso) = boot_image(dir.path()) else {
        return;
    };
    let common = [
        "-w",
        "seq,boot",
        "--runs",
        "1",
        "--warmup",
        "0",
        "--profile",
        "bios-ide,linux-virtio",
    ];
    let v = bench_json(&common, &iso);
    for w in v["workloads"].as_array().unwrap() {
        assert_eq!(w["queue_depth"], 1, "{}", w["name"]);
        assert!(w["summary"]["warnings"]
            .as_array()
            .unwrap()
            .iter()
            .all(|x| x["code"] != "profile-depth-overridden"));
    }
    let mut args = common.to_vec();
    args.extend(["--iodepth", "8"]);
    let v = bench_json(&args, &iso);
    let by_name = |n: &str| {
        v["workloads"]
            .as_array()
            .unwrap()
            .iter()
            .find(|w| w["name"] == n)
            .unwrap()
            .clone()
    };
    let ide = by_name("boot-bios-ide");
    assert_eq!(ide["queue_depth"], 8);
    let warn = ide["summary"]["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["code"] == "profile-depth-overridden")
        .cloned()
        .expect("a warning for the overridden depth");
    assert_eq!(warn["profile_queue_depth"], 1);
    assert_eq!(warn["queue_depth"], 8);
    // linux-virtio has no fixed depth: no warning.
    let virtio = by_name("boot-linux-virtio");
    assert_eq!(virtio["queue_depth"], 8);
    assert!(virtio["summary"]["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .all(|x| x["code"] != "profile-depth-overridden"));
    assert_eq!(by_name("seq-1m")["queue_depth"], 8);
}

#[test]
fn a_fifo_target_and_an_oversize_baseline_are_refused() {
    let dir = workdir();
    let fifo = dir.path().join("pipe.iso");
    rustix::fs::mknodat(
        rustix::fs::CWD,
        &fifo,
        rustix::fs::FileType::Fifo,
        rustix::fs::Mode::from_raw_mode(0o600),
        0,
    )
    .unwrap();
    let out = isotune()
        .arg("bench")
        .arg(&fifo)
        .timeout(std::time::Duration::from_secs(20))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("pipe.iso") && err.contains("FIFO"), "{err}");
    let file = dir.path().join("data.img");
    std::fs::write(&file, vec![5u8; 1 << 20]).unwrap();
    let base = dir.path().join("old.json");
    std::fs::File::create(&base)
        .unwrap()
        .set_len((64 << 20) + 1)
        .unwrap();
    let out = isotune()
        .args(["bench", "-w", "seq", "--baseline"])
        .arg(&base)
        .arg(&file)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("old.json") && err.contains("larger than 67108864"),
        "{err}"
    );
}
