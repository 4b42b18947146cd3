//! The implanted-MD5 computation of isomd5sum, as a pipeline [`Sink`]:
//! checking a record (what `checkisomd5` does) and computing one to implant
//! (what `implantisomd5` does).
//!
//! The rules, from isomd5sum 1.2.3-1.2.5 (`libcheckisomd5.c`,
//! `libimplantisomd5.c`, `utilities.c`):
//! - the MD5 covers bytes `0 .. volume_size - SKIPSECTORS * 2048`, where the
//!   volume size comes from the PVD (big-endian field × 2048), not from the
//!   file; a file that ends sooner is hashed to its end (and then fails);
//! - the 512-byte application-use field is hashed as spaces;
//! - the image is read in 32 KiB reads; after each read starting at `o`, the
//!   fragment is `o / (len / (count + 1))`; when it changes, the MD5 of
//!   everything so far is finalised and the first hex digit of each of its
//!   first `60 / count` bytes is compared with the record's FRAGMENT SUMS at
//!   `(fragment - 1) * (60 / count)`. The first mismatch fails the check
//!   (checkisomd5 stops there; we keep hashing so the report can show the
//!   full MD5 too, and the other digests are unaffected).
//!
//! Our pipeline chunks are larger than 32 KiB; the sink replays the 32 KiB
//! read boundaries on absolute offsets, so chunk size never changes results.
//!
//! When `verify --md5` runs too, the plain MD5 of the whole file rides along
//! ([`IsoMd5Sink::pair_with`]): both MD5s see the same bytes except in the
//! application area and after the hashed length, so their common blocks go
//! through [`Md5::update_pair`], two interleaved streams on one thread for
//! about the CPU time of one, and the other core is left to the other digests.

use isotune_iso::md5record::{
    fragment_digit, APP_USE_OFFSET, APP_USE_SIZE, BLANK, CHECK_READ_SIZE, DEFAULT_FRAGMENT_COUNT,
    FRAGMENT_SUMS_LEN,
};

use crate::algorithm::to_hex;
use crate::md5fast::Md5;
use crate::pipeline::Sink;

const BLANKS: [u8; APP_USE_SIZE] = [BLANK; APP_USE_SIZE];

/// What the sink does at each fragment checkpoint.
#[derive(Debug)]
enum Mode {
    /// Compare with the record's sums (`None`: the record has none, and
    /// fragments are not checked).
    Check { sums: Option<Vec<u8>> },
    /// Build the sums to implant (60 characters, filled as reached).
    Implant { sums: Vec<u8> },
}

/// Hashes the stream the way isomd5sum does.
#[derive(Debug)]
pub(crate) struct IsoMd5Sink {
    md5: Md5,
    /// Bytes to hash (the record's length); later bytes are ignored.
    total: u64,
    /// Bytes hashed so far.
    pos: u64,
    fragment_count: u64,
    /// Bytes per fragment; 0 disables fragment checkpoints.
    fragment_size: u64,
    previous_fragment: u64,
    /// The first fragment whose sum did not match.
    failed_fragment: Option<u64>,
    mode: Mode,
    /// The plain MD5 of every byte of the stream, when paired.
    plain: Option<Md5>,
}

/// What a finished check or implant computed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct IsoMd5Outcome {
    /// Lower-case hex MD5 over the hashed bytes.
    pub md5: String,
    /// Bytes hashed (less than the planned length when the file ends first).
    pub hashed: u64,
    /// The first fragment that failed (check mode).
    pub failed_fragment: Option<u64>,
    /// The fragment sums (implant mode).
    pub fragment_sums: Option<String>,
}

impl IsoMd5Sink {
    /// A sink that checks a record with `fragment_count` fragments and the
    /// given sums over the first `total` bytes.
    pub fn check(total: u64, fragment_count: i64, sums: Option<&str>) -> Self {
        // A count <= 0 means no checkpoints (0 is what checkisomd5 skips;
        // negative counts make it divide by zero or wrap, we do not check).
        let count = u64::try_from(fragment_count).unwrap_or(0);
        Self::new(
            total,
            count,
            Mode::Check {
                sums: sums.map(|s| s.as_bytes().to_vec()),
            },
        )
    }

    /// A sink that computes the MD5 and the 20 fragment sums to implant.
    pub fn implant(total: u64) -> Self {
        let count = DEFAULT_FRAGMENT_COUNT.unsigned_abs();
        Self::new(total, count, Mode::Implant { sums: Vec::new() })
    }

    fn new(total: u64, fragment_count: u64, mode: Mode) -> Self {
        let fragment_size = if fragment_count == 0 {
            0
        } else {
            // With a tiny image this is 0; checkisomd5 then divides by zero,
            // we skip the checkpoints.
            total / fragment_count.saturating_add(1)
        };
        IsoMd5Sink {
            md5: Md5::new(),
            total,
            pos: 0,
            fragment_count,
            fragment_size,
            previous_fragment: 0,
            failed_fragment: None,
            mode,
            plain: None,
        }
    }

    /// Also computes `md5` (which has seen nothing yet) over every byte of
    /// the stream, unblanked and to its end; [`Self::take_plain`] returns it.
    pub fn pair_with(&mut self, md5: Md5) {
        self.plain = Some(md5);
    }

    /// The MD5 given to [`Self::pair_with`], after the pass.
    pub fn take_plain(&mut self) -> Option<Md5> {
        self.plain.take()
    }

    /// Feeds `data`, which starts at the sink's position, blanking the
    /// application area.
    fn hash(&mut self, data: &[u8]) {
        let start = self.pos;
        let end = start + data.len() as u64;
        let app_end = APP_USE_OFFSET + APP_USE_SIZE as u64;
        if end <= APP_USE_OFFSET || start >= app_end {
            match self.plain.as_mut() {
                Some(plain) => Md5::update_pair(&mut self.md5, plain, data),
                None => self.md5.update(data),
            }
        } else {
            if let Some(plain) = self.plain.as_mut() {
                plain.update(data);
            }
            // Offsets into `data` of the overlap with the application area.
            let a = APP_USE_OFFSET.saturating_sub(start) as usize;
            let b = (app_end.min(end) - start) as usize;
            self.md5.update(&data[..a]);
            self.md5.update(&BLANKS[..b - a]);
            self.md5.update(&data[b..]);
        }
        self.pos = end;
    }

    /// The checkpoint after the read that started at `read_start`.
    fn checkpoint(&mut self, read_start: u64) {
        if self.fragment_size == 0 {
            return;
        }
        let fragment = read_start / self.fragment_size;
        if fragment == self.previous_fragment {
            return;
        }
        let chars = (FRAGMENT_SUMS_LEN as u64 / self.fragment_count) as usize;
        let digest = self.md5.clone().finalize();
        let digits: Vec<u8> = digest
            .iter()
            .take(chars.min(16))
            .map(|&b| fragment_digit(b))
            .collect();
        let at = (fragment as usize - 1).saturating_mul(chars);
        match &mut self.mode {
            Mode::Check { sums: Some(sums) } => {
                let expected = sums.get(at..at.saturating_add(digits.len()));
                if self.failed_fragment.is_none() && expected != Some(&digits[..]) {
                    self.failed_fragment = Some(fragment);
                }
            }
            Mode::Check { sums: None } => {}
            Mode::Implant { sums } => {
                // implantisomd5 appends each sum as reached. On images so
                // small that one 32 KiB read spans several fragments it
                // skips some, and checkisomd5 (which indexes by fragment)
                // rejects its record; we also write the skipped slots (with
                // this sum) so every checked slot holds the right digits.
                if at < FRAGMENT_SUMS_LEN {
                    while sums.len() < at {
                        let missing = at - sums.len();
                        sums.extend_from_slice(&digits[..digits.len().min(missing)]);
                    }
                    sums.truncate(at);
                    sums.extend_from_slice(&digits);
                    sums.truncate(FRAGMENT_SUMS_LEN);
                }
            }
        }
        self.previous_fragment = fragment;
    }

    /// Ends the pass (the stream may have ended before the planned length).
    pub fn finish(mut self) -> IsoMd5Outcome {
        // A short last read at the end of a file still gets its checkpoint.
        if self.pos < self.total && !self.pos.is_multiple_of(CHECK_READ_SIZE) {
            let start = self.pos - self.pos % CHECK_READ_SIZE;
            self.checkpoint(start);
        }
        let fragment_sums = match &self.mode {
            Mode::Implant { sums } => Some(String::from_utf8_lossy(sums).into_owned()),
            Mode::Check { .. } => None,
        };
        IsoMd5Outcome {
            md5: to_hex(&self.md5.finalize()),
            hashed: self.pos,
            failed_fragment: self.failed_fragment,
            fragment_sums,
        }
    }
}

impl Sink for IsoMd5Sink {
    fn update(&mut self, offset: u64, data: &[u8]) {
        debug_assert!(
            offset == self.pos || self.pos == self.total,
            "chunks arrive in order"
        );
        let want = usize::try_from(self.total.saturating_sub(offset)).unwrap_or(usize::MAX);
        let (mut data, past_end) = data.split_at(data.len().min(want));
        while !data.is_empty() {
            let read_start = self.pos - self.pos % CHECK_READ_SIZE;
            let read_end = (read_start + CHECK_READ_SIZE).min(self.total);
            let n = usize::try_from(read_end - self.pos).map_or(data.len(), |r| r.min(data.len()));
            let (now, rest) = data.split_at(n);
            self.hash(now);
            data = rest;
            if self.pos == read_end {
                self.checkpoint(read_start);
            }
        }
        // Bytes after the hashed length count for the plain MD5 only.
        if let Some(plain) = self.plain.as_mut() {
            plain.update(past_end);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// isomd5sum's loop, transcribed literally (32 KiB reads over a buffer
    /// whose application area is already blank), for comparison.
    fn reference(image: &[u8], total: u64) -> (String, String) {
        let mut img = image.to_vec();
        let a = APP_USE_OFFSET as usize;
        if img.len() >= a + APP_USE_SIZE {
            img[a..a + APP_USE_SIZE].fill(BLANK);
        }
        let total = total as usize;
        let fragment_size = total / 21;
        let mut ctx = Md5::new();
        let mut sums = String::new();
        let mut previous = 0;
        let mut offset = 0;
        while offset < total.min(img.len()) {
            let n = (total - offset).min(32768).min(img.len() - offset);
            ctx.update(&img[offset..offset + n]);
            let current = offset / fragment_size;
            if current != previous {
                let d = ctx.clone().finalize();
                for &b in &d[..3] {
                    sums.push(char::from(fragment_digit(b)));
                }
                previous = current;
            }
            offset += n;
        }
        (to_hex(&ctx.finalize()), sums)
    }

    fn image(len: usize) -> Vec<u8> {
        (0..len)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect()
    }

    fn run(sink: &mut IsoMd5Sink, data: &[u8], chunk: usize) {
        for (i, c) in data.chunks(chunk).enumerate() {
            sink.update((i * chunk) as u64, c);
        }
    }

    #[test]
    fn implant_matches_the_reference_loop_for_any_chunking() {
        let img = image(3 << 20);
        let total = (img.len() - 15 * 2048) as u64;
        let (md5, sums) = reference(&img, total);
        assert_eq!(sums.len(), 60);
        for chunk in [4096, 32768, 100_000, 4 << 20] {
            let mut s = IsoMd5Sink::implant(total);
            run(&mut s, &img, chunk);
            let out = s.finish();
            assert_eq!(out.md5, md5, "chunk {chunk}");
            assert_eq!(out.fragment_sums.as_deref(), Some(&sums[..]));
            assert_eq!(out.hashed, total);
        }
    }

    #[test]
    fn check_passes_fails_and_names_the_fragment() {
        let mut img = image(2 << 20);
        let total = (img.len() - 15 * 2048) as u64;
        let (md5, sums) = reference(&img, total);
        let mut s = IsoMd5Sink::check(total, 20, Some(&sums));
        run(&mut s, &img, 1 << 20);
        let out = s.finish();
        assert_eq!(
            (out.md5.as_str(), out.failed_fragment),
            (md5.as_str(), None)
        );

        // The application area does not count.
        img[APP_USE_OFFSET as usize + 10] = b'X';
        let mut s = IsoMd5Sink::check(total, 20, Some(&sums));
        run(&mut s, &img, 1 << 20);
        assert_eq!(s.finish().md5, md5);

        // A flipped byte in the middle fails at the first checkpoint after it.
        let at = img.len() / 2;
        img[at] ^= 1;
        let mut s = IsoMd5Sink::check(total, 20, Some(&sums));
        run(&mut s, &img, 1 << 20);
        let out = s.finish();
        assert_ne!(out.md5, md5);
        let fragment_size = total / 21;
        let f = out.failed_fragment.unwrap();
        assert!(
            f * fragment_size > at as u64 - 32768 && f >= 10,
            "fragment {f}"
        );
    }

    #[test]
    fn bytes_past_the_hashed_length_are_ignored_and_short_files_end_early() {
        let img = image(1 << 20);
        let total = 512 * 1024;
        let (md5, sums) = reference(&img, total);
        let mut s = IsoMd5Sink::check(total, 20, Some(&sums));
        run(&mut s, &img, 300_000);
        assert_eq!(s.finish().md5, md5);

        // The file ends before `total`: hash what there is, like checkisomd5.
        let short = &img[..400_000];
        let (md5_short, _) = reference(short, total);
        let mut s = IsoMd5Sink::check(total, 20, Some(&sums));
        run(&mut s, short, 65536);
        let out = s.finish();
        assert_eq!((out.md5, out.hashed), (md5_short, 400_000));
    }

    #[test]
    fn tiny_images_get_checkable_sums() {
        // Fragments smaller than a 32 KiB read: implantisomd5 would write
        // fewer than 60 digits at the wrong places; ours check.
        let img = image(300 * 1024);
        let total = img.len() as u64;
        let mut s = IsoMd5Sink::implant(total);
        run(&mut s, &img, 1 << 20);
        let out = s.finish();
        let sums = out.fragment_sums.unwrap();
        let mut c = IsoMd5Sink::check(total, 20, Some(&sums));
        run(&mut c, &img, 1 << 20);
        assert_eq!(c.finish().failed_fragment, None);
        // With the appended (too short) sums the check fails, as it does
        // with the real tools.
        let (_, appended) = reference(&img, total);
        assert!(appended.len() < 60);
        let mut c = IsoMd5Sink::check(total, 20, Some(&appended));
        run(&mut c, &img, 1 << 20);
        assert!(c.finish().failed_fragment.is_some());
    }

    #[test]
    fn no_sums_or_zero_count_skip_checkpoints() {
        let img = image(200_000);
        for (count, sums) in [(20, None), (0, Some("zzz"))] {
            let mut s = IsoMd5Sink::check(img.len() as u64, count, sums);
            run(&mut s, &img, 4096);
            assert_eq!(s.finish().failed_fragment, None);
        }
        // Empty: the MD5 of nothing.
        let s = IsoMd5Sink::check(0, 20, None);
        assert_eq!(s.finish().md5, "d41d8cd98f00b204e9800998ecf8427e");
    }

    /// The plain MD5 riding along: the implanted check's result does not
    /// change, and the plain one is md-5's over every byte, whatever the
    /// chunking, the hashed length (inside, at or past the application area,
    /// or past the file's end) and whether the application area is blank.
    #[test]
    fn a_paired_plain_md5_covers_every_byte_and_changes_nothing() {
        use ::md5::Digest;
        let mut img = image(400_000);
        img[APP_USE_OFFSET as usize..][..APP_USE_SIZE].fill(b'Z');
        let app = APP_USE_OFFSET as usize;
        let totals = [
            0,
            1,
            64,
            app - 1,
            app,
            app + 1,
            app + 300,
            app + 512,
            300_000,
            400_000,
            500_000,
        ];
        for total in totals {
            for len in [img.len(), app + 100, 1000] {
                let img = &img[..len];
                let want_plain: [u8; 16] = ::md5::Md5::digest(img).into();
                for chunk in [1000, 4096, 32768, 100_001, 1 << 20] {
                    let mut alone = IsoMd5Sink::implant(total as u64);
                    run(&mut alone, img, chunk);
                    let mut paired = IsoMd5Sink::implant(total as u64);
                    paired.pair_with(Md5::new());
                    run(&mut paired, img, chunk);
                    let plain = paired.take_plain().unwrap().finalize();
                    let case = format!("total {total} len {len} chunk {chunk}");
                    assert_eq!(plain, want_plain, "{case}");
                    assert_eq!(paired.finish(), alone.finish(), "{case}");
                }
            }
        }
    }
}
