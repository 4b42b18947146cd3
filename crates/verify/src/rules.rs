//! The pure rules that turn what one pass read into results: the volume
//! size against the file size, a partial implanted record, and the overall
//! verdict. No I/O here, so each rule is tested on literal values.

use crate::report::{
    CheckStatus, DigestResult, FailedCheck, ImplantedResult, ImplantedStatus, TruncationResult,
    Verdict,
};
use crate::volume::{VolumeHead, SECTOR_BYTES};

/// The fields checkisomd5 requires that the application area does not
/// mention, when it mentions one of them: `Some` means a partial record
/// (`Some(empty)` when both appear but one does not parse). `None` when
/// neither appears, i.e. there is no record at all. Called only when
/// [`isotune_iso::md5record::parse`] found no record, which needs both fields exactly as
/// isomd5sum's `parsepvd()` does.
pub(crate) fn partial_record(app_use: &[u8]) -> Option<Vec<String>> {
    const REQUIRED: [&str; 2] = ["ISO MD5SUM", "SKIPSECTORS"];
    let mentions = |key: &str| app_use.windows(key.len()).any(|w| w == key.as_bytes());
    if !REQUIRED.iter().any(|k| mentions(k)) {
        return None;
    }
    Some(
        REQUIRED
            .iter()
            .filter(|k| !mentions(k))
            .map(|k| (*k).to_owned())
            .collect(),
    )
}

/// A volume smaller than this cannot hold its own primary volume
/// descriptor (sector 16), so its declared size is corrupt.
const MIN_VOLUME_BYTES: u64 = 17 * SECTOR_BYTES;

pub(crate) fn truncation(head: &VolumeHead, file_bytes: u64) -> TruncationResult {
    let volume_bytes = head.volume_bytes;
    if volume_bytes < MIN_VOLUME_BYTES {
        TruncationResult::InvalidVolumeSize {
            volume_bytes,
            file_bytes,
        }
    } else if file_bytes < volume_bytes {
        TruncationResult::Truncated {
            volume_bytes,
            file_bytes,
            missing_bytes: volume_bytes - file_bytes,
        }
    } else {
        TruncationResult::Complete {
            volume_bytes,
            file_bytes,
        }
    }
}

/// Every failed check, for [`crate::VerifyReport::failed_checks`].
pub(crate) fn failed_checks(
    digests: &[DigestResult],
    implanted: Option<&ImplantedResult>,
    truncation: &TruncationResult,
) -> Vec<FailedCheck> {
    let mut out: Vec<FailedCheck> = digests
        .iter()
        .filter(|d| d.status == CheckStatus::Fail)
        .map(|d| FailedCheck::DigestMismatch {
            algorithm: d.algorithm,
        })
        .collect();
    if implanted.is_some_and(|i| i.status == ImplantedStatus::Fail) {
        out.push(FailedCheck::ImplantedMd5Mismatch);
    }
    match *truncation {
        TruncationResult::Truncated { missing_bytes, .. } => {
            out.push(FailedCheck::Truncated { missing_bytes });
        }
        TruncationResult::TooShort { file_bytes } => out.push(FailedCheck::TooShort { file_bytes }),
        TruncationResult::NotIso => out.push(FailedCheck::NotIso),
        _ => {}
    }
    out
}

pub(crate) fn verdict(
    digests: &[DigestResult],
    implanted: Option<&ImplantedResult>,
    truncation: &TruncationResult,
) -> Verdict {
    let implanted_status = implanted.map(|i| i.status);
    let failed = digests.iter().any(|d| d.status == CheckStatus::Fail)
        || implanted_status == Some(ImplantedStatus::Fail)
        || truncation.failed();
    if failed {
        return Verdict::Fail;
    }
    // A check that was asked for and could not run leaves the image
    // unverified, whatever else matched.
    if matches!(
        implanted_status,
        Some(ImplantedStatus::NotImplanted | ImplantedStatus::Incomplete)
    ) {
        return Verdict::Unverified;
    }
    // Only a comparison with a known value confirms content; a complete
    // volume does not.
    let passed = digests.iter().any(|d| d.status == CheckStatus::Pass)
        || implanted_status == Some(ImplantedStatus::Pass);
    if passed {
        Verdict::Pass
    } else {
        Verdict::Unverified
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::algorithm::Algorithm;

    #[test]
    fn verdict_rule() {
        let digest = |status| DigestResult {
            algorithm: Algorithm::Sha256,
            hex: String::new(),
            expected: Vec::new(),
            status,
        };
        let implanted = |status| ImplantedResult {
            status,
            missing_fields: Vec::new(),
            record: None,
            expected_md5: None,
            actual_md5: None,
            failed_fragment: None,
            covered_bytes: 0,
            hashed_bytes: 0,
        };
        let complete = TruncationResult::Complete {
            volume_bytes: 1,
            file_bytes: 1,
        };
        let cut = TruncationResult::Truncated {
            volume_bytes: 2,
            file_bytes: 1,
            missing_bytes: 1,
        };
        use CheckStatus as C;
        use ImplantedStatus as I;
        let cases = [
            (vec![], None, &complete, Verdict::Unverified),
            (vec![C::NotCompared], None, &complete, Verdict::Unverified),
            (vec![C::Pass], None, &complete, Verdict::Pass),
            // A matching digest does not make a file without CD001 an image.
            (
                vec![C::Pass, C::NotCompared],
                None,
                &TruncationResult::NotIso,
                Verdict::Fail,
            ),
            (
                vec![C::Pass],
                None,
                &TruncationResult::NotChecked,
                Verdict::Pass,
            ),
            (vec![C::Pass, C::Fail], None, &complete, Verdict::Fail),
            (vec![C::Pass], None, &cut, Verdict::Fail),
            (vec![], Some(I::Pass), &complete, Verdict::Pass),
            (vec![], Some(I::Fail), &complete, Verdict::Fail),
            (
                vec![C::Pass],
                Some(I::NotImplanted),
                &complete,
                Verdict::Unverified,
            ),
            (
                vec![C::Pass],
                Some(I::Incomplete),
                &complete,
                Verdict::Unverified,
            ),
            (
                vec![C::Fail],
                Some(I::NotImplanted),
                &complete,
                Verdict::Fail,
            ),
            (
                vec![],
                None,
                &TruncationResult::TooShort { file_bytes: 5 },
                Verdict::Fail,
            ),
            (
                vec![],
                None,
                &TruncationResult::InvalidVolumeSize {
                    volume_bytes: 0,
                    file_bytes: 5,
                },
                Verdict::Unverified,
            ),
        ];
        for (digests, imp, truncation, want) in cases {
            let digests: Vec<DigestResult> = digests.into_iter().map(digest).collect();
            let imp = imp.map(implanted);
            assert_eq!(
                verdict(&digests, imp.as_ref(), truncation),
                want,
                "{digests:?} {imp:?} {truncation:?}"
            );
        }
    }

    #[test]
    fn partial_records_name_what_checkisomd5_misses() {
        let area = |text: &[u8]| {
            let mut a = vec![b' '; 512];
            a[..text.len()].copy_from_slice(text);
            a
        };
        assert_eq!(partial_record(&area(b"")), None);
        assert_eq!(partial_record(&area(b"SOMETHING ELSE;")), None);
        assert_eq!(
            partial_record(&area(b"ISO MD5SUM = 0123;")),
            Some(vec!["SKIPSECTORS".to_owned()])
        );
        assert_eq!(
            partial_record(&area(b"SKIPSECTORS = 15;")),
            Some(vec!["ISO MD5SUM".to_owned()])
        );
        assert_eq!(
            partial_record(&area(b"ISO MD5SUM = 0;SKIPSECTORS = x;")),
            Some(vec![])
        );
    }
}
