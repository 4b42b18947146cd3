//! Tests of the workload builders.
use super::*;

fn ext(offset: u64, len: u64) -> TraceExtent {
    TraceExtent {
        offset,
        len,
        label: format!("@{offset}"),
    }
}

fn covered(requests: &[Request]) -> Vec<(u64, u64)> {
    let mut spans: Vec<(u64, u64)> = requests
        .iter()
        .map(|r| (r.offset, r.offset + u64::from(r.len)))
        .collect();
    spans.sort_unstable();
    let mut merged: Vec<(u64, u64)> = Vec::new();
    for (s, e) in spans {
        match merged.last_mut() {
            Some(last) if s <= last.1 => last.1 = last.1.max(e),
            _ => merged.push((s, e)),
        }
    }
    merged
}

#[test]
fn seq_covers_the_target_with_a_short_last_block() {
    let r = seq(5 * 2048 + 2048, 4096, None, 1).unwrap();
    assert_eq!(
        r,
        vec![
            Request {
                offset: 0,
                len: 4096
            },
            Request {
                offset: 4096,
                len: 4096
            },
            Request {
                offset: 8192,
                len: 4096
            },
        ]
    );
    let r = seq(10 << 20, 1 << 20, Some(3 << 20), 1).unwrap();
    assert_eq!(r.len(), 3);
    assert_eq!(total_bytes(&r), 3 << 20);
    let r = seq(7 * 2048, 4096, None, 1).unwrap();
    assert_eq!(
        r.last(),
        Some(&Request {
            offset: 12288,
            len: 2048
        })
    );
}

#[test]
fn seq_rounds_a_partial_sector_up() {
    let r = seq(4096 + 100, 4096, None, 1).unwrap();
    assert_eq!(
        r[1],
        Request {
            offset: 4096,
            len: 2048
        }
    );
}

#[test]
fn block_sizes_must_be_sector_multiples() {
    for bad in [0, 512, 4000, 3000] {
        assert_eq!(
            seq(1 << 20, bad, None, 1).unwrap_err().kind(),
            ErrorKind::InvalidInput
        );
        let e = rand(1 << 20, bad, 1, RandAmount::Requests(1), 1).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidInput);
        assert_eq!(
            boot(&[ext(0, 2048)], bad, 1).unwrap_err().kind(),
            ErrorKind::InvalidInput
        );
    }
    assert!(rand(1 << 20, 6144, 1, RandAmount::Requests(1), 1).is_ok());
}

#[test]
fn too_small_targets_are_refused() {
    let e = rand(2048, 4096, 1, RandAmount::Requests(1), 1).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::TooSmall);
    assert_eq!(
        seq(0, 4096, None, 1).unwrap_err().kind(),
        ErrorKind::TooSmall
    );
}

#[test]
fn rand_is_aligned_in_bounds_and_deterministic() {
    let size = (64 << 20) + 2048;
    let a = rand(size, 2048, 42, RandAmount::Requests(10_000), 1).unwrap();
    let b = rand(size, 2048, 42, RandAmount::Requests(10_000), 1).unwrap();
    let c = rand(size, 2048, 43, RandAmount::Requests(10_000), 1).unwrap();
    assert_eq!(a, b);
    assert_ne!(a, c);
    assert!(a
        .iter()
        .all(|r| r.offset.is_multiple_of(2048) && r.len == 2048));
    assert!(a.iter().all(|r| r.offset + 2048 <= size));
    // Both halves of the image are hit, and some odd sectors too.
    assert!(a.iter().any(|r| r.offset < size / 2));
    assert!(a.iter().any(|r| r.offset >= size / 2));
    assert!(a.iter().any(|r| r.offset % 4096 == 2048));
    // The very last sector is reachable (size/2048 slots).
    let tiny = rand(3 * 2048, 2048, 7, RandAmount::Requests(500), 1).unwrap();
    assert!(tiny.iter().any(|r| r.offset == 2 * 2048));
}

#[test]
fn rand_amount_in_bytes() {
    let r = rand(1 << 30, 4096, 1, RandAmount::Bytes(1 << 20), 1).unwrap();
    assert_eq!(r.len(), 256);
    let r = rand(1 << 30, 4096, 1, RandAmount::Bytes(100), 1).unwrap();
    assert_eq!(r.len(), 1);
}

#[test]
fn the_seed_fixes_the_offsets_forever() {
    // A changed generator would silently change every stored baseline.
    let r = rand(1 << 30, 4096, 1, RandAmount::Requests(3), 1).unwrap();
    let offsets: Vec<u64> = r.iter().map(|r| r.offset).collect();
    let mut rng = SplitMix64::new(1);
    assert_eq!(rng.next_u64(), 0x910a_2dec_8902_5cc1);
    assert_eq!(offsets, vec![608_337_920, 800_774_144, 1_042_604_032]);
    assert!(offsets.iter().all(|o| o.is_multiple_of(2048)));
}

#[test]
fn direct_alignment_rounds_offsets_down_and_lengths_up() {
    let r = rand(1 << 20, 2048, 9, RandAmount::Requests(1000), 4096).unwrap();
    assert!(r
        .iter()
        .all(|r| r.offset.is_multiple_of(4096) && r.len == 4096));
    let r = boot(&[ext(2048, 2048 * 3)], 2048, 4096).unwrap();
    assert_eq!(
        r,
        vec![
            Request {
                offset: 0,
                len: 4096
            },
            Request {
                offset: 4096,
                len: 4096
            },
            Request {
                offset: 4096,
                len: 4096
            },
        ]
    );
    let r = seq(3 * 2048, 2048, None, 512).unwrap();
    assert_eq!(r.len(), 3);
}

#[test]
fn boot_cut_up_equals_the_extents_in_order() {
    let extents = vec![
        ext(16 * 2048, 2048),
        ext(17 * 2048, 2048),
        ext(20 * 2048, 2048 * 2),
        ext(100 * 2048, 2048 * 37),
        ext(1000 * 2048, 5 << 20),
    ];
    for request in [2048u32, 16 << 10, 128 << 10, 1 << 20] {
        let r = boot(&extents, request, 1).unwrap();
        assert!(r.iter().all(|q| q.len <= request && q.len > 0));
        // Exactly the extents' bytes, in order, nothing twice.
        assert_eq!(total_bytes(&r), extents.iter().map(|e| e.len).sum::<u64>());
        let mut pos = 0usize;
        for e in &extents {
            let mut at = e.offset;
            while at < e.offset + e.len {
                assert_eq!(r[pos].offset, at, "request {pos} at {request}");
                at += u64::from(r[pos].len);
                pos += 1;
            }
            assert_eq!(at, e.offset + e.len);
        }
        assert_eq!(pos, r.len());
        let mut want: Vec<(u64, u64)> = extents
            .iter()
            .map(|e| (e.offset, e.offset + e.len))
            .collect();
        want.sort_unstable();
        let want = covered(
            &want
                .iter()
                .map(|&(s, e)| Request {
                    offset: s,
                    len: u32::try_from(e - s).unwrap(),
                })
                .collect::<Vec<_>>(),
        );
        assert_eq!(covered(&r), want);
    }
}

#[test]
fn boot_last_piece_is_shorter_and_partial_sectors_round_up() {
    let r = boot(&[ext(0, 5 * 2048 + 10)], 4096, 1).unwrap();
    let lens: Vec<u32> = r.iter().map(|q| q.len).collect();
    assert_eq!(lens, vec![4096, 4096, 4096]);
    let r = boot(&[ext(0, 5 * 2048)], 4096, 1).unwrap();
    let lens: Vec<u32> = r.iter().map(|q| q.len).collect();
    assert_eq!(lens, vec![4096, 4096, 2048]);
}

#[test]
fn empty_boot_trace_is_a_workload_error() {
    let e = boot(&[], 2048, 1).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Workload);
    assert!(e.to_string().contains("nothing to replay"), "{e}");
    assert_eq!(
        boot(&[ext(0, 0)], 2048, 1).unwrap_err().kind(),
        ErrorKind::Workload
    );
}

#[test]
fn truncation_keeps_a_prefix_of_at_least_one_request() {
    let mut r = seq(10 << 20, 1 << 20, None, 1).unwrap();
    truncate_to_bytes(&mut r, (3 << 20) + 5);
    assert_eq!(r.len(), 3);
    truncate_to_bytes(&mut r, 1);
    assert_eq!(r.len(), 1);
}

#[test]
fn names_and_profiles() {
    assert_eq!(WorkloadSpec::seq(1 << 20).default_name(), "seq-1m");
    assert_eq!(WorkloadSpec::rand(2048, 1).default_name(), "rand-2k");
    assert_eq!(
        WorkloadSpec::boot(BootProfile::BiosIde).default_name(),
        "boot-bios-ide"
    );
    assert_eq!(
        WorkloadSpec::boot_custom(24 << 10).default_name(),
        "boot-24k"
    );
    assert_eq!(
        WorkloadSpec::boot(BootProfile::LinuxVirtio).request_bytes(),
        1 << 20
    );
    assert_eq!(
        "linux-ide".parse::<BootProfile>().unwrap(),
        BootProfile::LinuxIde
    );
    assert_eq!(
        "nope".parse::<BootProfile>().unwrap_err().kind(),
        ErrorKind::InvalidInput
    );
    let json = serde_json::to_string(&WorkloadSpec::boot(BootProfile::BiosIde)).unwrap();
    assert_eq!(
        json,
        r#"{"kind":"boot","profile":"bios-ide","request_bytes":2048}"#
    );
    let back: WorkloadSpec = serde_json::from_str(&json).unwrap();
    assert_eq!(back, WorkloadSpec::boot(BootProfile::BiosIde));
}

#[test]
fn build_dispatches_and_applies_the_limit() {
    let trace = [ext(0, 8 << 20)];
    let spec = WorkloadSpec::boot(BootProfile::LinuxIde);
    let r = spec.build(16 << 20, 1, Some(1 << 20), &trace).unwrap();
    assert_eq!(total_bytes(&r), 1 << 20);
    let r = WorkloadSpec::rand(4096, 5)
        .build(1 << 20, 1, None, &[])
        .unwrap();
    assert_eq!(total_bytes(&r), 1 << 20);
}

#[test]
fn plans_beyond_the_request_and_size_limits_are_refused_before_allocating() {
    // 1000 GiB of 4 KiB random reads: 262144000 requests, refused.
    let e = rand(1 << 30, 4096, 1, RandAmount::Bytes(1000 << 30), 1).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput);
    assert!(e.to_string().contains("262144000 requests"), "{e}");
    // Exactly the limit is fine in principle; one more is not.
    let e = rand(1 << 30, 2048, 1, RandAmount::Requests(MAX_REQUESTS + 1), 1).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput);
    // 2 KiB sequential reads of a 64 GiB device: 32 Mi requests, refused.
    let e = seq(64 << 30, 2048, None, 1).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput);
    assert!(seq(64 << 30, 1 << 20, None, 1).is_ok());
    // Requests larger than 16 MiB are refused.
    let e = seq(1 << 30, 32 << 20, None, 1).unwrap_err();
    assert!(e.to_string().contains("larger than the limit"), "{e}");
}
