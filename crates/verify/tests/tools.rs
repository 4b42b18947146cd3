//! Integration tests against the real tools: coreutils digests, xorriso,
//! implantisomd5 and checkisomd5. Each test skips when a tool is missing,
//! unless `ISOTUNE_REQUIRE_TOOLS=1`.

use isotune_testutil as common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{run, tool};
use isotune_verify::{
    implant_in_place, implant_to_copy, verify, Algorithm, CheckStatus, ErrorKind, Expected,
    ExpectedSource, ImplantedStatus, NoProgress, TruncationResult, Verdict, VerifyOptions,
    VerifyReport,
};

/// Deterministic, incompressible-looking bytes.
fn pseudo_random(len: usize, seed: u64) -> Vec<u8> {
    isotune_testutil::Rng::new(seed).bytes(len)
}

/// Builds an ISO with `xorriso -as mkisofs` holding one file of
/// `payload` bytes; `None` when xorriso is missing.
fn make_iso(dir: &Path, name: &str, payload: usize) -> Option<PathBuf> {
    let tree = dir.join(format!("{name}.tree"));
    common::put(
        &tree,
        "payload.bin",
        &pseudo_random(payload, payload as u64),
    );
    common::put(&tree, "boot/readme.txt", b"hello\n");
    let iso = dir.join(name);
    common::mkisofs(&tree, &iso, &["-R", "-J", "-V", "TEST"])?;
    Some(iso)
}

/// The first field of a coreutils digest tool's output.
fn coreutils(tool_name: &str, path: &Path) -> Option<String> {
    let t = tool(tool_name)?;
    let out = run(Command::new(t).arg(path));
    Some(out.split_whitespace().next().unwrap().to_owned())
}

/// checkisomd5's verdict: "PASS", "FAIL" or "NA" (it exits 1 for both of
/// the latter, so the text is what tells them apart).
fn checkisomd5(path: &Path) -> Option<String> {
    let t = tool("checkisomd5")?;
    let out = Command::new(t).arg(path).output().unwrap();
    let text =
        String::from_utf8_lossy(&out.stderr).into_owned() + &String::from_utf8_lossy(&out.stdout);
    let verdict = text
        .split("the result is: ")
        .nth(1)
        .and_then(|r| r.split('.').next())
        .unwrap_or_else(|| panic!("unexpected checkisomd5 output: {text}"))
        .to_owned();
    assert_eq!(out.status.success(), verdict == "PASS", "{text}");
    Some(verdict)
}

fn implantisomd5(path: &Path, force: bool) -> Option<std::process::Output> {
    let t = tool("implantisomd5")?;
    let mut cmd = Command::new(t);
    if force {
        cmd.arg("--force");
    }
    Some(cmd.arg(path).output().unwrap())
}

fn check_implanted(path: &Path) -> VerifyReport {
    let opts = VerifyOptions {
        implanted: true,
        ..VerifyOptions::default()
    };
    verify(path, &opts, &NoProgress).unwrap()
}

fn status(path: &Path) -> ImplantedStatus {
    check_implanted(path).implanted.unwrap().status
}

fn sha256_of(path: &Path) -> String {
    let opts = VerifyOptions {
        algorithms: vec![Algorithm::Sha256],
        ..VerifyOptions::default()
    };
    verify(path, &opts, &NoProgress).unwrap().digests[0]
        .hex
        .clone()
}

#[test]
fn digests_equal_coreutils_on_several_sizes() {
    let dir = tempfile::tempdir().unwrap();
    let mut files = Vec::new();
    for (i, len) in [0usize, 1, 65_536 * 3 + 17, (4 << 20) + 12_345]
        .into_iter()
        .enumerate()
    {
        let p = dir.path().join(format!("f{i}"));
        std::fs::write(&p, pseudo_random(len, i as u64)).unwrap();
        files.push(p);
    }
    if let Some(iso) = make_iso(dir.path(), "x.iso", 3 << 20) {
        files.push(iso);
    }
    let tools = [
        (Algorithm::Md5, "md5sum"),
        (Algorithm::Sha1, "sha1sum"),
        (Algorithm::Sha256, "sha256sum"),
        (Algorithm::Sha512, "sha512sum"),
    ];
    for path in &files {
        // The default chunking and a small one that does not divide the sizes.
        for chunk_size in [isotune_verify::pipeline::DEFAULT_CHUNK_SIZE, 40_960] {
            let opts = VerifyOptions {
                algorithms: Algorithm::ALL.to_vec(),
                chunk_size,
                ..VerifyOptions::default()
            };
            let r = verify(path, &opts, &NoProgress).unwrap();
            assert_eq!(r.bytes_read, std::fs::metadata(path).unwrap().len());
            for (algorithm, name) in tools {
                let Some(want) = coreutils(name, path) else {
                    return;
                };
                let got = r.digests.iter().find(|d| d.algorithm == algorithm).unwrap();
                assert_eq!(got.hex, want, "{name} {}", path.display());
                assert_eq!(got.status, CheckStatus::NotCompared);
            }
        }
    }
}

#[test]
fn ours_accepts_what_implantisomd5_wrote_byte_for_byte() {
    let dir = tempfile::tempdir().unwrap();
    let Some(iso) = make_iso(dir.path(), "a.iso", 3 << 20) else {
        return;
    };
    assert_eq!(status(&iso), ImplantedStatus::NotImplanted);
    assert_eq!(checkisomd5(&iso).as_deref().unwrap_or("NA"), "NA");
    // What we would write, computed before the real tool writes.
    let ours = isotune_verify::implant_dry_run(&iso, false, &NoProgress).unwrap();
    let Some(out) = implantisomd5(&iso, false) else {
        return;
    };
    assert!(out.status.success());
    let stdout = String::from_utf8_lossy(&out.stdout);
    let tool_md5 = stdout
        .lines()
        .find_map(|l| l.strip_prefix("md5 = "))
        .unwrap();

    let r = check_implanted(&iso);
    let implanted = r.implanted.unwrap();
    assert_eq!(implanted.status, ImplantedStatus::Pass);
    assert_eq!(implanted.actual_md5.as_deref(), Some(tool_md5));
    assert_eq!(r.verdict, Verdict::Pass);

    // Same record, same bytes in the application area.
    assert_eq!(implanted.record.as_ref(), Some(&ours.record));
    let image = std::fs::read(&iso).unwrap();
    let at = isotune_iso::md5record::APP_USE_OFFSET as usize;
    assert_eq!(
        &image[at..at + 512],
        &ours.record.format().unwrap()[..],
        "app area differs from implantisomd5's"
    );
    // A chunk size that is not a multiple of checkisomd5's 32 KiB reads.
    let opts = VerifyOptions {
        implanted: true,
        chunk_size: 40_960,
        ..VerifyOptions::default()
    };
    let r = verify(&iso, &opts, &NoProgress).unwrap();
    assert_eq!(r.implanted.unwrap().status, ImplantedStatus::Pass);
}

#[test]
fn checkisomd5_accepts_what_we_implant_to_a_copy() {
    let dir = tempfile::tempdir().unwrap();
    let Some(iso) = make_iso(dir.path(), "b.iso", 2 << 20) else {
        return;
    };
    let before = sha256_of(&iso);
    let copy = dir.path().join("b-implanted.iso");
    let r = implant_to_copy(&iso, &copy, false, &NoProgress).unwrap();
    assert_eq!(r.written.as_deref(), Some(copy.as_path()));
    assert_eq!(sha256_of(&iso), before, "the source changed");
    assert_eq!(status(&iso), ImplantedStatus::NotImplanted);
    assert_eq!(status(&copy), ImplantedStatus::Pass);
    if let Some(v) = checkisomd5(&copy) {
        assert_eq!(v, "PASS");
        assert_eq!(checkisomd5(&iso).unwrap(), "NA");
    }
    // Never overwrite an existing output.
    let e = implant_to_copy(&iso, &copy, true, &NoProgress).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::OutputExists);
}

#[test]
fn in_place_force_and_refusal_agree_with_implantisomd5() {
    let dir = tempfile::tempdir().unwrap();
    let Some(iso) = make_iso(dir.path(), "c.iso", 2 << 20) else {
        return;
    };
    implant_in_place(&iso, false, &NoProgress).unwrap();
    if let Some(v) = checkisomd5(&iso) {
        assert_eq!(v, "PASS");
    }
    // Used area: both refuse without force, both overwrite with it.
    let e = implant_in_place(&iso, false, &NoProgress).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::AppAreaInUse);
    if let Some(out) = implantisomd5(&iso, false) {
        assert!(!out.status.success());
        assert!(String::from_utf8_lossy(&out.stderr).contains("Application data has been used"));
    }
    let again = implant_in_place(&iso, true, &NoProgress).unwrap();
    assert!(again.overwrote_used_area);
    assert!(again.replaced.is_some());
    if let Some(out) = implantisomd5(&iso, true) {
        assert!(out.status.success());
        assert_eq!(status(&iso), ImplantedStatus::Pass);
    }
}

#[test]
fn a_flipped_byte_fails_in_both() {
    let dir = tempfile::tempdir().unwrap();
    let Some(iso) = make_iso(dir.path(), "d.iso", 3 << 20) else {
        return;
    };
    implant_in_place(&iso, false, &NoProgress).unwrap();
    let mut image = std::fs::read(&iso).unwrap();
    let at = image.len() / 2; // inside the payload, far after the PVD
    image[at] ^= 0x40;
    std::fs::write(&iso, &image).unwrap();
    let r = check_implanted(&iso);
    let implanted = r.implanted.unwrap();
    assert_eq!(implanted.status, ImplantedStatus::Fail);
    assert_ne!(implanted.actual_md5, implanted.expected_md5);
    let fragment = implanted.failed_fragment.expect("a fragment fails first");
    let fragment_bytes = implanted.covered_bytes / 21;
    assert!(
        fragment * fragment_bytes >= at as u64 - 32_768,
        "fragment {fragment}"
    );
    assert_eq!(r.verdict, Verdict::Fail);
    if let Some(v) = checkisomd5(&iso) {
        assert_eq!(v, "FAIL");
    }
}

#[test]
fn tiny_images_match_checkisomd5_both_ways() {
    // Under ~700 KiB a 32 KiB read spans several fragments; implantisomd5's
    // record then fails checkisomd5. We must agree with checkisomd5 on it,
    // and our own record must pass.
    let dir = tempfile::tempdir().unwrap();
    let Some(iso) = make_iso(dir.path(), "tiny.iso", 1000) else {
        return;
    };
    let copy = dir.path().join("tiny-ours.iso");
    implant_to_copy(&iso, &copy, false, &NoProgress).unwrap();
    assert_eq!(status(&copy), ImplantedStatus::Pass);
    if let Some(v) = checkisomd5(&copy) {
        assert_eq!(v, "PASS");
    }
    if implantisomd5(&iso, false).is_some() {
        let theirs = checkisomd5(&iso).unwrap();
        let ours = status(&iso);
        let ours = match ours {
            ImplantedStatus::Pass => "PASS",
            ImplantedStatus::Fail => "FAIL",
            _ => "NA",
        };
        assert_eq!(ours, theirs);
    }
}

#[test]
fn truncated_images_are_detected() {
    let dir = tempfile::tempdir().unwrap();
    let Some(iso) = make_iso(dir.path(), "e.iso", 2 << 20) else {
        return;
    };
    implant_in_place(&iso, false, &NoProgress).unwrap();
    let full = std::fs::metadata(&iso).unwrap().len();
    let cut = full - 300 * 1024;
    std::fs::OpenOptions::new()
        .write(true)
        .open(&iso)
        .unwrap()
        .set_len(cut)
        .unwrap();
    let r = check_implanted(&iso);
    match r.truncation {
        TruncationResult::Truncated {
            missing_bytes,
            file_bytes,
            volume_bytes,
        } => {
            assert_eq!(file_bytes, cut);
            assert_eq!(volume_bytes - file_bytes, missing_bytes);
            assert!(missing_bytes >= 300 * 1024 - (full - volume_bytes));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(r.implanted.unwrap().status, ImplantedStatus::Fail);
    assert_eq!(r.verdict, Verdict::Fail);
    if let Some(v) = checkisomd5(&iso) {
        assert_eq!(v, "FAIL");
    }
    let e = implant_in_place(&iso, true, &NoProgress).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Truncated);
}

#[test]
fn sums_files_in_both_styles_and_expect_of_each_length() {
    let dir = tempfile::tempdir().unwrap();
    let Some(iso) = make_iso(dir.path(), "f.iso", 1 << 20) else {
        return;
    };
    // A name that coreutils escapes: a backslash.
    let odd = dir.path().join("we\\ird.iso");
    std::fs::copy(&iso, &odd).unwrap();
    let tools = [
        (Algorithm::Md5, "md5sum"),
        (Algorithm::Sha1, "sha1sum"),
        (Algorithm::Sha256, "sha256sum"),
        (Algorithm::Sha512, "sha512sum"),
    ];
    for (algorithm, name) in tools {
        let Some(t) = tool(name) else { return };
        for image in [&iso, &odd] {
            for tag in [false, true] {
                let mut cmd = Command::new(&t);
                cmd.current_dir(dir.path());
                if tag {
                    cmd.arg("--tag");
                }
                let text = run(cmd.arg(image.file_name().unwrap()));
                let sums = dir.path().join(format!("{name}-{tag}.sums"));
                std::fs::write(&sums, format!("# made by {name}\n\n{text}garbage line\n")).unwrap();
                let opts = VerifyOptions {
                    sums_files: vec![sums.clone()],
                    ..VerifyOptions::default()
                };
                let r = verify(image, &opts, &NoProgress).unwrap();
                assert_eq!(r.digests.len(), 1);
                assert_eq!(r.digests[0].algorithm, algorithm);
                assert_eq!(r.digests[0].status, CheckStatus::Pass, "{text}");
                assert!(matches!(
                    r.digests[0].expected[0].source,
                    ExpectedSource::SumsFile { line: 3, .. }
                ));
                assert_eq!(r.sums_files[0].malformed_lines, 1);
                assert_eq!(r.verdict, Verdict::Pass);

                // --expect with the same value, in upper case, and a wrong one.
                let hex = r.digests[0].hex.clone();
                let mut wrong = hex.clone().into_bytes();
                wrong[0] = if wrong[0] == b'0' { b'1' } else { b'0' };
                let opts = VerifyOptions {
                    expected: vec![Expected::parse(&hex.to_uppercase()).unwrap()],
                    ..VerifyOptions::default()
                };
                let r = verify(image, &opts, &NoProgress).unwrap();
                assert_eq!(r.digests[0].status, CheckStatus::Pass);
                let opts = VerifyOptions {
                    expected: vec![Expected::parse(std::str::from_utf8(&wrong).unwrap()).unwrap()],
                    ..VerifyOptions::default()
                };
                let r = verify(image, &opts, &NoProgress).unwrap();
                assert_eq!(r.digests[0].status, CheckStatus::Fail);
                assert_eq!(r.verdict, Verdict::Fail);
            }
        }
    }
}

#[test]
fn several_algorithms_for_one_image_are_all_used() {
    let dir = tempfile::tempdir().unwrap();
    let Some(iso) = make_iso(dir.path(), "g.iso", 1 << 20) else {
        return;
    };
    let (Some(md5), Some(sha256)) = (coreutils("md5sum", &iso), coreutils("sha256sum", &iso))
    else {
        return;
    };
    let sums = dir.path().join("CHECKSUMS");
    std::fs::write(
        &sums,
        format!("{md5}  g.iso\nSHA256 (other.iso) = {sha256}\nSHA256 (./g.iso) = {sha256}\n"),
    )
    .unwrap();
    let opts = VerifyOptions {
        sums_files: vec![sums],
        implanted: true,
        ..VerifyOptions::default()
    };
    let r = verify(&iso, &opts, &NoProgress).unwrap();
    let algos: Vec<Algorithm> = r.digests.iter().map(|d| d.algorithm).collect();
    assert_eq!(algos, [Algorithm::Md5, Algorithm::Sha256]);
    assert!(r.digests.iter().all(|d| d.status == CheckStatus::Pass));
    assert_eq!(r.sums_files[0].matched_entries, 2);
    // Not implanted: nothing failed, but the implanted check could not pass.
    assert_eq!(r.verdict, Verdict::Unverified);
    let json = serde_json::to_value(&r).unwrap();
    assert_eq!(json["schema_version"], 2);
    assert_eq!(json["implanted"]["status"], "not-implanted");
    assert_eq!(json["truncation"]["status"], "complete");
}

/// Cuts `iso` to its first `len` bytes in a new file.
fn cut_copy(iso: &Path, name: &str, len: usize) -> PathBuf {
    let cut = iso.with_file_name(name);
    std::fs::write(&cut, &std::fs::read(iso).unwrap()[..len]).unwrap();
    cut
}

#[test]
fn a_download_cut_before_the_descriptor_is_too_short_not_not_an_iso() {
    let dir = tempfile::tempdir().unwrap();
    let Some(iso) = make_iso(dir.path(), "g.iso", 1 << 20) else {
        return;
    };
    // What `isotune verify cut.iso` asks for by default.
    let sha256 = VerifyOptions {
        algorithms: vec![Algorithm::Sha256],
        ..VerifyOptions::default()
    };
    let cut = cut_copy(&iso, "cut20k.iso", 20_000);
    let r = verify(&cut, &sha256, &NoProgress).unwrap();
    assert_eq!(
        r.truncation,
        TruncationResult::TooShort { file_bytes: 20_000 }
    );
    // A fragment of a download is a failed check (exit 1), not unverified.
    assert_eq!(r.verdict, Verdict::Fail);
    // checkisomd5 1.2.5 never returns on this file (its descriptor loop
    // keeps reading at end of file), so it is not run here.
    let opts = VerifyOptions {
        implanted: true,
        ..VerifyOptions::default()
    };
    assert_eq!(
        verify(&cut, &opts, &NoProgress).unwrap().verdict,
        Verdict::Fail
    );
    let require = VerifyOptions {
        truncation: isotune_verify::TruncationCheck::Require,
        ..VerifyOptions::default()
    };
    let e = verify(&cut, &require, &NoProgress).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Truncated);
    assert_eq!(
        e.to_string(),
        format!(
            "{}: the file ends at 20000 bytes, before the primary volume descriptor at byte \
             32768: truncated or not an ISO image",
            cut.display()
        )
    );
    let e = implant_in_place(&cut, true, &NoProgress).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Truncated);

    // Cut inside the descriptor: the signature is there, the rest is not.
    let cut = cut_copy(&iso, "cut33k.iso", 33_000);
    let r = verify(&cut, &sha256, &NoProgress).unwrap();
    assert_eq!(
        r.truncation,
        TruncationResult::TooShort { file_bytes: 33_000 }
    );
    // Cut after it: the volume size is known, so this is plainly truncated.
    let cut = cut_copy(&iso, "cut40k.iso", 40_000);
    let r = verify(&cut, &sha256, &NoProgress).unwrap();
    assert!(
        matches!(
            r.truncation,
            TruncationResult::Truncated {
                file_bytes: 40_000,
                ..
            }
        ),
        "{:?}",
        r.truncation
    );
    assert_eq!(r.verdict, Verdict::Fail);
    // Bytes that exist and are not CD001 are "not an ISO".
    let other = dir.path().join("other.bin");
    std::fs::write(&other, pseudo_random(40_000, 7)).unwrap();
    let r = verify(&other, &sha256, &NoProgress).unwrap();
    assert_eq!(r.truncation, TruncationResult::NotIso);
    assert_eq!(r.verdict, Verdict::Fail);
    assert_eq!(
        verify(&other, &opts, &NoProgress).unwrap().verdict,
        Verdict::Fail
    );
    assert_eq!(
        verify(&other, &require, &NoProgress).unwrap_err().kind(),
        ErrorKind::NotIso
    );
}

#[test]
fn a_complete_image_is_unverified_until_something_confirms_it() {
    let dir = tempfile::tempdir().unwrap();
    let Some(iso) = make_iso(dir.path(), "h.iso", 1 << 20) else {
        return;
    };
    let r = verify(
        &iso,
        &VerifyOptions {
            algorithms: vec![Algorithm::Sha256],
            implanted: true,
            ..VerifyOptions::default()
        },
        &NoProgress,
    )
    .unwrap();
    assert!(matches!(r.truncation, TruncationResult::Complete { .. }));
    assert_eq!(r.implanted.unwrap().status, ImplantedStatus::NotImplanted);
    assert_eq!(r.verdict, Verdict::Unverified);
    let r = verify(
        &iso,
        &VerifyOptions {
            algorithms: vec![Algorithm::Sha256],
            ..VerifyOptions::default()
        },
        &NoProgress,
    )
    .unwrap();
    assert_eq!(r.verdict, Verdict::Unverified);
    let with_expected = VerifyOptions {
        expected: vec![Expected::parse(&r.digests[0].hex).unwrap()],
        ..VerifyOptions::default()
    };
    assert_eq!(
        verify(&iso, &with_expected, &NoProgress).unwrap().verdict,
        Verdict::Pass
    );
}

#[test]
fn a_record_without_skipsectors_is_incomplete_and_checkisomd5_says_na() {
    let dir = tempfile::tempdir().unwrap();
    let Some(iso) = make_iso(dir.path(), "k.iso", 2 << 20) else {
        return;
    };
    let Some(out) = implantisomd5(&iso, false) else {
        return;
    };
    assert!(out.status.success());
    assert_eq!(status(&iso), ImplantedStatus::Pass);
    // Blank out the SKIPSECTORS field of implantisomd5's own record: the
    // MD5 is still right, so hashing anyway would wrongly pass.
    let mut image = std::fs::read(&iso).unwrap();
    let at = isotune_iso::md5record::APP_USE_OFFSET as usize;
    let area = &mut image[at..at + 512];
    let field = b"SKIPSECTORS = 15;";
    let i = area
        .windows(field.len())
        .position(|w| w == field)
        .expect("implantisomd5 writes SKIPSECTORS");
    area[i..i + field.len()].fill(b' ');
    std::fs::write(&iso, &image).unwrap();

    let r = check_implanted(&iso);
    let implanted = r.implanted.unwrap();
    assert_eq!(implanted.status, ImplantedStatus::Incomplete);
    assert_eq!(implanted.missing_fields, vec!["SKIPSECTORS".to_owned()]);
    assert_eq!(implanted.hashed_bytes, 0);
    assert_eq!(r.verdict, Verdict::Unverified);
    if let Some(v) = checkisomd5(&iso) {
        assert_eq!(v, "NA");
    }
    // Both tools treat the area as used.
    let e = implant_in_place(&iso, false, &NoProgress).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::AppAreaInUse);
    if let Some(out) = implantisomd5(&iso, false) {
        assert!(!out.status.success());
    }
}

#[test]
fn a_missing_image_is_named_once_in_the_error_chain() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.iso");
    let e = verify(&missing, &VerifyOptions::default(), &NoProgress).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound);
    let source = std::error::Error::source(&e).expect("the io error is the source");
    let shown = format!("{e}: {source}");
    assert_eq!(
        shown,
        format!("{}: cannot open: {source}", missing.display())
    );
    assert!(!e.to_string().contains(&source.to_string()));
}

/// Issue 15: with `--md5 --implanted` the plain MD5 and checkisomd5's run
/// interleaved on one thread. Each must still equal its tool's: md5sum,
/// sha256sum and checkisomd5, on an intact, a damaged and a cut image, for
/// pipeline chunks that do and do not line up with blocks and 32 KiB reads.
#[test]
fn regression_15_md5_sha256_and_implanted_in_one_pass_equal_the_tools() {
    let dir = tempfile::tempdir().unwrap();
    let Some(iso) = make_iso(dir.path(), "p.iso", 3 << 20) else {
        return;
    };
    let Some(out) = implantisomd5(&iso, false) else {
        return;
    };
    assert!(out.status.success(), "{out:?}");
    let mut damaged = std::fs::read(&iso).unwrap();
    let at = damaged.len() / 2;
    damaged[at] ^= 0x01;
    let damaged_path = dir.path().join("damaged.iso");
    std::fs::write(&damaged_path, &damaged).unwrap();
    let cut = cut_copy(&iso, "cut.iso", damaged.len() - 100_000);
    for (path, verdict) in [(&iso, "PASS"), (&damaged_path, "FAIL"), (&cut, "FAIL")] {
        let (Some(md5), Some(sha256), Some(checked)) = (
            coreutils("md5sum", path),
            coreutils("sha256sum", path),
            checkisomd5(path),
        ) else {
            return;
        };
        assert_eq!(checked, verdict, "{}", path.display());
        // The implanted check alone (no pairing) for its MD5.
        let alone = check_implanted(path).implanted.unwrap();
        for chunk_size in [4096, 100_003, 1 << 20] {
            let opts = VerifyOptions {
                algorithms: vec![Algorithm::Md5, Algorithm::Sha256],
                implanted: true,
                chunk_size,
                ..VerifyOptions::default()
            };
            let r = verify(path, &opts, &NoProgress).unwrap();
            let case = format!("{} chunk {chunk_size}", path.display());
            assert_eq!(r.digests[0].hex, md5, "{case}");
            assert_eq!(r.digests[1].hex, sha256, "{case}");
            let implanted = r.implanted.unwrap();
            let status = if verdict == "PASS" {
                ImplantedStatus::Pass
            } else {
                ImplantedStatus::Fail
            };
            assert_eq!(implanted.status, status, "{case}");
            assert_eq!(implanted.actual_md5, alone.actual_md5, "{case}");
            assert_eq!(implanted.failed_fragment, alone.failed_fragment, "{case}");
            // The two MD5s differ: checkisomd5's blanks the application area
            // and stops before the last sectors.
            assert_ne!(
                implanted.actual_md5.as_deref(),
                Some(md5.as_str()),
                "{case}"
            );
        }
    }
}
