//! The suite every engine runs. Each check takes `&mut dyn Engine`, and
//! [`engines`] yields psync plus io_uring when the kernel allows it. When it
//! does not, io_uring's share is skipped with a note, or fails when
//! `ISOTUNE_REQUIRE_TOOLS=1` (CI machines that must exercise it).

use std::io::Write;

use super::*;
use crate::target::{Alignment, Target, TargetOptions};

/// Called when io_uring is unavailable: [`isotune_testutil::skip`] (a
/// failure under `ISOTUNE_REQUIRE_TOOLS=1`, a counted skip otherwise).
pub(crate) fn uring_missing(reason: &str) {
    isotune_testutil::skip(&format!(
        "io_uring unavailable ({reason}); its share of this test cannot run"
    ));
}

/// A temporary file of `len` pseudo-random bytes ([`isotune_testutil::Rng`]), and them.
fn pattern_file(len: usize) -> (tempfile::NamedTempFile, Vec<u8>) {
    pattern_file_in(&std::env::temp_dir(), len)
}

/// [`pattern_file`] in `dir`.
fn pattern_file_in(dir: &std::path::Path, len: usize) -> (tempfile::NamedTempFile, Vec<u8>) {
    let content = isotune_testutil::Rng::new(len as u64).bytes(len);
    let mut f = tempfile::NamedTempFile::new_in(dir).unwrap();
    f.write_all(&content).unwrap();
    f.flush().unwrap();
    (f, content)
}

/// psync, and io_uring when available, opened for `depth` and requests of
/// up to `max_request_bytes`.
fn engines(target: &Target, depth: u32, max_request_bytes: usize) -> Vec<Box<dyn Engine>> {
    let config = |choice| EngineConfig {
        choice,
        queue_depth: depth,
        max_request_bytes,
    };
    let mut all = vec![
        open_engine(target, &config(EngineChoice::Psync))
            .unwrap()
            .engine,
    ];
    match uring_available() {
        Ok(()) => all.push(
            open_engine(target, &config(EngineChoice::IoUring))
                .unwrap()
                .engine,
        ),
        Err(reason) => uring_missing(&reason),
    }
    all
}

/// FNV-1a, to compare what two engines read without keeping it.
fn fnv1a(hash: u64, bytes: &[u8]) -> u64 {
    bytes.iter().fold(hash, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;

/// Runs `requests` and checks every completion against `content`: each
/// index completes once, with the bytes the file holds there (short only at
/// the end), and a latency above zero. Returns the total bytes and a digest
/// of the data in request order.
fn run_checked(
    engine: &mut dyn Engine,
    target: &Target,
    requests: &[Request],
    queue_depth: u32,
    content: &[u8],
) -> (u64, u64) {
    let mut digests = vec![None; requests.len()];
    let mut total = 0u64;
    engine
        .run(target, requests, queue_depth, &mut |c| {
            let r = requests[c.index];
            let start = r.offset as usize;
            let end = (start + r.len as usize).min(content.len());
            assert_eq!(c.bytes as usize, end - start, "request {} {r:?}", c.index);
            assert_eq!(c.data.len(), c.bytes as usize);
            assert!(
                c.data == &content[start..end],
                "request {}: wrong data for {r:?}",
                c.index
            );
            assert!(c.latency_ns > 0, "request {} has zero latency", c.index);
            assert!(
                digests[c.index].is_none(),
                "request {} completed twice",
                c.index
            );
            digests[c.index] = Some(fnv1a(FNV_OFFSET, c.data));
            total += u64::from(c.bytes);
        })
        .unwrap_or_else(|e| panic!("{:?} at depth {queue_depth}: {e}", engine.kind()));
    let digest = digests.iter().enumerate().fold(FNV_OFFSET, |h, (i, d)| {
        let d = d.unwrap_or_else(|| panic!("request {i} never completed"));
        fnv1a(h, &d.to_le_bytes())
    });
    (total, digest)
}

/// Back-to-back requests of `len` bytes covering `size` bytes.
fn sequential(size: u64, len: u32) -> Vec<Request> {
    (0..size.div_ceil(u64::from(len)))
        .map(|i| Request {
            offset: i * u64::from(len),
            len,
        })
        .collect()
}

/// `sequential`, shuffled (Fisher-Yates with a fixed seed).
fn shuffled(size: u64, len: u32) -> Vec<Request> {
    let mut requests = sequential(size, len);
    let mut rng = isotune_testutil::Rng::new(0x2545_f491);
    for i in (1..requests.len()).rev() {
        let j = usize::try_from(rng.below(i as u64 + 1)).unwrap();
        requests.swap(i, j);
    }
    requests
}

/// A size that is a whole number of 2 KiB sectors but not of 4 KiB or
/// 1 MiB, so the last 4 KiB and 1 MiB requests cross the end.
const SIZE: usize = (3 << 20) + 6 * 1024;

#[test]
fn every_engine_reads_every_byte() {
    let (f, content) = pattern_file(SIZE);
    let target = Target::open(f.path(), TargetOptions::default()).unwrap();
    let size = SIZE as u64;
    let workloads = [
        ("seq 4 KiB", sequential(size, 4096)),
        ("seq 1 MiB", sequential(size, 1 << 20)),
        ("random 2 KiB", shuffled(size, 2048)),
    ];
    let expected: Vec<u64> = workloads
        .iter()
        .map(|(_, requests)| {
            requests.iter().fold(FNV_OFFSET, |h, r| {
                let end = (r.offset + u64::from(r.len)).min(size) as usize;
                fnv1a(
                    h,
                    &fnv1a(FNV_OFFSET, &content[r.offset as usize..end]).to_le_bytes(),
                )
            })
        })
        .collect();
    for mut engine in engines(&target, 32, 1 << 20) {
        for depth in [1, 4, 32] {
            for ((name, requests), want) in workloads.iter().zip(&expected) {
                let (total, digest) =
                    run_checked(engine.as_mut(), &target, requests, depth, &content);
                assert_eq!(total, size, "{:?} {name} QD{depth}", engine.kind());
                assert_eq!(digest, *want, "{:?} {name} QD{depth}", engine.kind());
            }
        }
    }
}

#[test]
fn short_read_at_the_end() {
    let (f, content) = pattern_file(10_000);
    let target = Target::open(f.path(), TargetOptions::default()).unwrap();
    let requests = [
        Request {
            offset: 8192,
            len: 4096,
        },
        Request {
            offset: 0,
            len: 4096,
        },
        Request {
            offset: 9999,
            len: 2048,
        },
    ];
    for mut engine in engines(&target, 4, 4096) {
        let (total, _) = run_checked(engine.as_mut(), &target, &requests, 4, &content);
        assert_eq!(total, (10_000 - 8192) + 4096 + 1);
    }
}

#[test]
fn empty_request_list_completes_nothing() {
    let (f, _) = pattern_file(4096);
    let target = Target::open(f.path(), TargetOptions::default()).unwrap();
    for mut engine in engines(&target, 8, 4096) {
        let mut calls = 0;
        engine.run(&target, &[], 8, &mut |_| calls += 1).unwrap();
        assert_eq!(calls, 0);
    }
}

#[test]
fn invalid_requests_are_rejected_before_any_read() {
    let (f, _) = pattern_file(8192);
    let target = Target::open(f.path(), TargetOptions::default()).unwrap();
    let ok = Request {
        offset: 0,
        len: 4096,
    };
    let cases: [(&str, Vec<Request>, u32); 4] = [
        (
            "zero length",
            vec![
                ok,
                Request {
                    offset: 4096,
                    len: 0,
                },
            ],
            1,
        ),
        (
            "too large",
            vec![
                ok,
                Request {
                    offset: 0,
                    len: 8192,
                },
            ],
            1,
        ),
        (
            "past the end",
            vec![
                ok,
                Request {
                    offset: 8192,
                    len: 2048,
                },
            ],
            1,
        ),
        ("depth 0", vec![ok], 0),
    ];
    for mut engine in engines(&target, 4, 4096) {
        for (what, requests, depth) in &cases {
            let mut calls = 0;
            let err = engine
                .run(&target, requests, *depth, &mut |_| calls += 1)
                .unwrap_err();
            assert_eq!(
                err.kind(),
                ErrorKind::InvalidInput,
                "{:?} {what}: {err}",
                engine.kind()
            );
            assert_eq!(calls, 0, "{what}");
        }
    }
}

/// O_DIRECT in the temp directory and, where it exists, in /dev/shm
/// (tmpfs, which supports O_DIRECT since Linux 6.6).
#[test]
fn direct_reads_aligned_and_rejects_misaligned() {
    let shm = std::path::Path::new("/dev/shm");
    let mut dirs = vec![std::env::temp_dir()];
    if shm.is_dir() {
        dirs.push(shm.to_owned());
    }
    for dir in &dirs {
        direct_reads_in(dir);
    }
}

fn direct_reads_in(dir: &std::path::Path) {
    // Not a multiple of any alignment, so the last request crosses the end.
    let size = (1 << 20) + 1000;
    let (f, content) = pattern_file_in(dir, size);
    let target = Target::open(f.path(), TargetOptions { direct: true })
        .unwrap_or_else(|e| panic!("O_DIRECT in {}: {e}", dir.display()));
    assert!(target.direct());
    let align = target.alignment().offset;
    let len = align.max(4096) as u32;
    let requests = shuffled(size as u64, len);
    for mut engine in engines(&target, 8, len as usize) {
        for depth in [1, 8] {
            let (total, _) = run_checked(engine.as_mut(), &target, &requests, depth, &content);
            assert_eq!(
                total,
                size as u64,
                "{:?} QD{depth} in {}",
                engine.kind(),
                dir.display()
            );
        }
        if align > 1 {
            let half = (align / 2) as u64;
            for bad in [
                Request { offset: half, len },
                Request {
                    offset: 0,
                    len: len - half as u32,
                },
            ] {
                let err = engine.run(&target, &[bad], 1, &mut |_| {}).unwrap_err();
                assert_eq!(err.kind(), ErrorKind::InvalidInput, "{bad:?}");
                assert!(err.to_string().contains("not aligned"), "{err}");
            }
        }
    }
}

#[test]
fn misalignment_message_explains_4k_devices() {
    let (f, _) = pattern_file(16384);
    let target = Target::open(f.path(), TargetOptions::default())
        .unwrap()
        .with_direct_alignment(Alignment {
            memory: 4096,
            offset: 4096,
        });
    let err = check_run(
        &target,
        &[Request {
            offset: 2048,
            len: 2048,
        }],
        1,
        1,
        4096,
    )
    .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
    let text = err.to_string();
    assert!(
        text.contains("4096-byte logical blocks") && text.contains("2048-byte ISO sectors"),
        "{text}"
    );
    assert!(check_run(
        &target,
        &[Request {
            offset: 4096,
            len: 8192
        }],
        1,
        1,
        8192
    )
    .is_ok());
}

#[test]
fn psync_and_uring_agree_on_a_large_random_run() {
    if let Err(reason) = uring_available() {
        return uring_missing(&reason);
    }
    let size = 8 << 20;
    let (f, content) = pattern_file(size);
    let target = Target::open(f.path(), TargetOptions::default()).unwrap();
    let requests = shuffled(size as u64, 4096);
    let results: Vec<(u64, u64)> = engines(&target, 64, 4096)
        .iter_mut()
        .map(|e| run_checked(e.as_mut(), &target, &requests, 64, &content))
        .collect();
    assert_eq!(results.len(), 2);
    assert_eq!(results[0], results[1]);
}

/// A deadline stops new requests but never loses one in flight: the first
/// `n` requests complete, each once, with the right bytes; then the same
/// engine runs a whole list again.
#[test]
fn a_deadline_stops_issuing_and_completes_what_is_in_flight() {
    let (f, content) = pattern_file(1 << 20);
    let target = Target::open(f.path(), TargetOptions::default()).unwrap();
    let requests = shuffled(1 << 20, 4096);
    for mut engine in engines(&target, 8, 4096) {
        let mut seen = vec![0u32; requests.len()];
        let n = engine
            .run_until(
                &target,
                &requests,
                8,
                Some(std::time::Instant::now()),
                &mut |c| {
                    seen[c.index] += 1;
                    let r = requests[c.index];
                    let at = r.offset as usize;
                    assert_eq!(c.data, &content[at..at + c.bytes as usize]);
                },
            )
            .unwrap();
        // Past the deadline at once: at most one queue's worth went out.
        assert!(
            n <= 8,
            "{:?}: {n} requests after the deadline",
            engine.kind()
        );
        assert!(seen[..n].iter().all(|&k| k == 1), "{:?}", engine.kind());
        assert!(seen[n..].iter().all(|&k| k == 0), "{:?}", engine.kind());
        let far = std::time::Instant::now() + std::time::Duration::from_secs(3600);
        let n = engine
            .run_until(&target, &requests, 8, Some(far), &mut |_| {})
            .unwrap();
        assert_eq!(n, requests.len(), "{:?}", engine.kind());
    }
}
