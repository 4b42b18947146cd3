//! Tests of the one-pass `verify` on fake images built in memory.

use super::*;
use crate::pipeline::NoProgress;
use crate::report::Verdict;
use crate::volume::tests::fake_iso;

fn write(dir: &Path, name: &str, data: &[u8]) -> std::path::PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, data).unwrap();
    p
}

#[test]
fn known_digests_of_abc() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(dir.path(), "abc", b"abc");
    let mut opts = VerifyOptions {
        algorithms: Algorithm::ALL.to_vec(),
        expected: vec![Expected::parse("900150983CD24FB0D6963F7D28E17F72").unwrap()],
        ..VerifyOptions::default()
    };
    let r = verify(&p, &opts, &NoProgress).unwrap();
    let hex: Vec<&str> = r.digests.iter().map(|d| d.hex.as_str()).collect();
    assert_eq!(hex[0], "900150983cd24fb0d6963f7d28e17f72");
    assert_eq!(hex[1], "a9993e364706816aba3e25717850c26c9cd0d89d");
    assert_eq!(
        hex[2],
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    );
    assert!(hex[3].starts_with("ddaf35a193617aba"));
    assert_eq!(r.digests[0].status, CheckStatus::Pass);
    assert_eq!(r.digests[1].status, CheckStatus::NotCompared);
    // Three bytes could be an image cut short: not "not an ISO"; either
    // way not an image, so the verification fails whatever matched.
    assert_eq!(r.truncation, TruncationResult::TooShort { file_bytes: 3 });
    assert_eq!(r.verdict, Verdict::Fail);
    assert_eq!(
        r.failed_checks,
        vec![crate::FailedCheck::TooShort { file_bytes: 3 }]
    );
    assert_eq!(r.bytes_read, 3);
    // With the truncation check off only the digests count.
    opts.truncation = TruncationCheck::Off;
    let r = verify(&p, &opts, &NoProgress).unwrap();
    assert_eq!(r.truncation, TruncationResult::NotChecked);
    assert_eq!(r.verdict, Verdict::Pass);
}

#[test]
fn truncation_and_implanted_on_a_fake_image() {
    let dir = tempfile::tempdir().unwrap();
    // The PVD claims 60 sectors; the file has 40.
    let p = write(dir.path(), "t.iso", &fake_iso(40, 60));
    let opts = VerifyOptions {
        implanted: true,
        ..VerifyOptions::default()
    };
    let r = verify(&p, &opts, &NoProgress).unwrap();
    assert_eq!(
        r.truncation,
        TruncationResult::Truncated {
            volume_bytes: 60 * 2048,
            file_bytes: 40 * 2048,
            missing_bytes: 20 * 2048
        }
    );
    assert_eq!(
        r.implanted.as_ref().unwrap().status,
        ImplantedStatus::NotImplanted
    );
    assert_eq!(r.verdict, Verdict::Fail);
    assert_eq!(r.bytes_read, 0);

    // Without CD001 the implanted check cannot run and the truncation
    // check fails: exit 1 in the binary, not an input error.
    let p = write(dir.path(), "plain", &vec![0u8; 40 * 2048]);
    let r = verify(&p, &opts, &NoProgress).unwrap();
    assert_eq!(r.truncation, TruncationResult::NotIso);
    assert_eq!(r.verdict, Verdict::Fail);
    assert_eq!(r.failed_checks, vec![crate::FailedCheck::NotIso]);
}

#[test]
fn a_file_that_ends_before_the_descriptor_is_too_short_not_not_iso() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(dir.path(), "cut.iso", &fake_iso(40, 40)[..20_000]);
    let sha256 = VerifyOptions {
        algorithms: vec![Algorithm::Sha256],
        ..VerifyOptions::default()
    };
    let r = verify(&p, &sha256, &NoProgress).unwrap();
    assert_eq!(
        r.truncation,
        TruncationResult::TooShort { file_bytes: 20_000 }
    );
    assert_eq!(r.verdict, Verdict::Fail);
    let implanted = VerifyOptions {
        implanted: true,
        ..VerifyOptions::default()
    };
    let r = verify(&p, &implanted, &NoProgress).unwrap();
    assert_eq!(r.verdict, Verdict::Fail);
    assert_eq!(
        r.failed_checks,
        vec![crate::FailedCheck::TooShort { file_bytes: 20_000 }]
    );
    {
        let opts = VerifyOptions {
            truncation: TruncationCheck::Require,
            ..VerifyOptions::default()
        };
        let e = verify(&p, &opts, &NoProgress).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Truncated);
        assert_eq!(
            e.message(),
            "the file ends at 20000 bytes, before the primary volume descriptor at \
             byte 32768: truncated or not an ISO image"
        );
    }
    // Past the signature it is surely an image, and surely cut.
    let p = write(dir.path(), "cut2.iso", &fake_iso(40, 40)[..33_000]);
    let opts = VerifyOptions {
        truncation: TruncationCheck::Require,
        ..VerifyOptions::default()
    };
    let e = verify(&p, &opts, &NoProgress).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Truncated);
    assert_eq!(
        e.message(),
        "the file ends at 33000 bytes, inside the primary volume descriptor at \
         byte 32768: the image is truncated"
    );
}

#[test]
fn the_logical_block_size_never_makes_a_volume_complete() {
    let dir = tempfile::tempdir().unwrap();
    // 60 sectors declared, 40 present, logical block size 0.
    let mut img = fake_iso(40, 60);
    img[32768 + 128..32768 + 132].fill(0);
    let p = write(dir.path(), "b0.iso", &img);
    let r = verify(&p, &VerifyOptions::default(), &NoProgress).unwrap();
    assert_eq!(
        r.truncation,
        TruncationResult::Truncated {
            volume_bytes: 60 * 2048,
            file_bytes: 40 * 2048,
            missing_bytes: 20 * 2048
        }
    );
    assert_eq!(r.verdict, Verdict::Fail);
    // A volume space size of 0 is corrupt, not complete.
    let p = write(dir.path(), "v0.iso", &fake_iso(40, 0));
    let r = verify(&p, &VerifyOptions::default(), &NoProgress).unwrap();
    assert_eq!(
        r.truncation,
        TruncationResult::InvalidVolumeSize {
            volume_bytes: 0,
            file_bytes: 40 * 2048
        }
    );
    assert_eq!(r.verdict, Verdict::Unverified);
}

#[test]
fn a_complete_volume_alone_is_unverified() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(dir.path(), "c.iso", &fake_iso(40, 40));
    let mut opts = VerifyOptions {
        algorithms: vec![Algorithm::Sha256],
        ..VerifyOptions::default()
    };
    let r = verify(&p, &opts, &NoProgress).unwrap();
    assert!(matches!(r.truncation, TruncationResult::Complete { .. }));
    assert_eq!(r.verdict, Verdict::Unverified);
    // A matching digest confirms it.
    opts.expected = vec![Expected::parse(&r.digests[0].hex).unwrap()];
    assert_eq!(
        verify(&p, &opts, &NoProgress).unwrap().verdict,
        Verdict::Pass
    );
    // Asking for an implanted MD5 the image does not have leaves it
    // unverified, distinguishably.
    opts.implanted = true;
    let r = verify(&p, &opts, &NoProgress).unwrap();
    assert_eq!(r.digests[0].status, CheckStatus::Pass);
    let implanted = r.implanted.unwrap();
    assert_eq!(implanted.status, ImplantedStatus::NotImplanted);
    assert!(implanted.missing_fields.is_empty());
    assert_eq!(r.verdict, Verdict::Unverified);
}

#[test]
fn a_record_without_skipsectors_is_incomplete() {
    let dir = tempfile::tempdir().unwrap();
    let mut img = fake_iso(40, 40);
    let record = b"ISO MD5SUM = 0123456789abcdef0123456789abcdef;FRAGMENT COUNT = 20;";
    img[32768 + 883..32768 + 883 + record.len()].copy_from_slice(record);
    let p = write(dir.path(), "i.iso", &img);
    let opts = VerifyOptions {
        implanted: true,
        ..VerifyOptions::default()
    };
    let r = verify(&p, &opts, &NoProgress).unwrap();
    let implanted = r.implanted.unwrap();
    assert_eq!(implanted.status, ImplantedStatus::Incomplete);
    assert_eq!(implanted.missing_fields, vec!["SKIPSECTORS".to_owned()]);
    // checkisomd5 hashes nothing for such a record (it says NA).
    assert_eq!(implanted.hashed_bytes, 0);
    assert_eq!(r.bytes_read, 0);
    assert_eq!(r.verdict, Verdict::Unverified);
    // Both fields named, one unreadable: still incomplete, nothing missing.
    let record = b"ISO MD5SUM = 0123456789abcdef0123456789abcdef;SKIPSECTORS = x;";
    img[32768 + 883..32768 + 883 + record.len()].copy_from_slice(record);
    std::fs::write(&p, &img).unwrap();
    let implanted = verify(&p, &opts, &NoProgress).unwrap().implanted.unwrap();
    assert_eq!(implanted.status, ImplantedStatus::Incomplete);
    assert!(implanted.missing_fields.is_empty());
}

#[test]
fn input_errors() {
    let dir = tempfile::tempdir().unwrap();
    let opts = VerifyOptions::default();
    let e = verify(&dir.path().join("missing.iso"), &opts, &NoProgress).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound);
    let e = verify(dir.path(), &opts, &NoProgress).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::IsDirectory);
    let p = write(dir.path(), "x.iso", b"x");
    let sums = write(
        dir.path(),
        "SUMS",
        b"d41d8cd98f00b204e9800998ecf8427e  other.iso\n",
    );
    let opts = VerifyOptions {
        sums_files: vec![sums],
        ..VerifyOptions::default()
    };
    let e = verify(&p, &opts, &NoProgress).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::SumsEntryMissing);
    let opts = VerifyOptions {
        truncation: TruncationCheck::Require,
        ..VerifyOptions::default()
    };
    // One byte: it ends before the descriptor.
    assert_eq!(
        verify(&p, &opts, &NoProgress).unwrap_err().kind(),
        ErrorKind::Truncated
    );
    let p = write(dir.path(), "zeros.iso", &vec![0u8; 40_000]);
    assert_eq!(
        verify(&p, &opts, &NoProgress).unwrap_err().kind(),
        ErrorKind::NotIso
    );
}
